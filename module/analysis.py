"""Turn the point records of an interpolation sweep into its output files; model-independent (no torch).

A point record (`module.point_records`) is `{"x": round(x, 3), "splits": {split: {"performance", "loss",
"scores"}}}` where split is "dev", "test" or "train" (the latter when the sweep runs on training data,
`itp_on_train`). `write_sweep_files` writes the original code's files (`result.csv`, `data_analyze.txt`,
`valid_data_analysis.json`, `test_data_analysis.json`, `solution_analysis.txt`) plus `summary.json` (endpoints,
best/worst points, means and barriers, see `module.barriers`) and `interpolation.png`. The per-example lists come
from `module.forgetting`; `point_record` is importable from here too.
"""

from __future__ import annotations

import json
from pathlib import Path

from module.barriers import SIGN_CONVENTION, barriers
from module.files import atomic_write_csv, atomic_write_text
from module.forgetting import forgetting_lists, walk
from module.line_sweep import LineSweep, find_line_sweep
from module.path_info import PathInfo
from module.plotting import plot_sweep
from module.point_records import SPLITS, normalize_records, point_record, series

__all__ = ["FLOAT_FORMAT", "RESULT_FIELDS", "point_record", "summarize", "write_sweep_files"]

RESULT_FIELDS = ["prefix", "metric", "x", "dev_performance", "dev_loss", "test_performance", "test_loss"]
FLOAT_FORMAT = "{:.4f}"  # result.csv number format, as the original's pandas float_format="%.4f"


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
    records = normalize_records(records)
    xs = [rec["x"] for rec in records]
    splits = {}
    for split in SPLITS:
        if split not in records[0]["splits"]:
            continue
        splits[split] = {
            "performance": _extremes(xs, series(records, split, "performance"), higher_is_better=True),
            "loss": _extremes(xs, series(records, split, "loss"), higher_is_better=False),
        }
    return {
        "prefix": prefix,
        "metric": metric,
        "points": len(records),
        "sign_convention": SIGN_CONVENTION,
        "splits": splits,
    }


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
                _fmt(_mean(series(records, split, "performance"))),
                _fmt(_mean(series(records, split, "loss"))),
            ]
        else:
            average += ["", ""]
    rows.append(average)
    return rows


def _data_analyze_text(records: list[dict], primary: str, itp_on_train: bool) -> str:
    walks = {split: walk(records, split) for split in (primary, "test") if split in records[0]["splits"]}
    lines = []
    for k in range(len(records)):
        for split, steps in walks.items():
            x, n, lists = steps[k]
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
    perf = series(records, split, "performance")
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
        perf = series(records, primary, "performance")
        best = max(range(len(perf)), key=perf.__getitem__)  # first point with the highest value
        lines.append(f"best {label} performance: {perf[best]} ")
        lines.append(f"best {label} x: {records[best]['x']} ")
    for split, name in ((primary, label), ("test", "test")):
        if split in have:
            lines.append(f"average {name} performance: {_mean(series(records, split, 'performance'))} ")
            lines.append(f"average {name} loss: {_mean(series(records, split, 'loss'))} ")
    return "\n".join(lines) + "\n\n"


def _plot(records: list[dict], metric: str, path: Path, prefix: str, info: PathInfo,
          line: LineSweep | None) -> Path:
    splits = [s for s in SPLITS if s in records[0]["splits"]]
    xs = {s: [rec["x"] for rec in records] for s in splits}
    perf = {s: series(records, s, "performance") for s in splits}
    loss = {s: series(records, s, "loss") for s in splits}
    return plot_sweep(xs, perf, loss, metric, path, prefix=prefix, info=info, line=line)


def _inferred_path_info(out_dir: Path, extra_summary: dict | None) -> PathInfo:
    """What the figure shows when the caller did not say: endpoint names from the folder's sweep.json (θ1 / θ2
    without one), a curve when `extra_summary` has curve_type and bend_num (as curve_find.py's)."""
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

    `path_info` (module.path_info.PathInfo) says what the figure shows: endpoint names, path kind, majority class;
    without it they are inferred (`_inferred_path_info`). For a curve, the straight-line sweep between the same
    endpoints is overlaid when `path_info.line_result` names it or `out_dir/line/result.csv` exists.
    """
    out_dir = Path(out_dir)
    records = normalize_records(records)
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
        info = path_info or _inferred_path_info(out_dir, extra_summary)
        line = find_line_sweep(out_dir, info.line_result, metric) if info.is_curve else None

    written = {"result.csv": atomic_write_csv(out_dir / "result.csv", RESULT_FIELDS, rows)}
    for name, text in texts.items():
        written[name] = atomic_write_text(out_dir / name, text)
    if plot:
        written["interpolation.png"] = _plot(records, metric, out_dir / "interpolation.png", prefix, info, line)
    return written
