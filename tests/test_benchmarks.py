"""The benchmarks run as `benchmarks/README.md` documents them, from the repository root with nothing on the path
but the installed project: each documented command with `--quick` (a smoke check; speed is not asserted)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_bench_interpolation_runs_as_documented(tmp_path):
    """Issue 27.5: `.venv/bin/python benchmarks/bench_interpolation.py` crashed with "No module named 'tests'"."""
    assert ".venv/bin/python benchmarks/bench_interpolation.py --quick" in (ROOT / "benchmarks/README.md").read_text()
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    done = subprocess.run([sys.executable, "benchmarks/bench_interpolation.py", "--quick", "--threads", "1"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "equality check passed" in done.stdout and "ratio:" in done.stdout
