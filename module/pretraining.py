"""Pre-training on random windows of a text's token stream, for any model family: the objective is a plug-in.

`pretrain(objective)` reads the text lines, tokenises them into one stream with the objective's tokenizer and runs
`steps` updates on the project's update loop (`module.update_loop.run_updates`): one epoch of `batch_size` windows at
seeded random starts, every step's loss recorded, `<out>/ckpt_<STEP>/` (a Hugging Face folder with pretraining.json)
saved atomically at the save steps, the last step and when `--max_minutes` ran out. `RunOptions` are the shared flags;
`flag` + `parse_options` make an entry point's parser from its options dataclass.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import MISSING, asdict, dataclass, field, fields
from pathlib import Path
from typing import Protocol, TypeVar

import numpy as np
import torch

from dataloader.tasks import text_lines
from module.cli import OneLineParser, seed_int
from module.files import atomic_folder, atomic_write_json, folder_lock
from module.update_loop import LoopHooks, LoopLimits, LoopState, apply_update, run_updates

Options = TypeVar("Options")


def flag(default=None, help: str | None = None, **argparse_kwargs):
    """A dataclass field that is also the command-line flag `--<name>` (argparse keywords as given)."""
    return field(default=default, metadata={"help": help, "argparse": argparse_kwargs})


def options_parser(cls: type, description: str | None = None) -> argparse.ArgumentParser:
    """The one-line-error parser of an options dataclass: one `--<field>` per field, in field order."""
    parser = OneLineParser(description=description)
    for f in fields(cls):
        parser.add_argument(f"--{f.name}", default=None if f.default is MISSING else f.default,
                            help=f.metadata.get("help"), **f.metadata.get("argparse", {}))
    return parser


def parse_options(cls: type[Options], argv: Sequence[str] | None = None, description: str | None = None,
                  check: Callable[[Options], Options] | None = None) -> Options:
    """Parse the command line into `cls`; a ValueError of `check` becomes a one-line parser error (exit 2)."""
    parser = options_parser(cls, description)
    options = cls(**vars(parser.parse_args(argv)))
    try:
        return check(options) if check else options
    except ValueError as exc:
        parser.error(str(exc))


@dataclass
class RunOptions:
    """Flags both pre-training scripts share: checkpoint steps, time and data limits, bf16, seed, quiet."""

    save_steps: list[int] | None = flag(None, "steps at which ckpt_<STEP> is saved (default: 4 evenly spaced, the "
                                              "last included)", type=int, nargs="*")
    max_minutes: float | None = flag(None, "stop (and save) after this many minutes", type=float)
    max_lines: int | None = flag(None, "use only the first N lines of --text", type=int)
    bf16: bool = flag(False, "bfloat16 autocast (GPUs, recent CPUs)", action="store_true")
    seed: int = flag(0, type=seed_int)
    quiet: bool = flag(False, action="store_true")


class PretrainOptions(Protocol):
    """What `pretrain` reads of an objective's options (its family's fields plus `RunOptions`)."""

    text: str
    out: str
    steps: int
    batch_size: int
    seq_len: int
    save_steps: list[int] | None
    max_minutes: float | None
    max_lines: int | None
    bf16: bool
    seed: int
    quiet: bool


def recent_loss(losses: list[float]) -> float:
    """The loss the progress bar shows and the run reports: the mean of the last 10% of steps, at most 50."""
    return float(np.mean(losses[-max(1, min(50, len(losses) // 10)):]))


def loss_curve(losses: list[float], every: int) -> list[list[float]]:
    """[last step, mean loss] of every `every` steps."""
    return [[min(i + every, len(losses)), round(float(np.mean(losses[i: i + every])), 4)]
            for i in range(0, len(losses), every)]


def default_save_steps(steps: int) -> list[int]:
    """Four evenly spaced steps, the last one included."""
    return sorted({max(1, round(steps * k / 4)) for k in range(1, 5)})


def read_lines(path: str | Path, limit: int | None = None) -> list[str]:
    """Non-empty stripped lines of a text file."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: text file not found (prepare it with: python utils/prepare_data.py --text)")
    lines = []
    for _, line in text_lines(path):
        line = line.strip()
        if line:
            lines.append(line)
            if limit and len(lines) >= limit:
                break
    if not lines:
        raise ValueError(f"{path}: no text")
    return lines


def token_stream(tokenizer, lines: list[str], chunk: int = 4096) -> np.ndarray:
    """All lines tokenised (no special tokens) and concatenated."""
    parts = []
    for start in range(0, len(lines), chunk):
        ids = tokenizer(lines[start: start + chunk], add_special_tokens=False)["input_ids"]
        parts.extend(np.asarray(x, dtype=np.int32) for x in ids)
    return np.concatenate(parts)


def save_folder(model, tokenizer, folder: str | Path, info: dict) -> None:
    """Write a Hugging Face folder (model, tokenizer, pretraining.json) atomically."""
    with atomic_folder(folder) as tmp:
        model.save_pretrained(str(tmp))
        tokenizer.save_pretrained(str(tmp))
        atomic_write_json(tmp / "pretraining.json", info)


def copy_into(folder: Path, out: Path) -> None:
    """Copy the files of `folder` into `out`, each one atomically."""
    for name in os.listdir(folder):
        shutil.copy2(folder / name, out / f".{name}.tmp")
        os.replace(out / f".{name}.tmp", out / name)


def summary(info: dict) -> int:
    """Print a run's one-line JSON summary; the exit code (1 when the loss is not finite)."""
    print(json.dumps({k: info[k] for k in ("step", "loss", "seconds", "params")}))
    return 0 if math.isfinite(info["loss"]) else 1


def adamw_warmup_linear(model: torch.nn.Module, lr: float, weight_decay: float, warmup_steps: int, steps: int,
                        no_decay: Callable[[str], bool], betas: tuple[float, float] = (0.9, 0.98), eps: float = 1e-6):
    """AdamW (no weight decay on the parameters `no_decay` names) with linear warm-up over `warmup_steps`, then a
    linear decay to 0 at `steps`: the optimiser and its per-update schedule."""
    named = list(model.named_parameters())
    groups = [{"params": [p for n, p in named if not no_decay(n)], "weight_decay": weight_decay},
              {"params": [p for n, p in named if no_decay(n)], "weight_decay": 0.0}]
    optimizer = torch.optim.AdamW(groups, lr=lr, betas=betas, eps=eps)
    warmup = max(warmup_steps, 0)

    def schedule(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        return max(0.0, (steps - step) / max(1, steps - warmup))

    return optimizer, torch.optim.lr_scheduler.LambdaLR(optimizer, schedule)


class Objective:
    """What a model family plugs into `pretrain`: tokenizer, model, optimiser, the batches of windows and the loss."""

    name = "pretrain"  # message prefix and progress-bar label
    copy_final = False  # also copy the last checkpoint into <out>/ with the whole run's pretraining.json
    show_vocabulary = False  # report the vocabulary size (pretraining.json's vocab_size, the start message)

    def __init__(self, options: PretrainOptions) -> None:
        self.options = options

    def prepare(self) -> None:
        """Refuse settings that cannot work and set up the process, before any work and the clock (default: nothing)."""

    def check_output(self, out: Path, save_steps: list[int]) -> None:
        """Refuse an output folder once the text is read (default: nothing)."""

    def tokenizer(self, lines: list[str], out: Path):
        """The tokenizer: trained on `lines` (scratch folders beside `out`) or loaded from the options' folder."""
        raise NotImplementedError

    def width(self) -> int:
        """Stream tokens per window."""
        raise NotImplementedError

    def start_count(self, tokens: int) -> int:
        """How many window starts a stream of `tokens` tokens offers (starts are drawn from 0 to this, exclusive)."""
        return tokens - self.width() + 1

    def model(self, tokenizer) -> torch.nn.Module:
        """A freshly initialised model for `tokenizer` (after the run's torch seed)."""
        raise NotImplementedError

    def optimizer(self, model: torch.nn.Module) -> tuple[torch.optim.Optimizer, torch.optim.lr_scheduler.LRScheduler]:
        """The optimiser and its per-update learning-rate schedule."""
        raise NotImplementedError

    def batch(self, stream: np.ndarray, starts: np.ndarray, rng: np.random.Generator) -> dict[str, torch.Tensor]:
        """The (CPU) batch of the windows at `starts`; `rng` is the run's generator, the one that drew `starts`."""
        raise NotImplementedError

    def loss(self, model: torch.nn.Module, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """The training loss of a batch (on the model's device)."""
        raise NotImplementedError

    def run_info(self) -> dict:
        """What pretraining.json records of the set-up besides the counts and the options."""
        return {}

    def checkpoint_info(self, losses: list[float], train_seconds: float) -> dict:
        """What each checkpoint's pretraining.json adds to step, loss and seconds."""
        return {}

    def final_info(self, losses: list[float]) -> dict:
        """What `<out>/pretraining.json` adds (`copy_final` only)."""
        return {}


class CurveObjective(Objective):
    """An objective whose checkpoints record the training speed and the loss curve."""

    def checkpoint_info(self, losses: list[float], train_seconds: float) -> dict:
        """Training speed and the loss curve ([step, mean] of every 1% of the steps, at most 50)."""
        every = max(1, min(50, self.options.steps // 100))
        return {"steps_per_second": round(len(losses) / train_seconds, 3), "loss_curve": loss_curve(losses, every)}


class PretrainLoop(LoopHooks):
    """`run_updates` hooks of a pre-training run: one epoch of `steps` random-window batches."""

    def __init__(self, objective: Objective, model: torch.nn.Module, tokenizer, stream: np.ndarray,
                 rng: np.random.Generator, device: str, info: dict, started: float) -> None:
        self.objective, self.options, self.model, self.tokenizer = objective, objective.options, model, tokenizer
        self.optimizer, self.scheduler = objective.optimizer(model)
        self.stream, self.rng, self.device, self.info, self.started = stream, rng, device, info, started
        o = self.options
        self.save_steps = set(o.save_steps or default_save_steps(o.steps))
        self.losses: list[float] = []
        self.train_started = time.time()

    def epoch_batches(self, epoch: int) -> Iterator[dict[str, torch.Tensor]]:
        """`steps` batches of windows at random starts."""
        count = self.objective.start_count(len(self.stream))
        for _ in range(self.options.steps):
            starts = self.rng.integers(0, count, size=self.options.batch_size)
            yield self.objective.batch(self.stream, starts, self.rng)

    def update(self, batch: dict[str, torch.Tensor], step: int) -> float:
        """Loss under (optional) bf16 autocast, backward, clip to norm 1, step."""
        batch = {k: v.to(self.device) for k, v in batch.items()}
        with torch.autocast(device_type=self.device, dtype=torch.bfloat16, enabled=self.options.bf16):
            loss = self.objective.loss(self.model, batch)
        loss.backward()
        apply_update(self.optimizer, self.scheduler, lambda: torch.nn.utils.clip_grad_norm_(self.model.parameters(),
                                                                                             1.0))
        return float(loss.detach())

    def lr(self) -> float:
        """The current learning rate."""
        return float(self.optimizer.param_groups[0]["lr"])

    def record(self, step: int, epoch: int, kind: str, loss: float, performance: float | None, lr: float) -> None:
        """Keep every step's loss (the loop logs every update)."""
        self.losses.append(loss)

    def should_stop(self, step: int) -> bool:
        """`--max_minutes` ran out (counted from before the tokenizer)."""
        limit = self.options.max_minutes
        return limit is not None and time.time() - self.started > 60 * limit

    def wants_checkpoint(self, step: int, ending: bool) -> bool:
        """At the save steps and when the run ends."""
        return step in self.save_steps or ending

    def save_resumable(self, state: LoopState) -> None:
        """Save `<out>/ckpt_<STEP>/` with the run's info so far."""
        now = time.time()
        self.info.update(step=state.num_updates, loss=recent_loss(self.losses), seconds=round(now - self.started, 1),
                         **self.objective.checkpoint_info(self.losses, now - self.train_started))
        save_folder(self.model, self.tokenizer, Path(self.options.out) / f"ckpt_{state.num_updates}", self.info)

    def postfix(self) -> dict | None:
        """The recent loss."""
        return {"loss": f"{recent_loss(self.losses):.3f}"}


def pretrain(objective: Objective) -> dict:
    """Pre-train with `objective` as its options say; returns the run's info (the last pretraining.json written)."""
    o = objective.options
    out = Path(o.out)
    objective.prepare()
    lines = read_lines(o.text, o.max_lines)
    objective.check_output(out, sorted(set(o.save_steps or default_save_steps(o.steps))))
    with folder_lock(out):  # one run at a time per output folder, from before its first write
        return _pretrain_into(objective, lines, out)


def _pretrain_into(objective: Objective, lines: list[str], out: Path) -> dict:
    """The pre-training run of `pretrain`, its inputs checked and its folder held."""
    o = objective.options
    torch.manual_seed(o.seed)
    rng = np.random.default_rng(o.seed)
    started = time.time()
    tokenizer = objective.tokenizer(lines, out)
    stream = token_stream(tokenizer, lines)
    if len(stream) < objective.width() * 2:
        raise ValueError(f"{o.text}: only {len(stream)} tokens, fewer than two windows of --seq_len {o.seq_len}")
    device = "cuda" if torch.cuda.is_available() else "cpu"
    model = objective.model(tokenizer).to(device)
    vocabulary = {"vocab_size": len(tokenizer)} if objective.show_vocabulary else {}
    args = {k: str(v) if isinstance(v, Path) else v for k, v in asdict(o).items()}  # callers may give Paths
    info = {"params": sum(p.numel() for p in model.parameters()), "tokens_in_corpus": int(len(stream)),
            "lines": len(lines), **vocabulary, "args": args, **objective.run_info()}
    loop = PretrainLoop(objective, model, tokenizer, stream, rng, device, info, started)
    shown = "".join(f"vocabulary {v}, " for v in vocabulary.values())
    print(f"[{objective.name}] {info['params'] / 1e6:.1f}M parameters, {shown}{len(stream) / 1e6:.2f}M tokens, "
          f"{o.steps} steps of {o.batch_size} x {o.seq_len} tokens on {device}")
    model.train()
    state = run_updates(LoopLimits(train_iters=o.steps, train_epochs=1, log_interval=1), LoopState(), loop,
                        objective.name, quiet=o.quiet)
    step, where = state.num_updates, out / f"ckpt_{state.num_updates}"
    if objective.copy_final:
        info.update(step=step, loss=recent_loss(loop.losses), seconds=round(time.time() - started, 1),
                    **objective.final_info(loop.losses))
        copy_into(where, out)
        atomic_write_json(out / "pretraining.json", info)
        where = out
    rate = f" ({info['steps_per_second']:.2f} steps/s)" if "steps_per_second" in info else ""
    print(f"[{objective.name}] done in {info['seconds'] / 60:.1f} min{rate}, final loss {info['loss']:.3f}: {where}")
    return info
