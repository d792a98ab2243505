"""Straight-line interpolation between two sets of named tensors, written into a live model in place."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import numpy as np
import torch
from torch import nn

from module.tensors import IncompatibleCheckpoints, live_targets, tied_aliases

MAX_ITPL_POINTS = 1001  # x is rounded to 3 decimals, as the original: more points would repeat x values


def interpolation_points(n: int) -> list[float]:
    """`n` evenly spaced x in [0, 1], both endpoints included, rounded to 3 decimals as the original did."""
    if not 2 <= n <= MAX_ITPL_POINTS:
        raise ValueError(f"expected 2 to {MAX_ITPL_POINTS} interpolation points (x is rounded to 3 decimals), got {n}")
    return [round(float(x), 3) for x in np.linspace(0.0, 1.0, n)]


def check_same_keys(theta1: Mapping[str, torch.Tensor], theta2: Mapping[str, torch.Tensor],
                    names: tuple[str, str] = ("checkpoint 1", "checkpoint 2")) -> None:
    """Raise naming the first key missing from one side, or the first key whose shapes differ."""
    for key in theta1:
        if key not in theta2:
            raise IncompatibleCheckpoints(f"tensor {key!r} is in {names[0]} but not in {names[1]}")
        if tuple(theta1[key].shape) != tuple(theta2[key].shape):
            raise IncompatibleCheckpoints(f"tensor {key!r} has shape {tuple(theta1[key].shape)} in {names[0]} "
                                          f"and {tuple(theta2[key].shape)} in {names[1]}")
    for key in theta2:
        if key not in theta1:
            raise IncompatibleCheckpoints(f"tensor {key!r} is in {names[1]} but not in {names[0]}")


def interpolate(theta1: Mapping[str, torch.Tensor], theta2: Mapping[str, torch.Tensor],
                x: float) -> dict[str, torch.Tensor]:
    """θ(x) = (1 − x)·θ1 + x·θ2 as new tensors (for tools; sweeps use `Interpolator`)."""
    check_same_keys(theta1, theta2)
    return {k: (1 - x) * theta1[k] + x * theta2[k] for k in theta1}


class Interpolator:
    """Writes θ(x) = (1 − x)·θ1 + x·θ2 into the model's own tensors; everything else is never touched.

    The endpoints are copied once to the model's device; each `set(x)` rewrites only the named
    tensors, with no state-dict rebuild. `restore()` (or leaving a `with` block) puts back the
    values the model had before.
    """

    def __init__(self, model: nn.Module, theta1: Mapping[str, torch.Tensor], theta2: Mapping[str, torch.Tensor],
                 names: tuple[str, str] = ("checkpoint 1", "checkpoint 2")):
        check_same_keys(theta1, theta2, names)
        self.targets = live_targets(model, theta1, names[0])
        # a tied parameter is written once, and the endpoints must agree on its value
        for alias in tied_aliases(model, theta1, names[0]) | tied_aliases(model, theta2, names[1]):
            del self.targets[alias]
        self.theta1 = {k: theta1[k].detach().to(self.targets[k].device, torch.float32) for k in self.targets}
        self.theta2 = {k: theta2[k].detach().to(self.targets[k].device, torch.float32) for k in self.targets}
        self.saved = {k: t.detach().clone() for k, t in self.targets.items()}
        self.x: float | None = None

    @torch.no_grad()
    def set(self, x: float) -> None:
        """Write θ(x) into the model."""
        for key, target in self.targets.items():
            target.copy_((1 - x) * self.theta1[key] + x * self.theta2[key])
        self.x = x

    def between(self, theta1: Mapping[str, torch.Tensor], theta2: Mapping[str, torch.Tensor]) -> None:
        """Make θ1 and θ2 (of the same tensors) the line's endpoints; `restore()` still puts back the values the
        model had when the interpolator was made."""
        check_same_keys(theta1, theta2)
        check_same_keys(self.theta1, {k: v for k, v in theta1.items() if k in self.targets})
        self.theta1 = {k: theta1[k].detach().to(self.targets[k].device, torch.float32) for k in self.targets}
        self.theta2 = {k: theta2[k].detach().to(self.targets[k].device, torch.float32) for k in self.targets}
        self.x = None

    @torch.no_grad()
    def restore(self) -> None:
        """Put back the values the targeted tensors had when the interpolator was made."""
        for key, target in self.targets.items():
            target.copy_(self.saved[key])
        self.x = None

    def __enter__(self) -> Interpolator:
        return self

    def __exit__(self, *exc) -> None:
        self.restore()


def pair_mover(interpolator: Interpolator, thetas: Sequence[Mapping[str, torch.Tensor]],
               first: tuple[int, int] = (0, 1)) -> Callable[[int, int], Callable[[float], None]]:
    """`mover(i, j)` is the `set_point` of the line from thetas[i] to thetas[j]: one interpolator (made with the
    endpoints of pair `first`) serves every pair of a pool, its endpoints moved only when the pair changes."""
    current = [first]

    def mover(i: int, j: int) -> Callable[[float], None]:
        def move(x: float) -> None:
            if current[0] != (i, j):
                interpolator.between(thetas[i], thetas[j])
                current[0] = (i, j)
            interpolator.set(x)
        return move

    return mover
