"""What every experiment of `reproduce_paper.py` shares: the sizes and assets (`Paper`: tuning runs, straight
lines and task-boundary lines, each through a config a user can rerun, kept under `<out>/configs/`), the rules
that turn measured numbers into a verdict, and the rows of the report's tables."""

from __future__ import annotations

import argparse
import json
import math
from collections.abc import Sequence
from pathlib import Path

from experiments.encoder_jobs import ENCODER_METHODS, LABELS, line_values, run_encoder, sweep_encoder, tuning_values
from module.plotting import majority_fraction, plot_overlay
from module.sweep import read_records
from RoBERTa_model.curve_job import find_adapter_curve
from RoBERTa_model.encoder import load_task_split
from RoBERTa_model.jobs import interpolate_task_boundary
from RoBERTa_model.resume import checkpoint_folders

CLEAR = 0.02  # a barrier "clearly above" another: at least this much higher (accuracy, dev, straight line)
LEARNED = 0.05  # an endpoint has learned the task: dev accuracy at least this far above the majority class


class Paper:
    """The sizes, folders and assets every experiment uses, and the runs and lines made so far."""

    def __init__(self, args: argparse.Namespace):
        self.args, self.out = args, args.out
        self.quickstart = args.quickstart
        self.lines: dict[str, dict] = {}  # name -> {"summary", "dir", "runs", "method", "split"}: one task
        self._majority: dict[str, float] = {}

    def majority(self, task: str = "snli") -> float:
        """The dev accuracy of always answering the task's most frequent label (on the evaluated dev examples)."""
        if task not in self._majority:
            answers = [e.answers for e in load_task_split(str(self.args.data), task, "dev", self.args.eval_examples)]
            self._majority[task] = majority_fraction(answers, "ACC")
        return self._majority[task]

    def run(self, folder: Path, method: str, seed: int, task: str = "snli", **extra) -> Path:
        """One tuning run, named by method, task (other than snli), seed and any extra config values."""
        a = self.args
        name = (f"{method}{'' if task == 'snli' else '-' + task}-seed{seed}"
                + "".join(f"-{k}{v}" for k, v in sorted(extra.items())))
        print(f"[paper] {LABELS[method]} on {task}, seed {seed} {extra or ''} -> {folder / name}")
        return run_encoder(folder, name, tuning_values(a.model, a.data, method, seed, a.steps, a.train_examples,
                                                       a.eval_examples, task, **extra))

    def line(self, name: str, method: str, runs: tuple[Path, Path], folder: Path | None = None,
             points: int | None = None, **extra) -> dict:
        """The straight line between two runs of `method`, swept into `folder/name` (default: the report's, dev
        only; the quickstart's lines keep its test split)."""
        folder = folder or self.out
        if folder != self.quickstart:
            extra = {"do_test": False, **extra}
        print(f"[paper] line {name}: {runs[0].name} -> {runs[1].name}")
        values = line_values(self.args.model, self.args.data, method, runs, self.args.eval_examples,
                             points or self.args.points, **extra)
        summary = sweep_encoder(folder, name, values)
        split = "train" if extra.get("itp_on_train") else "dev"
        self.lines[name] = {"summary": summary, "dir": folder / name, "runs": runs, "method": method, "split": split}
        return summary

    def boundary(self, name: str, runs: tuple[Path, Path], task: str) -> dict:
        """The straight line between two full fine-tuning runs on different tasks, evaluated on `task` with the
        head of the run tuned on it (itp_task_boundary_finetune.py), dev only."""
        print(f"[paper] task boundary {name}: {runs[0].name} -> {runs[1].name}, evaluated on {task}")
        values = line_values(self.args.model, self.args.data, "finetune", runs, self.args.eval_examples,
                             self.args.points, task, do_test=False)
        return sweep_encoder(self.out, name, values, interpolate_task_boundary)

    def curve(self, name: str, runs: tuple[Path, Path]) -> dict:
        """A quadratic Bezier curve between two adapter runs (curve_find_adapter.py): its bend trained for --steps
        updates of batch 32 at the adapters' learning rate on the runs' training examples, then swept (dev only)."""
        print(f"[paper] curve {name}: {runs[0].name} -> {runs[1].name}")
        a = self.args
        values = line_values(a.model, a.data, "adapter", runs, a.eval_examples, a.points, do_test=False,
                             bend_num=1, curve_steps=a.steps, curve_lr=ENCODER_METHODS["adapter"]["learning_rate"],
                             per_device_train_batch_size=32, max_train_samples=a.train_examples)
        return sweep_encoder(self.out, name, values, find_adapter_curve)

    def short_points(self) -> int:
        """The points of the lines that come many to a figure (about half of --points)."""
        return max(4, (self.args.points - 1) // 2 + 1)

    def overlay(self, names: dict[str, str], path: Path, title: str,
                xlabel: str = "x: 0 = the seed-20 run, 1 = the other run of each line",
                majority: dict[str, float] | None = None) -> Path:
        """Accuracy along the named lines (legend label -> line folder under the report's or the quickstart's
        folder), one figure; `majority` = {legend label: value} (default: snli dev's)."""
        curves, split = {}, "dev"
        for label, name in names.items():
            folder = self.lines[name]["dir"] if name in self.lines else self.out / name
            split = self.lines[name]["split"] if name in self.lines else "dev"
            records = read_records(folder)
            curves[label] = ([r["x"] for r in records], [r["splits"][split]["performance"] for r in records])
        return plot_overlay(curves, f"{split} accuracy", path, metric="ACC", title=title, xlabel=xlabel,
                            majority=majority if majority is not None else {"snli dev": self.majority()})


def dev(summary: dict, what: str = "performance", split: str = "dev") -> dict:
    """A line summary's numbers of one split (dev) for the metric or the loss."""
    return summary["splits"][split][what]


def has_learned(accuracy: float, majority: float) -> bool:
    """The rule every finding uses: an accuracy at least LEARNED above the majority class has learned the task."""
    return accuracy >= majority + LEARNED


def unlearned(runs: Sequence[Path], majority: float) -> str:
    """A sentence naming the runs that have not learned the task (dev accuracy below majority + LEARNED), each with
    its mean training loss next to a uniform guess's (ln of the label count); empty when every run learned it."""
    stuck = []
    for run in runs:
        result = json.loads((run / "all_results.json").read_text())
        if not has_learned(result["eval_accuracy"], majority):
            stuck.append(f"`{run.name}` (dev accuracy {result['eval_accuracy']:.3f}; mean training loss "
                         f"{result['train_loss']:.3f}, a uniform guess's being {math.log(len(result['labels'])):.3f})")
    return f" Not learned: {'; '.join(stuck)}." if stuck else ""


def compared(higher: tuple[str, dict], lower: tuple[str, dict], lines: list[dict], majority: float,
             runs: Sequence[Path] = ()) -> tuple[str, str]:
    """The verdict and its reason for "the `higher` line's linear barrier is clearly above the `lower` one's":
    not testable when an endpoint of `lines` has not learned the task (dev accuracy below majority + LEARNED),
    the reason then naming which of the `runs` (their endpoints) did not."""
    (high_name, high), (low_name, low) = higher, lower
    a, b = dev(high)["barrier_linear"], dev(low)["barrier_linear"]
    worst_end = min(v for line in lines for v in dev(line)["endpoints"])
    rule = (f"Rule: reproduced when the {high_name} linear dev accuracy barrier is at least {CLEAR} above the "
            f"{low_name} one, every endpoint having learned the task (dev accuracy at least {LEARNED} above the "
            f"majority class, {majority:.3f}). Measured: {a:.3f} against {b:.3f}; lowest endpoint {worst_end:.3f}.")
    if not has_learned(worst_end, majority):
        return "not testable at this scale", rule + " An endpoint has not learned the task." + unlearned(runs, majority)
    return ("reproduced" if a >= b + CLEAR else "not reproduced"), rule


def combined(verdicts: list[str]) -> str:
    """One verdict for a finding with several parts: not testable if a part is, reproduced only if all are."""
    if "not testable at this scale" in verdicts:
        return "not testable at this scale"
    return "reproduced" if set(verdicts) == {"reproduced"} else "not reproduced"


def line_row(label: str, summary: dict, split: str = "dev") -> list:
    """A table row: endpoints, worst point, the three accuracy barriers and the linear loss barrier (one split)."""
    s, loss = dev(summary, split=split), dev(summary, "loss", split)
    return [label, *s["endpoints"], f"{s['worst']['value']:.3f} ({s['worst']['x']})", s["barrier_endpoint_mean"],
            s["barrier_linear"], s["barrier_subsegment"], loss["barrier_linear"]]


LINE_HEADER = ["pair", "dev acc x=0", "dev acc x=1", "worst (x)", "barrier mean", "barrier linear",
               "barrier sub-segment", "loss barrier linear"]


def latest_checkpoint(run: Path) -> Path:
    """A run folder's highest checkpoint-<step>/ (a checkpoint folder itself as given)."""
    found = checkpoint_folders(run)
    return found[-1][1] if found else run
