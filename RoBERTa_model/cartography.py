"""Training dynamics of the encoder track: each training example's correctness and gold-label confidence, which
module/cartography.CartographyCallback records after every epoch."""

from __future__ import annotations

import math

from RoBERTa_model.encoder import classifier_outputs


def epoch_dynamics(model, batches: list[tuple[list[int], dict]], size: int) -> tuple[list[float], list[float]]:
    """Per example of a split of `size`: correctness (0/1) and the probability of its gold label (the softmax's,
    exp(-cross-entropy)) under the model as it stands, in eval mode."""
    acc, confidence = [0.0] * size, [0.0] * size
    for ids, hits, losses, *_ in classifier_outputs(model, batches):
        for row, i in enumerate(ids):
            acc[i], confidence[i] = hits[row], math.exp(-losses[row])
    return acc, confidence
