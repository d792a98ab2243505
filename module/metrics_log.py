"""A training run's log of metrics: `metrics.csv`, the same line in the run's log, and TensorBoard scalars."""

from __future__ import annotations

import csv
import logging
import re
import time
from pathlib import Path

from module.files import atomic_write_csv, read_csv

METRICS_CSV_FIELDS = ["step", "epoch", "kind", "loss", "performance", "lr", "seconds"]
TENSORBOARD_FOLDER = "tensorboard"  # the original's SummaryWriter(log_dir=args.output_dir + '/tensorboard')
TAG_INVALID = re.compile(r"[^-/\w.]")  # characters TensorBoard replaces in a tag


class MetricsLog:
    """`metrics.csv` (one row per logged train window or validation), the same line in the run's log, and TensorBoard
    scalars in `<run folder>/tensorboard` under the original's tags (`train/loss`, `train/lr`, `valid/loss`,
    `valid/<metric>`; a curve's per-t validations as `valid_t_<t>/...`)."""

    def __init__(self, path: Path, metric: str, logger: logging.Logger, tensorboard_dir: Path | None = None,
                 tensorboard: bool = True):
        self.path, self.metric, self.logger, self.start = Path(path), metric, logger, time.time()
        self.tensorboard = tensorboard  # False: metrics.csv and the log only (the Trainer has its own report_to)
        self.tensorboard_dir = Path(tensorboard_dir) if tensorboard_dir else self.path.parent / TENSORBOARD_FOLDER
        self.writer = None  # the SummaryWriter, opened by the first record
        self.purge_step: int | None = None  # set by resume_at: TensorBoard hides the old events from this step on

    def resume_at(self, step: int) -> None:
        """Drop the rows logged after `step` by a run that was killed later than its checkpoint (atomic), and have
        TensorBoard hide that run's events after `step` (the event files are append-only: `purge_step`)."""
        if self.path.exists():
            rows = [r for r in read_csv(self.path) if int(r["step"]) <= step]
            atomic_write_csv(self.path, METRICS_CSV_FIELDS, [[r[k] for k in METRICS_CSV_FIELDS] for r in rows])
        self.close()
        self.purge_step = step + 1  # the next event file starts with a SessionLog START at this step

    def record(self, step: int, epoch: int, kind: str, loss: float, performance: float | None, lr: float) -> None:
        """Append one row, log it and write its scalars."""
        new = not self.path.exists()
        with self.path.open("a", newline="") as handle:
            writer = csv.writer(handle)
            if new:
                writer.writerow(METRICS_CSV_FIELDS)
            writer.writerow([step, epoch, kind, f"{loss:.6f}", "" if performance is None else f"{performance:.6f}",
                             f"{lr:.3g}", f"{time.time() - self.start:.1f}"])
        perf = "" if performance is None else f" {self.metric}: {performance:.4f}"
        self.logger.info(f"{kind} | step {step} epoch {epoch} loss {loss:.5f}{perf} lr {lr:.3g}")
        self._scalars(step, kind, loss, performance, lr)

    def _scalars(self, step: int, kind: str, loss: float, performance: float | None, lr: float) -> None:
        """The original's `log_step`: `<kind>/loss`, `train/lr` and `<kind>/<metric>` at global step `step`."""
        if not self.tensorboard:
            return
        if self.writer is None:
            from torch.utils.tensorboard import SummaryWriter

            self.writer = SummaryWriter(log_dir=str(self.tensorboard_dir), purge_step=self.purge_step)
            self.purge_step = None
        prefix = TAG_INVALID.sub("_", kind)  # valid@t=0.5 -> valid_t_0.5 (what TensorBoard would make of it)
        self.writer.add_scalar(f"{prefix}/loss", loss, step)
        if kind == "train":
            self.writer.add_scalar(f"{prefix}/lr", lr, step)
        if performance is not None:
            self.writer.add_scalar(f"{prefix}/{TAG_INVALID.sub('_', self.metric)}", performance, step)
        self.writer.flush()

    def close(self) -> None:
        """Close the event file (a later record opens a new one)."""
        if self.writer is not None:
            self.writer.close()
            self.writer = None
