"""Tests for the sweep figures of module/plotting.py (issue 14, items 7-9), read through matplotlib's artists:
titles and x labels say what is compared, the dashed endpoint chord, the labelled worst point, the majority line,
bounded and minimum-span y axes, and the straight line overlaid on a curve's figure."""

import json
import math
import warnings
from pathlib import Path

import pytest

from module import plotting
from module.analysis import point_record, summarize, write_sweep_files
from module.plotting import (
    PathInfo,
    endpoint_names,
    find_line_sweep,
    majority_fraction,
    metric_bounds,
    overlay_figure,
    read_line_sweep,
    sweep_figure,
    y_limits,
)

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
XS = [round(i / 10, 3) for i in range(11)]
SEED_PATHS = ("runs/q/finetune-seed20/lr_0.001_seed_20/checkpoint-last.pt",
              "runs/q/finetune-seed30/lr_0.001_seed_30/checkpoint-last.pt")


def _dip(x: float, ends=(0.70, 0.66), depth=0.2) -> float:
    return (1 - x) * ends[0] + x * ends[1] - depth * math.sin(math.pi * x)


def _records(depth=0.2, splits=("dev", "test"), scale=1.0):
    recs = []
    for x in XS:
        values = {}
        for k, split in enumerate(splits):
            perf = scale * _dip(x, (0.70 - 0.04 * k, 0.66 - 0.04 * k), depth)
            values[split] = {"performance": perf, "loss": 0.2 + 0.5 * math.sin(math.pi * x) + 0.01 * k,
                             "scores": [1.0, 0.0]}
        recs.append(point_record(x, values))
    return recs


def _series(records):
    splits = list(records[0]["splits"])
    xs = {s: [r["x"] for r in records] for s in splits}
    perf = {s: [r["splits"][s]["performance"] for r in records] for s in splits}
    loss = {s: [r["splits"][s]["loss"] for r in records] for s in splits}
    return xs, perf, loss


def _figure(records=None, metric="ACC", **kwargs):
    xs, perf, loss = _series(records or _records())
    return sweep_figure(xs, perf, loss, metric, **kwargs)


def _lines(ax, gid):
    return [line for line in ax.lines if line.get_gid() == gid]


def _xlabel(ax):
    return ax.get_xlabel().replace(",\n", ", ")  # a long label is wrapped after its comma


def _legend_texts(fig):
    return [t.get_text() for legend in fig.legends for t in legend.get_texts()]


class Captured(list):
    """The figures write_sweep_files saved; rendered to PNG only when `render` is set (rendering is slow)."""

    render = False


@pytest.fixture()
def captured(monkeypatch):
    figures = Captured()
    save = plotting._save_png

    def keep(fig, path):
        figures.append(fig)
        if figures.render:
            return save(fig, path)
        Path(path).write_bytes(PNG_MAGIC)
        return Path(path)

    monkeypatch.setattr(plotting, "_save_png", keep)
    return figures


# ------------------------------------------------------------------------------------------ titles, x axis


def test_title_and_xlabel_name_the_endpoints_path_and_split():
    fig = _figure(prefix="toy-sentiment", info=PathInfo.from_paths(*SEED_PATHS))
    assert fig.get_suptitle() == "toy-sentiment dev/test: straight line, seed 20 → seed 30"
    perf_ax, loss_ax = fig.axes
    assert _xlabel(perf_ax) == _xlabel(loss_ax) == "x: 0 = seed 20, 1 = seed 30"
    assert perf_ax.get_title() == "ACC on dev/test" and loss_ax.get_title() == "loss on dev/test"


def test_curve_title_counts_bends_and_x_is_t_along_the_curve():
    info = PathInfo("lr_0.001_seed_20", "lr_0.0005_seed_20", kind="bezier", bends=3)
    fig = _figure(_records(splits=("dev",)), prefix="rte", info=info)
    assert fig.get_suptitle() == "rte dev: Bezier curve (3 bends), lr_0.001_seed_20 → lr_0.0005_seed_20"
    assert _xlabel(fig.axes[0]) == "t along the curve: 0 = lr_0.001_seed_20, 1 = lr_0.0005_seed_20"
    assert "at t=" in fig.axes[0].texts[0].get_text()
    one = PathInfo(kind="polychain", bends=1)
    assert one.kind_text() == "PolyChain curve (1 bend)"


def test_task_boundary_title_says_which_task_each_end_was_trained_on():
    info = PathInfo(start_task="snli", end_task="rotten_tomatoes")
    fig = _figure(_records(splits=("dev",)), prefix="snli", info=info)
    title = fig.get_suptitle()
    assert title.startswith("task boundary (straight line): snli-trained → rotten_tomatoes-trained")
    assert title.endswith("evaluated on snli dev")
    assert _xlabel(fig.axes[0]) == "x: 0 = snli-trained, 1 = rotten_tomatoes-trained"


def test_default_path_info_and_explicit_title_and_x_label():
    fig = _figure(prefix="rte")
    assert fig.get_suptitle() == "rte dev/test: straight line, θ1 → θ2"
    assert _xlabel(fig.axes[0]) == "x: 0 = θ1, 1 = θ2"
    fig = _figure(prefix="rte", title="my title", info=PathInfo(x_label="steps"))
    assert fig.get_suptitle() == "my title" and fig.axes[1].get_xlabel() == "steps"
    long = PathInfo("a" * 30, "b" * 30, kind="bezier", bends=2)
    label = _figure(info=long).axes[0].get_xlabel()
    assert label == f"t along the curve: 0 = {'a' * 30},\n1 = {'b' * 30}"  # wrapped, not into the next panel


def test_path_info_rejects_impossible_descriptions():
    with pytest.raises(ValueError, match="kind must be one of"):
        PathInfo(kind="spline")
    with pytest.raises(ValueError, match="bends is for curves"):
        PathInfo(kind="line", bends=2)
    with pytest.raises(ValueError, match="positive integer"):
        PathInfo(kind="bezier", bends=0)
    with pytest.raises(ValueError, match="both start_task and end_task"):
        PathInfo(start_task="snli")
    with pytest.raises(ValueError, match="finite number"):
        PathInfo(majority={"dev": float("nan")})


def test_endpoint_names():
    assert endpoint_names(*SEED_PATHS) == ("seed 20", "seed 30")
    assert endpoint_names("runs/finetune-seed20/checkpoint-150", "runs/finetune-seed30/checkpoint-150") == \
        ("seed 20", "seed 30")
    assert endpoint_names("g/lr_0.001_seed_20/checkpoint-last.pt", "g/lr_0.0005_seed_20/checkpoint-last.pt") == \
        ("lr_0.001_seed_20", "lr_0.0005_seed_20")
    assert endpoint_names("run/checkpoint-100", "run/checkpoint-200") == ("checkpoint-100", "checkpoint-200")
    assert endpoint_names("q/adapter-seed20/20/lr_0.01_seed_20/c.pt", "q/adapter-seed30/30/lr_0.01_seed_30/c.pt") \
        == ("seed 20", "seed 30")  # tune_singletask.py's grid: the seed is also a bare folder name
    assert endpoint_names("a/run-seed20-v120/c", "a/run-seed30-v130/c") == ("run-seed20-v120", "run-seed30-v130")
    assert endpoint_names("a.pt", "b.pt") == ("a.pt", "b.pt")
    long_a, long_b = "x/" + "a" * 60 + "/c.pt", "x/" + "b" * 60 + "/c.pt"
    short = endpoint_names(long_a, long_b)
    assert all(len(n) <= 36 and n.startswith("…") for n in short)


# ---------------------------------------------------------------------------- chord, worst point, majority


def test_dashed_line_joins_the_endpoint_values_on_both_panels():
    records = _records()
    fig = _figure(records)
    _, perf, loss = _series(records)
    for ax, values in zip(fig.axes, (perf, loss), strict=True):
        chords = _lines(ax, "endpoint-chord")
        assert len(chords) == 2
        for chord, split in zip(chords, ("dev", "test"), strict=True):
            assert chord.get_linestyle() == "--"
            assert list(chord.get_xdata()) == [0.0, 1.0]
            assert list(chord.get_ydata()) == pytest.approx([values[split][0], values[split][-1]])
    assert any("barrier_linear" in t for t in _legend_texts(fig))


def test_worst_point_is_marked_with_its_value_as_in_the_summary():
    records = _records()
    fig = _figure(records)
    summary = summarize(records, "p", "ACC")["splits"]
    for ax, field in zip(fig.axes, ("performance", "loss"), strict=True):
        markers = _lines(ax, "worst-point")
        labels = {t.get_text().split()[0]: t for t in ax.texts if t.get_gid() == "worst-label"}
        assert len(markers) == len(labels) == 2
        for marker, split in zip(markers, ("dev", "test"), strict=True):
            worst, label = summary[split][field]["worst"], labels[split]
            assert (marker.get_xdata()[0], marker.get_ydata()[0]) == pytest.approx((worst["x"], worst["value"]))
            assert label.xy == pytest.approx((worst["x"], worst["value"]))
            assert label.get_text() == f"{split} worst {worst['value']:.3f} at x={worst['x']:.2f}"
            low, high = ax.get_ylim()
            assert low <= worst["value"] <= high


def test_majority_class_line_only_where_given():
    fig = _figure(info=PathInfo(majority={"dev": 0.602, "test": None}))
    lines = _lines(fig.axes[0], "majority")
    assert len(lines) == 1 and lines[0].get_linestyle() == ":"
    assert list(lines[0].get_ydata()) == [0.602, 0.602]
    assert "majority class (dev) 0.602" in _legend_texts(fig)
    assert not _lines(fig.axes[1], "majority")  # never on the loss panel
    assert not _lines(_figure().axes[0], "majority")
    low, high = fig.axes[0].get_ylim()
    assert low <= 0.602 <= high


def test_majority_fraction():
    assert majority_fraction([["yes"], ["no"], ["Yes "], ["yes"]]) == 0.75
    assert majority_fraction([0, 1, 1, 2]) == 0.5  # encoder label ids
    assert majority_fraction(["a", "b"], metric="ACC") == 0.5
    assert majority_fraction([["a", "b"], ["b"], ["c"]]) == pytest.approx(2 / 3)  # "b" answers two examples
    assert majority_fraction([[str(i)] for i in range(21)]) is None  # not a classification task
    assert majority_fraction([["a"], ["b"]], metric="Classification-F1") is None
    assert majority_fraction([]) is None


# -------------------------------------------------------------------------------------------------- y axis


def test_bounded_metrics_never_show_impossible_values():
    near_zero = _records(depth=0.0, splits=("dev",))
    for rec in near_zero:
        rec["splits"]["dev"]["performance"] = 0.01 * rec["x"]
    for metric in ("QA-F1", "ACC", "Classification-F1", "EM"):
        low, high = _figure(near_zero, metric).axes[0].get_ylim()
        assert low >= 0.0 and high <= 1.0
    near_one = _records(depth=-0.29, splits=("dev",))  # peaks at 0.97
    low, high = _figure(near_one, "ACC").axes[0].get_ylim()
    assert high <= 1.0 and low >= 0.0
    loss_low, _ = _figure(near_zero).axes[1].get_ylim()
    assert loss_low >= 0.0
    percent = _figure(_records(depth=-0.29, scale=100.0), "ACC", info=PathInfo(majority={"dev": 0.5}))
    low, high = percent.axes[0].get_ylim()
    assert low >= 0.0 and high <= 100.0
    assert list(_lines(percent.axes[0], "majority")[0].get_ydata()) == [50.0, 50.0]  # fraction put on the scale
    corr_low, corr_high = _figure(_records(depth=0.9), "Matthew-Correlation").axes[0].get_ylim()
    assert -1.0 <= corr_low < 0 and corr_high <= 1.0


def test_a_flat_curve_is_drawn_flat():
    flat = [point_record(x, {"dev": {"performance": 0.597 + 0.0005 * (-1) ** k, "loss": 0.6931,
                                     "scores": [1.0]}}) for k, x in enumerate(XS)]
    fig = _figure(flat)
    low, high = fig.axes[0].get_ylim()
    assert 0.05 <= high - low <= 0.1
    low, high = fig.axes[1].get_ylim()
    assert high - low >= 0.05 and low >= 0.0


def test_metric_bounds_and_y_limits():
    assert metric_bounds("ACC", [0.5]) == (0.0, 1.0, 0.05)
    assert metric_bounds("acc", [50.0]) == (0.0, 100.0, 5.0)
    assert metric_bounds("dev accuracy", [0.5])[:2] == (0.0, 1.0)
    assert metric_bounds("QA-F1", [0.5])[:2] == (0.0, 1.0)
    assert metric_bounds("Pearson-Correlation", [0.5])[:2] == (-1.0, 1.0)
    assert metric_bounds("loss", [3.0]) == (0.0, None, pytest.approx(0.3))
    assert metric_bounds("perplexity", [3.0]) == (None, None, 0.05)
    assert y_limits([0.0, 0.01], 0.0, 1.0, 0.05) == (0.0, pytest.approx(0.05 * 1.16))
    low, high = y_limits([0.999, 1.0], 0.0, 1.0, 0.05)
    assert high == 1.0 and high - low == pytest.approx(0.05 * 1.16)
    assert y_limits([0.5], 0.0, 1.0, 5.0) == (0.0, 1.0)  # the span never exceeds the bounds
    with pytest.raises(ValueError, match="no finite values"):
        y_limits([float("nan")], None, None, 0.05)


# ----------------------------------------------------------------------------------- write_sweep_files


def _sweep_json(folder: Path, paths, contents=("A", "B")):
    folder.mkdir(parents=True, exist_ok=True)
    endpoints = [{"path": p, "files": [[Path(p).name, 1, c]]} for p, c in zip(paths, contents, strict=True)]
    (folder / "sweep.json").write_text(json.dumps({"endpoints": endpoints, "data": []}))


def test_write_sweep_files_saves_the_described_figure(tmp_path, captured):
    captured.render = True
    info = PathInfo.from_paths(*SEED_PATHS, majority={"dev": 0.6})
    names = write_sweep_files(tmp_path, _records(), "toy", "ACC", path_info=info)
    png = names["interpolation.png"].read_bytes()
    assert png.startswith(PNG_MAGIC) and len(png) > 10_000
    (fig,) = captured
    assert fig.get_suptitle() == "toy dev/test: straight line, seed 20 → seed 30"
    assert _lines(fig.axes[0], "majority")
    write_sweep_files(tmp_path, _records(), "toy", "ACC", plot=False, path_info=info)
    assert len(captured) == 1  # plot=False draws nothing


def test_old_callers_get_names_from_sweep_json_and_the_curve_kind_from_the_summary(tmp_path, captured):
    _sweep_json(tmp_path / "line", SEED_PATHS)
    write_sweep_files(tmp_path / "line", _records(), "toy", "ACC")
    assert captured[-1].get_suptitle() == "toy dev/test: straight line, seed 20 → seed 30"
    write_sweep_files(tmp_path / "bare", _records(), "toy", "ACC")  # no sweep.json: θ1 / θ2
    assert captured[-1].get_suptitle().endswith("θ1 → θ2")
    write_sweep_files(tmp_path / "curve", _records(), "toy", "ACC",
                      extra_summary={"curve_type": "bezier", "bend_num": 2})
    assert "Bezier curve (2 bends)" in captured[-1].get_suptitle()
    assert captured[-1].axes[0].get_xlabel().startswith("t along the curve")


def test_curve_figure_overlays_the_straight_line_from_its_line_folder(tmp_path, captured):
    curve, line = tmp_path / "curve", tmp_path / "curve" / "line"
    _sweep_json(curve, SEED_PATHS)
    _sweep_json(line, SEED_PATHS)
    write_sweep_files(line, _records(depth=0.3), "toy", "ACC", plot=False)
    info = PathInfo.from_paths(*SEED_PATHS, kind="bezier", bends=3)
    write_sweep_files(curve, _records(depth=0.01), "toy", "ACC", path_info=info)
    fig = captured[-1]
    for ax in fig.axes:
        overlaid = _lines(ax, "straight-line")
        assert len(overlaid) == 2 and all(o.get_linestyle() == "-." for o in overlaid)
    expected = [_dip(x, depth=0.3) for x in XS]
    assert list(_lines(fig.axes[0], "straight-line")[0].get_ydata()) == pytest.approx(expected, abs=1e-4)
    assert {"straight line (dev)", "straight line (test)"} <= set(_legend_texts(fig))
    low, _ = fig.axes[0].get_ylim()
    assert low <= min(expected)  # the line's dip is on the axis
    write_sweep_files(line, _records(depth=0.3), "toy", "ACC")  # a line's own figure overlays nothing
    assert not _lines(captured[-1].axes[0], "straight-line")


def test_line_result_flag_and_mismatches(tmp_path, captured):
    curve, elsewhere = tmp_path / "curve", tmp_path / "line-sweep"
    _sweep_json(curve, SEED_PATHS)
    _sweep_json(elsewhere, SEED_PATHS[::-1], contents=("B", "A"))  # swept from θ2 to θ1: flipped
    write_sweep_files(elsewhere, _records(depth=0.3, splits=("dev",)), "toy", "ACC", plot=False)
    info = PathInfo(kind="bezier", bends=1, line_result=elsewhere / "result.csv")
    write_sweep_files(curve, _records(depth=0.0), "toy", "ACC", path_info=info)
    overlaid = _lines(captured[-1].axes[0], "straight-line")
    assert len(overlaid) == 1  # only dev is in both
    assert list(overlaid[0].get_xdata()) == pytest.approx(XS)
    assert list(overlaid[0].get_ydata()) == pytest.approx([_dip(1 - x, depth=0.3) for x in XS], abs=1e-4)

    before = sorted(p.name for p in curve.iterdir())
    bad = PathInfo(kind="bezier", bends=1, line_result=tmp_path / "missing")
    with pytest.raises(ValueError, match="no straight-line sweep result"):
        write_sweep_files(curve / "new", _records(), "toy", "ACC", path_info=bad)
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


# ------------------------------------------------------------------------------------------------- overlay


def test_overlay_figure_marks_chords_worst_points_and_majority():
    curves = {"full (dev)": (XS, [_dip(x) for x in XS]), "adapter (dev)": (XS, [0.61] * len(XS))}
    fig = overlay_figure(curves, "accuracy", "rt: straight lines, seed 20 → seed 30", "x: 0 = seed 20, 1 = seed 30",
                         metric="ACC", majority={"dev": 0.602})
    (ax,) = fig.axes
    assert ax.get_title() == "rt: straight lines, seed 20 → seed 30"
    assert ax.get_xlabel() == "x: 0 = seed 20, 1 = seed 30"
    assert len(_lines(ax, "endpoint-chord")) == 2 and len(_lines(ax, "worst-point")) == 2
    worst = min(_dip(x) for x in XS)
    texts = _legend_texts(fig)
    assert f"full (dev): worst {worst:.3f} at x=0.50" in texts and "majority class (dev) 0.602" in texts
    low, high = ax.get_ylim()
    assert 0.0 <= low <= worst and 0.61 < high <= 1.0
    plain = overlay_figure(curves, "loss", chords=False, mark_worst=False)
    assert not _lines(plain.axes[0], "endpoint-chord") and not _lines(plain.axes[0], "worst-point")
    assert plain.axes[0].get_ylim()[0] >= 0.0


def test_sweep_figure_rejects_bad_series():
    with pytest.raises(ValueError, match="no splits"):
        sweep_figure({}, {}, {}, "ACC")
    with pytest.raises(ValueError, match="2 x values but 1"):
        sweep_figure({"dev": [0, 1]}, {"dev": [0.5]}, {"dev": [1.0, 2.0]}, "ACC")


def test_worst_labels_never_cover_each_other_at_a_bound():
    zeros = [point_record(x, {s: {"performance": 0.0, "loss": 1.0, "scores": [0.0]} for s in ("dev", "test")})
             for x in XS]
    ax = _figure(zeros, "ACC").axes[0]
    labels = [t for t in ax.texts if t.get_gid() == "worst-label"]
    assert len(labels) == 2 and ax.get_ylim()[0] == 0.0
    assert all(t.get_va() == "bottom" for t in labels)  # no room under 0: above the points
    assert len({t.get_position()[1] for t in labels}) == 2  # stacked, not on top of each other
