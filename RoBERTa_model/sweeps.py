"""The encoder track's evaluation of a point: every split's accuracy, loss and per-example correctness, shareable
across processes (module.path_jobs sweeps it)."""

from __future__ import annotations

from torch import nn

from module.distributed import device, join
from module.sweep import SharedEvaluation, in_batch_order, share_of, split_results
from RoBERTa_model.encoder import EncodedTask, classifier_batches, classifier_outputs


def classifier_evaluation(model: nn.Module, splits: dict[str, EncodedTask], batch_size: int,
                          pad_id: int) -> SharedEvaluation:
    """The model on this process's device (under torchrun: its own GPU) and its evaluation on every split."""
    join()
    model.to(device()).eval()
    return shared_evaluation(model, {name: classifier_batches(enc, batch_size, pad_id) for name, enc in splits.items()})


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
