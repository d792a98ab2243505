"""Load a T5 backbone and its tokenizer from local folders, with adapters when asked."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch
from torch import nn

from module.adapter import is_adapter_tensor
from module.loading import UnsafeModelFolder, load_tokenizer, safe_weights
from T5_model.adapters import add_t5_adapters


class ModelLoadError(ValueError):
    """A model or tokenizer folder that cannot be used."""


# T5 config keys that size a tensor or a loop: each must be a whole number of at least 1 when present
T5_SIZE_KEYS = ("vocab_size", "d_model", "d_kv", "d_ff", "num_layers", "num_decoder_layers", "num_heads",
                "relative_attention_num_buckets", "relative_attention_max_distance")


def read_model_config(path: Path) -> dict:
    """A model folder's config.json as a dict; ModelLoadError naming the file and key when it is not JSON, not
    an object, or has a size that is not a positive whole number."""
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        reason = f"{exc.msg} at line {exc.lineno}" if isinstance(exc, json.JSONDecodeError) else "not UTF-8 text"
        raise ModelLoadError(f"{path}: not valid JSON ({reason})") from None
    if not isinstance(config, dict):
        raise ModelLoadError(f"{path}: expected a JSON object of model settings, got {type(config).__name__}")
    for key in T5_SIZE_KEYS:
        value = config.get(key)
        if key in config and value is not None and (type(value) is not int or value < 1):
            raise ModelLoadError(f"{path}: {key!r} must be a whole number of at least 1, got {value!r}")
    return config


def check_t5_folder(folder: str, what: str) -> dict:
    path = Path(folder)
    config_file = path / "config.json"
    if not path.is_dir():
        raise ModelLoadError(
            f"{what} {folder}: folder not found (expected a local Hugging Face T5 folder; "
            "see pretrained_models/README.md; model hubs are not used)")
    if what == "--model":
        if not config_file.is_file():
            raise ModelLoadError(f"{what} {folder}: no config.json (expected a Hugging Face T5 folder)")
        config = read_model_config(config_file)
        if config.get("model_type") not in ("t5", "mt5", "umt5"):
            raise ModelLoadError(
                f"{what} {folder}: model_type is {config.get('model_type')!r}, expected 't5' "
                "(the encoder track is RoBERTa_model/run_glue.py)")
        return config
    return {}


def load_t5_tokenizer(folder: str):
    """The T5 track's tokenizer (`--tokenizer_path`): a checked local folder, loaded offline."""
    check_t5_folder(folder, "--tokenizer_path")
    return load_tokenizer(folder, "--tokenizer_path")


def load_t5(folder: str) -> nn.Module:
    """Load a T5ForConditionalGeneration from a local folder, offline."""
    from transformers import T5ForConditionalGeneration
    from transformers.utils import logging as hf_logging

    check_t5_folder(folder, "--model")
    hf_logging.disable_progress_bar()
    try:
        with safe_weights(folder, "--model"):
            return T5ForConditionalGeneration.from_pretrained(folder, local_files_only=True, dtype=torch.float32)
    except UnsafeModelFolder:
        raise
    except (TypeError, ValueError, OSError) as exc:  # e.g. transformers' typed config fields
        reason = next((line.strip() for line in str(exc).splitlines() if line.strip()), type(exc).__name__)
        raise ModelLoadError(f"--model {folder}: cannot load ({reason[:200]})") from None


def model_files(args: argparse.Namespace) -> list[str]:
    """The folders of the pre-trained model and tokenizer (their contents go into a run's or sweep's settings)."""
    tokenizer = args.tokenizer_path or args.model
    return [args.model] + ([tokenizer] if tokenizer != args.model else [])


def model_provider(args: argparse.Namespace):
    """Return (model, config, tokenizer) as the original's `model_provider`, adapters attached and frozen as asked."""
    model = load_t5(args.model)
    tokenizer = load_t5_tokenizer(args.tokenizer_path or args.model)
    if len(tokenizer) > model.config.vocab_size:
        raise ModelLoadError(f"--tokenizer_path {args.tokenizer_path or args.model}: {len(tokenizer)} tokens, more "
                             f"than the vocabulary of --model {args.model} ({model.config.vocab_size}); use the "
                             "model's own tokenizer")
    if getattr(args, "apply_adapter", False) or args.tune_method == "adapter":
        init_seed = args.load_init_seed if getattr(args, "SGD_noise", False) else args.seed
        add_t5_adapters(model, args.adapter_type, args.adapter_size, args.r_mean, args.r_std, seed=init_seed)
    set_t5_trainable(model, args.tune_method, freeze_embeds=getattr(args, "freeze_embeds", False))
    return model, model.config, tokenizer


def set_t5_trainable(model: nn.Module, tune_method: str, freeze_embeds: bool = False) -> list[str]:
    """Mark which parameters train (`adapter`: adapter tensors only; `model`: all); returns their names."""
    names = []
    for name, param in model.named_parameters():
        if tune_method == "adapter":
            train = is_adapter_tensor(name)
        elif tune_method == "model":
            train = True
            if freeze_embeds and ("shared" in name or "embed_tokens" in name):
                train = False
        else:
            raise ValueError(f"--tune_method: expected model or adapter, got {tune_method!r}")
        param.requires_grad_(train)
        if train:
            names.append(name)
    return names


def trained_state(model: nn.Module, tune_method: str) -> dict[str, torch.Tensor]:
    """The tensors a checkpoint of this tuning method holds: adapter tensors, or the whole state dict."""
    state = model.state_dict()
    if tune_method == "adapter":
        return {k: v for k, v in state.items() if is_adapter_tensor(k)}
    return dict(state)
