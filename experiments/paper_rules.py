"""This project's rules for turning measured numbers into a verdict (the paper sets no numeric threshold): barriers
with bootstrap intervals over the evaluated examples, the connectivity call of a path, and whether a tuning run has
converged. Data in, data out: no model, no files."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.stats import spearmanr

TAU = 0.05  # a "significant performance drop": 5 accuracy points, half the smallest dip the paper's figures call a
#             barrier (adapters at 10k steps, about 85% -> 75%)
LEVEL = 0.95  # the bootstrap intervals' coverage
RESAMPLES = 1000  # bootstrap resamples of the evaluated examples (seeded: the same numbers every run)
LEARNED = 0.05  # an endpoint has learned the task: accuracy at least this far above the majority class
DEV_FLAT = 0.02  # converged: the dev accuracy's least-squares trend over the last 40% of training predicts at most
#                  this gain over another fifth of training (about the noise of one evaluation on 500 examples)
WINDOW = 0.4  # the trend is fitted over this last fraction of training ...
MIN_EVALUATIONS = 4  # ... and over at least this many dev evaluations
LOSS_FLAT = 0.10  # ... and the training loss fell by at most this share of its whole fall over the last fifth of
#                   training (scale-free: a loss falling from 0.69 to 0.03 nats by memorising a small training set has
#                   flattened once its last fifth adds little to that fall)

VERDICTS = ("reproduced", "not reproduced", "inconclusive at this scale")
CONNECTED, BARRIER, UNCLEAR = "connected", "barrier", "unclear"


@dataclass(frozen=True)
class Interval:
    """A statistic measured on the evaluated examples, with its bootstrap percentile interval."""

    value: float
    low: float
    high: float

    def __str__(self) -> str:
        return f"{self.value:.3f} [{self.low:.3f}, {self.high:.3f}]"


def resample_weights(examples: int, resamples: int = RESAMPLES, seed: int = 0) -> np.ndarray:
    """(resamples, examples) counts of a bootstrap over examples, each row summing to `examples`; row 0 is the sample
    itself (all ones), so statistic[0] is the measured value."""
    rng = np.random.default_rng(seed)
    counts = rng.multinomial(examples, np.full(examples, 1 / examples), size=resamples).astype(np.float64)
    counts[0] = 1.0
    return counts


def resampled_curves(scores: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """(resamples, points) accuracy along a path under each resample, from per-example scores (points, examples)."""
    return weights @ scores.T / weights.sum(axis=1, keepdims=True)


def interval(samples: np.ndarray, level: float = LEVEL) -> Interval:
    """The measured value (samples[0]) and the central `level` percentile interval of the resamples."""
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(samples, [tail, 100 - tail])
    return Interval(float(samples[0]), float(low), float(high))


def linear_barriers(xs: Sequence[float], curves: np.ndarray) -> np.ndarray:
    """Per resampled curve (rows), the largest drop below the straight line joining its endpoint values
    (barrier_linear of module.barriers, positive = worse)."""
    x = np.asarray(xs, dtype=np.float64)
    t = (x - x[0]) / (x[-1] - x[0])
    chord = curves[:, :1] * (1 - t) + curves[:, -1:] * t
    return (chord - curves).max(axis=1)


def dips_below_ends(curves: np.ndarray) -> np.ndarray:
    """Per resampled curve, how far its lowest point falls below the lower of its two endpoint values (0 when never)."""
    return np.maximum(0.0, np.minimum(curves[:, 0], curves[:, -1]) - curves.min(axis=1))


def rise_points(xs: Sequence[float], curves: np.ndarray) -> np.ndarray:
    """Per resampled curve, the first x (linear between evaluated points) where it has gone half of the way from its
    x = 0 value to its x = 1 value; 1.0 when it does not change."""
    x = np.asarray(xs, dtype=np.float64)
    out = np.ones(len(curves))
    for row, curve in enumerate(curves):
        start, end = curve[0], curve[-1]
        if end == start:
            continue
        progress = (curve - start) / (end - start)  # 0 at x = 0, 1 at x = 1, whichever way the curve goes
        k = int(np.argmax(progress >= 0.5))
        if k == 0:
            out[row] = x[0]
            continue
        a, b = progress[k - 1], progress[k]
        out[row] = x[k - 1] + (0.5 - a) / (b - a) * (x[k] - x[k - 1])
    return out


def call(barrier: Interval, tau: float = TAU) -> str:
    """The connectivity call of a path from its barrier's interval: connected when the whole interval lies below
    `tau`, a barrier when it lies at or above it, unclear when it straddles it."""
    if barrier.high < tau:
        return CONNECTED
    if barrier.low >= tau:
        return BARRIER
    return UNCLEAR


def sign_of(difference: Interval) -> int:
    """+1 / -1 when the interval lies wholly above / below 0, else 0 (no clear direction)."""
    return 1 if difference.low > 0 else -1 if difference.high < 0 else 0


def rank_correlation(order: Sequence[float], values: Sequence[float], resamples: int = RESAMPLES,
                     seed: int = 0) -> Interval:
    """Spearman's rank correlation of `values` with `order` over examples, with a bootstrap interval over examples."""
    order, values = np.asarray(order, dtype=np.float64), np.asarray(values, dtype=np.float64)
    rng = np.random.default_rng(seed)
    samples = [spearmanr(order, values).statistic]
    for _ in range(resamples - 1):
        pick = rng.integers(0, len(order), len(order))
        samples.append(spearmanr(order[pick], values[pick]).statistic)
    return interval(np.nan_to_num(np.asarray(samples, dtype=np.float64)))


@dataclass(frozen=True)
class Convergence:
    """Whether a run had converged at a step, by this project's rule, and the numbers the rule read."""

    step: int
    converged: bool
    dev_trend: float | None  # the dev accuracy the fitted trend gains over another fifth of training
    loss_share: float | None  # the share of the training loss's whole fall (from its first log) made in the last fifth
    evaluations: int  # dev evaluations in the window

    def __str__(self) -> str:
        if self.dev_trend is None and self.loss_share is None:
            return f"no history (step {self.step})"
        loss = "n/a" if self.loss_share is None else f"{self.loss_share:.0%}"
        dev = "no dev evaluations" if self.dev_trend is None else f"dev trend {self.dev_trend:+.3f}"
        return f"{'yes' if self.converged else 'no'} ({dev}, loss fall in the last fifth {loss})"


CONVERGENCE_RULE = (f"an endpoint has converged when the least-squares trend of its dev accuracy over the last "
                    f"{WINDOW:.0%} of its training (at least its last {MIN_EVALUATIONS} dev evaluations) predicts a "
                    f"gain of at most {DEV_FLAT} over another fifth of training, and the last fifth of its training "
                    f"made at most {LOSS_FLAT:.0%} of its training loss's whole fall (mean of the fifth before minus "
                    f"mean of the last fifth, over the first logged loss minus the last fifth's mean; a run without "
                    f"dev evaluations, as the T5 track's cartography mode, by its training loss alone)")


def convergence(dev: Sequence[tuple[int, float]], train_loss: Sequence[tuple[int, float]], step: int) -> Convergence:
    """This project's convergence rule at `step` of a run, from its dev evaluations (step, accuracy) and its logged
    training losses (step, mean loss since the previous log)."""
    seen = [(s, a) for s, a in dev if s <= step]
    window = [(s, a) for s, a in seen if s >= (1 - WINDOW) * step]
    if len(window) < MIN_EVALUATIONS:
        window = seen[-MIN_EVALUATIONS:]
    share = loss_share(train_loss, step)
    flat = share is None or share <= LOSS_FLAT
    if len(window) < 2:  # no dev history: the training loss alone, when there is one
        return Convergence(step, share is not None and flat, None, share, len(window))
    steps, accs = np.array([s for s, _ in window], float), np.array([a for _, a in window], float)
    slope = np.polyfit(steps, accs, 1)[0]
    trend = float(slope * 0.2 * step)
    converged = trend <= DEV_FLAT and flat
    return Convergence(step, converged, trend, share, len(window))


def loss_share(train_loss: Sequence[tuple[int, float]], step: int) -> float | None:
    """The share of the training loss's fall up to `step` (from its first logged value) that the last fifth made:
    (mean of the fifth before - mean of the last fifth) / (first - mean of the last fifth); 0 when it never fell,
    None without logs in both fifths."""
    seen = [(s, v) for s, v in train_loss if s <= step]
    last = [v for s, v in seen if 0.8 * step < s]
    before = [v for s, v in seen if 0.6 * step < s <= 0.8 * step]
    if not last or not before:
        return None
    whole = seen[0][1] - float(np.mean(last))
    return float((np.mean(before) - np.mean(last)) / whole) if whole > 0 else 0.0


def combine(verdicts: Sequence[str]) -> str:
    """One verdict from its parts: not reproduced when a part is, reproduced when all are, inconclusive otherwise."""
    if "not reproduced" in verdicts:
        return "not reproduced"
    return "reproduced" if verdicts and set(verdicts) == {"reproduced"} else "inconclusive at this scale"
