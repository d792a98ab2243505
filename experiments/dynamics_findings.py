"""Experiments 8 and 9 of `reproduce_paper.py`: forgetting along a path against the training dynamics of the
examples (cartography, an itp_on_train line, utils/process_cartography.py), and connectivity across pre-training
steps (RoBERTa_model/pretrain_steps_experiment.py on the project's own small pre-trained checkpoints)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np

from experiments.paper_report import Finding
from experiments.paper_runs import CLEAR, LEARNED, LINE_HEADER, Paper, dev, has_learned, line_row
from module.figure_parts import new_figure, save_png
from RoBERTa_model.cartography import CARTOGRAPHY_FILE

ROOT = Path(__file__).resolve().parents[1]
CONFIDENCE_CLEAR = 0.05  # "low-confidence": the forgotten examples' mean confidence at least this much lower


def run_script(script: str, *args: str) -> None:
    """Run one of the project's scripts as a user would (this Python, from the repository root)."""
    command = [sys.executable, str(ROOT / script), *args]
    print("[paper] " + " ".join(command))
    subprocess.run(command, check=True, cwd=ROOT)


def mean_dynamics(cartography_file: Path) -> dict[str, float]:
    """Over every training example: the mean of its per-epoch gold-label confidence and of its variability (the
    population std of that confidence over the epochs), as process_cartography.py defines them."""
    entries = json.loads(cartography_file.read_text()).values()
    confidence = [float(np.mean(e["confidence"])) for e in entries]
    variability = [float(np.std(e["confidence"])) for e in entries]
    return {"confidence": float(np.mean(confidence)), "variability": float(np.mean(variability)),
            "examples": len(confidence), "epochs": len(next(iter(entries))["confidence"])}


def first_half_forgotten(rows: list[dict]) -> dict[str, float]:
    """The examples newly forgotten at the points 0 < x <= 0.5 (leaving the x=0 run): their count and mean
    confidence and variability (each point's mean weighted by its count)."""
    picked = [r for r in rows if r["from"] != "start" and 0 < float(r["to"]) <= 0.5 and r["newly_forgotten"]]
    count = sum(r["newly_forgotten"] for r in picked)
    if not count:
        return {"count": 0}
    return {"count": count, **{k: sum(r[k] * r["newly_forgotten"] for r in picked) / count
                                for k in ("confidence", "variability")}}


def forgetting_figure(rows: list[dict], overall: dict, path: Path) -> Path:
    """Per step along the path: the newly forgotten examples' count (bars) and mean confidence and variability
    (lines), the means over all training examples dotted."""
    steps = [r for r in rows if r["from"] != "start"]
    xs = [float(r["to"]) for r in steps]
    fig = new_figure(7.0, 4.8)
    top, bottom = fig.subplots(2, 1, sharex=True)
    width = 0.6 * (xs[1] - xs[0]) if len(xs) > 1 else 0.05
    top.bar(xs, [r["newly_forgotten"] for r in steps], width=width, color="0.6")
    top.set_ylabel("newly forgotten\n(training examples)")
    top.set_title("Forgetting along the adapter line seed 20 -> 30 (snli train) vs cartography of the seed-20 run",
                  fontsize=9)
    for slot, key in enumerate(("confidence", "variability")):
        pts = [(x, r[key]) for x, r in zip(xs, steps, strict=True) if r[key] is not None]
        color = f"C{slot}"
        bottom.plot([p[0] for p in pts], [p[1] for p in pts], "o-", color=color,
                    label=f"mean {key} of the newly forgotten")
        bottom.axhline(overall[key], color=color, linestyle=":", label=f"mean {key} of all training examples")
    bottom.set_xlabel("x: 0 = the seed-20 run (its cartography), 1 = the seed-30 run; each bar: forgotten since "
                      "the previous point", fontsize=8)
    bottom.set_ylabel("cartography")
    bottom.legend(fontsize=7)
    return save_png(fig, path)


def forgetting_finding(paper: Paper) -> Finding:
    """8. Are the training examples forgotten first along a path the low-confidence / high-variability ones?"""
    a = paper.args
    examples = min(a.train_examples, 32 * max(1, a.steps // 3))  # about three epochs of the run's updates
    first = paper.run(paper.out, "adapter", 20, max_train_samples=examples, cartography=True)
    second = paper.run(paper.out, "adapter", 30, max_train_samples=examples)
    name = "adapter-train-seed20+30"
    line = paper.line(name, "adapter", (first, second), points=paper.short_points(), itp_on_train=True,
                      max_train_samples=examples)
    save = paper.out / "8_forgetting.json"
    run_script("utils/process_cartography.py", "--cartography_path", str(first / CARTOGRAPHY_FILE),
               "--analysis_path", str(paper.out / name / "valid_data_analysis.json"), "--save_path", str(save))
    rows = json.loads(save.read_text())
    overall = mean_dynamics(first / CARTOGRAPHY_FILE)
    early = first_half_forgotten(rows)
    figures = [paper.overlay({"snli train (the runs' training examples)": name}, paper.out / "8_train_line.png",
                             "snli train: adapter seeds 20 and 30 tuned on the same examples"),
               forgetting_figure(rows, overall, paper.out / "8_forgetting.png")]
    header = LINE_HEADER + ["forgotten at 0 < x <= 0.5", "their confidence", "all: confidence",
                            "their variability", "all: variability"]
    stats = [early["count"], early.get("confidence", "-"), overall["confidence"], early.get("variability", "-"),
             overall["variability"]]
    row = line_row("adapter seed 20 -> 30, on train", line, "train")
    rule = (f"Rule: reproduced when the training examples newly forgotten at 0 < x <= 0.5 (leaving the seed-20 "
            f"run) have a mean confidence at least {CONFIDENCE_CLEAR} below that of all training examples and a "
            f"higher mean variability, the seed-20 run having learned its training data (accuracy at least "
            f"{LEARNED} above the dev majority class). Measured: {early['count']} forgotten")
    learned = has_learned(dev(line, split="train")["endpoints"][0], paper.majority())
    if early["count"]:
        rule += (f", confidence {early['confidence']:.3f} against {overall['confidence']:.3f}, variability "
                 f"{early['variability']:.3f} against {overall['variability']:.3f}.")
    else:
        rule += "."
    if not learned or not early["count"]:
        verdict = "not testable at this scale"
        rule += " The seed-20 run has not learned its training data." if not learned else " Nothing was forgotten."
    else:
        lower = early["confidence"] <= overall["confidence"] - CONFIDENCE_CLEAR
        verdict = "reproduced" if lower and early["variability"] > overall["variability"] else "not reproduced"
    return Finding(8, "Forgetting along the path vs training dynamics",
                   "The training examples a path forgets first, on leaving a minimum, are the hard-to-learn and "
                   "ambiguous ones of the data map: low confidence, high variability (the claim as this report "
                   "tests it).",
                   f"Adapter runs as in 1, seeds 20 and 30, on the first {examples} snli training pairs only "
                   f"({overall['epochs']} epochs; the seed-20 run with `cartography`: each example's correctness "
                   f"and gold-label confidence after every epoch); the straight line between them evaluated on "
                   f"those training pairs (`itp_on_train`, {paper.short_points()} points); then `python "
                   f"utils/process_cartography.py` ({save.name}).", header, [row + stats], figures, verdict, rule)


def pretrain_steps_finding(paper: Paper) -> Finding:
    """9. Connectivity of adapter seeds across pre-training steps of the project's own small RoBERTa."""
    a = paper.args
    out = paper.out / "9_pretrain_steps"
    steps = [4, 8] if a.quick else [100, 300, 600]
    sizes = (["--warmup_steps", "1", "--max_lines", "2000", "--tune_steps", str(a.steps), "--train_examples",
              str(a.train_examples)] if a.quick else [])
    run_script("RoBERTa_model/pretrain_steps_experiment.py", "--text", str(a.text), "--data", str(a.data),
               "--out", str(out), "--checkpoints", str(out / "checkpoints"), "--pretrain_steps", *map(str, steps),
               "--eval_examples", str(a.eval_examples), "--points", str(paper.short_points()), *sizes)
    task = "rotten_tomatoes"
    rows, barriers, ends = [], [], []
    for step in steps:
        summary = json.loads((out / f"itp-ckpt_{step}" / "summary.json").read_text())
        rows.append(line_row(f"pre-training step {step}", summary))
        barriers.append(dev(summary)["barrier_linear"])
        ends += dev(summary)["endpoints"]
    majority = paper.majority(task)
    rule = (f"Rule: reproduced when the linear dev accuracy barrier between the two adapter seeds is at least {CLEAR} "
            f"lower at the last pre-training step than at the first, every endpoint having learned the task (dev "
            f"accuracy at least {LEARNED} above the majority class, {majority:.3f}). Measured: barriers "
            f"{', '.join(f'{b:.3f}' for b in barriers)} at steps {', '.join(map(str, steps))}; lowest endpoint "
            f"{min(ends):.3f}.")
    if not has_learned(min(ends), majority):
        verdict = "not testable at this scale"
        rule += (" The adapters on the small backbone do not learn the task, so the lines say nothing about "
                 "connectivity. A GPU run needs real step checkpoints of a real model, e.g. `python "
                 "RoBERTa_model/pretrain_steps_experiment.py --checkpoints <folder with ckpt_<STEP>/ of RoBERTa-base "
                 "pre-training> --pretrain_steps <STEP ...> --task rotten_tomatoes --tune_steps 2000 "
                 "--train_examples 8000 --eval_examples 1000`; the folder's checkpoints are used as they are "
                 "(nothing is pre-trained when every ckpt_<STEP> exists).")
    else:
        verdict = "reproduced" if barriers[-1] <= barriers[0] - CLEAR else "not reproduced"
    return Finding(9, "Pre-training steps",
                   "Connectivity grows with pre-training: adapter minima tuned from later pre-training checkpoints "
                   "are joined by lower barriers (the claim as this report tests it).",
                   f"`python RoBERTa_model/pretrain_steps_experiment.py` into `{out.name}/`: a small RoBERTa pre-"
                   f"trained with MLM on the project's text corpus, checkpoints at steps {', '.join(map(str, steps))};"
                   f" adapter seeds 20 and 30 tuned from each on {task}; the straight line between each pair.",
                   LINE_HEADER, rows, [out / "pretrain_steps.png"], verdict, rule)
