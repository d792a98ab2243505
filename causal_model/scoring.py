"""Causal LMs on the project's task folders: prompts, and rank classification in one forward pass per batch.

An example's input becomes a prompt (a template per task, `DEFAULT_TEMPLATE` otherwise) and each label an answer
text (" <label>"). A classification example is scored by the log-likelihood of every label's answer after the
prompt: all (example, label) rows of a batch go through the model in one forward pass, right-padded, and the
prediction is the label whose answer tokens have the highest summed log-probability. The example's loss is the
gold answer's mean token negative log-likelihood.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn

DEFAULT_TEMPLATE = "{input}\nAnswer:"
TEMPLATES = {  # task -> prompt template (the task files' input is already verbalised, "premise: ... [SEP] ...")
    "snli": "{input}\nDoes the premise entail the hypothesis? Answer:",
    "mnli": "{input}\nDoes the premise entail the hypothesis? Answer:",
    "rotten_tomatoes": "Review: {input}\nSentiment:",
    "sst2": "Review: {input}\nSentiment:",
}


def prompt_of(task: str, text: str) -> str:
    """The prompt of one input of `task`."""
    return TEMPLATES.get(task, DEFAULT_TEMPLATE).format(input=text)


def answer_of(label: str) -> str:
    """The answer text a label is scored as (after the prompt)."""
    return f" {label}"


@dataclass
class CandidateRows:
    """Every (example, label) pair of a batch as one right-padded row: its tokens, and where its answer lies."""

    input_ids: torch.Tensor  # (examples · labels, length)
    attention_mask: torch.Tensor
    answer_mask: torch.Tensor  # 1 on the tokens predicted for the answer (shifted: targets are input_ids[:, 1:])
    labels: int  # candidates per example


def candidate_rows(tokenizer, prompts: Sequence[str], labels: Sequence[str]) -> CandidateRows:
    """Tokenise each prompt once and each answer once, and build the rows prompt + answer for every label."""
    prompt_ids = [tokenizer(p, add_special_tokens=False)["input_ids"] for p in prompts]
    answer_ids = [tokenizer(answer_of(label), add_special_tokens=False)["input_ids"] for label in labels]
    empty = [label for label, ids in zip(labels, answer_ids, strict=True) if not ids]
    if empty:
        raise ValueError(f"labels {empty}: their answers are no token at all for this tokenizer")
    return paired_rows(tokenizer, [[p + a for a in answer_ids] for p in prompt_ids], [len(p) for p in prompt_ids])


def paired_rows(tokenizer, rows_per_prompt: Sequence[Sequence[list[int]]], prompt_lengths: Sequence[int]
                ) -> CandidateRows:
    """Right-padded rows (bos +) prompt + answer, the same number per prompt, with the mask of their answer
    tokens (each prompt's answers start after its `prompt_lengths` tokens)."""
    bos = [tokenizer.bos_token_id] if tokenizer.bos_token_id is not None else []
    rows = [bos + row for group in rows_per_prompt for row in group]
    starts = [len(bos) + n for group, n in zip(rows_per_prompt, prompt_lengths, strict=True) for _ in group]
    width = max(map(len, rows))
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    input_ids = torch.full((len(rows), width), pad, dtype=torch.long)
    attention = torch.zeros((len(rows), width), dtype=torch.long)
    answer = torch.zeros((len(rows), width - 1), dtype=torch.bool)
    for i, (row, start) in enumerate(zip(rows, starts, strict=True)):
        input_ids[i, :len(row)] = torch.tensor(row)
        attention[i, :len(row)] = 1
        answer[i, start - 1:len(row) - 1] = True  # position j predicts token j + 1
    return CandidateRows(input_ids, attention, answer, len(rows_per_prompt[0]))


@torch.no_grad()
def answer_log_likelihoods(model: nn.Module, rows: CandidateRows) -> tuple[torch.Tensor, torch.Tensor]:
    """(summed log-probability, token count) of every row's answer, shaped (examples, labels); one forward pass,
    with the vocabulary projection and its softmax only at the positions that predict answer tokens (the output
    layer works position by position, so these are the full model's numbers at a fraction of the cost)."""
    device = next(model.parameters()).device
    mask = rows.answer_mask.to(device)
    targets = rows.input_ids[:, 1:].to(device)[mask]
    inputs = {"input_ids": rows.input_ids.to(device), "attention_mask": rows.attention_mask.to(device)}
    head = model.get_output_embeddings()
    if head is None:  # a model without a separate output layer: every position's logits
        logits = model(**inputs).logits[:, :-1][mask]
    else:
        hidden = model(**inputs, output_hidden_states=True, logits_to_keep=1).hidden_states[-1]
        logits = head(hidden[:, :-1][mask])
    token = torch.log_softmax(logits.float(), dim=-1).gather(-1, targets.unsqueeze(-1)).squeeze(-1)
    per_row = torch.zeros(mask.shape, dtype=token.dtype, device=device)
    per_row[mask] = token
    summed = per_row.sum(-1).view(-1, rows.labels)
    counts = mask.sum(-1).view(-1, rows.labels)
    return summed.cpu(), counts.cpu()


def rank_classify(model: nn.Module, tokenizer, task: str, inputs: Sequence[str], labels: Sequence[str],
                  gold: Sequence[int]) -> list[dict]:
    """Per example: the predicted label index, whether it is the gold one, the gold label's probability among the
    labels (softmax of the summed log-likelihoods) and the gold answer's mean token NLL (its loss)."""
    rows = candidate_rows(tokenizer, [prompt_of(task, text) for text in inputs], labels)
    return judge(*answer_log_likelihoods(model, rows), gold)


def judge(summed: torch.Tensor, counts: torch.Tensor, gold: Sequence[int]) -> list[dict]:
    """Per example, from its answers' summed log-likelihoods and token counts (examples, labels): the predicted
    label index, correctness, the gold label's probability among the labels and the gold answer's mean NLL."""
    probs = torch.softmax(summed, dim=-1)
    out = []
    for k, g in enumerate(gold):
        predicted = int(summed[k].argmax())
        out.append({"prediction": predicted, "correct": float(predicted == g), "confidence": float(probs[k, g]),
                    "loss": float(-summed[k, g] / counts[k, g]), "probs": probs[k].tolist()})
    return out
