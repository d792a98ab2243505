"""TensorBoard event files, as the original wrote them: the T5 trainer, the curve finder and the encoder track."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

import curve_find
from module import curve_training
from module.checkpoint import load_checkpoint
from utils import toy

COMMON = ["--tune_method", "adapter", "--adapter_size", "4", "--learning_rate", "1e-3", "--train_batch_size", "8",
          "--predict_batch_size", "8", "--log_interval", "1"]


def _scalars(folder: Path) -> dict[str, list[tuple[int, float]]]:
    """Every scalar tag of the event files in `folder` -> its (step, value) points, as TensorBoard shows them."""
    events = EventAccumulator(str(folder), size_guidance={"scalars": 0})
    events.Reload()
    return {tag: [(e.step, e.value) for e in events.Scalars(tag)] for tag in events.Tags()["scalars"]}


def _steps(points: list[tuple[int, float]]) -> list[int]:
    return [step for step, _ in points]


@pytest.fixture(scope="module")
def task(tmp_path_factory) -> Path:
    """The toy task with a small dev split (validations are generations)."""
    return toy.write_task(tmp_path_factory.mktemp("tb-data"), sizes=(32, 8, 8))


def _train(tiny_t5_dir, task, tmp_path, run_dir, *extra):
    args = toy.t5_args(tiny_t5_dir, task, tmp_path, *COMMON, *extra)
    return toy.t5_trainer(args, task, run_dir).train()


def test_t5_trainer_writes_the_originals_scalars(tiny_t5_dir, task, tmp_path):
    run_dir = tmp_path / "run"
    _train(tiny_t5_dir, task, tmp_path, run_dir, "--train_iters", "4", "--valid_interval", "2",
           "--output_interval", "100")
    scalars = _scalars(run_dir / "tensorboard")
    assert set(scalars) == {"train/loss", "train/lr", "valid/loss", "valid/ACC"}
    assert _steps(scalars["train/loss"]) == _steps(scalars["train/lr"]) == [1, 2, 3, 4]
    assert _steps(scalars["valid/loss"]) == _steps(scalars["valid/ACC"]) == [2, 4]
    rows = list(csv.DictReader((run_dir / "metrics.csv").open()))
    train = [(int(r["step"]), float(r["loss"])) for r in rows if r["kind"] == "train"]
    assert [(s, pytest.approx(v, abs=1e-5)) for s, v in train] == scalars["train/loss"]
    valid = [(int(r["step"]), float(r["performance"])) for r in rows if r["kind"] == "valid"]
    assert [(s, pytest.approx(v, abs=1e-5)) for s, v in valid] == scalars["valid/ACC"]
    assert all(0 < lr < 1 for _, lr in scalars["train/lr"])


def test_a_resumed_t5_run_shows_each_step_once(tiny_t5_dir, task, tmp_path):
    run_dir = tmp_path / "run"
    flags = ["--train_iters", "3", "--valid_interval", "3", "--output_interval", "1"]
    _train(tiny_t5_dir, task, tmp_path, run_dir, *flags)
    first = _scalars(run_dir / "tensorboard")
    for name in ("checkpoint-last.pt", "checkpoint@3.pt", "checkpoint@2.pt"):  # killed after step 3, resumed at 1
        (run_dir / name).unlink()
    _train(tiny_t5_dir, task, tmp_path, run_dir, *flags)
    assert len(list((run_dir / "tensorboard").glob("events.out.tfevents.*"))) == 2
    scalars = _scalars(run_dir / "tensorboard")
    assert _steps(scalars["train/loss"]) == _steps(scalars["train/lr"]) == [1, 2, 3]
    assert _steps(scalars["valid/ACC"]) == _steps(scalars["valid/loss"]) == [3]
    for tag, points in first.items():  # an exact resume: the second run logs the values of the first
        assert [(s, pytest.approx(v, abs=1e-5)) for s, v in points] == scalars[tag], tag
    steps = [int(r["step"]) for r in csv.DictReader((run_dir / "metrics.csv").open()) if r["kind"] == "train"]
    assert steps == [1, 2, 3]


def test_a_fresh_start_hides_a_killed_runs_events(tiny_t5_dir, task, tmp_path):
    """Killed before its first periodic checkpoint: the rerun starts at step 0 and its events replace the old."""
    run_dir = tmp_path / "run"
    flags = ["--train_iters", "2", "--valid_interval", "100", "--output_interval", "100"]
    _train(tiny_t5_dir, task, tmp_path, run_dir, *flags)
    (run_dir / "checkpoint-last.pt").unlink()
    _train(tiny_t5_dir, task, tmp_path, run_dir, *flags)
    assert len(list((run_dir / "tensorboard").glob("events.out.tfevents.*"))) == 2
    assert _steps(_scalars(run_dir / "tensorboard")["train/loss"]) == [1, 2]
    assert [int(r["step"]) for r in csv.DictReader((run_dir / "metrics.csv").open())] == [1, 2]


@pytest.fixture(scope="module")
def model_ends(tiny_t5_dir, tmp_path_factory):
    """Two full-model endpoints: the tiny T5 with two small perturbations (no training needed)."""
    return toy.perturbed_t5_ends(tiny_t5_dir, tmp_path_factory.mktemp("tb-curve-ends"))


class _TrainingDone(Exception):
    pass


def test_curve_find_writes_event_files(model_ends, tiny_t5_dir, task, tmp_path, monkeypatch):
    def no_sweep(*args, **kwargs):  # the curve's training is what logs; its sweep takes longer than it
        raise _TrainingDone

    monkeypatch.setattr(curve_training, "run_sweeps", no_sweep)
    out = tmp_path / "curve"
    with pytest.raises(_TrainingDone):
        curve_find.main([
            "--task_dir", str(task), "--model", str(tiny_t5_dir), "--output_dir", str(out), "--load_PET_path_1",
            str(model_ends[0]), "--load_PET_path_2", str(model_ends[1]), "--metric", "ACC", "--max_output_length",
            "5", "--quiet", "--tune_method", "model", "--train_batch_size", "8", "--predict_batch_size", "8",
            "--learning_rate", "1e-3", "--bend_num", "1", "--train_iters", "2", "--log_interval", "1",
            "--valid_interval", "2", "--valid_t", "0.5", "--itpl_points", "2", "--do_valid"])
    assert load_checkpoint(out / "curve-last.pt").meta["finished"]
    scalars = _scalars(out / "tensorboard")
    assert set(scalars) == {"train/loss", "train/lr", "valid/loss", "valid/ACC", "valid_t_0.5/loss",
                            "valid_t_0.5/ACC"}
    assert _steps(scalars["train/loss"]) == _steps(scalars["train/lr"]) == [1, 2]
    assert all(_steps(scalars[tag]) == [2] for tag in scalars if tag.startswith("valid"))
    assert scalars["valid/ACC"] == scalars["valid_t_0.5/ACC"]  # one t: the mean is that t's


def test_encoder_report_to_tensorboard_writes_event_files(tmp_path, minilm_dir):
    from RoBERTa_model import run_glue

    data = tmp_path / "data"
    toy.write_task(data, "toy-sentiment", sizes=(16, 8, 8))
    backbone = toy.build_tiny_encoder(tmp_path / "tiny-bert", minilm_dir)
    out = tmp_path / "out"
    config = tmp_path / "tb.json"
    config.write_text(json.dumps({
        "model_name_or_path": str(backbone), "task_name": "toy-sentiment", "data_dir": str(data), "delta_type": "none",
        "max_steps": 2, "per_device_train_batch_size": 8, "per_device_eval_batch_size": 8, "logging_steps": 1,
        "output_dir": str(out), "do_train": True, "do_eval": True, "disable_tqdm": True, "max_source_length": 32,
        "report_to": "tensorboard"}))
    assert run_glue.main([str(config)]) == 0
    logs = [p.parent for p in out.glob("runs/*/events.out.tfevents.*")]
    assert len(logs) == 1, sorted(p.relative_to(out) for p in out.rglob("*"))
    scalars = _scalars(logs[0])
    assert _steps(scalars["train/loss"]) == [1, 2] and _steps(scalars["train/learning_rate"]) == [1, 2]
