"""The paper's findings reproduced at small scale on the default assets (all-MiniLM-L6-v2, snli), with a report.

Each experiment runs through the jobs a user runs (run_glue / itp_pretrain_adapter configs, kept under
`<out>/configs/`), reuses finished runs and points, and becomes one section of `<out>/REPORT.md`: the claim,
what was run, the numbers, the figure and a verdict that follows from the numbers by the rule it states.
Experiment 1 reuses the quickstart's runs (`runs/quickstart/`) when their settings match. `--quick` runs the
same pipeline at reduced sizes for a smoke test. Experiments not written yet are listed as "not run yet".
"""

from __future__ import annotations

import shutil
import sys
import time
from pathlib import Path

from scipy.stats import spearmanr

from experiments.dynamics_findings import forgetting_finding, pretrain_steps_finding
from experiments.encoder_jobs import ENCODER_METHODS, LABELS, forget_stale_runs
from experiments.paper_report import Finding, write_report
from experiments.paper_runs import (
    CLEAR,
    LEARNED,
    LINE_HEADER,
    Paper,
    combined,
    compared,
    dev,
    has_learned,
    latest_checkpoint,
    line_row,
)
from experiments.task_boundary_findings import task_boundary_findings
from module.cli import OneLineParser, positive_int, run_cli
from module.distance import distance
from module.files import atomic_write_json
from RoBERTa_model.encoder import load_task_split, task_labels
from RoBERTa_model.jobs import tuned_tensors
from RoBERTa_model.resume import checkpoint_folders

ROOT = Path(__file__).resolve().parents[1]
SIZES = {"full": {"steps": 150, "train_examples": 20000, "eval_examples": 500, "points": 26},
         "quick": {"steps": 12, "train_examples": 2000, "eval_examples": 100, "points": 6}}
SPEARMAN_CLEAR = 0.5  # distance "goes with" the barrier: a rank correlation at least this high
MIN_LINES = 5  # the fewest adapter lines a rank correlation is computed from


def shown(path: Path) -> Path:
    """A path as the report shows it: relative to the repository when inside it (the report reads the same in any
    clone)."""
    return path.relative_to(ROOT) if path.is_relative_to(ROOT) else path


def seeds_finding(paper: Paper) -> Finding:
    """1. Full fine-tuning vs adapters, different seeds (the quickstart's pairs)."""
    lines = {}
    for method in ("finetune", "adapter"):
        runs = tuple(paper.run(paper.quickstart, method, seed) for seed in (20, 30))
        lines[method] = paper.line(f"{method}-seed20+30", method, runs, paper.quickstart)
    figure = paper.overlay({LABELS[m]: f"{m}-seed20+30" for m in lines}, paper.out / "1_seeds.png",
                           "snli dev: straight lines between seeds 20 and 30")
    verdict, why = compared(("adapters'", lines["adapter"]), ("full fine-tuning", lines["finetune"]),
                            list(lines.values()), paper.majority(),
                            [run for m in lines for run in paper.lines[f"{m}-seed20+30"]["runs"]])
    return Finding(1, "Full fine-tuning vs adapter tuning, different seeds",
                   "Minima of full fine-tuning from different seeds are joined by a straight path with almost no "
                   "barrier, while adapters from different random initialisations meet a barrier.",
                   f"{paper.args.steps} updates of batch 32 per run on the first {paper.args.train_examples} snli "
                   f"training pairs, seeds 20 and 30; {paper.args.points} points on the line, first "
                   f"{paper.args.eval_examples} dev and test pairs (the quickstart's runs, "
                   f"`{shown(paper.quickstart)}`).",
                   LINE_HEADER, [line_row(LABELS[m], lines[m]) for m in ("finetune", "adapter")], [figure], verdict,
                   why)


def init_finding(paper: Paper) -> Finding:
    """2. Initialisation vs SGD noise for adapters, and the initialisation's scale (r_std 0.02 vs 0.08)."""
    first = paper.run(paper.quickstart, "adapter", 20)
    other_data = paper.run(paper.out, "adapter", 30, init_seed=20)
    second = paper.run(paper.quickstart, "adapter", 30)
    same = paper.line("adapter-init20-data20+30", "adapter", (first, other_data))
    different = paper.lines["adapter-seed20+30"]["summary"]  # experiment 1's adapter line
    scales, scale_runs = {}, []
    for std in (0.02, 0.08):
        runs = tuple(paper.run(paper.out, "adapter", seed, r_std=std) for seed in (20, 30))
        scales[std] = paper.line(f"adapter-r_std{std}-seed20+30", "adapter", runs)
        scale_runs += runs
    figure = paper.overlay({"same initialisation, other data order": "adapter-init20-data20+30",
                            "other initialisation and data order": "adapter-seed20+30"},
                           paper.out / "2_init_vs_sgd_noise.png", "snli dev: adapters, initialisation vs SGD noise")
    scale_figure = paper.overlay({f"r_std {std}: seeds 20 and 30": f"adapter-r_std{std}-seed20+30"
                                  for std in scales} | {"r_std 0.01 (the default): seeds 20 and 30":
                                                        "adapter-seed20+30"},
                                 paper.out / "2_init_scale.png", "snli dev: adapters of different initialisation "
                                                                  "scales, different seeds")
    v_init, why_init = compared(("different-initialisation", different), ("same-initialisation", same),
                                [same, different], paper.majority(), (first, other_data, second))
    v_scale, why_scale = compared(("r_std 0.08", scales[0.08]), ("r_std 0.02", scales[0.02]),
                                  list(scales.values()), paper.majority(), scale_runs)
    return Finding(2, "Initialisation vs SGD noise (adapters)",
                   "Adapters started from the same initialisation with another data order stay connected, while "
                   "another initialisation gives a barrier: the initialisation, not SGD noise, separates them; the "
                   "wider the initialisation (r_std 0.08 against 0.02), the higher the barrier between seeds (the "
                   "scale part as this report tests it).",
                   "Adapter runs as in 1: seed 20 (its initialisation and data order), `init_seed` 20 with seed 30 "
                   "(the same initialisation, seed 30's data order and dropout), and seed 30; then seeds 20 and 30 "
                   "with the adapter weights drawn with `r_std` 0.02 and 0.08 (the default is OpenDelta's 0.01).",
                   LINE_HEADER, [line_row("same init (20), data 20 vs 30", same),
                                 line_row("init and data 20 vs 30", different),
                                 *(line_row(f"r_std {std}: seeds 20 vs 30", line) for std, line in scales.items())],
                   [figure, scale_figure], combined([v_init, v_scale]),
                   f"Initialisation vs SGD noise: {v_init}. {why_init} Initialisation scale: {v_scale}. {why_scale} "
                   "The verdict is reproduced only when both parts reproduce.")


def steps_finding(paper: Paper) -> Finding:
    """3. Training steps: each checkpoint of one adapter run against its final one, and an early pair."""
    a = paper.args
    every = max(1, a.steps // 5)
    run = paper.run(paper.out, "adapter", 20, save_steps=every, save_total_limit=a.steps // every + 1)
    checkpoints = checkpoint_folders(run)
    final_step, final = checkpoints[-1]
    names = {}
    for step, folder in checkpoints[:-1]:
        names[f"step {step} -> {final_step}"] = f"adapter-step{step}+{final_step}"
        paper.line(names[f"step {step} -> {final_step}"], "adapter", (folder, final), points=paper.short_points())
    (s1, c1), (s2, c2) = checkpoints[0], checkpoints[1]
    if s2 != final_step:
        names[f"step {s1} -> {s2} (early pair)"] = f"adapter-step{s1}+{s2}"
        paper.line(names[f"step {s1} -> {s2} (early pair)"], "adapter", (c1, c2), points=paper.short_points())
    figure = paper.overlay(names, paper.out / "3_training_steps.png",
                           "snli dev: adapter checkpoints of one run (seed 20)",
                           xlabel="x: 0 = the earlier checkpoint, 1 = the later one")
    lines = {label: paper.lines[name]["summary"] for label, name in names.items()}
    to_final = {label: line for label, line in lines.items() if "early" not in label}
    learned = paper.majority() + LEARNED
    judged = {label: line for label, line in to_final.items() if dev(line)["endpoints"][0] >= learned}
    worst = max((dev(line)["barrier_linear"], label) for label, line in judged.items()) if judged else None
    rule = (f"Rule: reproduced when every line from a checkpoint that has learned the task (dev accuracy at least "
            f"{LEARNED} above the majority class, {paper.majority():.3f}) to the final checkpoint has a linear dev "
            f"accuracy barrier below {CLEAR}; lines from earlier checkpoints are shown, not judged.")
    if dev(lines[next(iter(to_final))])["endpoints"][1] < learned or len(judged) < 2:
        verdict, why = "not testable at this scale", rule + f" Only {len(judged)} checkpoint(s) had learned the task."
    else:
        verdict = "reproduced" if worst[0] < CLEAR else "not reproduced"
        why = rule + f" Measured: the highest judged barrier is {worst[0]:.3f} ({worst[1]}), over {len(judged)} lines."
    return Finding(3, "Training steps",
                   "Once tuning has found a basin it stays in it: checkpoints of one run are joined to its final "
                   "checkpoint by a straight path without a barrier (the claim as this report tests it).",
                   f"One adapter run as in 1 (seed 20) saving a checkpoint every {every} updates; the straight line "
                   f"from each checkpoint to the final one (step {final_step}), and between the first two.",
                   LINE_HEADER, [line_row(label, line) for label, line in lines.items()], [figure], verdict, why)


def overlap_finding(paper: Paper) -> Finding:
    """4. Data overlap: the two disjoint halves of the training examples, and a half against all of them."""
    a = paper.args
    rows, verdicts, whys = [], [], []
    figures = []
    for method in ("finetune", "adapter"):
        halves = {half: paper.run(paper.out, method, 20, datasplit=half) for half in ("split1", "split2")}
        everything = paper.run(paper.quickstart, method, 20)
        disjoint = paper.line(f"{method}-split1+split2", method, (halves["split1"], halves["split2"]))
        overlapping = paper.line(f"{method}-split1+all", method, (halves["split1"], everything))
        figures.append(paper.overlay({"disjoint halves": f"{method}-split1+split2",
                                      "first half vs all (half the data shared)": f"{method}-split1+all"},
                                     paper.out / f"4_data_overlap_{method}.png",
                                     f"snli dev: {LABELS[method]}, seed 20, different training data",
                                     xlabel="x: 0 = the run on the first half, 1 = the other run"))
        rows += [line_row(f"{LABELS[method]}: disjoint halves", disjoint),
                 line_row(f"{LABELS[method]}: first half vs all", overlapping)]
        verdict, why = compared((f"{LABELS[method]} disjoint-halves", disjoint),
                                (f"{LABELS[method]} overlapping", overlapping), [disjoint, overlapping],
                                paper.majority(), (*halves.values(), everything))
        verdicts.append(verdict)
        whys.append(why)
    return Finding(4, "Data overlap",
                   "The less two runs' training data overlap, the weaker their connection: minima tuned on disjoint "
                   "halves of the data meet a higher barrier than minima whose data overlap (the claim as this "
                   "report tests it).",
                   f"Runs as in 1 (seed 20) on the first and on the second half of the first {a.train_examples} "
                   "snli training pairs (`datasplit` split1 / split2), and the seed-20 run on all of them; the "
                   "straight lines split1-split2 (disjoint) and split1-all (overlapping), for both methods.",
                   LINE_HEADER, rows, figures, combined(verdicts),
                   " ".join(whys) + " The verdict is reproduced only when both methods reproduce.")


def distance_finding(paper: Paper) -> Finding:
    """10. Distances between the endpoints of every same-task line above, next to its barrier."""
    labels = task_labels("snli", load_task_split(str(paper.args.data), "snli", "train"))
    rows, adapter, left_out = [], [], []
    for name, line in paper.lines.items():
        method = line["method"]
        delta = "none" if method == "finetune" else "adapter"
        unfrozen = ["deltas", "layer_norm", "final_layer_norm", "classifier"]
        ends = [tuned_tensors(str(latest_checkpoint(run)), delta, unfrozen, labels) for run in line["runs"]]
        d = distance(*ends)
        numbers = dev(line["summary"], split=line["split"])
        learned = has_learned(min(numbers["endpoints"]), paper.majority())
        rows.append([name, LABELS[method], line["split"], d["params"], d["l2"], d["cosine"], numbers["barrier_linear"],
                     "yes" if learned else "no"])
        if method == "adapter":
            (adapter if learned else left_out).append((d["l2"], numbers["barrier_linear"], name))
    rule = (f"Rule: over the adapter lines (the same tensors every time) whose endpoints have both learned the task "
            f"(accuracy at least {LEARNED} above the snli dev majority class, {paper.majority():.3f}), reproduced when "
            f"the Spearman rank correlation of the endpoints' L2 distance with the linear accuracy barrier is at least "
            f"{SPEARMAN_CLEAR}; at least {MIN_LINES} such lines are needed.")
    if left_out:
        rule += f" Left out, an endpoint not having learned: {', '.join(n for _, _, n in left_out)}."
    if len(adapter) < MIN_LINES:
        verdict = "not testable at this scale"
        rule += f" Only {len(adapter)} adapter lines."
    else:
        rho = float(spearmanr([d for d, _, _ in adapter], [b for _, b, _ in adapter]).statistic)
        verdict = "reproduced" if rho >= SPEARMAN_CLEAR else "not reproduced"
        rule += f" Measured: rho = {rho:.3f} over {len(adapter)} adapter lines."
    return Finding(10, "Distances next to barriers",
                   "Minima further apart are separated by higher barriers: the paper relates the L2 / cosine "
                   "distance of two minima to their connectivity (the claim as this report tests it).",
                   "`utils.calculate_dist.distance` between the tuned tensors (adapters, layer norms and head; every "
                   "tensor for full fine-tuning) of the two endpoints of every same-task line above (the "
                   "task-boundary lines of 5 and 6 join different heads and are left out).",
                   ["line", "method", "split", "parameters", "L2 distance", "cosine similarity",
                    "barrier linear (acc)", "both ends learned"], rows, [], verdict, rule)


def curve_verdict(line_barrier: float, curve_barrier: float, worst_end: float, majority: float) -> tuple[str, str]:
    """Experiment 7's verdict and its reason: the curve removes the line's barrier (below CLEAR), not only lowers
    it; not testable when an endpoint has not learned the task or the line has no barrier."""
    if not has_learned(worst_end, majority):
        return "not testable at this scale", " An endpoint has not learned the task."
    if line_barrier < CLEAR:
        return "not testable at this scale", " The line has no barrier to remove."
    if curve_barrier < CLEAR:
        return "reproduced", ""
    if curve_barrier <= line_barrier - CLEAR:
        return "not reproduced", (f" The trained curve lowers the barrier by {line_barrier - curve_barrier:.3f} but "
                                  "does not remove it at this training budget.")
    return "not reproduced", " The trained curve does not lower the barrier clearly."


def curve_finding(paper: Paper) -> Finding:
    """7. A Bezier curve between the adapter seeds of 1, against their straight line."""
    line = paper.lines["adapter-seed20+30"]
    curve = paper.curve("adapter-curve-seed20+30", line["runs"])
    figure = paper.overlay({"straight line": "adapter-seed20+30", "Bezier curve (one bend)": "adapter-curve-seed20+30"},
                           paper.out / "7_curve.png", "snli dev: adapter seeds 20 and 30, line vs trained curve",
                           xlabel="x (line) or t (curve): 0 = the seed-20 run, 1 = the seed-30 run")
    a, b = dev(line["summary"])["barrier_linear"], dev(curve)["barrier_linear"]
    worst_end = min(dev(line["summary"])["endpoints"])
    verdict, why = curve_verdict(a, b, worst_end, paper.majority())
    rule = (f"Rule: reproduced when the accuracy stays high along the curve, that is when the curve's linear "
            f"dev accuracy barrier is below {CLEAR} while the line's is at least {CLEAR}, both runs having learned the "
            f"task (dev accuracy at least {LEARNED} above the majority class, {paper.majority():.3f}). Measured: curve "
            f"{b:.3f} against line {a:.3f}; lowest endpoint {worst_end:.3f}; curve length {curve['curve_length']:.3f} "
            f"against the line's {curve['line_length']:.3f} (L2, over the tuned tensors).{why}")
    s = paper.args
    return Finding(7, "Curves",
                   "Between adapter minima whose straight line has a barrier, a Bezier curve can be found along which "
                   "the accuracy stays high: the minima are connected by a curved path.",
                   f"`python RoBERTa_model/curve_find_adapter.py` between the adapter runs of 1 (seeds 20 and 30): "
                   f"one bend, starting on the line's midpoint, trained for {s.steps} AdamW updates (lr "
                   f"{ENCODER_METHODS['adapter']['learning_rate']}, batch 32, a random t per update) on their "
                   f"{s.train_examples} training pairs, then swept at {s.points} points.",
                   LINE_HEADER, [line_row("straight line", line["summary"]), line_row("Bezier curve", curve)],
                   [figure], verdict, rule)


def main(argv: list[str] | None = None) -> int:
    """Entry point."""
    p = OneLineParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, default=ROOT / "runs" / "paper")
    p.add_argument("--quickstart", type=Path, default=None,
                   help="where experiment 1's runs live (default: runs/quickstart, or <out>/quickstart with --quick)")
    p.add_argument("--data", type=Path, default=ROOT / "data")
    p.add_argument("--model", type=Path, default=ROOT / "pretrained_models" / "all-MiniLM-L6-v2")
    p.add_argument("--text", type=Path, default=ROOT / "data" / "pretrain_text" / "corpus.txt",
                   help="the pre-training text of experiment 9")
    p.add_argument("--quick", action="store_true", help="reduced sizes: a smoke test in a few minutes")
    for key in SIZES["full"]:
        p.add_argument(f"--{key}", type=positive_int, default=None, help=f"default {SIZES['full'][key]} "
                                                                         f"({SIZES['quick'][key]} with --quick)")
    p.add_argument("--force", action="store_true", help="redo every run and sweep point")
    args = p.parse_args(argv)
    for key, value in SIZES["quick" if args.quick else "full"].items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    args.out = args.out.resolve()
    args.quickstart = (args.quickstart or (args.out / "quickstart" if args.quick else ROOT / "runs" / "quickstart"))
    for key in ("data", "model", "quickstart", "text"):
        setattr(args, key, getattr(args, key).resolve())
    if args.force and args.out.exists():
        shutil.rmtree(args.out)
    for folder in (args.out, args.quickstart):
        folder.mkdir(parents=True, exist_ok=True)
        forget_stale_runs(folder)
    start = time.time()
    paper = Paper(args)
    findings = [seeds_finding(paper), init_finding(paper), steps_finding(paper), overlap_finding(paper),
                *task_boundary_findings(paper), curve_finding(paper), forgetting_finding(paper),
                pretrain_steps_finding(paper), distance_finding(paper)]
    minutes = (time.time() - start) / 60
    sizes = ", ".join(f"{k} {getattr(args, k)}" for k in SIZES["full"])
    report = write_report(args.out / "REPORT.md", sorted(findings, key=lambda f: f.number),
                          f"all-MiniLM-L6-v2 on snli, {'--quick ' if args.quick else ''}sizes: {sizes}. "
                          f"Wall time of this run: {minutes:.1f} min (finished runs and points reused).")
    atomic_write_json(args.out / "findings.json", {str(f.number): f.verdict for f in findings})
    print(f"[paper] wrote {report} in {minutes:.1f} min")
    return 0


def cli() -> int:
    """Console entry point: `main` with one-line errors."""
    return run_cli(main)


if __name__ == "__main__":
    sys.exit(cli())
