"""Distance between two checkpoints: L2 distance, cosine similarity, parameter count and per-parameter RMS distance.

    python utils/calculate_dist.py --input1 A --input2 B --type adapter|model [--path DIR] [--per_layer]

Both files may be in any format ``module.checkpoint.load_checkpoint`` reads (project ``.pt``/``.safetensors``,
the original code's pickles with an ``adapter``/``model`` dict, bare state dicts, HF model folders).
``--type adapter`` compares only tensors whose name contains ``adapter_`` (the original's rule); ``--type model``
(alias ``finetune``, as in the original) compares every tensor the checkpoint holds. Both files must then hold the
same names with the same shapes. A tied parameter (one tensor under several names: T5's ``shared.weight``,
``encoder.embed_tokens.weight``, ``decoder.embed_tokens.weight``, ``lm_head.weight``) counts once, under its first
name, when it is tied in both files; ``--count_aliases`` counts it once per name, as the original did.

The tensors are taken in sorted name order and treated as one flat vector per file; every sum (dot product,
squared norms, squared difference) is accumulated in float64, tensor by tensor and in bounded chunks, so the
flat vectors are never built. Reported, as in the original:

* ``L2 distance``      ||a - b||
* ``Cosine``           a.b / (||a|| ||b||)  (a similarity; NaN when either vector is all zeros)
* ``num of para``      number of scalars n
* ``average distance`` the per-parameter RMS distance sqrt(||a - b||^2 / n)

``--path DIR`` also writes ``DIR/distance.txt`` in the original's layout (label line, value line) and
``DIR/distance.json`` with the same numbers named for what they are (``l2_distance``, ``cosine_similarity``,
``num_parameters``, ``rms_distance``).
``--per_layer`` adds a table (group, params, l2, cosine) per tensor group, see ``group_name``; with ``--path``
it is written to ``DIR/distance_per_layer.tsv`` too.
"""

from __future__ import annotations

import argparse
import math
import re
import sys
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

import torch

from module.adapter import is_adapter_tensor
from module.aliases import common_aliases, without_aliases
from module.checkpoint import load_checkpoint
from module.cli import run_cli
from module.files import atomic_write_json, atomic_write_text

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


def _summary(sums: Iterable[tuple[int, float, float, float, float]]) -> dict:
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


def _all_sums(tensors1, tensors2, labels) -> dict[str, tuple[int, float, float, float, float]]:
    return {k: _tensor_sums(tensors1[k], tensors2[k]) for k in check_matching(tensors1, tensors2, labels)}


# ----------------------------------------------------------------------------- public API
def distance(tensors1: Mapping[str, torch.Tensor], tensors2: Mapping[str, torch.Tensor],
             labels: tuple[str, str] = ("input1", "input2"), count_aliases: bool = False) -> dict:
    """{"l2", "cosine", "params", "rms"} between the two tensor dicts taken as flat vectors (sorted names)."""
    tensors1, tensors2, _ = compared_tensors(tensors1, tensors2, count_aliases)
    return _summary(_all_sums(tensors1, tensors2, labels).values())


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


def _groups(sums: Mapping[str, tuple], group_fn: Callable[[str], str]) -> list[dict]:
    grouped: dict[str, list[tuple]] = {}
    for key, s in sums.items():
        grouped.setdefault(group_fn(key), []).append(s)
    return [{"group": g, **_summary(grouped[g])} for g in sorted(grouped, key=natural_key)]


def per_group_distance(tensors1: Mapping[str, torch.Tensor], tensors2: Mapping[str, torch.Tensor],
                       group_fn: Callable[[str], str] = group_name,
                       labels: tuple[str, str] = ("input1", "input2"), count_aliases: bool = False) -> list[dict]:
    """One {"group", "l2", "cosine", "params", "rms"} per group (``group_fn`` of the names), in natural order."""
    tensors1, tensors2, _ = compared_tensors(tensors1, tensors2, count_aliases)
    return _groups(_all_sums(tensors1, tensors2, labels), group_fn)


# ----------------------------------------------------------------------------- output
def format_distance(result: Mapping) -> str:
    """The original's ``distance.txt`` layout: a label line then a value line, four times."""
    return (f"L2 distance is: \n{result['l2']}\n"
            f"num of para is: \n{result['params']}\n"
            f"average L2 distance is: \n{result['rms']}\n"
            f"Cos distance is: \n{result['cosine']}\n")


def distance_record(result: Mapping, args: argparse.Namespace, left_out: list[str]) -> dict:
    """`distance.json`: the numbers of distance.txt under honest names, and what was compared."""
    return {"l2_distance": result["l2"], "cosine_similarity": result["cosine"], "num_parameters": result["params"],
            "rms_distance": result["rms"], "input1": str(args.input1), "input2": str(args.input2),
            "type": args.type, "count_aliases": args.count_aliases, "tied_names_left_out": left_out}


def format_groups_tsv(rows: Iterable[Mapping]) -> str:
    lines = ["group\tparams\tl2\tcosine"]
    lines += [f"{r['group']}\t{r['params']}\t{r['l2']}\t{r['cosine']}" for r in rows]
    return "\n".join(lines) + "\n"


def format_groups_table(rows: list[Mapping]) -> str:
    width = max([len("group")] + [len(r["group"]) for r in rows])
    lines = [f"{'group':<{width}}  {'params':>12}  {'l2':>14}  {'cosine':>10}"]
    lines += [f"{r['group']:<{width}}  {r['params']:>12}  {r['l2']:>14.6g}  {r['cosine']:>10.6f}" for r in rows]
    return "\n".join(lines)


def load_selected(path: str, kind: str) -> dict[str, torch.Tensor]:
    tensors = select_tensors(load_checkpoint(path).tensors, kind)
    if not tensors:
        what = "adapter tensors (names containing 'adapter_')" if kind == "adapter" else "tensors"
        raise ValueError(f"{path}: no {what} to compare")
    return tensors


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--input1", required=True, help="first checkpoint (any format load_checkpoint reads)")
    parser.add_argument("--input2", required=True, help="second checkpoint")
    parser.add_argument("--type", required=True, choices=TYPES,
                        help="adapter: only tensors named '*adapter_*'; model/finetune: all tensors")
    parser.add_argument("--path", default="", help="folder for distance.txt (and distance_per_layer.tsv)")
    parser.add_argument("--per_layer", action="store_true", help="also report L2 and cosine per tensor group")
    parser.add_argument("--count_aliases", action="store_true",
                        help="count a tied tensor once per name it has (e.g. T5's shared and embed_tokens), as the "
                             "original did; by default each parameter counts once")
    args = parser.parse_args(argv)

    tensors1 = load_selected(args.input1, args.type)
    tensors2 = load_selected(args.input2, args.type)
    tensors1, tensors2, left_out = compared_tensors(tensors1, tensors2, args.count_aliases)
    if left_out:
        print(f"tied tensors counted once: {', '.join(left_out)} left out (--count_aliases keeps them)")
    sums = _all_sums(tensors1, tensors2, (args.input1, args.input2))
    del tensors1, tensors2
    result = _summary(sums.values())

    print("num_of_models:", len(sums))
    print("=====================L2 distance===================")
    print(result["l2"])
    print("====================Cosine similarity====================")
    print(result["cosine"])
    print("====================num of para====================")
    print(result["params"])
    print("====================average distance====================")
    print(result["rms"])
    groups = _groups(sums, group_name) if args.per_layer else None
    if groups is not None:
        print("====================per layer====================")
        print(format_groups_table(groups))
    if args.path:
        folder = Path(args.path)
        atomic_write_text(folder / "distance.txt", format_distance(result))
        atomic_write_json(folder / "distance.json", distance_record(result, args, left_out))
        if groups is not None:
            atomic_write_text(folder / "distance_per_layer.tsv", format_groups_tsv(groups))
        print(f"saved to {folder}")
    return 0


def cli() -> int:
    """Console entry point (pyproject.toml): `main` with one-line errors."""
    return run_cli(main)


if __name__ == "__main__":
    sys.exit(cli())
