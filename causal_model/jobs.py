"""The causal family's jobs: the line between two endpoints of one base model (two peft LoRA adapter folders, or
two fully fine-tuned models), evaluated by rank classification on a task folder's dev (and test) split."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from causal_model.evaluation import evaluated_splits, task_evaluation
from causal_model.generation import FREE_FORM_METRICS, is_free_form
from causal_model.model import load_causal, load_causal_tokenizer
from causal_model.scoring import DEFAULT_TEMPLATE, TEMPLATES
from dataloader.metrics import metric_for_task
from dataloader.tasks import check_task_dir, split_path, task_name
from module.checkpoint import load_endpoint
from module.distributed import device, join
from module.families import get_family
from module.geometries import sweep_geometry
from module.geometries.layerwise import check_pattern
from module.geometries.merges import check_merge_settings
from module.geometries.plane import curve_bend, with_bend
from module.identity import SWEEP, option, shaping
from module.lora import CONFIG_FILE, LORA_PATHS, lora_path_model
from module.matrix import check_minima
from module.path_info import majority_fraction
from module.path_jobs import PathSetup, sweep_line, sweep_matrix
from module.sweep import SharedEvaluation, sweep_settings


@dataclass
class CausalLineArguments:
    """causal_model/interpolate.py: the path between tuned endpoints of one causal LM (each field says which results
    it shapes: s a sweep's points, c a trained curve; module/identity.py)."""

    model: str = option(help="local folder of the base causal LM the endpoints were tuned from", shapes="sc")
    task_dir: str = option(help="task folder data/<task>/ holding <task>_{train,dev,test}.tsv", shapes="sc")
    output_dir: str = option(help="folder receiving the results (a rerun continues there)")
    path1: str | None = option(None, "first endpoint (x = 0): a peft LoRA folder or a fine-tuned model folder")
    path2: str | None = option(None, "second endpoint (x = 1), of the same kind")
    paths: list[str] | None = option(None, "N >= 2 endpoints instead of --path1/--path2: every pair's path into "
                                     "output_dir/pair_<i>_<j>/, then matrix.csv and matrix.png", nargs="+")
    lora_path: str = option("delta", "LoRA endpoints: delta (the straight line W0 + (1-x)dW1 + x dW2) or factors (A "
                            "and B interpolated separately, equal ranks: a curve in the weights)", "sc",
                            choices=list(LORA_PATHS))
    plane_grid: int | None = option(None, "with --paths A B C: the plane through the three endpoints on a G x G grid "
                                    "(plane.csv, summary.json, plane.png) instead of the matrix", "s")
    plane_margin: float = option(0.2, "how far the plane's grid reaches beyond the endpoints, as a fraction of their "
                                 "extent", "s")
    plane_random: bool = option(False, "with --path1 alone and --plane_grid G: the loss landscape around it, two "
                                "random filter-wise normalised directions (Li et al. 2018)", "s")
    plane_span: float = option(1.0, "the random plane's α and β run over [-span, span]", "s")
    seed: int = option(42, "draws the random plane's directions", "s")
    interpolate_tensors: str | None = option(None, "interpolate only the tensors whose names match this regular "
                                             "expression (LoRA: the path adapter's), every other at --path1", "s")
    layerwise: str | None = option(None, "one line per group of tensors, every other at --path1: 'layers' or "
                                   "'modules'; layerwise.csv and layerwise.png", "s", choices=["layers", "modules"])
    merges: bool = option(False, "after the line, merges of the two endpoints (task arithmetic, TIES, DARE, SLERP; "
                          "LoRA: of their updates, lora_path delta) beside its endpoints and best point, into "
                          "output_dir/merges/")
    merge_lambdas: list[float] = option([0.5, 1.0], "task arithmetic's λ grid", nargs="+")
    merge_density: float = option(0.5, "fraction of each task vector TIES and DARE keep")
    itpl_points: int = option(26, "evenly spaced points, both endpoints included (a rerun with more reuses the "
                              "points both grids share)")
    max_eval_samples: int | None = option(None, "first N dev (and test) examples", "sc")
    do_predict: bool = option(False, "evaluate the test split too", "s")
    itp_on_train: bool = option(False, "evaluate the training examples (the first --max_train_samples) instead of "
                                "dev/test, to join with tune.py --cartography's cartography.json "
                                "(utils/process_cartography.py)", "s")
    max_train_samples: int | None = option(None, "first N training examples (the tuning run's)", "sc")
    per_device_eval_batch_size: int = option(16, "examples per batch (all their labels)", "s")
    metric: str | None = option(None, "the task's metric (None: its own in dataloader/metrics.py, else ACC); EM, "
                                "QA-F1 or Rouge-L make it a free-form task: answers generated greedily", "sc")
    max_new_tokens: int = option(32, "free-form tasks: tokens generated at most per answer", "sc")
    bf16: bool = option(False, "hold the model in bfloat16 (GPUs; scores stay float32)", "sc")
    quiet: bool = option(False, "no progress bar")


def check_counts(counts: dict[str, tuple[int | None, int]]) -> None:
    """Each flag's value (None: not given) must be at least its minimum; else one error naming the flag."""
    for flag, (value, least) in counts.items():
        if value is not None and value < least:
            raise ValueError(f"{flag} must be at least {least}, got {value}")


def is_lora_folder(path: str | Path) -> bool:
    """True for a peft adapter folder."""
    return (Path(path) / CONFIG_FILE).is_file()


def endpoint_paths(args: CausalLineArguments) -> list[str]:
    """The endpoints: --path1/--path2, or the N of --paths (a matrix); each must exist, all of one kind."""
    if args.paths is not None:
        if args.path1 or args.path2:
            raise ValueError("--paths: give either the list or --path1/--path2, not both")
        check_minima(args.paths, "--paths")
        paths = list(args.paths)
    elif args.plane_random:
        if not args.path1 or args.path2 or args.plane_grid is None:
            raise ValueError("--plane_random: give --path1 alone (the endpoint the plane is drawn around) and "
                             "--plane_grid G")
        paths = [args.path1]
    else:
        paths = [args.path1, args.path2]
        if not all(paths):
            raise ValueError("--path1 and --path2 are required (the two endpoints), or --paths with N of them")
    for path in paths:
        if not Path(path).exists():
            raise FileNotFoundError(f"{path}: endpoint not found")
    folders = [p for p in paths if not str(p).endswith(".pt")]  # a .pt file: a checkpoint or a curve's bend
    lora = [is_lora_folder(p) for p in folders]
    if len(set(lora)) > 1:
        raise ValueError(f"{folders[lora.index(False)]}: a model, while {folders[lora.index(True)]} is a LoRA "
                         "adapter; all endpoints must be of one kind")
    return paths


@dataclass
class CausalPaths:
    """A causal path job's inputs, read and checked: the task, its labels (none for a free-form task) and evaluated
    splits, the tokenizer, the model holding the tensors a path moves (on this process's device) and each endpoint
    as those tensors."""

    task_dir: Path
    task: str
    labels: list[str]
    splits: dict
    tokenizer: object
    model: torch.nn.Module
    thetas: list[dict[str, torch.Tensor]]
    kind: str  # "line" (full weights) | "lora_delta" | "lora_factors"
    metric: str  # ACC (rank classification) or a free-form task's metric
    max_new_tokens: int = 32

    @property
    def lora(self) -> bool:
        """Whether the endpoints are LoRA adapters (the path moves the path adapter's factors)."""
        return self.kind != "line"

    @property
    def free_form(self) -> bool:
        """Whether answers are generated (else ranked among the labels)."""
        return self.metric in FREE_FORM_METRICS

    def evaluation(self, batch_size: int, splits: dict | None = None) -> SharedEvaluation:
        """The evaluation of the splits (default: the evaluated ones) at the model's current point."""
        splits = self.splits if splits is None else splits
        return task_evaluation(self.model, self.tokenizer, self.task, self.labels, self.metric, splits, batch_size,
                               self.max_new_tokens, {name: str(split_path(self.task_dir, name)) for name in splits})


def scoring_metric(task: str, given: str | None) -> str:
    """The metric a sweep reports: a free-form task's (generation), else ACC (rank classification)."""
    if is_free_form(task, given):
        return given or metric_for_task(task)
    if given not in (None, "ACC"):
        raise ValueError(f"--metric {given}: rank classification reports accuracy (ACC); the free-form metrics, "
                         f"answered by generation, are {', '.join(FREE_FORM_METRICS)}")
    return "ACC"


def load_paths(args: CausalLineArguments, paths: list[str]) -> CausalPaths:
    """Read the task and the model, and the endpoints as tensors of it (LoRA: of the path adapter `lora_path`)."""
    task_dir = check_task_dir(args.task_dir)
    metric = scoring_metric(task_name(task_dir), args.metric)
    labels, splits, _ = evaluated_splits(task_dir, args.do_predict, args.max_eval_samples, args.itp_on_train,
                                         args.max_train_samples, classify=metric not in FREE_FORM_METRICS)
    tokenizer = load_causal_tokenizer(args.model)
    base = load_causal(args.model, dtype=torch.bfloat16 if args.bf16 else torch.float32)
    if is_lora_folder(paths[0]):
        path = lora_path_model(base, paths, args.lora_path)
        model, thetas, kind = path.model, path.thetas, f"lora_{args.lora_path}"
    else:
        thetas = [load_endpoint(p).tensors for p in paths]
        model, kind = base, "line"
    join()  # under torchrun: this process's share of the points, on its own device
    model.to(device())
    return CausalPaths(task_dir, task_name(task_dir), labels, splits, tokenizer, model, thetas, kind, metric,
                       args.max_new_tokens)


def causal_path_setup(args: CausalLineArguments, inputs: CausalPaths, script: str, letters: str = SWEEP,
                      files: tuple = ()) -> PathSetup:
    """The line/matrix/curve sweep's data (module.path_jobs): the evaluation of every split and the settings of a
    path (the options that shape `letters`, the task's labels and prompt, content hashes of the endpoints, the
    model, `files` and the data)."""
    names = list(inputs.splits)

    def settings(path1: str, path2: str) -> dict:
        return sweep_settings({"script": script, **shaping(args, letters), "task": inputs.task,
                               "labels": inputs.labels, "splits": names, "path_kind": inputs.kind,
                               "template": TEMPLATES.get(inputs.task, DEFAULT_TEMPLATE)},
                              (path1, path2, args.model, *files),
                              [split_path(inputs.task_dir, name) for name in ["train", *names]])

    return PathSetup(inputs.model, inputs.evaluation(args.per_device_eval_batch_size), inputs.metric, inputs.task,
                     args.itpl_points, settings,
                     {name: majority_fraction([e.answers for e in examples], inputs.metric)
                      for name, examples in inputs.splits.items()},
                     quiet=args.quiet, itp_on_train=args.itp_on_train, info={"kind": inputs.kind},
                     extra_summary={"lora_path": args.lora_path} if inputs.lora else None)


def interpolate_causal(args: CausalLineArguments) -> list[dict]:
    """Sweep the line (or, for `lora_path factors`, the factors' path) into `output_dir`, or with --paths every
    pair's and the matrix (module.path_jobs); returns the records (of the first pair)."""
    check_counts({"--itpl_points": (args.itpl_points, 2), "--max_eval_samples": (args.max_eval_samples, 1),
                  "--per_device_eval_batch_size": (args.per_device_eval_batch_size, 1),
                  "--max_train_samples": (args.max_train_samples, 1)})
    paths = endpoint_paths(args)
    check_counts({"--plane_grid": (args.plane_grid, 2)})
    if not args.plane_margin >= 0:
        raise ValueError(f"--plane_margin must be at least 0, got {args.plane_margin}")
    geometries = [f for f, v in (("--plane_grid", args.plane_grid), ("--interpolate_tensors",
                                                                     args.interpolate_tensors),
                                 ("--layerwise", args.layerwise)) if v is not None]
    if args.merges and geometries:
        raise ValueError(f"--merges: merges go beside a line or a matrix, not with {geometries[0]}")
    if args.merges:
        check_merge_settings(args.merge_lambdas, args.merge_density, ("--merge_lambdas", "--merge_density"))
    check_pattern(args.interpolate_tensors)
    if args.merges and args.lora_path == "factors":
        raise ValueError("--merges: merges of LoRA updates need lora_path delta (the factors' path has no shared "
                         "zero update to take task vectors from)")
    if len(geometries) > 1 or (args.paths is not None and geometries[:1] in (["--interpolate_tensors"],
                                                                             ["--layerwise"])):
        raise ValueError(f"{' and '.join(geometries)}: one geometry per sweep; a layer-wise sweep joins --path1 and "
                         "--path2")
    if args.plane_grid is not None and not args.plane_random and len(args.paths or []) != 3:
        raise ValueError(f"--plane_grid: the plane goes through three endpoints, given as --paths A B C "
                         f"(got {len(args.paths or [])})")
    bend = curve_bend(args.paths[2], args.paths[:2]) if args.plane_grid is not None and args.paths else None
    inputs = load_paths(args, paths[:2] if bend else paths)
    if bend:  # C is the bend of a curve between A and B, in the same tensors (the pair's path adapter)
        inputs.thetas.append(with_bend(bend, inputs.thetas[0]))
    setup = causal_path_setup(args, inputs, "causal_interpolate")
    if args.plane_random:
        return sweep_geometry("random_plane", setup, paths, inputs.thetas, args.output_dir, grid=args.plane_grid,
                              span=args.plane_span, seed=args.seed)
    if args.plane_grid is not None:
        return sweep_geometry("plane", setup, paths, inputs.thetas, args.output_dir, grid=args.plane_grid,
                              margin=args.plane_margin, curve=bend is not None)
    if args.interpolate_tensors is not None or args.layerwise is not None:
        family = get_family("causal")
        return sweep_geometry("layerwise", setup, paths, inputs.thetas, args.output_dir,
                              pattern=args.interpolate_tensors,
                              table=family.module_groups if args.layerwise == "modules" else family.layer_groups)
    if args.paths is not None:
        records = sweep_matrix(setup, paths, inputs.thetas, args.output_dir)
    else:
        records = sweep_line(setup, (paths[0], paths[1]), (inputs.thetas[0], inputs.thetas[1]), args.output_dir)
    if args.merges:  # LoRA delta: the base is the zero update (B = 0 in every endpoint's slot)
        base = {k: torch.zeros_like(v) if ".lora_B." in k else v for k, v in inputs.thetas[0].items()} \
            if inputs.lora else None
        sweep_geometry("merges", setup, paths, inputs.thetas, args.output_dir, base=base,
                       lambdas=args.merge_lambdas, density=args.merge_density)
    return records
