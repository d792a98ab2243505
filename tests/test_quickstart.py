"""The quickstart's T5 track end to end on the tiny T5 and the toy task: files, reuse, retraining on new settings."""

from __future__ import annotations

import csv
import json

import pytest

from experiments import quickstart


def _argv(tiny_t5_dir, toy_task, out, adapter_steps: int) -> list[str]:
    return ["--track", "t5", "--out", str(out), "--data", str(toy_task.parent), "--t5_task", toy_task.name,
            "--t5_model", str(tiny_t5_dir), "--t5_steps", "4", "--t5_adapter_steps", str(adapter_steps)]


def _valid_steps(run_dir) -> list[int]:
    with open(next(run_dir.glob("lr_*/metrics.csv")), newline="") as f:
        return [int(row["step"]) for row in csv.DictReader(f) if row["kind"] == "valid"]


def _checkpoint_times(out) -> dict[str, float]:
    return {p.parent.parent.name: p.stat().st_mtime_ns for p in out.glob("*-seed*/lr_*/checkpoint-last.pt")}


def test_t5_quickstart_writes_both_pairs_reuses_runs_and_retrains_on_new_settings(tiny_t5_dir, toy_task, tmp_path,
                                                                                  capsys):
    out = tmp_path / "qs"
    assert quickstart.main(_argv(tiny_t5_dir, toy_task, out, adapter_steps=6)) == 0
    printed = capsys.readouterr().out
    for method in ("finetune", "adapter"):
        sweep = out / f"{method}-seed20+30"
        with open(sweep / "result.csv", newline="") as f:
            rows = [row for row in csv.DictReader(f) if row["prefix"] != "average"]  # + the original's mean row
        assert len(rows) == 26 and len({row["x"] for row in rows}) == 26
        assert all(0.0 <= float(row["dev_performance"]) <= 1.0 for row in rows)
        summary = json.loads((sweep / "summary.json").read_text())
        assert summary["points"] == 26 and set(summary["splits"]) == {"dev", "test"}
        assert (sweep / "interpolation.png").stat().st_size > 0
        assert f"{method}-seed20+30" in printed
    assert (out / "overlay.png").stat().st_size > 0
    # the adapter runs trained for their own number of updates, the fine-tuning runs for theirs
    assert _valid_steps(out / "adapter-seed20") == [6] and _valid_steps(out / "finetune-seed20") == [4]

    before = _checkpoint_times(out)
    assert len(before) == 4
    assert quickstart.main(_argv(tiny_t5_dir, toy_task, out, adapter_steps=6)) == 0
    assert _checkpoint_times(out) == before, "a rerun with the same settings must reuse every run"

    assert quickstart.main(_argv(tiny_t5_dir, toy_task, out, adapter_steps=8)) == 0
    after = _checkpoint_times(out)
    assert after["finetune-seed20"] == before["finetune-seed20"]
    assert after["adapter-seed20"] != before["adapter-seed20"], "new adapter settings must retrain the adapter runs"
    assert _valid_steps(out / "adapter-seed20") == [8]


def test_quickstart_rejects_a_non_positive_update_count_before_writing_anything(tmp_path, capsys):
    out = tmp_path / "qs"
    with pytest.raises(SystemExit) as stop:
        quickstart.main(["--track", "t5", "--out", str(out), "--t5_adapter_steps", "0"])
    assert stop.value.code == 2
    assert "--t5_adapter_steps" in capsys.readouterr().err
    assert not out.exists()


def test_a_quickstart_into_a_held_folder_removes_nothing_even_with_force(tiny_t5_dir, toy_task, tmp_path, capsys):
    """Issue 27.2: --force emptied the folder before any lock, under a quickstart still running there; and a missing
    task folder was found after the output folder had been made."""
    from module.cli import run_cli
    from utils import toy

    out = tmp_path / "qs"
    (out / "finetune-seed20").mkdir(parents=True)
    with toy.folder_held_elsewhere(out) as pid:
        code = run_cli(lambda: quickstart.main([*_argv(tiny_t5_dir, toy_task, out, 6), "--force"]))
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and f"pid {pid}" in err[0]
    assert (out / "finetune-seed20").is_dir()
    missing = tmp_path / "missing"
    code = run_cli(lambda: quickstart.main([*_argv(tiny_t5_dir, toy_task, missing, 6), "--t5_task", "toy-sentimnt"]))
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "task folder not found; close matches" in err[0]
    assert not missing.exists()


def test_runs_made_by_code_with_other_results_train_again(tmp_path):
    from module.sweep import RESULTS_VERSION

    out = tmp_path / "quickstart"
    (out / "configs").mkdir(parents=True)
    (out / "configs" / "t5-finetune-seed20.json").write_text('{"argv": []}')  # a record from before the stamp
    assert quickstart.forget_stale_runs(out) and not (out / "configs").exists()
    stamp = json.loads((out / "results_version.json").read_text())
    assert stamp == {"results_version": RESULTS_VERSION}
    (out / "configs").mkdir()
    assert not quickstart.forget_stale_runs(out) and (out / "configs").exists()  # same version: kept


def test_forgetting_stale_runs_keeps_the_lock_of_the_run_holding_the_folder(tmp_path):
    from module.files import LOCK_FILE, folder_lock

    out = tmp_path / "paper"
    with folder_lock(out):  # a new folder holds nothing but its lock: nothing is stale
        assert not quickstart.forget_stale_runs(out) and (out / LOCK_FILE).is_file()
        (out / "results_version.json").write_text('{"results_version": -1}')
        (out / "old-run").mkdir()
        assert quickstart.forget_stale_runs(out) and not (out / "old-run").exists()
        assert (out / LOCK_FILE).is_file()


@pytest.mark.slow
def test_encoder_quickstart_runs_both_pairs_and_reuses_finished_runs(minilm_dir, tmp_path, capsys):
    """The default track end to end on a tiny BERT and a three-label task named snli: the jobs get the paper's
    config keys (do_test, evaluation_strategy) in memory, and a rerun trains nothing again."""
    from utils import toy

    data = tmp_path / "data"
    toy.write_nli_task(data, "snli", sizes=(64, 24, 24))
    model = toy.build_tiny_encoder(tmp_path / "tiny-bert", minilm_dir)
    argv = ["--out", str(tmp_path / "qs"), "--data", str(data), "--model", str(model), "--steps", "4",
            "--train_examples", "64", "--eval_examples", "16"]
    assert quickstart.main(argv) == 0
    out = tmp_path / "qs"
    for method in ("finetune", "adapter"):
        summary = json.loads((out / f"{method}-seed20+30" / "summary.json").read_text())
        assert summary["points"] == 26 and set(summary["splits"]) == {"dev", "test"}
        results = json.loads((out / f"{method}-seed20" / "all_results.json").read_text())
        assert results["global_step"] == 4 and "test_accuracy" in results
    assert (out / "overlay.png").stat().st_size > 0
    times = {p: p.stat().st_mtime_ns for p in out.glob("*-seed*/all_results.json")}
    capsys.readouterr()
    assert quickstart.main(argv) == 0
    assert "reusing its all_results.json" in capsys.readouterr().out
    assert {p: p.stat().st_mtime_ns for p in times} == times


@pytest.mark.slow
def test_the_causal_quickstart_sweeps_both_lines_and_the_lora_factors_path(tokenizer_dir, toy_task, tmp_path, capsys):
    """--track causal on a tiny GPT-2: full fine-tuning and LoRA pairs, their lines and LoRA's factors path, the
    table and the overlay; a rerun trains nothing again."""
    from transformers import AutoTokenizer

    from utils import toy

    model = toy.build_tiny_causal(tmp_path / "gpt2", AutoTokenizer.from_pretrained(str(tokenizer_dir)))
    out = tmp_path / "qs"
    argv = ["--track", "causal", "--out", str(out), "--data", str(toy_task.parent), "--causal_task", toy_task.name,
            "--causal_model", str(model), "--causal_steps", "2", "--causal_lora_steps", "2", "--eval_examples", "8"]
    assert quickstart.main(argv) == 0
    printed = capsys.readouterr().out
    for name, path in (("finetune-seed20+30", None), ("lora-seed20+30", "delta"), ("lora-seed20+30-factors",
                                                                                    "factors")):
        summary = json.loads((out / name / "summary.json").read_text())
        assert summary["points"] == 26 and set(summary["splits"]) == {"dev", "test"}
        assert summary.get("lora_path") == path
        assert name in printed
    assert (out / "overlay.png").stat().st_size > 0
    stamps = {p: p.stat().st_mtime_ns for p in out.glob("*-seed*/all_results.json")}
    assert len(stamps) == 4
    assert quickstart.main(argv) == 0
    assert {p: p.stat().st_mtime_ns for p in out.glob("*-seed*/all_results.json")} == stamps
