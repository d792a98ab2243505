"""Tune an encoder (RoBERTa, BERT, MiniLM, ...) on a classification task from a JSON config.

    python RoBERTa_model/run_glue.py CONFIG.json

The config holds the original's keys: model/data/training arguments of the Hugging Face `Trainer` plus
the delta keys (`delta_type` adapter|houlsby_dense|none, `bottleneck_dim`, `unfrozen_modules`). Data come from the
project's TSV task folders (`data_dir`/`task_name`). Checkpoints are written as `checkpoint-<step>/`
in `output_dir`; the final model, `all_results.json` (dev/test accuracy and loss) and the log go there too.
"""

from __future__ import annotations

import json
import sys

from module.cli import run_cli
from RoBERTa_model.config import parse_config_args
from RoBERTa_model.jobs import tune_encoder


def main(argv: list[str] | None = None) -> int:
    """Read the config (and --KEY VALUE overrides) and run the job (RoBERTa_model.jobs.tune_encoder)."""
    config = parse_config_args(sys.argv[1:] if argv is None else argv, False, "run_glue.py")
    results = tune_encoder(config)
    print(json.dumps({k: v for k, v in results.items() if k != "labels"}))
    return 0


def cli() -> int:
    """Console entry point (pyproject.toml): `main` with one-line errors."""
    return run_cli(main)


if __name__ == "__main__":
    sys.exit(cli())
