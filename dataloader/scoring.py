"""The scores behind the task metrics (`dataloader.metrics` says which task gets which, and how they combine).

Per answer: SQuAD normalisation, case-insensitive accuracy, exact match, token F1 and ROUGE-L, with the best over
an example's answers. Per corpus: macro F1 over the gold labels, Matthews correlation of the acceptable / other
mapping and a Pearson correlation that survives non-numeric predictions. scikit-learn, scipy and rouge_score are
imported inside the functions that use them.
"""

from __future__ import annotations

import math
import re
import string
import warnings
from collections import Counter
from collections.abc import Callable, Sequence

__all__ = [
    "accuracy",
    "best_over_answers",
    "classification_f1",
    "exact_match",
    "first_answers",
    "is_acceptable",
    "matthews_correlation",
    "normalize_answer",
    "pearson_correlation",
    "qa_f1",
    "rouge_l",
]

# --------------------------------------------------------------------------------------------
# Per-answer scores
# --------------------------------------------------------------------------------------------

_PUNCT = frozenset(string.punctuation)
_ARTICLES = re.compile(r"\b(a|an|the)\b")


def normalize_answer(text: str) -> str:
    """SQuAD normalisation: lowercase, drop punctuation and articles, squeeze whitespace."""
    text = "".join(ch for ch in text.lower() if ch not in _PUNCT)
    text = _ARTICLES.sub(" ", text)
    return " ".join(text.split())


def accuracy(prediction: str, answer: str) -> float:
    """Return 1.0 if the stripped strings match case-insensitively, else 0.0."""
    return float(prediction.strip().lower() == answer.strip().lower())


def exact_match(prediction: str, answer: str) -> float:
    """Return 1.0 if the SQuAD-normalised strings are equal, else 0.0."""
    return float(normalize_answer(prediction) == normalize_answer(answer))


def qa_f1(prediction: str, answer: str) -> float:
    """SQuAD token F1 between the normalised prediction and answer (0 with no common token)."""
    pred_tokens = normalize_answer(prediction).split()
    gold_tokens = normalize_answer(answer).split()
    num_same = sum((Counter(pred_tokens) & Counter(gold_tokens)).values())
    if num_same == 0:
        return 0.0
    precision = num_same / len(pred_tokens)
    recall = num_same / len(gold_tokens)
    return 2 * precision * recall / (precision + recall)


_ROUGE_SCORER = None


def rouge_l(prediction: str, answer: str) -> float:
    """ROUGE-L F-measure (rouge_score, no stemming); 0 for a punctuation/space-only prediction."""
    global _ROUGE_SCORER
    if not any(ch not in _PUNCT and not ch.isspace() for ch in prediction):
        return 0.0
    # Imported lazily: rouge_score pulls in nltk, which is slow to import.
    if _ROUGE_SCORER is None:
        from rouge_score import rouge_scorer

        _ROUGE_SCORER = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=False)
    return float(_ROUGE_SCORER.score(answer, prediction)["rougeL"].fmeasure)


def best_over_answers(
    score: Callable[[str, str], float], prediction: str, answers: Sequence[str]
) -> float:
    """Best score of ``prediction`` over ``answers`` (0.0 when there are none)."""
    return max((score(prediction, a) for a in answers), default=0.0)


# --------------------------------------------------------------------------------------------
# Corpus-level scores
# --------------------------------------------------------------------------------------------


def first_answers(answers: Sequence[Sequence[str]]) -> list[str]:
    """First gold answer of every example; ValueError for an example without answers."""
    firsts = []
    for i, ans in enumerate(answers):
        if len(ans) == 0:
            raise ValueError(f"example {i} has no gold answer")
        firsts.append(ans[0])
    return firsts


def is_acceptable(text: str) -> int:
    """Map a CoLA label string to 1 if it is ``acceptable`` (after strip), else 0."""
    return int(text.strip() == "acceptable")


def _to_float(text: str) -> float:
    """Parse ``text`` as a finite float; NaN when it is not a (finite) number."""
    try:
        value = float(text.strip())
    except ValueError:
        return math.nan
    return value if math.isfinite(value) else math.nan


def classification_f1(predictions: Sequence[str], golds: Sequence[str]) -> float:
    """Macro F1 over the labels present in ``golds`` (scikit-learn, raw strings)."""
    from sklearn.metrics import f1_score

    labels = sorted(set(golds))
    return float(
        f1_score(
            list(golds),
            list(predictions),
            average="macro",
            labels=labels,
            zero_division=0,
        )
    )


def matthews_correlation(predictions: Sequence[str], golds: Sequence[str]) -> float:
    """Matthews correlation of the acceptable(1)/other(0) mapping of predictions and golds."""
    from sklearn.metrics import matthews_corrcoef

    y_true = [is_acceptable(g) for g in golds]
    y_pred = [is_acceptable(p) for p in predictions]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return float(matthews_corrcoef(y_true, y_pred))


def pearson_correlation(predictions: Sequence[str], golds: Sequence[str]) -> float:
    """Pearson r of numeric predictions vs golds; non-numbers get the mean numeric prediction.

    Rule (the original returned NaN as soon as one prediction was not a number):
    a prediction that does not parse as a finite float is replaced by the mean of the numeric
    predictions (0.0 if none is numeric); pairs whose gold is not a number are dropped. Fewer than
    two pairs, or a constant side (r undefined), give 0.0. Never raises for bad predictions and
    emits no scipy warnings.
    """
    from scipy.stats import pearsonr

    preds = [_to_float(p) for p in predictions]
    numeric = [p for p in preds if not math.isnan(p)]
    fill = sum(numeric) / len(numeric) if numeric else 0.0
    pairs = [
        (fill if math.isnan(p) else p, g)
        for p, g in zip(preds, (_to_float(g) for g in golds), strict=False)
        if not math.isnan(g)
    ]
    if len(pairs) < 2:
        return 0.0
    xs, ys = zip(*pairs, strict=False)
    if len(set(xs)) < 2 or len(set(ys)) < 2:
        return 0.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        r = float(pearsonr(xs, ys)[0])
    return 0.0 if math.isnan(r) else r
