"""Each finding's verdict follows from the numbers by its stated rule: the finding functions run on made-up paths
(per-example scores with a chosen accuracy at every point) and made-up training histories, through a stand-in for the
execution that serves them, so every branch (reproduced, not reproduced, inconclusive for an unconverged or unlearned
endpoint) is reached without training anything."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from experiments import paper_findings as findings
from experiments.paper_execution import PathResult
from experiments.paper_plan import PROFILES, plan
from experiments.paper_rules import Convergence

XS = [round(x, 3) for x in np.linspace(0, 1, 11)]
FLAT, DIP, SHALLOW = [0.8] * 11, [0.8, 0.78, 0.7, 0.6, 0.5, 0.45, 0.5, 0.6, 0.7, 0.78, 0.8], \
    [0.8, 0.79, 0.77, 0.74, 0.72, 0.7, 0.72, 0.74, 0.77, 0.79, 0.8]
EDGE = [0.8, 0.8, 0.79, 0.78, 0.76, 0.75, 0.76, 0.78, 0.79, 0.8, 0.8]  # a 5-point dip: right at the threshold


def records(accuracies: list[float], split: str = "dev", examples: int = 400) -> list[dict]:
    order = np.random.default_rng(0).permutation(examples)
    out = []
    for x, a in zip(XS, accuracies, strict=True):
        scores = (np.argsort(order) < round(a * examples)).astype(float).tolist()
        out.append({"x": x, "splits": {split: {"performance": a, "loss": 0.5, "scores": scores}}})
    return out


class Stand:
    """What the finding functions read of an execution, served from made-up numbers: `curves` maps a path's name
    (or a prefix of it: the longest that fits) to its accuracy at each point; `unconverged` names runs whose
    histories still rise."""

    def __init__(self, tmp: Path, curves: dict[str, list[float]], unconverged=(), majority: float = 0.5):
        self.profile, self.out = PROFILES["small"], tmp
        self.curves, self.unconverged, self.maj = curves, set(unconverged), majority

    def sweep(self, path) -> PathResult:
        accuracy = self.curves[max((k for k in self.curves if path.name.startswith(k)), key=len)]
        return PathResult(path, self.out, {"curve_length": 2.0, "line_length": 1.0}, records(accuracy, path.split))

    def convergence(self, end) -> Convergence:
        converged = end.run.name not in self.unconverged
        return Convergence(end.step, converged, 0.0 if converged else 0.05, 0.0, 5)

    def majority(self, path) -> float:
        return self.maj

    def curve_losses(self, path):
        return [(k, 1.0) for k in range(1, 101)]


PLAN = plan(PROFILES["small"])


@pytest.fixture(autouse=True)
def no_figures(monkeypatch, tmp_path):
    """The figures are tested with the quick report; here only the verdicts."""
    monkeypatch.setattr(findings, "figure", lambda ex, name, *args, **kwargs: tmp_path / f"{name}.png")


def test_a_figure_names_the_split_it_shows_whatever_its_name(tmp_path, monkeypatch):
    """q2_pretrain's paths are evaluated on dev: its axis said "training-example accuracy" because its name holds
    "train"."""
    monkeypatch.undo()  # the real `figure`
    seen = []
    monkeypatch.setattr(findings, "panels_figure", lambda panels, ylabel, *a, **k: seen.append(ylabel))
    monkeypatch.setattr(findings, "save_png", lambda fig, path: path)
    stand = Stand(tmp_path, {})
    findings.figure(stand, "q2_pretrain", {}, "title", "x")
    findings.figure(stand, "q3", {}, "title", "x", split="train")
    assert seen == ["dev accuracy", "training-example accuracy"]


def test_data_order_is_reproduced_when_every_usable_path_is_connected(tmp_path):
    finding = findings.order_finding(Stand(tmp_path, {"q1_order": FLAT}), PLAN["q1_order"])
    assert finding.verdict == "reproduced" and "connected (0.000 [0.000, 0.000])" in finding.measured


def test_a_clear_barrier_on_a_usable_path_contradicts_a_connected_claim(tmp_path):
    curves = {"q1_order-adapter-step300": DIP, "q1_order": FLAT}
    finding = findings.order_finding(Stand(tmp_path, curves), PLAN["q1_order"])
    assert finding.verdict == "not reproduced" and "adapters, step 300 barrier" in finding.measured


def test_an_unconverged_endpoint_is_not_judged_and_named(tmp_path):
    curves = {"q1_order-adapter-step300": DIP, "q1_order": FLAT}
    stand = Stand(tmp_path, curves, unconverged={"adapter-rotten_tomatoes-seed20"})
    finding = findings.order_finding(stand, PLAN["q1_order"])
    assert finding.verdict == "inconclusive at this scale"  # no adapter path left to judge
    assert "`adapter-rotten_tomatoes-seed20@300` has not converged" in finding.measured


def test_an_unlearned_endpoint_is_not_judged(tmp_path):
    finding = findings.order_finding(Stand(tmp_path, {"q1_order": FLAT}, majority=0.78), PLAN["q1_order"])
    assert finding.verdict == "inconclusive at this scale" and "has not learned its task" in finding.measured


def test_a_dip_at_the_threshold_is_unclear_not_a_verdict(tmp_path):
    finding = findings.overlap_finding(Stand(tmp_path, {"q1_overlap": EDGE}), PLAN["q1_overlap"])
    assert finding.verdict == "inconclusive at this scale" and " unclear (" in finding.measured


def test_data_overlap_judges_each_method_as_data_order_does(tmp_path):
    """The paper's overlap claim covers fine-tuning and adapters: one connected method with the other unconverged is
    inconclusive (as Q1.1 and Q1.2 judge), not reproduced."""
    stand = Stand(tmp_path, {"q1_overlap": FLAT}, unconverged={"adapter-rotten_tomatoes-seed20-split2"})
    finding = findings.overlap_finding(stand, PLAN["q1_overlap"])
    assert finding.verdict == "inconclusive at this scale"
    assert "full fine-tuning (connected expected): reproduced" in finding.measured
    assert "adapters (connected expected): inconclusive at this scale" in finding.measured
    assert "`adapter-rotten_tomatoes-seed20-split2@300` has not converged" in finding.measured
    assert findings.overlap_finding(Stand(tmp_path, {"q1_overlap": FLAT}), PLAN["q1_overlap"]).verdict == "reproduced"


@pytest.mark.parametrize("adapter, expected", [(DIP, "reproduced"), (FLAT, "not reproduced")])
def test_initialisation_needs_connected_fine_tuning_and_separated_adapters(tmp_path, adapter, expected):
    finding = findings.init_finding(Stand(tmp_path, {"q1_init-adapter": adapter, "q1_init": FLAT}), PLAN["q1_init"])
    assert finding.verdict == expected
    assert any("shows no clear change" in n for n in finding.notes)  # the same dip at every save


def test_the_adapter_trend_with_steps_is_read_from_a_paired_interval(tmp_path):
    curves = {"q1_init-adapter-step100": SHALLOW, "q1_init-adapter-step300": DIP, "q1_init": FLAT}
    finding = findings.init_finding(Stand(tmp_path, curves), PLAN["q1_init"])
    assert any("deepens, as in the poster's figure" in n for n in finding.notes)


@pytest.mark.parametrize("source, expected", [
    ([0.8, 0.8, 0.79, 0.77, 0.75, 0.73, 0.71, 0.7, 0.69, 0.68, 0.68], "reproduced"),  # smooth change of level
    ([0.8, 0.7, 0.6, 0.5, 0.45, 0.4, 0.45, 0.5, 0.6, 0.65, 0.7], "not reproduced"),  # falls below both ends
])
def test_the_domain_finding_asks_for_a_smooth_change_not_a_fall(tmp_path, source, expected):
    curves = {"q1_domain-rotten_tomatoes": source, "q1_domain": FLAT}
    assert findings.domain_finding(Stand(tmp_path, curves), PLAN["q1_domain"]).verdict == expected


def test_the_curve_finding_needs_its_curve_connected_and_its_training_levelled(tmp_path):
    stand = Stand(tmp_path, {"q1_curve-adapter": FLAT, "q1_init-adapter": DIP})
    assert findings.curve_finding(stand, PLAN["q1_curve"]).verdict == "reproduced"
    stand.curve_losses = lambda path: [(k, 2.0 - k / 100) for k in range(1, 101)]  # still falling
    finding = findings.curve_finding(stand, PLAN["q1_curve"])
    assert finding.verdict == "inconclusive at this scale" and "still falling" in finding.measured


@pytest.mark.parametrize("later, expected", [(FLAT, "reproduced"), (DIP, "inconclusive at this scale")])
def test_pre_training_facilitates_connectivity_when_the_barrier_falls_between_checkpoints(tmp_path, later, expected):
    stand = Stand(tmp_path, {"q2_pretrain-finetune-ckpt_300": DIP, "q2_pretrain-finetune-ckpt_3000": later,
                             "q2_pretrain": DIP})
    finding = findings.pretrain_finding(stand, PLAN["q2_pretrain"])
    assert finding.verdict == expected


def test_a_barrier_that_grows_with_pre_training_contradicts_the_finding(tmp_path):
    stand = Stand(tmp_path, {"q2_pretrain-finetune-ckpt_300": FLAT, "q2_pretrain-finetune-ckpt_3000": DIP,
                             "q2_pretrain": FLAT})
    assert findings.pretrain_finding(stand, PLAN["q2_pretrain"]).verdict == "not reproduced"


@pytest.mark.parametrize("early, late, expected", [
    ([0.5] * 6 + [0.9] * 5, [0.5] * 3 + [0.9] * 8, "reproduced"),  # the target rises nearer x = 0 later
    ([0.5] * 3 + [0.9] * 8, [0.5] * 6 + [0.9] * 5, "not reproduced"),
])
def test_the_task_boundary_moves_towards_the_first_tasks_end(tmp_path, early, late, expected):
    stand = Stand(tmp_path, {"q2_boundary-finetune-ckpt_300-on-rotten_tomatoes": early,
                             "q2_boundary-finetune-ckpt_3000-on-rotten_tomatoes": late,
                             "q2_boundary": [0.9] * 5 + [0.5] * 6})
    # each run at its own end: snli's at x = 0 (0.9), rotten_tomatoes' at x = 1 (0.9); majority 0.5
    finding = findings.boundary_finding(stand, PLAN["q2_boundary"])
    assert finding.verdict == expected and "towards the snli end" in finding.measured


def test_a_profile_override_keeps_the_plan_consistent():
    profile = dataclasses.replace(PROFILES["small"], points=11, early_points=11, train_points=11)
    assert {p.points for e in plan(profile).values() for p in e.paths()} == {11}
