"""Functional distance along a path: barriers alone hide models that agree in accuracy but not in predictions. For
every point x, per split: the fraction of examples whose prediction differs from the first endpoint's (x = 0) and
from the second's (x = 1), and, where the evaluation gives predicted distributions over the labels (classifiers,
causal LMs by rank classification), the mean KL divergence KL(p_end ‖ p_x) of each endpoint's distribution from the
point's.

Files beside a sweep's (its result.csv keeps its columns): `functional.csv` (one row per x), the key
`functional_distance` of `summary.json` (per split: the point farthest from both endpoints and the values at the
midpoint) and `functional.png`.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

from module.files import atomic_write_csv, atomic_write_json

CSV_FILE, FIGURE_FILE, SUMMARY_KEY = "functional.csv", "functional.png", "functional_distance"
EPS = 1e-12


def kl(p: list[float], q: list[float]) -> float:
    """KL(p ‖ q) of two distributions over the same labels (q floored at 1e-12)."""
    return sum(a * math.log(a / max(b, EPS)) for a, b in zip(p, q, strict=True) if a > 0)


def functional_rows(records: list[dict]) -> dict[str, list[dict]]:
    """Per split whose every point has predictions: per point, x and the disagreement with (and, with distributions,
    the KL divergence from) each endpoint."""
    out = {}
    first, last = records[0], records[-1]
    for split in first["splits"]:
        if not all("predictions" in r["splits"].get(split, {}) for r in records):
            continue
        with_probs = all("probs" in r["splits"][split] for r in records)
        ends = [first["splits"][split], last["splits"][split]]
        rows = []
        for r in records:
            here = r["splits"][split]
            n = max(len(here["predictions"]), 1)
            row = {"x": r["x"]}
            for name, end in zip(("x0", "x1"), ends, strict=True):
                row[f"disagree_{name}"] = sum(a != b for a, b in zip(end["predictions"], here["predictions"],
                                                                     strict=True)) / n
                if with_probs:
                    row[f"kl_{name}"] = sum(kl(p, q) for p, q in zip(end["probs"], here["probs"], strict=True)) / n
            rows.append(row)
        out[split] = rows
    return out


def write_functional(out_dir: str | Path, records: list[dict]) -> bool:
    """functional.csv, summary.json's key and functional.png of a finished path; False when no split has
    predictions (points from an evaluation that gives none, or from before it did)."""
    out_dir = Path(out_dir)
    per_split = functional_rows(records)
    if not per_split:
        return False
    fields = ["disagree_x0", "disagree_x1", "kl_x0", "kl_x1"]
    header = ["x", *(f"{split}_{f}" for split, rows in per_split.items() for f in fields if f in rows[0])]
    table = []
    for k, record in enumerate(records):
        table.append([f"{record['x']:.3f}", *(f"{rows[k][f]:.6f}" for rows in per_split.values() for f in fields
                                              if f in rows[0])])
    atomic_write_csv(out_dir / CSV_FILE, header, table)
    summary_path = out_dir / "summary.json"
    if summary_path.is_file():
        summary = json.loads(summary_path.read_text())
        summary[SUMMARY_KEY] = {split: summarise(rows) for split, rows in per_split.items()}
        atomic_write_json(summary_path, summary)
    functional_figure(out_dir, per_split)
    return True


def summarise(rows: list[dict]) -> dict:
    """The point farthest from both endpoints (by the smaller disagreement) and the values nearest the midpoint."""
    far = max(rows, key=lambda r: min(r["disagree_x0"], r["disagree_x1"]))
    middle = min(rows, key=lambda r: abs(r["x"] - 0.5))
    return {"farthest_from_both": far, "midpoint": middle}


def functional_figure(out_dir: Path, per_split: dict[str, list[dict]]) -> Path:
    """Disagreement with each endpoint along x (and the KL divergence, when there are distributions), per split."""
    from module.figure_parts import new_figure, save_png

    with_kl = any("kl_x0" in rows[0] for rows in per_split.values())
    fig = new_figure(5.2 * (2 if with_kl else 1) + 0.6, 3.6 * len(per_split) + 0.6)
    axes = fig.subplots(len(per_split), 2 if with_kl else 1, squeeze=False)
    for row, (split, rows) in enumerate(per_split.items()):
        xs = [r["x"] for r in rows]
        panels = [("disagree", "examples predicted differently", "fraction of examples")]
        if with_kl:
            panels.append(("kl", "KL(p_endpoint ‖ p_x), mean over examples", "nats"))
        for col, (key, title, unit) in enumerate(panels):
            ax = axes[row][col]
            ax.plot(xs, [r[f"{key}_x0"] for r in rows], "-o", ms=3, color="#2e86c1", label="against x = 0 (θA)")
            ax.plot(xs, [r[f"{key}_x1"] for r in rows], "-s", ms=3, color="#c0392b", label="against x = 1 (θB)")
            ax.set_xlabel("x (0 = θA, 1 = θB)", fontsize=8)
            ax.set_ylabel(unit, fontsize=8)
            ax.set_title(f"{split}: {title}", fontsize=9)
            ax.grid(color="#eeeeee")
            ax.legend(fontsize=7)
    fig.suptitle("Functional distance along the path:\nhow far each point's predictions are from each endpoint's",
                 fontsize=10)
    return save_png(fig, out_dir / FIGURE_FILE)
