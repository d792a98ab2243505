"""Curves between two sets of tensors: coefficients, exact endpoints, gradients to the bends only, curve_find.py."""

from __future__ import annotations

import pytest
import torch
from transformers import T5ForConditionalGeneration

from module.checkpoint import load_checkpoint, save_checkpoint
from module.curves import (
    Curve,
    bezier_coefficients,
    functional_forward,
    length_weighted_mean,
    load_curve,
    polychain_coefficients,
    save_curve,
)
from module.tensors import IncompatibleCheckpoints
from utils.toy import tiny_t5_config

TS = [0.0, 1e-4, 0.1, 0.25, 1 / 3, 0.5, 0.6, 0.75, 0.9, 0.999, 1.0]


def _thetas(seed=0, shapes=(("a.w", (3, 4)), ("a.b", (4,)), ("c.d.e", (2, 2, 2)))):
    g = torch.Generator().manual_seed(seed)
    t1 = {k: torch.randn(s, generator=g) for k, s in shapes}
    t2 = {k: torch.randn(s, generator=g) for k, s in shapes}
    return t1, t2


def test_coefficients_sum_to_one_and_match_closed_forms():
    ts = torch.linspace(0, 1, 101, dtype=torch.float64)
    for degree in (1, 2, 3, 4):
        c = bezier_coefficients(ts, degree)
        assert c.shape == (101, degree + 1)
        assert torch.allclose(c.sum(-1), torch.ones(101, dtype=torch.float64), atol=1e-12)
        assert (c >= 0).all()
        assert torch.equal(bezier_coefficients(0.0, degree), torch.eye(degree + 1, dtype=torch.float64)[0])
        assert torch.equal(bezier_coefficients(1.0, degree), torch.eye(degree + 1, dtype=torch.float64)[-1])
    t = 0.3
    assert torch.allclose(bezier_coefficients(t, 2), torch.tensor([0.49, 0.42, 0.09], dtype=torch.float64))
    assert torch.allclose(bezier_coefficients(t, 3), torch.tensor([0.343, 0.441, 0.189, 0.027], dtype=torch.float64))
    for bends in (0, 1, 2, 3):
        c = polychain_coefficients(ts, bends)
        assert c.shape == (101, bends + 2)
        assert torch.allclose(c.sum(-1), torch.ones(101, dtype=torch.float64), atol=1e-12)
        assert ((c > 0).sum(-1) <= 2).all()
    assert torch.allclose(polychain_coefficients(0.25, 1), torch.tensor([0.5, 0.5, 0.0], dtype=torch.float64))
    assert torch.allclose(polychain_coefficients(0.5, 1), torch.tensor([0.0, 1.0, 0.0], dtype=torch.float64))
    assert torch.allclose(polychain_coefficients(0.5, 2), torch.tensor([0.0, 0.5, 0.5, 0.0], dtype=torch.float64))
    with pytest.raises(ValueError):
        bezier_coefficients(0.5, 0)


@pytest.mark.parametrize("curve_type", ["bezier", "polychain"])
@pytest.mark.parametrize("bends", [1, 2, 3])
def test_endpoints_exact_and_linear_bends_give_the_straight_line(curve_type, bends):
    t1, t2 = _thetas()
    curve = Curve(t1, t2, bend_num=bends, curve_type=curve_type, init="midpoint")
    for k in range(bends):
        alpha = (k + 1) / (bends + 1)
        assert torch.allclose(curve.bend(k, "a.w"), (1 - alpha) * t1["a.w"] + alpha * t2["a.w"], atol=1e-6)
    p0, p1 = curve.point(0.0), curve.point(1.0)
    assert all(torch.equal(p0[k], t1[k]) for k in t1)
    assert all(torch.equal(p1[k], t2[k]) for k in t2)
    for t in TS:
        point = curve.point(t)
        for k in t1:
            assert torch.allclose(point[k], (1 - t) * t1[k] + t * t2[k], atol=1e-6), (t, k)
    assert curve.length(51) == pytest.approx(curve.line_length(), rel=1e-5)
    # random bends: still exact at the endpoints, but off the line
    rnd = Curve(t1, t2, bend_num=bends, curve_type=curve_type, init="random", std=0.5,
                generator=torch.Generator().manual_seed(1))
    assert all(torch.equal(rnd.point(0.0)[k], t1[k]) and torch.equal(rnd.point(1.0)[k], t2[k]) for k in t1)
    assert not torch.allclose(rnd.point(0.5)["a.w"], (t1["a.w"] + t2["a.w"]) / 2, atol=1e-3)
    assert rnd.length(51) > rnd.line_length()


def test_quadratic_bezier_formula_and_random_init_statistics():
    t1, t2 = _thetas(shapes=(("w", (200, 100)),))
    curve = Curve(t1, t2, init="random", std=0.02, generator=torch.Generator().manual_seed(0))
    b = curve.bend(0, "w")
    b = b.detach()
    assert abs(float(b.mean())) < 1e-3 and float(b.std()) == pytest.approx(0.02, rel=0.03)
    t = 0.3
    expected = 0.49 * t1["w"] + 0.42 * b + 0.09 * t2["w"]
    assert torch.allclose(curve.point(t)["w"], expected, atol=1e-6)
    assert [n for n, p in curve.named_parameters()] == ["bends.0.w"]
    assert all(not p.requires_grad for p in curve.buffers())


def test_bad_curves_are_refused():
    t1, t2 = _thetas()
    with pytest.raises(ValueError, match="at least one bend"):
        Curve(t1, t2, bend_num=0)
    with pytest.raises(ValueError, match="unknown curve type"):
        Curve(t1, t2, curve_type="spline")
    with pytest.raises(IncompatibleCheckpoints, match="'a.b' is in checkpoint 1 but not in checkpoint 2"):
        Curve(t1, {k: v for k, v in t2.items() if k != "a.b"})
    with pytest.raises(ValueError, match="not floating point"):
        Curve({"i": torch.zeros(2, dtype=torch.long)}, {"i": torch.ones(2, dtype=torch.long)})


def test_length_weighted_mean():
    assert length_weighted_mean([1.0, 3.0], [2.0]) == pytest.approx(2.0)
    # the second segment is three times as long: its mean (5) weighs three times
    assert length_weighted_mean([1.0, 3.0, 7.0], [1.0, 3.0]) == pytest.approx((1 * 2 + 3 * 5) / 4)
    assert length_weighted_mean([1.0, 2.0, 6.0], [0.0, 0.0]) == pytest.approx(3.0)
    with pytest.raises(ValueError):
        length_weighted_mean([1.0], [1.0])


def test_gradients_reach_only_the_bends_through_functional_call():
    torch.manual_seed(0)
    model = T5ForConditionalGeneration(tiny_t5_config(64))
    model.requires_grad_(False)
    names = ["encoder.block.0.layer.1.DenseReluDense.wo.weight", "decoder.block.1.layer.0.SelfAttention.q.weight",
             "shared.weight"]
    own = model.state_dict()
    t1 = {k: own[k] + 0.1 * torch.randn_like(own[k]) for k in names}
    t2 = {k: own[k] + 0.1 * torch.randn_like(own[k]) for k in names}
    before = {k: v.clone() for k, v in own.items()}
    curve = Curve(t1, t2, bend_num=2, init="random", std=0.05, generator=torch.Generator().manual_seed(0))
    ids = torch.tensor([[5, 6, 7, 8, 1], [9, 10, 1, 0, 0]])
    mask = (ids != 0).long()
    labels = torch.tensor([[11, 12, 1], [13, 1, -100]])
    decoder_inputs = torch.tensor([[0, 11, 12], [0, 13, 1]])
    out = functional_forward(model, curve.point(0.37), input_ids=ids, attention_mask=mask,
                             decoder_input_ids=decoder_inputs)
    loss = torch.nn.functional.cross_entropy(out.logits.transpose(1, 2), labels, ignore_index=-100)
    loss.backward()
    for k in range(2):
        for name in names:
            grad = curve.bend(k, name).grad
            assert grad is not None and float(grad.abs().sum()) > 0, (k, name)
    assert all(b.grad is None for b in curve.buffers())
    assert all(p.grad is None for p in model.parameters())
    assert all(torch.equal(v, before[k]) for k, v in model.state_dict().items())  # nothing written into the model
    # the functional forward equals the model holding φ(t) in its own tensors
    point = {k: v.detach() for k, v in curve.point(0.37).items()}
    with torch.no_grad():
        for name in names:
            own[name].copy_(point[name])
        ref = model(input_ids=ids, attention_mask=mask, decoder_input_ids=decoder_inputs)
    assert torch.allclose(out.logits.detach(), ref.logits, atol=1e-5)


def test_curve_save_load_round_trip(tmp_path):
    t1, t2 = _thetas()
    p1 = save_checkpoint(tmp_path / "one.pt", {**t1, "extra": torch.zeros(1)}, kind="model")
    p2 = save_checkpoint(tmp_path / "two.pt", {**t2, "extra": torch.ones(1)}, kind="model")
    curve = Curve(t1, t2, bend_num=2, curve_type="polychain", init="random", std=0.3,
                  generator=torch.Generator().manual_seed(3))
    path = save_curve(tmp_path / "curve.pt", curve, [str(p1), str(p2)], meta={"best_step": 7})
    ckpt = load_checkpoint(path)
    assert ckpt.kind == "state_dict" and sorted(ckpt.tensors) == sorted(curve.state())
    assert ckpt.meta["endpoints"] == [str(p1), str(p2)] and ckpt.meta["best_step"] == 7
    assert ckpt.meta["curve_type"] == "polychain" and ckpt.meta["bend_num"] == 2 and ckpt.meta["degree"] == 3
    loaded, meta = load_curve(path)  # endpoints read from the paths in the meta
    assert loaded.names == curve.names and loaded.curve_type == "polychain" and meta["best_step"] == 7
    for t in (0.0, 0.2, 0.5, 0.8, 1.0):
        a, b = curve.point(t), loaded.point(t)
        assert all(torch.equal(a[k], b[k]) for k in t1)
    with pytest.raises(IncompatibleCheckpoints, match="'c.d.e' of the curve is not in endpoint 2"):
        load_curve(path, t1, {k: v for k, v in t2.items() if k != "c.d.e"})
    with pytest.raises(ValueError, match="not a curve checkpoint"):
        load_curve(p1)
