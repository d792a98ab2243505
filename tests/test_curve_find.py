"""curve_find.py end to end on the tiny T5: training, saving, resuming, sweeping, and the original's defaults."""

from __future__ import annotations

import csv
import json
import logging
import math
import random

import pytest
import torch
from transformers import AutoTokenizer, T5ForConditionalGeneration

import curve_find
import task_interpolation
import tune_singletask
from dataloader.batching import encode_split, train_batches
from dataloader.tasks import load_split, task_name
from module.checkpoint import load_checkpoint, save_checkpoint
from module.cli import run_cli
from module.curve_training import CurveTrainer
from module.curves import (
    Curve,
    step_t,
)
from module.interpolation import interpolation_points
from T5_model.curve_job import check_curve_options, curve_recipe, t5_curve_data
from T5_model.options import build_parser, parse_options
from utils import toy
from utils.toy import perturbed_t5_ends, write_task


# ------------------------------------------------------------------------------------------- curve_find.py
@pytest.fixture(scope="module")
def small_task(tmp_path_factory):
    return write_task(tmp_path_factory.mktemp("curve-data"), sizes=(32, 16, 16), seed=5)


@pytest.fixture(scope="module")
def adapter_ends(tiny_t5_dir, small_task, tmp_path_factory):
    out = tmp_path_factory.mktemp("curve-ends")
    ends = []
    for seed, std in (("20", "0.02"), ("30", "0.08")):
        code = tune_singletask.main(["--task_dir", str(small_task), "--model", str(tiny_t5_dir), "--output_dir",
                                     str(out / seed), "--do_train", "--tune_method", "adapter", "--adapter_size",
                                     "4", "--train_iters", "2", "--valid_interval", "100", "--output_interval",
                                     "100", "--learning_rate", "1e-2", "--train_batch_size", "16", "--seed", seed,
                                     "--r_std", std, "--metric", "ACC", "--max_output_length", "5", "--quiet"])
        assert code == 0
        ends.append(out / seed / f"lr_0.01_bsz_16_seed_{seed}" / "checkpoint-last.pt")
    return ends


def _curve_find(tiny_t5_dir, task, out, p1, p2, *extra):
    return run_cli(lambda: curve_find.main([
        "--task_dir", str(task), "--model", str(tiny_t5_dir), "--output_dir", str(out), "--load_PET_path_1",
        str(p1), "--load_PET_path_2", str(p2), "--metric", "ACC", "--max_output_length", "5", "--quiet",
        "--tune_method", "adapter", "--adapter_size", "4", "--train_batch_size", "16", "--predict_batch_size", "32",
        "--learning_rate", "1e-2", *extra]))


def test_curve_find_trains_saves_and_sweeps(adapter_ends, tiny_t5_dir, small_task, tmp_path, capsys):
    out = tmp_path / "curve"
    chosen = ("--bend_num", "1", "--valid_t", "0.25", "0.5", "0.75", "--max_grad_norm", "0.01")  # the project's
    code = _curve_find(tiny_t5_dir, small_task, out, *adapter_ends, "--train_iters", "4", "--valid_interval", "2",
                       "--log_interval", "2", "--itpl_points", "3", "--do_valid", "--do_predict", *chosen)
    assert code == 0, capsys.readouterr().err
    for name in ("curve-best.pt", "curve-last.pt", "result.csv", "summary.json", "interpolation.png", "metrics.csv",
                 "log.txt", "valid_data_analysis.json", "test_data_analysis.json"):
        assert (out / name).is_file(), name
    rows = list(csv.DictReader((out / "result.csv").open()))
    assert len(rows) == 4 and rows[-1]["prefix"] == "average"
    assert [float(r["x"]) for r in rows[:-1]] == interpolation_points(3) == [0.0, 0.5, 1.0]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["curve_length"] > 0 and summary["line_length"] > 0
    assert summary["curve_length"] >= summary["line_length"] * (1 - 1e-6)
    assert summary["curve_type"] == "bezier" and summary["bend_num"] == 1 and summary["bend_init"] == "random"
    assert set(summary["length_weighted_mean_loss"]) == {"dev", "test"}
    dev_losses = [float(r["dev_loss"]) for r in rows[:-1]]
    assert min(dev_losses) - 1e-3 <= summary["length_weighted_mean_loss"]["dev"] <= max(dev_losses) + 1e-3
    metrics = list(csv.DictReader((out / "metrics.csv").open()))
    kinds = [m["kind"] for m in metrics]
    assert kinds.count("valid") == 2 and kinds.count("valid@t=0.5") == 2 and kinds.count("train") == 2
    best = load_checkpoint(out / "curve-best.pt")
    assert best.meta["curve_type"] == "bezier" and best.meta["best_step"] in (2, 4)
    assert sorted(best.tensors) == sorted(f"bend0.{k}" for k in load_checkpoint(adapter_ends[0]).tensors)
    last = load_checkpoint(out / "curve-last.pt")
    assert last.meta["finished"] and last.meta["num_updates"] == 4 and last.optimizer
    # t = 0 is endpoint 1 exactly: same dev loss as the straight line's x = 0
    line = tmp_path / "line"
    assert run_cli(lambda: task_interpolation.main([
        "--task_dir", str(small_task), "--model", str(tiny_t5_dir), "--output_dir", str(line), "--load_PET_path_1",
        str(adapter_ends[0]), "--load_PET_path_2", str(adapter_ends[1]), "--metric", "ACC", "--max_output_length",
        "5", "--quiet", "--tune_method", "adapter", "--adapter_size", "4", "--itpl_points", "2", "--do_valid"])) == 0
    line_rows = list(csv.DictReader((line / "result.csv").open()))
    assert float(rows[0]["dev_loss"]) == pytest.approx(float(line_rows[0]["dev_loss"]), abs=1e-4)
    assert float(rows[-2]["dev_loss"]) == pytest.approx(float(line_rows[-2]["dev_loss"]), abs=1e-4)
    # running again: training is finished, the sweep is complete; nothing changes
    before = (out / "result.csv").read_text()
    assert _curve_find(tiny_t5_dir, small_task, out, *adapter_ends, "--train_iters", "4", "--valid_interval", "2",
                       "--log_interval", "2", "--itpl_points", "3", "--do_valid", "--do_predict", *chosen) == 0
    assert (out / "result.csv").read_text() == before
    assert len(list(csv.DictReader((out / "metrics.csv").open()))) == len(metrics)
    # other training settings into the same folder: refused
    assert _curve_find(tiny_t5_dir, small_task, out, *adapter_ends, "--train_iters", "5", "--valid_interval", "2",
                       "--itpl_points", "3", "--do_valid", *chosen) == 2
    assert "other settings" in capsys.readouterr().err


def test_curve_find_bad_input_leaves_nothing(adapter_ends, tiny_t5_dir, small_task, tmp_path, capsys):
    out = tmp_path / "out"
    cases = [
        ((adapter_ends[0], tmp_path / "missing.pt", "--do_valid"), "missing.pt"),
        ((*adapter_ends, "--do_valid", "--bend_num", "0"), "--bend_num"),
        ((*adapter_ends, "--do_valid", "--adapter_size", "8"), "--adapter_size 4"),
        ((*adapter_ends,), "nothing to evaluate"),
    ]
    tensors = dict(load_checkpoint(adapter_ends[0]).tensors)
    dropped = sorted(tensors)[0]
    tensors.pop(dropped)
    other = save_checkpoint(tmp_path / "other.pt", tensors, kind="adapter")
    cases.append(((adapter_ends[0], other, "--do_valid"), dropped))
    for flags, needle in cases:
        assert _curve_find(tiny_t5_dir, small_task, out, *flags) == 2, flags
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and needle in err[0], (flags, err)
        assert not out.exists()


def test_step_t_is_uniform_and_reproducible():
    ts = [step_t(20, s) for s in range(1, 2001)]
    assert ts[:5] == [step_t(20, s) for s in range(1, 6)]
    assert all(0 <= t < 1 for t in ts) and abs(sum(ts) / len(ts) - 0.5) < 0.03
    assert ts != [step_t(21, s) for s in range(1, 2001)]
    assert math.isclose(sum(t < 0.25 for t in ts) / len(ts), 0.25, abs_tol=0.04)


@pytest.fixture(scope="module")
def model_ends(tiny_t5_dir, tmp_path_factory):
    """Two full-model endpoints: the tiny T5 with two different small perturbations (no training needed)."""
    return perturbed_t5_ends(tiny_t5_dir, tmp_path_factory.mktemp("curve-model-ends"))


@pytest.mark.parametrize("dropout", [0.0, 0.1])
def test_curve_find_full_model_resumes_an_interrupted_training(dropout, model_ends, tiny_t5_dir, small_task, tmp_path,
                                                               capsys):
    """A curve interrupted after its checkpoint and run again equals the uninterrupted one bit for bit, with dropout
    too (issue 27.6: curve-last.pt lacked the generator states, so dropout drew other masks after a resume)."""
    common = ["--tune_method", "model", "--train_iters", "4", "--valid_interval", "10", "--output_interval", "2",
              "--itpl_points", "2", "--do_valid", "--learning_rate", "1e-3", "--bend_num", "1"]
    model = tiny_t5_dir
    if dropout:
        import shutil

        model = tmp_path / "t5-dropout"
        shutil.copytree(tiny_t5_dir, model)
        config = json.loads((model / "config.json").read_text())
        (model / "config.json").write_text(json.dumps({**config, "dropout_rate": dropout}))

    def run(out):
        return run_cli(lambda: curve_find.main([
            "--task_dir", str(small_task), "--model", str(model), "--output_dir", str(out), "--load_PET_path_1",
            str(model_ends[0]), "--load_PET_path_2", str(model_ends[1]), "--metric", "ACC", "--max_output_length",
            "5", "--quiet", "--train_batch_size", "8", *common]))

    assert run(tmp_path / "straight") == 0
    with toy.ctrl_c_at(CurveTrainer, "update", 3):
        assert run(tmp_path / "resumed") == 130
    assert load_checkpoint(tmp_path / "resumed" / "curve-last.pt").meta["num_updates"] == 2
    assert not (tmp_path / "resumed" / "result.csv").exists()
    assert run(tmp_path / "resumed") == 0
    a = load_checkpoint(tmp_path / "straight" / "curve-last.pt")
    b = load_checkpoint(tmp_path / "resumed" / "curve-last.pt")
    assert a.meta["finished"] and b.meta["finished"] and b.meta["num_updates"] == 4
    assert sorted(a.tensors) == sorted(b.tensors)
    assert all(torch.equal(a.tensors[k], b.tensors[k]) for k in a.tensors)
    if dropout:
        return  # the rest holds for any model
    # the midpoint bend moved off the line; tied aliases are not on the curve (shared.weight carries them)
    assert "bend0.shared.weight" in a.tensors and "bend0.encoder.embed_tokens.weight" not in a.tensors
    ends = [load_checkpoint(p).tensors for p in model_ends]
    name = "encoder.block.0.layer.1.DenseReluDense.wo.weight"
    assert not torch.allclose(a.tensors[f"bend0.{name}"], (ends[0][name] + ends[1][name]) / 2, atol=1e-4)
    assert json.loads((tmp_path / "straight" / "summary.json").read_text())["bend_init"] == "midpoint"
    # t = 0 and t = 1 are the endpoints: the straight line's x = 0 and x = 1 give the same dev loss
    assert run_cli(lambda: task_interpolation.main([
        "--task_dir", str(small_task), "--model", str(tiny_t5_dir), "--output_dir", str(tmp_path / "line"),
        "--load_PET_path_1", str(model_ends[0]), "--load_PET_path_2", str(model_ends[1]), "--metric", "ACC",
        "--max_output_length", "5", "--quiet", "--tune_method", "model", "--itpl_points", "2", "--do_valid"])) == 0
    line = list(csv.DictReader((tmp_path / "line" / "result.csv").open()))
    curve_rows = list(csv.DictReader((tmp_path / "straight" / "result.csv").open()))
    assert [r["dev_loss"] for r in curve_rows[:2]] == [r["dev_loss"] for r in line[:2]]


# ------------------------------------------------------------------------------- the original's curve defaults
# valid_random_itpl_points.csv of the original code, as written there (np.loadtxt order)
ORIGINAL_VALID_CSV = "7.725638477843416174e-01\n3.729565378240083939e-01\n5.129354059597469595e-01\n"
ORIGINAL_ADAPTER_TS = [float(line) for line in ORIGINAL_VALID_CSV.split()]


def _curve_args(*extra):
    return check_curve_options(parse_options(["--task_dir", "t", "--output_dir", "o", *extra], entry="curve"))


def _ends(*extra):
    return ("--load_PET_path_1", "a.pt", "--load_PET_path_2", "b.pt", *extra)


def test_curve_find_defaults_are_the_originals():
    adapter = _curve_args(*_ends("--tune_method", "adapter"))
    assert adapter.max_grad_norm == 0 and adapter.bend_num == 3 and adapter.valid_t == ORIGINAL_ADAPTER_TS
    assert _curve_args(*_ends("--tune_method", "model")).valid_t == [0.25, 0.5, 0.75]
    assert _curve_args(*_ends("--tune_method", "finetune")).valid_t == [0.25, 0.5, 0.75]
    chosen = _curve_args(*_ends("--tune_method", "adapter", "--max_grad_norm", "0.01", "--valid_t", "0.25", "0.5",
                                "0.75", "--bend_num", "1"))
    assert chosen.max_grad_norm == 0.01 and chosen.valid_t == [0.25, 0.5, 0.75] and chosen.bend_num == 1
    assert parse_options(["--task_dir", "t", "--output_dir", "o"]).max_grad_norm == 0.01  # tune_singletask.py's
    help_text = " ".join(build_parser(entry="curve").format_help().split())
    assert "0 means no clipping, as in the original's curve training" in help_text
    assert "(tune_singletask.py: 0.01) (default: 0.0)" in help_text  # curve_find.py's own default
    assert "(the paper's scripts pass 1) (default: 3)" in help_text
    with pytest.raises(ValueError, match=r"--valid_t: every t must lie in \[0, 1\], got 1.5"):
        _curve_args(*_ends("--valid_t", "0.5", "1.5"))


def test_load_stage1_pet_path_list_is_the_two_endpoints():
    args = _curve_args("--load_stage1_pet_path_list", "a.pt", "b.pt")
    assert (args.load_PET_path_1, args.load_PET_path_2) == ("a.pt", "b.pt")
    assert _curve_args(*_ends("--load_stage1_pet_path_list", "a.pt", "b.pt")).load_PET_path_2 == "b.pt"
    with pytest.raises(ValueError, match="expected the two endpoints PATH1 PATH2, got 3 path"):
        _curve_args("--load_stage1_pet_path_list", "a.pt", "b.pt", "c.pt")
    with pytest.raises(ValueError, match="--load_PET_path_1 c.pt contradicts --load_stage1_pet_path_list"):
        _curve_args("--load_PET_path_1", "c.pt", "--load_stage1_pet_path_list", "a.pt", "b.pt")


def _gradient_norm_at_the_step(tiny_t5_dir, small_task, out, *extra) -> float:
    """The bends' gradient norm the optimiser sees after one CurveTrainer.update on a curve far off the line."""
    args = _curve_args(*_ends("--tune_method", "model", "--model", str(tiny_t5_dir), "--train_batch_size", "8",
                              "--max_output_length", "5", *extra))
    tokenizer = AutoTokenizer.from_pretrained(str(tiny_t5_dir))
    model = T5ForConditionalGeneration.from_pretrained(str(tiny_t5_dir)).requires_grad_(False)
    names = ["decoder.final_layer_norm.weight", "lm_head.weight"]
    own = model.state_dict(keep_vars=True)
    ends = [{n: 100 * own[n].detach() + shift for n in names} for shift in (0.0, 0.1)]  # huge decoder states
    curve = Curve(*ends, bend_num=args.bend_num, generator=torch.Generator().manual_seed(0))
    task = task_name(small_task)
    trainer = CurveTrainer(curve_recipe(args, task, "ACC"), t5_curve_data(args, model, tokenizer, {}, "ACC"), model,
                           curve, {n: own[n] for n in names}, ("a.pt", "b.pt"), "ACC", out,
                           logging.getLogger("test-curves"))
    enc = encode_split(load_split(small_task, "train"), tokenizer, task, max_output_length=5)
    group = next(train_batches(enc, 8, tokenizer.pad_token_id, random.Random(0)))
    seen = []

    class Recorder:  # stands in for Adafactor: records the gradient it would apply
        def step(self):
            seen.append(math.sqrt(sum(float(p.grad.pow(2).sum()) for p in curve.parameters())))

        def zero_grad(self, set_to_none=True):
            curve.zero_grad(set_to_none=set_to_none)

    class Constant:
        def step(self):
            pass

    trainer.optimizer, trainer.scheduler = Recorder(), Constant()
    trainer.update(group, 1)
    return seen[0]


def test_curve_training_clips_only_when_asked(tiny_t5_dir, small_task, tmp_path):
    unclipped = _gradient_norm_at_the_step(tiny_t5_dir, small_task, tmp_path / "default")
    assert unclipped > 10  # a huge gradient, applied as it is: the original's curve training clipped nothing
    clipped = _gradient_norm_at_the_step(tiny_t5_dir, small_task, tmp_path / "clipped", "--max_grad_norm", "0.01")
    assert clipped == pytest.approx(0.01, rel=1e-4)


def test_curve_find_validates_at_the_original_points_by_default(adapter_ends, tiny_t5_dir, small_task, tmp_path,
                                                                capsys):
    out = tmp_path / "curve"
    code = run_cli(lambda: curve_find.main([
        "--task_dir", str(small_task), "--model", str(tiny_t5_dir), "--output_dir", str(out), "--metric", "ACC",
        "--load_stage1_pet_path_list", str(adapter_ends[0]), str(adapter_ends[1]), "--max_output_length", "5",
        "--quiet", "--tune_method", "adapter", "--adapter_size", "4", "--train_batch_size", "16",
        "--predict_batch_size", "32", "--learning_rate", "1e-2", "--train_iters", "2", "--valid_interval", "2",
        "--itpl_points", "2", "--do_valid"]))
    assert code == 0, capsys.readouterr().err
    kinds = [m["kind"] for m in csv.DictReader((out / "metrics.csv").open()) if m["kind"].startswith("valid")]
    assert kinds == [f"valid@t={t}" for t in ORIGINAL_ADAPTER_TS] + ["valid"]
    best = load_checkpoint(out / "curve-best.pt")
    assert best.meta["valid_ts"] == ORIGINAL_ADAPTER_TS and best.meta["train_settings"]["max_grad_norm"] == 0
    assert best.meta["bend_num"] == 3 and {k.split(".")[0] for k in best.tensors} == {"bend0", "bend1", "bend2"}
    assert best.meta["endpoints"] == [str(p) for p in adapter_ends]
    assert json.loads((out / "summary.json").read_text())["bend_num"] == 3


def test_a_curve_is_not_resumed_after_its_training_data_changed(adapter_ends, tiny_t5_dir, small_task, tmp_path,
                                                               capsys):
    """Issue 13.1 for curves: the train file's contents (and the endpoints') are part of the training settings."""
    import shutil

    task = tmp_path / small_task.name
    shutil.copytree(small_task, task)
    out = tmp_path / "curve"
    flags = ("--bend_num", "1", "--train_iters", "2", "--valid_interval", "2", "--itpl_points", "2", "--do_valid")
    assert _curve_find(tiny_t5_dir, task, out, *adapter_ends, *flags) == 0
    train = task / f"{task.name}_train.tsv"
    train.write_text("".join(train.read_text().splitlines(keepends=True)[:20]))  # same path, other data
    capsys.readouterr()
    assert _curve_find(tiny_t5_dir, task, out, *adapter_ends, *flags) == 2
    err = capsys.readouterr().err
    assert "trained curve made with other settings" in err and "data" in err


def test_a_curve_into_a_held_folder_is_refused_before_training(adapter_ends, tiny_t5_dir, small_task, tmp_path,
                                                               capsys):
    """Issue 27.2: a second curve_find.py on one folder trained for minutes (metrics.csv got duplicated rows) before
    its sweep was refused; the folder's lock is now taken before its first write."""
    from module.files import LOCK_FILE
    from utils import toy

    out = tmp_path / "curve"
    with toy.folder_held_elsewhere(out) as pid:
        assert _curve_find(tiny_t5_dir, small_task, out, *adapter_ends, "--do_valid", "--train_iters", "2") == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and str(out) in err[0] and f"pid {pid}" in err[0], err
        assert [p.name for p in out.iterdir()] == [LOCK_FILE]
