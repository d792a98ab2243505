"""Experiments 5 and 6 of `reproduce_paper.py`: lines between full fine-tuning runs on different tasks, one curve
per task (evaluated on its dev examples with the head of the run tuned on it): the same domain (two sentiment
tasks) and across domains (snli against rotten_tomatoes)."""

from __future__ import annotations

from experiments.paper_report import Finding
from experiments.paper_runs import LEARNED, Paper, has_learned
from module.sweep import read_records

RETAINED_CLEAR = 0.1  # the same-domain pair keeps "clearly more" of its accuracy: at least this much more
BOUNDARY_HEADER = ["path", "evaluated on", "majority", "acc at its own run", "acc at the other run", "worst (x)",
                   "retained", "at chance from x"]
SHORT = {"snli": "snli", "rotten_tomatoes": "rt", "tweet_sentiment": "ts"}


def curve_numbers(paper: Paper, name: str, task: str, own: int) -> dict:
    """One task's curve along a boundary line: accuracy at its own run (x = `own`) and at the other, the worst
    point, `retained` (the mean over the path of (acc - majority) / (own acc - majority)) and the first x, going
    from its own run, where the accuracy is within LEARNED of the majority class (None: never)."""
    records = sorted(read_records(paper.out / name), key=lambda r: r["x"])
    xs = [r["x"] for r in records]
    acc = [r["splits"]["dev"]["performance"] for r in records]
    majority = paper.majority(task)
    own_acc, other_acc = (acc[0], acc[-1]) if own == 0 else (acc[-1], acc[0])
    order = range(len(xs)) if own == 0 else range(len(xs) - 1, -1, -1)
    chance = next((xs[i] for i in order if acc[i] < majority + LEARNED), None)
    gain = own_acc - majority
    retained = sum(a - majority for a in acc) / len(acc) / gain if gain > 0 else float("nan")
    worst = min(range(len(acc)), key=acc.__getitem__)
    return {"task": task, "majority": majority, "own": own_acc, "other": other_acc, "worst": (acc[worst], xs[worst]),
            "retained": retained, "chance": chance, "learned": has_learned(own_acc, majority)}


def boundary_pair(paper: Paper, tasks: tuple[str, str], runs: tuple, number: int) -> tuple[list[dict], object]:
    """Both tasks' curves along the line from the run on tasks[0] (x=0) to the run on tasks[1]; their numbers and
    the figure."""
    base = f"finetune-{SHORT[tasks[0]]}+{SHORT[tasks[1]]}"
    curves, names = [], {}
    for own, task in enumerate(tasks):
        name = f"{base}-on-{SHORT[task]}"
        paper.boundary(name, runs, task)
        curves.append(curve_numbers(paper, name, task, own))
        names[f"{task} dev (head of the {task} run)"] = name
    majority = {f"{t} dev": paper.majority(t) for t in tasks}
    figure = paper.overlay(names, paper.out / f"{number}_task_boundary_{SHORT[tasks[0]]}_{SHORT[tasks[1]]}.png",
                           f"full fine-tuning, seed 20: {tasks[0]} run -> {tasks[1]} run",
                           xlabel=f"x: 0 = the {tasks[0]} run, 1 = the {tasks[1]} run", majority=majority)
    return curves, figure


def boundary_rows(label: str, curves: list[dict]) -> list[list]:
    """Table rows of one pair's curves."""
    return [[label, c["task"], c["majority"], c["own"], c["other"], f"{c['worst'][0]:.3f} ({c['worst'][1]})",
             c["retained"], "never" if c["chance"] is None else c["chance"]] for c in curves]


def task_boundary_findings(paper: Paper) -> list[Finding]:
    """5. Same domain, different tasks (rotten_tomatoes, tweet_sentiment); 6. across domains (snli,
    rotten_tomatoes)."""
    rt, ts = (paper.run(paper.out, "finetune", 20, task=t) for t in ("rotten_tomatoes", "tweet_sentiment"))
    snli = paper.run(paper.quickstart, "finetune", 20)
    same, same_figure = boundary_pair(paper, ("rotten_tomatoes", "tweet_sentiment"), (rt, ts), 5)
    cross, cross_figure = boundary_pair(paper, ("snli", "rotten_tomatoes"), (snli, rt), 6)
    a = paper.args
    ran = (f"Full fine-tuning as in 1 (seed 20, {a.steps} updates of batch 32 on the first {a.train_examples} "
           "training examples of each task); the straight line between the two runs' backbones, evaluated on "
           f"the first {a.eval_examples} dev examples of each task with the head of the run tuned on it "
           f"(itp_task_boundary_finetune.py), {a.points} points. 'retained': the mean over the path of the "
           "accuracy above the majority class as a fraction of its own run's; 'at chance from x': the first x, "
           f"going from the task's own run, where the accuracy is less than {LEARNED} above the majority class.")
    unlearned = sorted({c["task"] for c in same + cross if not c["learned"]})
    same_kept = sum(c["retained"] for c in same) / 2
    cross_kept = sum(c["retained"] for c in cross) / 2
    rule5 = (f"Rule: reproduced when the same-domain pair keeps on average at least {RETAINED_CLEAR} more of its "
             f"accuracy along the path ('retained') than the cross-domain pair of 6, every run having learned its "
             f"task (dev accuracy at least {LEARNED} above the majority class). Measured: {same_kept:.3f} against "
             f"{cross_kept:.3f}.")
    fallen = [c["task"] for c in cross if c["chance"] is not None]
    rule6 = (f"Rule: reproduced when, on both tasks, the accuracy falls to less than {LEARNED} above the majority "
             f"class somewhere on the path (the path crosses a boundary of each task), both runs having learned their "
             f"task. Measured: at chance from x = {', '.join(str(c['chance']) for c in cross)} on "
             f"{', '.join(c['task'] for c in cross)}.")
    if unlearned:
        v5 = v6 = "not testable at this scale"
        rule5 += f" Not learned: {', '.join(unlearned)}."
        rule6 += f" Not learned: {', '.join(unlearned)}."
    else:
        v5 = "reproduced" if same_kept >= cross_kept + RETAINED_CLEAR else "not reproduced"
        v6 = "reproduced" if len(fallen) == 2 else "not reproduced"
    return [Finding(5, "Same domain, different tasks",
                    "Tuned on two tasks of one domain (sentiment), the two minima are joined by a path along which "
                    "each task keeps much of its accuracy, more than across domains (the claim as this report tests "
                    "it).", ran, BOUNDARY_HEADER, boundary_rows("rotten_tomatoes -> tweet_sentiment", same),
                    [same_figure], v5, rule5),
            Finding(6, "Task boundary across domains",
                    "Between minima of tasks from different domains the path crosses a task boundary: each task's "
                    "accuracy falls to chance on the way to the other task's minimum (the claim as this report tests "
                    "it).", ran, BOUNDARY_HEADER, boundary_rows("snli -> rotten_tomatoes", cross), [cross_figure],
                    v6, rule6)]
