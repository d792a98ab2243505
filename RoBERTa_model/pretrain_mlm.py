"""Pre-train a small RoBERTa from scratch with masked language modelling on plain text.

    python RoBERTa_model/pretrain_mlm.py --text data/pretrain_text/corpus.txt --steps 2000

Trains a byte-level BPE vocabulary (`<s> <pad> </s> <unk> <mask>` = ids 0..4, as RoBERTa) on the text
(or reuses `--tokenizer DIR`), builds a `RobertaConfig` from the flags, and pre-trains `RobertaForMaskedLM`
on windows cut from the concatenated token stream of the lines, each wrapped as `<s> ... </s>`; 15% of
the text tokens are chosen, of which 80% become `<mask>`, 10% a random token and 10% stay. AdamW with
linear warm-up and linear decay to 0 at `--steps`. Saves Hugging Face folders `<out>/ckpt_<STEP>/`
(config.json, model.safetensors, tokenizer files, pretraining.json) at `--save_steps`, each usable by
RoBERTa_model/run_glue.py as `model_name_or_path` and tokenizer.

`--seq_len` is the model's input length including `<s>` and `</s>` (as roberta-base's 512): windows hold
seq_len - 2 text tokens, the model gets `max_position_embeddings = seq_len + 2` (RoBERTa's position offset)
and the saved tokenizer's `model_max_length` is seq_len, so fine-tune with `max_source_length <= seq_len`.
The defaults are a small model (1.5M parameters) that runs about 0.5-1 step/s on two CPU cores (2000 steps:
under an hour). The same script pre-trains a real-size (roberta-base-like) model on a GPU, e.g.
`--hidden_size 768 --num_layers 12 --num_heads 12 --intermediate_size 3072 --vocab_size 50265 --seq_len 512
--batch_size 256 --lr 6e-4 --warmup_steps 10000 --steps 100000 --bf16`.
"""

from __future__ import annotations

import sys

from module.cli import run_cli
from module.pretraining import parse_options, summary
from RoBERTa_model.mlm import MLMPretrainOptions, check_mlm_options, pretrain_mlm


def main(argv: list[str] | None = None) -> int:
    """Parse and check the flags and pre-train (RoBERTa_model.mlm.pretrain_mlm); prints the run's summary."""
    options = parse_options(MLMPretrainOptions, argv, __doc__.splitlines()[0], check=check_mlm_options)
    return summary(pretrain_mlm(options))


def cli() -> int:
    """Console entry point (pyproject.toml): `main` with one-line errors."""
    return run_cli(main)


if __name__ == "__main__":
    sys.exit(cli())
