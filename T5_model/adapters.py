"""Where the original's adapters sit in a transformers T5: a table of T5 sub-layer classes and their targets."""

from __future__ import annotations

from torch import nn

from module.adapter import Adapter, AdapterSite, attach_adapters

# sub-layer class name -> (attribute the adapter rewrites the output of, adapter types that use it)
T5_SITES = {"T5LayerFF": ("DenseReluDense", ("houlsby", "pfeiffer")),
            "T5LayerSelfAttention": ("SelfAttention", ("houlsby",)),
            "T5LayerCrossAttention": ("EncDecAttention", ("houlsby",))}


def t5_adapter_sites(model: nn.Module, adapter_type: str = "houlsby") -> list[AdapterSite]:
    """Houlsby: self-attention, cross-attention and feed-forward of every T5 block; pfeiffer: feed-forward only."""
    from transformers.models.t5 import modeling_t5 as t5

    if adapter_type not in ("houlsby", "pfeiffer"):
        raise ValueError(f"unknown adapter type {adapter_type!r}; expected houlsby or pfeiffer")
    kinds = {getattr(t5, name): site for name, site in T5_SITES.items()}
    sites = []
    for module in model.modules():
        target, types = kinds.get(type(module), (None, ()))
        if adapter_type in types:
            sites.append(AdapterSite(module, getattr(module, target)))
    if not sites:
        raise ValueError(f"no T5 sub-layers found in {type(model).__name__}")
    return sites


def add_t5_adapters(model: nn.Module, adapter_type: str = "houlsby", size: int = 64, r_mean: float = 0.0,
                    r_std: float = 0.02, seed: int | None = None) -> list[Adapter]:
    """Attach the original's adapters to a transformers T5 model (swish for houlsby, relu for pfeiffer)."""
    activation = "swish" if adapter_type == "houlsby" else "relu"
    return attach_adapters(t5_adapter_sites(model, adapter_type), model.config.d_model, size, activation,
                           r_mean, r_std, seed)
