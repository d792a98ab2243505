"""Issue 28: whatever shapes a result is declared once, with the option (module/identity.py): every option of every
family says which results it shapes, so a new option cannot be left out of a reuse check; and the identities read
from the declarations refuse a folder whose results another value of such an option made."""

from __future__ import annotations

import json
from dataclasses import dataclass, fields

import pytest

from module.identity import SWEEP, TUNING, option, shaping, undeclared


def _option_classes():
    from causal_model.curves import CausalCurveArguments
    from causal_model.jobs import CausalLineArguments
    from causal_model.tuning import CausalTuneArguments
    from RoBERTa_model.config import OWN_GROUPS
    from T5_model.options import GROUPS

    return [*GROUPS, *OWN_GROUPS, CausalLineArguments, CausalCurveArguments, CausalTuneArguments]


def test_every_option_of_every_family_declares_what_it_shapes():
    classes = _option_classes()
    assert len(classes) >= 10
    for cls in classes:
        assert undeclared(cls) == [], cls.__name__


def test_shaping_reads_the_declarations_and_undeclared_names_what_is_missing():
    @dataclass
    class Options:
        lr: float = option(0.1, "learning rate", "tc")
        points: int = option(26, "points", "")
        split: str = option("dev", "evaluated split", "s")

    assert shaping(Options(), TUNING) == {"lr": 0.1} and shaping(Options(), SWEEP) == {"split": "dev"}
    assert shaping(Options(), TUNING + SWEEP) == {"lr": 0.1, "split": "dev"}
    assert undeclared(Options) == []

    @dataclass
    class Forgetful(Options):
        forgot: int = 3
        typo: int = option(1, "a letter that means nothing", "x")

    assert undeclared(Forgetful) == ["forgot", "typo"] and [f.name for f in fields(Forgetful)][0] == "lr"
    with pytest.raises(TypeError, match="Forgetful.forgot does not declare what it shapes"):
        shaping(Forgetful(), SWEEP)


def test_the_encoder_tuning_identity_keeps_the_keys_that_change_no_weight_out():
    from RoBERTa_model.config import key_shapes

    for key in ("output_dir", "disable_tqdm", "report_to", "logging_steps", "save_steps", "do_predict",
                "max_test_samples", "per_device_eval_batch_size", "resume_from_checkpoint"):
        assert TUNING not in key_shapes(key), key
    for key in ("learning_rate", "seed", "delta_type", "max_train_samples", "cartography", "a_future_trainer_key"):
        assert TUNING in key_shapes(key), key


def test_an_encoder_sweep_with_another_seed_is_not_reused(tmp_path, minilm_dir, capsys):
    """Before: the encoder sweep's hand-written key list left out `seed`, from which the sweep builds what the
    endpoints do not hold (a frozen head: unfrozen_modules without classifier), so a folder swept with another
    seed was reused."""
    from module.cli import run_cli
    from RoBERTa_model import itp_pretrain_adapter, run_glue
    from utils import toy

    toy.write_task(tmp_path / "data", "toy-sentiment", sizes=(16, 8, 8))
    backbone = toy.build_tiny_encoder(tmp_path / "tiny-bert", minilm_dir)
    common = {"model_name_or_path": str(backbone), "task_name": "toy-sentiment", "data_dir": str(tmp_path / "data"),
              "delta_type": "adapter", "bottleneck_dim": 4, "max_source_length": 32, "disable_tqdm": True,
              "unfrozen_modules": ["deltas"]}
    for seed in (1, 2):
        cfg = tmp_path / f"run{seed}.json"
        cfg.write_text(json.dumps({**common, "learning_rate": 1e-3, "max_steps": 2, "do_train": True, "seed": seed,
                                   "per_device_train_batch_size": 8, "output_dir": str(tmp_path / f"run{seed}")}))
        assert run_glue.main([str(cfg)]) == 0
    line = {**common, "path1": str(tmp_path / "run1"), "path2": str(tmp_path / "run2"), "itpl_points": 2,
            "output_dir": str(tmp_path / "line")}
    for seed, expected in ((1, 0), (2, 2)):
        cfg = tmp_path / f"line{seed}.json"
        cfg.write_text(json.dumps({**line, "seed": seed}))
        capsys.readouterr()
        code = run_cli(lambda cfg=cfg: itp_pretrain_adapter.main([str(cfg)]))
        assert code == expected, capsys.readouterr().err
    assert "other settings" in capsys.readouterr().err


@pytest.mark.parametrize("cls_name", ["CausalLineArguments", "CausalCurveArguments"])
def test_the_causal_sweep_identity_is_read_from_its_flags(cls_name):
    from causal_model import curves, jobs

    cls = getattr(curves, cls_name, None) or getattr(jobs, cls_name)
    args = cls(model="m", task_dir="t", output_dir="o", path1="a", path2="b")
    swept = shaping(args, SWEEP)
    assert {"model", "task_dir", "lora_path", "max_eval_samples", "do_predict"} <= set(swept)
    assert not {"output_dir", "path1", "path2", "quiet", "itpl_points"} & set(swept)
