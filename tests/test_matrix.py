"""A connectivity matrix over N minima (`task_interpolation.py --load_PET_path_list`): a sweep per pair, each
checkpoint evaluated once, matrix.csv / matrix.png; and the bad lists it refuses."""

from __future__ import annotations

import csv
import json
import re

import pytest
import torch

import task_interpolation
from module.checkpoint import save_checkpoint
from module.cli import run_cli
from utils import toy

POINTS = 4


@pytest.fixture(scope="module")
def minima(tiny_t5_dir, tmp_path_factory):
    return toy.perturbed_t5_ends(tiny_t5_dir, tmp_path_factory.mktemp("minima"), seeds=(1, 2, 3))


def _argv(tiny_t5_dir, toy_task, out, *paths_or_flags) -> list[str]:
    return ["--task_dir", str(toy_task), "--model", str(tiny_t5_dir), "--output_dir", str(out), "--itpl_points",
            str(POINTS), "--do_valid", "--metric", "ACC", "--max_output_length", "6", "--quiet", *paths_or_flags]


@pytest.mark.slow
def test_a_matrix_over_three_checkpoints_sweeps_every_pair_and_evaluates_each_checkpoint_once(
        minima, tiny_t5_dir, toy_task, tmp_path):
    out = tmp_path / "matrix"
    argv = _argv(tiny_t5_dir, toy_task, out, "--load_PET_path_list", *map(str, minima))
    assert run_cli(lambda: task_interpolation.main(argv)) == 0
    assert sorted(p.name for p in out.glob("pair_*")) == ["pair_0_1", "pair_0_2", "pair_1_2"]
    log = (out / "log.txt").read_text()
    assert log.count(" dev: ACC") == 3 + 3 * (POINTS - 2)  # each checkpoint once, then the pairs' inner points
    assert log.count("checkpoint 0 dev") == 1 and log.count("x=0.0 dev") == 0
    with open(out / "matrix.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [(r["i"], r["j"]) for r in rows] == [("0", "1"), ("0", "2"), ("1", "2")]
    assert rows[2]["path_i"] == str(minima[1]) and float(rows[0]["dev_loss_barrier_linear"]) == pytest.approx(
        float(json.loads((out / "pair_0_1" / "summary.json").read_text())
              ["splits"]["dev"]["loss"]["barrier_linear"]))
    assert (out / "matrix.png").stat().st_size > 0
    alone = tmp_path / "line"  # a pair's sweep is the plain two-endpoint sweep of the same checkpoints
    line = _argv(tiny_t5_dir, toy_task, alone, "--load_PET_path_1", str(minima[1]), "--load_PET_path_2", str(minima[2]))
    assert run_cli(lambda: task_interpolation.main(line)) == 0
    assert (alone / "result.csv").read_bytes() == (out / "pair_1_2" / "result.csv").read_bytes()
    before = (out / "matrix.csv").read_bytes()
    assert run_cli(lambda: task_interpolation.main(argv)) == 0  # a rerun evaluates nothing again
    assert (out / "log.txt").read_text().count(" dev: ACC") == 3 + 3 * (POINTS - 2)
    assert (out / "matrix.csv").read_bytes() == before


@pytest.mark.slow
def test_two_processes_share_every_pairs_points_as_one_pool(minima, tiny_t5_dir, toy_task, tmp_path):
    """5 points per pair: 3 pairs' 9 inner points form one pool, 8 go to one process each and the 9th to both,
    so each process has one bar of 5 (pair by pair, each would have had bars of 2)."""
    outs = {name: tmp_path / name for name in ("one", "two")}
    argvs = {name: [str(POINTS + 1) if a == str(POINTS) else a for a in _argv(tiny_t5_dir, toy_task, out,
                                                                          "--load_PET_path_list", *map(str, minima))]
             for name, out in outs.items()}
    assert run_cli(lambda: task_interpolation.main(argvs["one"])) == 0
    done = toy.torchrun("task_interpolation.py", *[a for a in argvs["two"] if a != "--quiet"])
    assert done.returncode == 0, done.stderr[-3000:]
    assert re.search(r"\[1/2\][^\r\n]*5/5", done.stderr) and re.search(r"\[2/2\][^\r\n]*5/5", done.stderr)
    assert (outs["two"] / "matrix.csv").read_bytes() == (outs["one"] / "matrix.csv").read_bytes()
    for pair in ("pair_0_1", "pair_0_2", "pair_1_2"):
        assert (outs["two"] / pair / "result.csv").read_bytes() == (outs["one"] / pair / "result.csv").read_bytes()
    assert (outs["two"] / "log.txt").read_text().count(" dev: ACC") == 3 + 3 * (POINTS + 1 - 2)


def test_bad_lists_are_one_line_and_write_nothing(minima, tiny_t5_dir, toy_task, tmp_path, capsys):
    adapter = save_checkpoint(tmp_path / "adapter.pt", {"encoder.block.0.layer.0.adapter.adapter_A":
                                                        torch.zeros(4, 2)}, kind="adapter")
    cases = {"fewer than 2": ([str(minima[0])], "at least 2 checkpoints"),
             "duplicate": ([str(minima[0]), str(minima[1]), str(minima[0])], f"{minima[0]} is given twice"),
             "other kind": ([str(minima[0]), str(adapter)], str(adapter)),
             "missing": ([str(minima[0]), str(tmp_path / "none.pt")], "none.pt does not exist")}
    for name, (paths, message) in cases.items():
        out = tmp_path / name.replace(" ", "_")
        capsys.readouterr()
        argv = _argv(tiny_t5_dir, toy_task, out, "--load_PET_path_list", *paths)
        assert run_cli(lambda argv=argv: task_interpolation.main(argv)) == 2, name
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and message in err[0], (name, err)
        assert not out.exists(), name
