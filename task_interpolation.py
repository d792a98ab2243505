"""Evaluate T5 along the straight line between two checkpoints (adapter or full model).

For x in linspace(0, 1, --itpl_points) the model holds θ(x) = (1 − x)·θ1 + x·θ2 and is evaluated on dev
(--do_valid), test (--do_predict) or the training data (--itp_on_train). Writes result.csv,
data_analyze.txt, valid/test_data_analysis.json, solution_analysis.txt, summary.json and a plot into
--output_dir; running again into the same folder continues where it stopped.
"""

from __future__ import annotations

import sys

from module.cli import run_cli
from T5_model.jobs import interpolate
from T5_model.options import parse_options
from T5_model.sweeping import endpoint_lines


def main(argv: list[str] | None = None) -> int:
    """Parse the flags and sweep the line (T5_model.jobs.interpolate)."""
    options = parse_options(argv, description=__doc__.splitlines()[0], entry="interpolate")
    result = interpolate(options)
    if options.plane_grid or options.layerwise:
        return 0  # the plane's or the layer-wise sweep's job printed its checkpoints or its table
    print("\n".join(endpoint_lines([result.records[0], result.records[-1]], result.metric)))
    print(f"wrote {result.out_dir}/result.csv, summary.json and interpolation.png ({len(result.records)} points)")
    return 0


def cli() -> int:
    """Console entry point (pyproject.toml): `main` with one-line errors."""
    return run_cli(main)


if __name__ == "__main__":
    sys.exit(cli())
