"""The home-built RoBERTa: byte-level BPE tokenizer, BERT masking, a short MLM pre-training run."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from module.cli import run_cli
from module.files import LOCK_FILE
from module.loading import load_tokenizer
from module.pretraining import parse_options
from RoBERTa_model.mlm import (
    MLMPretrainOptions,
    check_mlm_options,
    check_tokenizer,
    mask_tokens,
    mlm_loss,
    pretrain_mlm,
)
from RoBERTa_model.step_checkpoints import STEPS_SETTINGS
from tests.conftest import ROOT
from utils.toy import corpus

SENTENCES = ("the movie was good", "a very dull story and bad actor", "premise: A café - naïve 日本 😀 [SEP] x",
             "positive negative entailment neutral contradiction [toy-sentiment] [task] 0123456789 .,:;!?-")


@pytest.fixture(scope="module")
def pretrained(tmp_path_factory):
    """5 steps of a tiny RoBERTa on the toy corpus, checkpoints at steps 2 and 5."""
    root = tmp_path_factory.mktemp("mlm")
    text = root / "corpus.txt"
    text.write_text("\n".join(corpus(300)) + "\n")
    out = root / "checkpoint"
    info = pretrain_mlm(MLMPretrainOptions(text=str(text), out=str(out), vocab_size=400, hidden_size=32, num_layers=2,
                                           num_heads=2, intermediate_size=64, seq_len=32, batch_size=4, steps=5,
                                           warmup_steps=2, save_steps=[2, 5], quiet=True))
    assert info == json.loads((out / "ckpt_5" / "pretraining.json").read_text())
    assert info["args"]["max_position_embeddings"] == 34 and info["vocab_size"] == 400
    return out


def test_checkpoints_load_as_masked_lm_and_classifier(pretrained):
    from transformers import AutoModelForMaskedLM, AutoModelForSequenceClassification

    assert sorted(p.name for p in pretrained.iterdir()) == [LOCK_FILE, "ckpt_2", "ckpt_5"]  # the run's lock stays
    for name in ("ckpt_2", "ckpt_5"):
        folder = pretrained / name
        assert {"config.json", "model.safetensors", "tokenizer.json", "pretraining.json"} <= {
            p.name for p in folder.iterdir()}
        mlm = AutoModelForMaskedLM.from_pretrained(str(folder))
        tok = load_tokenizer(folder)
        assert type(mlm).__name__ == "RobertaForMaskedLM" and mlm.config.vocab_size == len(tok) == 400
        assert mlm.config.max_position_embeddings == 34 and tok.model_max_length == 32
        info = json.loads((folder / "pretraining.json").read_text())
        assert info["step"] == int(name.split("_")[1]) and np.isfinite(info["loss"]) and info["params"] > 0
        assert info["seconds"] >= 0 and info["loss_curve"][-1][0] == info["step"]
    clf = AutoModelForSequenceClassification.from_pretrained(str(pretrained / "ckpt_5"), num_labels=3)
    tok = load_tokenizer(pretrained / "ckpt_5")
    batch = tok(["a good film", "a bad one"], ["it was good", "no"], padding=True, truncation=True, max_length=32,
                return_tensors="pt")
    assert clf(**batch).logits.shape == (2, 3)
    a = AutoModelForMaskedLM.from_pretrained(str(pretrained / "ckpt_2")).state_dict()
    b = AutoModelForMaskedLM.from_pretrained(str(pretrained / "ckpt_5")).state_dict()
    assert any(not torch.equal(a[k], b[k]) for k in a)  # training moved the weights between checkpoints


def test_tokenizer_round_trips_and_wraps_like_roberta(pretrained):
    tok = load_tokenizer(pretrained / "ckpt_5")
    assert [tok.convert_tokens_to_ids(t) for t in ("<s>", "<pad>", "</s>", "<unk>", "<mask>")] == [0, 1, 2, 3, 4]
    for text in SENTENCES:
        ids = tok(text).input_ids
        assert ids[0] == tok.cls_token_id == 0 and ids[-1] == tok.sep_token_id == 2
        assert tok.decode(ids, skip_special_tokens=True) == text
    a, b = (tok(t, add_special_tokens=False).input_ids for t in ("a film", "bad"))
    assert tok("a film", "bad").input_ids == [0, *a, 2, 2, *b, 2]
    masked = tok("the <mask> film", add_special_tokens=False).input_ids
    assert masked.count(tok.mask_token_id) == 1 and len(masked) == 3
    check_tokenizer(tok, corpus(20))


def test_masking_follows_80_10_10():
    gen = torch.Generator().manual_seed(0)
    ids = torch.randint(5, 400, (64, 128))
    ids[:, 0], ids[:, -1] = 0, 2
    special, ordinary = torch.arange(5), torch.arange(5, 400)
    inputs, labels = mask_tokens(ids, 4, special, ordinary, 0.15, gen)
    chosen = labels != -100
    assert not chosen[:, 0].any() and not chosen[:, -1].any()
    assert abs(chosen.float().mean().item() - 0.15 * 126 / 128) < 0.01
    assert torch.equal(labels[chosen], ids[chosen]) and torch.equal(inputs[~chosen], ids[~chosen])
    masked = (inputs[chosen] == 4).float().mean().item()
    kept = (inputs[chosen] == ids[chosen]).float().mean().item()
    assert abs(masked - 0.8) < 0.04 and 0.07 < kept < 0.14
    swapped = chosen & (inputs != 4) & (inputs != ids)
    assert swapped.any() and (inputs[swapped] >= 5).all()


def test_mlm_loss_equals_the_full_head(pretrained):
    from transformers import AutoModelForMaskedLM

    model = AutoModelForMaskedLM.from_pretrained(str(pretrained / "ckpt_5")).eval()
    gen = torch.Generator().manual_seed(1)
    ids = torch.randint(5, 400, (3, 32))
    inputs, labels = mask_tokens(ids, 4, torch.arange(5), torch.arange(5, 400), 0.15, gen)
    with torch.no_grad():
        assert torch.allclose(mlm_loss(model, inputs, labels), model(input_ids=inputs, labels=labels).loss, atol=1e-5)


def test_missing_text_is_one_clear_error(tmp_path, capsys):
    code = run_cli(lambda: pretrain_mlm(MLMPretrainOptions(text=str(tmp_path / "none.txt"), out=str(tmp_path / "o"))))
    assert code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "none.txt" in err[0] and "python utils/prepare_data.py --text" in err[0]
    assert list(tmp_path.iterdir()) == []


def test_foreign_checkpoint_is_not_overwritten(tmp_path):
    (tmp_path / "ckpt_4").mkdir()
    (tmp_path / "ckpt_4" / "config.json").write_text("{}")
    text = tmp_path / "c.txt"
    text.write_text("a b c\n")
    with pytest.raises(FileExistsError, match="ckpt_4"):
        pretrain_mlm(MLMPretrainOptions(text=str(text), out=str(tmp_path), steps=4, save_steps=[4]))


def test_reused_tokenizer(pretrained, tmp_path):
    text = tmp_path / "c.txt"
    text.write_text("\n".join(corpus(100)) + "\n")
    info = pretrain_mlm(MLMPretrainOptions(text=text, out=tmp_path / "o", tokenizer=str(pretrained / "ckpt_5"),
                                           hidden_size=16, num_layers=1, num_heads=2, intermediate_size=32, seq_len=16,
                                           batch_size=2, steps=1, quiet=True))  # Paths are fine too
    assert info["step"] == 1 and info["args"]["text"] == str(text) and not list(tmp_path.glob(".*tokenizer*"))
    tok = load_tokenizer(tmp_path / "o" / "ckpt_1")
    assert tok.get_vocab() == load_tokenizer(pretrained / "ckpt_5").get_vocab() and tok.model_max_length == 16


@pytest.mark.parametrize("flags, expected", [(["--hidden_size", "0"], "--hidden_size"),
                                             (["--num_heads", "3"], "does not divide --hidden_size 128"),
                                             (["--seq_len", "2"], "at least 3"),
                                             (["--max_position_embeddings", "10", "--seq_len", "16"], "at least"),
                                             (["--steps", "4", "--save_steps", "5"], "1..4")])
def test_impossible_flags_are_one_line_parser_errors(capsys, flags, expected):
    with pytest.raises(SystemExit) as stop:
        parse_options(MLMPretrainOptions, flags, check=check_mlm_options)
    assert stop.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "error: argument --" in err[0] and expected in err[0]


def test_the_check_fills_in_the_position_embeddings():
    options = parse_options(MLMPretrainOptions, ["--seq_len", "64"], check=check_mlm_options)
    assert options.max_position_embeddings == 66 and options.out == "RoBERTa_model/checkpoint"
    with pytest.raises(ValueError, match="--mlm_probability"):
        check_mlm_options(MLMPretrainOptions(mlm_probability=1.0))


def test_entry_script_help_lists_the_flags():
    shown = subprocess.run([sys.executable, "RoBERTa_model/pretrain_mlm.py", "--help"], cwd=ROOT,
                           capture_output=True, text=True, check=True).stdout
    assert shown.startswith("usage: pretrain_mlm.py") and "Pre-train a small RoBERTa" in shown
    for flag in ("--mlm_probability", "--weight_decay", "--save_steps", "--max_minutes", "--bf16"):
        assert flag in shown


def test_a_small_vocabulary_that_splits_words_still_keeps_mask_whole(tmp_path):
    """On a corpus too small for "film" to be one token (2000 lines in the paper report's --quick run), the tokenizer
    check took the split word for a split <mask> and stopped pre-training."""
    from RoBERTa_model.mlm import train_roberta_tokenizer

    lines = [f"line {i} about a fil and an m" for i in range(50)]
    tokenizer = train_roberta_tokenizer(lines, tmp_path / "tok", vocab_size=300)
    pieces = tokenizer(" film", add_special_tokens=False).input_ids
    assert len(pieces) > 1  # the case the old check rejected
    masked = tokenizer("the <mask> film", add_special_tokens=False).input_ids
    assert masked.count(tokenizer.mask_token_id) == 1


def fake_step_checkpoints(folder, steps, written_here: bool) -> None:
    """ckpt_<STEP>/ folders as a pre-training run leaves them (pretraining.json) or as a user brings them."""
    for step in steps:
        (folder / f"ckpt_{step}").mkdir(parents=True)
        (folder / f"ckpt_{step}" / "config.json").write_text("{}")
        if written_here:
            (folder / f"ckpt_{step}" / "pretraining.json").write_text("{}")


def steps_args(tmp_path, text, **changes):
    """pretrain_steps_experiment's parsed flags (the pre-training ones only)."""
    import argparse

    values = {"text": text, "checkpoints": tmp_path / "ckpts", "pretrain_steps": [2, 4], "max_lines": 50,
              "warmup_steps": 1, **changes}
    return argparse.Namespace(**values)


def test_pretrain_steps_reuses_its_checkpoints_only_for_the_same_text_and_settings(tmp_path, monkeypatch):
    from module.runs import SettingsMismatch
    from RoBERTa_model import pretrain_steps_experiment as exp
    from RoBERTa_model import step_checkpoints

    text = tmp_path / "corpus.txt"
    text.write_text("\n".join(corpus()[:50]) + "\n")
    made = []
    monkeypatch.setattr(step_checkpoints, "pretrain_mlm", lambda options: made.append(options) or fake_step_checkpoints(
        Path(options.out), options.save_steps, written_here=True))
    args = steps_args(tmp_path, text)
    folders = exp.pretrain(args)
    assert len(made) == 1 and all((f / "config.json").is_file() for f in folders)
    assert exp.pretrain(args) == folders and len(made) == 1  # same text, same settings: reused
    with pytest.raises(SettingsMismatch, match="max_lines"):
        exp.pretrain(steps_args(tmp_path, text, max_lines=40))
    text.write_text("other text\n" * 50)  # same path, other contents
    with pytest.raises(SettingsMismatch, match="text"):
        exp.pretrain(args)
    assert len(made) == 1


def test_pretrain_steps_refuses_its_old_checkpoints_whose_settings_are_unknown(tmp_path):
    from module.runs import SettingsMismatch
    from RoBERTa_model import pretrain_steps_experiment as exp

    text = tmp_path / "corpus.txt"
    text.write_text("a line\n")
    fake_step_checkpoints(tmp_path / "ckpts", [2, 4], written_here=True)
    with pytest.raises(SettingsMismatch, match="settings are unknown"):
        exp.pretrain(steps_args(tmp_path, text))


def test_pretrain_steps_uses_checkpoints_made_elsewhere_as_they_are(tmp_path):
    from RoBERTa_model import pretrain_steps_experiment as exp

    fake_step_checkpoints(tmp_path / "ckpts", [2, 4], written_here=False)
    args = steps_args(tmp_path, tmp_path / "no_text.txt")
    assert exp.pretrain(args) == [tmp_path / "ckpts" / "ckpt_2", tmp_path / "ckpts" / "ckpt_4"]
    assert not (tmp_path / "ckpts" / STEPS_SETTINGS).exists()


def test_pretrain_steps_checks_the_text_before_writing_anything(tmp_path):
    from RoBERTa_model import pretrain_steps_experiment as exp

    with pytest.raises(FileNotFoundError, match="--text"):
        exp.pretrain(steps_args(tmp_path, tmp_path / "missing.txt"))
    assert not (tmp_path / "ckpts").exists()


def test_pre_training_into_a_held_folder_writes_nothing(tmp_path, capsys):
    """Issue 27.2: pre-training (both kinds share `module.pretraining.pretrain`) takes its output folder's lock
    before its first write; a second run into a held folder is one line naming the folder and the holder."""
    from utils import toy

    text = tmp_path / "c.txt"
    text.write_text("\n".join(corpus(100)) + "\n")
    out = tmp_path / "o"
    options = MLMPretrainOptions(text=str(text), out=str(out), vocab_size=400, hidden_size=32, num_layers=2,
                                 num_heads=2, intermediate_size=64, seq_len=32, batch_size=4, steps=2, quiet=True)
    with toy.folder_held_elsewhere(out) as pid:
        assert run_cli(lambda: pretrain_mlm(options)) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and str(out) in err[0] and f"pid {pid}" in err[0], err
        assert [p.name for p in out.iterdir()] == [LOCK_FILE]
        assert sorted(p.name for p in tmp_path.iterdir()) == ["c.txt", "o"]  # no tokenizer folder beside it
