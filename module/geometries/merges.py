"""Merges as points beside a line: the usual ways of merging two fine-tuned models, each evaluated on the line's own
examples and reported beside the line's endpoints and its best point, so one sees whether a merge beats the best
point of the line.

With θ0 the weights both endpoints were tuned from (by default the model's own before the sweep: the pre-trained
model for full tuning; a family may give its own, e.g. the zero LoRA update) and τ = θ − θ0 each endpoint's task
vector:

* `task arithmetic λ` (Ilharco et al. 2023): θ0 + λ·(τA + τB), for each λ of the grid (λ = 0.5 is the line's
  midpoint);
* `ties` (Yadav et al. 2023): θ0 + TIES(τA, τB) at `density` (trim each to its largest magnitudes, elect signs,
  mean of the agreeing values), peft's `merge_utils.ties`;
* `dare` (Yu et al. 2024): θ0 + ½·(DARE(τA) + DARE(τB)) at `density` (random drop and rescale, seeded), peft's
  `merge_utils.dare_linear`;
* `slerp` (Shoemake 1985, as model mergers use it): per tensor, the spherical interpolation between θA and θB at
  t = ½ (a straight line where they are nearly parallel).

Files in `<out>/merges/`: `merges.csv` (one row per merge and for the line's x = 0, x = 1 and best point),
`merges.json` and `merges.png`.
"""

from __future__ import annotations

import contextlib
import csv
import io
import math
import re
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

from module.analysis import point_record
from module.files import atomic_write_json, atomic_write_text
from module.interpolation import Interpolator
from module.runs import fingerprint
from module.sweep import read_records, run_sweeps

KIND = "merges"
FOLDER, CSV_FILE, SUMMARY_FILE, FIGURE_FILE = "merges", "merges.csv", "merges.json", "merges.png"
DEFAULT_LAMBDAS = (0.5, 1.0)
DEFAULT_DENSITY = 0.5
SLERP_PARALLEL = 0.9995  # |cos| above this: the straight line (the sphere's arc is numerically a chord)


class MergeError(ValueError):
    """Merge settings that cannot work."""


def task_arithmetic(base: torch.Tensor, taus: Sequence[torch.Tensor], lam: float) -> torch.Tensor:
    """θ0 + λ·Σ τi."""
    from peft.utils.merge_utils import task_arithmetic as peft_task_arithmetic

    return base + peft_task_arithmetic(list(taus), torch.full((len(taus),), float(lam)))


def ties(base: torch.Tensor, taus: Sequence[torch.Tensor], density: float) -> torch.Tensor:
    """θ0 + TIES(τ...) (peft's trim, elect sign, disjoint mean; each task vector weighted 1)."""
    from peft.utils.merge_utils import ties as peft_ties

    with _dense_quietly():
        return base + peft_ties(list(taus), torch.ones(len(taus)), density)


def dare(base: torch.Tensor, taus: Sequence[torch.Tensor], density: float) -> torch.Tensor:
    """θ0 + the mean of the task vectors with DARE's random drop and rescale (peft's dare_linear)."""
    from peft.utils.merge_utils import dare_linear

    with _dense_quietly():
        return base + dare_linear(list(taus), torch.full((len(taus),), 1.0 / len(taus)), density)


@contextlib.contextmanager
def _dense_quietly():
    """Density 1 keeps everything: peft says so once per tensor; the merge's name says it once."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="The density .* no pruning will be performed")
        yield


def slerp(a: torch.Tensor, b: torch.Tensor, t: float) -> torch.Tensor:
    """The spherical interpolation between a and b at t (their straight line when nearly parallel or zero)."""
    norms = float(a.norm()) * float(b.norm())
    cos = float((a.double() * b.double()).sum()) / norms if norms > 0 else 1.0
    if abs(cos) > SLERP_PARALLEL:
        return (1 - t) * a + t * b
    angle = math.acos(max(-1.0, min(1.0, cos)))
    return (math.sin((1 - t) * angle) / math.sin(angle)) * a + (math.sin(t * angle) / math.sin(angle)) * b


def merge_points(lambdas: Sequence[float], density: float, endpoints: int = 2) -> list[tuple[str, dict]]:
    """The merges evaluated, as (name, parameters); SLERP joins two endpoints only."""
    check_merge_settings(lambdas, density)
    return ([(f"task arithmetic λ={lam:g}", {"method": "task_arithmetic", "lambda": lam}) for lam in lambdas]
            + [(f"ties density={density:g}", {"method": "ties", "density": density}),
               (f"dare density={density:g}", {"method": "dare", "density": density})]
            + ([("slerp t=0.5", {"method": "slerp", "t": 0.5})] if endpoints == 2 else []))


def check_merge_settings(lambdas: Sequence[float], density: float, names: tuple[str, str] = ("merge_lambdas",
                                                                                            "merge_density")) -> None:
    """λ finite numbers and the density a fraction in (0, 1]; one error naming the setting otherwise (the families
    call this before their sweep writes anything)."""
    if not lambdas or not all(isinstance(x, (int, float)) and math.isfinite(x) for x in lambdas):
        raise MergeError(f"{names[0]}: expected finite numbers, got {list(lambdas or [])}")
    if not (isinstance(density, (int, float)) and 0.0 < density <= 1.0):
        raise MergeError(f"{names[1]}: expected a fraction in (0, 1], got {density}")


class MergeMover:
    """Writes a merge of the endpoints into the model (computed tensor by tensor, DARE from a fixed seed)."""

    def __init__(self, interpolator: Interpolator, thetas: Sequence[Mapping[str, torch.Tensor]],
                 base: Mapping[str, torch.Tensor] | None, seed: int):
        self.interpolator = interpolator
        targets = interpolator.targets
        own = interpolator.saved if base is None else base
        self.base = {k: own[k].detach().to(t.device, torch.float32) for k, t in targets.items()}
        self.ends = [interpolator.theta1, interpolator.theta2] + [
            {k: theta[k].detach().to(t.device, torch.float32) for k, t in targets.items()} for theta in thetas[2:]]
        self.seed = seed

    @torch.no_grad()
    def set(self, params: Mapping) -> None:
        """Write the merge `params` (one of `merge_points`)."""
        i, method = self.interpolator, params["method"]
        generator_state = torch.random.get_rng_state()
        torch.manual_seed(self.seed)  # DARE's drops: the same for every run of this merge
        try:
            for key, target in i.targets.items():
                base = self.base[key]
                ends = [end[key] for end in self.ends]
                taus = [end - base for end in ends]
                if not target.is_floating_point():
                    value = ends[0]
                elif method == "task_arithmetic":
                    value = task_arithmetic(base, taus, params["lambda"])
                elif method == "ties":
                    value = ties(base, taus, params["density"])
                elif method == "dare":
                    value = dare(base, taus, params["density"])
                else:
                    value = slerp(ends[0], ends[1], params["t"])
                target.copy_(value)
        finally:
            torch.random.set_rng_state(generator_state)


@dataclass
class Merges:
    """The merges as a sweep job of module/sweep.py: its points are the merges' names."""

    points: list[str]
    params: dict[str, dict]
    set_point: Callable[[str], None]
    out_dir: Path
    settings: dict
    line_dir: Path

    def name(self, point: str) -> str:
        """The point file of a merge."""
        return re.sub(r"[^A-Za-z0-9.=_-]+", "_", point) + ".json"

    def record(self, point: str, results: dict) -> dict:
        """{merge, params, splits}, the splits checked as a path point's are."""
        return {"merge": point, "params": self.params[point], "splits": point_record(0.0, results)["splits"]}

    def coordinate(self, record: dict) -> str:
        """The merge a stored record belongs to."""
        return record["merge"]

    def line_rows(self) -> list[tuple[str, dict]]:
        """What the merges are compared with: a line's x = 0, x = 1 and best point, or a matrix's checkpoints and
        the best point of all its pairs (by the first split's metric)."""
        pairs = sorted(self.line_dir.glob("pair_*_*"))
        if pairs:
            ends, best = {}, None
            for folder in pairs:
                i, j = (int(n) for n in folder.name.split("_")[1:])
                records = read_records(folder)
                if not records:
                    continue
                ends.setdefault(i, records[0]["splits"])
                ends.setdefault(j, records[-1]["splits"])
                split = next(iter(records[0]["splits"]))
                top = max(records, key=lambda r: r["splits"][split]["performance"])
                if best is None or top["splits"][split]["performance"] > best[1]["splits"][split]["performance"]:
                    best = (f"best of all pairs ({folder.name} x={top['x']:g})", top)
            rows = [(f"checkpoint {k}", ends[k]) for k in sorted(ends)]
            return rows + ([(best[0], best[1]["splits"])] if best else [])
        records = read_records(self.line_dir) if (self.line_dir / "points").is_dir() else []
        if not records:
            return []
        split = next(iter(records[0]["splits"]))
        best = max(records, key=lambda r: r["splits"][split]["performance"])
        return [("line x=0 (A)", records[0]["splits"]), ("line x=1 (B)", records[-1]["splits"]),
                (f"line best x={best['x']:g}", best["splits"])]

    def write(self, records: list[dict], metric: str, final: bool) -> None:
        """merges.csv and merges.json (and merges.png when `final`)."""
        if not records:
            return
        splits = [s for s in ("dev", "test", "train") if s in records[0]["splits"]]
        rows = [(r["merge"], r["splits"]) for r in records] + self.line_rows()
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(["point", *(f"{s}_{q}" for s in splits for q in ("performance", "loss"))])
        for name, values in rows:
            writer.writerow([name, *(f"{values[s][q]:.6f}" for s in splits for q in ("performance", "loss"))])
        atomic_write_text(self.out_dir / CSV_FILE, out.getvalue())
        atomic_write_json(self.out_dir / SUMMARY_FILE, {
            "kind": KIND, "metric": metric, "merges": {r["merge"]: {"params": r["params"], **{
                s: {q: r["splits"][s][q] for q in ("performance", "loss")} for s in splits}} for r in records},
            "line": {name: {s: {q: v[s][q] for q in ("performance", "loss")} for s in splits}
                     for name, v in self.line_rows()}})
        if final and len(records) == len(self.points):
            merges_figure(self, rows, splits[0], metric)

    def report(self, metric: str) -> None:
        """The merges beside the line's points, one line each."""
        rows = [(r["merge"], r["splits"]) for r in
                (read_records_of(self))] + self.line_rows()
        split = next(iter(rows[0][1]))
        for name, values in rows:
            print(f"{name:28s} {split} {metric} {values[split]['performance']:.4f} loss {values[split]['loss']:.4f}")
        print(f"wrote {self.out_dir}/{CSV_FILE}, {SUMMARY_FILE} and {FIGURE_FILE}")


def read_records_of(job: Merges) -> list[dict]:
    """The merges' finished records, in the job's order."""
    from module.files import read_json

    return [read_json(job.out_dir / "points" / job.name(p)) for p in job.points
            if (job.out_dir / "points" / job.name(p)).is_file()]


def merges_figure(job: Merges, rows: list[tuple[str, dict]], split: str, metric: str) -> Path:
    """The metric and the loss of every merge as bars, the line's endpoints and best point as reference lines."""
    from module.figure_parts import new_figure, save_png

    merges = [(n, v) for n, v in rows if n in job.params]
    line = [(n, v) for n, v in rows if n not in job.params][:6]
    fig = new_figure(11.0, 0.45 * len(merges) + 2.4)
    axes = fig.subplots(1, 2)
    styles = ("--", ":", "-.", (0, (5, 1)), (0, (1, 3)), (0, (3, 2, 1, 2)))
    for ax, quantity, label in ((axes[0], "performance", metric), (axes[1], "loss", "loss")):
        y = list(range(len(merges)))
        ax.plot([v[split][quantity] for _, v in merges], y, "o", color="#2c3e50", ms=8, label="merge")
        ax.set_yticks(y, [n for n, _ in merges], fontsize=8)
        ax.set_ylim(len(merges) - 0.5, -0.5)
        ax.grid(axis="y", color="#dddddd", lw=0.6)
        for (name, values), style in zip(line, styles, strict=False):
            ax.axvline(values[split][quantity], color="#c0392b", ls=style, lw=1.2, label=name)
        values = [v[split][quantity] for _, v in rows]
        pad = 0.15 * (max(values) - min(values) or abs(max(values)) or 1.0)
        ax.set_xlim(min(values) - pad, max(values) + pad)
        ax.set_xlabel(f"{split} {label}", fontsize=8)
        ax.set_title(f"{split} {label} ({'higher' if quantity == 'performance' else 'lower'} is better)", fontsize=9)
    axes[1].legend(fontsize=7, loc="center left", bbox_to_anchor=(1.02, 0.5))
    fig.suptitle("Merges of the endpoints beside the path's endpoints and its best point", fontsize=10)
    return save_png(fig, job.out_dir / FIGURE_FILE)


def sweep(setup, paths: Sequence[str], thetas: Sequence[Mapping[str, torch.Tensor]], out_dir: str | Path,
          base: Mapping[str, torch.Tensor] | None = None, lambdas: Sequence[float] = DEFAULT_LAMBDAS,
          density: float = DEFAULT_DENSITY, seed: int = 0) -> list[dict]:
    """Evaluate the merges of the endpoints (two beside a line, N beside a matrix) into `<out_dir>/merges/`;
    returns their records."""
    points = merge_points(lambdas, density, len(thetas))
    interpolator = Interpolator(setup.model, thetas[0], thetas[1], (paths[0], paths[1]))
    mover = MergeMover(interpolator, thetas, base, seed)
    params = dict(points)

    def set_point(point: str) -> None:
        mover.set(params[point])
        setup.on_point(point)

    settings = {**setup.settings(paths[0], paths[1]), "geometry": KIND, "merges": [p for _, p in points],
                "more_endpoints": [fingerprint(p) for p in paths[2:]],
                "seed": seed, "base": "given" if base is not None else "the model's own"}
    job = Merges([n for n, _ in points], params, set_point, Path(out_dir) / FOLDER, settings, Path(out_dir))
    try:
        return run_sweeps([job], setup.evaluate, setup.metric, quiet=setup.quiet, desc="merges")[0]
    finally:
        interpolator.restore()
