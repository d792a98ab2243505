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
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from module.loading import quiet_peft_deprecation

quiet_peft_deprecation()
LORA_PATHS = ("delta", "factors")
PATH_ADAPTER = "path"
CONFIG_FILE = "adapter_config.json"
PEFT_PREFIX = "base_model.model."  # what a PeftModel puts before the wrapped model's module names


class LoraPathError(ValueError):
    """Two adapters that cannot be joined by the path asked for (or a folder that is not a LoRA adapter)."""


@dataclass
class LoraPath:
    """A model holding the path adapter, and each endpoint as that adapter's tensors (the line between two of them
    is their path), keyed by the model's state-dict names."""

    model: nn.Module
    thetas: list[dict[str, torch.Tensor]]
    kind: str  # "delta" | "factors"
    ranks: dict[str, tuple[int, ...]]  # module name (in the wrapped model) -> each endpoint's rank

    @property
    def theta1(self) -> dict[str, torch.Tensor]:
        """The first endpoint."""
        return self.thetas[0]

    @property
    def theta2(self) -> dict[str, torch.Tensor]:
        """The second endpoint."""
        return self.thetas[1]


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


def check_bases(configs: Sequence[dict], folders: Sequence[str]) -> None:
    """Every adapter must come from the same base model (by its recorded name)."""
    bases = [c.get("base_model_name_or_path") for c in configs]
    for k in range(1, len(configs)):
        if bases[0] and bases[k] and Path(bases[0]).name != Path(bases[k]).name:
            raise LoraPathError(f"{folders[k]}: tuned from {bases[k]!r}, {folders[0]} from {bases[0]!r}; both "
                                "endpoints must adapt the same base model")


def _first_line(exc: Exception) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]


def _lora_layers(model: nn.Module) -> dict[str, nn.Module]:
    from peft.tuners.lora import LoraLayer

    return {name: module for name, module in model.named_modules() if isinstance(module, LoraLayer)}


def lora_path_model(base: nn.Module, folders: Sequence[str], kind: str = "delta") -> LoraPath:
    """`base` with the adapters read and replaced by the path adapter; each endpoint of `kind` as tensors (N
    endpoints: the delta adapter stacks all N, rank r1 + ... + rN, each endpoint's B filling its own slot)."""
    from peft import LoraConfig, PeftModel

    if kind not in LORA_PATHS:
        raise LoraPathError(f"lora_path must be one of {', '.join(LORA_PATHS)}, got {kind!r}")
    configs = [read_lora_config(folder) for folder in folders]
    check_bases(configs, folders)
    ends = [f"end{k + 1}" for k in range(len(folders))]
    model = base
    for k, folder in enumerate(folders):
        try:
            if k == 0:
                model = PeftModel.from_pretrained(base, str(folder), adapter_name=ends[0], is_trainable=False)
            else:
                model.load_adapter(str(folder), adapter_name=ends[k], is_trainable=False)
        except (ValueError, RuntimeError, KeyError) as exc:  # e.g. target modules this base model lacks
            raise LoraPathError(f"{folder}: cannot be put on this base model ({_first_line(exc)})") from None
    factors = {}  # module -> per endpoint (A, B, s)
    for name, layer in _lora_layers(model).items():
        missing = next((folders[k] for k, end in enumerate(ends) if end not in layer.lora_A), None)
        if missing is not None:
            raise LoraPathError(f"{missing}: does not adapt module {name!r}, which another endpoint adapts; all "
                                "endpoints must adapt the same modules")
        factors[name] = [(layer.lora_A[end].weight.detach(), layer.lora_B[end].weight.detach(),
                          float(layer.scaling[end])) for end in ends]
    if not factors:
        raise LoraPathError(f"{folders[0]}: no LoRA module of this base model is adapted")
    ranks = {name.removeprefix(PEFT_PREFIX): tuple(a.shape[0] for a, _, _ in f) for name, f in factors.items()}
    if kind == "factors":
        unequal = next((name for name, rs in ranks.items() if len(set(rs)) > 1), None)
        if unequal is not None:
            k = next(k for k, r in enumerate(ranks[unequal]) if r != ranks[unequal][0])
            raise LoraPathError(f"lora_path factors: module {unequal!r} has rank {ranks[unequal][0]} in {folders[0]} "
                                f"and {ranks[unequal][k]} in {folders[k]}; interpolating A and B separately needs "
                                "equal ranks (lora_path delta joins any ranks)")
    width = {name: (sum(rs) if kind == "delta" else rs[0]) for name, rs in ranks.items()}  # inner names
    config = LoraConfig(target_modules=sorted(width), r=1, lora_alpha=1, lora_dropout=0.0,
                        rank_pattern={re.escape(name): r for name, r in width.items()},
                        fan_in_fan_out=bool(configs[0].get("fan_in_fan_out")), task_type=configs[0].get("task_type"))
    model.add_adapter(PATH_ADAPTER, config)
    model.set_adapter(PATH_ADAPTER)
    for end in ends:
        model.delete_adapter(end)
    thetas: list[dict[str, torch.Tensor]] = [{} for _ in folders]
    for name, layer in _lora_layers(model).items():
        layer.scaling[PATH_ADAPTER] = 1.0  # each B carries its endpoint's scaling
        key_a, key_b = (f"{name}.lora_{ab}.{PATH_ADAPTER}.weight" for ab in "AB")
        ends_factors = factors[name]
        if kind == "delta":
            stacked = torch.cat([a for a, _, _ in ends_factors])
            for k, (_, b, s) in enumerate(ends_factors):
                thetas[k][key_a] = stacked
                thetas[k][key_b] = torch.cat([s * b if j == k else torch.zeros_like(other)
                                              for j, (_, other, _) in enumerate(ends_factors)], dim=1)
        else:
            for k, (a, b, s) in enumerate(ends_factors):
                thetas[k][key_a], thetas[k][key_b] = a, s * b
    return LoraPath(model.eval(), thetas, kind, ranks)


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
