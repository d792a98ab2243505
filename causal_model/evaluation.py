"""A causal LM's evaluation at a sweep's point: rank classification of every split, in length-sorted batches that
processes can share (the sweeps' `SharedEvaluation`)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from torch import nn

from causal_model.generation import FREE_FORM_METRICS, generation_batches, generation_evaluation
from causal_model.scoring import CandidateRows, answer_log_likelihoods, candidate_rows, judge, prompt_of
from dataloader.batching import length_groups
from dataloader.tasks import Example, load_split, split_path
from module.sweep import SharedEvaluation, in_batch_order, share_of, split_results

Batch = tuple[list[int], CandidateRows, list[int]]  # row positions, the rows of every candidate, gold label ids


def label_ids(examples: Sequence[Example], labels: Sequence[str], source: str) -> list[int]:
    """Each example's gold label as an index of `labels`; a label the task's labels lack names file and line."""
    index = {label: i for i, label in enumerate(labels)}
    for example in examples:
        if example.answers[0] not in index:
            raise ValueError(f"{source}:{example.line}: label {example.answers[0]!r} is not among the training "
                             f"labels {list(labels)}")
    return [index[e.answers[0]] for e in examples]


def evaluated_splits(task_dir: Path, do_predict: bool, limit: int | None, on_train: bool = False,
                     train_limit: int | None = None, classify: bool = True) -> tuple[list[str], dict, dict]:
    """The task's labels (those of its training split, sorted), its dev (and test) examples (the first `limit`),
    or with `on_train` its first `train_limit` training examples, and their gold label indices (a free-form task,
    `classify` False: no labels, no gold indices)."""
    train = load_split(task_dir, "train")
    labels = sorted({e.answers[0] for e in train})
    if on_train:
        splits = {"train": train[:train_limit]}
    else:
        splits = {name: load_split(task_dir, name)[:limit] for name in (["dev", "test"] if do_predict else ["dev"])}
    if not classify:
        return [], splits, {}
    gold = {name: label_ids(examples, labels, str(split_path(task_dir, name))) for name, examples in splits.items()}
    return labels, splits, gold


def causal_batches(examples: Sequence[Example], gold: Sequence[int], task: str, labels: Sequence[str], tokenizer,
                   batch_size: int) -> list[Batch]:
    """Length-sorted batches of at most `batch_size` examples, each with the rows of all its candidates."""
    prompts = [prompt_of(task, e.input) for e in examples]
    lengths = [len(tokenizer(p, add_special_tokens=False)["input_ids"]) for p in prompts]
    return [(ids, candidate_rows(tokenizer, [prompts[i] for i in ids], labels), [gold[i] for i in ids])
            for ids in length_groups(lengths, batch_size)]


def causal_evaluation(model: nn.Module, batches: dict[str, list[Batch]]) -> SharedEvaluation:
    """Every split's accuracy, mean gold-answer NLL and per-example correctness at the model's current point."""
    sizes = {name: sum(len(ids) for ids, _, _ in split) for name, split in batches.items()}

    def outputs(share: list[Batch]) -> list[tuple[list[int], list, list]]:
        judged = [(ids, judge(*answer_log_likelihoods(model, rows), gold)) for ids, rows, gold in share]
        return [(ids, [r["correct"] for r in rs], [r["loss"] for r in rs], [r["prediction"] for r in rs],
                 [r["probs"] for r in rs]) for ids, rs in judged]

    def part(rank: int, size: int) -> dict[str, list]:
        shares = {name: share_of(split, rank, size) for name, split in batches.items()}
        return {name: list(zip([p for p, _ in share], outputs([b for _, b in share]), strict=True))
                for name, share in shares.items()}

    def combine(parts: list[dict[str, list]]) -> dict[str, dict]:
        return {name: split_results(in_batch_order([p[name] for p in parts]), sizes[name]) for name in batches}

    return SharedEvaluation(part, combine)


def training_dynamics(model: nn.Module, batches: list[Batch], size: int) -> tuple[list[float], list[float]]:
    """Per example of a split of `size`: correctness (0/1) and its gold label's probability among the labels under
    the model as it stands, in eval mode (what cartography.json records after every epoch)."""
    acc, confidence = [0.0] * size, [0.0] * size
    was_training = model.training
    model.eval()
    try:
        for ids, rows, gold in batches:
            for i, result in zip(ids, judge(*answer_log_likelihoods(model, rows), gold), strict=True):
                acc[i], confidence[i] = result["correct"], result["confidence"]
    finally:
        model.train(was_training)
    return acc, confidence


def task_evaluation(model: nn.Module, tokenizer, task: str, labels: Sequence[str], metric: str,
                    splits: dict[str, Sequence[Example]], batch_size: int, max_new_tokens: int = 32,
                    sources: dict[str, str] | None = None) -> SharedEvaluation:
    """The evaluation of `splits` at the model's current point: rank classification among `labels` (metric ACC;
    a gold label missing from them names `sources[split]` and its line), or for a free-form metric greedy
    generation scored by it."""
    if metric in FREE_FORM_METRICS:
        return generation_evaluation(model, tokenizer, {name: generation_batches(examples, task, tokenizer, batch_size)
                                                        for name, examples in splits.items()}, metric, max_new_tokens)
    sources = sources or {}
    return causal_evaluation(model, {name: causal_batches(examples, label_ids(examples, labels,
                                                                              sources.get(name, name)),
                                                          task, labels, tokenizer, batch_size)
                                     for name, examples in splits.items()})
