"""Tests for the sweep figures of module/plotting.py (issue 14, items 7-9), read through matplotlib's artists:
titles and x labels say what is compared, the dashed endpoint chord, the labelled worst point, the majority line,
bounded and minimum-span y axes. The figures write_sweep_files saves and the straight line overlaid on a curve's
figure are in tests/test_line_overlay.py."""

import pytest

from module.analysis import point_record, summarize
from module.axis_bounds import metric_bounds, y_limits
from module.path_info import endpoint_names
from module.plotting import PathInfo, majority_fraction, overlay_figure, plot_overlay, plot_sweep, sweep_figure
from tests.plot_data import PNG_MAGIC, SEED_PATHS, XS, dip, gid_lines, legend_texts, toy_records


def _series(records):
    splits = list(records[0]["splits"])
    xs = {s: [r["x"] for r in records] for s in splits}
    perf = {s: [r["splits"][s]["performance"] for r in records] for s in splits}
    loss = {s: [r["splits"][s]["loss"] for r in records] for s in splits}
    return xs, perf, loss


def _figure(records=None, metric="ACC", **kwargs):
    xs, perf, loss = _series(records or toy_records())
    return sweep_figure(xs, perf, loss, metric, **kwargs)


def _xlabel(ax):
    return ax.get_xlabel().replace(",\n", ", ")  # a long label is wrapped after its comma


# ------------------------------------------------------------------------------------------ titles, x axis


def test_title_and_xlabel_name_the_endpoints_path_and_split():
    fig = _figure(prefix="toy-sentiment", info=PathInfo.from_paths(*SEED_PATHS))
    assert fig.get_suptitle() == "toy-sentiment dev/test: straight line, seed 20 → seed 30"
    perf_ax, loss_ax = fig.axes
    assert _xlabel(perf_ax) == _xlabel(loss_ax) == "x: 0 = seed 20, 1 = seed 30"
    assert perf_ax.get_title() == "ACC on dev/test" and loss_ax.get_title() == "loss on dev/test"


def test_curve_title_counts_bends_and_x_is_t_along_the_curve():
    info = PathInfo("lr_0.001_seed_20", "lr_0.0005_seed_20", kind="bezier", bends=3)
    fig = _figure(toy_records(splits=("dev",)), prefix="rte", info=info)
    assert fig.get_suptitle() == "rte dev: Bezier curve (3 bends), lr_0.001_seed_20 → lr_0.0005_seed_20"
    assert _xlabel(fig.axes[0]) == "t along the curve: 0 = lr_0.001_seed_20, 1 = lr_0.0005_seed_20"
    assert "at t=" in fig.axes[0].texts[0].get_text()
    one = PathInfo(kind="polychain", bends=1)
    assert one.kind_text() == "PolyChain curve (1 bend)"


def test_task_boundary_title_says_which_task_each_end_was_trained_on():
    info = PathInfo(start_task="snli", end_task="rotten_tomatoes")
    fig = _figure(toy_records(splits=("dev",)), prefix="snli", info=info)
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
    records = toy_records()
    fig = _figure(records)
    _, perf, loss = _series(records)
    for ax, values in zip(fig.axes, (perf, loss), strict=True):
        chords = gid_lines(ax, "endpoint-chord")
        assert len(chords) == 2
        for chord, split in zip(chords, ("dev", "test"), strict=True):
            assert chord.get_linestyle() == "--"
            assert list(chord.get_xdata()) == [0.0, 1.0]
            assert list(chord.get_ydata()) == pytest.approx([values[split][0], values[split][-1]])
    assert any("barrier_linear" in t for t in legend_texts(fig))


def test_worst_point_is_marked_with_its_value_as_in_the_summary():
    records = toy_records()
    fig = _figure(records)
    summary = summarize(records, "p", "ACC")["splits"]
    for ax, field in zip(fig.axes, ("performance", "loss"), strict=True):
        markers = gid_lines(ax, "worst-point")
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
    lines = gid_lines(fig.axes[0], "majority")
    assert len(lines) == 1 and lines[0].get_linestyle() == ":"
    assert list(lines[0].get_ydata()) == [0.602, 0.602]
    assert "majority class (dev) 0.602" in legend_texts(fig)
    assert not gid_lines(fig.axes[1], "majority")  # never on the loss panel
    assert not gid_lines(_figure().axes[0], "majority")
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
    near_zero = toy_records(depth=0.0, splits=("dev",))
    for rec in near_zero:
        rec["splits"]["dev"]["performance"] = 0.01 * rec["x"]
    for metric in ("QA-F1", "ACC", "Classification-F1", "EM"):
        low, high = _figure(near_zero, metric).axes[0].get_ylim()
        assert low >= 0.0 and high <= 1.0
    near_one = toy_records(depth=-0.29, splits=("dev",))  # peaks at 0.97
    low, high = _figure(near_one, "ACC").axes[0].get_ylim()
    assert high <= 1.0 and low >= 0.0
    loss_low, _ = _figure(near_zero).axes[1].get_ylim()
    assert loss_low >= 0.0
    percent = _figure(toy_records(depth=-0.29, scale=100.0), "ACC", info=PathInfo(majority={"dev": 0.5}))
    low, high = percent.axes[0].get_ylim()
    assert low >= 0.0 and high <= 100.0
    assert list(gid_lines(percent.axes[0], "majority")[0].get_ydata()) == [50.0, 50.0]  # fraction put on the scale
    corr_low, corr_high = _figure(toy_records(depth=0.9), "Matthew-Correlation").axes[0].get_ylim()
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


# ------------------------------------------------------------------------------------------------- overlay


def test_overlay_figure_marks_chords_worst_points_and_majority():
    curves = {"full (dev)": (XS, [dip(x) for x in XS]), "adapter (dev)": (XS, [0.61] * len(XS))}
    fig = overlay_figure(curves, "accuracy", "rt: straight lines, seed 20 → seed 30", "x: 0 = seed 20, 1 = seed 30",
                         metric="ACC", majority={"dev": 0.602})
    (ax,) = fig.axes
    assert ax.get_title() == "rt: straight lines, seed 20 → seed 30"
    assert ax.get_xlabel() == "x: 0 = seed 20, 1 = seed 30"
    assert len(gid_lines(ax, "endpoint-chord")) == 2 and len(gid_lines(ax, "worst-point")) == 2
    worst = min(dip(x) for x in XS)
    texts = legend_texts(fig)
    assert f"full (dev): worst {worst:.3f} at x=0.50" in texts and "majority class (dev) 0.602" in texts
    low, high = ax.get_ylim()
    assert 0.0 <= low <= worst and 0.61 < high <= 1.0
    plain = overlay_figure(curves, "loss", chords=False, mark_worst=False)
    assert not gid_lines(plain.axes[0], "endpoint-chord") and not gid_lines(plain.axes[0], "worst-point")
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


def test_plot_helpers(tmp_path):
    p = plot_sweep({"dev": [0, 1]}, {"dev": [0.5, 0.6]}, {"dev": [1.0, 0.9]}, "acc", tmp_path / "a" / "s.png", "t")
    assert p.read_bytes().startswith(PNG_MAGIC)
    o = plot_overlay({"pair 1": ([0, 0.5, 1], [1, 2, 1]), "pair 2": ([0, 1], [3, 3])}, "loss", tmp_path / "o.png")
    assert o.read_bytes().startswith(PNG_MAGIC)
    assert sorted(x.name for x in tmp_path.iterdir()) == ["a", "o.png"]
    with pytest.raises(ValueError, match="2 x values but 1"):
        plot_overlay({"bad": ([0, 1], [1])}, "loss", tmp_path / "bad.png")
    with pytest.raises(ValueError, match="needs x, performance and loss"):
        plot_sweep({"dev": [0]}, {}, {"dev": [1]}, "acc", tmp_path / "bad.png")


def test_the_overlay_legend_fits_inside_the_figure():
    # the labels of the report's curve figure (experiment 7): four entries that matplotlib lays out 2-1-1
    from module.plotting import overlay_figure

    curves = {"straight line": (XS, [dip(x, (0.69, 0.66), 0.13) for x in XS]),
              "Bezier curve (one bend)": (XS, [dip(x, (0.69, 0.66), 0.1) for x in XS])}
    fig = overlay_figure(curves, "dev accuracy", "snli dev: line vs trained curve", majority={"snli dev": 0.334},
                         xlabel="x (line) or t (curve): 0 = the seed-20 run, 1 = the seed-30 run")
    fig.canvas.draw()
    box, legend = fig.bbox, fig.legends[0].get_window_extent()
    assert box.x0 <= legend.x0 and legend.x1 <= box.x1, (legend, box)
