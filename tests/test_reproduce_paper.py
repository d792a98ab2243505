"""`experiments/reproduce_paper.py` end to end on a tiny BERT and a three-label task named snli: the runs and
lines of the experiments written so far, REPORT.md with a verdict that follows from the numbers it shows, and a
rerun that trains nothing again."""

from __future__ import annotations

import json
import re

import pytest

from dataloader.tasks import load_split
from experiments import reproduce_paper
from module.plotting import majority_fraction
from tests import toy


@pytest.mark.slow
def test_the_report_shows_each_experiments_numbers_and_a_verdict_they_imply(minilm_dir, tmp_path, capsys):
    data = tmp_path / "data"
    toy.write_nli_task(data, "snli", sizes=(64, 24, 24))
    model = toy.build_tiny_encoder(tmp_path / "tiny-bert", minilm_dir)
    out = tmp_path / "paper"
    argv = ["--quick", "--out", str(out), "--data", str(data), "--model", str(model), "--steps", "4",
            "--train_examples", "64", "--eval_examples", "16", "--points", "4"]
    assert reproduce_paper.main(argv) == 0
    report = (out / "REPORT.md").read_text()
    verdicts = json.loads((out / "findings.json").read_text())
    assert sorted(verdicts, key=int) == [str(n) for n in range(1, 11)]
    for number in range(1, 11):
        assert f"## {number}. " in report
    assert verdicts["5"] == "not run yet" and verdicts["10"] == "not testable at this scale"
    # experiment 2's verdict is the stated rule applied to the numbers of its two lines
    same, different = (json.loads((out / name / "summary.json").read_text())["splits"]["dev"]["performance"]
                       for name in ("adapter-init20-data20+30", "adapter-init20+30"))
    lowest = min(same["endpoints"] + different["endpoints"])
    majority = majority_fraction([e.answers for e in load_split(data / "snli", "dev")[:16]], "ACC")
    if lowest < majority + reproduce_paper.LEARNED:
        expected = "not testable at this scale"
    else:
        expected = ("reproduced" if different["barrier_linear"] >= same["barrier_linear"] + reproduce_paper.CLEAR
                    else "not reproduced")
    assert verdicts["2"] == expected
    assert f"Measured: {different['barrier_linear']:.3f} against {same['barrier_linear']:.3f}" in report
    # 3: one run with a checkpoint every steps // 5 updates (4 updates: every update), each swept to the final one
    assert sorted(p.name for p in (out / "adapter-seed20-save_steps1-save_total_limit5").glob("checkpoint-*")) == \
        [f"checkpoint-{n}" for n in range(1, 5)]
    assert all((out / f"adapter-step{n}+4" / "summary.json").is_file() for n in range(1, 4))
    # 4: the two halves' configs say which half; both methods' lines are in the report with their barriers
    for method in ("finetune", "adapter"):
        for half in ("split1", "split2"):
            config = json.loads((out / "configs" / f"{method}-seed20-datasplit{half}.json").read_text())
            assert config["datasplit"] == half and config["max_train_samples"] == 64
        disjoint, overlapping = (json.loads((out / f"{method}-{n}" / "summary.json").read_text())
                                 ["splits"]["dev"]["performance"] for n in ("split1+split2", "split1+all"))
        assert (f"Measured: {disjoint['barrier_linear']:.3f} against {overlapping['barrier_linear']:.3f}"
                in report)
    for figure in re.findall(r"!\[[^]]*\]\(([^)]+)\)", report):
        assert (out / figure).stat().st_size > 0
    # the same initialisation: the two runs' adapters start alike, their configs say so
    config = json.loads((out / "configs" / "adapter-seed30-init_seed20.json").read_text())
    assert config["init_seed"] == 20 and config["seed"] == 30
    times = {p: p.stat().st_mtime_ns for p in out.rglob("all_results.json")}
    capsys.readouterr()
    assert reproduce_paper.main(argv) == 0
    assert "reusing its all_results.json" in capsys.readouterr().out
    assert {p: p.stat().st_mtime_ns for p in times} == times
