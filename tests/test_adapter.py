"""Houlsby/Pfeiffer adapters attached to transformers' own T5 modules."""

from __future__ import annotations

import re

import pytest
import torch
from transformers import T5ForConditionalGeneration

from module.adapter import Adapter, adapter_state
from T5_model.adapters import add_t5_adapters
from utils.toy import tiny_t5_config


def _model(seed: int = 0) -> T5ForConditionalGeneration:
    torch.manual_seed(seed)
    return T5ForConditionalGeneration(tiny_t5_config(64)).eval()


def _inputs():
    g = torch.Generator().manual_seed(1)
    ids = torch.randint(3, 64, (3, 7), generator=g)
    mask = torch.ones_like(ids)
    mask[0, 5:] = 0
    return {"input_ids": ids, "attention_mask": mask, "decoder_input_ids": torch.randint(3, 64, (3, 4), generator=g)}


def test_zero_B_leaves_outputs_unchanged():
    plain = _model()
    with_adapters = _model()
    add_t5_adapters(with_adapters, "houlsby", size=4, seed=3)
    for name, tensor in with_adapters.named_parameters():
        if name.endswith("adapter_B"):
            tensor.data.zero_()
    with torch.no_grad():
        a = plain(**_inputs()).logits
        b = with_adapters(**_inputs()).logits
    assert torch.allclose(a, b, atol=1e-6)


def test_nonzero_adapter_changes_outputs_where_placed():
    plain = _model()
    model = _model()
    add_t5_adapters(model, "houlsby", size=4, r_std=0.5, seed=3)
    with torch.no_grad():
        assert (plain(**_inputs()).logits - model(**_inputs()).logits).abs().max() > 1e-3


def test_houlsby_names_and_parameter_count():
    model = _model()
    cfg = model.config
    add_t5_adapters(model, "houlsby", size=5, seed=0)
    state = adapter_state(model)
    d, r = cfg.d_model, 5
    sites = cfg.num_layers * 2 + cfg.num_decoder_layers * 3  # enc: self-attn + FF; dec: self, cross, FF
    assert sum(v.numel() for v in state.values()) == sites * 2 * d * r
    assert len(state) == sites * 2
    assert state["encoder.block.0.layer.0.adapter.adapter_A"].shape == (d, r)
    assert state["encoder.block.0.layer.0.adapter.adapter_B"].shape == (r, d)
    assert "decoder.block.1.layer.2.adapter.adapter_A" in state  # decoder feed-forward
    pattern = re.compile(r"^(encoder|decoder)\.block\.\d+\.layer\.\d+\.adapter\.adapter_[AB]$")
    assert all(pattern.match(k) for k in state)


def test_pfeiffer_is_feed_forward_only_with_relu():
    model = _model()
    adapters = add_t5_adapters(model, "pfeiffer", size=3, seed=0)
    cfg = model.config
    assert len(adapters) == cfg.num_layers + cfg.num_decoder_layers
    assert all(a.activation == "relu" for a in adapters)
    assert {k.split(".")[4] for k in adapter_state(model)} == {"1", "2"}  # FF is layer 1 (enc) / 2 (dec)


def test_formula_no_bias_swish():
    adapter = Adapter(6, 2, "swish", generator=torch.Generator().manual_seed(0))
    h = torch.randn(4, 6)
    expected = h + torch.nn.functional.silu(h @ adapter.adapter_A) @ adapter.adapter_B
    assert torch.equal(adapter(h), expected)
    assert [n for n, _ in adapter.named_parameters()] == ["adapter_A", "adapter_B"]


@pytest.mark.parametrize("mean,std", [(0.0, 0.02), (0.0, 0.08), (0.1, 0.05)])
def test_initialisation_follows_r_mean_r_std(mean, std):
    adapter = Adapter(256, 64, r_mean=mean, r_std=std, generator=torch.Generator().manual_seed(0))
    for w in (adapter.adapter_A, adapter.adapter_B):
        assert abs(float(w.detach().mean()) - mean) < 0.1 * std + 1e-3
        assert abs(float(w.detach().std()) - std) / std < 0.05


def test_same_seed_same_adapters_other_seed_differs():
    a, b, c = _model(), _model(), _model()
    add_t5_adapters(a, seed=7)
    add_t5_adapters(b, seed=7)
    add_t5_adapters(c, seed=8)
    sa, sb, sc = adapter_state(a), adapter_state(b), adapter_state(c)
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    assert not all(torch.equal(sa[k], sc[k]) for k in sa)


def test_adapter_receives_gradient_backbone_frozen():
    from T5_model.model import set_t5_trainable

    model = _model()
    add_t5_adapters(model, size=4, seed=0)
    names = set_t5_trainable(model, "adapter")
    assert names and all("adapter_" in n for n in names)
    model.train()
    out = model(**_inputs(), labels=torch.randint(3, 64, (3, 4)))
    out.loss.backward()
    grads = {n for n, p in model.named_parameters() if p.grad is not None}
    assert grads == set(names)
