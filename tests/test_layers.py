"""The import layering, read from the sources (imports inside functions included), so that the shape stays:

entry scripts -> jobs (T5_model/, RoBERTa_model/) -> module/ and dataloader/; utils/ tools and experiments/ use
the jobs and the library; nothing imports an entry script (a file with a `__main__` block); module/ and
dataloader/ know no model family, no utils/ and no experiments/; the two model packages do not import each other,
utils/ or experiments/. Tests and benchmarks may drive entry scripts in-process.
"""

from __future__ import annotations

import ast
import subprocess

import pytest

from tests.conftest import ROOT

MODEL_PACKAGES = ("T5_model", "RoBERTa_model", "causal_model")
BASE = ("module", "dataloader")


def _sources() -> dict[str, ast.Module]:
    listed = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard", "*.py"], cwd=ROOT,
                            capture_output=True, text=True, check=True)
    return {name: ast.parse((ROOT / name).read_text()) for name in listed.stdout.split()
            if (ROOT / name).is_file() and not name.startswith(("tests/", "benchmarks/"))}


def _module_name(path: str) -> str:
    return path.removesuffix(".py").removesuffix("/__init__").replace("/", ".")


def _imports(tree: ast.Module) -> set[str]:
    """Every project module a file imports, top level or inside functions (`from a import b` counts a and a.b)."""
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module)
            names |= {f"{node.module}.{a.name}" for a in node.names}
    return names


def _is_entry(tree: ast.Module) -> bool:
    return any(isinstance(node, ast.If) and "__main__" in ast.unparse(node.test) for node in tree.body)


SOURCES = _sources()
IMPORTS = {path: _imports(tree) for path, tree in SOURCES.items()}
ENTRY_SCRIPTS = {_module_name(path) for path, tree in SOURCES.items() if _is_entry(tree)}


def _violations(files: tuple[str, ...], banned: tuple[str, ...]) -> list[tuple[str, str]]:
    return sorted((f, n) for f, names in IMPORTS.items() if f.startswith(files) for n in names
                  if n.split(".")[0] in banned)


def test_the_entry_scripts_are_found():
    assert {"tune_singletask", "task_interpolation", "curve_find", "RoBERTa_model.run_glue",
            "RoBERTa_model.itp_pretrain_adapter", "RoBERTa_model.itp_task_boundary_finetune",
            "experiments.quickstart", "utils.calculate_dist"} <= ENTRY_SCRIPTS


def test_nothing_imports_an_entry_script():
    found = sorted((f, n) for f, names in IMPORTS.items() for n in names if n in ENTRY_SCRIPTS)
    assert not found


def test_module_and_dataloader_know_no_model_family_no_utils_and_no_experiments():
    assert not _violations(tuple(f"{p}/" for p in BASE), (*MODEL_PACKAGES, "utils", "experiments"))


@pytest.mark.parametrize("package", MODEL_PACKAGES)
def test_a_model_package_imports_neither_the_other_nor_utils_nor_experiments(package):
    other = next(p for p in MODEL_PACKAGES if p != package)
    assert not _violations((f"{package}/",), (other, "utils", "experiments"))


def test_utils_tools_import_no_experiments():
    assert not _violations(("utils/",), ("experiments",))


def test_no_sys_path_edits():
    edits = [f for f, tree in SOURCES.items() if "sys.path" in ast.unparse(tree)]
    assert not edits


def test_the_rule_catches_a_violation(tmp_path):
    tree = ast.parse("def f():\n    from utils.calculate_dist import main\n")
    assert "utils.calculate_dist" in _imports(tree) and "utils.calculate_dist" in ENTRY_SCRIPTS
