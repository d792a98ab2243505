"""The text rules every source shares: normalisation, the NLI input, dedupe, the seeded split, sentence cutting,
``--max_train`` and the pre-training corpus filter. Functions take data and return data."""

from __future__ import annotations

import random
import re
from collections.abc import Iterable, Sequence

SEED = 42
SPLITS = ("train", "dev", "test")
NLI_LABELS = ("entailment", "neutral", "contradiction")

Split = dict[str, list[tuple[str, str | tuple[str, ...]]]]

_CONTROL = re.compile(r"[\x00-\x08\x0e-\x1b\x7f-\x84\x86-\x9f]")


def normalise(text) -> str:
    """One line of text: any white space (tab, CR, LF, NEL, U+2028, ...) becomes one space, other control
    characters are deleted, the ends are stripped. Non-strings (e.g. pandas' NaN) give ''."""
    if not isinstance(text, str):
        return ""
    return " ".join(_CONTROL.sub("", text).split())


def nli_input(premise: str, hypothesis: str) -> str:
    """The input of an NLI example: ``premise: <premise> [SEP] hypothesis: <hypothesis>``."""
    return f"premise: {premise} [SEP] hypothesis: {hypothesis}"


def dedupe(examples: Iterable[tuple[str, str]], stats: dict | None = None) -> list[tuple[str, str]]:
    """Keep the first example of each input text; count the dropped ones (and those whose label differed)."""
    first: dict[str, str] = {}
    kept = []
    duplicates = conflicting = 0
    for text, label in examples:
        if text in first:
            duplicates += 1
            conflicting += first[text] != label
            continue
        first[text] = label
        kept.append((text, label))
    if stats is not None:
        stats["duplicate_texts_dropped"] = duplicates
        stats["duplicates_with_another_label"] = conflicting
    return kept


def shuffle_split(examples: Sequence, seed: int = SEED) -> dict[str, list]:
    """Shuffle with random.Random(seed); test = last k, dev = the k before, train = the rest (k = max(1, n//10))."""
    if len(examples) < 3:
        raise ValueError(f"need at least 3 examples to split into train/dev/test, got {len(examples)}")
    order = list(examples)
    random.Random(seed).shuffle(order)
    k = max(1, len(order) // 10)
    n_train = len(order) - 2 * k
    return {"train": order[:n_train], "dev": order[n_train:n_train + k], "test": order[n_train + k:]}


def limit_train(splits: Split, max_train: int | None) -> Split:
    """The splits with only the first ``max_train`` training examples (all of them for None); dev/test unchanged."""
    if max_train is None:
        return splits
    return {**splits, "train": splits["train"][:max_train]}


def sentences(text: str) -> list[str]:
    """Cut text after . ! ? followed by white space, and at line breaks; normalised, empty pieces dropped."""
    pieces = re.split(r"(?<=[.!?])\s+|[\r\n\u2028\u2029\x85]+", text)
    return [p for p in (normalise(piece) for piece in pieces) if p]


def build_text_corpus(sources: Sequence[tuple[str, Iterable[str]]], exclude: Iterable[str] = ()
                      ) -> tuple[list[str], dict]:
    """Lines of the pre-training corpus from ``(source name, texts)`` in order: each text normalised, lines without
    a letter or digit dropped, lines in ``exclude`` (normalised dev/test texts) dropped, repeats kept once."""
    excluded = {normalise(t) for t in exclude}
    seen: set[str] = set()
    lines: list[str] = []
    stats = {"lines_per_source": {}, "dropped_as_dev_or_test_text": 0, "dropped_as_repeat": 0,
             "dropped_without_letter_or_digit": 0}
    for name, texts in sources:
        kept = 0
        for text in texts:
            line = normalise(text)
            if not any(ch.isalnum() for ch in line):
                stats["dropped_without_letter_or_digit"] += 1
            elif line in excluded:
                stats["dropped_as_dev_or_test_text"] += 1
            elif line in seen:
                stats["dropped_as_repeat"] += 1
            else:
                seen.add(line)
                lines.append(line)
                kept += 1
        stats["lines_per_source"][name] = kept
    return lines, stats
