"""A 26-point encoder sweep with 1 and with 2 processes (torchrun, gloo, 1 thread each), side by side.

Run from anywhere: `python benchmarks/bench_sharded_sweep.py [--eval_examples N]`. It prepares data/snli and
all-MiniLM-L6-v2 when missing, adapter-tunes MiniLM briefly with seeds 20 and 30 (run_glue.py, in a temporary
folder), then runs itp_pretrain_adapter.py between them under `torchrun --nproc_per_node 1` and `2`, with
OMP_NUM_THREADS=1 per process. Both sweeps must write byte-identical result.csv and summary.json, else it exits
with status 1. Times are the wall clock of each torchrun command (process start and model loading included).
The last line printed is `ratio: <1-process seconds / 2-process seconds>`.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PY = sys.executable


def run(cmd: list[str], threads: int | None = None) -> float:
    """Run a command from the repository root (offline); its wall-clock seconds."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    if threads:
        env["OMP_NUM_THREADS"] = str(threads)
    start = time.time()
    subprocess.run(cmd, cwd=ROOT, env=env, check=True, stdout=subprocess.DEVNULL)
    return time.time() - start


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def main() -> int:
    """Prepare, tune two endpoints, time the sweep with 1 and 2 processes."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--eval_examples", type=int, default=250, help="dev examples per point")
    p.add_argument("--points", type=int, default=26)
    args = p.parse_args()
    run([PY, "utils/prepare_data.py", "--tasks", "snli"])
    run([PY, "utils/prepare_models.py"])
    common = {"model_name_or_path": str(ROOT / "pretrained_models" / "all-MiniLM-L6-v2"), "task_name": "snli",
              "data_dir": str(ROOT / "data"), "delta_type": "adapter", "bottleneck_dim": 24,
              "max_source_length": 128, "per_device_eval_batch_size": 128, "disable_tqdm": True, "report_to": "none"}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        ends = []
        for seed in (20, 30):
            out = tmp / f"adapter{seed}"
            config = tmp / f"train{seed}.json"
            config.write_text(json.dumps({**common, "learning_rate": 3e-3, "max_steps": 10, "seed": seed,
                                          "per_device_train_batch_size": 32, "max_train_samples": 640,
                                          "save_strategy": "steps", "save_steps": 10, "output_dir": str(out),
                                          "do_train": True, "max_eval_samples": 32}))
            run([PY, "RoBERTa_model/run_glue.py", str(config)])
            ends.append(str(out / "checkpoint-10"))
        seconds = {}
        for procs in (1, 2):
            config = tmp / f"sweep{procs}.json"
            config.write_text(json.dumps({**common, "path1": ends[0], "path2": ends[1], "itpl_points": args.points,
                                          "max_eval_samples": args.eval_examples,
                                          "output_dir": str(tmp / f"sweep{procs}")}))
            seconds[procs] = run([PY, "-m", "torch.distributed.run", "--nproc_per_node", str(procs), "--master_port",
                                  str(free_port()), "RoBERTa_model/itp_pretrain_adapter.py", str(config)], threads=1)
            print(f"{procs} process(es), 1 thread each: {seconds[procs]:.1f} s for {args.points} points of "
                  f"{args.eval_examples} dev examples")
        same = all((tmp / "sweep1" / name).read_bytes() == (tmp / "sweep2" / name).read_bytes()
                   for name in ("result.csv", "summary.json"))
        if not same:
            print("the two sweeps differ", file=sys.stderr)
            return 1
    print("identical result.csv and summary.json")
    print(f"ratio: {seconds[1] / seconds[2]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
