"""Build a T5 tokenizer folder (SentencePiece unigram + `<extra_id_*>` sentinels) from plain text."""

from __future__ import annotations

import io
import json
from collections.abc import Iterable
from pathlib import Path


def train_t5_tokenizer(texts: Iterable[str], folder: str | Path, vocab_size: int = 8000, extra_ids: int = 100,
                       model_max_length: int = 512):
    """Train a SentencePiece vocabulary on `texts`, write a T5 tokenizer folder, and load it back from there.

    Ids follow T5: pad 0, eos 1, unk 2; the sentinels `<extra_id_0..N-1>` are the last ids and special
    tokens, so decoding with `skip_special_tokens=True` removes them. Loading goes through
    `from_pretrained(folder)`; a tokenizer built directly from the vocabulary file is broken in transformers 5.
    """
    import sentencepiece as spm
    from transformers import AutoTokenizer

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    model = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(list(texts)), model_writer=model, vocab_size=vocab_size, model_type="unigram",
        pad_id=0, eos_id=1, unk_id=2, bos_id=-1, character_coverage=1.0,
        hard_vocab_limit=False, minloglevel=2, num_threads=2,
    )
    (folder / "spiece.model").write_bytes(model.getvalue())
    (folder / "tokenizer_config.json").write_text(json.dumps(
        {"tokenizer_class": "T5Tokenizer", "extra_ids": extra_ids, "model_max_length": model_max_length}, indent=2))
    tokenizer = AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
    tokenizer.save_pretrained(str(folder))
    return tokenizer
