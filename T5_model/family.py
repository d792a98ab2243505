"""The T5 family as a plug-in of module/families.py: text-to-text, answers generated greedily and scored by the
task's metric, the loss the answer tokens' mean NLL (the T5 track's jobs use the same functions directly)."""

from __future__ import annotations

import random
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from dataloader.batching import IGNORE_INDEX, encode_split, eval_batches, train_batches
from dataloader.metrics import metric_for_task
from dataloader.tasks import Example
from module.adapter import is_adapter_tensor
from module.curves import functional_forward
from module.families import tensors_moved
from module.sweep import SharedEvaluation
from T5_model.evaluation import shift_right
from T5_model.model import load_t5, load_t5_tokenizer
from T5_model.sweeping import t5_evaluation
from T5_model.trainer import SplitData

TUNE_METHODS = {"model": lambda name: True, "adapter": is_adapter_tensor}  # method -> which tensors it moves
# layer-wise connectivity's groups (module/geometries/layerwise.py): (group, regex); "{}" takes the layer number
LAYER_GROUPS = (("embeddings", r"^(shared|encoder\.embed_tokens|decoder\.embed_tokens)\."),
                ("encoder.block.{}", r"^encoder\.block\.(\d+)\."), ("decoder.block.{}", r"^decoder\.block\.(\d+)\."),
                ("final layer norms", r"final_layer_norm"), ("lm_head", r"^lm_head\."))
MODULE_GROUPS = (("embeddings", r"^(shared|encoder\.embed_tokens|decoder\.embed_tokens)\."),
                 ("self-attention", r"\.SelfAttention\."), ("cross-attention", r"\.EncDecAttention\."),
                 ("feed-forward", r"\.DenseReluDense\."), ("adapters", r"adapter_"), ("layer norms", r"layer_norm"),
                 ("lm_head", r"^lm_head\."))


@dataclass(frozen=True)
class T5Family:
    """T5 (text to text); the encoding limits are the T5 track's flag defaults."""

    name: str = "t5"
    layer_groups: tuple = LAYER_GROUPS
    module_groups: tuple = MODULE_GROUPS
    max_input_length: int = 512
    max_output_length: int = 128
    metric: str | None = None  # None: the task's own (dataloader/metrics.py)

    def load(self, folder: str | Path, labels: Sequence[str]) -> tuple[nn.Module, object]:
        """The T5 in `folder` and its tokenizer (labels are answer words: no head to build)."""
        return load_t5(str(folder)).eval(), load_t5_tokenizer(str(folder))

    def encode(self, examples: Sequence[Example], tokenizer, task: str, labels: Sequence[str]) -> SplitData:
        """Inputs and answers as token ids."""
        enc = encode_split(examples, tokenizer, task, max_input_length=self.max_input_length,
                           max_output_length=self.max_output_length)
        return SplitData(list(examples), enc, [])

    def evaluation(self, model: nn.Module, encoded: Mapping[str, SplitData], tokenizer, task: str,
                   labels: Sequence[str], batch_size: int) -> SharedEvaluation:
        """The task's metric of greedy answers, the answer NLL, per-example scores."""
        data = {name: SplitData(split.examples, split.encoded, eval_batches(split.encoded, batch_size,
                                                                            tokenizer.pad_token_id))
                for name, split in encoded.items()}
        return t5_evaluation(model, data, tokenizer, self.max_output_length, metric_for_task(task, self.metric))

    def train_batches(self, encoded: SplitData, tokenizer, batch_size: int, order: random.Random) -> Iterable:
        """Shuffled batches, one answer drawn per example."""
        return train_batches(encoded.encoded, batch_size, tokenizer.pad_token_id, order)

    def loss(self, model: nn.Module, params: Mapping[str, torch.Tensor], batch) -> torch.Tensor:
        """The answer tokens' mean NLL (teacher forcing)."""
        batch = batch.to(next(iter(params.values())).device)
        cfg = model.config
        out = functional_forward(model, params, input_ids=batch.input_ids, attention_mask=batch.attention_mask,
                                 use_cache=False, decoder_input_ids=shift_right(batch.labels,
                                                                                cfg.decoder_start_token_id,
                                                                                cfg.pad_token_id))
        return torch.nn.functional.cross_entropy(out.logits.float().transpose(1, 2), batch.labels,
                                                 ignore_index=IGNORE_INDEX)

    def tuned_tensors(self, model: nn.Module, method: str) -> list[str]:
        """`model`: every parameter; `adapter`: the adapter tensors."""
        return tensors_moved(model, method, TUNE_METHODS)

    def identity_files(self, folder: str | Path) -> list[Path]:
        """The model folder (weights, config and tokenizer files)."""
        return [Path(folder)]


FAMILY = T5Family()
