"""Encoder-track training with and without length grouping, side by side: the quickstart's two runs' settings.

Run from the repository root: `python benchmarks/bench_length_grouping.py [--steps 50] [--methods finetune adapter]`.
It needs pretrained_models/all-MiniLM-L6-v2 and data/snli (`python utils/prepare_models.py`,
`python utils/prepare_data.py --tasks snli`); nothing is downloaded here.

For each method it tunes MiniLM on snli (20000 training pairs, batch 32, seed 20, `--steps` updates, the learning
rate, warm-up and adapter settings of experiments/quickstart.py) twice through `tune_encoder`, in temporary
folders: with the Trainer's `train_sampling_strategy` "random" (what the quickstart used before) and
"group_by_length" (transformers' LengthGroupedSampler: batches of similar length, so less padding). Times are the
Trainer's own `train_seconds`. The two orders differ, so the losses differ too: they are printed, not compared.
The padding waste (pad tokens / real tokens) is that of the first `--steps` batches of a sampler of the
same kind (seeded here, so not the run's own order, which the Trainer draws from its global generator).
The last line is `ratio: <random seconds / grouped seconds>` over all methods.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

MODEL_DIR = ROOT / "pretrained_models" / "all-MiniLM-L6-v2"
DATA_DIR = ROOT / "data"
BATCH = 32
# experiments/quickstart.py's ENCODER_METHODS, less max_steps (the benchmark's --steps)
METHODS = {
    "finetune": {"delta_type": "none", "learning_rate": 2e-4, "warmup_steps": 15},
    "adapter": {"delta_type": "adapter", "bottleneck_dim": 24, "learning_rate": 3e-3, "warmup_steps": 15,
                "unfrozen_modules": ["deltas", "layer_norm", "final_layer_norm", "classifier"]},
}


def padding_waste(strategy: str, steps: int) -> float:
    """Pad tokens per real token in the first `steps` batches the Trainer's sampler of `strategy` would draw."""
    import torch
    from transformers.trainer_pt_utils import LengthGroupedSampler

    from module.loading import load_tokenizer
    from RoBERTa_model.encoder import encode_task, load_task_split, task_labels

    train = load_task_split(str(DATA_DIR), "snli", "train", 20000)
    lengths = [len(ids) for ids in encode_task(train, load_tokenizer(MODEL_DIR), task_labels("snli", train),
                                               128).input_ids]
    generator = torch.Generator().manual_seed(20)
    order = (list(LengthGroupedSampler(BATCH, lengths=lengths, generator=generator)) if strategy == "group_by_length"
             else torch.randperm(len(lengths), generator=generator).tolist())
    batches = [order[s: s + BATCH] for s in range(0, min(len(order), steps * BATCH), BATCH)]
    real = sum(lengths[i] for b in batches for i in b)
    return sum(len(b) * max(lengths[i] for i in b) for b in batches) / real - 1


def main(argv: list[str] | None = None) -> int:
    """Tune each method both ways, print a table and the ratio line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--methods", nargs="+", choices=sorted(METHODS), default=["finetune", "adapter"])
    args = parser.parse_args(argv)
    if not (MODEL_DIR / "config.json").is_file() or not (DATA_DIR / "snli").is_dir():
        print("run python utils/prepare_models.py and python utils/prepare_data.py --tasks snli first",
              file=sys.stderr)
        return 2
    from RoBERTa_model.config import config_from_values
    from RoBERTa_model.jobs import tune_encoder

    rows, totals = [], {"random": 0.0, "group_by_length": 0.0}
    with tempfile.TemporaryDirectory() as tmp:
        for method in args.methods:
            for strategy in totals:
                values = {"model_name_or_path": str(MODEL_DIR), "task_name": "snli", "data_dir": str(DATA_DIR),
                          "max_train_samples": 20000, "max_eval_samples": 500, "max_source_length": 128,
                          "per_device_train_batch_size": BATCH, "per_device_eval_batch_size": 128,
                          "eval_strategy": "no", "save_strategy": "no", "seed": 20, "do_train": True,
                          "do_eval": True, "max_steps": args.steps, "logging_steps": 25, "report_to": "none",
                          "disable_tqdm": True, "train_sampling_strategy": strategy,
                          "output_dir": str(Path(tmp) / f"{method}-{strategy}"), **METHODS[method]}
                result = tune_encoder(config_from_values(values, source=f"{method}-{strategy}"))
                totals[strategy] += result["train_seconds"]
                rows.append((method, strategy, result["train_seconds"], padding_waste(strategy, args.steps),
                             result["train_loss"], result["eval_accuracy"]))
    print(f"\n{args.steps} updates of batch {BATCH} per run")
    print(f"{'method':<9} | {'sampling':<16} | {'train s':>8} | {'pad waste':>9} | {'train loss':>10} | "
          f"{'dev acc':>7}")
    for method, strategy, seconds, waste, loss, acc in rows:
        print(f"{method:<9} | {strategy:<16} | {seconds:>8.1f} | {waste:>9.3f} | {loss:>10.4f} | {acc:>7.3f}")
    print(f"ratio: {totals['random'] / totals['group_by_length']:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
