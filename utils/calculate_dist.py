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
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path

import torch

from module.checkpoint import load_endpoint
from module.cli import OneLineParser, run_cli
from module.distance import (  # noqa: F401 (distance, per_group_distance: the tool's API, as its tests use it)
    TYPES,
    all_sums,
    compared_tensors,
    distance,
    group_name,
    grouped,
    per_group_distance,
    select_tensors,
    summarise,
)
from module.files import atomic_write_json, atomic_write_text
from module.lora import lora_updates, update_sums


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
    tensors = select_tensors(load_endpoint(path).tensors, kind)
    if not tensors:
        what = "adapter tensors (names containing 'adapter_')" if kind == "adapter" else "tensors"
        raise ValueError(f"{path}: no {what} to compare")
    return tensors


def main(argv: list[str] | None = None) -> int:
    parser = OneLineParser(description=__doc__.split("\n\n")[0],
                           formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--input1", required=True, help="first checkpoint (any format load_checkpoint reads)")
    parser.add_argument("--input2", required=True, help="second checkpoint")
    parser.add_argument("--type", required=True, choices=(*TYPES, "lora"),
                        help="adapter: only tensors named '*adapter_*'; model/finetune: all tensors; lora: two peft "
                             "LoRA folders, compared by their updates dW = s*B@A (and their factors, equal ranks)")
    parser.add_argument("--path", default="", help="folder for distance.txt (and distance_per_layer.tsv)")
    parser.add_argument("--per_layer", action="store_true", help="also report L2 and cosine per tensor group")
    parser.add_argument("--count_aliases", action="store_true",
                        help="count a tied tensor once per name it has (e.g. T5's shared and embed_tokens), as the "
                             "original did; by default each parameter counts once")
    args = parser.parse_args(argv)

    extra, left_out = {}, []
    if args.type == "lora":  # the updates' distance, from the factors alone (no base model, no dense dW)
        updates = lora_updates(args.input1), lora_updates(args.input2)
        sums = update_sums(*updates, (args.input1, args.input2))
        factors = [{f"{m}.{ab}": t for m, (a, b) in u.items() for ab, t in (("A", a), ("sB", b))} for u in updates]
        if all(factors[0][k].shape == factors[1][k].shape for k in factors[0]):
            extra["factors"] = distance(*factors, (args.input1, args.input2))
    else:
        tensors1 = load_selected(args.input1, args.type)
        tensors2 = load_selected(args.input2, args.type)
        tensors1, tensors2, left_out = compared_tensors(tensors1, tensors2, args.count_aliases)
        if left_out:
            print(f"tied tensors counted once: {', '.join(left_out)} left out (--count_aliases keeps them)")
        sums = all_sums(tensors1, tensors2, (args.input1, args.input2))
        del tensors1, tensors2
    result = summarise(sums.values())

    print("num_of_models:", len(sums))
    print("=====================L2 distance===================")
    print(result["l2"])
    print("====================Cosine similarity====================")
    print(result["cosine"])
    print("====================num of para====================")
    print(result["params"])
    print("====================average distance====================")
    print(result["rms"])
    if args.type == "lora":
        print("(of the updates dW = s*B@A)" + (f"; between the factors (A, s*B): L2 {extra['factors']['l2']}, cosine "
                                              f"{extra['factors']['cosine']}" if extra else
                                              "; the factors differ in rank and are not compared"))
    groups = grouped(sums, (lambda name: name) if args.type == "lora" else group_name) if args.per_layer else None
    if groups is not None:
        print("====================per layer====================")
        print(format_groups_table(groups))
    if args.path:
        folder = Path(args.path)
        atomic_write_text(folder / "distance.txt", format_distance(result))
        atomic_write_json(folder / "distance.json", distance_record(result, args, left_out) | extra)
        if groups is not None:
            atomic_write_text(folder / "distance_per_layer.tsv", format_groups_tsv(groups))
        print(f"saved to {folder}")
    return 0


def cli() -> int:
    """Console entry point (pyproject.toml): `main` with one-line errors."""
    return run_cli(main)


if __name__ == "__main__":
    sys.exit(cli())
