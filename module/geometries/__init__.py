"""Path geometries as plug-ins: each kind is a module here with a `sweep(setup, paths, thetas, out_dir, **options)`
that yields its coordinates, writes the model's tensors at each and hands them to the shared sweep pool
(module/sweep.py: resumable, sharded under torchrun, reuse-checked); the registry maps a kind's name to its
module (imported when asked for), as module/families.py does for model families. Every family's jobs reach every
geometry through `sweep_geometry`."""

from __future__ import annotations

import importlib
from collections.abc import Mapping, Sequence
from pathlib import Path

import torch

# kind -> module whose `sweep` runs it; a new geometry is a new module and one line here
GEOMETRIES: dict[str, str] = {
    "line": "module.path_jobs:sweep_line",
    "matrix": "module.path_jobs:sweep_matrix",
    "plane": "module.geometries.plane:sweep",
    "random_plane": "module.geometries.random_plane:sweep",
    "layerwise": "module.geometries.layerwise:sweep",
    "merges": "module.geometries.merges:sweep",
}


def register_geometry(kind: str, target: str) -> None:
    """Make `module:function` the sweep of geometry `kind`."""
    GEOMETRIES[kind] = target


def geometry(kind: str):
    """The sweep function of geometry `kind`."""
    if kind not in GEOMETRIES:
        raise ValueError(f"unknown path geometry {kind!r}; registered: {', '.join(sorted(GEOMETRIES))}")
    module, function = GEOMETRIES[kind].split(":")
    return getattr(importlib.import_module(module), function)


def sweep_geometry(kind: str, setup, paths: Sequence[str], thetas: Sequence[Mapping[str, torch.Tensor]],
                   out_dir: str | Path, **options) -> list[dict]:
    """Sweep the geometry `kind` through the endpoints (`setup`: module.path_jobs.PathSetup); returns the records
    (of its first path, for kinds with several)."""
    return geometry(kind)(setup, paths, thetas, out_dir, **options)
