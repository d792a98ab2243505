"""Tests for dataloader.metrics and dataloader.scoring: every number is checked against a value computed by hand."""

import math
import warnings

import pytest

from dataloader.metrics import (
    METRIC_KINDS,
    METRICS,
    UnknownTaskError,
    evaluate,
    metric_for_task,
    per_example_scores,
)
from dataloader.scoring import normalize_answer

# ---------------------------------------------------------------- table and lookup


def test_metrics_table_size_and_paper_tasks() -> None:
    # 178 CrossFit tasks + snli, tweet_sentiment and tweet_polarity (rotten_tomatoes is in CrossFit's table).
    assert len(METRICS) == 181
    assert METRICS["glue-mnli"] == "ACC"
    assert METRICS["anli"] == "Classification-F1"
    assert METRICS["superglue-record"] == "QA-F1"
    assert METRICS["glue-cola"] == "Matthew-Correlation"
    assert METRICS["snli"] == "ACC"
    assert METRICS["tweet_sentiment"] == "ACC" and METRICS["tweet_polarity"] == "ACC"
    assert METRICS["rotten_tomatoes"] == "Classification-F1"
    assert set(METRICS.values()) <= set(METRIC_KINDS)


def test_metric_for_task_lookup_and_override() -> None:
    assert metric_for_task("anli") == "Classification-F1"
    assert metric_for_task("anli", override="ACC") == "ACC"
    assert metric_for_task("not-a-task", override="Rouge-L") == "Rouge-L"
    with pytest.raises(ValueError, match="Matthew-Correlation"):
        metric_for_task("anli", override="accuracy")


def test_unknown_task_error_message() -> None:
    with pytest.raises(UnknownTaskError) as info:
        metric_for_task("my-task")
    msg = str(info.value)
    assert isinstance(info.value, ValueError)
    assert "\n" not in msg
    assert "unknown task 'my-task'" in msg
    assert "--metric" in msg
    assert "Pearson-Correlation" in msg
    assert "dataloader/metrics.py" in msg


def test_unknown_metric_and_length_mismatch_raise() -> None:
    with pytest.raises(ValueError, match="F1"):
        evaluate(["a"], [["a"]], "F1")
    with pytest.raises(ValueError, match="must match"):
        evaluate(["a", "b"], [["a"]], "ACC")
    with pytest.raises(ValueError, match="must match"):
        per_example_scores(["a"], [["a"], ["b"]], "EM")


def test_empty_inputs() -> None:
    for kind in METRIC_KINDS:
        assert evaluate([], [], kind) == 0.0
    assert per_example_scores([], [], "ACC") == []


# ---------------------------------------------------------------- per-answer kinds


def test_acc_case_insensitive_max_over_answers() -> None:
    preds = ["Entailment", "entail", " NEUTRAL "]
    answers = [["neutral", "entailment"], ["entailment"], ["neutral"]]
    assert per_example_scores(preds, answers, "ACC") == [1.0, 0.0, 1.0]
    assert evaluate(preds, answers, "ACC") == pytest.approx(2 / 3)
    # ACC does not strip punctuation or articles.
    assert evaluate(["the cat"], [["cat"]], "ACC") == 0.0


def test_em_normalisation() -> None:
    assert normalize_answer("The  Cat!") == "cat"
    assert evaluate(["The  Cat!"], [["cat"]], "EM") == 1.0
    assert per_example_scores(["a dog", "dogs"], [["cat", "Dog."], ["dog"]], "EM") == [
        1.0,
        0.0,
    ]


def test_qa_f1_partial_overlap() -> None:
    # "big red dog" vs "red dog barks": 2 common tokens, P = R = 2/3, F1 = 2/3.
    assert evaluate(
        ["the big red dog"], [["a red dog barks"]], "QA-F1"
    ) == pytest.approx(2 / 3)
    # Best over answers; no common token scores 0.
    scores = per_example_scores(
        ["the big red dog", "blue"],
        [["a red dog barks", "big red dog"], ["red"]],
        "QA-F1",
    )
    assert scores == pytest.approx([1.0, 0.0])
    # Repeated tokens count by multiplicity: "dog dog" vs "dog": P=1/2, R=1, F1=2/3.
    assert evaluate(["dog dog"], [["dog"]], "QA-F1") == pytest.approx(2 / 3)


def test_rouge_l() -> None:
    assert evaluate(["?!."], [["?!."]], "Rouge-L") == 0.0
    assert evaluate(["  "], [["cat"]], "Rouge-L") == 0.0
    assert evaluate(["the cat sat"], [["the cat sat"]], "Rouge-L") == pytest.approx(1.0)
    # LCS 3 of 3 and 6 tokens: P = 1, R = 1/2, F = 2/3; best over answers.
    scores = per_example_scores(
        ["the cat sat"], [["dog", "the cat sat on the mat"]], "Rouge-L"
    )
    assert scores == pytest.approx([2 / 3])


# ---------------------------------------------------------------- corpus-level kinds


def test_classification_f1_macro_over_gold_labels_only() -> None:
    golds = [["a"], ["a"], ["b"], ["b"]]
    preds = ["a", "c", "b", "a"]
    # a: TP1 FP1 FN1 -> F1 1/2; b: TP1 FP0 FN1 -> F1 2/3; "c" is not a class: (1/2 + 2/3) / 2.
    assert evaluate(preds, golds, "Classification-F1") == pytest.approx(7 / 12)
    # Per-example scores are accuracies (case-insensitive, best over the answers).
    assert per_example_scores(preds, golds, "Classification-F1") == [1.0, 0.0, 1.0, 0.0]
    assert per_example_scores(["A"], [["b", "a"]], "Classification-F1") == [1.0]


def test_matthews_correlation() -> None:
    golds = [["acceptable"], ["acceptable"], ["unacceptable"], ["unacceptable"]]
    preds = ["acceptable", "unacceptable", "unacceptable", "unacceptable"]
    # TP1 FN1 TN2 FP0: (1*2 - 0) / sqrt(1 * 2 * 2 * 3) = 1/sqrt(3).
    assert evaluate(preds, golds, "Matthew-Correlation") == pytest.approx(
        1 / math.sqrt(3)
    )
    assert per_example_scores(preds, golds, "Matthew-Correlation") == [
        1.0,
        0.0,
        1.0,
        1.0,
    ]
    # A constant prediction gives 0, not a crash.
    assert evaluate(["acceptable"] * 4, golds, "Matthew-Correlation") == 0.0


def test_pearson_with_non_number_prediction() -> None:
    golds = [["1"], ["2"], ["3"], ["4"]]
    # "oops" -> mean numeric prediction 7/3; x = [1, 2, 7/3, 4], y = [1, 2, 3, 4]:
    # Sxy = 14/3, Sxx = 14/3, Syy = 5 -> r = sqrt(14/15).
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        r = evaluate(["1", "2", "oops", "4"], golds, "Pearson-Correlation")
        assert r == pytest.approx(math.sqrt(14 / 15))
        assert evaluate(
            ["1", "2", "3", "4"], golds, "Pearson-Correlation"
        ) == pytest.approx(1.0)
        # No numeric prediction (constant input): 0.0, no warning.
        assert evaluate(["x", "y", "z", "w"], golds, "Pearson-Correlation") == 0.0
        assert evaluate(["5"], [["1"]], "Pearson-Correlation") == 0.0
    with pytest.raises(ValueError, match="not defined for Pearson-Correlation"):
        per_example_scores(["1"], [["1"]], "Pearson-Correlation")
