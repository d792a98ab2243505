"""The causal family (decoder-only LMs: GPT-2, Llama, Qwen2, Mistral, Phi, ...) as a plug-in of
module/families.py: classification by the log-likelihood of each label's answer (rank classification), the loss the
gold answer's mean token NLL, full tuning or LoRA through peft."""

from __future__ import annotations

import random
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from causal_model.evaluation import label_ids, task_evaluation
from causal_model.jobs import scoring_metric
from causal_model.model import load_causal, load_causal_tokenizer
from causal_model.tuning import pad_rows, training_rows
from dataloader.tasks import Example
from module.curves import functional_forward
from module.families import batch_on, shuffled_chunks, tensors_moved
from module.sweep import SharedEvaluation

TUNE_METHODS = {"full": lambda name: True, "lora": lambda name: ".lora_" in name}  # method -> tensors it moves
# layer-wise connectivity's groups (module/geometries/layerwise.py): (group, regex); "{}" takes the layer number
LAYER_GROUPS = (("embeddings", r"(wte|wpe|embed_tokens)\."), ("layer.{}", r"\.(?:h|layers)\.(\d+)\."),
                ("final norm", r"(ln_f|model\.norm)\."), ("lm_head", r"lm_head\."))
MODULE_GROUPS = (("embeddings", r"(wte|wpe|embed_tokens)\."), ("attention", r"\.(attn|self_attn)\."),
                 ("feed-forward", r"\.mlp\."), ("norms", r"(ln_\d|ln_f|layernorm|norm)\."), ("lm_head", r"lm_head\."))


@dataclass
class CausalSplit:
    """A split for the causal family: its examples, gold label ids and training rows (prompt + answer ids)."""

    examples: list[Example]
    gold: list[int]
    rows: list[dict]

    def __len__(self) -> int:
        return len(self.examples)


@dataclass(frozen=True)
class CausalFamily:
    """Causal LMs scored by rank classification."""

    name: str = "causal"
    layer_groups: tuple = LAYER_GROUPS
    module_groups: tuple = MODULE_GROUPS
    metric: str | None = None  # None: the task's own (dataloader/metrics.py), else ACC (rank classification)

    def load(self, folder: str | Path, labels: Sequence[str]) -> tuple[nn.Module, object]:
        """The causal LM in `folder` and its tokenizer (labels are answers: no head to build)."""
        return load_causal(folder), load_causal_tokenizer(folder)

    def encode(self, examples: Sequence[Example], tokenizer, task: str, labels: Sequence[str]) -> CausalSplit:
        """Gold label ids (an unknown label names its line; none for a free-form task) and the training rows."""
        examples = list(examples)
        gold = label_ids(examples, labels, task) if labels else []
        return CausalSplit(examples, gold, training_rows(examples, task, tokenizer))

    def evaluation(self, model: nn.Module, encoded: Mapping[str, CausalSplit], tokenizer, task: str,
                   labels: Sequence[str], batch_size: int) -> SharedEvaluation:
        """Rank classification (accuracy) or, for a free-form task, greedy answers scored by its metric; the gold
        answer's NLL; per-example scores."""
        return task_evaluation(model, tokenizer, task, labels, scoring_metric(task, self.metric),
                               {name: split.examples for name, split in encoded.items()}, batch_size)

    def train_batches(self, encoded: CausalSplit, tokenizer, batch_size: int, order: random.Random) -> Iterable:
        """The training rows shuffled into right-padded batches."""
        for ids in shuffled_chunks(len(encoded.rows), batch_size, order):
            yield pad_rows([encoded.rows[i] for i in ids], tokenizer.pad_token_id)

    def loss(self, model: nn.Module, params: Mapping[str, torch.Tensor], batch: dict) -> torch.Tensor:
        """The answer tokens' mean NLL."""
        return functional_forward(model, params, **batch_on(batch, params)).loss

    def tuned_tensors(self, model: nn.Module, method: str) -> list[str]:
        """`full`: every parameter; `lora`: the LoRA factors."""
        return tensors_moved(model, method, TUNE_METHODS)

    def identity_files(self, folder: str | Path) -> list[Path]:
        """The model (or adapter) folder."""
        return [Path(folder)]


FAMILY = CausalFamily()
