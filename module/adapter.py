"""Bottleneck adapters (Houlsby et al. 2019) attached to a library model's own modules through hooks.

Every adapter is registered as a child module named `adapter` of a *holder* sub-layer and applied by a
forward hook on a *target* module, rewriting the target's output. No modelling code is copied. Which modules of
a model family are sites is a fact of that family and lives with it (T5_model/adapters.py,
RoBERTa_model/adapters.py); this module knows no model family.

* T5 track (the original's own adapter): h + act(h A) B with A in R^{d x r}, B in R^{r x d}, no biases,
  tensors `<holder path>.adapter.adapter_A` / `adapter_B`, after the target sub-layer's projection.
* Encoder track, `delta_type: adapter`: OpenDelta 0.2.4's `AdapterModel` with its defaults, the version the
  paper's RoBERTa runs used: h + up_proj(gelu_new(down_proj(h))) with biased linear layers (weights
  N(0, 0.01), biases 0), computed in float32, on the *outputs* of every layer's attention block and
  feed-forward output block (after their LayerNorms); tensors
  `<layer>.attention.adapter.modulelist.down_proj.weight`, ... as OpenDelta names them.
* Encoder track, `delta_type: houlsby_dense`: this project's earlier variant, the T5 adapter after the
  `dense` projection of those two blocks (before dropout, residual and LayerNorm).
"""

from __future__ import annotations

from collections import OrderedDict
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


def _rewrite_output(adapter: nn.Module):
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
        check_free(site)
        ref = next(site.target.parameters())
        adapter = Adapter(dim, size, activation, r_mean, r_std, generator, dtype=ref.dtype).to(ref.device)
        install_adapter(site, adapter)
        adapters.append(adapter)
    return adapters


def check_free(site: AdapterSite) -> None:
    """Refuse a site that already holds an adapter."""
    if hasattr(site.holder, "adapter"):
        raise ValueError(f"{type(site.holder).__name__} already has an adapter")


def install_adapter(site: AdapterSite, adapter: nn.Module) -> None:
    """Register `adapter` in the site's holder and apply it to the target's output."""
    site.holder.add_module("adapter", adapter)
    site.target.register_forward_hook(_rewrite_output(adapter))


def is_adapter_tensor(name: str) -> bool:
    """True for an adapter tensor's name: it contains 'adapter_' (the original's T5 rule) or a component
    `adapter` (OpenDelta's `<module>.adapter.modulelist...`)."""
    return ADAPTER_MARK in name or ".adapter." in f".{name}"


def adapter_state(model: nn.Module) -> dict[str, torch.Tensor]:
    """The adapter tensors of `model`, by name."""
    return {k: v for k, v in model.state_dict().items() if is_adapter_tensor(k)}


# ----------------------------------------------------------------------------- OpenDelta's adapter

OPENDELTA_STD = 0.01  # OpenDelta's AdapterLayer._init_weight: weights N(0, 0.01), biases 0


def _normal_linear(n_in: int, n_out: int, mean: float, std: float, generator: torch.Generator | None,
                   device: torch.device) -> nn.Linear:
    """A float32 nn.Linear with weights from N(mean, std) and zero biases (no draw from the global generator)."""
    layer = nn.Linear(n_in, n_out, device="meta").to_empty(device=device)
    with torch.no_grad():
        layer.weight.copy_(torch.normal(mean, std, (n_out, n_in), generator=generator))
        layer.bias.zero_()
    return layer


class BottleneckAdapter(nn.Module):
    """OpenDelta 0.2.4's AdapterLayer maths: h + up_proj(gelu_new(down_proj(h))), computed in the adapter's own
    dtype (float32 unless the model was cast, as OpenDelta's), the result cast back to h's dtype."""

    def __init__(self, dim: int, size: int, r_mean: float = 0.0, r_std: float = OPENDELTA_STD,
                 generator: torch.Generator | None = None, device: torch.device | str = "cpu"):
        super().__init__()
        down = _normal_linear(dim, size, r_mean, r_std, generator, torch.device(device))
        up = _normal_linear(size, dim, r_mean, r_std, generator, torch.device(device))
        from transformers.activations import NewGELUActivation  # OpenDelta's 'gelu_new', from transformers

        self.modulelist = nn.Sequential(OrderedDict(down_proj=down, non_linear=NewGELUActivation(), up_proj=up))

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        """Add the bottleneck's output to its input."""
        x = hidden.to(self.modulelist.down_proj.weight.dtype)
        return (self.modulelist(x) + x).to(hidden.dtype)
