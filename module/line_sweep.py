"""The straight-line sweep overlaid on a curve's figure: read from a sweep's result.csv, matched to the curve.

A curve's folder may hold the straight-line sweep between the same endpoints in `line/` (`LINE_FOLDER`), or the
caller names one (a --line_result flag); `find_line_sweep` checks that it fits the curve (same metric, same
endpoint files by content, flipped when swept from θ2 to θ1).
"""

from __future__ import annotations

import json
import warnings
from dataclasses import dataclass
from pathlib import Path

from module.files import read_csv

__all__ = ["LINE_FOLDER", "LineSweep", "find_line_sweep", "read_line_sweep"]

LINE_FOLDER = "line"  # a straight-line sweep inside a curve's folder, overlaid on the curve's figure


@dataclass(frozen=True)
class LineSweep:
    """A straight-line sweep read from its result.csv: x, and per split performance and loss."""

    xs: list[float]
    performance: dict[str, list[float]]
    loss: dict[str, list[float]]
    metric: str
    source: Path


def _sweep_settings(folder: Path) -> dict | None:
    try:
        return json.loads((folder / "sweep.json").read_text())
    except (OSError, ValueError):
        return None


def _endpoint_contents(settings: dict | None) -> list | None:
    endpoints = (settings or {}).get("endpoints")
    if not isinstance(endpoints, list) or len(endpoints) < 2:
        return None
    return [e.get("files") if isinstance(e, dict) else None for e in endpoints[:2]]


def read_line_sweep(path: str | Path) -> LineSweep:
    """Read a sweep's result.csv (`path` is the file or its folder); its `dev` columns count as the train split
    when the folder's sweep.json says itp_on_train. Raises ValueError when there is nothing readable."""
    path = Path(path)
    csv_path = path / "result.csv" if path.is_dir() else path
    if not csv_path.is_file():
        raise ValueError(f"{csv_path}: no straight-line sweep result here (expected a result.csv or its folder)")
    try:
        rows = [r for r in read_csv(csv_path) if r.get("prefix") != "average"]
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"{csv_path}: cannot read it ({exc})") from exc
    needed = {"metric", "x", "dev_performance", "dev_loss", "test_performance", "test_loss"}
    if not rows or not needed <= set(rows[0]):
        raise ValueError(f"{csv_path}: not a sweep's result.csv (needs the columns {sorted(needed)} and a row)")
    primary = "train" if (_sweep_settings(csv_path.parent) or {}).get("itp_on_train") else "dev"
    try:
        xs = [float(r["x"]) for r in rows]
        performance, loss = {}, {}
        for column, split in (("dev", primary), ("test", "test")):
            if all(r[f"{column}_performance"] for r in rows):
                performance[split] = [float(r[f"{column}_performance"]) for r in rows]
                loss[split] = [float(r[f"{column}_loss"]) for r in rows]
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{csv_path}: a number column holds a non-number ({exc})") from exc
    if not performance:
        raise ValueError(f"{csv_path}: no split has values in every row")
    return LineSweep(xs, performance, loss, rows[0]["metric"], csv_path)


def find_line_sweep(curve_dir: str | Path, given: str | Path | None = None, metric: str | None = None
                    ) -> LineSweep | None:
    """The straight-line sweep to overlay on a curve's figure: `given` (a result.csv or its folder, e.g. from a
    --line_result flag), else `<curve_dir>/line/result.csv` when it exists, else None.

    The line must have the curve's metric and, when both folders hold a sweep.json, the same two endpoint files
    (by content; a line swept from θ2 to θ1 is flipped). A `given` line that does not fit raises ValueError;
    a found one that does not fit is skipped with a warning.
    """
    curve_dir = Path(curve_dir)
    source = Path(given) if given is not None else curve_dir / LINE_FOLDER / "result.csv"
    if given is None and not source.is_file():
        return None
    try:
        line = read_line_sweep(source)
        if metric is not None and line.metric != metric:
            raise ValueError(f"{line.source}: the straight line was scored with {line.metric}, the curve with {metric}")
        ours = _endpoint_contents(_sweep_settings(curve_dir))
        theirs = _endpoint_contents(_sweep_settings(line.source.parent))
        if ours and theirs and ours != theirs:
            if ours == theirs[::-1]:
                return LineSweep([round(1.0 - x, 3) for x in reversed(line.xs)],
                                 {s: v[::-1] for s, v in line.performance.items()},
                                 {s: v[::-1] for s, v in line.loss.items()}, line.metric, line.source)
            raise ValueError(f"{line.source}: the straight line joins other endpoints than the curve in {curve_dir}")
    except ValueError as exc:
        if given is not None:
            raise
        warnings.warn(f"not overlaying the straight line: {exc}", stacklevel=2)
        return None
    return line
