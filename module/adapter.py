"""Bottleneck adapters (Houlsby et al. 2019) attached to a library model's own modules through hooks.

Every adapter is registered as a child module named `adapter` of a *holder* sub-layer and applied by a
forward hook on a *target* module, rewriting the target's output. No modelling code is copied.

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
        _check_free(site)
        ref = next(site.target.parameters())
        adapter = Adapter(dim, size, activation, r_mean, r_std, generator, dtype=ref.dtype).to(ref.device)
        _install(site, adapter)
        adapters.append(adapter)
    return adapters


def _check_free(site: AdapterSite) -> None:
    if hasattr(site.holder, "adapter"):
        raise ValueError(f"{type(site.holder).__name__} already has an adapter")


def _install(site: AdapterSite, adapter: nn.Module) -> None:
    site.holder.add_module("adapter", adapter)
    site.target.register_forward_hook(_rewrite_output(adapter))


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
    """True for an adapter tensor's name: it contains 'adapter_' (the original's T5 rule) or a component
    `adapter` (OpenDelta's `<module>.adapter.modulelist...`)."""
    return ADAPTER_MARK in name or ".adapter." in f".{name}"


def adapter_state(model: nn.Module) -> dict[str, torch.Tensor]:
    """The adapter tensors of `model`, by name."""
    return {k: v for k, v in model.state_dict().items() if is_adapter_tensor(k)}


# ----------------------------------------------------------------------------- encoder track


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


def encoder_layout(model: nn.Module) -> EncoderLayout:
    """The table entry for `model.config.model_type`; a clear error for architectures without one."""
    model_type = getattr(getattr(model, "config", None), "model_type", None)
    if model_type not in ENCODER_LAYOUTS:
        raise ValueError(f"no encoder layout for model_type {model_type!r} in module.adapter.ENCODER_LAYOUTS "
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
        _check_free(site)
        device = next(site.target.parameters()).device
        adapter = BottleneckAdapter(dim, size, 0.0 if r_mean is None else r_mean,
                                    OPENDELTA_STD if r_std is None else r_std, generator, device)
        _install(site, adapter)
        adapters.append(adapter)
    return adapters
