"""Tokenise a split once, then cut it into batches padded to their own longest item."""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import torch

from dataloader.tasks import Example

SENTINEL = "<extra_id_0>"
IGNORE_INDEX = -100


@dataclass
class EncodedSplit:
    """Token ids of every example: one input, one target per acceptable answer."""

    input_ids: list[list[int]]
    target_ids: list[list[list[int]]]
    answers: list[list[str]]

    def __len__(self) -> int:
        return len(self.input_ids)


@dataclass
class Batch:
    """Padded tensors for a group of examples, with their positions in the split."""

    indices: list[int]
    input_ids: torch.Tensor
    attention_mask: torch.Tensor
    labels: torch.Tensor  # IGNORE_INDEX on padding

    def to(self, device: torch.device | str) -> Batch:
        """Move the tensors to `device`."""
        return Batch(self.indices, self.input_ids.to(device), self.attention_mask.to(device), self.labels.to(device))


def model_input(task: str, text: str, lowercase: bool = False) -> str:
    """The original's input string: `' [<task>] ' + input`, all of it lowercased with `lowercase`."""
    full = f" [{task}] " + text
    return full.lower() if lowercase else full


def model_target(answer: str, lowercase: bool = False) -> str:
    """The original's target string: `'<extra_id_0>' + answer`."""
    return SENTINEL + (answer.lower() if lowercase else answer)


def encode_split(
    examples: Sequence[Example],
    tokenizer,
    task: str,
    *,
    lowercase: bool = False,
    append_another_bos: bool = False,
    max_input_length: int = 512,
    max_output_length: int = 64,
) -> EncodedSplit:
    """Tokenise inputs and every answer once, truncating to the maximum lengths."""
    inputs = tokenizer(
        [model_input(task, e.input, lowercase) for e in examples],
        truncation=True, max_length=max_input_length, add_special_tokens=True,
    )["input_ids"]
    if append_another_bos:
        start = tokenizer.bos_token_id if tokenizer.bos_token_id is not None else tokenizer.pad_token_id
        inputs = [[start] + ids[: max_input_length - 1] for ids in inputs]
    flat = [model_target(a, lowercase) for e in examples for a in e.answers]
    flat_ids = tokenizer(flat, truncation=True, max_length=max_output_length, add_special_tokens=True)["input_ids"]
    targets, pos = [], 0
    for e in examples:
        targets.append(flat_ids[pos: pos + len(e.answers)])
        pos += len(e.answers)
    answers = [[a.lower() if lowercase else a for a in e.answers] for e in examples]
    return EncodedSplit(list(inputs), targets, answers)


def pad(sequences: Sequence[Sequence[int]], value: int) -> torch.Tensor:
    """Stack variable-length id lists into one tensor padded with `value` to the longest."""
    width = max(len(s) for s in sequences)
    out = torch.full((len(sequences), width), value, dtype=torch.long)
    for row, seq in enumerate(sequences):
        out[row, : len(seq)] = torch.tensor(seq, dtype=torch.long)
    return out


def make_batch(enc: EncodedSplit, indices: Sequence[int], pad_id: int,
               answer_choice: Sequence[int] | None = None) -> Batch:
    """Build one dynamically padded batch; `answer_choice[k]` picks the answer of the k-th example (default: first)."""
    indices = list(indices)
    inputs = [enc.input_ids[i] for i in indices]
    choice = answer_choice or [0] * len(indices)
    targets = [enc.target_ids[i][c] for i, c in zip(indices, choice, strict=False)]
    input_ids = pad(inputs, pad_id)
    lengths = torch.tensor([len(seq) for seq in inputs])
    mask = (torch.arange(input_ids.shape[1])[None, :] < lengths[:, None]).long()
    return Batch(indices, input_ids, mask, pad(targets, IGNORE_INDEX))


BATCH_COST = 128  # one batch's fixed cost in padded tokens (small matmuls, per-call overhead): bench_encoder_sweep.py


def length_groups(lengths: Sequence[int], max_rows: int, batch_cost: float = BATCH_COST) -> list[list[int]]:
    """Positions of `lengths` sorted longest first (ties by position) and cut into batches of at most `max_rows`
    rows so that padded tokens plus `batch_cost` per batch are least: every row is padded to its batch's first,
    so the long tail of lengths gets small batches and the bulk big ones (one pass of dynamic programming)."""
    order = sorted(range(len(lengths)), key=lambda i: (-lengths[i], i))
    best = [0.0] + [float("inf")] * len(order)  # best[k]: least cost of the first k rows of `order`
    start_of = [0] * (len(order) + 1)
    for end in range(1, len(order) + 1):
        for start in range(max(0, end - max_rows), end):
            cost = best[start] + batch_cost + (end - start) * lengths[order[start]]
            if cost < best[end]:
                best[end], start_of[end] = cost, start
    groups, end = [], len(order)
    while end:
        groups.append(order[start_of[end]:end])
        end = start_of[end]
    return groups[::-1]


def eval_batches(enc: EncodedSplit, batch_size: int, pad_id: int) -> list[Batch]:
    """Length-sorted batches (longest first) scored against each example's first answer."""
    order = sorted(range(len(enc)), key=lambda i: (-len(enc.input_ids[i]), i))
    return [make_batch(enc, order[s: s + batch_size], pad_id) for s in range(0, len(order), batch_size)]


def train_batches(enc: EncodedSplit, batch_size: int, pad_id: int, rng: random.Random) -> Iterator[Batch]:
    """One epoch of shuffled batches, drawing one answer at random per example."""
    order = list(range(len(enc)))
    rng.shuffle(order)
    for s in range(0, len(order), batch_size):
        chunk = order[s: s + batch_size]
        choice = [rng.randrange(len(enc.target_ids[i])) for i in chunk]
        yield make_batch(enc, chunk, pad_id, choice)
