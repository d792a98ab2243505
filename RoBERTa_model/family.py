"""The encoder family (BERT-style sequence classifiers) as a plug-in of module/families.py: a classification head
over the task's labels, accuracy and cross-entropy (the encoder track's jobs use the same functions directly)."""

from __future__ import annotations

import random
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from dataloader.tasks import Example
from module.curves import functional_forward
from module.families import batch_on, shuffled_chunks, tensors_moved
from module.loading import load_tokenizer
from module.sweep import SharedEvaluation
from RoBERTa_model.config import DELTA_TYPES
from RoBERTa_model.encoder import EncodedTask, build_classifier, collate, encode_task, is_unfrozen
from RoBERTa_model.sweeps import classifier_evaluation

DEFAULT_UNFROZEN = ["deltas", "layer_norm", "final_layer_norm", "classifier"]  # the track's unfrozen_modules
# layer-wise connectivity's groups (module/geometries/layerwise.py): (group, regex); "{}" takes the layer number
LAYER_GROUPS = (("embeddings", r"embeddings\."), ("layer.{}", r"encoder\.layer\.(\d+)\."), ("pooler", r"pooler\."),
                ("classifier", r"classifier\."))
MODULE_GROUPS = (("embeddings", r"embeddings\."), ("adapters", r"(\.adapter\.|deltas)"),
                 ("attention", r"\.attention\."), ("feed-forward", r"\.(intermediate|output)\."),
                 ("pooler and classifier", r"(pooler|classifier)\."))


@dataclass(frozen=True)
class EncoderFamily:
    """Encoders with a classification head; `max_source_length` and `unfrozen_modules` are the track's defaults."""

    name: str = "encoder"
    layer_groups: tuple = LAYER_GROUPS
    module_groups: tuple = MODULE_GROUPS
    max_source_length: int = 128
    unfrozen_modules: list[str] = field(default_factory=lambda: list(DEFAULT_UNFROZEN))

    def load(self, folder: str | Path, labels: Sequence[str]) -> tuple[nn.Module, object]:
        """The encoder in `folder` with a head over `labels` (a run's own head when it has these labels)."""
        return build_classifier(str(folder), list(labels)).eval(), load_tokenizer(folder, "model folder")

    def encode(self, examples: Sequence[Example], tokenizer, task: str, labels: Sequence[str]) -> EncodedTask:
        """Token ids (sentence pairs split on [SEP]) and label ids."""
        return encode_task(list(examples), tokenizer, list(labels), self.max_source_length)

    def evaluation(self, model: nn.Module, encoded: Mapping[str, EncodedTask], tokenizer, task: str,
                   labels: Sequence[str], batch_size: int) -> SharedEvaluation:
        """Accuracy, cross-entropy and per-example correctness of the arg-max class."""
        return classifier_evaluation(model, dict(encoded), batch_size, tokenizer.pad_token_id)

    def train_batches(self, encoded: EncodedTask, tokenizer, batch_size: int, order: random.Random) -> Iterable:
        """The examples shuffled into padded batches."""
        for ids in shuffled_chunks(len(encoded), batch_size, order):
            yield collate([encoded.item(i) for i in ids], tokenizer.pad_token_id)

    def loss(self, model: nn.Module, params: Mapping[str, torch.Tensor], batch: dict) -> torch.Tensor:
        """The classifier's mean cross-entropy."""
        return functional_forward(model, params, **batch_on(batch, params)).loss

    def tuned_tensors(self, model: nn.Module, method: str) -> list[str]:
        """`none` (full tuning): every parameter; an adapter method: those `unfrozen_modules` selects."""
        return tensors_moved(model, method, {delta: (lambda name: True) if delta == "none" else
                                             (lambda name: is_unfrozen(name, self.unfrozen_modules))
                                             for delta in DELTA_TYPES})

    def identity_files(self, folder: str | Path) -> list[Path]:
        """The model folder (weights, config, tokenizer files)."""
        return [Path(folder)]


FAMILY = EncoderFamily()
