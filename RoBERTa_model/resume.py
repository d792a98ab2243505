"""Resuming `run_glue.py`: the Trainer's `checkpoint-<step>/` folders, which are complete, and the run's settings."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

from module.files import read_json
from module.loading import WEIGHT_FILES
from module.runs import RUN_SETTINGS, fingerprint

__all__ = ["RUN_SETTINGS", "checkpoint_folders", "latest_complete_checkpoint", "remove_incomplete_checkpoints",
           "training_settings"]

CHECKPOINT = re.compile(r"^checkpoint-(\d+)$")
STATE_FILE = "trainer_state.json"  # the Trainer writes it last: a folder holding it and weights is complete
# config keys that change no trained weight: where files go, what is logged or shown, test-only evaluation
COSMETIC_KEYS = {"output_dir", "disable_tqdm", "report_to", "logging_steps", "logging_strategy", "logging_first_step",
                 "logging_dir", "save_steps", "save_total_limit", "save_strategy", "resume_from_checkpoint",
                 "do_predict", "max_test_samples", "per_device_eval_batch_size", "dataloader_num_workers",
                 "overwrite_output_dir"}


def checkpoint_folders(out: str | Path) -> list[tuple[int, Path]]:
    """(step, folder) of every `checkpoint-<step>` folder in `out`, by step."""
    out = Path(out)
    found = [(int(m.group(1)), p) for p in out.iterdir() if p.is_dir() and (m := CHECKPOINT.match(p.name))] \
        if out.is_dir() else []
    return sorted(found)


def is_complete(folder: Path) -> bool:
    """True when the Trainer finished writing the checkpoint folder (weights and its state, written last)."""
    return (folder / STATE_FILE).is_file() and any((folder / name).is_file() for name in WEIGHT_FILES)


def latest_complete_checkpoint(out: str | Path) -> Path | None:
    """The complete checkpoint folder of the highest step, or None."""
    complete = [p for _, p in checkpoint_folders(out) if is_complete(p)]
    return complete[-1] if complete else None


def resumed_step(folder: str | Path) -> int:
    """The update count a checkpoint folder was saved at (its trainer state's global_step)."""
    return int(read_json(Path(folder) / STATE_FILE).get("global_step", 0))


def remove_incomplete_checkpoints(out: str | Path) -> list[Path]:
    """Delete the checkpoint folders a kill or a full disk left half-written (no weights or no trainer state)."""
    removed = [p for _, p in checkpoint_folders(out) if not is_complete(p)]
    for folder in removed:
        shutil.rmtree(folder, ignore_errors=True)
    return removed


def has_training_results(out: str | Path) -> bool:
    """True when `out` holds checkpoints or a final model of a training run."""
    return bool(checkpoint_folders(out)) or any((Path(out) / name).is_file() for name in WEIGHT_FILES)


def training_settings(config: dict, model_args, data_args, data_files: list[Path]) -> dict:
    """What shapes a run's weights: the config's keys (less `COSMETIC_KEYS`) and content hashes of the model,
    tokenizer and data files."""
    folders = [model_args.model_name_or_path] + ([model_args.tokenizer_name] if model_args.tokenizer_name else [])
    return {"config": {k: v for k, v in sorted(config.items()) if k not in COSMETIC_KEYS},
            "model": fingerprint(*folders), "data": fingerprint(*data_files), "task": data_args.task_name}
