"""Does a pre-trained T5 help? Fine-tune it and a randomly initialised twin the same way; compare dev accuracy.

The twin has the model's config and tokenizer and fresh weights (`T5_model.pretraining.init_t5`), so the
only difference is what pre-training put into the weights (the warm-started embeddings included). Both
are fully fine-tuned with the T5 track's tuning job, as `tune_singletask.py` runs it (Adafactor, fixed
learning rate, batch 32, the best of three validations on the first 1000 dev examples), and reported against
the majority-class baseline. Finished runs are reused.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path

from transformers import T5Config

from dataloader.tasks import load_split
from module.cli import OneLineParser, positive_int, run_cli, seed_int
from module.files import atomic_write_json, folder_lock
from module.pretraining import save_folder
from T5_model.jobs import tune
from T5_model.model import check_t5_folder, load_t5_tokenizer
from T5_model.options import options_for
from T5_model.pretraining import init_t5

ROOT = Path(__file__).resolve().parents[1]

def build_parser() -> argparse.ArgumentParser:
    """Flags: the model, the tasks, the fine-tuning recipe, the output folder."""
    p = OneLineParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", type=Path, default=ROOT / "pretrained_models" / "t5-small-home")
    p.add_argument("--tasks", nargs="+", default=["rotten_tomatoes", "snli"])
    p.add_argument("--data", type=Path, default=ROOT / "data")
    p.add_argument("--steps", type=positive_int, default=450, help="fine-tuning updates (batch 32)")
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--seed", type=seed_int, default=20)
    p.add_argument("--out", type=Path, default=ROOT / "runs" / "pretraining_gain")
    return p


def random_twin(model_dir: Path, out: Path, seed: int = 0) -> Path:
    """Save a randomly initialised model with `model_dir`'s config and tokenizer to `out` (once)."""
    if (out / "config.json").is_file():
        return out
    config = T5Config.from_pretrained(str(model_dir), local_files_only=True)
    save_folder(init_t5(config, seed), load_t5_tokenizer(str(model_dir)), out, {"random_init_of": str(model_dir)})
    return out


def majority_share(task_dir: Path) -> float:
    """Share of the most frequent answer among the first 1000 dev examples."""

    answers = Counter(ex.answers[0] for ex in load_split(task_dir, "dev", choose_1000=True))
    return max(answers.values()) / sum(answers.values())


def fine_tune(model_dir: Path, task_dir: Path, out: Path, args: argparse.Namespace) -> float:
    """Full fine-tuning (T5_model.jobs.tune: batch 32, first 1000 dev, accuracy); the best dev accuracy of three
    validations (a finished run is reused and re-evaluated)."""
    options = options_for("tune", task_dir=str(task_dir), model=str(model_dir), output_dir=str(out), do_train=True,
                          train_iters=args.steps, valid_interval=max(1, args.steps // 3),
                          output_interval=args.steps, train_batch_size=32, max_input_length=128,
                          max_output_length=8, choose_dev_1000=True, max_grad_norm=1.0, metric="ACC",
                          seed=args.seed, quiet=True, tune_method="model", learning_rate=args.lr)
    (result,) = tune(options)
    return float(result.row["dev_performance"])


def main(argv: list[str] | None = None) -> int:
    """Entry point."""
    args = build_parser().parse_args(argv)
    check_t5_folder(str(args.model), "--model")
    for task in args.tasks:
        if not (args.data / task).is_dir():
            raise FileNotFoundError(f"--tasks {task}: {args.data / task} not found "
                                    f"(python utils/prepare_data.py --tasks {task})")
    with folder_lock(args.out):  # one run of the experiment per folder, from its first write to its summary
        twin = random_twin(args.model, args.out / "random-init")
        results = {}
        for task in args.tasks:
            task_dir = args.data / task
            results[task] = {"majority": round(majority_share(task_dir), 4)}
            for name, folder in (("pre-trained", args.model), ("random init", twin)):
                key = name.replace(" ", "-")
                results[task][key] = fine_tune(folder, task_dir, args.out / task / key, args)
        summary = {"model": str(args.model), "steps": args.steps, "lr": args.lr, "seed": args.seed, "dev": results}
        atomic_write_json(args.out / "summary.json", summary)
    print(f"\n{'task':<18} {'majority':>9} {'random init':>12} {'pre-trained':>12}   (dev accuracy, first 1000)")
    for task, r in results.items():
        print(f"{task:<18} {r['majority']:>9.3f} {r['random-init']:>12.3f} {r['pre-trained']:>12.3f}")
    print(f"written: {args.out / 'summary.json'}")
    print(json.dumps(summary["dev"]))
    return 0


def cli() -> int:
    """Console entry point (pyproject.toml): `main` with one-line errors."""
    return run_cli(main)


if __name__ == "__main__":
    sys.exit(cli())
