"""Bottleneck adapters (Houlsby et al. 2019) attached to a library model's own modules through hooks.

An adapter computes h + act(h A) B with A in R^{d x r}, B in R^{r x d} and no biases. It is
registered as a child module named `adapter` of a *holder* sub-layer, so its tensors are named
`<holder path>.adapter.adapter_A` / `adapter_B`, and it is applied by a forward hook on a *target*
module inside that sub-layer, rewriting the target's output. No modelling code is copied.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import torch
from torch import nn

ACTIVATIONS = {"swish": nn.functional.silu, "relu": nn.functional.relu}
ADAPTER_MARK = "adapter_"


class Adapter(nn.Module):
    """h -> h + act(h A) B, both matrices drawn from N(r_mean, r_std)."""

    def __init__(self, dim: int, size: int, activation: str = "swish", r_mean: float = 0.0, r_std: float = 0.02,
                 generator: torch.Generator | None = None, dtype: torch.dtype | None = None):
        super().__init__()
        if activation not in ACTIVATIONS:
            raise ValueError(f"unknown adapter activation {activation!r}; expected one of {sorted(ACTIVATIONS)}")
        self.activation = activation
        self.adapter_A = nn.Parameter(torch.empty(dim, size, dtype=dtype))
        self.adapter_B = nn.Parameter(torch.empty(size, dim, dtype=dtype))
        with torch.no_grad():
            for weight in (self.adapter_A, self.adapter_B):
                weight.copy_(torch.normal(r_mean, r_std, weight.shape, generator=generator).to(weight.dtype))

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        """Add the bottleneck's output to its input."""
        return hidden + ACTIVATIONS[self.activation](hidden @ self.adapter_A) @ self.adapter_B


@dataclass(frozen=True)
class AdapterSite:
    """Where one adapter lives: `holder.adapter` holds it, the output of `target` passes through it."""

    holder: nn.Module
    target: nn.Module


def _rewrite_output(adapter: Adapter):
    def hook(module: nn.Module, inputs, output):
        if isinstance(output, tuple):
            return (adapter(output[0]),) + tuple(output[1:])
        return adapter(output)
    return hook


def attach_adapters(sites: Iterable[AdapterSite], dim: int, size: int, activation: str = "swish",
                    r_mean: float = 0.0, r_std: float = 0.02, seed: int | None = None) -> list[Adapter]:
    """Create one adapter per site, in order, from a generator seeded with `seed`; returns them."""
    generator = torch.Generator().manual_seed(seed) if seed is not None else None
    adapters = []
    for site in sites:
        if hasattr(site.holder, "adapter"):
            raise ValueError(f"{type(site.holder).__name__} already has an adapter")
        ref = next(site.target.parameters())
        adapter = Adapter(dim, size, activation, r_mean, r_std, generator, dtype=ref.dtype).to(ref.device)
        site.holder.add_module("adapter", adapter)
        site.target.register_forward_hook(_rewrite_output(adapter))
        adapters.append(adapter)
    return adapters


def t5_adapter_sites(model: nn.Module, adapter_type: str = "houlsby") -> list[AdapterSite]:
    """Houlsby: self-attention, cross-attention and feed-forward of every T5 block; pfeiffer: feed-forward only."""
    from transformers.models.t5 import modeling_t5 as t5

    if adapter_type not in ("houlsby", "pfeiffer"):
        raise ValueError(f"unknown adapter type {adapter_type!r}; expected houlsby or pfeiffer")
    sites = []
    for module in model.modules():
        if isinstance(module, t5.T5LayerFF):
            sites.append(AdapterSite(module, module.DenseReluDense))
        elif adapter_type == "houlsby" and isinstance(module, t5.T5LayerSelfAttention):
            sites.append(AdapterSite(module, module.SelfAttention))
        elif adapter_type == "houlsby" and isinstance(module, t5.T5LayerCrossAttention):
            sites.append(AdapterSite(module, module.EncDecAttention))
    if not sites:
        raise ValueError(f"no T5 sub-layers found in {type(model).__name__}")
    return sites


def add_t5_adapters(model: nn.Module, adapter_type: str = "houlsby", size: int = 64, r_mean: float = 0.0,
                    r_std: float = 0.02, seed: int | None = None) -> list[Adapter]:
    """Attach the original's adapters to a transformers T5 model (swish for houlsby, relu for pfeiffer)."""
    activation = "swish" if adapter_type == "houlsby" else "relu"
    return attach_adapters(t5_adapter_sites(model, adapter_type), model.config.d_model, size, activation,
                           r_mean, r_std, seed)


def is_adapter_tensor(name: str) -> bool:
    """True for an adapter tensor's name (the original's rule: it contains 'adapter_')."""
    return ADAPTER_MARK in name


def adapter_state(model: nn.Module) -> dict[str, torch.Tensor]:
    """The adapter tensors of `model`, by name."""
    return {k: v for k, v in model.state_dict().items() if is_adapter_tensor(k)}


def encoder_adapter_sites(model: nn.Module) -> list[AdapterSite]:
    """BERT-family encoders (BERT, RoBERTa, MiniLM, ...): after the attention-output and the feed-forward-output
    projections of every layer, i.e. on `<layer>.attention.output` and `<layer>.output` (their `dense`)."""
    sites = []
    for name, module in model.named_modules():
        dense, norm = getattr(module, "dense", None), getattr(module, "LayerNorm", None)
        if not isinstance(dense, nn.Linear) or norm is None:
            continue
        if name.endswith(".attention.output") or (name.endswith(".output") and ".attention." not in name):
            sites.append(AdapterSite(module, dense))
    if not sites:
        raise ValueError(f"no attention/feed-forward output projections found in {type(model).__name__} "
                         "(expected a BERT-family encoder)")
    return sites


def add_encoder_adapters(model: nn.Module, size: int = 24, r_mean: float = 0.0, r_std: float = 0.02,
                         seed: int | None = None, activation: str = "swish") -> list[Adapter]:
    """Attach adapters to a BERT-family encoder (the encoder track's `delta_type: adapter`)."""
    return attach_adapters(encoder_adapter_sites(model), model.config.hidden_size, size, activation, r_mean, r_std,
                           seed)
