"""The paper's forgetting pipeline at toy size, through its scripts: cartography -> sweep on train -> analysis."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _bash(script: str, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", script], cwd=ROOT, env={**os.environ, "PYTHON": sys.executable, **env},
                          capture_output=True, text=True, timeout=600)


def test_cartography_itp_on_train_and_process_cartography(tiny_t5_dir, toy_task, tmp_path):
    common = {"DATA_DIR": str(toy_task.parent), "MODEL": str(tiny_t5_dir),
              "EXTRA_FLAGS": "--metric ACC --quiet --max_output_length 6 --adapter_size 4"}
    models = tmp_path / "models"
    out = _bash("scripts/adapter_cartography.sh", {**common, "TASKS": toy_task.name, "SEEDS": "20 30",
                                                    "SAVE_PATH": str(models), "TRAIN_EPOCHS": "2"})
    assert out.returncode == 0, out.stderr
    cart = models / "PET_adapter_cartography" / f"{toy_task.name}-adapter-seed_20" / "cartography.json"
    assert len(json.loads(cart.read_text())) == 64
    # lay the cartography runs out where itp_traindata_adapter.sh looks for full-data adapter runs
    for seed in (20, 30):
        runs = models / "PET_adapter_cartography" / f"{toy_task.name}-adapter-seed_{seed}"
        src = runs / f"lr_5e-05_bsz_64_seed_{seed}"
        dst = models / "PET_full_data_adapter" / f"{toy_task.name}-adapter-seed_{seed}" / f"lr_5e-05_bsz_32_seed_{seed}"
        dst.mkdir(parents=True)
        shutil.copy(src / "checkpoint-last.pt", dst / "checkpoint@2.pt")
    results = tmp_path / "itp"
    out = _bash("scripts/itp_traindata_adapter.sh", {**common, "TASK": toy_task.name, "STEP": "2",
                                                      "MODELS": str(models), "SAVE_PATH": str(results)})
    assert out.returncode == 0, out.stderr
    sweep = results / "itp_on_traindata" / f"{toy_task.name}_adapter_diff-seed" / "SEED20_and_SEED30_STEP2"
    analysis = json.loads((sweep / "valid_data_analysis.json").read_text())
    assert len(analysis) == 6
    for lists in analysis.values():
        assert set(lists) == {"zero_list", "one_list"}
        assert sorted(lists["zero_list"] + lists["one_list"]) == list(range(64))
    assert not (sweep / "test_data_analysis.json").exists()
    save = tmp_path / "forgetting.json"
    out = subprocess.run([sys.executable, "utils/process_cartography.py", "--cartography_path", str(cart),
                          "--analysis_path", str(sweep / "valid_data_analysis.json"), "--save_path", str(save)],
                         cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    rows = json.loads(save.read_text())
    assert len(rows) == 6
    first = sorted(analysis, key=float)[0]
    assert rows[0]["newly_forgotten"] == len(analysis[first]["zero_list"])
