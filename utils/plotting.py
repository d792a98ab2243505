"""Headless PNG plots of interpolation sweeps, each saved atomically (temporary file in the same folder, then rename).

matplotlib is imported inside the functions and only through its object API (`matplotlib.figure.Figure`), so no
display is needed and the pyplot backend of a calling program (a notebook, say) is left untouched.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

from module.files import atomic_target

DPI = 120


def _check_series(name: str, xs: Sequence[float], ys: Sequence[float]) -> None:
    if len(xs) == 0:
        raise ValueError(f"series {name!r} has no points")
    if len(xs) != len(ys):
        raise ValueError(f"series {name!r}: {len(xs)} x values but {len(ys)} y values")


def _save_png(fig, path: str | Path) -> Path:
    """Save `fig` as a PNG at `path` atomically (temporary `.png` beside it, synced, then renamed)."""
    with atomic_target(path, suffix=".png") as tmp, tmp.open("wb") as handle:
        fig.savefig(handle, format="png", dpi=DPI)
        handle.flush()
        os.fsync(handle.fileno())
    return Path(path)


def _new_figure(width: float, height: float):
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), layout="constrained")


def plot_sweep(
    xs: Mapping[str, Sequence[float]],
    performance: Mapping[str, Sequence[float]],
    loss: Mapping[str, Sequence[float]],
    metric: str,
    path: str | Path,
    title: str = "",
) -> Path:
    """Two panels side by side (metric vs x, loss vs x), one marked line per split; saved as PNG atomically."""
    if not xs:
        raise ValueError("nothing to plot: no splits given")
    for split in xs:
        if split not in performance or split not in loss:
            raise ValueError(f"split {split!r} needs x, performance and loss values")
        _check_series(f"{split} performance", xs[split], performance[split])
        _check_series(f"{split} loss", xs[split], loss[split])
    fig = _new_figure(10.0, 4.0)
    ax_perf, ax_loss = fig.subplots(1, 2)
    for split in xs:
        ax_perf.plot(list(xs[split]), list(performance[split]), marker="o", markersize=3, label=split)
        ax_loss.plot(list(xs[split]), list(loss[split]), marker="o", markersize=3, label=split)
    ax_perf.set_xlabel("x")
    ax_perf.set_ylabel(metric)
    ax_perf.set_title(f"{metric} along the path")
    ax_loss.set_xlabel("x")
    ax_loss.set_ylabel("loss")
    ax_loss.set_title("loss along the path")
    for ax in (ax_perf, ax_loss):
        ax.grid(True, alpha=0.3)
        ax.legend()
    if title:
        fig.suptitle(title)
    return _save_png(fig, path)


def plot_overlay(
    curves: Mapping[str, tuple[Sequence[float], Sequence[float]]],
    ylabel: str,
    path: str | Path,
    title: str = "",
    xlabel: str = "x",
) -> Path:
    """One panel overlaying several sweeps, `curves` = {label: (xs, ys)}; saved as PNG atomically."""
    if not curves:
        raise ValueError("nothing to plot: no curves given")
    for label, (cx, cy) in curves.items():
        _check_series(label, cx, cy)
    fig = _new_figure(6.0, 4.0)
    ax = fig.subplots()
    for label, (cx, cy) in curves.items():
        ax.plot(list(cx), list(cy), marker="o", markersize=3, label=label)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(True, alpha=0.3)
    ax.legend()
    if title:
        ax.set_title(title)
    return _save_png(fig, path)
