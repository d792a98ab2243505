"""Pre-train a small causal LM (Llama-style: RoPE, RMSNorm, SwiGLU) from scratch on plain text.

    python causal_model/pretrain_causal.py [--text data/pretrain_text/corpus.txt] [--steps 1500]

Trains a byte-level BPE vocabulary (`<|endoftext|>` = id 0: begin, end and padding) on the text (or reuses
`--tokenizer DIR`), builds a `LlamaConfig` from the flags and trains `LlamaForCausalLM` on next-token prediction
over random windows of the text's token stream; AdamW, linear warm-up and decay to 0. Saves Hugging Face folders
`<out>/ckpt_<STEP>/` and the final model in `<out>/`, which causal_model/tune.py and interpolate.py take as
`--model`. The defaults are a small model (about 2.8M parameters) for two CPU cores; the same script pre-trains a
real-size one on a GPU (e.g. `--hidden_size 768 --num_layers 12 --num_heads 12 --intermediate_size 2048
--vocab_size 32000 --seq_len 512 --batch_size 256 --bf16`).
"""

from __future__ import annotations

import sys

from causal_model.pretraining import CausalPretrainOptions, check_causal_options, pretrain_causal
from module.cli import run_cli
from module.pretraining import parse_options, summary


def main(argv: list[str] | None = None) -> int:
    """Parse and check the flags and pre-train; prints the run's summary."""
    options = parse_options(CausalPretrainOptions, argv, __doc__.splitlines()[0], check=check_causal_options)
    return summary(pretrain_causal(options))


def cli() -> int:
    """Console entry point (pyproject.toml): `main` with one-line errors."""
    return run_cli(main)


if __name__ == "__main__":
    sys.exit(cli())
