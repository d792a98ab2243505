"""The project installs as a package: no sys.path edits, entry points run from any directory, torch left as is."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

from tests.conftest import ROOT


def _sources() -> list[Path]:
    listed = subprocess.run(["git", "ls-files", "*.py"], cwd=ROOT, capture_output=True, text=True, check=True)
    return [ROOT / name for name in listed.stdout.split()]


SYS_PATH_EDIT = re.compile(r"sys\.path\.(insert|append)\(")


def test_no_source_edits_sys_path():
    offenders = [str(p.relative_to(ROOT)) for p in _sources() if SYS_PATH_EDIT.search(p.read_text())]
    assert not offenders


def test_torch_is_not_pinned_by_the_package():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    torch = [d for d in project["dependencies"] if d.startswith("torch")]
    assert torch == ["torch>=2.4"]  # a GPU user's CUDA build satisfies it; the CPU pin is the set-up script's


def test_entry_points_run_from_another_working_directory(tmp_path):
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    script = subprocess.run([sys.executable, str(ROOT / "utils" / "calculate_dist.py"), "--help"], cwd=tmp_path,
                            capture_output=True, text=True, env=env, timeout=120)
    assert script.returncode == 0 and "--count_aliases" in script.stdout, script.stderr
    console = Path(sys.executable).parent / "mc-tune"
    assert console.is_file(), "pip install -e . (scripts/setup.sh) installs the console entry points"
    done = subprocess.run([str(console), "--help"], cwd=tmp_path, capture_output=True, text=True, env=env,
                          timeout=120)
    assert done.returncode == 0 and "--task_dir" in done.stdout, done.stderr
