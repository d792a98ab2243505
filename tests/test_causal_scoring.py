"""Rank classification of causal LMs (causal_model/scoring.py) on tiny GPT-2 and Llama models built from configs with
a tokenizer the tests make: all candidates in one padded pass give what scoring each candidate alone gives."""

from __future__ import annotations

import pytest
import torch

from causal_model.scoring import answer_of, candidate_rows, prompt_of, rank_classify

LABELS = ["negative", "positive", "neutral"]
INPUTS = ["a lovely film", "the plot was dull and the acting was bad", "fine"]


def _tiny(arch: str, vocab: int):
    import transformers

    torch.manual_seed(0)
    if arch == "gpt2":
        config = transformers.GPT2Config(vocab_size=vocab, n_positions=64, n_embd=16, n_layer=2, n_head=2,
                                         bos_token_id=1, eos_token_id=1)
        return transformers.GPT2LMHeadModel(config).eval()
    config = transformers.LlamaConfig(vocab_size=vocab, hidden_size=16, intermediate_size=32, num_hidden_layers=2,
                                      num_attention_heads=2, num_key_value_heads=1, max_position_embeddings=64,
                                      bos_token_id=1, eos_token_id=1)
    return transformers.LlamaForCausalLM(config).eval()


@pytest.fixture(scope="module")
def tokenizer(tokenizer_dir):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(tokenizer_dir))


@torch.no_grad()
def _alone(model, tokenizer, prompt: str, label: str) -> float:
    """The summed log-probability of one answer after its prompt, from one unpadded row."""
    prompt_ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
    answer_ids = tokenizer(answer_of(label), add_special_tokens=False)["input_ids"]
    ids = torch.tensor([prompt_ids + answer_ids])
    log_probs = torch.log_softmax(model(input_ids=ids).logits[0, :-1].float(), dim=-1)
    return sum(float(log_probs[len(prompt_ids) - 1 + k, t]) for k, t in enumerate(answer_ids))


@pytest.mark.parametrize("arch", ["gpt2", "llama"])
def test_one_padded_pass_over_every_candidate_equals_scoring_each_alone(arch, tokenizer):
    model = _tiny(arch, len(tokenizer))
    rows = candidate_rows(tokenizer, [prompt_of("sst2", t) for t in INPUTS], LABELS)
    assert rows.input_ids.shape[0] == len(INPUTS) * len(LABELS)  # every candidate of the batch in one pass
    results = rank_classify(model, tokenizer, "sst2", INPUTS, LABELS, gold=[1, 0, 2])
    for text, result, gold in zip(INPUTS, results, [1, 0, 2], strict=True):
        alone = [_alone(model, tokenizer, prompt_of("sst2", text), label) for label in LABELS]
        assert result["prediction"] == max(range(len(LABELS)), key=alone.__getitem__)
        assert result["correct"] == float(result["prediction"] == gold)
        gold_tokens = len(tokenizer(answer_of(LABELS[gold]), add_special_tokens=False)["input_ids"])
        assert result["loss"] == pytest.approx(-alone[gold] / gold_tokens, abs=1e-5)
        assert result["confidence"] == pytest.approx(float(torch.softmax(torch.tensor(alone), 0)[gold]), abs=1e-5)
