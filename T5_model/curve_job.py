"""curve_find.py's job: train the bends of a curve between two frozen T5 checkpoints (the update loop of
module/update_loop.py), keep the best by mean dev metric, then sweep the curve like a line."""

from __future__ import annotations

from pathlib import Path

import torch
from transformers import set_seed

from dataloader.batching import IGNORE_INDEX, train_batches
from dataloader.metrics import evaluate, metric_for_task
from dataloader.tasks import check_task_dir, load_split, split_path, task_name
from module.curve_training import BEST, LAST, CurveData, CurveRecipe, curve_names, curve_on_model, train_and_sweep
from module.curves import Curve, functional_forward
from module.distributed import device, join
from module.path_info import majority_fraction
from module.path_jobs import PathSetup
from module.plotting import read_line_sweep
from module.sweep import RESULTS_VERSION, sweep_settings
from module.update_loop import epoch_order
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

__all__ = ["BEST", "LAST", "ORIGINAL_VALID_TS", "check_curve_options", "curve_recipe", "find_curve",
           "t5_curve_data"]

# where the original validated its curves: adapters at the three points of its valid_random_itpl_points.csv
# (T5_model/t5_trainer_PET_CF.py), full models at 0.25/0.5/0.75 (t5_trainer_PET_CF_finetune.py loads the same file
# but loops over a fixed list)
ORIGINAL_VALID_TS = {"adapter": (0.7725638477843416, 0.3729565378240084, 0.512935405959747),
                     "model": (0.25, 0.5, 0.75)}


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


def curve_recipe(options: T5Options, task: str, metric: str) -> CurveRecipe:
    """How curve_find.py trains the bends: the update loop's limits from the T5 flags, --valid_t, --max_grad_norm."""
    return CurveRecipe(options.seed, loop_limits(options), options.valid_t, curve_train_settings(options),
                       options.max_grad_norm,
                       meta={"args": vars(options), "task": task, "metric": metric,
                             "tune_method": options.tune_method},
                       summary={"bend_init": options.bend_init}, quiet=options.quiet)


def t5_curve_data(options: T5Options, model: torch.nn.Module, tokenizer, data: dict, metric: str) -> CurveData:
    """The T5 family's part of curve training: shuffled batches of the train split, the token-weighted answer loss
    in micro-batches, dev loss and metric by generation."""
    micro_size = micro_batch_size(options.train_batch_size, options.gradient_accumulation_steps,
                                  options.micro_batch_size)
    cfg = model.config

    def backward(leaves: dict[str, torch.Tensor], batch) -> float:
        tokens = int((batch.labels != IGNORE_INDEX).sum())
        total = 0.0
        for micro in split_batch(batch, micro_size):
            micro = micro.to(next(iter(leaves.values())).device)
            out = functional_forward(model, leaves, input_ids=micro.input_ids,
                                     attention_mask=micro.attention_mask, use_cache=False,
                                     decoder_input_ids=shift_right(micro.labels, cfg.decoder_start_token_id,
                                                                   cfg.pad_token_id))
            loss_sum = torch.nn.functional.cross_entropy(out.logits.float().transpose(1, 2), micro.labels,
                                                         ignore_index=IGNORE_INDEX, reduction="sum")
            (loss_sum / tokens).backward()
            total += float(loss_sum.detach())
        return total / max(tokens, 1)

    def validate() -> tuple[float, float]:
        dev = data["dev"]
        out = evaluate_batches(model, dev.batches, tokenizer, options.max_output_length)
        return out.loss, evaluate(out.predictions, dev.answers, metric)

    def optimizer(params: list) -> tuple:
        built = build_optimizer(params, options.learning_rate)
        return built, build_scheduler(built, options.lr_decay_style, warmup_updates(options), options.train_iters)

    return CurveData(lambda epoch: train_batches(data["train"].encoded, options.train_batch_size,
                                                 tokenizer.pad_token_id, epoch_order(options.seed, epoch)),
                     backward, validate, optimizer)


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
    endpoints = (options.load_PET_path_1, options.load_PET_path_2)
    theta1, theta2 = load_endpoints(list(endpoints), options)
    set_seed(options.seed)
    model, _, tokenizer = model_provider(options)
    join()
    model.to(device()).requires_grad_(False)
    names, skipped = curve_names(model, theta1, options.load_PET_path_1, "check --tune_method/--adapter_type")
    curve = Curve({n: theta1[n] for n in names}, {n: theta2[n] for n in names}, bend_num=options.bend_num,
                  curve_type=options.curve_type, init=options.bend_init, std=options.bend_std,
                  generator=torch.Generator().manual_seed(options.seed))
    targets = curve_on_model(model, names, skipped, theta1, curve)
    del theta1, theta2  # the curve holds its own copies
    out_dir = Path(options.output_dir)
    describe = [f"{len(skipped)} endpoint tensors are not on the curve (tied aliases or integer buffers): "
                f"{', '.join(skipped[:4])}{' ...' if len(skipped) > 4 else ''}"] if skipped else []

    def prepare(logger) -> tuple[CurveData, PathSetup]:
        # the sweep's dev (or train, with --itp_on_train) examples are the training run's own
        data = {name: prepare_split(examples, tokenizer, task, options)
                for name, examples in {**train_splits, **eval_splits}.items()}
        where = {"label": ""}

        def settings(path1: str, path2: str) -> dict:  # once trained: the chosen curve's contents are part of it
            return sweep_settings({**settings_of(options, SWEEP + CURVE_TRAINING), "task": task},
                                  (path1, path2, out_dir / BEST, *model_files(options)), sweep_data_files(options))

        setup = PathSetup(model, point_evaluator(model, {name: data[name] for name in eval_splits}, tokenizer,
                                                 options, metric, logger, lambda: where["label"]),
                          metric, task, options.itpl_points, settings,
                          {name: majority_fraction(data[name].answers, metric) for name in eval_splits},
                          quiet=options.quiet, itp_on_train=options.itp_on_train,
                          info={"line_result": options.line_result},
                          on_point=lambda label: where.update(label=label), coordinate="t")
        return t5_curve_data(options, model, tokenizer, data, metric), setup

    records = train_and_sweep(curve_recipe(options, task, metric), model, curve, targets, endpoints, out_dir,
                              prepare, describe)
    return SweepResult(records, metric, out_dir)
