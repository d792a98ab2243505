"""Interpolate between two models fully fine-tuned on different tasks, evaluated on one of them.

    python RoBERTa_model/itp_task_boundary_finetune.py CONFIG.json

`path1` and `path2` are checkpoint folders of run_glue.py (delta_type none) trained on two tasks, e.g.
snli (3 labels) and rotten_tomatoes (2 labels); `task_name` is the task evaluated along the path. Every
tensor is interpolated except the classifier's output projection, which is taken from the endpoint
trained on the evaluated task (any pair of label counts). Run once per task to get both curves.
"""

from __future__ import annotations

import sys

import torch

from module.checkpoint import load_checkpoint
from module.loading import load_tokenizer
from module.sweep import sweep_settings
from RoBERTa_model.config import parse_config_args
from RoBERTa_model.encoder import (
    EncoderError,
    build_classifier,
    checkpoint_info,
    encode_task,
    encoder_sweep_inputs,
    load_task_split,
    model_folders,
    task_data_files,
    task_labels,
)
from RoBERTa_model.sweeps import print_endpoints, sweep_classifier
from utils.errors import run_cli


def head_keys(tensors: dict[str, torch.Tensor], num_labels: int) -> set[str]:
    """The classifier's output projection: `classifier.*` tensors whose first dimension is the label count."""
    keys = {k for k, v in tensors.items() if k.startswith("classifier.") and v.ndim >= 1 and v.shape[0] == num_labels}
    if not keys:
        raise EncoderError(f"no classifier output projection with {num_labels} rows among the checkpoint's tensors")
    return keys


def evaluated_endpoint(task: str, labels: list[str], paths: tuple[str, str]) -> int:
    """Which endpoint (0 or 1) was trained on the evaluated task: by its recorded task, else by its labels."""
    infos = [checkpoint_info(p) for p in paths]
    by_task = [i for i, (_, delta) in enumerate(infos) if delta.get("task") == task]
    by_labels = [i for i, (head, _) in enumerate(infos) if head == labels]
    chosen = by_task if len(by_task) == 1 else by_labels
    if len(chosen) != 1:
        raise EncoderError(f"cannot tell which of {paths[0]} and {paths[1]} was trained on {task!r} "
                           f"(labels {labels}; heads {[h for h, _ in infos]})")
    for path, (_, delta) in zip(paths, infos, strict=True):
        if delta.get("delta_type") not in (None, "none"):
            raise EncoderError(f"{path}: a {delta.get('delta_type')} checkpoint; this script interpolates full "
                               "fine-tuning (use itp_pretrain_adapter.py for adapters)")
    return chosen[0]


def main(argv: list[str] | None = None) -> int:
    """Entry point."""
    argv = sys.argv[1:] if argv is None else argv
    parsed = parse_config_args(argv, True, "itp_task_boundary_finetune.py")
    model_args, data_args, delta_args, training_args, itp = parsed
    task = data_args.task_name
    labels = task_labels(task, load_task_split(data_args.data_dir, task, "train"))
    paths = (itp.path1, itp.path2)
    own = evaluated_endpoint(task, labels, paths)
    tensors = [load_checkpoint(p).tensors for p in paths]
    heads = [head_keys(t, len(checkpoint_info(p)[0])) for t, p in zip(tensors, paths, strict=True)]
    theta1, theta2 = ({k: v for k, v in t.items() if k not in heads[0] | heads[1]} for t in tensors)
    tokenizer = load_tokenizer(model_args.tokenizer_name or model_args.model_name_or_path, "tokenizer_name")
    model = build_classifier(paths[own], labels, "none", seed=training_args.seed, task=task)
    splits = {"dev": load_task_split(data_args.data_dir, task, "dev", data_args.max_eval_samples)}
    if training_args.do_predict:
        splits["test"] = load_task_split(data_args.data_dir, task, "test", data_args.max_test_samples)
    encoded = {k: encode_task(v, tokenizer, labels, data_args.max_source_length) for k, v in splits.items()}
    settings = {"script": "itp_task_boundary_finetune", "path1": itp.path1, "path2": itp.path2, "task": task,
                "head_from": paths[own], "splits": sorted(encoded), "max_eval_samples": data_args.max_eval_samples,
                "max_test_samples": data_args.max_test_samples,
                **encoder_sweep_inputs(model_args, data_args, delta_args)}
    data_files = task_data_files(data_args.data_dir, task, ["train", *encoded])
    settings = sweep_settings(settings, (*paths, *model_folders(model_args)), data_files)
    records = sweep_classifier(model, theta1, theta2, encoded, training_args.output_dir, task, settings,
                               itp.itpl_points, training_args.per_device_eval_batch_size, tokenizer.pad_token_id,
                               paths, quiet=training_args.disable_tqdm,
                               tasks=tuple(task if i == own else checkpoint_info(p)[1].get("task") or "other task"
                                           for i, p in enumerate(paths)))
    print(f"head ({len(heads[own])} tensors) taken from {paths[own]}, trained on {task}")
    print_endpoints(records, training_args.output_dir)
    return 0


def cli() -> int:
    """Console entry point (pyproject.toml): `main` with one-line errors."""
    return run_cli(main)


if __name__ == "__main__":
    sys.exit(cli())
