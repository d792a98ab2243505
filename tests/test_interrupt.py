"""Ctrl-C (a real SIGINT) of a long command of either track: exit code 130, and the last line of stderr says how to
continue (no traceback, no progress bar after it); the finished checkpoints stay for the rerun."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CONTINUE = "interrupted: finished files are kept; run the same command again to continue"


def _interrupt(argv: list[str], ready: Path, pattern: str) -> tuple[int, list[str]]:
    """Run `argv` from the repository root, send SIGINT once `ready` holds a file matching `pattern`."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false"}
    proc = subprocess.Popen([sys.executable, *argv], cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.time() + 120
    while not any(ready.glob(pattern)) and proc.poll() is None and time.time() < deadline:
        time.sleep(0.1)
    assert proc.poll() is None, "the command ended before it could be interrupted"
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    return proc.returncode, [line for line in err.splitlines() if line.strip()]


@pytest.mark.slow
@pytest.mark.parametrize("track", ["t5", "encoder"])
def test_ctrl_c_exits_130_with_one_line_saying_how_to_continue(track, tiny_t5_dir, toy_task, minilm_dir, tmp_path):
    out = tmp_path / "out"
    if track == "t5":
        argv = ["tune_singletask.py", "--task_dir", str(toy_task), "--model", str(tiny_t5_dir), "--output_dir",
                str(out), "--do_train", "--train_iters", "1e7", "--valid_interval", "1000", "--output_interval", "5",
                "--train_batch_size", "8", "--metric", "ACC", "--max_output_length", "6"]
        pattern = "*/checkpoint@*.pt"
    else:
        from utils import toy

        config = tmp_path / "run.json"
        config.write_text(json.dumps({
            "model_name_or_path": str(toy.build_tiny_encoder(tmp_path / "bert", minilm_dir)),
            "task_name": "toy-sentiment", "data_dir": str(toy_task.parent), "output_dir": str(out),
            "delta_type": "none", "max_steps": 10_000_000, "do_train": True, "per_device_train_batch_size": 8,
            "save_strategy": "steps", "save_steps": 5}))
        argv = ["RoBERTa_model/run_glue.py", str(config)]
        pattern = "checkpoint-*"
    code, err = _interrupt(argv, out, pattern)
    assert code == 130, err[-5:]
    assert err[-1] == CONTINUE and not any("Traceback" in line for line in err), err[-5:]
    assert any(out.glob(pattern))  # what was finished is kept for the rerun
