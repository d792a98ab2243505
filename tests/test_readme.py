"""The README's output-file section: every file a sweep writes is explained, and its pandas example runs."""

from __future__ import annotations

import re

from module.interpolation import interpolation_points
from module.sweep import run_sweep
from tests.conftest import ROOT


def _section() -> str:
    text = (ROOT / "README.md").read_text()
    return text.split("## Output files", 1)[1].split("\n## ", 1)[0]


def _sweep(folder):
    state = {}

    def evaluate():
        x = state["x"]
        return {s: {"performance": 0.8 - 0.3 * x * (1 - x), "loss": 0.5 + x * (1 - x), "scores": [1.0, 0.0]}
                for s in ("dev", "test")}

    run_sweep(interpolation_points(6), lambda x: state.update(x=x), evaluate, folder, "task", "ACC", {"a": 1},
              quiet=True)


def test_every_file_a_sweep_writes_is_explained(tmp_path):
    _sweep(tmp_path / "sweep")
    section = _section()
    written = {p.name for p in (tmp_path / "sweep").iterdir() if not p.name.startswith(".")}
    missing = [name for name in written if f"`{name}" not in section and f"{name}`" not in section]
    assert not missing, missing
    for field in ("barrier_endpoint_mean", "barrier_linear", "barrier_subsegment", "up_list_num", "zero_list",
                  "average", "cosine_similarity"):
        assert field in section, field


def test_the_pandas_example_runs_on_a_real_sweep_folder(tmp_path, capsys):
    folder = tmp_path / "runs" / "quickstart" / "adapter-seed20+30"
    _sweep(folder)
    code = re.search(r"```python\n(.*?)```", _section(), re.S).group(1)
    exec(compile(code.replace("runs/quickstart/", f"{tmp_path}/runs/quickstart/"), "README", "exec"), {})
    out = capsys.readouterr().out
    assert "dev_performance" in out  # the table of the three worst points was printed
    assert float(out.strip().splitlines()[-1]) > 0  # barrier_linear of the dip


def test_the_library_example_runs_on_the_tiny_t5(tiny_t5_dir, toy_task, tmp_path, capsys):
    text = (ROOT / "README.md").read_text().split("Imports run one way", 1)[1]
    code = text.split("```python\n", 1)[1].split("```", 1)[0]
    code = code.replace('"task_dir": "data/rotten_tomatoes"', f'"task_dir": {str(toy_task)!r}, '
                                                                f'"model": {str(tiny_t5_dir)!r}, "quiet": True')
    code = code.replace("runs/mine", str(tmp_path / "mine")).replace("=300", "=2")
    exec(compile(code, "README.md", "exec"), {})
    assert "'performance'" in capsys.readouterr().out
    assert (tmp_path / "mine" / "line" / "summary.json").is_file()
