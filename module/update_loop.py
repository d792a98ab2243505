"""The one update loop of every trainer here: epochs of batches, logging windows, validation with best-so-far and
early stop, resumable checkpoints and resuming mid-epoch. What a trainer does at each of these moments is a hook."""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass

import torch
from tqdm.auto import tqdm

UNBOUNDED = 10_000_000  # the original's "no limit" for --train_iters / --train_epochs (no total on the bar)


@dataclass
class LoopState:
    """Where a run stands: updates done, epoch and batch position in it, best validation and its step."""

    num_updates: int = 0
    epoch: int = 0
    position: int = 0  # batches of `epoch` already trained
    best: float = -math.inf
    best_step: int = 0
    bad_valids: int = 0  # validations in a row without improvement
    finished: bool = False

    def as_dict(self) -> dict:
        """The state as plain values (for a checkpoint's metadata)."""
        return asdict(self)


@dataclass
class LoopLimits:
    """When the loop logs, validates, saves and stops (the T5 track's flags of the same names)."""

    train_iters: int
    train_epochs: int = UNBOUNDED
    log_interval: int = 100
    valid_interval: int = UNBOUNDED
    output_interval: int = UNBOUNDED
    early_stop: int = -1  # validations without improvement before stopping; <= 0: never


class LoopHooks:
    """What a trainer plugs into `run_updates`; the defaults do nothing (no validation, no checkpoints)."""

    def epoch_batches(self, epoch: int) -> Iterable:
        """The update batches of one epoch, in order (seeded by the trainer)."""
        raise NotImplementedError

    def update(self, batch, step: int) -> float:
        """One optimiser update on `batch` (the `step`-th); returns its training loss."""
        raise NotImplementedError

    def lr(self) -> float:
        """The current learning rate."""
        return 0.0

    def record(self, step: int, epoch: int, kind: str, loss: float, performance: float | None, lr: float) -> None:
        """Log one train window ('train') or validation."""

    def wants_validation(self, step: int, last: bool) -> bool:
        """Whether to validate after update `step` (`last`: the final update of the run)."""
        return False

    def validate(self, step: int, epoch: int, lr: float) -> float:
        """Validate (and record); returns the performance compared against the best so far."""
        raise NotImplementedError

    def may_improve(self, train_mean: float) -> bool:
        """Whether a validation after this train-loss mean may count as an improvement."""
        return True

    def save_best(self, state: LoopState, performance: float) -> None:
        """The validation just made is the best so far."""

    def wants_checkpoint(self, step: int, ending: bool) -> bool:
        """Whether to save a resumable checkpoint after update `step` (`ending`: the loop stops after it)."""
        return False

    def save_resumable(self, state: LoopState) -> None:
        """Save what resuming from `state` needs."""

    def should_stop(self, step: int) -> bool:
        """Stop after update `step` for a reason of the trainer's own (e.g. a time limit)."""
        return False

    def end_of_epoch(self, epoch: int) -> None:
        """An epoch ended (also when the run stops inside it)."""

    def postfix(self) -> dict | None:
        """What the progress bar shows after each update (None: leave it as it is)."""
        return None


def epoch_order(seed: int, epoch: int) -> random.Random:
    """Seed one epoch: torch's generator (dropout) and the returned generator of the batch order, both from the seed
    and the epoch alone, so that a resumed run draws what an uninterrupted one would."""
    torch.manual_seed(seed * 100_003 + epoch)
    return random.Random(f"{seed}-{epoch}")


def apply_update(optimizer, scheduler, clip: Callable[[], object] | None = None) -> None:
    """Finish an update whose gradients are in place: clip (when given), step, schedule, clear the gradients."""
    if clip is not None:
        clip()
    optimizer.step()
    scheduler.step()
    optimizer.zero_grad(set_to_none=True)


def _mean(values: list[float]) -> float:
    return sum(values) / max(len(values), 1)


def run_updates(limits: LoopLimits, state: LoopState, hooks: LoopHooks, desc: str, quiet: bool = False,
                logger=None) -> LoopState:
    """Train from `state` until `limits.train_iters` updates, `limits.train_epochs` epochs, early stop or
    `hooks.should_stop`; the updated `state` is returned (the last train window is recorded, nothing is saved)."""
    bar = tqdm(total=limits.train_iters if limits.train_iters < UNBOUNDED else None, initial=state.num_updates,
               desc=desc, disable=quiet, unit="upd")
    window: list[float] = []
    last_mean = None  # the most recently logged train-loss mean (the original's train_loss_mean)
    stop = state.finished or state.num_updates >= limits.train_iters
    epoch = state.epoch
    while not stop and epoch < limits.train_epochs:
        for position, batch in enumerate(hooks.epoch_batches(epoch)):
            if epoch == state.epoch and position < state.position:
                continue  # trained before the resume point
            step = state.num_updates + 1
            window.append(hooks.update(batch, step))
            state.num_updates, state.epoch, state.position = step, epoch, position + 1
            bar.update(1)
            lr = hooks.lr()
            if step % limits.log_interval == 0:
                last_mean = _mean(window)
                hooks.record(step, epoch, "train", last_mean, None, lr)
                window = []
            last = step >= limits.train_iters
            if hooks.wants_validation(step, last):
                performance = hooks.validate(step, epoch, lr)
                if performance >= state.best and hooks.may_improve(last_mean if last_mean is not None
                                                                   else _mean(window)):
                    state.best, state.best_step, state.bad_valids = performance, step, 0
                    hooks.save_best(state, performance)
                else:
                    state.bad_valids += 1
                if 0 < limits.early_stop <= state.bad_valids:
                    if logger is not None:
                        logger.info(f"early stop: {state.bad_valids} validations without improvement")
                    stop = True
            shown = hooks.postfix()
            if shown:
                bar.set_postfix(shown)
            stop = stop or last or hooks.should_stop(step)
            if hooks.wants_checkpoint(step, stop):
                hooks.save_resumable(state)
            if stop:
                break
        else:
            state.position = 0
        hooks.end_of_epoch(epoch)
        if not stop:
            epoch += 1
            state.epoch, state.position = epoch, 0
    bar.close()
    if window:
        hooks.record(state.num_updates, epoch, "train", _mean(window), None, hooks.lr())
    return state
