"""The encoder track's training log in the T5 track's format: every loss the Trainer logs and every dev evaluation
(`evaluation_strategy: steps`) as a row of `<output_dir>/metrics.csv` (module.metrics_log), which is what the
reproduction report reads to tell whether a run has converged."""

from __future__ import annotations

import logging
from pathlib import Path

from transformers import TrainerCallback

from module.metrics_log import MetricsLog

METRICS_FILE = "metrics.csv"


class MetricsCallback(TrainerCallback):
    """Writes the Trainer's logs to metrics.csv: a `train` row per logged training loss, a `valid` row per dev
    evaluation; a resumed run first drops the rows logged after its checkpoint."""

    def __init__(self, out_dir: str | Path):
        logger = logging.getLogger("run_glue.metrics")  # rows go to the file only: the Trainer prints its own logs
        logger.addHandler(logging.NullHandler())
        logger.propagate = False
        self.log = MetricsLog(Path(out_dir) / METRICS_FILE, "ACC", logger, tensorboard=False)

    def on_train_begin(self, args, state, control, **kwargs):
        if state.is_world_process_zero:
            self.log.resume_at(state.global_step)

    def on_log(self, args, state, control, logs=None, **kwargs):
        if not state.is_world_process_zero or not logs:
            return
        epoch = int(state.epoch or 0)
        if "loss" in logs:
            self.log.record(state.global_step, epoch, "train", float(logs["loss"]), None,
                            float(logs.get("learning_rate", 0.0)))
        if "eval_accuracy" in logs:
            self.log.record(state.global_step, epoch, "valid", float(logs["eval_loss"]), float(logs["eval_accuracy"]),
                            0.0)
