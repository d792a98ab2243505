"""Loading a causal LM (any `AutoModelForCausalLM`: GPT-2, Llama, Qwen2, Mistral, Phi, ...) and its tokenizer from a
local folder, offline, refusing custom code and pickled weights."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from module.files import read_json
from module.loading import check_no_custom_code, load_tokenizer, quiet_transformers, safe_weights


class CausalModelError(ValueError):
    """A folder that does not hold a causal LM this family loads."""


def load_causal(folder: str | Path, what: str = "--model", dtype: torch.dtype = torch.float32) -> nn.Module:
    """The causal LM in `folder` (a Hugging Face folder), in eval mode."""
    from transformers import AutoModelForCausalLM

    config = Path(folder) / "config.json"
    if not config.is_file():
        raise CausalModelError(f"{what} {folder}: no config.json (expected a Hugging Face causal LM folder)")
    check_no_custom_code(read_json(config, "expected a Hugging Face config.json"), f"{what} {config}")
    with quiet_transformers(), safe_weights(folder, what):
        try:
            model = AutoModelForCausalLM.from_pretrained(str(folder), local_files_only=True, trust_remote_code=False,
                                                         dtype=dtype)
        except ValueError as exc:
            raise CausalModelError(f"{what} {folder}: not a causal LM ({str(exc).splitlines()[0][:160]})") from None
    return model.eval()


def load_causal_tokenizer(folder: str | Path, what: str = "--model"):
    """The tokenizer in `folder`; one without a pad token pads with its end-of-text token."""
    tokenizer = load_tokenizer(folder, what)
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer
