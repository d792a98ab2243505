"""Seconds per interpolation point: this project's sweep path against the original code's way, side by side.

Run from anywhere: `python benchmarks/bench_interpolation.py [--quick]`. Everything (tokenizer, toy task,
tiny T5, two briefly trained endpoints) is built in a temporary folder; nothing is cached across runs.

(a) project path, per point: `Interpolator.set(x)` (in-place θ(x) in the live parameters) +
    `evaluate_batches` on dev batches that were tokenised, length-sorted and dynamically padded once
    (`eval_batches`) + the metric (`dataloader.metrics.evaluate`).
(b) reference path, per point, written here the way the original did it: the whole interpolated state
    dict merged into a fresh copy of `model.state_dict()` and `load_state_dict`; inputs padded to 512;
    batches of 32 in file order; per batch one forward with `labels` (HF mean loss) and then
    `model.generate(max_length=64)` greedy on the padded inputs; decoded with `skip_special_tokens` and
    `clean_up_tokenization_spaces`, stripped;
    under `torch.no_grad`; same metric.

Both must give identical predictions and token-weighted mean losses within 1e-4 at every shared x, else
the script exits with status 1. The last line printed is `ratio: <reference s/point / project s/point>`, from
the median seconds per point of each path. `--threads N` pins torch's thread count for the timed part.
"""

from __future__ import annotations

import argparse
import copy
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
os.environ.setdefault("HF_HUB_OFFLINE", "1")  # before transformers is imported (hence E402 below)
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import torch  # noqa: E402

from dataloader.batching import (  # noqa: E402
    IGNORE_INDEX,
    encode_split,
    eval_batches,
    model_input,
    model_target,
    train_batches,
)
from dataloader.metrics import evaluate  # noqa: E402
from dataloader.tasks import load_split, task_name  # noqa: E402
from module.interpolation import Interpolator  # noqa: E402
from T5_model.evaluation import evaluate_batches, shift_right  # noqa: E402
from T5_model.tokenizer import train_t5_tokenizer  # noqa: E402
from T5_model.trainer import build_optimizer  # noqa: E402
from utils.toy import corpus, tiny_t5_config, write_task  # noqa: E402

METRIC = "ACC"
MAX_INPUT_LENGTH = 512
MAX_OUTPUT_LENGTH = 64
REFERENCE_BATCH_SIZE = 32
PROJECT_BATCH_SIZE = 128
# A tiny T5 v1.1 (gated-GELU) that trains to "label word + EOS" in a few seconds on two CPU cores.
MODEL = {"d_model": 64, "d_kv": 16, "d_ff": 128, "num_layers": 2, "num_decoder_layers": 2, "num_heads": 4,
         "dropout_rate": 0.0, "initializer_factor": 0.1}


# ---------------------------------------------------------------------------------------------- setup
def build_tokenizer(folder: Path):
    """The toy SentencePiece T5 tokenizer (utils/toy.py's corpus), with the label words as single pieces.

    With `utils.toy.build_tokenizer` "positive" is 4 pieces ("▁po si ti ve"), so a trained model emits 6-7
    tokens per answer; a real T5 vocabulary has "▁positive" as one piece. Repeating the label words in the
    corpus gives `<extra_id_0> ▁positive </s>`, i.e. 3 generated tokens, as with a real T5.
    """
    return train_t5_tokenizer(corpus() + ["positive", "negative"] * 300, folder, vocab_size=200)


def train_endpoint(model, tokenizer, train_enc, seed: int, steps: int, lr: float = 1e-2, batch_size: int = 32):
    """Full fine-tuning with Adafactor at a fixed lr, batch 32, dropout 0; returns a copy of the tensors."""
    cfg = model.config
    optimizer = build_optimizer(model.parameters(), lr)
    model.train()
    done, epoch = 0, 0
    while done < steps:
        rng = random.Random(f"{seed}-{epoch}")
        for batch in train_batches(train_enc, batch_size, tokenizer.pad_token_id, rng):
            out = model(input_ids=batch.input_ids, attention_mask=batch.attention_mask,
                        decoder_input_ids=shift_right(batch.labels, cfg.decoder_start_token_id, cfg.pad_token_id))
            loss = torch.nn.functional.cross_entropy(out.logits.transpose(1, 2), batch.labels,
                                                     ignore_index=IGNORE_INDEX)
            loss.backward()
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            done += 1
            if done >= steps:
                break
        epoch += 1
    model.eval()
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def mean_generated_length(model, batches, max_length: int) -> float:
    """Average number of generated tokens up to and including EOS (the start token not counted)."""
    from T5_model.evaluation import greedy_decode

    eos, lengths = model.config.eos_token_id, []
    with torch.inference_mode():
        for b in batches:
            hidden = model.get_encoder()(input_ids=b.input_ids, attention_mask=b.attention_mask).last_hidden_state
            ids = greedy_decode(model, hidden, b.attention_mask, max_length)
            for row in ids.tolist():
                lengths.append(row.index(eos) + 1 if eos in row else len(row))
    return sum(lengths) / len(lengths)


def build(tmp: Path, sizes: tuple[int, int, int], steps: tuple[int, int] = (100, 150)):
    """Tokenizer, toy task and two trained endpoints (same init, other data order and length) in `tmp`.

    Returns (model holding θ1, tokenizer, θ1, θ2, dev examples, task name).
    """
    from transformers import T5ForConditionalGeneration
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    tokenizer = build_tokenizer(tmp / "tokenizer")
    task_dir = write_task(tmp / "data", sizes=sizes, seed=0)
    task = task_name(task_dir)
    train, dev = load_split(task_dir, "train"), load_split(task_dir, "dev")
    train_enc = encode_split(train, tokenizer, task, max_input_length=MAX_INPUT_LENGTH,
                             max_output_length=MAX_OUTPUT_LENGTH)
    dev_enc = encode_split(dev, tokenizer, task)
    check_batches = eval_batches(dev_enc, 128, tokenizer.pad_token_id)

    torch.manual_seed(0)
    config = tiny_t5_config(len(tokenizer), **MODEL)
    model = T5ForConditionalGeneration(config)
    init = {k: v.detach().clone() for k, v in model.state_dict().items()}
    # Training only: one thread, so that a busy 2-core machine does not stall it (the timings
    # run with torch's default thread count).
    default_threads = torch.get_num_threads()
    torch.set_num_threads(1)
    endpoints = []
    try:
        for seed, n in zip((1, 2), steps, strict=True):
            model.load_state_dict(init)
            torch.manual_seed(seed)
            theta = train_endpoint(model, tokenizer, train_enc, seed, n)
            length = mean_generated_length(model, check_batches, MAX_OUTPUT_LENGTH)
            out = evaluate_batches(model, check_batches, tokenizer, MAX_OUTPUT_LENGTH)
            acc = evaluate(out.predictions, dev_enc.answers, METRIC)
            print(f"endpoint seed {seed}: {n} Adafactor steps, dev {METRIC} {acc:.3f}, loss {out.loss:.4f}, "
                  f"mean generated length {length:.2f} tokens")
            if length > 4:
                raise SystemExit(f"endpoint seed {seed} is not trained enough: mean generated length {length:.2f} > 4")
            endpoints.append(theta)
    finally:
        torch.set_num_threads(default_threads)
    theta1, theta2 = endpoints
    model.load_state_dict(theta1)
    return model, tokenizer, theta1, theta2, dev, task


# ---------------------------------------------------------------------------------------------- (a) project
class ProjectPath:
    """Interpolator + evaluate_batches on batches built once."""

    def __init__(self, model, tokenizer, theta1, theta2, dev, task: str, batch_size: int):
        self.model, self.tokenizer = model, tokenizer
        self.interpolator = Interpolator(model, theta1, theta2)
        self.enc = encode_split(dev, tokenizer, task, max_input_length=MAX_INPUT_LENGTH,
                                max_output_length=MAX_OUTPUT_LENGTH)
        self.batches = eval_batches(self.enc, batch_size, tokenizer.pad_token_id)

    def point(self, x: float) -> tuple[list[str], float, float]:
        self.interpolator.set(x)
        out = evaluate_batches(self.model, self.batches, self.tokenizer, MAX_OUTPUT_LENGTH)
        return out.predictions, out.loss, evaluate(out.predictions, self.enc.answers, METRIC)


# ---------------------------------------------------------------------------------------------- (b) reference
class ReferencePath:
    """The original's loop: state-dict rebuild + load_state_dict, pad to 512, loss forward + generate per batch."""

    def __init__(self, model, tokenizer, theta1, theta2, dev, task: str):
        self.model, self.tokenizer = model, tokenizer
        self.theta1, self.theta2 = theta1, theta2
        self.answers = [list(e.answers) for e in dev]
        # Pre-tokenised once (the original re-used cached tokenisations), but padded to the maximum length.
        inputs = tokenizer([model_input(task, e.input) for e in dev], padding="max_length",
                           max_length=MAX_INPUT_LENGTH, truncation=True, return_tensors="pt")
        targets = tokenizer([model_target(e.answers[0]) for e in dev], padding="max_length",
                            max_length=MAX_OUTPUT_LENGTH, truncation=True, return_tensors="pt")
        labels = targets["input_ids"].masked_fill(targets["attention_mask"] == 0, IGNORE_INDEX)
        self.input_ids, self.attention_mask, self.labels = inputs["input_ids"], inputs["attention_mask"], labels

    def point(self, x: float) -> tuple[list[str], float, float]:
        model = self.model
        state = copy.deepcopy(model.state_dict())
        state.update({k: (1 - x) * self.theta1[k] + x * self.theta2[k] for k in self.theta1})
        model.load_state_dict(state)
        model.eval()
        predictions: list[str] = []
        loss_sum, tokens = 0.0, 0
        with torch.no_grad():
            for start in range(0, len(self.input_ids), REFERENCE_BATCH_SIZE):
                input_ids = self.input_ids[start: start + REFERENCE_BATCH_SIZE]
                mask = self.attention_mask[start: start + REFERENCE_BATCH_SIZE]
                labels = self.labels[start: start + REFERENCE_BATCH_SIZE]
                out = model(input_ids=input_ids, attention_mask=mask, labels=labels)
                n = int((labels != IGNORE_INDEX).sum())
                loss_sum += float(out.loss) * n
                tokens += n
                generated = model.generate(input_ids=input_ids, attention_mask=mask, max_length=MAX_OUTPUT_LENGTH,
                                           num_beams=1, do_sample=False)
                texts = self.tokenizer.batch_decode(generated, skip_special_tokens=True,
                                                    clean_up_tokenization_spaces=True)
                predictions += [t.strip() for t in texts]
        return predictions, loss_sum / tokens, evaluate(predictions, self.answers, METRIC)


# ---------------------------------------------------------------------------------------------- main
def timed(path, x: float):
    """Seconds taken by one point of `path`, and the point's (predictions, loss, metric)."""
    start = time.perf_counter()
    result = path.point(x)
    return time.perf_counter() - start, result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer examples and points (a smoke check)")
    parser.add_argument("--project_batch_size", type=int, default=PROJECT_BATCH_SIZE)
    parser.add_argument("--threads", type=int, default=0,
                        help="torch threads for the timed part (default 0: leave torch's default)")
    args = parser.parse_args(argv)
    if args.threads > 0:
        torch.set_num_threads(args.threads)

    sizes = (512, 64, 32) if args.quick else (512, 300, 32)
    ref_xs = [0.0, 1.0] if args.quick else [0.0, 0.5, 1.0]
    proj_xs = [0.0, 0.5, 1.0] if args.quick else [0.0, 0.2, 0.4, 0.5, 0.6, 0.8, 1.0]

    with tempfile.TemporaryDirectory(prefix="bench-itp-") as tmp:
        t0 = time.perf_counter()
        model, tokenizer, theta1, theta2, dev, task = build(Path(tmp), sizes)
        print(f"setup (tokenizer, task, training) {time.perf_counter() - t0:.1f}s; "
              f"{sum(p.numel() for p in model.parameters())} parameters; torch threads {torch.get_num_threads()}")

        # Separate model objects so the paths cannot help each other; both start from θ1.
        ref_model = copy.deepcopy(model)
        project = ProjectPath(model, tokenizer, theta1, theta2, dev, task, args.project_batch_size)
        reference = ReferencePath(ref_model, tokenizer, theta1, theta2, dev, task)

        # Untimed warm-up (first-call allocations, lazy imports in the metric): a whole point for the project,
        # one batch for the reference (a whole reference point would cost as much as a timed one).
        project.point(0.5)
        ReferencePath(ref_model, tokenizer, theta1, theta2, dev[:REFERENCE_BATCH_SIZE], task).point(0.5)

        load_before = os.getloadavg()[0]
        project_times, reference_times, results = [], [], {}
        # Interleaved (reference x, project x) so background load on the machine hits both alike,
        # then the project's remaining points.
        for x in ref_xs:
            seconds, results[("reference", x)] = timed(reference, x)
            reference_times.append(seconds)
            seconds, results[("project", x)] = timed(project, x)
            project_times.append(seconds)
        for x in proj_xs:
            if x not in ref_xs:
                seconds, _ = timed(project, x)
                project_times.append(seconds)

        failures = []
        rows = []
        for x in ref_xs:
            p_pred, p_loss, p_metric = results[("project", x)]
            r_pred, r_loss, r_metric = results[("reference", x)]
            differ = sum(a != b for a, b in zip(p_pred, r_pred, strict=True))
            rows.append((x, p_metric, r_metric, p_loss, r_loss, differ))
            if differ:
                failures.append(f"x={x}: {differ} of {len(p_pred)} predictions differ")
            if abs(p_loss - r_loss) > 1e-4:
                failures.append(f"x={x}: losses differ by {abs(p_loss - r_loss):.2e} (> 1e-4)")
        project.interpolator.restore()
        load_after = os.getloadavg()[0]

    p_all, r_all = project_times, reference_times
    p_mean, r_mean = sum(p_all) / len(p_all), sum(r_all) / len(r_all)
    p_med, r_med = statistics.median(p_all), statistics.median(r_all)

    print()
    print(f"{len(dev)} dev examples; project batch size {args.project_batch_size} (length-sorted, dynamic padding), "
          f"reference batch size {REFERENCE_BATCH_SIZE} (file order, padded to {MAX_INPUT_LENGTH}); "
          f"max output length {MAX_OUTPUT_LENGTH}")
    print(f"{'x':>5} | {'project ' + METRIC:>12} {'reference ' + METRIC:>14} | {'project loss':>13} "
          f"{'reference loss':>15} | {'differing predictions':>21}")
    for x, pm, rm, pl, rl, differ in rows:
        print(f"{x:>5.2f} | {pm:>12.4f} {rm:>14.4f} | {pl:>13.6f} {rl:>15.6f} | {differ:>21d}")
    print()
    print(f"torch threads {torch.get_num_threads()} on {os.cpu_count()} CPUs; 1-minute load average "
          f"{load_before:.2f} before timing, {load_after:.2f} after (other processes slow both paths, "
          "the project's many small kernels most)")
    print(f"{'path':<10} | {'points':>6} | {'mean s/point':>12} | {'median s/point':>14} | {'min':>8} | {'max':>8}")
    for name, times, mean, med in (("project", p_all, p_mean, p_med), ("reference", r_all, r_mean, r_med)):
        print(f"{name:<10} | {len(times):>6d} | {mean:>12.4f} | {med:>14.4f} | {min(times):>8.4f} | {max(times):>8.4f}")
    print(f"ratio of means {r_mean / p_mean:.1f}; ratio of medians {r_med / p_med:.1f} (the `ratio:` below: "
          "medians resist load spikes from other processes on the machine)")
    if failures:
        print("EQUALITY CHECK FAILED: " + "; ".join(failures))
    else:
        print(f"equality check passed: identical predictions, losses within 1e-4 at x in {ref_xs}")
    print(f"ratio: {r_med / p_med:.1f}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
