"""Tuning a causal LM on a task folder with the Hugging Face Trainer: full fine-tuning or LoRA through peft.

Each training example is the task's prompt followed by the gold label's answer; the loss is the answer tokens'
mean NLL (the prompt is context only). A run folder is the encoder track's (module/trainer_runs.py): settings,
`checkpoint-<step>/`, the final model (a Hugging Face folder, or for LoRA peft's own adapter folder, which the
sweeps take as an endpoint) and `all_results.json` with dev (and test) accuracy by rank classification.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from causal_model.evaluation import (
    causal_batches,
    evaluated_splits,
    label_ids,
    task_evaluation,
    training_dynamics,
)
from causal_model.generation import FREE_FORM_METRICS
from causal_model.jobs import check_counts, scoring_metric
from causal_model.model import load_causal, load_causal_tokenizer
from causal_model.scoring import DEFAULT_TEMPLATE, TEMPLATES, answer_of, prompt_of
from dataloader.tasks import Example, check_task_dir, load_split, split_path, task_name
from module.cartography import CartographyCallback
from module.files import atomic_write_json
from module.identity import TUNING, option, shaping
from module.loading import quiet_peft_deprecation
from module.runs import fingerprint
from module.trainer_runs import RESULTS_FILE, trainer_key_shapes, tuning_run

quiet_peft_deprecation()
IGNORE = -100

@dataclass
class CausalTuneArguments:
    """What causal_model/tune.py tunes on what (the Trainer's own flags come beside these)."""

    model: str = option(help="local folder of the causal LM to tune", shapes="t")
    task_dir: str = option(help="task folder data/<task>/ holding <task>_{train,dev,test}.tsv", shapes="t")
    method: str = option("lora", "lora (peft) or full", "t", choices=["lora", "full"])
    lora_r: int = option(8, "LoRA rank", "t")
    lora_alpha: int = option(16, "LoRA alpha (scaling alpha / r)", "t")
    lora_dropout: float = option(0.0, "dropout on the LoRA branch", "t")
    target_modules: list[str] | None = option(None, "modules LoRA adapts (default: peft's table for the "
                                              "architecture)", "t", nargs="+")
    max_train_samples: int | None = option(None, "first N training examples", "t")
    max_eval_samples: int | None = option(None, "first N dev (and test) examples", "t")
    metric: str | None = option(None, "the task's metric (None: its own in dataloader/metrics.py, else ACC); EM, "
                                "QA-F1 or Rouge-L make it a free-form task: answers generated greedily", "")
    max_new_tokens: int = option(32, "free-form tasks: tokens generated at most per answer", "")
    cartography: bool = option(False, "after every epoch, each training example's correctness and gold-label "
                               "probability into output_dir/cartography.json (utils/process_cartography.py)", "t")


class AnswerDataset(torch.utils.data.Dataset):
    """Training rows: prompt + gold answer tokens, the labels masked to the answer."""

    def __init__(self, rows: list[dict]):
        self.rows = rows

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, i: int) -> dict:
        return self.rows[i]


def training_rows(examples: list[Example], task: str, tokenizer) -> list[dict]:
    """Each example as input ids (bos? + prompt + answer) and labels (IGNORE on all but the answer)."""
    bos = [tokenizer.bos_token_id] if tokenizer.bos_token_id is not None else []
    rows = []
    for example in examples:
        prompt = bos + tokenizer(prompt_of(task, example.input), add_special_tokens=False)["input_ids"]
        answer = tokenizer(answer_of(example.answers[0]), add_special_tokens=False)["input_ids"]
        rows.append({"input_ids": prompt + answer, "labels": [IGNORE] * len(prompt) + answer})
    return rows


def pad_rows(rows: list[dict], pad_id: int) -> dict[str, torch.Tensor]:
    """Right-padded batch tensors of training rows."""
    width = max(len(r["input_ids"]) for r in rows)
    batch = {"input_ids": torch.full((len(rows), width), pad_id), "labels": torch.full((len(rows), width), IGNORE),
             "attention_mask": torch.zeros((len(rows), width), dtype=torch.long)}
    for i, row in enumerate(rows):
        n = len(row["input_ids"])
        batch["input_ids"][i, :n] = torch.tensor(row["input_ids"])
        batch["labels"][i, :n] = torch.tensor(row["labels"])
        batch["attention_mask"][i, :n] = 1
    return batch


def with_lora(model, args: CausalTuneArguments):
    """The model wrapped by peft with a fresh LoRA adapter (its factors train, the base stays frozen)."""
    from peft import LoraConfig, get_peft_model
    from transformers.pytorch_utils import Conv1D

    transposed = any(isinstance(m, Conv1D) for m in model.modules())  # GPT-2's layers store W transposed
    config = LoraConfig(r=args.lora_r, lora_alpha=args.lora_alpha, lora_dropout=args.lora_dropout,
                        target_modules=args.target_modules, fan_in_fan_out=transposed, task_type="CAUSAL_LM")
    return get_peft_model(model, config)


def tune_causal(args: CausalTuneArguments, training_args) -> dict:
    """Tune (or reuse a finished run of the same settings, or resume an interrupted one) into
    `training_args.output_dir`; returns all_results.json's values."""
    from transformers import Trainer, set_seed

    check_counts({"--lora_r": (args.lora_r, 1), "--max_train_samples": (args.max_train_samples, 1),
                  "--max_eval_samples": (args.max_eval_samples, 1)})
    task_dir = check_task_dir(args.task_dir)
    task = task_name(task_dir)
    out = Path(training_args.output_dir)
    train = load_split(task_dir, "train")[:args.max_train_samples]
    metric = scoring_metric(task, args.metric)
    free_form = metric in FREE_FORM_METRICS
    if free_form and args.cartography:
        raise ValueError(f"--cartography records each example's label correctness; {task} is a free-form task "
                         f"({metric}: answers are generated, there are no labels)")
    labels, splits, _ = evaluated_splits(task_dir, training_args.do_predict, args.max_eval_samples,
                                         classify=not free_form)
    names = list(splits)
    evaluation = {name: {"data": fingerprint(split_path(task_dir, name)), "max_samples": args.max_eval_samples,
                         "batch_size": training_args.per_device_eval_batch_size,
                         **({"metric": metric, "max_new_tokens": args.max_new_tokens} if free_form else {})}
                  for name in names}
    reported = "accuracy" if metric == "ACC" else metric.lower().replace("-", "_")
    given = {**shaping(args, TUNING),
             **{k: v for k, v in training_args.to_dict().items() if TUNING in trainer_key_shapes(k)}}
    settings = {"config": {k: given[k] for k in sorted(given) if k not in ("model", "task_dir")}, "task": task,
                "prompt": TEMPLATES.get(task, DEFAULT_TEMPLATE), "answer": answer_of("{label}"),
                "model": fingerprint(args.model), "data": fingerprint(split_path(task_dir, "train"))}
    tokenizer = load_causal_tokenizer(args.model)

    def evaluate_into(model, results: dict) -> None:
        evaluation = task_evaluation(model, tokenizer, task, labels, metric, splits,
                                     training_args.per_device_eval_batch_size, args.max_new_tokens,
                                     {name: str(split_path(task_dir, name)) for name in splits})
        for name, split in evaluation().items():
            prefix = "eval" if name == "dev" else "test"
            results[f"{prefix}_{reported}"], results[f"{prefix}_loss"] = split["performance"], split["loss"]
            print(f"[causal] {name}: {reported} {split['performance']:.4f} loss {split['loss']:.4f} "
                  f"({len(splits[name])} examples)")
        atomic_write_json(out / RESULTS_FILE, results)

    def prepare():
        set_seed(training_args.seed)
        model = load_causal(args.model)
        if args.method == "lora":
            model = with_lora(model, args)
        trained = sum(p.numel() for p in model.parameters() if p.requires_grad)
        scored = f"labels {labels}" if labels else f"free-form ({metric})"
        print(f"[causal] {task}: {scored}; {len(train)} train examples; {args.method} tuning of "
              f"{trained / 1e6:.2f}M of {sum(p.numel() for p in model.parameters()) / 1e6:.2f}M parameters")
        callbacks = []
        if args.cartography:
            gold_train = label_ids(train, labels, str(split_path(task_dir, "train")))
            batches = causal_batches(train, gold_train, task, labels, tokenizer,
                                     training_args.per_device_eval_batch_size)
            callbacks.append(CartographyCallback(lambda model: training_dynamics(model, batches, len(train)),
                                                 len(train), out))
        trainer = Trainer(model=model, args=training_args, train_dataset=AnswerDataset(training_rows(train, task,
                                                                                                     tokenizer)),
                          data_collator=lambda rows: pad_rows(rows, tokenizer.pad_token_id), processing_class=tokenizer,
                          callbacks=callbacks)
        results = {"task": task, "labels": labels, "metric": metric, "method": args.method,
                   "trained_parameters": trained, "evaluation": evaluation}
        return trainer, results, lambda done: evaluate_into(model.eval(), done)

    def reevaluate(trained_before: dict) -> dict:
        print(f"[causal] {out} holds this run, finished, but its dev/test inputs changed: evaluating it again")
        model = final_model(out, args)
        kept = {k: v for k, v in trained_before.items() if not k.startswith(("eval_", "test_")) and k != "evaluation"}
        results = {**kept, "evaluation": evaluation}
        evaluate_into(model, results)
        return results

    return tuning_run(out, settings, evaluation, training_args.do_train, "causal", prepare, reevaluate,
                      training_args.resume_from_checkpoint)


def final_model(out: Path, args: CausalTuneArguments):
    """A finished run's model: the base with the run's LoRA adapter, or the fine-tuned model itself."""
    if args.method == "lora":
        from peft import PeftModel

        return PeftModel.from_pretrained(load_causal(args.model), str(out)).eval()
    return load_causal(out)
