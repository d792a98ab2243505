"""utils/export_point.py: the exported point predicts exactly as the sweep's model at that x, both tracks."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from module.checkpoint import load_checkpoint, save_checkpoint
from module.cli import run_cli
from module.interpolation import Interpolator
from utils import export_point, toy

X = 0.3
LABELS = ["negative", "positive"]
TEXTS = ["good film but very dull", "premise: the movie was lovely [SEP] hypothesis: a film"]


def _cli(capsys, *args) -> tuple[int, str, str]:
    code = run_cli(lambda: export_point.main([str(a) for a in args]))
    out = capsys.readouterr()
    return code, out.out, out.err


@torch.no_grad()
def _perturb(model: torch.nn.Module, seed: int, only=lambda name: True) -> None:
    """Move the selected parameters by seeded noise (a stand-in for a tuning run)."""
    generator = torch.Generator().manual_seed(seed)
    for name, param in model.named_parameters():
        if only(name):
            param.add_(0.05 * torch.randn(param.shape, generator=generator))


@torch.no_grad()
def _t5_logits(model, tokenizer) -> torch.Tensor:
    enc = tokenizer(TEXTS, return_tensors="pt", padding=True)
    decoder = torch.tensor([[0, 5, 9, 12], [0, 7, 3, 1]])
    return model.eval()(**enc, decoder_input_ids=decoder).logits


@torch.no_grad()
def _encoder_logits(model, tokenizer) -> torch.Tensor:
    return model.eval()(**tokenizer(TEXTS, return_tensors="pt", padding=True)).logits


# ----------------------------------------------------------------------------- T5 track
@pytest.fixture(scope="module")
def t5_tied_dir(tmp_path_factory, tiny_t5_dir) -> Path:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(tiny_t5_dir))
    return toy.build_tiny_t5(tmp_path_factory.mktemp("tiny-t5-tied"), tokenizer, tie_word_embeddings=True)


@pytest.mark.parametrize("tied", [False, True])
def test_t5_full_export_loads_with_plain_from_pretrained_as_the_sweep(tiny_t5_dir, t5_tied_dir, tmp_path, capsys,
                                                                      tied):
    from transformers import AutoTokenizer, T5ForConditionalGeneration

    from T5_model.model import load_t5
    from T5_model.sweeping import endpoint_tensors

    backbone = t5_tied_dir if tied else tiny_t5_dir
    paths = []
    for seed in (1, 2):
        model = load_t5(str(backbone))
        _perturb(model, seed)
        paths.append(save_checkpoint(tmp_path / f"run{seed}-checkpoint-last.pt", model.state_dict(), "model"))
    out = tmp_path / "point"
    code, printed, err = _cli(capsys, "--path1", paths[0], "--path2", paths[1], "--x", X, "--out", out,
                              "--model", backbone)
    assert code == 0 and not err, err
    assert "from_pretrained" in printed
    assert (out / "model.safetensors").is_file() and (out / "config.json").is_file()
    info = json.loads((out / "export.json").read_text())
    assert info["x"] == X and info["kind"] == "model" and info["track"] == "t5"
    assert info["path1"]["sha256"] != info["path2"]["sha256"]

    exported = T5ForConditionalGeneration.from_pretrained(str(out))  # plain transformers, nothing of the project
    tokenizer = AutoTokenizer.from_pretrained(str(out))
    sweep = load_t5(str(backbone))  # what task_interpolation.py evaluates at x
    Interpolator(sweep, endpoint_tensors(str(paths[0]), "model"), endpoint_tensors(str(paths[1]), "model")).set(X)
    expected = _t5_logits(sweep, tokenizer)
    assert torch.allclose(_t5_logits(exported, tokenizer), expected, atol=1e-6)
    assert not torch.allclose(_t5_logits(load_t5(str(backbone)), tokenizer), expected, atol=1e-3)
    if tied:
        assert exported.lm_head.weight.data_ptr() == exported.shared.weight.data_ptr()


def test_t5_adapter_export_is_a_checkpoint_the_tuning_script_loads(tiny_t5_dir, toy_task, tmp_path, capsys):
    from T5_model.model import model_provider, trained_state
    from T5_model.sweeping import endpoint_tensors
    from T5_model.trainer import load_into_model

    args = toy.t5_args(tiny_t5_dir, toy_task, tmp_path / "runs", "--tune_method", "adapter", "--adapter_size", "4")
    paths = []
    for seed in (1, 2):
        model, _, tokenizer = model_provider(args)
        _perturb(model, seed, lambda name: "adapter_" in name)
        paths.append(save_checkpoint(tmp_path / f"run{seed}-checkpoint-last.pt",
                                     trained_state(model, "adapter"), "adapter"))
    out = tmp_path / "point"
    code, printed, err = _cli(capsys, "--path1", paths[0], "--path2", paths[1], "--x", X, "--out", out,
                              "--model", tiny_t5_dir)
    assert code == 0, err
    assert "non-linear" in printed and "--checkpoint" in printed and len(printed.strip().splitlines()) == 1
    assert sorted(p.name for p in out.iterdir()) == ["adapter.safetensors", "export.json"]  # no half-usable HF folder
    ckpt = load_checkpoint(out / "adapter.safetensors")
    assert ckpt.kind == "adapter" and ckpt.meta["adapter_type"] == "houlsby" and ckpt.meta["adapter_size"] == 4
    assert json.loads((out / "export.json").read_text())["backbone"]["path"] == str(tiny_t5_dir.resolve())

    sweep, _, tokenizer = model_provider(args)  # task_interpolation.py --tune_method adapter at x
    Interpolator(sweep, endpoint_tensors(str(paths[0]), "adapter"), endpoint_tensors(str(paths[1]), "adapter")).set(X)
    loaded, _, _ = model_provider(args)  # tune_singletask.py --checkpoint out/adapter.safetensors
    load_into_model(loaded, out / "adapter.safetensors")
    expected = _t5_logits(sweep, tokenizer)
    assert torch.allclose(_t5_logits(loaded, tokenizer), expected, atol=1e-6)
    assert torch.allclose(_t5_logits(export_point.load_export(out), tokenizer), expected, atol=1e-6)


# ----------------------------------------------------------------------------- encoder track
@pytest.fixture(scope="module")
def encoder_runs(tmp_path_factory, minilm_dir) -> dict:
    """Two checkpoint-<step>/ folders per delta type, saved as run_glue.py's Trainer saves them."""
    from transformers import AutoTokenizer

    from RoBERTa_model.encoder import build_classifier

    root = tmp_path_factory.mktemp("export-enc")
    backbone = toy.build_tiny_encoder(root / "tiny-bert", minilm_dir)
    tokenizer = AutoTokenizer.from_pretrained(str(backbone))
    runs = {"backbone": backbone}
    for delta in ("none", "adapter"):
        for seed in (20, 30):
            model = build_classifier(str(backbone), LABELS, delta, 4, seed=seed, task="toy-sentiment")
            tuned = (lambda n: True) if delta == "none" else (lambda n: ".adapter." in n or n.startswith("classifier"))
            _perturb(model, seed, tuned)
            folder = root / f"{delta}-{seed}" / "checkpoint-20"
            model.save_pretrained(str(folder))  # config.json carries mode_connectivity_delta
            tokenizer.save_pretrained(str(folder))
            runs[(delta, seed)] = folder
    nli = build_classifier(str(backbone), ["entailment", "neutral", "contradiction"], "none", task="toy-nli")
    nli.save_pretrained(str(root / "nli" / "checkpoint-20"))
    runs["nli"] = root / "nli" / "checkpoint-20"
    return runs


def _encoder_sweep(runs: dict, delta: str) -> torch.nn.Module:
    """The model itp_pretrain_adapter.py evaluates at x (default unfrozen_modules)."""
    from RoBERTa_model.config import DeltaArguments
    from RoBERTa_model.encoder import build_classifier
    from RoBERTa_model.jobs import tuned_tensors

    unfrozen = DeltaArguments().unfrozen_modules
    theta = [tuned_tensors(str(runs[(delta, s)]), delta, unfrozen, LABELS) for s in (20, 30)]
    model = build_classifier(str(runs["backbone"]), LABELS, delta, 4, seed=20, task="toy-sentiment")
    Interpolator(model, *theta).set(X)
    return model


def test_encoder_full_export_loads_with_plain_from_pretrained_as_the_sweep(encoder_runs, tmp_path, capsys):
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    out = tmp_path / "point"
    code, printed, err = _cli(capsys, "--path1", encoder_runs[("none", 20)], "--path2", encoder_runs[("none", 30)],
                              "--x", X, "--out", out)
    assert code == 0, err
    assert "AutoModelForSequenceClassification.from_pretrained" in printed
    exported = AutoModelForSequenceClassification.from_pretrained(str(out))
    tokenizer = AutoTokenizer.from_pretrained(str(out))
    assert exported.config.id2label == dict(enumerate(LABELS))
    expected = _encoder_logits(_encoder_sweep(encoder_runs, "none"), tokenizer)
    assert torch.allclose(_encoder_logits(exported, tokenizer), expected, atol=1e-6)


def test_encoder_adapter_export_rebuilds_the_sweep_model_through_build_classifier(encoder_runs, tmp_path, capsys):
    from transformers import AutoTokenizer

    from RoBERTa_model.encoder import build_classifier, load_tensors

    backbone = encoder_runs["backbone"]
    out = tmp_path / "point"
    code, printed, err = _cli(capsys, "--path1", encoder_runs[("adapter", 20)], "--path2",
                              encoder_runs[("adapter", 30)], "--x", X, "--out", out, "--model", backbone)
    assert code == 0, err
    assert "non-linear" in printed and "build_classifier" in printed
    assert sorted(p.name for p in out.iterdir()) == ["adapter.safetensors", "export.json"]
    tensors = load_checkpoint(out / "adapter.safetensors").tensors
    assert all(".adapter." in k or k.startswith("classifier.") for k in tensors)  # the backbone is not copied
    tokenizer = AutoTokenizer.from_pretrained(str(backbone))
    loaded = build_classifier(str(backbone), LABELS, "adapter", 4, seed=5)
    load_tensors(loaded, tensors, "export")
    expected = _encoder_logits(_encoder_sweep(encoder_runs, "adapter"), tokenizer)
    assert torch.allclose(_encoder_logits(loaded, tokenizer), expected, atol=1e-6)
    assert torch.allclose(_encoder_logits(export_point.load_export(out), tokenizer), expected, atol=1e-6)


# ----------------------------------------------------------------------------- bad inputs
def test_x_outside_0_1_is_one_line_and_writes_nothing(encoder_runs, tmp_path, capsys):
    out = tmp_path / "point"
    code, printed, err = _cli(capsys, "--path1", encoder_runs[("none", 20)], "--path2", encoder_runs[("none", 30)],
                              "--x", 1.5, "--out", out)
    assert code == 2 and not printed
    assert err.startswith("error: --x must be between 0 and 1") and len(err.strip().splitlines()) == 1
    assert not out.exists() and list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("case", ["other heads", "adapter without --model", "out not empty", "missing", "mixed",
                                  "t5 other tensors", "t5 file without --model"])
def test_bad_endpoints_are_one_line_and_write_nothing(case, encoder_runs, tiny_t5_dir, tmp_path, capsys):
    out = tmp_path / "point"
    path1, path2, extra = encoder_runs[("none", 20)], encoder_runs[("none", 30)], []
    if case == "other heads":
        path2 = encoder_runs["nli"]
    elif case == "adapter without --model":
        path1, path2 = encoder_runs[("adapter", 20)], encoder_runs[("adapter", 30)]
    elif case == "out not empty":
        out.mkdir()
        (out / "keep.txt").write_text("mine")
    elif case == "missing":
        path2 = tmp_path / "nope"
    elif case == "mixed":
        path2 = tiny_t5_dir
    else:
        from T5_model.model import load_t5

        state = load_t5(str(tiny_t5_dir)).state_dict()
        path1 = save_checkpoint(tmp_path / "a.pt", state, "model")
        path2 = save_checkpoint(tmp_path / "b.pt", {k: v for k, v in state.items() if k != "lm_head.weight"}, "model")
        extra = ["--model", tiny_t5_dir] if case == "t5 other tensors" else []
    code, _, err = _cli(capsys, "--path1", path1, "--path2", path2, "--x", X, "--out", out, *extra)
    assert code == 2 and err.startswith("error: ") and len(err.strip().splitlines()) == 1, err
    expected = {"point"} if case == "out not empty" else {"a.pt", "b.pt"} if case.startswith("t5") else set()
    assert {p.name for p in tmp_path.iterdir()} == expected
    if case == "out not empty":
        assert [p.name for p in out.iterdir()] == ["keep.txt"]


def test_one_export_at_a_time_and_a_filled_folder_is_never_replaced(encoder_runs, tmp_path, capsys):
    """Issue 27.2: a second export into the same --out is refused while the first runs, and the final rename never
    replaces a folder that another export filled meanwhile (before: the last one silently won)."""
    from module.files import FolderBusy, atomic_folder

    out = tmp_path / "point"
    ends = ["--path1", encoder_runs[("none", 20)], "--path2", encoder_runs[("none", 30)], "--out", out]
    with toy.folder_held_elsewhere(out, beside=True) as pid:
        code, _, err = _cli(capsys, *ends, "--x", X)
    assert code == 2 and f"in use by another run (pid {pid})" in err and len(err.strip().splitlines()) == 1
    assert not out.exists()  # (the killed holder's lock file stays beside it, as a crashed run's would)
    code, _, err = _cli(capsys, *ends, "--x", X)
    assert code == 0, err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["point"]  # the lock file went with its holder
    with pytest.raises(FolderBusy), atomic_folder(out, replace=False) as tmp:
        (tmp / "export.json").write_text("{}")
    assert json.loads((out / "export.json").read_text())["x"] == X  # the first export is still there, whole


def test_an_encoder_adapter_export_keeps_a_frozen_head_as_the_sweep_does(encoder_runs, tmp_path, capsys):
    """Issue 27.6: with the head frozen (unfrozen_modules without 'classifier') the sweep interpolates only the
    adapters and keeps the head its own seed makes; the export interpolated the two runs' heads."""
    from transformers import AutoTokenizer

    from RoBERTa_model.encoder import build_classifier
    from RoBERTa_model.jobs import tuned_tensors

    backbone, out = encoder_runs["backbone"], tmp_path / "point"
    paths = [encoder_runs[("adapter", s)] for s in (20, 30)]
    code, _, err = _cli(capsys, "--path1", paths[0], "--path2", paths[1], "--x", X, "--out", out, "--model", backbone,
                        "--unfrozen_modules", "deltas", "--seed", 7)
    assert code == 0, err
    sweep = build_classifier(str(backbone), LABELS, "adapter", 4, seed=7, task="toy-sentiment")
    Interpolator(sweep, *(tuned_tensors(str(p), "adapter", ["deltas"], LABELS) for p in paths)).set(X)
    tokenizer = AutoTokenizer.from_pretrained(str(backbone))
    expected = _encoder_logits(sweep, tokenizer)
    assert torch.allclose(_encoder_logits(export_point.load_export(out), tokenizer), expected, atol=1e-6)
    heads = [load_checkpoint(p).tensors["classifier.weight"] for p in paths]
    assert not torch.allclose(heads[0], heads[1])  # the two runs' heads differ: interpolating them is not the sweep
