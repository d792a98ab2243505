"""Tied tensors (T5's shared / embed_tokens / lm_head) are counted, compared, interpolated and written once."""

from __future__ import annotations

import pytest
import safetensors
import torch
from transformers import T5ForConditionalGeneration

from module.aliases import alias_map, check_tied_agree, unique_numel
from module.checkpoint import FORMAT, load_checkpoint, save_checkpoint
from module.interpolation import Interpolator
from module.tensors import IncompatibleCheckpoints
from utils import calculate_dist as cd
from utils.toy import tiny_t5_config

TIED = ("shared.weight", "encoder.embed_tokens.weight", "decoder.embed_tokens.weight", "lm_head.weight")


def _t5(seed: int) -> T5ForConditionalGeneration:
    torch.manual_seed(seed)
    return T5ForConditionalGeneration(tiny_t5_config(64))


def _flat_params(model) -> torch.Tensor:
    """Every parameter once (nn.Module.parameters() skips tied duplicates), in float64."""
    return torch.cat([p.detach().reshape(-1).double() for p in model.parameters()])


def test_a_t5_state_dict_has_its_tied_names_as_aliases_of_shared():
    model = _t5(0)
    state = model.state_dict()
    assert alias_map(state) == dict.fromkeys(TIED[1:], "shared.weight")
    assert unique_numel(state) == sum(p.numel() for p in model.parameters()) < sum(t.numel() for t in state.values())


def _old_copies_file(path, state):
    """A project checkpoint as written before tied tensors were deduplicated: one copy per name."""
    torch.save({"format": FORMAT, "kind": "model", "meta_json": "{}",
                "tensors": {k: v.clone() for k, v in state.items()}}, path)
    return path


@pytest.mark.parametrize("writer", ["project.pt", "project.safetensors", "original", "old-copies"])
def test_calculate_dist_counts_each_parameter_once_unless_count_aliases(tmp_path, writer, capsys):
    models = [_t5(1), _t5(2)]
    paths = []
    for i, m in enumerate(models):
        state = m.state_dict()
        if writer.startswith("project"):
            paths.append(save_checkpoint(tmp_path / f"m{i}.{writer.split('.')[1]}", state, kind="model"))
        elif writer == "original":  # the original code's pickle: torch.save keeps the tie (one storage)
            torch.save({"model": state, "optimizer": {}}, tmp_path / f"m{i}.pt")
            paths.append(tmp_path / f"m{i}.pt")
        else:
            paths.append(_old_copies_file(tmp_path / f"m{i}.pt", state))
    a, b = (_flat_params(m) for m in models)
    argv = ["--input1", str(paths[0]), "--input2", str(paths[1]), "--type", "model", "--per_layer"]
    assert cd.main(argv) == 0
    out = capsys.readouterr().out
    values = out.splitlines()
    n = int(values[values.index("====================num of para====================") + 1])
    l2 = float(values[values.index("=====================L2 distance===================") + 1])
    assert n == a.numel()
    assert l2 == pytest.approx(torch.linalg.vector_norm(a - b).item(), rel=1e-9)
    assert "encoder.embed_tokens" not in out.split("per layer")[1] and "left out" in out

    assert cd.main([*argv, "--count_aliases"]) == 0
    orig = capsys.readouterr().out.splitlines()
    embed = models[0].shared.weight.numel()
    assert int(orig[orig.index("====================num of para====================") + 1]) == n + 3 * embed


def test_distance_keeps_a_name_tied_in_only_one_checkpoint():
    tied, untied = _t5(1).state_dict(), {k: v.clone() for k, v in _t5(2).state_dict().items()}
    untied["lm_head.weight"] = torch.randn_like(untied["lm_head.weight"])  # a separately trained head
    got = cd.distance(tied, untied)
    embed = tied["shared.weight"].numel()
    assert got["params"] == unique_numel(tied) + embed  # lm_head is a parameter of its own in the second
    assert cd.distance(tied, untied, count_aliases=True)["params"] == unique_numel(tied) + 3 * embed


def test_a_tied_tensor_is_written_once_and_read_back_under_every_name(tmp_path):
    model = _t5(3)
    state = model.state_dict()
    for suffix in ("pt", "safetensors"):
        path = save_checkpoint(tmp_path / f"c.{suffix}", state, kind="model")
        if suffix == "safetensors":
            with safetensors.safe_open(str(path), framework="pt") as f:
                assert set(f.keys()) == set(state) - set(TIED[1:])
        else:
            assert set(torch.load(path, weights_only=True)["tensors"]) == set(state) - set(TIED[1:])
        back = load_checkpoint(path).tensors
        assert set(back) == set(state) and all(torch.equal(back[k], state[k]) for k in state)
        fresh = _t5(4)
        fresh.load_state_dict(back)
        assert torch.equal(_flat_params(fresh), _flat_params(model))


def test_interpolator_writes_a_tied_parameter_once_and_refuses_endpoints_that_untie_it():
    model = _t5(0)
    t1, t2 = _t5(1).state_dict(), _t5(2).state_dict()
    interp = Interpolator(model, t1, t2)
    assert set(interp.targets) == set(t1) - set(TIED[1:])
    interp.set(0.5)
    expected = 0.5 * t1["shared.weight"] + 0.5 * t2["shared.weight"]
    assert all(torch.equal(model.state_dict()[k], expected) for k in TIED)

    bad = {k: v.clone() for k, v in t2.items()}
    bad["lm_head.weight"] += 1.0
    with pytest.raises(IncompatibleCheckpoints, match="'shared.weight' and 'lm_head.weight' are one tied"):
        Interpolator(model, t1, bad)
    with pytest.raises(ValueError, match="different values"):
        check_tied_agree(model.state_dict(), bad, "x.pt")


def test_sweep_log_counts_each_parameter_once(tiny_t5_dir, toy_task, tmp_path):
    import task_interpolation
    from module.cli import run_cli

    model = T5ForConditionalGeneration.from_pretrained(str(tiny_t5_dir))
    ends = [save_checkpoint(tmp_path / f"e{i}.pt", model.state_dict(), kind="model") for i in (1, 2)]
    argv = ["--task_dir", str(toy_task), "--model", str(tiny_t5_dir), "--tokenizer_path", str(tiny_t5_dir),
            "--output_dir", str(tmp_path / "out"), "--load_PET_path_1", str(ends[0]), "--load_PET_path_2",
            str(ends[1]), "--tune_method", "model", "--itpl_points", "2", "--do_valid", "--quiet", "--metric", "ACC"]
    assert run_cli(lambda: task_interpolation.main(argv)) == 0
    log = (tmp_path / "out" / "log.txt").read_text()
    n = sum(p.numel() for p in model.parameters()) + sum(b.numel() for b in model.buffers())
    assert f"({n} values)" in log, log


def test_curve_endpoints_that_untie_a_tied_parameter_are_refused():
    from module.curve_training import curve_names

    model = _t5(0)
    bad = {k: v.clone() for k, v in _t5(1).state_dict().items()}
    bad["decoder.embed_tokens.weight"] *= 2
    with pytest.raises(ValueError, match="'shared.weight' and 'decoder.embed_tokens.weight' are one tied"):
        curve_names(model, bad, "end.pt", "")
    on_curve, skipped = curve_names(model, _t5(1).state_dict(), "end.pt", "")
    assert set(skipped) == set(TIED[1:]) and "shared.weight" in on_curve
