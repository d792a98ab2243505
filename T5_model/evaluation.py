"""Fast evaluation of a T5 model: one encoder pass per batch serves the loss and greedy decoding."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from dataloader.batching import IGNORE_INDEX, Batch, model_target, pad


@dataclass
class EvalOutput:
    """Predictions and losses of one split, in the split's original order."""

    predictions: list[str]
    example_losses: list[float]  # mean token loss of each example's first answer
    loss: float  # mean over all target tokens of the split
    tokens: int


def shift_right(labels: torch.Tensor, start_id: int, pad_id: int) -> torch.Tensor:
    """Teacher-forcing decoder inputs: the start token, then the labels minus the last, padding for IGNORE_INDEX."""
    shifted = labels.new_full(labels.shape, pad_id)
    shifted[:, 1:] = labels[:, :-1]
    shifted[:, 0] = start_id
    return shifted.masked_fill(shifted == IGNORE_INDEX, pad_id)


def token_losses(model: nn.Module, encoder_hidden: torch.Tensor, attention_mask: torch.Tensor,
                 labels: torch.Tensor) -> torch.Tensor:
    """Per-token cross-entropy (0 on padding) of `labels` given encoder states, shape (batch, target length)."""
    cfg = model.config
    decoder_inputs = shift_right(labels, cfg.decoder_start_token_id, cfg.pad_token_id)
    out = model(encoder_outputs=(encoder_hidden,), attention_mask=attention_mask,
                decoder_input_ids=decoder_inputs, use_cache=False)
    logits = out.logits.float()
    losses = F.cross_entropy(logits.transpose(1, 2), labels, ignore_index=IGNORE_INDEX, reduction="none")
    return losses


def greedy_decode(model: nn.Module, encoder_hidden: torch.Tensor, attention_mask: torch.Tensor,
                  max_length: int) -> torch.Tensor:
    """Greedy decoding with a key/value cache, stopping when every row has produced EOS.

    `max_length` counts the start token, as `generate(max_length=...)` does; the returned ids exclude it.
    """
    cfg = model.config
    batch = encoder_hidden.shape[0]
    current = torch.full((batch, 1), cfg.decoder_start_token_id, dtype=torch.long, device=encoder_hidden.device)
    done = torch.zeros(batch, dtype=torch.bool, device=encoder_hidden.device)
    cache, steps = None, []
    for _ in range(max_length - 1):
        out = model(encoder_outputs=(encoder_hidden,), attention_mask=attention_mask, decoder_input_ids=current,
                    cache=cache, use_cache=True)
        cache = out.cache
        token = out.logits[:, -1].argmax(-1)
        token = token.masked_fill(done, cfg.pad_token_id)
        steps.append(token)
        done |= token == cfg.eos_token_id
        if bool(done.all()):
            break
        current = token[:, None]
    return torch.stack(steps, dim=1)


def decode_predictions(tokenizer, ids: Sequence[Sequence[int]]) -> list[str]:
    """Prediction strings as the original decoded them: special tokens dropped, tokenization spaces cleaned
    (`'Paris , France .'` -> `'Paris, France.'`), stripped."""
    texts = tokenizer.batch_decode(ids, skip_special_tokens=True, clean_up_tokenization_spaces=True)
    return [t.strip() for t in texts]


@dataclass
class BatchOutput:
    """One batch's share of a split's evaluation: its rows' positions, predictions and losses, its token loss sum."""

    indices: list[int]
    predictions: list[str]
    example_losses: list[float]
    total: float  # summed token loss
    tokens: int


@torch.inference_mode()
def batch_outputs(model: nn.Module, batches: Sequence[Batch], tokenizer, max_output_length: int,
                  decode: bool = True, progress=None) -> list[BatchOutput]:
    """Per batch, loss and greedy predictions; the model is put in eval mode and restored after."""
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    outputs = []
    encoder = model.get_encoder()
    try:
        for batch in batches:
            batch = batch.to(device)
            hidden = encoder(input_ids=batch.input_ids, attention_mask=batch.attention_mask).last_hidden_state
            losses = token_losses(model, hidden, batch.attention_mask, batch.labels)
            mask = batch.labels != IGNORE_INDEX
            per_example = losses.sum(1) / mask.sum(1).clamp(min=1)
            texts = [""] * len(batch.indices)
            if decode:
                texts = decode_predictions(tokenizer, greedy_decode(model, hidden, batch.attention_mask,
                                                                    max_output_length).tolist())
            outputs.append(BatchOutput(list(batch.indices), texts, per_example.tolist(), float(losses.sum()),
                                       int(mask.sum())))
            if progress is not None:
                progress.update(len(batch.indices))
    finally:
        model.train(was_training)
    return outputs


def combine_outputs(outputs: Sequence[BatchOutput], size: int) -> EvalOutput:
    """A split of `size` examples from its batches' outputs (in the batches' order), in the split's order."""
    predictions: list[str] = [""] * size
    example_losses: list[float] = [0.0] * size
    total, count = 0.0, 0
    for out in outputs:
        total += out.total
        count += out.tokens
        for row, index in enumerate(out.indices):
            predictions[index], example_losses[index] = out.predictions[row], out.example_losses[row]
    return EvalOutput(predictions, example_losses, total / max(count, 1), count)


def evaluate_batches(model: nn.Module, batches: Sequence[Batch], tokenizer, max_output_length: int,
                     decode: bool = True, progress=None) -> EvalOutput:
    """Loss and greedy predictions for pre-built batches; the model is put in eval mode and restored after."""
    return combine_outputs(batch_outputs(model, batches, tokenizer, max_output_length, decode, progress),
                           sum(len(b.indices) for b in batches))


@torch.inference_mode()
def label_confidence(model: nn.Module, batches: Sequence[Batch], tokenizer, labels: Sequence[str],
                     gold: Sequence[int], lowercase: bool = False, max_output_length: int = 64) -> list[float]:
    """Probability of each example's gold label, renormalised over `labels` by teacher-forced scoring.

    Every candidate target (`<extra_id_0>` + label + EOS) is scored as a whole sequence; a softmax over the
    candidates' log-likelihoods gives the confidence. Works for any label words (no fixed token ids).
    """

    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    ids = tokenizer([model_target(label, lowercase) for label in labels], truncation=True,
                    max_length=max_output_length)["input_ids"]
    candidates = pad(ids, IGNORE_INDEX).to(device)
    size = sum(len(b.indices) for b in batches)
    confidence = [0.0] * size
    encoder = model.get_encoder()
    try:
        for batch in batches:
            batch = batch.to(device)
            hidden = encoder(input_ids=batch.input_ids, attention_mask=batch.attention_mask).last_hidden_state
            rows = hidden.shape[0]
            scores = torch.stack([
                -token_losses(model, hidden, batch.attention_mask, candidates[k].expand(rows, -1)).sum(1)
                for k in range(len(labels))], dim=1)
            probs = scores.softmax(dim=1)
            for row, index in enumerate(batch.indices):
                confidence[index] = float(probs[row, gold[index]])
    finally:
        model.train(was_training)
    return confidence
