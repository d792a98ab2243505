"""Task folders in the original TSV format: `data/<task>/<task>_{train,dev,test}.tsv`."""

from __future__ import annotations

import difflib
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

SPLITS = ("train", "dev", "test")


class DataFormatError(ValueError):
    """A task folder or TSV file that does not follow the task format (data/README.md)."""


@dataclass(frozen=True)
class Example:
    """One line of a task file: the verbalised input and its acceptable answers."""

    input: str
    answers: tuple[str, ...]
    line: int = field(default=0, compare=False)  # its line in the file (1-based; 0: not read from a file)


def task_name(task_dir: str | Path) -> str:
    """The task's name is the base name of its folder as given (a symlink's own name, not its target's)."""
    return Path(os.path.abspath(task_dir)).name


def check_task_dir(task_dir: str | Path, what: str = "--task_dir") -> Path:
    """The task folder, or DataFormatError: it does not exist (naming close matches beside it) or is a file."""
    path = Path(task_dir)
    if path.is_dir():
        return path
    parent = path.parent if path.parent.is_dir() else None
    siblings = sorted(p.name for p in parent.iterdir() if p.is_dir()) if parent else []
    close = difflib.get_close_matches(path.name, siblings, n=3, cutoff=0.6)
    hint = f"; close matches under {parent}/: {', '.join(close)}" if close else (
        f"; {parent}/ holds: {', '.join(siblings[:8])}" if siblings else "")
    raise DataFormatError(f"{what} {task_dir}: task folder not found{hint}")


def split_path(task_dir: str | Path, split: str, override: str | None = None) -> Path:
    """Path of one split's file: `<task_dir>/<task>_<split>.tsv`, unless `override` names another file."""
    if override:
        return Path(override)
    return Path(task_dir) / f"{task_name(task_dir)}_{split}.tsv"


def text_lines(path: Path) -> Iterator[tuple[int, str]]:
    """(line number, line without its newline) of a UTF-8 text file; DataFormatError naming the file and line
    of the first byte that is not UTF-8."""
    with path.open("rb") as handle:
        for number, raw in enumerate(handle, start=1):
            try:
                yield number, raw.decode("utf-8").rstrip("\r\n")
            except UnicodeDecodeError as exc:
                raise DataFormatError(f"{path}:{number}: not UTF-8 text (byte {raw[exc.start]:#04x} at "
                                      f"column {exc.start + 1}); save the file as UTF-8") from None


def read_tsv(path: str | Path) -> list[Example]:
    """Read `input<TAB>answer1[<TAB>answer2 ...]` lines; any malformed line stops with file and line number."""
    path = Path(path)
    if not path.is_file():
        raise DataFormatError(f"{path}: file not found (expected a task file <task>_<split>.tsv)")
    examples = []
    for number, line in text_lines(path):
            if not line.strip():
                continue
            fields = line.split("\t")
            if len(fields) < 2:
                raise DataFormatError(f"{path}:{number}: expected 'input<TAB>answer', found no tab")
            answers = tuple(a.strip() for a in fields[1:] if a.strip())
            if not fields[0].strip() or not answers:
                raise DataFormatError(f"{path}:{number}: expected a non-empty input and at least one answer")
            examples.append(Example(fields[0].strip(), answers, number))
    if not examples:
        raise DataFormatError(f"{path}: no examples (the split is empty)")
    if is_header(examples):
        first = examples[0]
        raise DataFormatError(f"{path}:{first.line}: looks like a header row ({first.input!r} / {first.answers[0]!r}: "
                              f"its answer is on no other line, whose answers are "
                              f"{sorted({e.answers[0] for e in examples[1:]})}); delete that line")
    return examples


def is_header(examples: list[Example], at_least: int = 8) -> bool:
    """True when the first row of a classification file is a header: its answer occurs on no other line, while every
    other answer (at most 50 of them) occurs at least twice."""
    if len(examples) < at_least:
        return False
    counts: dict[str, int] = {}
    for e in examples[1:]:
        counts[e.answers[0]] = counts.get(e.answers[0], 0) + 1
    return examples[0].answers[0] not in counts and len(counts) <= 50 and min(counts.values()) >= 2


def check_known_labels(examples: list[Example], labels: list[str], path: str | Path) -> None:
    """Every example's label must be one the training file has: DataFormatError naming the file, line and label."""
    known = set(labels)
    for e in examples:
        if e.answers[0] not in known:
            raise DataFormatError(f"{path}:{e.line}: label {e.answers[0]!r} is not among the training labels "
                                  f"{labels}")


def load_split(
    task_dir: str | Path,
    split: str,
    *,
    override: str | None = None,
    datasplit: str = "",
    choose_1000: bool = False,
) -> list[Example]:
    """Load one split with the original's selection rules (`--datasplit`, `--choose_*_1000`)."""
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; expected one of {SPLITS}")
    task_dir = Path(task_dir)
    if override is None and not task_dir.is_dir():
        raise DataFormatError(f"{task_dir}: task folder not found (expected data/<task>/<task>_train.tsv ...)")
    examples = read_tsv(split_path(task_dir, split, override))
    if split == "train" and datasplit:
        examples = data_half(examples, datasplit, f"{split_path(task_dir, split, override)}: too few examples for "
                                                  "--datasplit")
    if choose_1000:
        examples = examples[:1000]
    return examples


DATASPLITS = ("", "split1", "split2")


def data_half(examples: list[Example], datasplit: str, too_few: str) -> list[Example]:
    """The first ('split1') or second ('split2') half of `examples` in order, all of them for ''; `too_few` is the
    error when the half is empty."""
    if not datasplit:
        return examples
    half = len(examples) // 2
    examples = examples[:half] if datasplit == "split1" else examples[half:]
    if not examples:
        raise DataFormatError(too_few)
    return examples


def label_set(examples: list[Example], limit: int = 50) -> list[str]:
    """The distinct first answers of a classification task, in first-seen order."""
    labels = list(dict.fromkeys(e.answers[0] for e in examples))
    if len(labels) > limit:
        raise DataFormatError(f"expected a classification task with at most {limit} labels, found {len(labels)}")
    return labels
