"""The import layering, read from the sources (lazy imports inside functions included).

module/ and dataloader/ know no model package, no utils/ and no entry script; nothing new imports an entry
script (the entries still on `ENTRY_IMPORTS_TO_REMOVE` are issue 15's remaining work and may only shrink).
"""

from __future__ import annotations

import ast
import subprocess

from tests.conftest import ROOT

ENTRY_SCRIPTS = {"tune_singletask", "task_interpolation", "curve_find", "RoBERTa_model.run_glue",
                 "RoBERTa_model.itp_pretrain_adapter", "RoBERTa_model.itp_task_boundary_finetune"}
ENTRY_IMPORTS_TO_REMOVE = {("curve_find.py", "task_interpolation"), ("utils/pretraining_gain.py", "tune_singletask"),
                           ("utils/quickstart.py", "tune_singletask"), ("utils/quickstart.py", "task_interpolation"),
                           ("utils/quickstart.py", "RoBERTa_model.run_glue"),
                           ("utils/quickstart.py", "RoBERTa_model.itp_pretrain_adapter"),
                           ("RoBERTa_model/pretrain_steps_experiment.py", "RoBERTa_model.run_glue"),
                           ("RoBERTa_model/pretrain_steps_experiment.py", "RoBERTa_model.itp_pretrain_adapter")}


def _imports() -> dict[str, set[str]]:
    """Project source file (relative path) -> every module name it imports, top level or inside functions."""
    listed = subprocess.run(["git", "ls-files", "*.py"], cwd=ROOT, capture_output=True, text=True, check=True)
    found = {}
    for name in listed.stdout.split():
        if name.startswith(("tests/", "benchmarks/")):
            continue
        names = set()
        for node in ast.walk(ast.parse((ROOT / name).read_text())):
            if isinstance(node, ast.Import):
                names |= {a.name for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                names.add(node.module)
                names |= {f"{node.module}.{a.name}" for a in node.names}
        found[name] = names
    return found


def test_module_and_dataloader_know_no_model_package_no_utils_and_no_entry_script():
    banned = ("utils", "T5_model", "RoBERTa_model", *ENTRY_SCRIPTS)
    bad = [(f, n) for f, names in _imports().items() if f.startswith(("module/", "dataloader/"))
           for n in names if n.split(".")[0] in banned or n in ENTRY_SCRIPTS]
    assert not bad


def test_no_new_imports_of_entry_scripts():
    found = {(f, n) for f, names in _imports().items() for n in names if n in ENTRY_SCRIPTS}
    assert found <= ENTRY_IMPORTS_TO_REMOVE, sorted(found - ENTRY_IMPORTS_TO_REMOVE)
