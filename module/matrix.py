"""A connectivity matrix over N minima: every pair's line sweep in `pair_<i>_<j>/`, and `matrix.csv` /
`matrix.png` tabulating and drawing their barriers (metric and loss), labelled by the checkpoints' short names."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from itertools import combinations
from pathlib import Path

from module.analysis import point_record
from module.distributed import gather, join, together
from module.figure_parts import new_figure, save_png
from module.files import atomic_write_csv, read_json
from module.path_info import short_name
from module.sweep import Line, PointStore, point_path, run_sweeps

BARRIERS = ("barrier_endpoint_mean", "barrier_linear", "barrier_subsegment")
QUANTITIES = ("performance", "loss")


def pairs(n: int) -> list[tuple[int, int]]:
    """Every pair i < j of n minima, in order."""
    return list(combinations(range(n), 2))


def pair_folder(out_dir: str | Path, i: int, j: int) -> Path:
    """The sweep folder of the line from minimum i (x = 0) to minimum j (x = 1)."""
    return Path(out_dir) / f"pair_{i}_{j}"


def check_minima(paths: Sequence[str], flag: str) -> None:
    """At least two checkpoints, each a file, none given twice (the same file under two names counts)."""
    if len(paths) < 2:
        raise ValueError(f"{flag}: a matrix needs at least 2 checkpoints, got {len(paths)}")
    seen: dict[str, str] = {}
    for path in paths:
        if not Path(path).exists():
            raise FileNotFoundError(f"{flag}: {path} does not exist")
        real = os.path.realpath(path)
        if real in seen:
            raise ValueError(f"{flag}: {path} is given twice (also as {seen[real]})")
        seen[real] = path


def short_names(paths: Sequence[str]) -> list[str]:
    """Names telling the checkpoints apart: the components of each path that not every path shares, shortened."""
    parts = [Path(p).parts for p in paths]
    common = set.intersection(*(set(p) for p in parts))
    names = ["/".join(part for part in p if part not in common) for p in parts]
    if all(names) and len(set(names)) == len(names):
        return [short_name(n) for n in names]
    return [short_name(str(p)) for p in paths]


def matrix_rows(paths: Sequence[str], summaries: dict[tuple[int, int], dict]) -> tuple[list[str], list[list]]:
    """matrix.csv's header and rows: per pair, its paths, then per split and quantity the endpoint values, the
    worst value and its x, and the three barriers."""
    splits = [s for s in ("dev", "test", "train") if s in next(iter(summaries.values()))["splits"]]
    header = ["i", "j", "path_i", "path_j"]
    for split in splits:
        for what in QUANTITIES:
            name = "metric" if what == "performance" else "loss"
            header += [f"{split}_{name}_x0", f"{split}_{name}_x1", f"{split}_{name}_worst", f"{split}_{name}_worst_x",
                       *(f"{split}_{name}_{b}" for b in BARRIERS)]
    rows = []
    for (i, j), summary in sorted(summaries.items()):
        row = [i, j, paths[i], paths[j]]
        for split in splits:
            for what in QUANTITIES:
                s = summary["splits"][split][what]
                row += [*s["endpoints"], s["worst"]["value"], s["worst"]["x"], *(s[b] for b in BARRIERS)]
        rows.append(row)
    return header, rows


def write_matrix(out_dir: str | Path, paths: Sequence[str], summaries: dict[tuple[int, int], dict],
                 metric: str) -> tuple[Path, Path]:
    """Write `matrix.csv` and `matrix.png` (heatmaps of the linear barrier of the metric and of the loss, first
    split) into `out_dir`."""
    from matplotlib import colormaps

    out_dir = Path(out_dir)
    header, rows = matrix_rows(paths, summaries)
    csv_path = atomic_write_csv(out_dir / "matrix.csv", header, rows)
    split = header[4].split("_", 1)[0]
    names = short_names(paths)
    fig = new_figure(4.2 * 2 + 1.0, 0.45 * len(paths) + 3.0)
    axes = fig.subplots(1, 2)
    for ax, what, label in ((axes[0], "performance", metric), (axes[1], "loss", "loss")):
        grid = [[float("nan")] * len(paths) for _ in paths]  # the diagonal (a checkpoint with itself) stays blank
        for (i, j), summary in summaries.items():
            grid[i][j] = grid[j][i] = summary["splits"][split][what]["barrier_linear"]
        top = max([v for row in grid for v in row if v == v] + [0.0]) or 1.0  # all zero: white, not mid-scale
        cmap = colormaps["Reds"].with_extremes(bad="#eeeeee")
        image = ax.imshow(grid, cmap=cmap, vmin=0.0, vmax=top)
        for i in range(len(paths)):
            for j in range(len(paths)):
                value = grid[i][j]
                text, dark = ("—", False) if value != value else (f"{value:.3f}", value > 0.6 * top)
                ax.text(j, i, text, ha="center", va="center", fontsize=8, color="white" if dark else "black")
        ax.set_xticks(range(len(paths)), names, rotation=30, ha="right", fontsize=8)
        ax.set_yticks(range(len(paths)), names, fontsize=8)
        ax.set_title(f"{split} {label}: barrier of the straight path", fontsize=9)
        fig.colorbar(image, ax=ax, shrink=0.8, label="barrier (positive = worse than the chord)")
    fig.suptitle(f"Connectivity of {len(paths)} minima: linear barrier of every pair's straight path", fontsize=10)
    return csv_path, save_png(fig, out_dir / "matrix.png")


def run_matrix(out_dir: str | Path, paths: Sequence[str], evaluate_endpoint: Callable[[int], dict],
               line_for: Callable[[int, int, Path], Line], evaluate: Callable[[], dict], metric: str,
               quiet: bool = False, desc: str = "interpolation") -> dict[tuple[int, int], dict]:
    """Sweep every pair's line with each checkpoint evaluated once: `evaluate_endpoint(k)` gives checkpoint k's
    per-split results (under torchrun: checkpoint k by process k mod N), which become the x = 0 / x = 1 points
    of its pairs, so only the points in between are evaluated, all pairs' as one pool (`run_sweeps`: six pairs
    on four GPUs keep all four busy); `line_for(i, j, folder)` is the line from checkpoint i to j. Then
    matrix.csv and matrix.png. Returns each pair's summary (in the main process; {} in the others)."""
    out_dir = Path(out_dir)
    rank, size = join()
    lines = {(i, j): line_for(i, j, pair_folder(out_dir, i, j)) for i, j in pairs(len(paths))}
    todo = {pair: [x for x in (0.0, 1.0) if not point_path(line.out_dir, x).is_file()] for pair, line in lines.items()}
    wanted = sorted({i if x == 0.0 else j for (i, j), xs in todo.items() for x in xs})
    ends = {k: v for part in gather({k: evaluate_endpoint(k) for k in wanted[rank::size]}) for k, v in part.items()}

    def seed() -> None:
        for (i, j), line in lines.items():
            store = PointStore(line.out_dir, line.settings)
            for x in todo[i, j]:
                store.save(point_record(x, ends[i if x == 0.0 else j]))

    together(seed, only_main=True)
    run_sweeps(list(lines.values()), evaluate, metric, quiet, desc)
    if rank != 0:  # the main process wrote the result files (its peers may not share its file system)
        return {}
    summaries = {pair: read_json(line.out_dir / "summary.json") for pair, line in lines.items()}
    write_matrix(out_dir, paths, summaries, metric)
    print(f"wrote {out_dir}/matrix.csv and matrix.png ({len(summaries)} pairs of {len(paths)} checkpoints)")
    return summaries
