"""What the paper says, in its authors' words, for every finding the report tests: one table, each entry citing the
section of the authors' EMNLP 2022 poster (repository qiancheng0/qiancheng0.github.io,
images/poster/connectivity_poster.png) it quotes, with the setting the poster's figures show. The report takes every
claim sentence from here, and nothing else is attributed to the paper; what the project asks beyond it is in
`OWN_QUESTIONS`, labelled as the project's own."""

from __future__ import annotations

from dataclasses import dataclass

POSTER = "the authors' EMNLP 2022 poster (qiancheng0.github.io, images/poster/connectivity_poster.png)"
CRITERION = ("two minima are linearly connected when \"there does not exist a significant loss barrier or "
             "performance drop along the defined path\" (poster, \"Mode Connectivity Evaluation\", \"Connectivity "
             "Criterion\"); the paper sets no numeric threshold")


@dataclass(frozen=True)
class Claim:
    """One finding of the paper: where the poster states it, its words, and the setting of its figures."""

    key: str
    title: str
    section: str  # the poster's section and heading the quote is from
    quote: str  # the paper's words, verbatim
    setting: dict[str, str]  # what the poster's figures show: model, task, tuning, steps, ...
    reading: str = ""  # a trend read off the poster's figure, not stated in its text (said so in the report)


Q1_SETTING = {"model": "T5-base (T5 v1.1 LM-adapted)", "tuning": "full fine-tuning (lr 1e-4) and adapters (Houlsby, "
              "size 12, lr 5e-5), batch 32", "steps": "endpoints at 10k, 30k and 50k updates",
              "path": "24 interpolations and the 2 endpoints, test accuracy"}

CLAIMS: dict[str, Claim] = {c.key: c for c in (
    Claim("q1_order", "Q1.1 Training data order",
          'Q1, "1. Effects of Training Data Order"',
          "Local minima are well connected under different random training data order.",
          {**Q1_SETTING, "task": "MNLI", "pairs": "the same initialisation, another data order; fine-tuning and "
                                                  "adapters"}),
    Claim("q1_init", "Q1.2 Initialisation",
          'Q1, "2. Effects of Initialization"',
          "Finetuning with different initializations are well connected; while adapter-tuning reaches "
          "non-connected minima.",
          {**Q1_SETTING, "task": "MNLI", "pairs": "different initialisations (seeds); fine-tuning and adapters"},
          reading="in the poster's figure the adapter dip deepens with training: lowest test accuracy about 75% at "
                  "10k updates, 68% at 30k and 30% at 50k, from endpoints about 85%"),
    Claim("q1_overlap", "Q1.3 Data overlap",
          'Q1, "3. Effects of Data Overlap"',
          "We partition one training task into two equal splits and train on them, respectively. Two minima "
          "obtained are well connected, indicating that mode connectivity does not originate from PLM's "
          "memorization of specific training data.",
          {**Q1_SETTING, "task": "MNLI, its two halves", "pairs": "one run on each half; fine-tuning and adapters"}),
    Claim("q1_domain", "Q1.4 Data domain",
          'Q1, "4. Effects of Data Domain"',
          "Two endpoints are trained using different tasks, and we investigate performance of both tasks along the "
          "linear path. The performance change reflects the variation of the interpolation's task knowledge along "
          "the connecting path.",
          {**Q1_SETTING, "tuning": "full fine-tuning", "task": "MNLI ~ ANLI (steps 10k/30k/50k); Rotten Tomatoes ~ "
                                                               "Yelp Polarity (steps 3k/9k/15k)",
           "pairs": "one run per task, both tasks evaluated along the line"},
          reading="in the poster's figure each task's score moves smoothly from one endpoint's level to the "
                  "other's (MNLI about 87 to 73, ANLI about 30 to 48), with no fall below both"),
    Claim("q1_curve", "Q1.5 Non-linear connectivity",
          'Q1, "5. Non-linear Connectivity"',
          "We find that different minima are generally connected by a non-linear path.",
          {**Q1_SETTING, "task": "MNLI", "pairs": "a quadratic Bezier curve with one trainable bend between two "
                                                  "minima"}),
    Claim("q2_pretrain", "Q2.1 Pre-training steps",
          'Q2, "1."',
          "We select a series of checkpoints at different pretraining steps, and train the model with different "
          "initialization at each checkpoint. We discover that pre-training implicitly facilitates mode "
          "connectivity.",
          {"model": "RoBERTa-base, the authors' own pre-training checkpoints", "task": "MNLI",
           "tuning": "full fine-tuning and adapters", "steps": "pre-training checkpoints 5k-8.75k (fine-tuning) and "
                                                             "5k-15k (adapters)",
           "pairs": "two initialisations tuned from each checkpoint", "path": "26 points, test accuracy"},
          reading="in the poster's figure the adapter dip shrinks from about 42% at 5k pre-training steps to about "
                  "63% at 15k; fine-tuning dips only at 5k"),
    Claim("q2_boundary", "Q2.2 Task boundary during pre-training",
          'Q2, "2."',
          "We also train the model at each checkpoint on different tasks and evaluate the connectivity. We discover "
          "that pre-training pulls task boundary closer.",
          {"model": "RoBERTa-base, the authors' own pre-training checkpoints", "task": "MNLI ~ SST-2",
           "tuning": "full fine-tuning and adapters", "steps": "pre-training checkpoints 15k-60k (fine-tuning) and "
                                                             "30k-60k (adapters)",
           "pairs": "one run per task from each checkpoint, both tasks evaluated along the line",
           "path": "26 points, test accuracy"},
          reading="in the poster's figure, with more pre-training the SST-2 accuracy rises nearer the MNLI end "
                  "(from about alpha 0.45 at 15k to about 0.2 at 60k, fine-tuning)"),
    Claim("q3_knowledge", "Q3 Task knowledge along the path",
          'Q3, "Experiment Results"',
          "We discover that the PLM prioritizes forgetting the source knowledge of those difficult instances, and "
          "then forgets the source knowledge of the easy-to-learn data. On the contrary, the easy-to-learn target "
          "knowledge is learned before the elusive and obscure target knowledge.",
          {"model": "as Q1", "task": "MNLI (source) ~ ANLI (target), training examples",
           "tuning": "full fine-tuning and adapters", "path": "the straight line between the two runs, on the "
                                                              "training examples of both tasks",
           "pairs": "one run per task; the source's examples grouped F1..F5 by when they are forgotten, the "
                    "target's M1..M5 by when they are learned; per group the mean confidence (mean probability of "
                    "the true label over training) and variability (its standard deviation)"},
          reading="in the poster's figure the source groups' confidence rises and their variability falls from F1 "
                  "to F5; the target groups' confidence falls and variability rises from M1 to M5"),
)}

# Not in the paper (the poster states nothing about them): asked by this project, reported under its own heading.
OWN_QUESTIONS = {
    "own_distance": "Do minima further apart in weight space (L2 distance of their tuned tensors, as "
                    "`utils/calculate_dist.py` computes it) meet higher barriers? The original code ships "
                    "calculate_dist.py, but the paper states no finding about distances.",
}
