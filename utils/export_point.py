"""Write the model at one point x of a sweep between two tuned checkpoints as a standalone folder.

    python utils/export_point.py --path1 A --path2 B --x 0.4 --out DIR [--model BACKBONE] [--tokenizer TOK]

The folder holds θ(x) = (1 − x)·θ1 + x·θ2, computed exactly as the sweeps compute it (task_interpolation.py,
RoBERTa_model/itp_pretrain_adapter.py), plus `export.json` (x, both endpoints with the SHA-256 of their weights).

* T5 track: A and B are project checkpoint files (`checkpoint-last.pt`, ...) or T5 folders; `--model` is the
  backbone they were tuned from (required for files: they hold tensors, not the architecture).
* Encoder track: A and B are run_glue.py `checkpoint-<step>/` folders with the same head (same labels); the
  task-boundary pairs of itp_task_boundary_finetune.py (two heads) are refused.
* Full fine-tuning: DIR is a Hugging Face folder (model.safetensors, config.json, tokenizer) that plain
  `T5ForConditionalGeneration.from_pretrained(DIR)` / `AutoModelForSequenceClassification.from_pretrained(DIR)`
  loads with the predictions of the sweep at x.
* Adapters (T5 Houlsby/Pfeiffer, encoder OpenDelta): an adapter is non-linear in its weights, so θ(x) cannot be
  folded into the backbone. DIR gets `adapter.safetensors` (the interpolated tensors: adapters, and for the
  encoder its head and whatever else the runs changed) and `export.json` pointing to the backbone (`--model`);
  `load_export(DIR)` or the project's loaders (tune_singletask.py `--checkpoint`, `build_classifier` +
  `load_tensors`) rebuild the sweep's model at x. As itp_pretrain_adapter.py, an encoder adapter export
  interpolates only the tensors under `--unfrozen_modules`; the others (a head the runs kept frozen) are those
  `build_classifier` makes with `--seed`: give both as in the sweep's config.
* LoRA (two peft adapter folders of one causal LM, `--model` its base, `--lora_path` as the sweep's): `delta`
  (the straight line of the updates, W0 + (1 − x)·ΔW1 + x·ΔW2) is merged into a plain Hugging Face folder;
  `factors` (A and B interpolated) gives a peft adapter folder that `PeftModel.from_pretrained(base, DIR)` loads.

Inputs are checked before anything is written; DIR is written under a temporary name and renamed into place.
"""

from __future__ import annotations

import argparse
import math
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from causal_model.model import load_causal, load_causal_tokenizer
from module.adapter import is_adapter_tensor
from module.checkpoint import load_checkpoint, load_endpoint, save_checkpoint
from module.cli import OneLineParser, finite_float, run_cli, seed_int
from module.files import atomic_folder, atomic_write_json, folder_lock, read_json
from module.interpolation import Interpolator, check_same_keys
from module.loading import TOKENIZER_FILES, WEIGHT_FILES, load_tokenizer, safe_weights
from module.lora import LORA_PATHS, PATH_ADAPTER, lora_path_model
from module.runs import file_sha256
from RoBERTa_model.config import DeltaArguments
from RoBERTa_model.encoder import build_classifier, checkpoint_info, load_tensors
from RoBERTa_model.jobs import tuned_tensors
from T5_model.adapters import add_t5_adapters
from T5_model.model import load_t5, load_t5_tokenizer, read_model_config
from T5_model.trainer import load_into_model

FORMAT = "mode-connectivity-export/v1"
T5_TYPES = ("t5", "mt5", "umt5")
ADAPTER_FILE = "adapter.safetensors"
LORA_CONFIG, LORA_WEIGHTS = "adapter_config.json", "adapter_model.safetensors"  # a peft adapter folder
LORA_FORMULAS = {"delta": "W0 + (1 - x) * dW(path1) + x * dW(path2), dW = scaling * B @ A",
                 "factors": "A = (1 - x) * A1 + x * A2, B = (1 - x) * s1 * B1 + x * s2 * B2, scaling 1"}
SWEEP_SEED = 42  # an encoder sweep's seed when its config gives none (TrainingArguments' default)


@dataclass
class Export:
    """What is written: a model for `save_pretrained` (kind "model") or tensors for an adapter checkpoint."""

    track: str  # "t5" | "encoder"
    kind: str  # "model" | "adapter"
    model: nn.Module
    tokenizer: object | None = None
    tensors: dict[str, torch.Tensor] = field(default_factory=dict)
    ckpt_kind: str = "adapter"  # the kind the adapter checkpoint is saved with
    pointer: dict = field(default_factory=dict)  # adapter exports: what rebuilds the model around the tensors
    peft_config: dict | None = None  # a LoRA factors export: the adapter_config.json of the peft folder written


# ----------------------------------------------------------------------------- inputs
def check_point(x: float, out: Path) -> None:
    """x must lie in [0, 1] and `out` must not exist or be an empty folder."""
    if not math.isfinite(x) or not 0.0 <= x <= 1.0:
        raise ValueError(f"--x must be between 0 and 1 (0: path1, 1: path2), got {x}")
    if out.exists() and not (out.is_dir() and not any(out.iterdir())):
        raise ValueError(f"--out {out}: exists and is not an empty folder (choose another or delete it)")


def endpoint_track(path: Path) -> str:
    """"t5" for a checkpoint file or a T5 folder, "lora" for a peft LoRA folder, "encoder" for any other model
    folder."""
    if not path.exists():
        raise FileNotFoundError(f"{path}: endpoint not found")
    if path.is_file():
        return "t5"
    if (path / LORA_CONFIG).is_file():
        return "lora"
    config = path / "config.json"
    if not config.is_file():
        raise ValueError(f"{path}: a folder without config.json (expected a checkpoint-<step>/ or model folder)")

    return "t5" if read_model_config(config).get("model_type") in T5_TYPES else "encoder"


def weights_file(path: Path) -> Path:
    """The file holding an endpoint's or backbone's weights (the path itself for a checkpoint file)."""
    if path.is_file():
        return path
    found = next((path / name for name in (*WEIGHT_FILES, LORA_WEIGHTS) if (path / name).is_file()), None)
    if found is None:
        raise ValueError(f"{path}: no {', '.join(WEIGHT_FILES)} in this folder")
    return found


def describe(path: Path) -> dict:
    """An endpoint or backbone in export.json: absolute path, weights file and its SHA-256."""
    weights = weights_file(path)
    return {"path": str(path.resolve()), "weights": weights.name, "sha256": file_sha256(weights)}


def has_tokenizer(folder: Path) -> bool:
    """True when `folder` holds tokenizer files."""
    return folder.is_dir() and any((folder / name).is_file() for name in TOKENIZER_FILES)


# ----------------------------------------------------------------------------- T5 track
def t5_adapter_layout(tensors: dict[str, torch.Tensor]) -> tuple[str, int]:
    """(adapter_type, adapter_size) of T5 adapter tensors: houlsby when self-attention (layer 0) has adapters."""
    size = next((v.shape[-1] for k, v in tensors.items() if k.endswith("adapter_A")), None)
    if size is None:
        raise ValueError("the endpoints hold adapter tensors but no T5 adapter (no '...adapter.adapter_A')")
    houlsby = any(re.search(r"\.layer\.0\.adapter\.adapter_A$", k) for k in tensors)
    return ("houlsby" if houlsby else "pfeiffer"), int(size)


def t5_export(path1: Path, path2: Path, x: float, backbone: str | None, tokenizer: str | None) -> Export:
    """θ(x) in the model task_interpolation.py builds: the backbone, with adapters when the endpoints have them."""

    if backbone is None:
        if path1.is_file():
            raise ValueError(f"{path1}: a checkpoint file holds tensors only; pass --model, the T5 folder it was "
                             "tuned from")
        backbone = str(path1)
    ckpt1, ckpt2 = load_endpoint(path1), load_endpoint(path2)
    check_same_keys(ckpt1.tensors, ckpt2.tensors, (str(path1), str(path2)))
    model = load_t5(backbone)
    adapters = any(is_adapter_tensor(k) for k in ckpt1.tensors)
    pointer = {}
    if adapters:
        adapter_type, size = t5_adapter_layout(ckpt1.tensors)
        add_t5_adapters(model, adapter_type, size)
        tune_method = "adapter" if ckpt1.kind == "adapter" else "model"
        pointer = {"model": str(Path(backbone).resolve()), "adapter_type": adapter_type, "adapter_size": size,
                   "tune_method": tune_method}
    model.eval()
    interpolator = Interpolator(model, ckpt1.tensors, ckpt2.tensors, (str(path1), str(path2)))
    interpolator.set(x)
    if adapters:
        state = model.state_dict()
        tensors = {k: state[k] for k in ckpt1.tensors}
        kind = ckpt1.kind if ckpt1.kind in ("adapter", "model") else "model"
        return Export("t5", "adapter", model, tensors=tensors, ckpt_kind=kind, pointer=pointer)
    return Export("t5", "model", model, load_t5_tokenizer(tokenizer or backbone))


# ----------------------------------------------------------------------------- encoder track
def encoder_delta(path: Path) -> tuple[list[str], dict, str]:
    """A checkpoint's head labels, delta settings and delta_type (earlier bias-free adapters: houlsby_dense)."""

    labels, delta = checkpoint_info(path)
    delta_type = delta.get("delta_type") or "none"
    if delta_type == "adapter":
        names = load_checkpoint(path).tensors
        delta_type = "houlsby_dense" if any(n.endswith(".adapter.adapter_A") for n in names) else "adapter"
    return labels, delta, delta_type


def encoder_export(path1: Path, path2: Path, x: float, backbone: str | None, tokenizer: str | None,
                   unfrozen_modules: list[str] | None = None, seed: int = SWEEP_SEED) -> Export:
    """θ(x) in the model the encoder sweeps build: path1's classifier (full tuning), or the backbone with adapters
    where, as in itp_pretrain_adapter.py, only the tensors under `unfrozen_modules` are interpolated and the rest
    (a frozen head) is the one `build_classifier` makes with `seed`."""
    from transformers import AutoModelForSequenceClassification
    from transformers.utils import logging as hf_logging


    (labels1, delta1, type1), (labels2, _, type2) = encoder_delta(path1), encoder_delta(path2)
    if labels1 != labels2:
        raise ValueError(f"{path1} and {path2} have heads with labels {labels1} and {labels2}; only endpoints with "
                         "the same head are exported (not the task-boundary pairs of itp_task_boundary_finetune.py)")
    if type1 != type2:
        raise ValueError(f"{path1} has delta_type {type1!r}, {path2} {type2!r}")
    theta1, theta2 = load_endpoint(path1).tensors, load_endpoint(path2).tensors
    check_same_keys(theta1, theta2, (str(path1), str(path2)))
    if type1 == "none":
        hf_logging.set_verbosity_error()
        with safe_weights(path1, "--path1"):
            model = AutoModelForSequenceClassification.from_pretrained(str(path1), local_files_only=True,
                                                                       trust_remote_code=False).eval()
        Interpolator(model, theta1, theta2, (str(path1), str(path2))).set(x)
        folders = [path1] + ([Path(backbone)] if backbone else [])
        source = tokenizer or next((str(p) for p in folders if has_tokenizer(p)), None)
        if source is None:
            raise ValueError(f"{path1}: no tokenizer files in the checkpoint folder; pass --tokenizer")
        return Export("encoder", "model", model, load_tokenizer(source, "--tokenizer"))
    if backbone is None:
        raise ValueError(f"{path1}: a checkpoint with delta_type {type1!r}; pass --model, the encoder its runs were "
                         "tuned from (the backbone the adapters are loaded into)")
    dim = int(delta1.get("bottleneck_dim") or 24)
    unfrozen = DeltaArguments().unfrozen_modules if unfrozen_modules is None else unfrozen_modules
    tuned = [tuned_tensors(str(p), type1, unfrozen, labels1) for p in (path1, path2)]
    model = build_classifier(backbone, labels1, type1, dim, seed=seed, task=delta1.get("task")).eval()
    Interpolator(model, *tuned, (str(path1), str(path2))).set(x)
    state = model.state_dict()
    prefix = f"{model.base_model_prefix}."
    # what the backbone lacks is written too (a frozen head as built), so that loading needs neither seed nor flags
    keys = sorted(set(tuned[0]) | {k for k in state if not k.startswith(prefix)})
    pointer = {"model": str(Path(backbone).resolve()), "labels": labels1, "delta_type": type1, "bottleneck_dim": dim,
               "task": delta1.get("task"), "unfrozen_modules": unfrozen, "seed": seed}
    return Export("encoder", "adapter", model, tensors={k: state[k] for k in keys}, pointer=pointer)


# ----------------------------------------------------------------------------- LoRA adapters of a causal LM
def lora_export(path1: Path, path2: Path, x: float, backbone: str | None, tokenizer: str | None,
                lora_path: str) -> Export:
    """The point x of the LoRA path the causal sweeps walk: `delta` merged into the base model (a plain Hugging
    Face folder), `factors` as a peft adapter folder (A(x), B(x) at scaling 1)."""
    from peft.utils import get_peft_model_state_dict

    if backbone is None:
        raise ValueError(f"{path1}: a LoRA adapter; pass --model, the base model it was tuned from")
    path = lora_path_model(load_causal(backbone), (str(path1), str(path2)), lora_path)
    Interpolator(path.model, path.theta1, path.theta2, (str(path1), str(path2))).set(x)
    if lora_path == "delta":
        return Export("lora", "model", path.model.merge_and_unload(), load_causal_tokenizer(tokenizer or backbone))
    config = path.model.peft_config[PATH_ADAPTER].to_dict()
    config |= {"alpha_pattern": dict(config["rank_pattern"]), "target_modules": sorted(config["target_modules"]),
               "base_model_name_or_path": str(Path(backbone).resolve()), "inference_mode": True}  # scaling 1
    tensors = get_peft_model_state_dict(path.model, adapter_name=PATH_ADAPTER)
    pointer = {"model": str(Path(backbone).resolve()), "lora_path": lora_path}
    return Export("lora", "adapter", path.model, tensors=tensors, pointer=pointer, peft_config=config)


# ----------------------------------------------------------------------------- writing and loading
def record(export: Export, path1: Path, path2: Path, x: float) -> dict:
    """The contents of export.json."""
    info = {"format": FORMAT, "track": export.track, "kind": export.kind, "x": x,
            "formula": "(1 - x) * path1 + x * path2", "path1": describe(path1), "path2": describe(path2)}
    if export.track == "lora":
        info["lora_path"] = "delta" if export.kind == "model" else export.pointer["lora_path"]
        info["formula"] = LORA_FORMULAS[info["lora_path"]]
    if export.kind == "adapter":
        info |= {"adapter_file": LORA_WEIGHTS if export.track == "lora" else ADAPTER_FILE,
                 "backbone": describe(Path(export.pointer["model"])),
                 "load": export.pointer}
    return info


def save_export(export: Export, info: dict, out: Path) -> None:
    """Write the folder: a Hugging Face model (+ tokenizer), or the adapter checkpoint; export.json in both."""

    def write(folder: Path) -> None:
        if export.kind == "model":
            export.model.save_pretrained(str(folder))
            export.tokenizer.save_pretrained(str(folder))
        elif export.peft_config is not None:  # a peft LoRA folder: PeftModel.from_pretrained(base, folder)
            import safetensors.torch

            safetensors.torch.save_file({k: v.contiguous() for k, v in export.tensors.items()},
                                        str(folder / LORA_WEIGHTS))
            atomic_write_json(folder / LORA_CONFIG, export.peft_config)
        else:
            save_checkpoint(folder / ADAPTER_FILE, export.tensors, kind=export.ckpt_kind,
                            meta={**export.pointer, "x": info["x"], "path1": info["path1"], "path2": info["path2"]})
        atomic_write_json(folder / "export.json", info)

    with atomic_folder(out, replace=False) as tmp:  # a folder another export filled meanwhile is never replaced
        write(tmp)


def load_export(folder: str | Path) -> nn.Module:
    """Rebuild an exported point with the project's loaders (any kind; full exports are plain from_pretrained)."""

    folder = Path(folder)
    info = read_json(folder / "export.json", "export the point again")
    if info["kind"] == "model":
        from transformers import AutoModelForSequenceClassification, T5ForConditionalGeneration

        if info["track"] == "lora":
            return load_causal(folder)
        cls = T5ForConditionalGeneration if info["track"] == "t5" else AutoModelForSequenceClassification
        return cls.from_pretrained(str(folder), local_files_only=True).eval()
    load = info["load"]
    if info["track"] == "lora":
        from peft import PeftModel

        return PeftModel.from_pretrained(load_causal(load["model"]), str(folder)).eval()
    if info["track"] == "t5":

        model = load_t5(load["model"])
        add_t5_adapters(model, load["adapter_type"], load["adapter_size"])
        load_into_model(model, folder / ADAPTER_FILE)
        return model.eval()

    model = build_classifier(load["model"], load["labels"], load["delta_type"], load["bottleneck_dim"],
                             task=load["task"])
    load_tensors(model, load_checkpoint(folder / ADAPTER_FILE).tensors, str(folder / ADAPTER_FILE))
    return model.eval()


def how_to_load(export: Export, out: Path) -> str:
    """The line printed after writing."""
    if export.kind == "model":
        cls = {"t5": "T5ForConditionalGeneration", "lora": "AutoModelForCausalLM"}.get(
            export.track, "AutoModelForSequenceClassification")
        return f"wrote {out}: a Hugging Face folder (model.safetensors, config.json, tokenizer); load it with " \
               f"{cls}.from_pretrained('{out}')"
    p = export.pointer
    if export.track == "lora":
        return f"wrote {out}: a peft LoRA folder (the factors at x, scaling 1) for the base model {p['model']}; load " \
               f"it with PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained('{p['model']}'), '{out}')"
    if export.track == "t5":
        flags = f"--model {p['model']} --tune_method {p['tune_method']} --adapter_type {p['adapter_type']} " \
                f"--adapter_size {p['adapter_size']}" + (" --apply_adapter" if p["tune_method"] == "model" else "")
        loader = f"tune_singletask.py {flags} --checkpoint {out / ADAPTER_FILE}"
    else:
        loader = f"build_classifier('{p['model']}', {p['labels']}, '{p['delta_type']}', {p['bottleneck_dim']}) " \
                 f"then load_tensors with {out / ADAPTER_FILE}"
    return f"adapters are non-linear, so theta(x) cannot be folded into the backbone's weights: wrote " \
           f"{out / ADAPTER_FILE} ({len(export.tensors)} interpolated tensors) and export.json pointing to the " \
           f"backbone {p['model']}; load it with utils.export_point.load_export('{out}') or {loader}"


def main(argv: list[str] | None = None) -> int:
    """Entry point."""
    parser = OneLineParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--path1", required=True, help="first endpoint (x = 0): checkpoint file or folder")
    parser.add_argument("--path2", required=True, help="second endpoint (x = 1)")
    parser.add_argument("--x", required=True, type=finite_float, help="the point, in [0, 1]")
    parser.add_argument("--out", required=True, help="folder to write (must not exist, or be empty)")
    parser.add_argument("--model", help="backbone folder (T5 checkpoint files and adapter endpoints need it)")
    parser.add_argument("--unfrozen_modules", nargs="+", default=None,
                        help="encoder adapters: the sweep config's unfrozen_modules, the tensors interpolated "
                             f"(default: {' '.join(DeltaArguments().unfrozen_modules)})")
    parser.add_argument("--seed", type=seed_int, default=SWEEP_SEED,
                        help="encoder adapters: the sweep config's seed, which makes the tensors left out of "
                             "--unfrozen_modules (a frozen head)")
    parser.add_argument("--lora_path", choices=LORA_PATHS, default="delta",
                        help="LoRA endpoints: delta (the straight line of the updates, merged into a plain folder) or "
                             "factors (A and B interpolated, a peft adapter folder)")
    parser.add_argument("--tokenizer", help="tokenizer saved with a full model (default: --model for T5, path1 for "
                                            "the encoder)")
    args = parser.parse_args(argv)

    path1, path2, out = Path(args.path1), Path(args.path2), Path(args.out)
    check_point(args.x, out)
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    tracks = endpoint_track(path1), endpoint_track(path2)
    if tracks[0] != tracks[1]:
        raise ValueError(f"{path1} is an endpoint of the {tracks[0]} track, {path2} of the {tracks[1]} track")
    with folder_lock(out, beside=True):  # one export into `out` at a time (the folder appears whole at the end)
        if tracks[0] == "t5":
            export = t5_export(path1, path2, args.x, args.model, args.tokenizer)
        elif tracks[0] == "lora":
            export = lora_export(path1, path2, args.x, args.model, args.tokenizer, args.lora_path)
        else:
            export = encoder_export(path1, path2, args.x, args.model, args.tokenizer, args.unfrozen_modules,
                                    args.seed)
        info = record(export, path1, path2, args.x)
        save_export(export, info, out)
    print(how_to_load(export, out))
    return 0


def cli() -> int:
    """Console entry point (pyproject.toml): `main` with one-line errors."""
    return run_cli(main)


if __name__ == "__main__":
    sys.exit(cli())
