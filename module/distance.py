"""Distances between two sets of named tensors taken as flat vectors: L2 distance, cosine similarity, parameter count
and per-parameter RMS distance, accumulated in float64 tensor by tensor (utils/calculate_dist.py is the tool)."""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Mapping

import torch

from module.adapter import is_adapter_tensor
from module.aliases import common_aliases, without_aliases

CHUNK = 1 << 22  # scalars converted to float64 at a time (32 MiB per operand)
TYPES = ("adapter", "model", "finetune")
_INDEX = re.compile(r"\d+")


# ----------------------------------------------------------------------------- selection and checks
def select_tensors(tensors: Mapping[str, torch.Tensor], kind: str) -> dict[str, torch.Tensor]:
    """The tensors compared for ``--type kind``: adapter tensors only, or all of them."""
    if kind not in TYPES:
        raise ValueError(f"--type must be one of {', '.join(TYPES)}, got {kind!r}")
    if kind == "adapter":
        return {k: v for k, v in tensors.items() if is_adapter_tensor(k)}
    return dict(tensors)


def check_matching(tensors1: Mapping[str, torch.Tensor], tensors2: Mapping[str, torch.Tensor],
                   labels: tuple[str, str] = ("input1", "input2")) -> list[str]:
    """Sorted common names; ValueError naming the first (sorted) missing name or shape mismatch."""
    for key in sorted(set(tensors1) ^ set(tensors2)):
        present, missing = labels if key in tensors1 else labels[::-1]
        raise ValueError(f"tensor {key!r} is in {present} but missing in {missing}")
    keys = sorted(tensors1)
    for key in keys:
        s1, s2 = tuple(tensors1[key].shape), tuple(tensors2[key].shape)
        if s1 != s2:
            raise ValueError(f"tensor {key!r} has shape {list(s1)} in {labels[0]} but {list(s2)} in {labels[1]}")
    if not keys:
        raise ValueError(f"no tensors to compare in {labels[0]} and {labels[1]}")
    return keys


def compared_tensors(tensors1: Mapping[str, torch.Tensor], tensors2: Mapping[str, torch.Tensor],
                     count_aliases: bool = False) -> tuple[dict, dict, list[str]]:
    """Both dicts less the names that are a tied alias in both (unless `count_aliases`), and those names."""
    aliases = set() if count_aliases else common_aliases(tensors1, tensors2)
    return without_aliases(tensors1, aliases), without_aliases(tensors2, aliases), sorted(aliases)


# ----------------------------------------------------------------------------- sums
def _tensor_sums(a: torch.Tensor, b: torch.Tensor) -> tuple[int, float, float, float, float]:
    """(n, a.b, a.a, b.b, |a-b|^2) in float64, converting at most CHUNK scalars at a time."""
    a, b = a.detach().reshape(-1), b.detach().reshape(-1)
    dot = aa = bb = dd = 0.0
    for start in range(0, a.numel(), CHUNK):
        x = a[start:start + CHUNK].to(torch.float64)
        y = b[start:start + CHUNK].to(torch.float64)
        dot += torch.dot(x, y).item()
        aa += torch.dot(x, x).item()
        bb += torch.dot(y, y).item()
        diff = x - y
        dd += torch.dot(diff, diff).item()
    return a.numel(), dot, aa, bb, dd


def summarise(sums: Iterable[tuple[int, float, float, float, float]]) -> dict:
    """{l2, cosine, params, rms} from per-tensor sums."""
    n = 0
    dot = aa = bb = dd = 0.0
    for s in sums:
        n, dot, aa, bb, dd = n + s[0], dot + s[1], aa + s[2], bb + s[3], dd + s[4]
    denominator = math.sqrt(aa) * math.sqrt(bb)
    cosine = dot / denominator if denominator > 0 else math.nan
    if not math.isnan(cosine):
        cosine = max(-1.0, min(1.0, cosine))  # float rounding can step just outside [-1, 1]
    l2 = math.sqrt(dd)
    return {"l2": l2, "cosine": cosine, "params": n, "rms": math.sqrt(dd / n) if n else math.nan}


def all_sums(tensors1, tensors2, labels) -> dict[str, tuple[int, float, float, float, float]]:
    """Per common tensor name: (n, a.b, a.a, b.b, |a-b|^2)."""
    return {k: _tensor_sums(tensors1[k], tensors2[k]) for k in check_matching(tensors1, tensors2, labels)}


# ----------------------------------------------------------------------------- public API
def distance(tensors1: Mapping[str, torch.Tensor], tensors2: Mapping[str, torch.Tensor],
             labels: tuple[str, str] = ("input1", "input2"), count_aliases: bool = False) -> dict:
    """{"l2", "cosine", "params", "rms"} between the two tensor dicts taken as flat vectors (sorted names)."""
    tensors1, tensors2, _ = compared_tensors(tensors1, tensors2, count_aliases)
    return summarise(all_sums(tensors1, tensors2, labels).values())


def group_name(name: str) -> str:
    """The ``--per_layer`` group of a tensor name.

    * adapter tensors (name contains ``adapter_``): the name without its last component, so each adapter is
      its own group, e.g. ``encoder.block.0.layer.1.adapter.adapter_A`` -> ``encoder.block.0.layer.1.adapter``;
    * other names with a numeric component: everything up to and including the first one, i.e. the block/layer,
      e.g. ``decoder.block.3.layer.2.DenseReluDense.wi.weight`` -> ``decoder.block.3``;
    * other names: the name without its last component (``shared.weight`` -> ``shared``,
      ``encoder.final_layer_norm.weight`` -> ``encoder.final_layer_norm``); a one-component name is its own group.
    """
    parts = name.split(".")
    if not is_adapter_tensor(name):
        for i, part in enumerate(parts):
            if _INDEX.fullmatch(part):
                return ".".join(parts[:i + 1])
    return ".".join(parts[:-1]) if len(parts) > 1 else name


def natural_key(text: str) -> list:
    """Sort key that orders ``block.2`` before ``block.10``."""
    return [(0, int(p), "") if p.isdigit() else (1, 0, p) for p in re.split(r"(\d+)", text)]


def grouped(sums: Mapping[str, tuple], group_fn: Callable[[str], str]) -> list[dict]:
    """Per group of tensor names (`group_fn`), the summary of its tensors' sums."""
    groups: dict[str, list[tuple]] = {}
    for key, s in sums.items():
        groups.setdefault(group_fn(key), []).append(s)
    return [{"group": g, **summarise(groups[g])} for g in sorted(groups, key=natural_key)]


def per_group_distance(tensors1: Mapping[str, torch.Tensor], tensors2: Mapping[str, torch.Tensor],
                       group_fn: Callable[[str], str] = group_name,
                       labels: tuple[str, str] = ("input1", "input2"), count_aliases: bool = False) -> list[dict]:
    """One {"group", "l2", "cosine", "params", "rms"} per group (``group_fn`` of the names), in natural order."""
    tensors1, tensors2, _ = compared_tensors(tensors1, tensors2, count_aliases)
    return grouped(all_sums(tensors1, tensors2, labels), group_fn)


# ----------------------------------------------------------------------------- output
