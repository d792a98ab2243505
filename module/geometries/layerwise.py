"""Layer-wise (and module-wise) connectivity (Adilova et al., ICLR 2024, "layer-wise linear mode connectivity"):
the line from θA to θB for one group of tensors only, every other tensor left at θA (its own values, bit for bit),
so that a barrier can be traced to the layers it comes from.

`--interpolate_tensors REGEX` sweeps one group (the tensors whose names match) into the output folder as a line;
`--layerwise` sweeps every group of the family's table (one per layer, the embeddings, the head, ...) as one
pool into `group_<name>/` and writes `layerwise.csv` (one row per group: its tensors and values, and per split the
endpoint values, the worst point and the linear barrier of the metric and of the loss) and `layerwise.png` (the
loss along x of every group as a heatmap, and each group's barrier).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import torch

from module.distributed import join
from module.files import atomic_write_csv, read_json
from module.interpolation import Interpolator
from module.path_jobs import path_line
from module.sweep import run_sweeps

KIND = "layerwise"
CSV_FILE, FIGURE_FILE = "layerwise.csv", "layerwise.png"
OTHER = "other"


class LayerwiseError(ValueError):
    """A group that selects no interpolated tensor, or a pattern that is no regular expression."""


def group_place(name: str, table: Sequence[tuple[str, str]]) -> tuple[str, tuple[int, int]]:
    """(group, where it sorts) of tensor `name` by the family's table [(group name, regex)]: the first pattern that
    matches; a `{}` in the group name takes the pattern's first captured group (the layer's number). Groups sort
    by the table's order, then by layer number; names no pattern matches are the group "other", last."""
    for index, (label, pattern) in enumerate(table):
        match = re.search(pattern, name)
        if match:
            if "{" not in label:
                return label, (index, 0)
            number = match.group(1)
            return label.format(number), (index, int(number) if number.isdigit() else 0)
    return OTHER, (len(table), 0)


def group_of(name: str, table: Sequence[tuple[str, str]]) -> str:
    """The group of tensor `name` by the family's table (`group_place`)."""
    return group_place(name, table)[0]


def groups(names: Sequence[str], table: Sequence[tuple[str, str]]) -> dict[str, list[str]]:
    """Every group of the table that holds some of `names`, in the table's order (layers by number)."""
    out: dict[str, list[str]] = {}
    order: dict[str, tuple[int, int]] = {}
    for name in names:
        label, place = group_place(name, table)
        out.setdefault(label, []).append(name)
        order[label] = place
    return {label: out[label] for label in sorted(out, key=lambda label: order[label])}


def check_pattern(pattern: str | None, flag: str = "--interpolate_tensors") -> re.Pattern | None:
    """The compiled pattern (None for none); one error naming the flag when it is no regular expression (the
    families call this before anything is loaded or written)."""
    if pattern is None:
        return None
    try:
        return re.compile(pattern)
    except re.error as exc:
        raise LayerwiseError(f"{flag} {pattern!r}: not a regular expression ({exc})") from None


def matching(names: Sequence[str], pattern: str, flag: str = "--interpolate_tensors") -> list[str]:
    """The names `pattern` (a regular expression, searched) selects; none is an error."""
    compiled = check_pattern(pattern, flag)
    chosen = [n for n in names if compiled.search(n)]
    if not chosen:
        raise LayerwiseError(f"{flag} {pattern!r} selects none of the {len(names)} interpolated tensors (e.g. "
                             f"{', '.join(list(names)[:3])})")
    return chosen


class GroupMover:
    """Writes θ(x) = (1 − x)·θA + x·θB into one group's tensors and θA itself into every other one."""

    def __init__(self, interpolator: Interpolator):
        self.interpolator = interpolator

    def mover(self, group: Sequence[str]):
        """`move(x)` for the line of `group`."""
        chosen = set(group)

        @torch.no_grad()
        def move(x: float) -> None:
            i = self.interpolator
            for key, target in i.targets.items():
                if key in chosen:
                    target.copy_((1 - x) * i.theta1[key] + x * i.theta2[key])
                else:
                    target.copy_(i.theta1[key])

        return move


def group_slug(name: str) -> str:
    """A folder name for a group."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("_") or "group"


def sweep(setup, paths: Sequence[str], thetas: Sequence[Mapping[str, torch.Tensor]], out_dir: str | Path,
          pattern: str | None = None, table: Sequence[tuple[str, str]] = ()) -> list[dict]:
    """With `pattern`: the line of the tensors it selects into `out_dir`; else every group of `table` into
    `out_dir/group_<name>/` and the layer-wise table and figure. Returns the (first) group's records."""
    interpolator = Interpolator(setup.model, thetas[0], thetas[1], (paths[0], paths[1]))
    names = list(interpolator.targets)  # each tied tensor once
    mover = GroupMover(interpolator)
    out_dir = Path(out_dir)
    chosen = {"selected": matching(names, pattern)} if pattern is not None else groups(names, table)
    base = setup.settings(paths[0], paths[1])
    lines = []
    for label, keys in chosen.items():
        folder = out_dir if pattern is not None else out_dir / f"group_{group_slug(label)}"
        line = path_line(setup, paths[0], paths[1], folder, mover.mover(keys))
        line.settings = {**base, "geometry": KIND, "group": pattern if pattern is not None else label,
                         "tensors": sorted(keys)}
        line.extra_summary = {**(setup.extra_summary or {}), "interpolated_tensors": {
            "group": pattern if pattern is not None else label, "tensors": len(keys),
            "values": sum(interpolator.targets[k].numel() for k in keys), "of_tensors": len(names)}}
        if pattern is None:
            line.report = lambda metric: None  # one table for all groups at the end, not one per group
        lines.append(line)
    setup.log(f"layer-wise: {len(lines)} group(s) of {len(names)} tensors between {paths[0]} and {paths[1]}; the "
              "rest stays at the first")
    try:
        records = run_sweeps(lines, setup.evaluate, setup.metric, quiet=setup.quiet, desc="layer-wise")
    finally:
        interpolator.restore()
    if pattern is None and join()[0] == 0:
        write_layerwise(out_dir, chosen, lines, setup.metric, {k: v.numel() for k, v in interpolator.targets.items()})
        print_layerwise(out_dir)
    return records[0]


def print_layerwise(out_dir: Path) -> None:
    """Each group's linear barriers (first split), then where the files are."""
    from module.files import read_csv

    rows = read_csv(out_dir / CSV_FILE)
    split = next(k for k in rows[0] if k.endswith("_metric_barrier_linear")).split("_")[0]
    print(f"{'group':24s} {'tensors':>7s} {'metric barrier':>15s} {'loss barrier':>13s}   ({split}, linear)")
    for row in rows:
        print(f"{row['group']:24s} {row['tensors']:>7s} {float(row[f'{split}_metric_barrier_linear']):15.4f} "
              f"{float(row[f'{split}_loss_barrier_linear']):13.4f}")
    print(f"wrote {out_dir}/{CSV_FILE} and {FIGURE_FILE} ({len(rows)} groups; each group's line in group_<name>/)")


def write_layerwise(out_dir: Path, chosen: Mapping[str, list[str]], lines: list, metric: str,
                    sizes: Mapping[str, int]) -> tuple[Path, Path]:
    """layerwise.csv and layerwise.png from every group's summary.json and result records."""
    from module.sweep import read_records

    summaries = {label: read_json(line.out_dir / "summary.json") for label, line in zip(chosen, lines, strict=True)}
    splits = [s for s in ("dev", "test", "train") if s in next(iter(summaries.values()))["splits"]]
    header = ["group", "tensors", "values"]
    for split in splits:
        for name in ("metric", "loss"):
            header += [f"{split}_{name}_x0", f"{split}_{name}_x1", f"{split}_{name}_worst",
                       f"{split}_{name}_worst_x", f"{split}_{name}_barrier_linear"]
    rows = []
    for label, keys in chosen.items():
        s = summaries[label]["splits"]
        row = [label, len(keys), sum(sizes[k] for k in keys)]
        for split in splits:
            for what in ("performance", "loss"):
                q = s[split][what]
                row += [*q["endpoints"], q["worst"]["value"], q["worst"]["x"], q["barrier_linear"]]
        rows.append(row)
    csv_path = atomic_write_csv(out_dir / CSV_FILE, header, rows)
    return csv_path, layerwise_figure(out_dir, list(chosen), [read_records(line.out_dir) for line in lines],
                                      summaries, splits[0], metric)


def layerwise_figure(out_dir: Path, labels: list[str], records: list[list[dict]], summaries: dict, split: str,
                     metric: str) -> Path:
    """The loss along x of every group (rows) as a heatmap, and each group's linear barrier of metric and loss."""
    from module.figure_parts import new_figure, save_png

    xs = [r["x"] for r in records[0]]
    loss = np.array([[r["splits"][split]["loss"] for r in group] for group in records])
    fig = new_figure(11.0, 0.32 * len(labels) + 2.6)
    heat, bars = fig.subplots(1, 2, gridspec_kw={"width_ratios": [2.2, 1.0]})
    half = (xs[-1] - xs[0]) / max(len(xs) - 1, 1) / 2  # each cell centred on its x
    image = heat.imshow(loss, aspect="auto", cmap="magma_r",
                        extent=(xs[0] - half, xs[-1] + half, len(labels) - 0.5, -0.5))
    heat.set_yticks(range(len(labels)), labels, fontsize=7)
    heat.set_xlabel("x: the group's tensors at (1 − x)·θA + x·θB, every other tensor at θA", fontsize=8)
    heat.set_title(f"{split} loss when only one group moves", fontsize=9)
    fig.colorbar(image, ax=heat, label=f"{split} loss")
    y = np.arange(len(labels))
    for offset, what, color, label in ((-0.2, "loss", "#c0392b", "loss barrier"),
                                       (0.2, "performance", "#2e86c1", f"{metric} barrier")):
        values = [summaries[g]["splits"][split][what]["barrier_linear"] for g in labels]
        bars.barh(y + offset, values, height=0.38, color=color, label=label)
    bars.set_yticks(y, labels, fontsize=7)
    bars.invert_yaxis()
    bars.axvline(0.0, color="black", lw=0.8)
    bars.set_xlabel("linear barrier (positive: worse than the chord)", fontsize=8)
    bars.set_title("barrier of each group's line", fontsize=9)
    bars.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    fig.suptitle("Layer-wise connectivity: the line from θA to θB for one group of tensors at a time", fontsize=10)
    return save_png(fig, out_dir / FIGURE_FILE)
