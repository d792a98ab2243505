"""The plane through three checkpoints A, B, C (Garipov et al. 2018, fig. 1; Li et al. draw the same kind of
figure around one minimum): u runs along θB − θA, v along the part of θC − θA orthogonal to it (Gram-Schmidt over
all interpolated tensors at once), both in units of |θB − θA|, so A = (0, 0), B = (1, 0) and C = (u_C, v_C).

A G × G grid with margins around the three is evaluated like a sweep's points (module/sweep.py: resumable,
sharded, reuse-checked); each checkpoint is evaluated at its own coordinates with its own tensors written exactly,
so those points equal the checkpoint's evaluation anywhere else to the last digit. Files: `plane.csv` (one row per
point: u, v, the checkpoint there or nothing, each split's metric and loss), `summary.json` (basis, checkpoints,
best and worst grid points per split) and `plane.png` (filled contours of the metric and the loss, the three
checkpoints marked, the straight line A-B and, when C is a one-bend Bezier curve's bend, the curve drawn in).
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from module.analysis import point_record
from module.files import atomic_write_json, atomic_write_text
from module.interpolation import Interpolator, check_same_keys
from module.path_info import short_name
from module.runs import fingerprint
from module.sweep import run_sweeps

KIND = "plane"
DEFAULT_GRID = 21
DEFAULT_MARGIN = 0.2
CSV_FILE, SUMMARY_FILE, FIGURE_FILE = "plane.csv", "summary.json", "plane.png"
SPLIT_ORDER = ("dev", "test", "train")


class PlaneError(ValueError):
    """Three checkpoints that span no plane, or impossible grid settings."""


@dataclass(frozen=True)
class PlaneBasis:
    """The plane's unit (|θB − θA|) and the three checkpoints' coordinates in it."""

    scale: float
    anchors: tuple[tuple[float, float], tuple[float, float], tuple[float, float]]

    def as_dict(self) -> dict:
        """What summary.json says of the basis."""
        return {"u": "along θB − θA", "v": "along the part of θC − θA orthogonal to θB − θA",
                "unit": "|θB − θA| (L2 norm over every interpolated tensor)", "scale": self.scale,
                "c": {"u": self.anchors[2][0], "v": self.anchors[2][1]}}


def plane_basis(thetas: Sequence[Mapping[str, torch.Tensor]]) -> tuple[PlaneBasis, dict, dict]:
    """(the basis, e1, e2): e1 = (θB − θA)/|θB − θA| and e2 the unit part of θC − θA orthogonal to e1, as float64
    tensors (Gram-Schmidt over all tensors at once)."""
    if len(thetas) != 3:
        raise PlaneError(f"a plane goes through three checkpoints, got {len(thetas)}")
    a, b, c = thetas
    check_same_keys(a, b)
    check_same_keys(a, c)
    keys = [k for k in a if a[k].is_floating_point()]
    d = {k: b[k].double() - a[k].double() for k in keys}
    norm = math.sqrt(sum(float((t * t).sum()) for t in d.values()))
    if norm == 0.0:
        raise PlaneError("the first two checkpoints are the same point: no direction for u")
    e1 = {k: t / norm for k, t in d.items()}
    w = {k: c[k].double() - a[k].double() for k in keys}
    along = sum(float((w[k] * e1[k]).sum()) for k in keys)
    rest = {k: w[k] - along * e1[k] for k in keys}
    off = math.sqrt(sum(float((t * t).sum()) for t in rest.values()))
    if off <= 1e-5 * math.sqrt(sum(float((t * t).sum()) for t in w.values())):  # float32 rounding of a collinear C
        raise PlaneError("the third checkpoint lies on the line through the first two: no plane")
    e2 = {k: t / off for k, t in rest.items()}
    return PlaneBasis(norm, ((0.0, 0.0), (1.0, 0.0), (along / norm, off / norm))), e1, e2


def curve_bend(path: str | Path, ends: Sequence[str]) -> dict[str, torch.Tensor] | None:
    """The bend of a one-bend Bezier curve between `ends` when `path` is a curve checkpoint (curve_find's
    curve-best.pt or curve-last.pt), else None; the plane through the two endpoints and the bend holds the whole
    curve. A curve of other endpoints, several bends or another type is refused."""
    from module.checkpoint import load_checkpoint

    path = Path(path)
    if not path.is_file() or path.suffix != ".pt":
        return None
    saved = load_checkpoint(path)
    if saved.meta.get("format") is None or "bend_num" not in saved.meta:
        return None
    if saved.meta["bend_num"] != 1 or saved.meta.get("curve_type") != "bezier":
        raise PlaneError(f"{path}: a {saved.meta.get('curve_type')} curve with {saved.meta['bend_num']} bends; the "
                         "plane holds a one-bend Bezier curve (its bend is the third point)")
    joined = [os.path.realpath(p) for p in saved.meta.get("endpoints", [])]
    if joined != [os.path.realpath(p) for p in ends]:
        raise PlaneError(f"{path}: the curve joins {saved.meta.get('endpoints')}, not {list(ends)}")
    return {name.removeprefix("bend0."): t for name, t in saved.tensors.items() if name.startswith("bend0.")}


def with_bend(bend: Mapping[str, torch.Tensor], first: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The third point of a curve's plane: the bend; for the tensors the curve left alone, a tied alias takes its
    tied tensor's bend (the tensor the endpoint holds equal to it) and anything else (integer buffers) the first
    endpoint's value."""
    unknown = sorted(set(bend) - set(first))
    if unknown:
        raise PlaneError(f"the curve's bend holds {unknown[0]!r}, which the endpoints lack")
    out = dict(bend)
    for key, value in first.items():
        if key not in out:
            tied = next((k for k in bend if first[k].shape == value.shape and torch.equal(first[k], value)), None)
            out[key] = value if tied is None else bend[tied]
    return {k: out[k] for k in first}


def grid_points(anchors: Sequence[tuple[float, float]], size: int, margin: float) -> list[tuple[float, float]]:
    """A `size` × `size` grid over the checkpoints' extent widened by `margin` of it on every side, row by row."""
    if size < 2:
        raise PlaneError(f"plane_grid: a grid needs at least 2 points a side, got {size}")
    if not (math.isfinite(margin) and margin >= 0):
        raise PlaneError(f"plane_margin: expected a number >= 0, got {margin}")
    us, vs = [p[0] for p in anchors], [p[1] for p in anchors]
    axes = []
    for low, high in ((min(us), max(us)), (min(vs), max(vs))):
        pad = margin * (high - low)
        axes.append([round(float(t), 4) for t in np.linspace(low - pad, high + pad, size)])
    return [(u, v) for v in axes[1] for u in axes[0]]


class PlaneMover:
    """Writes θA + u·(θB − θA) + v·|θB − θA|·e2 into the model (each checkpoint itself at its own point)."""

    def __init__(self, interpolator: Interpolator, thetas: Sequence[Mapping[str, torch.Tensor]], basis: PlaneBasis,
                 e1: dict, e2: dict):
        self.interpolator = interpolator
        targets = interpolator.targets
        self.anchors = [self.interpolator.theta1, self.interpolator.theta2,
                        {k: thetas[2][k].detach().to(t.device, torch.float32) for k, t in targets.items()}]
        self.d1 = {k: (basis.scale * e1[k]).to(t.device, torch.float32) for k, t in targets.items() if k in e1}
        self.d2 = {k: (basis.scale * e2[k]).to(t.device, torch.float32) for k, t in targets.items() if k in e2}

    @torch.no_grad()
    def set(self, point: tuple[float, float, int]) -> None:
        """Move the model to `point` = (u, v, k): checkpoint k's own tensors when k >= 0."""
        u, v, k = point
        for key, target in self.interpolator.targets.items():
            if k >= 0 or key not in self.d1:
                target.copy_(self.anchors[max(k, 0)][key])
            else:
                target.copy_(self.anchors[0][key] + u * self.d1[key] + v * self.d2[key])

    def restore(self) -> None:
        """Put back the model's own tensors."""
        self.interpolator.restore()


@dataclass(frozen=True)
class PlaneView:
    """What a plane's files say of it: its kind, the checkpoints' coordinates, its basis, its axes and title."""

    kind: str
    anchors: tuple[tuple[float, float], ...]
    basis: dict
    u_label: str
    v_label: str
    title: str
    line: bool = True  # draw the straight line from the first checkpoint to the second
    curve: bool = False  # the third checkpoint is the bend of a one-bend Bezier curve between the first two


def three_point_view(basis: PlaneBasis, grid: int, curve: bool) -> PlaneView:
    """The view of the plane through three checkpoints."""
    return PlaneView(KIND, basis.anchors, basis.as_dict(), "u: along θB − θA (unit |θB − θA|)",
                     "v: ⊥ to it, toward θC (same unit)",
                     f"The plane through three checkpoints A, B, C ({grid}×{grid} grid, |θB − θA| = "
                     f"{basis.scale:.3g})", line=True, curve=curve)


@dataclass
class Plane:
    """A plane as a sweep job of module/sweep.py: its points (u, v, k) with k the checkpoint there or -1."""

    points: list[tuple[float, float, int]]
    set_point: object
    out_dir: Path
    settings: dict
    prefix: str
    paths: list[str]
    view: PlaneView
    grid: int
    margin: float

    def name(self, point: tuple[float, float, int]) -> str:
        """The point file: `checkpoint_<k>.json` or `u<u>_v<v>.json`."""
        u, v, k = point
        return f"checkpoint_{k}.json" if k >= 0 else f"u{u:+.4f}_v{v:+.4f}.json"

    def record(self, point: tuple[float, float, int], results: dict) -> dict:
        """{u, v, checkpoint, splits} with the splits checked as a path point's are."""
        u, v, k = point
        return {"u": u, "v": v, "checkpoint": k if k >= 0 else None, "splits": point_record(0.0, results)["splits"]}

    def coordinate(self, record: dict) -> tuple[float, float, int]:
        """The point a stored record belongs to."""
        k = record["checkpoint"]
        return record["u"], record["v"], -1 if k is None else k

    def write(self, records: list[dict], metric: str, final: bool) -> None:
        """plane.csv and summary.json (and plane.png when `final`) from the finished records."""
        if not records:
            return
        splits = [s for s in SPLIT_ORDER if s in records[0]["splits"]]
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(["u", "v", "checkpoint", *(f"{s}_{q}" for s in splits for q in ("performance", "loss"))])
        for r in records:
            writer.writerow([f"{r['u']:.4f}", f"{r['v']:.4f}", "" if r["checkpoint"] is None else
                             self.paths[r["checkpoint"]],
                             *(f"{r['splits'][s][q]:.6f}" for s in splits for q in ("performance", "loss"))])
        atomic_write_text(self.out_dir / CSV_FILE, out.getvalue())
        atomic_write_json(self.out_dir / SUMMARY_FILE, self.summary(records, metric, splits))
        if final and len(records) == len(self.points):
            plane_figure(self, records, metric, splits)

    def summary(self, records: list[dict], metric: str, splits: list[str]) -> dict:
        """The basis, the checkpoints' values and the best and worst grid points per split."""
        grid = [r for r in records if r["checkpoint"] is None]
        ends = {r["checkpoint"]: r for r in records if r["checkpoint"] is not None}
        out = {"kind": self.view.kind, "metric": metric, "grid": self.grid, "margin": self.margin,
               "points": {"grid": len(grid), "of": self.grid * self.grid}, "basis": self.view.basis,
               "checkpoints": [{"path": p, "u": self.view.anchors[k][0], "v": self.view.anchors[k][1],
                                **({s: {q: ends[k]["splits"][s][q] for q in ("performance", "loss")} for s in splits}
                                   if k in ends else {})} for k, p in enumerate(self.paths)], "splits": {}}
        for s in splits:
            entry = {}
            for q, better in (("performance", max), ("loss", min)):
                if grid:
                    best = better(grid, key=lambda r, s=s, q=q: r["splits"][s][q])
                    worst = (min if better is max else max)(grid, key=lambda r, s=s, q=q: r["splits"][s][q])
                    entry[q] = {f: {"u": r["u"], "v": r["v"], "value": r["splits"][s][q]}
                                for f, r in (("best", best), ("worst", worst))}
            out["splits"][s] = entry
        return out

    def report(self, metric: str) -> None:
        """The checkpoints' values, one line each with their coordinates, then where the files are."""
        for point in self.points:
            u, v, k = point
            path = self.out_dir / "points" / self.name(point)
            if k >= 0 and path.is_file():
                splits = json.loads(path.read_text())["splits"]
                print(f"checkpoint {'ABC'[k]} (u={u:.4f}, v={v:.4f}): " + "; ".join(
                    f"{s} {metric} {q['performance']:.4f} loss {q['loss']:.4f}" for s, q in splits.items()))
        print(f"wrote {self.out_dir}/{CSV_FILE}, {SUMMARY_FILE} and {FIGURE_FILE} ({len(self.points)} points)")


def plane_figure(plane: Plane, records: list[dict], metric: str, splits: list[str]) -> Path:
    """Filled contours of the metric and the loss over the grid, per split, with the checkpoints marked."""
    from module.figure_parts import new_figure, save_png
    from module.matrix import short_names

    grid = sorted((r for r in records if r["checkpoint"] is None), key=lambda r: (r["v"], r["u"]))
    us = sorted({r["u"] for r in grid})
    vs = sorted({r["v"] for r in grid})
    names = short_names(plane.paths)
    fig = new_figure(10.0, 4.2 * len(splits) + 0.8)
    axes = fig.subplots(len(splits), 2, squeeze=False)
    for row, split in enumerate(splits):
        for col, (quantity, label, cmap) in enumerate((("performance", metric, "viridis"),
                                                      ("loss", "loss", "magma_r"))):
            ax = axes[row][col]
            values = np.array([r["splits"][split][quantity] for r in grid]).reshape(len(vs), len(us))
            low, high = float(values.min()), float(values.max())
            if high - low < 1e-9 * max(1.0, abs(high)):  # one value everywhere: one band around it
                low, high = low - 0.5 * max(1e-3, abs(low) * 0.01), high + 0.5 * max(1e-3, abs(high) * 0.01)
            filled = ax.contourf(us, vs, values, levels=np.linspace(low, high, 21), cmap=cmap)
            fig.colorbar(filled, ax=ax, label=f"{split} {label}")
            if plane.view.line:
                ax.plot([0.0, 1.0], [0.0, 0.0], "w--", lw=1.2, label="straight line A-B")
            if plane.view.curve:
                t = np.linspace(0.0, 1.0, 101)
                cu, cv = plane.view.anchors[2]
                ax.plot(2 * t * (1 - t) * cu + t * t, 2 * t * (1 - t) * cv, "w-", lw=1.6,
                        label="Bezier curve (C its bend)")
            for k, (u, v) in enumerate(plane.view.anchors):
                ax.plot([u], [v], "o", color="white", markeredgecolor="black", ms=7)
                ax.annotate(f"{'ABC'[k]}: {short_name(names[k], 22)}", (u, v), textcoords="offset points",
                            xytext=(5, 6), fontsize=7, color="white",
                            bbox={"boxstyle": "round,pad=0.2", "fc": "black", "alpha": 0.55, "lw": 0})
            ax.set_xlabel(plane.view.u_label, fontsize=8)
            ax.set_ylabel(plane.view.v_label, fontsize=8)
            ax.set_title(f"{plane.prefix} {split} {label}", fontsize=9)
            if row == 0 and col == 0 and (plane.view.line or plane.view.curve):
                ax.legend(fontsize=7, loc="upper left")
    fig.suptitle(plane.view.title, fontsize=10)
    return save_png(fig, plane.out_dir / FIGURE_FILE)


def sweep(setup, paths: Sequence[str], thetas: Sequence[Mapping[str, torch.Tensor]], out_dir: str | Path,
          grid: int = DEFAULT_GRID, margin: float = DEFAULT_MARGIN, curve: bool = False) -> list[dict]:
    """Evaluate the plane through the three checkpoints (`setup`: module.path_jobs.PathSetup) into `out_dir`;
    returns the records (the grid row by row, then the three checkpoints)."""
    if len(paths) != 3 or len(thetas) != 3:
        raise PlaneError(f"a plane goes through three checkpoints, got {len(paths)}")
    check_same_keys(thetas[0], thetas[2], (paths[0], paths[2]))
    interpolator = Interpolator(setup.model, thetas[0], thetas[1], (paths[0], paths[1]))
    targets = interpolator.targets  # each tied tensor once: the plane's inner products count it once
    basis, e1, e2 = plane_basis([{k: theta[k] for k in targets} for theta in thetas])
    coords = grid_points(basis.anchors, grid, margin)
    points = [(u, v, -1) for u, v in coords] + [(u, v, k) for k, (u, v) in enumerate(basis.anchors)]
    mover = PlaneMover(interpolator, thetas, basis, e1, e2)
    setup.log(f"a {grid}x{grid} plane over {len(targets)} tensors ({sum(t.numel() for t in targets.values())} "
              f"values) through {', '.join(paths)}; |θB − θA| = {basis.scale:.4f}, C at u={basis.anchors[2][0]:.4f}"
              f" v={basis.anchors[2][1]:.4f}")

    def set_point(point: tuple[float, float, int]) -> None:
        mover.set(point)
        setup.on_point(f"checkpoint {point[2]}" if point[2] >= 0 else f"u={point[0]} v={point[1]}")

    settings = {**setup.settings(paths[0], paths[1]), "geometry": KIND,
                "plane": {"third": fingerprint(paths[2]), "grid": grid, "margin": margin}}
    plane = Plane(points, set_point, Path(out_dir), settings, setup.prefix, list(paths),
                  three_point_view(basis, grid, curve), grid, margin)
    try:
        return run_sweeps([plane], setup.evaluate, setup.metric, quiet=setup.quiet, desc="plane")[0]
    finally:
        mover.restore()
