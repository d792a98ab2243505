"""Training dynamics of the encoder track: after every epoch, each training example's correctness and gold-label
confidence, into `<output_dir>/cartography.json` in the T5 track's format, which utils/process_cartography.py
reads: `{"<index>": {"acc": [0/1 per epoch], "confidence": [gold-label probability per epoch]}}`."""

from __future__ import annotations

import json
import math
from pathlib import Path

from transformers import TrainerCallback

from module.files import atomic_write_text, read_json
from RoBERTa_model.encoder import classifier_outputs

CARTOGRAPHY_FILE = "cartography.json"


def epoch_dynamics(model, batches: list[tuple[list[int], dict]], size: int) -> tuple[list[float], list[float]]:
    """Per example of a split of `size`: correctness (0/1) and the probability of its gold label (the softmax's,
    exp(-cross-entropy)) under the model as it stands, in eval mode."""
    acc, confidence = [0.0] * size, [0.0] * size
    for ids, hits, losses in classifier_outputs(model, batches):
        for row, i in enumerate(ids):
            acc[i], confidence[i] = hits[row], math.exp(-losses[row])
    return acc, confidence


class CartographyCallback(TrainerCallback):
    """Appends every finished epoch's dynamics of the training examples to `cartography.json` (rewritten
    atomically); a resumed run first drops the epochs its checkpoint had not finished."""

    def __init__(self, batches: list[tuple[list[int], dict]], size: int, out_dir: str | Path):
        self.batches, self.size, self.path = batches, size, Path(out_dir) / CARTOGRAPHY_FILE
        self.store: dict[str, dict[str, list[float]]] = {}

    def on_train_begin(self, args, state, control, **kwargs):
        done = int(state.epoch or 0)  # whole epochs the (resumed) state has finished
        if done and self.path.is_file():
            self.store = {k: {name: v[:done] for name, v in entry.items()}
                          for k, entry in read_json(self.path).items()}
        else:
            self.store = {}

    def on_epoch_end(self, args, state, control, model=None, **kwargs):
        acc, confidence = epoch_dynamics(model, self.batches, self.size)
        for i in range(self.size):
            entry = self.store.setdefault(str(i), {"acc": [], "confidence": []})
            entry["acc"].append(acc[i])
            entry["confidence"].append(confidence[i])
        if state.is_world_process_zero:
            atomic_write_text(self.path, json.dumps(self.store))
