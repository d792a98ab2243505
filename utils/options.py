"""Command-line flags of the T5 track, with the original code's names and defaults."""

from __future__ import annotations

import argparse
import math
from collections.abc import Sequence

TUNE_METHODS = ("model", "adapter", "finetune")  # finetune: the original scripts' name for model
ADAPTER_TYPES = ("houlsby", "pfeiffer")
LR_SCHEDULES = ("constant", "constant_with_warmup", "linear")


def positive_int(text: str) -> int:
    """argparse type: a whole number >= 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def _finite_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"expected a finite number, got {text!r}")
    return value


def _big_int(text: str) -> int:
    """A positive count for the iteration/epoch limits; '1e7' is accepted as well as '10000000'."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
    if not math.isfinite(value) or value < 1 or not value.is_integer():
        raise argparse.ArgumentTypeError(f"expected a whole number of at least 1, got {text!r}")
    return int(value)


class OneLineParser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are a single line (`<prog>: error: ...`) and exit code 2."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def build_parser(description: str | None = None) -> argparse.ArgumentParser:
    """Return the parser holding every flag of the original `utils/options.py`, plus this project's."""
    p = OneLineParser(description=description)
    g = p.add_argument_group("data and model")
    g.add_argument("--task_dir", required=True, help="task folder data/<task>/ holding <task>_{train,dev,test}.tsv")
    g.add_argument("--train_file", default=None, help="override the train TSV (default: <task_dir>/<task>_train.tsv)")
    g.add_argument("--dev_file", default=None, help="override the dev TSV")
    g.add_argument("--test_file", default=None, help="override the test TSV")
    g.add_argument("--dataset", default="nlp_forest_single", help="kept for compatibility; unused")
    g.add_argument("--model", default="pretrained_models/t5-small-home", help="local folder of a T5 checkpoint")
    g.add_argument("--tokenizer_path", default=None, help="local tokenizer folder (default: --model)")
    g.add_argument("--output_dir", required=True)
    g.add_argument("--do_train", action="store_true")
    g.add_argument("--do_valid", action="store_true")
    g.add_argument("--do_predict", action="store_true")
    g.add_argument("--predict_checkpoint", default="best-model.pt",
                   help="checkpoint evaluated by --do_predict without --do_train (a path, or a name in the run folder)")
    g.add_argument("--checkpoint", default=None, help="checkpoint whose tensors initialise the model before training")
    g.add_argument("--do_lowercase", action="store_true")
    g.add_argument("--freeze_embeds", action="store_true", help="full tuning: keep the shared embeddings frozen")
    g.add_argument("--metric", default=None,
                   help="metric kind (ACC, EM, QA-F1, ...) for a task missing from dataloader/metrics.py")

    g = p.add_argument_group("pre-processing and decoding")
    g.add_argument("--max_input_length", type=positive_int, default=512)
    g.add_argument("--max_output_length", type=positive_int, default=64)
    g.add_argument("--num_beams", type=positive_int, default=4,
                   help="kept for compatibility: validation, test and sweeps decode greedily, as the original did")
    g.add_argument("--append_another_bos", action="store_true",
                   help="prepend one extra start token (T5: the pad/decoder-start id) to every input")

    g = p.add_argument_group("training")
    g.add_argument("--train_batch_size", type=positive_int, default=32)
    g.add_argument("--predict_batch_size", type=positive_int, default=32)
    g.add_argument("--learning_rate", type=_finite_float, default=5e-5)
    g.add_argument("--warmup_proportion", type=_finite_float, default=0.01, help="kept for compatibility; unused")
    g.add_argument("--weight_decay", type=_finite_float, default=0.01,
                   help="full tuning (--tune_method model): Adafactor's weight decay on every weight except biases "
                        "and layer-norm weights, as the original; adapter tuning uses none, as the original")
    g.add_argument("--adam_epsilon", type=_finite_float, default=1e-8, help="kept for compatibility; unused")
    g.add_argument("--max_grad_norm", type=_finite_float, default=0.01)
    g.add_argument("--gradient_accumulation_steps", type=positive_int, default=1,
                   help="number of micro-batches one update's batch (--train_batch_size / a --bsz_list entry) is "
                        "split into; it never changes the batch of an update")
    g.add_argument("--micro_batch_size", type=positive_int, default=16,
                   help="largest batch run at once; a larger batch is split and its gradients accumulated "
                        "(the original: micro-batches of 16)")
    g.add_argument("--train_epochs", type=_big_int, default=10_000_000)
    g.add_argument("--warmup_steps", type=int, default=500, help="used by --lr_decay_style constant_with_warmup/linear")
    g.add_argument("--warmup_rate", type=_finite_float, default=0.06,
                   help="warm-up as a fraction of --train_iters when --warmup_steps is 0")
    g.add_argument("--lr_decay_style", choices=LR_SCHEDULES, default="constant")
    g.add_argument("--train_iters", type=_big_int, default=10_000_000)
    g.add_argument("--wait_step", type=int, default=10_000_000, help="kept for compatibility; see --early_stop")
    g.add_argument("--quiet", action="store_true", help="no progress bar, log to the file only")
    g.add_argument("--valid_interval", type=positive_int, default=5000)
    g.add_argument("--output_interval", type=positive_int, default=10000)
    g.add_argument("--log_interval", type=positive_int, default=100)
    g.add_argument("--early_stop", type=int, default=-1, help="stop after N validations without improvement")
    g.add_argument("--seed", type=int, default=20)
    g.add_argument("--choose_test_1000", action="store_true")
    g.add_argument("--choose_dev_1000", action="store_true")
    g.add_argument("--load_init_seed", type=int, default=20,
                   help="with --SGD_noise: the seed whose initialisation is used")

    g = p.add_argument_group("grid")
    g.add_argument("--learning_rate_list", nargs="*", type=_finite_float, default=[])
    g.add_argument("--bsz_list", nargs="*", type=positive_int, default=[])
    g.add_argument("--tune_method", choices=TUNE_METHODS, default="model", help="model or adapter")
    g.add_argument("--one_prefix", action="store_true", help="kept for compatibility; unused")

    g = p.add_argument_group("adapter")
    g.add_argument("--apply_adapter", action="store_true")
    g.add_argument("--adapter_type", choices=ADAPTER_TYPES, default="houlsby")
    g.add_argument("--adapter_size", type=positive_int, default=64)
    g.add_argument("--r_mean", type=_finite_float, default=0.0)
    g.add_argument("--r_std", type=_finite_float, default=0.02)

    g = p.add_argument_group("interpolation")
    g.add_argument("--load_PET_path_1", default=None)
    g.add_argument("--load_PET_path_2", default=None)
    g.add_argument("--itpl_points", type=positive_int, default=26)

    g = p.add_argument_group("curve")
    g.add_argument("--bend_num", type=int, default=3,
                   help="curve_find.py: number of trainable bends, at least 1 (default: 3, the original's; "
                        "scripts/*_curve_find.sh pass 1, as the original's do)")
    g.add_argument("--curve_type", choices=("bezier", "polychain"), default="bezier",
                   help="curve_find.py: Bezier curve of degree bend_num+1, or a piecewise-linear chain")
    g.add_argument("--bend_init", choices=("midpoint", "random"), default=None,
                   help="curve_find.py: bends on the straight line, or drawn from N(0, --bend_std) "
                        "(default: midpoint for --tune_method model, random for adapter)")
    g.add_argument("--bend_std", type=_finite_float, default=0.02, help="curve_find.py: std of random bends")
    g.add_argument("--valid_t", nargs="+", type=_finite_float, default=None, metavar="T",
                   help="curve_find.py: the t in [0, 1] at which the curve is validated; curve-best.pt has the "
                        "best mean dev metric over them (default: the original's, 0.7725638477843416 "
                        "0.3729565378240084 0.512935405959747 from its valid_random_itpl_points.csv for "
                        "--tune_method adapter, 0.25 0.5 0.75 for model)")
    g.add_argument("--load_stage1_pet_path_list", nargs="+", default=None, metavar="PATH",
                   help="curve_find.py: the original's name for the two endpoints, the same as "
                        "--load_PET_path_1 PATH1 --load_PET_path_2 PATH2")

    g = p.add_argument_group("special settings")
    g.add_argument("--SGD_noise", action="store_true",
                   help="initialise from --load_init_seed; --seed then changes only data order and dropout")
    g.add_argument("--datasplit", choices=("", "split1", "split2"), default="")
    g.add_argument("--cartography", action="store_true")
    g.add_argument("--itp_on_train", action="store_true")
    return p


def check_args(args: argparse.Namespace, parser: argparse.ArgumentParser) -> argparse.Namespace:
    """Reject flag combinations that cannot work, through `parser.error` (one line, exit 2)."""
    if args.tune_method == "finetune":
        args.tune_method = "model"
    if args.tune_method == "adapter" and not args.apply_adapter:
        args.apply_adapter = True  # the original needed both; adapter tuning implies adapters
    from module.interpolation import MAX_ITPL_POINTS

    if not 2 <= args.itpl_points <= MAX_ITPL_POINTS:
        parser.error(f"argument --itpl_points: expected 2 to {MAX_ITPL_POINTS} points (x is rounded to 3 decimals), "
                     f"got {args.itpl_points}")
    if args.learning_rate <= 0:
        parser.error(f"argument --learning_rate: expected a positive number, got {args.learning_rate}")
    if any(lr <= 0 for lr in args.learning_rate_list):
        parser.error(f"argument --learning_rate_list: expected positive numbers, got {args.learning_rate_list}")
    smallest = min(args.bsz_list or [args.train_batch_size])
    if args.gradient_accumulation_steps > smallest:
        parser.error(f"argument --gradient_accumulation_steps: {args.gradient_accumulation_steps} micro-batches "
                     f"cannot be cut from a batch of {smallest} (it splits each update's batch, never enlarges it)")
    if args.tokenizer_path is None:
        args.tokenizer_path = args.model
    return args


def parse_args(argv: Sequence[str] | None = None, description: str | None = None) -> argparse.Namespace:
    """Parse and check the T5-track command line."""
    parser = build_parser(description)
    return check_args(parser.parse_args(argv), parser)
