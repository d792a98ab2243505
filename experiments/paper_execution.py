"""Running a plan (experiments/paper_plan.py) through the jobs a user runs: each tuning run through its track's job
(encoder: run_glue.py's; T5: tune_singletask.py's), each path through the matching sweep job (encoder:
itp_pretrain_adapter.py, itp_task_boundary_finetune.py, curve_find_adapter.py; T5: task_interpolation.py,
curve_find.py), every config kept under `<out>/configs/` (the encoder's as JSON a user can rerun), finished runs and
points reused only under the same settings. Then what the findings read of the results: a path's per-example scores,
a run's training history and cartography, the tuned tensors of a checkpoint."""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from experiments.encoder_jobs import record_config, run_encoder, sweep_encoder
from experiments.paper_plan import End, PathPlan, Pretraining, Profile, Run
from experiments.paper_rules import Convergence, convergence
from module.checkpoint import load_endpoint
from module.files import atomic_write_text, read_json
from module.plotting import majority_fraction
from module.sweep import read_records
from RoBERTa_model.curve_job import find_adapter_curve
from RoBERTa_model.encoder import load_task_split, task_labels
from RoBERTa_model.jobs import interpolate_runs, interpolate_task_boundary, tuned_tensors

ADAPTER = {"delta_type": "adapter", "bottleneck_dim": 24,  # OpenDelta's adapter, as the paper's RoBERTa runs
           "unfrozen_modules": ["deltas", "layer_norm", "final_layer_norm", "classifier"]}
T5_ADAPTER_SIZE = 12  # the paper's Houlsby adapters
METRICS_FILE = "metrics.csv"  # a run's training history (both tracks)


@dataclass
class PathResult:
    """A swept path: its plan, folder, summary and per-point records."""

    plan: PathPlan
    folder: Path
    summary: dict
    records: list[dict]

    @property
    def xs(self) -> list[float]:
        """The evaluated x (t for a curve)."""
        return [r["x"] for r in self.records]

    def scores(self) -> np.ndarray:
        """(points, examples) per-example scores of the evaluated split."""
        return np.asarray([r["splits"][self.plan.split]["scores"] for r in self.records], dtype=np.float64)

    def accuracy(self) -> list[float]:
        """The evaluated split's accuracy (mean per-example score) at every point."""
        return [float(np.mean(r["splits"][self.plan.split]["scores"])) for r in self.records]


def own_run(path: PathPlan) -> Run:
    """The run of a path tuned on the task it is evaluated on (the first run when both or neither are): its training
    examples are the ones a path on the training split evaluates."""
    return next((e.run for e in path.ends if e.run.task == path.task), path.ends[0].run)


def gcd_of(steps: tuple[int, ...]) -> int:
    """The largest interval at which a run saves every one of `steps`."""
    return math.gcd(*steps)


def history(run_dir: Path) -> tuple[list[tuple[int, float]], list[tuple[int, float]]]:
    """A run's dev evaluations (step, accuracy) and logged training losses (step, loss) from its metrics.csv (empty
    when the run kept none)."""
    path = run_dir / METRICS_FILE
    dev, train = [], []
    if path.is_file():
        with path.open(newline="") as handle:
            for row in csv.DictReader(handle):
                if row["kind"] == "valid" and row["performance"]:
                    dev.append((int(row["step"]), float(row["performance"])))
                elif row["kind"] == "train":
                    train.append((int(row["step"]), float(row["loss"])))
    return dev, train


class Execution:
    """Runs a plan's runs and paths under `out`, on the data folders in `data`, and reads their results."""

    def __init__(self, profile: Profile, out: Path, data: Path, root: Path, quiet: bool = True):
        self.profile, self.out, self.data, self.root, self.quiet = profile, out, data, root, quiet
        self.folders: dict[str, Path] = {}  # run name -> its run folder (the T5 track's is one level down)
        self.results: dict[str, PathResult] = {}
        self._majority: dict[tuple, float] = {}

    # ---------------------------------------------------------------------------------------------- inputs
    def path_of(self, name: str) -> Path:
        """A folder or file named in a profile: absolute, or relative to the repository."""
        path = Path(name)
        return path if path.is_absolute() else self.root / path

    def task_dir(self, task: str) -> Path:
        """A task's folder; a missing one is an error naming how to make it."""
        folder = self.data / task
        if not (folder / f"{task}_train.tsv").is_file():
            raise FileNotFoundError(f"--data: {folder} holds no {task}_train.tsv (python utils/prepare_data.py "
                                    f"--tasks {task}, or --source hub for GLUE/ANLI where a hub is reachable)")
        return folder

    def check_inputs(self, runs: list[Run], paths: list[PathPlan], pretraining: Pretraining | None) -> None:
        """Every data folder and backbone the plan needs exists (checked before anything is written)."""
        for task in dict.fromkeys([r.task for r in runs] + [p.task for p in paths]):
            self.task_dir(task)
        backbones = {r.model for r in runs if not (pretraining and r.model.startswith(str(self.q2_folder())))}
        for model in backbones:
            if not (self.path_of(model) / "config.json").is_file():
                raise FileNotFoundError(f"backbone {self.path_of(model)} has no config.json (see "
                                        "pretrained_models/README.md)")

    def q2_folder(self) -> Path:
        """Where Q2's ckpt_<STEP>/ backbones are (made by `pretraining` when the profile pre-trains)."""
        return self.out / "pretraining" if not self.profile.q2_checkpoints else \
            self.path_of(self.profile.q2_checkpoints)

    def majority(self, path: PathPlan) -> float:
        """The accuracy of always answering the most frequent label of the examples `path` is evaluated on."""
        key = (path.task, path.split, own_run(path).train_examples if path.split == "train" else path.eval_examples)
        if key not in self._majority:
            examples = load_task_split(str(self.data), *key)
            self._majority[key] = majority_fraction([e.answers for e in examples], "ACC")
        return self._majority[key]

    # ---------------------------------------------------------------------------------------------- runs
    def tune(self, run: Run) -> Path:
        """One tuning run (reused when finished with the same settings); its run folder."""
        tune = self.tune_encoder if run.track == "encoder" else self.tune_t5
        self.folders[run.name] = tune(run)
        return self.folders[run.name]

    def checkpoint(self, end: End) -> Path:
        """The checkpoint of a run at a step: the encoder's `checkpoint-<step>/`, the T5 track's `checkpoint@<step>.pt`
        (a cartography run's `checkpoint-last.pt`: the original saves nothing else in that mode)."""
        folder = self.folders[end.run.name]
        if end.run.track == "encoder":
            return folder / f"checkpoint-{end.step}"
        return folder / ("checkpoint-last.pt" if end.run.cartography else f"checkpoint@{end.step}.pt")

    def convergence(self, end: End) -> Convergence:
        """This project's convergence rule at the endpoint's step, from its run's history."""
        dev, train = history(self.folders[end.run.name])
        return convergence(dev, train, end.step)

    def cartography(self, run: Run) -> Path:
        """The run's cartography.json (the T5 track writes it beside the run folder, as the original)."""
        folder = self.folders[run.name]
        return folder / "cartography.json" if run.track == "encoder" else folder.parent / "cartography.json"

    def tuned_tensors(self, end: End) -> dict:
        """The tensors the endpoint's run tuned (adapters, layer norms and head for encoder adapters; every tensor of
        full fine-tuning; the T5 checkpoint's own)."""
        path = self.checkpoint(end)
        if end.run.track == "encoder":
            labels = task_labels(end.run.task, load_task_split(str(self.data), end.run.task, "train"))
            delta = "none" if end.run.method == "finetune" else "adapter"
            return tuned_tensors(str(path), delta, ADAPTER["unfrozen_modules"], labels)
        return load_endpoint(path).tensors

    def source_length(self, model: str) -> int:
        """Input tokens an encoder run keeps: 128 (the paper's), or fewer when the backbone has fewer positions (a
        RoBERTa's first two positions are the padding offset)."""
        config = json.loads((self.path_of(model) / "config.json").read_text())
        offset = 2 if config.get("model_type") == "roberta" else 0
        return min(128, int(config.get("max_position_embeddings", 512)) - offset)

    def tune_encoder(self, run: Run) -> Path:
        every = gcd_of(run.saves)
        values = {"model_name_or_path": str(self.path_of(run.model)), "task_name": run.task,
                  "data_dir": str(self.data), "max_source_length": self.source_length(run.model),
                  "per_device_train_batch_size": 32,
                  "per_device_eval_batch_size": 128, "learning_rate": run.lr, "max_steps": run.steps,
                  "lr_scheduler_type": run.schedule, "warmup_steps": int(run.warmup * run.steps),
                  "evaluation_strategy": "steps" if run.evaluate_every else "no",
                  "save_strategy": "steps", "save_steps": every, "save_total_limit": run.steps // every,
                  "logging_steps": max(1, run.steps // 50), "seed": run.seed, "do_train": True, "do_eval": True,
                  "do_test": False, "report_to": "none", "disable_tqdm": self.quiet,
                  "max_eval_samples": self.profile.eval_examples,
                  **({"eval_steps": run.evaluate_every} if run.evaluate_every else {}),
                  **({"max_train_samples": run.train_examples} if run.train_examples else {}),
                  **({"delta_type": "none"} if run.method == "finetune" else ADAPTER),
                  **({"init_seed": run.init_seed} if run.init_seed is not None else {}),
                  **({"datasplit": run.datasplit} if run.datasplit else {}),
                  **({"cartography": True} if run.cartography else {}),
                  **({"train_sampling_strategy": "group_by_length"} if run.group_by_length else {})}
        print(f"[paper] tuning {run.name} ({run.steps} updates)")
        return run_encoder(self.out, run.name, values)

    def train_subset(self, task: str, examples: int) -> Path:
        """The first `examples` lines of a task's train file, as a file of their own (the T5 track reads a whole
        train file; --train_file points to this one)."""
        source = self.task_dir(task) / f"{task}_train.tsv"
        lines = source.read_text(encoding="utf-8").splitlines(keepends=True)[:examples]
        target = self.out / "subsets" / f"{task}_train_first{examples}.tsv"
        text = "".join(lines)
        if not target.is_file() or target.read_text(encoding="utf-8") != text:
            atomic_write_text(target, text)
        return target

    def t5_values(self, run: Run) -> dict:
        """The flags every T5 job of this run shares: task, backbone, method."""
        values = {"task_dir": str(self.task_dir(run.task)), "model": str(self.path_of(run.model)),
                  "tune_method": "model" if run.method == "finetune" else "adapter", "quiet": self.quiet,
                  "max_output_length": self.profile.max_output_length}
        if run.method == "adapter":
            values |= {"apply_adapter": True, "adapter_type": "houlsby", "adapter_size": T5_ADAPTER_SIZE}
        if run.train_examples:
            values["train_file"] = str(self.train_subset(run.task, run.train_examples))
        return values

    def tune_t5(self, run: Run) -> Path:
        from T5_model.jobs import run_prefix, tune
        from T5_model.options import options_for

        out = self.out / run.name
        values = {**self.t5_values(run), "output_dir": str(out), "do_train": True, "train_iters": run.steps,
                  "learning_rate": run.lr, "train_batch_size": 32, "seed": run.seed,
                  "valid_interval": run.evaluate_every or run.steps, "output_interval": gcd_of(run.saves),
                  "log_interval": max(1, run.steps // 50), "lr_decay_style": "constant",
                  "SGD_noise": run.init_seed is not None, "load_init_seed": run.init_seed or run.seed,
                  "datasplit": run.datasplit or "", "cartography": run.cartography}
        record_config(self.out, run.name, values)
        print(f"[paper] tuning {run.name} ({run.steps} updates, T5 track)")
        tune(options_for("tune", **values))
        return out / run_prefix(run.lr, 32, run.seed)

    # ---------------------------------------------------------------------------------------------- paths
    def sweep(self, path: PathPlan) -> PathResult:
        """Sweep one path (resumable; reused point by point under the same settings)."""
        if path.name not in self.results:
            sweep = self.sweep_encoder if path.ends[0].run.track == "encoder" else self.sweep_t5
            print(f"[paper] {path.kind} {path.name}: {path.ends[0].run.name}@{path.ends[0].step} -> "
                  f"{path.ends[1].run.name}@{path.ends[1].step}, {path.split} of {path.task}")
            folder = sweep(path)
            self.results[path.name] = PathResult(path, folder, read_json(folder / "summary.json"),
                                                 read_records(folder))
        return self.results[path.name]

    def sweep_encoder(self, path: PathPlan) -> Path:
        run = path.ends[0].run
        values = {"model_name_or_path": str(self.path_of(run.model)), "task_name": path.task,
                  "data_dir": str(self.data), "max_source_length": self.source_length(run.model),
                  "per_device_eval_batch_size": 128, "itpl_points": path.points,
                  "path1": str(self.checkpoint(path.ends[0])), "path2": str(self.checkpoint(path.ends[1])),
                  "seed": 20, "report_to": "none", "disable_tqdm": self.quiet, "do_test": path.split == "test",
                  **({"delta_type": "none"} if run.method == "finetune" else ADAPTER)}
        if path.split == "train":
            values |= {"itp_on_train": True, "max_train_samples": own_run(path).train_examples}
        elif path.eval_examples:
            values |= {"max_eval_samples": path.eval_examples, "max_test_samples": path.eval_examples}
        job: Callable = {"line": interpolate_runs, "boundary": interpolate_task_boundary,
                         "curve": find_adapter_curve}[path.kind]
        if path.kind == "curve":
            values |= {"bend_num": 1, "curve_steps": path.curve.steps, "curve_lr": path.curve.lr,
                       "per_device_train_batch_size": path.curve_batch,
                       **({"max_train_samples": run.train_examples} if run.train_examples else {})}
        sweep_encoder(self.out, path.name, values, job)
        return self.out / path.name

    def sweep_t5(self, path: PathPlan) -> Path:
        from T5_model.curve_job import find_curve
        from T5_model.jobs import interpolate
        from T5_model.options import options_for

        if path.kind == "boundary":
            raise ValueError(f"{path.name}: the T5 track evaluates another task's data with the same model "
                             "(kind 'line'); 'boundary' is the encoder's separate heads")
        run = path.ends[0].run
        values = {**self.t5_values(run), "task_dir": str(self.task_dir(path.task)), "output_dir":
                  str(self.out / path.name), "itpl_points": path.points, "load_PET_path_1": str(self.checkpoint(
                      path.ends[0])), "load_PET_path_2": str(self.checkpoint(path.ends[1])),
                  "do_valid": path.split == "dev", "do_predict": path.split == "test",
                  "itp_on_train": path.split == "train", "choose_dev_1000": path.eval_examples == 1000,
                  "choose_test_1000": path.eval_examples == 1000}
        values.pop("train_file", None)
        if path.split == "train" and own_run(path).train_examples:
            values["train_file"] = str(self.train_subset(path.task, own_run(path).train_examples))
        if path.kind == "curve":
            values |= {"bend_num": 1, "curve_type": "bezier", "train_iters": path.curve.steps,
                       "learning_rate": path.curve.lr, "train_batch_size": path.curve_batch}
            values.pop("choose_test_1000")
            record_config(self.out, f"sweep-{path.name}", values)
            find_curve(options_for("curve", **values))
        else:
            record_config(self.out, f"sweep-{path.name}", values)
            interpolate(options_for("interpolate", **values))
        return self.out / path.name

    def curve_losses(self, path: PathPlan) -> list[tuple[int, float]]:
        """A trained curve's logged training losses (update, loss), from its metrics.csv (both tracks train curves
        on the one curve trainer)."""
        return history(self.out / path.name)[1]
