"""Find a low-loss curve between two checkpoints (adapter or full model) and evaluate T5 along it.

The endpoints θ1 (--load_PET_path_1) and θ2 (--load_PET_path_2) stay frozen; --bend_num bends of a Bezier curve
(or PolyChain, --curve_type) are trained with Adafactor on the task loss at φ(t), one t ~ U(0, 1) per update.
As in the original's curve training: 3 bends and no gradient clipping unless --bend_num / --max_grad_norm say
otherwise. Every --valid_interval updates (and at the last) the curve is validated on dev at every t of --valid_t
(default: the original's points, see --help); the curve with the best mean dev metric is kept as curve-best.pt
(curve-last.pt: the last one, with optimizer state).
Then φ(t) is evaluated at --itpl_points evenly spaced t, as task_interpolation.py does for the straight line:
result.csv, data_analyze.txt, valid/test_data_analysis.json, solution_analysis.txt, summary.json (plus
curve_length, line_length, length_weighted_mean_loss) and a plot. Running again into the same folder continues
an unfinished training from curve-last.pt, or skips a finished one, and continues the sweep where it stopped.
"""

from __future__ import annotations

import argparse
import math
import random
import sys
import time
from pathlib import Path

import torch
from tqdm.auto import tqdm

from dataloader.batching import IGNORE_INDEX, encode_split, eval_batches, train_batches
from dataloader.metrics import evaluate, metric_for_task
from dataloader.tasks import check_task_dir, load_split, split_path, task_name
from module.aliases import check_tied_agree
from module.analysis import write_sweep_files
from module.checkpoint import load_checkpoint
from module.curves import Curve, functional_forward, length_weighted_mean, save_curve, write_point
from module.files import setup_logger
from module.interpolation import IncompatibleCheckpoints, interpolation_points
from module.plotting import PathInfo, majority_fraction, read_line_sweep
from module.sweep import RESULTS_VERSION, run_sweep, sweep_settings
from T5_model.evaluation import evaluate_batches, shift_right
from T5_model.model import model_files
from T5_model.trainer import MetricsLog, build_optimizer, build_scheduler, micro_batch_size, set_seed, split_batch
from task_interpolation import SWEEP_SETTING_KEYS, load_endpoints, raw_scores, sweep_data_files, sweep_splits
from utils.errors import run_cli
from utils.options import build_parser, check_args

# where the original validated its curves: adapters at the three points of its valid_random_itpl_points.csv
# (T5_model/t5_trainer_PET_CF.py), full models at 0.25/0.5/0.75 (t5_trainer_PET_CF_finetune.py loads the same file
# but loops over a fixed list)
ORIGINAL_VALID_TS = {"adapter": (0.7725638477843416, 0.3729565378240084, 0.512935405959747),
                     "model": (0.25, 0.5, 0.75)}
MAX_GRAD_NORM_HELP = ("clip the bends' gradient to this L2 norm; 0 means no clipping, as in the original's curve "
                      "training, whose clipping line is commented out (tune_singletask.py: 0.01)")
BEST, LAST = "curve-best.pt", "curve-last.pt"
TRAIN_SETTING_KEYS = ("task_dir", "train_file", "dev_file", "load_PET_path_1", "load_PET_path_2", "tune_method",
                      "model", "adapter_type", "adapter_size", "max_input_length", "max_output_length", "do_lowercase",
                      "append_another_bos", "choose_dev_1000", "datasplit", "metric", "bend_num", "curve_type",
                      "bend_init", "bend_std", "learning_rate", "train_batch_size", "gradient_accumulation_steps",
                      "max_grad_norm", "lr_decay_style", "warmup_steps", "warmup_rate", "seed", "valid_interval",
                      "train_iters", "train_epochs", "early_stop", "valid_t")
CURVE_SETTING_KEYS = tuple(k for k in TRAIN_SETTING_KEYS if k not in SWEEP_SETTING_KEYS)
LENGTH_POINTS = 101  # grid of the reported curve_length


def curve_train_settings(args: argparse.Namespace) -> dict:
    """Everything that shapes a trained curve: the flags, and the contents of the endpoints and of the train and
    dev files (so a curve is never resumed from bends trained on other endpoints or data)."""
    data = [split_path(args.task_dir, "train", args.train_file), split_path(args.task_dir, "dev", args.dev_file)]
    return sweep_settings({k: getattr(args, k) for k in TRAIN_SETTING_KEYS}
                          | {"results_version": RESULTS_VERSION},
                          (args.load_PET_path_1, args.load_PET_path_2, *model_files(args)), data)


def build_curve_parser(description: str | None = None) -> argparse.ArgumentParser:
    """The T5-track parser with curve_find.py's own defaults: no gradient clipping (the original's)."""
    parser = build_parser(description, entry="curve")
    parser.set_defaults(max_grad_norm=0.0)
    parser.add_argument("--line_result", type=Path, default=None,
                        help="result.csv (or its folder) of task_interpolation.py's straight line between the same "
                             "endpoints, overlaid on the curve's figure (None: <output_dir>/line/ when it exists)")
    for action in parser._actions:  # the shared flag's help would promise tune_singletask.py's default
        if action.dest == "max_grad_norm":
            action.help = MAX_GRAD_NORM_HELP
    return parser


def parse_curve_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Parse and check curve_find.py's command line."""
    parser = build_curve_parser(__doc__.splitlines()[0])
    return check_curve_args(check_args(parser.parse_args(argv), parser))


def resolve_endpoints(args: argparse.Namespace) -> None:
    """Take the endpoints from --load_stage1_pet_path_list (the original's flag) when it is given."""
    paths = args.load_stage1_pet_path_list
    if paths is None:
        return
    if len(paths) != 2:
        raise ValueError(f"--load_stage1_pet_path_list: expected the two endpoints PATH1 PATH2, got {len(paths)} "
                         "path(s)")
    for flag, given, path in (("--load_PET_path_1", args.load_PET_path_1, paths[0]),
                              ("--load_PET_path_2", args.load_PET_path_2, paths[1])):
        if given is not None and given != path:
            raise ValueError(f"{flag} {given} contradicts --load_stage1_pet_path_list ({path}); give one of them")
    args.load_PET_path_1, args.load_PET_path_2 = paths


def resolve_valid_ts(args: argparse.Namespace) -> list[float]:
    """--valid_t, or the original's validation points for this --tune_method; every t must lie in [0, 1]."""
    ts = args.valid_t if args.valid_t is not None else ORIGINAL_VALID_TS[args.tune_method]
    bad = [t for t in ts if not 0.0 <= t <= 1.0]
    if bad:
        raise ValueError(f"--valid_t: every t must lie in [0, 1], got {bad[0]}")
    return [float(t) for t in ts]


def check_curve_args(args: argparse.Namespace) -> argparse.Namespace:
    """Reject impossible curve settings; fill in the endpoints, validation points and bend initialisation."""
    resolve_endpoints(args)
    args.valid_t = resolve_valid_ts(args)
    if args.bend_num < 1:
        raise ValueError(f"--bend_num: a curve needs at least one bend, got {args.bend_num}")
    if args.bend_std < 0:
        raise ValueError(f"--bend_std: expected a number >= 0, got {args.bend_std}")
    if not args.load_PET_path_1 or not args.load_PET_path_2:
        raise ValueError("--load_PET_path_1 and --load_PET_path_2 are required (the two endpoints)")
    if args.bend_init is None:
        args.bend_init = "random" if args.tune_method == "adapter" else "midpoint"
    if args.line_result is not None:  # a bad straight-line result fails before any training
        read_line_sweep(args.line_result)
    return args


def curve_names(model: torch.nn.Module, theta: dict[str, torch.Tensor], path: str) -> tuple[list[str], list[str]]:
    """(names on the curve, names skipped): each endpoint tensor must exist in the model with the same shape.

    Tied aliases (e.g. encoder.embed_tokens.weight of shared.weight) and non-float tensors are skipped: the
    canonical tensor carries the tie, and integer buffers cannot be curved.
    """
    live = model.state_dict(keep_vars=True)
    canonical = dict(model.named_parameters()) | dict(model.named_buffers())
    check_tied_agree(live, theta, path)
    on_curve, skipped = [], []
    for name, value in theta.items():
        if name not in live:
            raise IncompatibleCheckpoints(f"{path}: tensor {name!r} does not exist in the model "
                                          f"({type(model).__name__}; check --tune_method/--adapter_type)")
        if tuple(live[name].shape) != tuple(value.shape):
            raise IncompatibleCheckpoints(f"{path}: tensor {name!r} has shape {tuple(value.shape)}, the model "
                                          f"expects {tuple(live[name].shape)}")
        if name in canonical and value.is_floating_point():
            on_curve.append(name)
        else:
            skipped.append(name)
    if not on_curve:
        raise ValueError(f"{path}: no floating-point model tensors to put on a curve")
    return on_curve, skipped


def step_t(seed: int, step: int) -> float:
    """The t of update `step`: U(0, 1), reproducible from --seed and the step alone (so resuming changes nothing)."""
    generator = torch.Generator().manual_seed(seed * 1_000_003 + step)
    return float(torch.rand((), generator=generator, dtype=torch.float64))


class CurveTrainer:
    """Trains the bends of a curve; logs to `log.txt`/`metrics.csv` and saves curve-best.pt/curve-last.pt."""

    def __init__(self, args, model, curve, targets, tokenizer, task, metric, data, out_dir: Path, logger):
        self.args, self.model, self.curve, self.targets = args, model, curve, targets
        self.tokenizer, self.task, self.metric, self.data = tokenizer, task, metric, data
        self.out_dir, self.logger = out_dir, logger
        self.device = next(curve.parameters()).device
        self.group_size = args.train_batch_size  # one update's batch, however it is cut into micro-batches
        self.micro_size = micro_batch_size(self.group_size, args.gradient_accumulation_steps, args.micro_batch_size)
        self.start_time = time.time()
        self.settings = curve_train_settings(args)
        self.metrics_log = MetricsLog(self.out_dir / "metrics.csv", metric, self.logger)

    # ------------------------------------------------------------------ logging and saving
    def record(self, step: int, epoch: int, kind: str, loss: float, performance: float | None, lr: float) -> None:
        """One row of metrics.csv and the log."""
        self.metrics_log.record(step, epoch, kind, loss, performance, lr)

    def save(self, name: str, state: dict, optimizer=None, scheduler=None, extra: dict | None = None) -> Path:
        meta = {"args": vars(self.args), "task": self.task, "metric": self.metric,
                "tune_method": self.args.tune_method, "train_settings": self.settings, **state, **(extra or {})}
        return save_curve(self.out_dir / name, self.curve, [self.args.load_PET_path_1, self.args.load_PET_path_2],
                          meta, optimizer=optimizer.state_dict() if optimizer else None,
                          scheduler=scheduler.state_dict() if scheduler else None)

    # ------------------------------------------------------------------ steps
    def update(self, group, t: float, optimizer, scheduler) -> float:
        """One optimiser update of the bends on a group's mean token loss at φ(t); returns that loss."""
        cfg = self.model.config
        point = self.curve.point(t)  # graph to the bends
        leaves = {name: value.detach().requires_grad_(True) for name, value in point.items()}
        tokens = int((group.labels != IGNORE_INDEX).sum())
        total = 0.0
        for micro in split_batch(group, self.micro_size):
            micro = micro.to(self.device)
            out = functional_forward(self.model, leaves, input_ids=micro.input_ids,
                                     attention_mask=micro.attention_mask, use_cache=False,
                                     decoder_input_ids=shift_right(micro.labels, cfg.decoder_start_token_id,
                                                                   cfg.pad_token_id))
            loss_sum = torch.nn.functional.cross_entropy(out.logits.float().transpose(1, 2), micro.labels,
                                                         ignore_index=IGNORE_INDEX, reduction="sum")
            (loss_sum / tokens).backward()
            total += float(loss_sum.detach())
        used = [name for name in self.curve.names if leaves[name].grad is not None]
        torch.autograd.backward([point[n] for n in used], [leaves[n].grad for n in used])
        if self.args.max_grad_norm > 0:
            torch.nn.utils.clip_grad_norm_(list(self.curve.parameters()), self.args.max_grad_norm)
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        return total / max(tokens, 1)

    def set_t(self, t: float) -> None:
        """Write φ(t) into the live model tensors."""
        with torch.no_grad():
            write_point(self.targets, self.curve.point(t))

    def validate(self, step: int, epoch: int, lr: float) -> float:
        """Dev loss and metric at every t of --valid_t (one metrics.csv row each, then their mean); returns the mean."""
        enc, batches = self.data["dev"]
        losses, perfs = [], []
        for t in self.args.valid_t:
            self.set_t(t)
            out = evaluate_batches(self.model, batches, self.tokenizer, self.args.max_output_length)
            perf = evaluate(out.predictions, enc.answers, self.metric)
            self.record(step, epoch, f"valid@t={t}", out.loss, perf, lr)
            losses.append(out.loss)
            perfs.append(perf)
        mean = sum(perfs) / len(perfs)
        self.record(step, epoch, "valid", sum(losses) / len(losses), mean, lr)
        return mean

    # ------------------------------------------------------------------ training
    def train(self) -> dict:
        """Train until --train_iters updates (or --train_epochs, or early stop); resumes from curve-last.pt."""
        a = self.args
        optimizer = build_optimizer(list(self.curve.parameters()), a.learning_rate)
        warmup = a.warmup_steps if a.warmup_steps > 0 else int(a.warmup_rate * a.train_iters)
        scheduler = build_scheduler(optimizer, a.lr_decay_style, warmup, a.train_iters)
        state = {"num_updates": 0, "epoch": 0, "position": 0, "best": -math.inf, "best_step": 0, "bad_valids": 0,
                 "finished": False}
        if (self.out_dir / LAST).is_file():
            ckpt = load_checkpoint(self.out_dir / LAST)
            self.curve.load_bends(ckpt.tensors)
            if ckpt.optimizer:
                optimizer.load_state_dict(ckpt.optimizer)
            if ckpt.scheduler:
                scheduler.load_state_dict(ckpt.scheduler)
            state.update({k: ckpt.meta[k] for k in state if k in ckpt.meta})
            state["best"] = -math.inf if state["best"] is None else state["best"]
            self.logger.info(f"resuming the curve from {self.out_dir / LAST} at step {state['num_updates']}")
        self.metrics_log.resume_at(state["num_updates"])  # rows and events of a killed run after the start step
        train = self.data["train"][0]
        pad_id = self.tokenizer.pad_token_id
        bar = tqdm(total=a.train_iters if a.train_iters < 10_000_000 else None, initial=state["num_updates"],
                   desc="curve", disable=a.quiet, unit="upd")
        window: list[float] = []
        stop = state["finished"] or state["num_updates"] >= a.train_iters
        epoch = state["epoch"]
        lr = scheduler.get_last_lr()[0]
        self.model.train()
        while not stop and epoch < a.train_epochs:
            rng = random.Random(f"{a.seed}-{epoch}")
            torch.manual_seed(a.seed * 100_003 + epoch)
            for position, group in enumerate(train_batches(train, self.group_size, pad_id, rng)):
                if epoch == state["epoch"] and position < state["position"]:
                    continue  # trained before the resume point
                step = state["num_updates"] + 1
                window.append(self.update(group, step_t(a.seed, step), optimizer, scheduler))
                state.update(num_updates=step, epoch=epoch, position=position + 1)
                bar.update(1)
                lr = scheduler.get_last_lr()[0]
                if step % a.log_interval == 0:
                    self.record(step, epoch, "train", sum(window) / len(window), None, lr)
                    window = []
                last = step >= a.train_iters
                if step % a.valid_interval == 0 or last:
                    perf = self.validate(step, epoch, lr)
                    self.model.train()
                    bar.set_postfix({self.metric: f"{perf:.3f}"})
                    if perf >= state["best"]:
                        state.update(best=perf, best_step=step, bad_valids=0)
                        self.save(BEST, state, extra={"dev_performance": perf, "valid_ts": list(a.valid_t)})
                    else:
                        state["bad_valids"] += 1
                    if a.early_stop > 0 and state["bad_valids"] >= a.early_stop:
                        self.logger.info(f"early stop: {state['bad_valids']} validations without improvement")
                        stop = True
                if step % a.output_interval == 0 and not (stop or last):
                    self.save(LAST, state, optimizer, scheduler)
                if stop or last:
                    stop = True
                    break
            else:
                state["position"] = 0
            if not stop:
                epoch += 1
                state.update(epoch=epoch, position=0)
        bar.close()
        if window:
            self.record(state["num_updates"], epoch, "train", sum(window) / len(window), None, lr)
        if not state["finished"]:
            if state["best_step"] == 0:  # no validation happened (e.g. --train_epochs reached first)
                perf = self.validate(state["num_updates"], epoch, lr)
                state.update(best=perf, best_step=state["num_updates"])
                self.save(BEST, state, extra={"dev_performance": perf, "valid_ts": list(a.valid_t)})
            state["finished"] = True
            self.save(LAST, state, optimizer, scheduler)
        self.metrics_log.close()
        return state


def main(argv: list[str] | None = None) -> int:
    """Entry point: check everything, train the curve, then sweep it."""
    args = parse_curve_args(argv)
    task = task_name(check_task_dir(args.task_dir))
    metric = metric_for_task(task, args.metric)
    eval_splits = sweep_splits(args)
    train_splits = {"train": load_split(args.task_dir, "train", override=args.train_file, datasplit=args.datasplit),
                    "dev": load_split(args.task_dir, "dev", override=args.dev_file, choose_1000=args.choose_dev_1000)}
    theta1, theta2 = load_endpoints(args)

    from T5_model.model import model_provider

    set_seed(args.seed)
    model, _, tokenizer = model_provider(args)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    model.to(device).requires_grad_(False)
    names, skipped = curve_names(model, theta1, args.load_PET_path_1)
    generator = torch.Generator().manual_seed(args.seed)
    curve = Curve({n: theta1[n] for n in names}, {n: theta2[n] for n in names}, bend_num=args.bend_num,
                  curve_type=args.curve_type, init=args.bend_init, std=args.bend_std, generator=generator).to(device)
    live = model.state_dict(keep_vars=True)
    targets = {name: live[name] for name in names}
    on_curve = {id(t) for t in targets.values()}
    with torch.no_grad():  # tensors off the curve (integer buffers; tied aliases follow their curve tensor)
        for name in skipped:
            if id(live[name]) not in on_curve:
                live[name].copy_(theta1[name])
    del theta1, theta2  # the curve holds its own copies
    out_dir = Path(args.output_dir)
    for earlier in (out_dir / LAST, out_dir / BEST):  # an earlier run into this folder must be the same curve
        if earlier.is_file():
            old = load_checkpoint(earlier).meta.get("train_settings", {})
            now = curve_train_settings(args)
            changed = sorted(k for k in now if old.get(k) != now[k])
            if changed:
                raise ValueError(f"{out_dir}: holds a curve trained with other settings ({', '.join(changed[:3])} "
                                 "differ); use another --output_dir or delete that folder")
            break

    out_dir.mkdir(parents=True, exist_ok=True)
    logger = setup_logger("curve_find", out_dir / "log.txt", quiet=args.quiet)
    if skipped:
        logger.info(f"{len(skipped)} endpoint tensors are not on the curve (tied aliases or integer buffers): "
                    f"{', '.join(skipped[:4])}{' ...' if len(skipped) > 4 else ''}")
    logger.info(f"curve ({args.curve_type}, {args.bend_num} bend(s), init {args.bend_init}) over {len(names)} "
                f"tensors ({sum(curve.theta1(n).numel() for n in names)} values) between {args.load_PET_path_1} and "
                f"{args.load_PET_path_2}; straight-line length {curve.line_length():.4f}")
    data = {}  # the sweep's dev (or train, with --itp_on_train) examples are the training run's own
    for name, examples in {**train_splits, **eval_splits}.items():
        enc = encode_split(examples, tokenizer, task, lowercase=args.do_lowercase,
                           append_another_bos=args.append_another_bos, max_input_length=args.max_input_length,
                           max_output_length=args.max_output_length)
        data[name] = (enc, eval_batches(enc, args.predict_batch_size, tokenizer.pad_token_id))
    trainer = CurveTrainer(args, model, curve, targets, tokenizer, task, metric, data, out_dir, logger)
    state = trainer.train()
    chosen = out_dir / BEST if (out_dir / BEST).is_file() else out_dir / LAST
    chosen_ckpt = load_checkpoint(chosen)
    curve.load_bends(chosen_ckpt.tensors)
    saved = chosen_ckpt.meta
    logger.info(f"sweeping the curve of {chosen} (step {saved.get('best_step', saved.get('num_updates'))}, "
                f"mean dev {metric} {saved.get('dev_performance', float('nan')):.4f} at t={args.valid_t})")

    current = {"t": None}

    def set_point(t: float) -> None:
        current["t"] = t
        with torch.no_grad():
            write_point(targets, curve.point(t))

    def evaluate_point() -> dict[str, dict]:
        results = {}
        for name in eval_splits:
            enc, batches = data[name]
            out = evaluate_batches(model, batches, tokenizer, args.max_output_length)
            results[name] = {"performance": evaluate(out.predictions, enc.answers, metric), "loss": out.loss,
                             "scores": raw_scores(out.predictions, enc.answers, metric)}
            logger.info(f"t={current['t']} {name}: {metric} {results[name]['performance']:.4f} loss {out.loss:.4f}")
        return results

    xs = interpolation_points(args.itpl_points)
    segments = curve.segment_lengths(xs)
    extra = {"curve_type": args.curve_type, "bend_num": args.bend_num, "bend_init": args.bend_init,
             "curve_checkpoint": str(chosen), "curve_best_step": saved.get("best_step"),
             "curve_train_updates": state["num_updates"], "curve_length": curve.length(LENGTH_POINTS),
             "line_length": curve.line_length()}
    settings = sweep_settings({**{k: getattr(args, k) for k in SWEEP_SETTING_KEYS + CURVE_SETTING_KEYS}, "task": task},
                              (args.load_PET_path_1, args.load_PET_path_2, out_dir / "curve-best.pt",
                               *model_files(args)),
                              sweep_data_files(args))
    info = PathInfo.from_paths(args.load_PET_path_1, args.load_PET_path_2, kind=args.curve_type, bends=args.bend_num,
                               line_result=args.line_result,
                               majority={name: majority_fraction(data[name][0].answers, metric)
                                         for name in eval_splits})
    records = run_sweep(xs, set_point, evaluate_point, out_dir, task, metric, settings,
                        itp_on_train=args.itp_on_train, extra_summary=extra, quiet=args.quiet, desc="curve sweep",
                        path_info=info)
    weighted = {split: length_weighted_mean([r["splits"][split]["loss"] for r in records], segments)
                for split in records[0]["splits"]}
    write_sweep_files(out_dir, records, task, metric, args.itp_on_train, plot=False,
                      extra_summary={**extra, "length_weighted_mean_loss": weighted})
    for record in (records[0], records[len(records) // 2], records[-1]):
        parts = [f"{s} {metric} {v['performance']:.4f} loss {v['loss']:.4f}" for s, v in record["splits"].items()]
        print(f"t={record['x']}: " + "; ".join(parts))
    for split in records[0]["splits"]:
        worst = max(r["splits"][split]["loss"] for r in records)
        print(f"{split}: worst loss on the curve {worst:.4f}, length-weighted mean loss {weighted[split]:.4f}")
    print(f"curve length {extra['curve_length']:.4f} (straight line {extra['line_length']:.4f}); wrote {out_dir}/"
          f"{BEST}, result.csv, summary.json and interpolation.png ({len(records)} points)")
    return 0


def cli() -> int:
    """Console entry point (pyproject.toml): `main` with one-line errors."""
    return run_cli(main)


if __name__ == "__main__":
    sys.exit(cli())
