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


ENTRIES = ("tune", "interpolate", "curve")  # tune_singletask.py, task_interpolation.py, curve_find.py
_T, _I, _C = {"tune"}, {"interpolate"}, {"curve"}
_ALL, _SWEEPS, _TRAINING = _T | _I | _C, _I | _C, _T | _C

# (group, flag, entry points that use it, add_argument keywords): every flag of the original utils/options.py,
# with its name and default, plus this project's; each entry point lists the flags it uses first, by group, and
# the rest (accepted so that the paper's scripts run) in one group at the end
FLAGS: list[tuple[str, str, set[str], dict]] = [
    ("data and model", "--task_dir", _ALL, {"required": True, "help": "task folder data/<task>/ holding "
                                            "<task>_{train,dev,test}.tsv"}),
    ("data and model", "--train_file", _ALL, {"help": "train TSV instead of <task_dir>/<task>_train.tsv"}),
    ("data and model", "--dev_file", _ALL, {"help": "dev TSV instead of <task_dir>/<task>_dev.tsv"}),
    ("data and model", "--test_file", _T | _I, {"help": "test TSV instead of <task_dir>/<task>_test.tsv"}),
    ("data and model", "--model", _ALL, {"default": "pretrained_models/t5-small-home",
                                         "help": "local folder of a pre-trained T5 (model hubs are not used)"}),
    ("data and model", "--tokenizer_path", _ALL, {"help": "local tokenizer folder (None: the --model folder)"}),
    ("data and model", "--output_dir", _ALL, {"required": True, "help": "folder receiving the results"}),
    ("data and model", "--metric", _ALL, {"help": "metric (ACC, EM, QA-F1, Classification-F1, ...) for a task "
                                          "missing from dataloader/metrics.py (None: the task's own)"}),
    ("data and model", "--do_lowercase", _ALL, {"action": "store_true", "help": "lower-case inputs and answers"}),
    ("data and model", "--dataset", set(), {"default": "nlp_forest_single", "help": "the original's; unused"}),
    ("what to run", "--do_train", _T, {"action": "store_true", "help": "train every grid cell"}),
    ("what to run", "--do_valid", _ALL, {"action": "store_true", "help": "evaluate on the dev file"}),
    ("what to run", "--do_predict", _ALL, {"action": "store_true", "help": "evaluate on the test file"}),
    ("what to run", "--predict_checkpoint", _T, {"default": "best-model.pt", "help": "checkpoint --do_predict "
                                                 "evaluates: a path, or a name inside the run folder"}),
    ("what to run", "--checkpoint", _T, {"help": "checkpoint whose tensors initialise the model before training"}),
    ("what to run", "--choose_dev_1000", _ALL, {"action": "store_true", "help": "use the first 1000 dev examples"}),
    ("what to run", "--choose_test_1000", _T | _I, {"action": "store_true",
                                                   "help": "use the first 1000 test examples"}),
    ("what to run", "--quiet", _ALL, {"action": "store_true", "help": "no progress bar; log to the file only"}),
    ("pre-processing and decoding", "--max_input_length", _ALL, {"type": positive_int, "default": 512,
                                                                 "help": "input tokens kept"}),
    ("pre-processing and decoding", "--max_output_length", _ALL, {"type": positive_int, "default": 64,
                                                                  "help": "answer and generated tokens kept"}),
    ("pre-processing and decoding", "--append_another_bos", _ALL, {
        "action": "store_true", "help": "prepend one extra start token (T5: the pad/decoder-start id) to inputs"}),
    ("pre-processing and decoding", "--predict_batch_size", _ALL, {"type": positive_int, "default": 32,
                                                                   "help": "batch size of evaluation"}),
    ("pre-processing and decoding", "--num_beams", set(), {
        "type": positive_int, "default": 4, "help": "the original's; evaluation decodes greedily, as it did"}),
    ("training", "--train_batch_size", _TRAINING, {"type": positive_int, "default": 32,
                                                   "help": "examples per update"}),
    ("training", "--learning_rate", _TRAINING, {"type": _finite_float, "default": 5e-5,
                                                "help": "Adafactor learning rate"}),
    ("training", "--weight_decay", _T, {"type": _finite_float, "default": 0.01, "help": "full tuning: weight decay "
                                        "of every weight but biases and layer norms (adapters: none)"}),
    ("training", "--max_grad_norm", _TRAINING, {"type": _finite_float, "default": 0.01,
                                                "help": "clip the gradient norm to this (0: no clipping)"}),
    ("training", "--gradient_accumulation_steps", _TRAINING, {
        "type": positive_int, "default": 1, "help": "micro-batches each update's batch is split into (never "
                                                    "enlarges the batch)"}),
    ("training", "--micro_batch_size", _TRAINING, {"type": positive_int, "default": 16, "help": "largest batch "
                                                   "run at once; larger ones accumulate gradients"}),
    ("training", "--train_iters", _TRAINING, {"type": _big_int, "default": 10_000_000,
                                              "help": "updates to train (1e7 is accepted)"}),
    ("training", "--train_epochs", _TRAINING, {"type": _big_int, "default": 10_000_000,
                                               "help": "epochs to train at most"}),
    ("training", "--lr_decay_style", _TRAINING, {"choices": LR_SCHEDULES, "default": "constant",
                                                 "help": "learning-rate schedule"}),
    ("training", "--warmup_steps", _TRAINING, {"type": int, "default": 500,
                                               "help": "warm-up updates of constant_with_warmup/linear"}),
    ("training", "--warmup_rate", _TRAINING, {"type": _finite_float, "default": 0.06,
                                              "help": "warm-up as a fraction of --train_iters when --warmup_steps "
                                                      "is 0"}),
    ("training", "--valid_interval", _TRAINING, {"type": positive_int, "default": 5000,
                                                 "help": "validate every N updates"}),
    ("training", "--output_interval", _TRAINING, {"type": positive_int, "default": 10000,
                                                  "help": "save a resumable checkpoint every N updates"}),
    ("training", "--log_interval", _TRAINING, {"type": positive_int, "default": 100,
                                               "help": "log the mean train loss every N updates"}),
    ("training", "--early_stop", _TRAINING, {"type": int, "default": -1,
                                             "help": "stop after N validations without improvement (-1: never)"}),
    ("training", "--freeze_embeds", _T, {"action": "store_true",
                                         "help": "full tuning: keep the shared embeddings frozen"}),
    ("training", "--seed", _ALL, {"type": int, "default": 20, "help": "seed of data order, dropout and adapters"}),
    ("training", "--load_init_seed", _T, {"type": int, "default": 20,
                                          "help": "with --SGD_noise: the seed whose initialisation is used"}),
    ("training", "--warmup_proportion", set(), {"type": _finite_float, "default": 0.01,
                                                "help": "the original's; unused"}),
    ("training", "--adam_epsilon", set(), {"type": _finite_float, "default": 1e-8, "help": "the original's; unused"}),
    ("training", "--wait_step", set(), {"type": int, "default": 10_000_000,
                                        "help": "the original's; unused (see --early_stop)"}),
    ("grid", "--learning_rate_list", _T, {"nargs": "*", "type": _finite_float, "default": [],
                                          "help": "learning rates of the grid (empty: --learning_rate)"}),
    ("grid", "--bsz_list", _T, {"nargs": "*", "type": positive_int, "default": [],
                                "help": "batch sizes of the grid (empty: --train_batch_size)"}),
    ("grid", "--one_prefix", set(), {"action": "store_true", "help": "the original's; unused"}),
    ("tuning method", "--tune_method", _ALL, {"choices": TUNE_METHODS, "default": "model",
                                              "help": "full model, or adapters (finetune: the original's name "
                                                      "for model)"}),
    ("tuning method", "--apply_adapter", _T, {"action": "store_true",
                                              "help": "add adapters (implied by --tune_method adapter)"}),
    ("tuning method", "--adapter_type", _ALL, {"choices": ADAPTER_TYPES, "default": "houlsby",
                                               "help": "adapter placement"}),
    ("tuning method", "--adapter_size", _ALL, {"type": positive_int, "default": 64, "help": "adapter bottleneck"}),
    ("tuning method", "--r_mean", _T, {"type": _finite_float, "default": 0.0, "help": "mean of adapter weights"}),
    ("tuning method", "--r_std", _T, {"type": _finite_float, "default": 0.02, "help": "std of adapter weights"}),
    ("path", "--load_PET_path_1", _SWEEPS, {"help": "first endpoint checkpoint (x = 0)"}),
    ("path", "--load_PET_path_2", _SWEEPS, {"help": "second endpoint checkpoint (x = 1)"}),
    ("path", "--itpl_points", _SWEEPS, {"type": positive_int, "default": 26,
                                        "help": "evenly spaced points evaluated, endpoints included (2 to 1001)"}),
    ("path", "--itp_on_train", _SWEEPS, {"action": "store_true", "help": "evaluate the sweep on the train file "
                                         "(for utils/process_cartography.py)"}),
    ("curve", "--bend_num", _C, {"type": int, "default": 3, "help": "trainable bends, at least 1 (the paper's "
                                 "scripts pass 1)"}),
    ("curve", "--curve_type", _C, {"choices": ("bezier", "polychain"), "default": "bezier",
                                   "help": "Bezier curve of degree bend_num+1, or a piecewise-linear chain"}),
    ("curve", "--bend_init", _C, {"choices": ("midpoint", "random"), "help": "bends on the line or N(0, "
                                  "--bend_std) (None: midpoint for model, random for adapter)"}),
    ("curve", "--bend_std", _C, {"type": _finite_float, "default": 0.02, "help": "std of random bends"}),
    ("curve", "--valid_t", _C, {"nargs": "+", "type": _finite_float, "metavar": "T",
                                "help": "t in [0, 1] where the curve is validated (None: the original's points)"}),
    ("curve", "--load_stage1_pet_path_list", _C, {"nargs": "+", "metavar": "PATH",
                                                  "help": "the original's flag for the two endpoints"}),
    ("special settings", "--SGD_noise", _T, {"action": "store_true", "help": "initialise from --load_init_seed; "
                                             "--seed changes only data order and dropout"}),
    ("special settings", "--datasplit", _ALL, {"choices": ("", "split1", "split2"), "default": "",
                                               "help": "train on one half of the train file"}),
    ("special settings", "--cartography", _T, {"action": "store_true",
                                               "help": "record per-example correctness and confidence each epoch"}),
]
UNUSED_GROUP = "accepted for the original's scripts, unused here"


class HelpFormatter(argparse.RawDescriptionHelpFormatter, argparse.ArgumentDefaultsHelpFormatter):
    """Keeps the description's line breaks and shows every flag's default."""


def build_parser(description: str | None = None, entry: str = "tune") -> argparse.ArgumentParser:
    """The parser of one T5-track entry point (`ENTRIES`): its own flags by group, then the rest of the original's."""
    if entry not in ENTRIES:
        raise ValueError(f"entry must be one of {ENTRIES}, got {entry!r}")
    p = OneLineParser(description=description, formatter_class=HelpFormatter)
    groups: dict[str, argparse._ArgumentGroup] = {}
    for own in (True, False):
        for group, flag, users, kwargs in FLAGS:
            if (entry in users) == own:
                title = group if own else UNUSED_GROUP
                if title not in groups:
                    groups[title] = p.add_argument_group(title)
                groups[title].add_argument(flag, **kwargs)
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


def parse_args(argv: Sequence[str] | None = None, description: str | None = None,
               entry: str = "tune") -> argparse.Namespace:
    """Parse and check the T5-track command line of one entry point."""
    parser = build_parser(description, entry)
    return check_args(parser.parse_args(argv), parser)
