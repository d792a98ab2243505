"""Issue 28: model families are plug-ins behind one interface (module/families.py). Every registered family is held
to the same contract on a tiny model of its own: it loads, encodes a task folder's split, evaluates every example
(shareable across processes), trains through its loss, names the tensors a tuning method moves."""

from __future__ import annotations

import dataclasses
import math
import random

import pytest
import torch

from dataloader.tasks import load_split
from module.families import FAMILIES, ModelFamily, get_family, register_family

FULL_TUNING = {"t5": "model", "encoder": "none", "causal": "full"}  # each family's name for tuning every tensor


@pytest.fixture(scope="module")
def models(tmp_path_factory, tiny_t5_dir, tokenizer_dir, minilm_dir):
    from transformers import AutoTokenizer

    from utils import toy

    root = tmp_path_factory.mktemp("families")
    return {"t5": tiny_t5_dir, "encoder": toy.build_tiny_encoder(root / "encoder", minilm_dir),
            "causal": toy.build_tiny_causal(root / "causal", AutoTokenizer.from_pretrained(str(tokenizer_dir)))}


def test_the_registry_names_every_family_and_refuses_unknown_ones():
    assert set(FAMILIES) == {"t5", "encoder", "causal"}
    for name in FAMILIES:
        family = get_family(name)
        assert isinstance(family, ModelFamily) and family.name == name
    with pytest.raises(ValueError, match="unknown model family 'bart'; registered: causal, encoder, t5"):
        get_family("bart")
    register_family("pretend", "T5_model.family")  # a module whose FAMILY is another family
    try:
        with pytest.raises(TypeError, match="does not implement the model family 'pretend'"):
            get_family("pretend")
    finally:
        del FAMILIES["pretend"]


@pytest.mark.parametrize("name", sorted(FAMILIES))
def test_every_family_keeps_the_contract_the_path_jobs_rely_on(name, models, toy_task):
    family = get_family(name)
    if name == "t5":
        family = dataclasses.replace(family, metric="ACC")  # the toy task is not in dataloader/metrics.py
    labels = sorted({e.answers[0] for e in load_split(toy_task, "train")})
    model, tokenizer = family.load(models[name], labels)
    encoded = {split: family.encode(load_split(toy_task, split)[:12], tokenizer, toy_task.name, labels)
               for split in ("dev", "test")}
    evaluation = family.evaluation(model, encoded, tokenizer, toy_task.name, labels, 5)
    alone = evaluation()
    assert set(alone) == {"dev", "test"}
    for result in alone.values():
        assert len(result["scores"]) == 12 and 0.0 <= result["performance"] <= 1.0
        assert math.isfinite(result["loss"]) and result["loss"] > 0
    shared = evaluation.combine([evaluation.part(rank, 2) for rank in range(2)])  # two processes' shares
    assert shared == alone
    # training: every example once per epoch, and the loss reaches every tuned tensor it should
    train = family.encode(load_split(toy_task, "train")[:10], tokenizer, toy_task.name, labels)
    batches = list(family.train_batches(train, tokenizer, 4, random.Random(0)))
    assert len(batches) == 3
    tuned = family.tuned_tensors(model, FULL_TUNING[name])
    assert tuned == [n for n, _ in model.named_parameters()]
    with pytest.raises(ValueError, match="tune method must be one of"):
        family.tuned_tensors(model, "no-such-method")
    own = dict(model.named_parameters())
    params = {n: own[n].detach().clone().requires_grad_(True) for n in tuned}
    loss = family.loss(model, params, batches[0])
    assert loss.ndim == 0 and math.isfinite(loss.item())
    loss.backward()
    assert sum(p.grad is not None and bool(p.grad.abs().sum() > 0) for p in params.values()) > len(params) // 2
    with torch.no_grad():  # the loss is evaluated with the given tensors, not the model's own
        moved = {n: p.detach() + 0.5 * torch.randn_like(p) for n, p in params.items()}
        assert family.loss(model, moved, batches[0]).item() != pytest.approx(loss.item(), abs=1e-6)
    assert family.identity_files(models[name])


def test_the_library_layer_imports_no_family():
    """module/ and dataloader/ are model-free: a family is reached only through the registry's module names."""
    import ast
    from pathlib import Path

    families = {"T5_model", "RoBERTa_model", "causal_model"}
    root = Path(__file__).resolve().parents[1]
    found = []
    for folder in ("module", "dataloader"):
        for path in sorted((root / folder).glob("*.py")):
            for node in ast.walk(ast.parse(path.read_text())):
                names = [a.name for a in node.names] if isinstance(node, ast.Import) else (
                    [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
                found += [f"{path.name}: {n}" for n in names if n.split(".")[0] in families]
    assert found == []
