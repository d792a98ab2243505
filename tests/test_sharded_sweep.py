"""Sweeps under torchrun: two gloo processes share the points of one sweep and write the same files as one
process; a sweep interrupted and rerun with two processes evaluates every point exactly once."""

from __future__ import annotations

import re

import pytest

import task_interpolation
from module import sweep
from module.cli import run_cli
from utils import toy

RESULT_FILES = ("result.csv", "summary.json", "data_analyze.txt", "solution_analysis.txt", "valid_data_analysis.json",
                "test_data_analysis.json")
POINTS = 7


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """In-process runs use one thread, as each torchrun process does: a matmul's sums depend on how many threads
    share it, so the files compared byte for byte would differ in a loss's last digits."""
    with toy.threads(1):
        yield


@pytest.fixture(scope="module")
def ends(tiny_t5_dir, tmp_path_factory):
    return toy.perturbed_t5_ends(tiny_t5_dir, tmp_path_factory.mktemp("sharded-ends"))


def _argv(tiny_t5_dir, toy_task, ends, out) -> list[str]:
    return ["--task_dir", str(toy_task), "--model", str(tiny_t5_dir), "--output_dir", str(out), "--load_PET_path_1",
            str(ends[0]), "--load_PET_path_2", str(ends[1]), "--itpl_points", str(POINTS), "--do_valid",
            "--do_predict", "--metric", "ACC", "--max_output_length", "6", "--quiet"]


def _torchrun(argv: list[str], script: str = "task_interpolation.py"):
    return toy.torchrun(script, *argv)


def _files(out) -> dict[str, bytes]:
    return {name: (out / name).read_bytes() for name in RESULT_FILES}


@pytest.fixture(scope="module")
def single(tiny_t5_dir, toy_task, ends, tmp_path_factory):
    out = tmp_path_factory.mktemp("single") / "sweep"
    assert run_cli(lambda: task_interpolation.main(_argv(tiny_t5_dir, toy_task, ends, out))) == 0
    return out


@pytest.mark.slow
def test_two_processes_write_what_one_process_writes(single, tiny_t5_dir, toy_task, ends, tmp_path):
    out = tmp_path / "sweep"
    done = _torchrun([a for a in _argv(tiny_t5_dir, toy_task, ends, out) if a != "--quiet"])  # with the bars
    assert done.returncode == 0, done.stderr[-3000:]
    assert _files(out) == _files(single)
    assert len(list((out / "points").glob("x_*.json"))) == POINTS
    assert (out / "log.txt").read_text().count(" dev: ACC") == POINTS  # each point evaluated by one process
    assert done.stdout.count("barriers: positive") == 1  # one process reports
    assert "[1/2]" in done.stderr and "[2/2]" in done.stderr  # both processes evaluated points
    # 7 points: 6 go to one process each, the 7th to both (each half its batches), so each process has 4
    assert re.search(r"\[1/2\][^\r\n]*4/4", done.stderr) and re.search(r"\[2/2\][^\r\n]*4/4", done.stderr)


@pytest.mark.slow
def test_an_interrupted_sweep_rerun_with_two_processes_has_every_point_once(single, tiny_t5_dir, toy_task, ends,
                                                                           tmp_path, monkeypatch):
    out = tmp_path / "sweep"
    _stop_after(monkeypatch, 3)
    assert run_cli(lambda: task_interpolation.main(_argv(tiny_t5_dir, toy_task, ends, out))) == 130
    assert len(list((out / "points").glob("x_*.json"))) == 3
    argv = [a for a in _argv(tiny_t5_dir, toy_task, ends, out) if a != "--quiet"]
    done = _torchrun(argv)
    assert done.returncode == 0, done.stderr[-3000:]
    assert _files(out) == _files(single)
    assert sorted(p.name for p in (out / "points").glob("x_*.json")) == sorted(
        p.name for p in (single / "points").glob("x_*.json"))


def _stop_after(monkeypatch, count: int) -> None:
    real, saved = sweep.point_record, []

    def stop(x, results):
        if len(saved) == count:
            raise KeyboardInterrupt
        saved.append(x)
        return real(x, results)

    monkeypatch.setattr(sweep, "point_record", stop)


@pytest.mark.slow
def test_the_last_point_is_evaluated_by_both_processes_and_comes_out_the_same(single, tiny_t5_dir, toy_task,
                                                                              ends, tmp_path, monkeypatch):
    out = tmp_path / "sweep"
    _stop_after(monkeypatch, POINTS - 1)
    assert run_cli(lambda: task_interpolation.main(_argv(tiny_t5_dir, toy_task, ends, out))) == 130
    before = (out / "log.txt").read_text().count(" dev: ACC")  # the 7th was evaluated, then the run stopped
    done = _torchrun([a for a in _argv(tiny_t5_dir, toy_task, ends, out) if a != "--quiet"])
    assert done.returncode == 0, done.stderr[-3000:]
    assert _files(out) == _files(single)
    assert re.search(r"\[1/2\][^\r\n]*1/1", done.stderr) and re.search(r"\[2/2\][^\r\n]*1/1", done.stderr)
    assert (out / "log.txt").read_text().count(" dev: ACC") == before + 1  # the shared point is logged once


@pytest.mark.slow
def test_curve_find_under_two_processes_trains_once_and_sweeps_as_one_process(tiny_t5_dir, toy_task, ends,
                                                                             tmp_path):
    def argv(out):
        return ["--task_dir", str(toy_task), "--model", str(tiny_t5_dir), "--output_dir", str(out),
                "--load_PET_path_1", str(ends[0]), "--load_PET_path_2", str(ends[1]), "--metric", "ACC",
                "--max_output_length", "6", "--tune_method", "model", "--train_batch_size", "8",
                "--learning_rate", "1e-3", "--bend_num", "1", "--train_iters", "2", "--valid_interval", "2",
                "--valid_t", "0.5", "--itpl_points", str(POINTS), "--do_valid", "--quiet"]

    import curve_find

    assert run_cli(lambda: curve_find.main(argv(tmp_path / "one"))) == 0
    done = _torchrun(argv(tmp_path / "two"), script="curve_find.py")
    assert done.returncode == 0, done.stderr[-3000:]
    for name in ("result.csv", "data_analyze.txt", "valid_data_analysis.json"):
        assert (tmp_path / "one" / name).read_bytes() == (tmp_path / "two" / name).read_bytes(), name
    assert (tmp_path / "two" / "metrics.csv").read_text().count("\n") == (
        tmp_path / "one" / "metrics.csv").read_text().count("\n")  # the curve was trained once
