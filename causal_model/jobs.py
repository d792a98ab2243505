"""The causal family's jobs: the line between two endpoints of one base model (two peft LoRA adapter folders, or
two fully fine-tuned models), evaluated by rank classification on a task folder's dev (and test) split."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import torch

from causal_model.evaluation import causal_batches, causal_evaluation, evaluated_splits
from causal_model.model import load_causal, load_causal_tokenizer
from causal_model.scoring import DEFAULT_TEMPLATE, TEMPLATES
from dataloader.tasks import check_task_dir, split_path, task_name
from module.checkpoint import load_endpoint
from module.distributed import device, join
from module.lora import CONFIG_FILE, LORA_PATHS, lora_path_model
from module.matrix import check_minima
from module.path_info import majority_fraction
from module.path_jobs import PathSetup, sweep_line, sweep_matrix
from module.sweep import sweep_settings


@dataclass
class CausalLineArguments:
    """causal_model/interpolate.py: the line between two tuned endpoints of one causal LM."""

    model: str = field(metadata={"help": "local folder of the base causal LM the endpoints were tuned from"})
    task_dir: str = field(metadata={"help": "task folder data/<task>/ holding <task>_{train,dev,test}.tsv"})
    output_dir: str = field(metadata={"help": "folder receiving the results (a rerun continues there)"})
    path1: str | None = field(default=None, metadata={
        "help": "first endpoint (x = 0): a peft LoRA folder or a fine-tuned model folder"})
    path2: str | None = field(default=None, metadata={"help": "second endpoint (x = 1), of the same kind"})
    paths: list[str] | None = field(default=None, metadata={
        "help": "N >= 2 endpoints instead of --path1/--path2: every pair's path into output_dir/pair_<i>_<j>/, "
                "then matrix.csv and matrix.png", "nargs": "+"})
    lora_path: str = field(default="delta", metadata={
        "help": "LoRA endpoints: delta (the straight line W0 + (1-x)dW1 + x dW2) or factors (A and B interpolated "
                "separately, equal ranks: a curve in the weights)", "choices": list(LORA_PATHS)})
    itpl_points: int = field(default=26, metadata={"help": "evenly spaced points, both endpoints included"})
    max_eval_samples: int | None = field(default=None, metadata={"help": "first N dev (and test) examples"})
    do_predict: bool = field(default=False, metadata={"help": "evaluate the test split too"})
    per_device_eval_batch_size: int = field(default=16, metadata={"help": "examples per batch (all their labels)"})
    bf16: bool = field(default=False, metadata={"help": "hold the model in bfloat16 (GPUs; scores stay float32)"})
    quiet: bool = field(default=False, metadata={"help": "no progress bar"})


def check_counts(counts: dict[str, tuple[int | None, int]]) -> None:
    """Each flag's value (None: not given) must be at least its minimum; else one error naming the flag."""
    for flag, (value, least) in counts.items():
        if value is not None and value < least:
            raise ValueError(f"{flag} must be at least {least}, got {value}")


def is_lora_folder(path: str | Path) -> bool:
    """True for a peft adapter folder."""
    return (Path(path) / CONFIG_FILE).is_file()


def endpoint_paths(args: CausalLineArguments) -> list[str]:
    """The endpoints: --path1/--path2, or the N of --paths (a matrix); each must exist, all of one kind."""
    if args.paths is not None:
        if args.path1 or args.path2:
            raise ValueError("--paths: give either the list or --path1/--path2, not both")
        check_minima(args.paths, "--paths")
        paths = list(args.paths)
    else:
        paths = [args.path1, args.path2]
        if not all(paths):
            raise ValueError("--path1 and --path2 are required (the two endpoints), or --paths with N of them")
    for path in paths:
        if not Path(path).exists():
            raise FileNotFoundError(f"{path}: endpoint not found")
    lora = [is_lora_folder(p) for p in paths]
    if len(set(lora)) > 1:
        raise ValueError(f"{paths[lora.index(False)]}: a model, while {paths[lora.index(True)]} is a LoRA adapter; "
                         "all endpoints must be of one kind")
    return paths


def interpolate_causal(args: CausalLineArguments) -> list[dict]:
    """Sweep the line (or, for `lora_path factors`, the factors' path) into `output_dir`, or with --paths every
    pair's and the matrix (module.path_jobs); returns the records (of the first pair)."""
    check_counts({"--itpl_points": (args.itpl_points, 2), "--max_eval_samples": (args.max_eval_samples, 1),
                  "--per_device_eval_batch_size": (args.per_device_eval_batch_size, 1)})
    paths = endpoint_paths(args)
    task_dir = check_task_dir(args.task_dir)
    task = task_name(task_dir)
    labels, splits, gold = evaluated_splits(task_dir, args.do_predict, args.max_eval_samples)
    names = list(splits)
    lora = is_lora_folder(paths[0])
    tokenizer = load_causal_tokenizer(args.model)
    base = load_causal(args.model, dtype=torch.bfloat16 if args.bf16 else torch.float32)
    if lora:
        path = lora_path_model(base, paths, args.lora_path)
        model, thetas, kind = path.model, path.thetas, f"lora_{args.lora_path}"
    else:
        thetas = [load_endpoint(p).tensors for p in paths]
        model, kind = base, "line"
    join()  # under torchrun: this process's share of the points, on its own device
    model.to(device())
    batches = {name: causal_batches(examples, gold[name], task, labels, tokenizer, args.per_device_eval_batch_size)
               for name, examples in splits.items()}

    def line_settings(path1: str, path2: str) -> dict:
        return sweep_settings(
            {"script": "causal_interpolate", "task": task, "labels": labels, "splits": names, "path_kind": kind,
             "itpl_points": args.itpl_points, "max_eval_samples": args.max_eval_samples,
             "batch_size": args.per_device_eval_batch_size, "template": TEMPLATES.get(task, DEFAULT_TEMPLATE),
             **({"bf16": True} if args.bf16 else {})},
            (path1, path2, args.model), [split_path(task_dir, name) for name in ["train", *names]])

    setup = PathSetup(model, causal_evaluation(model, batches), "ACC", task, args.itpl_points, line_settings,
                      {name: majority_fraction([e.answers for e in examples], "ACC")
                       for name, examples in splits.items()},
                      quiet=args.quiet, info={"kind": kind},
                      extra_summary={"lora_path": args.lora_path} if lora else None)
    if args.paths is not None:
        return sweep_matrix(setup, paths, thetas, args.output_dir)
    return sweep_line(setup, (paths[0], paths[1]), (thetas[0], thetas[1]), args.output_dir)
