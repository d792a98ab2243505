"""Evaluate T5 along the straight line between two checkpoints (adapter or full model).

For x in linspace(0, 1, --itpl_points) the model holds θ(x) = (1 − x)·θ1 + x·θ2 and is evaluated on dev
(--do_valid), test (--do_predict) or the training data (--itp_on_train). Writes result.csv,
data_analyze.txt, valid/test_data_analysis.json, solution_analysis.txt, summary.json and a plot into
--output_dir; running again into the same folder continues where it stopped.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch
from tqdm.auto import tqdm

from dataloader.metrics import evaluate, label_word_warning, metric_for_task, per_example_scores
from dataloader.tasks import check_task_dir, load_split, split_path, task_name
from module.adapter import is_adapter_tensor
from module.checkpoint import load_checkpoint
from module.files import setup_logger
from module.interpolation import check_same_keys, interpolation_points
from utils.errors import run_cli
from utils.options import parse_args

SWEEP_SETTING_KEYS = ("task_dir", "train_file", "dev_file", "test_file", "tokenizer_path", "load_PET_path_1",
                      "load_PET_path_2", "tune_method", "model", "adapter_type",
                      "adapter_size", "max_input_length", "max_output_length", "do_lowercase", "append_another_bos",
                      "choose_dev_1000", "choose_test_1000", "itp_on_train", "datasplit", "do_valid", "do_predict",
                      "metric")


def endpoint_tensors(path: str, tune_method: str) -> dict[str, torch.Tensor]:
    """The tensors of one endpoint that the sweep interpolates: adapter tensors, or every model tensor."""
    ckpt = load_checkpoint(path)
    if tune_method == "adapter":
        tensors = {k: v for k, v in ckpt.tensors.items() if is_adapter_tensor(k)}
        if not tensors:
            raise ValueError(f"{path}: no adapter tensors in this {ckpt.kind} checkpoint (use --tune_method model)")
        return tensors
    return dict(ckpt.tensors)


def load_endpoints(args: argparse.Namespace) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """Both endpoints' tensors, checked against each other and against --adapter_size."""
    theta1 = endpoint_tensors(args.load_PET_path_1, args.tune_method)
    theta2 = endpoint_tensors(args.load_PET_path_2, args.tune_method)
    check_same_keys(theta1, theta2, (args.load_PET_path_1, args.load_PET_path_2))
    if args.tune_method == "adapter":
        size = next(v.shape[-1] for k, v in theta1.items() if k.endswith("adapter_A"))
        if size != args.adapter_size:
            raise ValueError(f"{args.load_PET_path_1}: adapters of size {size}, but --adapter_size is "
                             f"{args.adapter_size} (pass --adapter_size {size})")
    return theta1, theta2


def sweep_splits(args: argparse.Namespace) -> dict:
    """The splits evaluated at every point."""
    if args.itp_on_train:
        return {"train": load_split(args.task_dir, "train", override=args.train_file, datasplit=args.datasplit)}
    splits = {}
    if args.do_valid:
        splits["dev"] = load_split(args.task_dir, "dev", override=args.dev_file, choose_1000=args.choose_dev_1000)
    if args.do_predict:
        splits["test"] = load_split(args.task_dir, "test", override=args.test_file, choose_1000=args.choose_test_1000)
    if not splits:
        raise ValueError("nothing to evaluate: pass --do_valid and/or --do_predict (or --itp_on_train)")
    return splits


def sweep_data_files(args: argparse.Namespace) -> list[Path]:
    """The data files the sweep evaluates (their contents go into its settings)."""
    if args.itp_on_train:
        return [split_path(args.task_dir, "train", args.train_file)]
    chosen = [("dev", args.dev_file, args.do_valid), ("test", args.test_file, args.do_predict)]
    return [split_path(args.task_dir, split, override) for split, override, wanted in chosen if wanted]


def raw_scores(predictions: list[str], answers: list[list[str]], metric: str) -> list[float]:
    """Per-example scores for the forgetting analysis (exact-match accuracy where the metric has none)."""
    try:
        return per_example_scores(predictions, answers, metric)
    except ValueError:
        return per_example_scores(predictions, answers, "ACC")


def main(argv: list[str] | None = None) -> int:
    """Entry point."""
    args = parse_args(argv, description=__doc__.splitlines()[0], entry="interpolate")
    if not args.load_PET_path_1 or not args.load_PET_path_2:
        raise ValueError("--load_PET_path_1 and --load_PET_path_2 are required (the two endpoints)")
    task = task_name(check_task_dir(args.task_dir))
    metric = metric_for_task(task, args.metric)
    splits = sweep_splits(args)
    theta1, theta2 = load_endpoints(args)

    from dataloader.batching import encode_split, eval_batches
    from module.interpolation import Interpolator
    from module.plotting import PathInfo, majority_fraction
    from module.sweep import run_sweep, sweep_settings
    from T5_model.evaluation import evaluate_batches
    from T5_model.model import model_files, model_provider

    out_dir = Path(args.output_dir)
    torch.manual_seed(args.seed)
    model, _, tokenizer = model_provider(args)
    model.to("cuda" if torch.cuda.is_available() else "cpu").eval()
    interpolator = Interpolator(model, theta1, theta2)
    logger = setup_logger("interpolation", out_dir / "log.txt", quiet=args.quiet)  # once the inputs were checked
    targets = interpolator.targets  # each tied parameter once
    logger.info(f"interpolating {len(targets)} tensors ({sum(t.numel() for t in targets.values())} values) "
                f"between {args.load_PET_path_1} and {args.load_PET_path_2}")
    data = {}
    for name, examples in splits.items():
        enc = encode_split(examples, tokenizer, task, lowercase=args.do_lowercase,
                           append_another_bos=args.append_another_bos, max_input_length=args.max_input_length,
                           max_output_length=args.max_output_length)
        data[name] = (enc, eval_batches(enc, args.predict_batch_size, tokenizer.pad_token_id))

    def evaluate_point() -> dict[str, dict]:
        results = {}
        for name, (enc, batches) in data.items():
            out = evaluate_batches(model, batches, tokenizer, args.max_output_length)
            results[name] = {"performance": evaluate(out.predictions, enc.answers, metric), "loss": out.loss,
                             "scores": raw_scores(out.predictions, enc.answers, metric)}
            warning = label_word_warning(out.predictions, enc.answers, f"{name} at x={interpolator.x}")
            if warning:
                logger.warning(warning)
                if args.quiet and interpolator.x in (0.0, 1.0):  # the endpoints on the console even when quiet
                    tqdm.write(warning, file=sys.stderr)
            logger.info(f"x={interpolator.x} {name}: {metric} {results[name]['performance']:.4f} loss {out.loss:.4f}")
        return results

    settings = sweep_settings({**{k: getattr(args, k) for k in SWEEP_SETTING_KEYS}, "task": task},
                              (args.load_PET_path_1, args.load_PET_path_2, *model_files(args)), sweep_data_files(args))
    with interpolator:
        info = PathInfo.from_paths(args.load_PET_path_1, args.load_PET_path_2,
                                   majority={name: majority_fraction(enc.answers, metric)
                                             for name, (enc, _) in data.items()})
        records = run_sweep(interpolation_points(args.itpl_points), interpolator.set, evaluate_point, out_dir, task,
                            metric, settings, itp_on_train=args.itp_on_train, quiet=args.quiet, desc="interpolation",
                            path_info=info)
    for record in (records[0], records[-1]):
        parts = [f"{s} {metric} {v['performance']:.4f} loss {v['loss']:.4f}" for s, v in record["splits"].items()]
        print(f"x={record['x']}: " + "; ".join(parts))
    print(f"wrote {out_dir}/result.csv, summary.json and interpolation.png ({len(records)} points)")
    return 0


def cli() -> int:
    """Console entry point (pyproject.toml): `main` with one-line errors."""
    return run_cli(main)


if __name__ == "__main__":
    sys.exit(cli())
