"""JSON configs of the encoder track: the original's keys, read into argument dataclasses."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path

from RoBERTa_model.config_types import type_errors

# keys of the original configs that only mattered to its `datasets`/generation set-up
IGNORED_KEYS = {"dataset_config_name", "eval_dataset_config_name", "test_dataset_config_name", "eval_dataset_name",
                "test_dataset_name", "predict_with_generate", "config_name", "overwrite_output_dir",
                "dataset_name", "overwrite_cache", "max_target_length", "pad_to_max_length"}
RENAMED_KEYS = {"evaluation_strategy": "eval_strategy", "do_test": "do_predict"}


# values that size something: at least 1
POSITIVE_KEYS = ("bottleneck_dim", "max_source_length", "per_device_train_batch_size", "per_device_eval_batch_size",
                 "max_train_samples", "max_eval_samples", "max_test_samples", "gradient_accumulation_steps")


class ConfigError(ValueError):
    """A config file that cannot be used."""


@dataclass
class ModelArguments:
    """Which encoder and tokenizer to start from."""

    model_name_or_path: str = "pretrained_models/all-MiniLM-L6-v2"
    tokenizer_name: str | None = None


@dataclass
class DataArguments:
    """Which task folder, and how to tokenise it."""

    task_name: str = "snli"
    data_dir: str = "data"
    max_source_length: int = 128
    max_train_samples: int | None = None
    max_eval_samples: int | None = None
    max_test_samples: int | None = None


DELTA_TYPES = ("adapter", "houlsby_dense", "none")


@dataclass
class DeltaArguments:
    """What is tuned: `delta_type` adapter (OpenDelta's, as the paper), houlsby_dense (this project's earlier
    bias-free adapter after the dense projections) or none (full fine-tuning); `r_mean`/`r_std` override the
    adapter's initialisation (default: N(0, 0.01) for adapter, N(0, 0.02) for houlsby_dense)."""

    delta_type: str = "none"
    bottleneck_dim: int = 24
    unfrozen_modules: list[str] = field(default_factory=lambda: ["deltas", "layer_norm", "final_layer_norm",
                                                                 "classifier"])
    r_mean: float | None = None
    r_std: float | None = None


@dataclass
class InterpolationArguments:
    """The endpoints of an interpolation (`itp_*.py` only)."""

    path1: str | None = None
    path2: str | None = None
    itpl_points: int = 26
    eval_task_names: list[str] | None = None  # itp_task_boundary: the tasks to evaluate (default: task_name)


def _check_delta(path: Path, delta: DeltaArguments) -> None:
    """delta_type is known; unfrozen_modules is a list of module names (OpenDelta's '[r]' regexes are not read)."""
    if delta.delta_type not in DELTA_TYPES:
        raise ConfigError(f"{path}: delta_type must be one of {', '.join(map(repr, DELTA_TYPES))}, "
                          f"got {delta.delta_type!r}")
    modules = delta.unfrozen_modules
    if not isinstance(modules, list) or not all(isinstance(m, str) and m for m in modules):
        raise ConfigError(f"{path}: unfrozen_modules must be a list of module names, got {modules!r}")
    regex = next((m for m in modules if m.startswith("[r]")), None)
    if regex:
        raise ConfigError(f"{path}: unfrozen_modules entry {regex!r}: regular expressions are not supported; "
                          "name the modules (e.g. 'classifier', 'output.LayerNorm')")


def _has_cuda() -> bool:
    import torch

    return torch.cuda.is_available()


def read_config_json(path: str | Path) -> dict:
    """A config file's keys and values, with the original's renamed keys mapped and its ignored keys dropped."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: config file not found")
    try:
        raw = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{path}: not valid JSON ({exc.msg} at line {exc.lineno})") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text (byte {exc.start})") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a JSON object of arguments")
    return {RENAMED_KEYS.get(k, k): v for k, v in raw.items() if k not in IGNORED_KEYS}


def load_config(path: str | Path, with_interpolation: bool = False):
    """Read a JSON config into (model, data, delta, training[, interpolation]) arguments; unknown keys are errors."""
    from transformers import TrainingArguments

    path = Path(path)
    raw = read_config_json(path)
    classes = [ModelArguments, DataArguments, DeltaArguments]
    if with_interpolation:
        classes.append(InterpolationArguments)
    parts, used = [], set()
    for cls in classes:
        names = {f.name for f in dataclasses.fields(cls)}
        values = {k: v for k, v in raw.items() if k in names}
        used |= set(values)
        parts.append(cls(**values))
    training_names = {f.name for f in dataclasses.fields(TrainingArguments)}
    unknown = sorted(k for k in raw if k not in used and k not in training_names)
    if unknown:
        hint = " (path1/path2 belong to itp_*.py configs)" if unknown[0] in ("path1", "path2") else ""
        raise ConfigError(f"{path}: unknown key {unknown[0]!r}{hint}")
    for key, expected in type_errors(raw, [*classes, TrainingArguments]):
        raise ConfigError(f"{path}: key {key!r} must be {expected}, got {raw[key]!r}")
    for key in POSITIVE_KEYS:
        if isinstance(raw.get(key), int) and raw[key] < 1:
            raise ConfigError(f"{path}: key {key!r} must be at least 1, got {raw[key]!r}")
    training = {k: v for k, v in raw.items() if k in training_names}
    training.setdefault("output_dir", "runs/encoder")
    training.setdefault("report_to", "none")
    training.setdefault("disable_tqdm", False)  # not transformers' verbosity-dependent default: always a bar
    training.setdefault("dataloader_pin_memory", _has_cuda())  # no pin_memory warning on CPU
    try:
        parts.append(TrainingArguments(**training))
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{path}: {str(exc).splitlines()[0]}") from None
    _check_delta(path, parts[2])
    if with_interpolation:
        itp = parts[3]
        for key in ("path1", "path2"):
            if not getattr(itp, key):
                raise ConfigError(f"{path}: missing key {key!r} (the checkpoint folder of each endpoint)")
        from module.interpolation import MAX_ITPL_POINTS

        if not 2 <= itp.itpl_points <= MAX_ITPL_POINTS:
            raise ConfigError(f"{path}: itpl_points must be 2 to {MAX_ITPL_POINTS} (x is rounded to 3 decimals), "
                              f"got {itp.itpl_points}")
    return tuple(parts[:3]) + (parts[-1],) + ((parts[3],) if with_interpolation else ())
