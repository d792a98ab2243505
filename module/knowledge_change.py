"""When a path forgets or learns each training example, and what the examples' data maps say (model-independent).

The input is a sweep's per-point lists of examples answered wrongly / rightly (`zero_list` / `one_list` of an
`--itp_on_train` sweep's valid_data_analysis.json) and a run's cartography (per example and epoch: correctness and
gold-label probability). Leaving the source task's minimum (x = 0) towards the target task's (x = 1):

* *forgotten*: right at the first point and wrong at the last; its point is the first x where it is wrong;
* *learned*: wrong at the first point and right at the last; its point is the first x where it is right.

`event_groups` cuts the examples, in the order of their points, into N groups of nearly equal size without splitting
a point (the paper's F1..F5 and M1..M5); `group_rows` gives each group's mean statistics.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

ORDERS = ("forgotten", "learned")
GROUP_PREFIX = {"forgotten": "F", "learned": "M"}  # the paper's names: F1..F5 forgotten, M1..M5 learned
STATISTICS = ("correctness", "confidence", "variability", "turn")


def example_statistics(cartography: Mapping, source: str = "cartography") -> dict[str, dict]:
    """Per example index: correctness (mean acc), confidence (mean gold-label probability), variability (its
    population std over the epochs, ddof=0, as the original's np.std) and turn (epochs whose acc differs from the
    previous epoch's)."""
    if not isinstance(cartography, Mapping):
        raise ValueError(f"{source}: expected a JSON object of index -> {{'acc': [...], 'confidence': [...]}}")
    stats, epochs = {}, None
    for index, entry in cartography.items():
        if not isinstance(entry, Mapping):
            raise ValueError(f"{source}: entry {index!r} is not an object with 'acc' and 'confidence'")
        acc = _numbers(entry.get("acc"), f"{source}: entry {index!r} 'acc'")
        confidence = _numbers(entry.get("confidence"), f"{source}: entry {index!r} 'confidence'")
        epochs = len(acc) if epochs is None else epochs
        if len(acc) != epochs or len(confidence) != epochs:
            raise ValueError(f"{source}: entry {index!r} has {len(acc)} 'acc' and {len(confidence)} 'confidence' "
                             f"values, expected one per epoch ({epochs}, as the first entry)")
        stats[str(index)] = {
            "correctness": float(acc.mean()),
            "confidence": float(confidence.mean()),
            "variability": float(confidence.std()),
            "turn": int(np.count_nonzero(acc[1:] != acc[:-1])),
        }
    return stats


def _numbers(value, where: str) -> np.ndarray:
    ok = isinstance(value, list) and value and all(
        isinstance(v, int | float) and not isinstance(v, bool) and np.isfinite(v) for v in value)
    if not ok:
        raise ValueError(f"{where} must be a non-empty list of finite numbers")
    return np.asarray(value, dtype=np.float64)


def event_points(points: Sequence[tuple[str, Sequence[str], Sequence[str]]], order: str) -> dict[str, str]:
    """Per forgotten (or learned) example index, the point (its x as written) where that happens, from the points
    (x, zero_list, one_list) in path order."""
    if order not in ORDERS:
        raise ValueError(f"order must be one of {ORDERS}, got {order!r}")
    if len(points) < 2:
        raise ValueError(f"a path needs at least 2 points to forget or learn anything, got {len(points)}")
    start, end = (set(points[0][1 if order == "learned" else 2]), set(points[-1][2 if order == "learned" else 1]))
    changing = start & end  # right -> wrong (forgotten) or wrong -> right (learned), first to last point
    events: dict[str, str] = {}
    for x, zeros, ones in points[1:]:
        reached = set(ones if order == "learned" else zeros)
        for index in changing & reached:
            events.setdefault(index, x)
    return events


def event_groups(events: Mapping[str, str], xs: Sequence[str], groups: int) -> list[list[str]]:
    """The examples of `events` in `groups` consecutive groups by the order of their points (`xs`, path order): a
    group ends at the point boundary nearest to each k/groups of the examples, so groups are nearly equal in size and
    one point's examples are never split (fewer groups when boundaries coincide)."""
    if groups < 1:
        raise ValueError(f"groups must be at least 1, got {groups}")
    rank = {x: k for k, x in enumerate(xs)}
    by_point: dict[str, list[str]] = {}
    for index in sorted(events, key=lambda i: (rank[events[i]], len(i), i)):
        by_point.setdefault(events[index], []).append(index)
    blocks = [by_point[x] for x in sorted(by_point, key=rank.__getitem__)]
    cumulative = np.cumsum([len(b) for b in blocks]).tolist()
    cuts = sorted({min(range(len(blocks)), key=lambda j: (abs(cumulative[j] - k * len(events) / groups), j))
                   for k in range(1, groups)} | {len(blocks) - 1}) if blocks else []
    out, start = [], 0
    for cut in cuts:
        out.append([i for block in blocks[start:cut + 1] for i in block])
        start = cut + 1
    return out


def group_rows(events: Mapping[str, str], stats: Mapping[str, Mapping], xs: Sequence[str], groups: int,
               order: str) -> list[dict]:
    """One row per group: its name (F1.. / M1..), size, first and last point, and its examples' mean statistics."""
    rows = []
    for k, members in enumerate(event_groups(events, xs, groups), start=1):
        missing = [i for i in members if i not in stats]
        if missing:
            raise ValueError(f"example {missing[0]} of the analysis is not in the cartography")
        points = sorted({events[i] for i in members}, key=list(xs).index)
        rows.append({"group": f"{GROUP_PREFIX[order]}{k}", "examples": len(members), "x_first": points[0],
                     "x_last": points[-1], **{s: float(np.mean([stats[i][s] for i in members])) for s in STATISTICS}})
    return rows
