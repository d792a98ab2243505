"""Tests for the figure write_sweep_files saves (module/analysis.py through module/plotting.py) and the straight
line overlaid on a curve's figure (module/line_sweep.py): read from the curve's line/ folder or a --line_result,
flipped when swept the other way, refused when it joins other endpoints or was scored with another metric."""

import json
import warnings
from pathlib import Path

import pytest

from module import plotting
from module.analysis import point_record, write_sweep_files
from module.plotting import PathInfo, find_line_sweep, read_line_sweep
from tests.plot_data import PNG_MAGIC, SEED_PATHS, XS, dip, gid_lines, legend_texts, toy_records


class Captured(list):
    """The figures write_sweep_files saved; rendered to PNG only when `render` is set (rendering is slow)."""

    render = False


@pytest.fixture()
def captured(monkeypatch):
    figures = Captured()
    save = plotting.save_png

    def keep(fig, path):
        figures.append(fig)
        if figures.render:
            return save(fig, path)
        Path(path).write_bytes(PNG_MAGIC)
        return Path(path)

    monkeypatch.setattr(plotting, "save_png", keep)  # where plot_sweep looks it up
    return figures


def _sweep_json(folder: Path, paths, contents=("A", "B")):
    folder.mkdir(parents=True, exist_ok=True)
    endpoints = [{"path": p, "files": [[Path(p).name, 1, c]]} for p, c in zip(paths, contents, strict=True)]
    (folder / "sweep.json").write_text(json.dumps({"endpoints": endpoints, "data": []}))


def test_write_sweep_files_saves_the_described_figure(tmp_path, captured):
    captured.render = True
    info = PathInfo.from_paths(*SEED_PATHS, majority={"dev": 0.6})
    names = write_sweep_files(tmp_path, toy_records(), "toy", "ACC", path_info=info)
    png = names["interpolation.png"].read_bytes()
    assert png.startswith(PNG_MAGIC) and len(png) > 10_000
    (fig,) = captured
    assert fig.get_suptitle() == "toy dev/test: straight line, seed 20 → seed 30"
    assert gid_lines(fig.axes[0], "majority")
    write_sweep_files(tmp_path, toy_records(), "toy", "ACC", plot=False, path_info=info)
    assert len(captured) == 1  # plot=False draws nothing


def test_old_callers_get_names_from_sweep_json_and_the_curve_kind_from_the_summary(tmp_path, captured):
    _sweep_json(tmp_path / "line", SEED_PATHS)
    write_sweep_files(tmp_path / "line", toy_records(), "toy", "ACC")
    assert captured[-1].get_suptitle() == "toy dev/test: straight line, seed 20 → seed 30"
    write_sweep_files(tmp_path / "bare", toy_records(), "toy", "ACC")  # no sweep.json: θ1 / θ2
    assert captured[-1].get_suptitle().endswith("θ1 → θ2")
    write_sweep_files(tmp_path / "curve", toy_records(), "toy", "ACC",
                      extra_summary={"curve_type": "bezier", "bend_num": 2})
    assert "Bezier curve (2 bends)" in captured[-1].get_suptitle()
    assert captured[-1].axes[0].get_xlabel().startswith("t along the curve")


def test_curve_figure_overlays_the_straight_line_from_its_line_folder(tmp_path, captured):
    curve, line = tmp_path / "curve", tmp_path / "curve" / "line"
    _sweep_json(curve, SEED_PATHS)
    _sweep_json(line, SEED_PATHS)
    write_sweep_files(line, toy_records(depth=0.3), "toy", "ACC", plot=False)
    info = PathInfo.from_paths(*SEED_PATHS, kind="bezier", bends=3)
    write_sweep_files(curve, toy_records(depth=0.01), "toy", "ACC", path_info=info)
    fig = captured[-1]
    for ax in fig.axes:
        overlaid = gid_lines(ax, "straight-line")
        assert len(overlaid) == 2 and all(o.get_linestyle() == "-." for o in overlaid)
    expected = [dip(x, depth=0.3) for x in XS]
    assert list(gid_lines(fig.axes[0], "straight-line")[0].get_ydata()) == pytest.approx(expected, abs=1e-4)
    assert {"straight line (dev)", "straight line (test)"} <= set(legend_texts(fig))
    low, _ = fig.axes[0].get_ylim()
    assert low <= min(expected)  # the line's dip is on the axis
    write_sweep_files(line, toy_records(depth=0.3), "toy", "ACC")  # a line's own figure overlays nothing
    assert not gid_lines(captured[-1].axes[0], "straight-line")


def test_line_result_flag_and_mismatches(tmp_path, captured):
    curve, elsewhere = tmp_path / "curve", tmp_path / "line-sweep"
    _sweep_json(curve, SEED_PATHS)
    _sweep_json(elsewhere, SEED_PATHS[::-1], contents=("B", "A"))  # swept from θ2 to θ1: flipped
    write_sweep_files(elsewhere, toy_records(depth=0.3, splits=("dev",)), "toy", "ACC", plot=False)
    info = PathInfo(kind="bezier", bends=1, line_result=elsewhere / "result.csv")
    write_sweep_files(curve, toy_records(depth=0.0), "toy", "ACC", path_info=info)
    overlaid = gid_lines(captured[-1].axes[0], "straight-line")
    assert len(overlaid) == 1  # only dev is in both
    assert list(overlaid[0].get_xdata()) == pytest.approx(XS)
    assert list(overlaid[0].get_ydata()) == pytest.approx([dip(1 - x, depth=0.3) for x in XS], abs=1e-4)

    before = sorted(p.name for p in curve.iterdir())
    bad = PathInfo(kind="bezier", bends=1, line_result=tmp_path / "missing")
    with pytest.raises(ValueError, match="no straight-line sweep result"):
        write_sweep_files(curve / "new", toy_records(), "toy", "ACC", path_info=bad)
    assert not (curve / "new").exists() and sorted(p.name for p in curve.iterdir()) == before
    with pytest.raises(ValueError, match="scored with ACC, the curve with QA-F1"):
        find_line_sweep(curve, elsewhere, "QA-F1")
    _sweep_json(elsewhere, SEED_PATHS, contents=("C", "D"))
    with pytest.raises(ValueError, match="other endpoints"):
        find_line_sweep(curve, elsewhere, "ACC")
    (curve / "line").mkdir()
    (elsewhere / "result.csv").replace(curve / "line" / "result.csv")
    (elsewhere / "sweep.json").replace(curve / "line" / "sweep.json")
    with pytest.warns(UserWarning, match="not overlaying the straight line"):  # found, not given: skipped
        assert find_line_sweep(curve, None, "ACC") is None
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert find_line_sweep(tmp_path / "nothing-here") is None


def test_read_line_sweep_reads_train_columns_of_an_itp_on_train_sweep(tmp_path):
    recs = [point_record(x, {"train": {"performance": 0.5, "loss": 1.0 + x, "scores": [1.0]}}) for x in XS]
    write_sweep_files(tmp_path, recs, "toy", "ACC", itp_on_train=True, plot=False)
    (tmp_path / "sweep.json").write_text(json.dumps({"itp_on_train": True}))
    line = read_line_sweep(tmp_path)
    assert line.xs == XS and list(line.performance) == ["train"] and line.loss["train"][-1] == 2.0
    (tmp_path / "result.csv").write_text("a,b\n1,2\n")
    with pytest.raises(ValueError, match="not a sweep's result.csv"):
        read_line_sweep(tmp_path / "result.csv")
