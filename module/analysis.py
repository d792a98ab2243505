"""Turn the point records of an interpolation sweep into its output files; model-independent (no torch).

A point record is `{"x": round(x, 3), "splits": {split: {"performance", "loss", "scores"}}}` where split is "dev",
"test" or "train" (the latter when the sweep runs on training data, `itp_on_train`). `write_sweep_files` writes the
original code's files (`result.csv`, `data_analyze.txt`, `valid_data_analysis.json`, `test_data_analysis.json`,
`solution_analysis.txt`) plus `summary.json` (endpoints, best/worst points, means and barriers) and `interpolation.png`.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from module.files import atomic_write_csv, atomic_write_text

if TYPE_CHECKING:
    from module.plotting import PathInfo

RESULT_FIELDS = ["prefix", "metric", "x", "dev_performance", "dev_loss", "test_performance", "test_loss"]
SIGN_CONVENTION = (
    "Barriers are positive when the path is worse than the reference: a drop in the metric or a rise in the loss. "
    "Each barrier is the maximum over all evaluated points, both endpoints included, so barrier_linear and "
    "barrier_subsegment are never negative (0 means no barrier) and barrier_endpoint_mean is at least half the "
    "gap between the two endpoint values."
)
SPLITS = ("dev", "test", "train")
SPLIT_FIELDS = ("performance", "loss", "scores")
FLOAT_FORMAT = "{:.4f}"  # result.csv number format, as the original's pandas float_format="%.4f"


# ----------------------------------------------------------------------------------------------------- records


def _finite(value, what: str) -> float:
    try:
        out = float(value)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{what} must be a number, got {value!r}") from exc
    if not math.isfinite(out):
        raise ValueError(f"{what} must be finite, got {out}")
    return out


def point_record(x: float, splits: dict[str, dict]) -> dict:
    """Validated record of one sweep point: {"x": round(x, 3), "splits": {split: {performance, loss, scores}}}."""
    x = round(_finite(x, "x"), 3)
    if not isinstance(splits, dict) or not splits:
        raise ValueError(f"point x={x}: splits must be a non-empty dict")
    out = {}
    for split, values in splits.items():
        if split not in SPLITS:
            raise ValueError(f"point x={x}: unknown split {split!r} (expected one of {SPLITS})")
        if not isinstance(values, dict) or set(values) != set(SPLIT_FIELDS):
            got = sorted(values) if isinstance(values, dict) else type(values).__name__
            raise ValueError(f"point x={x}, split {split!r}: expected keys {list(SPLIT_FIELDS)}, got {got}")
        out[split] = {
            "performance": _finite(values["performance"], f"x={x} {split} performance"),
            "loss": _finite(values["loss"], f"x={x} {split} loss"),
            "scores": [_finite(s, f"x={x} {split} score") for s in values["scores"]],
        }
    return {"x": x, "splits": out}


def _normalize(records: list[dict]) -> list[dict]:
    """Re-validate records, sort them by x and check that x is strictly increasing and splits are uniform."""
    if not records:
        raise ValueError("no point records")
    out = []
    for rec in records:
        if not isinstance(rec, dict) or set(rec) != {"x", "splits"}:
            raise ValueError(f"a point record must be {{'x': ..., 'splits': ...}}, got {rec!r}")
        out.append(point_record(rec["x"], rec["splits"]))
    out.sort(key=lambda r: r["x"])
    for prev, cur in zip(out, out[1:], strict=False):
        if cur["x"] == prev["x"]:
            raise ValueError(f"two points share x={cur['x']} (after rounding to 3 decimals)")
    first = set(out[0]["splits"])
    for rec in out:
        if set(rec["splits"]) != first:
            raise ValueError(
                f"every point must hold the same splits: x={out[0]['x']} has {sorted(first)}, "
                f"x={rec['x']} has {sorted(rec['splits'])}"
            )
    return out


def _series(records: list[dict], split: str, field: str) -> list:
    return [rec["splits"][split][field] for rec in records]


# ---------------------------------------------------------------------------------------------------- barriers


def _hull_gaps(xs: list[float], vs: list[float]) -> list[float]:
    """Per point, how far it lies below the upper concave envelope of all points (0 on the envelope)."""
    hull: list[int] = []  # indices of the upper hull, left to right (monotone chain; xs are sorted)
    for k in range(len(xs)):
        while len(hull) >= 2:
            i, j = hull[-2], hull[-1]
            # drop j when it lies on or below the chord i -> k
            cross = (xs[j] - xs[i]) * (vs[k] - vs[i]) - (vs[j] - vs[i]) * (xs[k] - xs[i])
            if cross >= 0:
                hull.pop()
            else:
                break
        hull.append(k)
    gaps = [0.0] * len(xs)
    for a, b in zip(hull, hull[1:], strict=False):
        for k in range(a + 1, b):
            t = (xs[k] - xs[a]) / (xs[b] - xs[a])
            gaps[k] = ((1 - t) * vs[a] + t * vs[b]) - vs[k]
    return gaps


def barriers(xs: Sequence[float], values: Sequence[float], higher_is_better: bool) -> dict[str, float]:
    """Barrier heights of a sweep (positive = worse than the reference): endpoint-mean, linear and sub-segment.

    barrier_endpoint_mean: max over points of the deviation from the mean of the two endpoint values (Frankle et al.
    2020); barrier_linear: max deviation from the straight line joining the endpoint values (Entezari et al. 2022);
    barrier_subsegment: max over all pairs i < j and all i <= k <= j of the deviation of point k from the line
    joining points i and j (Juneja et al. 2023). "Deviation" is reference - value when higher is better and
    value - reference otherwise. The raw maxima are reported (no clamping); because the endpoints are among the
    points, barrier_linear and barrier_subsegment are >= 0, barrier_subsegment >= barrier_linear and
    barrier_endpoint_mean >= |v_first - v_last| / 2. The sub-segment maximum equals the largest gap below the upper
    concave envelope of the points, computed here in O(n) with a monotone-chain hull.
    """
    if len(xs) != len(values):
        raise ValueError(f"{len(xs)} x values but {len(values)} values")
    if len(xs) < 2:
        raise ValueError(f"barriers need at least 2 points, got {len(xs)}")
    xs = [_finite(x, "x") for x in xs]
    sign = 1.0 if higher_is_better else -1.0
    vs = [sign * _finite(v, "value") for v in values]  # oriented so that higher is better
    for a, b in zip(xs, xs[1:], strict=False):
        if not b > a:
            raise ValueError(f"xs must be strictly increasing, got {a} then {b}")
    v0, v1 = vs[0], vs[-1]
    mean_ref = (v0 + v1) / 2
    span = xs[-1] - xs[0]
    linear = []
    for x, v in zip(xs, vs, strict=True):
        t = (x - xs[0]) / span
        linear.append(((1 - t) * v0 + t * v1) - v)
    return {
        "barrier_endpoint_mean": max(mean_ref - v for v in vs),
        "barrier_linear": max(linear),
        "barrier_subsegment": max(_hull_gaps(xs, vs)),
    }


# --------------------------------------------------------------------------------------------------- summaries


def _extremes(xs: list[float], vs: list[float], higher_is_better: bool) -> dict:
    best = max(range(len(vs)), key=lambda k: vs[k] if higher_is_better else -vs[k])
    worst = min(range(len(vs)), key=lambda k: vs[k] if higher_is_better else -vs[k])
    return {
        "endpoints": [vs[0], vs[-1]],
        "worst": {"x": xs[worst], "value": vs[worst]},
        "best": {"x": xs[best], "value": vs[best]},
        "mean": sum(vs) / len(vs),
        **barriers(xs, vs, higher_is_better),
    }


def summarize(records: list[dict], prefix: str, metric: str) -> dict:
    """The summary.json content: per split, endpoints, worst/best point, mean and barriers of performance and loss."""
    records = _normalize(records)
    xs = [rec["x"] for rec in records]
    splits = {}
    for split in SPLITS:
        if split not in records[0]["splits"]:
            continue
        splits[split] = {
            "performance": _extremes(xs, _series(records, split, "performance"), higher_is_better=True),
            "loss": _extremes(xs, _series(records, split, "loss"), higher_is_better=False),
        }
    return {
        "prefix": prefix,
        "metric": metric,
        "points": len(records),
        "sign_convention": SIGN_CONVENTION,
        "splits": splits,
    }


# ------------------------------------------------------------------------------------------ per-example changes


def _changes(prev: list[float] | None, cur: list[float]) -> dict[str, list[int]]:
    """Example indices scored 0 / 1 at this point, and those that went up / reached 1 / went down / dropped to 0.

    At the first point (`prev` None) the previous scores are zeros, as in the original: up_list holds every
    example scored above 0 and up_to_one every example scored 1.
    """
    if prev is None:
        prev = [0.0] * len(cur)
    if len(prev) != len(cur):
        raise ValueError(f"per-example scores change length along the path: {len(prev)} then {len(cur)}")
    pairs = list(enumerate(zip(prev, cur, strict=True)))
    return {
        "zero_list": [i for i, s in enumerate(cur) if s == 0],
        "one_list": [i for i, s in enumerate(cur) if s == 1],
        "up_list": [i for i, (p, s) in pairs if s > p],
        "up_to_one": [i for i, (p, s) in pairs if s == 1 and p < 1],
        "down_list": [i for i, (p, s) in pairs if s < p],
        "down_to_zero": [i for i, (p, s) in pairs if s == 0 and p > 0],
    }


def _walk(records: list[dict], split: str) -> list[tuple[float, int, dict[str, list[int]]]]:
    """(x, number of examples, changes vs the previous point) for every point of `split`, in x order."""
    out = []
    prev = None
    for rec in records:
        cur = rec["splits"][split]["scores"]
        out.append((rec["x"], len(cur), _changes(prev, cur)))
        prev = cur
    return out


def forgetting_lists(records: list[dict], split: str, *, changes: bool = True) -> dict[str, dict[str, list[int]]]:
    """The *_data_analysis.json content: {str(x): {zero_list, one_list, up_list, down_list}} for one split.

    At the first point the previous scores count as zeros (the original's rule), so up_list holds every example
    scored above 0 and down_list is empty. With changes=False (the itp_on_train layout) only zero_list and
    one_list are kept.
    """
    records = _normalize(records)
    if split not in records[0]["splits"]:
        raise ValueError(f"split {split!r} is not in the records (have {sorted(records[0]['splits'])})")
    keys = ("zero_list", "one_list", "up_list", "down_list") if changes else ("zero_list", "one_list")
    return {str(x): {k: lists[k] for k in keys} for x, _, lists in _walk(records, split)}


# --------------------------------------------------------------------------------------------------- file texts


def _fmt(value: float | None) -> str:
    return "" if value is None else FLOAT_FORMAT.format(value)


def _mean(values: list[float]) -> float:
    return sum(values) / len(values)


def _result_rows(records: list[dict], prefix: str, metric: str, primary: str) -> list[list[str]]:
    columns = {"dev": primary, "test": "test"}
    present = {col: split in records[0]["splits"] for col, split in columns.items()}
    rows = []
    for rec in records:
        row = [prefix, metric, _fmt(rec["x"])]
        for col, split in columns.items():
            values = rec["splits"].get(split) if present[col] else None
            row += [_fmt(values["performance"]), _fmt(values["loss"])] if values else ["", ""]
        rows.append(row)
    average = ["average", metric, _fmt(_mean([rec["x"] for rec in records]))]
    for col, split in columns.items():
        if present[col]:
            average += [
                _fmt(_mean(_series(records, split, "performance"))),
                _fmt(_mean(_series(records, split, "loss"))),
            ]
        else:
            average += ["", ""]
    rows.append(average)
    return rows


def _data_analyze_text(records: list[dict], primary: str, itp_on_train: bool) -> str:
    walks = {split: _walk(records, split) for split in (primary, "test") if split in records[0]["splits"]}
    lines = []
    for k in range(len(records)):
        for split, walk in walks.items():
            x, n, lists = walk[k]
            lines.append(f"total number of data is {n} ")
            if split == "train":
                lines.append(f"TEST ON TRAIN: round x = {x}, in dev_data: ")
            elif split == "dev":
                lines.append(f"DEV: round x = {x}, in dev_data: ")
            else:
                lines.append(f"TEST: round x = {x}, in test_data: ")
            lines.append(f"zero_list_num: {len(lists['zero_list'])}")
            lines.append(f"one_list_num: {len(lists['one_list'])}")
            if not (itp_on_train and split == primary):
                lines.append(f"up_list_num: {len(lists['up_list'])}")
                lines.append(f"up_to_one_num: {len(lists['up_to_one'])}")
                lines.append(f"down_list_num: {len(lists['down_list'])}")
                lines.append(f"down_to_zero_num: {len(lists['down_to_zero'])}")
            lines.append("")
    return "\n".join(lines) + "\n"


def _better_than_endpoints(records: list[dict], split: str) -> list[float]:
    perf = _series(records, split, "performance")
    return [rec["x"] for rec, p in zip(records, perf, strict=True) if p > perf[0] and p > perf[-1]]


def _solution_text(records: list[dict], primary: str) -> str:
    have = records[0]["splits"]
    label = "train" if primary == "train" else "valid"
    lines = []
    better = {}
    for split, name in ((primary, label), ("test", "test")):
        if split in have:
            better[split] = _better_than_endpoints(records, split)
            lines.append(f"better {name} number: {len(better[split])}, which are {better[split]} ")
    if primary in have and "test" in have:
        both = [x for x in better[primary] if x in set(better["test"])]
        lines.append(f"better {label} & test number: {len(both)}, which are {both} ")
    lines.append("")
    if primary in have:
        perf = _series(records, primary, "performance")
        best = max(range(len(perf)), key=perf.__getitem__)  # first point with the highest value
        lines.append(f"best {label} performance: {perf[best]} ")
        lines.append(f"best {label} x: {records[best]['x']} ")
    for split, name in ((primary, label), ("test", "test")):
        if split in have:
            lines.append(f"average {name} performance: {_mean(_series(records, split, 'performance'))} ")
            lines.append(f"average {name} loss: {_mean(_series(records, split, 'loss'))} ")
    return "\n".join(lines) + "\n\n"


def _plot(records: list[dict], metric: str, path: Path, prefix: str, info: PathInfo, line) -> Path:
    from module.plotting import plot_sweep

    splits = [s for s in SPLITS if s in records[0]["splits"]]
    xs = {s: [rec["x"] for rec in records] for s in splits}
    perf = {s: _series(records, s, "performance") for s in splits}
    loss = {s: _series(records, s, "loss") for s in splits}
    return plot_sweep(xs, perf, loss, metric, path, prefix=prefix, info=info, line=line)


def _inferred_path_info(out_dir: Path, extra_summary: dict | None) -> PathInfo:
    """What the figure shows when the caller did not say: endpoint names from the folder's sweep.json (θ1 / θ2
    without one), a curve when `extra_summary` has curve_type and bend_num (as curve_find.py's)."""
    from module.plotting import PathInfo

    extra = extra_summary or {}
    kind, bends = "line", None
    if extra.get("curve_type") in ("bezier", "polychain"):
        kind = extra["curve_type"]
        bends = extra.get("bend_num") if isinstance(extra.get("bend_num"), int) and extra["bend_num"] >= 1 else None
    try:
        endpoints = json.loads((out_dir / "sweep.json").read_text())["endpoints"]
        return PathInfo.from_paths(endpoints[0]["path"], endpoints[1]["path"], kind=kind, bends=bends)
    except (OSError, ValueError, KeyError, IndexError, TypeError):
        return PathInfo(kind=kind, bends=bends)


# -------------------------------------------------------------------------------------------------- the writer


def write_sweep_files(
    out_dir: str | Path,
    records: list[dict],
    prefix: str,
    metric: str,
    itp_on_train: bool = False,
    plot: bool = True,
    extra_summary: dict | None = None,
    path_info: PathInfo | None = None,
) -> dict[str, Path]:
    """Write every output file of a sweep into `out_dir`, each atomically; returns {file name: path}.

    All contents are computed (and the JSON rendered) before the first file is written, so invalid input leaves
    `out_dir` untouched. Files: result.csv, data_analyze.txt, valid_data_analysis.json (dev, or train with
    itp_on_train: zero/one lists only), test_data_analysis.json (when test is present and not itp_on_train),
    solution_analysis.txt, summary.json (merged with `extra_summary`, whose keys must not clash) and interpolation.png.

    `path_info` (module.plotting.PathInfo) says what the figure shows: endpoint names, path kind, majority class;
    without it they are inferred (`_inferred_path_info`). For a curve, the straight-line sweep between the same
    endpoints is overlaid when `path_info.line_result` names it or `out_dir/line/result.csv` exists.
    """
    out_dir = Path(out_dir)
    records = _normalize(records)
    have = records[0]["splits"]
    primary = "train" if itp_on_train else "dev"
    if itp_on_train and "train" not in have:
        raise ValueError(f"itp_on_train needs records with a 'train' split (have {sorted(have)})")

    summary = summarize(records, prefix, metric)
    clash = set(extra_summary or {}) & set(summary)
    if clash:
        raise ValueError(f"extra_summary keys clash with the summary's own keys: {sorted(clash)}")
    summary.update(extra_summary or {})

    texts: dict[str, str] = {}
    texts["data_analyze.txt"] = _data_analyze_text(records, primary, itp_on_train)
    if primary in have:
        texts["valid_data_analysis.json"] = json.dumps(forgetting_lists(records, primary, changes=not itp_on_train))
    if "test" in have and not itp_on_train:
        texts["test_data_analysis.json"] = json.dumps(forgetting_lists(records, "test"))
    texts["solution_analysis.txt"] = _solution_text(records, primary)
    texts["summary.json"] = json.dumps(summary, indent=2) + "\n"
    rows = _result_rows(records, prefix, metric, primary)
    if plot:  # read the straight line to overlay before writing anything (a bad --line_result raises here)
        from module.plotting import find_line_sweep

        info = path_info or _inferred_path_info(out_dir, extra_summary)
        line = find_line_sweep(out_dir, info.line_result, metric) if info.is_curve else None

    written = {"result.csv": atomic_write_csv(out_dir / "result.csv", RESULT_FIELDS, rows)}
    for name, text in texts.items():
        written[name] = atomic_write_text(out_dir / name, text)
    if plot:
        written["interpolation.png"] = _plot(records, metric, out_dir / "interpolation.png", prefix, info, line)
    return written
