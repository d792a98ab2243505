"""RoBERTa masked language modelling as a `module.pretraining` objective: a byte-level BPE tokenizer with RoBERTa's
special tokens, BERT's 80/10/10 masking, the loss at the chosen positions only, and the options of
RoBERTa_model/pretrain_mlm.py."""

from __future__ import annotations

import math
import os
import shutil
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from module.cli import positive_int
from module.loading import load_tokenizer
from module.pretraining import CurveObjective, RunOptions, adamw_warmup_linear, flag, pretrain

SPECIAL_TOKENS = ("<s>", "<pad>", "</s>", "<unk>", "<mask>")  # ids 0..4, as RoBERTa
CHECK_TEXTS = ("the movie was good", "A person, on a horse - naïve café 日本 😀!", "  two  spaces , and a tab\there")


@dataclass
class MLMFlags:
    """data, tokenizer, model size, schedule (in the order of the original flags)"""

    text: str = flag("data/pretrain_text/corpus.txt", "plain text, one sentence per line")
    out: str = flag("RoBERTa_model/checkpoint", "folder receiving ckpt_<STEP>/")
    tokenizer: str | None = flag(None, "reuse this tokenizer folder instead of training one")
    vocab_size: int = flag(8000, "size of the trained byte-level BPE vocab", type=positive_int)
    hidden_size: int = flag(128, type=positive_int)
    num_layers: int = flag(2, type=positive_int)
    num_heads: int = flag(2, type=positive_int)
    intermediate_size: int = flag(512, type=positive_int)
    max_position_embeddings: int | None = flag(None, "default: --seq_len + 2", type=positive_int)
    dropout: float = flag(0.1, "hidden and attention dropout", type=float)
    seq_len: int = flag(128, "tokens per example, <s> and </s> included", type=positive_int)
    mlm_probability: float = flag(0.15, type=float)
    steps: int = flag(2000, type=positive_int)
    batch_size: int = flag(64, type=positive_int)
    lr: float = flag(1e-3, "AdamW peak learning rate", type=float)
    warmup_steps: int = flag(100, "linear warm-up, then linear decay to 0 at --steps", type=int)
    weight_decay: float = flag(0.01, "not applied to biases and LayerNorms", type=float)


@dataclass
class MLMPretrainOptions(RunOptions, MLMFlags):
    """Every setting of RoBERTa_model/pretrain_mlm.py: the MLM flags, then the shared run flags."""


def check_mlm_options(options: MLMPretrainOptions) -> MLMPretrainOptions:
    """Fill in max_position_embeddings; a ValueError `argument --<flag>: ...` for an impossible setting."""
    o = options
    for name in ("vocab_size", "hidden_size", "num_layers", "num_heads", "intermediate_size", "steps", "batch_size"):
        if getattr(o, name) <= 0:
            raise ValueError(f"argument --{name}: expected a positive integer, got {getattr(o, name)}")
    if o.seq_len < 3:
        raise ValueError(f"argument --seq_len: expected at least 3 (<s>, a token, </s>), got {o.seq_len}")
    if o.hidden_size % o.num_heads:
        raise ValueError(f"argument --num_heads: {o.num_heads} does not divide --hidden_size {o.hidden_size}")
    if o.max_position_embeddings is None:
        o.max_position_embeddings = o.seq_len + 2
    if o.max_position_embeddings < o.seq_len + 2:
        raise ValueError(f"argument --max_position_embeddings: RoBERTa needs at least --seq_len + 2 = {o.seq_len + 2}")
    if not 0 < o.mlm_probability < 1:
        raise ValueError(f"argument --mlm_probability: expected a number in (0, 1), got {o.mlm_probability}")
    if not math.isfinite(o.lr) or o.lr <= 0:
        raise ValueError(f"argument --lr: expected a positive number, got {o.lr}")
    if o.save_steps is not None and any(s <= 0 or s > o.steps for s in o.save_steps):
        raise ValueError(f"argument --save_steps: expected steps in 1..{o.steps}, got {o.save_steps}")
    return options


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
    around = [tokenizer(t, add_special_tokens=False).input_ids for t in ("the", " film")]  # "film" may be pieces
    if masked != [*around[0], tokenizer.mask_token_id, *around[1]]:
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


def refuse_foreign_checkpoints(out: Path, steps: list[int]) -> None:
    """Never overwrite a ckpt_<STEP> folder that this script did not write (e.g. the paper's checkpoints)."""
    for step in steps:
        folder = out / f"ckpt_{step}"
        if folder.exists() and not (folder / "pretraining.json").is_file():
            raise FileExistsError(f"{folder}: exists and was not written by pretrain_mlm.py; choose another --out")


class MaskedLM(CurveObjective):
    """RoBERTa's MLM: windows `<s> ... </s>` of `--seq_len` tokens, BERT masking from a seeded torch generator."""

    name = "pretrain_mlm"
    show_vocabulary = True

    def __init__(self, options: MLMPretrainOptions) -> None:
        super().__init__(check_mlm_options(options))
        self.generator = torch.Generator().manual_seed(options.seed)

    def prepare(self) -> None:
        """Quiet transformers' logging and progress bars (the run prints its own); import the model before the clock."""
        from transformers import RobertaForMaskedLM  # noqa: F401 - loaded before the clock starts, as before
        from transformers.utils import logging as hf_logging

        hf_logging.set_verbosity_error()
        hf_logging.disable_progress_bar()

    def check_output(self, out: Path, save_steps: list[int]) -> None:
        """Refuse to overwrite checkpoints this script did not write."""
        refuse_foreign_checkpoints(out, save_steps)

    def tokenizer(self, lines: list[str], out: Path):
        """`--tokenizer` (with a mask and a pad token), or a byte-level BPE vocabulary trained on the lines."""

        o = self.options
        if o.tokenizer:
            tokenizer = load_tokenizer(o.tokenizer, "--tokenizer")
            if tokenizer.mask_token_id is None or tokenizer.pad_token_id is None:
                raise ValueError(f"--tokenizer {o.tokenizer}: needs a mask token and a pad token")
        else:
            tok_dir = out.with_name(f".{out.name}.tokenizer.tmp-{os.getpid()}")
            try:
                tokenizer = train_roberta_tokenizer(lines, tok_dir, o.vocab_size, model_max_length=o.seq_len)
            finally:
                shutil.rmtree(tok_dir, ignore_errors=True)
        tokenizer.model_max_length = o.seq_len
        for key in ("is_local", "local_files_only"):  # loading options, not settings of the tokenizer
            tokenizer.init_kwargs.pop(key, None)
        specials = set(tokenizer.all_special_ids)
        self.special = torch.tensor(sorted(specials), dtype=torch.long)
        self.ordinary = torch.tensor([i for i in range(len(tokenizer)) if i not in specials])
        self.ids = tokenizer.cls_token_id, tokenizer.sep_token_id, tokenizer.mask_token_id
        return tokenizer

    def width(self) -> int:
        """`--seq_len` minus `<s>` and `</s>`."""
        return self.options.seq_len - 2

    def model(self, tokenizer) -> torch.nn.Module:
        """A `RobertaForMaskedLM` of the size flags."""
        from transformers import RobertaConfig, RobertaForMaskedLM

        o = self.options
        config = RobertaConfig(vocab_size=len(tokenizer), hidden_size=o.hidden_size, num_hidden_layers=o.num_layers,
                               num_attention_heads=o.num_heads, intermediate_size=o.intermediate_size,
                               max_position_embeddings=o.max_position_embeddings, type_vocab_size=1,
                               hidden_dropout_prob=o.dropout, attention_probs_dropout_prob=o.dropout,
                               layer_norm_eps=1e-5, pad_token_id=tokenizer.pad_token_id,
                               bos_token_id=tokenizer.cls_token_id, eos_token_id=tokenizer.sep_token_id)
        return RobertaForMaskedLM(config)

    def optimizer(self, model: torch.nn.Module):
        """AdamW (betas 0.9/0.98, eps 1e-6; no decay of biases and LayerNorms), warm-up then linear decay to 0."""
        o = self.options
        return adamw_warmup_linear(model, o.lr, o.weight_decay, o.warmup_steps, o.steps,
                                   lambda n: n.endswith("bias") or "LayerNorm" in n)

    def batch(self, stream: np.ndarray, starts: np.ndarray, rng: np.random.Generator) -> dict[str, torch.Tensor]:
        """Wrapped windows, masked with the objective's own torch generator."""
        cls, sep, mask = self.ids
        inputs, labels = mask_tokens(make_windows(stream, starts, self.width(), cls, sep), mask, self.special,
                                     self.ordinary, self.options.mlm_probability, self.generator)
        return {"input_ids": inputs, "labels": labels}

    def loss(self, model: torch.nn.Module, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """`mlm_loss` (the vocabulary projection at the chosen positions only)."""
        return mlm_loss(model, batch["input_ids"], batch["labels"])



def pretrain_mlm(options: MLMPretrainOptions) -> dict:
    """Pre-train a RoBERTa with MLM as `options` say (checked first); returns the last checkpoint's info."""
    return pretrain(MaskedLM(options))
