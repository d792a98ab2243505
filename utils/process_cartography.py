"""Which training examples are forgotten first along an interpolation path, and what their data maps say.

    python utils/process_cartography.py --cartography_path C --analysis_path A --save_path S

C is the ``cartography.json`` written by ``tune_singletask.py --cartography``:
``{"<index>": {"acc": [0/1 per epoch], "confidence": [gold-label probability per epoch]}}``. Per example, as in the
original: correctness = mean(acc), confidence = mean(confidence), variability = std(confidence) (population std,
ddof=0, which is what the original's ``np.std`` computes; the original's output calls it "variance"), turn = number
of epochs whose acc differs from the previous epoch's.

A is the ``valid_data_analysis.json`` of an interpolation sweep evaluated on the training data:
``{"<x>": {"zero_list": [indices answered wrongly at x], "one_list": [...], ...}}``. The points x are taken in
numeric order (the original took the file's order). At each x the *newly forgotten* examples are those in x's
``zero_list`` that were not in the previous point's ``zero_list`` (at the first point: its whole ``zero_list``;
an index listed twice counts once). Indices are looked up by key in C (the original used list positions, the same
thing for files written with keys 0..N-1).

One record per x: ``from`` (previous x, ``start`` at the first point, as in the original), ``to`` (x),
``newly_forgotten`` (count) and the mean ``correctness``, ``confidence``, ``variability`` and ``turn`` of the newly
forgotten examples, summed in zero_list order and divided by the count, as the original did (so the digits agree).
Both files are written atomically, after every input has been checked:

* S: the original's text, one block per record, blocks separated by a blank line::

      this is from interpolation point start ===> 0.0
      total number of newly forgotten examples: 1
      average correctness is: 0.3333333333333333
      average confidence is: 0.4000000000000001
      average variance is: 0.1632993161855452
      average turn is: 2.0

  numbers as Python prints them (``str``), 0.0 for the means of an empty set, as the original;
* S.tsv: the same records as a tab-separated table with a header line; means of an empty set are ``-``.

An S ending in ``.json`` gets the records as a JSON list instead of the text (means of an empty set ``null``).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Mapping
from pathlib import Path

from module.cli import OneLineParser, positive_int, run_cli
from module.files import atomic_write_json, atomic_write_text
from module.knowledge_change import ORDERS, event_points, example_statistics, group_rows

FIELDS = ("from", "to", "newly_forgotten", "correctness", "confidence", "variability", "turn")
MEANS = ("correctness", "confidence", "variability", "turn")


def load_json(path: str | Path, what: str):
    """Parse a JSON file; a missing or malformed file is one line naming it."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{what} file not found: {path}")
    def no_repeats(pairs):
        keys = [k for k, _ in pairs]
        repeated = next((k for k in keys if keys.count(k) > 1), None)
        if repeated is not None:
            raise ValueError(f"{path}: key {repeated!r} appears twice in one object")
        return dict(pairs)

    try:
        return json.loads(path.read_text(encoding="utf-8"), object_pairs_hook=no_repeats)
    except json.JSONDecodeError as e:
        raise ValueError(f"{path}: malformed JSON ({e.msg} at line {e.lineno} column {e.colno})") from None
    except UnicodeDecodeError:
        raise ValueError(f"{path}: malformed JSON (not UTF-8 text)") from None


def _index(value, where: str) -> str:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError(f"{where}: index {value!r} is not an integer or string")
    if isinstance(value, float):
        if not value.is_integer():
            raise ValueError(f"{where}: index {value!r} is not an integer")
        value = int(value)
    return str(value).strip()


def analysis_lists(analysis: Mapping, source: str = "analysis") -> list[tuple[str, list[str], list[str]]]:
    """(x, zero_list, one_list as index strings without repeats) for every point, in numeric order of x."""
    if not isinstance(analysis, Mapping):
        raise ValueError(f"{source}: expected a JSON object of x -> {{'zero_list': [...], ...}}")
    points = []
    for key, entry in analysis.items():
        try:
            x = float(key)
        except ValueError:
            x = math.nan
        if not math.isfinite(x):
            raise ValueError(f"{source}: interpolation point {key!r} is not a finite number")
        if not isinstance(entry, Mapping) or not isinstance(entry.get("zero_list"), list):
            raise ValueError(f"{source}: point {key!r} has no 'zero_list' list")
        if not isinstance(entry.get("one_list", []), list):
            raise ValueError(f"{source}: point {key!r} has a one_list that is not a list")
        zeros = dict.fromkeys(_index(i, f"{source}: point {key!r}") for i in entry["zero_list"])
        ones = dict.fromkeys(_index(i, f"{source}: point {key!r}") for i in entry.get("one_list", []))
        points.append((x, str(key), list(zeros), list(ones)))
    points.sort(key=lambda p: (p[0], p[1]))
    for (x, key, *_), (y, other, *_) in zip(points, points[1:], strict=False):
        if x == y:
            raise ValueError(f"{source}: interpolation points {key!r} and {other!r} are the same x")
    return [(key, zeros, ones) for _, key, zeros, ones in points]


def analysis_points(analysis: Mapping, source: str = "analysis") -> list[tuple[str, list[str]]]:
    """(x, zero_list as index strings without repeats) for every point, in numeric order of x."""
    return [(key, zeros) for key, zeros, _ in analysis_lists(analysis, source)]


def running_mean(values: list[float]) -> float:
    """Sum left to right, then divide by the count: the original's arithmetic, digit for digit."""
    total = 0.0
    for value in values:
        total += value
    return total / len(values)


def forgetting_statistics(cartography: Mapping, analysis: Mapping,
                          sources: tuple[str, str] = ("cartography", "analysis")) -> list[dict]:
    """One record per interpolation point: from, to, newly_forgotten and the means (None when none forgotten)."""
    stats = example_statistics(cartography, sources[0])
    points = analysis_points(analysis, sources[1])  # checks the analysis' shape first
    check_same_examples(cartography, analysis, sources)
    rows = []
    previous_key, previous = "start", set()
    for key, zeros in points:
        new = [i for i in zeros if i not in previous]
        for i in new:
            if i not in stats:
                raise ValueError(f"index {i} in zero_list at x={key} of {sources[1]} is not in {sources[0]}")
        row = {"from": previous_key, "to": key, "newly_forgotten": len(new)}
        for field in MEANS:
            row[field] = running_mean([stats[i][field] for i in new]) if new else None
        rows.append(row)
        previous_key, previous = key, set(zeros)
    return rows


def check_same_examples(cartography: Mapping, analysis: Mapping,
                        sources: tuple[str, str] = ("cartography", "analysis")) -> None:
    """The analysis must cover exactly the cartography's examples: every index it names, over all points (in
    zero_list or one_list), is one of them, and together they are all of them (an --itp_on_train sweep scores
    every training example 0 or 1 at every point)."""
    seen = set()
    for key, entry in analysis.items():
        for name in ("zero_list", "one_list"):
            values = entry.get(name, []) if isinstance(entry, Mapping) else []
            if not isinstance(values, list):
                raise ValueError(f"{sources[1]}: point {key!r} has a {name} that is not a list")
            seen |= {_index(i, f"{sources[1]}: point {key!r}") for i in values}
    keys = {str(k) for k in cartography}
    if seen != keys:
        extra = sorted(seen - keys, key=lambda i: (len(i), i))
        detail = (f"index {extra[0]} is not in the cartography" if extra else
                  f"{len(keys - seen)} of its examples never appear")
        raise ValueError(f"{sources[1]} covers {len(seen)} examples, {sources[0]} has {len(keys)} ({detail}): "
                         "expected an --itp_on_train sweep of the same training data")


def check_sweep_on_train(analysis_path: str | Path) -> None:
    """When the analysis file sits in a sweep folder, that sweep must have run on the training data."""
    settings_path = Path(analysis_path).parent / "sweep.json"
    if not settings_path.is_file():
        return
    try:
        settings = json.loads(settings_path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise ValueError(f"{settings_path}: malformed JSON") from None
    if isinstance(settings, Mapping) and settings.get("itp_on_train") is False:
        raise ValueError(f"{analysis_path}: its sweep ({settings_path}) ran on dev/test data, not with "
                         "--itp_on_train; the forgetting analysis needs the training data")


def _cell(value) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""  # an empty cell: pandas and spreadsheets read it as missing, the column stays numeric
    return str(value)


def format_table(rows: list[Mapping]) -> str:
    """Tab-separated table with a header line; missing means are empty cells."""
    lines = ["\t".join(FIELDS)] + ["\t".join(_cell(r[f]) for f in FIELDS) for r in rows]
    return "\n".join(lines) + "\n"


def _block_number(value) -> str:
    return "0.0" if value is None else str(float(value))


def format_original(rows: list[Mapping]) -> str:
    """The original's text: one six-line block per record, each followed by a blank line."""
    blocks = []
    for r in rows:
        blocks.append(f"this is from interpolation point {r['from']} ===> {r['to']}\n"
                      f"total number of newly forgotten examples: {r['newly_forgotten']}\n"
                      f"average correctness is: {_block_number(r['correctness'])}\n"
                      f"average confidence is: {_block_number(r['confidence'])}\n"
                      f"average variance is: {_block_number(r['variability'])}\n"
                      f"average turn is: {_block_number(r['turn'])}\n\n")
    return "".join(blocks)


def table_path(save_path: str | Path) -> Path:
    """Where the table goes: beside the text, `<save_path>.tsv`."""
    save_path = Path(save_path)
    return save_path.with_name(save_path.name + ".tsv")


def check_targets(save_path: str | Path) -> list[Path]:
    """The two output files; a folder in the way of either is an error before anything is written."""
    targets = [Path(save_path), table_path(save_path)]
    for target in targets:
        if target.is_dir():
            raise ValueError(f"--save_path: {target} is a folder, expected a file name")
    return targets


GROUP_FIELDS = ("group", "examples", "x_first", "x_last", "correctness", "confidence", "variability", "turn")


def knowledge_groups(cartography: Mapping, analysis: Mapping, groups: int, order: str,
                     sources: tuple[str, str] = ("cartography", "analysis")) -> list[dict]:
    """The forgotten (or learned) examples of the path in `groups` groups in the order it forgets (learns) them
    (module.knowledge_change), each with its size, its first and last point and its mean statistics."""
    stats = example_statistics(cartography, sources[0])
    points = analysis_lists(analysis, sources[1])
    check_same_examples(cartography, analysis, sources)
    events = event_points(points, order)
    return group_rows(events, stats, [x for x, _, _ in points], groups, order)


def format_groups(rows: list[Mapping], order: str) -> str:
    """The groups as text blocks in the original's style, each followed by a blank line."""
    return "".join(f"this is group {r['group']} (interpolation points {r['x_first']} ===> {r['x_last']})\n"
                   f"total number of {order} examples: {r['examples']}\n"
                   + "".join(f"average {'variance' if k == 'variability' else k} is: {r[k]}\n"
                             for k in ("correctness", "confidence", "variability", "turn")) + "\n" for r in rows)


def main(argv: list[str] | None = None) -> int:
    """Entry point: check both inputs, then write the text and the table."""
    parser = OneLineParser(description=__doc__.split("\n\n")[0],
                           formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cartography_path", required=True, help="cartography.json (per-example acc/confidence)")
    parser.add_argument("--analysis_path", required=True, help="valid_data_analysis.json of a sweep on train data")
    parser.add_argument("--save_path", required=True,
                        help="output: the original's text blocks (a JSON list if the name ends in .json); the same "
                             "numbers as a table go to <save_path>.tsv")
    parser.add_argument("--groups", type=positive_int, default=None,
                        help="instead of one record per point: the examples the path forgets (--order) in N groups "
                             "of nearly equal size, in the order it forgets them (the paper's F1..F5; a point's "
                             "examples are never split)")
    parser.add_argument("--order", choices=ORDERS, default="forgotten",
                        help="with --groups: forgotten (right at the first point, wrong at the last; by the first "
                             "point where wrong) or learned (wrong at the first, right at the last; by the first "
                             "point where right: the paper's M1..M5)")
    args = parser.parse_args(argv)

    text_file, tsv_file = check_targets(args.save_path)
    cartography = load_json(args.cartography_path, "cartography")
    analysis = load_json(args.analysis_path, "analysis")
    check_sweep_on_train(args.analysis_path)
    sources = (args.cartography_path, args.analysis_path)
    if args.groups is None:
        rows = forgetting_statistics(cartography, analysis, sources)
        table, text = format_table(rows), format_original(rows)
    else:
        rows = knowledge_groups(cartography, analysis, args.groups, args.order, sources)
        lines = ["\t".join(GROUP_FIELDS)] + ["\t".join(str(r[f]) for f in GROUP_FIELDS) for r in rows]
        table, text = "\n".join(lines) + "\n", format_groups(rows, args.order)
    atomic_write_text(tsv_file, table)
    if text_file.suffix == ".json":
        atomic_write_json(text_file, rows)
    else:
        atomic_write_text(text_file, text)
    print(table, end="")
    print(f"saved to {text_file} (the table: {tsv_file})")
    return 0


def cli() -> int:
    """Console entry point (pyproject.toml): `main` with one-line errors."""
    return run_cli(main)


if __name__ == "__main__":
    sys.exit(cli())
