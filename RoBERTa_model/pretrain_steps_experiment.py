"""The pre-training-steps experiment end to end at small scale: does connectivity change with pre-training?

Pre-trains a small RoBERTa with MLM (saving `ckpt_<STEP>` at several steps), adapter-tunes two seeds from
each step on one task, sweeps the straight path between each pair, and draws one combined plot of the
curves. Finished pieces are reused, so an interrupted run continues. Defaults fit ~15 minutes on two CPU
cores; the same stages run the paper's setting with real checkpoints (see README).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from module.cli import OneLineParser, finite_float, positive_int, run_cli
from module.files import atomic_write_json, folder_lock, read_json
from module.plotting import plot_overlay
from module.sweep import read_records
from RoBERTa_model.config import config_from_values
from RoBERTa_model.jobs import interpolate_runs, tune_encoder
from RoBERTa_model.mlm import MLMPretrainOptions
from RoBERTa_model.step_checkpoints import step_checkpoints

ROOT = Path(__file__).resolve().parents[1]

SEEDS = (20, 30)
UNFROZEN = ["deltas", "layer_norm", "final_layer_norm", "classifier"]


def pretrain_options(args: argparse.Namespace) -> MLMPretrainOptions:
    """The pre-training run that makes the step checkpoints."""
    return MLMPretrainOptions(text=str(args.text), out=str(args.checkpoints), steps=max(args.pretrain_steps),
                              save_steps=list(args.pretrain_steps), max_lines=args.max_lines,
                              warmup_steps=args.warmup_steps, quiet=True)


def pretrain(args: argparse.Namespace) -> list[Path]:
    """The step checkpoints (RoBERTa_model.step_checkpoints: made elsewhere and used as they are, or pre-trained
    here and reused under the same text and settings)."""
    return step_checkpoints(pretrain_options(args))


def tune(backbone: Path, seed: int, args: argparse.Namespace) -> Path:
    """Adapter-tune one seed from one backbone (a finished run of the same settings is reused)."""
    out = args.out / f"{backbone.name}-seed{seed}"
    config = {"model_name_or_path": str(backbone), "task_name": args.task, "data_dir": str(args.data),
              "delta_type": "adapter", "bottleneck_dim": 24, "unfrozen_modules": UNFROZEN,
              "learning_rate": args.lr, "max_steps": args.tune_steps, "warmup_steps": args.tune_steps // 10,
              "per_device_train_batch_size": 32, "per_device_eval_batch_size": 128, "evaluation_strategy": "no",
              "save_strategy": "steps", "save_steps": args.tune_steps, "save_total_limit": 1, "seed": seed,
              "do_train": True, "do_eval": True, "do_test": False, "output_dir": str(out),
              "max_eval_samples": args.eval_examples, "max_train_samples": args.train_examples,
              "report_to": "none", "disable_tqdm": True}
    atomic_write_json(args.out / "configs" / f"{out.name}.json", config)  # the record of what ran
    tune_encoder(config_from_values(config, source=out.name))
    return out


def sweep(backbone: Path, runs: list[Path], args: argparse.Namespace) -> Path:
    """The straight path between the two seeds of one backbone (resumable)."""
    out = args.out / f"itp-{backbone.name}"
    config = {"model_name_or_path": str(backbone), "task_name": args.task, "data_dir": str(args.data),
              "delta_type": "adapter", "bottleneck_dim": 24, "unfrozen_modules": UNFROZEN,
              "per_device_eval_batch_size": 128, "output_dir": str(out), "itpl_points": args.points,
              "max_eval_samples": args.eval_examples, "report_to": "none", "disable_tqdm": True,
              "path1": str(runs[0] / f"checkpoint-{args.tune_steps}"),
              "path2": str(runs[1] / f"checkpoint-{args.tune_steps}")}
    atomic_write_json(args.out / "configs" / f"itp-{backbone.name}.json", config)
    interpolate_runs(config_from_values(config, True, source=out.name))
    return out


def main(argv: list[str] | None = None) -> int:
    """Entry point."""
    p = OneLineParser(description=__doc__.splitlines()[0])
    p.add_argument("--text", type=Path, default=ROOT / "data" / "pretrain_text" / "corpus.txt")
    p.add_argument("--data", type=Path, default=ROOT / "data")
    p.add_argument("--task", default="rotten_tomatoes")
    p.add_argument("--checkpoints", type=Path, default=ROOT / "RoBERTa_model" / "checkpoint")
    p.add_argument("--out", type=Path, default=ROOT / "runs" / "pretrain_steps")
    p.add_argument("--pretrain_steps", type=positive_int, nargs="+", default=[100, 300, 600])
    p.add_argument("--warmup_steps", type=positive_int, default=60)
    p.add_argument("--max_lines", type=positive_int, default=200000)
    p.add_argument("--tune_steps", type=positive_int, default=200)
    p.add_argument("--lr", type=finite_float, default=1e-3)
    p.add_argument("--train_examples", type=positive_int, default=8000)
    p.add_argument("--eval_examples", type=positive_int, default=600)
    p.add_argument("--points", type=positive_int, default=26)
    args = p.parse_args(argv)
    for key in ("checkpoints", "out", "text", "data"):  # the configs written hold absolute paths
        if isinstance(getattr(args, key, None), Path):
            setattr(args, key, getattr(args, key).resolve())

    with folder_lock(args.out):  # one run of the experiment per folder, from its first write to its figure
        return experiment(args)


def experiment(args: argparse.Namespace) -> int:
    """Pre-train, tune two seeds per backbone, sweep each pair and plot the sweeps together."""
    start = time.time()
    backbones = pretrain(args)
    curves, rows = {}, []
    for backbone in backbones:
        runs = [tune(backbone, seed, args) for seed in SEEDS]
        sweep_dir = sweep(backbone, runs, args)
        summary = read_json(sweep_dir / "summary.json")["splits"]["dev"]
        records = read_records(sweep_dir)
        curves[f"pre-training step {backbone.name.split('_')[-1]}"] = (
            [r["x"] for r in records], [r["splits"]["dev"]["performance"] for r in records])
        perf, loss = summary["performance"], summary["loss"]
        rows.append(f"{backbone.name:<11} {perf['endpoints'][0]:>8.3f} {perf['endpoints'][1]:>8.3f} "
                    f"{perf['worst']['value']:>9.3f} {perf['barrier_linear']:>10.3f} {loss['barrier_linear']:>10.3f}")
    figure = plot_overlay(curves, "dev accuracy", args.out / "pretrain_steps.png",
                          title=f"Adapter seeds 20/30 on {args.task}")
    print(f"\n{'backbone':<11} {'acc x=0':>8} {'acc x=1':>8} {'worst acc':>9} {'barrier acc':>10} "
          f"{'barrier loss':>10}\n" + "\n".join(rows))
    print(f"(barrier_linear; positive = worse than the straight line between the endpoints)\ncombined plot: {figure}")
    print(f"[steps] finished in {(time.time() - start) / 60:.1f} min")
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main))
