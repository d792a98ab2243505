"""The report's rules (experiments/paper_rules.py) on numbers made up to sit on each side of every threshold: bootstrap
intervals of barriers, the connectivity call, the convergence rule, the rise point of a task boundary, and the order in
which a path forgets or learns training examples (module/knowledge_change.py)."""

from __future__ import annotations

import numpy as np
import pytest

from experiments import paper_rules as rules
from module.knowledge_change import event_groups, event_points, group_rows


def path_scores(accuracies: list[float], examples: int = 400, seed: int = 0) -> np.ndarray:
    """(points, examples) 0/1 scores with the given accuracy at each point; neighbouring points share most answers."""
    rng = np.random.default_rng(seed)
    order = rng.permutation(examples)
    return np.stack([(np.argsort(order) < round(a * examples)).astype(float) for a in accuracies])


def barrier_interval(accuracies: list[float], examples: int = 400) -> rules.Interval:
    scores = path_scores(accuracies, examples)
    xs = np.linspace(0, 1, len(accuracies))
    return rules.interval(rules.linear_barriers(xs, rules.resampled_curves(scores, rules.resample_weights(examples))))


def test_the_measured_barrier_is_the_sample_itself_and_lies_in_its_interval():
    accs = [0.8, 0.78, 0.6, 0.77, 0.8]
    b = barrier_interval(accs)
    assert b.value == pytest.approx(0.8 - 0.6)
    assert b.low <= b.value <= b.high and b.high - b.low > 0


@pytest.mark.parametrize("accuracies, expected", [
    ([0.80, 0.80, 0.80, 0.80, 0.80], rules.CONNECTED),  # flat: the interval is [0, 0]
    ([0.80, 0.60, 0.50, 0.60, 0.80], rules.BARRIER),  # a 30-point dip on 400 examples
    ([0.80, 0.78, 0.75, 0.78, 0.80], rules.UNCLEAR),  # a 5-point dip: its interval straddles the threshold
])
def test_the_call_follows_the_barriers_interval(accuracies, expected):
    assert rules.call(barrier_interval(accuracies)) == expected


def test_a_small_evaluation_set_makes_a_middling_dip_unclear_where_a_large_one_decides():
    dip = [0.80, 0.74, 0.70, 0.74, 0.80]  # 10 points below the chord
    assert rules.call(barrier_interval(dip, examples=40)) == rules.UNCLEAR
    assert rules.call(barrier_interval(dip, examples=4000)) == rules.BARRIER


def test_the_dip_below_both_ends_ignores_a_smooth_change_between_levels():
    curves = np.array([[0.87, 0.86, 0.82, 0.78, 0.73], [0.87, 0.70, 0.50, 0.60, 0.73]])
    assert rules.dips_below_ends(curves).tolist() == pytest.approx([0.0, 0.23])


def test_the_rise_point_is_where_a_task_has_gone_half_of_its_way():
    xs = [0.0, 0.25, 0.5, 0.75, 1.0]
    early, late, falling = [0.5, 0.9, 0.9, 0.9, 0.9], [0.5, 0.5, 0.5, 0.7, 0.9], [0.9, 0.9, 0.5, 0.5, 0.5]
    assert rules.rise_points(xs, np.array([early, late, falling])).tolist() == pytest.approx([0.125, 0.75, 0.375])
    assert rules.rise_points(xs, np.array([[0.6] * 5])).tolist() == [1.0]  # no change: never


def test_sign_of_an_interval():
    assert rules.sign_of(rules.Interval(0.1, 0.02, 0.2)) == 1
    assert rules.sign_of(rules.Interval(-0.1, -0.2, -0.01)) == -1
    assert rules.sign_of(rules.Interval(0.1, -0.02, 0.2)) == 0


def history(accuracies: list[float], losses: list[float], every: int = 10) -> tuple[list, list]:
    dev = [(every * (k + 1), a) for k, a in enumerate(accuracies)]
    train = [(every * (k + 1), v) for k, v in enumerate(losses)]
    return dev, train


@pytest.mark.parametrize("accuracies, losses, converged", [
    ([0.6, 0.75, 0.8, 0.82, 0.81, 0.83, 0.82, 0.81, 0.82, 0.82], [0.6, 0.5, 0.45] + [0.42] * 7, True),  # flat end
    ([0.5, 0.55, 0.6, 0.62, 0.64, 0.66, 0.68, 0.70, 0.72, 0.74], [0.6, 0.5, 0.45] + [0.42] * 7, False),  # rising
    ([0.6, 0.75, 0.8, 0.82, 0.81, 0.83, 0.82, 0.81, 0.82, 0.82],
     [0.6, 0.5, 0.45, 0.42, 0.42, 0.40, 0.40, 0.38, 0.30, 0.25], False),  # dev flat, training loss still falling
])
def test_the_convergence_rule(accuracies, losses, converged):
    dev, train = history(accuracies, losses)
    assert rules.convergence(dev, train, 100).converged is converged


def test_a_plateau_ending_on_a_noisy_uptick_has_converged_while_the_same_run_early_on_had_not():
    # the dev history of a full fine-tuning run of all-MiniLM-L6-v2 on rotten_tomatoes (500 examples, every 25 updates)
    accs = [.602, .724, .782, .82, .826, .816, .822, .808, .824, .824, .822, .84]
    dev, train = history(accs, [0.45] * 12, every=25)
    assert rules.convergence(dev, train, 300).converged  # flat since update 100; the last 0.84 is within noise
    assert not rules.convergence(dev, train, 100).converged and rules.convergence(dev, train, 200).converged


def test_a_memorised_small_training_set_whose_loss_halves_near_zero_has_converged():
    # an 8-epoch run on 1000 examples: dev flat from the first epoch, the training loss from 0.69 down to 0.06, then
    # 0.025 in the last fifth (5% of its whole fall); a run whose last fifth still falls from 0.6 to 0.25 has not
    dev = list(zip(range(25, 275, 25), [.602, .782, .798, .772, .8, .784, .776, .782, .786, .798], strict=True))
    for before, after, converged in ((0.06, 0.025, True), (0.6, 0.25, False)):
        train = [(s, 0.69 if s == 5 else before if s <= 200 else after) for s in range(5, 255, 5)]
        assert rules.convergence(dev, train, 250).converged is converged


def test_convergence_at_an_early_checkpoint_reads_only_the_history_up_to_it():
    dev, train = history([0.5, 0.6, 0.7, 0.8, 0.82, 0.82, 0.82, 0.82, 0.82, 0.82], [0.5] * 10)
    assert not rules.convergence(dev, train, 40).converged  # still rising at step 40
    assert rules.convergence(dev, train, 100).converged
    assert rules.convergence([], [], 100).dev_trend is None and not rules.convergence([], [], 100).converged
    flat, falling = [(10 * k, 0.4) for k in range(1, 11)], [(10 * k, 1.0 - 0.05 * k) for k in range(1, 11)]
    assert rules.convergence([], flat, 100).converged  # no dev evaluations (T5 cartography): the loss alone
    assert not rules.convergence([], falling, 100).converged
    near_zero = [(10 * k, 0.1 / k) for k in range(1, 11)]  # halving, but by less than 0.02: a memorised training set
    assert rules.convergence([], near_zero, 100).converged


@pytest.mark.parametrize("parts, expected", [
    (["reproduced", "reproduced"], "reproduced"),
    (["reproduced", "inconclusive at this scale"], "inconclusive at this scale"),
    (["reproduced", "not reproduced"], "not reproduced"),
    ([], "inconclusive at this scale"),
])
def test_combined_verdicts(parts, expected):
    assert rules.combine(parts) == expected


# ---------------------------------------------------------------------------------------- forgetting and learning
POINTS = [("0.0", ["3", "4"], ["0", "1", "2"]),  # x, zero_list (wrong), one_list (right)
          ("0.5", ["0", "4"], ["1", "2", "3"]),
          ("1.0", ["0", "1"], ["2", "3", "4"])]


def test_forgotten_examples_are_right_at_the_start_wrong_at_the_end_by_their_first_wrong_point():
    assert event_points(POINTS, "forgotten") == {"0": "0.5", "1": "1.0"}  # 2 stays right: never forgotten


def test_learned_examples_are_wrong_at_the_start_right_at_the_end_by_their_first_right_point():
    assert event_points(POINTS, "learned") == {"3": "0.5", "4": "1.0"}


def test_groups_are_nearly_equal_and_never_split_a_point():
    events = {str(i): x for i, x in enumerate(["a"] * 3 + ["b"] * 3 + ["c"] * 1 + ["d"] * 5)}
    groups = event_groups(events, ["a", "b", "c", "d"], 3)
    assert [len(g) for g in groups] == [3, 4, 5]
    assert {events[i] for i in groups[1]} == {"b", "c"}
    assert len(event_groups(events, ["a", "b", "c", "d"], 10)) == 4  # no more groups than points


def test_group_rows_average_each_groups_statistics():
    stats = {str(i): {"correctness": 1.0, "confidence": c, "variability": v, "turn": 0}
             for i, (c, v) in enumerate([(0.5, 0.3), (0.6, 0.2), (0.9, 0.1), (0.95, 0.05)])}
    events = {"0": "0.25", "1": "0.25", "2": "0.75", "3": "1.0"}
    rows = group_rows(events, stats, ["0.0", "0.25", "0.75", "1.0"], 2, "forgotten")
    assert [r["group"] for r in rows] == ["F1", "F2"] and [r["examples"] for r in rows] == [2, 2]
    assert rows[0]["confidence"] == pytest.approx(0.55) and rows[1]["variability"] == pytest.approx(0.075)
    assert (rows[0]["x_first"], rows[1]["x_last"]) == ("0.25", "1.0")


def test_rank_correlation_interval_excludes_zero_only_for_a_real_trend():
    rng = np.random.default_rng(0)
    order = np.repeat(np.arange(5), 40)
    trend = rules.rank_correlation(order, order + rng.normal(0, 1.0, len(order)), resamples=200)
    noise = rules.rank_correlation(order, rng.normal(0, 1.0, len(order)), resamples=200)
    assert rules.sign_of(trend) == 1 and rules.sign_of(noise) == 0
