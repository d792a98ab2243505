"""The main job in one command: tune two minima per method, sweep the straight path between them, report.

Encoder track (default): all-MiniLM-L6-v2 on snli, fully fine-tuned and adapter-tuned with seeds 20 and
30, then 26 points between each pair on dev and test. `--track t5`: the same through the T5 track's jobs
(tune_singletask.py / task_interpolation.py) with the home-built small T5. Finished runs and sweep points are
reused; `--force` redoes them. Everything lands in `runs/quickstart/` (or `--out`).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from dataloader.tasks import check_task_dir, load_split
from experiments.encoder_jobs import (
    LABELS,
    forget_stale_runs,
    line_values,
    retrain_if_unknown,
    run_encoder,
    sweep_encoder,
    tuning_values,
)
from module.cli import OneLineParser, positive_int, run_cli
from module.files import folder_lock, read_json
from module.plotting import majority_fraction, plot_overlay
from module.report import BARRIER_NOTE, summary_table
from module.sweep import read_records
from RoBERTa_model.encoder import load_task_split
from T5_model.jobs import interpolate, run_prefix, tune
from T5_model.options import options_for

ROOT = Path(__file__).resolve().parents[1]

SEEDS = (20, 30)
# T5 track: `model` flags go to both tuning and the sweep, `train` flags to tuning only. Adapters on the
# 1.7M-parameter home T5 sit at the majority class for the first ~400 updates (README), hence more updates
# and a decaying learning rate for them.
T5_METHODS = {
    "finetune": {"model": {"tune_method": "model"}, "train": {"learning_rate": 1e-3}},
    "adapter": {"model": {"tune_method": "adapter", "apply_adapter": True, "adapter_size": 16},
                "train": {"learning_rate": 2e-2, "lr_decay_style": "linear", "warmup_steps": 50}},
}


def encoder_run(out: Path, method: str, seed: int, args: argparse.Namespace) -> Path:
    """Tune MiniLM on snli with one method and seed (a finished run of the same settings is reused)."""
    print(f"[quickstart] {LABELS[method]}, seed {seed} -> {out / f'{method}-seed{seed}'}")
    return run_encoder(out, f"{method}-seed{seed}", tuning_values(args.model, args.data, method, seed, args.steps,
                                                                 args.train_examples, args.eval_examples))


def encoder_sweep(out: Path, method: str, runs: list[Path], args: argparse.Namespace) -> Path:
    """The straight path between the two runs of one method (resumable)."""
    name = f"{method}-seed{SEEDS[0]}+{SEEDS[1]}"
    print(f"[quickstart] sweeping {LABELS[method]}: 26 points between seeds {SEEDS[0]} and {SEEDS[1]}")
    sweep_encoder(out, name, line_values(args.model, args.data, method, (runs[0], runs[1]), args.eval_examples, 26))
    return out / name


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

    summaries = {LABELS[m]: read_json(d / "summary.json") for m, d in sweeps.items()}
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


def check_inputs(args: argparse.Namespace) -> None:
    """The task folder and the model folder the track uses exist (before the output folder is created)."""
    encoder = args.track == "encoder"
    check_task_dir(args.data / ("snli" if encoder else args.t5_task), "--data")
    flag, model = ("--model", args.model) if encoder else ("--t5_model", args.t5_model)
    if not (model / "config.json").is_file():
        fix = "python utils/prepare_models.py" if encoder else "bash scripts/quickstart.sh --track t5 builds it"
        raise FileNotFoundError(f"{flag} {model}: no model folder (config.json) there ({fix})")


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
    check_inputs(args)
    out = args.out or ROOT / "runs" / ("quickstart" if args.track == "encoder" else "quickstart-t5")
    with folder_lock(out):  # one quickstart per folder, from before --force empties it to its last file
        return quickstart(args, out)


def quickstart(args: argparse.Namespace, out: Path) -> int:
    """Both pairs of runs, their sweeps and the report into `out` (whose lock the caller holds)."""
    forget_stale_runs(out, force=args.force)
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
