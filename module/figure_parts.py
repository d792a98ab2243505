"""The pieces the sweep and overlay figures are drawn from, and their atomic PNG saving.

A series is drawn with the dashed chord joining its endpoint values (the reference of `barrier_linear`) and its
worst point marked; once the y limits are set (`finish_axis`) each worst point is labelled with its value,
stacked so that no label covers another split's curve. Majority-class lines are dotted. One legend sits under the
panels. matplotlib is imported inside the functions and only through its object API (`matplotlib.figure.Figure`),
so no display is needed and the pyplot backend of a calling program is left untouched.
"""

from __future__ import annotations

import os
import textwrap
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from module.axis_bounds import metric_bounds, y_limits
from module.files import atomic_target

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = ["DPI", "WorstPoint", "check_series", "draw_majority", "draw_path", "figure_legend", "finish_axis",
           "fmt_value", "new_figure", "save_png", "worst_index"]

DPI = 120
AXES_HEIGHT_PT = 220.0  # about the height of a panel of the 4.8-inch figures, for placing the worst labels
LABEL_STEP_PT, LABEL_GAP_PT, LABEL_HEIGHT_PT = 12.0, 12.0, 11.0


def check_series(name: str, xs: Sequence[float], ys: Sequence[float]) -> None:
    """Raise ValueError when a series has no points or its x and y values differ in number."""
    if len(xs) == 0:
        raise ValueError(f"series {name!r} has no points")
    if len(xs) != len(ys):
        raise ValueError(f"series {name!r}: {len(xs)} x values but {len(ys)} y values")


def save_png(fig: Figure, path: str | Path) -> Path:
    """Save `fig` as a PNG at `path` atomically (temporary `.png` beside it, synced, then renamed)."""

    with atomic_target(path, suffix=".png") as tmp, tmp.open("wb") as handle:
        fig.savefig(handle, format="png", dpi=DPI)
        handle.flush()
        os.fsync(handle.fileno())
    return Path(path)


def new_figure(width: float, height: float) -> Figure:
    """An empty matplotlib Figure of `width` x `height` inches with the constrained layout."""
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), layout="constrained")


def _wrap(text: str, width: int) -> str:
    """`text` broken after a comma (or else at spaces) into lines of at most about `width` characters."""

    if len(text) <= width:
        return text
    head, sep, tail = text.partition(", ")
    if sep and len(head) < width and len(tail) < width:
        return f"{head},\n{tail}"
    return textwrap.fill(text, max(width, 20))


def fmt_value(value: float) -> str:
    """A value as the figures print it: one decimal from 10 up, else three."""
    return f"{value:.1f}" if abs(value) >= 10 else f"{value:.3f}"


def worst_index(ys: Sequence[float], higher_is_better: bool) -> int:
    """The first worst point, as summary.json's `worst` picks it."""
    return min(range(len(ys)), key=lambda k: ys[k] if higher_is_better else -ys[k])


@dataclass
class WorstPoint:
    """A series' marked worst point, labelled once the y limits are known."""

    x: float
    y: float
    text: str
    color: str
    down: bool  # the text's preferred side: below a worst minimum, above a worst maximum


def draw_path(ax: Axes, xs: Sequence[float], ys: Sequence[float], color: str, label: str, higher_is_better: bool,
              worst_text: str | None, chord_label: str | None, chord: bool = True) -> WorstPoint | None:
    """One series: its values, the dashed chord joining its endpoint values and its marked worst point (labelled
    later, by `finish_axis`, once the y limits are known); returns the worst point unless `worst_text` is None."""
    xs, ys = [float(x) for x in xs], [float(y) for y in ys]
    ax.plot(xs, ys, marker="o", markersize=3, color=color, label=label, zorder=3, clip_on=False)
    if chord and len(xs) >= 2:
        ax.plot([xs[0], xs[-1]], [ys[0], ys[-1]], linestyle="--", linewidth=1.2, color=color, alpha=0.75,
                label=chord_label, gid="endpoint-chord", zorder=2)
    if worst_text is None:
        return None
    k = worst_index(ys, higher_is_better)
    ax.plot([xs[k]], [ys[k]], linestyle="none", marker="v" if higher_is_better else "^", markersize=9,
            markerfacecolor=color, markeredgecolor="black", gid="worst-point", zorder=4, clip_on=False)
    return WorstPoint(xs[k], ys[k], f"{worst_text} {fmt_value(ys[k])}", color, down=higher_is_better)


def draw_majority(ax: Axes, lines: Iterable[tuple[str, float, str]], values: list[float]) -> None:
    """Dotted majority-class lines, `lines` = (label, value, colour), each value appended to `values`; a fraction
    is put on the percent scale when `values` (as given) exceed 1. The legend shows the label and the value."""
    percent = max(abs(v) for v in values) > 1.0 + 1e-9
    for label, value, color in lines:
        value = value * 100 if percent and value <= 1 else value
        ax.axhline(value, linestyle=":", linewidth=1.6, color=color, gid="majority",
                   label=f"{label} {fmt_value(value)}")
        values.append(value)


def _outward_pads(worsts: Sequence[WorstPoint], pad: float = 0.08) -> tuple[float, float]:
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


def _label_worst(ax: Axes, worsts: Sequence[WorstPoint], symbol: str) -> None:
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


def finish_axis(ax: Axes, values: list[float], metric: str, xlabel: str, ylabel: str, title: str,
                xs: Sequence[float], worsts: Sequence[WorstPoint], symbol: str) -> None:
    """Set a panel's limits (the metric's bounds, room for the worst labels), labels and grid; label the worsts."""
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


def figure_legend(fig: Figure, axes: Sequence[Axes]) -> None:
    """One legend under the panels: the series first, then the reference lines (chord, straight line, majority)."""
    entries: dict[str, object] = {}
    for ax in axes:
        for handle, label in zip(*ax.get_legend_handles_labels(), strict=True):
            entries.setdefault(label, handle)
    order = sorted(entries, key=lambda label: getattr(entries[label], "get_gid", lambda: None)() is not None)
    if order:
        fig.legend([entries[k] for k in order], order, loc="outside lower center", ncol=_legend_columns(fig, order),
                   fontsize=8, frameon=False)


def _legend_columns(fig: Figure, labels: Sequence[str], limit: int = 5) -> int:
    """The most columns (at most `limit`) whose entries fit the figure's width (fontsize 8, filled by column)."""
    width_pt = fig.get_figwidth() * 72 - 20
    widths = [40 + 4.6 * len(label) for label in labels]
    for ncol in range(min(limit, len(labels)), 1, -1):
        # matplotlib's split: the first len % ncol columns take one entry more than the others
        rows, extra = divmod(len(labels), ncol)
        sizes = [rows + (c < extra) for c in range(ncol)]
        starts = [sum(sizes[:c]) for c in range(ncol)]
        if sum(max(widths[a:a + n]) for a, n in zip(starts, sizes, strict=True) if n) <= width_pt:
            return ncol
    return 1
