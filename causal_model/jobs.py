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
from module.interpolation import Interpolator, check_same_keys, interpolation_points
from module.lora import CONFIG_FILE, LORA_PATHS, lora_path_model
from module.path_info import PathInfo, majority_fraction
from module.sweep import Line, run_sweeps, sweep_settings


@dataclass
class CausalLineArguments:
    """causal_model/interpolate.py: the line between two tuned endpoints of one causal LM."""

    model: str = field(metadata={"help": "local folder of the base causal LM the endpoints were tuned from"})
    path1: str = field(metadata={"help": "first endpoint (x = 0): a peft LoRA folder or a fine-tuned model folder"})
    path2: str = field(metadata={"help": "second endpoint (x = 1), of the same kind"})
    task_dir: str = field(metadata={"help": "task folder data/<task>/ holding <task>_{train,dev,test}.tsv"})
    output_dir: str = field(metadata={"help": "folder receiving the results (a rerun continues there)"})
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


def interpolate_causal(args: CausalLineArguments) -> list[dict]:
    """Sweep the line (or, for `lora_path factors`, the factors' path) into `output_dir`; returns its records."""
    check_counts({"--itpl_points": (args.itpl_points, 2), "--max_eval_samples": (args.max_eval_samples, 1),
                  "--per_device_eval_batch_size": (args.per_device_eval_batch_size, 1)})
    for path in (args.path1, args.path2):
        if not Path(path).exists():
            raise FileNotFoundError(f"{path}: endpoint not found")
    task_dir = check_task_dir(args.task_dir)
    task = task_name(task_dir)
    labels, splits, gold = evaluated_splits(task_dir, args.do_predict, args.max_eval_samples)
    names = list(splits)
    paths = (args.path1, args.path2)
    lora = [is_lora_folder(p) for p in paths]
    if lora[0] != lora[1]:
        raise ValueError(f"{paths[lora.index(False)]}: a model, while {paths[lora.index(True)]} is a LoRA adapter; "
                         "both endpoints must be of one kind")
    tokenizer = load_causal_tokenizer(args.model)
    base = load_causal(args.model, dtype=torch.bfloat16 if args.bf16 else torch.float32)
    if lora[0]:
        path = lora_path_model(base, paths, args.lora_path)
        model, theta1, theta2, kind = path.model, path.theta1, path.theta2, f"lora_{args.lora_path}"
    else:
        theta1, theta2 = (load_endpoint(p).tensors for p in paths)
        check_same_keys(theta1, theta2, paths)
        model, kind = base, "line"
    join()  # under torchrun: this process's share of the points, on its own device
    model.to(device())
    mover = Interpolator(model, theta1, theta2, paths)
    batches = {name: causal_batches(examples, gold[name], task, labels, tokenizer, args.per_device_eval_batch_size)
               for name, examples in splits.items()}
    settings = sweep_settings(
        {"script": "causal_interpolate", "task": task, "labels": labels, "splits": names, "path_kind": kind,
         "itpl_points": args.itpl_points, "max_eval_samples": args.max_eval_samples,
         "batch_size": args.per_device_eval_batch_size, "template": TEMPLATES.get(task, DEFAULT_TEMPLATE),
         **({"bf16": True} if args.bf16 else {})},
        (*paths, args.model), [split_path(task_dir, name) for name in ["train", *names]])
    info = PathInfo.from_paths(*paths, kind=kind, majority={name: majority_fraction([e.answers for e in examples],
                                                                                   "ACC")
                                                            for name, examples in splits.items()})
    line = Line(interpolation_points(args.itpl_points), mover.set, Path(args.output_dir), settings, task,
                extra_summary={"lora_path": args.lora_path} if lora[0] else None, path_info=info)
    with mover:
        return run_sweeps([line], causal_evaluation(model, batches), "ACC", quiet=args.quiet,
                          desc="interpolation")[0]
