"""Encoder track on tiny encoders built from configs: adapters, unfrozen modules, run_glue, interpolation."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
import torch
from transformers import BertConfig, BertForSequenceClassification, RobertaConfig, RobertaForSequenceClassification

from module.adapter import adapter_state
from module.cli import run_cli
from RoBERTa_model import itp_pretrain_adapter, itp_task_boundary_finetune, run_glue
from RoBERTa_model.adapters import add_encoder_adapters
from RoBERTa_model.encoder import is_unfrozen, set_encoder_trainable
from utils import toy

SMALL = {"vocab_size": 50, "hidden_size": 16, "num_hidden_layers": 2, "num_attention_heads": 2,
         "intermediate_size": 32, "num_labels": 3}


@pytest.mark.parametrize("cls,cfg", [(BertForSequenceClassification, BertConfig),
                                     (RobertaForSequenceClassification, RobertaConfig)])
def test_zero_up_proj_adapters_leave_logits_unchanged(cls, cfg):
    torch.manual_seed(0)
    plain = cls(cfg(**SMALL)).eval()
    adapted = cls(cfg(**SMALL)).eval()
    adapted.load_state_dict(plain.state_dict())
    adapters = add_encoder_adapters(adapted, size=4, r_std=0.5, seed=1)
    assert len(adapters) == 2 * SMALL["num_hidden_layers"]
    ids = torch.randint(3, 50, (2, 7))
    with torch.no_grad():
        changed = adapted(input_ids=ids, output_hidden_states=True).hidden_states[-1]
        for a in adapters:
            a.modulelist.up_proj.weight.zero_()
            a.modulelist.up_proj.bias.zero_()
        assert torch.allclose(plain(input_ids=ids).logits, adapted(input_ids=ids).logits, atol=1e-6)
        reference = plain(input_ids=ids, output_hidden_states=True).hidden_states[-1]
        assert (reference - changed).abs().max() > 1e-2  # the adapters were live before up_proj was zeroed
    names = list(adapter_state(adapted))
    assert any(n.endswith("layer.0.attention.adapter.modulelist.down_proj.weight") for n in names)
    assert any(n.endswith("layer.1.output.adapter.modulelist.up_proj.bias") for n in names)


def test_unfrozen_modules_select_exactly_the_named_parameters():
    model = RobertaForSequenceClassification(RobertaConfig(**SMALL))
    add_encoder_adapters(model, size=4, seed=0)
    names = set(set_encoder_trainable(model, "adapter", ["deltas", "LayerNorm", "classifier"]))
    expected = {n for n, _ in model.named_parameters()
                if ".adapter." in n or ".LayerNorm." in n or n.startswith("classifier.")}
    assert names == expected
    assert {n for n, p in model.named_parameters() if p.requires_grad} == expected
    assert set(set_encoder_trainable(model, "adapter", ["deltas"])) == {n for n, _ in model.named_parameters()
                                                                 if ".adapter." in n}
    assert not is_unfrozen("roberta.encoder.layer.0.attention.self.query.weight", ["deltas", "classifier"])
    assert not is_unfrozen("roberta.encoder.layer.0.output.LayerNorm.weight", ["layer_norm", "final_layer_norm"])
    assert len(set_encoder_trainable(model, "none", [])) == len(list(model.parameters()))


@pytest.fixture(scope="module")
def encoder_setup(tmp_path_factory, minilm_dir):
    root = tmp_path_factory.mktemp("enc")
    data = root / "data"
    toy.write_task(data, "toy-sentiment")
    toy.write_nli_task(data, "toy-nli")
    backbone = toy.build_tiny_encoder(root / "tiny-bert", minilm_dir)
    return root, data, backbone


def _config(root: Path, name: str, **values) -> Path:
    path = root / f"{name}.json"
    path.write_text(json.dumps(values))
    return path


def _train(root, data, backbone, task, delta, seed, out, steps=20):
    cfg = _config(root, f"{task}-{delta}-{seed}", model_name_or_path=str(backbone), task_name=task,
                  data_dir=str(data), delta_type=delta, bottleneck_dim=4, learning_rate=1e-3, max_steps=steps,
                  per_device_train_batch_size=8, per_device_eval_batch_size=16, evaluation_strategy="steps",
                  eval_steps=10, save_strategy="steps", save_steps=10, load_best_model_at_end=True,
                  metric_for_best_model="eval_accuracy", seed=seed, output_dir=str(out), do_train=True,
                  do_eval=True, do_test=True, disable_tqdm=True, max_source_length=64)
    assert run_glue.main([str(cfg)]) == 0
    return out


@pytest.fixture(scope="module")
def trained(encoder_setup):
    root, data, backbone = encoder_setup
    runs = {}
    for task, delta, seed in (("toy-sentiment", "adapter", 20), ("toy-sentiment", "adapter", 30),
                              ("toy-sentiment", "none", 20), ("toy-nli", "none", 20)):
        runs[(task, delta, seed)] = _train(root, data, backbone, task, delta, seed,
                                           root / "runs" / f"{task}-{delta}-{seed}")
    return runs


def test_adapter_checkpoints_hold_only_the_tuned_tensors_and_fail_loudly_in_plain_from_pretrained(
        encoder_setup, trained):
    """Issue 14.12: adapters + head (+ what the backbone lacks), not the whole encoder; a plain from_pretrained
    must not silently give the backbone without its adapters."""
    from transformers import AutoModelForSequenceClassification

    from module.checkpoint import load_checkpoint
    from RoBERTa_model.encoder import build_classifier, classifier_batches, encode_task, evaluate_classifier

    root, data, backbone = encoder_setup
    adapter, full = trained[("toy-sentiment", "adapter", 20)], trained[("toy-sentiment", "none", 20)]
    folder = adapter / "checkpoint-20"
    assert not (folder / "model.safetensors").exists()
    delta = load_checkpoint(folder).tensors
    total = sum(v.numel() for v in load_checkpoint(full / "checkpoint-20").tensors.values())
    assert all(".adapter." in k or k.startswith("classifier.") or "pooler" in k for k in delta)
    assert sum(v.numel() for v in delta.values()) < 0.2 * total
    size = sum(f.stat().st_size for f in folder.iterdir() if f.name in ("delta.safetensors", "config.json"))
    assert size < 0.25 * (full / "checkpoint-20" / "model.safetensors").stat().st_size
    with pytest.raises(OSError):
        AutoModelForSequenceClassification.from_pretrained(str(folder))
    # the project's loader rebuilds the run's final model: the same dev accuracy as run_glue reported
    from transformers import AutoTokenizer

    from dataloader.tasks import load_split

    tok = AutoTokenizer.from_pretrained(str(backbone))
    model = build_classifier(str(adapter), ["negative", "positive"], "adapter", 4)
    dev = encode_task(load_split(data / "toy-sentiment", "dev"), tok, ["negative", "positive"], 64)
    got = evaluate_classifier(model, classifier_batches(dev, 16, tok.pad_token_id))
    assert got["performance"] == json.loads((adapter / "all_results.json").read_text())["eval_accuracy"]


def test_twenty_step_run_writes_checkpoints_and_results(trained):
    out = trained[("toy-sentiment", "adapter", 20)]
    assert (out / "checkpoint-10" / "delta.safetensors").is_file()
    assert (out / "checkpoint-20" / "config.json").is_file()
    results = json.loads((out / "all_results.json").read_text())
    assert results["global_step"] == 20 and 0 <= results["eval_accuracy"] <= 1 and "test_accuracy" in results
    config = json.loads((out / "checkpoint-20" / "config.json").read_text())
    assert config["mode_connectivity_delta"]["delta_type"] == "adapter"
    from module.checkpoint import load_checkpoint

    names = set(load_checkpoint(out / "checkpoint-20").tensors)
    assert "bert.encoder.layer.0.attention.adapter.modulelist.down_proj.weight" in names  # OpenDelta's names
    assert "bert.encoder.layer.1.output.adapter.modulelist.up_proj.bias" in names
    assert config["mode_connectivity_delta"]["task"] == "toy-sentiment"


def _csv(path: Path) -> list[dict]:
    return list(csv.DictReader(path.open()))


def test_pretrain_adapter_interpolation_writes_26_rows(encoder_setup, trained, tmp_path):
    root, data, backbone = encoder_setup
    cfg = _config(tmp_path, "itp", model_name_or_path=str(backbone), task_name="toy-sentiment", data_dir=str(data),
                  delta_type="adapter", bottleneck_dim=4, per_device_eval_batch_size=32, seed=20,
                  output_dir=str(tmp_path / "out"), do_test=True, disable_tqdm=True,
                  path1=str(trained[("toy-sentiment", "adapter", 20)] / "checkpoint-20"),
                  path2=str(trained[("toy-sentiment", "adapter", 30)] / "checkpoint-20"))
    assert itp_pretrain_adapter.main([str(cfg)]) == 0
    rows = _csv(tmp_path / "out" / "result.csv")
    assert len(rows) == 27 and rows[-1]["prefix"] == "average"
    assert (tmp_path / "out" / "summary.json").is_file() and (tmp_path / "out" / "interpolation.png").is_file()
    # x = 0 equals the first endpoint evaluated on its own (run_glue's final evaluation of its best checkpoint)
    from transformers import AutoTokenizer

    from dataloader.tasks import load_split
    from RoBERTa_model.encoder import (
        build_classifier,
        classifier_batches,
        encode_task,
        evaluate_classifier,
        task_labels,
    )

    tok = AutoTokenizer.from_pretrained(str(backbone))
    labels = task_labels("toy-sentiment", load_split(data / "toy-sentiment", "train"))
    model = build_classifier(str(trained[("toy-sentiment", "adapter", 20)] / "checkpoint-20"), labels, "adapter", 4)
    dev = encode_task(load_split(data / "toy-sentiment", "dev"), tok, labels, 64)
    alone = evaluate_classifier(model, classifier_batches(dev, 16, tok.pad_token_id))
    assert float(rows[0]["dev_performance"]) == pytest.approx(alone["performance"], abs=1e-4)
    assert float(rows[0]["dev_loss"]) == pytest.approx(alone["loss"], abs=1e-4)


@pytest.mark.parametrize("task,own", [("toy-nli", "toy-nli"), ("toy-sentiment", "toy-sentiment")])
def test_task_boundary_takes_the_head_of_the_evaluated_task(encoder_setup, trained, tmp_path, task, own, capsys):
    root, data, backbone = encoder_setup
    p_nli = trained[("toy-nli", "none", 20)] / "checkpoint-20"
    p_sent = trained[("toy-sentiment", "none", 20)] / "checkpoint-20"
    cfg = _config(tmp_path, "tb", model_name_or_path=str(backbone), task_name=task, data_dir=str(data),
                  per_device_eval_batch_size=32, output_dir=str(tmp_path / "out"), disable_tqdm=True,
                  path1=str(p_nli), path2=str(p_sent), itpl_points=5)
    assert itp_task_boundary_finetune.main([str(cfg)]) == 0
    assert f"taken from {p_nli if own == 'toy-nli' else p_sent}" in capsys.readouterr().out
    rows = _csv(tmp_path / "out" / "result.csv")
    assert len(rows) == 6
    own_row = rows[0] if own == "toy-nli" else rows[4]  # x = 0 is path1 (nli), x = 1 is path2 (sentiment)
    results = json.loads(((p_nli if own == "toy-nli" else p_sent).parent / "all_results.json").read_text())
    assert float(own_row["dev_performance"]) == pytest.approx(results["eval_accuracy"], abs=1e-4)


@pytest.mark.parametrize("case", ["unknown_key", "missing_path1", "other_architecture", "labels_mismatch",
                                  "too_many_points"])
def test_bad_configs_one_line_nonzero(case, encoder_setup, trained, tiny_t5_dir, tmp_path, capsys):
    root, data, backbone = encoder_setup
    base = {"model_name_or_path": str(backbone), "task_name": "toy-sentiment", "data_dir": str(data),
            "output_dir": str(tmp_path / "out"), "delta_type": "adapter", "bottleneck_dim": 4, "disable_tqdm": True,
            "path1": str(trained[("toy-sentiment", "adapter", 20)] / "checkpoint-20"),
            "path2": str(trained[("toy-sentiment", "adapter", 30)] / "checkpoint-20")}
    script, expected = itp_pretrain_adapter, None
    if case == "unknown_key":
        base["learning_rte"] = 0.1
        expected = "unknown key 'learning_rte'"
    elif case == "missing_path1":
        del base["path1"]
        expected = "missing key 'path1'"
    elif case == "other_architecture":
        base["model_name_or_path"] = str(tiny_t5_dir)
        expected = "expected a BERT-family encoder"
    elif case == "too_many_points":
        base["itpl_points"] = 1002  # would repeat x values after rounding to 3 decimals
        expected = "itpl_points must be 2 to 1001"
    else:
        script = itp_task_boundary_finetune
        base.update(task_name="toy-nli", delta_type="none",
                    path1=str(trained[("toy-sentiment", "none", 20)] / "checkpoint-20"),
                    path2=str(trained[("toy-sentiment", "adapter", 20)] / "checkpoint-20"))
        expected = "toy-nli"
    cfg = _config(tmp_path, case, **base)
    assert run_cli(lambda: script.main([str(cfg)])) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and expected in err[0], err
    assert not (tmp_path / "out" / "result.csv").exists()


def test_run_glue_refuses_a_head_with_other_labels(encoder_setup, trained, tmp_path, capsys):
    root, data, backbone = encoder_setup
    cfg = _config(tmp_path, "mismatch", model_name_or_path=str(trained[("toy-nli", "none", 20)] / "checkpoint-20"),
                  task_name="toy-sentiment", data_dir=str(data), delta_type="none", output_dir=str(tmp_path / "o"),
                  max_steps=1, do_train=True, disable_tqdm=True)
    assert run_cli(lambda: run_glue.main([str(cfg)])) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "labels" in err[0]


def test_changed_data_or_config_values_never_reuse_encoder_points(encoder_setup, trained, tmp_path, capsys):
    """Issue 13.1: data file contents, max_source_length and unfrozen_modules are part of the settings."""
    import shutil

    root, data, backbone = encoder_setup
    own_data = tmp_path / "data"
    shutil.copytree(data, own_data)
    values = {"model_name_or_path": str(backbone), "task_name": "toy-sentiment", "data_dir": str(own_data),
                  "delta_type": "adapter", "bottleneck_dim": 4, "per_device_eval_batch_size": 32, "seed": 20,
                  "output_dir": str(tmp_path / "out"), "disable_tqdm": True, "itpl_points": 2,
                  "path1": str(trained[("toy-sentiment", "adapter", 20)] / "checkpoint-20"),
                  "path2": str(trained[("toy-sentiment", "adapter", 30)] / "checkpoint-20")}
    assert itp_pretrain_adapter.main([str(_config(tmp_path, "a", **values))]) == 0
    capsys.readouterr()
    cfg = _config(tmp_path, "b", **{**values, "max_source_length": 16})
    assert run_cli(lambda: itp_pretrain_adapter.main([str(cfg)])) == 2
    assert "max_source_length" in capsys.readouterr().err
    dev = own_data / "toy-sentiment" / "toy-sentiment_dev.tsv"
    dev.write_text("".join(dev.read_text().splitlines(keepends=True)[:5]))
    assert run_cli(lambda: itp_pretrain_adapter.main([str(_config(tmp_path, "a", **values))])) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "data" in err[0]


def _glue_config(root, data, backbone, out, **overrides) -> Path:
    values = {"model_name_or_path": str(backbone), "task_name": "toy-sentiment", "data_dir": str(data),
              "delta_type": "adapter", "bottleneck_dim": 4, "learning_rate": 1e-3, "max_steps": 20,
              "per_device_train_batch_size": 8, "per_device_eval_batch_size": 16, "save_strategy": "steps",
              "save_steps": 10, "seed": 20, "output_dir": str(out), "do_train": True, "do_eval": True,
              "disable_tqdm": True, "max_source_length": 64}
    return _config(root, f"glue-{out.name}", **(values | overrides))


def _final_state(out: Path) -> dict:
    from module.checkpoint import load_checkpoint

    return load_checkpoint(out).tensors


def test_run_glue_killed_after_a_checkpoint_resumes_to_the_uninterrupted_result(encoder_setup, tmp_path,
                                                                                monkeypatch, capsys):
    """Issue 13.7: a kill after checkpoint-10 (and a half-written checkpoint-20) resumes from checkpoint-10 and
    ends where the uninterrupted run ends, bit for bit (dropout on)."""
    from transformers import Trainer

    root, data, backbone = encoder_setup
    straight, killed = tmp_path / "straight", tmp_path / "killed"
    assert run_glue.main([str(_glue_config(tmp_path, data, backbone, straight))]) == 0

    original_save = Trainer._save_checkpoint

    def save_then_die(self, *args, **kwargs):
        original_save(self, *args, **kwargs)
        if self.state.global_step == 10:
            raise KeyboardInterrupt  # the process is killed right after checkpoint-10 is complete

    monkeypatch.setattr(Trainer, "_save_checkpoint", save_then_die)
    config = _glue_config(tmp_path, data, backbone, killed)
    with pytest.raises(KeyboardInterrupt):
        run_glue.main([str(config)])
    monkeypatch.setattr(Trainer, "_save_checkpoint", original_save)
    (killed / "checkpoint-20").mkdir()
    (killed / "checkpoint-20" / "config.json").write_text("{}")  # a save cut short: config only, no weights
    capsys.readouterr()
    assert run_glue.main([str(config)]) == 0
    out = capsys.readouterr().out
    assert f"resuming from {killed / 'checkpoint-10'}" in out and "removed" in out
    a, b = _final_state(straight), _final_state(killed)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    ra, rb = (json.loads((p / "all_results.json").read_text()) for p in (straight, killed))
    assert ra["eval_accuracy"] == rb["eval_accuracy"] and ra["eval_loss"] == rb["eval_loss"]
    assert rb["global_step"] == 20 and rb["resumed_from"].endswith("checkpoint-10") and "train_loss" not in rb
    assert (killed / "checkpoint-20" / "delta.safetensors").is_file()


def test_run_glue_never_resumes_a_run_made_with_other_settings(encoder_setup, tmp_path, capsys):
    root, data, backbone = encoder_setup
    out = tmp_path / "run"
    assert run_glue.main([str(_glue_config(tmp_path, data, backbone, out, max_steps=10))]) == 0
    before = sorted(p.name for p in out.iterdir())
    capsys.readouterr()
    other = _glue_config(tmp_path, data, backbone, out, max_steps=10, learning_rate=5e-3)
    assert run_cli(lambda: run_glue.main([str(other)])) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "other settings (config.learning_rate differ)" in err[0] and str(out) in err[0], err
    assert sorted(p.name for p in out.iterdir()) == before


def test_run_glue_full_disk_while_saving_leaves_no_half_checkpoint(encoder_setup, tmp_path, monkeypatch, capsys):
    """Issue 13.10: the error names the path, checkpoint-10 stays the latest complete one, no config-only folder."""
    import errno

    import transformers.modeling_utils as mu

    root, data, backbone = encoder_setup
    out = tmp_path / "run"
    real = mu.safe_save_file
    calls = []

    def full_disk(tensors, filename, *args, **kwargs):
        calls.append(filename)
        if len(calls) == 2:  # checkpoint-20's weights
            raise OSError(errno.ENOSPC, "No space left on device", filename)
        return real(tensors, filename, *args, **kwargs)

    monkeypatch.setattr(mu, "safe_save_file", full_disk)  # full tuning: the Trainer's own save_pretrained
    assert run_cli(lambda: run_glue.main([str(_glue_config(tmp_path, data, backbone, out, delta_type="none"))])) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "No space left on device" in err[0] and "checkpoint-20" in err[0], err
    assert "latest complete checkpoint is" in err[0] and "checkpoint-10" in err[0]
    assert [p.name for p in out.iterdir() if p.name.startswith("checkpoint-")] == ["checkpoint-10"]


def test_an_adapter_sweep_is_not_reused_once_its_backbone_changed(encoder_setup, trained, tmp_path, capsys):
    """The endpoints hold only adapters and head: the backbone's weights shape every point, so they are hashed."""
    import shutil

    from transformers import AutoModel

    root, data, backbone = encoder_setup
    copy = tmp_path / "backbone"
    shutil.copytree(backbone, copy)
    cfg = _config(tmp_path, "itp-bb", model_name_or_path=str(copy), task_name="toy-sentiment", data_dir=str(data),
                  delta_type="adapter", bottleneck_dim=4, per_device_eval_batch_size=32, seed=20, itpl_points=2,
                  output_dir=str(tmp_path / "out"), disable_tqdm=True,
                  path1=str(trained[("toy-sentiment", "adapter", 20)] / "checkpoint-20"),
                  path2=str(trained[("toy-sentiment", "adapter", 30)] / "checkpoint-20"))
    assert itp_pretrain_adapter.main([str(cfg)]) == 0
    model = AutoModel.from_pretrained(str(copy))
    with torch.no_grad():
        next(model.parameters()).add_(0.1)  # the backbone re-trained in place
    model.save_pretrained(str(copy))
    capsys.readouterr()
    assert run_cli(lambda: itp_pretrain_adapter.main([str(cfg)])) == 2
    assert "other settings (endpoints differ)" in capsys.readouterr().err


def test_a_finished_run_reports_no_stale_dev_or_test_number(encoder_setup, tmp_path, capsys):
    """Issue 27.1: a finished run's all_results.json was reused after its test file was edited (every label
    flipped) or max_test_samples changed: the old test accuracy was printed for the new inputs, exit 0. Now the
    final model is evaluated again (not trained again) whenever an evaluated split's inputs differ."""
    root, _, backbone = encoder_setup
    data = tmp_path / "data"
    folder = toy.write_task(data, "toy-sentiment")
    out = _train(tmp_path, data, backbone, "toy-sentiment", "adapter", 20, tmp_path / "run", steps=10)
    first = json.loads((out / "all_results.json").read_text())
    weights = {p: p.stat().st_mtime_ns for p in out.rglob("*.safetensors")}
    test = folder / "toy-sentiment_test.tsv"
    flip = {"positive": "negative", "negative": "positive"}
    test.write_text("".join(f"{t}\t{flip[y]}\n" for t, y in (line.split("\t") for line in
                                                              test.read_text().splitlines())))
    _train(tmp_path, data, backbone, "toy-sentiment", "adapter", 20, out, steps=10)
    assert "evaluating its final model again" in capsys.readouterr().out
    flipped = json.loads((out / "all_results.json").read_text())
    assert flipped["test_accuracy"] == pytest.approx(1 - first["test_accuracy"], abs=1e-9)
    assert flipped["eval_accuracy"] == first["eval_accuracy"] and flipped["global_step"] == first["global_step"]
    assert weights == {p: p.stat().st_mtime_ns for p in out.rglob("*.safetensors")}  # not trained again
    cfg = json.loads((tmp_path / "toy-sentiment-adapter-20.json").read_text())
    cfg["max_test_samples"] = 4
    (tmp_path / "toy-sentiment-adapter-20.json").write_text(json.dumps(cfg))
    assert run_glue.main([str(tmp_path / "toy-sentiment-adapter-20.json")]) == 0
    four = json.loads((out / "all_results.json").read_text())
    assert four["evaluation"]["test"]["max_samples"] == 4 and "(4 examples)" in capsys.readouterr().out
    assert run_glue.main([str(tmp_path / "toy-sentiment-adapter-20.json")]) == 0  # now unchanged: reused
    assert "reusing its all_results.json" in capsys.readouterr().out
