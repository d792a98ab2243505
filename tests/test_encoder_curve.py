"""The encoder track's curve finding (RoBERTa_model/curve_find_adapter.py) on a tiny BERT fully fine-tuned twice:
the curve starts and ends at the two runs, its trained bend lowers the training loss in the middle below the
line's, a rerun reuses the curve,
and impossible or changed settings are one-line errors."""

from __future__ import annotations

import json

import pytest

from module.cli import run_cli
from RoBERTa_model import curve_find_adapter, itp_pretrain_adapter, run_glue
from utils import toy


@pytest.fixture(scope="module")
def runs(tmp_path_factory, minilm_dir):
    root = tmp_path_factory.mktemp("enc-curve")
    toy.write_task(root / "data", "toy-sentiment")
    backbone = toy.build_tiny_encoder(root / "tiny-bert", minilm_dir)
    common = {"model_name_or_path": str(backbone), "task_name": "toy-sentiment", "data_dir": str(root / "data"),
              "delta_type": "none", "max_source_length": 64, "disable_tqdm": True}
    for seed in (1, 2):
        cfg = root / f"run{seed}.json"
        cfg.write_text(json.dumps({**common, "learning_rate": 1e-3, "max_steps": 24, "warmup_steps": 0,
                                   "per_device_train_batch_size": 16, "save_strategy": "steps", "save_steps": 24,
                                   "do_train": True, "seed": seed, "output_dir": str(root / f"run{seed}")}))
        assert run_glue.main([str(cfg)]) == 0
    # evaluated on the training examples, which the curve is trained to fit
    line = {**common, "itp_on_train": True, "path1": str(root / "run1"), "path2": str(root / "run2"),
            "itpl_points": 5}
    return root, line


def _curve_config(root, line: dict, name: str, **values):
    cfg = root / f"{name}.json"
    cfg.write_text(json.dumps({**line, "curve_steps": 40, "curve_lr": 1e-3, "per_device_train_batch_size": 16,
                               "output_dir": str(root / name), **values}))
    return cfg


def test_the_curve_joins_the_two_runs_and_its_bend_lowers_the_loss_between_them(runs, capsys):
    root, line = runs
    cfg = root / "line.json"
    cfg.write_text(json.dumps({**line, "output_dir": str(root / "line")}))
    assert itp_pretrain_adapter.main([str(cfg)]) == 0
    assert curve_find_adapter.main([str(_curve_config(root, line, "curve"))]) == 0
    summaries = {n: json.loads((root / n / "summary.json").read_text()) for n in ("line", "curve")}
    line_dev, curve_dev = (summaries[n]["splits"]["train"] for n in ("line", "curve"))
    assert curve_dev["performance"]["endpoints"] == line_dev["performance"]["endpoints"]  # t = 0, 1: the runs
    assert curve_dev["loss"]["endpoints"] == pytest.approx(line_dev["loss"]["endpoints"], abs=1e-6)
    assert _loss_at(root / "curve", 0.5) < _loss_at(root / "line", 0.5)
    extra = summaries["curve"]
    assert extra["curve_length"] > extra["line_length"] > 0  # the bend left the line
    # a rerun reuses the trained curve and its points
    mtime = (root / "curve" / "curve-last.pt").stat().st_mtime_ns
    assert curve_find_adapter.main([str(_curve_config(root, line, "curve"))]) == 0
    assert "reusing the finished curve" in (root / "curve" / "log.txt").read_text()
    assert (root / "curve" / "curve-last.pt").stat().st_mtime_ns == mtime


def _loss_at(folder, x: float) -> float:
    from module.sweep import read_records

    return next(r["splits"]["train"]["loss"] for r in read_records(folder) if r["x"] == x)


def test_a_changed_curve_setting_in_the_same_folder_is_one_clear_error(runs, capsys):
    root, line = runs
    assert curve_find_adapter.main([str(_curve_config(root, line, "curve2", curve_steps=5))]) == 0
    capsys.readouterr()
    code = run_cli(lambda: curve_find_adapter.main([str(_curve_config(root, line, "curve2", curve_steps=6))]))
    err = capsys.readouterr().err.strip().splitlines()
    assert code != 0 and len(err) == 1 and "other settings" in err[0]


@pytest.mark.parametrize("key,value,expected", [("curve_steps", 0, "'curve_steps' must be at least 1"),
                                                ("bend_num", 0, "'bend_num' must be at least 1"),
                                                ("curve_lr", -1.0, "'curve_lr' must be a positive number")])
def test_impossible_curve_keys_are_one_line_errors_before_anything_is_written(runs, capsys, key, value, expected):
    root, line = runs
    cfg = _curve_config(root, line, f"bad-{key}", **{key: value})
    code = run_cli(lambda: curve_find_adapter.main([str(cfg)]))
    err = capsys.readouterr().err.strip().splitlines()
    assert code != 0 and len(err) == 1 and expected in err[0]
    assert not (root / f"bad-{key}").exists()


def test_the_folder_stays_locked_from_the_curve_training_to_the_last_point(runs, monkeypatch):
    """Issue 27.2: the lock was released between training the curve and sweeping it, so another run could write
    the folder in between."""
    from pathlib import Path

    from module import curve_training, files

    root, line = runs
    held = []
    real = curve_training.run_sweeps

    def sweeps(lines, *args, **kwargs):
        held.append(Path(lines[0].out_dir).resolve() in files._HELD)
        return real(lines, *args, **kwargs)

    monkeypatch.setattr(curve_training, "run_sweeps", sweeps)
    assert curve_find_adapter.main([str(_curve_config(root, line, "curve-locked", curve_steps=2,
                                                      itpl_points=2))]) == 0
    assert held == [True]


def test_an_interrupted_encoder_curve_resumes_to_the_same_bends_and_polychain_is_offered(runs):
    """Issue 28: the encoder curve trains on the shared curve trainer: resumable (bit-exact, dropout on), validated
    at valid_t, PolyChain as well as Bezier."""
    import torch

    from module.checkpoint import load_checkpoint
    from module.curve_training import CurveTrainer

    root, line = runs
    keys = {"curve_steps": 6, "output_interval": 2, "valid_interval": 3, "curve_log_interval": 1,
            "curve_type": "polychain", "bend_num": 2, "itpl_points": 3}
    assert curve_find_adapter.main([str(_curve_config(root, line, "poly-straight", **keys))]) == 0
    with toy.ctrl_c_at(CurveTrainer, "update", 5):
        assert run_cli(lambda: curve_find_adapter.main([str(_curve_config(root, line, "poly-resumed", **keys))])) == 130
    assert load_checkpoint(root / "poly-resumed" / "curve-last.pt").meta["num_updates"] == 4
    assert curve_find_adapter.main([str(_curve_config(root, line, "poly-resumed", **keys))]) == 0
    a, b = (load_checkpoint(root / name / "curve-last.pt") for name in ("poly-straight", "poly-resumed"))
    assert a.meta["finished"] and b.meta["finished"] and b.meta["num_updates"] == 6
    assert sorted(a.tensors) == sorted(b.tensors) and {k.split(".")[0] for k in a.tensors} == {"bend0", "bend1"}
    assert all(torch.equal(a.tensors[k], b.tensors[k]) for k in a.tensors)
    summary = json.loads((root / "poly-straight" / "summary.json").read_text())
    assert summary["curve_type"] == "polychain" and summary["bend_num"] == 2
    import csv

    kinds = [r["kind"] for r in csv.DictReader((root / "poly-straight" / "metrics.csv").open())]
    assert kinds.count("valid") == 2 and kinds.count("valid@t=0.5") == 2 and kinds.count("train") == 6


@pytest.mark.parametrize("key,value,expected", [("curve_type", "spline", "'curve_type' must be one of bezier"),
                                                ("valid_t", [0.5, 1.5], "'valid_t' must be a non-empty list"),
                                                ("output_interval", 0, "'output_interval' must be at least 1")])
def test_the_new_curve_keys_are_checked_before_anything_is_written(runs, capsys, key, value, expected):
    root, line = runs
    cfg = _curve_config(root, line, f"bad2-{key}", **{key: value})
    code = run_cli(lambda: curve_find_adapter.main([str(cfg)]))
    err = capsys.readouterr().err.strip().splitlines()
    assert code != 0 and len(err) == 1 and expected in err[0]
    assert not (root / f"bad2-{key}").exists()


@pytest.mark.slow
def test_two_processes_train_the_encoder_curve_once_and_sweep_it_as_one_process(runs):
    """Issue 28: the encoder curve under torchrun (it refused several processes before): the main process trains,
    both sweep, and the files are one process's."""
    root, line = runs
    keys = {"curve_steps": 3, "itpl_points": 5}
    with toy.threads(1):  # each torchrun process uses one thread: the same sums as the in-process run
        assert curve_find_adapter.main([str(_curve_config(root, line, "one", **keys))]) == 0
    done = toy.torchrun("RoBERTa_model/curve_find_adapter.py", str(_curve_config(root, line, "two", **keys)))
    assert done.returncode == 0, done.stderr[-3000:]
    for name in ("result.csv", "data_analyze.txt", "valid_data_analysis.json"):
        assert (root / "one" / name).read_bytes() == (root / "two" / name).read_bytes(), name
    assert (root / "two" / "metrics.csv").read_text().count("\n") == (root / "one" / "metrics.csv").read_text().count(
        "\n")  # trained once


def test_a_curve_validated_on_another_dev_file_is_not_reused(runs, tmp_path, capsys):
    """The curve picks its best bends by dev accuracy; with itp_on_train the sweep reads only the training file, and
    the curve's identity left the dev file out: a curve chosen on other dev data was reused."""
    import shutil

    root, line = runs
    shutil.copytree(root / "data", tmp_path / "data")
    values = {**line, "data_dir": str(tmp_path / "data")}
    keys = {"curve_steps": 2, "itpl_points": 2, "valid_interval": 1}
    assert curve_find_adapter.main([str(_curve_config(tmp_path, values, "curve", **keys))]) == 0
    dev = tmp_path / "data" / "toy-sentiment" / "toy-sentiment_dev.tsv"
    dev.write_text("\n".join(dev.read_text().splitlines()[:-4]) + "\n")  # other dev examples
    capsys.readouterr()
    code = run_cli(lambda: curve_find_adapter.main([str(_curve_config(tmp_path, values, "curve", **keys))]))
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and "other settings" in err[-1], err
