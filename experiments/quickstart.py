"""The main job in one command: tune two minima per method, sweep the straight path between them, report.

Encoder track (default): all-MiniLM-L6-v2 on snli, fully fine-tuned and adapter-tuned with seeds 20 and
30, then 26 points between each pair on dev and test. `--track t5`: the same through the T5 track's jobs
(tune_singletask.py / task_interpolation.py) with the home-built small T5. `--track causal`: the home-built small
causal LM fully fine-tuned and LoRA-tuned (causal_model/tune.py), both lines, and the LoRA pair's factors path
beside its line (causal_model/interpolate.py). Finished runs and sweep points are reused; `--force` redoes them.
Everything lands in `runs/quickstart/` (`runs/quickstart-t5`, `runs/quickstart-causal`) or `--out`.
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


CAUSAL_METHODS = {"finetune": {"method": "full", "lr": 1e-3}, "lora": {"method": "lora", "lr": 5e-3}}


def causal_run(out: Path, method: str, seed: int, args: argparse.Namespace) -> Path:
    """Tune the home-built causal LM (causal_model.tuning.tune_causal); a finished run is reused."""
    from transformers import TrainingArguments

    from causal_model.tuning import CausalTuneArguments, tune_causal

    run_dir = out / f"{method}-seed{seed}"
    steps = args.causal_lora_steps if method == "lora" else args.causal_steps
    settings = CAUSAL_METHODS[method]
    print(f"[quickstart] causal LM {'LoRA' if method == 'lora' else LABELS[method]}, seed {seed} -> {run_dir}")
    tune_causal(CausalTuneArguments(model=str(args.causal_model), task_dir=str(args.data / args.causal_task),
                                    method=settings["method"], max_eval_samples=args.eval_examples),
                TrainingArguments(output_dir=str(run_dir), do_train=True, do_predict=True, max_steps=steps,
                                  per_device_train_batch_size=32, per_device_eval_batch_size=64,
                                  learning_rate=settings["lr"], lr_scheduler_type="linear", warmup_steps=steps // 10,
                                  seed=seed, save_strategy="steps", save_steps=steps, logging_steps=25,
                                  report_to="none", disable_tqdm=True, use_cpu=not _cuda()))
    return run_dir


def causal_sweep(out: Path, method: str, runs: list[Path], args: argparse.Namespace, lora_path: str = "delta") -> Path:
    """The line (or LoRA's factors path) between the two causal runs of one method (resumable)."""
    from causal_model.jobs import CausalLineArguments, interpolate_causal

    sweep_dir = out / (f"{method}-seed{SEEDS[0]}+{SEEDS[1]}" + ("-factors" if lora_path == "factors" else ""))
    print(f"[quickstart] causal sweep, {LABELS['lora_factors' if lora_path == 'factors' else method]}: 26 points")
    interpolate_causal(CausalLineArguments(
        model=str(args.causal_model), path1=str(runs[0]), path2=str(runs[1]),
        task_dir=str(args.data / args.causal_task), output_dir=str(sweep_dir), lora_path=lora_path,
        max_eval_samples=args.eval_examples, do_predict=True, per_device_eval_batch_size=64, quiet=True))
    return sweep_dir


def _cuda() -> bool:
    import torch

    return torch.cuda.is_available()


def split_majority(args: argparse.Namespace) -> dict[str, float | None]:
    """The majority-class share of the dev and test examples the sweeps evaluate."""

    if args.track == "encoder":

        return {s: majority_fraction([e.answers for e in load_task_split(str(args.data), "snli", s,
                                                                         args.eval_examples)], "ACC")
                for s in ("dev", "test")}

    if args.track == "causal":
        return {s: majority_fraction([e.answers for e in load_split(args.data / args.causal_task, s)
                                      [:args.eval_examples]], "ACC") for s in ("dev", "test")}
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
    paths = "straight lines" + (" and LoRA's factors path" if "lora_factors" in sweeps else "")
    plot_overlay(curves, "accuracy", out / "overlay.png", metric="ACC", majority=majority,
                 title=f"{task} dev/test: {paths}," + ("\n" if len(task + paths) > 40 else " ")
                 + f"seed {SEEDS[0]} → seed {SEEDS[1]}",
                 xlabel=f"x: 0 = seed {SEEDS[0]}, 1 = seed {SEEDS[1]}")
    if "lora_factors" in sweeps:  # the two paths between the same two adapters, by their loss
        lora = {}
        for method in ("lora", "lora_factors"):
            records = read_records(sweeps[method])
            for split in records[0]["splits"]:
                lora[f"{LABELS[method]} ({split})"] = ([r["x"] for r in records],
                                                       [r["splits"][split]["loss"] for r in records])
        plot_overlay(lora, "loss (gold answer's mean token NLL)", out / "lora_paths.png",
                     title=f"{task}: two paths between the same two LoRA adapters,\nseed {SEEDS[0]} → seed {SEEDS[1]}",
                     xlabel=f"x: 0 = seed {SEEDS[0]}, 1 = seed {SEEDS[1]}")
    return summary_table(summaries, "acc")


def check_inputs(args: argparse.Namespace) -> None:
    """The task folder and the model folder the track uses exist (before the output folder is created)."""
    task, flag, model, fix = {
        "encoder": ("snli", "--model", args.model, "python utils/prepare_models.py"),
        "t5": (args.t5_task, "--t5_model", args.t5_model, "bash scripts/quickstart.sh --track t5 builds it"),
        "causal": (args.causal_task, "--causal_model", args.causal_model,
                   "bash scripts/quickstart.sh --track causal builds it")}[args.track]
    check_task_dir(args.data / task, "--data")
    if not (model / "config.json").is_file():
        raise FileNotFoundError(f"{flag} {model}: no model folder (config.json) there ({fix})")


def main(argv: list[str] | None = None) -> int:
    """Entry point."""
    p = OneLineParser(description=__doc__.splitlines()[0])
    p.add_argument("--track", choices=("encoder", "t5", "causal"), default="encoder")
    p.add_argument("--out", type=Path, default=None, help="default: runs/quickstart (runs/quickstart-<track> for "
                                                          "the others)")
    p.add_argument("--data", type=Path, default=ROOT / "data")
    p.add_argument("--model", type=Path, default=ROOT / "pretrained_models" / "all-MiniLM-L6-v2")
    p.add_argument("--t5_model", type=Path, default=ROOT / "pretrained_models" / "t5-small-home")
    p.add_argument("--t5_task", default="rotten_tomatoes")
    p.add_argument("--t5_steps", type=positive_int, default=300, help="updates per T5 fine-tuning run (batch 32)")
    p.add_argument("--t5_adapter_steps", type=positive_int, default=800, help="updates per T5 adapter run (batch 32)")
    p.add_argument("--causal_model", type=Path, default=ROOT / "pretrained_models" / "causal-small-home")
    p.add_argument("--causal_task", default="rotten_tomatoes")
    p.add_argument("--causal_steps", type=positive_int, default=300,
                   help="updates per causal full fine-tuning run (batch 32)")
    p.add_argument("--causal_lora_steps", type=positive_int, default=600,
                   help="updates per causal LoRA run (batch 32)")
    p.add_argument("--steps", type=positive_int, default=150, help="updates per encoder run (batch 32)")
    p.add_argument("--train_examples", type=positive_int, default=20000)
    p.add_argument("--eval_examples", type=positive_int, default=500)
    p.add_argument("--force", action="store_true", help="redo every run and sweep point")
    args = p.parse_args(argv)
    for key in ("out", "data", "model", "t5_model", "causal_model"):  # the configs written below hold absolute paths
        if getattr(args, key) is not None:
            setattr(args, key, getattr(args, key).resolve())
    check_inputs(args)
    out = args.out or ROOT / "runs" / ("quickstart" if args.track == "encoder" else f"quickstart-{args.track}")
    with folder_lock(out):  # one quickstart per folder, from before --force empties it to its last file
        return quickstart(args, out)


def quickstart(args: argparse.Namespace, out: Path) -> int:
    """Both pairs of runs, their sweeps and the report into `out` (whose lock the caller holds)."""
    forget_stale_runs(out, force=args.force)
    start = time.time()
    run, sweep = {"encoder": (encoder_run, encoder_sweep), "t5": (t5_run, t5_sweep),
                  "causal": (causal_run, causal_sweep)}[args.track]
    sweeps = {}
    for method in ("finetune", "lora" if args.track == "causal" else "adapter"):
        runs = [run(out, method, seed, args) for seed in SEEDS]
        sweeps[method] = sweep(out, method, runs, args)
        if method == "lora":  # beside its line, the path peft's own combination takes
            sweeps["lora_factors"] = causal_sweep(out, method, runs, args, "factors")
    task = {"encoder": "snli", "t5": args.t5_task, "causal": args.causal_task}[args.track]
    table = report(sweeps, out, task, split_majority(args))
    print("\n" + table + "\n")
    print(BARRIER_NOTE)
    for method, sweep_dir in sweeps.items():
        print(f"{LABELS[method]}: {sweep_dir}/result.csv, summary.json, interpolation.png")
    print(f"overlay of both pairs: {out / 'overlay.png'}" + (f"; LoRA's two paths by loss: {out / 'lora_paths.png'}"
                                                             if "lora_factors" in sweeps else ""))
    print(f"[quickstart] finished in {(time.time() - start) / 60:.1f} min")
    return 0


def cli() -> int:
    """Console entry point (pyproject.toml): `main` with one-line errors."""
    return run_cli(main)


if __name__ == "__main__":
    sys.exit(cli())
