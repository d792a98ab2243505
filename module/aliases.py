"""Tied tensors: one parameter listed under several state-dict names (T5's `shared` and `embed_tokens`, ...).

Two names are aliases when they are views of one storage (a live model's state dict, a pickle written from one),
or when the architecture ties them (transformers' own `_tied_weights_keys`) and the file holds equal values under
both (a checkpoint that wrote the tied tensor out once per name). Each parameter is then counted, compared,
interpolated and written once, under its canonical (first) name.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping

import torch

# model classes whose tied names this project can meet in a checkpoint (T5 track, encoder MLM pre-training)
TIED_CLASSES = ("T5ForConditionalGeneration", "BertForMaskedLM", "RobertaForMaskedLM")


@functools.cache
def architecture_ties() -> dict[str, str]:
    """alias name -> canonical name, as transformers declares them for the classes in `TIED_CLASSES`."""
    import transformers

    ties: dict[str, str] = {}
    for name in TIED_CLASSES:
        declared = getattr(getattr(transformers, name), "_tied_weights_keys", None)
        ties |= declared if isinstance(declared, dict) else {}
    return ties


def _view(t: torch.Tensor) -> tuple:
    """What makes two tensors the same values in memory: storage, offset, shape, strides, dtype."""
    return (t.device, t.untyped_storage().data_ptr(), t.storage_offset(), tuple(t.shape), t.stride(), t.dtype)


def alias_map(tensors: Mapping[str, torch.Tensor], architecture: bool = True) -> dict[str, str]:
    """alias -> canonical name: names sharing one storage view (first name wins), plus, with `architecture`,
    names transformers ties whose values equal their canonical tensor's in `tensors`."""
    first: dict[tuple, str] = {}
    aliases: dict[str, str] = {}
    for name, t in tensors.items():
        if t.numel() == 0:
            continue
        canonical = first.setdefault(_view(t), name)
        if canonical != name:
            aliases[name] = canonical
    if architecture:
        for alias, canonical in architecture_ties().items():
            canonical = aliases.get(canonical, canonical)
            if alias in aliases or alias not in tensors or canonical not in tensors:
                continue
            a, c = tensors[alias], tensors[canonical]
            if a.shape == c.shape and a.dtype == c.dtype and torch.equal(a, c):
                aliases[alias] = canonical
    return aliases


def common_aliases(*dicts: Mapping[str, torch.Tensor]) -> set[str]:
    """The names that are an alias of the same canonical name in every one of `dicts` (safe to leave out)."""
    maps = [alias_map(d) for d in dicts]
    return {a for a, c in maps[0].items() if all(m.get(a) == c for m in maps[1:])}


def without_aliases(tensors: Mapping[str, torch.Tensor], aliases: set[str] | Mapping[str, str]) -> dict:
    """`tensors` less the names in `aliases`."""
    return {k: v for k, v in tensors.items() if k not in aliases}


def unique_numel(tensors: Mapping[str, torch.Tensor]) -> int:
    """Number of values, each tied parameter counted once."""
    aliases = alias_map(tensors)
    return sum(t.numel() for k, t in tensors.items() if k not in aliases)


def check_tied_agree(model_state: Mapping[str, torch.Tensor], tensors: Mapping[str, torch.Tensor],
                     where: str) -> dict[str, str]:
    """Tied names of the model (alias -> canonical) among `tensors`; ValueError when `tensors` gives one tied
    parameter two different values (writing both would silently keep whichever came last)."""
    tied = {a: c for a, c in alias_map(model_state, architecture=False).items() if a in tensors and c in tensors}
    for alias, canonical in tied.items():
        a, c = tensors[alias], tensors[canonical]
        if a.shape == c.shape and not torch.equal(a.to(c.device, c.dtype), c):
            raise ValueError(f"{where}: tensors {canonical!r} and {alias!r} are one tied parameter in the model, "
                             "but the checkpoint gives them different values")
    return tied
