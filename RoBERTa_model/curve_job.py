"""Curves of the encoder track: a Bezier or PolyChain curve between two runs tuned from one backbone, its bends
trained on the training examples (one t ~ U(0, 1) per update, the endpoints fixed) by the shared curve trainer
(module/curve_training.py: resumable, validated at `valid_t`, the best kept), then swept like a line."""

from __future__ import annotations

import math
import random
from collections.abc import Iterator

from module.curve_training import (
    BEST,
    CurveData,
    CurveRecipe,
    curve_names,
    curve_on_model,
    family_curve_data,
    train_and_sweep,
)
from module.curves import CURVE_TYPES, Curve
from module.families import get_family
from module.identity import CURVE_TRAINING, SWEEP
from module.path_jobs import PathSetup
from module.update_loop import LoopLimits
from RoBERTa_model.config import ConfigError, EncoderConfig
from RoBERTa_model.encoder import EncodedTask, collate, encode_task, load_task_split, task_data_files
from RoBERTa_model.jobs import encoder_path_setup, line_inputs, line_settings, training_examples, tuned_tensors
from RoBERTa_model.sweeps import classifier_evaluation


def check_curve_keys(config: EncoderConfig) -> None:
    """The curve's keys are possible (one line naming the config and key otherwise)."""
    itp = config.interpolation
    for key in ("bend_num", "curve_steps", "output_interval", "curve_log_interval"):
        if getattr(itp, key) < 1:
            raise ConfigError(f"{config.source}: key '{key}' must be at least 1, got {getattr(itp, key)}")
    if itp.valid_interval is not None and itp.valid_interval < 1:
        raise ConfigError(f"{config.source}: key 'valid_interval' must be at least 1 (or null), "
                          f"got {itp.valid_interval}")
    if not (math.isfinite(itp.curve_lr) and itp.curve_lr > 0):
        raise ConfigError(f"{config.source}: key 'curve_lr' must be a positive number, got {itp.curve_lr}")
    if itp.curve_type not in CURVE_TYPES:
        raise ConfigError(f"{config.source}: key 'curve_type' must be one of {', '.join(CURVE_TYPES)}, "
                          f"got {itp.curve_type!r}")
    if not itp.valid_t or not all(isinstance(t, (int, float)) and 0.0 <= t <= 1.0 for t in itp.valid_t):
        raise ConfigError(f"{config.source}: key 'valid_t' must be a non-empty list of numbers in [0, 1], "
                          f"got {itp.valid_t!r}")


def curve_recipe(config: EncoderConfig, settings: dict) -> CurveRecipe:
    """How curve_find_adapter.py trains the bends: `curve_steps` updates, validated every `valid_interval` (else
    once at the end) at `valid_t`, a resumable checkpoint every `output_interval`, no gradient clipping."""
    itp, training = config.interpolation, config.training
    limits = LoopLimits(train_iters=itp.curve_steps, log_interval=itp.curve_log_interval,  # one epoch: the stream
                        valid_interval=itp.valid_interval or itp.curve_steps, output_interval=itp.output_interval)
    return CurveRecipe(training.seed, limits, [float(t) for t in itp.valid_t], settings,
                       meta={"task": config.data.task_name, "metric": "ACC", "config": str(config.source)},
                       quiet=training.disable_tqdm)


def example_stream(train: EncodedTask, batch_size: int, pad_id: int, seed: int) -> Iterator[dict]:
    """The encoder curve's update batches, one endless stream (the loop runs it as a single epoch): every example
    once per permutation, the permutations drawn one after another from `seed`, a batch taking the end of one and
    the start of the next (the stream this track's curves have been trained on, so their numbers stay; dropout
    draws from the generators as they stand, and a resumed run gets them back from its checkpoint)."""
    rng, order = random.Random(seed), []
    while True:
        while len(order) < batch_size:
            order += rng.sample(range(len(train)), len(train))
        ids, order = order[:batch_size], order[batch_size:]
        yield collate([train.item(i) for i in ids], pad_id)


def find_adapter_curve(config: EncoderConfig) -> list[dict]:
    """curve_find_adapter.py: train the curve between path1 and path2 in `output_dir` (a finished curve of the same
    settings is reused, an interrupted one resumed), then sweep it at `itpl_points` evenly spaced t; returns the
    records."""
    check_curve_keys(config)
    itp, data_args, delta, training = config.interpolation, config.data, config.delta, config.training
    endpoints = (itp.path1, itp.path2)
    labels, tokenizer, model, encoded = line_inputs(config)
    theta1 = tuned_tensors(itp.path1, delta.delta_type, delta.unfrozen_modules, labels)
    theta2 = tuned_tensors(itp.path2, delta.delta_type, delta.unfrozen_modules, labels)
    dev = encoded["dev"] if "dev" in encoded else encode_task(
        load_task_split(data_args.data_dir, data_args.task_name, "dev", data_args.max_eval_samples), tokenizer,
        labels, data_args.max_source_length)
    dev_file = task_data_files(data_args.data_dir, data_args.task_name, ["dev"])[0]  # the curve is validated on it
    settings = line_settings(config, encoded, *endpoints, CURVE_TRAINING, "curve_find_adapter", (dev_file,))
    setup = encoder_path_setup(config, tokenizer, model, encoded,
                               lambda path1, path2: line_settings(config, encoded, path1, path2,
                                                                  SWEEP + CURVE_TRAINING, "curve_find_adapter",
                                                                  (f"{training.output_dir}/{BEST}",)))
    setup.coordinate = "t"
    model.requires_grad_(False)
    names, skipped = curve_names(model, theta1, itp.path1, "check delta_type/unfrozen_modules")
    curve_names(model, theta2, itp.path2, "check delta_type/unfrozen_modules")
    curve = Curve({n: theta1[n] for n in names}, {n: theta2[n] for n in names}, itp.bend_num,
                  curve_type=itp.curve_type)  # bends on the line: the untrained curve is the line
    targets = curve_on_model(model, names, skipped, theta1, curve)

    def prepare(logger) -> tuple[CurveData, PathSetup]:
        train = encode_task(training_examples(data_args), tokenizer, labels, data_args.max_source_length)
        validation = classifier_evaluation(model, {"dev": dev}, training.per_device_eval_batch_size,
                                           tokenizer.pad_token_id)
        data = family_curve_data(get_family("encoder"), model, tokenizer, train, training.per_device_train_batch_size,
                                 validation, itp.curve_lr, training.seed)
        data.epoch_batches = lambda epoch: example_stream(train, training.per_device_train_batch_size,
                                                          tokenizer.pad_token_id, training.seed)
        return data, setup

    return train_and_sweep(curve_recipe(config, settings), model, curve, targets, endpoints, training.output_dir,
                           prepare, logger_name="curve_find_adapter")
