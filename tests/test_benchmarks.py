"""The benchmarks start as `benchmarks/README.md` documents them: from the repository root, with nothing on the path
but the installed project, each script's imports resolve and its flags parse (`--help`; the measurements themselves
are not run here: they take minutes, and speed is never asserted in tests)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPTS = sorted(p.name for p in (ROOT / "benchmarks").glob("bench_*.py"))


@pytest.mark.parametrize("script", SCRIPTS)
def test_a_benchmark_starts_as_documented(script):
    """Issue 27.5: `.venv/bin/python benchmarks/bench_interpolation.py` crashed with "No module named 'tests'"."""
    assert f".venv/bin/python benchmarks/{script}" in (ROOT / "benchmarks/README.md").read_text()
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    done = subprocess.run([sys.executable, f"benchmarks/{script}", "--help"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "usage:" in done.stdout
