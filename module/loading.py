"""Load tokenizers and models from local folders only: folders without tokenizer files, configs that name custom
code and weight files holding pickled objects are refused in one line, before anything runs."""

from __future__ import annotations

import contextlib
import pickle
import warnings
from collections.abc import Iterator
from pathlib import Path

from module.files import read_json

# the weights of a Hugging Face folder (delta.safetensors: an encoder adapter run's tuned tensors only)
WEIGHT_FILES = ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin", "delta.safetensors")
TOKENIZER_FILES = ("tokenizer.json", "spiece.model", "vocab.txt", "vocab.json", "sentencepiece.bpe.model")


def quiet_peft_deprecation() -> None:
    """Silence the FutureWarning transformers 5 raises at every PeftModel peft 0.21 builds (its
    `is_gradient_checkpointing` check); nothing else is filtered."""
    warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.* is deprecated", category=FutureWarning)


class TokenizerFolderError(ValueError):
    """A tokenizer folder that is missing or holds no tokenizer files."""


class UnsafeModelFolder(ValueError):
    """A model folder that would need code from it to run: custom code (auto_map) or pickled weights."""


def check_no_custom_code(config: dict, source: str) -> None:
    """Refuse a config (as read from `source`) whose model type transformers lacks and that names custom code."""
    from transformers import CONFIG_MAPPING

    auto_map, model_type = config.get("auto_map"), config.get("model_type")
    if auto_map and model_type not in CONFIG_MAPPING:
        names = sorted(auto_map) if isinstance(auto_map, dict) else auto_map
        raise UnsafeModelFolder(f"{source}: names custom code (auto_map {names}) for model_type {model_type!r}, "
                                "which transformers does not know; code from a model folder is never run here")


@contextlib.contextmanager
def safe_weights(folder: str | Path, what: str) -> Iterator[None]:
    """For a block loading a model from `folder`: a weights file holding pickled objects (refused by torch's
    weights-only loading, so nothing in it ran) is one line naming it, without torch's advice to load it
    unsafely."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Detected pickle protocol")  # said before the refusal
        try:
            yield
        except pickle.UnpicklingError:
            found = sorted(Path(folder).glob("*.bin"))
            where = found[0] if len(found) == 1 else folder
            raise UnsafeModelFolder(f"{what} {where}: holds pickled objects besides tensors, refused unread (nothing "
                                    "in it ran); save the weights of a trusted copy as model.safetensors") from None


def load_tokenizer(folder: str | Path, what: str = "tokenizer"):
    """`AutoTokenizer.from_pretrained(folder)` offline, after checking the folder really holds a tokenizer.

    (transformers 5 silently builds a near-empty tokenizer from a folder without vocabulary files.)
    """
    from transformers import AutoTokenizer

    path = Path(folder)
    if not path.is_dir():
        raise TokenizerFolderError(f"{what} {folder}: folder not found (model hubs are not used; give a local folder)")
    if not any((path / name).is_file() for name in TOKENIZER_FILES):
        raise TokenizerFolderError(f"{what} {folder}: no tokenizer files ({', '.join(TOKENIZER_FILES)}); "
                                   "point it at the folder of the pre-trained model")
    if (path / "config.json").is_file():
        check_no_custom_code(read_json(path / "config.json", "expected a Hugging Face config.json"),
                             f"{what} {path / 'config.json'}")
    return AutoTokenizer.from_pretrained(str(path), local_files_only=True, trust_remote_code=False)


@contextlib.contextmanager
def quiet_transformers() -> Iterator[None]:
    """Silence transformers' warnings for the block, then restore its verbosity (left at error, it would also
    switch off every later Trainer's progress bar); its own loading/writing bars stay off for good (a Trainer's
    bar is not one of them)."""
    from transformers.utils import logging as hf_logging

    level = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        hf_logging.set_verbosity(level)
