"""The one checked way to put named tensors into a model: every name must exist with the same shape, and tied
parameters must agree (written once); used by checkpoint loading, interpolation and curves of both tracks."""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import nn

from module.aliases import check_tied_agree


class IncompatibleCheckpoints(ValueError):
    """Two endpoints (or an endpoint and the model) whose tensor names or shapes differ."""


class NonFiniteTensor(ValueError):
    """A tensor holding NaN or infinite values where only finite ones make sense (an endpoint of a path)."""


def check_finite(tensors: Mapping[str, torch.Tensor], source: str) -> None:
    """Raise naming `source` and the first floating-point tensor holding NaN or infinite values."""
    for key, value in tensors.items():
        if value.is_floating_point() and not bool(torch.isfinite(value).all()):
            counts = {"NaN": int(torch.isnan(value).sum()), "infinite": int(torch.isinf(value).sum())}
            held = " and ".join(f"{n} {what}" for what, n in counts.items() if n)
            raise NonFiniteTensor(f"{source}: tensor {key!r} holds {held} value(s); an endpoint must be finite "
                                  "(every point of its paths would be NaN)")


def live_targets(model: nn.Module, tensors: Mapping[str, torch.Tensor], source: str,
                 hint: str = "") -> dict[str, torch.Tensor]:
    """The model's own tensors that `tensors` name (state-dict names, tied aliases included), after checking that
    each exists with the same shape; `hint` says what to check when a name is unknown."""
    live = model.state_dict(keep_vars=True)
    for key, value in tensors.items():
        if key not in live:
            unknown = sum(k not in live for k in tensors)
            raise IncompatibleCheckpoints(f"{source}: tensor {key!r} does not exist in the model "
                                          f"({type(model).__name__}; {unknown} unknown name(s)"
                                          f"{'; ' + hint if hint else ''})")
        if tuple(live[key].shape) != tuple(value.shape):
            raise IncompatibleCheckpoints(f"{source}: tensor {key!r} has shape {tuple(value.shape)}, the model "
                                          f"expects {tuple(live[key].shape)}")
    return {key: live[key] for key in tensors}


def tied_aliases(model: nn.Module, tensors: Mapping[str, torch.Tensor], source: str) -> set[str]:
    """The names in `tensors` that are aliases of a tied parameter also given; an error when the two differ."""
    try:
        return set(check_tied_agree(model.state_dict(keep_vars=True), tensors, source))
    except ValueError as e:
        raise IncompatibleCheckpoints(str(e)) from None


def copy_into(model: nn.Module, tensors: Mapping[str, torch.Tensor], source: str, hint: str = "") -> None:
    """Copy named tensors into the model, checked as `live_targets` and `tied_aliases` say."""
    targets = live_targets(model, tensors, source, hint)
    tied_aliases(model, tensors, source)
    with torch.no_grad():
        for key, value in tensors.items():
            targets[key].copy_(value)
