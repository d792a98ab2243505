"""curve_find.py's job: train the bends of a curve between two frozen T5 checkpoints (the update loop of
module/update_loop.py), keep the best by mean dev metric, then sweep the curve like a line."""

from __future__ import annotations

import logging
from pathlib import Path

import torch
from transformers import set_seed

from dataloader.batching import IGNORE_INDEX, train_batches
from dataloader.metrics import evaluate, metric_for_task
from dataloader.tasks import check_task_dir, load_split, split_path, task_name
from module.analysis import write_sweep_files
from module.checkpoint import load_checkpoint
from module.curves import Curve, functional_forward, length_weighted_mean, save_curve, step_t, write_point
from module.distributed import device, gather, join
from module.files import folder_lock, setup_logger
from module.interpolation import interpolation_points
from module.metrics_log import MetricsLog
from module.plotting import PathInfo, majority_fraction, read_line_sweep
from module.rng import rng_state, set_rng_state
from module.runs import RUN_SETTINGS, claim_settings
from module.sweep import RESULTS_VERSION, run_sweep, sweep_settings
from module.tensors import live_targets, tied_aliases
from module.update_loop import LoopHooks, LoopState, apply_update, epoch_order, run_updates
from T5_model.evaluation import evaluate_batches, shift_right
from T5_model.model import model_files, model_provider
from T5_model.options import CURVE_TRAINING, SWEEP, T5Options, settings_of
from T5_model.sweeping import SweepResult, load_endpoints, point_evaluator, sweep_data_files, sweep_splits
from T5_model.trainer import (
    build_optimizer,
    build_scheduler,
    loop_limits,
    micro_batch_size,
    prepare_split,
    split_batch,
    warmup_updates,
)

# where the original validated its curves: adapters at the three points of its valid_random_itpl_points.csv
# (T5_model/t5_trainer_PET_CF.py), full models at 0.25/0.5/0.75 (t5_trainer_PET_CF_finetune.py loads the same file
# but loops over a fixed list)
ORIGINAL_VALID_TS = {"adapter": (0.7725638477843416, 0.3729565378240084, 0.512935405959747),
                     "model": (0.25, 0.5, 0.75)}
BEST, LAST = "curve-best.pt", "curve-last.pt"
LENGTH_POINTS = 101  # grid of the reported curve_length


def curve_train_settings(options: T5Options) -> dict:
    """Everything that shapes a trained curve: the settings marked so, and the contents of the endpoints and of the
    train and dev files (so a curve is never resumed from bends trained on other endpoints or data)."""
    data = [split_path(options.task_dir, "train", options.train_file),
            split_path(options.task_dir, "dev", options.dev_file)]
    return sweep_settings({**settings_of(options, CURVE_TRAINING), "results_version": RESULTS_VERSION},
                          (options.load_PET_path_1, options.load_PET_path_2, *model_files(options)), data)


def check_curve_options(options: T5Options) -> T5Options:
    """Reject impossible curve settings; fill in the endpoints, validation points and bend initialisation."""
    paths = options.load_stage1_pet_path_list  # the original's flag for the endpoints
    if paths is not None:
        if len(paths) != 2:
            raise ValueError(f"--load_stage1_pet_path_list: expected the two endpoints PATH1 PATH2, got "
                             f"{len(paths)} path(s)")
        for flag, given, path in (("--load_PET_path_1", options.load_PET_path_1, paths[0]),
                                  ("--load_PET_path_2", options.load_PET_path_2, paths[1])):
            if given is not None and given != path:
                raise ValueError(f"{flag} {given} contradicts --load_stage1_pet_path_list ({path}); give one of them")
        options.load_PET_path_1, options.load_PET_path_2 = paths
    ts = options.valid_t if options.valid_t is not None else ORIGINAL_VALID_TS[options.tune_method]
    bad = [t for t in ts if not 0.0 <= t <= 1.0]
    if bad:
        raise ValueError(f"--valid_t: every t must lie in [0, 1], got {bad[0]}")
    options.valid_t = [float(t) for t in ts]
    if options.bend_num < 1:
        raise ValueError(f"--bend_num: a curve needs at least one bend, got {options.bend_num}")
    if options.bend_std < 0:
        raise ValueError(f"--bend_std: expected a number >= 0, got {options.bend_std}")
    if not options.load_PET_path_1 or not options.load_PET_path_2:
        raise ValueError("--load_PET_path_1 and --load_PET_path_2 are required (the two endpoints)")
    if options.bend_init is None:
        options.bend_init = "random" if options.tune_method == "adapter" else "midpoint"
    if options.line_result is not None:  # a bad straight-line result fails before any training
        read_line_sweep(options.line_result)
    return options


def curve_names(model: torch.nn.Module, theta: dict[str, torch.Tensor], path: str) -> tuple[list[str], list[str]]:
    """(names on the curve, names skipped): each endpoint tensor must exist in the model with the same shape.

    Tied aliases (e.g. encoder.embed_tokens.weight of shared.weight) and non-float tensors are skipped: the
    canonical tensor carries the tie, and integer buffers cannot be curved.
    """
    live_targets(model, theta, path, "check --tune_method/--adapter_type")
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

    def __init__(self, args: T5Options, model, curve: Curve, targets: dict, tokenizer, task: str, metric: str,
                 data: dict, out_dir: Path, logger: logging.Logger):
        self.args, self.model, self.curve, self.targets = args, model, curve, targets
        self.tokenizer, self.task, self.metric, self.data = tokenizer, task, metric, data
        self.out_dir, self.logger = Path(out_dir), logger
        self.device = next(curve.parameters()).device
        self.micro_size = micro_batch_size(args.train_batch_size, args.gradient_accumulation_steps,
                                           args.micro_batch_size)
        self.settings = curve_train_settings(args)
        self.metrics_log = MetricsLog(self.out_dir / "metrics.csv", metric, self.logger)
        self.last_performance = None
        self.pending_rng = None  # generator states of the checkpoint a resumed training continues from

    def save(self, name: str, state: LoopState, optimizer=None, scheduler=None, extra: dict | None = None) -> Path:
        """Write the bends and the loop state (with optimiser and scheduler when given) to `<out_dir>/<name>`."""
        meta = {"args": vars(self.args), "task": self.task, "metric": self.metric,
                "tune_method": self.args.tune_method, "train_settings": self.settings, **state.as_dict(),
                **(extra or {})}
        return save_curve(self.out_dir / name, self.curve, [self.args.load_PET_path_1, self.args.load_PET_path_2],
                          meta, optimizer=optimizer.state_dict() if optimizer else None,
                          scheduler=scheduler.state_dict() if scheduler else None,
                          rng=[rng_state()] if optimizer else None)  # resumable: dropout continues exactly

    def set_t(self, t: float) -> None:
        """Write φ(t) into the live model tensors."""
        with torch.no_grad():
            write_point(self.targets, self.curve.point(t))

    # ------------------------------------------------------------------ the update loop's hooks
    def epoch_batches(self, epoch: int):
        order = epoch_order(self.args.seed, epoch)
        if self.pending_rng is not None:  # a resumed epoch: the generators where the checkpoint left them
            set_rng_state(self.pending_rng[0])
            self.pending_rng = None
        return train_batches(self.data["train"].encoded, self.args.train_batch_size, self.tokenizer.pad_token_id,
                             order)

    def update(self, batch, step: int) -> float:
        """One optimiser update of the bends on a group's mean token loss at φ(t); returns that loss."""
        cfg = self.model.config
        point = self.curve.point(step_t(self.args.seed, step))  # graph to the bends
        leaves = {name: value.detach().requires_grad_(True) for name, value in point.items()}
        tokens = int((batch.labels != IGNORE_INDEX).sum())
        total = 0.0
        for micro in split_batch(batch, self.micro_size):
            micro = micro.to(self.device)
            out = functional_forward(self.model, leaves, input_ids=micro.input_ids,
                                     attention_mask=micro.attention_mask, use_cache=False,
                                     decoder_input_ids=shift_right(micro.labels, cfg.decoder_start_token_id,
                                                                   cfg.pad_token_id))
            loss_sum = torch.nn.functional.cross_entropy(out.logits.float().transpose(1, 2), micro.labels,
                                                         ignore_index=IGNORE_INDEX, reduction="sum")
            (loss_sum / tokens).backward()
            total += float(loss_sum.detach())
        used = [name for name in self.curve.names if leaves[name].grad is not None]
        torch.autograd.backward([point[n] for n in used], [leaves[n].grad for n in used])
        norm = self.args.max_grad_norm
        apply_update(self.optimizer, self.scheduler,
                     (lambda: torch.nn.utils.clip_grad_norm_(list(self.curve.parameters()), norm)) if norm > 0
                     else None)
        return total / max(tokens, 1)

    def lr(self) -> float:
        return self.scheduler.get_last_lr()[0]

    def record(self, step: int, epoch: int, kind: str, loss: float, performance: float | None, lr: float) -> None:
        self.metrics_log.record(step, epoch, kind, loss, performance, lr)

    def wants_validation(self, step: int, last: bool) -> bool:
        return step % self.args.valid_interval == 0 or last

    def validate(self, step: int, epoch: int, lr: float) -> float:
        """Dev loss and metric at every t of --valid_t (one metrics.csv row each, then their mean); returns the mean."""
        dev = self.data["dev"]
        losses, perfs = [], []
        for t in self.args.valid_t:
            self.set_t(t)
            out = evaluate_batches(self.model, dev.batches, self.tokenizer, self.args.max_output_length)
            perf = evaluate(out.predictions, dev.answers, self.metric)
            self.record(step, epoch, f"valid@t={t}", out.loss, perf, lr)
            losses.append(out.loss)
            perfs.append(perf)
        mean = sum(perfs) / len(perfs)
        self.record(step, epoch, "valid", sum(losses) / len(losses), mean, lr)
        self.model.train()
        self.last_performance = mean
        return mean

    def save_best(self, state: LoopState, performance: float) -> None:
        self.save(BEST, state, extra={"dev_performance": performance, "valid_ts": list(self.args.valid_t)})

    def wants_checkpoint(self, step: int, ending: bool) -> bool:
        return step % self.args.output_interval == 0 and not ending

    def save_resumable(self, state: LoopState) -> None:
        self.save(LAST, state, self.optimizer, self.scheduler)

    def postfix(self) -> dict | None:
        return None if self.last_performance is None else {self.metric: f"{self.last_performance:.3f}"}

    # ------------------------------------------------------------------ training
    def train(self) -> LoopState:
        """Train until --train_iters updates (or --train_epochs, or early stop); resumes from curve-last.pt."""
        a = self.args
        self.optimizer = build_optimizer(list(self.curve.parameters()), a.learning_rate)
        self.scheduler = build_scheduler(self.optimizer, a.lr_decay_style, warmup_updates(a), a.train_iters)
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
            self.logger.info(f"resuming the curve from {self.out_dir / LAST} at step {state.num_updates}")
        self.metrics_log.resume_at(state.num_updates)  # rows and events of a killed run after the start step
        self.model.train()
        finished = state.finished
        state = run_updates(loop_limits(a), state, self, "curve", quiet=a.quiet, logger=self.logger)
        if not finished:
            if state.best_step == 0:  # no validation happened (e.g. --train_epochs reached first)
                perf = self.validate(state.num_updates, state.epoch, self.lr())
                state.best, state.best_step = perf, state.num_updates
                self.save_best(state, perf)
            state.finished = True
            self.save(LAST, state, self.optimizer, self.scheduler)
        self.metrics_log.close()
        return state


def claim_curve_folder(out_dir: Path, options: T5Options) -> None:
    """Record the curve's training settings in `<out_dir>/run_settings.json`; an earlier run into this folder must
    have trained the same curve (the one settings mechanism of tuning runs and sweeps)."""
    claim_settings(out_dir / RUN_SETTINGS, curve_train_settings(options),
                   (out_dir / LAST).is_file() or (out_dir / BEST).is_file(), "a trained curve",
                   "use another --output_dir or delete that folder")


def find_curve(options: T5Options) -> SweepResult:
    """Check everything, train the curve (or resume / reuse it), then sweep it; returns the sweep."""
    options = check_curve_options(options)
    task = task_name(check_task_dir(options.task_dir))
    metric = metric_for_task(task, options.metric)
    eval_splits = sweep_splits(options)
    train_splits = {"train": load_split(options.task_dir, "train", override=options.train_file,
                                        datasplit=options.datasplit),
                    "dev": load_split(options.task_dir, "dev", override=options.dev_file,
                                      choose_1000=options.choose_dev_1000)}
    theta1, theta2 = load_endpoints([options.load_PET_path_1, options.load_PET_path_2], options)
    set_seed(options.seed)
    model, _, tokenizer = model_provider(options)
    rank, _ = join()
    model.to(device()).requires_grad_(False)
    names, skipped = curve_names(model, theta1, options.load_PET_path_1)
    curve = Curve({n: theta1[n] for n in names}, {n: theta2[n] for n in names}, bend_num=options.bend_num,
                  curve_type=options.curve_type, init=options.bend_init, std=options.bend_std,
                  generator=torch.Generator().manual_seed(options.seed)).to(device())
    live = model.state_dict(keep_vars=True)
    targets = {name: live[name] for name in names}
    on_curve = {id(t) for t in targets.values()}
    with torch.no_grad():  # tensors off the curve (integer buffers; tied aliases follow their curve tensor)
        for name in skipped:
            if id(live[name]) not in on_curve:
                live[name].copy_(theta1[name])
    del theta1, theta2  # the curve holds its own copies
    out_dir = Path(options.output_dir)
    with folder_lock(out_dir):  # one run at a time, from the first write to the sweep's last file
        claim_curve_folder(out_dir, options)
        out_dir.mkdir(parents=True, exist_ok=True)
        logger = setup_logger("curve_find", out_dir / "log.txt", quiet=options.quiet)
        if skipped:
            logger.info(f"{len(skipped)} endpoint tensors are not on the curve (tied aliases or integer buffers): "
                        f"{', '.join(skipped[:4])}{' ...' if len(skipped) > 4 else ''}")
        logger.info(f"curve ({options.curve_type}, {options.bend_num} bend(s), init {options.bend_init}) over "
                    f"{len(names)} tensors ({sum(curve.theta1(n).numel() for n in names)} values) between "
                    f"{options.load_PET_path_1} and {options.load_PET_path_2}; straight-line length "
                    f"{curve.line_length():.4f}")
        # the sweep's dev (or train, with --itp_on_train) examples are the training run's own
        data = {name: prepare_split(examples, tokenizer, task, options)
                for name, examples in {**train_splits, **eval_splits}.items()}
        updates = None  # under torchrun the main process trains the curve; every process then sweeps its share
        if rank == 0:
            updates = CurveTrainer(options, model, curve, targets, tokenizer, task, metric, data, out_dir,
                                   logger).train().num_updates
        updates = gather(updates)[0]
        chosen = out_dir / BEST if (out_dir / BEST).is_file() else out_dir / LAST
        saved = load_checkpoint(chosen)
        curve.load_bends(saved.tensors)
        step = saved.meta.get("best_step", saved.meta.get("num_updates"))
        logger.info(f"sweeping the curve of {chosen} (step {step}, "
                    f"mean dev {metric} {saved.meta.get('dev_performance', float('nan')):.4f} at t={options.valid_t})")
        current = {"t": None}

        def set_point(t: float) -> None:
            current["t"] = t
            with torch.no_grad():
                write_point(targets, curve.point(t))

        evaluate_point = point_evaluator(model, {name: data[name] for name in eval_splits}, tokenizer, options, metric,
                                         logger, lambda: f"t={current['t']}")
        xs = interpolation_points(options.itpl_points)
        extra = {"curve_type": options.curve_type, "bend_num": options.bend_num, "bend_init": options.bend_init,
                 "curve_checkpoint": str(chosen), "curve_best_step": saved.meta.get("best_step"),
                 "curve_train_updates": updates, "curve_length": curve.length(LENGTH_POINTS),
                 "line_length": curve.line_length()}
        settings = sweep_settings({**settings_of(options, SWEEP + CURVE_TRAINING), "task": task},
                                  (options.load_PET_path_1, options.load_PET_path_2, out_dir / BEST,
                                   *model_files(options)), sweep_data_files(options))
        info = PathInfo.from_paths(options.load_PET_path_1, options.load_PET_path_2, kind=options.curve_type,
                                   bends=options.bend_num, line_result=options.line_result,
                                   majority={name: majority_fraction(data[name].answers, metric)
                                             for name in eval_splits})
        records = run_sweep(xs, set_point, evaluate_point, out_dir, task, metric, settings,
                            itp_on_train=options.itp_on_train, extra_summary=extra, quiet=options.quiet,
                            desc="curve sweep", path_info=info)
        segments = curve.segment_lengths(xs)
        extra["length_weighted_mean_loss"] = {
            split: length_weighted_mean([r["splits"][split]["loss"] for r in records], segments)
            for split in records[0]["splits"]}
        write_sweep_files(out_dir, records, task, metric, options.itp_on_train, plot=False, extra_summary=extra)
        return SweepResult(records, metric, out_dir)
