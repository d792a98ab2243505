"""Interpolate between two runs tuned from the same backbone (e.g. one pre-training step), adapters or full.

    python RoBERTa_model/itp_pretrain_adapter.py CONFIG.json

The config is a run_glue.py config (its `model_name_or_path` is the shared backbone, e.g.
`checkpoint/ckpt_15000`) plus `path1` and `path2`, the endpoint checkpoint folders, and `itpl_points`
(26 by default). Every tuned tensor (with adapters those `unfrozen_modules` selects, for the paper's list the
adapters and the classifier; with `none`, every tensor) is interpolated in place; dev (and test with do_test)
accuracy and loss are written to `output_dir` in task_interpolation.py's files (result.csv, summary.json,
interpolation.png, ...).
"""

from __future__ import annotations

import sys

from module.cli import run_cli
from module.report import print_endpoints
from RoBERTa_model.config import parse_config_args
from RoBERTa_model.jobs import interpolate_runs


def main(argv: list[str] | None = None) -> int:
    """Read the config (and --KEY VALUE overrides) and run the job (RoBERTa_model.jobs.interpolate_runs)."""
    config = parse_config_args(sys.argv[1:] if argv is None else argv, True, "itp_pretrain_adapter.py")
    print_endpoints(interpolate_runs(config), config.training.output_dir)
    return 0


def cli() -> int:
    """Console entry point (pyproject.toml): `main` with one-line errors."""
    return run_cli(main)


if __name__ == "__main__":
    sys.exit(cli())
