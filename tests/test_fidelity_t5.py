"""T5 track semantics that must match the original code (issue 12): each test failed before its fix."""

from __future__ import annotations

import os
import random
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from transformers import AutoTokenizer

from dataloader.batching import encode_split, model_input, train_batches
from dataloader.tasks import Example, load_split, task_name
from module.checkpoint import load_checkpoint
from T5_model.evaluation import decode_predictions
from T5_model.jobs import resolve_predict_checkpoint
from T5_model.model import model_provider
from T5_model.trainer import NO_DECAY, parameter_groups, process_share, split_batch
from utils import toy

ROOT = Path(__file__).resolve().parents[1]


_args, _trainer = toy.t5_args, toy.t5_trainer


# ---------------------------------------------------------------------------------------------- 1. weight decay


def test_parameter_groups_follow_the_original(tiny_t5_dir, toy_task, tmp_path):
    args = _args(tiny_t5_dir, toy_task, tmp_path, "--weight_decay", "0.05")
    model, _, _ = model_provider(args)
    names = {id(p): n for n, p in model.named_parameters()}
    decay, rest = parameter_groups(model, "model", 0.05)
    assert decay["weight_decay"] == 0.05 and rest["weight_decay"] == 0.0
    rest_names = {names[id(p)] for p in rest["params"]}
    # the original's substring rule: layer norms, and T5's relative_attention_bias (its name holds "bias")
    assert rest_names and all(("layer_norm.weight" in n) or ("bias" in n) for n in rest_names)
    assert any(n.endswith("final_layer_norm.weight") for n in rest_names)
    assert any(n.endswith("relative_attention_bias.weight") for n in rest_names)
    assert all(not any(nd in names[id(p)] for nd in NO_DECAY) for p in decay["params"])
    assert len(decay["params"]) + len(rest["params"]) == len(list(model.parameters()))
    adapter_args = _args(tiny_t5_dir, toy_task, tmp_path, "--tune_method", "adapter", "--adapter_size", "4")
    adapter_model, _, _ = model_provider(adapter_args)
    groups = parameter_groups(adapter_model, "adapter", 0.05)
    assert [g["weight_decay"] for g in groups] == [0.0]  # the original's adapter groups carry no decay


@pytest.mark.parametrize("method", ["model", "adapter"])
def test_one_update_applies_weight_decay_in_full_tuning_only(method, tiny_t5_dir, toy_task, tmp_path):
    lr, wd = 1e-2, 0.5
    after = {}
    for decay in (0.0, wd):
        extra = ["--tune_method", method, "--adapter_size", "4"] if method == "adapter" else []
        args = _args(tiny_t5_dir, toy_task, tmp_path, *extra, "--train_iters", "1", "--valid_interval", "100",
                     "--learning_rate", str(lr), "--weight_decay", str(decay), "--train_batch_size", "8")
        trainer = _trainer(args, toy_task, tmp_path / f"{method}-{decay}", splits=("train",))
        before = {n: p.detach().clone() for n, p in trainer.model.named_parameters()}
        trainer.train()
        after[decay] = {n: p.detach().clone() for n, p in trainer.model.named_parameters()}
    for name, start in before.items():
        gap = after[0.0][name] - after[wd][name]
        if method == "model" and not any(nd in name for nd in NO_DECAY):
            torch.testing.assert_close(gap, wd * lr * start, atol=1e-6, rtol=1e-4)  # Adafactor: p -= wd * lr * p
        else:
            assert torch.equal(gap, torch.zeros_like(gap)), name


def test_validation_after_collapsed_train_loss_is_no_improvement(tiny_t5_dir, toy_task, tmp_path):
    args = _args(tiny_t5_dir, toy_task, tmp_path, "--tune_method", "adapter", "--adapter_size", "4",
                 "--train_iters", "6", "--valid_interval", "2", "--log_interval", "1", "--early_stop", "2",
                 "--output_interval", "100", "--train_batch_size", "16")
    run_dir = tmp_path / "run"
    trainer = _trainer(args, toy_task, run_dir)
    real_update = trainer.update
    trainer.update = lambda *a: (real_update(*a), 0.0)[1]  # the update happens; its logged loss is 0
    summary = trainer.train()
    assert summary["num_updates"] == 4  # two validations without improvement, then the stop
    assert summary["best_step"] == 0 and not (run_dir / "checkpoint-best.pt").exists()


# ------------------------------------------------------------------------------------- 3. --predict_checkpoint


def test_predict_checkpoint_never_comes_from_the_working_directory(tmp_path, monkeypatch):
    run_dir = tmp_path / "out" / "lr_1e-4_bsz_32_seed_20"
    run_dir.mkdir(parents=True)
    (run_dir / "checkpoint-best.pt").write_bytes(b"best")
    (run_dir / "checkpoint-last.pt").write_bytes(b"last")
    monkeypatch.chdir(tmp_path)
    (tmp_path / "best-model.pt").write_bytes(b"stray")  # must not become every cell's test checkpoint
    assert resolve_predict_checkpoint(run_dir, "best-model.pt") == run_dir / "checkpoint-best.pt"
    (run_dir / "checkpoint-best.pt").unlink()
    assert resolve_predict_checkpoint(run_dir, "best-model.pt") == run_dir / "checkpoint-last.pt"
    (run_dir / "checkpoint@10.pt").write_bytes(b"ten")
    (tmp_path / "checkpoint@20.pt").write_bytes(b"cwd")
    assert resolve_predict_checkpoint(run_dir, "checkpoint@10.pt") == run_dir / "checkpoint@10.pt"
    with pytest.raises(FileNotFoundError, match="checkpoint@20.pt"):
        resolve_predict_checkpoint(run_dir, "checkpoint@20.pt")  # relative: inside the run folder only
    absolute = tmp_path / "checkpoint@20.pt"
    assert resolve_predict_checkpoint(run_dir, str(absolute)) == absolute


# -------------------------------------------------------------------------------- 5. / 6. task name, lowercase


def test_task_name_is_the_folder_name_as_given(tmp_path):
    target = tmp_path / "datasets" / "MNLI_v2"
    target.mkdir(parents=True)
    for split in ("train", "dev", "test"):
        (target / f"glue-mnli_{split}.tsv").write_text("premise: a [SEP] hypothesis: b\tentailment\n")
    (tmp_path / "data").mkdir()
    link = tmp_path / "data" / "glue-mnli"
    link.symlink_to(target, target_is_directory=True)
    assert task_name(link) == "glue-mnli" and task_name(f"{link}/") == "glue-mnli"
    assert load_split(link, "dev")[0].answers == ("entailment",)


def test_do_lowercase_lowercases_the_whole_model_input(tokenizer_dir):
    assert model_input("Toy-Sentiment", "Good Movie", lowercase=True) == " [toy-sentiment] good movie"
    assert model_input("Toy-Sentiment", "Good Movie") == " [Toy-Sentiment] Good Movie"
    tok = AutoTokenizer.from_pretrained(str(tokenizer_dir))
    enc = encode_split([Example("Good", ("Positive",))], tok, "TOY", lowercase=True)
    assert enc.input_ids[0] == tok(" [toy] good")["input_ids"]


# ------------------------------------------------------------------------------ 7. batch size with accumulation


def test_accumulation_splits_the_update_batch_instead_of_multiplying_it(tiny_t5_dir, toy_task, tmp_path):
    args = _args(tiny_t5_dir, toy_task, tmp_path, "--train_batch_size", "32", "--gradient_accumulation_steps", "2",
                 "--micro_batch_size", "32", "--train_iters", "2", "--valid_interval", "100")
    trainer = _trainer(args, toy_task, tmp_path / "run", splits=("train",))
    assert (trainer.group_size, trainer.micro_size) == (32, 16)
    seen = []
    real = trainer.backward_group
    trainer.backward_group = lambda group, *a: (seen.append(len(group.indices)), real(group, *a))[1]
    trainer.train()
    assert seen == [32, 32]


def test_accumulation_larger_than_the_batch_is_refused(tiny_t5_dir, toy_task, tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        _args(tiny_t5_dir, toy_task, tmp_path, "--bsz_list", "4", "32", "--gradient_accumulation_steps", "8")
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--gradient_accumulation_steps" in err[0] and "batch of 4" in err[0]


# ---------------------------------------------------------------------------------------------- 8. decoding


def test_predictions_are_decoded_with_the_originals_cleanup(tokenizer_dir):
    tok = AutoTokenizer.from_pretrained(str(tokenizer_dir))
    ids = tok("good , bad . nice !")["input_ids"]
    assert tok.decode(ids, skip_special_tokens=True) == "good , bad . nice !"  # transformers 5's default
    assert decode_predictions(tok, [ids]) == ["good, bad. nice!"]


# ------------------------------------------------------------------------------------ several processes


def test_every_process_takes_part_in_every_update(tiny_t5_dir, toy_task, tmp_path):
    args = _args(tiny_t5_dir, toy_task, tmp_path, "--train_batch_size", "16", "--micro_batch_size", "16")
    trainer = _trainer(args, toy_task, tmp_path / "run", splits=("train",))
    group = next(train_batches(trainer.data["train"].encoded, 3, trainer.pad_id, random.Random(0)))
    # 3 rows over 2 processes: 2 + 1; a single row over 2 processes: the second runs it with weight 0
    assert [len(process_share(group, r, 2)[0].indices) for r in (0, 1)] == [2, 1]
    one = split_batch(group, 1)[0]
    assert [process_share(one, r, 2)[1] for r in (0, 1)] == [1.0, 0.0]
    grads = []
    for rank in (0, 1):
        trainer.model.zero_grad(set_to_none=True)
        trainer.backward_group(group, rank, 2)
        grads.append({n: p.grad.clone() for n, p in trainer.model.named_parameters() if p.grad is not None})
    trainer.model.zero_grad(set_to_none=True)
    trainer.backward_group(group)
    whole = {n: p.grad.clone() for n, p in trainer.model.named_parameters() if p.grad is not None}
    assert grads[0].keys() == grads[1].keys() == whole.keys()
    for name in whole:  # DDP averages: the mean of the two processes' gradients is the whole batch's
        torch.testing.assert_close((grads[0][name] + grads[1][name]) / 2, whole[name], atol=1e-6, rtol=1e-4)
    trainer.model.zero_grad(set_to_none=True)
    trainer.backward_group(one, 1, 2)
    assert all(p.grad is not None and not p.grad.any() for p in trainer.model.parameters() if p.requires_grad)


@pytest.mark.slow
def test_two_gloo_processes_train_with_batches_smaller_than_the_world(tiny_t5_dir, toy_task, tmp_path):
    out = tmp_path / "out"
    # 64 training examples in batches of 16 micro-batched at 16: one micro-batch per update, two processes
    done = toy.torchrun("tune_singletask.py", "--task_dir", str(toy_task), "--model", str(tiny_t5_dir), "--output_dir",
                        str(out), "--do_train", "--tune_method", "adapter", "--adapter_size", "4", "--train_iters", "6",
                        "--valid_interval", "3", "--output_interval", "6", "--train_batch_size", "16",
                        "--micro_batch_size", "16", "--metric", "ACC", "--max_output_length", "6", "--quiet",
                        timeout=180)
    assert done.returncode == 0, done.stderr[-3000:]
    last = load_checkpoint(out / "lr_5e-05_bsz_16_seed_20" / "checkpoint-last.pt")
    assert last.meta["num_updates"] == 6 and last.meta["num_processes"] == 2  # really two processes (gloo)
    assert len(load_checkpoint(out / "lr_5e-05_bsz_16_seed_20" / "checkpoint@6.pt").rng) == 2  # one per process
    rows = (out / "result.csv").read_text().splitlines()
    assert len(rows) == 2 and done.stdout.count("lr_5e-05_bsz_16_seed_20: dev") == 1  # one process reports


def test_more_than_1001_points_is_refused_since_x_is_rounded_to_3_decimals(tiny_t5_dir, toy_task, tmp_path, capsys):
    from module.interpolation import interpolation_points

    assert len(set(interpolation_points(1001))) == 1001
    with pytest.raises(ValueError, match="2 to 1001"):
        interpolation_points(1002)  # would repeat x values after rounding
    with pytest.raises(SystemExit) as exc:
        _args(tiny_t5_dir, toy_task, tmp_path, "--itpl_points", "1002")
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--itpl_points" in err[0] and "1001" in err[0]


def test_predictions_that_are_never_a_label_word_are_reported(tiny_t5_dir, toy_task, tmp_path):
    """Issue 13.5: `dev 0.0 test 0.0` must not pass silently when the model never says a label word."""
    from dataloader.metrics import label_word_warning

    answers = [["positive"], ["negative"]] * 10
    assert label_word_warning(["Positive"] * 19 + ["meh"], answers, "dev") is None
    warning = label_word_warning(["good good", "the"] * 10, answers, "dev")
    assert warning.startswith("warning: dev: 0 of 20 predictions are a label word") and "'good good', 'the'" in warning
    assert label_word_warning(["x"] * 3, [[f"free text {i}"] for i in range(60)][:3] * 20, "dev") is not None
    assert label_word_warning(["x"] * 60, [[f"free text {i}"] for i in range(60)], "dev") is None  # not labels
    out = tmp_path / "out"
    done = subprocess.run([sys.executable, "tune_singletask.py", "--task_dir", str(toy_task), "--model",
                           str(tiny_t5_dir), "--output_dir", str(out), "--do_train", "--do_predict", "--train_iters",
                           "1", "--valid_interval", "1", "--learning_rate", "1e-9", "--train_batch_size", "8",
                           "--metric", "ACC", "--max_output_length", "4", "--quiet"],
                          cwd=ROOT, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"})
    assert done.returncode == 0, done.stderr
    lines = [line for line in done.stderr.splitlines() if line.startswith("warning: ")]
    assert [line.split(":")[1].strip() for line in lines] == ["dev", "test"], done.stderr
    assert "predictions are a label word" in (out / "lr_1e-09_bsz_8_seed_20" / "log.txt").read_text()


def test_metrics_csv_has_no_duplicate_rows_after_a_resume(tiny_t5_dir, toy_task, tmp_path):
    """Issue 13.9: rows logged after the checkpoint a run resumes from are dropped, not duplicated."""
    import csv

    common = ["--tune_method", "adapter", "--adapter_size", "4", "--log_interval", "1", "--valid_interval", "1000",
              "--output_interval", "5", "--learning_rate", "1e-3", "--train_batch_size", "16", "--train_iters", "8"]
    run_dir = tmp_path / "run"
    _trainer(_args(tiny_t5_dir, toy_task, tmp_path, *common), toy_task, run_dir, splits=("train",)).train()
    (run_dir / "checkpoint-last.pt").unlink()  # killed after logging step 8, latest checkpoint at 5
    _trainer(_args(tiny_t5_dir, toy_task, tmp_path, *common), toy_task, run_dir, splits=("train",)).train()
    steps = [int(r["step"]) for r in csv.DictReader((run_dir / "metrics.csv").open()) if r["kind"] == "train"]
    assert steps == list(range(1, 9))
