"""Tests for module/analysis.py: point records, summaries, per-example lists, output files, atomic writes.

The barriers are tested in tests/test_barriers.py, the figures in tests/test_plots.py and tests/test_line_overlay.py.
"""

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from module import analysis
from module.analysis import RESULT_FIELDS, point_record, summarize, write_sweep_files
from module.barriers import SIGN_CONVENTION
from module.forgetting import forgetting_lists
from tests.plot_data import PNG_MAGIC

ROOT = Path(__file__).resolve().parents[1]
BARRIER_KEYS = {"barrier_endpoint_mean", "barrier_linear", "barrier_subsegment"}


# --------------------------------------------------------------------------------------------------- records


def _split(perf, loss, scores):
    return {"performance": perf, "loss": loss, "scores": scores}


def _records():
    """3 points (given out of order), dev with 4 examples, test with 3."""
    return [
        point_record(1.0, {"dev": _split(0.7, 0.9, [0.5, 1, 1, 0]), "test": _split(0.4, 2.5, [1, 0, 0])}),
        point_record(0.0, {"dev": _split(0.6, 1.0, [1, 0, 1, 0]), "test": _split(0.5, 2.0, [0, 1, 1])}),
        point_record(0.5004, {"dev": _split(0.75, 1.2, [0, 0, 1, 1]), "test": _split(0.7, 1.5, [1, 1, 0])}),
    ]


def test_point_record_rounds_and_validates():
    rec = point_record(0.04000001, {"dev": _split(1, 2, [0, 1])})
    assert rec == {"x": 0.04, "splits": {"dev": {"performance": 1.0, "loss": 2.0, "scores": [0.0, 1.0]}}}
    assert str(rec["x"]) == "0.04"
    with pytest.raises(ValueError, match="unknown split"):
        point_record(0, {"valid": _split(1, 2, [])})
    with pytest.raises(ValueError, match="expected keys"):
        point_record(0, {"dev": {"performance": 1, "loss": 2}})
    with pytest.raises(ValueError, match="expected keys"):
        point_record(0, {"dev": {**_split(1, 2, []), "extra": 1}})
    with pytest.raises(ValueError, match="finite"):
        point_record(0, {"dev": _split(1, float("inf"), [])})
    with pytest.raises(ValueError, match="non-empty"):
        point_record(0, {})


def test_forgetting_lists():
    dev = forgetting_lists(_records(), "dev")
    assert list(dev) == ["0.0", "0.5", "1.0"]
    # the original's first point: previous scores are zeros, so everything scored above 0 went "up"
    assert dev["0.0"] == {"zero_list": [1, 3], "one_list": [0, 2], "up_list": [0, 2], "down_list": []}
    assert dev["0.5"] == {"zero_list": [0, 1], "one_list": [2, 3], "up_list": [3], "down_list": [0]}
    # 0 -> 0.5 and 0 -> 1 are both "up"; a partial score (0.5) is neither zero nor one
    assert dev["1.0"] == {"zero_list": [3], "one_list": [1, 2], "up_list": [0, 1], "down_list": [3]}
    test = forgetting_lists(_records(), "test")
    assert test["0.0"] == {"zero_list": [0], "one_list": [1, 2], "up_list": [1, 2], "down_list": []}
    assert test["0.5"] == {"zero_list": [2], "one_list": [0, 1], "up_list": [0], "down_list": [2]}
    assert test["1.0"] == {"zero_list": [1, 2], "one_list": [0], "up_list": [], "down_list": [1]}
    assert forgetting_lists(_records(), "dev", changes=False)["1.0"] == {"zero_list": [3], "one_list": [1, 2]}
    with pytest.raises(ValueError, match="not in the records"):
        forgetting_lists(_records(), "train")


def test_records_must_be_consistent():
    recs = _records()
    recs.append(point_record(0.0, {"dev": _split(0.6, 1.0, [1, 0, 1, 0]), "test": _split(0.5, 2.0, [0, 1, 1])}))
    with pytest.raises(ValueError, match="share x=0.0"):
        summarize(recs, "p", "acc")
    with pytest.raises(ValueError, match="same splits"):
        summarize(_records()[:2] + [point_record(0.5, {"dev": _split(0.7, 1.0, [0, 0, 0, 0])})], "p", "acc")
    bad = _records()
    bad[0]["splits"]["dev"]["scores"] = [1, 1]
    with pytest.raises(ValueError, match="change length"):
        forgetting_lists(bad, "dev")


def test_summarize_numbers():
    s = summarize(_records(), "rte", "acc")
    assert s["prefix"] == "rte" and s["metric"] == "acc" and s["points"] == 3
    assert s["sign_convention"] == SIGN_CONVENTION
    assert set(s["splits"]) == {"dev", "test"}
    perf = s["splits"]["dev"]["performance"]
    assert perf["endpoints"] == [0.6, 0.7]
    assert perf["worst"] == {"x": 0.0, "value": 0.6}
    assert perf["best"] == {"x": 0.5, "value": 0.75}
    assert perf["mean"] == pytest.approx(2.05 / 3)
    assert perf["barrier_endpoint_mean"] == pytest.approx(0.05)  # 0.65 - 0.6 at x=0
    assert perf["barrier_linear"] == 0.0 and perf["barrier_subsegment"] == 0.0
    loss = s["splits"]["dev"]["loss"]
    assert loss["worst"] == {"x": 0.5, "value": 1.2} and loss["best"] == {"x": 1.0, "value": 0.9}
    assert loss["barrier_linear"] == pytest.approx(1.2 - 0.95)
    assert loss["barrier_endpoint_mean"] == pytest.approx(1.2 - 0.95)
    tperf = s["splits"]["test"]["performance"]
    assert tperf["barrier_endpoint_mean"] == pytest.approx(0.45 - 0.4)  # the path is above the endpoint mean
    assert tperf["barrier_linear"] == 0.0
    assert s["splits"]["test"]["loss"]["barrier_subsegment"] == 0.0  # 2.0, 1.5, 2.5 is convex


# ------------------------------------------------------------------------------------------------ the files


def _read_csv(path):
    with open(path, newline="") as handle:
        return list(csv.reader(handle))


def test_result_csv_rows_and_average(tmp_path):
    write_sweep_files(tmp_path, _records(), "rte", "acc", plot=False)
    rows = _read_csv(tmp_path / "result.csv")
    assert rows[0] == RESULT_FIELDS
    assert rows[1:] == [
        ["rte", "acc", "0.0000", "0.6000", "1.0000", "0.5000", "2.0000"],
        ["rte", "acc", "0.5000", "0.7500", "1.2000", "0.7000", "1.5000"],
        ["rte", "acc", "1.0000", "0.7000", "0.9000", "0.4000", "2.5000"],
        # means: dev 2.05/3, 3.1/3; test 1.6/3 (the original wrote 0 here), 6.0/3
        ["average", "acc", "0.5000", "0.6833", "1.0333", "0.5333", "2.0000"],
    ]


def test_result_csv_empty_cells_without_test(tmp_path):
    recs = [point_record(x, {"dev": _split(p, 1 - p, [1])}) for x, p in [(0, 0.5), (1, 0.7)]]
    names = write_sweep_files(tmp_path, recs, "p", "f1", plot=False)
    rows = _read_csv(tmp_path / "result.csv")
    assert rows[1] == ["p", "f1", "0.0000", "0.5000", "0.5000", "", ""]
    assert rows[-1] == ["average", "f1", "0.5000", "0.6000", "0.4000", "", ""]
    assert "test_data_analysis.json" not in names and not (tmp_path / "test_data_analysis.json").exists()
    text = (tmp_path / "solution_analysis.txt").read_text()
    assert "test" not in text and "best valid performance: 0.7 " in text


def test_data_analyze_text(tmp_path):
    write_sweep_files(tmp_path, _records(), "rte", "acc", plot=False)
    blocks = (tmp_path / "data_analyze.txt").read_text().strip("\n").split("\n\n")
    assert len(blocks) == 6  # dev, test per x

    def block(header, n, counts):
        names = ["zero_list_num", "one_list_num", "up_list_num", "up_to_one_num", "down_list_num", "down_to_zero_num"]
        lines = [f"total number of data is {n} ", header] + [f"{k}: {v}" for k, v in zip(names, counts, strict=True)]
        return "\n".join(lines)

    # first point against zeros (the original): up = scored above 0, up_to_one = scored 1, nothing went down
    assert blocks[0] == block("DEV: round x = 0.0, in dev_data: ", 4, [2, 2, 2, 2, 0, 0])
    assert blocks[1] == block("TEST: round x = 0.0, in test_data: ", 3, [1, 2, 2, 2, 0, 0])
    assert blocks[2] == block("DEV: round x = 0.5, in dev_data: ", 4, [2, 2, 1, 1, 1, 1])
    assert blocks[3] == block("TEST: round x = 0.5, in test_data: ", 3, [1, 2, 1, 1, 1, 1])
    # dev 0,0,1,1 -> 0.5,1,1,0: up 0 and 1, reached one only 1 (0 went to 0.5), down 3, dropped to zero 3
    assert blocks[4] == block("DEV: round x = 1.0, in dev_data: ", 4, [1, 2, 2, 1, 1, 1])
    assert blocks[5] == block("TEST: round x = 1.0, in test_data: ", 3, [2, 1, 0, 0, 1, 1])


def test_write_sweep_files_all_outputs(tmp_path):
    out = tmp_path / "sweep"
    names = write_sweep_files(out, _records(), "rte", "acc", extra_summary={"curve_length": 1.5})
    expected = {
        "result.csv",
        "data_analyze.txt",
        "valid_data_analysis.json",
        "test_data_analysis.json",
        "solution_analysis.txt",
        "summary.json",
        "interpolation.png",
    }
    assert set(names) == expected
    assert sorted(p.name for p in out.iterdir()) == sorted(expected)  # and no temporary files
    assert all(names[n] == out / n for n in expected)

    summary = json.loads((out / "summary.json").read_text())
    assert summary["sign_convention"] == SIGN_CONVENTION and summary["curve_length"] == 1.5
    for split in ("dev", "test"):
        for kind in ("performance", "loss"):
            assert set(summary["splits"][split][kind]) >= BARRIER_KEYS
    assert summary == json.loads(json.dumps({**summarize(_records(), "rte", "acc"), "curve_length": 1.5}))

    valid = json.loads((out / "valid_data_analysis.json").read_text())
    assert valid == forgetting_lists(_records(), "dev")
    assert json.loads((out / "test_data_analysis.json").read_text()) == forgetting_lists(_records(), "test")

    assert (out / "solution_analysis.txt").read_text() == (
        "better valid number: 1, which are [0.5] \n"
        "better test number: 1, which are [0.5] \n"
        "better valid & test number: 1, which are [0.5] \n"
        "\n"
        f"best valid performance: 0.75 \n"
        "best valid x: 0.5 \n"
        f"average valid performance: {(0.6 + 0.75 + 0.7) / 3} \n"
        f"average valid loss: {(1.0 + 1.2 + 0.9) / 3} \n"
        f"average test performance: {(0.5 + 0.7 + 0.4) / 3} \n"
        f"average test loss: {(2.0 + 1.5 + 2.5) / 3} \n\n"
    )
    png = (out / "interpolation.png").read_bytes()
    assert png.startswith(PNG_MAGIC) and len(png) > 1000

    with pytest.raises(ValueError, match="clash"):
        write_sweep_files(tmp_path / "other", _records(), "rte", "acc", plot=False, extra_summary={"points": 9})
    assert not (tmp_path / "other").exists()  # invalid input writes nothing


def test_itp_on_train(tmp_path):
    recs = [
        point_record(0, {"train": _split(0.9, 0.2, [1, 1, 0])}),
        point_record(0.5, {"train": _split(0.6, 0.7, [0, 1, 0])}),
        point_record(1, {"train": _split(0.8, 0.3, [1, 0, 1])}),
    ]
    names = write_sweep_files(tmp_path, recs, "rte", "acc", itp_on_train=True, plot=False)
    assert "test_data_analysis.json" not in names and not (tmp_path / "test_data_analysis.json").exists()
    valid = json.loads((tmp_path / "valid_data_analysis.json").read_text())
    assert valid == {
        "0.0": {"zero_list": [2], "one_list": [0, 1]},
        "0.5": {"zero_list": [0, 2], "one_list": [1]},
        "1.0": {"zero_list": [1], "one_list": [0, 2]},
    }
    rows = _read_csv(tmp_path / "result.csv")
    assert rows[2] == ["rte", "acc", "0.5000", "0.6000", "0.7000", "", ""]  # train values in the dev_* columns
    assert rows[-1] == ["average", "acc", "0.5000", "0.7667", "0.4000", "", ""]
    text = (tmp_path / "data_analyze.txt").read_text()
    assert text.startswith("total number of data is 3 \nTEST ON TRAIN: round x = 0.0, in dev_data: \n")
    assert "up_list_num" not in text
    assert "better train number: 0, which are [] " in (tmp_path / "solution_analysis.txt").read_text()
    assert set(json.loads((tmp_path / "summary.json").read_text())["splits"]) == {"train"}
    with pytest.raises(ValueError, match="'train' split"):
        write_sweep_files(tmp_path / "x", _records(), "rte", "acc", itp_on_train=True, plot=False)


# --------------------------------------------------------------------------------------------------- atomicity


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def _other_records():
    recs = _records()
    for rec in recs:
        rec["splits"]["dev"]["performance"] = rec["splits"]["dev"]["performance"] / 2
        rec["splits"]["dev"]["scores"] = [1.0 - s for s in rec["splits"]["dev"]["scores"]]
    return recs


def test_failure_before_writing_leaves_old_files(tmp_path, monkeypatch):
    write_sweep_files(tmp_path, _records(), "rte", "acc")
    before = _snapshot(tmp_path)

    def broken_dumps(*args, **kwargs):
        raise RuntimeError("dumps failed")

    monkeypatch.setattr(json, "dumps", broken_dumps)
    with pytest.raises(RuntimeError, match="dumps failed"):
        write_sweep_files(tmp_path, _other_records(), "rte", "acc")
    assert _snapshot(tmp_path) == before


def test_failure_during_one_file_leaves_each_file_whole(tmp_path, monkeypatch):
    write_sweep_files(tmp_path, _records(), "rte", "acc")
    old = _snapshot(tmp_path)
    real_replace = os.replace

    def replace(src, dst):  # the process "dies" just before summary.json is renamed into place
        if Path(dst).name == "summary.json":
            raise KeyboardInterrupt("killed")
        return real_replace(src, dst)

    monkeypatch.setattr(os, "replace", replace)
    with pytest.raises(KeyboardInterrupt):
        write_sweep_files(tmp_path, _other_records(), "rte", "acc")
    monkeypatch.setattr(os, "replace", real_replace)
    after = _snapshot(tmp_path)
    assert set(after) == set(old)  # no temporary file left behind

    new_dir = tmp_path.parent / "reference"
    write_sweep_files(new_dir, _other_records(), "rte", "acc", plot=False)
    new = _snapshot(new_dir)
    written_before_kill = [
        "result.csv",
        "data_analyze.txt",
        "valid_data_analysis.json",
        "test_data_analysis.json",
        "solution_analysis.txt",
    ]
    for name in written_before_kill:
        assert after[name] == new[name], name
    for name in ("result.csv", "data_analyze.txt", "valid_data_analysis.json", "solution_analysis.txt"):
        assert new[name] != old[name], name  # the two runs really differ
    assert after["summary.json"] == old["summary.json"] != new["summary.json"]
    assert after["interpolation.png"] == old["interpolation.png"]


def test_plot_failure_leaves_old_png_and_no_temp(tmp_path, monkeypatch):
    from matplotlib.figure import Figure

    write_sweep_files(tmp_path, _records(), "rte", "acc")
    old_png = (tmp_path / "interpolation.png").read_bytes()

    def half_save(self, handle, **kwargs):
        handle.write(PNG_MAGIC + b"partial")
        raise OSError("disk full")

    monkeypatch.setattr(Figure, "savefig", half_save)
    with pytest.raises(OSError, match="disk full"):
        write_sweep_files(tmp_path, _other_records(), "rte", "acc")
    assert (tmp_path / "interpolation.png").read_bytes() == old_png
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


# ------------------------------------------------------------------------------------------------- the module


def test_analysis_imports_neither_torch_nor_matplotlib():
    code = "import sys, module.analysis; print('torch' in sys.modules, 'matplotlib' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


def test_module_constants():
    fields = ["prefix", "metric", "x", "dev_performance", "dev_loss", "test_performance", "test_loss"]
    assert fields == analysis.RESULT_FIELDS
    assert "positive" in SIGN_CONVENTION and "loss" in SIGN_CONVENTION


def test_first_point_counts_partial_scores_as_up_against_zeros(tmp_path):
    # QA-F1-style partial scores at x=0: 0.5 is "up" (above 0) but not "up_to_one"; 1 is both
    recs = [point_record(0.0, {"dev": _split(0.5, 1.0, [0.5, 1, 0])}),
            point_record(1.0, {"dev": _split(0.5, 1.0, [0.5, 1, 0])})]
    write_sweep_files(tmp_path, recs, "squad", "QA-F1", plot=False)
    first = json.loads((tmp_path / "valid_data_analysis.json").read_text())["0.0"]
    assert first["up_list"] == [0, 1] and first["down_list"] == []
    block = (tmp_path / "data_analyze.txt").read_text().split("\n\n")[0]
    assert "up_list_num: 2" in block and "up_to_one_num: 1" in block and "down_to_zero_num: 0" in block
