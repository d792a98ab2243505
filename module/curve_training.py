"""The curve job, written once for every model family: train the bends of a curve between two frozen endpoints on
the one update loop (module/update_loop.py: resumable checkpoints, validation at chosen points of the curve,
best-so-far, early stop), then sweep the chosen curve like a line (module/path_jobs.py).

A family hands over data: the update batches of an epoch, the loss of a batch at given tensors (`CurveData`), how
the bends are trained (`CurveRecipe`) and the sweep's `PathSetup`; Bezier and PolyChain curves, several bends and
several processes (the main process trains, every process sweeps its share) come with it."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch

from module.analysis import write_sweep_files
from module.checkpoint import load_checkpoint
from module.curves import Curve, length_weighted_mean, save_curve, step_t, write_point
from module.distributed import gather, join
from module.files import folder_lock, setup_logger
from module.functional import write_functional
from module.metrics_log import MetricsLog
from module.path_jobs import PathSetup, path_line
from module.rng import rng_state, set_rng_state
from module.runs import RUN_SETTINGS, claim_settings
from module.sweep import run_sweeps
from module.tensors import live_targets, tied_aliases
from module.update_loop import LoopHooks, LoopLimits, LoopState, apply_update, epoch_order, run_updates

BEST, LAST = "curve-best.pt", "curve-last.pt"
LENGTH_POINTS = 101  # grid of the reported curve_length


@dataclass
class CurveRecipe:
    """How a curve's bends are trained, resolved from a family's options."""

    seed: int  # draws each epoch's batch order, each update's t and the dropout
    limits: LoopLimits
    valid_ts: Sequence[float]  # the points of the curve whose mean dev metric picks the best curve
    settings: dict  # what shapes the trained curve (run_settings.json; a folder trained otherwise is refused)
    max_grad_norm: float = 0.0  # 0: no clipping
    meta: dict = field(default_factory=dict)  # more metadata for the checkpoints (the run's options, task, metric)
    summary: dict = field(default_factory=dict)  # more keys for summary.json (e.g. the bends' initialisation)
    quiet: bool = False


@dataclass
class CurveData:
    """A family's part of curve training: its update batches, the loss of a batch at given tensors, validation."""

    epoch_batches: Callable[[int], Iterable]  # the update batches of an epoch (seeded by the family: `epoch_order`)
    backward: Callable[[dict[str, torch.Tensor], object], float]  # a batch's loss at these leaf tensors, its
    # gradients put into them (micro-batches as the family likes); returns the loss
    validate: Callable[[], tuple[float, float]]  # (loss, metric) on the validation split at the model's point
    optimizer: Callable[[list[torch.nn.Parameter]], tuple[object, object]]  # (optimizer, scheduler) of the bends


def family_curve_data(family, model: torch.nn.Module, tokenizer, train: object, batch_size: int,
                      dev: Callable[[], dict], learning_rate: float, seed: int) -> CurveData:
    """Curve training through a model family (module/families.py): its training batches, shuffled anew each epoch
    (`epoch_order`: from the seed and the epoch alone, so a resumed run draws what an uninterrupted one does), and
    its loss; validation by `dev` (a split named dev); AdamW without weight decay at a constant learning rate."""
    def backward(leaves: dict[str, torch.Tensor], batch) -> float:
        loss = family.loss(model, leaves, batch)
        loss.backward()
        return float(loss.detach())

    def validate() -> tuple[float, float]:
        result = dev()["dev"]
        return result["loss"], result["performance"]

    def optimizer(params: list) -> tuple:
        built = torch.optim.AdamW(params, lr=learning_rate, weight_decay=0.0)
        return built, torch.optim.lr_scheduler.LambdaLR(built, lambda step: 1.0)

    return CurveData(lambda epoch: family.train_batches(train, tokenizer, batch_size, epoch_order(seed, epoch)),
                     backward, validate, optimizer)


def curve_names(model: torch.nn.Module, theta: Mapping[str, torch.Tensor], path: str,
                hint: str) -> tuple[list[str], list[str]]:
    """(names on the curve, names skipped): each endpoint tensor must exist in the model with the same shape.

    Tied aliases (e.g. encoder.embed_tokens.weight of shared.weight) and non-float tensors are skipped: the
    canonical tensor carries the tie, and integer buffers cannot be curved.
    """
    live_targets(model, theta, path, hint)
    tied_aliases(model, theta, path)
    canonical = dict(model.named_parameters()) | dict(model.named_buffers())
    on_curve, skipped = [], []
    for name, value in theta.items():
        if name in canonical and value.is_floating_point():
            on_curve.append(name)
        else:
            skipped.append(name)
    if not on_curve:
        raise ValueError(f"{path}: no floating-point model tensors to put on a curve")
    return on_curve, skipped


class CurveTrainer(LoopHooks):
    """Trains the bends of a curve; logs to `log.txt`/`metrics.csv` and saves curve-best.pt/curve-last.pt."""

    def __init__(self, recipe: CurveRecipe, data: CurveData, model: torch.nn.Module, curve: Curve,
                 targets: dict[str, torch.Tensor], endpoints: Sequence[str], metric: str, out_dir: Path,
                 logger: logging.Logger):
        self.recipe, self.data, self.model, self.curve, self.targets = recipe, data, model, curve, targets
        self.endpoints, self.metric, self.out_dir, self.logger = list(endpoints), metric, Path(out_dir), logger
        self.metrics_log = MetricsLog(self.out_dir / "metrics.csv", metric, self.logger)
        self.last_performance = None
        self.pending_rng = None  # generator states of the checkpoint a resumed training continues from

    def save(self, name: str, state: LoopState, optimizer=None, scheduler=None, extra: dict | None = None) -> Path:
        """Write the bends and the loop state (with optimiser and scheduler when given) to `<out_dir>/<name>`."""
        meta = {**self.recipe.meta, "train_settings": self.recipe.settings, **state.as_dict(), **(extra or {})}
        return save_curve(self.out_dir / name, self.curve, self.endpoints, meta,
                          optimizer=optimizer.state_dict() if optimizer else None,
                          scheduler=scheduler.state_dict() if scheduler else None,
                          rng=[rng_state()] if optimizer else None)  # resumable: dropout continues exactly

    def set_t(self, t: float) -> None:
        """Write φ(t) into the live model tensors."""
        with torch.no_grad():
            write_point(self.targets, self.curve.point(t))

    # ------------------------------------------------------------------ the update loop's hooks
    def epoch_batches(self, epoch: int):
        batches = self.data.epoch_batches(epoch)
        if self.pending_rng is not None:  # a resumed epoch: the generators where the checkpoint left them
            set_rng_state(self.pending_rng[0])
            self.pending_rng = None
        return batches

    def update(self, batch, step: int) -> float:
        """One optimiser update of the bends on the batch's loss at φ(t), t drawn for this step; returns the loss."""
        point = self.curve.point(step_t(self.recipe.seed, step))  # graph to the bends
        leaves = {name: value.detach().requires_grad_(True) for name, value in point.items()}
        loss = self.data.backward(leaves, batch)
        used = [name for name in self.curve.names if leaves[name].grad is not None]
        torch.autograd.backward([point[n] for n in used], [leaves[n].grad for n in used])
        norm = self.recipe.max_grad_norm
        apply_update(self.optimizer, self.scheduler,
                     (lambda: torch.nn.utils.clip_grad_norm_(list(self.curve.parameters()), norm)) if norm > 0
                     else None)
        return loss

    def lr(self) -> float:
        return self.scheduler.get_last_lr()[0]

    def record(self, step: int, epoch: int, kind: str, loss: float, performance: float | None, lr: float) -> None:
        self.metrics_log.record(step, epoch, kind, loss, performance, lr)

    def wants_validation(self, step: int, last: bool) -> bool:
        return step % self.recipe.limits.valid_interval == 0 or last

    def validate(self, step: int, epoch: int, lr: float) -> float:
        """Dev loss and metric at every t of the recipe's valid_ts (one metrics.csv row each, then their mean);
        returns the mean metric."""
        losses, perfs = [], []
        self.model.eval()
        for t in self.recipe.valid_ts:
            self.set_t(t)
            loss, perf = self.data.validate()
            self.record(step, epoch, f"valid@t={t}", loss, perf, lr)
            losses.append(loss)
            perfs.append(perf)
        mean = sum(perfs) / len(perfs)
        self.record(step, epoch, "valid", sum(losses) / len(losses), mean, lr)
        self.model.train()
        self.last_performance = mean
        return mean

    def save_best(self, state: LoopState, performance: float) -> None:
        self.save(BEST, state, extra={"dev_performance": performance, "valid_ts": list(self.recipe.valid_ts)})

    def wants_checkpoint(self, step: int, ending: bool) -> bool:
        return step % self.recipe.limits.output_interval == 0 and not ending

    def save_resumable(self, state: LoopState) -> None:
        self.save(LAST, state, self.optimizer, self.scheduler)

    def postfix(self) -> dict | None:
        return None if self.last_performance is None else {self.metric: f"{self.last_performance:.3f}"}

    # ------------------------------------------------------------------ training
    def train(self) -> LoopState:
        """Train until the recipe's limits (updates, epochs, early stop); resumes from curve-last.pt, and a finished
        curve-last.pt trains nothing."""
        self.optimizer, self.scheduler = self.data.optimizer(list(self.curve.parameters()))
        state = LoopState()
        if (self.out_dir / LAST).is_file():
            ckpt = load_checkpoint(self.out_dir / LAST)
            self.curve.load_bends(ckpt.tensors)
            if ckpt.optimizer:
                self.optimizer.load_state_dict(ckpt.optimizer)
            if ckpt.scheduler:
                self.scheduler.load_state_dict(ckpt.scheduler)
            state = LoopState(**{k: ckpt.meta[k] for k in state.as_dict() if k in ckpt.meta})
            self.pending_rng = ckpt.rng
            state.best = -float("inf") if state.best is None else state.best
            self.logger.info(f"{'reusing the finished' if state.finished else 'resuming the'} curve of "
                             f"{self.out_dir / LAST} at step {state.num_updates}")
        self.metrics_log.resume_at(state.num_updates)  # rows and events of a killed run after the start step
        self.model.train()
        finished = state.finished
        state = run_updates(self.recipe.limits, state, self, "curve", quiet=self.recipe.quiet, logger=self.logger)
        if not finished:
            if state.best_step == 0:  # no validation happened (e.g. the epoch limit reached first)
                perf = self.validate(state.num_updates, state.epoch, self.lr())
                state.best, state.best_step = perf, state.num_updates
                self.save_best(state, perf)
            state.finished = True
            self.save(LAST, state, self.optimizer, self.scheduler)
        self.metrics_log.close()
        self.model.eval()
        return state


def curve_on_model(model: torch.nn.Module, names: Sequence[str], skipped: Sequence[str],
                   theta1: Mapping[str, torch.Tensor], curve: Curve) -> dict[str, torch.Tensor]:
    """The live model tensors the curve writes (its names); tensors off the curve take θ1's values (integer
    buffers; tied aliases follow their curve tensor)."""
    live = model.state_dict(keep_vars=True)
    targets = {name: live[name] for name in names}
    on_curve = {id(t) for t in targets.values()}
    with torch.no_grad():
        for name in skipped:
            if id(live[name]) not in on_curve:
                live[name].copy_(theta1[name])
    curve.to(next(iter(targets.values())).device)
    return targets


def train_and_sweep(recipe: CurveRecipe, model: torch.nn.Module, curve: Curve, targets: dict[str, torch.Tensor],
               endpoints: tuple[str, str], out_dir: str | Path, prepare: Callable[[logging.Logger],
                                                                                 tuple[CurveData, PathSetup]],
               describe: Sequence[str] = (), logger_name: str = "curve_find") -> list[dict]:
    """Train the curve into `out_dir` (resumed or reused under the same settings, refused under others), then sweep
    the best one at the setup's points; returns the sweep's records. `prepare(logger)` (called once the folder is
    claimed) gives the family's curve data and the sweep's setup; `describe` lines open the log."""
    out_dir = Path(out_dir)
    rank, _ = join()
    with folder_lock(out_dir):  # one run at a time, from the first write to the sweep's last file
        claim_settings(out_dir / RUN_SETTINGS, recipe.settings,
                       (out_dir / LAST).is_file() or (out_dir / BEST).is_file(), "a trained curve",
                       "use another output folder or delete that folder")
        out_dir.mkdir(parents=True, exist_ok=True)
        logger = setup_logger(logger_name, out_dir / "log.txt", quiet=recipe.quiet)
        for line in describe:
            logger.info(line)
        logger.info(f"curve ({curve.curve_type}, {curve.bend_num} bend(s), init {curve.init}) over "
                    f"{len(curve.names)} tensors ({sum(curve.theta1(n).numel() for n in curve.names)} values) "
                    f"between {endpoints[0]} and {endpoints[1]}; straight-line length {curve.line_length():.4f}")
        data, setup = prepare(logger)
        updates = None  # under torchrun the main process trains the curve; every process then sweeps its share
        if rank == 0:
            updates = CurveTrainer(recipe, data, model, curve, targets, endpoints, setup.metric, out_dir,
                                   logger).train().num_updates
        updates = gather(updates)[0]
        chosen = out_dir / BEST if (out_dir / BEST).is_file() else out_dir / LAST
        saved = load_checkpoint(chosen)
        curve.load_bends(saved.tensors)
        logger.info(f"sweeping the curve of {chosen} (step {saved.meta.get('best_step', saved.meta.get('num_updates'))}"
                    f", mean dev {setup.metric} {saved.meta.get('dev_performance', float('nan')):.4f} at "
                    f"t={list(recipe.valid_ts)})")

        def move(t: float) -> None:
            with torch.no_grad():
                write_point(targets, curve.point(t))

        extra = {"curve_type": curve.curve_type, "bend_num": curve.bend_num, **recipe.summary,
                 "curve_checkpoint": str(chosen), "curve_best_step": saved.meta.get("best_step"),
                 "curve_train_updates": updates, "curve_length": curve.length(LENGTH_POINTS),
                 "line_length": curve.line_length()}
        setup.extra_summary = {**(setup.extra_summary or {}), **extra}
        setup.info = {**setup.info, "kind": curve.curve_type, "bends": curve.bend_num}
        line = path_line(setup, endpoints[0], endpoints[1], out_dir, move)
        records = run_sweeps([line], setup.evaluate, setup.metric, quiet=setup.quiet, desc="curve sweep")[0]
        segments = curve.segment_lengths(line.xs)
        extra["length_weighted_mean_loss"] = {
            split: length_weighted_mean([r["splits"][split]["loss"] for r in records], segments)
            for split in records[0]["splits"]}
        if rank == 0:
            write_sweep_files(out_dir, records, setup.prefix, setup.metric, setup.itp_on_train, plot=False,
                              extra_summary={**(setup.extra_summary or {}), **extra})
            write_functional(out_dir, records)
        gather(None)  # the other processes read the result files only once they are complete
        return records
