"""Causal language modelling as a `module.pretraining` objective: a byte-level BPE tokenizer with one special token
(`<|endoftext|>`: begin, end and padding, as GPT-2's), a Llama-style decoder (RoPE, RMSNorm, SwiGLU) and the
next-token loss on random windows of the text, for the project's offline default causal LM."""

from __future__ import annotations

import math
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from module.cli import positive_int
from module.loading import load_tokenizer
from module.pretraining import CurveObjective, RunOptions, adamw_warmup_linear, flag, pretrain

END = "<|endoftext|>"


@dataclass
class CausalFlags:
    """data, tokenizer, model size, schedule"""

    text: str = flag("data/pretrain_text/corpus.txt", "plain text, one sentence per line")
    out: str = flag("pretrained_models/causal-small-home", "folder receiving ckpt_<STEP>/ and the final model")
    tokenizer: str | None = flag(None, "reuse this tokenizer folder instead of training one")
    vocab_size: int = flag(8000, "size of the trained byte-level BPE vocab", type=positive_int)
    hidden_size: int = flag(128, type=positive_int)
    num_layers: int = flag(4, type=positive_int)
    num_heads: int = flag(4, type=positive_int)
    intermediate_size: int = flag(384, type=positive_int)
    seq_len: int = flag(128, "tokens per window", type=positive_int)
    steps: int = flag(1500, type=positive_int)
    batch_size: int = flag(32, type=positive_int)
    lr: float = flag(2e-3, "AdamW peak learning rate", type=float)
    warmup_steps: int = flag(100, "linear warm-up, then linear decay to 0 at --steps", type=int)
    weight_decay: float = flag(0.01, "not applied to biases and norms", type=float)


@dataclass
class CausalPretrainOptions(RunOptions, CausalFlags):
    """Every setting of causal_model/pretrain_causal.py: the model flags, then the shared run flags."""


def check_causal_options(options: CausalPretrainOptions) -> CausalPretrainOptions:
    """A ValueError `argument --<flag>: ...` for an impossible setting."""
    o = options
    if o.hidden_size % o.num_heads:
        raise ValueError(f"argument --num_heads: {o.num_heads} does not divide --hidden_size {o.hidden_size}")
    if (o.hidden_size // o.num_heads) % 2:
        raise ValueError(f"argument --num_heads: rotary embeddings need an even head size, got "
                         f"{o.hidden_size // o.num_heads}")
    if not math.isfinite(o.lr) or o.lr <= 0:
        raise ValueError(f"argument --lr: expected a positive number, got {o.lr}")
    if o.save_steps is not None and any(s <= 0 or s > o.steps for s in o.save_steps):
        raise ValueError(f"argument --save_steps: expected steps in 1..{o.steps}, got {o.save_steps}")
    return options


def train_causal_tokenizer(lines: list[str], folder: str | Path, vocab_size: int, model_max_length: int):
    """Train a byte-level BPE vocabulary on `lines` (id 0: `<|endoftext|>`), save it as a Hugging Face tokenizer
    folder and load it back from there; it round-trips every line it was trained on."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    backend = Tokenizer(models.BPE())
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    backend.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, min_frequency=2, special_tokens=[END],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    backend.train_from_iterator(lines, trainer, length=len(lines))
    wrapped = PreTrainedTokenizerFast(tokenizer_object=backend, bos_token=END, eos_token=END, unk_token=END,
                                      pad_token=END, model_max_length=model_max_length,
                                      clean_up_tokenization_spaces=False)
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    wrapped.save_pretrained(str(folder))
    tokenizer = load_tokenizer(folder)
    for line in lines[:50]:
        back = tokenizer.decode(tokenizer(line, add_special_tokens=False).input_ids)
        if back != line:
            raise ValueError(f"tokenizer: {line!r} comes back as {back!r}")
    return tokenizer


class CausalLM(CurveObjective):
    """Next-token prediction on windows of `--seq_len` tokens of the text's stream."""

    name = "pretrain_causal"
    copy_final = True
    show_vocabulary = True

    def __init__(self, options: CausalPretrainOptions) -> None:
        super().__init__(check_causal_options(options))

    def prepare(self) -> None:
        """Quiet transformers' logging and progress bars (the run prints its own)."""
        from transformers.utils import logging as hf_logging

        hf_logging.set_verbosity_error()
        hf_logging.disable_progress_bar()

    def tokenizer(self, lines: list[str], out: Path):
        """`--tokenizer`, or a byte-level BPE vocabulary trained on the lines (in a scratch folder beside `out`)."""
        o = self.options
        if o.tokenizer:
            tokenizer = load_tokenizer(o.tokenizer, "--tokenizer")
        else:
            scratch = out.with_name(f".{out.name}.tokenizer.tmp-{os.getpid()}")
            try:
                tokenizer = train_causal_tokenizer(lines, scratch, o.vocab_size, o.seq_len)
            finally:
                shutil.rmtree(scratch, ignore_errors=True)
        if tokenizer.pad_token_id is None:
            tokenizer.pad_token = tokenizer.eos_token
        for key in ("is_local", "local_files_only"):  # loading options, not settings of the tokenizer
            tokenizer.init_kwargs.pop(key, None)
        return tokenizer

    def width(self) -> int:
        """`--seq_len`."""
        return self.options.seq_len

    def model(self, tokenizer) -> torch.nn.Module:
        """A `LlamaForCausalLM` of the size flags (untied input and output embeddings)."""
        from transformers import LlamaConfig, LlamaForCausalLM

        o = self.options
        config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=o.hidden_size,
                             intermediate_size=o.intermediate_size, num_hidden_layers=o.num_layers,
                             num_attention_heads=o.num_heads,
                             num_key_value_heads=o.num_heads, max_position_embeddings=o.seq_len,
                             bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
                             pad_token_id=tokenizer.pad_token_id, tie_word_embeddings=False)
        return LlamaForCausalLM(config)

    def optimizer(self, model: torch.nn.Module):
        """AdamW (no decay of biases and norms), warm-up then linear decay to 0."""
        o = self.options
        return adamw_warmup_linear(model, o.lr, o.weight_decay, o.warmup_steps, o.steps,
                                   lambda n: n.endswith("bias") or "norm" in n, betas=(0.9, 0.95), eps=1e-8)

    def batch(self, stream: np.ndarray, starts: np.ndarray, rng: np.random.Generator) -> dict[str, torch.Tensor]:
        """The windows at `starts`."""
        rows = np.stack([stream[s: s + self.width()] for s in starts]).astype(np.int64)
        return {"input_ids": torch.from_numpy(rows)}

    def loss(self, model: torch.nn.Module, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """The mean next-token cross-entropy of the windows."""
        return model(input_ids=batch["input_ids"], labels=batch["input_ids"]).loss



def pretrain_causal(options: CausalPretrainOptions) -> dict:
    """Pre-train a small causal LM as `options` say (checked first); returns the final model's info."""
    return pretrain(CausalLM(options))
