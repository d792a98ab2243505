"""Curves of the encoder track: a Bezier curve between two runs tuned from one backbone (its bends trained on the
training examples, one t ~ U(0, 1) per update, the endpoints fixed), then swept like a line."""

from __future__ import annotations

import math
import random
from pathlib import Path

import torch
from tqdm.auto import tqdm

from module.curves import Curve, functional_forward, load_curve, save_curve, step_t, write_point
from module.distributed import world_size
from module.files import folder_lock
from module.path_jobs import path_line
from module.runs import RUN_SETTINGS, claim_settings
from module.sweep import run_sweeps
from module.tensors import live_targets
from RoBERTa_model.config import ConfigError, EncoderConfig
from RoBERTa_model.encoder import EncodedTask, collate, encode_task, load_task_split, task_labels
from RoBERTa_model.jobs import encoder_path_setup, line_inputs, line_settings, training_examples, tuned_tensors

CURVE_FILE = "curve.pt"


def check_curve_keys(config: EncoderConfig) -> None:
    """The curve's keys are possible, and the job runs in one process (every process would train its own curve)."""
    itp = config.interpolation
    if itp.bend_num < 1:
        raise ConfigError(f"{config.source}: key 'bend_num' must be at least 1, got {itp.bend_num}")
    if itp.curve_steps < 1:
        raise ConfigError(f"{config.source}: key 'curve_steps' must be at least 1, got {itp.curve_steps}")
    if not (math.isfinite(itp.curve_lr) and itp.curve_lr > 0):
        raise ConfigError(f"{config.source}: key 'curve_lr' must be a positive number, got {itp.curve_lr}")
    if world_size() > 1:
        raise ConfigError(f"{config.source}: curve_find_adapter.py trains one curve in one process; run it without "
                          "torchrun")


def train_curve(model: torch.nn.Module, curve: Curve, train: EncodedTask, steps: int, lr: float, batch_size: int,
                pad_id: int, seed: int, quiet: bool = False) -> list[float]:
    """`steps` AdamW updates of the bends: each on a batch of random training examples (every example once per
    epoch, seeded) at t = step_t(seed, step), dropout on; returns the losses."""
    device = next(model.parameters()).device
    model.requires_grad_(False)
    model.train()
    curve.to(device)
    optimizer = torch.optim.AdamW(curve.parameters(), lr=lr, weight_decay=0.0)
    rng, order, losses = random.Random(seed), [], []
    bar = tqdm(range(1, steps + 1), desc="curve", disable=quiet)
    for step in bar:
        while len(order) < batch_size:
            order += rng.sample(range(len(train)), len(train))
        ids, order = order[:batch_size], order[batch_size:]
        batch = {k: v.to(device) for k, v in collate([train.item(i) for i in ids], pad_id).items()}
        loss = functional_forward(model, curve.point(step_t(seed, step)), **batch).loss
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        losses.append(float(loss.detach()))
        bar.set_postfix(loss=f"{losses[-1]:.4f}")
    model.eval()
    return losses


def find_adapter_curve(config: EncoderConfig) -> list[dict]:
    """curve_find_adapter.py: train the curve between path1 and path2 into `output_dir/curve.pt` (a finished curve
    of the same settings is reused), then sweep it at `itpl_points` evenly spaced t; returns the records."""
    check_curve_keys(config)
    itp, data_args, delta, training = config.interpolation, config.data, config.delta, config.training
    labels = task_labels(data_args.task_name, load_task_split(data_args.data_dir, data_args.task_name, "train"))
    theta1 = tuned_tensors(itp.path1, delta.delta_type, delta.unfrozen_modules, labels)
    theta2 = tuned_tensors(itp.path2, delta.delta_type, delta.unfrozen_modules, labels)
    _, tokenizer, model, encoded = line_inputs(config)
    settings = line_settings(config, encoded, itp.path1, itp.path2) | {
        "script": "curve_find_adapter", "curve": {"bend_num": itp.bend_num, "curve_steps": itp.curve_steps,
                                                  "curve_lr": itp.curve_lr, "seed": training.seed,
                                                  "batch_size": training.per_device_train_batch_size,
                                                  "max_train_samples": data_args.max_train_samples,
                                                  "datasplit": data_args.datasplit}}
    out = Path(training.output_dir)
    setup = encoder_path_setup(config, tokenizer, model, encoded, lambda path1, path2: settings)
    targets = live_targets(model, theta1, itp.path1)
    live_targets(model, theta2, itp.path2)
    with folder_lock(out):  # from the first write to the last point: no other run trains or sweeps here meanwhile
        claim_settings(out / RUN_SETTINGS, settings, (out / CURVE_FILE).is_file(), "a trained curve",
                       "use another output_dir or delete that folder")
        if (out / CURVE_FILE).is_file():
            curve, _ = load_curve(out / CURVE_FILE, theta1, theta2)
            print(f"[curve] reusing {out / CURVE_FILE} (same settings)")
        else:
            curve = Curve(theta1, theta2, itp.bend_num)  # bends on the line: the untrained curve is the line
            train = encode_task(training_examples(data_args), tokenizer, labels, data_args.max_source_length)
            losses = train_curve(model, curve, train, itp.curve_steps, itp.curve_lr,
                                 training.per_device_train_batch_size, tokenizer.pad_token_id, training.seed,
                                 training.disable_tqdm)
            save_curve(out / CURVE_FILE, curve, (itp.path1, itp.path2),
                       meta={"train_loss_last": sum(losses[-10:]) / len(losses[-10:]), "train_losses": losses})
        curve.to(next(model.parameters()).device)

        def move(t: float) -> None:
            with torch.no_grad():
                write_point(targets, curve.point(t))

        setup.extra_summary = {"curve_length": curve.length(), "line_length": curve.line_length(),
                               "bend_num": itp.bend_num}
        line = path_line(setup, itp.path1, itp.path2, out, move)
        return run_sweeps([line], setup.evaluate, "ACC", quiet=training.disable_tqdm, desc="curve")[0]
