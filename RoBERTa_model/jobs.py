"""The encoder track's jobs, called with an `EncoderConfig` (not argv) by the entry scripts and by experiments:
tune (run_glue.py), sweep between two runs of one backbone (itp_pretrain_adapter.py) and across a task boundary
(itp_task_boundary_finetune.py)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from dataloader.tasks import check_known_labels, data_half
from module.adapter import adapter_state
from module.cartography import CartographyCallback
from module.checkpoint import load_endpoint
from module.distributed import leave_at_exit
from module.families import get_family
from module.files import atomic_write_json, read_json
from module.geometries import sweep_geometry
from module.geometries.layerwise import check_pattern
from module.geometries.merges import check_merge_settings
from module.geometries.plane import curve_bend, with_bend
from module.identity import SWEEP
from module.interpolation import check_same_keys
from module.loading import load_tokenizer
from module.matrix import check_minima
from module.path_info import majority_fraction
from module.path_jobs import PathSetup, sweep_line, sweep_matrix
from module.runs import fingerprint
from module.sweep import sweep_settings
from module.trainer_runs import tuning_run
from RoBERTa_model.cartography import epoch_dynamics
from RoBERTa_model.config import ConfigError, EncoderConfig, config_identity
from RoBERTa_model.delta_trainer import DeltaTrainer
from RoBERTa_model.encoder import (
    DELTA_KEY,
    EncoderError,
    TaskDataset,
    build_classifier,
    check_delta_type,
    checkpoint_info,
    classifier_batches,
    collate,
    encode_task,
    evaluate_classifier,
    is_unfrozen,
    load_task_split,
    model_folders,
    set_encoder_trainable,
    task_data_files,
    task_labels,
    unmatched_entries,
)
from RoBERTa_model.metrics_callback import MetricsCallback
from RoBERTa_model.resume import training_settings
from RoBERTa_model.sweeps import classifier_evaluation


def accuracy(eval_prediction) -> dict[str, float]:
    """`compute_metrics` for the Trainer: accuracy of the arg-max class."""
    logits, labels = eval_prediction
    return {"accuracy": float((np.argmax(logits, axis=-1) == labels).mean())}


def init_seed(config: EncoderConfig) -> int:
    """The seed of the adapters' and the new head's initialisation: `init_seed`, or the run's `seed`."""
    return config.training.seed if config.delta.init_seed is None else config.delta.init_seed


def check_split_labels(data_args, labels: list[str], splits: dict[str, list]) -> None:
    """Every dev/test label must be a training label: one line naming the file, line and label."""
    for name, examples in splits.items():
        if name != "train":
            check_known_labels(examples, labels, task_data_files(data_args.data_dir, data_args.task_name, [name])[0])


def labelled_splits(data_args, do_predict: bool) -> tuple[list[str], dict[str, list]]:
    """The task's labels (from its training file) and its dev (and test) examples, their labels checked."""
    labels = task_labels(data_args.task_name, load_task_split(data_args.data_dir, data_args.task_name, "train"))
    splits = {"dev": load_task_split(data_args.data_dir, data_args.task_name, "dev", data_args.max_eval_samples)}
    if do_predict:
        splits["test"] = load_task_split(data_args.data_dir, data_args.task_name, "test", data_args.max_test_samples)
    check_split_labels(data_args, labels, splits)
    return labels, splits


def evaluation_inputs(data_args, training_args) -> dict:
    """What shapes the dev and test numbers a run reports besides its weights: per evaluated split, the file's
    content hash, the sample limit and the evaluation batch size."""
    limits = {}
    if training_args.do_eval or training_args.do_train:
        limits["dev"] = data_args.max_eval_samples
    if training_args.do_predict:
        limits["test"] = data_args.max_test_samples
    return {split: {"data": fingerprint(*task_data_files(data_args.data_dir, data_args.task_name, [split])),
                    "max_samples": limit, "batch_size": training_args.per_device_eval_batch_size}
            for split, limit in limits.items()}


def reevaluate(config: EncoderConfig, out: Path, results: dict, evaluation: dict) -> dict:
    """Evaluate a finished run's final model again on dev (and test) whose inputs changed since its results were
    written; the training's numbers are kept."""
    data_args, delta_args, training_args = config.data, config.delta, config.training
    print(f"[run_glue] {out} holds this run, finished, but its dev/test inputs changed (data file, sample limit or "
          "batch size): evaluating its final model again")
    labels, splits = labelled_splits(data_args, training_args.do_predict)
    tokenizer = encoder_tokenizer(config.model)
    model = build_classifier(str(out), labels, delta_args.delta_type, delta_args.bottleneck_dim,
                             task=data_args.task_name)
    encoded = {name: encode_task(examples, tokenizer, labels, data_args.max_source_length)
               for name, examples in splits.items()}
    kept = {k: v for k, v in results.items() if not k.startswith(("eval_", "test_")) and k != "evaluation"}
    evaluate_and_report(model, encoded, splits, training_args, tokenizer, {**kept, "evaluation": evaluation}, out)
    return read_json(out / "all_results.json")


def tune_encoder(config: EncoderConfig) -> dict:
    """Tune the encoder (adapters or fully) as the config says, resuming an interrupted run of the same settings
    and reusing a finished one; evaluates dev (and test) into `all_results.json`; returns those results."""
    model_args, data_args, training_args = config.model, config.data, config.training
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # transformers' own "writing model shards" bars at every save, not the Trainer's
    out = Path(training_args.output_dir)
    settings = training_settings(config.given, model_args, data_args,
                                 task_data_files(data_args.data_dir, data_args.task_name, ["train", "dev"]))
    evaluation = evaluation_inputs(data_args, training_args)
    return tuning_run(out, settings, evaluation, training_args.do_train, "run_glue",
                      lambda: encoder_trainer(config, out, evaluation),
                      lambda trained_before: reevaluate(config, out, trained_before, evaluation),
                      training_args.resume_from_checkpoint)


def encoder_trainer(config: EncoderConfig, out: Path, evaluation: dict):
    """(the run's Trainer, its first results, the step that evaluates dev and test into all_results.json)."""
    model_args, data_args, delta_args, training_args = config.model, config.data, config.delta, config.training
    from transformers import Trainer, set_seed

    set_seed(training_args.seed)
    leave_at_exit()  # under torchrun the Trainer's process group is taken down before the interpreter's teardown
    train = training_examples(data_args)
    labels, splits = labelled_splits(data_args, training_args.do_predict)
    tokenizer = encoder_tokenizer(model_args)
    model = build_classifier(model_args.model_name_or_path, labels, delta_args.delta_type, delta_args.bottleneck_dim,
                             delta_args.r_mean, delta_args.r_std, seed=init_seed(config), task=data_args.task_name)
    trained = set_encoder_trainable(model, delta_args.delta_type, delta_args.unfrozen_modules)
    idle = unmatched_entries([n for n, _ in model.named_parameters()], delta_args.unfrozen_modules)
    if delta_args.delta_type != "none" and idle:
        print(f"[run_glue] unfrozen_modules {idle} select no parameter of {type(model).__name__} "
              "(as with OpenDelta 0.2.4, which the paper used)")
    encoded = {name: encode_task(examples, tokenizer, labels, data_args.max_source_length)
               for name, examples in {"train": train, **splits}.items()}
    n_trained = sum(p.numel() for n, p in model.named_parameters() if n in set(trained))
    print(f"[run_glue] {data_args.task_name}: labels {labels}; {len(train)} train examples; "
          f"{delta_args.delta_type} tuning of {n_trained / 1e6:.2f}M of "
          f"{sum(p.numel() for p in model.parameters()) / 1e6:.2f}M parameters")
    common = {"model": model, "args": training_args, "train_dataset": TaskDataset(encoded["train"]),
              "eval_dataset": TaskDataset(encoded["dev"]), "compute_metrics": accuracy, "processing_class": tokenizer,
              "data_collator": lambda rows: collate(rows, tokenizer.pad_token_id)}
    common["callbacks"] = [MetricsCallback(out)]
    if data_args.cartography:
        batches = classifier_batches(encoded["train"], training_args.per_device_eval_batch_size,
                                     tokenizer.pad_token_id)
        common["callbacks"].append(CartographyCallback(lambda model: epoch_dynamics(model, batches, len(train)),
                                                       len(train), out))
    if delta_args.delta_type == "none":
        trainer = Trainer(**common)
    else:  # checkpoints hold the tensors that differ from the backbone: trained, adapters, newly initialised
        kept = sorted(set(trained) | set(adapter_state(model)) | set(getattr(model, "newly_initialized", [])))
        trainer = DeltaTrainer(**common, tuned=[n for n, _ in model.named_parameters() if n in set(kept)],
                               backbone=getattr(model.config, DELTA_KEY)["backbone"])
    results: dict = {"task": data_args.task_name, "labels": labels, "delta_type": delta_args.delta_type,
                     "trained_parameters": n_trained, "evaluation": evaluation}
    return trainer, results, lambda done: evaluate_and_report(model, encoded, splits, training_args, tokenizer,
                                                              done, out)


def evaluate_and_report(model, encoded: dict, splits: dict, training_args, tokenizer, results: dict,
                        out: Path) -> None:
    """Evaluate the tuned model on dev (and test) and write `all_results.json`."""
    for name, examples in splits.items():
        if name == "dev" and not (training_args.do_eval or training_args.do_train):
            continue
        metrics = evaluate_classifier(model, classifier_batches(encoded[name], training_args.per_device_eval_batch_size,
                                                          tokenizer.pad_token_id))
        prefix = "eval" if name == "dev" else "test"
        results[f"{prefix}_accuracy"], results[f"{prefix}_loss"] = metrics["performance"], metrics["loss"]
        print(f"[run_glue] {name}: accuracy {metrics['performance']:.4f} loss {metrics['loss']:.4f} "
              f"({len(examples)} examples)")
    atomic_write_json(out / "all_results.json", results)


def encoder_tokenizer(model_args):
    """The run's tokenizer: tokenizer_name's folder, or model_name_or_path's (each named as the config names it)."""
    if model_args.tokenizer_name:
        return load_tokenizer(model_args.tokenizer_name, "tokenizer_name")
    return load_tokenizer(model_args.model_name_or_path, "model_name_or_path")


def tuned_tensors(path: str, delta_type: str, unfrozen_modules: list[str], labels: list[str]) -> dict:
    """The tensors of a run_glue.py checkpoint that its run tuned (all of them for delta_type none)."""
    head, delta = checkpoint_info(path)
    saved = load_endpoint(path).tensors
    check_delta_type(path, delta.get("delta_type"), list(saved), delta_type)
    if head != labels:
        raise EncoderError(f"{path}: its head has labels {head}, the task has {labels}")
    tensors = {k: v for k, v in saved.items() if delta_type == "none" or is_unfrozen(k, unfrozen_modules)}
    if not tensors:
        raise EncoderError(f"{path}: no tensors match unfrozen_modules {unfrozen_modules}")
    return tensors


def line_inputs(config: EncoderConfig) -> tuple[list[str], object, torch.nn.Module, dict]:
    """The task's labels, the tokenizer, the classifier on the shared backbone and the encoded dev (and test)."""
    model_args, data_args, delta_args, training_args = config.model, config.data, config.delta, config.training
    labels = task_labels(data_args.task_name, load_task_split(data_args.data_dir, data_args.task_name, "train"))
    tokenizer = encoder_tokenizer(model_args)
    model = build_classifier(model_args.model_name_or_path, labels, delta_args.delta_type, delta_args.bottleneck_dim,
                             seed=training_args.seed, task=data_args.task_name)
    if config.interpolation is not None and config.interpolation.itp_on_train:
        splits = {"train": training_examples(data_args)}
    else:
        splits = {"dev": load_task_split(data_args.data_dir, data_args.task_name, "dev", data_args.max_eval_samples)}
        if training_args.do_predict:
            splits["test"] = load_task_split(data_args.data_dir, data_args.task_name, "test",
                                             data_args.max_test_samples)
    check_split_labels(data_args, labels, splits)
    encoded = {k: encode_task(v, tokenizer, labels, data_args.max_source_length) for k, v in splits.items()}
    return labels, tokenizer, model, encoded


def training_examples(data_args) -> list:
    """The examples a run trains on: the first max_train_samples of the train split, or one half of them."""
    examples = load_task_split(data_args.data_dir, data_args.task_name, "train", data_args.max_train_samples)
    return data_half(examples, data_args.datasplit, f"{data_args.data_dir}/{data_args.task_name}: too few train "
                                                    "examples for datasplit")


def line_settings(config: EncoderConfig, encoded: dict, path1: str, path2: str, letters: str = SWEEP,
                  script: str = "itp_pretrain_adapter", files: tuple = ()) -> dict:
    """The settings of the path from run `path1` to run `path2`: every config key that shapes a result of
    `letters` (as each key declares, RoBERTa_model/config.py) and content hashes of the endpoints, the backbone and
    tokenizer, `files` and the data files read."""
    data_args = config.data
    settings = {"script": script, "path1": path1, "path2": path2, "task": data_args.task_name,
                "splits": sorted(encoded), **config_identity(config, letters)}
    data_files = task_data_files(data_args.data_dir, data_args.task_name, ["train", *encoded])
    return sweep_settings(settings, (path1, path2, *model_folders(config.model), *files), data_files)


def encoder_path_setup(config: EncoderConfig, tokenizer, model: torch.nn.Module, encoded: dict,
                       settings, info: dict | None = None) -> PathSetup:
    """The line/matrix job's data (module.path_jobs): the classifier on this process's device, its evaluation on
    every encoded split, and what the files record."""
    training, itp = config.training, config.interpolation
    return PathSetup(model, classifier_evaluation(model, encoded, training.per_device_eval_batch_size,
                                                  tokenizer.pad_token_id),
                     "ACC", config.data.task_name, itp.itpl_points, settings,
                     {name: majority_fraction(enc.labels, "ACC") for name, enc in encoded.items()},
                     quiet=training.disable_tqdm, itp_on_train=itp.itp_on_train, info=info or {})


def interpolate_runs(config: EncoderConfig) -> list[dict]:
    """itp_pretrain_adapter.py: sweep the line between two runs tuned from one backbone (with `paths`: every pair
    of N runs and the matrix); returns the records (of the first pair)."""
    itp, delta = config.interpolation, config.delta
    if itp.plane_random and (itp.plane_grid is None or not itp.path1 or itp.path2 or itp.paths is not None):
        raise ConfigError(f"{config.source}: key 'plane_random': give path1 alone (the run the plane is drawn "
                          "around) and plane_grid")
    paths = [itp.path1, itp.path2] if itp.paths is None else list(itp.paths)
    if itp.plane_random:
        paths = [itp.path1]
    if itp.paths is not None:
        check_minima(paths, f"{config.source}: paths")
    if itp.plane_grid is not None and not itp.plane_random and len(itp.paths or []) != 3:
        raise ConfigError(f"{config.source}: key 'plane_grid': the plane goes through three runs, given as "
                          f"\"paths\": [A, B, C] (got {len(itp.paths or [])})")
    if itp.layerwise not in (None, "layers", "modules"):
        raise ConfigError(f"{config.source}: key 'layerwise' must be 'layers' or 'modules', got {itp.layerwise!r}")
    geometries = [k for k in ("plane_grid", "interpolate_tensors", "layerwise") if getattr(itp, k) is not None]
    if itp.merges and geometries:
        raise ConfigError(f"{config.source}: key 'merges': merges go beside a line or a matrix, not with "
                          f"{geometries[0]}")
    try:
        check_pattern(itp.interpolate_tensors, "interpolate_tensors")
        if itp.merges:
            check_merge_settings(itp.merge_lambdas, itp.merge_density)
    except ValueError as exc:
        raise ConfigError(f"{config.source}: key {exc}") from None
    if len(geometries) > 1 or (itp.paths is not None and geometries[:1] in (["interpolate_tensors"], ["layerwise"])):
        raise ConfigError(f"{config.source}: keys {geometries} (with paths {itp.paths is not None}): one geometry per "
                          "sweep; a layer-wise sweep joins path1 and path2")
    if itp.plane_grid is not None and (itp.plane_grid < 2 or not itp.plane_margin >= 0):
        raise ConfigError(f"{config.source}: keys 'plane_grid'/'plane_margin': expected a grid of at least 2 and a "
                          f"margin >= 0, got {itp.plane_grid} and {itp.plane_margin}")
    labels = task_labels(config.data.task_name, load_task_split(config.data.data_dir, config.data.task_name, "train"))
    bend = curve_bend(paths[2], paths[:2]) if len(paths) == 3 and itp.plane_grid is not None else None
    thetas = [tuned_tensors(p, delta.delta_type, delta.unfrozen_modules, labels)
              for p in (paths[:2] if bend else paths)]
    if bend:
        thetas.append(with_bend(bend, thetas[0]))
    for path, theta in zip(paths[1:], thetas[1:], strict=True):
        check_same_keys(thetas[0], theta, (paths[0], path))
    _, tokenizer, model, encoded = line_inputs(config)
    setup = encoder_path_setup(config, tokenizer, model, encoded,
                               lambda path1, path2: line_settings(config, encoded, path1, path2))
    if itp.plane_random:
        return sweep_geometry("random_plane", setup, paths, thetas, config.training.output_dir, grid=itp.plane_grid,
                              span=itp.plane_span, seed=config.training.seed)
    if itp.plane_grid is not None:
        return sweep_geometry("plane", setup, paths, thetas, config.training.output_dir, grid=itp.plane_grid,
                              margin=itp.plane_margin, curve=bend is not None)
    if itp.interpolate_tensors is not None or itp.layerwise is not None:
        family = get_family("encoder")
        return sweep_geometry("layerwise", setup, paths, thetas, config.training.output_dir,
                              pattern=itp.interpolate_tensors,
                              table=family.module_groups if itp.layerwise == "modules" else family.layer_groups)
    if itp.paths is not None:
        records = sweep_matrix(setup, paths, thetas, config.training.output_dir)
    else:
        records = sweep_line(setup, (paths[0], paths[1]), (thetas[0], thetas[1]), config.training.output_dir)
    if itp.merges:
        sweep_geometry("merges", setup, paths, thetas, config.training.output_dir, lambdas=itp.merge_lambdas,
                       density=itp.merge_density, seed=config.training.seed)
    return records


def head_keys(tensors: dict[str, torch.Tensor], num_labels: int) -> set[str]:
    """The classifier's output projection: `classifier.*` tensors whose first dimension is the label count."""
    keys = {k for k, v in tensors.items() if k.startswith("classifier.") and v.ndim >= 1 and v.shape[0] == num_labels}
    if not keys:
        raise EncoderError(f"no classifier output projection with {num_labels} rows among the checkpoint's tensors")
    return keys


def evaluated_endpoint(task: str, labels: list[str], paths: tuple[str, str]) -> int:
    """Which endpoint (0 or 1) was trained on the evaluated task: by its recorded task, else by its labels."""
    infos = [checkpoint_info(p) for p in paths]
    by_task = [i for i, (_, delta) in enumerate(infos) if delta.get("task") == task]
    by_labels = [i for i, (head, _) in enumerate(infos) if head == labels]
    chosen = by_task if len(by_task) == 1 else by_labels
    if len(chosen) != 1:
        raise EncoderError(f"cannot tell which of {paths[0]} and {paths[1]} was trained on {task!r} "
                           f"(labels {labels}; heads {[h for h, _ in infos]})")
    for path, (_, delta) in zip(paths, infos, strict=True):
        if delta.get("delta_type") not in (None, "none"):
            raise EncoderError(f"{path}: a {delta.get('delta_type')} checkpoint; this script interpolates full "
                               "fine-tuning (use itp_pretrain_adapter.py for adapters)")
    return chosen[0]


def interpolate_task_boundary(config: EncoderConfig) -> list[dict]:
    """itp_task_boundary_finetune.py: sweep between models tuned on two tasks, evaluated on `task_name` with the
    head of the endpoint tuned on it; returns the records."""
    model_args, data_args, training_args = config.model, config.data, config.training
    itp = config.interpolation
    if itp.itp_on_train:
        raise ConfigError(f"{config.source}: itp_on_train: only itp_pretrain_adapter.py sweeps the training data")
    task = data_args.task_name
    labels = task_labels(task, load_task_split(data_args.data_dir, task, "train"))
    paths = (itp.path1, itp.path2)
    own = evaluated_endpoint(task, labels, paths)
    tensors = [load_endpoint(p).tensors for p in paths]
    heads = [head_keys(t, len(checkpoint_info(p)[0])) for t, p in zip(tensors, paths, strict=True)]
    theta1, theta2 = ({k: v for k, v in t.items() if k not in heads[0] | heads[1]} for t in tensors)
    tokenizer = encoder_tokenizer(model_args)
    model = build_classifier(paths[own], labels, "none", seed=training_args.seed, task=task)
    splits = {"dev": load_task_split(data_args.data_dir, task, "dev", data_args.max_eval_samples)}
    if training_args.do_predict:
        splits["test"] = load_task_split(data_args.data_dir, task, "test", data_args.max_test_samples)
    encoded = {k: encode_task(v, tokenizer, labels, data_args.max_source_length) for k, v in splits.items()}
    settings = line_settings(config, encoded, *paths, script="itp_task_boundary_finetune") | {"head_from": paths[own]}
    tasks = [task if i == own else checkpoint_info(p)[1].get("task") or "other task" for i, p in enumerate(paths)]
    setup = encoder_path_setup(config, tokenizer, model, encoded, lambda path1, path2: settings,
                               {"start_task": tasks[0], "end_task": tasks[1]})
    records = sweep_line(setup, paths, (theta1, theta2), training_args.output_dir)
    print(f"head ({len(heads[own])} tensors) taken from {paths[own]}, trained on {task}")
    return records


