"""The encoder track's sweeps scaled out: `itp_pretrain_adapter.py` under torchrun (two gloo processes write what
one writes) and a matrix over N runs (`paths` in the config), each run evaluated once."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from module.cli import run_cli
from RoBERTa_model import itp_pretrain_adapter, run_glue, sweeps
from utils import toy

POINTS = 5  # odd: under two processes the last point is shared
FILES = ("result.csv", "summary.json", "data_analyze.txt", "solution_analysis.txt", "valid_data_analysis.json")


def _config(path: Path, **values) -> Path:
    path.write_text(json.dumps(values))
    return path


@pytest.fixture(scope="module")
def runs(tmp_path_factory, minilm_dir):
    """Three adapter runs of a tiny BERT on a toy task (seeds 20, 30, 40), and what a sweep config needs."""
    root = tmp_path_factory.mktemp("enc-matrix")
    data = root / "data"
    toy.write_task(data, "toy-sentiment")
    backbone = toy.build_tiny_encoder(root / "tiny-bert", minilm_dir)
    common = {"model_name_or_path": str(backbone), "task_name": "toy-sentiment", "data_dir": str(data),
              "delta_type": "adapter", "bottleneck_dim": 4, "max_source_length": 64, "disable_tqdm": True,
              "per_device_eval_batch_size": 16}
    folders = []
    for seed in (20, 30, 40):
        out = root / f"run{seed}"
        cfg = _config(root / f"train{seed}.json", **common, learning_rate=1e-3, max_steps=6, seed=seed,
                      per_device_train_batch_size=8, save_strategy="steps", save_steps=6, output_dir=str(out),
                      do_train=True, do_eval=True)
        assert run_glue.main([str(cfg)]) == 0
        folders.append(out / "checkpoint-6")
    return root, common, folders


@pytest.mark.slow
def test_two_processes_sweep_an_encoder_line_as_one_does(runs, tmp_path):
    root, common, folders = runs
    outs = {}
    for name in ("one", "two"):
        outs[name] = tmp_path / name
        cfg = _config(tmp_path / f"{name}.json", **common, path1=str(folders[0]), path2=str(folders[1]),
                      itpl_points=POINTS, output_dir=str(outs[name]))
        if name == "one":
            assert itp_pretrain_adapter.main([str(cfg)]) == 0
        else:
            done = toy.torchrun("RoBERTa_model/itp_pretrain_adapter.py", str(cfg))
            assert done.returncode == 0, done.stderr[-3000:]
            assert "parallel_mode" not in done.stderr  # transformers' DDP warning, meaningless for a sweep
    for name in FILES:
        assert (outs["one"] / name).read_bytes() == (outs["two"] / name).read_bytes(), name


@pytest.mark.slow
def test_a_matrix_over_three_runs_evaluates_each_run_once(runs, tmp_path, monkeypatch):
    root, common, folders = runs
    calls = []
    real = sweeps.classifier_outputs

    def counted(model, batches):
        calls.append(1)
        return real(model, batches)

    monkeypatch.setattr(sweeps, "classifier_outputs", counted)
    out = tmp_path / "matrix"
    cfg = _config(tmp_path / "matrix.json", **common, paths=[str(f) for f in folders], itpl_points=POINTS,
                  output_dir=str(out))
    assert itp_pretrain_adapter.main([str(cfg)]) == 0
    assert len(calls) == 3 + 3 * (POINTS - 2)  # each run once, then every pair's inner points (dev only)
    assert sorted(p.name for p in out.glob("pair_*")) == ["pair_0_1", "pair_0_2", "pair_1_2"]
    with open(out / "matrix.csv", newline="") as f:
        assert [(r["i"], r["j"]) for r in csv.DictReader(f)] == [("0", "1"), ("0", "2"), ("1", "2")]
    assert (out / "matrix.png").stat().st_size > 0
    line = tmp_path / "line"
    cfg = _config(tmp_path / "line.json", **common, path1=str(folders[0]), path2=str(folders[2]),
                  itpl_points=POINTS, output_dir=str(line))
    assert itp_pretrain_adapter.main([str(cfg)]) == 0
    assert (line / "result.csv").read_bytes() == (out / "pair_0_2" / "result.csv").read_bytes()


def test_a_bad_list_of_runs_is_one_line(runs, tmp_path, capsys):
    root, common, folders = runs
    for paths, message in (([str(folders[0])], "at least 2 checkpoints"),
                           ([str(folders[0]), str(folders[0])], "is given twice")):
        out = tmp_path / "bad"
        cfg = _config(tmp_path / "bad.json", **common, paths=paths, output_dir=str(out))
        capsys.readouterr()
        assert run_cli(lambda cfg=cfg: itp_pretrain_adapter.main([str(cfg)])) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and message in err[0], err
        assert not out.exists()
