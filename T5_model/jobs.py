"""The T5 track's jobs, called with options (not argv) by the entry scripts and by experiments: tune over a
learning-rate x batch-size grid, and sweep the straight line between two checkpoints."""

from __future__ import annotations

import copy
import shutil
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

import torch
from transformers import set_seed

from dataloader.metrics import metric_for_task
from dataloader.tasks import check_task_dir, load_split, split_path, task_name
from module.distributed import device, join
from module.families import get_family
from module.files import atomic_target, folder_lock, setup_logger, upsert_csv_row
from module.geometries import sweep_geometry
from module.geometries.plane import curve_bend, with_bend
from module.matrix import check_minima, pair_folder
from module.path_info import majority_fraction
from module.path_jobs import PathSetup, sweep_line, sweep_matrix
from module.runs import RUN_SETTINGS, claim_settings, fingerprint
from module.sweep import read_records, sweep_settings
from T5_model.model import check_t5_folder, load_t5_tokenizer, model_files, model_provider
from T5_model.options import SWEEP, TUNING, T5Options, settings_of
from T5_model.sweeping import (
    SweepResult,
    check_endpoints_fit,
    load_endpoints,
    point_evaluator,
    sweep_data_files,
    sweep_splits,
)
from T5_model.trainer import Trainer, load_into_model, prepare_split

RESULT_FIELDS = ["prefix", "metric", "lr", "bsz", "dev_performance", "test_performance", "run"]
DEFAULT_PREDICT_CHECKPOINT = "best-model.pt"  # the original's default name


@dataclass
class CellResult:
    """One grid cell's row of result.csv, and the label-word warnings of its evaluations."""

    row: dict
    warnings: list[str] = field(default_factory=list)


def load_task_splits(options: T5Options) -> dict:
    """Read every split the run needs, failing before anything is written."""
    splits = {}
    if options.do_train or options.cartography:
        splits["train"] = load_split(options.task_dir, "train", override=options.train_file,
                                     datasplit=options.datasplit)
    if (options.do_train or options.do_valid) and not options.cartography:
        splits["dev"] = load_split(options.task_dir, "dev", override=options.dev_file,
                                   choose_1000=options.choose_dev_1000)
    if options.do_predict:
        splits["test"] = load_split(options.task_dir, "test", override=options.test_file,
                                    choose_1000=options.choose_test_1000)
    return splits


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


def tuning_settings(options: T5Options, task: str) -> dict:
    """What shapes a tuning run's checkpoints: the settings marked so (T5_model/options.py) and the contents of the
    model, tokenizer, train and dev files and of the --checkpoint it starts from."""
    files = [split_path(options.task_dir, "train", options.train_file),
             split_path(options.task_dir, "dev", options.dev_file)]
    return {"args": dict(sorted(settings_of(options, TUNING).items())), "task": task,
            "model": fingerprint(*model_files(options)), "data": fingerprint(*[f for f in files if f.is_file()]),
            "checkpoint": fingerprint(options.checkpoint) if options.checkpoint else None}


def run_cell(options: T5Options, task: str, metric: str, splits: dict, output_dir: Path,
             claim_folder: Callable[[], None] = lambda: None) -> CellResult:
    """Train and/or evaluate one grid cell; `claim_folder` takes the output folder's lock before the first write."""
    prefix = run_prefix(options.learning_rate, options.train_batch_size, options.seed)
    run_dir = output_dir / prefix
    set_seed(options.seed)
    model, _, tokenizer = model_provider(options)  # model, tokenizer and --checkpoint are checked before any write
    if options.checkpoint:
        load_into_model(model, options.checkpoint)
    claim_folder()
    if options.do_train:  # a run folder's checkpoints are resumed or reused only under the same settings
        claim_settings(run_dir / RUN_SETTINGS, tuning_settings(options, task), any(run_dir.glob("checkpoint*.pt")),
                       "checkpoints of a tuning run", "use another --output_dir or delete that run folder")
    done = (run_dir / "checkpoint-last.pt").is_file()
    logger = setup_logger(f"tune.{prefix}", run_dir / "log.txt", quiet=options.quiet)
    trainer = Trainer(options, model, tokenizer, task, metric, splits, run_dir, logger)
    row = {"prefix": task, "metric": metric, "lr": options.learning_rate, "bsz": options.train_batch_size,
           "dev_performance": "", "test_performance": "", "run": prefix}
    if options.do_train and done:
        logger.info(f"{run_dir}/checkpoint-last.pt exists: training skipped")
    elif options.do_train:
        summary = trainer.train()
        if summary["best_step"]:
            row["dev_performance"] = summary["best_dev"]
    if not (options.do_train or options.do_valid or options.do_predict):
        return CellResult(row)
    try:
        chosen = resolve_predict_checkpoint(run_dir, options.predict_checkpoint)
    except FileNotFoundError:
        if options.do_train or not options.checkpoint:
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
    return CellResult(row, [trainer.warnings[s] for s in ("dev", "test") if s in trainer.warnings])


def is_main_process() -> bool:
    """True in a single-process run and in the main process of a distributed one (the trainer set it up)."""
    from accelerate import PartialState

    return PartialState().is_main_process


def tune(options: T5Options, report=print) -> list[CellResult]:
    """Validate everything, then train/evaluate every grid cell into `<output_dir>/<prefix>/`, one row of
    `<output_dir>/result.csv` each; with adapters the best cell's checkpoint-best.pt is copied up.
    Returns the main process's results (none in the other processes)."""
    task = task_name(check_task_dir(options.task_dir))
    metric = metric_for_task(task, options.metric)
    splits = load_task_splits(options)
    check_t5_folder(options.model, "--model")
    load_t5_tokenizer(options.tokenizer_path)
    output_dir = Path(options.output_dir)  # made by the first file written into it, once the inputs were checked
    results, best = [], None
    with ExitStack() as held:  # the folder's lock, taken once the first cell's model and --checkpoint are checked
        claimed: list[bool] = []

        def claim_folder() -> None:
            if not claimed:
                held.enter_context(folder_lock(output_dir))
                claimed.append(True)

        for bsz in options.bsz_list or [options.train_batch_size]:
            for lr in options.learning_rate_list or [options.learning_rate]:
                cell = copy.copy(options)
                cell.learning_rate, cell.train_batch_size = lr, bsz
                result = run_cell(cell, task, metric, splits, output_dir, claim_folder)
                if not is_main_process():
                    continue  # with several processes, one writes the run's results
                row = result.row
                upsert_csv_row(output_dir / "result.csv", RESULT_FIELDS, "run", row)
                report(f"{row['run']}: dev {row['dev_performance']} test {row['test_performance']}")
                results.append(result)
                if isinstance(row["dev_performance"], float) and (best is None or row["dev_performance"] > best[0]):
                    best = (row["dev_performance"], output_dir / row["run"])
        if best is not None and options.tune_method == "adapter" and (best[1] / "checkpoint-best.pt").is_file():
            with atomic_target(output_dir / "checkpoint-best.pt") as tmp:
                shutil.copyfile(best[1] / "checkpoint-best.pt", tmp)
    return results


def path_setup(options: T5Options, task: str, splits: dict, out_dir: Path,
               endpoints: dict[str, dict[str, torch.Tensor]]) -> PathSetup:
    """Load the model, check that the endpoints fit it and encode the splits once (the log starts only then): the
    line/matrix job's data (module.path_jobs)."""
    metric = metric_for_task(task, options.metric)
    torch.manual_seed(options.seed)
    model, _, tokenizer = model_provider(options)
    check_endpoints_fit(model, endpoints)
    join()  # under torchrun: this process's share of the points, on its own device
    model.to(device()).eval()
    logger = setup_logger("interpolation", out_dir / "log.txt", quiet=options.quiet)
    data = {name: prepare_split(examples, tokenizer, task, options) for name, examples in splits.items()}
    where = {"label": ""}

    def line_settings(path1: str, path2: str) -> dict:
        return sweep_settings({**settings_of(options, SWEEP), "load_PET_path_1": path1, "load_PET_path_2": path2,
                               "task": task}, (path1, path2, *model_files(options)), sweep_data_files(options))

    return PathSetup(model, point_evaluator(model, data, tokenizer, options, metric, logger, lambda: where["label"]),
                     metric, task, options.itpl_points, line_settings,
                     {name: majority_fraction(split.answers, metric) for name, split in data.items()},
                     quiet=options.quiet, itp_on_train=options.itp_on_train,
                     on_point=lambda label: where.update(label=label), log=logger.info)


def interpolate(options: T5Options) -> SweepResult:
    """Evaluate θ(x) = (1 − x)·θ1 + x·θ2 at --itpl_points evenly spaced x into --output_dir (resumable); with
    --load_PET_path_list, every pair's line and the matrix (module.path_jobs.sweep_matrix)."""
    if options.load_PET_path_list:
        paths = list(options.load_PET_path_list)
        if options.load_PET_path_1 or options.load_PET_path_2:
            raise ValueError("--load_PET_path_list: give either the list or --load_PET_path_1/_2, not both")
        check_minima(paths, "--load_PET_path_list")
    elif options.plane_random:
        paths = [options.load_PET_path_1]
    else:
        paths = [options.load_PET_path_1, options.load_PET_path_2]
        if not all(paths):
            raise ValueError("--load_PET_path_1 and --load_PET_path_2 are required (the two endpoints)")
    task = task_name(check_task_dir(options.task_dir))
    splits = sweep_splits(options)
    bend = curve_bend(paths[2], paths[:2]) if options.plane_grid and not options.plane_random else None
    thetas = load_endpoints(paths[:2] if bend else paths, options)
    if bend:
        thetas.append(with_bend(bend, thetas[0]))
    out_dir = Path(options.output_dir)
    setup = path_setup(options, task, splits, out_dir, dict(zip(paths, thetas, strict=True)))
    if options.plane_random:
        records = sweep_geometry("random_plane", setup, paths, thetas, out_dir, grid=options.plane_grid,
                                 span=options.plane_span, seed=options.seed)
        return SweepResult(records, setup.metric, out_dir)
    if options.plane_grid:
        records = sweep_geometry("plane", setup, paths, thetas, out_dir, grid=options.plane_grid,
                                 margin=options.plane_margin, curve=bend is not None)
        return SweepResult(records, setup.metric, out_dir)
    if options.interpolate_tensors or options.layerwise:
        family = get_family("t5")
        records = sweep_geometry("layerwise", setup, paths, thetas, out_dir, pattern=options.interpolate_tensors,
                                 table=family.module_groups if options.layerwise == "modules" else family.layer_groups)
        return SweepResult(records, setup.metric, out_dir)
    if options.load_PET_path_list:
        sweep_matrix(setup, paths, thetas, out_dir)
        if options.merges:
            sweep_geometry("merges", setup, paths, thetas, out_dir, lambdas=options.merge_lambdas,
                           density=options.merge_density, seed=options.seed)
        out_dir = pair_folder(out_dir, 0, 1)
        return SweepResult(read_records(out_dir), setup.metric, out_dir)
    records = sweep_line(setup, tuple(paths), tuple(thetas), out_dir)
    if options.merges:
        sweep_geometry("merges", setup, paths, thetas, out_dir, lambdas=options.merge_lambdas,
                       density=options.merge_density, seed=options.seed)
    return SweepResult(records, setup.metric, out_dir)
