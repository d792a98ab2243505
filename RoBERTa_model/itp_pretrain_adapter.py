"""Interpolate between two runs tuned from the same backbone (e.g. one pre-training step), adapters or full.

    python RoBERTa_model/itp_pretrain_adapter.py CONFIG.json

The config is a run_glue.py config (its `model_name_or_path` is the shared backbone, e.g.
`checkpoint/ckpt_15000`) plus `path1` and `path2`, the endpoint checkpoint folders, and `itpl_points`
(26 by default). Every tuned tensor (with adapters those `unfrozen_modules` selects, for the paper's list the
adapters and the classifier; with `none`, every tensor) is interpolated in place; dev (and test with do_test)
accuracy and loss are written to `output_dir` in task_interpolation.py's files (result.csv, summary.json,
interpolation.png, ...).
"""

from __future__ import annotations

import sys

from module.checkpoint import load_checkpoint
from module.loading import load_tokenizer
from module.sweep import sweep_settings
from RoBERTa_model.config import parse_config_args
from RoBERTa_model.encoder import (
    EncoderError,
    build_classifier,
    check_delta_type,
    checkpoint_info,
    encode_task,
    encoder_sweep_inputs,
    is_unfrozen,
    load_task_split,
    model_folders,
    task_data_files,
    task_labels,
)
from RoBERTa_model.sweeps import print_endpoints, sweep_classifier
from utils.errors import run_cli


def tuned_tensors(path: str, delta_type: str, unfrozen_modules: list[str], labels: list[str]) -> dict:
    """The tensors of a run_glue.py checkpoint that its run tuned (all of them for delta_type none)."""
    head, delta = checkpoint_info(path)
    saved = load_checkpoint(path).tensors
    check_delta_type(path, delta.get("delta_type"), list(saved), delta_type)
    if head != labels:
        raise EncoderError(f"{path}: its head has labels {head}, the task has {labels}")
    tensors = {k: v for k, v in saved.items() if delta_type == "none" or is_unfrozen(k, unfrozen_modules)}
    if not tensors:
        raise EncoderError(f"{path}: no tensors match unfrozen_modules {unfrozen_modules}")
    return tensors


def main(argv: list[str] | None = None) -> int:
    """Entry point."""
    argv = sys.argv[1:] if argv is None else argv
    model_args, data_args, delta_args, training_args, itp = parse_config_args(argv, True, "itp_pretrain_adapter.py")
    labels = task_labels(data_args.task_name, load_task_split(data_args.data_dir, data_args.task_name, "train"))
    theta1 = tuned_tensors(itp.path1, delta_args.delta_type, delta_args.unfrozen_modules, labels)
    theta2 = tuned_tensors(itp.path2, delta_args.delta_type, delta_args.unfrozen_modules, labels)
    tokenizer = load_tokenizer(model_args.tokenizer_name or model_args.model_name_or_path, "tokenizer_name")
    model = build_classifier(model_args.model_name_or_path, labels, delta_args.delta_type, delta_args.bottleneck_dim,
                             seed=training_args.seed, task=data_args.task_name)
    splits = {"dev": load_task_split(data_args.data_dir, data_args.task_name, "dev", data_args.max_eval_samples)}
    if training_args.do_predict:
        splits["test"] = load_task_split(data_args.data_dir, data_args.task_name, "test", data_args.max_test_samples)
    encoded = {k: encode_task(v, tokenizer, labels, data_args.max_source_length) for k, v in splits.items()}
    settings = {"script": "itp_pretrain_adapter", "path1": itp.path1, "path2": itp.path2, "task": data_args.task_name,
                "backbone": model_args.model_name_or_path, "splits": sorted(encoded),
                "max_eval_samples": data_args.max_eval_samples, "max_test_samples": data_args.max_test_samples,
                **encoder_sweep_inputs(model_args, data_args, delta_args)}
    data_files = task_data_files(data_args.data_dir, data_args.task_name, ["train", *encoded])
    settings = sweep_settings(settings, (itp.path1, itp.path2, *model_folders(model_args)), data_files)
    records = sweep_classifier(model, theta1, theta2, encoded, training_args.output_dir, data_args.task_name, settings,
                               itp.itpl_points, training_args.per_device_eval_batch_size, tokenizer.pad_token_id,
                               (itp.path1, itp.path2), quiet=training_args.disable_tqdm)
    print_endpoints(records, training_args.output_dir)
    return 0


def cli() -> int:
    """Console entry point (pyproject.toml): `main` with one-line errors."""
    return run_cli(main)


if __name__ == "__main__":
    sys.exit(cli())
