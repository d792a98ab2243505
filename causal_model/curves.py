"""Curves between two tuned endpoints of one causal LM, on the shared curve trainer (module/curve_training.py).

The curve lives in the tensors the endpoints tuned: for two LoRA adapters, the factors A and B of the path adapter
(`lora_path delta`: the stacked adapter of rank r1 + r2 whose straight line is the line between the fine-tuned
weights; `factors`: the two adapters' own factors, equal ranks), every point of it a LoRA update of the base
model; for two fully fine-tuned models, every weight. summary.json's `curve_tensors` says which. The bends are
trained on the answer tokens' NLL of the training examples (the tuning loss), validated by rank classification.
"""

from __future__ import annotations

from dataclasses import dataclass

from causal_model.evaluation import evaluated_splits
from causal_model.jobs import (
    CausalLineArguments,
    CausalPaths,
    causal_path_setup,
    check_counts,
    endpoint_paths,
    load_paths,
)
from dataloader.tasks import load_split, split_path
from module.curve_training import BEST as CURVE_BEST
from module.curve_training import (
    CurveData,
    CurveRecipe,
    curve_names,
    curve_on_model,
    family_curve_data,
    train_and_sweep,
)
from module.curves import CURVE_TYPES, Curve
from module.families import get_family
from module.identity import CURVE_TRAINING, SWEEP, option, shaping
from module.path_jobs import PathSetup
from module.sweep import SharedEvaluation, sweep_settings
from module.update_loop import LoopLimits

CURVE_TENSORS = {"line": "full weights: every tensor of the fine-tuned models",
                 "lora_delta": "LoRA factors A, B of the stacked delta adapter (rank r1 + r2; its straight line is "
                               "the line between the fine-tuned weights)",
                 "lora_factors": "LoRA factors A, B of the two adapters (equal ranks)"}


@dataclass
class CausalCurveArguments(CausalLineArguments):
    """causal_model/curve_find.py: a curve between two tuned endpoints of one causal LM, then its sweep."""

    bend_num: int = option(1, "bends of the curve (1: a quadratic Bezier curve)", "sc")
    curve_type: str = option("bezier", "bezier or polychain", "sc", choices=list(CURVE_TYPES))
    curve_steps: int = option(200, "updates training the bends", "sc")
    learning_rate: float = option(1e-3, "AdamW learning rate of the bends (constant)", "sc")
    train_batch_size: int = option(8, "training examples per update", "sc")
    valid_t: list[float] = option([0.25, 0.5, 0.75], "points of the curve whose mean dev accuracy picks the best "
                                  "curve", "sc", nargs="+")
    valid_interval: int | None = option(None, "validate every N updates (None: once, after the last)", "sc")
    output_interval: int = option(100, "a resumable checkpoint every N updates")
    log_interval: int = option(10, "mean training loss logged every N updates")
    seed: int = option(42, "draws the batch order, each update's t and the dropout", "sc")


def check_curve_args(args: CausalCurveArguments) -> list[str]:
    """The two endpoints, after one-line checks of the curve's flags."""
    check_counts({"--itpl_points": (args.itpl_points, 2), "--max_eval_samples": (args.max_eval_samples, 1),
                  "--per_device_eval_batch_size": (args.per_device_eval_batch_size, 1),
                  "--bend_num": (args.bend_num, 1), "--curve_steps": (args.curve_steps, 1),
                  "--train_batch_size": (args.train_batch_size, 1), "--max_train_samples": (args.max_train_samples, 1),
                  "--valid_interval": (args.valid_interval, 1), "--output_interval": (args.output_interval, 1),
                  "--log_interval": (args.log_interval, 1)})
    if not (args.learning_rate > 0 and args.learning_rate < float("inf")):
        raise ValueError(f"--learning_rate must be a positive number, got {args.learning_rate}")
    bad = [t for t in args.valid_t if not 0.0 <= t <= 1.0]
    if bad:
        raise ValueError(f"--valid_t: every t must lie in [0, 1], got {bad[0]}")
    if args.paths is not None:
        raise ValueError("--paths: a curve joins two endpoints; give --path1 and --path2")
    return endpoint_paths(args)


def dev_evaluation(args: CausalCurveArguments, inputs: CausalPaths) -> SharedEvaluation:
    """The evaluation of the dev split the curve is validated on (the first --max_eval_samples), also when the
    sweep evaluates the training examples (--itp_on_train)."""
    if "dev" in inputs.splits:
        dev = inputs.splits["dev"]
    else:
        dev = evaluated_splits(inputs.task_dir, False, args.max_eval_samples, classify=not inputs.free_form)[1]["dev"]
    return inputs.evaluation(args.per_device_eval_batch_size, {"dev": dev})


def find_causal_curve(args: CausalCurveArguments) -> list[dict]:
    """Train the curve into `output_dir` (resumed or reused under the same settings), then sweep it; returns the
    sweep's records."""
    paths = check_curve_args(args)
    inputs = load_paths(args, paths)
    model = inputs.model.requires_grad_(False)
    names, skipped = curve_names(model, inputs.thetas[0], paths[0], "both endpoints must be tuned from --model")
    curve = Curve({n: inputs.thetas[0][n] for n in names}, {n: inputs.thetas[1][n] for n in names}, args.bend_num,
                  curve_type=args.curve_type)  # bends on the line: the untrained curve is the line
    targets = curve_on_model(model, names, skipped, inputs.thetas[0], curve)
    out_dir = args.output_dir
    setup = causal_path_setup(args, inputs, "causal_curve", SWEEP + CURVE_TRAINING, files=(f"{out_dir}/{CURVE_BEST}",))
    setup.coordinate = "t"
    setup.extra_summary = {**(setup.extra_summary or {}), "curve_tensors": CURVE_TENSORS[inputs.kind]}
    train = load_split(inputs.task_dir, "train")[:args.max_train_samples]
    settings = sweep_settings({"script": "causal_curve", **shaping(args, CURVE_TRAINING), "task": inputs.task,
                               "labels": inputs.labels, "path_kind": inputs.kind}, (*paths, args.model),
                              [split_path(inputs.task_dir, name) for name in ("train", "dev")])
    limits = LoopLimits(train_iters=args.curve_steps, log_interval=args.log_interval,
                        valid_interval=args.valid_interval or args.curve_steps, output_interval=args.output_interval)
    recipe = CurveRecipe(args.seed, limits, list(args.valid_t), settings,
                         meta={"task": inputs.task, "metric": inputs.metric, "path_kind": inputs.kind},
                         quiet=args.quiet)

    def prepare(logger) -> tuple[CurveData, PathSetup]:
        family = get_family("causal")
        dev = dev_evaluation(args, inputs)
        encoded = family.encode(train, inputs.tokenizer, inputs.task, inputs.labels)
        return family_curve_data(family, model, inputs.tokenizer, encoded, args.train_batch_size, dev,
                                 args.learning_rate, args.seed), setup

    return train_and_sweep(recipe, model, curve, targets, (paths[0], paths[1]), out_dir, prepare,
                           [f"curve tensors: {CURVE_TENSORS[inputs.kind]}"], logger_name="causal_curve")
