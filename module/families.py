"""Model families as plug-ins: the small interface the path jobs need of a family (`ModelFamily`), and the registry
that maps a family's name to the module holding it (as peft maps tuner names to tuners). The library layer stays
model-free: a family's module is imported only when its name is asked for.

A family loads a model and its tokenizer from a folder, encodes a split of a task folder, builds the evaluation
that returns every split's metric, loss and per-example scores (`SharedEvaluation`, shareable across processes),
gives the training loss of a batch at given tensors (what curves train on), says which tensors a tuning method
moves, and names the files that identify a model (what reuse checks fingerprint). Per-architecture facts stay
tables inside the family (`T5_SITES`, `ENCODER_LAYOUTS`, peft's target-module table)."""

from __future__ import annotations

import importlib
import random
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Protocol, runtime_checkable

import torch
from torch import nn

from dataloader.tasks import Example
from module.sweep import SharedEvaluation

# name -> the module whose FAMILY implements it; a new family adds one line here (or calls register_family)
FAMILIES: dict[str, str] = {"t5": "T5_model.family", "encoder": "RoBERTa_model.family", "causal": "causal_model.family"}


@runtime_checkable
class ModelFamily(Protocol):
    """What the line, matrix and curve jobs need of a model family."""

    name: str
    layer_groups: tuple  # ((group, regex), ...): one group per layer, the embeddings, the head (layer-wise paths)
    module_groups: tuple  # the same by kind of module: attention, feed-forward, norms, ...

    def load(self, folder: str | Path, labels: Sequence[str]) -> tuple[nn.Module, object]:
        """The model in `folder` (a classifier: with a head over `labels`) in eval mode, and its tokenizer."""

    def encode(self, examples: Sequence[Example], tokenizer, task: str, labels: Sequence[str]) -> object:
        """One split's examples encoded for this family (the input of `evaluation` and `train_batches`)."""

    def evaluation(self, model: nn.Module, encoded: Mapping[str, object], tokenizer, task: str,
                   labels: Sequence[str], batch_size: int) -> SharedEvaluation:
        """Every split's metric, mean loss and per-example scores at the model's current point."""

    def train_batches(self, encoded: object, tokenizer, batch_size: int, order: random.Random) -> Iterable:
        """One epoch of training batches of an encoded split, in the order `order` draws."""

    def loss(self, model: nn.Module, params: Mapping[str, torch.Tensor], batch: object) -> torch.Tensor:
        """The mean training loss of `batch` with `params` in place of the model's tensors (differentiable)."""

    def tuned_tensors(self, model: nn.Module, method: str) -> list[str]:
        """The names of the tensors a tuning `method` moves in `model`."""

    def identity_files(self, folder: str | Path) -> list[Path]:
        """The files that identify the model in `folder` (their contents go into reuse checks)."""


def register_family(name: str, module: str) -> None:
    """Make the family `module.FAMILY` available as `name`."""
    FAMILIES[name] = module


def get_family(name: str) -> ModelFamily:
    """The registered family `name` (its module imported now)."""
    if name not in FAMILIES:
        raise ValueError(f"unknown model family {name!r}; registered: {', '.join(sorted(FAMILIES))}")
    family = importlib.import_module(FAMILIES[name]).FAMILY
    if not isinstance(family, ModelFamily) or family.name != name:
        raise TypeError(f"{FAMILIES[name]}.FAMILY does not implement the model family {name!r}")
    return family


def tensors_moved(model: nn.Module, method: str, methods: Mapping[str, Callable[[str], bool]]) -> list[str]:
    """The parameter names of `model` that tuning `method` moves, by the family's table of methods (method -> does
    it move this parameter name); an unknown method is one error naming the known ones."""
    if method not in methods:
        raise ValueError(f"tune method must be one of {', '.join(methods)}, got {method!r}")
    return [name for name, _ in model.named_parameters() if methods[method](name)]


def batch_on(batch: Mapping[str, torch.Tensor], params: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """A dict batch moved to the device of the tensors it is evaluated with."""
    device = next(iter(params.values())).device
    return {key: value.to(device) for key, value in batch.items()}


def shuffled_chunks(size: int, batch_size: int, order: random.Random) -> Iterable[list[int]]:
    """One epoch's example positions: all `size` shuffled by `order`, in chunks of `batch_size` (the last shorter)."""
    ids = list(range(size))
    order.shuffle(ids)
    for start in range(0, size, batch_size):
        yield ids[start:start + batch_size]
