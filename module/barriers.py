"""Barrier heights of a sweep: how much worse the path is than the endpoint mean, the endpoint line, any chord.

Positive means worse (a drop in the metric, a rise in the loss); `SIGN_CONVENTION` says so in summary.json.
"""

from __future__ import annotations

from collections.abc import Sequence

from module.point_records import finite

__all__ = ["SIGN_CONVENTION", "barriers"]

SIGN_CONVENTION = (
    "Barriers are positive when the path is worse than the reference: a drop in the metric or a rise in the loss. "
    "Each barrier is the maximum over all evaluated points, both endpoints included, so barrier_linear and "
    "barrier_subsegment are never negative (0 means no barrier) and barrier_endpoint_mean is at least half the "
    "gap between the two endpoint values."
)


def _hull_gaps(xs: list[float], vs: list[float]) -> list[float]:
    """Per point, how far it lies below the upper concave envelope of all points (0 on the envelope)."""
    hull: list[int] = []  # indices of the upper hull, left to right (monotone chain; xs are sorted)
    for k in range(len(xs)):
        while len(hull) >= 2:
            i, j = hull[-2], hull[-1]
            # drop j when it lies on or below the chord i -> k
            cross = (xs[j] - xs[i]) * (vs[k] - vs[i]) - (vs[j] - vs[i]) * (xs[k] - xs[i])
            if cross >= 0:
                hull.pop()
            else:
                break
        hull.append(k)
    gaps = [0.0] * len(xs)
    for a, b in zip(hull, hull[1:], strict=False):
        for k in range(a + 1, b):
            t = (xs[k] - xs[a]) / (xs[b] - xs[a])
            gaps[k] = ((1 - t) * vs[a] + t * vs[b]) - vs[k]
    return gaps


def barriers(xs: Sequence[float], values: Sequence[float], higher_is_better: bool) -> dict[str, float]:
    """Barrier heights of a sweep (positive = worse than the reference): endpoint-mean, linear and sub-segment.

    barrier_endpoint_mean: max over points of the deviation from the mean of the two endpoint values (Frankle et al.
    2020); barrier_linear: max deviation from the straight line joining the endpoint values (Entezari et al. 2022);
    barrier_subsegment: max over all pairs i < j and all i <= k <= j of the deviation of point k from the line
    joining points i and j (Juneja et al. 2023). "Deviation" is reference - value when higher is better and
    value - reference otherwise. The raw maxima are reported (no clamping); because the endpoints are among the
    points, barrier_linear and barrier_subsegment are >= 0, barrier_subsegment >= barrier_linear and
    barrier_endpoint_mean >= |v_first - v_last| / 2. The sub-segment maximum equals the largest gap below the upper
    concave envelope of the points, computed here in O(n) with a monotone-chain hull.
    """
    if len(xs) != len(values):
        raise ValueError(f"{len(xs)} x values but {len(values)} values")
    if len(xs) < 2:
        raise ValueError(f"barriers need at least 2 points, got {len(xs)}")
    xs = [finite(x, "x") for x in xs]
    sign = 1.0 if higher_is_better else -1.0
    vs = [sign * finite(v, "value") for v in values]  # oriented so that higher is better
    for a, b in zip(xs, xs[1:], strict=False):
        if not b > a:
            raise ValueError(f"xs must be strictly increasing, got {a} then {b}")
    v0, v1 = vs[0], vs[-1]
    mean_ref = (v0 + v1) / 2
    span = xs[-1] - xs[0]
    linear = []
    for x, v in zip(xs, vs, strict=True):
        t = (x - xs[0]) / span
        linear.append(((1 - t) * v0 + t * v1) - v)
    return {
        "barrier_endpoint_mean": max(mean_ref - v for v in vs),
        "barrier_linear": max(linear),
        "barrier_subsegment": max(_hull_gaps(xs, vs)),
    }
