"""Free-form tasks for causal LMs: the answer is generated greedily after the prompt and scored by the task's
metric (EM, QA-F1, Rouge-L: dataloader/metrics.py); the loss is the gold answer's mean token NLL, as for
classification. A task is free-form when its metric is one of `FREE_FORM_METRICS`; every other task is scored by
rank classification (causal_model/scoring.py).

Batches are length-sorted and left-padded for generation (so every prompt ends where generation starts); the
generated text is cut at the first line break, where a prompt's answer ends.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn

from causal_model.scoring import CandidateRows, answer_log_likelihoods, answer_of, paired_rows, prompt_of
from dataloader.batching import length_groups
from dataloader.metrics import evaluate, metric_for_task, per_example_scores
from dataloader.tasks import Example
from module.sweep import SharedEvaluation, in_batch_order, share_of

FREE_FORM_METRICS = ("EM", "QA-F1", "Rouge-L")


def is_free_form(task: str, metric: str | None) -> bool:
    """Whether `task` (scored by `metric`, else by its own metric; unknown tasks are classification) is answered by
    generation."""
    if metric is None:
        try:
            metric = metric_for_task(task)
        except ValueError:
            return False
    return metric in FREE_FORM_METRICS


@dataclass
class GenerationBatch:
    """Examples of one batch: their positions, left-padded prompts, the gold answers' rows and every answer."""

    ids: list[int]
    prompts: torch.Tensor  # (examples, width), left-padded, bos + prompt
    prompt_mask: torch.Tensor
    gold: CandidateRows  # one row per example: prompt + its first answer
    answers: list[list[str]]


def generation_batches(examples: Sequence[Example], task: str, tokenizer, batch_size: int) -> list[GenerationBatch]:
    """Length-sorted batches of at most `batch_size` examples."""
    prompt_ids = [tokenizer(prompt_of(task, e.input), add_special_tokens=False)["input_ids"] for e in examples]
    gold_ids = [tokenizer(answer_of(e.answers[0]), add_special_tokens=False)["input_ids"] for e in examples]
    bos = [tokenizer.bos_token_id] if tokenizer.bos_token_id is not None else []
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    batches = []
    for ids in length_groups([len(p) for p in prompt_ids], batch_size):
        width = max(len(bos) + len(prompt_ids[i]) for i in ids)
        prompts = torch.full((len(ids), width), pad, dtype=torch.long)
        mask = torch.zeros((len(ids), width), dtype=torch.long)
        for row, i in enumerate(ids):
            tokens = bos + prompt_ids[i]
            prompts[row, width - len(tokens):] = torch.tensor(tokens)
            mask[row, width - len(tokens):] = 1
        gold = paired_rows(tokenizer, [[prompt_ids[i] + gold_ids[i]] for i in ids], [len(prompt_ids[i]) for i in ids])
        batches.append(GenerationBatch(ids, prompts, mask, gold, [list(examples[i].answers) for i in ids]))
    return batches


def first_line(text: str) -> str:
    """A generated answer: the text up to its first line break, without surrounding spaces."""
    return text.split("\n", 1)[0].strip()


@torch.no_grad()
def greedy_answers(model: nn.Module, tokenizer, batch: GenerationBatch, max_new_tokens: int) -> list[str]:
    """The batch's answers generated greedily (no sampling), each cut at its first line break."""
    device = next(model.parameters()).device
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    out = model.generate(input_ids=batch.prompts.to(device), attention_mask=batch.prompt_mask.to(device),
                         max_new_tokens=max_new_tokens, do_sample=False, num_beams=1, pad_token_id=pad,
                         eos_token_id=tokenizer.eos_token_id)
    new = out[:, batch.prompts.shape[1]:].cpu()
    return [first_line(tokenizer.decode(row, skip_special_tokens=True)) for row in new]


def generation_evaluation(model: nn.Module, tokenizer, batches: dict[str, list[GenerationBatch]], metric: str,
                          max_new_tokens: int) -> SharedEvaluation:
    """Every split's metric of the greedy answers, mean gold-answer NLL and per-example scores at the model's
    current point (in eval mode), shareable across processes."""
    sizes = {name: sum(len(b.ids) for b in split) for name, split in batches.items()}

    def outputs(share: list[GenerationBatch]) -> list[tuple[list[int], list[str], list[float]]]:
        was_training = model.training
        model.eval()
        try:
            done = []
            for batch in share:
                summed, counts = answer_log_likelihoods(model, batch.gold)
                losses = (-summed[:, 0] / counts[:, 0]).tolist()
                done.append((batch.ids, greedy_answers(model, tokenizer, batch, max_new_tokens), losses))
            return done
        finally:
            model.train(was_training)

    def part(rank: int, size: int) -> dict[str, list]:
        shares = {name: share_of(split, rank, size) for name, split in batches.items()}
        return {name: list(zip([p for p, _ in share], outputs([b for _, b in share]), strict=True))
                for name, share in shares.items()}

    def combine(parts: list[dict[str, list]]) -> dict[str, dict]:
        results = {}
        for name, split in batches.items():
            predictions, losses = [""] * sizes[name], [0.0] * sizes[name]
            answers: list[list[str]] = [[] for _ in range(sizes[name])]
            for batch, (ids, texts, batch_losses) in zip(split, in_batch_order([p[name] for p in parts]),
                                                         strict=True):
                for row, i in enumerate(ids):
                    predictions[i], losses[i], answers[i] = texts[row], batch_losses[row], batch.answers[row]
            results[name] = {"performance": evaluate(predictions, answers, metric),
                             "loss": sum(losses) / max(sizes[name], 1),
                             "scores": per_example_scores(predictions, answers, metric), "predictions": predictions}
        return results

    return SharedEvaluation(part, combine)
