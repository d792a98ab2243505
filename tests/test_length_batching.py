"""Evaluation batches cut where padding costs least (`length_groups`), and length-grouped training batches for the
encoder track (the transformers 4 key `group_by_length` read as transformers 5's `train_sampling_strategy`)."""

from __future__ import annotations

import random

from dataloader.batching import BATCH_COST, length_groups


def _cost(lengths, groups, batch_cost=BATCH_COST) -> float:
    return sum(batch_cost + len(g) * max(lengths[i] for i in g) for g in groups)


def _padding(lengths, groups) -> float:
    return sum(len(g) * max(lengths[i] for i in g) for g in groups) / sum(lengths) - 1


def test_every_row_once_longest_first_and_no_batch_over_the_row_limit():
    rng = random.Random(0)
    lengths = [rng.randint(5, 90) for _ in range(700)]
    groups = length_groups(lengths, 128)
    flat = [i for g in groups for i in g]
    assert sorted(flat) == list(range(700))
    assert flat == sorted(range(700), key=lambda i: (-lengths[i], i))
    assert all(1 <= len(g) <= 128 for g in groups)
    assert length_groups([], 8) == []


def test_the_cut_costs_no_more_than_fixed_chunks_and_isolates_a_long_tail():
    """Fixed chunks of 128 (the batching before) pad the whole first chunk to its longest row."""
    rng = random.Random(1)
    lengths = [rng.randint(8, 40) for _ in range(500)] + [120, 110]
    order = sorted(range(len(lengths)), key=lambda i: (-lengths[i], i))
    chunks = [order[s: s + 128] for s in range(0, len(order), 128)]
    groups = length_groups(lengths, 128)
    assert _cost(lengths, groups) <= _cost(lengths, chunks)
    assert groups[0] == [500] or groups[0] == [500, 501]  # the two long rows are not padded against the rest
    assert _padding(lengths, chunks) > 0.3 and _padding(lengths, groups) < 0.1


def test_snli_like_lengths_waste_little_padding():
    rng = random.Random(2)
    lengths = [min(128, int(rng.lognormvariate(3.2, 0.35))) for _ in range(1000)]
    assert _padding(lengths, length_groups(lengths, 128)) < 0.08


def test_group_by_length_in_a_config_is_the_trainers_length_grouped_sampling():
    from RoBERTa_model.config import config_from_values

    for given, expected in ((True, "group_by_length"), (False, "random")):
        config = config_from_values({"model_name_or_path": "m", "task_name": "snli", "group_by_length": given})
        assert config.training.train_sampling_strategy == expected
        assert config.given["train_sampling_strategy"] == expected and "group_by_length" not in config.given
    import pytest

    from RoBERTa_model.config import ConfigError

    with pytest.raises(ConfigError, match="'group_by_length' must be true or false, got 'yes'"):
        config_from_values({"model_name_or_path": "m", "task_name": "snli", "group_by_length": "yes"})


def test_the_quickstart_fine_tunes_with_length_grouping_and_keeps_adapters_in_random_order():
    from experiments.encoder_jobs import ENCODER_METHODS

    assert ENCODER_METHODS["finetune"]["train_sampling_strategy"] == "group_by_length"
    assert "train_sampling_strategy" not in ENCODER_METHODS["adapter"]  # grouped batches made adapters collapse
