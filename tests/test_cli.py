"""tune_singletask.py as a user runs it: flags, files written, and one-line errors on bad input."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from module.checkpoint import load_checkpoint
from module.cli import run_cli
from tune_singletask import main

ROOT = Path(__file__).resolve().parents[1]
ORIGINAL_FLAGS = [
    'task_dir', 'train_file', 'dev_file', 'test_file', 'dataset', 'model', 'tokenizer_path', 'output_dir',
    'do_train', 'do_valid', 'do_predict', 'predict_checkpoint', 'checkpoint', 'do_lowercase', 'freeze_embeds',
    'max_input_length', 'max_output_length', 'num_beams', 'append_another_bos', 'train_batch_size',
    'predict_batch_size', 'learning_rate', 'warmup_proportion', 'weight_decay', 'adam_epsilon', 'max_grad_norm',
    'gradient_accumulation_steps', 'train_epochs', 'warmup_steps', 'warmup_rate', 'lr_decay_style',
    'train_iters', 'wait_step', 'quiet', 'valid_interval', 'output_interval', 'log_interval', 'early_stop',
    'seed', 'choose_test_1000', 'choose_dev_1000', 'load_init_seed', 'learning_rate_list', 'bsz_list',
    'tune_method', 'one_prefix', 'apply_adapter', 'adapter_type', 'adapter_size', 'r_mean', 'r_std',
    'load_PET_path_1', 'load_PET_path_2', 'itpl_points', 'SGD_noise', 'datasplit', 'cartography', 'itp_on_train',
]


def _run(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    return subprocess.run([sys.executable, *args], cwd=ROOT, capture_output=True, text=True, env=env, timeout=600)


def test_help_lists_every_original_flag():
    out = _run("tune_singletask.py", "--help")
    assert out.returncode == 0
    missing = [f for f in ORIGINAL_FLAGS if f"--{f}" not in out.stdout]
    assert not missing


def test_adapter_run_writes_checkpoints_and_result(tiny_t5_dir, toy_task, tmp_path):
    out_dir = tmp_path / "out"
    out = _run("tune_singletask.py", "--task_dir", str(toy_task), "--model", str(tiny_t5_dir), "--output_dir",
               str(out_dir), "--do_train", "--do_valid", "--do_predict", "--tune_method", "adapter",
               "--apply_adapter", "--adapter_size", "12", "--train_iters", "40", "--output_interval", "20",
               "--valid_interval", "20", "--metric", "ACC", "--learning_rate", "1e-3", "--train_batch_size", "16",
               "--max_output_length", "8", "--quiet")
    assert out.returncode == 0, out.stderr
    run = out_dir / "lr_0.001_bsz_16_seed_20"
    for name in ("checkpoint@20.pt", "checkpoint@40.pt", "checkpoint-last.pt", "checkpoint-best.pt"):
        ckpt = load_checkpoint(run / name)
        assert ckpt.kind == "adapter" and all(k.endswith(("adapter_A", "adapter_B")) for k in ckpt.tensors)
        assert len(ckpt.tensors) == 2 * (2 * 2 + 2 * 3)
    rows = list(csv.DictReader((out_dir / "result.csv").open()))
    assert list(rows[0]) == ["prefix", "metric", "lr", "bsz", "dev_performance", "test_performance", "run"]
    # the original's prefix column holds the task name; the run folder identifies the row
    assert len(rows) == 1 and rows[0]["prefix"] == toy_task.name and rows[0]["metric"] == "ACC"
    assert rows[0]["run"] == run.name and rows[0]["lr"] == "0.001" and rows[0]["bsz"] == "16"
    assert 0.0 <= float(rows[0]["dev_performance"]) <= 1.0 and 0.0 <= float(rows[0]["test_performance"]) <= 1.0
    assert (out_dir / "checkpoint-best.pt").is_file()
    meta = load_checkpoint(run / "checkpoint-last.pt").meta
    assert meta["num_updates"] == 40 and json.dumps(meta["args"])  # JSON metadata, no pickled objects
    # a second run of the same training (--apply_adapter is implied, the output interval changes no checkpoint's
    # weights) skips the finished cell and does not duplicate its row
    again = _run("tune_singletask.py", "--task_dir", str(toy_task), "--model", str(tiny_t5_dir), "--output_dir",
                 str(out_dir), "--do_train", "--tune_method", "adapter", "--adapter_size", "12", "--train_iters", "40",
                 "--valid_interval", "20", "--max_output_length", "8", "--metric", "ACC", "--learning_rate", "1e-3",
                 "--train_batch_size", "16", "--quiet")
    assert again.returncode == 0, again.stderr
    assert len(list(csv.DictReader((out_dir / "result.csv").open()))) == 1


def _bad(tmp_path: Path, tiny_t5_dir: Path, task_dir: Path, *extra: str) -> tuple[int, str, Path]:
    out_dir = tmp_path / "out"
    argv = ["--task_dir", str(task_dir), "--model", str(tiny_t5_dir), "--output_dir", str(out_dir), "--do_train",
            "--do_predict", "--metric", "ACC", "--train_iters", "2", "--quiet", *extra]
    try:
        code = run_cli(lambda: main(argv))
    except SystemExit as exc:  # argparse
        code = exc.code
    return code, out_dir


def _task(tmp_path: Path, train: str) -> Path:
    folder = tmp_path / "t"
    folder.mkdir()
    (folder / "t_train.tsv").write_text(train)
    (folder / "t_dev.tsv").write_text("good\tpositive\n")
    (folder / "t_test.tsv").write_text("bad\tnegative\n")
    return folder


def _not_t5(tmp_path: Path) -> Path:
    folder = tmp_path / "bert"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({"model_type": "bert"}))
    return folder


@pytest.mark.parametrize("case,expected", [
    ("missing_task", "task folder not found"),
    ("no_tab", "t_train.tsv:2: expected 'input<TAB>answer'"),
    ("empty_split", "t_train.tsv: no examples"),
    ("not_t5", "model_type is 'bert'"),
    ("tune_method", "argument --tune_method: invalid choice"),
    ("lr_list", "argument --learning_rate_list: expected a number, got 'fast'"),
    ("missing_model", "folder not found"),
    ("zero_iters", "argument --train_iters: expected a whole number of at least 1, got '0'"),
    ("huge_iters", "argument --train_iters: expected a whole number of at least 1, got '1e400'"),
])
def test_bad_input_one_line_nonzero_nothing_written(case, expected, tmp_path, tiny_t5_dir, toy_task, capsys):
    task, model, extra = toy_task, tiny_t5_dir, []
    if case == "missing_task":
        task = tmp_path / "nope"
    elif case == "no_tab":
        task = _task(tmp_path, "good\tpositive\nno tab on this line\n")
    elif case == "empty_split":
        task = _task(tmp_path, "\n")
    elif case == "not_t5":
        model = _not_t5(tmp_path)
    elif case == "missing_model":
        model = tmp_path / "no-model"
    elif case == "tune_method":
        extra = ["--tune_method", "lora"]
    elif case in ("zero_iters", "huge_iters"):
        extra = ["--train_iters", "0" if case == "zero_iters" else "1e400"]
    elif case == "lr_list":
        extra = ["--learning_rate_list", "1e-4", "fast"]
    code, out_dir = _bad(tmp_path, model, task, *extra)
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert len(err) == 1 and expected in err[0], err
    written = [p for p in out_dir.rglob("*") if p.is_file()] if out_dir.exists() else []
    assert written == []


def test_paper_script_runs_with_small_settings(tiny_t5_dir, toy_task, tmp_path):
    env = {**os.environ, "PYTHON": sys.executable, "TASKS": toy_task.name, "SEEDS": "20 30",
           "DATA_DIR": str(toy_task.parent), "SAVE_PATH": str(tmp_path), "MODEL": str(tiny_t5_dir),
           "TRAIN_ITERS": "4", "VALID_INTERVAL": "2", "OUTPUT_INTERVAL": "2",
           "EXTRA_FLAGS": "--metric ACC --quiet --max_output_length 6 --train_batch_size 16"}
    out = subprocess.run(["bash", "scripts/adapter_full_data.sh"], cwd=ROOT, env=env, capture_output=True,
                         text=True, timeout=600)
    assert out.returncode == 0, out.stderr
    for seed in (20, 30):
        run = tmp_path / "PET_full_data_adapter" / f"{toy_task.name}-adapter-seed_{seed}"
        assert (run / "result.csv").is_file()
        assert (run / f"lr_5e-05_bsz_32_seed_{seed}" / "checkpoint@4.pt").is_file()


@pytest.mark.parametrize("entry", ["tune", "interpolate", "curve"])
def test_every_flag_has_a_help_line_with_its_default_and_unused_ones_come_last(entry):
    from dataclasses import fields

    from T5_model.options import UNUSED_GROUP, T5Options, build_parser

    parser = build_parser("x", entry)
    actions = [a for a in parser._actions if a.option_strings and a.dest != "help"]
    assert len(actions) == len(fields(T5Options)) and all(a.help for a in actions)
    text = parser.format_help()
    body = text.split("options:", 1)[1]
    for action in actions:  # every flag's line ends with its default (required ones have none to show)
        if not action.required:
            block = body.split(f"\n  {action.option_strings[0]}", 1)[1].split("\n  --", 1)[0]
            assert "(default:" in block, (entry, action.dest)
    titles = [g.title for g in parser._action_groups if g._group_actions]
    assert titles[-1] == UNUSED_GROUP
    unused = {a.option_strings[0] for a in parser._action_groups[-1]._group_actions}
    assert unused == {f"--{f.name}" for f in fields(T5Options) if entry not in f.metadata["entries"]}
    assert text.index("--task_dir") < text.index(UNUSED_GROUP)
    if entry == "interpolate":
        assert "--learning_rate" in unused and "--load_PET_path_1" not in unused
    if entry == "tune":
        assert {"--itpl_points", "--bend_num", "--num_beams", "--line_result"} <= unused and "--do_train" not in unused


@pytest.mark.parametrize("failure", [KeyboardInterrupt, ValueError])
def test_the_last_line_of_an_interrupted_or_failed_command_is_its_own(failure, capsys):
    """Issue 27 (Ctrl-C of pre-training): a progress bar left open was drawn again after the one line, and the line
    was glued to the bar's."""
    from tqdm import tqdm

    def main() -> int:
        bar = tqdm(total=10, desc="updates")
        bar.update(3)
        raise failure("bad value")

    code = run_cli(main)
    lines = [line for line in capsys.readouterr().err.replace("\r", "\n").splitlines() if line.strip()]
    assert code == (130 if failure is KeyboardInterrupt else 2)
    assert lines[-1] in ("error: bad value", "interrupted: finished files are kept; run the same command again to "
                                             "continue"), lines
