"""The report's plan (experiments/paper_plan.py) without running it: the paper profile has the paper's sizes and
pairs (T5 v1.1 base on MNLI for Q1 and Q3, the user's RoBERTa-base step checkpoints for Q2), and every profile pairs
runs that differ in the one setting each finding is about."""

from __future__ import annotations

import pytest

from experiments.paper_plan import PROFILES, SEEDS, plan, runs_of

PAPER = plan(PROFILES["paper"])


def ends(path):
    return tuple((e.run, e.step) for e in path.ends)


def differing(a, b) -> set[str]:
    """The run settings in which two runs differ (their names aside)."""
    return {k for k in vars(a) if k != "name" and getattr(a, k) != getattr(b, k)}


def test_the_paper_profile_tunes_t5_base_on_mnli_with_the_papers_sizes():
    p = PROFILES["paper"]
    assert (p.track, p.model, p.task) == ("t5", "pretrained_models/t5-base-lm-adapt", "glue-mnli")
    runs = {r.name: r for r in runs_of(PAPER) if r.track == "t5" and not r.cartography}
    assert {(r.method, r.lr, r.steps) for r in runs.values()} == {("finetune", 1e-4, 50000), ("adapter", 5e-5, 50000)}
    first = runs["adapter-glue-mnli-seed20"]
    assert first.saves == (10000, 30000, 50000) and first.train_examples is None
    assert all(path.points == 26 and path.split == "test" and path.eval_examples is None
               for key in ("q1_order", "q1_init", "q1_overlap") for path in PAPER[key].paths())


@pytest.mark.parametrize("profile", sorted(PROFILES))
def test_each_q1_pair_differs_in_the_one_setting_its_finding_is_about(profile):
    experiments = plan(PROFILES[profile])
    for path in experiments["q1_order"].paths():
        (a, s), (b, t) = ends(path)
        assert s == t and differing(a, b) == {"seed", "init_seed"} and b.init_seed == a.seed == SEEDS[0]
    for path in experiments["q1_init"].paths():
        (a, s), (b, t) = ends(path)
        assert s == t and differing(a, b) == {"seed"} and (a.seed, b.seed) == SEEDS
    for path in experiments["q1_overlap"].paths():
        (a, _), (b, _) = ends(path)
        assert differing(a, b) == {"datasplit"} and (a.datasplit, b.datasplit) == ("split1", "split2")
    steps = {m: [p.ends[0].step for p in group] for m, group in experiments["q1_init"].groups.items()}
    assert all(len(s) >= 2 and s == sorted(s) for s in steps.values())  # several training steps per method


def test_the_paper_profile_compares_both_tasks_of_a_domain_at_every_save_and_a_curve_between_adapter_seeds():
    domain = PAPER["q1_domain"]
    assert set(domain.groups) == {"evaluated on glue-mnli", "evaluated on anli"}
    for group in domain.groups.values():
        assert [p.ends[0].step for p in group] == [10000, 30000, 50000]
        assert all((p.ends[0].run.task, p.ends[1].run.task) == ("glue-mnli", "anli") for p in group)
    line, curve = PAPER["q1_curve"].paths()
    assert curve.kind == "curve" and ends(curve) == ends(line) and line.kind == "line"
    assert (curve.curve.steps, curve.curve.lr, curve.curve_batch) == (10000, 1e-4, 16)
    assert {e.run.method for e in curve.ends} == {"adapter"} and [e.run.seed for e in curve.ends] == list(SEEDS)


def test_the_paper_profile_tunes_two_initialisations_from_each_of_the_users_pre_training_checkpoints():
    q2 = PAPER["q2_pretrain"]
    expected = {"full fine-tuning": (5000, 6250, 7500, 8750), "adapters": (5000, 7500, 10000, 15000)}
    for group, paths in q2.groups.items():
        assert [p.ends[0].run.model for p in paths] == [f"RoBERTa_model/checkpoint/ckpt_{s}" for s in expected[group]]
        for path in paths:
            (a, _), (b, _) = ends(path)
            assert a.track == "encoder" and a.task == "glue-mnli" and differing(a, b) == {"seed"}
            assert a.steps == 50000 and a.schedule == "linear" and a.warmup == 0.0  # the original's configs


def test_the_paper_profile_evaluates_mnli_and_sst2_along_each_boundary_line():
    boundary = PAPER["q2_boundary"]
    assert set(boundary.groups) == {"evaluated on glue-mnli", "evaluated on glue-sst2"}
    for task, paths in boundary.groups.items():
        assert [p.ends[0].run.model.rsplit("_", 1)[1] for p in paths] == ["15000", "30000", "45000", "60000"]
        for path in paths:
            (a, _), (b, _) = ends(path)
            assert path.kind == "boundary" and (a.task, b.task) == ("glue-mnli", "glue-sst2")
            assert (a.steps, b.steps) == (50000, 15000) and path.task == task.split()[-1]


def test_the_paper_profile_joins_an_mnli_and_an_anli_run_with_cartography_on_both_tasks_training_examples():
    q3 = PAPER["q3_knowledge"]
    for paths in q3.groups.values():
        assert [p.task for p in paths] == ["glue-mnli", "anli"] and {p.split for p in paths} == {"train"}
        for path in paths:
            (a, _), (b, _) = ends(path)
            assert a.cartography and b.cartography and (a.task, b.task) == ("glue-mnli", "anli")
            assert a.train_examples == b.train_examples == 10000


def test_the_distance_question_uses_only_same_task_lines():
    for path in PAPER["own_distance"].paths():
        assert path.ends[0].run.task == path.ends[1].run.task and path.kind == "line"


def test_every_run_is_planned_once_under_its_own_name():
    for name in PROFILES:
        runs = runs_of(plan(PROFILES[name]))
        assert len({r.name for r in runs}) == len(runs)
