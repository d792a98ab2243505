"""Encoder-track configs: HfArgumentParser help and overrides, paths relative to the config, shipped configs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from RoBERTa_model.config import ConfigError, load_config, parse_config_args
from tests.conftest import ROOT

CONFIGS = ROOT / "RoBERTa_model" / "configs"


def test_help_lists_every_key_with_its_default(capsys):
    with pytest.raises(SystemExit) as exc:
        parse_config_args(["--help"], prog="run_glue.py")
    assert exc.value.code == 0
    text = capsys.readouterr().out
    for key, default in (("--bottleneck_dim", "24"), ("--delta_type", "none"), ("--learning_rate", "5e-05"),
                         ("--max_source_length", "128")):
        block = text.split(f"\n  {key} ", 1)[1].split("\n  --", 1)[0]
        assert f"(default: {default})" in " ".join(block.split()), key
    with pytest.raises(SystemExit) as exc:
        parse_config_args(["--help"], True, prog="itp_pretrain_adapter.py")
    assert exc.value.code == 0 and "--itpl_points" in capsys.readouterr().out


def _write(folder: Path, **values) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "config.json"
    path.write_text(json.dumps(values))
    return path


def test_command_line_values_override_the_file(tmp_path):
    config = _write(tmp_path, max_steps=300, seed=20, bottleneck_dim=24, output_dir=str(tmp_path / "o"))
    loaded = load_config(config, overrides=["--max_steps", "20", "--seed", "30", "--bottleneck_dim", "8"])
    delta, training = loaded.delta, loaded.training
    assert (training.max_steps, training.seed, delta.bottleneck_dim) == (20, 30, 8)
    loaded = load_config(config)
    delta, training = loaded.delta, loaded.training
    assert (training.max_steps, training.seed, delta.bottleneck_dim) == (300, 20, 24)


def test_every_key_a_file_accepts_is_accepted_as_an_override(tmp_path):
    """Issue 27.5: the shipped configs' `do_test` (the original's name) was refused as `--do_test false`."""
    config = _write(tmp_path, do_test=True, evaluation_strategy="no", group_by_length=False,
                    output_dir=str(tmp_path / "o"))
    loaded = load_config(config)
    assert (loaded.training.do_predict, loaded.training.eval_strategy, loaded.training.train_sampling_strategy) == \
        (True, "no", "random")
    loaded = load_config(config, overrides=["--do_test", "false", "--evaluation_strategy=steps", "--group_by_length",
                                            "true", "--overwrite_output_dir", "true"])
    assert (loaded.training.do_predict, loaded.training.eval_strategy, loaded.training.train_sampling_strategy) == \
        (False, "steps", "group_by_length")


def test_a_bad_override_is_one_line(tmp_path, capsys):
    config = _write(tmp_path, output_dir=str(tmp_path / "o"))
    with pytest.raises(SystemExit) as exc:
        parse_config_args([str(config), "--max_steps", "ten"], prog="run_glue.py")
    err = capsys.readouterr().err.strip().splitlines()
    assert exc.value.code == 2 and len(err) == 1 and "--max_steps" in err[0], err
    with pytest.raises((SystemExit, ConfigError)):
        parse_config_args([str(config), "--no_such_key", "1"], prog="run_glue.py")


def test_relative_paths_are_relative_to_the_config_folder(tmp_path, monkeypatch):
    config = _write(tmp_path / "exp" / "configs", model_name_or_path="../models/enc", data_dir="../../data",
                    output_dir="../runs/a", tokenizer_name="/abs/tok")
    monkeypatch.chdir(tmp_path / "exp")  # another working directory changes nothing
    loaded = load_config(config)
    model, data, training = loaded.model, loaded.data, loaded.training
    assert Path(model.model_name_or_path) == tmp_path / "exp" / "models" / "enc"
    assert Path(data.data_dir) == tmp_path / "data" and Path(training.output_dir) == tmp_path / "exp" / "runs" / "a"
    assert model.tokenizer_name == "/abs/tok"


def test_an_endpoint_may_be_a_run_folder_its_latest_complete_checkpoint_is_taken(tmp_path, capsys):
    run = tmp_path / "run"
    for step, complete in ((100, True), (200, True), (300, False)):
        folder = run / f"checkpoint-{step}"
        folder.mkdir(parents=True)
        (folder / "config.json").write_text("{}")
        if complete:
            (folder / "model.safetensors").write_bytes(b"x")
            (folder / "trainer_state.json").write_text("{}")
    config = _write(tmp_path / "c", path1=str(run), path2=str(run / "checkpoint-100"), output_dir=str(tmp_path / "o"))
    itp = load_config(config, with_interpolation=True).interpolation
    assert Path(itp.path1) == run / "checkpoint-200" and Path(itp.path2) == run / "checkpoint-100"
    assert "latest checkpoint of" in capsys.readouterr().out


@pytest.mark.parametrize("config", sorted(CONFIGS.glob("*/*.json")), ids=lambda p: f"{p.parent.name}/{p.name}")
def test_shipped_configs_read_from_any_directory_and_point_into_the_repository(config, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    parts = load_config(config, with_interpolation="itp" in config.name)
    assert Path(parts.data.data_dir) == ROOT / "data"
    model = Path(parts.model.model_name_or_path)
    assert model in (ROOT / "pretrained_models" / "all-MiniLM-L6-v2", ROOT / "RoBERTa_model" / "checkpoint" /
                     "ckpt_15000"), model
    assert Path(parts.training.output_dir).is_relative_to(ROOT / "RoBERTa_model")


def test_each_method_ships_paired_seed_configs():
    for first, second in (("minilm/snli_adapter.json", "minilm/snli_adapter_seed30.json"),
                          ("minilm/snli_finetune.json", "minilm/snli_finetune_seed30.json"),
                          ("adapter_roberta-base/mnli.json", "adapter_roberta-base/mnli_seed30.json")):
        a, b = (json.loads((CONFIGS / name).read_text()) for name in (first, second))
        assert (a["seed"], b["seed"]) == (20, 30)
        assert {k: v for k, v in a.items() if k not in ("seed", "output_dir")} == \
            {k: v for k, v in b.items() if k not in ("seed", "output_dir")}
    itp = json.loads((CONFIGS / "minilm" / "itp_snli_adapter_seeds.json").read_text())
    runs = [json.loads((CONFIGS / "minilm" / n).read_text())["output_dir"].rstrip("/")
            for n in ("snli_adapter.json", "snli_adapter_seed30.json")]
    assert [itp["path1"], itp["path2"]] == runs  # the sweep reads the runs the paired configs write


def test_a_config_built_in_memory_reads_the_original_keys_as_a_file_does(tmp_path):
    """The experiments pass the paper's keys (do_test, evaluation_strategy) as values, not through a file."""
    from RoBERTa_model.config import config_from_values

    values = {"task_name": "snli", "do_test": True, "evaluation_strategy": "no", "output_dir": str(tmp_path / "o"),
              "dataset_config_name": "ignored"}
    built = config_from_values(values, source="quickstart run")
    read = load_config(_write(tmp_path, **values))
    assert built.training.do_predict and built.training.eval_strategy == "no"
    assert built.given == read.given and "do_predict" in built.given and "do_test" not in built.given
