"""Issue 29: the functional distance along a path (module/functional.py): the fraction of examples predicted
differently from each endpoint and the KL divergence of the endpoints' predicted distributions, per point; written
beside the sweep (result.csv keeps its columns)."""

from __future__ import annotations

import csv
import json
import math

import pytest

from module.functional import functional_rows, kl, write_functional


def _record(x, predictions, probs=None):
    split = {"performance": 0.5, "loss": 1.0, "scores": [1.0] * len(predictions), "predictions": predictions}
    if probs is not None:
        split["probs"] = probs
    return {"x": x, "splits": {"dev": split}}


def test_disagreement_and_kl_against_each_endpoint():
    records = [_record(0.0, [0, 1, 1, 0], [[0.9, 0.1], [0.2, 0.8], [0.3, 0.7], [0.6, 0.4]]),
               _record(0.5, [0, 0, 1, 1], [[0.8, 0.2], [0.6, 0.4], [0.4, 0.6], [0.4, 0.6]]),
               _record(1.0, [1, 0, 1, 1], [[0.3, 0.7], [0.7, 0.3], [0.4, 0.6], [0.2, 0.8]])]
    rows = functional_rows(records)["dev"]
    assert [r["disagree_x0"] for r in rows] == [0.0, 0.5, 0.75] and [r["disagree_x1"] for r in rows] == [0.75, 0.25, 0]
    assert rows[0]["kl_x0"] == 0.0 and rows[2]["kl_x1"] == 0.0
    expect = sum(kl(p, q) for p, q in zip(records[0]["splits"]["dev"]["probs"], records[1]["splits"]["dev"]["probs"],
                                          strict=True)) / 4
    assert rows[1]["kl_x0"] == pytest.approx(expect)
    assert kl([0.5, 0.5], [0.25, 0.75]) == pytest.approx(0.5 * math.log(2) + 0.5 * math.log(2 / 3))


def test_generated_answers_give_disagreement_without_kl(tmp_path):
    records = [_record(0.0, ["a", "b"]), _record(1.0, ["a", "c"])]
    (tmp_path / "summary.json").write_text(json.dumps({"splits": {}}))
    assert write_functional(tmp_path, records)
    rows = list(csv.DictReader((tmp_path / "functional.csv").open()))
    assert list(rows[0]) == ["x", "dev_disagree_x0", "dev_disagree_x1"] and rows[1]["dev_disagree_x0"] == "0.500000"
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["functional_distance"]["dev"]["midpoint"]["x"] in (0.0, 1.0)
    assert (tmp_path / "functional.png").stat().st_size > 0
    assert not write_functional(tmp_path / "none", [{"x": 0.0, "splits": {"dev": {"scores": []}}}])


def test_a_t5_line_writes_the_functional_distance_beside_an_unchanged_result_csv(tiny_t5_dir, toy_task, tmp_path):
    import task_interpolation
    from module.cli import run_cli
    from utils import toy

    ends = toy.perturbed_t5_ends(tiny_t5_dir, tmp_path, scale=0.5)
    assert run_cli(lambda: task_interpolation.main([
        "--task_dir", str(toy_task), "--model", str(tiny_t5_dir), "--output_dir", str(tmp_path / "line"),
        "--load_PET_path_1", str(ends[0]), "--load_PET_path_2", str(ends[1]), "--itpl_points", "3", "--do_valid",
        "--metric", "ACC", "--max_output_length", "6", "--quiet"])) == 0
    header = (tmp_path / "line" / "result.csv").read_text().splitlines()[0]
    assert header == "prefix,metric,x,dev_performance,dev_loss,test_performance,test_loss"
    rows = list(csv.DictReader((tmp_path / "line" / "functional.csv").open()))
    assert [r["x"] for r in rows] == ["0.000", "0.500", "1.000"] and rows[0]["dev_disagree_x0"] == "0.000000"
    assert "functional_distance" in json.loads((tmp_path / "line" / "summary.json").read_text())
