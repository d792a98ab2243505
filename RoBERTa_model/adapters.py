"""Where the encoder track's adapters sit in BERT-family encoders: a table of layouts per model type (as peft
and mergekit keep architecture facts), the sites of both delta types, and attaching them."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from module.adapter import OPENDELTA_STD, AdapterSite, BottleneckAdapter, attach_adapters, check_free, install_adapter


@dataclass(frozen=True)
class EncoderLayout:
    """Where one encoder family keeps the modules OpenDelta's common structure names, relative to the base model."""

    layers: str = "encoder.layer"  # the list of layers
    attn: str = "attention"  # common 'attn' inside a layer: self-attention + output projection + LayerNorm
    ff: str = "output"  # common 'ff' inside a layer: feed-forward output projection + LayerNorm
    attn_output: str = "attention.output"  # the attention block's output sub-module (holds `dense`)
    dense: str = "dense"  # the output projection inside `attn_output` and `ff`


# model_type -> layout (a peft-style table of architecture facts). Every entry is a post-LayerNorm BERT layer;
# pre-LayerNorm variants (roberta-prelayernorm, megatron-bert) and other layouts (mpnet, ...) are left out.
ENCODER_LAYOUTS: dict[str, EncoderLayout] = {
    model_type: EncoderLayout()
    for model_type in ("bert", "roberta", "xlm-roberta", "camembert", "electra", "ernie", "data2vec-text")
}
ENCODER_DELTA_TYPES = ("adapter", "houlsby_dense")


def encoder_layout(model: nn.Module) -> EncoderLayout:
    """The table entry for `model.config.model_type`; a clear error for architectures without one."""
    model_type = getattr(getattr(model, "config", None), "model_type", None)
    if model_type not in ENCODER_LAYOUTS:
        raise ValueError(f"no encoder layout for model_type {model_type!r} in RoBERTa_model.adapters.ENCODER_LAYOUTS "
                         f"(expected a BERT-family encoder: one of {', '.join(ENCODER_LAYOUTS)})")
    return ENCODER_LAYOUTS[model_type]


def encoder_layers(model: nn.Module) -> list[nn.Module]:
    """The transformer layers of a BERT-family model (bare or with a head), found through its layout."""
    layout = encoder_layout(model)
    base = getattr(model, "base_model", model)
    try:
        layers = base.get_submodule(layout.layers)
    except AttributeError:
        raise ValueError(f"{type(model).__name__}: no {layout.layers!r} inside {type(base).__name__} "
                         "(expected a BERT-family encoder)") from None
    return list(layers)


def encoder_adapter_sites(model: nn.Module, delta_type: str = "adapter") -> list[AdapterSite]:
    """Per layer, in order: attention block then feed-forward block. `adapter` (OpenDelta): on the blocks' outputs,
    the adapter a child of the block itself; `houlsby_dense`: on their `dense` projections, a child of the block."""
    if delta_type not in ENCODER_DELTA_TYPES:
        raise ValueError(f"unknown encoder delta_type {delta_type!r}; expected one of {', '.join(ENCODER_DELTA_TYPES)}")
    layout = encoder_layout(model)
    sites = []
    for layer in encoder_layers(model):
        if delta_type == "adapter":
            for path in (layout.attn, layout.ff):
                block = layer.get_submodule(path)
                sites.append(AdapterSite(block, block))
        else:
            for path in (layout.attn_output, layout.ff):
                block = layer.get_submodule(path)
                sites.append(AdapterSite(block, block.get_submodule(layout.dense)))
    return sites


def add_encoder_adapters(model: nn.Module, size: int = 24, r_mean: float | None = None, r_std: float | None = None,
                         seed: int | None = None, delta_type: str = "adapter") -> list[nn.Module]:
    """Attach the encoder track's adapters (`delta_type` adapter: OpenDelta's, std 0.01; houlsby_dense: the
    T5 adapter with swish, std 0.02); `r_mean`/`r_std` override the initialisation; returns them in order."""
    sites = encoder_adapter_sites(model, delta_type)
    dim = model.config.hidden_size
    if delta_type == "houlsby_dense":
        return attach_adapters(sites, dim, size, "swish", 0.0 if r_mean is None else r_mean,
                               0.02 if r_std is None else r_std, seed)
    generator = torch.Generator().manual_seed(seed) if seed is not None else None
    adapters = []
    for site in sites:
        check_free(site)
        device = next(site.target.parameters()).device
        adapter = BottleneckAdapter(dim, size, 0.0 if r_mean is None else r_mean,
                                    OPENDELTA_STD if r_std is None else r_std, generator, device)
        install_adapter(site, adapter)
        adapters.append(adapter)
    return adapters
