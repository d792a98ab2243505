"""Task folders, TSV parsing, selection flags, tokenisation and dynamic padding."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from transformers import AutoTokenizer

from dataloader.batching import (
    IGNORE_INDEX,
    encode_split,
    eval_batches,
    model_input,
    train_batches,
)
from dataloader.tasks import DataFormatError, Example, load_split, read_tsv, task_name


def _task(tmp_path: Path, name: str, train: str, dev: str = "a\tpositive\n", test: str = "b\tnegative\n") -> Path:
    folder = tmp_path / name
    folder.mkdir()
    for split, text in (("train", train), ("dev", dev), ("test", test)):
        (folder / f"{name}_{split}.tsv").write_text(text)
    return folder


def test_read_tsv_answers_and_task_name(tmp_path):
    folder = _task(tmp_path, "glue-mnli", "premise: x [SEP] hypothesis: y\tentailment\n\nq\tone\ttwo\n")
    examples = load_split(folder, "train")
    assert task_name(folder) == "glue-mnli"
    assert examples == [Example("premise: x [SEP] hypothesis: y", ("entailment",)), Example("q", ("one", "two"))]


def test_line_without_tab_names_file_and_line(tmp_path):
    folder = _task(tmp_path, "t", "ok\tyes\nno tab here\n")
    with pytest.raises(DataFormatError, match=r"t_train\.tsv:2: expected 'input<TAB>answer'"):
        load_split(folder, "train")


def test_empty_split_and_missing_folder(tmp_path):
    folder = _task(tmp_path, "t", "\n\n")
    with pytest.raises(DataFormatError, match="no examples"):
        load_split(folder, "train")
    with pytest.raises(DataFormatError, match="task folder not found"):
        load_split(tmp_path / "nope", "train")
    with pytest.raises(DataFormatError, match="file not found"):
        read_tsv(tmp_path / "nope.tsv")


def test_datasplit_halves_in_file_order_and_choose_1000(tmp_path):
    lines = "".join(f"x{i}\ty\n" for i in range(2001))
    folder = _task(tmp_path, "t", lines, dev=lines)
    first = load_split(folder, "train", datasplit="split1")
    second = load_split(folder, "train", datasplit="split2")
    assert [e.input for e in first] == [f"x{i}" for i in range(1000)]
    assert [e.input for e in second] == [f"x{i}" for i in range(1000, 2001)]
    assert len(load_split(folder, "dev", choose_1000=True)) == 1000
    assert len(load_split(folder, "dev")) == 2001


@pytest.fixture(scope="module")
def tokenizer(tokenizer_dir):
    return AutoTokenizer.from_pretrained(str(tokenizer_dir))


def test_encoding_follows_the_original_format(tokenizer):
    enc = encode_split([Example("Good Movie", ("Positive",))], tokenizer, "toy", lowercase=True)
    assert enc.input_ids[0] == tokenizer(model_input("toy", "good movie"))["input_ids"]
    assert tokenizer.convert_ids_to_tokens(enc.target_ids[0][0])[0] == "<extra_id_0>"
    assert enc.target_ids[0][0][-1] == tokenizer.eos_token_id
    assert enc.answers == [["positive"]]


def test_truncation_and_extra_bos(tokenizer):
    long = Example(" ".join(["good movie"] * 50), ("positive " * 30,))
    enc = encode_split([long], tokenizer, "toy", max_input_length=10, max_output_length=4, append_another_bos=True)
    assert len(enc.input_ids[0]) == 10 and enc.input_ids[0][0] == tokenizer.pad_token_id
    assert len(enc.target_ids[0][0]) == 4


def test_batches_are_padded_to_their_own_longest(tokenizer):
    examples = [Example(" ".join(["good"] * n), ("positive",)) for n in (1, 9, 2, 30, 3, 4)]
    enc = encode_split(examples, tokenizer, "toy")
    batches = eval_batches(enc, 2, tokenizer.pad_token_id)
    for batch in batches:
        lengths = [len(enc.input_ids[i]) for i in batch.indices]
        assert batch.input_ids.shape[1] == max(lengths)
        assert batch.attention_mask.sum(1).tolist() == lengths
        assert (batch.labels == IGNORE_INDEX).sum() == 0  # equal-length targets here
    assert sorted(i for b in batches for i in b.indices) == list(range(6))
    widths = [b.input_ids.shape[1] for b in batches]
    assert widths == sorted(widths, reverse=True) and widths[-1] < widths[0]


def test_training_draws_one_answer_per_example(tokenizer):
    enc = encode_split([Example("good", ("yes", "no"))] * 4, tokenizer, "toy")
    rng = random.Random(0)
    seen = set()
    for _ in range(10):
        for batch in train_batches(enc, 4, tokenizer.pad_token_id, rng):
            assert batch.labels.shape[0] == 4
            for row in batch.labels.tolist():
                seen.add(tokenizer.decode([t for t in row if t != IGNORE_INDEX], skip_special_tokens=True).strip())
    assert seen == {"yes", "no"}
