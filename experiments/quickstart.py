"""The main job in one command: tune two minima per method, sweep the straight path between them, report.

Encoder track (default): all-MiniLM-L6-v2 on snli, fully fine-tuned and adapter-tuned with seeds 20 and
30, then 26 points between each pair on dev and test. `--track t5`: the same through the T5 track's jobs
(tune_singletask.py / task_interpolation.py) with the home-built small T5. Finished runs and sweep points are
reused; `--force` redoes them. Everything lands in `runs/quickstart/` (or `--out`).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from collections.abc import Callable
from pathlib import Path

from dataloader.tasks import load_split
from module.cli import OneLineParser, positive_int, run_cli
from module.files import atomic_write_json
from module.plotting import majority_fraction, plot_overlay
from module.report import BARRIER_NOTE, summary_table
from module.runs import SettingsMismatch
from module.sweep import RESULTS_VERSION, read_records
from RoBERTa_model.config import config_from_values
from RoBERTa_model.encoder import load_task_split
from RoBERTa_model.jobs import interpolate_runs, tune_encoder
from T5_model.jobs import interpolate, run_prefix, tune
from T5_model.options import options_for

ROOT = Path(__file__).resolve().parents[1]

SEEDS = (20, 30)
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
# T5 track: `model` flags go to both tuning and the sweep, `train` flags to tuning only. Adapters on the
# 1.7M-parameter home T5 sit at the majority class for the first ~400 updates (README), hence more updates
# and a decaying learning rate for them.
T5_METHODS = {
    "finetune": {"model": {"tune_method": "model"}, "train": {"learning_rate": 1e-3}},
    "adapter": {"model": {"tune_method": "adapter", "apply_adapter": True, "adapter_size": 16},
                "train": {"learning_rate": 2e-2, "lr_decay_style": "linear", "warmup_steps": 50}},
}
LABELS = {"finetune": "full fine-tuning", "adapter": "adapter tuning"}


def forget_stale_runs(out: Path) -> bool:
    """Remove the runs and sweeps of an output folder made by code whose results differ (RESULTS_VERSION); True if
    so (everything then trains and sweeps again)."""
    stamp = out / "results_version.json"
    current = {"results_version": RESULTS_VERSION}
    stale = any(p != stamp for p in out.iterdir()) and (not stamp.is_file()
                                                        or json.loads(stamp.read_text()) != current)
    if stale:
        print(f"[quickstart] {out} was made by an older version whose results differ: training again")
        for path in out.iterdir():
            if path != stamp:
                shutil.rmtree(path) if path.is_dir() else path.unlink()
    atomic_write_json(stamp, current)
    return stale


def retrain_if_unknown(folder: Path, job: Callable[[], object]) -> None:
    """Run `job`; when `folder` holds results it cannot vouch for (a run or sweep of other settings, e.g. after a
    change of sizes or retrained endpoints), delete the folder and run it again."""
    try:
        job()
    except SettingsMismatch as exc:
        print(f"[quickstart] {exc}: running again")
        shutil.rmtree(folder)
        job()


def _record(out: Path, name: str, values: dict) -> None:
    """Keep the values a job ran with as `configs/<name>.json` (a run_glue-style config a user can rerun)."""
    atomic_write_json(out / "configs" / f"{name}.json", values)


def encoder_run(out: Path, method: str, seed: int, args: argparse.Namespace) -> Path:
    """Tune MiniLM on snli with one method and seed (a finished run of the same settings is reused)."""
    run_dir = out / f"{method}-seed{seed}"
    values = {"model_name_or_path": str(args.model), "task_name": "snli", "data_dir": str(args.data),
              "max_train_samples": args.train_examples, "max_eval_samples": args.eval_examples,
              "max_test_samples": args.eval_examples, "max_source_length": 128, "per_device_train_batch_size": 32,
              "per_device_eval_batch_size": 128, "evaluation_strategy": "no", "save_strategy": "steps",
              "save_steps": ENCODER_METHODS[method]["max_steps"], "save_total_limit": 1, "seed": seed,
              "do_train": True, "do_eval": True, "do_test": True, "output_dir": str(run_dir), "logging_steps": 25,
              "report_to": "none", **ENCODER_METHODS[method]}
    _record(out, f"{method}-seed{seed}", values)
    print(f"[quickstart] {LABELS[method]}, seed {seed} -> {run_dir}")
    retrain_if_unknown(run_dir, lambda: tune_encoder(config_from_values(values, source=f"{method}-seed{seed}")))
    return run_dir


def encoder_sweep(out: Path, method: str, runs: list[Path], args: argparse.Namespace) -> Path:
    """The straight path between the two runs of one method (resumable)."""
    steps = ENCODER_METHODS[method]["max_steps"]
    sweep_dir = out / f"{method}-seed{SEEDS[0]}+{SEEDS[1]}"
    values = {"model_name_or_path": str(args.model), "task_name": "snli", "data_dir": str(args.data),
              "max_eval_samples": args.eval_examples, "max_test_samples": args.eval_examples,
              "per_device_eval_batch_size": 128, "do_test": True, "output_dir": str(sweep_dir), "itpl_points": 26,
              "path1": str(runs[0] / f"checkpoint-{steps}"), "path2": str(runs[1] / f"checkpoint-{steps}"),
              "seed": SEEDS[0], "report_to": "none",
              **{k: v for k, v in ENCODER_METHODS[method].items() if k in ("delta_type", "bottleneck_dim",
                                                                             "unfrozen_modules")}}
    _record(out, f"sweep-{method}", values)
    print(f"[quickstart] sweeping {LABELS[method]}: 26 points between seeds {SEEDS[0]} and {SEEDS[1]}")
    retrain_if_unknown(sweep_dir, lambda: interpolate_runs(config_from_values(values, True, source=f"sweep-{method}")))
    return sweep_dir


def t5_options(args: argparse.Namespace, method: str, **values) -> dict:
    """The settings both the T5 tuning runs and the sweep of one method use (batch 32, first 1000 dev/test,
    accuracy, 128 input tokens, 8 output tokens)."""
    return {"task_dir": str(args.data / args.t5_task), "model": str(args.t5_model), "max_input_length": 128,
            "max_output_length": 8, "choose_dev_1000": True, "metric": "ACC", "predict_batch_size": 128,
            **T5_METHODS[method]["model"], **values}


def t5_run(out: Path, method: str, seed: int, args: argparse.Namespace) -> Path:
    """Tune the home-built T5 (T5_model.jobs.tune); a finished run of the same settings is reused."""
    grid_dir = out / f"{method}-seed{seed}"
    steps = args.t5_adapter_steps if method == "adapter" else args.t5_steps
    options = options_for("tune", **t5_options(args, method, output_dir=str(grid_dir), do_train=True, seed=seed,
                                               train_iters=steps, valid_interval=steps, output_interval=steps,
                                               log_interval=25, train_batch_size=32, max_grad_norm=1.0, quiet=True,
                                               **T5_METHODS[method]["train"]))
    print(f"[quickstart] T5 {LABELS[method]}, seed {seed} -> {grid_dir}")
    retrain_if_unknown(grid_dir, lambda: tune(options))
    return grid_dir / run_prefix(options.learning_rate, options.train_batch_size, seed)


def t5_sweep(out: Path, method: str, runs: list[Path], args: argparse.Namespace) -> Path:
    """The straight line between the two T5 runs of one method (T5_model.jobs.interpolate; resumable)."""
    sweep_dir = out / f"{method}-seed{SEEDS[0]}+{SEEDS[1]}"
    options = options_for("interpolate", **t5_options(
        args, method, output_dir=str(sweep_dir), load_PET_path_1=str(runs[0] / "checkpoint-last.pt"),
        load_PET_path_2=str(runs[1] / "checkpoint-last.pt"), itpl_points=26, do_valid=True, do_predict=True,
        choose_test_1000=True))
    print(f"[quickstart] T5 sweep, {LABELS[method]}: 26 points")
    retrain_if_unknown(sweep_dir, lambda: interpolate(options))
    return sweep_dir


def split_majority(args: argparse.Namespace) -> dict[str, float | None]:
    """The majority-class share of the dev and test examples the sweeps evaluate."""

    if args.track == "encoder":

        return {s: majority_fraction([e.answers for e in load_task_split(str(args.data), "snli", s,
                                                                         args.eval_examples)], "ACC")
                for s in ("dev", "test")}

    return {s: majority_fraction([e.answers for e in load_split(args.data / args.t5_task, s, choose_1000=True)],
                                 "ACC") for s in ("dev", "test")}


def report(sweeps: dict[str, Path], out: Path, task: str = "snli", majority: dict | None = None) -> str:
    """The summary table, and the overlay figure of both pairs."""

    summaries = {LABELS[m]: json.loads((d / "summary.json").read_text()) for m, d in sweeps.items()}
    curves = {}
    for method, sweep_dir in sweeps.items():
        records = read_records(sweep_dir)
        for split in records[0]["splits"]:
            curves[f"{LABELS[method]} ({split})"] = ([r["x"] for r in records],
                                                      [r["splits"][split]["performance"] for r in records])
    plot_overlay(curves, "accuracy", out / "overlay.png", metric="ACC", majority=majority,
                 title=f"{task} dev/test: straight lines, seed {SEEDS[0]} → seed {SEEDS[1]}",
                 xlabel=f"x: 0 = seed {SEEDS[0]}, 1 = seed {SEEDS[1]}")
    return summary_table(summaries, "acc")


def main(argv: list[str] | None = None) -> int:
    """Entry point."""
    p = OneLineParser(description=__doc__.splitlines()[0])
    p.add_argument("--track", choices=("encoder", "t5"), default="encoder")
    p.add_argument("--out", type=Path, default=None, help="default: runs/quickstart (runs/quickstart-t5 for t5)")
    p.add_argument("--data", type=Path, default=ROOT / "data")
    p.add_argument("--model", type=Path, default=ROOT / "pretrained_models" / "all-MiniLM-L6-v2")
    p.add_argument("--t5_model", type=Path, default=ROOT / "pretrained_models" / "t5-small-home")
    p.add_argument("--t5_task", default="rotten_tomatoes")
    p.add_argument("--t5_steps", type=positive_int, default=300, help="updates per T5 fine-tuning run (batch 32)")
    p.add_argument("--t5_adapter_steps", type=positive_int, default=800, help="updates per T5 adapter run (batch 32)")
    p.add_argument("--steps", type=positive_int, default=150, help="updates per encoder run (batch 32)")
    p.add_argument("--train_examples", type=positive_int, default=20000)
    p.add_argument("--eval_examples", type=positive_int, default=500)
    p.add_argument("--force", action="store_true", help="redo every run and sweep point")
    args = p.parse_args(argv)
    for key in ("out", "data", "model", "t5_model"):  # the configs written below hold absolute paths
        if getattr(args, key) is not None:
            setattr(args, key, getattr(args, key).resolve())
    for method in ENCODER_METHODS.values():
        method["max_steps"] = args.steps
        method["warmup_steps"] = max(1, args.steps // 10)
    out = args.out or ROOT / "runs" / ("quickstart" if args.track == "encoder" else "quickstart-t5")
    if args.force and out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)
    forget_stale_runs(out)
    start = time.time()
    run, sweep = (encoder_run, encoder_sweep) if args.track == "encoder" else (t5_run, t5_sweep)
    sweeps = {}
    for method in ("finetune", "adapter"):
        runs = [run(out, method, seed, args) for seed in SEEDS]
        sweeps[method] = sweep(out, method, runs, args)
    table = report(sweeps, out, "snli" if args.track == "encoder" else args.t5_task, split_majority(args))
    print("\n" + table + "\n")
    print(BARRIER_NOTE)
    for method, sweep_dir in sweeps.items():
        print(f"{LABELS[method]}: {sweep_dir}/result.csv, summary.json, interpolation.png")
    print(f"overlay of both pairs: {out / 'overlay.png'}")
    print(f"[quickstart] finished in {(time.time() - start) / 60:.1f} min")
    return 0


def cli() -> int:
    """Console entry point (pyproject.toml): `main` with one-line errors."""
    return run_cli(main)


if __name__ == "__main__":
    sys.exit(cli())
