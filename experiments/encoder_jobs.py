"""What the experiments share to run encoder-track jobs: the quickstart's tuning methods, running a tuning run
or a line sweep from config values (kept as `configs/<name>.json`, a config a user can rerun), and redoing work
whose folder holds results of other settings."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

from module.files import LOCK_FILE, atomic_write_json, read_json
from module.runs import SettingsMismatch
from module.sweep import RESULTS_VERSION
from RoBERTa_model.config import config_from_values
from RoBERTa_model.jobs import interpolate_runs, tune_encoder

# Sizes chosen for two CPU cores (see README): ~2 min per tuning run, ~5 s per sweep point on 500 dev + 500
# test pairs. Full fine-tuning draws batches of similar length (1.2-1.6x faster here, pad waste 0.83 -> 0.04);
# adapters keep random batches: with lr 3e-3, length-grouped batches (similar lengths, and in snli similar
# labels, for 50 updates in a row) made their training collapse (seed 20: train loss 1.10 from update 75 on,
# dev accuracy 0.458 against 0.694).
ENCODER_METHODS = {
    "finetune": {"delta_type": "none", "learning_rate": 2e-4, "max_steps": 150, "warmup_steps": 15,
                 "train_sampling_strategy": "group_by_length"},
    "adapter": {"delta_type": "adapter", "bottleneck_dim": 24, "learning_rate": 3e-3, "max_steps": 150,
                "warmup_steps": 15, "unfrozen_modules": ["deltas", "layer_norm", "final_layer_norm", "classifier"]},
}
LABELS = {"finetune": "full fine-tuning", "adapter": "adapter tuning", "lora": "LoRA (delta line)",
          "lora_factors": "LoRA (factors path)"}


def forget_stale_runs(out: Path, force: bool = False) -> bool:
    """Remove the runs and sweeps of an output folder made by code whose results differ (RESULTS_VERSION), or all
    of them with `force`; True if so (everything then trains and sweeps again). The caller holds the folder's
    lock, which stays."""
    stamp = out / "results_version.json"
    current = {"results_version": RESULTS_VERSION}
    kept = {stamp, out / LOCK_FILE}  # the folder's lock belongs to the run holding it
    stale = any(p not in kept for p in out.iterdir()) and (force or not stamp.is_file()
                                                           or json.loads(stamp.read_text()) != current)
    if stale:
        print(f"[experiments] {out}: " + ("--force: training again" if force else
                                          "made by an older version whose results differ: training again"))
        for path in out.iterdir():
            if path not in kept:
                shutil.rmtree(path) if path.is_dir() else path.unlink()
    atomic_write_json(stamp, current)
    return stale


def retrain_if_unknown(folder: Path, job: Callable[[], object]) -> None:
    """Run `job`; when `folder` holds results it cannot vouch for (a run or sweep of other settings, e.g. after a
    change of sizes or retrained endpoints), delete the folder and run it again."""
    try:
        job()
    except SettingsMismatch as exc:
        print(f"[experiments] {exc}: running again")
        shutil.rmtree(folder)
        job()


def record_config(out: Path, name: str, values: dict) -> None:
    """Keep the values a job ran with as `configs/<name>.json` (a run_glue-style config a user can rerun)."""
    atomic_write_json(out / "configs" / f"{name}.json", values)


def tuning_values(model: Path, data: Path, method: str, seed: int, steps: int, train_examples: int,
                  eval_examples: int, task: str = "snli", **extra) -> dict:
    """A run_glue config tuning `model` on `task` with one of ENCODER_METHODS: batch 32, `steps` updates (warm-up
    a tenth), the first `train_examples`, dev and test on the first `eval_examples`, one checkpoint at the end."""
    return {"model_name_or_path": str(model), "task_name": task, "data_dir": str(data),
            "max_train_samples": train_examples, "max_eval_samples": eval_examples,
            "max_test_samples": eval_examples, "max_source_length": 128, "per_device_train_batch_size": 32,
            "per_device_eval_batch_size": 128, "evaluation_strategy": "no", "save_strategy": "steps",
            "save_total_limit": 1, "seed": seed, "do_train": True, "do_eval": True, "do_test": True,
            "logging_steps": 25, "report_to": "none",
            **ENCODER_METHODS[method], "max_steps": steps, "warmup_steps": max(1, steps // 10), "save_steps": steps,
            **extra}


def line_values(model: Path, data: Path, method: str, runs: tuple[Path, Path], eval_examples: int, points: int,
                task: str = "snli", **extra) -> dict:
    """An itp_pretrain_adapter config: the straight line between two run folders of one method (their latest
    checkpoints), on the first `eval_examples` dev and test examples."""
    return {"model_name_or_path": str(model), "task_name": task, "data_dir": str(data),
            "max_eval_samples": eval_examples, "max_test_samples": eval_examples, "per_device_eval_batch_size": 128,
            "do_test": True, "itpl_points": points, "path1": str(runs[0]), "path2": str(runs[1]), "seed": 20,
            "report_to": "none", **{k: v for k, v in ENCODER_METHODS[method].items()
                                    if k in ("delta_type", "bottleneck_dim", "unfrozen_modules")}, **extra}


def run_encoder(out: Path, name: str, values: dict) -> Path:
    """Tune as `values` say into `out/<name>/` (a finished run of the same settings is reused)."""
    run_dir = out / name
    values = {**values, "output_dir": str(run_dir)}
    record_config(out, name, values)
    retrain_if_unknown(run_dir, lambda: tune_encoder(config_from_values(values, source=name)))
    return run_dir


def sweep_encoder(out: Path, name: str, values: dict, job: Callable = interpolate_runs) -> dict:
    """The line sweep `values` describe (itp_pretrain_adapter.py's keys; `job`: the script's job, e.g.
    interpolate_task_boundary) into `out/<name>/` (resumable); its summary."""
    sweep_dir = out / name
    values = {**values, "output_dir": str(sweep_dir)}
    record_config(out, f"sweep-{name}", values)
    retrain_if_unknown(sweep_dir, lambda: job(config_from_values(values, True, source=name)))
    return read_json(sweep_dir / "summary.json")
