"""What the T5 track's line and curve sweeps share: endpoints, the splits they evaluate, one point's evaluation."""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import torch
from tqdm.auto import tqdm

from dataloader.metrics import evaluate, label_word_warning, per_example_scores
from dataloader.tasks import load_split, split_path
from module.adapter import is_adapter_tensor
from module.checkpoint import load_endpoint
from module.interpolation import check_same_keys
from module.sweep import SharedEvaluation, in_batch_order, share_of
from module.tensors import live_targets, tied_aliases
from T5_model.evaluation import EvalOutput, batch_outputs, combine_outputs
from T5_model.options import T5Options
from T5_model.trainer import SplitData


@dataclass
class SweepResult:
    """A finished sweep: its point records (sorted by x), the metric and the folder holding the result files."""

    records: list[dict]
    metric: str
    out_dir: Path


def endpoint_tensors(path: str, tune_method: str) -> dict[str, torch.Tensor]:
    """The tensors of one endpoint that the sweep interpolates: adapter tensors, or every model tensor."""
    ckpt = load_endpoint(path)
    if tune_method == "adapter":
        tensors = {k: v for k, v in ckpt.tensors.items() if is_adapter_tensor(k)}
        if not tensors:
            raise ValueError(f"{path}: no adapter tensors in this {ckpt.kind} checkpoint (use --tune_method model)")
        return tensors
    return dict(ckpt.tensors)


def load_endpoints(paths: list[str], options: T5Options) -> list[dict[str, torch.Tensor]]:
    """The endpoints' tensors, checked against the first one (names, shapes) and against --adapter_size."""
    thetas = [endpoint_tensors(path, options.tune_method) for path in paths]
    for path, theta in zip(paths[1:], thetas[1:], strict=True):
        check_same_keys(thetas[0], theta, (paths[0], path))
    if options.tune_method == "adapter":
        size = next(v.shape[-1] for k, v in thetas[0].items() if k.endswith("adapter_A"))
        if size != options.adapter_size:
            raise ValueError(f"{paths[0]}: adapters of size {size}, but --adapter_size is "
                             f"{options.adapter_size} (pass --adapter_size {size})")
    return thetas


def check_endpoints_fit(model: torch.nn.Module, endpoints: dict[str, dict[str, torch.Tensor]]) -> None:
    """Every endpoint's tensors exist in `model` (built from --model) with the same shapes, tied ones agreeing."""
    for path, theta in endpoints.items():
        adapters = any(is_adapter_tensor(k) for k in theta)
        hint = ("it holds adapter tensors, which a model without adapters lacks: pass --tune_method adapter"
                if adapters else "--model must be the model the endpoints were tuned from")
        live_targets(model, theta, path, hint)
        tied_aliases(model, theta, path)


def sweep_splits(options: T5Options) -> dict:
    """The splits evaluated at every point."""
    if options.itp_on_train:
        return {"train": load_split(options.task_dir, "train", override=options.train_file,
                                    datasplit=options.datasplit)}
    splits = {}
    if options.do_valid:
        splits["dev"] = load_split(options.task_dir, "dev", override=options.dev_file,
                                   choose_1000=options.choose_dev_1000)
    if options.do_predict:
        splits["test"] = load_split(options.task_dir, "test", override=options.test_file,
                                    choose_1000=options.choose_test_1000)
    if not splits:
        raise ValueError("nothing to evaluate: pass --do_valid and/or --do_predict (or --itp_on_train)")
    return splits


def sweep_data_files(options: T5Options) -> list[Path]:
    """The data files the sweep evaluates (their contents go into its settings)."""
    if options.itp_on_train:
        return [split_path(options.task_dir, "train", options.train_file)]
    chosen = [("dev", options.dev_file, options.do_valid), ("test", options.test_file, options.do_predict)]
    return [split_path(options.task_dir, split, override) for split, override, wanted in chosen if wanted]


def raw_scores(predictions: list[str], answers: list[list[str]], metric: str) -> list[float]:
    """Per-example scores for the forgetting analysis (exact-match accuracy where the metric has none)."""
    try:
        return per_example_scores(predictions, answers, metric)
    except ValueError:
        return per_example_scores(predictions, answers, "ACC")


def t5_evaluation(model: torch.nn.Module, data: Mapping[str, SplitData], tokenizer, max_output_length: int,
                  metric: str, report: Callable[[str, EvalOutput, dict], None] | None = None) -> SharedEvaluation:
    """Every split's metric, mean loss and per-example scores of the model as it stands (greedy answers),
    shareable across processes; `report(split, output, result)` sees each split's result."""
    def part(rank: int, size: int) -> dict[str, list]:
        shares = {name: share_of(split.batches, rank, size) for name, split in data.items()}
        return {name: list(zip([p for p, _ in share], batch_outputs(model, [b for _, b in share], tokenizer,
                                                                   max_output_length), strict=True))
                for name, share in shares.items()}

    def combine(parts: list[dict[str, list]]) -> dict[str, dict]:
        results = {}
        for name, split in data.items():
            out = combine_outputs(in_batch_order([p[name] for p in parts]), len(split.answers))
            results[name] = {"performance": evaluate(out.predictions, split.answers, metric), "loss": out.loss,
                             "scores": raw_scores(out.predictions, split.answers, metric),
                             "predictions": list(out.predictions)}
            if report is not None:
                report(name, out, results[name])
        return results
    return SharedEvaluation(part, combine)


def point_evaluator(model: torch.nn.Module, data: dict[str, SplitData], tokenizer, options: T5Options, metric: str,
                    logger: logging.Logger, where: Callable[[], str]) -> SharedEvaluation:
    """The sweep's `evaluate()` (`t5_evaluation`); label-word warnings go to the log (and to the console at the
    endpoints, even when quiet), each split's numbers to the log."""
    def report(name: str, out: EvalOutput, result: dict) -> None:
        warning = label_word_warning(out.predictions, data[name].answers, f"{name} at {where()}")
        if warning:
            logger.warning(warning)
            if options.quiet and where() in ("x=0.0", "x=1.0"):
                tqdm.write(warning, file=sys.stderr)
        logger.info(f"{where()} {name}: {metric} {result['performance']:.4f} loss {out.loss:.4f}")

    return t5_evaluation(model, data, tokenizer, options.max_output_length, metric, report)


def endpoint_lines(records: list[dict], metric: str, name: str = "x") -> list[str]:
    """One line per record: its x and every split's metric and loss."""
    return [f"{name}={r['x']}: " + "; ".join(f"{s} {metric} {v['performance']:.4f} loss {v['loss']:.4f}"
                                             for s, v in r["splits"].items()) for r in records]
