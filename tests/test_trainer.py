"""The T5 trainer: accumulation, learning, checkpoints, cartography, resume, fast evaluation."""

from __future__ import annotations

import json
import random

import pytest
import torch
from transformers import AutoTokenizer

from dataloader.batching import encode_split, eval_batches, train_batches
from dataloader.tasks import load_split
from module.checkpoint import load_checkpoint
from T5_model.evaluation import evaluate_batches
from T5_model.trainer import split_batch
from utils import toy

_args, _trainer = toy.t5_args, toy.t5_trainer


def test_accumulating_two_micro_batches_equals_one_batch(tiny_t5_dir, toy_task, tmp_path):
    grads = []
    for micro in ("32", "16"):
        args = _args(tiny_t5_dir, toy_task, tmp_path, "--train_batch_size", "32", "--micro_batch_size", micro)
        trainer = _trainer(args, toy_task, tmp_path / micro)
        group = next(train_batches(trainer.data["train"].encoded, 32, trainer.pad_id, random.Random(0)))
        assert len(split_batch(group, trainer.micro_size)) == 32 // int(micro)
        trainer.backward_group(group)
        grads.append({n: p.grad.clone() for n, p in trainer.model.named_parameters() if p.grad is not None})
    assert grads[0].keys() == grads[1].keys() and len(grads[0]) > 10
    for name in grads[0]:
        torch.testing.assert_close(grads[0][name], grads[1][name], atol=1e-5, rtol=1e-4)


def test_adapter_run_lowers_training_loss_and_saves_only_adapters(tiny_t5_dir, toy_task, tmp_path):
    args = _args(tiny_t5_dir, toy_task, tmp_path, "--tune_method", "adapter", "--apply_adapter", "--adapter_size",
                 "8", "--train_iters", "30", "--log_interval", "10", "--valid_interval", "15",
                 "--output_interval", "15", "--learning_rate", "3e-3", "--train_batch_size", "16")
    run_dir = tmp_path / "run"
    trainer = _trainer(args, toy_task, run_dir)
    frozen_before = {n: p.detach().clone() for n, p in trainer.model.named_parameters() if "adapter_" not in n}
    summary = trainer.train()
    assert summary["num_updates"] == 30
    rows = [line.split(",") for line in (run_dir / "metrics.csv").read_text().splitlines()[1:]]
    train_losses = [float(r[3]) for r in rows if r[2] == "train"]
    assert len(train_losses) == 3 and train_losses[-1] < train_losses[0]
    for name, param in trainer.model.named_parameters():
        if "adapter_" not in name:
            assert torch.equal(param, frozen_before[name]), name
    for name in ("checkpoint@15.pt", "checkpoint@30.pt", "checkpoint-last.pt", "checkpoint-best.pt"):
        ckpt = load_checkpoint(run_dir / name)
        assert ckpt.kind == "adapter" and ckpt.tensors and all("adapter_" in k for k in ckpt.tensors)
    last = load_checkpoint(run_dir / "checkpoint-last.pt")
    assert last.meta["num_updates"] == 30 and last.optimizer is not None
    live = {n: p for n, p in trainer.model.named_parameters() if "adapter_" in n}
    assert all(torch.equal(last.tensors[k], live[k].detach()) for k in live)


def test_resume_continues_from_the_last_periodic_checkpoint(tiny_t5_dir, toy_task, tmp_path):
    common = ["--tune_method", "adapter", "--adapter_size", "4", "--log_interval", "5", "--valid_interval", "1000",
              "--output_interval", "5", "--learning_rate", "1e-3", "--train_batch_size", "16"]
    straight = _trainer(_args(tiny_t5_dir, toy_task, tmp_path, *common, "--train_iters", "10"), toy_task,
                        tmp_path / "a")
    straight.train()
    first = _trainer(_args(tiny_t5_dir, toy_task, tmp_path, *common, "--train_iters", "5"), toy_task, tmp_path / "b")
    first.train()
    (tmp_path / "b" / "checkpoint-last.pt").unlink()
    resumed = _trainer(_args(tiny_t5_dir, toy_task, tmp_path, *common, "--train_iters", "10"), toy_task,
                       tmp_path / "b")
    assert resumed.train()["num_updates"] == 10
    a = load_checkpoint(tmp_path / "a" / "checkpoint-last.pt").tensors
    b = load_checkpoint(tmp_path / "b" / "checkpoint-last.pt").tensors
    for key in a:
        torch.testing.assert_close(a[key], b[key], atol=1e-6, rtol=1e-5)


def test_cartography_records_acc_and_confidence_per_epoch(tiny_t5_dir, toy_task, tmp_path):
    args = _args(tiny_t5_dir, toy_task, tmp_path, "--tune_method", "adapter", "--adapter_size", "4",
                 "--cartography", "--train_epochs", "2", "--train_batch_size", "32", "--learning_rate", "1e-3")
    trainer = _trainer(args, toy_task, tmp_path / "grid" / "run", splits=("train",))
    trainer.train()
    data = json.loads((tmp_path / "grid" / "cartography.json").read_text())
    assert sorted(data, key=int) == [str(i) for i in range(64)]
    for entry in data.values():
        assert len(entry["acc"]) == 2 and len(entry["confidence"]) == 2
        assert all(v in (0.0, 1.0) for v in entry["acc"])
        assert all(0.0 <= c <= 1.0 for c in entry["confidence"])
    confidences = [c for e in data.values() for c in e["confidence"]]
    assert len({round(c, 6) for c in confidences}) > 5  # real per-example values, not a constant


def test_fast_evaluation_matches_generate_and_hf_loss(tiny_t5_dir, toy_task):
    from transformers import T5ForConditionalGeneration

    tok = AutoTokenizer.from_pretrained(str(tiny_t5_dir))
    model = T5ForConditionalGeneration.from_pretrained(str(tiny_t5_dir)).eval()
    examples = load_split(toy_task, "dev")
    enc = encode_split(examples, tok, "toy-sentiment")
    fast = evaluate_batches(model, eval_batches(enc, 7, tok.pad_token_id), tok, max_output_length=6)
    slow_preds, token_sum, token_count = [], 0.0, 0
    for batch in eval_batches(enc, 1, tok.pad_token_id):  # one at a time: no padding at all
        with torch.no_grad():
            gen = model.generate(input_ids=batch.input_ids, attention_mask=batch.attention_mask, max_length=6,
                                 do_sample=False, num_beams=1)
            loss = model(input_ids=batch.input_ids, attention_mask=batch.attention_mask, labels=batch.labels).loss
        n = int((batch.labels != -100).sum())
        token_sum, token_count = token_sum + float(loss) * n, token_count + n
        slow_preds.append((batch.indices[0], tok.decode(gen[0], skip_special_tokens=True).strip()))
    assert [p for _, p in sorted(slow_preds)] == fast.predictions
    assert fast.loss == pytest.approx(token_sum / token_count, abs=1e-4)


@pytest.mark.parametrize("dropout", [0.0, 0.1])
def test_a_killed_run_resumed_mid_epoch_equals_the_uninterrupted_one_bit_for_bit(dropout, tokenizer_dir, toy_task,
                                                                                 tmp_path):
    """Issue 13.8: the generator states saved in checkpoint@N make dropout continue exactly where it stopped."""
    tok = AutoTokenizer.from_pretrained(str(tokenizer_dir))
    model_dir = toy.build_tiny_t5(tmp_path / "t5", tok, dropout_rate=dropout)
    common = ["--tune_method", "model", "--log_interval", "5", "--valid_interval", "1000", "--output_interval", "5",
              "--learning_rate", "1e-3", "--train_batch_size", "16", "--train_iters", "10"]
    for run in ("straight", "killed"):
        _trainer(_args(model_dir, toy_task, tmp_path, *common), toy_task, tmp_path / run).train()
    for name in ("checkpoint@10.pt", "checkpoint-last.pt"):  # killed after update 5 of 10 (64 examples: mid-epoch)
        (tmp_path / "killed" / name).unlink()
    assert load_checkpoint(tmp_path / "killed" / "checkpoint@5.pt").rng is not None
    _trainer(_args(model_dir, toy_task, tmp_path, *common), toy_task, tmp_path / "killed").train()
    a = load_checkpoint(tmp_path / "straight" / "checkpoint-last.pt").tensors
    b = load_checkpoint(tmp_path / "killed" / "checkpoint-last.pt").tensors
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a), max((a[k] - b[k]).abs().max().item() for k in a)


def test_a_finished_run_is_not_reused_for_other_training_data(tiny_t5_dir, toy_task, tmp_path, capsys):
    """A rerun into the same folder with another --train_file used to skip training and report the old run."""
    import tune_singletask
    from module.cli import run_cli

    out = tmp_path / "grid"
    argv = ["--task_dir", str(toy_task), "--model", str(tiny_t5_dir), "--output_dir", str(out), "--do_train",
            "--tune_method", "adapter", "--adapter_size", "4", "--train_iters", "2", "--valid_interval", "2",
            "--output_interval", "2", "--train_batch_size", "16", "--metric", "ACC", "--max_output_length", "6",
            "--quiet"]
    assert run_cli(lambda: tune_singletask.main(argv)) == 0
    assert run_cli(lambda: tune_singletask.main([*argv, "--do_predict"])) == 0  # same training: reused
    other = tmp_path / "other_train.tsv"
    other.write_text("".join(line for line in (toy_task / "toy-sentiment_train.tsv").open() if "positive" in line))
    before = sorted(p.relative_to(out) for p in out.rglob("*"))
    capsys.readouterr()
    assert run_cli(lambda: tune_singletask.main([*argv, "--train_file", str(other)])) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "other settings" in err[0] and "lr_5e-05_bsz_16_seed_20" in err[0], err
    assert sorted(p.relative_to(out) for p in out.rglob("*")) == before


def test_a_full_disk_while_saving_names_the_file_and_keeps_the_previous_checkpoint(tiny_t5_dir, toy_task,
                                                                                   tmp_path, monkeypatch, capsys):
    """Issue 13.10: one line naming the checkpoint, no temporary file left, checkpoint@2 still the one to resume."""
    import tune_singletask
    from module.cli import run_cli

    out = tmp_path / "grid"
    argv = ["--task_dir", str(toy_task), "--model", str(tiny_t5_dir), "--output_dir", str(out), "--do_train",
            "--tune_method", "adapter", "--adapter_size", "4", "--train_iters", "4", "--valid_interval", "1000",
            "--output_interval", "2", "--train_batch_size", "16", "--metric", "ACC", "--max_output_length", "6",
            "--quiet"]
    real_save = torch.save

    def disk_full_at_step_4(obj, f, *args, **kwargs):
        if "checkpoint@4" in str(f):
            with open(f, "wb") as handle:  # part of the file reaches the disk, then it is full
                handle.write(b"PK\x03\x04 partial")
            raise RuntimeError("[enforce fail at inline_container.cc:626] . unexpected pos 64 vs 0\n"
                               "PytorchStreamWriter failed writing file data/0: file write failed")
        return real_save(obj, f, *args, **kwargs)

    monkeypatch.setattr(torch, "save", disk_full_at_step_4)
    assert run_cli(lambda: tune_singletask.main(argv)) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "checkpoint@4.pt: cannot write the checkpoint" in err[0], err
    run = out / "lr_5e-05_bsz_16_seed_20"
    assert sorted(p.name for p in run.glob("*.pt*")) + sorted(p.name for p in run.glob(".*")) == ["checkpoint@2.pt"]
    assert load_checkpoint(run / "checkpoint@2.pt").meta["num_updates"] == 2
    monkeypatch.setattr(torch, "save", real_save)
    assert run_cli(lambda: tune_singletask.main(argv)) == 0  # disk freed: resumes from checkpoint@2
    assert "resuming from" in (run / "log.txt").read_text()
    assert load_checkpoint(run / "checkpoint-last.pt").meta["num_updates"] == 4


def test_a_tuning_run_into_a_held_folder_writes_nothing(tiny_t5_dir, toy_task, tmp_path, capsys):
    """Issue 27.2: two tune_singletask.py runs into one --output_dir both ran to the end (metrics.csv got duplicated
    rows); the second is now refused in one line naming the folder and the holder before it writes anything."""
    import tune_singletask
    from module.cli import run_cli
    from module.files import LOCK_FILE
    from utils import toy

    out = tmp_path / "grid"
    argv = ["--task_dir", str(toy_task), "--model", str(tiny_t5_dir), "--output_dir", str(out), "--do_train",
            "--tune_method", "adapter", "--adapter_size", "4", "--train_iters", "2", "--valid_interval", "2",
            "--output_interval", "2", "--train_batch_size", "16", "--metric", "ACC", "--max_output_length", "6",
            "--quiet"]
    with toy.folder_held_elsewhere(out) as pid:
        assert run_cli(lambda: tune_singletask.main(argv)) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and str(out) in err[0] and f"pid {pid}" in err[0], err
        assert [p.name for p in out.iterdir()] == [LOCK_FILE]
    assert run_cli(lambda: tune_singletask.main(argv)) == 0  # released: the run goes ahead
