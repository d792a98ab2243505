"""Warm-starting a new SentencePiece vocabulary's embeddings from another model's word embeddings."""

from __future__ import annotations

import pytest
import torch
from transformers import AutoTokenizer, T5ForConditionalGeneration

from T5_model.embedding_transfer import piece_vectors, project, source_embeddings, transfer_embeddings
from utils.toy import build_tiny_encoder


@pytest.fixture(scope="module")
def source_dir(tmp_path_factory, minilm_dir):
    return build_tiny_encoder(tmp_path_factory.mktemp("bert"), minilm_dir, kind="bert", seed=3)


def test_piece_vector_is_the_mean_of_its_subwords(tokenizer_dir, source_dir):
    tok = AutoTokenizer.from_pretrained(str(tokenizer_dir))
    source_tok = AutoTokenizer.from_pretrained(str(source_dir))
    source = source_embeddings(source_dir)
    rows, vectors = piece_vectors(tok, source_tok, source)
    assert len(rows) > 0.9 * (len(tok) - len(set(tok.all_special_ids)))  # nearly every ordinary piece
    assert not set(rows) & set(tok.all_special_ids)  # pad, eos, unk and the sentinels keep their own vectors
    index = rows[len(rows) // 2]
    word = tok.convert_ids_to_tokens(index).replace("\u2581", " ").strip()
    ids = source_tok(word, add_special_tokens=False)["input_ids"]
    assert torch.allclose(vectors[len(rows) // 2], source[ids].mean(0))


def test_projection_keeps_the_geometry_up_to_scale():
    torch.manual_seed(0)
    vectors = torch.randn(40, 6) @ torch.randn(6, 16)  # rank 6 in 16 dimensions
    out, kept = project(vectors, 8, std=0.1)
    assert out.shape == (40, 8) and kept == pytest.approx(1.0, abs=1e-5)
    assert float(out.std()) == pytest.approx(0.1, rel=1e-4)
    centred = vectors - vectors.mean(0)
    gram, gram_out = centred @ centred.T, out @ out.T
    assert torch.allclose(gram_out / gram_out.norm(), gram / gram.norm(), atol=1e-4)
    wide, _ = project(vectors, 32, std=0.1)  # a model wider than the source: as many columns as the source has
    assert wide.shape == (40, 16)


def test_transfer_overwrites_only_the_spelled_pieces(tokenizer_dir, tiny_t5_dir, source_dir):
    tok = AutoTokenizer.from_pretrained(str(tokenizer_dir))
    model = T5ForConditionalGeneration.from_pretrained(str(tiny_t5_dir))
    before = model.get_input_embeddings().weight.detach().clone()
    record = transfer_embeddings(model, tok, source_dir)
    after = model.get_input_embeddings().weight.detach()
    changed = (after != before).any(dim=1)
    assert int(changed.sum()) == record["pieces"] > 0
    assert not changed[tok.all_special_ids].any()


def test_folder_without_weights_is_refused(tmp_path, tokenizer_dir, tiny_t5_dir):
    model = T5ForConditionalGeneration.from_pretrained(str(tiny_t5_dir))
    tok = AutoTokenizer.from_pretrained(str(tokenizer_dir))
    with pytest.raises(FileNotFoundError, match="--init_embeddings .*no model.safetensors"):
        transfer_embeddings(model, tok, tmp_path)
    with pytest.raises(FileNotFoundError, match="prepare_models.py"):
        transfer_embeddings(model, tok, tmp_path / "missing")
