"""Per-point cost of an encoder-track interpolation sweep point, three ways, against a same-shape matmul peak.

Run from the repository root: `python benchmarks/bench_encoder_sweep.py [--eval_examples 500] [--threads 2]
[--repeats 3]`. It needs pretrained_models/all-MiniLM-L6-v2 (`python utils/prepare_models.py`) and the task
folder data/snli (`python utils/prepare_data.py --tasks snli`); nothing is downloaded here.

Setup. The classifier is built twice with the project's code, `build_classifier(model_dir, labels, "adapter", 24,
seed=20 / 30, task="snli")` (labels from `task_labels("snli", <train split>)`), with no training: each one's
adapter tensors (`adapter_state`) plus its `classifier.*` head are the endpoints θ1, θ2. Every variant evaluates
the first `--eval_examples` dev pairs at x = 0.5, θ = (θ1 + θ2) / 2, in one shared model (backbone identical in
both builds), under `--threads` torch threads.

(A) "project": the sweep's path (module/path_jobs.py, RoBERTa_model/sweeps.py) — `Interpolator(model, θ1,
    θ2).set(0.5)` writes θ into the live tensors, then `evaluate_classifier` on
    `classifier_batches(encode_task(...), 128, pad_id)`,
    batches (length-sorted, at most 128 rows, cut where padding plus a per-batch cost is least:
    dataloader.batching.length_groups) built once outside the timing.
(B) "original's way": what the paper's scripts did per point — `copy.deepcopy(model.state_dict())` updated
    with the interpolated tensors, `load_state_dict`, then `transformers.Trainer.predict` (batch 128) on a
    dataset padded to 128 tokens (tokenised once, outside the timing; the Trainer is made once too).
    Per-example correctness and loss are computed from its logits.
(C) "plain loop": θ written with `load_state_dict(interpolated, strict=False)`, then a plain Hugging Face
    loop in file order, batches of 128, `tokenizer(batch, padding=True)` (dynamic padding; the tokenisation is
    inside the timing, as such a loop does it) and `model(**batch).logits` under `torch.inference_mode`.

Check. Per-example predictions must be identical across A, B and C and per-example losses within 1e-4, else
the script exits with status 1. A's per-example logits are taken by a forward hook in one extra, untimed call
of `evaluate_classifier` (it returns only per-example correctness and the mean loss, also checked).

Timing. One warm-up point per variant, then the median seconds per point over `--repeats` points.

Useful FLOPs. Only real (non-pad) tokens count: for T real tokens and real lengths len_i, per layer
2·T·(4·d² + 2·d·ff) for the Q/K/V/output projections and the two FFN matmuls, plus 2·2·Σ len_i²·d for
attention scores and values; times the number of layers. The adapters (2·2·d·24 per token per site, about 2 %
of the above) and the classifier head are left out. Useful GFLOP/s = useful FLOPs / seconds per point.
Padding waste = padded (pad) tokens / real tokens of each variant's batches.

Peak. `torch.nn.functional.linear` timed at the model's own shapes — rows = 128 × the median real length,
(d → d), (d → 3d), (d → ff), (ff → d) — fp32, the same thread count, best of 20 calls per shape, once before
and once after the timed variants; the best GFLOP/s of all is the "same-shape matmul peak" (single
measurements vary by tens of percent on a shared machine).

Output: a table (variant, s/point, useful GFLOP/s, fraction of peak) and, as the last line,
`utilisation: <project useful GFLOP/s / peak>` with 3 decimals.
"""

from __future__ import annotations

import argparse
import copy
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
os.environ.setdefault("HF_HUB_OFFLINE", "1")  # before transformers is imported (hence E402 below)
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from torch import nn  # noqa: E402

from module.adapter import adapter_state  # noqa: E402
from module.interpolation import Interpolator, interpolate  # noqa: E402
from module.loading import load_tokenizer  # noqa: E402
from RoBERTa_model.encoder import (  # noqa: E402
    build_classifier,
    classifier_batches,
    encode_task,
    evaluate_classifier,
    load_task_split,
    task_labels,
    text_pair,
)

TASK = "snli"
MODEL_DIR = ROOT / "pretrained_models" / "all-MiniLM-L6-v2"
DATA_DIR = ROOT / "data"
MAX_LENGTH = 128
BATCH_SIZE = 128
X = 0.5
LOSS_TOLERANCE = 1e-4


def endpoint(labels: list[str], seed: int) -> tuple[nn.Module, dict[str, torch.Tensor]]:
    """An untrained adapter classifier and its adapter + head tensors."""
    model = build_classifier(str(MODEL_DIR), labels, "adapter", 24, seed=seed, task=TASK)
    theta = dict(adapter_state(model))
    theta.update({k: v for k, v in model.state_dict().items() if k.startswith("classifier.")})
    return model, {k: v.detach().clone() for k, v in theta.items()}


def per_example(logits: torch.Tensor, labels: torch.Tensor) -> tuple[list[int], list[float]]:
    """Argmax predictions and per-example cross-entropy losses."""
    logits = logits.float()
    return logits.argmax(-1).tolist(), F.cross_entropy(logits, labels, reduction="none").tolist()


def median_seconds(point: Callable[[], object], repeats: int) -> float:
    """Median wall seconds of `point()` over `repeats` calls after one warm-up call."""
    point()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        point()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def useful_flops(lengths: list[int], config) -> float:
    """Matmul FLOPs of the encoder over the real tokens only (projections, FFN, attention scores/values)."""
    d, ff, layers = config.hidden_size, config.intermediate_size, config.num_hidden_layers
    tokens = sum(lengths)
    per_layer = 2 * tokens * (4 * d * d + 2 * d * ff) + 2 * 2 * sum(n * n for n in lengths) * d
    return float(layers * per_layer)


def matmul_peak(rows: int, d: int, ff: int, repeats: int = 20) -> tuple[float, str]:
    """Best fp32 GFLOP/s of `F.linear` at the encoder's shapes, and the shape that reached it."""
    best, best_shape = 0.0, ""
    for n_in, n_out in ((d, d), (d, 3 * d), (d, ff), (ff, d)):
        x, w, b = torch.randn(rows, n_in), torch.randn(n_out, n_in), torch.randn(n_out)
        with torch.inference_mode():
            for _ in range(2):
                F.linear(x, w, b)
            times = []
            for _ in range(repeats):
                start = time.perf_counter()
                F.linear(x, w, b)
                times.append(time.perf_counter() - start)
        gflops = 2 * rows * n_in * n_out / min(times) / 1e9
        if gflops > best:
            best, best_shape = gflops, f"{rows}x{n_in} @ {n_in}x{n_out}"
    return best, best_shape


class PaddedDataset(torch.utils.data.Dataset):
    """Rows padded to MAX_LENGTH tokens, as the original's preprocessing did (`padding="max_length"`)."""

    def __init__(self, enc: dict, labels: list[int]):
        self.enc, self.labels = enc, labels

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int) -> dict:
        row = {k: torch.tensor(v[i]) for k, v in self.enc.items()}
        row["labels"] = torch.tensor(self.labels[i])
        return row


def main(argv: list[str] | None = None) -> int:
    """Build, time the three variants, check they agree, print the table and the utilisation line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--eval_examples", type=int, default=500)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    if not (MODEL_DIR / "config.json").is_file():
        print(f"{MODEL_DIR} missing: run python utils/prepare_models.py", file=sys.stderr)
        return 2
    if not (DATA_DIR / TASK).is_dir():
        print(f"{DATA_DIR / TASK} missing: run python utils/prepare_data.py --tasks {TASK}", file=sys.stderr)
        return 2
    torch.set_num_threads(args.threads)

    import transformers
    from transformers import Trainer, TrainingArguments

    transformers.logging.set_verbosity_error()
    labels = task_labels(TASK, load_task_split(str(DATA_DIR), TASK, "train"))
    examples = load_task_split(str(DATA_DIR), TASK, "dev", args.eval_examples)
    tokenizer = load_tokenizer(MODEL_DIR)
    pad_id = tokenizer.pad_token_id
    model, theta1 = endpoint(labels, 20)
    other, theta2 = endpoint(labels, 30)
    backbone = {k: v for k, v in other.state_dict().items() if k not in theta2}
    if any(not torch.equal(v, model.state_dict()[k]) for k, v in backbone.items()):
        print("the two builds differ outside the adapters and head", file=sys.stderr)
        return 1
    del other
    model.eval()
    theta_x = interpolate(theta1, theta2, X)

    # inputs, all built outside the timing
    encoded = encode_task(examples, tokenizer, labels, MAX_LENGTH)
    batches = classifier_batches(encoded, BATCH_SIZE, pad_id)
    gold = torch.tensor(encoded.labels)
    lengths = [len(ids) for ids in encoded.input_ids]
    pairs = [text_pair(e.input) for e in examples]
    firsts, seconds = [a for a, _ in pairs], [b or "" for _, b in pairs]
    padded = tokenizer(firsts, seconds, truncation=True, max_length=MAX_LENGTH, padding="max_length")
    padded_set = PaddedDataset(dict(padded.items()), encoded.labels)

    # (A) project
    interpolator = Interpolator(model, theta1, theta2)

    def project() -> dict:
        interpolator.set(X)
        return evaluate_classifier(model, batches)

    # (B) original's way
    tmp = tempfile.TemporaryDirectory()
    trainer = Trainer(model, args=TrainingArguments(output_dir=tmp.name, per_device_eval_batch_size=BATCH_SIZE,
                                                    report_to="none", disable_tqdm=True, use_cpu=True))

    def original() -> tuple[list[int], list[float]]:
        state = copy.deepcopy(model.state_dict())
        state.update({k: v.clone() for k, v in theta_x.items()})
        model.load_state_dict(state)
        out = trainer.predict(padded_set)
        return per_example(torch.as_tensor(out.predictions), gold)

    # (C) plain loop
    def plain() -> tuple[list[int], list[float]]:
        model.load_state_dict(theta_x, strict=False)
        preds, losses = [], []
        with torch.inference_mode():
            for s in range(0, len(examples), BATCH_SIZE):
                batch = tokenizer(firsts[s: s + BATCH_SIZE], seconds[s: s + BATCH_SIZE], truncation=True,
                                  max_length=MAX_LENGTH, padding=True, return_tensors="pt")
                p, ls = per_example(model(**batch).logits, gold[s: s + BATCH_SIZE])
                preds += p
                losses += ls
        return preds, losses

    # correctness check (untimed): A's per-example logits by a forward hook
    captured: list[torch.Tensor] = []
    hook = model.register_forward_hook(lambda _m, _i, out: captured.append(out.logits.detach().clone()))
    result_a = project()
    hook.remove()
    logits_a = torch.empty(len(examples), len(labels))
    for (ids, _), logits in zip(batches, captured, strict=True):
        logits_a[ids] = logits.float()
    results = {"project": per_example(logits_a, gold), "original": original(), "plain": plain()}
    failures = []
    if [float(p == g) for p, g in zip(results["project"][0], encoded.labels, strict=True)] != result_a["scores"]:
        failures.append("project: hooked predictions disagree with evaluate_classifier's scores")
    if abs(statistics.fmean(results["project"][1]) - result_a["loss"]) > LOSS_TOLERANCE:
        failures.append("project: hooked losses disagree with evaluate_classifier's mean loss")
    ref_preds, ref_losses = results["project"]
    for name in ("original", "plain"):
        preds, losses = results[name]
        wrong = sum(p != q for p, q in zip(preds, ref_preds, strict=True))
        worst = max(abs(a - b) for a, b in zip(losses, ref_losses, strict=True))
        print(f"check {name} vs project: {wrong} differing predictions, max |loss diff| {worst:.2e}")
        if wrong or worst > LOSS_TOLERANCE:
            failures.append(f"{name}: {wrong} differing predictions, max loss difference {worst:.2e}")
    accuracy = statistics.fmean(float(p == g) for p, g in zip(ref_preds, encoded.labels, strict=True))
    print(f"{len(examples)} dev examples at x={X}: accuracy {accuracy:.4f}, mean loss {result_a['loss']:.4f}")
    if failures:
        print("MISMATCH: " + "; ".join(failures), file=sys.stderr)
        return 1

    # timing; the peak is measured before and after the variants and the better one kept (it is noisy)
    typical = int(statistics.median(lengths))
    shapes = (BATCH_SIZE * typical, model.config.hidden_size, model.config.intermediate_size)
    peak_before = matmul_peak(*shapes)
    seconds_per_point = {"project": median_seconds(project, args.repeats),
                         "original": median_seconds(original, args.repeats),
                         "plain": median_seconds(plain, args.repeats)}
    interpolator.restore()
    tmp.cleanup()

    real = sum(lengths)
    processed = {"project": sum(b["input_ids"].numel() for _, b in batches),
                 "original": len(examples) * MAX_LENGTH,
                 "plain": sum(len(lengths[s: s + BATCH_SIZE]) * max(lengths[s: s + BATCH_SIZE])
                              for s in range(0, len(lengths), BATCH_SIZE))}
    flops = useful_flops(lengths, model.config)
    peak_after = matmul_peak(*shapes)
    peak, peak_shape = max(peak_before, peak_after)

    print(f"real tokens {real} (median length {typical}, max {max(lengths)}); useful FLOPs {flops / 1e9:.2f} GFLOP; "
          f"threads {torch.get_num_threads()}")
    print(f"same-shape matmul peak: {peak:.1f} GFLOP/s (F.linear fp32, best at {peak_shape}; before the "
          f"variants {peak_before[0]:.1f}, after {peak_after[0]:.1f})")
    print(f"{'variant':<10} | {'s/point':>8} | {'useful GFLOP/s':>14} | {'of peak':>7} | {'pad waste':>9} | "
          f"{'x project':>9}")
    for name, sec in seconds_per_point.items():
        gflops = flops / sec / 1e9
        waste = (processed[name] - real) / real
        print(f"{name:<10} | {sec:>8.3f} | {gflops:>14.1f} | {gflops / peak:>7.3f} | {waste:>9.3f} | "
              f"{sec / seconds_per_point['project']:>9.2f}")
    print(f"utilisation: {flops / seconds_per_point['project'] / 1e9 / peak:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
