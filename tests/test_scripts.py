"""The paper's scripts, run with a stand-in python that records its command line (nothing is trained).

Checks the original scripts' values and folder names, and that every checkpoint an interpolation or curve script
reads is one that a tuning script writes.
"""

from __future__ import annotations

import os
import subprocess
from argparse import Namespace
from pathlib import Path

import pytest

from T5_model.curve_job import ORIGINAL_VALID_TS, check_curve_options
from T5_model.jobs import run_prefix
from T5_model.options import parse_options

ROOT = Path(__file__).resolve().parents[1]
SEP = "\x1f"
FAKE_PYTHON = '#!/usr/bin/env bash\n{ printf "%s\\037" "$@"; printf "\\n"; } >> "$FAKE_PYTHON_LOG"\n'
TUNING = ("scripts/finetune_full_data.sh", "scripts/adapter_full_data.sh", "scripts/finetune_split_data.sh",
          "scripts/adapter_cartography.sh")
R_STD_008 = {"IDENTIFIER": "PET_full_data_adapter_r_std_0.08", "EXTRA_FLAGS": "--r_std 0.08", "SEEDS": "20"}
READERS = ("scripts/itp_diff_seed_adapter.sh", "scripts/itp_diff_step_finetune.sh",
           "scripts/itp_same_domain_finetune.sh", "scripts/itp_split_data_finetune.sh",
           "scripts/itp_traindata_adapter.sh", "scripts/adapter_curve_find.sh", "scripts/finetune_curve_find.sh")


def record(tmp_path: Path, script: str, **env: str) -> list[list[str]]:
    """Run `script` with PYTHON pointing at a recorder; one argv (script name first) per python call."""
    fake = tmp_path / "python"
    if not fake.exists():
        fake.write_text(FAKE_PYTHON)
        fake.chmod(0o755)
    log = tmp_path / f"{len(list(tmp_path.glob('*.log')))}.log"
    environ = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "PYTHON": str(fake), "FAKE_PYTHON_LOG": str(log),
               **env}
    proc = subprocess.run(["bash", str(ROOT / script)], env=environ, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    return [line.split(SEP)[:-1] for line in log.read_text().splitlines()] if log.exists() else []


def parsed(argv: list[str]) -> Namespace:
    """The command line as the entry point parses it (so a misspelt flag fails here too)."""
    if argv[0] == "curve_find.py":
        return check_curve_options(parse_options(argv[1:], entry="curve"))
    assert argv[0] in ("tune_singletask.py", "task_interpolation.py"), argv[0]
    return parse_options(argv[1:], entry="tune" if argv[0] == "tune_singletask.py" else "interpolate")


def norm(path: str) -> str:
    return os.path.normpath(path)


def written_checkpoints(args: Namespace) -> set[str]:
    """Every checkpoint a tune_singletask.py call writes: checkpoint@<k * output_interval>.pt, -best, -last."""
    files = set()
    for lr in args.learning_rate_list:
        for bsz in args.bsz_list:
            run = Path(args.output_dir) / run_prefix(lr, bsz, args.seed)
            steps = range(args.output_interval, args.train_iters + 1, args.output_interval)
            names = [f"checkpoint@{s}.pt" for s in steps] + ["checkpoint-best.pt", "checkpoint-last.pt"]
            files |= {norm(str(run / name)) for name in names}
    return files


@pytest.fixture(scope="module")
def calls(tmp_path_factory) -> dict[str, list[Namespace]]:
    """Parsed python calls of every tuning and reading script with its defaults (plus the r_std 0.08 adapters)."""
    tmp = tmp_path_factory.mktemp("scripts")
    runs = {script: [parsed(a) for a in record(tmp, script)] for script in TUNING + READERS}
    runs["r_std_0.08"] = [parsed(a) for a in record(tmp, "scripts/adapter_full_data.sh", **R_STD_008)]
    runs["utils/process_cartography.sh"] = record(tmp, "utils/process_cartography.sh")
    return runs


def _dirs(runs: list[Namespace]) -> list[str]:
    return [norm(a.output_dir) for a in runs]


def test_tuning_scripts_use_the_originals_values_and_folders(calls):
    tasks, seeds = ("superglue-record", "glue-mnli", "anli"), (20, 30, 40, 50)
    full = calls["scripts/finetune_full_data.sh"]
    assert _dirs(full) == [f"models/PET_full_data_finetune/{t}-finetune-seed_{s}" for t in tasks for s in seeds]
    adapter = calls["scripts/adapter_full_data.sh"]
    assert _dirs(adapter) == [f"models/PET_full_data_adapter/{t}-adapter-seed_{s}" for t in tasks for s in seeds]
    for a in full + adapter:
        assert (a.bsz_list, a.train_iters, a.valid_interval, a.output_interval, a.predict_batch_size) == (
            [32], 50000, 5000, 10000, 32)
    assert {(a.tune_method, a.learning_rate_list[0], a.log_interval) for a in full} == {("model", 1e-4, 100)}
    assert {(a.tune_method, a.learning_rate_list[0], a.log_interval, a.adapter_size) for a in adapter} == {
        ("adapter", 5e-5, 2, 12)}
    split = calls["scripts/finetune_split_data.sh"]
    assert [(norm(a.output_dir), a.datasplit) for a in split] == [
        (f"models/PET_datasplit_finetune/glue-mnli-datasplit/seed_{s}-{p}", p) for s in (20, 30)
        for p in ("split1", "split2")]
    assert {(a.learning_rate_list[0], a.bsz_list[0], a.train_iters, a.tune_method) for a in split} == {
        (5e-5, 32, 50000, "model")}
    assert run_prefix(split[0].learning_rate_list[0], 32, 20) == "lr_5e-05_bsz_32_seed_20"
    (carto,) = calls["scripts/adapter_cartography.sh"]
    assert norm(carto.output_dir) == "models/PET_adapter_cartography/glue-mnli-adapter-seed_20"
    assert (carto.cartography, carto.bsz_list, carto.train_epochs, carto.learning_rate_list) == (True, [64], 8, [5e-5])


def test_readers_use_the_originals_output_folders(calls):
    steps = (10000, 30000, 50000)
    expected = {
        "scripts/itp_diff_seed_adapter.sh": [
            "models_itp_result/itp_diff_seed/glue-mnli_adapter_diff-seed/SEED20_and_SEED30_STEP50000"],
        "scripts/itp_diff_step_finetune.sh": [
            "models_itp_result/itp_diff_step/superglue-record_finetune_diff-step/SEED20_STEP10000_and_SEED30_STEP50000"],
        "scripts/itp_same_domain_finetune.sh": [
            f"models_itp_result/itp_same_domain/TestUse_{t}_glue-mnli+anli_samedomain_finetune/SEED{s}_STEP{st}"
            for t in ("glue-mnli", "anli") for st in steps for s in (20, 30)],
        "scripts/itp_split_data_finetune.sh": [
            f"models_itp_result/itp_data_split/glue-mnli_finetune_datasplit/seed{s}_STEP{st}" for s in (20, 30)
            for st in steps],
        "scripts/itp_traindata_adapter.sh": [
            "models_itp_result/itp_on_traindata/glue-mnli_adapter_diff-seed/SEED20_and_SEED30_STEP10000"],
        "scripts/adapter_curve_find.sh": [
            "models/full_data_curve_find_adapter/glue-mnli_curve_find-seed_20_std_0.02_and_0.08_5w-bend_1"],
        "scripts/finetune_curve_find.sh": [
            "models/full_data_curve_find_finetune/glue-mnli_finetune-diff-perterb/SEED_20_and_SEED_30_STEP_50000"],
    }
    for script, dirs in expected.items():
        assert _dirs(calls[script]) == dirs, script
    (train,) = calls["scripts/itp_traindata_adapter.sh"]
    assert train.itp_on_train and train.itpl_points == 6 and not (train.do_valid or train.do_predict)
    assert {a.itpl_points for s in READERS[:4] for a in calls[s]} == {26}


def test_curve_scripts_use_the_originals_values(calls):
    (adapter,) = calls["scripts/adapter_curve_find.sh"]
    assert (adapter.learning_rate, adapter.train_batch_size, adapter.train_iters, adapter.valid_interval,
            adapter.output_interval, adapter.log_interval, adapter.predict_batch_size) == (
        1e-4, 16, 10000, 100, 10000, 100, 100)
    assert (adapter.bend_num, adapter.bend_init, adapter.bend_std, adapter.adapter_size) == (1, "random", 0.02, 12)
    (full,) = calls["scripts/finetune_curve_find.sh"]
    assert (full.learning_rate, full.train_batch_size, full.train_iters, full.valid_interval, full.output_interval,
            full.log_interval, full.choose_dev_1000) == (1e-4, 8, 5000, 100, 10000, 10, True)
    assert (full.bend_num, full.bend_init, full.tune_method) == (1, "midpoint", "model")
    for args in (adapter, full):  # the original's curve training: no clipping, its validation points, seed 42
        assert args.max_grad_norm == 0 and args.seed == 42
        assert args.valid_t == list(ORIGINAL_VALID_TS[args.tune_method])


def test_every_checkpoint_read_is_one_a_tuning_script_writes(calls):
    written = set().union(*(written_checkpoints(a) for s in (*TUNING, "r_std_0.08") for a in calls[s]))
    assert "models/PET_full_data_finetune/anli-finetune-seed_30/lr_0.0001_bsz_32_seed_30/checkpoint@30000.pt" in written
    for script in READERS:
        assert calls[script], script
        for args in calls[script]:
            for path in (args.load_PET_path_1, args.load_PET_path_2):
                assert norm(path) in written, (script, path)


def test_process_cartography_reads_what_the_scripts_write(calls):
    (argv,) = calls["utils/process_cartography.sh"]
    assert argv[0] == "utils/process_cartography.py"
    flags = dict(zip(argv[1::2], argv[2::2], strict=True))
    (carto,) = calls["scripts/adapter_cartography.sh"]
    (train,) = calls["scripts/itp_traindata_adapter.sh"]
    assert norm(flags["--cartography_path"]) == norm(f"{carto.output_dir}/cartography.json")
    assert norm(flags["--analysis_path"]) == norm(f"{train.output_dir}/valid_data_analysis.json")
    assert norm(flags["--save_path"]) == norm(f"{train.output_dir}/result.txt")


def test_overrides_still_line_up(tmp_path):
    """A small-machine run: the tuning and reading scripts agree under the same overrides."""
    small = {"TASKS": "rotten_tomatoes", "TASK": "rotten_tomatoes", "SEEDS": "20 30", "TRAIN_ITERS": "200",
             "OUTPUT_INTERVAL": "100", "STEPS": "100 200", "STEP": "100"}
    written = set().union(*(written_checkpoints(parsed(a)) for a in record(tmp_path, "scripts/adapter_full_data.sh",
                                                                             **small)))
    read = [parsed(a) for a in record(tmp_path, "scripts/itp_diff_seed_adapter.sh", **small)]
    assert len(read) == 2 and all(norm(p) in written for a in read for p in (a.load_PET_path_1, a.load_PET_path_2))


ENCODER_TUNING = ("RoBERTa_model/scripts/run_finetune.sh", "RoBERTa_model/scripts/run_adapter.sh")
ENCODER_READERS = ("RoBERTa_model/scripts/itp_diff_pretrain_adapter.sh",
                   "RoBERTa_model/scripts/itp_task_boundary_finetune.sh")


def test_every_encoder_endpoint_read_is_a_run_an_encoder_script_writes(tmp_path):
    """Issue 27.6: run_adapter.sh's default tasks never ran the shipped seed-30 MNLI config, whose run
    itp_diff_pretrain_adapter.sh's default config reads as its second endpoint."""
    import json

    folder = ROOT / "RoBERTa_model"

    def config(argv: list[str]) -> tuple[Path, dict]:
        path = (folder / argv[1]).resolve()
        return path, json.loads(path.read_text())

    written = set()
    for script in ENCODER_TUNING:
        for argv in record(tmp_path, script):
            path, values = config(argv)
            written.add(norm(str((path.parent / values["output_dir"]).resolve())))
    reads = 0
    for script in ENCODER_READERS:
        for argv in record(tmp_path, script):
            path, values = config(argv)
            for key in ("path1", "path2"):
                run = (path.parent / values[key]).resolve()
                run = run.parent if run.name.startswith("checkpoint-") else run
                assert norm(str(run)) in written, (script, key, values[key])
                reads += 1
    assert reads == 6  # one adapter pair, two task-boundary configs of two endpoints each
