"""Pre-train a T5 (v1.1 style, gated-gelu) with span corruption on plain text.

Trains a SentencePiece vocabulary with `<extra_id_0..99>` sentinels on the text, builds the config,
starts the piece embeddings from all-MiniLM-L6-v2's word embeddings (`--init_embeddings`; 'none' for
random ones), pre-trains, and saves Hugging Face folders `<out>/ckpt_<STEP>/` at the chosen steps plus
the final model in `<out>/` itself, usable as `--model` / `--tokenizer_path`. The defaults are a small
model (1.7M parameters: d_model 128, 2+2 layers, 4100 pieces) that pre-trains in about 10 minutes on
two CPU cores and then fine-tunes better than the same model from random initialisation (README,
"Data and default models"). The same script pre-trains a real-size model on a GPU (e.g. `--d_model 768
--num_layers 12 --num_heads 12 --d_ff 2048 --vocab_size 32000 --batch_size 256 --seq_len 512 --bf16`).
"""

from __future__ import annotations

import sys

from module.cli import run_cli
from module.pretraining import parse_options, summary
from T5_model.pretraining import T5PretrainOptions, pretrain_t5


def main(argv: list[str] | None = None) -> int:
    """Parse the flags and pre-train (T5_model.pretraining.pretrain_t5); prints the run's summary."""
    return summary(pretrain_t5(parse_options(T5PretrainOptions, argv, __doc__.splitlines()[0])))


def cli() -> int:
    """Console entry point (pyproject.toml): `main` with one-line errors."""
    return run_cli(main)


if __name__ == "__main__":
    sys.exit(cli())
