"""Seconds per LoRA sweep point of a causal LM: the project's way against the common way, same per-example results.

Run from the repository root: `python benchmarks/bench_lora_sweep.py [--model DIR] [--task_dir DIR]
[--path1 LORA --path2 LORA] [--eval_examples 200] [--repeats 3] [--threads N]`. Defaults: the home causal LM
(`pretrained_models/causal-small-home`, `bash scripts/quickstart.sh --track causal` builds it) on
data/rotten_tomatoes, and two LoRA adapters (r 8, alpha 16, peft's default target modules, random factors from
seeds 1 and 2) made in a temporary folder when --path1/--path2 are not given.

(A) project: `module.lora.lora_path_model` once (the stacked delta adapter), then per point `Interpolator.set(x)`
    and `causal_evaluation` on length-sorted batches built once: every (example, label) row of a batch in one
    padded forward pass (causal_model/evaluation.py).
(B) common way: both adapters loaded in one PeftModel; per point `add_weighted_adapter([a1, a2], [1 - x, x],
    combination_type="cat")` (the same delta line, checked), `set_adapter`, then a plain loop scoring each
    (example, label) alone: tokenise prompt + answer, one forward, sum the answer's log-probabilities; the
    point's adapter is deleted after it.

Check: at x = 0.5 both must predict the same label for every example and give per-example losses within 1e-4,
else the script exits with status 1. Timing: one warm-up point each, then the median over --repeats points. The
last line is `ratio: <B s/point / A s/point>`.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
os.environ.setdefault("HF_HUB_OFFLINE", "1")  # before transformers is imported (hence E402 below)

import torch  # noqa: E402

from causal_model.evaluation import causal_batches, label_ids  # noqa: E402
from causal_model.model import load_causal, load_causal_tokenizer  # noqa: E402
from causal_model.scoring import answer_log_likelihoods, answer_of, judge, prompt_of  # noqa: E402
from dataloader.tasks import load_split, split_path, task_name  # noqa: E402
from module.interpolation import Interpolator  # noqa: E402
from module.lora import lora_path_model  # noqa: E402

X = 0.5


def random_adapters(model_dir: Path, folder: Path) -> tuple[Path, Path]:
    """Two LoRA adapters of the model with random factors (seeds 1 and 2), saved by peft."""
    from peft import LoraConfig, get_peft_model
    from transformers.pytorch_utils import Conv1D

    paths = []
    for seed in (1, 2):
        base = load_causal(model_dir)
        transposed = any(isinstance(m, Conv1D) for m in base.modules())
        torch.manual_seed(seed)
        model = get_peft_model(base, LoraConfig(r=8, lora_alpha=16, init_lora_weights=False, fan_in_fan_out=transposed,
                                                task_type="CAUSAL_LM"))
        model.save_pretrained(str(folder / f"lora{seed}"))
        paths.append(folder / f"lora{seed}")
    return paths[0], paths[1]


def project_way(args, examples, gold, labels, task, tokenizer):
    """(per-point callable returning per-example (correct, loss), its one-time set-up seconds)."""
    start = time.time()
    path = lora_path_model(load_causal(args.model), (str(args.path1), str(args.path2)), "delta")
    mover = Interpolator(path.model, path.theta1, path.theta2)
    batches = causal_batches(examples, gold, task, labels, tokenizer, 64)
    setup = time.time() - start

    @torch.inference_mode()
    def point(x: float) -> list[tuple[float, float]]:
        mover.set(x)
        out = [None] * len(examples)
        for ids, rows, batch_gold in batches:
            for i, r in zip(ids, judge(*answer_log_likelihoods(path.model, rows), batch_gold), strict=True):
                out[i] = (r["correct"], r["loss"])
        return out

    return point, setup


def common_way(args, examples, gold, labels, task, tokenizer):
    """The same, the common way (see the module's docstring)."""
    from peft import PeftModel

    start = time.time()
    model = PeftModel.from_pretrained(load_causal(args.model), str(args.path1), adapter_name="a1")
    model.load_adapter(str(args.path2), adapter_name="a2")
    setup = time.time() - start
    bos = [tokenizer.bos_token_id] if tokenizer.bos_token_id is not None else []

    @torch.inference_mode()
    def point(x: float) -> list[tuple[float, float]]:
        model.add_weighted_adapter(["a1", "a2"], [1 - x, x], "point", combination_type="cat")
        model.set_adapter("point")
        out = []
        for example, g in zip(examples, gold, strict=True):
            prompt = bos + tokenizer(prompt_of(task, example.input), add_special_tokens=False)["input_ids"]
            scores, counts = [], []
            for label in labels:
                answer = tokenizer(answer_of(label), add_special_tokens=False)["input_ids"]
                ids = torch.tensor([prompt + answer])
                log_probs = torch.log_softmax(model(input_ids=ids).logits[0, :-1].float(), dim=-1)
                scores.append(sum(float(log_probs[len(prompt) - 1 + k, t]) for k, t in enumerate(answer)))
                counts.append(len(answer))
            predicted = max(range(len(labels)), key=scores.__getitem__)
            out.append((float(predicted == g), -scores[g] / counts[g]))
        model.set_adapter("a1")
        model.delete_adapter("point")
        return out

    return point, setup


def timed(point, repeats: int) -> tuple[float, list]:
    """Median seconds per point after one warm-up point; the warm-up's results."""
    first = point(X)
    times = []
    for _ in range(repeats):
        start = time.time()
        point(X)
        times.append(time.time() - start)
    return statistics.median(times), first


def main(argv: list[str] | None = None) -> int:
    """Entry point."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, default=ROOT / "pretrained_models" / "causal-small-home")
    parser.add_argument("--task_dir", type=Path, default=ROOT / "data" / "rotten_tomatoes")
    parser.add_argument("--path1", type=Path, default=None)
    parser.add_argument("--path2", type=Path, default=None)
    parser.add_argument("--eval_examples", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    task = task_name(args.task_dir)
    labels = sorted({e.answers[0] for e in load_split(args.task_dir, "train")})
    examples = load_split(args.task_dir, "dev")[:args.eval_examples]
    gold = label_ids(examples, labels, str(split_path(args.task_dir, "dev")))
    tokenizer = load_causal_tokenizer(args.model)
    with tempfile.TemporaryDirectory() as scratch:
        if args.path1 is None or args.path2 is None:
            args.path1, args.path2 = random_adapters(args.model, Path(scratch))
        load = os.getloadavg()[0]
        results = {}
        for name, way in (("project", project_way), ("common way", common_way)):
            point, setup = way(args, examples, gold, labels, task, tokenizer)
            results[name] = (*timed(point, args.repeats), setup)
    (a_time, a_out, _), (b_time, b_out, _) = results["project"], results["common way"]
    same = [ra[0] == rb[0] for ra, rb in zip(a_out, b_out, strict=True)]
    worst = max(abs(ra[1] - rb[1]) for ra, rb in zip(a_out, b_out, strict=True))
    print(f"{len(examples)} dev examples of {task}, {len(labels)} labels, x = {X}, load average {load:.2f}, "
          f"{torch.get_num_threads()} threads")
    print(f"{'variant':<12} {'s/point':>9} {'set-up s':>9} {'accuracy':>9}")
    for name, (seconds, out, setup) in results.items():
        print(f"{name:<12} {seconds:>9.3f} {setup:>9.2f} {sum(c for c, _ in out) / len(out):>9.4f}")
    if not all(same) or worst > 1e-4:
        print(f"MISMATCH: {len(same) - sum(same)} predictions differ, largest loss difference {worst:.2e}")
        return 1
    print(f"same predictions for all {len(same)} examples, per-example losses within {worst:.1e}")
    print(f"ratio: {b_time / a_time:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
