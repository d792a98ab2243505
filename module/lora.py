"""Paths between two LoRA adapters (peft folders) of one base model, in weight space.

A LoRA endpoint moves each target weight by ΔW = s·B·A (s = lora_alpha / r, or / √r with rsLoRA; peft's
`rank_pattern` and `alpha_pattern` give per-module values). Two paths join two endpoints:

* `delta` (the default): the straight line between the two fine-tuned weights,
  W(t) = W0 + (1 − t)·s1·B1·A1 + t·s2·B2·A2. It is written without dense ΔW matrices as one adapter of rank
  r1 + r2 per module, A = [A1; A2] and B = [(1 − t)·s1·B1, t·s2·B2] with scaling 1: a straight line between two
  points of that stacked adapter's space, so the sweeps' `Interpolator` walks it unchanged. Ranks and alphas may
  differ between the endpoints.
* `factors`: A and B interpolated separately (peft's own `linear` combination), with each B scaled by its s:
  ΔW(t) = ((1 − t)·s1·B1 + t·s2·B2)·((1 − t)·A1 + t·A2), a quadratic curve in the weights that depends on how each
  update happens to be factored. Equal ranks only.

`lora_path_model` loads both adapters onto the base model with peft, reads each module's factors and scaling as
peft computed them, and leaves the model holding one adapter named "path" that the two endpoints returned move.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from module.loading import quiet_peft_deprecation

quiet_peft_deprecation()
LORA_PATHS = ("delta", "factors")
PATH_ADAPTER = "path"
_ENDS = ("end1", "end2")
CONFIG_FILE = "adapter_config.json"
PEFT_PREFIX = "base_model.model."  # what a PeftModel puts before the wrapped model's module names


class LoraPathError(ValueError):
    """Two adapters that cannot be joined by the path asked for (or a folder that is not a LoRA adapter)."""


@dataclass
class LoraPath:
    """A model holding the path adapter, and the path's endpoints as its tensors (the line between them is the
    path): `theta1`/`theta2` are keyed by the model's state-dict names."""

    model: nn.Module
    theta1: dict[str, torch.Tensor]
    theta2: dict[str, torch.Tensor]
    kind: str  # "delta" | "factors"
    ranks: dict[str, tuple[int, int]]  # module name (in the wrapped model) -> (r1, r2)


def read_lora_config(folder: str | Path) -> dict:
    """A peft LoRA folder's adapter_config.json, refusing what this module does not join exactly."""
    path = Path(folder) / CONFIG_FILE
    if not path.is_file():
        raise LoraPathError(f"{folder}: no {CONFIG_FILE} (expected a peft LoRA adapter folder)")
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise LoraPathError(f"{path}: not valid JSON ({exc})") from None
    if config.get("peft_type") != "LORA":
        raise LoraPathError(f"{path}: peft_type {config.get('peft_type')!r}; only LoRA adapters are joined")
    refused = {"use_dora": "DoRA's magnitude vector is not a B·A update",
               "lora_bias": "a LoRA bias is not a B·A update", "modules_to_save": "modules_to_save (whole modules "
               "trained beside the adapter) are not joined yet"}
    for key, why in refused.items():
        if config.get(key):
            raise LoraPathError(f"{path}: {key} is set; {why}")
    return config


def check_pair(configs: tuple[dict, dict], folders: tuple[str, str]) -> None:
    """Both adapters must come from the same base model and adapt the same modules."""
    bases = [c.get("base_model_name_or_path") for c in configs]
    if bases[0] and bases[1] and Path(bases[0]).name != Path(bases[1]).name:
        raise LoraPathError(f"{folders[1]}: tuned from {bases[1]!r}, {folders[0]} from {bases[0]!r}; both "
                            "endpoints must adapt the same base model")


def _first_line(exc: Exception) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]


def _lora_layers(model: nn.Module) -> dict[str, nn.Module]:
    from peft.tuners.lora import LoraLayer

    return {name: module for name, module in model.named_modules() if isinstance(module, LoraLayer)}


def lora_path_model(base: nn.Module, folders: tuple[str, str], kind: str = "delta") -> LoraPath:
    """`base` with both adapters read and replaced by the path adapter; the endpoints of `kind` as tensors."""
    from peft import LoraConfig, PeftModel

    if kind not in LORA_PATHS:
        raise LoraPathError(f"lora_path must be one of {', '.join(LORA_PATHS)}, got {kind!r}")
    configs = (read_lora_config(folders[0]), read_lora_config(folders[1]))
    check_pair(configs, folders)
    try:
        model = PeftModel.from_pretrained(base, str(folders[0]), adapter_name=_ENDS[0], is_trainable=False)
    except (ValueError, RuntimeError, KeyError) as exc:  # e.g. target modules this base model lacks
        raise LoraPathError(f"{folders[0]}: cannot be put on this base model ({_first_line(exc)})") from None
    try:
        model.load_adapter(str(folders[1]), adapter_name=_ENDS[1], is_trainable=False)
    except (ValueError, RuntimeError, KeyError) as exc:
        raise LoraPathError(f"{folders[1]}: cannot be put on this base model ({_first_line(exc)})") from None
    factors = {}  # module -> (A1, B1, s1, A2, B2, s2)
    for name, layer in _lora_layers(model).items():
        held = [end for end in _ENDS if end in layer.lora_A]
        if len(held) != 2:
            missing = folders[_ENDS.index(next(e for e in _ENDS if e not in held))]
            raise LoraPathError(f"{missing}: does not adapt module {name!r}, which the other endpoint adapts; both "
                                "endpoints must adapt the same modules")
        factors[name] = tuple(x for end in _ENDS for x in (layer.lora_A[end].weight.detach(),
                                                             layer.lora_B[end].weight.detach(),
                                                             float(layer.scaling[end])))
    if not factors:
        raise LoraPathError(f"{folders[0]}: no LoRA module of this base model is adapted")
    ranks = {name.removeprefix(PEFT_PREFIX): (f[0].shape[0], f[3].shape[0]) for name, f in factors.items()}
    if kind == "factors":
        unequal = next((name for name, (r1, r2) in ranks.items() if r1 != r2), None)
        if unequal is not None:
            raise LoraPathError(f"lora_path factors: module {unequal!r} has rank {ranks[unequal][0]} in {folders[0]} "
                                f"and {ranks[unequal][1]} in {folders[1]}; interpolating A and B separately needs "
                                "equal ranks (lora_path delta joins any ranks)")
    width = {name: (r1 + r2 if kind == "delta" else r1) for name, (r1, r2) in ranks.items()}  # inner names
    config = LoraConfig(target_modules=sorted(width), r=1, lora_alpha=1, lora_dropout=0.0,
                        rank_pattern={re.escape(name): r for name, r in width.items()},
                        fan_in_fan_out=bool(configs[0].get("fan_in_fan_out")), task_type=configs[0].get("task_type"))
    model.add_adapter(PATH_ADAPTER, config)
    model.set_adapter(PATH_ADAPTER)
    for end in _ENDS:
        model.delete_adapter(end)
    theta1, theta2 = {}, {}
    for name, layer in _lora_layers(model).items():
        layer.scaling[PATH_ADAPTER] = 1.0  # each B carries its endpoint's scaling
        a1, b1, s1, a2, b2, s2 = factors[name]
        key_a, key_b = (f"{name}.lora_{ab}.{PATH_ADAPTER}.weight" for ab in "AB")
        if kind == "delta":
            stacked = torch.cat([a1, a2])
            theta1[key_a], theta2[key_a] = stacked, stacked
            theta1[key_b] = torch.cat([s1 * b1, torch.zeros_like(b2)], dim=1)
            theta2[key_b] = torch.cat([torch.zeros_like(b1), s2 * b2], dim=1)
        else:
            theta1[key_a], theta2[key_a] = a1, a2
            theta1[key_b], theta2[key_b] = s1 * b1, s2 * b2
    return LoraPath(model.eval(), theta1, theta2, kind, ranks)


# ----------------------------------------------------------------------------- distances, without the base model
WEIGHTS_FILE = "adapter_model.safetensors"
_FACTOR = re.compile(r"^(?:base_model\.model\.)?(?P<module>.+)\.lora_(?P<ab>[AB])(?:\.[^.]+)?\.weight$")


def lora_updates(folder: str | Path) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """Per adapted module (its name in the wrapped model): (A, s·B) in float64, read from the folder alone, with s
    as peft computes it (lora_alpha or the alpha_pattern entry, over r or √r with rsLoRA)."""
    import safetensors.torch
    from peft.utils.other import get_pattern_key

    config = read_lora_config(folder)
    path = Path(folder) / WEIGHTS_FILE
    if not path.is_file():
        raise LoraPathError(f"{folder}: no {WEIGHTS_FILE} (a peft LoRA folder saved with safetensors)")
    factors: dict[str, dict[str, torch.Tensor]] = {}
    for key, value in safetensors.torch.load_file(str(path)).items():
        match = _FACTOR.match(key)
        if match:
            factors.setdefault(match["module"], {})[match["ab"]] = value.double()
    alphas = config.get("alpha_pattern") or {}
    updates = {}
    for module, ab in sorted(factors.items()):
        if set(ab) != {"A", "B"}:
            raise LoraPathError(f"{path}: module {module!r} has lora_{next(iter(ab))} but not its other factor")
        rank = ab["A"].shape[0]
        alpha = alphas.get(get_pattern_key(list(alphas), module), config.get("lora_alpha", 8))  # as peft does
        scaling = alpha / math.sqrt(rank) if config.get("use_rslora") else alpha / rank
        updates[module] = (ab["A"], scaling * ab["B"])
    if not updates:
        raise LoraPathError(f"{path}: no lora_A/lora_B tensors")
    return updates


def update_sums(updates1: dict, updates2: dict, folders: tuple[str, str]) -> dict[str, tuple]:
    """Per module, the sums `module.distance.summarise` takes, (n, ΔW1·ΔW2, |ΔW1|², |ΔW2|², |ΔW1 − ΔW2|²), from the
    factors alone: |B·A|² = tr((BᵀB)(AAᵀ)) and ΔW1·ΔW2 = tr((B2ᵀB1)(A1A2ᵀ)), r×r products, no dense ΔW."""
    sums = {}
    for module in sorted(set(updates1) | set(updates2)):
        if module not in updates1 or module not in updates2:
            missing = folders[0] if module not in updates1 else folders[1]
            raise LoraPathError(f"{missing}: does not adapt module {module!r}, which the other endpoint adapts")
        (a1, b1), (a2, b2) = updates1[module], updates2[module]
        if (b1.shape[0], a1.shape[1]) != (b2.shape[0], a2.shape[1]):
            raise LoraPathError(f"module {module!r}: update of shape {(b1.shape[0], a1.shape[1])} in {folders[0]} "
                                f"and {(b2.shape[0], a2.shape[1])} in {folders[1]}")
        aa = float(torch.trace((b1.T @ b1) @ (a1 @ a1.T)))
        bb = float(torch.trace((b2.T @ b2) @ (a2 @ a2.T)))
        dot = float(torch.trace((b2.T @ b1) @ (a1 @ a2.T)))
        sums[module] = (b1.shape[0] * a1.shape[1], dot, aa, bb, max(aa + bb - 2 * dot, 0.0))
    return sums
