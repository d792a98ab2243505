"""The life of a tuning run on the Hugging Face `Trainer`, for every family that tunes with it (encoders, causal
LMs): its `checkpoint-<step>/` folders, which are complete, reuse of a finished run, re-evaluation when only the
evaluated inputs changed, resume of an interrupted one, and `all_results.json`.

A run folder holds `run_settings.json` (what shaped its weights), the Trainer's checkpoints, the final model (a
Hugging Face folder, or a peft adapter folder) and `all_results.json` (training numbers, then each evaluated
split's numbers with the inputs that shaped them under "evaluation").
"""

from __future__ import annotations

import re
import shutil
import time
from collections.abc import Callable
from pathlib import Path

from module.files import folder_lock, read_json
from module.loading import WEIGHT_FILES
from module.runs import RESULTS_VERSION, RUN_SETTINGS, claim_settings, read_settings

CHECKPOINT = re.compile(r"^checkpoint-(\d+)$")
STATE_FILE = "trainer_state.json"  # the Trainer writes it last: a folder holding it and weights is complete
ADAPTER_WEIGHTS = ("adapter_model.safetensors", "adapter_model.bin")  # a peft model's saved weights
RESULTS_FILE = "all_results.json"
# what the Hugging Face Trainer's own arguments shape (module/identity.py letters: t a tuning run's weights, s a
# sweep's points, c a trained curve), for the families that tune on the Trainer; a key not listed shapes a tuning
# run (a new Trainer argument can only make a reuse check stricter, never let a stale number through)
TRAINER_SHAPES = {"seed": "tsc", "per_device_train_batch_size": "tc", "output_dir": "", "overwrite_output_dir": "",
                  "disable_tqdm": "", "report_to": "", "logging_dir": "", "logging_steps": "", "logging_strategy": "",
                  "logging_first_step": "", "save_steps": "", "save_total_limit": "", "save_strategy": "",
                  "resume_from_checkpoint": "", "do_predict": "", "per_device_eval_batch_size": "",
                  "dataloader_num_workers": ""}


def trainer_key_shapes(key: str) -> str:
    """What a Trainer argument shapes (`TRAINER_SHAPES`; any other: a tuning run)."""
    return TRAINER_SHAPES.get(key, "t")


def _has_weights(folder: Path) -> bool:
    return any((folder / name).is_file() for name in (*WEIGHT_FILES, *ADAPTER_WEIGHTS))


def checkpoint_folders(out: str | Path) -> list[tuple[int, Path]]:
    """(step, folder) of every `checkpoint-<step>` folder in `out`, by step."""
    out = Path(out)
    found = [(int(m.group(1)), p) for p in out.iterdir() if p.is_dir() and (m := CHECKPOINT.match(p.name))] \
        if out.is_dir() else []
    return sorted(found)


def is_complete(folder: Path) -> bool:
    """True when the Trainer finished writing the checkpoint folder (weights and its state, written last)."""
    return (folder / STATE_FILE).is_file() and _has_weights(folder)


def latest_complete_checkpoint(out: str | Path) -> Path | None:
    """The complete checkpoint folder of the highest step, or None."""
    complete = [p for _, p in checkpoint_folders(out) if is_complete(p)]
    return complete[-1] if complete else None


def resumed_step(folder: str | Path) -> int:
    """The update count a checkpoint folder was saved at (its trainer state's global_step)."""
    return int(read_json(Path(folder) / STATE_FILE).get("global_step", 0))


def remove_incomplete_checkpoints(out: str | Path) -> list[Path]:
    """Delete the checkpoint folders a kill or a full disk left half-written (no weights or no trainer state)."""
    removed = [p for _, p in checkpoint_folders(out) if not is_complete(p)]
    for folder in removed:
        shutil.rmtree(folder, ignore_errors=True)
    return removed


def has_training_results(out: str | Path) -> bool:
    """True when `out` holds checkpoints or a final model of a training run."""
    return bool(checkpoint_folders(out)) or _has_weights(Path(out))


def finished_training(out: Path, settings: dict) -> dict | None:
    """The stored results of a finished training run in `out` made with these settings, or None (read only)."""
    path = out / RESULTS_FILE
    if not path.is_file() or not _has_weights(out):
        return None
    if read_settings(out / RUN_SETTINGS) != {**settings, "results_version": RESULTS_VERSION}:
        return None
    results = read_json(path)
    return results if "global_step" in results else None


def finished_results(out: Path, settings: dict, evaluation: dict) -> dict | None:
    """The stored results of a finished run in `out` made with these settings, when every split this run
    evaluates was evaluated on the same inputs (`evaluation`: per split, what shaped its numbers); else None."""
    results = finished_training(out, settings)
    if results is None:
        return None
    stored = results.get("evaluation") or {}
    return results if all(stored.get(split) == inputs for split, inputs in evaluation.items()) else None


def train_and_save(trainer, out: Path, resume_from: str | None, label: str) -> dict:
    """Train (resuming from `resume_from`, else from the latest complete checkpoint of `out`), save the final
    model and tokenizer into `out`; returns the training's numbers for all_results.json."""
    for folder in remove_incomplete_checkpoints(out):
        print(f"[{label}] removed {folder}: a checkpoint left half-written (no weights or trainer state)")
    resume = resume_from or latest_complete_checkpoint(out)
    if resume:
        print(f"[{label}] resuming from {resume}")
    start = time.time()
    try:
        train_result = trainer.train(resume_from_checkpoint=str(resume) if resume else None)
        trainer.save_model(str(out))
        if trainer.processing_class is not None:
            trainer.processing_class.save_pretrained(str(out))
    except OSError as exc:  # a full disk mid-save: the checkpoint being written is not left behind
        remove_incomplete_checkpoints(out)
        latest = latest_complete_checkpoint(out)
        raise OSError(f"{getattr(exc, 'filename', None) or out}: cannot write ({exc.strerror or exc}); "
                      f"the latest complete checkpoint is {latest or 'none'}") from None
    results = {"train_seconds": round(time.time() - start, 1), "global_step": train_result.global_step}
    if not resume:
        results["train_loss"] = train_result.training_loss
    else:  # the Trainer's mean covers only the updates made after the resume
        results["resumed_from"] = str(resume)
        if train_result.global_step > resumed_step(resume):
            results["train_loss_after_resume"] = train_result.training_loss
    return results


def tuning_run(out: Path, settings: dict, evaluation: dict, do_train: bool, label: str,
               prepare: Callable[[], tuple[object, dict, Callable[[dict], None]]],
               reevaluate: Callable[[dict], dict], resume_from: str | None = None) -> dict:
    """One run into `out`: a finished run of these settings is reused (re-evaluated when only its evaluated inputs
    changed), otherwise `prepare()` gives (trainer, first results, finish) and the run trains (resuming) under the
    folder's lock; `finish(results)` evaluates and writes all_results.json. Returns the results."""
    finished = finished_results(out, settings, evaluation) if do_train else None
    if finished is not None:
        print(f"[{label}] {out} holds this run, finished: reusing its {RESULTS_FILE}")
        return finished
    if do_train and (trained_before := finished_training(out, settings)) is not None:
        with folder_lock(out):
            return reevaluate(trained_before)
    trainer, results, finish = prepare()
    with folder_lock(out):
        if do_train:
            claim_settings(out / RUN_SETTINGS, settings, has_training_results(out), "a training run",
                           "use another output_dir or delete that folder")
            finished = finished_results(out, settings, evaluation)  # finished meanwhile by another process
            if finished is not None:
                return finished
            if (trained_before := finished_training(out, settings)) is not None:
                return reevaluate(trained_before)
            results |= train_and_save(trainer, out, resume_from, label)
        finish(results)
    return results
