"""causal_model/interpolate.py end to end on a tiny GPT-2 (built from a config, with the tests' tokenizer) and two
peft LoRA adapters: the files of a sweep, `lora_path` recorded, the endpoints scored as the adapters themselves,
delta and factors meeting at the ends only, and a rerun reusing every point."""

from __future__ import annotations

import json

import pytest
import torch

from causal_model import interpolate
from module.cli import run_cli


@pytest.fixture(scope="module")
def lora_world(tmp_path_factory, tokenizer_dir, toy_task):
    from transformers import AutoTokenizer

    from utils import toy

    root = tmp_path_factory.mktemp("causal")
    toy.build_tiny_causal(root / "base", AutoTokenizer.from_pretrained(str(tokenizer_dir)))
    return root / "base", toy.random_lora_adapters(root / "base", root, seeds=(1, 2, 3)), toy_task


def _run(world, out, *extra) -> int:
    base, adapters, task = world
    return run_cli(lambda: interpolate.main(["--model", str(base), "--path1", str(adapters[0]), "--path2",
                                             str(adapters[1]), "--task_dir", str(task), "--output_dir", str(out),
                                             "--itpl_points", "3", "--max_eval_samples", "12", "--quiet", *extra]))


def test_a_lora_line_sweeps_like_the_other_tracks_and_its_ends_are_the_adapters(lora_world, tmp_path, capsys):
    from peft import PeftModel

    from causal_model.model import load_causal, load_causal_tokenizer
    from causal_model.scoring import rank_classify
    from dataloader.tasks import load_split
    from module.sweep import read_records

    base, adapters, task = lora_world
    assert _run(lora_world, tmp_path / "delta") == 0
    assert _run(lora_world, tmp_path / "factors", "--lora_path", "factors") == 0
    summaries = {k: json.loads((tmp_path / k / "summary.json").read_text()) for k in ("delta", "factors")}
    assert summaries["delta"]["lora_path"] == "delta" and summaries["factors"]["lora_path"] == "factors"
    assert (tmp_path / "delta" / "interpolation.png").stat().st_size > 0
    records = {k: read_records(tmp_path / k) for k in ("delta", "factors")}
    assert [r["x"] for r in records["delta"]] == [0.0, 0.5, 1.0]
    dev = load_split(task, "dev")[:12]
    labels = sorted({e.answers[0] for e in load_split(task, "train")})
    tokenizer = load_causal_tokenizer(base)
    for k, adapter in ((0, adapters[0]), (-1, adapters[1])):  # the ends are the adapters, scored directly
        model = PeftModel.from_pretrained(load_causal(base), str(adapter)).eval()
        direct = rank_classify(model, tokenizer, task.name, [e.input for e in dev], labels,
                               [labels.index(e.answers[0]) for e in dev])
        for path in ("delta", "factors"):
            split = records[path][k]["splits"]["dev"]
            assert split["scores"] == [r["correct"] for r in direct]
            assert split["loss"] == pytest.approx(sum(r["loss"] for r in direct) / len(direct), abs=1e-5)
    middle = [records[p][1]["splits"]["dev"]["loss"] for p in ("delta", "factors")]
    assert middle[0] != pytest.approx(middle[1], abs=1e-6)  # the two paths part between the ends
    point = tmp_path / "delta" / "points" / "x_0.500.json"
    before = point.stat().st_mtime_ns
    capsys.readouterr()
    assert _run(lora_world, tmp_path / "delta") == 0  # a rerun evaluates nothing again
    assert point.stat().st_mtime_ns == before
    assert "x=0.0: dev accuracy" in capsys.readouterr().out


def test_a_lora_and_a_model_endpoint_are_refused_before_anything_is_written(lora_world, tmp_path, capsys):
    base, adapters, task = lora_world
    code = run_cli(lambda: interpolate.main(["--model", str(base), "--path1", str(adapters[0]), "--path2", str(base),
                                             "--task_dir", str(task), "--output_dir", str(tmp_path / "out")]))
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "all endpoints must be of one kind" in err[0]
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("lora_path", ["delta", "factors"])
def test_an_exported_lora_point_predicts_as_the_sweep_at_that_point(lora_path, lora_world, tmp_path, capsys):
    """utils/export_point.py with two peft folders: delta merged into a plain folder that AutoModelForCausalLM
    loads, factors as a peft folder that PeftModel loads; both give the path model's logits at x."""
    from causal_model.model import load_causal
    from module.interpolation import Interpolator
    from module.lora import lora_path_model
    from utils import export_point

    base, adapters, _ = lora_world
    out = tmp_path / "point"
    code = run_cli(lambda: export_point.main(["--path1", str(adapters[0]), "--path2", str(adapters[1]), "--x", "0.3",
                                              "--model", str(base), "--lora_path", lora_path, "--out", str(out)]))
    assert code == 0, capsys.readouterr().err
    files = sorted(p.name for p in out.iterdir())
    if lora_path == "delta":
        assert "model.safetensors" in files and "adapter_config.json" not in files
        from transformers import AutoModelForCausalLM

        exported = AutoModelForCausalLM.from_pretrained(str(out)).eval()
    else:
        assert files == ["adapter_config.json", "adapter_model.safetensors", "export.json"]
        from peft import PeftModel

        exported = PeftModel.from_pretrained(load_causal(base), str(out)).eval()
    path = lora_path_model(load_causal(base), tuple(str(a) for a in adapters), lora_path)
    Interpolator(path.model, path.theta1, path.theta2).set(0.3)
    ids = torch.tensor([[5, 9, 13, 2, 7]])
    with torch.no_grad():
        expected = path.model(input_ids=ids).logits
        assert torch.allclose(exported(input_ids=ids).logits, expected, atol=1e-5)
        assert torch.allclose(export_point.load_export(out)(input_ids=ids).logits, expected, atol=1e-5)
    info = json.loads((out / "export.json").read_text())
    assert info["lora_path"] == lora_path and info["track"] == "lora"


@pytest.mark.parametrize("case,expected", [
    ("--max_eval_samples 0", "--max_eval_samples must be at least 1, got 0"),
    ("--itpl_points 1", "--itpl_points must be at least 2, got 1"),
    ("missing endpoint", "nothere: endpoint not found"),
    ("other base model", "cannot be put on this base model"),
])
def test_bad_causal_sweep_inputs_are_one_line_and_write_nothing(case, expected, lora_world, tmp_path, capsys):
    """Before: --max_eval_samples 0 swept 26 points of no example (exit 0); a missing endpoint was called a
    model; adapters of another base model gave peft's message naming no folder."""
    base, adapters, task = lora_world
    argv = ["--model", str(base), "--path1", str(adapters[0]), "--path2", str(adapters[1]), "--task_dir", str(task),
            "--output_dir", str(tmp_path / "out")]
    if case == "missing endpoint":
        argv[5] = str(tmp_path / "nothere")
    elif case == "other base model":
        from transformers import AutoTokenizer

        from utils import toy

        argv[1] = str(toy.build_tiny_causal(tmp_path / "llama", AutoTokenizer.from_pretrained(str(base)), "llama"))
    else:
        argv += case.split()
    code = run_cli(lambda: interpolate.main(argv))
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and expected in err[0], err
    assert not (tmp_path / "out").exists()


def test_a_matrix_of_three_adapters_sweeps_each_pair_as_its_own_line(lora_world, tmp_path, capsys):
    from module.files import read_csv
    from module.sweep import read_records

    base, adapters, task = lora_world
    common = ["--model", str(base), "--task_dir", str(task), "--itpl_points", "3", "--max_eval_samples", "12",
              "--quiet"]
    assert run_cli(lambda: interpolate.main([*common, "--paths", *map(str, adapters),
                                             "--output_dir", str(tmp_path / "matrix")])) == 0
    rows = read_csv(tmp_path / "matrix" / "matrix.csv")
    assert [(r["i"], r["j"]) for r in rows] == [("0", "1"), ("0", "2"), ("1", "2")]
    assert (tmp_path / "matrix" / "matrix.png").stat().st_size > 0
    # the stacked adapter of all three (rank 12) walks the pair (1, 2) as the two-adapter line (rank 8) does
    assert run_cli(lambda: interpolate.main([*common, "--path1", str(adapters[1]), "--path2", str(adapters[2]),
                                             "--output_dir", str(tmp_path / "line")])) == 0
    pair, line = read_records(tmp_path / "matrix" / "pair_1_2"), read_records(tmp_path / "line")
    assert [r["x"] for r in pair] == [r["x"] for r in line] == [0.0, 0.5, 1.0]
    for a, b in zip(pair, line, strict=True):
        assert a["splits"]["dev"]["scores"] == b["splits"]["dev"]["scores"]
        assert a["splits"]["dev"]["loss"] == pytest.approx(b["splits"]["dev"]["loss"], abs=1e-5)
    assert json.loads((tmp_path / "matrix" / "pair_0_2" / "summary.json").read_text())["lora_path"] == "delta"
    capsys.readouterr()
    code = run_cli(lambda: interpolate.main([*common, "--paths", *map(str, adapters), "--path1", str(adapters[0]),
                                             "--output_dir", str(tmp_path / "both")]))
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "not both" in err[0] and not (tmp_path / "both").exists()


def test_a_curve_between_two_adapters_trains_their_factors_resumes_and_starts_and_ends_at_them(lora_world,
                                                                                                 tmp_path):
    """Issue 28: causal curves on the shared curve trainer, in the LoRA factors (delta's stacked adapter)."""
    from causal_model import curve_find
    from module.checkpoint import load_checkpoint
    from module.sweep import read_records

    base, adapters, task = lora_world
    common = ["--model", str(base), "--path1", str(adapters[0]), "--path2", str(adapters[1]), "--task_dir",
              str(task), "--itpl_points", "3", "--max_eval_samples", "12", "--quiet", "--curve_steps", "4",
              "--train_batch_size", "4", "--max_train_samples", "16", "--learning_rate", "1e-2",
              "--output_interval", "2", "--log_interval", "1"]
    assert run_cli(lambda: curve_find.main([*common, "--output_dir", str(tmp_path / "curve")])) == 0
    summary = json.loads((tmp_path / "curve" / "summary.json").read_text())
    assert summary["curve_tensors"].startswith("LoRA factors A, B of the stacked delta adapter")
    assert summary["curve_type"] == "bezier" and summary["lora_path"] == "delta"
    assert summary["curve_length"] > summary["line_length"] > 0  # the bend left the line
    best = load_checkpoint(tmp_path / "curve" / "curve-best.pt")
    assert best.tensors and all(".lora_A.path." in k or ".lora_B.path." in k for k in best.tensors)
    # t = 0 and t = 1 are the adapters: the straight line's ends
    assert _run(lora_world, tmp_path / "line") == 0
    curve, line = read_records(tmp_path / "curve"), read_records(tmp_path / "line")
    for k in (0, -1):
        assert curve[k]["splits"]["dev"]["scores"] == line[k]["splits"]["dev"]["scores"]
        assert curve[k]["splits"]["dev"]["loss"] == pytest.approx(line[k]["splits"]["dev"]["loss"], abs=1e-5)
    # a run interrupted after update 3 resumes from the checkpoint of update 2 to the same bends
    from module.curve_training import CurveTrainer
    from utils import toy

    with toy.ctrl_c_at(CurveTrainer, "update", 3):
        assert run_cli(lambda: curve_find.main([*common, "--output_dir", str(tmp_path / "resumed")])) == 130
    assert run_cli(lambda: curve_find.main([*common, "--output_dir", str(tmp_path / "resumed")])) == 0
    a, b = (load_checkpoint(tmp_path / name / "curve-last.pt") for name in ("curve", "resumed"))
    assert b.meta["num_updates"] == 4 and all(torch.equal(a.tensors[k], b.tensors[k]) for k in a.tensors)


def test_a_curve_between_two_fine_tuned_models_curves_every_weight(tmp_path, tokenizer_dir, toy_task):
    from transformers import AutoTokenizer

    from causal_model import curve_find
    from module.checkpoint import load_checkpoint
    from utils import toy

    toy.build_tiny_causal(tmp_path / "base", AutoTokenizer.from_pretrained(str(tokenizer_dir)))
    toy.perturbed_causal_ends(tmp_path / "base", tmp_path, scale=0.02)
    assert run_cli(lambda: curve_find.main([
        "--model", str(tmp_path / "base"), "--path1", str(tmp_path / "ft1"), "--path2", str(tmp_path / "ft2"),
        "--task_dir", str(toy_task), "--output_dir", str(tmp_path / "curve"), "--itpl_points", "2",
        "--max_eval_samples", "8", "--quiet", "--curve_steps", "2", "--train_batch_size", "4",
        "--max_train_samples", "8", "--curve_type", "polychain"])) == 0
    summary = json.loads((tmp_path / "curve" / "summary.json").read_text())
    assert summary["curve_tensors"].startswith("full weights") and summary["curve_type"] == "polychain"
    bends = load_checkpoint(tmp_path / "curve" / "curve-best.pt").tensors
    assert "bend0.transformer.wte.weight" in bends and len(bends) > 10


@pytest.mark.parametrize("flags,expected", [(["--curve_steps", "0"], "--curve_steps must be at least 1"),
                                            (["--valid_t", "0.5", "2"], "--valid_t: every t must lie in [0, 1]"),
                                            (["--curve_type", "spline"], "--curve_type"),
                                            (["--learning_rate", "0"], "--learning_rate must be a positive")])
def test_impossible_curve_flags_are_one_line_before_anything_is_written(lora_world, tmp_path, capsys, flags,
                                                                        expected):
    from causal_model import curve_find

    base, adapters, task = lora_world
    try:
        code = run_cli(lambda: curve_find.main(["--model", str(base), "--path1", str(adapters[0]), "--path2",
                                                str(adapters[1]), "--task_dir", str(task), "--output_dir",
                                                str(tmp_path / "bad"), *flags]))
    except SystemExit as exc:  # argparse's own refusal (a choice)
        code = exc.code
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and expected in err[0], err
    assert not (tmp_path / "bad").exists()
