"""The point records of an interpolation sweep: one validated record per evaluated point.

A point record is `{"x": round(x, 3), "splits": {split: {"performance", "loss", "scores"}}}` where split is "dev",
"test" or "train" (the latter when the sweep runs on training data, `itp_on_train`); `scores` holds the
per-example scores. Model-independent (no torch).
"""

from __future__ import annotations

import math

__all__ = ["SPLITS", "SPLIT_FIELDS", "finite", "normalize_records", "point_record", "series"]

SPLITS = ("dev", "test", "train")
SPLIT_FIELDS = ("performance", "loss", "scores")
# per example, when the evaluation gives them: the prediction (a label index or the answer text) and the predicted
# distribution over the labels (what the functional distance along a path compares, module/functional.py)
OPTIONAL_FIELDS = ("predictions", "probs")


def finite(value: object, what: str) -> float:
    """`value` as a finite float; ValueError naming `what` otherwise."""
    try:
        out = float(value)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{what} must be a number, got {value!r}") from exc
    if not math.isfinite(out):
        raise ValueError(f"{what} must be finite, got {out}")
    return out


def point_record(x: float, splits: dict[str, dict]) -> dict:
    """Validated record of one sweep point: {"x": round(x, 3), "splits": {split: {performance, loss, scores}}}."""
    x = round(finite(x, "x"), 3)
    if not isinstance(splits, dict) or not splits:
        raise ValueError(f"point x={x}: splits must be a non-empty dict")
    out = {}
    for split, values in splits.items():
        if split not in SPLITS:
            raise ValueError(f"point x={x}: unknown split {split!r} (expected one of {SPLITS})")
        if not isinstance(values, dict) or not set(SPLIT_FIELDS) <= set(values) <= {*SPLIT_FIELDS, *OPTIONAL_FIELDS}:
            got = sorted(values) if isinstance(values, dict) else type(values).__name__
            raise ValueError(f"point x={x}, split {split!r}: expected keys {list(SPLIT_FIELDS)} (and optionally "
                             f"{list(OPTIONAL_FIELDS)}), got {got}")
        out[split] = {
            "performance": finite(values["performance"], f"x={x} {split} performance"),
            "loss": finite(values["loss"], f"x={x} {split} loss"),
            "scores": [finite(s, f"x={x} {split} score") for s in values["scores"]],
        }
        n = len(out[split]["scores"])
        if "predictions" in values:
            predictions = values["predictions"]
            if not isinstance(predictions, list) or len(predictions) != n or not all(
                    isinstance(p, (int, str)) and not isinstance(p, bool) for p in predictions):
                raise ValueError(f"point x={x}, split {split!r}: predictions must be {n} label indices or texts")
            out[split]["predictions"] = list(predictions)
        if "probs" in values:
            probs = values["probs"]
            if not isinstance(probs, list) or len(probs) != n or not all(isinstance(row, list) for row in probs):
                raise ValueError(f"point x={x}, split {split!r}: probs must be {n} distributions")
            out[split]["probs"] = [[finite(p, f"x={x} {split} probability") for p in row] for row in probs]
    return {"x": x, "splits": out}


def normalize_records(records: list[dict]) -> list[dict]:
    """Re-validate records, sort them by x and check that x is strictly increasing and splits are uniform."""
    if not records:
        raise ValueError("no point records")
    out = []
    for rec in records:
        if not isinstance(rec, dict) or set(rec) != {"x", "splits"}:
            raise ValueError(f"a point record must be {{'x': ..., 'splits': ...}}, got {rec!r}")
        out.append(point_record(rec["x"], rec["splits"]))
    out.sort(key=lambda r: r["x"])
    for prev, cur in zip(out, out[1:], strict=False):
        if cur["x"] == prev["x"]:
            raise ValueError(f"two points share x={cur['x']} (after rounding to 3 decimals)")
    first = set(out[0]["splits"])
    for rec in out:
        if set(rec["splits"]) != first:
            raise ValueError(
                f"every point must hold the same splits: x={out[0]['x']} has {sorted(first)}, "
                f"x={rec['x']} has {sorted(rec['splits'])}"
            )
    return out


def series(records: list[dict], split: str, field: str) -> list:
    """One field (performance, loss or scores) of one split at every point, in the records' order."""
    return [rec["splits"][split][field] for rec in records]
