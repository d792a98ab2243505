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

The figures are put together here from `module.figure_parts` (series, worst labels, legend, PNG saving) and
`module.axis_bounds` (the y axis); `module.path_info` describes the path and `module.line_sweep` reads the straight
line. `PathInfo`, `majority_fraction`, `read_line_sweep` and `find_line_sweep` are importable from here too.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from module.figure_parts import (
    check_series,
    draw_majority,
    draw_path,
    figure_legend,
    finish_axis,
    fmt_value,
    new_figure,
    save_png,
    worst_index,
)
from module.line_sweep import find_line_sweep, read_line_sweep
from module.path_info import PathInfo, majority_fraction

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from module.line_sweep import LineSweep

__all__ = [
    "PathInfo",
    "find_line_sweep",
    "majority_fraction",
    "draw_overlay",
    "overlay_figure",
    "panels_figure",
    "plot_overlay",
    "plot_sweep",
    "read_line_sweep",
    "sweep_figure",
]

SPLIT_COLORS = {"dev": "C0", "test": "C1", "train": "C2"}


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
) -> Figure:
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
        check_series(f"{split} performance", xs[split], performance[split])
        check_series(f"{split} loss", xs[split], loss[split])
    splits = list(xs)
    colors = {s: SPLIT_COLORS.get(s, f"C{3 + i}") for i, s in enumerate(splits)}
    fig = new_figure(11.0, 4.8)
    ax_perf, ax_loss = fig.subplots(1, 2)
    perf_values, loss_values, all_x, perf_worst, loss_worst = [], [], [], [], []
    for slot, split in enumerate(splits):
        color, px, py, ly = colors[split], list(xs[split]), list(performance[split]), list(loss[split])
        chord = "dashed: endpoints joined (barrier_linear reference)" if slot == 0 else None
        perf_worst.append(draw_path(ax_perf, px, py, color, split, True, f"{split} worst", chord))
        loss_worst.append(draw_path(ax_loss, px, ly, color, split, False, f"{split} worst", chord))
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
    majority = [(f"majority class ({split})", value, colors[split])
                for split, value in (info.majority or {}).items() if value is not None and split in colors]
    draw_majority(ax_perf, majority, perf_values)
    where = "/".join(splits)
    xlabel = info.xlabel()
    symbol = "t" if info.is_curve else "x"
    finish_axis(ax_perf, perf_values, metric, xlabel, metric, f"{metric} on {where}", all_x, perf_worst, symbol)
    finish_axis(ax_loss, loss_values, "loss", xlabel, "loss", f"loss on {where}", all_x, loss_worst, symbol)
    fig.suptitle(title or info.title(prefix, splits))
    figure_legend(fig, (ax_perf, ax_loss))
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
    return save_png(fig, path)


def draw_overlay(
    ax,
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
) -> None:
    """Draw several sweeps, `curves` = {label: (xs, ys)}, into one panel `ax` (as `overlay_figure` describes)."""
    if not curves:
        raise ValueError("nothing to plot: no curves given")
    for label, (cx, cy) in curves.items():
        check_series(label, cx, cy)
    metric = metric or ylabel
    if higher_is_better is None:
        higher_is_better = "loss" not in metric.lower()
    symbol = "t" if xlabel.startswith("t ") else "x"
    values, all_x = [], []
    for slot, (label, (cx, cy)) in enumerate(curves.items()):
        color = f"C{slot % 10}"
        cx, cy = [float(x) for x in cx], [float(y) for y in cy]
        chord = "dashed: endpoint values joined" if slot == 0 else None
        if mark_worst:
            k = worst_index(cy, higher_is_better)
            label = f"{label}: worst {fmt_value(cy[k])} at {symbol}={cx[k]:.2f}"
        draw_path(ax, cx, cy, color, label, higher_is_better, "worst" if mark_worst else None, chord, chord=chords)
        values += cy
        all_x += cx
    shades = ("0.15", "0.5", "0.7")
    lines = [(f"majority class ({label})" if label else "majority class", value, shades[k % len(shades)])
             for k, (label, value) in enumerate((majority or {}).items()) if value is not None]
    draw_majority(ax, lines, values)
    finish_axis(ax, values, metric, xlabel, ylabel, "", all_x, (), symbol)
    if title:
        ax.set_title(title, fontsize=10)


def overlay_figure(
    curves: Mapping[str, tuple[Sequence[float], Sequence[float]]],
    ylabel: str,
    title: str = "",
    xlabel: str = "x",
    **kwargs,
) -> Figure:
    """One panel overlaying several sweeps, `curves` = {label: (xs, ys)}, as a matplotlib Figure.

    Each curve gets its dashed endpoint chord and its marked worst point, whose value its legend entry gives
    (unless `chords` / `mark_worst` are False); `majority` = {label: value} draws dotted horizontal lines. The
    axis bounds come from `metric` (default: `ylabel`, e.g. "accuracy" or "loss"); higher is better unless the
    metric is a loss.
    """
    fig = new_figure(7.0, 4.8)
    ax = fig.subplots()
    draw_overlay(ax, curves, ylabel, "", xlabel, **kwargs)
    if title:
        ax.set_title(title)
    figure_legend(fig, (ax,))
    return fig


def panels_figure(
    panels: Mapping[str, Mapping[str, tuple[Sequence[float], Sequence[float]]]],
    ylabel: str,
    title: str = "",
    xlabel: str = "x",
    majority: Mapping[str, Mapping[str, float | None]] | None = None,
    **kwargs,
) -> Figure:
    """Several overlay panels side by side, `panels` = {panel title: {label: (xs, ys)}} (as the paper's figures: one
    panel per method, one curve per setting), one shared legend; `majority` = {panel title: {label: value}}."""
    if not panels:
        raise ValueError("nothing to plot: no panels given")
    fig = new_figure(max(7.0, 4.2 * len(panels)), 4.8)
    axes = fig.subplots(1, len(panels), squeeze=False)[0]
    for ax, (name, curves) in zip(axes, panels.items(), strict=True):
        draw_overlay(ax, curves, ylabel, name, xlabel, majority=(majority or {}).get(name), **kwargs)
    if title:
        fig.suptitle(title)
    figure_legend(fig, axes)
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
    return save_png(overlay_figure(curves, ylabel, title, xlabel, **kwargs), path)
