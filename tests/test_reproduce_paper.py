"""`experiments/reproduce_paper.py --quick` end to end on a tiny BERT, two toy tasks named like the offline ones and a
small RoBERTa pre-trained here: every finding's runs and paths through the user's jobs, REPORT.md with the paper's
words and a verdict per finding that names what it could not judge, and a rerun that trains nothing again. The
verdict logic itself is tested on made-up numbers in tests/test_paper_findings.py."""

from __future__ import annotations

import json
import re

import pytest

from experiments import reproduce_paper
from experiments.paper_claims import CLAIMS
from experiments.paper_rules import VERDICTS
from utils import toy


@pytest.mark.slow
def test_the_quick_report_runs_every_finding_and_reuses_its_runs(minilm_dir, tmp_path, capsys, monkeypatch):
    # each sweep's own figure is the sweep jobs' (tests/test_plots.py, test_pipeline.py); the report's are drawn here
    monkeypatch.setattr("module.analysis.plot_sweep", lambda xs, perf, loss, metric, path, **kwargs: path)
    data = tmp_path / "data"
    for seed, task in enumerate(("rotten_tomatoes", "tweet_polarity")):
        toy.write_task(data, task, sizes=(64, 16, 16), seed=seed)
    toy.write_nli_task(data, "snli", sizes=(64, 16, 16))
    text = tmp_path / "corpus.txt"
    text.write_text("\n".join(toy.corpus(400)) + "\n")
    model = toy.build_tiny_encoder(tmp_path / "tiny-bert", minilm_dir)
    out = tmp_path / "paper"
    argv = ["--quick", "--out", str(out), "--data", str(data), "--model", str(model), "--steps", "4",
            "--train_examples", "64", "--eval_examples", "16", "--points", "3", "--cartography_examples", "32",
            "--text", str(text)]
    assert reproduce_paper.main(argv) == 0
    report = (out / "REPORT.md").read_text()
    verdicts = json.loads((out / "findings.json").read_text())
    assert list(verdicts) == [*CLAIMS, "own_distance"] and set(verdicts.values()) <= set(VERDICTS)
    for claim in CLAIMS.values():
        assert f'**The paper** (poster, {claim.section}): "{claim.quote}"' in report
    # 4 updates on a toy task: nothing converges, and each verdict says which endpoints it could not rest on
    assert set(verdicts.values()) == {"inconclusive at this scale"}
    assert report.count("Not judged: `") >= 6
    # Q1.1: the same initialisation, another data order (the run's config says so), at every save
    config = json.loads((out / "configs" / "adapter-rotten_tomatoes-seed30-init20.json").read_text())
    assert (config["init_seed"], config["seed"], config["save_steps"]) == (20, 30, 2)
    assert all((out / f"q1_order-adapter-step{s}" / "summary.json").is_file() for s in (2, 4))
    # Q1.3: the two halves; Q1.4 and Q3: both tasks along one line, from the cartography runs
    assert json.loads((out / "configs" / "finetune-rotten_tomatoes-seed20-split2.json").read_text())[
        "datasplit"] == "split2"
    for task in ("rotten_tomatoes", "tweet_polarity"):
        assert json.loads((out / f"q1_domain-{task}-step4" / "sweep.json").read_text())["task"] == task
        settings = json.loads((out / f"q3-adapter-on-{task}" / "sweep.json").read_text())
        assert settings["itp_on_train"] and settings["max_train_samples"] == 32
        carto = json.loads((out / f"adapter-{task}-seed20-cartography" / "cartography.json").read_text())
        assert len(carto) == 32 and {len(e["confidence"]) for e in carto.values()} == {4}  # 4 epochs of 32
        assert isinstance(json.loads((out / f"q3-adapter-on-{task}-groups.json").read_text()), list)
    # Q1.5: a trained curve with its losses kept; Q2: runs from the pre-trained step checkpoints, boundary lines
    assert len(json.loads((out / "q1_curve-adapter" / "summary.json").read_text())["splits"]["dev"]["performance"][
        "endpoints"]) == 2
    assert all((out / "pretraining" / f"ckpt_{s}" / "config.json").is_file() for s in (4, 8))
    boundary = json.loads((out / "q2_boundary-finetune-ckpt_8-on-snli" / "sweep.json").read_text())
    assert boundary["head_from"].endswith("ckpt_8-finetune-snli-seed20/checkpoint-4")
    # the runs keep the history the convergence rule reads
    assert "valid" in (out / "adapter-rotten_tomatoes-seed20" / "metrics.csv").read_text()
    for figure in re.findall(r"!\[[^]]*\]\(([^)]+)\)", report):
        assert (out / figure).stat().st_size > 0
    times = {p: p.stat().st_mtime_ns for p in out.rglob("all_results.json")}
    capsys.readouterr()
    assert reproduce_paper.main(argv) == 0
    assert "reusing its all_results.json" in capsys.readouterr().out
    assert {p: p.stat().st_mtime_ns for p in times} == times


def test_a_missing_task_folder_is_one_line_before_anything_is_written(tmp_path, capsys):
    out = tmp_path / "paper"
    code = reproduce_paper.run_cli(lambda: reproduce_paper.main(["--profile", "paper", "--out", str(out), "--data",
                                                                 str(tmp_path / "nodata")]))
    assert code == 2 and not out.exists()
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "glue-mnli_train.tsv" in err[0]
