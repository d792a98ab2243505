"""The hub tasks (``--source hub``): GLUE MNLI and SST-2, ANLI and SuperGLUE ReCoRD through the ``datasets``
library (not installed by this project): the reachability check, the converters, the build key and the manifest."""

from __future__ import annotations

import importlib.util
import os
import random
import urllib.error
import urllib.request
from collections.abc import Iterable, Mapping

from dataloader.task_folders import FORMAT_VERSION
from dataloader.text_rules import NLI_LABELS, SEED, Split, nli_input, normalise

HUB_DEV_SIZE = 1000
HUB_TIMEOUT = 5.0

HUB_TASKS: dict[str, tuple[str, str | None]] = {
    "glue-mnli": ("nyu-mll/glue", "mnli"),
    "glue-sst2": ("nyu-mll/glue", "sst2"),
    "anli": ("facebook/anli", None),
    "superglue-record": ("aps/super_glue", "record"),
}

SPLIT_RULES = {
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


def task_build(task: str, max_train: int | None) -> dict:
    """What a hub task folder depends on; a folder whose manifest records the same is up to date."""
    source = {"hub": HUB_TASKS[task][0], "config": HUB_TASKS[task][1]}
    rule = {"glue-mnli": {}, "anli": {}}.get(task, {"seed": SEED, "hub_dev_size": HUB_DEV_SIZE})
    return {"format": FORMAT_VERSION, "source": source, "rule": rule, "options": {"max_train": max_train}}


def task_manifest(task: str, source: dict, stats: dict, max_train: int | None) -> dict:
    """The MANIFEST.json entries of a hub task (write_task adds task, files, format, counts and created)."""
    return {"source": source, "split_rule": SPLIT_RULES[task].format(seed=SEED, dev=HUB_DEV_SIZE),
            "options": {"max_train": max_train, "seed": SEED}, "dropped": stats,
            "build": task_build(task, max_train),
            "note": "built by utils/prepare_data.py --source hub from the Hugging Face hub"}
