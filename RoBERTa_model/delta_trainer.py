"""A Hugging Face Trainer whose checkpoints of adapter runs hold only the tuned tensors (adapters, head, ...)."""

from __future__ import annotations

import os
from pathlib import Path

from transformers import Trainer

from module.checkpoint import DELTA_FILE, load_checkpoint, save_checkpoint
from RoBERTa_model.encoder import load_tensors

__all__ = ["DELTA_FILE", "DeltaTrainer", "is_delta_folder"]  # no model.safetensors beside it: plain
# from_pretrained on such a folder fails loudly instead of loading a backbone without its adapters


def is_delta_folder(folder: str | Path) -> bool:
    """True for a checkpoint folder written by `DeltaTrainer` (tuned tensors only)."""
    return (Path(folder) / DELTA_FILE).is_file()


class DeltaTrainer(Trainer):
    """Saves `tuned` (parameter names) into `delta.safetensors` plus the config and tokenizer, and reads such
    folders back when resuming or loading the best model; everything else is the Trainer's own."""

    def __init__(self, *args, tuned: list[str], backbone: str, **kwargs):
        super().__init__(*args, **kwargs)
        self.tuned, self.backbone = list(tuned), backbone

    def _save(self, output_dir: str | None = None, state_dict: dict | None = None) -> None:
        output_dir = output_dir if output_dir is not None else self.args.output_dir
        if not self.args.should_save:
            return
        os.makedirs(output_dir, exist_ok=True)
        model = self.accelerator.unwrap_model(self.model)
        own = dict(model.named_parameters())
        save_checkpoint(Path(output_dir) / DELTA_FILE, {name: own[name] for name in self.tuned}, kind="adapter",
                        meta={"backbone": str(Path(self.backbone).resolve()), "tuned": len(self.tuned)})
        model.config.save_pretrained(output_dir)
        if self.processing_class is not None:
            self.processing_class.save_pretrained(output_dir)

    def _load_delta(self, folder: str, model=None) -> None:

        load_tensors(model or self.accelerator.unwrap_model(self.model), load_checkpoint(Path(folder) / DELTA_FILE)
                     .tensors, str(folder))

    def _load_from_checkpoint(self, resume_from_checkpoint: str, model=None) -> None:
        if not is_delta_folder(resume_from_checkpoint):
            return super()._load_from_checkpoint(resume_from_checkpoint, model)
        self._load_delta(resume_from_checkpoint, model)

    def _load_best_model(self) -> None:
        if not is_delta_folder(self.state.best_model_checkpoint):
            return super()._load_best_model()
        self._load_delta(self.state.best_model_checkpoint)
