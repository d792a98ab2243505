"""Load tokenizers from local folders only, refusing folders that hold no tokenizer files."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

# the weights of a Hugging Face folder (delta.safetensors: an encoder adapter run's tuned tensors only)
WEIGHT_FILES = ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin", "delta.safetensors")
TOKENIZER_FILES = ("tokenizer.json", "spiece.model", "vocab.txt", "vocab.json", "sentencepiece.bpe.model")


class TokenizerFolderError(ValueError):
    """A tokenizer folder that is missing or holds no tokenizer files."""


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
    return AutoTokenizer.from_pretrained(str(path), local_files_only=True)


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
