"""Issue 28: free-form tasks on the causal family: answers generated greedily in left-padded batches (the same
answers as generating each prompt alone, GPT-2 and Llama), scored by the task's metric; sweeps, curves and tuning
report it; a metric rank classification cannot report is one line."""

from __future__ import annotations

import json
import random

import pytest
import torch

from module.cli import run_cli


def write_copy_task(root, sizes=(24, 12, 12)):
    """A free-form toy task: the answer is the first word of the input (dev/test words unseen as answers in train)."""
    from utils import toy

    folder = root / "toy-copy"
    folder.mkdir(parents=True)
    rng = random.Random(3)
    for split, size in zip(("train", "dev", "test"), sizes, strict=True):
        rows = []
        for _ in range(size):
            words = toy.toy_sentence(rng)[0].split()
            rows.append(f"copy the first word: {' '.join(words)}\t{words[0]}")
        (folder / f"toy-copy_{split}.tsv").write_text("\n".join(rows) + "\n")
    return folder


@pytest.fixture(scope="module")
def world(tmp_path_factory, tokenizer_dir):
    from transformers import AutoTokenizer

    from utils import toy

    root = tmp_path_factory.mktemp("generation")
    tokenizer = AutoTokenizer.from_pretrained(str(tokenizer_dir))
    models = {arch: toy.build_tiny_causal(root / arch, tokenizer, arch=arch) for arch in ("gpt2", "llama")}
    toy.perturbed_causal_ends(models["gpt2"], root)  # two fine-tuned ends of the GPT-2
    return root, models, write_copy_task(root)


@pytest.mark.parametrize("arch", ["gpt2", "llama"])
def test_batched_greedy_answers_equal_each_prompt_generated_alone(world, arch):
    from causal_model.generation import first_line, generation_batches, greedy_answers
    from causal_model.model import load_causal, load_causal_tokenizer
    from causal_model.scoring import prompt_of
    from dataloader.tasks import load_split

    root, models, task = world
    model, tokenizer = load_causal(models[arch]), load_causal_tokenizer(models[arch])
    examples = load_split(task, "dev")
    batches = generation_batches(examples, task.name, tokenizer, 5)
    assert len({b.prompts.shape[1] for b in batches}) > 1 or any(bool((b.prompt_mask == 0).any()) for b in batches)
    bos = [tokenizer.bos_token_id] if tokenizer.bos_token_id is not None else []
    for batch in batches:
        answers = greedy_answers(model, tokenizer, batch, 6)
        for i, answer in zip(batch.ids, answers, strict=True):
            ids = torch.tensor([bos + tokenizer(prompt_of(task.name, examples[i].input),
                                                add_special_tokens=False)["input_ids"]])
            alone = model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), max_new_tokens=6,
                                   do_sample=False, pad_token_id=tokenizer.pad_token_id)
            assert answer == first_line(tokenizer.decode(alone[0, ids.shape[1]:], skip_special_tokens=True))


def test_a_free_form_line_is_scored_by_the_tasks_metric_on_generated_answers(world, tmp_path):
    from causal_model import interpolate
    from causal_model.generation import generation_batches, greedy_answers
    from causal_model.model import load_causal, load_causal_tokenizer
    from dataloader.metrics import evaluate
    from dataloader.tasks import load_split
    from module.sweep import read_records

    root, models, task = world
    assert run_cli(lambda: interpolate.main(["--model", str(models["gpt2"]), "--path1", str(root / "ft1"),
                                             "--path2", str(root / "ft2"), "--task_dir", str(task), "--output_dir",
                                             str(tmp_path / "line"), "--metric", "EM", "--itpl_points", "3",
                                             "--max_new_tokens", "4", "--quiet"])) == 0
    records = read_records(tmp_path / "line")
    summary = json.loads((tmp_path / "line" / "summary.json").read_text())
    assert summary["metric"] == "EM"
    end = load_causal(root / "ft1")
    tokenizer = load_causal_tokenizer(models["gpt2"])
    dev = load_split(task, "dev")
    predictions = [""] * len(dev)
    for batch in generation_batches(dev, task.name, tokenizer, 16):
        for i, text in zip(batch.ids, greedy_answers(end, tokenizer, batch, 4), strict=True):
            predictions[i] = text
    first = records[0]["splits"]["dev"]
    assert first["performance"] == evaluate(predictions, [e.answers for e in dev], "EM")
    assert len(first["scores"]) == len(dev) and set(first["scores"]) <= {0.0, 1.0}
    assert first["loss"] > 0


def test_free_form_tuning_reports_the_metric_and_a_rank_metric_mismatch_is_one_line(world, tmp_path, capsys):
    from causal_model import interpolate, tune

    root, models, task = world
    out = tmp_path / "run"
    assert run_cli(lambda: tune.main(["--model", str(models["gpt2"]), "--task_dir", str(task), "--output_dir",
                                      str(out), "--do_train", "--max_steps", "2", "--learning_rate", "5e-3",
                                      "--per_device_train_batch_size", "8", "--metric", "EM", "--max_new_tokens", "4",
                                      "--disable_tqdm", "true", "--method", "full", "--save_strategy", "no"])) == 0
    results = json.loads((out / "all_results.json").read_text())
    assert results["metric"] == "EM" and 0.0 <= results["eval_em"] <= 1.0 and results["labels"] == []
    capsys.readouterr()
    code = run_cli(lambda: interpolate.main(["--model", str(models["gpt2"]), "--path1", str(root / "ft1"),
                                             "--path2", str(root / "ft2"), "--task_dir", str(task), "--output_dir",
                                             str(tmp_path / "bad"), "--metric", "BLEU"]))
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "rank classification reports accuracy" in err[0]
    assert not (tmp_path / "bad").exists()


def test_a_free_form_curve_is_validated_and_swept_by_the_tasks_metric(world, tmp_path):
    import csv

    from causal_model import curve_find

    root, models, task = world
    assert run_cli(lambda: curve_find.main(["--model", str(models["gpt2"]), "--path1", str(root / "ft1"),
                                            "--path2", str(root / "ft2"), "--task_dir", str(task), "--output_dir",
                                            str(tmp_path / "curve"), "--metric", "EM", "--itpl_points", "2",
                                            "--max_new_tokens", "4", "--curve_steps", "2", "--train_batch_size", "8",
                                            "--quiet"])) == 0
    assert json.loads((tmp_path / "curve" / "summary.json").read_text())["metric"] == "EM"
    rows = list(csv.DictReader((tmp_path / "curve" / "metrics.csv").open()))
    assert [r["kind"] for r in rows if r["kind"].startswith("valid")][-1] == "valid"
