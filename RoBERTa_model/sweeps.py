"""Shared body of the encoder track's interpolation scripts: load once, interpolate in place, resumable sweep."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn

from module.distributed import device, join
from module.interpolation import Interpolator, check_same_keys, interpolation_points
from module.plotting import PathInfo, majority_fraction
from module.sweep import Line, SharedEvaluation, in_batch_order, run_sweeps, share_of, split_results
from RoBERTa_model.encoder import EncodedTask, classifier_batches, classifier_outputs


def sweep_classifier(model: nn.Module, theta1: dict[str, torch.Tensor], theta2: dict[str, torch.Tensor],
                     splits: dict[str, EncodedTask], out_dir: str | Path, prefix: str, settings: dict,
                     points: int = 26, batch_size: int = 128, pad_id: int = 0,
                     names: tuple[str, str] = ("path1", "path2"), quiet: bool = False,
                     tasks: tuple[str, str] | None = None, itp_on_train: bool = False) -> list[dict]:
    """Evaluate accuracy and loss on every split at `points` evenly spaced x; files as task_interpolation.py."""
    check_same_keys(theta1, theta2, names)
    evaluation = classifier_evaluation(model, splits, batch_size, pad_id)
    with Interpolator(model, theta1, theta2, names) as interpolator:
        line = classifier_line(interpolator.set, splits, out_dir, prefix, settings, points, names, tasks,
                               itp_on_train)
        return run_sweeps([line], evaluation, "ACC", quiet=quiet, desc="interpolation")[0]


def classifier_evaluation(model: nn.Module, splits: dict[str, EncodedTask], batch_size: int,
                          pad_id: int) -> SharedEvaluation:
    """The model on this process's device (under torchrun: its own GPU) and its evaluation on every split."""
    join()
    model.to(device()).eval()
    return shared_evaluation(model, {name: classifier_batches(enc, batch_size, pad_id) for name, enc in splits.items()})


def classifier_line(move: Callable[[float], None], splits: dict[str, EncodedTask], out_dir: str | Path, prefix: str,
                    settings: dict, points: int, names: tuple[str, str],
                    tasks: tuple[str, str] | None = None, itp_on_train: bool = False) -> Line:
    """The line from `names[0]` to `names[1]` as one line of a sweep (on the training split with
    `itp_on_train`); `move(x)` writes its point x."""
    info = PathInfo.from_paths(*names, start_task=tasks[0] if tasks else None, end_task=tasks[1] if tasks else None,
                               majority={name: majority_fraction(enc.labels, "ACC") for name, enc in splits.items()})
    return Line(interpolation_points(points), move, Path(out_dir), settings, prefix, itp_on_train, path_info=info)


def shared_evaluation(model: nn.Module, batches: dict[str, list]) -> SharedEvaluation:
    """Every split's accuracy, loss and per-example correctness at the model's current point, shareable across
    processes (each a share of every split's batches, combined in the batches' order)."""
    sizes = {name: sum(len(ids) for ids, _ in split) for name, split in batches.items()}

    def part(rank: int, size: int) -> dict[str, list]:
        shares = {name: share_of(split, rank, size) for name, split in batches.items()}
        return {name: list(zip([p for p, _ in share], classifier_outputs(model, [b for _, b in share]), strict=True))
                for name, share in shares.items()}

    def combine(parts: list[dict[str, list]]) -> dict[str, dict]:
        return {name: split_results(in_batch_order([part[name] for part in parts]), sizes[name])
                for name in batches}

    return SharedEvaluation(part, combine)
