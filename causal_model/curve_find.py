"""Find a Bezier or PolyChain curve between two tuned endpoints of one causal LM (two LoRA adapters or two
fine-tuned models), then sweep it.

    python causal_model/curve_find.py --model BASE --path1 A --path2 B --task_dir data/<task> --output_dir DIR
        [--lora_path delta|factors] [--bend_num 1] [--curve_type bezier] [--curve_steps 200] [--learning_rate 1e-3]
        [--valid_t 0.25 0.5 0.75] [--itpl_points 26] [--max_eval_samples N] [--do_predict]

The bends are trained in the endpoints' tuned tensors (LoRA: the path adapter's factors; else every weight; the
log and summary.json's `curve_tensors` say which) on the training answers' NLL, the best by mean dev accuracy at
--valid_t is swept into DIR as curve_find.py does (curve-best.pt, curve-last.pt, metrics.csv, result.csv,
summary.json, interpolation.png). A rerun resumes or reuses the curve.
"""

from __future__ import annotations

import sys

from causal_model.curves import CausalCurveArguments, find_causal_curve
from module.cli import one_line_hf_parser, run_cli
from module.report import print_endpoints


def main(argv: list[str] | None = None) -> int:
    """Parse the flags, train the curve and sweep it."""
    parser = one_line_hf_parser([CausalCurveArguments], description=__doc__.splitlines()[0])
    (args,) = parser.parse_args_into_dataclasses(args=argv)
    print_endpoints(find_causal_curve(args), args.output_dir)
    return 0


def cli() -> int:
    """Console entry point (pyproject.toml): `main` with one-line errors."""
    return run_cli(main)


if __name__ == "__main__":
    sys.exit(cli())
