"""Toy sweeps and figure readers shared by the plot tests and tests/test_analysis.py."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from module.analysis import point_record

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
XS = [round(i / 10, 3) for i in range(11)]
SEED_PATHS = ("runs/q/finetune-seed20/lr_0.001_seed_20/checkpoint-last.pt",
              "runs/q/finetune-seed30/lr_0.001_seed_30/checkpoint-last.pt")


def dip(x: float, ends: tuple[float, float] = (0.70, 0.66), depth: float = 0.2) -> float:
    """A path value at x: the line between the two end values minus a sine dip of `depth`."""
    return (1 - x) * ends[0] + x * ends[1] - depth * math.sin(math.pi * x)


def toy_records(depth: float = 0.2, splits: tuple[str, ...] = ("dev", "test"), scale: float = 1.0) -> list[dict]:
    """Point records at XS: performance `dip` (a little lower per later split, times `scale`), a loss bump."""
    recs = []
    for x in XS:
        values = {}
        for k, split in enumerate(splits):
            perf = scale * dip(x, (0.70 - 0.04 * k, 0.66 - 0.04 * k), depth)
            values[split] = {"performance": perf, "loss": 0.2 + 0.5 * math.sin(math.pi * x) + 0.01 * k,
                             "scores": [1.0, 0.0]}
        recs.append(point_record(x, values))
    return recs


def gid_lines(ax: Axes, gid: str) -> list:
    """The lines of a matplotlib Axes with the given gid."""
    return [line for line in ax.lines if line.get_gid() == gid]


def legend_texts(fig: Figure) -> list[str]:
    """Every entry text of a figure's legends."""
    return [t.get_text() for legend in fig.legends for t in legend.get_texts()]
