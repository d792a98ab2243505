"""The y axis of a sweep figure: the bounds a metric can take and limits that show every value with a margin.

Bounded metrics keep their axis inside the bounds (no negative accuracy) and a flat curve stays flat (a minimum
y span). Plain numbers, no matplotlib.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence

__all__ = ["MIN_SPAN", "metric_bounds", "y_limits"]

UNIT_METRICS = {"acc", "accuracy", "em", "exact", "exact_match", "qa-f1", "f1", "classification-f1", "macro-f1",
                "rouge-l", "rouge", "rougel", "bleu", "precision", "recall"}
CORRELATION_METRICS = {"matthew-correlation", "pearson-correlation", "mcc", "pearson", "spearman", "correlation"}
MIN_SPAN = 0.05  # the smallest y span of a [0, 1] metric (5 on a percent scale)


def metric_bounds(metric: str, values: Sequence[float]) -> tuple[float | None, float | None, float]:
    """(lowest possible, highest possible, minimum y span) of a metric's axis, given the plotted values.

    Accuracy, EM, F1 and ROUGE lie in [0, 1] (or [0, 100] when a value exceeds 1) with a minimum span of 0.05
    (5); correlations in [-1, 1] (or [-100, 100]); a loss is >= 0 with a span of at least 0.05 and a tenth of its
    largest value; any other metric is unbounded with a span of at least 0.05.
    """
    name = metric.strip().lower()
    tokens = {name} | set(re.split(r"[^a-z0-9-]+", name)) | set(re.split(r"[^a-z0-9]+", name))
    top = max((abs(v) for v in values), default=0.0)
    percent = top > 1.0 + 1e-9
    scale = 100.0 if percent else 1.0
    if "loss" in tokens:
        return 0.0, None, max(MIN_SPAN, 0.1 * top)
    if tokens & CORRELATION_METRICS:
        return -scale, scale, MIN_SPAN * scale
    if tokens & UNIT_METRICS or any(t.endswith(("accuracy", "f1")) for t in tokens):
        return 0.0, scale, MIN_SPAN * scale
    return None, None, MIN_SPAN


def y_limits(values: Sequence[float], low: float | None, high: float | None, min_span: float,
             pad: float = 0.08, pad_low: float | None = None, pad_high: float | None = None) -> tuple[float, float]:
    """Axis limits showing every value with a margin (`pad` of the span, or `pad_low` / `pad_high` below /
    above), at least `min_span` wide, and never beyond [low, high]."""
    values = [v for v in values if math.isfinite(v)]
    if not values:
        raise ValueError("no finite values to set y limits from")
    lo, hi = min(values), max(values)
    span = max(hi - lo, min_span)
    if low is not None and high is not None:
        span = min(span, high - low)
    mid = (lo + hi) / 2
    a = mid - span / 2 - (pad if pad_low is None else pad_low) * span
    b = mid + span / 2 + (pad if pad_high is None else pad_high) * span
    if low is not None and a < low:
        a, b = low, b + (low - a)
    if high is not None and b > high:
        a, b = a - (b - high), high
    if low is not None:
        a = max(a, low)
    return a, b
