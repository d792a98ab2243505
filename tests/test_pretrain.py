"""The home-built T5: SentencePiece tokenizer with sentinels, span corruption, a short pre-training run; and the
model-independent pre-training skeleton (module/pretraining.py) with a toy objective."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import make_dataclass
from pathlib import Path

import numpy as np
import pytest
import torch
from transformers import AutoTokenizer, T5ForConditionalGeneration

from module.cli import run_cli
from module.files import LOCK_FILE
from module.pretraining import Objective, RunOptions, default_save_steps, parse_options, pretrain, recent_loss
from T5_model.pretraining import T5PretrainOptions, init_t5, pretrain_t5, t5_config
from T5_model.span_corruption import corrupt, random_spans_mask, sentinel_ids
from tests.conftest import ROOT
from utils.toy import corpus


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
    options = parse_options(T5PretrainOptions, ["--text", str(text), "--out", str(out), "--vocab_size", "300",
                                                "--d_model", "32", "--d_kv", "8", "--d_ff", "64", "--num_layers", "1",
                                                "--num_heads", "2", "--seq_len", "32", "--batch_size", "4", "--steps",
                                                "5", "--save_steps", "2", "5", "--quiet", "--init_embeddings", "none"])
    assert options.save_steps == [2, 5] and options.d_model == 32 and options.lr == 1e-3  # a flag's default
    returned = pretrain_t5(options)
    for folder in (out / "ckpt_2", out / "ckpt_5", out):
        model = T5ForConditionalGeneration.from_pretrained(str(folder))
        tok = AutoTokenizer.from_pretrained(str(folder))
        assert model.config.feed_forward_proj == "gated-gelu" and len(tok) == model.config.vocab_size
    info = json.loads((out / "pretraining.json").read_text())
    assert info["step"] == 5 and np.isfinite(info["loss"]) and info == returned
    assert info["args"]["d_model"] == 32 and len(info["loss_curve"]) == 1 and info["embeddings_from"] is None
    assert json.loads((out / "ckpt_2" / "pretraining.json").read_text())["step"] == 2
    a = T5ForConditionalGeneration.from_pretrained(str(out / "ckpt_2")).state_dict()
    b = T5ForConditionalGeneration.from_pretrained(str(out)).state_dict()
    assert any(not (a[k] == b[k]).all() for k in a)  # training moved the weights between checkpoints


def test_missing_text_is_one_clear_error(tmp_path, capsys):
    options = T5PretrainOptions(text=str(tmp_path / "none.txt"), out=str(tmp_path / "o"))
    assert run_cli(lambda: pretrain_t5(options)) == 2
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
        ours = init_t5(config, seed=0)(**batch).loss.item()
    assert plain > 3 * math.log(vocab)  # the library's start: logits with std ~sqrt(d_model)
    assert ours < 1.2 * math.log(vocab)
    class Tok:
        pad_token_id, eos_token_id = 0, 1

        def __len__(self) -> int:
            return 100

    args = Namespace(d_model=32, d_kv=8, d_ff=64, num_layers=1, num_decoder_layers=None, num_heads=2,
                     dropout_rate=0.0, scale_decoder_outputs=True)
    assert t5_config(args, Tok()).scale_decoder_outputs  # the v1.0 output layer
    args.scale_decoder_outputs = False
    assert not t5_config(args, Tok()).scale_decoder_outputs  # v1.1


@pytest.mark.parametrize("flags, expected", [(["--init_embeddings", "no-such-folder"], "prepare_models.py"),
                                             (["--beta1", "0.9"], "--optimizer adafactor")])
def test_bad_flags_are_one_clear_error_before_any_work(tmp_path, capsys, flags, expected):
    text = tmp_path / "corpus.txt"
    text.write_text("\n".join(corpus(50)) + "\n")
    argv = ["--text", str(text), "--out", str(tmp_path / "o"), *flags]
    assert run_cli(lambda: pretrain_t5(parse_options(T5PretrainOptions, argv))) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and expected in err[0]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["corpus.txt"]


def test_entry_script_help_lists_the_flags():
    shown = subprocess.run([sys.executable, "T5_model/pretrain_t5.py", "--help"], cwd=ROOT, capture_output=True,
                           text=True, check=True).stdout
    assert shown.startswith("usage: pretrain_t5.py") and "Pre-train a T5" in shown
    for flag in ("--init_embeddings", "--scale_decoder_outputs", "--save_steps", "--max_minutes", "--bf16"):
        assert flag in shown


def test_bad_flag_value_is_one_line_and_exit_2(capsys):
    with pytest.raises(SystemExit) as stop:
        parse_options(T5PretrainOptions, ["--steps", "0"])
    assert stop.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--steps" in err[0]


class Tiny:
    """A stand-in tokenizer (ids = characters) and a model that saves like Hugging Face ones."""

    pad_token_id = 0

    def __len__(self) -> int:
        return 128

    def __call__(self, texts, add_special_tokens=False):
        return {"input_ids": [[ord(c) % 128 for c in t] for t in texts]}

    def save_pretrained(self, folder: str) -> None:
        (Path(folder) / "tokenizer.json").write_text("{}")


class TinyModel(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.embed = torch.nn.Embedding(128, 4)
        self.out = torch.nn.Linear(4, 128)

    def save_pretrained(self, folder: str) -> None:
        torch.save(self.state_dict(), f"{folder}/weights.pt")


class NextToken(Objective):
    """Predict each window's next token: enough to drive the skeleton."""

    name = "toy"

    def tokenizer(self, lines, out):
        return Tiny()

    def width(self) -> int:
        return self.options.seq_len

    def model(self, tokenizer):
        return TinyModel()

    def optimizer(self, model):
        optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
        return optimizer, torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: 1.0)

    def batch(self, stream, starts, rng):
        windows = torch.tensor(np.stack([stream[s: s + self.width()] for s in starts]), dtype=torch.long)
        return {"x": windows[:, :-1], "y": windows[:, 1:]}

    def loss(self, model, batch):
        return torch.nn.functional.cross_entropy(model.out(model.embed(batch["x"])).flatten(0, 1), batch["y"].flatten())

    def checkpoint_info(self, losses, train_seconds):
        return {"losses": list(losses)}


def toy_options(tmp_path, **values):
    """Options of the toy objective: the fields `pretrain` reads beyond RunOptions, then the values given."""
    fields = [("text", str, str(tmp_path / "c.txt")), ("out", str, str(tmp_path / "out")), ("steps", int, 8),
              ("batch_size", int, 2), ("seq_len", int, 6)]
    (tmp_path / "c.txt").write_text("\n".join(corpus(20)) + "\n")
    return make_dataclass("ToyOptions", fields, bases=(RunOptions,))(**values)


def test_skeleton_saves_at_the_save_steps_and_records_every_step(tmp_path):
    info = pretrain(NextToken(toy_options(tmp_path, quiet=True, seed=4)))
    saved = sorted(p.name for p in (tmp_path / "out").iterdir() if p.name != LOCK_FILE)  # the run's lock stays
    assert saved == [f"ckpt_{s}" for s in default_save_steps(8)]
    saved = json.loads((tmp_path / "out" / "ckpt_8" / "pretraining.json").read_text())
    assert saved == info and info["step"] == 8 and len(info["losses"]) == 8
    assert info["loss"] == recent_loss(info["losses"]) and info["args"]["seed"] == 4
    assert [p.name for p in tmp_path.glob("out/.*")] == [LOCK_FILE]  # no temporary folders left, only the lock
    again = pretrain(NextToken(toy_options(tmp_path, quiet=True, seed=4, out=str(tmp_path / "again"))))
    assert again["losses"] == info["losses"]  # the same seed draws the same windows


def test_skeleton_stops_and_saves_when_the_time_is_up(tmp_path):
    info = pretrain(NextToken(toy_options(tmp_path, quiet=True, max_minutes=0.0, steps=1000, save_steps=[500])))
    assert info["step"] == 1 and [p.name for p in (tmp_path / "out").iterdir() if p.name != LOCK_FILE] == ["ckpt_1"]
