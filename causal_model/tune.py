"""Tune a causal LM on a task folder: LoRA (peft) or full fine-tuning, on the Hugging Face Trainer.

    python causal_model/tune.py --model BASE --task_dir data/<task> --output_dir DIR --do_train \\
        [--method lora|full] [--lora_r 8] [--lora_alpha 16] [--max_steps N] [--learning_rate LR] [--seed S] ...

Every TrainingArguments flag is accepted. A finished run of the same settings is reused, an interrupted one
resumes from its latest complete checkpoint-<step>/; a LoRA run's folder is a peft adapter folder that
causal_model/interpolate.py takes as an endpoint.
"""

from __future__ import annotations

import sys

import torch

from causal_model.tuning import CausalTuneArguments, tune_causal
from module.cli import one_line_hf_parser, run_cli


def main(argv: list[str] | None = None) -> int:
    """Parse the flags and tune."""
    from transformers import TrainingArguments

    parser = one_line_hf_parser([CausalTuneArguments, TrainingArguments], description=__doc__.splitlines()[0])
    cuda = torch.cuda.is_available()
    parser.set_defaults(report_to="none", disable_tqdm=False, dataloader_pin_memory=cuda, use_cpu=not cuda,
                        save_strategy="steps")
    args, training_args = parser.parse_args_into_dataclasses(args=argv)
    tune_causal(args, training_args)
    return 0


def cli() -> int:
    """Console entry point (pyproject.toml): `main` with one-line errors."""
    return run_cli(main)


if __name__ == "__main__":
    sys.exit(cli())
