"""The encoder track's `delta_type: adapter` is OpenDelta 0.2.4's AdapterModel (the version the paper's RoBERTa runs
pinned), and `unfrozen_modules` selects what OpenDelta 0.2.4's freeze_module kept trainable.

The reference below is written from OpenDelta's definition (opendelta/delta_models/adapter.py, AdapterLayer):
on the outputs of every layer's `attention` and `output` modules (common structure 'attn' and 'ff'),
h -> h + up_proj(gelu_new(down_proj(h))) with nn.Linear layers, weights N(0, 0.01), biases 0, registered as
`<module>.adapter.modulelist.{down_proj,up_proj}`.
"""

from __future__ import annotations

import copy
import math

import pytest
import torch
from torch import nn
from transformers import (
    AutoConfig,
    AutoModelForSequenceClassification,
    BertConfig,
    BertForSequenceClassification,
    RobertaConfig,
    RobertaForSequenceClassification,
)

from module.adapter import is_adapter_tensor
from RoBERTa_model.adapters import ENCODER_LAYOUTS, add_encoder_adapters
from RoBERTa_model.config import ConfigError, load_config
from RoBERTa_model.encoder import EncoderError, check_delta_type, load_tensors, set_encoder_trainable, unmatched_entries

SMALL = {"vocab_size": 50, "hidden_size": 16, "num_hidden_layers": 2, "num_attention_heads": 2,
         "intermediate_size": 32, "num_labels": 3}
MODELS = [(BertForSequenceClassification, BertConfig, "bert"),
          (RobertaForSequenceClassification, RobertaConfig, "roberta")]
PAPER_UNFROZEN = ["deltas", "layer_norm", "final_layer_norm", "classifier"]


def _opendelta_gelu_new(x):
    return 0.5 * x * (1 + torch.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * torch.pow(x, 3))))


def _reference(plain: nn.Module, prefix: str, adapted: nn.Module) -> nn.Module:
    """`plain` with OpenDelta-style adapters by forward hooks, weights copied from `adapted`'s by name."""
    ref = copy.deepcopy(plain)
    own = adapted.state_dict()
    for i, layer in enumerate(getattr(ref, prefix).encoder.layer):
        for block_name in ("attention", "output"):
            key = f"{prefix}.encoder.layer.{i}.{block_name}.adapter.modulelist"
            down, up = nn.Linear(16, 4), nn.Linear(4, 16)
            with torch.no_grad():
                for lin, part in ((down, "down_proj"), (up, "up_proj")):
                    lin.weight.copy_(own[f"{key}.{part}.weight"])
                    lin.bias.copy_(own[f"{key}.{part}.bias"])

            def hook(module, inputs, output, down=down, up=up):
                h = output[0] if isinstance(output, tuple) else output
                new = up(_opendelta_gelu_new(down(h))) + h
                return (new,) + tuple(output[1:]) if isinstance(output, tuple) else new

            getattr(layer, block_name).register_forward_hook(hook)
    return ref


def _inputs():
    g = torch.Generator().manual_seed(1)
    ids = torch.randint(3, 50, (3, 9), generator=g)
    mask = torch.ones_like(ids)
    mask[0, 6:] = 0
    return {"input_ids": ids, "attention_mask": mask}


@pytest.mark.parametrize("cls,cfg,prefix", MODELS)
def test_adapter_equals_opendelta_reference_to_the_last_digit(cls, cfg, prefix):
    torch.manual_seed(0)
    plain = cls(cfg(**SMALL)).eval()
    adapted = copy.deepcopy(plain)
    adapters = add_encoder_adapters(adapted, size=4, seed=3)
    assert len(adapters) == 2 * SMALL["num_hidden_layers"]
    with torch.no_grad():  # larger weights than the 0.01 init so that every adapter moves the output
        g = torch.Generator().manual_seed(2)
        for name, p in adapted.named_parameters():
            if ".adapter." in name:
                p.copy_(torch.randn(p.shape, generator=g) * 0.5)
    ref = _reference(plain, prefix, adapted)
    with torch.no_grad():
        ours = adapted(**_inputs(), output_hidden_states=True)
        theirs = ref(**_inputs(), output_hidden_states=True)
        untouched = plain(**_inputs()).logits
    assert torch.equal(ours.logits, theirs.logits)
    assert all(torch.equal(a, b) for a, b in zip(ours.hidden_states, theirs.hidden_states, strict=True))
    assert (ours.logits - untouched).abs().max() > 1e-3


@pytest.mark.parametrize("cls,cfg,prefix", MODELS)
def test_tensor_names_shapes_and_initialisation(cls, cfg, prefix):
    model = cls(cfg(**{**SMALL, "hidden_size": 64, "intermediate_size": 64, "num_attention_heads": 4}))
    add_encoder_adapters(model, size=24, seed=0)
    state = {k: v for k, v in model.state_dict().items() if is_adapter_tensor(k)}
    expected = {f"{prefix}.encoder.layer.{i}.{block}.adapter.modulelist.{part}.{kind}"
                for i in range(2) for block in ("attention", "output") for part in ("down_proj", "up_proj")
                for kind in ("weight", "bias")}
    assert set(state) == expected
    first = f"{prefix}.encoder.layer.0.attention.adapter.modulelist"
    assert state[f"{first}.down_proj.weight"].shape == (24, 64) and state[f"{first}.up_proj.weight"].shape == (64, 24)
    assert state[f"{first}.down_proj.bias"].shape == (24,) and state[f"{first}.up_proj.bias"].shape == (64,)
    weights = torch.cat([v.flatten() for k, v in state.items() if k.endswith("weight")])
    assert abs(float(weights.std()) - 0.01) < 0.0005 and abs(float(weights.mean())) < 0.0005
    assert all(torch.equal(v, torch.zeros_like(v)) for k, v in state.items() if k.endswith("bias"))
    assert all(v.dtype == torch.float32 for v in state.values())


def test_same_seed_same_adapters_and_no_draw_from_the_global_generator():
    a, b = (RobertaForSequenceClassification(RobertaConfig(**SMALL)) for _ in range(2))
    torch.manual_seed(11)
    add_encoder_adapters(a, size=4, seed=7)
    after = torch.rand(1)
    torch.manual_seed(11)
    add_encoder_adapters(b, size=4, seed=7)
    assert torch.equal(after, torch.rand(1))
    sa = {k: v for k, v in a.state_dict().items() if is_adapter_tensor(k)}
    assert all(torch.equal(v, b.state_dict()[k]) for k, v in sa.items())


def test_an_opendelta_state_dict_loads_by_name():
    """What the paper's run_glue.py saved (OpenDelta's active state dict: adapters and classifier) loads by name."""
    model = RobertaForSequenceClassification(RobertaConfig(**SMALL))
    add_encoder_adapters(model, size=4, seed=0)
    g = torch.Generator().manual_seed(4)
    saved = {}
    for i in range(2):
        for block in ("attention", "output"):
            key = f"roberta.encoder.layer.{i}.{block}.adapter.modulelist"
            saved |= {f"{key}.down_proj.weight": torch.randn(4, 16, generator=g),
                      f"{key}.down_proj.bias": torch.randn(4, generator=g),
                      f"{key}.up_proj.weight": torch.randn(16, 4, generator=g),
                      f"{key}.up_proj.bias": torch.randn(16, generator=g)}
    saved |= {"classifier.dense.weight": torch.randn(16, 16, generator=g), "classifier.dense.bias": torch.zeros(16),
              "classifier.out_proj.weight": torch.randn(3, 16, generator=g), "classifier.out_proj.bias": torch.ones(3)}
    load_tensors(model, saved, "paper checkpoint")
    own = model.state_dict()
    assert all(torch.equal(own[k], v) for k, v in saved.items())
    result = model.load_state_dict(saved, strict=False)
    assert result.unexpected_keys == []


@pytest.mark.parametrize("cls,cfg,prefix", MODELS)
def test_paper_unfrozen_modules_train_adapters_and_classifier_only(cls, cfg, prefix):
    """OpenDelta 0.2.4: 'deltas' = adapters, 'classifier' = the head; 'layer_norm'/'final_layer_norm' match nothing."""
    model = cls(cfg(**SMALL))
    add_encoder_adapters(model, size=4, seed=0)
    trained = set(set_encoder_trainable(model, "adapter", PAPER_UNFROZEN))
    expected = {n for n, _ in model.named_parameters() if ".adapter.modulelist." in n or n.startswith("classifier.")}
    assert trained == expected
    assert {n for n, p in model.named_parameters() if p.requires_grad} == expected
    assert f"{prefix}.embeddings.LayerNorm.weight" not in trained
    assert not any("LayerNorm" in n or "pooler" in n for n in trained)
    assert unmatched_entries([n for n, _ in model.named_parameters()], PAPER_UNFROZEN) == ["layer_norm",
                                                                                         "final_layer_norm"]


def test_layer_norms_are_named_by_their_path():
    model = RobertaForSequenceClassification(RobertaConfig(**SMALL))
    add_encoder_adapters(model, size=4, seed=0)
    in_layers = set(set_encoder_trainable(model, "adapter", ["output.LayerNorm"]))
    assert in_layers == {f"roberta.encoder.layer.{i}.{block}LayerNorm.{kind}" for i in range(2)
                         for block in ("attention.output.", "output.") for kind in ("weight", "bias")}
    assert set(set_encoder_trainable(model, "adapter", ["embeddings.LayerNorm"])) == {
        "roberta.embeddings.LayerNorm.weight", "roberta.embeddings.LayerNorm.bias"}
    assert set(set_encoder_trainable(model, "adapter", ["deltas"])) == {n for n, _ in model.named_parameters()
                                                                if ".adapter." in n}
    assert set(set_encoder_trainable(model, "adapter", ["dense"])) == {n for n, _ in model.named_parameters()
                                                               if ".dense." in n}
    assert set_encoder_trainable(model, "adapter", ["Norm", "layer.0.out"]) == []  # whole components, not substrings


def test_houlsby_dense_keeps_the_earlier_variant():
    torch.manual_seed(0)
    plain = RobertaForSequenceClassification(RobertaConfig(**SMALL)).eval()
    adapted = copy.deepcopy(plain)
    adapters = add_encoder_adapters(adapted, size=4, r_std=0.5, seed=1, delta_type="houlsby_dense")
    names = {k for k in adapted.state_dict() if is_adapter_tensor(k)}
    assert names == {f"roberta.encoder.layer.{i}.{block}.adapter.adapter_{m}" for i in range(2)
                     for block in ("attention.output", "output") for m in "AB"}
    with torch.no_grad():
        last = adapted(**_inputs(), output_hidden_states=True).hidden_states[-1]
        assert (last - plain(**_inputs(), output_hidden_states=True).hidden_states[-1]).abs().max() > 1e-2
        for a in adapters:
            a.adapter_B.zero_()
        assert torch.allclose(adapted(**_inputs()).logits, plain(**_inputs()).logits, atol=1e-6)


@pytest.mark.parametrize("model_type", sorted(ENCODER_LAYOUTS))
def test_every_table_entry_is_a_bert_family_layout(model_type):
    config = AutoConfig.for_model(model_type, **SMALL)
    if model_type == "electra":
        config.embedding_size = 16
    model = AutoModelForSequenceClassification.from_config(config).eval()
    adapters = add_encoder_adapters(model, size=4, seed=0)
    assert len(adapters) == 2 * SMALL["num_hidden_layers"]
    names = [n for n, _ in model.named_parameters() if is_adapter_tensor(n)]
    assert len(names) == 8 * SMALL["num_hidden_layers"]
    assert all(".encoder.layer." in n and (".attention.adapter." in n or ".output.adapter." in n) for n in names)
    with torch.no_grad():
        assert model(**_inputs()).logits.shape == (3, 3)


def test_a_model_type_without_a_table_entry_is_one_clear_error():
    config = AutoConfig.for_model("mpnet", **SMALL)
    model = AutoModelForSequenceClassification.from_config(config)
    with pytest.raises(ValueError) as info:
        add_encoder_adapters(model, size=4)
    message = str(info.value)
    assert "\n" not in message and "'mpnet'" in message and "expected a BERT-family encoder" in message


def test_is_adapter_tensor_knows_both_namings():
    assert is_adapter_tensor("roberta.encoder.layer.0.attention.adapter.modulelist.down_proj.weight")
    assert is_adapter_tensor("encoder.block.0.layer.0.adapter.adapter_A")  # T5 track, unchanged
    assert not is_adapter_tensor("roberta.encoder.layer.0.attention.output.dense.weight")
    assert not is_adapter_tensor("encoder.block.0.layer.0.SelfAttention.q.weight")


def test_checkpoints_of_the_earlier_adapter_count_as_houlsby_dense():
    old = ["roberta.encoder.layer.0.output.adapter.adapter_A", "classifier.dense.weight"]
    check_delta_type("old", "adapter", old, "houlsby_dense")
    with pytest.raises(EncoderError, match="earlier bias-free variant"):
        check_delta_type("old", "adapter", old, "adapter")
    check_delta_type("new", "adapter", ["roberta.encoder.layer.0.output.adapter.modulelist.up_proj.bias"], "adapter")
    with pytest.raises(EncoderError, match="delta_type 'none'"):
        check_delta_type("full", "none", ["classifier.dense.weight"], "adapter")


@pytest.mark.parametrize("values,expected", [
    ({"delta_type": "lora"}, "delta_type must be one of 'adapter', 'houlsby_dense', 'none', got 'lora'"),
    ({"delta_type": "adapter", "unfrozen_modules": ["deltas", "[r]layer\\.\\d+"]}, "regular expressions"),
    ({"delta_type": "adapter", "unfrozen_modules": "classifier"}, "'unfrozen_modules' must be a list"),
])
def test_bad_delta_keys_are_one_line(values, expected, tmp_path):
    import json

    path = tmp_path / "c.json"
    path.write_text(json.dumps({"output_dir": str(tmp_path / "o"), **values}))
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert expected in str(info.value) and "\n" not in str(info.value)


def test_houlsby_dense_is_a_valid_config_and_init_defaults_per_variant(tmp_path):
    import json

    path = tmp_path / "c.json"
    path.write_text(json.dumps({"output_dir": str(tmp_path / "o"), "delta_type": "houlsby_dense"}))
    delta = load_config(path).delta
    assert delta.delta_type == "houlsby_dense" and delta.r_std is None and delta.r_mean is None
