"""LoRA paths in weight space (module/lora.py) on tiny GPT-2 and Llama models built from configs, with real peft
adapters: the `delta` line is W0 + (1 − t)·ΔW1 + t·ΔW2 for equal and different ranks and alphas, `factors` is
the quadratic formula, the two agree at the ends and differ between them, and impossible pairs are one line."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import torch

from module.interpolation import Interpolator
from module.lora import LoraPathError, lora_path_model

ARCHS = {
    "gpt2": ("GPT2Config", "GPT2LMHeadModel", {"vocab_size": 64, "n_positions": 32, "n_embd": 16, "n_layer": 2,
                                               "n_head": 2, "bos_token_id": 0, "eos_token_id": 0},
             ["c_attn", "c_fc"]),
    "llama": ("LlamaConfig", "LlamaForCausalLM", {"vocab_size": 64, "hidden_size": 16, "intermediate_size": 32,
                                                  "num_hidden_layers": 2, "num_attention_heads": 2,
                                                  "num_key_value_heads": 1, "max_position_embeddings": 32},
              ["q_proj", "v_proj", "down_proj"]),
}


def _base(arch: str):
    import transformers

    config_class, model_class, values, _ = ARCHS[arch]
    torch.manual_seed(0)
    return getattr(transformers, model_class)(getattr(transformers, config_class)(**values)).eval()


def _adapter(arch: str, folder: Path, seed: int, **lora) -> Path:
    """A LoRA adapter of the tiny base with random A and B (as after tuning), saved by peft."""
    from peft import LoraConfig, get_peft_model

    base = _base(arch)
    torch.manual_seed(seed)  # after the base's own seeding: each adapter its factors
    values = {"r": 4, "lora_alpha": 8, "target_modules": ARCHS[arch][3], "init_lora_weights": False,
              "lora_dropout": 0.0, "fan_in_fan_out": arch == "gpt2"} | lora  # GPT-2's Conv1D stores W transposed
    model = get_peft_model(base, LoraConfig(**values))
    model.save_pretrained(str(folder))
    return folder


def _deltas(arch: str, folder: Path) -> dict[str, torch.Tensor]:
    """Each adapted module's ΔW as peft itself computes it (module names without peft's prefix)."""
    from peft import PeftModel
    from peft.tuners.lora import LoraLayer

    model = PeftModel.from_pretrained(_base(arch), str(folder))
    return {name.removeprefix("base_model.model."): m.get_delta_weight("default").detach()
            for name, m in model.named_modules() if isinstance(m, LoraLayer)}


def _path_deltas(path) -> dict[str, torch.Tensor]:
    from peft.tuners.lora import LoraLayer

    return {name.removeprefix("base_model.model."): m.get_delta_weight("path").detach()
            for name, m in path.model.named_modules() if isinstance(m, LoraLayer)}


@pytest.fixture(scope="module")
def adapters(tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("lora")
    made = {}
    for arch in ARCHS:
        made[arch, "a"] = _adapter(arch, root / f"{arch}-a", 1)
        made[arch, "b"] = _adapter(arch, root / f"{arch}-b", 2)
        # another rank and alpha, one module with its own rank (rank_pattern) and rsLoRA scaling
        made[arch, "c"] = _adapter(arch, root / f"{arch}-c", 3, r=2, lora_alpha=16, use_rslora=True,
                                   rank_pattern={ARCHS[arch][3][0]: 3})
        made[arch, "fewer"] = _adapter(arch, root / f"{arch}-fewer", 4, target_modules=ARCHS[arch][3][:1])
    return made


@pytest.mark.parametrize("arch", list(ARCHS))
@pytest.mark.parametrize("other", ["b", "c"])
def test_the_delta_path_is_the_straight_line_between_the_fine_tuned_weights(arch, other, adapters):
    ends = (adapters[arch, "a"], adapters[arch, other])
    d1, d2 = _deltas(arch, ends[0]), _deltas(arch, ends[1])
    path = lora_path_model(_base(arch), ends, "delta")
    assert {n: sum(r) for n, r in path.ranks.items()} == {n: path.theta1[f"base_model.model.{n}.lora_A.path.weight"]
                                                          .shape[0] for n in path.ranks}
    mover = Interpolator(path.model, path.theta1, path.theta2)
    for t in (0.0, 0.25, 0.5, 1.0):
        mover.set(t)
        got = _path_deltas(path)
        assert got.keys() == d1.keys()
        for name in d1:
            assert torch.allclose(got[name], (1 - t) * d1[name] + t * d2[name], atol=1e-6), (name, t)


@pytest.mark.parametrize("arch", list(ARCHS))
def test_the_factors_path_is_the_quadratic_curve_and_meets_the_line_only_at_the_ends(arch, adapters):
    from peft import PeftModel
    from peft.tuners.lora import LoraLayer

    ends = (adapters[arch, "a"], adapters[arch, "b"])
    line = lora_path_model(_base(arch), ends, "delta")
    curve = lora_path_model(_base(arch), ends, "factors")
    parts = []
    for folder in ends:  # each endpoint's A, s·B and layout, read through peft
        model = PeftModel.from_pretrained(_base(arch), str(folder))
        layers = {name.removeprefix("base_model.model."): m for name, m in model.named_modules()
                  if isinstance(m, LoraLayer)}
        parts.append({name: (m.lora_A["default"].weight.detach(), m.scaling["default"] * m.lora_B["default"].weight
                             .detach(), m.fan_in_fan_out) for name, m in layers.items()})
    movers = Interpolator(line.model, line.theta1, line.theta2), Interpolator(curve.model, curve.theta1, curve.theta2)
    for t in (0.0, 0.5, 1.0):
        for mover in movers:
            mover.set(t)
        on_line, on_curve = _path_deltas(line), _path_deltas(curve)
        for name, (a1, b1, flip) in parts[0].items():
            a2, b2, _ = parts[1][name]
            expected = ((1 - t) * b1 + t * b2) @ ((1 - t) * a1 + t * a2)
            expected = expected.T if flip else expected
            assert torch.allclose(on_curve[name], expected, atol=1e-6), (name, t)
            if t in (0.0, 1.0):
                assert torch.allclose(on_curve[name], on_line[name], atol=1e-6)
            else:
                assert not torch.allclose(on_curve[name], on_line[name], atol=1e-4)


@pytest.mark.parametrize("case,expected", [
    ("unequal ranks for factors", "needs equal ranks (lora_path delta joins any ranks)"),
    ("other target modules", "does not adapt module"),
    ("other base model", "both endpoints must adapt the same base model"),
    ("dora", "use_dora is set"),
    ("not an adapter", "no adapter_config.json"),
])
def test_pairs_the_paths_cannot_join_are_one_line(case, expected, adapters, tmp_path):
    import shutil

    arch, kind = "gpt2", "delta"
    ends = [adapters[arch, "a"], adapters[arch, "b"]]
    if case == "unequal ranks for factors":
        ends[1], kind = adapters[arch, "c"], "factors"
    elif case == "other target modules":
        ends[1] = adapters[arch, "fewer"]
    elif case == "not an adapter":
        ends[1] = tmp_path
    else:  # edited copies: each names its base model, the second another one or DoRA
        base = {"base_model_name_or_path": "models/tiny-gpt2"}
        other = {"base_model_name_or_path": "models/other-gpt2"} if case == "other base model" else {"use_dora": True}
        edits = [base, base | other]
        for k, edit in enumerate(edits):
            ends[k] = tmp_path / f"edited{k}"
            shutil.copytree(adapters[arch, "ab"[k]], ends[k])
            config = json.loads((ends[k] / "adapter_config.json").read_text())
            (ends[k] / "adapter_config.json").write_text(json.dumps(config | edit))
    with pytest.raises(LoraPathError, match=re.escape(expected)) as caught:
        lora_path_model(_base(arch), tuple(ends), kind)
    assert len(str(caught.value).splitlines()) == 1


@pytest.mark.parametrize("other", ["b", "c"])
def test_the_distance_of_two_lora_updates_is_that_of_their_dense_updates(other, adapters, tmp_path, capsys):
    """utils/calculate_dist.py --type lora: L2 and cosine of ΔW1 − ΔW2 from the factors alone (r×r products) equal
    the dense computation on peft's own ΔW, for equal and for different ranks, alphas and rsLoRA."""
    import math

    from module.cli import run_cli
    from utils import calculate_dist

    ends = (adapters["llama", "a"], adapters["llama", other])
    dense = [_deltas("llama", e) for e in ends]
    dot = sum(float((dense[0][k].double() * dense[1][k].double()).sum()) for k in dense[0])
    sq = [sum(float((d[k].double() ** 2).sum()) for k in d) for d in dense]
    l2 = math.sqrt(sum(float(((dense[0][k] - dense[1][k]).double() ** 2).sum()) for k in dense[0]))
    out = tmp_path / "dist"
    code = run_cli(lambda: calculate_dist.main(["--input1", str(ends[0]), "--input2", str(ends[1]), "--type", "lora",
                                                "--path", str(out), "--per_layer"]))
    assert code == 0, capsys.readouterr().err
    record = json.loads((out / "distance.json").read_text())
    assert record["l2_distance"] == pytest.approx(l2, rel=1e-5)
    assert record["cosine_similarity"] == pytest.approx(dot / math.sqrt(sq[0] * sq[1]), rel=1e-5)
    assert record["num_parameters"] == sum(d.numel() for d in dense[0].values())
    assert ("factors" in record) == (other == "b")  # factors are compared only at equal ranks
    rows = (out / "distance_per_layer.tsv").read_text().splitlines()
    assert len(rows) == 1 + len(dense[0])  # one row per adapted module
