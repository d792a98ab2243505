"""Find a Bezier or PolyChain curve between two runs tuned from the same backbone (adapters or full), then sweep it.

    python RoBERTa_model/curve_find_adapter.py CONFIG.json

The config is an itp_pretrain_adapter.py config (the shared backbone, `path1`, `path2`, the tuned tensors that
`delta_type` / `unfrozen_modules` select, `itpl_points`) plus the curve's keys: `bend_num` bends (1: a quadratic
Bezier curve) of `curve_type`, trained for `curve_steps` AdamW updates at `curve_lr` on batches of
`per_device_train_batch_size` of the first `max_train_samples` training examples (`seed` draws the batches and each
update's t), validated at `valid_t` every `valid_interval` updates, resumable from `output_dir/curve-last.pt`
(written every `output_interval` updates). The bends start on the straight line. The best curve
(`curve-best.pt`) is swept at evenly spaced t into task_interpolation.py's files, with the curve's and the line's
lengths in summary.json.
"""

from __future__ import annotations

import sys

from module.cli import run_cli
from module.report import print_endpoints
from RoBERTa_model.config import parse_config_args
from RoBERTa_model.curve_job import find_adapter_curve


def main(argv: list[str] | None = None) -> int:
    """Read the config (and --KEY VALUE overrides) and run the job (RoBERTa_model.curve_job.find_adapter_curve)."""
    config = parse_config_args(sys.argv[1:] if argv is None else argv, True, "curve_find_adapter.py")
    print_endpoints(find_adapter_curve(config), config.training.output_dir)
    return 0


def cli() -> int:
    """Console entry point: `main` with one-line errors."""
    return run_cli(main)


if __name__ == "__main__":
    sys.exit(cli())
