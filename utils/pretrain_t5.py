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

import argparse
import json
import math
import os
import shutil
import sys
import time
from pathlib import Path

import numpy as np
import torch

from dataloader.tasks import text_lines
from module.files import atomic_write_json
from utils.errors import run_cli
from utils.options import OneLineParser, positive_int


def build_parser() -> argparse.ArgumentParser:
    """Flags: data, model size, schedule, checkpoints."""
    p = OneLineParser(description=__doc__.splitlines()[0])
    p.add_argument("--text", default="data/pretrain_text/corpus.txt", help="plain text, one sentence per line")
    p.add_argument("--out", default="pretrained_models/t5-small-home", help="output folder")
    p.add_argument("--tokenizer", default=None, help="reuse this tokenizer folder instead of training one")
    p.add_argument("--vocab_size", type=positive_int, default=4000)
    p.add_argument("--d_model", type=positive_int, default=128)
    p.add_argument("--d_kv", type=positive_int, default=32)
    p.add_argument("--d_ff", type=positive_int, default=512)
    p.add_argument("--num_layers", type=positive_int, default=2)
    p.add_argument("--num_decoder_layers", type=positive_int, default=None)
    p.add_argument("--num_heads", type=positive_int, default=4)
    p.add_argument("--dropout_rate", type=float, default=0.0)
    p.add_argument("--scale_decoder_outputs", action="store_true",
                   help="T5 v1.0 output layer: scale the decoder output by d_model**-0.5 (transformers 5 always "
                        "shares T5's input and output embeddings; a v1.1 config only turns this scaling off)")
    p.add_argument("--seq_len", type=positive_int, default=64, help="raw-text tokens per example (before corruption)")
    p.add_argument("--noise_density", type=float, default=0.15)
    p.add_argument("--mean_span", type=float, default=3.0)
    p.add_argument("--steps", type=positive_int, default=2000)
    p.add_argument("--batch_size", type=positive_int, default=64)
    p.add_argument("--init_embeddings", default="pretrained_models/all-MiniLM-L6-v2",
                   help="start the piece embeddings from this local model folder's word embeddings (mean of each "
                        "piece's sub-words, PCA to d_model); 'none' starts from random ones")
    p.add_argument("--optimizer", choices=("adamw", "adafactor"), default="adamw")
    p.add_argument("--lr", type=float, default=1e-3, help="learning rate (constant after warm-up)")
    p.add_argument("--beta1", type=float, default=None, help="Adafactor first-moment decay (default: none)")
    p.add_argument("--warmup_steps", type=int, default=100)
    return add_run_flags(p)


def add_run_flags(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Flags both pre-training scripts share: checkpoint steps, time and data limits, bf16, seed, quiet."""
    p.add_argument("--save_steps", type=int, nargs="*", default=None,
                   help="steps at which ckpt_<STEP> is saved (default: 4 evenly spaced, the last included)")
    p.add_argument("--max_minutes", type=float, default=None, help="stop (and save) after this many minutes")
    p.add_argument("--max_lines", type=int, default=None, help="use only the first N lines of --text")
    p.add_argument("--bf16", action="store_true", help="bfloat16 autocast (GPUs, recent CPUs)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--quiet", action="store_true")
    return p


def t5_config(args: argparse.Namespace, tokenizer):
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


def recent_loss(losses: list[float]) -> float:
    """The loss the progress bar shows and the run reports: the mean of the last 10% of steps, at most 50."""
    return float(np.mean(losses[-max(1, min(50, len(losses) // 10)):]))


def read_lines(path: str | Path, limit: int | None = None) -> list[str]:
    """Non-empty stripped lines of a text file."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: text file not found (prepare it with: python utils/prepare_data.py --text)")
    lines = []
    for _, line in text_lines(path):
        line = line.strip()
        if line:
            lines.append(line)
            if limit and len(lines) >= limit:
                break
    if not lines:
        raise ValueError(f"{path}: no text")
    return lines


def token_stream(tokenizer, lines: list[str], chunk: int = 4096) -> np.ndarray:
    """All lines tokenised (no special tokens) and concatenated."""
    parts = []
    for start in range(0, len(lines), chunk):
        ids = tokenizer(lines[start: start + chunk], add_special_tokens=False)["input_ids"]
        parts.extend(np.asarray(x, dtype=np.int32) for x in ids)
    return np.concatenate(parts)


def make_batch(stream: np.ndarray, starts: np.ndarray, seq_len: int, sentinels: list[int], eos: int, pad: int,
               density: float, mean_span: float, rng: np.random.Generator) -> dict[str, torch.Tensor]:
    """Span-corrupted inputs/labels for windows of `seq_len` tokens starting at `starts`, padded to the batch."""
    from T5_model.span_corruption import corrupt, random_spans_mask

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


def update(model, loss: torch.Tensor, optimizer, scheduler, max_norm: float = 1.0) -> None:
    """One optimiser update from `loss`: backward, clip the gradient norm, step, schedule, clear."""
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm)
    optimizer.step()
    scheduler.step()
    optimizer.zero_grad(set_to_none=True)


def save_folder(model, tokenizer, folder: Path, info: dict) -> None:
    """Write a Hugging Face folder atomically (temporary sibling, then rename)."""
    tmp = folder.with_name(f".{folder.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    model.save_pretrained(str(tmp))
    tokenizer.save_pretrained(str(tmp))
    atomic_write_json(tmp / "pretraining.json", info)
    if folder.exists():
        shutil.rmtree(folder)
    os.replace(tmp, folder)


def main(argv: list[str] | None = None) -> int:
    """Entry point."""
    args = build_parser().parse_args(argv)
    from tqdm.auto import tqdm
    from transformers import AutoTokenizer

    from T5_model.span_corruption import sentinel_ids
    from T5_model.tokenizer import train_t5_tokenizer

    out = Path(args.out)
    if args.beta1 is not None and args.optimizer != "adafactor":
        raise ValueError(f"--beta1 {args.beta1}: applies to --optimizer adafactor only (AdamW keeps its own betas)")
    warm_start = args.init_embeddings and args.init_embeddings.lower() != "none"
    if warm_start:
        from T5_model.embedding_transfer import source_file

        source_file(args.init_embeddings)  # fail before minutes of tokenizer training, not after
    lines = read_lines(args.text, args.max_lines)
    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    started = time.time()
    if args.tokenizer:
        tokenizer = AutoTokenizer.from_pretrained(args.tokenizer, local_files_only=True)
    else:
        tok_dir = out.with_name(f".{out.name}.tokenizer-{os.getpid()}")
        tokenizer = train_t5_tokenizer(lines, tok_dir, vocab_size=args.vocab_size)
        shutil.rmtree(tok_dir, ignore_errors=True)
    sentinels = sentinel_ids(tokenizer)
    stream = token_stream(tokenizer, lines)
    if len(stream) < args.seq_len * 2:
        raise ValueError(f"{args.text}: only {len(stream)} tokens, fewer than two windows of --seq_len {args.seq_len}")
    config = t5_config(args, tokenizer)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    model = init_t5(config, args.seed)
    transfer = None
    if warm_start:
        from T5_model.embedding_transfer import transfer_embeddings

        transfer = transfer_embeddings(model, tokenizer, args.init_embeddings)
        print(f"[pretrain] {transfer['pieces']}/{transfer['vocabulary']} piece embeddings from {args.init_embeddings} "
              f"(variance kept {transfer['variance_kept']})")
    model = model.to(device)
    if args.optimizer == "adamw":
        optimizer = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.0)
    else:
        from T5_model.trainer import build_optimizer

        optimizer = build_optimizer(model.parameters(), args.lr, args.beta1)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: min(1.0, (s + 1) / max(args.warmup_steps, 1)))
    save_steps = sorted(set(args.save_steps or [max(1, round(args.steps * k / 4)) for k in range(1, 5)]))
    windows = len(stream) - args.seq_len
    info = {"params": sum(p.numel() for p in model.parameters()), "tokens_in_corpus": int(len(stream)),
            "lines": len(lines), "args": vars(args),
            "embeddings_from": transfer}
    print(f"[pretrain] {info['params'] / 1e6:.1f}M parameters, {len(stream) / 1e6:.2f}M tokens, "
          f"{args.steps} steps of {args.batch_size} x {args.seq_len} tokens on {device}")
    model.train()
    losses, step = [], 0
    bar = tqdm(total=args.steps, desc="pretrain", unit="step", disable=args.quiet)
    while step < args.steps:
        starts = rng.integers(0, windows, size=args.batch_size)
        batch = {k: v.to(device) for k, v in make_batch(stream, starts, args.seq_len, sentinels,
                                                          tokenizer.eos_token_id, tokenizer.pad_token_id,
                                                          args.noise_density, args.mean_span, rng).items()}
        with torch.autocast(device_type=device, dtype=torch.bfloat16, enabled=args.bf16):
            loss = model(**batch).loss
        update(model, loss, optimizer, scheduler)
        step += 1
        losses.append(float(loss.detach()))
        bar.update(1)
        bar.set_postfix(loss=f"{recent_loss(losses):.3f}")
        out_of_time = args.max_minutes is not None and time.time() - started > 60 * args.max_minutes
        if step in save_steps or out_of_time or step == args.steps:
            info.update(step=step, loss=recent_loss(losses), seconds=round(time.time() - started, 1))
            save_folder(model, tokenizer, out / f"ckpt_{step}", info)
        if out_of_time:
            break
    bar.close()
    info.update(step=step, loss=recent_loss(losses), seconds=round(time.time() - started, 1),
                loss_curve=[round(float(np.mean(losses[i: i + 50])), 4) for i in range(0, len(losses), 50)])
    final = out / f"ckpt_{step}"
    for name in os.listdir(final):
        shutil.copy2(final / name, out / f".{name}.tmp")
        os.replace(out / f".{name}.tmp", out / name)
    atomic_write_json(out / "pretraining.json", info)
    print(f"[pretrain] done in {info['seconds'] / 60:.1f} min, final loss {info['loss']:.3f}: {out}")
    print(json.dumps({k: info[k] for k in ("step", "loss", "seconds", "params")}))
    return 0 if math.isfinite(info["loss"]) else 1


if __name__ == "__main__":
    sys.exit(run_cli(main))
