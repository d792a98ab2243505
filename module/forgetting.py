"""Per-example changes along a sweep: which examples are scored 0 / 1 at each point and which went up or down.

The *_data_analysis.json lists (`forgetting_lists`) and the counts of data_analyze.txt (`walk`). At the first
point the previous scores count as zeros, as in the original code.
"""

from __future__ import annotations

from module.point_records import normalize_records

__all__ = ["forgetting_lists", "walk"]


def _changes(prev: list[float] | None, cur: list[float]) -> dict[str, list[int]]:
    """Example indices scored 0 / 1 at this point, and those that went up / reached 1 / went down / dropped to 0.

    At the first point (`prev` None) the previous scores are zeros, as in the original: up_list holds every
    example scored above 0 and up_to_one every example scored 1.
    """
    if prev is None:
        prev = [0.0] * len(cur)
    if len(prev) != len(cur):
        raise ValueError(f"per-example scores change length along the path: {len(prev)} then {len(cur)}")
    pairs = list(enumerate(zip(prev, cur, strict=True)))
    return {
        "zero_list": [i for i, s in enumerate(cur) if s == 0],
        "one_list": [i for i, s in enumerate(cur) if s == 1],
        "up_list": [i for i, (p, s) in pairs if s > p],
        "up_to_one": [i for i, (p, s) in pairs if s == 1 and p < 1],
        "down_list": [i for i, (p, s) in pairs if s < p],
        "down_to_zero": [i for i, (p, s) in pairs if s == 0 and p > 0],
    }


def walk(records: list[dict], split: str) -> list[tuple[float, int, dict[str, list[int]]]]:
    """(x, number of examples, changes vs the previous point) for every point of `split` of sorted records."""
    out = []
    prev = None
    for rec in records:
        cur = rec["splits"][split]["scores"]
        out.append((rec["x"], len(cur), _changes(prev, cur)))
        prev = cur
    return out


def forgetting_lists(records: list[dict], split: str, *, changes: bool = True) -> dict[str, dict[str, list[int]]]:
    """The *_data_analysis.json content: {str(x): {zero_list, one_list, up_list, down_list}} for one split.

    At the first point the previous scores count as zeros (the original's rule), so up_list holds every example
    scored above 0 and down_list is empty. With changes=False (the itp_on_train layout) only zero_list and
    one_list are kept.
    """
    records = normalize_records(records)
    if split not in records[0]["splits"]:
        raise ValueError(f"split {split!r} is not in the records (have {sorted(records[0]['splits'])})")
    keys = ("zero_list", "one_list", "up_list", "down_list") if changes else ("zero_list", "one_list")
    return {str(x): {k: lists[k] for k in keys} for x, _, lists in walk(records, split)}
