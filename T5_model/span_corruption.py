"""T5's span-corruption objective (Raffel et al. 2020): mask random spans, replace each by a sentinel."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def _random_segmentation(items: int, segments: int, rng: np.random.Generator) -> np.ndarray:
    """Split `items` into `segments` positive lengths, uniformly at random."""
    if segments <= 1:
        return np.array([items])
    cuts = np.sort(rng.choice(np.arange(1, items), size=segments - 1, replace=False))
    return np.diff(np.concatenate([[0], cuts, [items]]))


def random_spans_mask(length: int, noise_density: float = 0.15, mean_span: float = 3.0,
                      rng: np.random.Generator | None = None) -> np.ndarray:
    """Boolean mask of `length` tokens with about `noise_density` of them in spans of mean length `mean_span`.

    Spans alternate with kept stretches, starting with a kept one, as in T5's `random_spans_noise_mask`.
    """
    rng = rng or np.random.default_rng()
    if length < 2:
        return np.zeros(length, dtype=bool)
    noise = int(min(max(round(length * noise_density), 1), length - 1))
    spans = int(max(min(round(noise / mean_span), noise, length - noise), 1))
    noise_lengths = _random_segmentation(noise, spans, rng)
    keep_lengths = _random_segmentation(length - noise, spans, rng)
    mask = np.zeros(length, dtype=bool)
    position = 0
    for keep, masked in zip(keep_lengths, noise_lengths, strict=True):
        position += keep
        mask[position: position + masked] = True
        position += masked
    return mask


def corrupt(tokens: Sequence[int], mask: np.ndarray, sentinels: Sequence[int], eos: int) -> tuple[list[int], list[int]]:
    """Inputs with each masked span replaced by the next sentinel; targets list sentinel + span; both end in EOS."""
    inputs, targets = [], []
    sentinel = -1
    previous = False
    for token, masked in zip(tokens, mask, strict=True):
        if masked and not previous:
            sentinel += 1
            if sentinel >= len(sentinels):
                raise ValueError(f"more masked spans than sentinels ({len(sentinels)})")
            inputs.append(sentinels[sentinel])
            targets.append(sentinels[sentinel])
        if masked:
            targets.append(token)
        else:
            inputs.append(token)
        previous = bool(masked)
    return inputs + [eos], targets + [eos]


def sentinel_ids(tokenizer, count: int = 100) -> list[int]:
    """Ids of `<extra_id_0>` ... `<extra_id_{count-1}>`, checked to be single special tokens."""
    ids = tokenizer.convert_tokens_to_ids([f"<extra_id_{i}>" for i in range(count)])
    if tokenizer.unk_token_id in ids:
        raise ValueError("the tokenizer lacks <extra_id_*> sentinels (build it with T5_model/tokenizer.py)")
    return ids
