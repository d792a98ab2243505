"""T5 span corruption as a `module.pretraining` objective: SentencePiece tokenizer with sentinels, a v1.1-style
(gated-gelu) config, piece embeddings started from another model's word embeddings, and the options of
T5_model/pretrain_t5.py."""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from module.cli import positive_int
from module.pretraining import Objective, RunOptions, flag, loss_curve, pretrain
from T5_model.embedding_transfer import source_file, transfer_embeddings
from T5_model.span_corruption import corrupt, random_spans_mask, sentinel_ids
from T5_model.tokenizer import train_t5_tokenizer
from T5_model.trainer import build_optimizer


@dataclass
class T5Flags:
    """data, model size, schedule (in the order of the original flags)"""

    text: str = flag("data/pretrain_text/corpus.txt", "plain text, one sentence per line")
    out: str = flag("pretrained_models/t5-small-home", "output folder")
    tokenizer: str | None = flag(None, "reuse this tokenizer folder instead of training one")
    vocab_size: int = flag(4000, type=positive_int)
    d_model: int = flag(128, type=positive_int)
    d_kv: int = flag(32, type=positive_int)
    d_ff: int = flag(512, type=positive_int)
    num_layers: int = flag(2, type=positive_int)
    num_decoder_layers: int | None = flag(None, type=positive_int)
    num_heads: int = flag(4, type=positive_int)
    dropout_rate: float = flag(0.0, type=float)
    scale_decoder_outputs: bool = flag(False, "T5 v1.0 output layer: scale the decoder output by d_model**-0.5 "
                                              "(transformers 5 always shares T5's input and output embeddings; a "
                                              "v1.1 config only turns this scaling off)", action="store_true")
    seq_len: int = flag(64, "raw-text tokens per example (before corruption)", type=positive_int)
    noise_density: float = flag(0.15, type=float)
    mean_span: float = flag(3.0, type=float)
    steps: int = flag(2000, type=positive_int)
    batch_size: int = flag(64, type=positive_int)
    init_embeddings: str = flag("pretrained_models/all-MiniLM-L6-v2", "start the piece embeddings from this local "
                                "model folder's word embeddings (mean of each piece's sub-words, PCA to d_model); "
                                "'none' starts from random ones")
    optimizer: str = flag("adamw", choices=("adamw", "adafactor"))
    lr: float = flag(1e-3, "learning rate (constant after warm-up)", type=float)
    beta1: float | None = flag(None, "Adafactor first-moment decay (default: none)", type=float)
    warmup_steps: int = flag(100, type=int)


@dataclass
class T5PretrainOptions(RunOptions, T5Flags):
    """Every setting of T5_model/pretrain_t5.py: the T5 flags, then the shared run flags."""


def t5_config(args, tokenizer):
    """A T5 v1.1-style (gated-gelu, unscaled output) config from the size flags and the tokenizer's special ids."""
    from transformers import T5Config

    return T5Config(vocab_size=len(tokenizer), d_model=args.d_model, d_kv=args.d_kv, d_ff=args.d_ff,
                    num_layers=args.num_layers, num_decoder_layers=args.num_decoder_layers or args.num_layers,
                    num_heads=args.num_heads, feed_forward_proj="gated-gelu", dropout_rate=args.dropout_rate,
                    tie_word_embeddings=args.scale_decoder_outputs, decoder_start_token_id=tokenizer.pad_token_id,
                    pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id)


def init_t5(config, seed: int = 0):
    """A freshly initialised T5 whose first logits have unit scale.

    transformers (5.x) always shares the input embedding with the output layer and draws it with std
    1.0; a v1.1-style config (`tie_word_embeddings=False`) only switches off the d_model**-0.5 scaling of
    the decoder output. The first logits then have a standard deviation of about sqrt(d_model) and the
    first loss is ~30 instead of ~log(vocab): a short pre-training spends its first hundred updates
    undoing that. Drawing the shared embedding with std d_model**-0.5 in that case starts at unit scale.
    """
    from transformers import T5ForConditionalGeneration

    torch.manual_seed(seed)
    model = T5ForConditionalGeneration(config)
    if not getattr(config, "scale_decoder_outputs", True):
        with torch.no_grad():
            model.get_output_embeddings().weight.normal_(0.0, config.d_model ** -0.5)
    return model


def span_corrupted_batch(stream: np.ndarray, starts: np.ndarray, seq_len: int, sentinels: list[int], eos: int, pad: int,
                         density: float, mean_span: float, rng: np.random.Generator) -> dict[str, torch.Tensor]:
    """Span-corrupted inputs/labels for windows of `seq_len` tokens starting at `starts`, padded to the batch."""

    inputs, targets = [], []
    for start in starts:
        window = stream[start: start + seq_len].tolist()
        x, y = corrupt(window, random_spans_mask(len(window), density, mean_span, rng), sentinels, eos)
        inputs.append(x)
        targets.append(y)
    width, twidth = max(map(len, inputs)), max(map(len, targets))
    input_ids = torch.full((len(inputs), width), pad, dtype=torch.long)
    labels = torch.full((len(targets), twidth), -100, dtype=torch.long)
    mask = torch.zeros((len(inputs), width), dtype=torch.long)
    for row, (x, y) in enumerate(zip(inputs, targets, strict=True)):
        input_ids[row, : len(x)] = torch.tensor(x)
        mask[row, : len(x)] = 1
        labels[row, : len(y)] = torch.tensor(y)
    return {"input_ids": input_ids, "attention_mask": mask, "labels": labels}


class SpanCorruption(Objective):
    """T5's span corruption: windows of `--seq_len` raw tokens, noise spans replaced by sentinels."""

    name = "pretrain"
    copy_final = True  # <out>/ itself is the final model, usable as --model / --tokenizer_path

    def __init__(self, options: T5PretrainOptions) -> None:
        super().__init__(options)
        self.transfer: dict | None = None
        self.warm_start = bool(options.init_embeddings and options.init_embeddings.lower() != "none")

    def prepare(self) -> None:
        """--beta1 needs Adafactor; the --init_embeddings folder must hold weights (before the tokenizer's minutes)."""
        o = self.options
        if o.beta1 is not None and o.optimizer != "adafactor":
            raise ValueError(f"--beta1 {o.beta1}: applies to --optimizer adafactor only (AdamW keeps its own betas)")
        if self.warm_start:

            source_file(o.init_embeddings)

    def tokenizer(self, lines: list[str], out: Path):
        """`--tokenizer`, or a SentencePiece vocabulary with `<extra_id_*>` sentinels trained on the lines."""
        from transformers import AutoTokenizer


        if self.options.tokenizer:
            tokenizer = AutoTokenizer.from_pretrained(self.options.tokenizer, local_files_only=True)
        else:
            tok_dir = out.with_name(f".{out.name}.tokenizer-{os.getpid()}")
            tokenizer = train_t5_tokenizer(lines, tok_dir, vocab_size=self.options.vocab_size)
            shutil.rmtree(tok_dir, ignore_errors=True)
        self.sentinels = sentinel_ids(tokenizer)
        self.eos, self.pad = tokenizer.eos_token_id, tokenizer.pad_token_id
        return tokenizer

    def width(self) -> int:
        """`--seq_len` raw tokens."""
        return self.options.seq_len

    def start_count(self, tokens: int) -> int:
        """The last full window's start is never drawn (as in the original loop, whose draws this keeps)."""
        return tokens - self.options.seq_len

    def model(self, tokenizer) -> torch.nn.Module:
        """`init_t5` of the config; piece embeddings from `--init_embeddings` unless 'none'."""
        model = init_t5(t5_config(self.options, tokenizer), self.options.seed)
        if self.warm_start:

            self.transfer = transfer_embeddings(model, tokenizer, self.options.init_embeddings)
            print(f"[pretrain] {self.transfer['pieces']}/{self.transfer['vocabulary']} piece embeddings from "
                  f"{self.options.init_embeddings} (variance kept {self.transfer['variance_kept']})")
        return model

    def optimizer(self, model: torch.nn.Module):
        """AdamW without weight decay, or Adafactor (T5_model.trainer's); linear warm-up, then constant."""
        o = self.options
        if o.optimizer == "adamw":
            optimizer = torch.optim.AdamW(model.parameters(), lr=o.lr, weight_decay=0.0)
        else:

            optimizer = build_optimizer(model.parameters(), o.lr, o.beta1)
        warmup = max(o.warmup_steps, 1)
        return optimizer, torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: min(1.0, (s + 1) / warmup))

    def batch(self, stream: np.ndarray, starts: np.ndarray, rng: np.random.Generator) -> dict[str, torch.Tensor]:
        """Span-corrupted windows (the spans drawn from the run's generator, after the starts)."""
        o = self.options
        return span_corrupted_batch(stream, starts, o.seq_len, self.sentinels, self.eos, self.pad,
                                    o.noise_density, o.mean_span, rng)

    def loss(self, model: torch.nn.Module, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """The model's own cross-entropy on the targets."""
        return model(**batch).loss

    def run_info(self) -> dict:
        """The embedding transfer's record (None without one)."""
        return {"embeddings_from": self.transfer}

    def final_info(self, losses: list[float]) -> dict:
        """The mean loss of every 50 steps."""
        return {"loss_curve": [mean for _, mean in loss_curve(losses, 50)]}


def pretrain_t5(options: T5PretrainOptions) -> dict:
    """Pre-train a T5 with span corruption as `options` say; returns the run's info (`<out>/pretraining.json`)."""
    return pretrain(SpanCorruption(options))
