"""The loss landscape around one minimum (Li et al. 2018, "Visualizing the loss landscape of neural nets"): the plane
θ* + α·d1 + β·d2 spanned by two random Gaussian directions with filter-wise normalisation (each filter, a row of a
weight tensor along its first dimension, scaled to the norm of the same filter of θ*; biases and other 1-D tensors
get no direction: this project's choice), on a G × G grid of α, β in [−span, span].

The minimum itself is evaluated with its own tensors (equal to its evaluation anywhere else to the last digit);
the directions are drawn from `seed`, so a run is reproducible and resumable. Files as the three-point plane's
(module/geometries/plane.py): plane.csv, summary.json, plane.png.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import torch

from module.geometries.plane import Plane, PlaneError, PlaneView
from module.interpolation import Interpolator
from module.path_info import short_name
from module.sweep import run_sweeps

KIND = "random_plane"
DEFAULT_SPAN = 1.0


def filter_normalized_direction(theta: Mapping[str, torch.Tensor], generator: torch.Generator) -> dict:
    """A Gaussian direction in the space of `theta`, filter-wise normalised (Li et al. 2018, section 4): every row
    of a tensor of two or more dimensions has the norm of the same row of `theta`; 1-D and integer tensors get 0."""
    direction = {}
    for key, value in theta.items():
        if not value.is_floating_point() or value.ndim < 2:
            direction[key] = torch.zeros(value.shape, dtype=torch.float32)
            continue
        draw = torch.randn(value.shape, generator=generator, dtype=torch.float32)
        scale = value.detach().float().cpu().flatten(1).norm(dim=1) / draw.flatten(1).norm(dim=1).clamp_min(1e-12)
        direction[key] = draw * scale.view(-1, *([1] * (value.ndim - 1)))
    return direction


def sweep(setup, paths: Sequence[str], thetas: Sequence[Mapping[str, torch.Tensor]], out_dir: str | Path,
          grid: int = 21, span: float = DEFAULT_SPAN, seed: int = 0) -> list[dict]:
    """Evaluate the random-direction plane around the one checkpoint into `out_dir`; returns the records."""
    if len(paths) != 1 or len(thetas) != 1:
        raise PlaneError(f"a random-direction plane is drawn around one checkpoint, got {len(paths)}")
    if grid < 2 or not (math.isfinite(span) and span > 0):
        raise PlaneError(f"plane_grid/plane_span: expected a grid of at least 2 and a span > 0, got {grid}, {span}")
    center = thetas[0]
    interpolator = Interpolator(setup.model, center, center, (paths[0], paths[0]))
    targets = interpolator.targets  # each tied tensor once
    generator = torch.Generator().manual_seed(seed)
    d1 = filter_normalized_direction({k: center[k] for k in targets}, generator)
    d2 = filter_normalized_direction({k: center[k] for k in targets}, generator)
    dot = sum(float((d1[k].double() * d2[k].double()).sum()) for k in d1)
    norms = [math.sqrt(sum(float((d[k].double() ** 2).sum()) for k in d)) for d in (d1, d2)]
    if not norms[0] or not norms[1]:
        raise PlaneError(f"{paths[0]}: no tensor of two or more dimensions to draw a direction in")
    on_device = [{k: d[k].to(t.device) for k, t in targets.items()} for d in (d1, d2)]
    axis = [round(float(t), 4) for t in np.linspace(-span, span, grid)]
    points = [(a, b, -1) for b in axis for a in axis] + [(0.0, 0.0, 0)]

    @torch.no_grad()
    def set_point(point: tuple[float, float, int]) -> None:
        a, b, k = point
        for key, target in targets.items():
            base = interpolator.theta1[key]
            target.copy_(base if k >= 0 else base + a * on_device[0][key] + b * on_device[1][key])
        setup.on_point("the checkpoint" if k >= 0 else f"α={a} β={b}")

    view = PlaneView(KIND, ((0.0, 0.0),), {"directions": "Gaussian, filter-wise normalised (Li et al. 2018); "
                                                         "biases and other 1-D tensors not moved",
                                           "seed": seed, "span": span, "norms": norms,
                                           "cosine": dot / (norms[0] * norms[1])},
                     "α: random direction 1 (filter-wise normalised)", "β: random direction 2 (filter-wise normalised)",
                     f"Around {short_name(str(paths[0]), 40)}: two random directions, filter-wise normalised (Li et "
                     f"al. 2018), {grid}×{grid} grid", line=False)
    setup.log(f"a {grid}x{grid} random-direction plane around {paths[0]} over {len(targets)} tensors (seed {seed}, "
              f"span {span}); direction norms {norms[0]:.4f}, {norms[1]:.4f}, cosine {view.basis['cosine']:.4f}")
    settings = {**setup.settings(paths[0], paths[0]), "geometry": KIND,
                "random_plane": {"grid": grid, "span": span, "seed": seed}}
    plane = Plane(points, set_point, Path(out_dir), settings, setup.prefix, [str(paths[0])], view, grid, 0.0)
    try:
        return run_sweeps([plane], setup.evaluate, setup.metric, quiet=setup.quiet, desc="random plane")[0]
    finally:
        interpolator.restore()
