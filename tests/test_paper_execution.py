"""The report's execution on the T5 track (the paper profile's family for Q1 and Q3), at toy size: a run saving the
planned steps with a dev history, a same-initialisation run, a line between two saves, a curve, and a cartography run
whose training examples a line is evaluated on, all through the T5 jobs a user runs."""

from __future__ import annotations

import dataclasses
import json

import pytest

from experiments.paper_execution import Execution, history
from experiments.paper_plan import PROFILES, End, PathPlan, Recipe, Run


@pytest.mark.slow
def test_the_t5_track_runs_the_planned_runs_and_paths(tiny_t5_dir, tmp_path):
    from utils import toy

    data = tmp_path / "data"
    for seed, task in enumerate(("glue-sst2", "tweet_polarity")):
        toy.write_task(data, task, sizes=(48, 16, 16), seed=seed)
    profile = dataclasses.replace(PROFILES["paper"], eval_examples=None, evaluations=2, max_output_length=4)
    ex = Execution(profile, tmp_path / "paper", data, tmp_path)
    common = {"track": "t5", "model": str(tiny_t5_dir), "task": "glue-sst2", "method": "adapter", "lr": 1e-2,
              "steps": 4, "saves": (2, 4), "evaluate_every": 2}
    a = Run("adapter-glue-sst2-seed20", seed=20, **common)
    b = Run("adapter-glue-sst2-seed30-init20", seed=30, init_seed=20, **common)
    ex.check_inputs([a, b], [], None)
    for run in (a, b):
        ex.tune(run)
    assert sorted(p.name for p in ex.folders[a.name].glob("checkpoint@*.pt")) == ["checkpoint@2.pt", "checkpoint@4.pt"]
    config = json.loads((ex.out / "configs" / f"{b.name}.json").read_text())
    assert config["SGD_noise"] and config["load_init_seed"] == 20 and config["seed"] == 30
    dev, train = history(ex.folders[a.name])
    assert [s for s, _ in dev] == [2, 4] and train  # the convergence rule's input
    line = ex.sweep(PathPlan("line", "line", (End(a, 2), End(b, 2)), "glue-sst2", "dev", 3, None))
    assert line.xs == [0.0, 0.5, 1.0] and line.scores().shape == (3, 16)
    curve = ex.sweep(PathPlan("curve", "curve", (End(a, 4), End(b, 4)), "glue-sst2", "dev", 3, None, "curve",
                              Recipe(1e-2, 2), 8))
    assert curve.summary["curve_length"] > 0 and len(ex.curve_losses(curve.plan)) >= 1
    carto = Run("adapter-tweet_polarity-seed20-cartography", **{**common, "task": "tweet_polarity", "saves": (4,)},
                seed=20, train_examples=24, cartography=True)
    ex.tune(carto)
    assert len(json.loads(ex.cartography(carto).read_text())) == 24
    assert history(ex.folders[carto.name])[1]  # no dev evaluations in cartography mode: its training loss is kept
    on_train = ex.sweep(PathPlan("train", "train", (End(a, 4), End(carto, 4)), "tweet_polarity", "train", 3, None))
    assert on_train.scores().shape == (3, 24)  # the cartography run's own 24 training examples
    assert ex.majority(on_train.plan) >= 0.5
