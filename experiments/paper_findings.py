"""Each finding of the report from its plan and the swept paths: the numbers, the figure and a verdict by a rule of
this project's (experiments/paper_rules.py), stated next to it. A verdict is "inconclusive at this scale" whenever
the endpoints it rests on have not learned their task or not converged; those endpoints are named."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.stats import spearmanr

from experiments.paper_claims import OWN_QUESTIONS
from experiments.paper_execution import Execution, PathResult
from experiments.paper_plan import LABELS, End, ExperimentPlan, PathPlan
from experiments.paper_report import Finding, Table
from experiments.paper_rules import (
    BARRIER,
    CONNECTED,
    LEARNED,
    LOSS_FLAT,
    TAU,
    Convergence,
    Interval,
    call,
    combine,
    dips_below_ends,
    interval,
    linear_barriers,
    rank_correlation,
    resample_weights,
    resampled_curves,
    rise_points,
    sign_of,
)
from module.distance import distance
from module.figure_parts import save_png
from module.knowledge_change import event_points, example_statistics
from module.plotting import panels_figure

ROOT = Path(__file__).resolve().parents[1]
GROUPS = 5  # the paper's F1..F5 and M1..M5


# ------------------------------------------------------------------------------------------------ endpoints
@dataclass(frozen=True)
class EndState:
    """An endpoint as a verdict needs it: its accuracy on its own task, whether it learned the task and converged."""

    name: str
    accuracy: float
    majority: float
    convergence: Convergence

    @property
    def learned(self) -> bool:
        """At least LEARNED above the majority class of the evaluated examples."""
        return self.accuracy >= self.majority + LEARNED

    @property
    def usable(self) -> bool:
        """Learned and converged: a verdict may rest on it."""
        return self.learned and self.convergence.converged

    def problem(self) -> str:
        """Why a verdict may not rest on it ("" when it may)."""
        if not self.learned:
            return f"`{self.name}` has not learned its task ({self.accuracy:.3f}, majority class {self.majority:.3f})"
        if not self.convergence.converged:
            return f"`{self.name}` has not converged ({self.convergence})"
        return ""


def end_name(end: End) -> str:
    """How the report names an endpoint: its run folder and step."""
    return f"{end.run.name}@{end.step}"


def end_state(ex: Execution, result: PathResult, k: int) -> EndState:
    """Endpoint k (0: x = 0, 1: x = 1) of a path evaluated on that endpoint's own task."""
    accuracy = result.accuracy()[0 if k == 0 else -1]
    end = result.plan.ends[k]
    return EndState(end_name(end), accuracy, ex.majority(result.plan), ex.convergence(end))


def problems(states: Sequence[EndState]) -> list[str]:
    """The distinct reasons the endpoints keep a verdict from resting on them."""
    return list(dict.fromkeys(p for s in states if (p := s.problem())))


# ------------------------------------------------------------------------------------------------ paths
@dataclass
class Assessed:
    """A same-task path with its barrier's bootstrap interval, the call it implies and its endpoints."""

    result: PathResult
    barrier: Interval
    call: str
    ends: tuple[EndState, EndState]

    @property
    def usable(self) -> bool:
        return all(e.usable for e in self.ends)


def assess(ex: Execution, path: PathPlan, weights: np.ndarray | None = None) -> Assessed:
    """Sweep a same-task path and measure its linear accuracy barrier with a bootstrap interval over the examples."""
    result = ex.sweep(path)
    scores = result.scores()
    weights = resample_weights(scores.shape[1]) if weights is None else weights
    barrier = interval(linear_barriers(result.xs, resampled_curves(scores, weights)))
    return Assessed(result, barrier, call(barrier), (end_state(ex, result, 0), end_state(ex, result, 1)))


def worst(result: PathResult) -> str:
    """The lowest accuracy along a path and where."""
    acc = result.accuracy()
    k = int(np.argmin(acc))
    return f"{acc[k]:.3f} ({result.xs[k]:g})"


LINE_HEADER = ["path", "acc x=0", "acc x=1", "worst (x)", "barrier [95% interval]", "call", "x=0 converged",
               "x=1 converged"]


def line_row(a: Assessed) -> list:
    """A table row of an assessed path."""
    acc = a.result.accuracy()
    return [a.result.plan.label, acc[0], acc[-1], worst(a.result), str(a.barrier), a.call,
            str(a.ends[0].convergence), str(a.ends[1].convergence)]


def connected_verdict(assessed: Sequence[Assessed], expect: str) -> tuple[str, str]:
    """The verdict on "these paths are connected" (expect CONNECTED) or "... have a barrier" (expect BARRIER), from
    the paths whose endpoints learned and converged; inconclusive when none did or their intervals straddle TAU."""
    usable = [a for a in assessed if a.usable]
    left = problems([e for a in assessed if not a.usable for e in a.ends])
    other = BARRIER if expect == CONNECTED else CONNECTED
    if not usable:
        verdict = "inconclusive at this scale"
    elif any(a.call == other for a in usable):
        verdict = "not reproduced"
    elif all(a.call == expect for a in usable):
        verdict = "reproduced"
    else:
        verdict = "inconclusive at this scale"
    judged = ", ".join(f"{a.result.plan.label} {a.call} ({a.barrier})" for a in usable) or "none"
    why = f"Judged ({len(usable)} of {len(assessed)} paths): {judged}."
    if left:
        why += f" Not judged: {'; '.join(left)}."
    return verdict, why


def method_verdicts(assessed: dict[str, Sequence[Assessed]], expect: dict[str, str]) -> tuple[str, str]:
    """One verdict over methods (fine-tuning, adapters), each judged by `connected_verdict` against `expect`[method]
    and combined: reproduced only when every method is."""
    parts, whys = [], []
    for group, items in assessed.items():
        verdict, why = connected_verdict(items, expect[group])
        parts.append(verdict)
        whys.append(f"{group} ({'connected' if expect[group] == CONNECTED else 'a barrier'} expected): {verdict}. "
                    f"{why}")
    return combine(parts), " ".join(whys)


# ------------------------------------------------------------------------------------------------ figures
def curves(results: Sequence[PathResult], label=lambda r: r.plan.label) -> dict:
    """{label: (xs, accuracy)} of several paths."""
    return {label(r): (r.xs, r.accuracy()) for r in results}


def figure(ex: Execution, name: str, panels: dict, title: str, xlabel: str, majority: dict | None = None,
           split: str | None = None) -> Path:
    """A figure of panels side by side (one per method or task, as the paper's), saved under the report's folder;
    the y axis names the evaluated split (`split`, default the profile's)."""
    split = split or ex.profile.split
    ylabel = "training-example accuracy" if split == "train" else f"{split} accuracy"
    fig = panels_figure(panels, ylabel, title, xlabel, majority, metric="accuracy", mark_worst=False)
    return save_png(fig, ex.out / f"{name}.png")


def task_line_figure(ex: Execution, name: str, by_task: dict[str, list[PathResult]], pair: tuple[str, str],
                     title: str) -> Path:
    """A figure of a line between the runs of `pair`'s two tasks: one panel per evaluated task, its majority class
    drawn."""
    source, target = pair
    return figure(ex, name, {g: curves(rs, short_label) for g, rs in by_task.items()}, title,
                  f"x: 0 = the {source} run, 1 = the {target} run",
                  {g: {"": ex.majority(rs[0].plan)} for g, rs in by_task.items()})


# ------------------------------------------------------------------------------------------------ Q1
RULE_CONNECTED = (f"Rule (this project's; the paper sets no threshold): a path's barrier is the largest drop of "
                  f"accuracy below the straight line joining its endpoint values, with a 95% bootstrap interval over "
                  f"the evaluated examples; the path is *connected* when the whole interval lies below {TAU}, has a "
                  f"*barrier* when it lies at or above {TAU}, and is *unclear* otherwise. Only paths whose endpoints "
                  f"have learned the task and converged are judged.")


def short_label(result: PathResult) -> str:
    """A path's label without its group (the panel says the method): "step 100", "pre-training step 300"."""
    return result.plan.label.split(", ")[-1]


def stepped_finding(ex: Execution, plan: ExperimentPlan, title: str, expect: dict[str, str], xlabel: str) -> Finding:
    """Q1.1 / Q1.2: per method, the paths at every save; each method's paths judged against `expect`[method]."""
    assessed = {group: [assess(ex, p) for p in paths] for group, paths in plan.groups.items()}
    verdict, why = method_verdicts(assessed, expect)
    fig = figure(ex, plan.key, {g: curves([a.result for a in items], short_label) for g, items in assessed.items()},
                 f"{ex.profile.task}: {title}", xlabel, {g: {"": items[0].ends[0].majority} for g, items in
                                                         assessed.items()})
    rows = [line_row(a) for items in assessed.values() for a in items]
    return Finding(plan.key, plan.setting, [Table("", LINE_HEADER, rows)], [fig], verdict, RULE_CONNECTED, why)


def order_finding(ex: Execution, plan: ExperimentPlan) -> Finding:
    """Q1.1: the same initialisation with another data order is connected, for both methods."""
    return stepped_finding(ex, plan, "same initialisation, another data order",
                           dict.fromkeys(plan.groups, CONNECTED),
                           "x: 0 = seed 20, 1 = seed 30 started from seed 20's initialisation (each save's pair)")


def init_finding(ex: Execution, plan: ExperimentPlan) -> Finding:
    """Q1.2: other initialisations are connected for fine-tuning, not for adapters; and the adapter trend."""
    finding = stepped_finding(ex, plan, "another initialisation (seeds 20 and 30)",
                              {g: BARRIER if g == LABELS["adapter"] else CONNECTED for g in plan.groups},
                              "x: 0 = seed 20, 1 = seed 30 (each save's pair)")
    adapters = [assess(ex, p) for p in plan.groups[LABELS["adapter"]]]
    first, last = adapters[0], adapters[-1]
    weights = resample_weights(first.result.scores().shape[1])
    both = [linear_barriers(a.result.xs, resampled_curves(a.result.scores(), weights)) for a in (first, last)]
    change = interval(both[1] - both[0])
    direction = {1: "deepens, as in the poster's figure", -1: "becomes shallower, unlike the poster's figure",
                 0: "shows no clear change"}[sign_of(change)]
    learned = all(e.learned for e in first.ends + last.ends)
    finding.notes.append(
        f"**Figure reading (the poster's figure, not its text).** From step {first.result.plan.ends[0].step} to step "
        f"{last.result.plan.ends[0].step} the adapter barrier changes by {change} (paired bootstrap over the same "
        f"examples): it {direction}"
        + ("." if learned else "; an endpoint has not learned the task, so this says nothing.")
        + " Judged on learned endpoints only; earlier saves need not have converged (the paper's 10k-step endpoints "
          "are early too).")
    return finding


def overlap_finding(ex: Execution, plan: ExperimentPlan) -> Finding:
    """Q1.3: minima tuned on disjoint halves are connected, for both methods."""
    by_method = {group: [assess(ex, p) for p in paths] for group, paths in plan.groups.items()}
    verdict, why = method_verdicts(by_method, dict.fromkeys(by_method, CONNECTED))
    assessed = [a for items in by_method.values() for a in items]
    fig = figure(ex, plan.key, {"disjoint halves": curves([a.result for a in assessed])},
                 f"{ex.profile.task}: runs on the two halves of the training examples",
                 "x: 0 = the run on the first half, 1 = the run on the second", {"disjoint halves": {
                     "": assessed[0].ends[0].majority}})
    return Finding(plan.key, plan.setting, [Table("", LINE_HEADER, [line_row(a) for a in assessed])], [fig], verdict,
                   RULE_CONNECTED, why)


DOMAIN_HEADER = ["evaluated on", "path", "acc x=0", "acc x=1", "lowest (x)", "dip below both ends [95%]", "call"]


def task_curves(ex: Execution, plan: ExperimentPlan) -> dict[str, list[PathResult]]:
    """The swept paths of a two-task experiment, by evaluated task (group)."""
    return {group: [ex.sweep(p) for p in paths] for group, paths in plan.groups.items()}


def own_states(ex: Execution, results: Sequence[PathResult]) -> list[EndState]:
    """Each run of two-task paths at its own end, evaluated on its own task."""
    states = []
    for r in results:
        for k, end in enumerate(r.plan.ends):
            if end.run.task == r.plan.task:
                states.append(end_state(ex, r, k))
    return list({s.name: s for s in states}.values())


def domain_finding(ex: Execution, plan: ExperimentPlan) -> Finding:
    """Q1.4: two tasks of one domain, both evaluated along the line: each moves between its endpoint levels
    without falling below both (a smooth change, not a fall to chance)."""
    by_task = task_curves(ex, plan)
    rows, calls, states = [], [], own_states(ex, [r for rs in by_task.values() for r in rs])
    for results in by_task.values():
        for r in results:
            scores = r.scores()
            dip = interval(dips_below_ends(resampled_curves(scores, resample_weights(scores.shape[1]))))
            acc = r.accuracy()
            calls.append(call(dip))
            rows.append([r.plan.task, r.plan.label, acc[0], acc[-1], worst(r), str(dip), calls[-1]])
    left = problems(states)
    if left:
        verdict = "inconclusive at this scale"
    elif BARRIER in calls:
        verdict = "not reproduced"
    else:
        verdict = "reproduced" if set(calls) == {CONNECTED} else "inconclusive at this scale"
    source, target = ex.profile.pair
    fig = task_line_figure(ex, plan.key, by_task, (source, target), f"{source} run -> {target} run")
    rule = (f"Rule (this project's reading of \"the variation of the interpolation's task knowledge\"): along the line "
            f"each task's accuracy moves between its values at the two ends; it counts as falling away (a *barrier*) "
            f"when its lowest point lies below the lower of its two end values by {TAU} or more over the whole 95% "
            f"bootstrap interval, and as a smooth change (*connected*) when the whole interval lies below {TAU}. "
            "Reproduced when both tasks change smoothly, every run having learned its task and converged.")
    why = f"Measured: {', '.join(f'{r[1]} {r[6]} ({r[5]})' for r in rows)}."
    if left:
        why += f" Not judged: {'; '.join(left)}."
    return Finding(plan.key, plan.setting, [Table("", DOMAIN_HEADER, rows)], [fig], verdict, rule, why)


def curve_finding(ex: Execution, plan: ExperimentPlan) -> Finding:
    """Q1.5: a trained Bezier curve between the adapter minima of Q1.2 is connected."""
    line, curve_plan = plan.paths()
    a_line, a_curve = assess(ex, line), assess(ex, curve_plan)
    losses = ex.curve_losses(curve_plan)
    n = len(losses)
    last = [v for s, v in losses if s > 0.8 * n]
    before = [v for s, v in losses if 0.6 * n < s <= 0.8 * n]
    drop = float(1 - np.mean(last) / np.mean(before)) if last and before else None
    trained = drop is not None and drop <= LOSS_FLAT
    left = problems(a_curve.ends)
    if not trained:
        left.append(f"the curve's training loss is still falling ({drop if drop is None else f'{drop:+.1%}'} over "
                    f"its last fifth of {n} updates)")
    if left:
        verdict = "inconclusive at this scale"
    else:
        verdict = {CONNECTED: "reproduced", BARRIER: "not reproduced"}.get(a_curve.call, "inconclusive at this scale")
    fig = figure(ex, plan.key, {"adapters": {"straight line": (a_line.result.xs, a_line.result.accuracy()),
                                             "Bezier curve (t)": (a_curve.result.xs, a_curve.result.accuracy())}},
                 f"{ex.profile.task}: adapters, seeds 20 and 30", "x (line) or t (curve): 0 = seed 20, 1 = seed 30",
                 {"adapters": {"": a_line.ends[0].majority}})
    rule = (RULE_CONNECTED + f" Reproduced when the trained curve is connected; its training must have levelled off "
            f"(mean loss of the last fifth of its updates at most {LOSS_FLAT:.0%} below the fifth before).")
    why = (f"Measured: curve {a_curve.call} ({a_curve.barrier}), line {a_line.call} ({a_line.barrier}); curve length "
           f"{a_curve.result.summary.get('curve_length', float('nan')):.3f} against the line's "
           f"{a_curve.result.summary.get('line_length', float('nan')):.3f} (L2 over the tuned tensors); the curve's "
           f"training loss changed by {'n/a' if drop is None else f'{-drop:+.1%}'} over its last fifth.")
    if left:
        why += f" Not judged: {'; '.join(left)}."
    return Finding(plan.key, plan.setting, [Table("", LINE_HEADER, [line_row(a_line), line_row(a_curve)])], [fig],
                   verdict, rule, why)


# ------------------------------------------------------------------------------------------------ Q2
def pretrain_finding(ex: Execution, plan: ExperimentPlan) -> Finding:
    """Q2.1: per method, the barrier between two initialisations is lower from later pre-training checkpoints."""
    rows, parts, whys, panels, majority = [], [], [], {}, {}
    for group, paths in plan.groups.items():
        assessed = [assess(ex, p) for p in paths]
        rows += [line_row(a) for a in assessed]
        panels[group] = curves([a.result for a in assessed], short_label)
        majority[group] = {"": assessed[0].ends[0].majority}
        usable = [a for a in assessed if a.usable]
        left = problems([e for a in assessed if not a.usable for e in a.ends])
        if len(usable) < 2:
            parts.append("inconclusive at this scale")
            whys.append(f"{group}: inconclusive, fewer than two checkpoints with usable endpoints"
                        + (f" ({'; '.join(left)})." if left else "."))
            continue
        first, last = usable[0], usable[-1]
        weights = resample_weights(first.result.scores().shape[1])
        barriers = [linear_barriers(a.result.xs, resampled_curves(a.result.scores(), weights)) for a in (first, last)]
        change = interval(barriers[0] - barriers[1])  # positive: lower barrier after more pre-training
        verdict = {1: "reproduced", -1: "not reproduced", 0: "inconclusive at this scale"}[sign_of(change)]
        if verdict == "inconclusive at this scale" and first.call == CONNECTED:
            note = " (connected already at the earliest checkpoint: no barrier for pre-training to lower)"
        else:
            note = ""
        parts.append(verdict)
        whys.append(f"{group}: {verdict}{note}: barrier {first.barrier} at {first.result.plan.label.split(', ')[-1]}, "
                    f"{last.barrier} at {last.result.plan.label.split(', ')[-1]}; lowered by {change}."
                    + (f" Not judged: {'; '.join(left)}." if left else ""))
    verdict = ("not reproduced" if "not reproduced" in parts else
               "reproduced" if "reproduced" in parts else "inconclusive at this scale")
    fig = figure(ex, plan.key, panels, f"{ex.profile.q2_task}: seeds 20 and 30 tuned from each pre-training checkpoint",
                 "x: 0 = seed 20, 1 = seed 30", majority)
    rule = (RULE_CONNECTED + " Per method, the barrier at the earliest pre-training checkpoint with usable endpoints "
            "minus the barrier at the latest, with a paired 95% bootstrap interval (the same examples): reproduced "
            "when the interval lies above 0 (connectivity grows with pre-training), not reproduced when below 0. "
            "The finding is reproduced when a method reproduces it and none contradicts it.")
    return Finding(plan.key, plan.setting, [Table("", LINE_HEADER, rows)], [fig], verdict, rule, " ".join(whys))


def boundary_finding(ex: Execution, plan: ExperimentPlan) -> Finding:
    """Q2.2: along the line from the run on the first task to the run on the second, the second task's accuracy
    rises nearer the first task's end after more pre-training."""
    by_task = task_curves(ex, plan)
    source, target = ex.profile.q2_pair
    rows = []
    for results in by_task.values():
        for r in results:
            rise = rise_points(r.xs, np.asarray([r.accuracy()]))[0]
            acc = r.accuracy()
            rows.append([r.plan.task, r.plan.label, acc[0], acc[-1], f"{rise:.3f}"])
    targets = by_task[f"evaluated on {target}"]
    states = own_states(ex, [r for rs in by_task.values() for r in rs])
    usable_steps = [r for r in targets if all(s.usable for s in states if any(
        s.name == end_name(e) for e in r.plan.ends))]
    left = problems(states)
    if len(usable_steps) < 2:
        verdict, why = "inconclusive at this scale", "Fewer than two checkpoints whose runs learned and converged."
    else:
        first, last = usable_steps[0], usable_steps[-1]
        weights = resample_weights(first.scores().shape[1])
        rises = [rise_points(r.xs, resampled_curves(r.scores(), weights)) for r in (first, last)]
        change = interval(rises[0] - rises[1])  # positive: the target task rises nearer x = 0 later in pre-training
        verdict = {1: "reproduced", -1: "not reproduced", 0: "inconclusive at this scale"}[sign_of(change)]
        why = (f"Measured: {target} reaches half of its change at x = {rises[0][0]:.3f} ({first.plan.label}) and "
               f"x = {rises[1][0]:.3f} ({last.plan.label}); moved towards the {source} end by {change}.")
    if left:
        why += f" Not judged: {'; '.join(left)}."
    fig = task_line_figure(ex, plan.key, by_task, (source, target),
                           f"{source} run -> {target} run, from each pre-training checkpoint")
    rule = (f"Rule (this project's reading of the poster's figure, where with more pre-training SST-2's accuracy rises "
            f"nearer the MNLI end): on the line from the {source} run (x = 0) to the {target} run (x = 1), the "
            f"boundary is the first x where {target}'s accuracy has gone half of the way from its x = 0 value to its "
            f"x = 1 value (linear between evaluated points). Reproduced when it lies nearer x = 0 at the latest "
            f"pre-training checkpoint than at the earliest, over the whole 95% paired bootstrap interval of the "
            f"difference; not reproduced when farther; both runs of each checkpoint must have learned their task and "
            f"converged.")
    header = ["evaluated on", "path", "acc x=0", "acc x=1", "half-way x"]
    return Finding(plan.key, plan.setting, [Table("", header, rows)], [fig], verdict, rule, why)


# ------------------------------------------------------------------------------------------------ Q3
def run_script(script: str, *args: str) -> None:
    """Run one of the project's scripts as a user would (this Python, from the repository root)."""
    command = [sys.executable, str(ROOT / script), *args]
    print("[paper] " + " ".join(command))
    subprocess.run(command, check=True, cwd=ROOT)


def knowledge_finding(ex: Execution, plan: ExperimentPlan) -> Finding:
    """Q3: along the line from the source run to the target run, the source's training examples forgotten first are
    the hard ones (low confidence, high variability) and the target's learned first the easy ones."""
    source, target = ex.profile.pair
    expected = {"forgotten": {"confidence": 1, "variability": -1}, "learned": {"confidence": -1, "variability": 1}}
    rows, parts, whys, panels = [], [], [], {}
    for group, paths in plan.groups.items():
        directions, states = [], []
        for path in paths:
            result = ex.sweep(path)
            order = "forgotten" if path.task == source else "learned"
            run = next(e.run for e in path.ends if e.run.task == path.task)
            carto = ex.cartography(run)
            save = ex.out / f"{path.name}-groups.json"
            run_script("utils/process_cartography.py", "--cartography_path", str(carto), "--analysis_path",
                       str(result.folder / "valid_data_analysis.json"), "--save_path", str(save), "--groups",
                       str(GROUPS), "--order", order)
            groups = json.loads(save.read_text())
            stats = example_statistics(json.loads(carto.read_text()), str(carto))
            events = knowledge_events(result, order)
            rank = {x: k for k, x in enumerate(result.xs)}
            k = 0 if order == "forgotten" else 1
            states.append(end_state(ex, result, k))
            for g in groups:
                rows.append([group, path.task, order, g["group"], g["examples"], f"{g['x_first']} - {g['x_last']}",
                             g["confidence"], g["variability"]])
            for name in ("confidence", "variability"):
                if len(events) < 2 * GROUPS:
                    directions.append(0)
                    whys.append(f"{group}, {path.task}: only {len(events)} {order} examples.")
                    continue
                rho = rank_correlation([rank[x] for x in events.values()], [stats[i][name] for i in events])
                good = sign_of(rho) == expected[order][name]
                directions.append(0 if sign_of(rho) == 0 else 1 if good else -1)
                said = "as the paper" if good else "no clear direction" if sign_of(rho) == 0 else "opposite"
                whys.append(f"{group}, {path.task} ({order}): Spearman of the {order} point with {name} {rho} "
                            f"({said}).")
            if groups:
                panels.setdefault(f"{group}: confidence", {})[f"{path.task} ({order})"] = (
                    list(range(1, len(groups) + 1)), [g["confidence"] for g in groups])
        left = problems(states)
        if left:
            parts.append("inconclusive at this scale")
            whys.append(f"{group} not judged: {'; '.join(left)}.")
        else:
            parts.append("not reproduced" if -1 in directions else
                         "reproduced" if set(directions) == {1} else "inconclusive at this scale")
    figures = [save_png(panels_figure(
        panels, "mean confidence (data map)", f"{source} (source, forgotten F1..F{GROUPS}) -> {target} (target, "
        f"learned M1..M{GROUPS})", "group, in the order the path forgets / learns it", metric="accuracy",
        mark_worst=False, chords=False), ex.out / f"{plan.key}.png")] if panels else []
    rule = (f"Rule (this project's): the source task's training examples that the path forgets (right at the source "
            f"run, wrong at the target run) are ordered by the first point where they are wrong, the target's that it "
            f"learns (wrong at the source run, right at the target run) by the first point where they are right "
            f"(`process_cartography.py --groups {GROUPS} --order forgotten|learned` gives the groups F1..F{GROUPS} / "
            f"M1..M{GROUPS}). Confidence and variability are each example's mean and standard deviation of its gold-"
            f"label probability over the epochs of the run tuned on its task. Per method, reproduced when, over "
            f"examples, Spearman's rank correlation of that order with confidence is positive and with variability "
            f"negative for the source, and the reverse for the target, each 95% bootstrap interval excluding 0; not "
            f"reproduced when one is clearly the other way. The finding is reproduced when every method reproduces it.")
    table = Table("", ["method", "task", "order", "group", "examples", "points", "confidence", "variability"], rows)
    return Finding(plan.key, plan.setting, [table], figures, combine(parts), rule, " ".join(whys))


def knowledge_events(result: PathResult, order: str) -> dict[str, float]:
    """Per forgotten (learned) training example of a path, the x where that happens (module.knowledge_change)."""
    points = []
    for r in result.records:
        scores = r["splits"]["train"]["scores"]
        points.append((r["x"], [str(i) for i, s in enumerate(scores) if s == 0],
                       [str(i) for i, s in enumerate(scores) if s == 1]))
    return event_points(points, order)


# ------------------------------------------------------------------------------------------------ own questions
def distance_finding(ex: Execution, plan: ExperimentPlan) -> Finding:
    """This project's own question: do minima further apart meet higher barriers? (adapter lines only: the same
    tensors every time)."""
    rows, pairs = [], []
    for path in plan.paths():
        a = assess(ex, path)
        d = distance(ex.tuned_tensors(path.ends[0]), ex.tuned_tensors(path.ends[1]))
        rows.append([path.name, d["params"], d["l2"], d["cosine"], str(a.barrier), "yes" if a.usable else "no"])
        if path.ends[0].run.method == "adapter" and a.usable:
            pairs.append((d["l2"], a.barrier.value))
    if len(pairs) < 5:
        verdict, why = "inconclusive at this scale", f"Only {len(pairs)} adapter paths with usable endpoints."
    else:
        rho = float(spearmanr([d for d, _ in pairs], [b for _, b in pairs]).statistic)
        verdict = "reproduced" if rho >= 0.5 else "not reproduced"
        why = f"Measured: Spearman rho {rho:.3f} over {len(pairs)} adapter paths."
    rule = ("Rule (this project's; the paper states no finding about distances): over the adapter paths whose "
            "endpoints learned and converged, \"yes\" (reported as reproduced) when Spearman's rank correlation of the "
            "endpoints' L2 distance with the barrier is at least 0.5; at least 5 paths are needed.")
    header = ["path", "parameters", "L2 distance", "cosine similarity", "barrier [95% interval]", "usable endpoints"]
    return Finding(plan.key, {**plan.setting, "question": OWN_QUESTIONS["own_distance"]},
                   [Table("", header, rows)], [], verdict, rule, why)


FINDINGS = {"q1_order": order_finding, "q1_init": init_finding, "q1_overlap": overlap_finding,
            "q1_domain": domain_finding, "q1_curve": curve_finding, "q2_pretrain": pretrain_finding,
            "q2_boundary": boundary_finding, "q3_knowledge": knowledge_finding, "own_distance": distance_finding}
