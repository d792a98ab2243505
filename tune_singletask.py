"""Tune T5 on one task over a learning-rate x batch-size grid, fully or with adapters; save checkpoints.

Each grid cell trains into `<output_dir>/lr_<lr>_bsz_<bsz>_seed_<seed>/` and adds one row to
`<output_dir>/result.csv` (prefix, metric, lr, bsz, dev_performance, test_performance).
"""

from __future__ import annotations

import sys

from module.cli import run_cli
from T5_model.jobs import tune
from T5_model.options import parse_options


def main(argv: list[str] | None = None) -> int:
    """Parse the flags and run the grid (T5_model.jobs.tune)."""
    for result in tune(parse_options(argv, description=__doc__.splitlines()[0], entry="tune")):
        for warning in result.warnings:
            print(warning, file=sys.stderr)
    return 0


def cli() -> int:
    """Console entry point (pyproject.toml): `main` with one-line errors."""
    return run_cli(main)


if __name__ == "__main__":
    sys.exit(cli())
