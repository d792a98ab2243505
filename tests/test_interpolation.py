"""Interpolation core, resumable sweeps and task_interpolation.py end to end."""

from __future__ import annotations

import csv
import json

import pytest
import torch
from transformers import AutoTokenizer, T5ForConditionalGeneration

import task_interpolation
import tune_singletask
from dataloader.batching import IGNORE_INDEX, encode_split, eval_batches, pad
from dataloader.tasks import load_split
from module.checkpoint import load_checkpoint
from module.cli import run_cli
from module.interpolation import Interpolator, check_same_keys, interpolation_points
from module.sweep import SweepSettingsMismatch, run_sweep
from module.tensors import IncompatibleCheckpoints
from T5_model.evaluation import evaluate_batches
from utils import toy
from utils.toy import tiny_t5_config


def _model(seed=0):
    torch.manual_seed(seed)
    return T5ForConditionalGeneration(tiny_t5_config(64))


def test_points_include_both_endpoints_rounded():
    xs = interpolation_points(26)
    assert len(xs) == 26 and xs[0] == 0.0 and xs[-1] == 1.0 and xs[1] == 0.04
    assert interpolation_points(7)[1] == 0.167
    with pytest.raises(ValueError):
        interpolation_points(1)


def test_interpolator_exact_at_0_half_1_and_leaves_the_rest():
    model = _model()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    keys = ["encoder.block.0.layer.1.DenseReluDense.wo.weight", "decoder.final_layer_norm.weight"]
    t1 = {k: torch.randn_like(before[k]) for k in keys}
    t2 = {k: torch.randn_like(before[k]) for k in keys}
    interp = Interpolator(model, t1, t2)
    for x in (0.0, 0.5, 1.0, 0.3):
        interp.set(x)
        state = model.state_dict()
        for k in keys:
            assert torch.equal(state[k], (1 - x) * t1[k] + x * t2[k]), (x, k)
        assert all(torch.equal(state[k], before[k]) for k in before if k not in keys)
    interp.set(0.0)
    assert all(torch.equal(model.state_dict()[k], t1[k]) for k in keys)
    interp.set(1.0)
    assert all(torch.equal(model.state_dict()[k], t2[k]) for k in keys)
    interp.restore()
    assert all(torch.equal(model.state_dict()[k], before[k]) for k in before)


def test_mismatched_endpoints_name_the_key():
    a = {"w": torch.zeros(2, 3), "b": torch.zeros(3)}
    with pytest.raises(IncompatibleCheckpoints, match="'b' is in checkpoint 1 but not in checkpoint 2"):
        check_same_keys(a, {"w": torch.zeros(2, 3)})
    with pytest.raises(IncompatibleCheckpoints, match=r"'w' has shape \(2, 3\) in checkpoint 1 and \(3, 2\)"):
        check_same_keys(a, {"w": torch.zeros(3, 2), "b": torch.zeros(3)})
    with pytest.raises(IncompatibleCheckpoints, match="a.pt: tensor 'nope' does not exist in the model"):
        Interpolator(_model(), {"nope": torch.zeros(1)}, {"nope": torch.zeros(1)}, ("a.pt", "b.pt"))


def test_fast_evaluation_equals_padded_reference(tiny_t5_dir, toy_task):
    """Pad to 512, separate loss forward, generate(max_length): same predictions and loss as the fast path."""
    tok = AutoTokenizer.from_pretrained(str(tiny_t5_dir))
    model = T5ForConditionalGeneration.from_pretrained(str(tiny_t5_dir)).eval()
    enc = encode_split(load_split(toy_task, "test"), tok, "toy-sentiment")
    fast = evaluate_batches(model, eval_batches(enc, 16, tok.pad_token_id), tok, max_output_length=8)
    preds, total, count = [], 0.0, 0
    for start in range(0, len(enc), 16):
        ids = [enc.input_ids[i] + [tok.pad_token_id] * (512 - len(enc.input_ids[i])) for i in range(start,
                                                                                                  min(start + 16,
                                                                                                      len(enc)))]
        input_ids = torch.tensor(ids)
        mask = torch.tensor([[1] * len(enc.input_ids[i]) + [0] * (512 - len(enc.input_ids[i]))
                             for i in range(start, min(start + 16, len(enc)))])
        labels = pad([enc.target_ids[i][0] for i in range(start, min(start + 16, len(enc)))], IGNORE_INDEX)
        with torch.no_grad():
            out = model(input_ids=input_ids, attention_mask=mask, labels=labels)
            gen = model.generate(input_ids=input_ids, attention_mask=mask, max_length=8, do_sample=False,
                                 num_beams=1)
        n = int((labels != IGNORE_INDEX).sum())
        total, count = total + float(out.loss) * n, count + n
        preds += [t.strip() for t in tok.batch_decode(gen, skip_special_tokens=True)]
    assert preds == fast.predictions
    assert fast.loss == pytest.approx(total / count, abs=1e-4)


def test_sweep_resumes_after_a_kill_without_redoing_or_duplicating(tmp_path):
    xs = interpolation_points(6)
    calls = []
    state = {}

    def evaluate():
        calls.append(state["x"])
        if len(calls) == 4 and state.get("kill", True):
            raise KeyboardInterrupt
        return {"dev": {"performance": 1 - abs(state["x"] - 0.5), "loss": state["x"], "scores": [1.0, 0.0]}}

    def set_point(x):
        state["x"] = x

    with pytest.raises(KeyboardInterrupt):
        run_sweep(xs, set_point, evaluate, tmp_path, "task", "ACC", {"a": 1}, quiet=True)
    rows = list(csv.DictReader((tmp_path / "result.csv").open()))
    assert [r["x"] for r in rows[:-1]] == ["0.0000", "0.2000", "0.4000"]  # valid after the kill
    assert rows[-1]["prefix"] == "average"
    state["kill"] = False
    calls.clear()
    records = run_sweep(xs, set_point, evaluate, tmp_path, "task", "ACC", {"a": 1}, quiet=True)
    assert calls == [0.6, 0.8, 1.0]
    assert [r["x"] for r in records] == xs
    rows = list(csv.DictReader((tmp_path / "result.csv").open()))
    assert len(rows) == 7 and len({r["x"] for r in rows[:-1]}) == 6
    calls.clear()
    run_sweep(xs, set_point, evaluate, tmp_path, "task", "ACC", {"a": 1}, quiet=True)
    assert calls == []
    with pytest.raises(SweepSettingsMismatch, match="other settings"):
        run_sweep(xs, set_point, evaluate, tmp_path, "task", "ACC", {"a": 2}, quiet=True)


def test_retrained_endpoints_are_never_mixed_with_old_points(tmp_path):
    """Same paths, new files: the fingerprint in the settings refuses the stale points."""
    import os

    from module.sweep import fingerprint

    ckpt = tmp_path / "a.pt"
    ckpt.write_text("v1")
    done = []

    def sweep():
        return run_sweep([0.0, 1.0], lambda x: None, lambda: done.append(1) or {
            "dev": {"performance": 1.0, "loss": 0.0, "scores": [1.0]}}, tmp_path / "out", "t", "ACC",
            {"endpoints": fingerprint(ckpt)}, quiet=True)

    sweep()
    ckpt.write_text("v2, retrained")
    os.utime(ckpt, ns=(1, 1))
    with pytest.raises(SweepSettingsMismatch, match="endpoints"):
        sweep()


@pytest.fixture(scope="module")
def adapter_runs(tiny_t5_dir, toy_task, tmp_path_factory):
    out = tmp_path_factory.mktemp("tuned")
    for seed in ("20", "30"):
        code = tune_singletask.main(["--task_dir", str(toy_task), "--model", str(tiny_t5_dir), "--output_dir",
                                     str(out / seed), "--do_train", "--tune_method", "adapter", "--adapter_size",
                                     "8", "--train_iters", "10", "--valid_interval", "5", "--output_interval", "5",
                                     "--learning_rate", "3e-3", "--train_batch_size", "16", "--seed", seed,
                                     "--r_std", "0.05", "--metric", "ACC", "--max_output_length", "8", "--quiet"])
        assert code == 0
    return [out / s / f"lr_0.003_bsz_16_seed_{s}" / "checkpoint-last.pt" for s in ("20", "30")]


def _interpolate(tiny_t5_dir, toy_task, out, p1, p2, *extra):
    return run_cli(lambda: task_interpolation.main([
        "--task_dir", str(toy_task), "--model", str(tiny_t5_dir), "--output_dir", str(out), "--load_PET_path_1",
        str(p1), "--load_PET_path_2", str(p2), "--metric", "ACC", "--max_output_length", "8", "--quiet", *extra]))


def test_task_interpolation_writes_every_file_and_x0_equals_checkpoint_1(adapter_runs, tiny_t5_dir, toy_task,
                                                                         tmp_path):
    code = _interpolate(tiny_t5_dir, toy_task, tmp_path, *adapter_runs, "--tune_method", "adapter",
                        "--adapter_size", "8", "--itpl_points", "26", "--do_valid", "--do_predict")
    assert code == 0
    for name in ("result.csv", "data_analyze.txt", "valid_data_analysis.json", "test_data_analysis.json",
                 "solution_analysis.txt", "summary.json", "interpolation.png"):
        assert (tmp_path / name).is_file(), name
    rows = list(csv.DictReader((tmp_path / "result.csv").open()))
    assert len(rows) == 27 and rows[-1]["prefix"] == "average"
    assert [float(r["x"]) for r in rows[:-1]] == interpolation_points(26)
    mean_test = sum(float(r["test_performance"]) for r in rows[:-1]) / 26
    assert float(rows[-1]["test_performance"]) == pytest.approx(mean_test, abs=1e-4)
    summary = json.loads((tmp_path / "summary.json").read_text())
    for split in ("dev", "test"):
        for quantity in ("performance", "loss"):
            block = summary["splits"][split][quantity]
            assert {"barrier_endpoint_mean", "barrier_linear", "barrier_subsegment"} <= set(block)
    # x = 0 equals checkpoint 1 evaluated on its own
    from dataloader.metrics import evaluate
    from T5_model.adapters import add_t5_adapters
    from T5_model.model import load_t5, load_t5_tokenizer

    model = load_t5(str(tiny_t5_dir))
    add_t5_adapters(model, size=8, seed=0)
    model.load_state_dict(load_checkpoint(adapter_runs[0]).tensors, strict=False)
    tok = load_t5_tokenizer(str(tiny_t5_dir))
    for split, column in (("dev", "dev"), ("test", "test")):
        enc = encode_split(load_split(toy_task, split), tok, "toy-sentiment", max_output_length=8)
        out = evaluate_batches(model, eval_batches(enc, 32, tok.pad_token_id), tok, 8)
        assert float(rows[0][f"{column}_loss"]) == pytest.approx(out.loss, abs=1e-4)
        assert float(rows[0][f"{column}_performance"]) == pytest.approx(evaluate(out.predictions, enc.answers, "ACC"),
                                                                        abs=1e-4)


def _as_original(path, out_path, key):
    """Re-save a project checkpoint the way the original code did: a pickle with config objects."""
    import argparse

    from transformers import T5Config

    ckpt = load_checkpoint(path)
    torch.save({key: dict(ckpt.tensors), "optimizer": {}, "config": T5Config(d_model=32),
                "args": argparse.Namespace(tune_method=key), "current_state": {"epoch": 1, "num_updates": 10}},
               out_path)
    return out_path


@pytest.mark.parametrize("kind", ["adapter", "model"])
def test_original_format_checkpoints_interpolate_like_project_ones(kind, adapter_runs, tiny_t5_dir, toy_task,
                                                                   tmp_path):
    if kind == "adapter":
        ends = adapter_runs
        flags = ["--tune_method", "adapter", "--adapter_size", "8"]
    else:  # two full-model endpoints: the backbone with each adapter run's... use two random T5s
        ends = []
        for seed in (1, 2):
            m = T5ForConditionalGeneration.from_pretrained(str(tiny_t5_dir))
            torch.manual_seed(seed)
            with torch.no_grad():
                for p in m.parameters():
                    p.add_(0.01 * torch.randn_like(p))
            from module.checkpoint import save_checkpoint

            ends.append(save_checkpoint(tmp_path / f"full{seed}.pt", m.state_dict(), kind="model"))
        flags = ["--tune_method", "model"]
    originals = [_as_original(p, tmp_path / f"orig{i}.pt", kind) for i, p in enumerate(ends)]
    common = [*flags, "--itpl_points", "3", "--do_valid"]
    assert _interpolate(tiny_t5_dir, toy_task, tmp_path / "project", *ends, *common) == 0
    assert _interpolate(tiny_t5_dir, toy_task, tmp_path / "original", *originals, *common) == 0
    a = (tmp_path / "project" / "result.csv").read_text()
    b = (tmp_path / "original" / "result.csv").read_text()
    assert a == b and len(a.splitlines()) == 5


def test_interpolation_bad_input(adapter_runs, tiny_t5_dir, toy_task, tmp_path, capsys):
    assert _interpolate(tiny_t5_dir, toy_task, tmp_path, adapter_runs[0], tmp_path / "missing.pt", "--do_valid",
                        "--tune_method", "adapter", "--adapter_size", "8") == 2
    assert "missing.pt" in capsys.readouterr().err
    other = tmp_path / "other.pt"
    from module.checkpoint import save_checkpoint

    tensors = dict(load_checkpoint(adapter_runs[0]).tensors)
    tensors.pop(sorted(tensors)[0])
    save_checkpoint(other, tensors, kind="adapter")
    assert _interpolate(tiny_t5_dir, toy_task, tmp_path, adapter_runs[0], other, "--do_valid", "--tune_method",
                        "adapter", "--adapter_size", "8") == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and sorted(load_checkpoint(adapter_runs[0]).tensors)[0] in err[0]
    assert not (tmp_path / "result.csv").exists()


def test_points_from_code_with_other_results_are_not_reused(tmp_path):
    """Points written before a change of semantics (no or another results_version) are refused, never reused."""
    from module.sweep import RESULTS_VERSION, SETTINGS_FILE

    def evaluate():
        return {"dev": {"performance": 0.5, "loss": 1.0, "scores": [1.0, 0.0]}}

    run_sweep([0.0, 1.0], lambda x: None, evaluate, tmp_path, "task", "ACC", {"a": 1}, quiet=True)
    settings = json.loads((tmp_path / SETTINGS_FILE).read_text())
    assert settings["results_version"] == RESULTS_VERSION
    del settings["results_version"]  # as written by the code before issue 12
    (tmp_path / SETTINGS_FILE).write_text(json.dumps(settings))
    with pytest.raises(SweepSettingsMismatch, match="results_version"):
        run_sweep([0.0, 1.0], lambda x: None, evaluate, tmp_path, "task", "ACC", {"a": 1}, quiet=True)


def test_another_dev_file_or_changed_contents_never_reuse_points(adapter_runs, tiny_t5_dir, toy_task, tmp_path,
                                                                  capsys):
    """Issue 13.1: the evaluated data files (path and contents) are part of the sweep's settings."""
    dev = tmp_path / "dev.tsv"
    dev.write_text((toy_task / "toy-sentiment_dev.tsv").read_text())
    common = ["--tune_method", "adapter", "--adapter_size", "8", "--itpl_points", "2", "--do_valid"]
    out = tmp_path / "out"
    assert _interpolate(tiny_t5_dir, toy_task, out, *adapter_runs, *common, "--dev_file", str(dev)) == 0
    other = tmp_path / "other.tsv"
    other.write_text("".join(dev.read_text().splitlines(keepends=True)[:10]))
    capsys.readouterr()
    assert _interpolate(tiny_t5_dir, toy_task, out, *adapter_runs, *common, "--dev_file", str(other)) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "other settings" in err[0] and "dev_file" in err[0]
    dev.write_text(other.read_text())  # same path, other contents
    assert _interpolate(tiny_t5_dir, toy_task, out, *adapter_runs, *common, "--dev_file", str(dev)) == 2
    assert "data" in capsys.readouterr().err


def test_a_second_sweep_on_a_held_folder_gets_one_line_naming_the_holder(adapter_runs, tiny_t5_dir, toy_task,
                                                                         tmp_path, capsys, monkeypatch):
    """Issue 13.2: one run at a time per output folder; the processes of one distributed run share it."""
    from module.files import FolderBusy, folder_lock

    out = tmp_path / "out"
    with toy.folder_held_elsewhere(out) as pid:  # another run holds the folder
        assert _interpolate(tiny_t5_dir, toy_task, out, *adapter_runs, "--tune_method", "adapter", "--adapter_size",
                            "8", "--itpl_points", "2", "--do_valid") == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and str(out) in err[0] and f"pid {pid}" in err[0]
        assert not (out / "points").exists()
        with pytest.raises(FolderBusy):
            run_sweep([0.0, 1.0], lambda x: None, lambda: {}, out, "t", "ACC", {}, quiet=True)
        monkeypatch.setenv("RANK", "1")  # a peer process of a distributed run: the main process holds the lock
        with folder_lock(out):
            pass
    monkeypatch.delenv("RANK")
    with folder_lock(out):  # released
        pass


def test_a_point_is_not_written_once_another_run_changed_the_settings(tmp_path):
    """Issue 13.2: the settings are checked again before every point is written."""
    from module.sweep import SETTINGS_FILE

    def evaluate():
        settings = json.loads((tmp_path / SETTINGS_FILE).read_text())
        (tmp_path / SETTINGS_FILE).write_text(json.dumps({**settings, "endpoints": "another path"}))
        return {"dev": {"performance": 0.5, "loss": 1.0, "scores": [1.0]}}

    with pytest.raises(SweepSettingsMismatch, match="changed by another run"):
        run_sweep([0.0, 1.0], lambda x: None, evaluate, tmp_path, "t", "ACC", {"a": 1}, quiet=True)
    assert not any((tmp_path / "points").glob("x_*.json"))


def test_leftovers_of_interrupted_atomic_writes_are_removed_by_the_next_run(tmp_path):
    """Issue 13.12: `.X.tmp-PID` files of a killed writer go; those of a live writer (this process) stay."""
    import os
    import subprocess
    import sys

    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead = int(gone.stdout)  # a process that has exited
    (tmp_path / "points").mkdir()
    stale = [tmp_path / f".result.csv.tmp-{dead}", tmp_path / "points" / f".x_0.000.json.tmp-{dead}",
             tmp_path / f".interpolation.png.tmp-{dead}.png"]
    live = tmp_path / f".notes.txt.tmp-{os.getpid()}"
    for path in [*stale, live]:
        path.write_text("half")
    run_sweep([0.0, 1.0], lambda x: None, lambda: {"dev": {"performance": 1.0, "loss": 0.0, "scores": [1.0]}},
              tmp_path, "t", "ACC", {}, quiet=True)
    assert not any(p.exists() for p in stale) and live.exists()
