"""Pre-training checkpoints for the pre-training-steps experiments: `ckpt_<STEP>/` backbones of a folder, used as
they are when made elsewhere (the paper's RoBERTa-base steps, say), or pre-trained here with MLM (RoBERTa_model/mlm.py)
and reused only when made from the same text with the same settings."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from module.runs import claim_settings, fingerprint
from RoBERTa_model.mlm import MLMPretrainOptions, check_mlm_options, pretrain_mlm

STEPS_SETTINGS = "steps_settings.json"  # in the checkpoints' folder: what made this project's checkpoints


def step_checkpoints(options: MLMPretrainOptions) -> list[Path]:
    """The folders `<options.out>/ckpt_<STEP>/` for every step of `options.save_steps`: a folder of checkpoints made
    elsewhere (no pretraining.json) is used as it is; this project's own are reused only when made from the same
    text with the same settings (a one-line refusal otherwise), and pre-trained when missing."""
    out = Path(options.out)
    folders = [out / f"ckpt_{s}" for s in options.save_steps]
    if all((f / "config.json").is_file() and not (f / "pretraining.json").exists() for f in folders):
        print(f"[steps] using the given checkpoints {', '.join(str(f) for f in folders)}")
        return folders
    if not Path(options.text).is_file():
        raise FileNotFoundError(f"argument --text: {options.text} is not a file")
    options = check_mlm_options(options)  # refused here, before anything is written
    settings = {"pretrain": dataclasses.asdict(options), "text": fingerprint(options.text)}
    claim_settings(out / STEPS_SETTINGS, settings, any(f.exists() for f in folders), "pre-training checkpoints",
                   "choose another --checkpoints or delete that folder")
    if all((f / "config.json").is_file() for f in folders):
        print(f"[steps] reusing {', '.join(str(f) for f in folders)} (same text and settings)")
        return folders
    print(f"[steps] pre-training a small RoBERTa for {options.steps} steps")
    pretrain_mlm(options)
    return folders
