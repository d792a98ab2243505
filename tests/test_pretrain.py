"""The home-built T5: SentencePiece tokenizer with sentinels, span corruption, a short pre-training run."""

from __future__ import annotations

import json

import numpy as np
import pytest
from transformers import AutoTokenizer, T5ForConditionalGeneration

from T5_model.span_corruption import corrupt, random_spans_mask, sentinel_ids
from tests.toy import corpus
from utils import pretrain_t5


def test_tokenizer_round_trips_and_keeps_sentinels_special(tokenizer_dir):
    tok = AutoTokenizer.from_pretrained(str(tokenizer_dir))
    for text in ("the movie was good", "a very dull story and bad actor"):
        assert tok.decode(tok(text).input_ids, skip_special_tokens=True) == text
    for k in (0, 1, 99):
        ids = tok(f"<extra_id_{k}>", add_special_tokens=False).input_ids
        assert len(ids) == 1 and ids[0] != tok.unk_token_id
    ids = tok("<extra_id_0>positive").input_ids
    assert tok.decode(ids, skip_special_tokens=True).strip() == "positive"
    assert "<extra_id_0>" in tok.decode(ids)
    assert sentinel_ids(tok)[0] == tok.convert_tokens_to_ids("<extra_id_0>")


def test_span_mask_density_and_spans():
    rng = np.random.default_rng(0)
    mask = random_spans_mask(100, 0.15, 3.0, rng)
    assert mask.sum() == 15 and not mask[0]
    runs = np.diff(np.concatenate([[0], mask.astype(int), [0]]))
    assert (runs == 1).sum() == 5  # 15 noise tokens / mean span 3


def test_corrupt_builds_sentinel_inputs_and_targets():
    tokens = [10, 11, 12, 13, 14, 15]
    mask = np.array([False, True, True, False, True, False])
    inputs, targets = corrupt(tokens, mask, sentinels=[99, 98], eos=1)
    assert inputs == [10, 99, 13, 98, 15, 1]
    assert targets == [99, 11, 12, 98, 14, 1]


def test_short_pretraining_writes_loadable_checkpoints(tmp_path):
    text = tmp_path / "corpus.txt"
    text.write_text("\n".join(corpus(300)) + "\n")
    out = tmp_path / "t5-home"
    code = pretrain_t5.main(["--text", str(text), "--out", str(out), "--vocab_size", "300", "--d_model", "32",
                             "--d_kv", "8", "--d_ff", "64", "--num_layers", "1", "--num_heads", "2", "--seq_len",
                             "32", "--batch_size", "4", "--steps", "5", "--save_steps", "2", "5", "--quiet",
                             "--init_embeddings", "none"])
    assert code == 0
    for folder in (out / "ckpt_2", out / "ckpt_5", out):
        model = T5ForConditionalGeneration.from_pretrained(str(folder))
        tok = AutoTokenizer.from_pretrained(str(folder))
        assert model.config.feed_forward_proj == "gated-gelu" and len(tok) == model.config.vocab_size
    info = json.loads((out / "pretraining.json").read_text())
    assert info["step"] == 5 and np.isfinite(info["loss"])
    a = T5ForConditionalGeneration.from_pretrained(str(out / "ckpt_2")).state_dict()
    b = T5ForConditionalGeneration.from_pretrained(str(out)).state_dict()
    assert any(not (a[k] == b[k]).all() for k in a)  # training moved the weights between checkpoints


def test_missing_text_is_one_clear_error(tmp_path, capsys):
    from utils.errors import run_cli

    assert run_cli(lambda: pretrain_t5.main(["--text", str(tmp_path / "none.txt"), "--out", str(tmp_path / "o")])) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "none.txt" in err[0] and "prepare_data.py" in err[0]
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("k", [0, 5])
def test_sentinels_are_the_last_ids(tokenizer_dir, k):
    tok = AutoTokenizer.from_pretrained(str(tokenizer_dir))
    assert tok.convert_tokens_to_ids(f"<extra_id_{k}>") == len(tok) - 1 - k


def test_fresh_t5_starts_at_unit_logit_scale():
    """transformers ties T5's embeddings and, for v1.1 configs, skips output scaling: init_t5 corrects the start."""
    import math
    from argparse import Namespace

    import torch
    from transformers import T5Config

    vocab, d_model = 500, 64
    config = T5Config(vocab_size=vocab, d_model=d_model, d_kv=16, d_ff=128, num_layers=1, num_heads=4,
                      feed_forward_proj="gated-gelu", tie_word_embeddings=False, decoder_start_token_id=0)
    assert config.scale_decoder_outputs is False  # what a v1.1 config means in transformers 5
    torch.manual_seed(0)
    batch = {"input_ids": torch.randint(2, vocab, (8, 20)), "labels": torch.randint(2, vocab, (8, 6))}
    with torch.no_grad():
        plain = T5ForConditionalGeneration(config)(**batch).loss.item()
        ours = pretrain_t5.init_t5(config, seed=0)(**batch).loss.item()
    assert plain > 3 * math.log(vocab)  # the library's start: logits with std ~sqrt(d_model)
    assert ours < 1.2 * math.log(vocab)
    class Tok:
        pad_token_id, eos_token_id = 0, 1

        def __len__(self) -> int:
            return 100

    args = Namespace(d_model=32, d_kv=8, d_ff=64, num_layers=1, num_decoder_layers=None, num_heads=2,
                     dropout_rate=0.0, scale_decoder_outputs=True)
    assert pretrain_t5.t5_config(args, Tok()).scale_decoder_outputs  # the v1.0 output layer
    args.scale_decoder_outputs = False
    assert not pretrain_t5.t5_config(args, Tok()).scale_decoder_outputs  # v1.1


@pytest.mark.parametrize("flags, expected", [(["--init_embeddings", "no-such-folder"], "prepare_models.py"),
                                             (["--beta1", "0.9"], "--optimizer adafactor")])
def test_bad_flags_are_one_clear_error_before_any_work(tmp_path, capsys, flags, expected):
    from utils.errors import run_cli

    text = tmp_path / "corpus.txt"
    text.write_text("\n".join(corpus(50)) + "\n")
    argv = ["--text", str(text), "--out", str(tmp_path / "o"), *flags]
    assert run_cli(lambda: pretrain_t5.main(argv)) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and expected in err[0]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["corpus.txt"]
