"""Issue 29: the plane through three checkpoints as a path geometry (module/geometries/plane.py): an orthonormal
basis, the checkpoints evaluated at their own coordinates exactly as anywhere else, a killed plane sweep resumed to
the same plane.csv, two processes writing what one writes, and the same geometry on every family."""

from __future__ import annotations

import json
import math

import pytest
import torch

import task_interpolation
from module.cli import run_cli
from module.geometries import GEOMETRIES, geometry, sweep_geometry
from module.geometries.plane import PlaneError, PlaneMover, grid_points, plane_basis
from module.interpolation import Interpolator
from utils import toy


def _random_thetas(seed=0):
    g = torch.Generator().manual_seed(seed)
    shapes = {"a.weight": (4, 3), "a.bias": (4,), "b.weight": (2, 2, 2)}
    return [{k: torch.randn(s, generator=g) for k, s in shapes.items()} for _ in range(3)]


def test_the_basis_is_orthonormal_and_places_the_three_checkpoints():
    thetas = _random_thetas()
    basis, e1, e2 = plane_basis(thetas)
    dot = lambda x, y: sum(float((x[k] * y[k]).sum()) for k in x)  # noqa: E731
    assert dot(e1, e1) == pytest.approx(1.0, abs=1e-12) and dot(e2, e2) == pytest.approx(1.0, abs=1e-12)
    assert dot(e1, e2) == pytest.approx(0.0, abs=1e-12)
    (a, b, (uc, vc)) = basis.anchors
    assert a == (0.0, 0.0) and b == (1.0, 0.0) and vc > 0
    diff = {k: thetas[2][k].double() - thetas[0][k].double() for k in e1}  # C = A + scale·(uc·e1 + vc·e2)
    assert all(torch.allclose(diff[k], basis.scale * (uc * e1[k] + vc * e2[k]), atol=1e-10) for k in diff)
    assert basis.scale == pytest.approx(math.sqrt(sum(float(((thetas[1][k] - thetas[0][k]).double() ** 2).sum())
                                                       for k in e1)))
    with pytest.raises(PlaneError, match="lies on the line through the first two"):
        plane_basis([thetas[0], thetas[1], {k: 2 * thetas[1][k] - thetas[0][k] for k in thetas[0]}])
    with pytest.raises(PlaneError, match="the same point"):
        plane_basis([thetas[0], thetas[0], thetas[2]])
    points = grid_points(basis.anchors, 5, 0.25)
    assert len(points) == 25 and min(u for u, _ in points) < min(0.0, uc) and max(v for _, v in points) > vc


def test_the_mover_writes_the_plane_and_each_checkpoint_exactly():
    model = torch.nn.Sequential()
    model.a = torch.nn.Linear(3, 4)
    model.b = torch.nn.Module()
    model.b.register_parameter("weight", torch.nn.Parameter(torch.zeros(2, 2, 2)))
    thetas = _random_thetas(1)
    basis, e1, e2 = plane_basis(thetas)
    mover = PlaneMover(Interpolator(model, thetas[0], thetas[1]), thetas, basis, e1, e2)
    live = dict(model.named_parameters())
    for k in range(3):
        mover.set((*basis.anchors[k], k))
        assert all(torch.equal(live[n], thetas[k][n]) for n in thetas[k])
    mover.set((0.5, 0.25, -1))
    expect = {n: thetas[0][n] + 0.5 * (thetas[1][n] - thetas[0][n]) + 0.25 * basis.scale * e2[n].float()
              for n in thetas[0]}
    assert all(torch.allclose(live[n], expect[n], atol=1e-6) for n in expect)
    mover.restore()
    assert torch.equal(live["b.weight"], torch.zeros(2, 2, 2))


def test_the_registry_names_the_geometries():
    assert {"line", "matrix", "plane"} <= set(GEOMETRIES)
    assert geometry("plane").__module__ == "module.geometries.plane"
    with pytest.raises(ValueError, match="unknown path geometry 'torus'"):
        sweep_geometry("torus", None, [], [], "x")


@pytest.fixture(scope="module")
def ends(tiny_t5_dir, tmp_path_factory):
    return toy.perturbed_t5_ends(tiny_t5_dir, tmp_path_factory.mktemp("plane-ends"), seeds=(1, 2, 3))


def _plane_argv(tiny_t5_dir, toy_task, ends, out, *extra):
    return ["--task_dir", str(toy_task), "--model", str(tiny_t5_dir), "--output_dir", str(out),
            "--load_PET_path_list", *map(str, ends), "--plane_grid", "3", "--do_valid", "--metric", "ACC",
            "--max_output_length", "6", "--quiet", *extra]


@pytest.fixture(scope="module")
def plane(tiny_t5_dir, toy_task, ends, tmp_path_factory):
    out = tmp_path_factory.mktemp("plane") / "plane"
    with toy.threads(1):  # as each torchrun process: the two-process test compares files byte for byte
        assert run_cli(lambda: task_interpolation.main(_plane_argv(tiny_t5_dir, toy_task, ends, out))) == 0
    return out


def test_a_t5_plane_writes_its_files_and_its_checkpoints_equal_their_own_evaluation(plane, tiny_t5_dir, toy_task,
                                                                                    ends, tmp_path):
    from module.sweep import read_records

    rows = (plane / "plane.csv").read_text().splitlines()
    assert rows[0] == "u,v,checkpoint,dev_performance,dev_loss" and len(rows) == 1 + 9 + 3
    summary = json.loads((plane / "summary.json").read_text())
    assert summary["kind"] == "plane" and summary["points"] == {"grid": 9, "of": 9}
    assert [c["path"] for c in summary["checkpoints"]] == [str(p) for p in ends]
    assert (plane / "plane.png").stat().st_size > 0
    line = tmp_path / "line"  # the line A -> B evaluates A at x = 0 and B at x = 1
    assert run_cli(lambda: task_interpolation.main([
        "--task_dir", str(toy_task), "--model", str(tiny_t5_dir), "--output_dir", str(line), "--load_PET_path_1",
        str(ends[0]), "--load_PET_path_2", str(ends[1]), "--itpl_points", "2", "--do_valid", "--metric", "ACC",
        "--max_output_length", "6", "--quiet"])) == 0
    at = {p.stem: json.loads(p.read_text()) for p in (plane / "points").glob("checkpoint_*.json")}
    line_records = read_records(line)
    assert at["checkpoint_0"]["splits"] == line_records[0]["splits"]  # to the last digit
    assert at["checkpoint_1"]["splits"] == line_records[1]["splits"]
    assert (at["checkpoint_1"]["u"], at["checkpoint_1"]["v"]) == (1.0, 0.0)


def test_a_killed_plane_sweep_continues_to_the_same_file(plane, tiny_t5_dir, toy_task, ends, tmp_path):
    out = tmp_path / "plane"
    with toy.threads(1), toy.ctrl_c_at(PlaneMover, "set", 5):
        assert run_cli(lambda: task_interpolation.main(_plane_argv(tiny_t5_dir, toy_task, ends, out))) == 130
    assert len(list((out / "points").glob("*.json"))) == 4
    with toy.threads(1):
        assert run_cli(lambda: task_interpolation.main(_plane_argv(tiny_t5_dir, toy_task, ends, out))) == 0
    assert (out / "plane.csv").read_bytes() == (plane / "plane.csv").read_bytes()
    with toy.threads(1):  # a changed grid in the same folder is refused
        code = run_cli(lambda: task_interpolation.main(_plane_argv(tiny_t5_dir, toy_task, ends, out,
                                                                   "--plane_margin", "0.5")))
    assert code == 2


def test_plane_flags_are_checked_in_one_line(tiny_t5_dir, toy_task, ends, tmp_path, capsys):
    argv = _plane_argv(tiny_t5_dir, toy_task, ends[:2], tmp_path / "two")
    with pytest.raises(SystemExit):
        task_interpolation.main(argv)
    assert "--plane_grid: the plane goes through three checkpoints" in capsys.readouterr().err
    assert not (tmp_path / "two").exists()


@pytest.mark.slow
def test_two_processes_write_the_plane_one_process_writes(plane, tiny_t5_dir, toy_task, ends, tmp_path):
    done = toy.torchrun("task_interpolation.py", *_plane_argv(tiny_t5_dir, toy_task, ends, tmp_path / "two"))
    assert done.returncode == 0, done.stderr[-3000:]
    assert (tmp_path / "two" / "plane.csv").read_bytes() == (plane / "plane.csv").read_bytes()


def test_the_plane_on_the_encoder_and_the_causal_families(tmp_path, minilm_dir, tokenizer_dir, toy_task):
    """The same geometry through every family's job: three encoder runs (config key plane_grid) and three LoRA
    adapters of a causal LM (--plane_grid); each checkpoint's point equals its line's end."""
    from transformers import AutoTokenizer

    from causal_model import interpolate
    from module.sweep import read_records
    from RoBERTa_model import itp_pretrain_adapter, run_glue

    toy.write_task(tmp_path / "data", "toy-sentiment", sizes=(16, 8, 8))
    backbone = toy.build_tiny_encoder(tmp_path / "tiny-bert", minilm_dir)
    common = {"model_name_or_path": str(backbone), "task_name": "toy-sentiment", "data_dir": str(tmp_path / "data"),
              "delta_type": "none", "max_source_length": 32, "disable_tqdm": True}
    for seed in (1, 2, 3):
        cfg = tmp_path / f"run{seed}.json"
        cfg.write_text(json.dumps({**common, "learning_rate": 1e-3, "max_steps": 2, "do_train": True, "seed": seed,
                                   "per_device_train_batch_size": 8, "output_dir": str(tmp_path / f"run{seed}")}))
        assert run_glue.main([str(cfg)]) == 0
    runs = [str(tmp_path / f"run{s}") for s in (1, 2, 3)]
    cfg = tmp_path / "plane.json"
    cfg.write_text(json.dumps({**common, "paths": runs, "plane_grid": 2, "output_dir": str(tmp_path / "enc")}))
    assert itp_pretrain_adapter.main([str(cfg)]) == 0
    cfg.write_text(json.dumps({**common, "path1": runs[1], "path2": runs[2], "itpl_points": 2,
                               "output_dir": str(tmp_path / "enc-line")}))
    assert itp_pretrain_adapter.main([str(cfg)]) == 0
    at = json.loads((tmp_path / "enc" / "points" / "checkpoint_2.json").read_text())
    assert at["splits"] == read_records(tmp_path / "enc-line")[1]["splits"]
    assert len((tmp_path / "enc" / "plane.csv").read_text().splitlines()) == 1 + 4 + 3

    toy.build_tiny_causal(tmp_path / "gpt2", AutoTokenizer.from_pretrained(str(tokenizer_dir)))
    adapters = [str(a) for a in toy.random_lora_adapters(tmp_path / "gpt2", tmp_path, seeds=(1, 2, 3), r=2,
                                                         target_modules=("c_attn",), b_scale=1.0)]
    common = ["--model", str(tmp_path / "gpt2"), "--task_dir", str(toy_task), "--max_eval_samples", "8", "--quiet"]
    assert run_cli(lambda: interpolate.main([*common, "--paths", *adapters, "--plane_grid", "2", "--output_dir",
                                             str(tmp_path / "lora-plane")])) == 0
    assert run_cli(lambda: interpolate.main([*common, "--path1", adapters[0], "--path2", adapters[2], "--itpl_points",
                                             "2", "--output_dir", str(tmp_path / "lora-line")])) == 0
    plane_points = {p.stem: json.loads(p.read_text()) for p in (tmp_path / "lora-plane" / "points").glob("check*")}
    line = read_records(tmp_path / "lora-line")
    for k, x in ((0, 0), (2, 1)):  # the stacked adapter of three holds each adapter as the pair's does
        got, want = plane_points[f"checkpoint_{k}"]["splits"]["dev"], line[x]["splits"]["dev"]
        assert got["scores"] == want["scores"] and got["loss"] == pytest.approx(want["loss"], abs=1e-5)


def test_the_plane_through_two_endpoints_and_a_curves_bend_holds_the_curve(tiny_t5_dir, toy_task, ends, tmp_path):
    """Garipov et al.'s figure: C is a trained one-bend Bezier curve's bend; the plane holds the whole curve, so the
    curve's points are the plane's points at its coordinates."""
    import curve_find
    from module.geometries.plane import PlaneError, curve_bend

    common = ["--task_dir", str(toy_task), "--model", str(tiny_t5_dir), "--metric", "ACC", "--max_output_length",
              "6", "--quiet", "--do_valid"]
    assert run_cli(lambda: curve_find.main([
        *common, "--output_dir", str(tmp_path / "curve"), "--load_PET_path_1", str(ends[0]), "--load_PET_path_2",
        str(ends[1]), "--tune_method", "model", "--train_batch_size", "8", "--learning_rate", "1e-3", "--bend_num",
        "1", "--train_iters", "2", "--valid_interval", "2", "--valid_t", "0.5", "--itpl_points", "3"])) == 0
    bend = tmp_path / "curve" / "curve-best.pt"
    assert run_cli(lambda: task_interpolation.main([
        *common, "--output_dir", str(tmp_path / "plane"), "--load_PET_path_list", str(ends[0]), str(ends[1]),
        str(bend), "--plane_grid", "2"])) == 0
    summary = json.loads((tmp_path / "plane" / "summary.json").read_text())
    assert summary["checkpoints"][2]["path"] == str(bend)
    assert (tmp_path / "plane" / "plane.png").stat().st_size > 0
    # the curve at t = 0.5, A/4 + C/2 + B/4, is the plane's point (u_C/2 + 1/4, v_C/2)
    from transformers import T5ForConditionalGeneration

    from module.checkpoint import load_checkpoint
    from module.geometries.plane import with_bend

    a, b = (load_checkpoint(p).tensors for p in ends[:2])
    c = with_bend(curve_bend(bend, ends[:2]), a)
    model = T5ForConditionalGeneration.from_pretrained(str(tiny_t5_dir))
    interpolator = Interpolator(model, a, b)
    keys = list(interpolator.targets)
    basis, e1, e2 = plane_basis([{k: t[k] for k in keys} for t in (a, b, c)])
    mover = PlaneMover(interpolator, [a, b, c], basis, e1, e2)
    uc, vc = basis.anchors[2]
    mover.set((uc / 2 + 0.25, vc / 2, -1))
    live = model.state_dict()
    assert all(torch.allclose(live[k], a[k] / 4 + c[k] / 2 + b[k] / 4, atol=1e-5) for k in keys)
    with pytest.raises(PlaneError, match="the curve joins"):
        curve_bend(bend, [str(ends[0]), str(ends[2])])
    assert curve_bend(ends[2], ends[:2]) is None  # a checkpoint, not a curve


def test_the_random_direction_plane_around_one_checkpoint(tiny_t5_dir, toy_task, ends, tmp_path):
    """Li et al. 2018: two Gaussian directions, filter-wise normalised (each row the norm of the checkpoint's row,
    1-D tensors unmoved); the checkpoint itself evaluated exactly; the same seed draws the same plane."""
    from module.geometries.random_plane import filter_normalized_direction
    from module.sweep import read_records

    theta = {"w": torch.randn(5, 3), "b": torch.randn(5), "steps": torch.tensor(3)}
    d = filter_normalized_direction(theta, torch.Generator().manual_seed(0))
    assert torch.allclose(d["w"].norm(dim=1), theta["w"].norm(dim=1)) and not d["b"].any() and not d["steps"].any()

    def run(out, *extra):
        return run_cli(lambda: task_interpolation.main([
            "--task_dir", str(toy_task), "--model", str(tiny_t5_dir), "--output_dir", str(out), "--load_PET_path_1",
            str(ends[0]), "--plane_random", "--plane_grid", "3", "--plane_span", "0.5", "--do_valid", "--metric",
            "ACC", "--max_output_length", "6", "--quiet", *extra]))

    assert run(tmp_path / "random") == 0
    summary = json.loads((tmp_path / "random" / "summary.json").read_text())
    assert summary["kind"] == "random_plane" and summary["points"]["grid"] == 9
    assert abs(summary["basis"]["cosine"]) < 0.5
    rows = (tmp_path / "random" / "plane.csv").read_text().splitlines()
    assert rows[1].startswith("-0.5000,-0.5000,") and len(rows) == 1 + 9 + 1
    assert run_cli(lambda: task_interpolation.main([
        "--task_dir", str(toy_task), "--model", str(tiny_t5_dir), "--output_dir", str(tmp_path / "line"),
        "--load_PET_path_1", str(ends[0]), "--load_PET_path_2", str(ends[1]), "--itpl_points", "2", "--do_valid",
        "--metric", "ACC", "--max_output_length", "6", "--quiet"])) == 0
    at = json.loads((tmp_path / "random" / "points" / "checkpoint_0.json").read_text())
    assert at["splits"] == read_records(tmp_path / "line")[0]["splits"]
    assert run(tmp_path / "again") == 0
    assert (tmp_path / "again" / "plane.csv").read_bytes() == (tmp_path / "random" / "plane.csv").read_bytes()
    assert (tmp_path / "random" / "plane.png").stat().st_size > 0
