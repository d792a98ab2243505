"""The line and matrix jobs, written once for every model family: a family resolves its options into a `PathSetup`
(data: the model holding the tensors a path moves, the evaluation of a point, what the files record) and hands it
the endpoints' tensors; these functions sweep one line, or every pair of N endpoints and the matrix."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from module.interpolation import Interpolator, check_same_keys, interpolation_points, pair_mover
from module.matrix import pair_folder, run_matrix
from module.path_info import PathInfo
from module.sweep import Line, read_records, run_sweeps

Tensors = Mapping[str, torch.Tensor]


@dataclass
class PathSetup:
    """What a line or matrix sweep needs, resolved from a family's options: data, not options."""

    model: nn.Module  # holds the tensors the path moves (on this process's device)
    evaluate: Callable[[], dict]  # every split's results at the model's current point (a SharedEvaluation shares)
    metric: str
    prefix: str  # result.csv's prefix column: the task
    points: int  # evenly spaced x, both endpoints included
    settings: Callable[[str, str], dict]  # the settings (identity) of the line from endpoint path1 to path2
    majority: dict[str, float] = field(default_factory=dict)  # per split: the majority class's share (figures)
    quiet: bool = False
    itp_on_train: bool = False
    info: dict = field(default_factory=dict)  # more PathInfo keywords: kind, start_task/end_task
    extra_summary: dict | None = None  # more keys of summary.json (e.g. lora_path)
    on_point: Callable[[str], None] = lambda label: None  # told which point is evaluated (e.g. for log lines)
    log: Callable[[str], None] = lambda message: None
    desc: str = "interpolation"
    coordinate: str = "x"  # the name of a point's position in log lines (a curve's: t)


def path_line(setup: PathSetup, path1: str, path2: str, out_dir: str | Path, move: Callable[[float], None]) -> Line:
    """The path from endpoint `path1` (x = 0) to `path2` (x = 1) as one line of a sweep; `move(x)` writes its
    point x into the model."""
    info = PathInfo.from_paths(path1, path2, majority=setup.majority, **setup.info)

    def set_point(x: float) -> None:
        move(x)
        setup.on_point(f"{setup.coordinate}={x}")

    return Line(interpolation_points(setup.points), set_point, Path(out_dir), setup.settings(path1, path2),
                setup.prefix, setup.itp_on_train, setup.extra_summary, info)


def _interpolator(setup: PathSetup, paths: Sequence[str], thetas: Sequence[Tensors], where: str) -> Interpolator:
    for path, theta in zip(paths[1:], thetas[1:], strict=True):
        check_same_keys(thetas[0], theta, (paths[0], path))
    interpolator = Interpolator(setup.model, thetas[0], thetas[1], (paths[0], paths[1]))
    targets = interpolator.targets  # each tied parameter once
    setup.log(f"interpolating {len(targets)} tensors ({sum(t.numel() for t in targets.values())} values) {where}")
    return interpolator


def sweep_line(setup: PathSetup, paths: tuple[str, str], thetas: tuple[Tensors, Tensors],
               out_dir: str | Path) -> list[dict]:
    """The straight line from thetas[0] (x = 0) to thetas[1] (x = 1) into `out_dir` (resumable, sharded under
    torchrun); returns its records. The model's tensors are put back afterwards."""
    with _interpolator(setup, paths, thetas, f"between {paths[0]} and {paths[1]}") as interpolator:
        line = path_line(setup, paths[0], paths[1], out_dir, interpolator.set)
        return run_sweeps([line], setup.evaluate, setup.metric, quiet=setup.quiet, desc=setup.desc)[0]


def sweep_matrix(setup: PathSetup, paths: Sequence[str], thetas: Sequence[Tensors], out_dir: str | Path) -> list[dict]:
    """Every pair i < j of the N endpoints swept into `pair_<i>_<j>/`, each endpoint evaluated once, then
    matrix.csv and matrix.png (module.matrix.run_matrix); returns the first pair's records."""
    interpolator = _interpolator(setup, paths, thetas, f"between each pair of {len(paths)} checkpoints")
    mover = pair_mover(interpolator, thetas)

    def evaluate_endpoint(k: int) -> dict:
        mover(k, k)(0.0)
        setup.on_point(f"checkpoint {k}")
        return setup.evaluate()

    with interpolator:
        run_matrix(out_dir, paths, evaluate_endpoint,
                   lambda i, j, folder: path_line(setup, paths[i], paths[j], folder, mover(i, j)), setup.evaluate,
                   setup.metric, quiet=setup.quiet, desc=setup.desc)
    return read_records(pair_folder(out_dir, 0, 1))
