"""Tests for module/barriers.py: endpoint-mean, linear and sub-segment barriers, their signs and their errors."""

import itertools
import random

import pytest

from module.barriers import barriers


def test_barriers_simple_dip():
    b = barriers([0, 0.5, 1], [0.8, 0.5, 0.6], higher_is_better=True)
    # endpoint mean 0.7, worst 0.5; line at 0.5 is 0.7; the only chord over x=0.5 is the endpoint one
    assert b["barrier_endpoint_mean"] == pytest.approx(0.2)
    assert b["barrier_linear"] == pytest.approx(0.2)
    assert b["barrier_subsegment"] == pytest.approx(0.2)


def test_barriers_dip_inside_a_subsegment():
    # rising path, every interior point above the endpoint line (interior gaps -0.275, -0.1, -0.075),
    # but x=0.5 (0.85) dips under the chord (0.25, 0.9)-(1, 1.0), which is 0.9 + 0.1/3 there
    xs = [0, 0.25, 0.5, 0.75, 1]
    acc = [0.5, 0.9, 0.85, 0.95, 1.0]
    b = barriers(xs, acc, higher_is_better=True)
    assert b["barrier_linear"] == 0.0  # only the endpoints reach the max (exactly 0); no linear barrier
    assert b["barrier_endpoint_mean"] == pytest.approx(0.25)  # mean 0.75, first point 0.5: half the endpoint gap
    assert b["barrier_subsegment"] == pytest.approx(0.9 + 0.1 / 3 - 0.85)  # 0.08333
    assert b["barrier_subsegment"] > 0 > max((0.5 + 0.5 * x) - a for x, a in zip(xs[1:-1], acc[1:-1], strict=True))


def test_barriers_loss_sign():
    up = barriers([0, 0.5, 1], [1.0, 2.0, 0.5], higher_is_better=False)  # loss rises mid-path: positive
    assert up["barrier_endpoint_mean"] == pytest.approx(2.0 - 0.75)
    assert up["barrier_linear"] == pytest.approx(2.0 - 0.75)
    assert up["barrier_subsegment"] == pytest.approx(1.25)
    down = barriers([0, 0.5, 1], [1.0, 0.2, 0.6], higher_is_better=False)  # loss falls mid-path: no barrier
    assert down["barrier_endpoint_mean"] == pytest.approx(1.0 - 0.8)  # deviation at x=0 (1.0 vs mean 0.8)
    assert down["barrier_linear"] == 0.0
    assert down["barrier_subsegment"] == 0.0
    # the same numbers read as a metric: the mid-path drop is a barrier
    assert barriers([0, 0.5, 1], [1.0, 0.2, 0.6], higher_is_better=True)["barrier_linear"] == pytest.approx(0.6)


def test_barriers_two_points_and_uneven_xs():
    b = barriers([0.0, 1.0], [0.9, 0.7], higher_is_better=True)
    assert b == {"barrier_endpoint_mean": pytest.approx(0.1), "barrier_linear": 0.0, "barrier_subsegment": 0.0}
    # uneven spacing: line from (0, 0) to (1, 1) is 0.1 at x=0.1, point is -0.2 -> gap 0.3
    assert barriers([0, 0.1, 1], [0, -0.2, 1], True)["barrier_linear"] == pytest.approx(0.3)


def _brute_subsegment(xs, vs):
    best = -float("inf")
    for i, j in itertools.combinations(range(len(xs)), 2):
        for k in range(i, j + 1):
            t = (xs[k] - xs[i]) / (xs[j] - xs[i])
            best = max(best, (1 - t) * vs[i] + t * vs[j] - vs[k])
    return best


def test_subsegment_matches_brute_force_definition():
    rng = random.Random(0)
    for trial in range(200):
        n = rng.randint(2, 12)
        xs = sorted(rng.sample(range(1000), n))
        xs = [x / 1000 for x in xs]
        vs = [rng.choice([rng.random(), round(rng.random(), 1)]) for _ in range(n)]  # ties and collinear points too
        for hib in (True, False):
            b = barriers(xs, vs, hib)
            oriented = vs if hib else [-v for v in vs]
            assert b["barrier_subsegment"] == pytest.approx(_brute_subsegment(xs, oriented), abs=1e-12), trial
            assert b["barrier_subsegment"] >= b["barrier_linear"] - 1e-12 >= -1e-12


@pytest.mark.parametrize(
    ("xs", "vs", "match"),
    [
        ([0.0], [1.0], "at least 2"),
        ([], [], "at least 2"),
        ([0, 0.5, 0.5], [1, 2, 3], "strictly increasing"),
        ([0, 1, 0.5], [1, 2, 3], "strictly increasing"),
        ([0, 1], [1], "values"),
        ([0, 1], [1, float("nan")], "finite"),
    ],
)
def test_barriers_errors(xs, vs, match):
    with pytest.raises(ValueError, match=match):
        barriers(xs, vs, True)
