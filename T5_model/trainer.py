"""The T5 trainer: Adafactor at a fixed learning rate, accumulation, validation, checkpoints, cartography."""

from __future__ import annotations

import json
import logging
import math
import time
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path

import torch

from dataloader.batching import (
    IGNORE_INDEX,
    Batch,
    EncodedSplit,
    encode_split,
    eval_batches,
    train_batches,
)
from dataloader.metrics import evaluate, label_word_warning, per_example_scores
from dataloader.tasks import Example, label_set
from module.checkpoint import load_checkpoint, save_checkpoint
from module.distributed import leave_at_exit
from module.files import atomic_write_text, remove_stale_temporaries
from module.metrics_log import MetricsLog
from module.rng import rng_state, set_rng_state
from module.tensors import copy_into
from module.update_loop import LoopHooks, LoopLimits, LoopState, apply_update, epoch_order, run_updates
from T5_model.evaluation import (
    EvalOutput,
    evaluate_batches,
    label_confidence,
    shift_right,
)
from T5_model.model import trained_state

COLLAPSED_TRAIN_LOSS = 1e-7  # the original: a validation after a train-loss mean below this is no improvement


def load_into_model(model: torch.nn.Module, path: str | Path) -> dict:
    """Copy a checkpoint's tensors into `model` (every name and shape must match, tied tensors must agree);
    returns its metadata plus `_optimizer`, `_scheduler` and `_rng` states."""
    ckpt = load_checkpoint(path)
    copy_into(model, ckpt.tensors, str(path), f"a {ckpt.kind!r} checkpoint; check --tune_method/--adapter_type")
    return {**ckpt.meta, "_optimizer": ckpt.optimizer, "_scheduler": ckpt.scheduler, "_rng": ckpt.rng}


def build_optimizer(params, lr: float, beta1: float | None = None):
    """Adafactor with a fixed learning rate: no relative step, no parameter scaling (the original's setting)."""
    from transformers.optimization import Adafactor

    return Adafactor(params, lr=lr, beta1=beta1, scale_parameter=False, relative_step=False, warmup_init=False)


NO_DECAY = ("bias", "layer_norm.weight")  # the original's names that get no weight decay in full tuning


def parameter_groups(model: torch.nn.Module, tune_method: str, weight_decay: float) -> list[dict]:
    """The original's optimiser groups: full tuning decays every weight but biases and layer norms; adapters none."""
    named = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    if tune_method != "model":
        return [{"params": [p for _, p in named], "weight_decay": 0.0}]
    decay = [p for n, p in named if not any(nd in n for nd in NO_DECAY)]
    rest = [p for n, p in named if any(nd in n for nd in NO_DECAY)]
    return [group for group in ({"params": decay, "weight_decay": weight_decay},
                                {"params": rest, "weight_decay": 0.0}) if group["params"]]


def micro_batch_size(update_batch: int, accumulation_steps: int, largest: int) -> int:
    """Rows per micro-batch: one update's batch cut into `accumulation_steps` parts, each at most `largest`."""
    return max(1, min(largest, math.ceil(update_batch / accumulation_steps)))


def build_scheduler(optimizer, style: str, warmup: int, total: int):
    """`constant` (the original's only schedule), `constant_with_warmup` or `linear` (warm-up, then decay to 0 at
    `total`). Warm-up starts at 1/warmup, not at 0 as transformers' `get_scheduler` does, so that the first update
    is not wasted; the README's T5 numbers were measured with this schedule."""
    def factor(step: int) -> float:
        if style == "constant":
            return 1.0
        if step < warmup:
            return (step + 1) / max(warmup, 1)
        if style == "linear":
            return max(0.0, (total - step) / max(total - warmup, 1))
        return 1.0
    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def warmup_updates(args) -> int:
    """Warm-up updates: --warmup_steps, or --warmup_rate of --train_iters when it is 0 (the original's rule)."""
    return args.warmup_steps if args.warmup_steps > 0 else int(args.warmup_rate * args.train_iters)


def loop_limits(args) -> LoopLimits:
    """The update loop's limits from the T5 track's flags."""
    return LoopLimits(train_iters=args.train_iters, train_epochs=args.train_epochs, log_interval=args.log_interval,
                      valid_interval=args.valid_interval, output_interval=args.output_interval,
                      early_stop=args.early_stop)


def batch_rows(batch: Batch, start: int, stop: int) -> Batch:
    """Rows start:stop of a batch, trimmed to their own longest input and target."""
    mask = batch.attention_mask[start:stop]
    labels = batch.labels[start:stop]
    width = int(mask.sum(1).max())
    label_width = int((labels != IGNORE_INDEX).sum(1).max())
    return Batch(batch.indices[start:stop], batch.input_ids[start:stop, :width], mask[:, :width],
                 labels[:, :label_width])


def split_batch(batch: Batch, size: int) -> list[Batch]:
    """Cut a batch into micro-batches of at most `size` rows, each trimmed to its own longest item."""
    return [batch_rows(batch, start, start + size) for start in range(0, len(batch.indices), size)]


def process_share(group: Batch, rank: int, world: int) -> tuple[Batch, float]:
    """The rows of one update's batch that process `rank` of `world` runs, and the weight of their loss.

    Each process takes a contiguous block. A process left without rows (a batch smaller than the number of
    processes) runs the first row with weight 0, so that every process takes part in every update (distributed
    data parallel synchronises gradients inside backward).
    """
    n = len(group.indices)
    per = math.ceil(n / world)
    start, stop = min(rank * per, n), min((rank + 1) * per, n)
    if start == stop:
        return batch_rows(group, 0, 1), 0.0
    return batch_rows(group, start, stop), 1.0


@dataclass
class SplitData:
    """A split's examples, encoded once, and its evaluation batches."""

    examples: list[Example]
    encoded: EncodedSplit
    batches: list[Batch]

    @property
    def answers(self) -> list[list[str]]:
        return self.encoded.answers


def prepare_split(examples: list[Example], tokenizer, task: str, options) -> SplitData:
    """A split encoded once with the options' pre-processing, and its evaluation batches."""
    enc = encode_split(examples, tokenizer, task, lowercase=options.do_lowercase,
                       append_another_bos=options.append_another_bos, max_input_length=options.max_input_length,
                       max_output_length=options.max_output_length)
    return SplitData(list(examples), enc, eval_batches(enc, options.predict_batch_size, tokenizer.pad_token_id))


class Trainer(LoopHooks):
    """Tunes one model on one task; writes checkpoints, a log file and `metrics.csv` into `run_dir`."""

    def __init__(self, args, model, tokenizer, task: str, metric: str,
                 splits: dict[str, list[Example]], run_dir: Path, logger: logging.Logger | None = None):
        from accelerate import Accelerator

        self.args, self.task, self.metric = args, task, metric
        self.tokenizer, self.run_dir = tokenizer, Path(run_dir)
        self.logger = logger or logging.getLogger("tune")
        # cpu=True where there is no GPU: otherwise accelerate ignores torchrun's processes on a CPU machine and
        # each one trains the whole run alone (gloo is the CPU backend)
        self.accelerator = Accelerator(cpu=not torch.cuda.is_available())
        leave_at_exit()
        self.model = model.to(self.accelerator.device)
        self.pad_id = tokenizer.pad_token_id
        self.data = {name: prepare_split(examples, tokenizer, task, args) for name, examples in splits.items()}
        self.group_size = args.train_batch_size  # one update's batch, however it is cut into micro-batches
        self.micro_size = micro_batch_size(self.group_size, args.gradient_accumulation_steps, args.micro_batch_size)
        self.start_time = time.time()
        self.metrics_log = MetricsLog(self.run_dir / "metrics.csv", metric, self.logger)
        self.warnings: dict[str, str] = {}  # split -> the last label-word warning (see label_word_warning)

    # ------------------------------------------------------------------ evaluation
    def evaluate_split(self, name: str) -> tuple[float, EvalOutput]:
        """Metric and outputs of the current model on one split."""
        data = self.data[name]
        out = evaluate_batches(self.accelerator.unwrap_model(self.model), data.batches, self.tokenizer,
                               self.args.max_output_length)
        warning = label_word_warning(out.predictions, data.answers, name)
        if warning:
            self.logger.warning(warning)
            self.warnings[name] = warning
        else:
            self.warnings.pop(name, None)
        return evaluate(out.predictions, data.answers, self.metric), out

    def load_tensors(self, path: str | Path) -> dict:
        """Copy a checkpoint's tensors into the model (strictly: every name must exist); returns its metadata."""
        return load_into_model(self.accelerator.unwrap_model(self.model), path)

    # ------------------------------------------------------------------ logging
    def _record(self, step: int, epoch: int, kind: str, loss: float, performance: float | None, lr: float) -> None:
        if self.accelerator.is_main_process:
            self.metrics_log.record(step, epoch, kind, loss, performance, lr)

    def save(self, name: str, step: int, epoch: int, position: int, extra: dict | None = None,
             optimizer=None, scheduler=None) -> Path:
        """Write `<run_dir>/<name>` atomically (main process only)."""
        path = self.run_dir / name
        rng = None
        if optimizer is not None:  # a resumable checkpoint: every process's generators, so dropout continues exactly
            from accelerate.utils import gather_object

            rng = gather_object([rng_state()]) if self.accelerator.num_processes > 1 else [rng_state()]
        if self.accelerator.is_main_process:
            model = self.accelerator.unwrap_model(self.model)
            meta = {"args": vars(self.args), "num_updates": step, "epoch": epoch, "position_in_epoch": position,
                    "tune_method": self.args.tune_method, "task": self.task, "metric": self.metric,
                    "config": model.config.to_dict(), "num_processes": self.accelerator.num_processes,
                    **(extra or {})}
            save_checkpoint(path, trained_state(model, self.args.tune_method), kind=self.args.tune_method, meta=meta,
                            optimizer=optimizer.state_dict() if optimizer else None,
                            scheduler=scheduler.state_dict() if scheduler else None, rng=rng)
            self.logger.info(f"saved {self.args.tune_method} tensors at step {step} to {path}")
        self.accelerator.wait_for_everyone()
        return path

    # ------------------------------------------------------------------ cartography
    def cartography_epoch(self, store: dict, path: Path) -> None:
        """Append this epoch's per-example accuracy and gold-label confidence; rewrite `path` atomically."""
        data = self.data["train"]
        labels = label_set(data.examples)
        metric = self.metric if self.metric in ("ACC", "EM", "QA-F1", "Rouge-L") else "ACC"
        _, out = self.evaluate_split("train")
        acc = per_example_scores(out.predictions, data.answers, metric)
        gold = [labels.index(e.answers[0]) for e in data.examples]
        conf = label_confidence(self.accelerator.unwrap_model(self.model), data.batches, self.tokenizer, labels,
                                gold, self.args.do_lowercase, self.args.max_output_length)
        for i in range(len(data.examples)):
            entry = store.setdefault(str(i), {"acc": [], "confidence": []})
            entry["acc"].append(float(acc[i]))
            entry["confidence"].append(float(conf[i]))
        if self.accelerator.is_main_process:
            atomic_write_text(path, json.dumps(store))

    # ------------------------------------------------------------------ training
    def train(self) -> dict:
        """Train until `--train_iters` updates or `--train_epochs` epochs (or early stop); returns a summary."""
        a, acc = self.args, self.accelerator
        self.run_dir.mkdir(parents=True, exist_ok=True)
        if acc.is_main_process:
            remove_stale_temporaries(self.run_dir)  # checkpoint-sized leftovers of a killed save
        groups = parameter_groups(self.model, a.tune_method, a.weight_decay)
        if not groups:
            raise ValueError("no trainable parameters (check --tune_method and --apply_adapter)")
        self.optimizer = build_optimizer(groups, a.learning_rate)
        self.scheduler = build_scheduler(self.optimizer, a.lr_decay_style, warmup_updates(a), a.train_iters)
        self.model, self.optimizer = acc.prepare(self.model, self.optimizer)
        state = self._resume()
        if acc.is_main_process:  # rows and events after the start step: a killed run's, now trained again
            self.metrics_log.resume_at(state.num_updates)
        self.cartography: dict = {}
        self.last_performance = None
        self.model.train()
        state = run_updates(loop_limits(a), state, self, f"train {self.run_dir.name}",
                            quiet=a.quiet or not acc.is_main_process, logger=self.logger)
        self.save("checkpoint-last.pt", state.num_updates, state.epoch, 0,
                  {"best_metric": state.best, "best_step": state.best_step}, self.optimizer, self.scheduler)
        self.metrics_log.close()
        return {"num_updates": state.num_updates, "best_dev": state.best, "best_step": state.best_step}

    def _resume(self) -> LoopState:
        """The state of the latest `checkpoint@N.pt`, its tensors, optimiser and scheduler loaded (a fresh state
        when there is none); its generator states are restored once the resumed epoch has been seeded."""
        state, self.pending_rng = LoopState(), None
        resume = self._latest_checkpoint()
        if resume is None:
            return state
        meta = self.load_tensors(resume)
        if meta.get("_optimizer"):
            self.optimizer.load_state_dict(meta["_optimizer"])
        if meta.get("_scheduler"):
            self.scheduler.load_state_dict(meta["_scheduler"])
        state = LoopState(num_updates=meta["num_updates"], epoch=meta.get("epoch", 0),
                          position=meta.get("position_in_epoch", 0), best=meta.get("best_metric", -math.inf),
                          best_step=meta.get("best_step", 0), bad_valids=meta.get("bad_valids", 0))
        self.logger.info(f"resuming from {resume} at step {state.num_updates}")
        self.pending_rng = meta.get("_rng")
        processes = self.accelerator.num_processes
        if self.pending_rng is not None and len(self.pending_rng) != processes:
            self.logger.warning(f"{resume} was saved by {len(self.pending_rng)} processes, this run has "
                                f"{processes}: dropout draws will differ from an uninterrupted run")
            self.pending_rng = None
        return state

    # ------------------------------------------------------------------ the update loop's hooks
    def epoch_batches(self, epoch: int):
        """This epoch's update batches (seeded by --seed and the epoch; a resumed epoch continues the generators)."""
        order = epoch_order(self.args.seed, epoch)
        if self.pending_rng is not None:  # where the checkpoint left off in this epoch
            set_rng_state(self.pending_rng[self.accelerator.process_index])
            self.pending_rng = None
        return train_batches(self.data["train"].encoded, self.group_size, self.pad_id, order)

    def update(self, batch: Batch, step: int) -> float:
        """One optimiser update over a group of examples; returns its mean token loss."""
        acc = self.accelerator
        loss = self.backward_group(batch, acc.process_index, acc.num_processes)
        clip = None
        if self.args.max_grad_norm > 0:
            def clip():
                return acc.clip_grad_norm_([p for p in self.model.parameters() if p.requires_grad],
                                           self.args.max_grad_norm)
        apply_update(self.optimizer, self.scheduler, clip)
        return loss

    def lr(self) -> float:
        return self.scheduler.get_last_lr()[0]

    def record(self, step: int, epoch: int, kind: str, loss: float, performance: float | None, lr: float) -> None:
        self._record(step, epoch, kind, loss, performance, lr)

    def wants_validation(self, step: int, last: bool) -> bool:
        return not self.args.cartography and step % self.args.valid_interval == 0 and "dev" in self.data

    def validate(self, step: int, epoch: int, lr: float) -> float:
        performance, out = self.evaluate_split("dev")
        self._record(step, epoch, "valid", out.loss, performance, lr)
        self.last_performance, self.last_dev_loss = performance, out.loss
        return performance

    def may_improve(self, train_mean: float) -> bool:
        if train_mean < COLLAPSED_TRAIN_LOSS:
            self.logger.info(f"train loss {train_mean:.3g} < {COLLAPSED_TRAIN_LOSS}: this validation counts as no "
                             "improvement (as the original)")
            return False
        return True

    def save_best(self, state: LoopState, performance: float) -> None:
        self.save("checkpoint-best.pt", state.num_updates, state.epoch, state.position,
                  {"dev_performance": performance, "dev_loss": self.last_dev_loss})

    def wants_checkpoint(self, step: int, ending: bool) -> bool:
        return not self.args.cartography and step % self.args.output_interval == 0

    def save_resumable(self, state: LoopState) -> None:
        self.save(f"checkpoint@{state.num_updates}.pt", state.num_updates, state.epoch, state.position,
                  {"best_metric": state.best, "best_step": state.best_step, "bad_valids": state.bad_valids},
                  self.optimizer, self.scheduler)

    def end_of_epoch(self, epoch: int) -> None:
        if self.args.cartography:
            self.cartography_epoch(self.cartography, self.run_dir.parent / "cartography.json")

    def postfix(self) -> dict | None:
        return None if self.last_performance is None else {self.metric: f"{self.last_performance:.3f}"}

    def backward_group(self, group: Batch, rank: int = 0, world: int = 1) -> float:
        """Accumulate the gradient of a group's mean token loss over its micro-batches (one normalisation)."""
        acc = self.accelerator
        cfg = acc.unwrap_model(self.model).config
        tokens = int((group.labels != IGNORE_INDEX).sum())
        share, weight = process_share(group, rank, world)
        mine = split_batch(share, self.micro_size)
        total = 0.0
        for k, micro in enumerate(mine):
            micro = micro.to(acc.device)
            out = self.model(input_ids=micro.input_ids, attention_mask=micro.attention_mask,
                             decoder_input_ids=shift_right(micro.labels, cfg.decoder_start_token_id, cfg.pad_token_id))
            loss_sum = torch.nn.functional.cross_entropy(out.logits.float().transpose(1, 2), micro.labels,
                                                         ignore_index=IGNORE_INDEX, reduction="sum") * weight
            with acc.no_sync(self.model) if k < len(mine) - 1 else nullcontext():
                acc.backward(loss_sum * world / tokens)
            total += float(loss_sum.detach())
        return total * world / tokens

    def _latest_checkpoint(self) -> Path | None:
        found = []
        for path in self.run_dir.glob("checkpoint@*.pt"):
            try:
                found.append((int(path.stem.split("@")[1]), path))
            except ValueError:
                continue
        return max(found)[1] if found else None
