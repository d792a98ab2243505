"""The source readers and converters and the shared text rules, on small hand-made files in each source's format.

The builders of those files (snli_files, rt_csv_bz2, tweets_csv_latin1) are also used by tests/test_prepare_data.py.
"""

from __future__ import annotations

import bz2
import csv
import io
import json

import pytest

from dataloader.hub_tasks import convert_anli, convert_mnli, convert_record, convert_sst2
from dataloader.registry_converters import (
    convert_rotten_tomatoes,
    convert_snli,
    convert_tweets,
    read_rotten_tomatoes,
    read_tweets,
)
from dataloader.text_rules import SPLITS, build_text_corpus, normalise, sentences, shuffle_split

LABELS = ("entailment", "neutral", "contradiction")


# ----------------------------------------------------------------------------- files in each source's format
def snli_line(premise: str, hypothesis: str, label: str) -> str:
    return json.dumps({"sentence1": premise, "sentence2": hypothesis, "gold_label": label, "pairID": "x"})


def snli_files() -> tuple[list[str], list[str]]:
    train = [snli_line(f"Man {i} plays.", f"Someone {i} plays.", LABELS[i % 3]) for i in range(10)]
    train.insert(3, snli_line("Unlabeled premise.", "Unlabeled hypothesis.", "-"))
    train.insert(1, snli_line("A dog\truns\nfast.", "The cat is asleep.", "contradiction"))  # hypothesis also in test
    test = [snli_line(f"Test woman {i} sings.", f"Test person {i} sings.", LABELS[i % 3]) for i in range(4)]
    test.append(snli_line("Test unlabeled.", "Test unlabeled h.", "-"))
    test.append(snli_line("Test kid naps.", "The cat is asleep.", "neutral"))
    return train, test


def rt_csv_bz2() -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["category", "text", "movie_name", "has_plot_and_reviews"])
    writer.writerow(["plot", "A long plot summary\nwith a line break.", "m0", "True"])
    for i in range(12):
        writer.writerow(["fresh" if i % 2 else "rotten", f"Snippet number {i}, quite\tgood.", f"m{i}", "True"])
    writer.writerow(["fresh", "Snippet  number 0, quite good.", "dup", "True"])  # duplicate of row 0 once normalised
    writer.writerow(["plot", "Another plot.", "m1", "False"])
    return bz2.compress(buffer.getvalue().encode("utf-8"))


def tweets_csv_latin1() -> bytes:
    lines = ["sentiment,confidence,text"]
    for i in range(11):
        lines.append(f"{TWEET_LABELS[(2 * i) % 3]},0.5,tweet {i} about driverless cars")
    lines.append('positive,0.9,"caf\xe9 ride in a robot car"')
    lines.append("negative,0.8,tweet 0 about driverless cars")  # duplicate with another label: dropped
    return ("\r\n".join(lines) + "\r\n").encode("latin-1")


TWEET_LABELS = ("negative", "neutral", "positive")


# ----------------------------------------------------------------------------- helpers and conversions
def test_normalise_whitespace_and_control_characters():
    assert normalise("  a\tb\r\n c\u2028d\x85e\u00a0f  ") == "a b c d e f"
    assert normalise("x\x00y\x92z") == "xyz"  # non-space control characters are deleted
    assert normalise(float("nan")) == "" and normalise(None) == ""


def test_convert_snli_drops_unlabeled_and_holds_out_the_last_labelled_lines():
    train, test = snli_files()
    stats: dict = {}
    splits = convert_snli(train, test, dev_size=2, stats=stats)
    assert [len(splits[s]) for s in SPLITS] == [9, 2, 5]
    assert splits["train"][0] == ("premise: Man 0 plays. [SEP] hypothesis: Someone 0 plays.", "entailment")
    assert splits["train"][1] == ("premise: A dog runs fast. [SEP] hypothesis: The cat is asleep.", "contradiction")
    assert splits["dev"] == [("premise: Man 8 plays. [SEP] hypothesis: Someone 8 plays.", "contradiction"),
                             ("premise: Man 9 plays. [SEP] hypothesis: Someone 9 plays.", "entailment")]
    assert all("Unlabeled" not in text and "unlabeled" not in text for s in splits.values() for text, _ in s)
    assert stats["snli_1.0_train_subset.jsonl: unlabeled (gold_label -) dropped"] == 1
    assert stats["snli_1.0_test.jsonl: unlabeled (gold_label -) dropped"] == 1


def test_convert_snli_refuses_unknown_labels_and_bad_json():
    with pytest.raises(ValueError, match=r"snli_1.0_train_subset.jsonl:2: gold_label 'maybe'"):
        convert_snli([snli_line("a", "b", "neutral"), snli_line("a", "b", "maybe")], [], dev_size=0)
    with pytest.raises(ValueError, match=r"snli_1.0_test.jsonl:1: not a JSON line"):
        convert_snli([snli_line("a", "b", "neutral")], ["{oops"], dev_size=0)
    with pytest.raises(ValueError, match="need more than the 5 held out"):
        convert_snli([snli_line("a", "b", "neutral")], [], dev_size=5)


def test_convert_rotten_tomatoes_from_the_bz2_csv():
    rows = read_rotten_tomatoes(rt_csv_bz2())
    stats: dict = {}
    splits = convert_rotten_tomatoes(rows, stats=stats)
    assert [len(splits[s]) for s in SPLITS] == [10, 1, 1]
    examples = [ex for s in SPLITS for ex in splits[s]]
    assert sorted(examples) == sorted({(f"Snippet number {i}, quite good.", "positive" if i % 2 else "negative")
                                       for i in range(12)})
    assert stats == {"category plot dropped": 2, "duplicate_texts_dropped": 1, "duplicates_with_another_label": 1}
    import pandas as pd

    frame = pd.read_csv(io.BytesIO(rt_csv_bz2()), compression="bz2")
    assert convert_rotten_tomatoes(frame) == splits
    with pytest.raises(ValueError, match="category 'meh'"):
        convert_rotten_tomatoes([{"category": "meh", "text": "x"}])


def test_convert_tweets_reads_latin1():
    data = tweets_csv_latin1()
    with pytest.raises(UnicodeDecodeError):
        data.decode("utf-8")
    stats: dict = {}
    splits = convert_tweets(read_tweets(data), stats=stats)
    examples = dict(ex for s in SPLITS for ex in splits[s])
    assert examples["café ride in a robot car"] == "positive"
    assert examples["tweet 0 about driverless cars"] == "negative"
    assert len(examples) == 12 and stats["duplicate_texts_dropped"] == 1
    assert [len(splits[s]) for s in SPLITS] == [10, 1, 1]


def test_shuffle_split_is_fixed_and_disjoint():
    items = list(range(95))
    first, second = shuffle_split(items), shuffle_split(items)
    assert first == second
    assert [len(first[s]) for s in SPLITS] == [77, 9, 9]
    assert sorted(first["train"] + first["dev"] + first["test"]) == items
    assert shuffle_split(items, seed=1) != first
    with pytest.raises(ValueError, match="at least 3"):
        shuffle_split([1, 2])


def test_sentences_and_corpus_rules():
    assert sentences("Thank you. We did it!\nIs it done? Yes\tno") == [
        "Thank you.", "We did it!", "Is it done?", "Yes no"]
    lines, stats = build_text_corpus(
        [("a", ["One.", "  two\t", "One.", "---", "secret"]), ("b", ["three", "two"])], exclude=["secret "])
    assert lines == ["One.", "two", "three"]
    assert stats == {"lines_per_source": {"a": 2, "b": 1}, "dropped_as_dev_or_test_text": 1,
                     "dropped_as_repeat": 2, "dropped_without_letter_or_digit": 1}


def test_hub_converters_on_rows():
    nli = [{"premise": "P.", "hypothesis": "H.", "label": 2}, {"premise": "Q.", "hypothesis": "I.", "label": -1}]
    mnli = convert_mnli(nli, [{"premise": "M.", "hypothesis": "N.", "label": 0}], nli[:1])
    assert mnli["train"] == [("premise: P. [SEP] hypothesis: H.", "contradiction")]
    assert mnli["test"] == [("premise: M. [SEP] hypothesis: N.", "entailment")]
    sst = convert_sst2([{"sentence": f"s {i} ", "label": i % 2} for i in range(10)],
                            [{"sentence": "v", "label": 1}], dev_size=3)
    assert len(sst["train"]) == 7 and len(sst["dev"]) == 3 and sst["test"] == [("sentence: v", "positive")]
    assert sst == convert_sst2([{"sentence": f"s {i} ", "label": i % 2} for i in range(10)],
                                    [{"sentence": "v", "label": 1}], dev_size=3)
    anli = convert_anli({f"{p}_r{r}": nli for p in ("train", "dev", "test") for r in (1, 2, 3)})
    assert len(anli["train"]) == 3
    record = convert_record(
        [{"query": f"q{i}", "passage": "p\n@highlight\nx", "answers": ["A", "B", "A"]} for i in range(4)]
        + [{"query": "q", "passage": "p", "answers": []}],
        [{"query": "vq", "passage": "vp", "answers": ["C"]}], dev_size=1)
    assert record["test"] == [("question: vq context: vp", ("C",))]
    inputs = {q for q, _ in record["train"] + record["dev"]}
    assert inputs == {f"question: q{i} context: p @highlight x" for i in range(4)}
    assert all(answers == ("A", "B") for _, answers in record["train"])
    assert len(record["train"]) == 3 and len(record["dev"]) == 1
