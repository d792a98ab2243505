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

import argparse
import json
import math
import os
import shutil
import sys
import time
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import torch

from utils.errors import run_cli
from utils.options import OneLineParser, positive_int
from utils.pretrain_t5 import (
    add_run_flags,
    read_lines,
    recent_loss,
    save_folder,
    token_stream,
    update,
)

SPECIAL_TOKENS = ("<s>", "<pad>", "</s>", "<unk>", "<mask>")  # ids 0..4, as RoBERTa
CHECK_TEXTS = ("the movie was good", "A person, on a horse - naïve café 日本 😀!", "  two  spaces , and a tab\there")


def build_parser() -> argparse.ArgumentParser:
    """Flags: data, tokenizer, model size, schedule, checkpoints."""
    p = OneLineParser(description=__doc__.splitlines()[0])
    p.add_argument("--text", default="data/pretrain_text/corpus.txt", help="plain text, one sentence per line")
    p.add_argument("--out", default="RoBERTa_model/checkpoint", help="folder receiving ckpt_<STEP>/")
    p.add_argument("--tokenizer", default=None, help="reuse this tokenizer folder instead of training one")
    p.add_argument("--vocab_size", type=positive_int, default=8000, help="size of the trained byte-level BPE vocab")
    p.add_argument("--hidden_size", type=positive_int, default=128)
    p.add_argument("--num_layers", type=positive_int, default=2)
    p.add_argument("--num_heads", type=positive_int, default=2)
    p.add_argument("--intermediate_size", type=positive_int, default=512)
    p.add_argument("--max_position_embeddings", type=positive_int, default=None, help="default: --seq_len + 2")
    p.add_argument("--dropout", type=float, default=0.1, help="hidden and attention dropout")
    p.add_argument("--seq_len", type=positive_int, default=128, help="tokens per example, <s> and </s> included")
    p.add_argument("--mlm_probability", type=float, default=0.15)
    p.add_argument("--steps", type=positive_int, default=2000)
    p.add_argument("--batch_size", type=positive_int, default=64)
    p.add_argument("--lr", type=float, default=1e-3, help="AdamW peak learning rate")
    p.add_argument("--warmup_steps", type=int, default=100, help="linear warm-up, then linear decay to 0 at --steps")
    p.add_argument("--weight_decay", type=float, default=0.01, help="not applied to biases and LayerNorms")
    return add_run_flags(p)


def check_args(args: argparse.Namespace, parser: argparse.ArgumentParser) -> argparse.Namespace:
    """Reject impossible sizes through `parser.error` (one line, exit 2)."""
    for name in ("vocab_size", "hidden_size", "num_layers", "num_heads", "intermediate_size", "steps", "batch_size"):
        if getattr(args, name) <= 0:
            parser.error(f"argument --{name}: expected a positive integer, got {getattr(args, name)}")
    if args.seq_len < 3:
        parser.error(f"argument --seq_len: expected at least 3 (<s>, a token, </s>), got {args.seq_len}")
    if args.hidden_size % args.num_heads:
        parser.error(f"argument --num_heads: {args.num_heads} does not divide --hidden_size {args.hidden_size}")
    if args.max_position_embeddings is None:
        args.max_position_embeddings = args.seq_len + 2
    if args.max_position_embeddings < args.seq_len + 2:
        parser.error(f"argument --max_position_embeddings: RoBERTa needs at least --seq_len + 2 = {args.seq_len + 2}")
    if not 0 < args.mlm_probability < 1:
        parser.error(f"argument --mlm_probability: expected a number in (0, 1), got {args.mlm_probability}")
    if not math.isfinite(args.lr) or args.lr <= 0:
        parser.error(f"argument --lr: expected a positive number, got {args.lr}")
    if args.save_steps is not None and any(s <= 0 or s > args.steps for s in args.save_steps):
        parser.error(f"argument --save_steps: expected steps in 1..{args.steps}, got {args.save_steps}")
    return args


def check_tokenizer(tokenizer, samples: Iterable[str] = ()) -> None:
    """Raise ValueError unless `tokenizer` round-trips text, wraps it as RoBERTa does and keeps `<mask>` whole."""
    ids = {t: tokenizer.convert_tokens_to_ids(t) for t in SPECIAL_TOKENS}
    if [ids[t] for t in SPECIAL_TOKENS] != list(range(len(SPECIAL_TOKENS))):
        raise ValueError(f"tokenizer: special tokens have ids {ids}, expected 0..4 in the order {SPECIAL_TOKENS}")
    cls, sep = tokenizer.cls_token_id, tokenizer.sep_token_id
    for text in [*CHECK_TEXTS, *samples]:
        if any(t in text for t in SPECIAL_TOKENS):
            continue
        encoded = tokenizer(text).input_ids
        back = tokenizer.decode(encoded, skip_special_tokens=True)
        if back != text or encoded[0] != cls or encoded[-1] != sep:
            raise ValueError(f"tokenizer: {text!r} comes back as {back!r} from ids {encoded[:8]}...")
    a, b = (tokenizer(t, add_special_tokens=False).input_ids for t in ("a", "b"))
    pair = tokenizer("a", "b").input_ids
    if pair != [cls, *a, sep, sep, *b, sep]:
        raise ValueError(f"tokenizer: a pair encodes as {tokenizer.convert_ids_to_tokens(pair)}, "
                         "expected <s> a </s></s> b </s>")
    masked = tokenizer("the <mask> film", add_special_tokens=False).input_ids
    if masked.count(tokenizer.mask_token_id) != 1 or len(masked) != 3:
        raise ValueError(f"tokenizer: '<mask>' is not one special token: {tokenizer.convert_ids_to_tokens(masked)}")


def train_roberta_tokenizer(lines: list[str], folder: str | Path, vocab_size: int = 8000,
                            model_max_length: int = 512):
    """Train a byte-level BPE vocabulary on `lines`, save a RoBERTa tokenizer folder and load it back from there.

    Ids 0..4 are `<s> <pad> </s> <unk> <mask>`; encoding adds `<s> ... </s>` (pairs `<s> a </s></s> b </s>`);
    `<mask>` swallows the space before it, as roberta-base's does. Loading goes through
    `module.loading.load_tokenizer(folder)` and the result is checked with `check_tokenizer`.
    """
    from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import RobertaTokenizerFast

    from module.loading import load_tokenizer

    specials = [AddedToken(t, special=True, normalized=False, lstrip=t == "<mask>") for t in SPECIAL_TOKENS]
    backend = Tokenizer(models.BPE())
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    backend.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, min_frequency=2, special_tokens=specials,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    backend.train_from_iterator(lines, trainer, length=len(lines))
    backend.post_processor = processors.RobertaProcessing(("</s>", 2), ("<s>", 0), trim_offsets=True,
                                                          add_prefix_space=False)
    wrapped = RobertaTokenizerFast(tokenizer_object=backend, bos_token="<s>", eos_token="</s>", sep_token="</s>",
                                   cls_token="<s>", unk_token="<unk>", pad_token="<pad>", mask_token=specials[4],
                                   model_max_length=model_max_length, clean_up_tokenization_spaces=False)
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    wrapped.save_pretrained(str(folder))
    tokenizer = load_tokenizer(folder)
    check_tokenizer(tokenizer, lines[:50])
    return tokenizer


def make_windows(stream: np.ndarray, starts: np.ndarray, width: int, cls: int, sep: int) -> torch.Tensor:
    """`<s> stream[start: start + width] </s>` for every start, as a (len(starts), width + 2) tensor."""
    rows = np.stack([stream[s: s + width] for s in starts]).astype(np.int64)
    ends = np.empty((len(starts), 1), dtype=np.int64)
    return torch.from_numpy(np.concatenate([ends * 0 + cls, rows, ends * 0 + sep], axis=1))


def mask_tokens(input_ids: torch.Tensor, mask_id: int, special: torch.Tensor, ordinary: torch.Tensor,
                probability: float, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """BERT masking: choose `probability` of the positions not holding a `special` id; of those 80% become
    `mask_id`, 10% a random id from `ordinary`, 10% stay. Returns (inputs, labels with -100 where not chosen)."""
    eligible = ~torch.isin(input_ids, special)
    chosen = (torch.rand(input_ids.shape, generator=generator) < probability) & eligible
    if not chosen.any():  # keep every batch informative
        candidates = eligible.nonzero()
        pick = candidates[torch.randint(len(candidates), (1,), generator=generator)]
        chosen[pick[:, 0], pick[:, 1]] = True
    labels = input_ids.masked_fill(~chosen, -100)
    draw = torch.rand(input_ids.shape, generator=generator)
    inputs = input_ids.masked_fill(chosen & (draw < 0.8), mask_id)
    swap = chosen & (draw >= 0.8) & (draw < 0.9)
    inputs[swap] = ordinary[torch.randint(len(ordinary), (int(swap.sum()),), generator=generator)]
    return inputs, labels


def mlm_loss(model, input_ids: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """The loss of `RobertaForMaskedLM(input_ids, labels=labels)`, with the vocabulary projection computed only
    at the chosen positions (the LM head works token by token, so this is the same number, ~6x cheaper)."""
    hidden = model.roberta(input_ids=input_ids, attention_mask=torch.ones_like(input_ids)).last_hidden_state
    chosen = labels != -100
    logits = model.lm_head(hidden[chosen])
    return torch.nn.functional.cross_entropy(logits.float(), labels[chosen])


def loss_curve(losses: list[float], every: int) -> list[list[float]]:
    """[last step, mean loss] of every `every` steps."""
    return [[min(i + every, len(losses)), round(float(np.mean(losses[i: i + every])), 4)]
            for i in range(0, len(losses), every)]


def default_save_steps(steps: int) -> list[int]:
    """Four evenly spaced steps, the last one included."""
    return sorted({max(1, round(steps * k / 4)) for k in range(1, 5)})


def refuse_foreign_checkpoints(out: Path, steps: list[int]) -> None:
    """Never overwrite a ckpt_<STEP> folder that this script did not write (e.g. the paper's checkpoints)."""
    for step in steps:
        folder = out / f"ckpt_{step}"
        if folder.exists() and not (folder / "pretraining.json").is_file():
            raise FileExistsError(f"{folder}: exists and was not written by pretrain_mlm.py; choose another --out")


def main(argv: list[str] | None = None) -> int:
    """Entry point."""
    parser = build_parser()
    args = check_args(parser.parse_args(argv), parser)
    from tqdm.auto import tqdm
    from transformers import RobertaConfig, RobertaForMaskedLM
    from transformers.utils import logging as hf_logging

    from module.loading import load_tokenizer

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    out = Path(args.out)
    lines = read_lines(args.text, args.max_lines)
    save_steps = sorted(set(args.save_steps or default_save_steps(args.steps)))
    refuse_foreign_checkpoints(out, save_steps)
    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    generator = torch.Generator().manual_seed(args.seed)
    started = time.time()
    if args.tokenizer:
        tokenizer = load_tokenizer(args.tokenizer, "--tokenizer")
        if tokenizer.mask_token_id is None or tokenizer.pad_token_id is None:
            raise ValueError(f"--tokenizer {args.tokenizer}: needs a mask token and a pad token")
    else:
        tok_dir = out.with_name(f".{out.name}.tokenizer.tmp-{os.getpid()}")
        try:
            tokenizer = train_roberta_tokenizer(lines, tok_dir, args.vocab_size, model_max_length=args.seq_len)
        finally:
            shutil.rmtree(tok_dir, ignore_errors=True)
    tokenizer.model_max_length = args.seq_len
    for key in ("is_local", "local_files_only"):  # loading options, not settings of the tokenizer
        tokenizer.init_kwargs.pop(key, None)
    width = args.seq_len - 2
    stream = token_stream(tokenizer, lines)
    if len(stream) < width * 2:
        raise ValueError(f"{args.text}: only {len(stream)} tokens, fewer than two windows of --seq_len {args.seq_len}")
    special = torch.tensor(sorted(set(tokenizer.all_special_ids)), dtype=torch.long)
    ordinary = torch.tensor([i for i in range(len(tokenizer)) if i not in set(tokenizer.all_special_ids)])
    config = RobertaConfig(vocab_size=len(tokenizer), hidden_size=args.hidden_size, num_hidden_layers=args.num_layers,
                           num_attention_heads=args.num_heads, intermediate_size=args.intermediate_size,
                           max_position_embeddings=args.max_position_embeddings, type_vocab_size=1,
                           hidden_dropout_prob=args.dropout, attention_probs_dropout_prob=args.dropout,
                           layer_norm_eps=1e-5, pad_token_id=tokenizer.pad_token_id,
                           bos_token_id=tokenizer.cls_token_id, eos_token_id=tokenizer.sep_token_id)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    model = RobertaForMaskedLM(config).to(device)
    no_decay = [p for n, p in model.named_parameters() if n.endswith("bias") or "LayerNorm" in n]
    decay = [p for n, p in model.named_parameters() if not (n.endswith("bias") or "LayerNorm" in n)]
    optimizer = torch.optim.AdamW([{"params": decay, "weight_decay": args.weight_decay},
                                   {"params": no_decay, "weight_decay": 0.0}], lr=args.lr, betas=(0.9, 0.98), eps=1e-6)
    warmup = max(args.warmup_steps, 0)

    def schedule(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        return max(0.0, (args.steps - step) / max(1, args.steps - warmup))

    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, schedule)
    windows = len(stream) - width + 1
    info = {"params": sum(p.numel() for p in model.parameters()), "tokens_in_corpus": int(len(stream)),
            "lines": len(lines), "vocab_size": len(tokenizer), "args": vars(args)}
    print(f"[pretrain_mlm] {info['params'] / 1e6:.1f}M parameters, vocabulary {len(tokenizer)}, "
          f"{len(stream) / 1e6:.2f}M tokens, {args.steps} steps of {args.batch_size} x {args.seq_len} tokens on "
          f"{device}")
    model.train()
    losses, step, train_started = [], 0, time.time()
    curve_every = max(1, min(50, args.steps // 100))
    bar = tqdm(total=args.steps, desc="pretrain_mlm", unit="step", disable=args.quiet)
    while step < args.steps:
        ids = make_windows(stream, rng.integers(0, windows, size=args.batch_size), width, tokenizer.cls_token_id,
                           tokenizer.sep_token_id)
        inputs, labels = mask_tokens(ids, tokenizer.mask_token_id, special, ordinary,
                                     args.mlm_probability, generator)
        with torch.autocast(device_type=device, dtype=torch.bfloat16, enabled=args.bf16):
            loss = mlm_loss(model, inputs.to(device), labels.to(device))
        update(model, loss, optimizer, scheduler)
        step += 1
        losses.append(float(loss.detach()))
        bar.update(1)
        bar.set_postfix(loss=f"{recent_loss(losses):.3f}")
        out_of_time = args.max_minutes is not None and time.time() - started > 60 * args.max_minutes
        if step in save_steps or out_of_time or step == args.steps:
            now = time.time()
            info.update(step=step, loss=recent_loss(losses),
                        seconds=round(now - started, 1), steps_per_second=round(step / (now - train_started), 3),
                        loss_curve=loss_curve(losses, curve_every))
            save_folder(model, tokenizer, out / f"ckpt_{step}", info)
        if out_of_time:
            break
    bar.close()
    print(f"[pretrain_mlm] done in {info['seconds'] / 60:.1f} min ({info['steps_per_second']:.2f} steps/s), "
          f"final loss {info['loss']:.3f}: {out / f'ckpt_{step}'}")
    print(json.dumps({k: info[k] for k in ("step", "loss", "seconds", "params")}))
    return 0 if math.isfinite(info["loss"]) else 1


if __name__ == "__main__":
    sys.exit(run_cli(main))
