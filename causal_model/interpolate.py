"""Evaluate a causal LM along the line between two tuned endpoints (LoRA adapters or fully fine-tuned models).

    python causal_model/interpolate.py --model BASE --path1 A --path2 B --task_dir data/<task> --output_dir DIR
        [--lora_path delta|factors] [--itpl_points 26] [--max_eval_samples N] [--do_predict]
    python causal_model/interpolate.py --model BASE --paths A B C ... --task_dir data/<task> --output_dir DIR

Writes result.csv, summary.json and interpolation.png into DIR, as task_interpolation.py; with --paths, every
pair's into DIR/pair_<i>_<j>/ and matrix.csv / matrix.png (as task_interpolation.py --load_PET_path_list). A rerun
continues.
"""

from __future__ import annotations

import sys

from causal_model.jobs import CausalLineArguments, interpolate_causal
from module.cli import one_line_hf_parser, run_cli
from module.report import print_endpoints


def main(argv: list[str] | None = None) -> int:
    """Parse the flags and sweep the line."""
    parser = one_line_hf_parser([CausalLineArguments], description=__doc__.splitlines()[0])
    (args,) = parser.parse_args_into_dataclasses(args=argv)
    print_endpoints(interpolate_causal(args), args.output_dir)
    return 0


def cli() -> int:
    """Console entry point (pyproject.toml): `main` with one-line errors."""
    return run_cli(main)


if __name__ == "__main__":
    sys.exit(cli())
