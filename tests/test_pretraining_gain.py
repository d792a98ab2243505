"""experiments/pretraining_gain.py: a pre-trained model against its randomly initialised twin, same fine-tuning."""

from __future__ import annotations

import json
from collections import Counter

import torch
from safetensors.torch import load_file

from experiments import pretraining_gain
from module.cli import run_cli


def test_compares_against_a_fresh_twin_and_the_majority_class(tmp_path, tiny_t5_dir, toy_task):
    out = tmp_path / "gain"
    argv = ["--model", str(tiny_t5_dir), "--tasks", toy_task.name, "--data", str(toy_task.parent), "--steps", "3",
            "--out", str(out)]
    assert pretraining_gain.main(argv) == 0
    twin = out / "random-init"
    assert json.loads((twin / "config.json").read_text())["d_model"] == \
        json.loads((tiny_t5_dir / "config.json").read_text())["d_model"]
    a, b = load_file(str(tiny_t5_dir / "model.safetensors")), load_file(str(twin / "model.safetensors"))
    assert a.keys() == b.keys() and any(not torch.equal(a[k], b[k]) for k in a)
    summary = json.loads((out / "summary.json").read_text())["dev"][toy_task.name]
    dev = [line.split("\t")[1] for line in (toy_task / f"{toy_task.name}_dev.tsv").read_text().splitlines()]
    assert summary["majority"] == round(max(Counter(dev).values()) / len(dev), 4)
    for key in ("pre-trained", "random-init"):
        assert 0.0 <= summary[key] <= 1.0
        assert (out / toy_task.name / key / "result.csv").is_file()


def test_missing_task_is_one_clear_error(tmp_path, tiny_t5_dir, capsys):
    code = run_cli(lambda: pretraining_gain.main(["--model", str(tiny_t5_dir), "--tasks", "nope", "--data",
                                                  str(tmp_path), "--out", str(tmp_path / "o")]))
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "nope" in err[0] and "prepare_data.py" in err[0]
    assert not (tmp_path / "o").exists()
