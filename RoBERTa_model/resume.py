"""Resuming `run_glue.py`: the Trainer's `checkpoint-<step>/` folders (module/trainer_runs.py, shared with every
family that tunes on the Trainer) and what of the encoder track's config shapes a run's weights."""

from __future__ import annotations

from pathlib import Path

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

# config keys that change no trained weight: where files go, what is logged or shown, test-only evaluation
COSMETIC_KEYS = {"output_dir", "disable_tqdm", "report_to", "logging_steps", "logging_strategy", "logging_first_step",
                 "logging_dir", "save_steps", "save_total_limit", "save_strategy", "resume_from_checkpoint",
                 "do_predict", "max_test_samples", "per_device_eval_batch_size", "dataloader_num_workers",
                 "overwrite_output_dir"}


def training_settings(config: dict, model_args, data_args, data_files: list[Path]) -> dict:
    """What shapes a run's weights: the config's keys (less `COSMETIC_KEYS`) and content hashes of the model,
    tokenizer and data files."""
    folders = [model_args.model_name_or_path] + ([model_args.tokenizer_name] if model_args.tokenizer_name else [])
    return {"config": {k: v for k, v in sorted(config.items()) if k not in COSMETIC_KEYS},
            "model": fingerprint(*folders), "data": fingerprint(*data_files), "task": data_args.task_name}
