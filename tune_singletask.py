"""Tune T5 on one task over a learning-rate x batch-size grid, fully or with adapters; save checkpoints.

Each grid cell trains into `<output_dir>/lr_<lr>_bsz_<bsz>_seed_<seed>/` and adds one row to
`<output_dir>/result.csv` (prefix, metric, lr, bsz, dev_performance, test_performance).
"""

from __future__ import annotations

import argparse
import copy
import shutil
import sys
from pathlib import Path

from dataloader.metrics import metric_for_task
from dataloader.tasks import check_task_dir, load_split, split_path, task_name
from module.files import setup_logger, upsert_csv_row
from module.runs import RUN_SETTINGS, claim_settings, fingerprint
from utils.errors import run_cli
from utils.options import parse_args

RESULT_FIELDS = ["prefix", "metric", "lr", "bsz", "dev_performance", "test_performance", "run"]
DEFAULT_PREDICT_CHECKPOINT = "best-model.pt"  # the original's default name
# flags that change no checkpoint of a tuning run: output, evaluation after training, the grid, the other scripts'
NOT_TUNING_KEYS = {"output_dir", "quiet", "do_valid", "do_predict", "predict_checkpoint", "predict_batch_size",
                   "test_file", "choose_test_1000", "log_interval", "output_interval", "learning_rate_list", "bsz_list",
                   "load_PET_path_1", "load_PET_path_2", "itpl_points", "bend_num", "curve_type", "bend_init",
                   "bend_std", "valid_t", "load_stage1_pet_path_list", "itp_on_train"}


def load_task_splits(args: argparse.Namespace) -> dict:
    """Read every split the run needs, failing before anything is written."""
    splits = {}
    if args.do_train or args.cartography:
        splits["train"] = load_split(args.task_dir, "train", override=args.train_file, datasplit=args.datasplit)
    if (args.do_train or args.do_valid) and not args.cartography:
        splits["dev"] = load_split(args.task_dir, "dev", override=args.dev_file, choose_1000=args.choose_dev_1000)
    if args.do_predict:
        splits["test"] = load_split(args.task_dir, "test", override=args.test_file, choose_1000=args.choose_test_1000)
    return splits


def small_run_argv(task_dir: Path, model: Path, output_dir: Path, steps: int, seed: int,
                   valid_interval: int) -> list[str]:
    """This script's flags for one short classification run (batch 32, first 1000 dev, accuracy), as the
    CPU-sized experiments use it; add the tuning method and learning rate."""
    return ["--task_dir", str(task_dir), "--model", str(model), "--output_dir", str(output_dir), "--do_train",
            "--train_iters", str(steps), "--valid_interval", str(valid_interval), "--output_interval", str(steps),
            "--train_batch_size", "32", "--max_input_length", "128", "--max_output_length", "8",
            "--choose_dev_1000", "--max_grad_norm", "1.0", "--metric", "ACC", "--seed", str(seed), "--quiet"]


def run_prefix(lr: float, bsz: int, seed: int) -> str:
    """The original's run-folder name."""
    return f"lr_{lr}_bsz_{bsz}_seed_{seed}"


def resolve_predict_checkpoint(run_dir: Path, name: str) -> Path:
    """The checkpoint `--do_predict` evaluates: `--predict_checkpoint` (a relative name inside the run folder
    only, an absolute path as given), else the run's best, else its last.

    A name other than the default that does not exist is an error, never silently replaced by another file.
    """
    given = Path(name)
    chosen = given if given.is_absolute() else run_dir / given
    if chosen.is_file():
        return chosen
    if name != DEFAULT_PREDICT_CHECKPOINT:
        raise FileNotFoundError(f"--predict_checkpoint {name}: {chosen} does not exist")
    for candidate in (run_dir / "checkpoint-best.pt", run_dir / "checkpoint-last.pt"):
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(f"{run_dir}: no checkpoint to predict with (looked for {name}, checkpoint-best.pt, "
                            "checkpoint-last.pt)")


def tuning_settings(args: argparse.Namespace, task: str) -> dict:
    """What shapes a tuning run's checkpoints: its flags (less those only about output and evaluation) and the
    contents of the model, tokenizer, train and dev files and of the --checkpoint it starts from."""
    from T5_model.model import model_files

    values = {k: v for k, v in sorted(vars(args).items()) if k not in NOT_TUNING_KEYS}
    values["apply_adapter"] = bool(args.apply_adapter or args.tune_method == "adapter")  # adapter tuning implies it
    files = [split_path(args.task_dir, "train", args.train_file), split_path(args.task_dir, "dev", args.dev_file)]
    return {"args": values, "task": task, "model": fingerprint(*model_files(args)),
            "data": fingerprint(*[f for f in files if f.is_file()]),
            "checkpoint": fingerprint(args.checkpoint) if args.checkpoint else None}


def run_cell(args: argparse.Namespace, task: str, metric: str, splits: dict, output_dir: Path) -> dict:
    """Train and/or evaluate one grid cell; returns its result row."""
    from T5_model.model import model_provider
    from T5_model.trainer import Trainer, load_into_model, set_seed

    prefix = run_prefix(args.learning_rate, args.train_batch_size, args.seed)
    run_dir = output_dir / prefix
    set_seed(args.seed)
    model, _, tokenizer = model_provider(args)  # model, tokenizer and --checkpoint are checked before any write
    if args.checkpoint:
        load_into_model(model, args.checkpoint)
    if args.do_train:  # a run folder's checkpoints are resumed or reused only under the same settings
        claim_settings(run_dir / RUN_SETTINGS, tuning_settings(args, task), any(run_dir.glob("checkpoint*.pt")),
                       "checkpoints of a tuning run", "use another --output_dir or delete that run folder")
    done = (run_dir / "checkpoint-last.pt").is_file()
    logger = setup_logger(f"tune.{prefix}", run_dir / "log.txt", quiet=args.quiet)
    trainer = Trainer(args, model, tokenizer, task, metric, splits, run_dir, logger)
    row = {"prefix": task, "metric": metric, "lr": args.learning_rate, "bsz": args.train_batch_size,
           "dev_performance": "", "test_performance": "", "run": prefix}
    if args.do_train and done:
        logger.info(f"{run_dir}/checkpoint-last.pt exists: training skipped")
    elif args.do_train:
        summary = trainer.train()
        if summary["best_step"]:
            row["dev_performance"] = summary["best_dev"]
    if not (args.do_train or args.do_valid or args.do_predict):
        return row
    try:
        chosen = resolve_predict_checkpoint(run_dir, args.predict_checkpoint)
    except FileNotFoundError:
        if args.do_train or not args.checkpoint:
            raise
        chosen = None  # evaluate the --checkpoint loaded above
    if chosen is not None:
        trainer.load_tensors(chosen)
        logger.info(f"evaluating {chosen}")
    if "dev" in splits and row["dev_performance"] == "":
        row["dev_performance"], _ = trainer.evaluate_split("dev")
    if "test" in splits:
        row["test_performance"], out = trainer.evaluate_split("test")
        logger.info(f"test | {metric}: {row['test_performance']:.4f} loss {out.loss:.5f}")
    row["_warnings"] = [trainer.warnings[s] for s in ("dev", "test") if s in trainer.warnings]
    return row


def is_main_process() -> bool:
    """True in a single-process run and in the main process of a distributed one (the trainer set it up)."""
    from accelerate import PartialState

    return PartialState().is_main_process


def main(argv: list[str] | None = None) -> int:
    """Entry point: validate everything, then run the grid."""
    args = parse_args(argv, description=__doc__.splitlines()[0])
    task = task_name(check_task_dir(args.task_dir))
    metric = metric_for_task(task, args.metric)
    splits = load_task_splits(args)
    from T5_model.model import _check_t5_folder, load_tokenizer

    _check_t5_folder(args.model, "--model")
    load_tokenizer(args.tokenizer_path)
    output_dir = Path(args.output_dir)  # made by the first file written into it, once the inputs were checked
    best = None
    for bsz in args.bsz_list or [args.train_batch_size]:
        for lr in args.learning_rate_list or [args.learning_rate]:
            cell = copy.copy(args)
            cell.learning_rate, cell.train_batch_size = lr, bsz
            row = run_cell(cell, task, metric, splits, output_dir)
            if not is_main_process():
                continue  # with several processes, one writes the run's results
            upsert_csv_row(output_dir / "result.csv", RESULT_FIELDS, "run", row)
            print(f"{row['run']}: dev {row['dev_performance']} test {row['test_performance']}")
            for warning in row.get("_warnings", []):
                print(warning, file=sys.stderr)
            if isinstance(row["dev_performance"], float) and (best is None or row["dev_performance"] > best[0]):
                best = (row["dev_performance"], output_dir / row["run"])
    if best is not None and args.tune_method == "adapter" and (best[1] / "checkpoint-best.pt").is_file():
        shutil.copyfile(best[1] / "checkpoint-best.pt", output_dir / ".checkpoint-best.pt.tmp")
        (output_dir / ".checkpoint-best.pt.tmp").replace(output_dir / "checkpoint-best.pt")
    return 0


def cli() -> int:
    """Console entry point (pyproject.toml): `main` with one-line errors."""
    return run_cli(main)


if __name__ == "__main__":
    sys.exit(cli())
