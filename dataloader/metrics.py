"""Task metrics of the CrossFit / Mode-Connectivity-PLM T5 track.

Every task is scored with one *metric kind* (see :data:`METRIC_KINDS`), looked up by task name in
:data:`METRICS`. Predictions are generated strings; each example has one or more gold answers.

- ``ACC``: case-insensitive exact match after ``strip()``, best over the answers.
- ``EM``: SQuAD-normalised exact match (lowercase, drop punctuation and the articles a/an/the,
  squeeze whitespace), best over the answers.
- ``QA-F1``: SQuAD token F1 on normalised text, best over the answers.
- ``Classification-F1``: scikit-learn macro F1 over the labels present in the gold data (first
  answer of each example); predicted labels absent from the gold data count only as errors.
- ``Matthew-Correlation``: gold (first answer) and prediction mapped to 1 if the string is
  ``acceptable`` else 0, then scikit-learn's Matthews correlation.
- ``Pearson-Correlation``: Pearson r between numeric golds and predictions (see
  :func:`dataloader.scoring.pearson_correlation` for how non-numbers are handled).
- ``Rouge-L``: ROUGE-L F-measure (``rouge_score``, no stemming), best over the answers; 0 for a
  prediction with no character other than punctuation and whitespace.

An example with an empty answer list scores 0 for the per-answer kinds (ACC, EM, QA-F1, Rouge-L),
as in the original; the kinds that read the first answer raise ``ValueError`` instead.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from dataloader.scoring import (
    accuracy,
    best_over_answers,
    classification_f1,
    exact_match,
    first_answers,
    is_acceptable,
    matthews_correlation,
    pearson_correlation,
    qa_f1,
    rouge_l,
)

__all__ = [
    "METRICS",
    "METRIC_KINDS",
    "UnknownTaskError",
    "evaluate",
    "label_word_warning",
    "metric_for_task",
    "per_example_scores",
]

METRIC_KINDS: tuple[str, ...] = (
    "ACC",
    "EM",
    "QA-F1",
    "Classification-F1",
    "Matthew-Correlation",
    "Pearson-Correlation",
    "Rouge-L",
)

#: Task name -> metric kind. The 178 CrossFit tasks of the original code, plus the project's extras.
METRICS: dict[str, str] = {
    "acronym_identification": "EM",
    "ade_corpus_v2-classification": "Classification-F1",
    "ade_corpus_v2-dosage": "EM",
    "ade_corpus_v2-effect": "EM",
    "adversarialqa": "QA-F1",
    "aeslc": "Rouge-L",
    "ag_news": "Classification-F1",
    "ai2_arc": "ACC",
    "amazon_polarity": "Classification-F1",
    "anli": "Classification-F1",
    "app_reviews": "Pearson-Correlation",
    "aqua_rat": "ACC",
    "art": "ACC",
    "aslg_pc12": "EM",
    "biomrc": "QA-F1",
    "blimp-anaphor_gender_agreement": "ACC",
    "blimp-anaphor_number_agreement": "ACC",
    "blimp-determiner_noun_agreement_with_adj_irregular_1": "ACC",
    "blimp-ellipsis_n_bar_1": "ACC",
    "blimp-ellipsis_n_bar_2": "ACC",
    "blimp-existential_there_quantifiers_1": "ACC",
    "blimp-irregular_past_participle_adjectives": "ACC",
    "blimp-sentential_negation_npi_licensor_present": "ACC",
    "blimp-sentential_negation_npi_scope": "ACC",
    "blimp-wh_questions_object_gap": "ACC",
    "boolq": "ACC",
    "break-QDMR": "EM",
    "break-QDMR-high-level": "EM",
    "circa": "Classification-F1",
    "climate_fever": "Classification-F1",
    "codah": "Classification-F1",
    "common_gen": "Rouge-L",
    "commonsense_qa": "ACC",
    "cos_e": "Rouge-L",
    "cosmos_qa": "ACC",
    "crawl_domain": "EM",
    "crows_pairs": "ACC",
    "dbpedia_14": "Classification-F1",
    "definite_pronoun_resolution": "ACC",
    "discovery": "Classification-F1",
    "dream": "ACC",
    "duorc": "QA-F1",
    "e2e_nlg_cleaned": "Rouge-L",
    "eli5-askh": "Rouge-L",
    "eli5-asks": "Rouge-L",
    "eli5-eli5": "Rouge-L",
    "emo": "Classification-F1",
    "emotion": "Classification-F1",
    "empathetic_dialogues": "Rouge-L",
    "ethos-directed_vs_generalized": "Classification-F1",
    "ethos-disability": "Classification-F1",
    "ethos-gender": "Classification-F1",
    "ethos-national_origin": "Classification-F1",
    "ethos-race": "Classification-F1",
    "ethos-religion": "Classification-F1",
    "ethos-sexual_orientation": "Classification-F1",
    "financial_phrasebank": "Classification-F1",
    "freebase_qa": "EM",
    "gigaword": "Rouge-L",
    "glue-cola": "Matthew-Correlation",
    "glue-mnli": "ACC",
    "glue-mnli_anli_allforget10000": "ACC",
    "glue-mnli_anli_allforget15000": "ACC",
    "glue-mnli_anli_allforget5000": "ACC",
    "glue-mnli_anli_easy10000": "ACC",
    "glue-mnli_anli_easy5000": "ACC",
    "glue-mnli_anli_easy5000_new": "ACC",
    "glue-mnli_anli_forgeteasy10000": "ACC",
    "glue-mnli_anli_forgeteasy5000": "ACC",
    "glue-mnli_anli_forgethard10000": "ACC",
    "glue-mnli_anli_forgethard5000": "ACC",
    "glue-mnli_anli_hard10000": "ACC",
    "glue-mnli_anli_hard5000": "ACC",
    "glue-mnli_anli_hard5000_new": "ACC",
    "glue-mnli_anli_mix10000": "ACC",
    "glue-mnli_anli_mix15000": "ACC",
    "glue-mnli_anli_mix5000": "ACC",
    "glue-mnli_anli_mix5000_new": "ACC",
    "glue-mrpc": "ACC",
    "glue-qnli": "ACC",
    "glue-qqp": "ACC",
    "glue-rte": "ACC",
    "glue-sst2": "ACC",
    "glue-wnli": "ACC",
    "google_wellformed_query": "ACC",
    "hate_speech18": "Classification-F1",
    "hate_speech_offensive": "Classification-F1",
    "hatexplain": "Classification-F1",
    "health_fact": "Classification-F1",
    "hellaswag": "ACC",
    "hotpot_qa": "QA-F1",
    "imdb": "Classification-F1",
    "jeopardy": "EM",
    "kilt_ay2": "EM",
    "kilt_fever": "ACC",
    "kilt_hotpotqa": "EM",
    "kilt_nq": "EM",
    "kilt_trex": "EM",
    "kilt_wow": "Rouge-L",
    "kilt_zsre": "EM",
    "lama-conceptnet": "EM",
    "lama-google_re": "EM",
    "lama-squad": "EM",
    "lama-trex": "EM",
    "liar": "Classification-F1",
    "limit": "EM",
    "math_qa": "ACC",
    "mc_taco": "ACC",
    "medical_questions_pairs": "ACC",
    "mocha": "Pearson-Correlation",
    "multi_news": "Rouge-L",
    "numer_sense": "EM",
    "onestop_english": "Classification-F1",
    "openbookqa": "ACC",
    "paws": "Classification-F1",
    "piqa": "ACC",
    "poem_sentiment": "Classification-F1",
    "proto_qa": "EM",
    "qa_srl": "EM",
    "qasc": "ACC",
    "quail": "ACC",
    "quarel": "ACC",
    "quartz-no_knowledge": "ACC",
    "quartz-with_knowledge": "ACC",
    "quoref": "QA-F1",
    "race-high": "ACC",
    "race-middle": "ACC",
    "reddit_tifu-title": "Rouge-L",
    "reddit_tifu-tldr": "Rouge-L",
    "ropes": "QA-F1",
    "rotten_tomatoes": "Classification-F1",
    "samsum": "Rouge-L",
    "scicite": "Classification-F1",
    "sciq": "ACC",
    "scitail": "Classification-F1",
    "search_qa": "EM",
    "sick": "Classification-F1",
    "sms_spam": "Classification-F1",
    "social_i_qa": "ACC",
    "spider": "EM",
    "squad-no_context": "EM",
    "squad-with_context": "QA-F1",
    "superglue-cb": "ACC",
    "superglue-copa": "ACC",
    "superglue-multirc": "EM",
    "superglue-record": "QA-F1",
    "superglue-rte": "ACC",
    "superglue-wic": "ACC",
    "superglue-wsc": "ACC",
    "swag": "ACC",
    "tab_fact": "Classification-F1",
    "tab_fact_new": "Classification-F1",
    "trec": "Classification-F1",
    "trec-finegrained": "Classification-F1",
    "tweet_eval-emoji": "Classification-F1",
    "tweet_eval-emotion": "Classification-F1",
    "tweet_eval-hate": "Classification-F1",
    "tweet_eval-irony": "Classification-F1",
    "tweet_eval-offensive": "Classification-F1",
    "tweet_eval-sentiment": "Classification-F1",
    "tweet_eval-stance_abortion": "Classification-F1",
    "tweet_eval-stance_atheism": "Classification-F1",
    "tweet_eval-stance_climate": "Classification-F1",
    "tweet_eval-stance_feminist": "Classification-F1",
    "tweet_eval-stance_hillary": "Classification-F1",
    "tweet_qa": "QA-F1",
    "web_questions": "EM",
    "wiki_auto": "Classification-F1",
    "wiki_bio": "Rouge-L",
    "wiki_qa": "Classification-F1",
    "wiki_split": "Rouge-L",
    "wikisql": "EM",
    "wino_grande": "ACC",
    "wiqa": "ACC",
    "xsum": "Rouge-L",
    "yahoo_answers_topics": "Classification-F1",
    "yelp_polarity": "Classification-F1",
    "yelp_review_full": "Pearson-Correlation",
    # Tasks this project adds (not in the original table).
    "snli": "ACC",
    "tweet_sentiment": "ACC",
    "tweet_polarity": "ACC",
}
# ``rotten_tomatoes`` is already in the original table, as Classification-F1; it is kept as is.


class UnknownTaskError(ValueError):
    """Raised when a task has no entry in :data:`METRICS` and no metric override was given."""


def _check_kind(metric: str) -> str:
    """Return ``metric`` if it is a known metric kind, else raise ValueError."""
    if metric not in METRIC_KINDS:
        raise ValueError(
            f"unknown metric {metric!r}; valid kinds: {', '.join(METRIC_KINDS)}"
        )
    return metric


def metric_for_task(task: str, override: str | None = None) -> str:
    """Return the metric kind for ``task``: ``override`` when given, else ``METRICS[task]``."""
    if override is not None:
        return _check_kind(override)
    try:
        return METRICS[task]
    except KeyError:
        raise UnknownTaskError(
            f"unknown task {task!r}: no metric known; pass --metric <one of "
            f"{', '.join(METRIC_KINDS)}> or add {task!r}: '<KIND>' to METRICS in "
            "dataloader/metrics.py"
        ) from None


_PER_ANSWER: dict[str, Callable[[str, str], float]] = {
    "ACC": accuracy,
    "Classification-F1": accuracy,
    "EM": exact_match,
    "QA-F1": qa_f1,
    "Rouge-L": rouge_l,
}


def _check_inputs(
    predictions: Sequence[str], answers: Sequence[Sequence[str]], metric: str
) -> None:
    """Validate the metric kind and that there is one answer list per prediction."""
    _check_kind(metric)
    if len(predictions) != len(answers):
        raise ValueError(
            f"{len(predictions)} predictions but {len(answers)} answer lists; they must match"
        )


def per_example_scores(
    predictions: list[str], answers: list[list[str]], metric: str
) -> list[float]:
    """Per-example scores ("raw score"): 0/1 or F1 per example, as used by the forgetting analysis.

    ACC, EM, QA-F1 and Rouge-L give their own per-example score (best over the answers).
    Classification-F1 gives per-example accuracy (stripped, case-insensitive match, best over the
    answers), as the original did. Matthew-Correlation gives 0/1 agreement of the
    acceptable/other mapping of prediction and first answer. Pearson-Correlation has no
    per-example score and raises ValueError.
    """
    _check_inputs(predictions, answers, metric)
    if metric == "Pearson-Correlation":
        raise ValueError("per-example scores are not defined for Pearson-Correlation")
    if metric == "Matthew-Correlation":
        golds = first_answers(answers)
        return [
            float(is_acceptable(p) == is_acceptable(g))
            for p, g in zip(predictions, golds, strict=False)
        ]
    score = _PER_ANSWER[metric]
    return [best_over_answers(score, p, a) for p, a in zip(predictions, answers, strict=False)]


def evaluate(predictions: list[str], answers: list[list[str]], metric: str) -> float:
    """Corpus score of ``predictions`` against ``answers`` for a metric kind (0.0 when empty)."""
    _check_inputs(predictions, answers, metric)
    if len(predictions) == 0:
        return 0.0
    if metric == "Classification-F1":
        return classification_f1(predictions, first_answers(answers))
    if metric == "Matthew-Correlation":
        return matthews_correlation(predictions, first_answers(answers))
    if metric == "Pearson-Correlation":
        return pearson_correlation(predictions, first_answers(answers))
    scores = per_example_scores(predictions, answers, metric)
    return sum(scores) / len(scores)


def label_word_warning(predictions: Sequence[str], answers: Sequence[Sequence[str]], split: str,
                       limit: float = 0.05, max_labels: int = 50) -> str | None:
    """A one-line warning when (almost) no prediction of a classification task is one of its label words.

    A task counts as classification when its examples have at most `max_labels` distinct first answers; the
    warning fires when at most `limit` of the predictions are one of them (case-insensitive), and shows two.
    """
    labels = {a[0].strip().lower() for a in answers if a}
    if not predictions or not labels or len(labels) > max_labels:
        return None
    hits = sum(p.strip().lower() in labels for p in predictions)
    if hits > limit * len(predictions):
        return None
    examples = ", ".join(repr(p) for p in list(predictions)[:2])
    return (f"warning: {split}: {hits} of {len(predictions)} predictions are a label word "
            f"({', '.join(sorted(labels)[:5])}); e.g. {examples}: the metric says little about this model")
