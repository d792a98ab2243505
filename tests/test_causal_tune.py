"""causal_model/tune.py on a tiny GPT-2: a LoRA run writes peft's folder and all_results.json, learns the toy task,
is reused when run again, and a run killed after a checkpoint and run again equals the uninterrupted one; two
LoRA runs are then the endpoints of a sweep."""

from __future__ import annotations

import json

import pytest
import torch

from causal_model import interpolate, tune
from module.cli import run_cli


@pytest.fixture(scope="module")
def base(tmp_path_factory, tokenizer_dir):
    from transformers import AutoTokenizer

    from utils import toy

    return toy.build_tiny_causal(tmp_path_factory.mktemp("causal-base") / "gpt2",
                                 AutoTokenizer.from_pretrained(str(tokenizer_dir)))


def _tune(base, task, out, seed=20, *extra) -> int:
    return run_cli(lambda: tune.main(["--model", str(base), "--task_dir", str(task), "--output_dir", str(out),
                                      "--do_train", "--max_steps", "6", "--save_steps", "3", "--learning_rate", "5e-3",
                                      "--per_device_train_batch_size", "8", "--seed", str(seed), "--lora_r", "4",
                                      "--max_eval_samples", "16", "--disable_tqdm", "true", *extra]))


def _adapter(folder) -> dict[str, torch.Tensor]:
    import safetensors.torch

    return safetensors.torch.load_file(str(folder / "adapter_model.safetensors"))


@pytest.mark.slow
def test_a_lora_run_resumes_bit_for_bit_is_reused_and_is_a_sweep_endpoint(base, toy_task, tmp_path, monkeypatch,
                                                                          capsys):
    from transformers import Trainer

    straight = tmp_path / "straight"
    assert _tune(base, toy_task, straight) == 0
    assert {"adapter_config.json", "adapter_model.safetensors", "all_results.json"} <= {
        p.name for p in straight.iterdir()}
    results = json.loads((straight / "all_results.json").read_text())
    assert results["global_step"] == 6 and results["method"] == "lora" and 0.0 <= results["eval_accuracy"] <= 1.0

    real, calls = Trainer.training_step, []

    def interrupted(self, *args, **kwargs):
        calls.append(1)
        if len(calls) == 4:  # after checkpoint-3
            raise KeyboardInterrupt
        return real(self, *args, **kwargs)

    monkeypatch.setattr(Trainer, "training_step", interrupted)
    resumed = tmp_path / "resumed"
    assert _tune(base, toy_task, resumed) == 130
    monkeypatch.setattr(Trainer, "training_step", real)
    capsys.readouterr()
    assert _tune(base, toy_task, resumed) == 0
    assert "resuming from" in capsys.readouterr().out
    a, b = _adapter(straight), _adapter(resumed)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)

    assert _tune(base, toy_task, straight) == 0  # the same settings: reused, not trained again
    assert "reusing its all_results.json" in capsys.readouterr().out

    other = tmp_path / "seed30"
    assert _tune(base, toy_task, other, 30) == 0
    assert run_cli(lambda: interpolate.main(["--model", str(base), "--path1", str(straight), "--path2", str(other),
                                             "--task_dir", str(toy_task), "--output_dir", str(tmp_path / "line"),
                                             "--itpl_points", "3", "--max_eval_samples", "16", "--quiet"])) == 0
    summary = json.loads((tmp_path / "line" / "summary.json").read_text())
    assert summary["lora_path"] == "delta"
    assert summary["splits"]["dev"]["performance"]["endpoints"][0] == pytest.approx(results["eval_accuracy"])


def test_pretraining_a_causal_lm_gives_a_folder_the_family_loads_and_tunes(tmp_path, toy_task, capsys):
    """causal_model/pretrain_causal.py on the toy corpus: its tokenizer round-trips, the loss falls, and the final
    folder is a --model of tune.py (loaded offline by the family's loader)."""
    from causal_model import pretrain_causal
    from causal_model.model import load_causal, load_causal_tokenizer
    from utils import toy

    (tmp_path / "corpus.txt").write_text("\n".join(toy.corpus(400)) + "\n")
    out = tmp_path / "home"
    assert pretrain_causal.main(["--text", str(tmp_path / "corpus.txt"), "--out", str(out), "--steps", "30",
                                 "--vocab_size", "300", "--hidden_size", "32", "--num_layers", "2", "--num_heads", "2",
                                 "--intermediate_size", "64", "--seq_len", "32", "--batch_size", "8", "--lr", "1e-2",
                                 "--warmup_steps", "5", "--quiet"]) == 0
    info = json.loads((out / "pretraining.json").read_text())
    curve = [loss for _, loss in info["loss_curve"]]
    assert curve[-1] < curve[0]
    tokenizer = load_causal_tokenizer(out)
    text = "the movie was good , not bad !"
    assert tokenizer.decode(tokenizer(text, add_special_tokens=False).input_ids) == text
    assert load_causal(out).config.model_type == "llama"
    assert _tune(out, toy_task, tmp_path / "run", 20, "--max_steps", "2") == 0


@pytest.mark.parametrize("flag,value", [("--lora_r", "0"), ("--max_train_samples", "0"), ("--max_eval_samples", "0")])
def test_a_zero_count_is_one_line_before_anything_is_written(flag, value, base, toy_task, tmp_path, capsys):
    """Before: --max_eval_samples 0 gave accuracy 0 of no example, exit 0."""
    code = _tune(base, toy_task, tmp_path / "out", 20, flag, value)
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and f"{flag} must be at least 1, got 0" in err[0], err
    assert not (tmp_path / "out").exists()


def test_causal_runs_feed_the_forgetting_analysis(base, toy_task, tmp_path):
    """Issue 28: per-example correctness of the causal family feeds the existing forgetting analysis: tune.py
    --cartography writes cartography.json, interpolate.py --itp_on_train the training examples' zero/one lists,
    and utils/process_cartography.py joins them."""
    from utils import process_cartography

    runs = []
    for seed in (20, 30):
        out = tmp_path / f"run{seed}"
        assert _tune(base, toy_task, out, seed, "--max_steps", "-1", "--num_train_epochs", "2", "--save_steps", "100",
                     "--max_train_samples", "16", "--cartography") == 0
        runs.append(out)
    cartography = json.loads((runs[0] / "cartography.json").read_text())
    assert sorted(cartography, key=int) == [str(i) for i in range(16)]
    assert all(len(e["acc"]) == 2 and all(0.0 < c < 1.0 for c in e["confidence"]) for e in cartography.values())
    sweep = tmp_path / "sweep"
    assert run_cli(lambda: interpolate.main(["--model", str(base), "--path1", str(runs[0]), "--path2", str(runs[1]),
                                             "--task_dir", str(toy_task), "--output_dir", str(sweep), "--itp_on_train",
                                             "--max_train_samples", "16", "--itpl_points", "3", "--quiet"])) == 0
    analysis = json.loads((sweep / "valid_data_analysis.json").read_text())
    assert list(analysis) == ["0.0", "0.5", "1.0"]
    assert all(sorted(v["zero_list"] + v["one_list"]) == list(range(16)) for v in analysis.values())
    summary = json.loads((sweep / "summary.json").read_text())
    assert list(summary["splits"]) == ["train"]
    save = tmp_path / "forgotten.json"
    assert process_cartography.main(["--cartography_path", str(runs[0] / "cartography.json"), "--analysis_path",
                                     str(sweep / "valid_data_analysis.json"), "--save_path", str(save)]) == 0
    records = json.loads(save.read_text())
    assert [r["from"] for r in records] == ["start", "0.0", "0.5"] and [r["to"] for r in records] == ["0.0", "0.5",
                                                                                                        "1.0"]
    assert records[0]["newly_forgotten"] == len(analysis["0.0"]["zero_list"])
