"""What a sweep figure shows, as the calling script describes it: endpoint names, path kind, majority class.

`PathInfo` says which two endpoints a path joins, what kind of path it is (straight line, Bezier / PolyChain
curve with its bends, task boundary) and which majority-class line to draw; `endpoint_names` derives short
endpoint names from two checkpoint paths and `majority_fraction` the score of always answering the most frequent
label. No matplotlib here (`module.plotting` draws).
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["PATH_KINDS", "PathInfo", "endpoint_names", "majority_fraction"]

PATH_KINDS = {"line": "straight line", "bezier": "Bezier curve", "polychain": "PolyChain curve", "path": "path",
              "lora_delta": "straight line of the LoRA updates (lora_path delta)",
              "lora_factors": "LoRA factors A, B interpolated (lora_path factors: a curve in the weights)"}
LINES = ("line", "lora_delta")  # the kinds that are the straight line between the two endpoints' weights
ACCURACY_METRICS = {"acc", "accuracy", "em", "exact_match"}
MAX_CLASSES = 20  # more distinct answers than this: not a classification task (no majority line)


def short_name(name: str, limit: int = 36) -> str:
    """`name`, or its last `limit` characters after an ellipsis when longer."""
    return name if len(name) <= limit else "…" + name[-(limit - 1):]


_SEED = re.compile(r"seed[_-]?(\d+)", re.IGNORECASE)


def endpoint_names(path1: str | Path, path2: str | Path) -> tuple[str, str]:
    """Short names telling two endpoint paths apart: `seed 20` / `seed 30` when they differ only in the seed,
    else the path components where they differ (`lr_0.001_seed_20` / `lr_0.0005_seed_20`), shortened."""
    a, b = Path(path1).parts, Path(path2).parts
    if a == b:
        return short_name(str(path1)), short_name(str(path2))
    n = min(len(a), len(b))
    i = 0
    while i < n - 1 and a[i] == b[i]:
        i += 1
    j = 0
    while j < n - i - 1 and a[-1 - j] == b[-1 - j]:
        j += 1
    da, db = "/".join(a[i:len(a) - j]), "/".join(b[i:len(b) - j])
    seeds_a, seeds_b = set(_SEED.findall(da)), set(_SEED.findall(db))
    if len(seeds_a) == 1 and len(seeds_b) == 1:
        sa, sb = seeds_a.pop(), seeds_b.pop()
        if _without_seed(da, sa) == _without_seed(db, sb):
            return f"seed {sa}", f"seed {sb}"
    return short_name(da), short_name(db)


def _without_seed(text: str, seed: str) -> str:
    """`text` with its seed (`seed_20`, `seed20`, or the bare number `20` as a whole component) blanked out."""
    return re.sub(rf"(?<![\w.]){seed}(?![\w.])", "#", _SEED.sub("seed#", text))


@dataclass(frozen=True)
class PathInfo:
    """What a sweep figure shows, given by the calling script.

    start / end: names of the endpoints θ(0) and θ(1) (`PathInfo.from_paths` derives them from two paths);
    kind: "line" (straight line), "bezier" or "polychain" (a curve with `bends` bends), or "path" (unknown);
    start_task / end_task: the task each endpoint was trained on, for a task-boundary path (the sweep's prefix
    is the task evaluated); majority: {split: majority-class fraction} for classification tasks (None values
    are skipped; see `majority_fraction`); x_label: overrides the x axis label; line_result: for a curve, the
    result.csv (or its folder) of the straight-line sweep between the same endpoints, overlaid on the figure
    (otherwise `<curve folder>/line/result.csv` is used when present).
    """

    start: str = "θ1"
    end: str = "θ2"
    kind: str = "line"
    bends: int | None = None
    start_task: str | None = None
    end_task: str | None = None
    majority: Mapping[str, float | None] | None = None
    x_label: str | None = None
    line_result: str | Path | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        if self.kind not in PATH_KINDS:
            raise ValueError(f"PathInfo.kind must be one of {sorted(PATH_KINDS)}, got {self.kind!r}")
        if self.bends is not None and (not isinstance(self.bends, int) or self.bends < 1):
            raise ValueError(f"PathInfo.bends must be a positive integer, got {self.bends!r}")
        if self.bends is not None and not self.is_curve:
            raise ValueError(f"PathInfo.bends is for curves (kind bezier or polychain), not kind {self.kind!r}")
        if (self.start_task is None) != (self.end_task is None):
            raise ValueError("PathInfo: give both start_task and end_task (a task boundary), or neither")
        for split, value in (self.majority or {}).items():
            if value is not None and not (isinstance(value, int | float) and math.isfinite(value)):
                raise ValueError(f"PathInfo.majority[{split!r}] must be a finite number, got {value!r}")

    @classmethod
    def from_paths(cls, path1: str | Path, path2: str | Path, **kwargs) -> PathInfo:
        """A PathInfo whose endpoint names come from their paths (`endpoint_names`)."""
        start, end = endpoint_names(path1, path2)
        return cls(start=start, end=end, **kwargs)

    @property
    def is_curve(self) -> bool:
        """Whether the path is a Bezier or PolyChain curve."""
        return self.kind in ("bezier", "polychain")

    @property
    def is_task_boundary(self) -> bool:
        """Whether the two endpoints were trained on different tasks."""
        return self.start_task is not None and self.start_task != self.end_task

    def kind_text(self) -> str:
        """`straight line`, `Bezier curve (3 bends)`, `task boundary (straight line)`, ..."""
        text = PATH_KINDS[self.kind]
        if self.is_curve and self.bends is not None:
            text += f" ({self.bends} bend{'s' if self.bends != 1 else ''})"
        return f"task boundary ({text})" if self.is_task_boundary else text

    def ends(self) -> tuple[str, str]:
        """The endpoint names as the figure shows them (with the training task on a task boundary)."""
        if not self.is_task_boundary:
            return self.start, self.end
        return (f"{self.start_task}-trained ({self.start})" if self.start != "θ1" else f"{self.start_task}-trained",
                f"{self.end_task}-trained ({self.end})" if self.end != "θ2" else f"{self.end_task}-trained")

    def title(self, prefix: str, splits: Sequence[str]) -> str:
        """`toy dev/test: straight line, seed 20 → seed 30`, or for a task boundary
        `task boundary (straight line): snli-trained → rotten_tomatoes-trained, evaluated on snli dev`."""
        start, end = self.ends()
        where = " ".join(p for p in (prefix, "/".join(splits)) if p)
        if self.is_task_boundary:
            head = f"{self.kind_text()}: {start} → {end}"
            tail = f"evaluated on {where}" if where else ""
        else:
            head = f"{where}: {self.kind_text()}" if where else self.kind_text()
            tail = f"{start} → {end}"
        sep = ",\n" if len(head) + len(tail) > 90 else ", "
        return head + sep + tail if tail else head

    def xlabel(self) -> str:
        """What 0 and 1 are on the x axis: `x: 0 = seed 20, 1 = seed 30`, `t along the curve: 0 = ..., 1 = ...`."""
        if self.x_label:
            return self.x_label
        start, end = (f"{self.start_task}-trained", f"{self.end_task}-trained") if self.is_task_boundary \
            else (self.start, self.end)
        axis = "t along the curve" if self.is_curve else "x" if self.kind in LINES else "x along the path"
        return f"{axis}: 0 = {start}, 1 = {end}"


def majority_fraction(answers: Sequence, metric: str | None = None, max_classes: int = MAX_CLASSES) -> float | None:
    """The score of always answering the most frequent label: the share of examples that label answers.

    `answers` holds, per example, its gold answers (a list of strings, as `EncodedSplit.answers`) or one label
    (a string or an int, as an encoder task's label ids). Labels are compared stripped and lowercased, as ACC does.
    None when this is not a classification task (more than `max_classes` distinct answers, or no examples), or
    when `metric` is given and is not accuracy-like (ACC, EM): the majority class has another score under F1 or a
    correlation.
    """
    if metric is not None and metric.strip().lower() not in ACCURACY_METRICS:
        return None
    per_example = []
    for item in answers:
        labels = [item] if isinstance(item, str | int) else list(item)
        per_example.append({str(label).strip().lower() for label in labels})
    if not per_example:
        return None
    counts = Counter(label for labels in per_example for label in labels)
    if not counts or len(counts) > max_classes:
        return None
    return max(counts.values()) / len(per_example)
