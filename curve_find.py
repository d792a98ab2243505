"""Find a low-loss curve between two checkpoints (adapter or full model) and evaluate T5 along it.

The endpoints θ1 (--load_PET_path_1) and θ2 (--load_PET_path_2) stay frozen; --bend_num bends of a Bezier curve
(or PolyChain, --curve_type) are trained with Adafactor on the task loss at φ(t), one t ~ U(0, 1) per update.
As in the original's curve training: 3 bends and no gradient clipping unless --bend_num / --max_grad_norm say
otherwise. Every --valid_interval updates (and at the last) the curve is validated on dev at every t of --valid_t
(default: the original's points, see --help); the curve with the best mean dev metric is kept as curve-best.pt
(curve-last.pt: the last one, with optimizer state).
Then φ(t) is evaluated at --itpl_points evenly spaced t, as task_interpolation.py does for the straight line:
result.csv, data_analyze.txt, valid/test_data_analysis.json, solution_analysis.txt, summary.json (plus
curve_length, line_length, length_weighted_mean_loss) and a plot. Running again into the same folder continues
an unfinished training from curve-last.pt, or skips a finished one, and continues the sweep where it stopped.
"""

from __future__ import annotations

import json
import sys

from module.cli import run_cli
from T5_model.curve_job import BEST, find_curve
from T5_model.options import parse_options
from T5_model.sweeping import endpoint_lines


def main(argv: list[str] | None = None) -> int:
    """Parse the flags, train the curve and sweep it (T5_model.curve_job.find_curve)."""
    result = find_curve(parse_options(argv, description=__doc__.splitlines()[0], entry="curve"))
    records, metric = result.records, result.metric
    print("\n".join(endpoint_lines([records[0], records[len(records) // 2], records[-1]], metric, name="t")))
    summary = json.loads((result.out_dir / "summary.json").read_text())
    for split in records[0]["splits"]:
        worst = max(r["splits"][split]["loss"] for r in records)
        print(f"{split}: worst loss on the curve {worst:.4f}, length-weighted mean loss "
              f"{summary['length_weighted_mean_loss'][split]:.4f}")
    print(f"curve length {summary['curve_length']:.4f} (straight line {summary['line_length']:.4f}); wrote "
          f"{result.out_dir}/{BEST}, result.csv, summary.json and interpolation.png ({len(records)} points)")
    return 0


def cli() -> int:
    """Console entry point (pyproject.toml): `main` with one-line errors."""
    return run_cli(main)


if __name__ == "__main__":
    sys.exit(cli())
