"""Resuming `run_glue.py`: the Trainer's `checkpoint-<step>/` folders (module/trainer_runs.py, shared with every
family that tunes on the Trainer) and what of the encoder track's config shapes a run's weights."""

from __future__ import annotations

from pathlib import Path

from module.identity import TUNING
from module.runs import RUN_SETTINGS, fingerprint
from module.trainer_runs import (
    STATE_FILE,
    checkpoint_folders,
    has_training_results,
    is_complete,
    latest_complete_checkpoint,
    remove_incomplete_checkpoints,
    resumed_step,
)

__all__ = ["RUN_SETTINGS", "STATE_FILE", "checkpoint_folders", "has_training_results", "is_complete",
           "latest_complete_checkpoint", "remove_incomplete_checkpoints", "resumed_step", "training_settings"]

def training_settings(config: dict, model_args, data_args, data_files: list[Path]) -> dict:
    """What shapes a run's weights: the given config keys that shape a tuning run (each key's declaration,
    RoBERTa_model/config.key_shapes) and content hashes of the model, tokenizer and data files."""
    from RoBERTa_model.config import key_shapes

    folders = [model_args.model_name_or_path] + ([model_args.tokenizer_name] if model_args.tokenizer_name else [])
    return {"config": {k: v for k, v in sorted(config.items()) if TUNING in key_shapes(k)},
            "model": fingerprint(*folders), "data": fingerprint(*data_files), "task": data_args.task_name}
