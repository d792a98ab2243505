"""Writing task folders and the pre-training text folder, with their MANIFEST.json, and the up-to-date check.

Each folder is built in a ``.<name>.tmp-<pid>`` sibling and renamed into place only when complete
(module.files.atomic_folder); the manifest is written last.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path

from dataloader.text_rules import SPLITS, Split, normalise
from module.files import atomic_folder, atomic_write_json, atomic_write_text

FORMAT_VERSION = 1  # bump when a conversion rule changes: folders built by older rules are then rebuilt
TEXT_DIR = "pretrain_text"
CREATED_BY = "utils/prepare_data.py"


def _answers(answer) -> tuple[str, ...]:
    return (answer,) if isinstance(answer, str) else tuple(answer)


def _check_field(value, what: str) -> None:
    if not isinstance(value, str) or not value or normalise(value) != value:
        raise ValueError(f"{what}: {value!r:.80} is not a normalised non-empty one-line text")


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def split_counts(splits: Split, count_labels: bool = True) -> dict[str, dict]:
    """Per split: ``{"total": n, "labels": {label: n}}`` (labels only when ``count_labels``)."""
    counts = {}
    for split in SPLITS:
        rows = splits[split]
        entry: dict = {"total": len(rows)}
        if count_labels:
            entry["labels"] = dict(sorted(Counter("\t".join(_answers(a)) for _, a in rows).items()))
        counts[split] = entry
    return counts


def write_task(out_dir: str | Path, task: str, splits: Split, manifest: Mapping,
               count_labels: bool = True) -> Path:
    """Write ``<out_dir>/<task>/<task>_{train,dev,test}.tsv`` and, last, ``MANIFEST.json`` (the given manifest plus
    ``counts``, ``files`` and ``created``), in a temporary sibling folder renamed into place when complete."""
    missing = [s for s in SPLITS if not splits.get(s)]
    if missing:
        raise ValueError(f"{task}: split {', '.join(missing)} is empty")
    final = Path(out_dir) / task
    with atomic_folder(final) as tmp:
        for split in SPLITS:
            lines = []
            for number, (text, answer) in enumerate(splits[split], start=1):
                _check_field(text, f"{task} {split} example {number} input")
                answers = _answers(answer)
                if not answers:
                    raise ValueError(f"{task} {split} example {number}: no answer")
                for a in answers:
                    _check_field(a, f"{task} {split} example {number} answer")
                lines.append(text + "\t" + "\t".join(answers) + "\n")
            atomic_write_text(tmp / f"{task}_{split}.tsv", "".join(lines))
        full = {"task": task, **manifest}
        full["files"] = [f"{task}_{split}.tsv" for split in SPLITS]
        full["format"] = "one example per line: input<TAB>answer[<TAB>answer ...] (data/README.md)"
        full["counts"] = split_counts(splits, count_labels)
        full["created"] = _now()
        full["created_by"] = CREATED_BY
        atomic_write_json(tmp / "MANIFEST.json", full)
    return final


def write_text_corpus(out_dir: str | Path, lines: Sequence[str], manifest: Mapping) -> Path:
    """``<out_dir>/pretrain_text/corpus.txt`` and, last, its MANIFEST.json; same atomic folder rule as tasks."""
    if not lines:
        raise ValueError("the pre-training corpus is empty")
    final = Path(out_dir) / TEXT_DIR
    with atomic_folder(final) as tmp:
        for number, line in enumerate(lines, start=1):
            _check_field(line, f"corpus line {number}")
        atomic_write_text(tmp / "corpus.txt", "\n".join(lines) + "\n")
        full = dict(manifest)
        full["files"] = ["corpus.txt"]
        full["lines"] = len(lines)
        full["words"] = sum(len(line.split()) for line in lines)
        full["created"] = _now()
        full["created_by"] = CREATED_BY
        atomic_write_json(tmp / "MANIFEST.json", full)
    return final


def is_up_to_date(folder: str | Path, build: Mapping, files: Iterable[str]) -> bool:
    """True when ``folder/MANIFEST.json`` records ``build`` and every listed file is there."""
    folder = Path(folder)
    try:
        manifest = json.loads((folder / "MANIFEST.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return manifest.get("build") == build and all((folder / name).is_file() for name in files)
