"""Training dynamics for the families that tune on the Hugging Face Trainer: after every epoch, each training
example's correctness and gold-label confidence, into `<output_dir>/cartography.json` in the T5 track's format,
which utils/process_cartography.py reads: `{"<index>": {"acc": [0/1 per epoch], "confidence": [gold-label
probability per epoch]}}`. A family gives the function that measures them under the model as it stands."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from transformers import TrainerCallback

from module.files import atomic_write_text, read_json

CARTOGRAPHY_FILE = "cartography.json"


class CartographyCallback(TrainerCallback):
    """Appends every finished epoch's dynamics of the training examples to `cartography.json` (rewritten
    atomically); a resumed run first drops the epochs its checkpoint had not finished."""

    def __init__(self, dynamics: Callable[[object], tuple[list[float], list[float]]], size: int,
                 out_dir: str | Path):
        self.dynamics, self.size, self.path = dynamics, size, Path(out_dir) / CARTOGRAPHY_FILE
        self.store: dict[str, dict[str, list[float]]] = {}

    def on_train_begin(self, args, state, control, **kwargs):
        done = int(state.epoch or 0)  # whole epochs the (resumed) state has finished
        if done and self.path.is_file():
            self.store = {k: {name: v[:done] for name, v in entry.items()}
                          for k, entry in read_json(self.path).items()}
        else:
            self.store = {}

    def on_epoch_end(self, args, state, control, model=None, **kwargs):
        acc, confidence = self.dynamics(model)
        for i in range(self.size):
            entry = self.store.setdefault(str(i), {"acc": [], "confidence": []})
            entry["acc"].append(acc[i])
            entry["confidence"].append(confidence[i])
        if state.is_world_process_zero:
            atomic_write_text(self.path, json.dumps(self.store))
