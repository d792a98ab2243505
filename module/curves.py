"""Curved paths between two frozen sets of named tensors (Garipov et al. 2018), model-independent.

A curve φ(t), t in [0, 1], runs from θ1 (t = 0) to θ2 (t = 1) through n trainable bends b_1..b_n:

* Bezier of degree n + 1: φ(t) = Σ_k B_k(t) p_k with control points p = (θ1, b_1, ..., b_n, θ2) and Bernstein
  coefficients B_k(t) = C(n+1, k) t^k (1 − t)^(n+1−k); one bend gives (1−t)²θ1 + 2t(1−t)b + t²θ2.
* PolyChain: piecewise linear through θ1, b_1, ..., b_n, θ2 placed at t = 0, 1/(n+1), ..., 1.

The model is evaluated at φ(t) without touching its code: `functional_forward(model, curve.point(t), ...)` runs
`torch.func.functional_call` with the curve's tensors in place of the model's own, so gradients reach the bends only.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import torch
from torch import nn

from module.checkpoint import CheckpointError, load_checkpoint, load_endpoint, save_checkpoint
from module.interpolation import check_same_keys
from module.tensors import IncompatibleCheckpoints

CURVE_TYPES = ("bezier", "polychain")
BEND_INITS = ("midpoint", "random")
CURVE_FORMAT = "mode-connectivity/curve-v1"


# ----------------------------------------------------------------------------------------------- coefficients
def _as_tensor(t: float | torch.Tensor) -> torch.Tensor:
    return t.to(torch.float64) if isinstance(t, torch.Tensor) else torch.tensor(float(t), dtype=torch.float64)


def bezier_coefficients(t: float | torch.Tensor, degree: int) -> torch.Tensor:
    """Bernstein coefficients C(d, k) t^k (1 − t)^(d−k), k = 0..d; shape t.shape + (d + 1,), float64.

    At t = 0 and t = 1 they are exactly one-hot (0^0 = 1), so the curve passes through its endpoints exactly.
    """
    if degree < 1:
        raise ValueError(f"a Bezier curve needs degree >= 1, got {degree}")
    t = _as_tensor(t)[..., None]
    k = torch.arange(degree + 1, dtype=torch.float64)
    binom = torch.tensor([math.comb(degree, int(i)) for i in range(degree + 1)], dtype=torch.float64)
    return binom * t.pow(k) * (1 - t).pow(degree - k)


def polychain_coefficients(t: float | torch.Tensor, bends: int) -> torch.Tensor:
    """Hat-function weights of the bends + 2 knots at t = k/(bends+1); shape t.shape + (bends + 2,), float64.

    At most two neighbouring weights are non-zero and they sum to one: linear interpolation between the knots.
    """
    if bends < 0:
        raise ValueError(f"a PolyChain needs bends >= 0, got {bends}")
    t = _as_tensor(t)[..., None]
    k = torch.arange(bends + 2, dtype=torch.float64)
    return torch.clamp(1 - torch.abs(t * (bends + 1) - k), min=0.0)


def curve_coefficients(t: float | torch.Tensor, bend_num: int, curve_type: str = "bezier") -> torch.Tensor:
    """Coefficients of (θ1, b_1, ..., b_n, θ2) at t for a curve of `curve_type` with `bend_num` bends."""
    if curve_type == "bezier":
        return bezier_coefficients(t, bend_num + 1)
    if curve_type == "polychain":
        return polychain_coefficients(t, bend_num)
    raise ValueError(f"unknown curve type {curve_type!r}; expected one of {CURVE_TYPES}")


# ----------------------------------------------------------------------------------------------- the curve
def mangle(name: str) -> str:
    """A tensor name usable as a module attribute: '.' -> '__'."""
    return name.replace(".", "__")


class Curve(nn.Module):
    """Frozen endpoints θ1, θ2 (buffers) and `bend_num` trainable bends over the same named tensors.

    `init="midpoint"` puts bend k (1-based) on the straight line at k/(n+1), so the untrained curve *is* the line;
    `init="random"` draws every bend value from N(mean, std) (the original's adapter bend), using `generator`.
    """

    def __init__(self, theta1: Mapping[str, torch.Tensor], theta2: Mapping[str, torch.Tensor], bend_num: int = 1,
                 curve_type: str = "bezier", init: str = "midpoint", std: float = 0.02, mean: float = 0.0,
                 generator: torch.Generator | None = None):
        super().__init__()
        if int(bend_num) != bend_num or bend_num < 1:
            raise ValueError(f"--bend_num: a curve needs at least one bend, got {bend_num}")
        if curve_type not in CURVE_TYPES:
            raise ValueError(f"unknown curve type {curve_type!r}; expected one of {CURVE_TYPES}")
        if init not in BEND_INITS:
            raise ValueError(f"unknown bend initialisation {init!r}; expected one of {BEND_INITS}")
        if not (math.isfinite(std) and std >= 0):
            raise ValueError(f"--bend_std: expected a finite number >= 0, got {std}")
        check_same_keys(theta1, theta2)
        if not theta1:
            raise ValueError("a curve needs at least one tensor")
        self.names = list(theta1)
        self.keys = {name: mangle(name) for name in self.names}
        if len(set(self.keys.values())) != len(self.keys):
            raise ValueError("two tensor names collide after replacing '.' by '__'")
        for name in self.names:
            if not (theta1[name].is_floating_point() and theta2[name].is_floating_point()):
                raise ValueError(f"tensor {name!r} is not floating point and cannot lie on a curve")
        self.bend_num, self.curve_type, self.init = int(bend_num), curve_type, init
        self.start = nn.Module()
        self.end = nn.Module()
        for name in self.names:
            self.start.register_buffer(self.keys[name], theta1[name].detach().to(torch.float32).clone())
            self.end.register_buffer(self.keys[name], theta2[name].detach().to(torch.float32).clone())
        self.bends = nn.ModuleList()
        for k in range(1, self.bend_num + 1):
            alpha = k / (self.bend_num + 1)
            bend = nn.ParameterDict()
            for name in self.names:
                a, b = self.theta1(name), self.theta2(name)
                if init == "midpoint":
                    value = a + alpha * (b - a)
                else:
                    value = torch.normal(mean, std, a.shape, generator=generator, dtype=torch.float32).to(a.device)
                bend[self.keys[name]] = nn.Parameter(value)
            self.bends.append(bend)

    # -- access
    def theta1(self, name: str) -> torch.Tensor:
        return getattr(self.start, self.keys[name])

    def theta2(self, name: str) -> torch.Tensor:
        return getattr(self.end, self.keys[name])

    def bend(self, k: int, name: str) -> torch.Tensor:
        """Bend k (0-based) of tensor `name`."""
        return self.bends[k][self.keys[name]]

    @property
    def degree(self) -> int:
        """Polynomial degree of a Bezier curve (bend_num + 1); for a PolyChain, the number of segments."""
        return self.bend_num + 1

    def coefficients(self, t: float | torch.Tensor) -> torch.Tensor:
        """Coefficients of (θ1, b_1, ..., b_n, θ2) at t."""
        return curve_coefficients(t, self.bend_num, self.curve_type)

    def point(self, t: float | torch.Tensor) -> dict[str, torch.Tensor]:
        """φ(t) for every tensor name; differentiable with respect to the bends only."""
        coef = self.coefficients(t).to(torch.float32).tolist()
        out = {}
        for name in self.names:
            value = coef[0] * self.theta1(name)
            for k in range(self.bend_num):
                value = value + coef[k + 1] * self.bend(k, name)
            out[name] = value + coef[-1] * self.theta2(name)
        return out

    # -- geometry
    @torch.no_grad()
    def segment_lengths(self, ts: Sequence[float]) -> list[float]:
        """||φ(t_{i+1}) − φ(t_i)|| (L2 over all tensors together) for consecutive grid points."""
        lengths, previous = [], None
        for t in ts:
            current = self.point(float(t))
            if previous is not None:
                squared = sum(float((current[n] - previous[n]).double().pow(2).sum()) for n in self.names)
                lengths.append(math.sqrt(squared))
            previous = current
        return lengths

    def length(self, n_points: int = 101) -> float:
        """Arc length of the curve in parameter space (L2), as a polyline through `n_points` evenly spaced t."""
        if n_points < 2:
            raise ValueError(f"expected at least 2 points, got {n_points}")
        return sum(self.segment_lengths([i / (n_points - 1) for i in range(n_points)]))

    @torch.no_grad()
    def line_length(self) -> float:
        """||θ2 − θ1||: the length of the straight line between the endpoints."""
        return math.sqrt(sum(float((self.theta2(n) - self.theta1(n)).double().pow(2).sum()) for n in self.names))

    # -- saving
    def state(self) -> dict[str, torch.Tensor]:
        """The bends as `bend<k>.<tensor name>` (k from 0), detached on the CPU."""
        return {f"bend{k}.{name}": self.bend(k, name).detach().cpu() for k in range(self.bend_num) for name in
                self.names}

    def meta(self) -> dict:
        """What `from_state` needs besides the bends and the endpoints."""
        return {"format": CURVE_FORMAT, "curve_type": self.curve_type, "bend_num": self.bend_num,
                "degree": self.degree, "bend_init": self.init, "names": list(self.names)}

    @classmethod
    def from_state(cls, tensors: Mapping[str, torch.Tensor], meta: Mapping, theta1: Mapping[str, torch.Tensor],
                   theta2: Mapping[str, torch.Tensor]) -> Curve:
        """Rebuild a curve from `state()` tensors, `meta()` and its endpoints (extra endpoint tensors are ignored)."""
        if meta.get("format") != CURVE_FORMAT:
            raise ValueError(f"not a curve (format {meta.get('format')!r}, expected {CURVE_FORMAT!r})")
        names = list(meta["names"])
        for which, theta in (("endpoint 1", theta1), ("endpoint 2", theta2)):
            missing = [n for n in names if n not in theta]
            if missing:
                raise IncompatibleCheckpoints(f"tensor {missing[0]!r} of the curve is not in {which}")
        curve = cls({n: theta1[n] for n in names}, {n: theta2[n] for n in names}, bend_num=int(meta["bend_num"]),
                    curve_type=meta["curve_type"], init=meta.get("bend_init", "midpoint"))
        curve.load_bends(tensors)
        return curve

    @torch.no_grad()
    def load_bends(self, tensors: Mapping[str, torch.Tensor]) -> None:
        """Copy `state()`-named bend tensors into this curve (every bend, nothing else, same shapes)."""
        expected = {f"bend{k}.{name}": (k, name) for k in range(self.bend_num) for name in self.names}
        if set(tensors) != set(expected):
            odd = sorted(set(tensors) ^ set(expected))[0]
            where = "missing from the saved curve" if odd in expected else "not part of this curve"
            raise IncompatibleCheckpoints(f"bend tensor {odd!r} is {where}")
        for key, (k, name) in expected.items():
            target = self.bend(k, name)
            if tuple(tensors[key].shape) != tuple(target.shape):
                raise IncompatibleCheckpoints(f"bend tensor {key!r} has shape {tuple(tensors[key].shape)}, "
                                              f"the endpoints {tuple(target.shape)}")
        for key, (k, name) in expected.items():
            self.bend(k, name).copy_(tensors[key])


def length_weighted_mean(values: Sequence[float], segment_lengths: Sequence[float]) -> float:
    """∫ v(t) ||φ'(t)|| dt / ∫ ||φ'(t)|| dt on a grid: each segment weighs the mean of its two end values by its length.

    A curve of zero length (identical endpoints and bends) gives the plain mean.
    """
    if len(values) != len(segment_lengths) + 1:
        raise ValueError(f"expected one value more than segments, got {len(values)} and {len(segment_lengths)}")
    total = sum(segment_lengths)
    if total <= 0:
        return sum(values) / len(values)
    return sum(s * (values[i] + values[i + 1]) / 2 for i, s in enumerate(segment_lengths)) / total


def step_t(seed: int, step: int) -> float:
    """The t of update `step`: U(0, 1), reproducible from the seed and the step alone (so resuming changes nothing)."""
    generator = torch.Generator().manual_seed(seed * 1_000_003 + step)
    return float(torch.rand((), generator=generator, dtype=torch.float64))


# ----------------------------------------------------------------------------------------------- model side
def functional_forward(model: nn.Module, params: Mapping[str, torch.Tensor], *args, **kwargs):
    """Run `model(*args, **kwargs)` with `params` in place of the model's tensors of those names (nothing is copied).

    Tensors not in `params` are the model's own; tied tensors follow the one given (tie_weights=True).
    """
    return torch.func.functional_call(model, dict(params), args, kwargs, tie_weights=True, strict=False)


@torch.no_grad()
def write_point(targets: Mapping[str, torch.Tensor], point: Mapping[str, torch.Tensor]) -> None:
    """Copy φ(t) into live model tensors (`targets`: name -> the model's own tensor)."""
    for name, value in point.items():
        targets[name].copy_(value)


# ----------------------------------------------------------------------------------------------- files
def save_curve(path: str | os.PathLike, curve: Curve, endpoints: Sequence[str], meta: Mapping | None = None,
               optimizer: dict | None = None, scheduler: dict | None = None, rng: list | None = None) -> Path:
    """Write the bends atomically as a `state_dict` checkpoint; meta holds the endpoints' paths and the curve shape
    (`rng`: the generator states a resumed training continues from)."""

    info = {**(meta or {}), **curve.meta(), "endpoints": [str(p) for p in endpoints]}
    return save_checkpoint(path, curve.state(), kind="state_dict", meta=info, optimizer=optimizer, scheduler=scheduler,
                           rng=rng)


def load_curve(path: str | os.PathLike, theta1: Mapping[str, torch.Tensor] | None = None,
               theta2: Mapping[str, torch.Tensor] | None = None,
               read_endpoint: Callable[[str], Mapping[str, torch.Tensor]] | None = None) -> tuple[Curve, dict]:
    """Rebuild a saved curve; endpoints not given are read from the paths in its meta. Returns (curve, meta)."""

    ckpt = load_checkpoint(path)
    if ckpt.meta.get("format") != CURVE_FORMAT:
        raise CheckpointError(f"{path}: not a curve checkpoint (written by curve_find.py)")
    read = read_endpoint or (lambda p: load_endpoint(p).tensors)
    paths = ckpt.meta.get("endpoints", [None, None])
    theta1 = theta1 if theta1 is not None else read(paths[0])
    theta2 = theta2 if theta2 is not None else read(paths[1])
    meta = {**ckpt.meta, "_optimizer": ckpt.optimizer, "_scheduler": ckpt.scheduler}
    return Curve.from_state(ckpt.tensors, ckpt.meta, theta1, theta2), meta
