"""Tune an encoder (RoBERTa, BERT, MiniLM, ...) on a classification task from a JSON config.

    python RoBERTa_model/run_glue.py CONFIG.json

The config holds the original's keys: model/data/training arguments of the Hugging Face `Trainer` plus
the delta keys (`delta_type` adapter|houlsby_dense|none, `bottleneck_dim`, `unfrozen_modules`). Data come from the
project's TSV task folders (`data_dir`/`task_name`). Checkpoints are written as `checkpoint-<step>/`
in `output_dir`; the final model, `all_results.json` (dev/test accuracy and loss) and the log go there too.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np

from module.adapter import adapter_state
from module.files import atomic_write_json, folder_lock
from module.loading import load_tokenizer
from module.runs import claim_settings
from RoBERTa_model.config import effective_config, parse_config_args
from RoBERTa_model.delta_trainer import DeltaTrainer
from RoBERTa_model.encoder import (
    DELTA_KEY,
    TaskDataset,
    build_classifier,
    collate,
    encode_task,
    eval_batches,
    evaluate_classifier,
    load_task_split,
    set_trainable,
    task_data_files,
    task_labels,
    unmatched_entries,
)
from RoBERTa_model.resume import (
    RUN_SETTINGS,
    has_training_results,
    latest_complete_checkpoint,
    remove_incomplete_checkpoints,
    resumed_step,
    training_settings,
)
from utils.errors import run_cli


def accuracy(eval_prediction) -> dict[str, float]:
    """`compute_metrics` for the Trainer: accuracy of the arg-max class."""
    logits, labels = eval_prediction
    return {"accuracy": float((np.argmax(logits, axis=-1) == labels).mean())}


def main(argv: list[str] | None = None) -> int:
    """Entry point."""
    argv = sys.argv[1:] if argv is None else argv
    parts = model_args, data_args, delta_args, training_args = parse_config_args(argv, prog="run_glue.py")
    from transformers import Trainer, set_seed
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # transformers' own "writing model shards" bars at every save, not the Trainer's
    set_seed(training_args.seed)
    train = load_task_split(data_args.data_dir, data_args.task_name, "train", data_args.max_train_samples)
    labels = task_labels(data_args.task_name, train)
    splits = {"dev": load_task_split(data_args.data_dir, data_args.task_name, "dev", data_args.max_eval_samples)}
    if training_args.do_predict:
        splits["test"] = load_task_split(data_args.data_dir, data_args.task_name, "test", data_args.max_test_samples)
    tokenizer = load_tokenizer(model_args.tokenizer_name or model_args.model_name_or_path, "tokenizer_name")
    model = build_classifier(model_args.model_name_or_path, labels, delta_args.delta_type, delta_args.bottleneck_dim,
                             delta_args.r_mean, delta_args.r_std, seed=training_args.seed, task=data_args.task_name)
    trained = set_trainable(model, delta_args.delta_type, delta_args.unfrozen_modules)
    idle = unmatched_entries([n for n, _ in model.named_parameters()], delta_args.unfrozen_modules)
    if delta_args.delta_type != "none" and idle:
        print(f"[run_glue] unfrozen_modules {idle} select no parameter of {type(model).__name__} "
              "(as with OpenDelta 0.2.4, which the paper used)")
    encoded = {name: encode_task(examples, tokenizer, labels, data_args.max_source_length)
               for name, examples in {"train": train, **splits}.items()}
    n_trained = sum(p.numel() for n, p in model.named_parameters() if n in set(trained))
    print(f"[run_glue] {data_args.task_name}: labels {labels}; {len(train)} train examples; "
          f"{delta_args.delta_type} tuning of {n_trained / 1e6:.2f}M of "
          f"{sum(p.numel() for p in model.parameters()) / 1e6:.2f}M parameters")
    common = {"model": model, "args": training_args, "train_dataset": TaskDataset(encoded["train"]),
              "eval_dataset": TaskDataset(encoded["dev"]), "compute_metrics": accuracy, "processing_class": tokenizer,
              "data_collator": lambda rows: collate(rows, tokenizer.pad_token_id)}
    if delta_args.delta_type == "none":
        trainer = Trainer(**common)
    else:  # checkpoints hold the tensors that differ from the backbone: trained, adapters, newly initialised
        kept = sorted(set(trained) | set(adapter_state(model)) | set(getattr(model, "newly_initialized", [])))
        trainer = DeltaTrainer(**common, tuned=[n for n, _ in model.named_parameters() if n in set(kept)],
                               backbone=getattr(model.config, DELTA_KEY)["backbone"])
    results: dict = {"task": data_args.task_name, "labels": labels, "delta_type": delta_args.delta_type,
                     "trained_parameters": n_trained}
    out = Path(training_args.output_dir)
    settings = training_settings(effective_config(argv, parts), model_args, data_args,
                                 task_data_files(data_args.data_dir, data_args.task_name, ["train", "dev"]))
    with folder_lock(out):
        if training_args.do_train:
            claim_settings(out / RUN_SETTINGS, settings, has_training_results(out), "a training run",
                           "use another output_dir or delete that folder")
            for folder in remove_incomplete_checkpoints(out):
                print(f"[run_glue] removed {folder}: a checkpoint left half-written (no weights or trainer state)")
            resume = training_args.resume_from_checkpoint or latest_complete_checkpoint(out)
            if resume:
                print(f"[run_glue] resuming from {resume}")
            start = time.time()
            try:
                train_result = trainer.train(resume_from_checkpoint=str(resume) if resume else None)
                trainer.save_model(str(out))
                tokenizer.save_pretrained(str(out))
            except OSError as exc:  # a full disk mid-save: the checkpoint being written is not left behind
                remove_incomplete_checkpoints(out)
                latest = latest_complete_checkpoint(out)
                raise OSError(f"{getattr(exc, 'filename', None) or out}: cannot write ({exc.strerror or exc}); "
                              f"the latest complete checkpoint is {latest or 'none'}") from None
            results["train_seconds"] = round(time.time() - start, 1)
            results["global_step"] = train_result.global_step
            if not resume:
                results["train_loss"] = train_result.training_loss
            else:  # the Trainer's mean covers only the updates made after the resume
                results["resumed_from"] = str(resume)
                if train_result.global_step > resumed_step(resume):
                    results["train_loss_after_resume"] = train_result.training_loss
        evaluate_and_report(model, encoded, splits, training_args, tokenizer, results, out)
    print(json.dumps({k: v for k, v in results.items() if k != "labels"}))
    return 0


def evaluate_and_report(model, encoded: dict, splits: dict, training_args, tokenizer, results: dict,
                        out: Path) -> None:
    """Evaluate the tuned model on dev (and test) and write `all_results.json`."""
    for name, examples in splits.items():
        if name == "dev" and not (training_args.do_eval or training_args.do_train):
            continue
        metrics = evaluate_classifier(model, eval_batches(encoded[name], training_args.per_device_eval_batch_size,
                                                          tokenizer.pad_token_id))
        prefix = "eval" if name == "dev" else "test"
        results[f"{prefix}_accuracy"], results[f"{prefix}_loss"] = metrics["performance"], metrics["loss"]
        print(f"[run_glue] {name}: accuracy {metrics['performance']:.4f} loss {metrics['loss']:.4f} "
              f"({len(examples)} examples)")
    atomic_write_json(out / "all_results.json", results)


def cli() -> int:
    """Console entry point (pyproject.toml): `main` with one-line errors."""
    return run_cli(main)


if __name__ == "__main__":
    sys.exit(cli())
