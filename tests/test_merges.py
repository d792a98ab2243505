"""Issue 29: merges as points beside a line (module/geometries/merges.py): task arithmetic with one task vector and
λ = x is the line's point x, TIES and DARE are the published rules (through peft's functions), SLERP starts and ends
at the endpoints; on the T5 track, `--merges` writes them beside the line's endpoints and best point."""

from __future__ import annotations

import csv
import math

import pytest
import torch

import task_interpolation
from module.cli import run_cli
from module.geometries.merges import dare, merge_points, slerp, task_arithmetic, ties
from utils import toy


def test_task_arithmetic_with_one_task_vector_is_the_line():
    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(50, generator=g), torch.randn(50, generator=g)
    for x in (0.0, 0.25, 0.5, 1.0):
        assert torch.allclose(task_arithmetic(a, [b - a], x), (1 - x) * a + x * b, atol=1e-6)


def test_ties_trims_elects_the_sign_and_averages_the_agreeing_values():
    taus = [torch.tensor([3.0, -1.0, 0.5, -4.0]), torch.tensor([-2.0, 2.0, 1.0, -1.0])]
    # keep the top half of each by magnitude: [3, 0, 0, -4] and [-2, 2, 0, 0]; signs by total mass: +, +, 0, -
    assert torch.equal(ties(torch.zeros(4), taus, 0.5), torch.tensor([3.0, 2.0, 0.0, -4.0]))
    assert torch.equal(ties(torch.ones(4), taus, 0.5), torch.tensor([4.0, 3.0, 1.0, -3.0]))  # θ0 + the merge


def test_dare_drops_and_rescales_and_keeps_everything_at_density_one():
    taus = [torch.arange(1.0, 9.0), -torch.arange(1.0, 9.0) / 2]
    assert torch.allclose(dare(torch.zeros(8), taus, 1.0), (taus[0] + taus[1]) / 2)
    torch.manual_seed(3)
    one = dare(torch.zeros(8), [taus[0]], 0.5)
    assert set(torch.unique(one / taus[0]).tolist()) <= {0.0, 2.0} and 0 < int((one == 0).sum()) < 8


def test_slerp_starts_and_ends_at_the_endpoints_and_follows_the_arc():
    g = torch.Generator().manual_seed(1)
    a, b = torch.randn(20, generator=g), torch.randn(20, generator=g)
    assert torch.equal(slerp(a, b, 0.0), a) and torch.equal(slerp(a, b, 1.0), b)
    e1, e2 = torch.tensor([1.0, 0.0]), torch.tensor([0.0, 1.0])
    assert torch.allclose(slerp(e1, e2, 0.5), torch.tensor([1.0, 1.0]) / math.sqrt(2))
    assert torch.allclose(slerp(a, 2 * a, 0.5), 1.5 * a)  # parallel: the straight line
    with pytest.raises(ValueError, match="density"):
        merge_points([0.5], 0.0)


def test_merges_beside_a_t5_line(tiny_t5_dir, toy_task, tmp_path):
    from module.sweep import read_records

    ends = toy.perturbed_t5_ends(tiny_t5_dir, tmp_path)
    out = tmp_path / "line"
    assert run_cli(lambda: task_interpolation.main([
        "--task_dir", str(toy_task), "--model", str(tiny_t5_dir), "--output_dir", str(out), "--load_PET_path_1",
        str(ends[0]), "--load_PET_path_2", str(ends[1]), "--itpl_points", "3", "--do_valid", "--metric", "ACC",
        "--max_output_length", "6", "--quiet", "--merges"])) == 0
    rows = list(csv.DictReader((out / "merges" / "merges.csv").open()))
    assert [r["point"] for r in rows] == ["task arithmetic λ=0.5", "task arithmetic λ=1", "ties density=0.5",
                                          "dare density=0.5", "slerp t=0.5", "line x=0 (A)", "line x=1 (B)",
                                          rows[-1]["point"]] and rows[-1]["point"].startswith("line best x=")
    middle = read_records(out)[1]["splits"]["dev"]  # θ0 + ½(τA + τB) is the line's midpoint
    assert float(rows[0]["dev_performance"]) == pytest.approx(middle["performance"], abs=1e-6)
    assert float(rows[0]["dev_loss"]) == pytest.approx(middle["loss"], abs=1e-4)
    assert (out / "merges" / "merges.png").stat().st_size > 0


def test_merges_of_two_lora_adapters_act_on_their_updates(tmp_path, tokenizer_dir, toy_task):
    """LoRA (lora_path delta): the base is the zero update, so task arithmetic λ = 0.5 is the delta line's
    midpoint, ΔW = (ΔW_A + ΔW_B) / 2; factors has no shared zero update and is refused in one line."""
    from transformers import AutoTokenizer

    from causal_model import interpolate
    from module.sweep import read_records

    toy.build_tiny_causal(tmp_path / "gpt2", AutoTokenizer.from_pretrained(str(tokenizer_dir)))
    adapters = [str(a) for a in toy.random_lora_adapters(tmp_path / "gpt2", tmp_path, seeds=(1, 2), r=2,
                                                         target_modules=("c_attn",), b_scale=20.0)]
    common = ["--model", str(tmp_path / "gpt2"), "--path1", adapters[0], "--path2", adapters[1], "--task_dir",
              str(toy_task), "--max_eval_samples", "8", "--itpl_points", "3", "--quiet", "--merges"]
    assert run_cli(lambda: interpolate.main([*common, "--output_dir", str(tmp_path / "line")])) == 0
    rows = {r["point"]: r for r in csv.DictReader((tmp_path / "line" / "merges" / "merges.csv").open())}
    middle = read_records(tmp_path / "line")[1]["splits"]["dev"]
    assert float(rows["task arithmetic λ=0.5"]["dev_loss"]) == pytest.approx(middle["loss"], abs=1e-5)
    code = run_cli(lambda: interpolate.main([*common, "--lora_path", "factors", "--output_dir",
                                             str(tmp_path / "factors")]))
    assert code == 2 and not (tmp_path / "factors").exists()


def test_merges_and_layerwise_through_encoder_configs(tmp_path, minilm_dir):
    import json

    from RoBERTa_model import itp_pretrain_adapter, run_glue

    toy.write_task(tmp_path / "data", "toy-sentiment", sizes=(16, 8, 8))
    backbone = toy.build_tiny_encoder(tmp_path / "tiny-bert", minilm_dir)
    common = {"model_name_or_path": str(backbone), "task_name": "toy-sentiment", "data_dir": str(tmp_path / "data"),
              "delta_type": "none", "max_source_length": 32, "disable_tqdm": True}
    for seed in (1, 2):
        cfg = tmp_path / f"run{seed}.json"
        cfg.write_text(json.dumps({**common, "learning_rate": 1e-3, "max_steps": 2, "do_train": True, "seed": seed,
                                   "per_device_train_batch_size": 8, "output_dir": str(tmp_path / f"run{seed}")}))
        assert run_glue.main([str(cfg)]) == 0
    line = {**common, "path1": str(tmp_path / "run1"), "path2": str(tmp_path / "run2"), "itpl_points": 3}
    cfg = tmp_path / "line.json"
    cfg.write_text(json.dumps({**line, "merges": True, "output_dir": str(tmp_path / "line")}))
    assert itp_pretrain_adapter.main([str(cfg)]) == 0
    assert len((tmp_path / "line" / "merges" / "merges.csv").read_text().splitlines()) == 1 + 5 + 3
    cfg.write_text(json.dumps({**line, "layerwise": "layers", "output_dir": str(tmp_path / "layers")}))
    assert itp_pretrain_adapter.main([str(cfg)]) == 0
    groups = [r.split(",")[0] for r in (tmp_path / "layers" / "layerwise.csv").read_text().splitlines()[1:]]
    assert groups[0] == "embeddings" and "layer.0" in groups and groups[-1] == "classifier"


def test_merges_of_every_checkpoint_beside_a_matrix(tiny_t5_dir, toy_task, tmp_path):
    ends = toy.perturbed_t5_ends(tiny_t5_dir, tmp_path, seeds=(1, 2, 3))
    out = tmp_path / "matrix"
    assert run_cli(lambda: task_interpolation.main([
        "--task_dir", str(toy_task), "--model", str(tiny_t5_dir), "--output_dir", str(out), "--load_PET_path_list",
        *map(str, ends), "--itpl_points", "2", "--do_valid", "--metric", "ACC", "--max_output_length", "6",
        "--quiet", "--merges"])) == 0
    points = [r["point"] for r in csv.DictReader((out / "merges" / "merges.csv").open())]
    assert points[:4] == ["task arithmetic λ=0.5", "task arithmetic λ=1", "ties density=0.5", "dare density=0.5"]
    assert points[4:7] == ["checkpoint 0", "checkpoint 1", "checkpoint 2"] and points[7].startswith("best of all")
    assert (out / "matrix.csv").is_file() and (out / "merges" / "merges.png").stat().st_size > 0


def test_impossible_merge_settings_are_one_line_before_the_line_is_swept(tiny_t5_dir, toy_task, tmp_path, capsys):
    """Before: the line was swept and written, then the merges failed on --merge_density 0."""
    ends = toy.perturbed_t5_ends(tiny_t5_dir, tmp_path)
    capsys.readouterr()
    for flags, expected in ((["--merge_density", "0"], "--merge_density: expected a fraction in (0, 1]"),
                            (["--merge_lambdas", "nan"], "--merge_lambdas")):
        out = tmp_path / "line"
        with pytest.raises(SystemExit) as exit_:
            task_interpolation.main([
                "--task_dir", str(toy_task), "--model", str(tiny_t5_dir), "--output_dir", str(out),
                "--load_PET_path_1", str(ends[0]), "--load_PET_path_2", str(ends[1]), "--do_valid", "--metric", "ACC",
                "--quiet", "--merges", *flags])
        err = capsys.readouterr().err.strip().splitlines()
        assert exit_.value.code == 2 and len(err) == 1 and expected in err[0], err
        assert not out.exists()
