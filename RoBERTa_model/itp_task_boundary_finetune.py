"""Interpolate between two models fully fine-tuned on different tasks, evaluated on one of them.

    python RoBERTa_model/itp_task_boundary_finetune.py CONFIG.json

`path1` and `path2` are checkpoint folders of run_glue.py (delta_type none) trained on two tasks, e.g.
snli (3 labels) and rotten_tomatoes (2 labels); `task_name` is the task evaluated along the path. Every
tensor is interpolated except the classifier's output projection, which is taken from the endpoint
trained on the evaluated task (any pair of label counts). Run once per task to get both curves.
"""

from __future__ import annotations

import sys

from module.cli import run_cli
from module.report import print_endpoints
from RoBERTa_model.config import parse_config_args
from RoBERTa_model.jobs import interpolate_task_boundary


def main(argv: list[str] | None = None) -> int:
    """Read the config (and --KEY VALUE overrides) and run the job (RoBERTa_model.jobs.interpolate_task_boundary)."""
    config = parse_config_args(sys.argv[1:] if argv is None else argv, True, "itp_task_boundary_finetune.py")
    print_endpoints(interpolate_task_boundary(config), config.training.output_dir)
    return 0


def cli() -> int:
    """Console entry point (pyproject.toml): `main` with one-line errors."""
    return run_cli(main)


if __name__ == "__main__":
    sys.exit(cli())
