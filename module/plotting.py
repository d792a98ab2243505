"""Headless PNG plots of interpolation sweeps, each saved atomically (temporary file in the same folder, then rename).

matplotlib is imported inside the functions and only through its object API (`matplotlib.figure.Figure`), so no
display is needed and the pyplot backend of a calling program (a notebook, say) is left untouched.

A sweep figure says on its own what it shows: the title names the two endpoints, the path kind (straight line,
Bezier / PolyChain curve with its bends, task boundary with the task each end was trained on) and the split(s); the
x axis says what 0 and 1 are. Each split's endpoint values are joined by a dashed line (the reference of
`barrier_linear`), its worst point is marked with its value, and a dotted majority-class line is drawn where the
caller gives one (`PathInfo.majority`, see `majority_fraction`). Bounded metrics keep their axis inside the bounds
(no negative accuracy) and a flat curve stays flat (a minimum y span). A curve's figure can overlay the straight
line between the same endpoints (`find_line_sweep`).
"""

from __future__ import annotations

import json
import math
import re
import warnings
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from module.files import atomic_target, read_csv

__all__ = [
    "DPI",
    "LINE_FOLDER",
    "LineSweep",
    "PathInfo",
    "endpoint_names",
    "find_line_sweep",
    "majority_fraction",
    "metric_bounds",
    "overlay_figure",
    "plot_overlay",
    "plot_sweep",
    "read_line_sweep",
    "sweep_figure",
    "y_limits",
]

DPI = 120
LINE_FOLDER = "line"  # a straight-line sweep inside a curve's folder, overlaid on the curve's figure
PATH_KINDS = {"line": "straight line", "bezier": "Bezier curve", "polychain": "PolyChain curve", "path": "path"}
SPLIT_COLORS = {"dev": "C0", "test": "C1", "train": "C2"}
UNIT_METRICS = {"acc", "accuracy", "em", "exact", "exact_match", "qa-f1", "f1", "classification-f1", "macro-f1",
                "rouge-l", "rouge", "rougel", "bleu", "precision", "recall"}
CORRELATION_METRICS = {"matthew-correlation", "pearson-correlation", "mcc", "pearson", "spearman", "correlation"}
ACCURACY_METRICS = {"acc", "accuracy", "em", "exact_match"}
MIN_SPAN = 0.05  # the smallest y span of a [0, 1] metric (5 on a percent scale)
MAX_CLASSES = 20  # more distinct answers than this: not a classification task (no majority line)


# ------------------------------------------------------------------------------------------ what is plotted


def _short(name: str, limit: int = 36) -> str:
    return name if len(name) <= limit else "…" + name[-(limit - 1):]


_SEED = re.compile(r"seed[_-]?(\d+)", re.IGNORECASE)


def endpoint_names(path1: str | Path, path2: str | Path) -> tuple[str, str]:
    """Short names telling two endpoint paths apart: `seed 20` / `seed 30` when they differ only in the seed,
    else the path components where they differ (`lr_0.001_seed_20` / `lr_0.0005_seed_20`), shortened."""
    a, b = Path(path1).parts, Path(path2).parts
    if a == b:
        return _short(str(path1)), _short(str(path2))
    n = min(len(a), len(b))
    i = 0
    while i < n - 1 and a[i] == b[i]:
        i += 1
    j = 0
    while j < n - i - 1 and a[-1 - j] == b[-1 - j]:
        j += 1
    da, db = "/".join(a[i:len(a) - j]), "/".join(b[i:len(b) - j])
    seeds_a, seeds_b = set(_SEED.findall(da)), set(_SEED.findall(db))
    if len(seeds_a) == 1 and len(seeds_b) == 1:
        sa, sb = seeds_a.pop(), seeds_b.pop()
        if _without_seed(da, sa) == _without_seed(db, sb):
            return f"seed {sa}", f"seed {sb}"
    return _short(da), _short(db)


def _without_seed(text: str, seed: str) -> str:
    """`text` with its seed (`seed_20`, `seed20`, or the bare number `20` as a whole component) blanked out."""
    return re.sub(rf"(?<![\w.]){seed}(?![\w.])", "#", _SEED.sub("seed#", text))


@dataclass(frozen=True)
class PathInfo:
    """What a sweep figure shows, given by the calling script.

    start / end: names of the endpoints θ(0) and θ(1) (`PathInfo.from_paths` derives them from two paths);
    kind: "line" (straight line), "bezier" or "polychain" (a curve with `bends` bends), or "path" (unknown);
    start_task / end_task: the task each endpoint was trained on, for a task-boundary path (the sweep's prefix
    is the task evaluated); majority: {split: majority-class fraction} for classification tasks (None values
    are skipped; see `majority_fraction`); x_label: overrides the x axis label; line_result: for a curve, the
    result.csv (or its folder) of the straight-line sweep between the same endpoints, overlaid on the figure
    (otherwise `<curve folder>/line/result.csv` is used when present).
    """

    start: str = "θ1"
    end: str = "θ2"
    kind: str = "line"
    bends: int | None = None
    start_task: str | None = None
    end_task: str | None = None
    majority: Mapping[str, float | None] | None = None
    x_label: str | None = None
    line_result: str | Path | None = field(default=None, compare=False)

    def __post_init__(self):
        if self.kind not in PATH_KINDS:
            raise ValueError(f"PathInfo.kind must be one of {sorted(PATH_KINDS)}, got {self.kind!r}")
        if self.bends is not None and (not isinstance(self.bends, int) or self.bends < 1):
            raise ValueError(f"PathInfo.bends must be a positive integer, got {self.bends!r}")
        if self.bends is not None and not self.is_curve:
            raise ValueError(f"PathInfo.bends is for curves (kind bezier or polychain), not kind {self.kind!r}")
        if (self.start_task is None) != (self.end_task is None):
            raise ValueError("PathInfo: give both start_task and end_task (a task boundary), or neither")
        for split, value in (self.majority or {}).items():
            if value is not None and not (isinstance(value, int | float) and math.isfinite(value)):
                raise ValueError(f"PathInfo.majority[{split!r}] must be a finite number, got {value!r}")

    @classmethod
    def from_paths(cls, path1: str | Path, path2: str | Path, **kwargs) -> PathInfo:
        """A PathInfo whose endpoint names come from their paths (`endpoint_names`)."""
        start, end = endpoint_names(path1, path2)
        return cls(start=start, end=end, **kwargs)

    @property
    def is_curve(self) -> bool:
        return self.kind in ("bezier", "polychain")

    @property
    def is_task_boundary(self) -> bool:
        return self.start_task is not None and self.start_task != self.end_task

    def kind_text(self) -> str:
        """`straight line`, `Bezier curve (3 bends)`, `task boundary (straight line)`, ..."""
        text = PATH_KINDS[self.kind]
        if self.is_curve and self.bends is not None:
            text += f" ({self.bends} bend{'s' if self.bends != 1 else ''})"
        return f"task boundary ({text})" if self.is_task_boundary else text

    def ends(self) -> tuple[str, str]:
        """The endpoint names as the figure shows them (with the training task on a task boundary)."""
        if not self.is_task_boundary:
            return self.start, self.end
        return (f"{self.start_task}-trained ({self.start})" if self.start != "θ1" else f"{self.start_task}-trained",
                f"{self.end_task}-trained ({self.end})" if self.end != "θ2" else f"{self.end_task}-trained")

    def title(self, prefix: str, splits: Sequence[str]) -> str:
        """`toy dev/test: straight line, seed 20 → seed 30`, or for a task boundary
        `task boundary (straight line): snli-trained → rotten_tomatoes-trained, evaluated on snli dev`."""
        start, end = self.ends()
        where = " ".join(p for p in (prefix, "/".join(splits)) if p)
        if self.is_task_boundary:
            head = f"{self.kind_text()}: {start} → {end}"
            tail = f"evaluated on {where}" if where else ""
        else:
            head = f"{where}: {self.kind_text()}" if where else self.kind_text()
            tail = f"{start} → {end}"
        sep = ",\n" if len(head) + len(tail) > 90 else ", "
        return head + sep + tail if tail else head

    def xlabel(self) -> str:
        """What 0 and 1 are on the x axis: `x: 0 = seed 20, 1 = seed 30`, `t along the curve: 0 = ..., 1 = ...`."""
        if self.x_label:
            return self.x_label
        start, end = (f"{self.start_task}-trained", f"{self.end_task}-trained") if self.is_task_boundary \
            else (self.start, self.end)
        axis = "t along the curve" if self.is_curve else "x" if self.kind == "line" else "x along the path"
        return f"{axis}: 0 = {start}, 1 = {end}"


def majority_fraction(answers: Sequence, metric: str | None = None, max_classes: int = MAX_CLASSES) -> float | None:
    """The score of always answering the most frequent label: the share of examples that label answers.

    `answers` holds, per example, its gold answers (a list of strings, as `EncodedSplit.answers`) or one label
    (a string or an int, as an encoder task's label ids). Labels are compared stripped and lowercased, as ACC does.
    None when this is not a classification task (more than `max_classes` distinct answers, or no examples), or
    when `metric` is given and is not accuracy-like (ACC, EM): the majority class has another score under F1 or a
    correlation.
    """
    if metric is not None and metric.strip().lower() not in ACCURACY_METRICS:
        return None
    per_example = []
    for item in answers:
        labels = [item] if isinstance(item, str | int) else list(item)
        per_example.append({str(label).strip().lower() for label in labels})
    if not per_example:
        return None
    counts = Counter(label for labels in per_example for label in labels)
    if not counts or len(counts) > max_classes:
        return None
    return max(counts.values()) / len(per_example)


# ----------------------------------------------------------------------------------------------- y axis


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


# ------------------------------------------------------------------------------------ the straight-line sweep


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


# ------------------------------------------------------------------------------------------------ drawing


def _check_series(name: str, xs: Sequence[float], ys: Sequence[float]) -> None:
    if len(xs) == 0:
        raise ValueError(f"series {name!r} has no points")
    if len(xs) != len(ys):
        raise ValueError(f"series {name!r}: {len(xs)} x values but {len(ys)} y values")


def _save_png(fig, path: str | Path) -> Path:
    """Save `fig` as a PNG at `path` atomically (temporary `.png` beside it, synced, then renamed)."""
    import os

    with atomic_target(path, suffix=".png") as tmp, tmp.open("wb") as handle:
        fig.savefig(handle, format="png", dpi=DPI)
        handle.flush()
        os.fsync(handle.fileno())
    return Path(path)


def _new_figure(width: float, height: float):
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), layout="constrained")


def _wrap(text: str, width: int) -> str:
    """`text` broken after a comma (or else at spaces) into lines of at most about `width` characters."""
    import textwrap

    if len(text) <= width:
        return text
    head, sep, tail = text.partition(", ")
    if sep and len(head) < width and len(tail) < width:
        return f"{head},\n{tail}"
    return textwrap.fill(text, max(width, 20))


def _fmt(value: float) -> str:
    return f"{value:.1f}" if abs(value) >= 10 else f"{value:.3f}"


def _worst_index(ys: Sequence[float], higher_is_better: bool) -> int:
    """The first worst point, as summary.json's `worst` picks it."""
    return min(range(len(ys)), key=lambda k: ys[k] if higher_is_better else -ys[k])


@dataclass
class _Worst:
    x: float
    y: float
    text: str
    color: str
    down: bool  # the text's preferred side: below a worst minimum, above a worst maximum


def _draw_path(ax, xs, ys, color: str, label: str, higher_is_better: bool, worst_text: str | None,
               chord_label: str | None, chord: bool = True) -> _Worst | None:
    """One series: its values, the dashed chord joining its endpoint values and its marked worst point (labelled
    later, by `_label_worst`, once the y limits are known); returns the worst point unless `worst_text` is None."""
    xs, ys = [float(x) for x in xs], [float(y) for y in ys]
    ax.plot(xs, ys, marker="o", markersize=3, color=color, label=label, zorder=3, clip_on=False)
    if chord and len(xs) >= 2:
        ax.plot([xs[0], xs[-1]], [ys[0], ys[-1]], linestyle="--", linewidth=1.2, color=color, alpha=0.75,
                label=chord_label, gid="endpoint-chord", zorder=2)
    if worst_text is None:
        return None
    k = _worst_index(ys, higher_is_better)
    ax.plot([xs[k]], [ys[k]], linestyle="none", marker="v" if higher_is_better else "^", markersize=9,
            markerfacecolor=color, markeredgecolor="black", gid="worst-point", zorder=4, clip_on=False)
    return _Worst(xs[k], ys[k], f"{worst_text} {_fmt(ys[k])}", color, down=higher_is_better)


AXES_HEIGHT_PT = 220.0  # about the height of a panel of the 4.8-inch figures, for placing the worst labels
LABEL_STEP_PT, LABEL_GAP_PT, LABEL_HEIGHT_PT = 12.0, 12.0, 11.0


def _outward_pads(worsts: Sequence[_Worst], pad: float = 0.08) -> tuple[float, float]:
    """(pad_low, pad_high) of the y span leaving room for the worst points' labels on their preferred side."""
    pads = []
    for down in (True, False):
        n = sum(w.down == down for w in worsts)
        if not n:
            pads.append(pad)
            continue
        need = min(0.45, (LABEL_GAP_PT + LABEL_STEP_PT * (n - 1) + LABEL_HEIGHT_PT) / AXES_HEIGHT_PT + 0.01)
        pads.append(max(pad, need * (1 + pad) / (1 - need)))
    return pads[0], pads[1]


def _label_worst(ax, worsts: Sequence[_Worst], symbol: str) -> None:
    """Write each worst point's value (and where it is) at its x, on its preferred side: the labels of one side
    stack beyond that side's most extreme worst point (so none sits on another split's curve); a label with no
    room there goes on the other side of its own point."""
    (y0, y1), (x0, x1) = ax.get_ylim(), ax.get_xlim()

    def frac(y: float) -> float:
        return (y - y0) / ((y1 - y0) or 1.0)

    gap, step, height = (v / AXES_HEIGHT_PT for v in (LABEL_GAP_PT, LABEL_STEP_PT, LABEL_HEIGHT_PT))
    for down in (True, False):
        group = sorted((w for w in worsts if w.down == down), key=lambda w: w.y if down else -w.y)
        if not group:
            continue
        anchor = frac(group[0].y)
        slot = flipped = 0
        for w in group:
            offset = gap + step * slot
            side = down
            if (anchor if down else 1 - anchor) >= offset + height:
                pos = anchor - offset if down else anchor + offset
                slot += 1
            else:  # no room beyond the extreme: beside the point, on the other side (stacking there too)
                side = not down
                pos = frac(w.y) + (gap + step * flipped) * (1 if down else -1)
                flipped += 1
            rel = (w.x - x0) / ((x1 - x0) or 1.0)
            ha = "left" if rel < 0.2 else "right" if rel > 0.8 else "center"
            ax.annotate(f"{w.text} at {symbol}={w.x:.2f}", xy=(w.x, w.y), xytext=(w.x, pos),
                        textcoords=("data", "axes fraction"), ha=ha, va="top" if side else "bottom", fontsize=8,
                        color=w.color, gid="worst-label", zorder=6,
                        bbox={"boxstyle": "round,pad=0.15", "facecolor": "white", "edgecolor": "none", "alpha": 0.8})


def _finish_axis(ax, values: list[float], metric: str, xlabel: str, ylabel: str, title: str,
                 xs: Sequence[float], worsts: Sequence[_Worst], symbol: str) -> None:
    low, high, span = metric_bounds(metric, values)
    pad_low, pad_high = _outward_pads(worsts)
    ax.set_ylim(*y_limits(values, low, high, span, pad_low=pad_low, pad_high=pad_high))
    lo, hi = min(xs), max(xs)
    margin = 0.03 * ((hi - lo) or 1.0)
    ax.set_xlim(lo - margin, hi + margin)
    columns = ax.get_subplotspec().get_gridspec().ncols
    ax.set_xlabel(_wrap(xlabel, int(ax.figure.get_figwidth() * 72 / columns * 0.85 / 5.3)))  # ~5.3 pt a character
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title, fontsize=10)
    ax.grid(True, alpha=0.3)
    _label_worst(ax, worsts, symbol)


def _figure_legend(fig, axes) -> None:
    """One legend under the panels: the series first, then the reference lines (chord, straight line, majority)."""
    entries: dict[str, object] = {}
    for ax in axes:
        for handle, label in zip(*ax.get_legend_handles_labels(), strict=True):
            entries.setdefault(label, handle)
    order = sorted(entries, key=lambda label: getattr(entries[label], "get_gid", lambda: None)() is not None)
    if order:
        fig.legend([entries[k] for k in order], order, loc="outside lower center", ncol=_legend_columns(fig, order),
                   fontsize=8, frameon=False)


def _legend_columns(fig, labels: Sequence[str], limit: int = 5) -> int:
    """The most columns (at most `limit`) whose entries fit the figure's width (fontsize 8, filled by column)."""
    width_pt = fig.get_figwidth() * 72 - 20
    widths = [40 + 4.6 * len(label) for label in labels]
    for ncol in range(min(limit, len(labels)), 1, -1):
        rows = -(-len(labels) // ncol)
        columns = [widths[c * rows:(c + 1) * rows] for c in range(ncol)]
        if sum(max(col) for col in columns if col) <= width_pt:
            return ncol
    return 1


def sweep_figure(
    xs: Mapping[str, Sequence[float]],
    performance: Mapping[str, Sequence[float]],
    loss: Mapping[str, Sequence[float]],
    metric: str,
    *,
    prefix: str = "",
    info: PathInfo | None = None,
    line: LineSweep | None = None,
    title: str = "",
):
    """The sweep figure (a matplotlib Figure): metric and loss along the path, one colour per split.

    Per split and panel: the values, a dashed line joining the endpoint values (barrier_linear's reference) and
    the worst point, marked and labelled with its value; on the metric panel a dotted majority-class line per
    split in `info.majority`; with `line`, the straight-line sweep's values dash-dotted. The title is `title`, or
    says what `info` describes (endpoints, path kind) with `prefix` (the task) and the splits.
    """
    info = info or PathInfo()
    if not xs:
        raise ValueError("nothing to plot: no splits given")
    for split in xs:
        if split not in performance or split not in loss:
            raise ValueError(f"split {split!r} needs x, performance and loss values")
        _check_series(f"{split} performance", xs[split], performance[split])
        _check_series(f"{split} loss", xs[split], loss[split])
    splits = list(xs)
    colors = {s: SPLIT_COLORS.get(s, f"C{3 + i}") for i, s in enumerate(splits)}
    fig = _new_figure(11.0, 4.8)
    ax_perf, ax_loss = fig.subplots(1, 2)
    perf_values, loss_values, all_x, perf_worst, loss_worst = [], [], [], [], []
    for slot, split in enumerate(splits):
        color, px, py, ly = colors[split], list(xs[split]), list(performance[split]), list(loss[split])
        chord = "dashed: endpoints joined (barrier_linear reference)" if slot == 0 else None
        perf_worst.append(_draw_path(ax_perf, px, py, color, split, True, f"{split} worst", chord))
        loss_worst.append(_draw_path(ax_loss, px, ly, color, split, False, f"{split} worst", chord))
        perf_values += py
        loss_values += ly
        all_x += px
    if line is not None:
        for split in splits:
            if split in line.performance:
                style = {"linestyle": "-.", "marker": "x", "markersize": 4, "color": colors[split], "alpha": 0.7,
                         "linewidth": 1.2, "gid": "straight-line", "label": f"straight line ({split})"}
                ax_perf.plot(line.xs, line.performance[split], **style)
                ax_loss.plot(line.xs, line.loss[split], **style)
                perf_values += line.performance[split]
                loss_values += line.loss[split]
                all_x += line.xs
    percent = max(abs(v) for v in perf_values) > 1.0 + 1e-9
    for split, value in (info.majority or {}).items():
        if value is None or split not in colors:
            continue
        value = value * 100 if percent and value <= 1 else value
        ax_perf.axhline(value, linestyle=":", linewidth=1.6, color=colors[split], gid="majority",
                        label=f"majority class ({split}) {_fmt(value)}")
        perf_values.append(value)
    where = "/".join(splits)
    xlabel = info.xlabel()
    symbol = "t" if info.is_curve else "x"
    _finish_axis(ax_perf, perf_values, metric, xlabel, metric, f"{metric} on {where}", all_x, perf_worst, symbol)
    _finish_axis(ax_loss, loss_values, "loss", xlabel, "loss", f"loss on {where}", all_x, loss_worst, symbol)
    fig.suptitle(title or info.title(prefix, splits))
    _figure_legend(fig, (ax_perf, ax_loss))
    return fig


def plot_sweep(
    xs: Mapping[str, Sequence[float]],
    performance: Mapping[str, Sequence[float]],
    loss: Mapping[str, Sequence[float]],
    metric: str,
    path: str | Path,
    title: str = "",
    *,
    prefix: str = "",
    info: PathInfo | None = None,
    line: LineSweep | None = None,
) -> Path:
    """`sweep_figure` saved as a PNG at `path`, atomically."""
    fig = sweep_figure(xs, performance, loss, metric, prefix=prefix, info=info, line=line, title=title)
    return _save_png(fig, path)


def overlay_figure(
    curves: Mapping[str, tuple[Sequence[float], Sequence[float]]],
    ylabel: str,
    title: str = "",
    xlabel: str = "x",
    *,
    metric: str | None = None,
    majority: Mapping[str, float | None] | None = None,
    higher_is_better: bool | None = None,
    chords: bool = True,
    mark_worst: bool = True,
):
    """One panel overlaying several sweeps, `curves` = {label: (xs, ys)}, as a matplotlib Figure.

    Each curve gets its dashed endpoint chord and its marked worst point, whose value its legend entry gives
    (unless `chords` / `mark_worst` are False); `majority` = {label: value} draws dotted horizontal lines. The
    axis bounds come from `metric` (default: `ylabel`, e.g. "accuracy" or "loss"); higher is better unless the
    metric is a loss.
    """
    if not curves:
        raise ValueError("nothing to plot: no curves given")
    for label, (cx, cy) in curves.items():
        _check_series(label, cx, cy)
    metric = metric or ylabel
    if higher_is_better is None:
        higher_is_better = "loss" not in metric.lower()
    fig = _new_figure(7.0, 4.8)
    ax = fig.subplots()
    symbol = "t" if xlabel.startswith("t ") else "x"
    values, all_x = [], []
    for slot, (label, (cx, cy)) in enumerate(curves.items()):
        color = f"C{slot % 10}"
        cx, cy = [float(x) for x in cx], [float(y) for y in cy]
        chord = "dashed: endpoint values joined" if slot == 0 else None
        if mark_worst:
            k = _worst_index(cy, higher_is_better)
            label = f"{label}: worst {_fmt(cy[k])} at {symbol}={cx[k]:.2f}"
        _draw_path(ax, cx, cy, color, label, higher_is_better, "worst" if mark_worst else None, chord, chord=chords)
        values += cy
        all_x += cx
    percent = max(abs(v) for v in values) > 1.0 + 1e-9
    shades = ("0.15", "0.5", "0.7")
    for k, (label, value) in enumerate((majority or {}).items()):
        if value is None:
            continue
        value = value * 100 if percent and value <= 1 else value
        ax.axhline(value, linestyle=":", linewidth=1.6, color=shades[k % len(shades)], gid="majority",
                   label=f"majority class ({label}) {_fmt(value)}" if label else f"majority class {_fmt(value)}")
        values.append(value)
    _finish_axis(ax, values, metric, xlabel, ylabel, "", all_x, (), symbol)
    if title:
        ax.set_title(title)
    _figure_legend(fig, (ax,))
    return fig


def plot_overlay(
    curves: Mapping[str, tuple[Sequence[float], Sequence[float]]],
    ylabel: str,
    path: str | Path,
    title: str = "",
    xlabel: str = "x",
    **kwargs,
) -> Path:
    """`overlay_figure` saved as a PNG at `path`, atomically (keyword options as there)."""
    return _save_png(overlay_figure(curves, ylabel, title, xlabel, **kwargs), path)
