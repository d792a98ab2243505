"""Issue 29: layer-wise connectivity as a path geometry (module/geometries/layerwise.py): one group of tensors moves
while every other stays at the first endpoint bit for bit; all groups at once are the ordinary line; every family's
table puts each tensor in a group; the table and the figure of the barrier per group."""

from __future__ import annotations

import json

import pytest
import torch

import task_interpolation
from module.cli import run_cli
from module.families import FAMILIES, get_family
from module.geometries.layerwise import GroupMover, group_of, groups, matching
from module.interpolation import Interpolator
from utils import toy


@pytest.fixture(scope="module")
def ends(tiny_t5_dir, tmp_path_factory):
    return toy.perturbed_t5_ends(tiny_t5_dir, tmp_path_factory.mktemp("layerwise-ends"))


def _argv(tiny_t5_dir, toy_task, ends, out, *extra):
    return ["--task_dir", str(toy_task), "--model", str(tiny_t5_dir), "--output_dir", str(out), "--load_PET_path_1",
            str(ends[0]), "--load_PET_path_2", str(ends[1]), "--itpl_points", "3", "--do_valid", "--metric", "ACC",
            "--max_output_length", "6", "--quiet", *extra]


def test_every_familys_tables_put_each_tensor_in_a_group(tiny_t5_dir, minilm_dir, tokenizer_dir, tmp_path):
    from transformers import AutoModelForCausalLM, AutoTokenizer, T5ForConditionalGeneration

    from RoBERTa_model.encoder import build_classifier

    tokenizer = AutoTokenizer.from_pretrained(str(tokenizer_dir))
    names = {"t5": [n for n, _ in T5ForConditionalGeneration.from_pretrained(str(tiny_t5_dir)).named_parameters()],
             "encoder": [n for n, _ in build_classifier(str(toy.build_tiny_encoder(tmp_path / "bert", minilm_dir)),
                                                        ["a", "b"]).named_parameters()],
             "causal": [n for arch in ("gpt2", "llama") for n, _ in AutoModelForCausalLM.from_pretrained(
                 str(toy.build_tiny_causal(tmp_path / arch, tokenizer, arch=arch))).named_parameters()]}
    for family in FAMILIES:
        for table in ("layer_groups", "module_groups"):
            found = groups(names[family], getattr(get_family(family), table))
            assert "other" not in found, (family, table, found.get("other"))
        layers = groups(names[family], get_family(family).layer_groups)
        assert len(layers) >= 4, (family, list(layers))
    assert group_of("encoder.block.1.layer.0.SelfAttention.q.weight", get_family("t5").layer_groups) == \
        "encoder.block.1"
    assert group_of("model.layers.0.mlp.up_proj.weight", get_family("causal").module_groups) == "feed-forward"


def test_one_group_moves_and_every_other_tensor_stays_bit_identical():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Linear(4, 2))
    a = {k: torch.randn_like(v) for k, v in model.state_dict().items()}
    b = {k: torch.randn_like(v) for k, v in model.state_dict().items()}
    interpolator = Interpolator(model, a, b)
    mover = GroupMover(interpolator)
    mover.mover(["0.weight", "0.bias"])(0.3)
    live = model.state_dict()
    assert torch.equal(live["1.weight"], a["1.weight"]) and torch.equal(live["1.bias"], a["1.bias"])
    assert torch.allclose(live["0.weight"], 0.7 * a["0.weight"] + 0.3 * b["0.weight"])
    mover.mover(list(a))(0.3)  # every group at once: the line's point, bit for bit
    moved = {k: v.clone() for k, v in model.state_dict().items()}
    interpolator.set(0.3)
    assert all(torch.equal(moved[k], v) for k, v in model.state_dict().items())
    assert matching(list(a), r"^1\.") == ["1.weight", "1.bias"]


def test_every_tensor_selected_is_the_ordinary_line_and_layerwise_tabulates_each_group(tiny_t5_dir, toy_task, ends,
                                                                                       tmp_path):
    from module.sweep import read_records

    assert run_cli(lambda: task_interpolation.main(_argv(tiny_t5_dir, toy_task, ends, tmp_path / "line"))) == 0
    assert run_cli(lambda: task_interpolation.main(_argv(tiny_t5_dir, toy_task, ends, tmp_path / "all",
                                                         "--interpolate_tensors", "."))) == 0
    assert read_records(tmp_path / "all") == read_records(tmp_path / "line")
    summary = json.loads((tmp_path / "all" / "summary.json").read_text())
    assert summary["interpolated_tensors"]["tensors"] == summary["interpolated_tensors"]["of_tensors"]
    assert run_cli(lambda: task_interpolation.main(_argv(tiny_t5_dir, toy_task, ends, tmp_path / "layers",
                                                         "--layerwise", "layers"))) == 0
    rows = (tmp_path / "layers" / "layerwise.csv").read_text().splitlines()
    assert rows[0].startswith("group,tensors,values,dev_metric_x0") and len(rows) >= 5
    assert [r.split(",")[0] for r in rows[1:3]] == ["embeddings", "encoder.block.0"]
    assert (tmp_path / "layers" / "layerwise.png").stat().st_size > 0
    first = read_records(tmp_path / "layers" / "group_embeddings")
    assert first[0]["splits"] == read_records(tmp_path / "line")[0]["splits"]  # x = 0: θA everywhere


def test_bad_groups_are_one_line_before_anything_is_written(tiny_t5_dir, toy_task, ends, tmp_path, capsys):
    for pattern, expected in (("no_such_tensor", "selects none of the"), ("(", "not a regular expression")):
        out = tmp_path / pattern.replace("(", "paren")
        try:
            code = run_cli(lambda out=out, pattern=pattern: task_interpolation.main(
                _argv(tiny_t5_dir, toy_task, ends, out, "--interpolate_tensors", pattern)))
        except SystemExit as exc:  # the flag's own check (the parser's one line)
            code = exc.code
        err = capsys.readouterr().err.strip().splitlines()
        assert code == 2 and expected in err[-1], err
        assert not (out / "points").exists()
        if pattern == "(":  # no regular expression: refused before anything is loaded or written
            assert len(err) == 1 and not out.exists()


def test_layerwise_on_the_causal_family_by_modules(tmp_path, tokenizer_dir, toy_task):
    from transformers import AutoTokenizer

    from causal_model import interpolate

    toy.build_tiny_causal(tmp_path / "base", AutoTokenizer.from_pretrained(str(tokenizer_dir)))
    toy.perturbed_causal_ends(tmp_path / "base", tmp_path)
    assert run_cli(lambda: interpolate.main(["--model", str(tmp_path / "base"), "--path1", str(tmp_path / "ft1"),
                                             "--path2", str(tmp_path / "ft2"), "--task_dir", str(toy_task),
                                             "--output_dir", str(tmp_path / "modules"), "--layerwise", "modules",
                                             "--itpl_points", "2", "--max_eval_samples", "8", "--quiet"])) == 0
    groups_found = [r.split(",")[0] for r in (tmp_path / "modules" / "layerwise.csv").read_text().splitlines()[1:]]
    assert groups_found == ["embeddings", "attention", "feed-forward", "norms"]
