"""The T5 track's settings as typed dataclass groups, with the original code's flag names and defaults; the three
entry points' argparse parsers are generated from them, and each field says which results it shapes (a tuning
run's checkpoints, a sweep's points, a trained curve), so a run's identity is read from the fields, not hand-listed.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from dataclasses import MISSING, dataclass, field, fields
from pathlib import Path

from module.cli import HelpFormatter, OneLineParser, big_int, finite_float, positive_int, seed_int
from module.geometries.layerwise import check_pattern
from module.geometries.merges import check_merge_settings
from module.identity import CURVE_TRAINING as CURVE_TRAINING  # what a setting shapes, re-exported
from module.identity import SWEEP as SWEEP
from module.identity import TUNING as TUNING
from module.identity import shaping
from module.interpolation import MAX_ITPL_POINTS

TUNE_METHODS = ("model", "adapter", "finetune")  # finetune: the original scripts' name for model
ADAPTER_TYPES = ("houlsby", "pfeiffer")
LR_SCHEDULES = ("constant", "constant_with_warmup", "linear")
ENTRIES = ("tune", "interpolate", "curve")  # tune_singletask.py, task_interpolation.py, curve_find.py
ALL, SWEEPS, TRAINING = frozenset(ENTRIES), frozenset({"interpolate", "curve"}), frozenset({"tune", "curve"})
TUNE, INTERPOLATE, CURVE = frozenset({"tune"}), frozenset({"interpolate"}), frozenset({"curve"})
UNUSED_GROUP = "accepted for the original's scripts, unused here"
# curve_find.py's own defaults and help (the original's curve training does not clip the gradient)
ENTRY_DEFAULTS = {"curve": {"max_grad_norm": 0.0}}
ENTRY_HELP = {"curve": {"max_grad_norm": "clip the bends' gradient to this L2 norm; 0 means no clipping, as in the "
                                         "original's curve training, whose clipping line is commented out "
                                         "(tune_singletask.py: 0.01)"}}


def flag(default=None, help: str = "", *, entries: frozenset = ALL, shapes: str = "", **argparse_kwargs):
    """A dataclass field that is also one command-line flag `--<name>` (argparse keywords as given)."""
    metadata = {"help": help, "entries": entries, "shapes": shapes, "argparse": argparse_kwargs}
    if isinstance(default, list):
        return field(default_factory=lambda: list(default), metadata=metadata)
    return field(default=default, metadata=metadata)


@dataclass
class DataOptions:
    """data and model"""

    task_dir: str = flag(None, "task folder data/<task>/ holding <task>_{train,dev,test}.tsv", shapes="tsc",
                         required=True)
    train_file: str | None = flag(None, "train TSV instead of <task_dir>/<task>_train.tsv", shapes="tsc")
    dev_file: str | None = flag(None, "dev TSV instead of <task_dir>/<task>_dev.tsv", shapes="tsc")
    test_file: str | None = flag(None, "test TSV instead of <task_dir>/<task>_test.tsv", entries=TUNE | INTERPOLATE,
                                 shapes="s")
    model: str = flag("pretrained_models/t5-small-home", "local folder of a pre-trained T5 (model hubs are not used)",
                      shapes="tsc")
    tokenizer_path: str | None = flag(None, "local tokenizer folder (None: the --model folder)", shapes="tsc")
    output_dir: str = flag(None, "folder receiving the results", required=True)
    metric: str | None = flag(None, "metric (ACC, EM, QA-F1, Classification-F1, ...) for a task missing from "
                              "dataloader/metrics.py (None: the task's own)", shapes="tsc")
    do_lowercase: bool = flag(False, "lower-case inputs and answers", shapes="tsc", action="store_true")


@dataclass
class RunOptions:
    """what to run"""

    do_train: bool = flag(False, "train every grid cell", entries=TUNE, shapes="t", action="store_true")
    do_valid: bool = flag(False, "evaluate on the dev file", shapes="s", action="store_true")
    do_predict: bool = flag(False, "evaluate on the test file", shapes="s", action="store_true")
    predict_checkpoint: str = flag("best-model.pt", "checkpoint --do_predict evaluates: a path, or a name inside the "
                                   "run folder", entries=TUNE)
    checkpoint: str | None = flag(None, "checkpoint whose tensors initialise the model before training", entries=TUNE,
                                  shapes="t")
    choose_dev_1000: bool = flag(False, "use the first 1000 dev examples", shapes="tsc", action="store_true")
    choose_test_1000: bool = flag(False, "use the first 1000 test examples", entries=TUNE | INTERPOLATE, shapes="s",
                                  action="store_true")
    quiet: bool = flag(False, "no progress bar; log to the file only", action="store_true")


@dataclass
class ProcessingOptions:
    """pre-processing and decoding"""

    max_input_length: int = flag(512, "input tokens kept", shapes="tsc", type=positive_int)
    max_output_length: int = flag(64, "answer and generated tokens kept", shapes="tsc", type=positive_int)
    append_another_bos: bool = flag(False, "prepend one extra start token (T5: the pad/decoder-start id) to inputs",
                                    shapes="tsc", action="store_true")
    predict_batch_size: int = flag(32, "batch size of evaluation", type=positive_int)


@dataclass
class TrainingOptions:
    """training"""

    train_batch_size: int = flag(32, "examples per update", entries=TRAINING, shapes="tc", type=positive_int)
    learning_rate: float = flag(5e-5, "Adafactor learning rate", entries=TRAINING, shapes="tc", type=finite_float)
    weight_decay: float = flag(0.01, "full tuning: weight decay of every weight but biases and layer norms "
                               "(adapters: none)", entries=TUNE, shapes="t", type=finite_float)
    max_grad_norm: float = flag(0.01, "clip the gradient norm to this (0: no clipping)", entries=TRAINING,
                                shapes="tc", type=finite_float)
    gradient_accumulation_steps: int = flag(1, "micro-batches each update's batch is split into (never enlarges "
                                            "the batch)", entries=TRAINING, shapes="tc", type=positive_int)
    micro_batch_size: int = flag(16, "largest batch run at once; larger ones accumulate gradients", entries=TRAINING,
                                 shapes="t", type=positive_int)
    train_iters: int = flag(10_000_000, "updates to train (1e7 is accepted)", entries=TRAINING, shapes="tc",
                            type=big_int)
    train_epochs: int = flag(10_000_000, "epochs to train at most", entries=TRAINING, shapes="tc", type=big_int)
    lr_decay_style: str = flag("constant", "learning-rate schedule", entries=TRAINING, shapes="tc",
                               choices=LR_SCHEDULES)
    warmup_steps: int = flag(500, "warm-up updates of constant_with_warmup/linear", entries=TRAINING, shapes="tc",
                             type=int)
    warmup_rate: float = flag(0.06, "warm-up as a fraction of --train_iters when --warmup_steps is 0",
                              entries=TRAINING, shapes="tc", type=finite_float)
    valid_interval: int = flag(5000, "validate every N updates", entries=TRAINING, shapes="tc", type=positive_int)
    output_interval: int = flag(10000, "save a resumable checkpoint every N updates", entries=TRAINING,
                                type=positive_int)
    log_interval: int = flag(100, "log the mean train loss every N updates", entries=TRAINING, type=positive_int)
    early_stop: int = flag(-1, "stop after N validations without improvement (-1: never)", entries=TRAINING,
                           shapes="tc", type=int)
    freeze_embeds: bool = flag(False, "full tuning: keep the shared embeddings frozen", entries=TUNE, shapes="t",
                               action="store_true")
    seed: int = flag(20, "seed of data order, dropout and adapters", shapes="tc", type=seed_int)
    load_init_seed: int = flag(20, "with --SGD_noise: the seed whose initialisation is used", entries=TUNE,
                               shapes="t", type=seed_int)


@dataclass
class GridOptions:
    """grid"""

    learning_rate_list: list[float] = flag([], "learning rates of the grid (empty: --learning_rate)", entries=TUNE,
                                           nargs="*", type=finite_float)
    bsz_list: list[int] = flag([], "batch sizes of the grid (empty: --train_batch_size)", entries=TUNE, nargs="*",
                               type=positive_int)


@dataclass
class MethodOptions:
    """tuning method"""

    tune_method: str = flag("model", "full model, or adapters (finetune: the original's name for model)",
                            shapes="tsc", choices=TUNE_METHODS)
    apply_adapter: bool = flag(False, "add adapters (implied by --tune_method adapter)", entries=TUNE, shapes="t",
                               action="store_true")
    adapter_type: str = flag("houlsby", "adapter placement", shapes="tsc", choices=ADAPTER_TYPES)
    adapter_size: int = flag(64, "adapter bottleneck", shapes="tsc", type=positive_int)
    r_mean: float = flag(0.0, "mean of adapter weights", entries=TUNE, shapes="t", type=finite_float)
    r_std: float = flag(0.02, "std of adapter weights", entries=TUNE, shapes="t", type=finite_float)


@dataclass
class PathOptions:
    """path"""

    load_PET_path_1: str | None = flag(None, "first endpoint checkpoint (x = 0)", entries=SWEEPS, shapes="sc")
    load_PET_path_2: str | None = flag(None, "second endpoint checkpoint (x = 1)", entries=SWEEPS, shapes="sc")
    load_PET_path_list: list[str] | None = flag(None, "N >= 2 checkpoints instead of _1/_2: every pair's line into "
                                                "<output_dir>/pair_<i>_<j>/, then matrix.csv and matrix.png",
                                                entries=INTERPOLATE, nargs="+", metavar="PATH")
    itpl_points: int = flag(26, "evenly spaced points evaluated, endpoints included (2 to 1001)", entries=SWEEPS,
                            type=positive_int)
    plane_grid: int | None = flag(None, "with --load_PET_path_list A B C: the plane through the three checkpoints "
                                  "on a G x G grid (plane.csv, summary.json, plane.png) instead of the matrix",
                                  entries=INTERPOLATE, shapes="s", type=positive_int, metavar="G")
    plane_margin: float = flag(0.2, "how far the plane's grid reaches beyond the checkpoints, as a fraction of their "
                               "extent", entries=INTERPOLATE, shapes="s", type=finite_float)
    plane_random: bool = flag(False, "with --load_PET_path_1 alone and --plane_grid G: the loss landscape around that "
                              "checkpoint, two random filter-wise normalised directions (Li et al. 2018)",
                              entries=INTERPOLATE, shapes="s", action="store_true")
    plane_span: float = flag(1.0, "the random plane's α and β run over [-span, span]", entries=INTERPOLATE,
                             shapes="s", type=finite_float)
    interpolate_tensors: str | None = flag(None, "interpolate only the tensors whose names match this regular "
                                           "expression; every other tensor stays at the first endpoint",
                                           entries=INTERPOLATE, shapes="s", metavar="REGEX")
    layerwise: str | None = flag(None, "one line per group of tensors, every other tensor at the first endpoint: "
                                 "'layers' (one group per layer, the embeddings, the head) or 'modules' (attention, "
                                 "feed-forward, ...); layerwise.csv and layerwise.png", entries=INTERPOLATE,
                                 shapes="s", choices=["layers", "modules"])
    merges: bool = flag(False, "after the line (or the matrix), evaluate merges of the endpoints (task arithmetic, "
                        "TIES, DARE; SLERP for two) beside them and the best point, into <output_dir>/merges/",
                        entries=INTERPOLATE,
                        action="store_true")
    merge_lambdas: list[float] = flag([0.5, 1.0], "task arithmetic's λ grid (θ0 + λ·(τA + τB))", entries=INTERPOLATE,
                                      nargs="+", type=finite_float)
    merge_density: float = flag(0.5, "fraction of each task vector TIES and DARE keep", entries=INTERPOLATE,
                                type=finite_float)
    itp_on_train: bool = flag(False, "evaluate the sweep on the train file (for utils/process_cartography.py)",
                              entries=SWEEPS, shapes="s", action="store_true")


@dataclass
class CurveOptions:
    """curve"""

    bend_num: int = flag(3, "trainable bends, at least 1 (the paper's scripts pass 1)", entries=CURVE, shapes="c",
                         type=int)
    curve_type: str = flag("bezier", "Bezier curve of degree bend_num+1, or a piecewise-linear chain", entries=CURVE,
                           shapes="c", choices=("bezier", "polychain"))
    bend_init: str | None = flag(None, "bends on the line or N(0, --bend_std) (None: midpoint for model, random for "
                                 "adapter)", entries=CURVE, shapes="c", choices=("midpoint", "random"))
    bend_std: float = flag(0.02, "std of random bends", entries=CURVE, shapes="c", type=finite_float)
    valid_t: list[float] | None = flag(None, "t in [0, 1] where the curve is validated (None: the original's points)",
                                       entries=CURVE, shapes="c", nargs="+", type=finite_float, metavar="T")
    load_stage1_pet_path_list: list[str] | None = flag(None, "the original's flag for the two endpoints",
                                                       entries=CURVE, nargs="+", metavar="PATH")
    line_result: Path | None = flag(None, "result.csv (or its folder) of task_interpolation.py's straight line "
                                    "between the same endpoints, overlaid on the curve's figure (None: "
                                    "<output_dir>/line/ when it exists)", entries=CURVE, type=Path)


@dataclass
class SpecialOptions:
    """special settings"""

    SGD_noise: bool = flag(False, "initialise from --load_init_seed; --seed changes only data order and dropout",
                           entries=TUNE, shapes="t", action="store_true")
    datasplit: str = flag("", "train on one half of the train file", shapes="tsc", choices=("", "split1", "split2"))
    cartography: bool = flag(False, "record per-example correctness and confidence each epoch", entries=TUNE,
                             shapes="t", action="store_true")


@dataclass
class LegacyOptions:
    """accepted for the original's scripts, unused here"""

    dataset: str = flag("nlp_forest_single", "the original's; unused", entries=frozenset())
    num_beams: int = flag(4, "the original's; evaluation decodes greedily, as it did", entries=frozenset(),
                          type=positive_int)
    warmup_proportion: float = flag(0.01, "the original's; unused", entries=frozenset(), type=finite_float)
    adam_epsilon: float = flag(1e-8, "the original's; unused", entries=frozenset(), type=finite_float)
    wait_step: int = flag(10_000_000, "the original's; unused (see --early_stop)", entries=frozenset(), type=int)
    one_prefix: bool = flag(False, "the original's; unused", entries=frozenset(), action="store_true")


GROUPS = (DataOptions, RunOptions, ProcessingOptions, TrainingOptions, GridOptions, MethodOptions, PathOptions,
          CurveOptions, SpecialOptions, LegacyOptions)


@dataclass
class T5Options(LegacyOptions, SpecialOptions, CurveOptions, PathOptions, MethodOptions, GridOptions, TrainingOptions,
                ProcessingOptions, RunOptions, DataOptions):
    """Every setting of the T5 track's entry points (flat: `options.learning_rate`)."""


class OptionError(ValueError):
    """A setting that cannot work; the message starts with the flag (`argument --x: ...`)."""


def options_for(entry: str = "tune", **values) -> T5Options:
    """Checked options of one entry point (`ENTRIES`) from keyword values; the rest take that entry's defaults."""
    if entry not in ENTRIES:
        raise ValueError(f"entry must be one of {ENTRIES}, got {entry!r}")
    return check_options(T5Options(**{**ENTRY_DEFAULTS.get(entry, {}), **values}))


def settings_of(options: T5Options, shapes: str) -> dict:
    """The settings that shape one kind of result (`TUNING`, `SWEEP`, `CURVE_TRAINING`; several letters: any)."""
    return shaping(options, shapes)


def build_parser(description: str | None = None, entry: str = "tune") -> argparse.ArgumentParser:
    """The parser of one entry point: its own flags by group, then the others in one group at the end."""
    if entry not in ENTRIES:
        raise ValueError(f"entry must be one of {ENTRIES}, got {entry!r}")
    parser = OneLineParser(description=description, formatter_class=HelpFormatter)
    groups: dict[str, argparse._ArgumentGroup] = {}
    defaults, helps = ENTRY_DEFAULTS.get(entry, {}), ENTRY_HELP.get(entry, {})
    for own in (True, False):
        for group in GROUPS:
            for f in fields(group):
                if (entry in f.metadata["entries"]) != own:
                    continue
                title = group.__doc__ if own else UNUSED_GROUP
                if title not in groups:
                    groups[title] = parser.add_argument_group(title)
                default = defaults.get(f.name, f.default if f.default is not MISSING else f.default_factory())
                groups[title].add_argument(f"--{f.name}", default=default, help=helps.get(f.name, f.metadata["help"]),
                                           **f.metadata["argparse"])
    return parser


def check_options(options: T5Options) -> T5Options:
    """Normalise and check settings that cannot work together; raises `OptionError` naming the flag."""

    if options.tune_method == "finetune":
        options.tune_method = "model"
    if options.tune_method == "adapter":
        options.apply_adapter = True  # the original needed both; adapter tuning implies adapters
    if not 2 <= options.itpl_points <= MAX_ITPL_POINTS:
        raise OptionError(f"argument --itpl_points: expected 2 to {MAX_ITPL_POINTS} points (x is rounded to 3 "
                          f"decimals), got {options.itpl_points}")
    if options.learning_rate <= 0:
        raise OptionError(f"argument --learning_rate: expected a positive number, got {options.learning_rate}")
    if any(lr <= 0 for lr in options.learning_rate_list):
        raise OptionError(f"argument --learning_rate_list: expected positive numbers, got "
                          f"{options.learning_rate_list}")
    smallest = min(options.bsz_list or [options.train_batch_size])
    if options.gradient_accumulation_steps > smallest:
        raise OptionError(f"argument --gradient_accumulation_steps: {options.gradient_accumulation_steps} "
                          f"micro-batches cannot be cut from a batch of {smallest} (it splits each update's batch, "
                          "never enlarges it)")
    chosen = [f for f, v in (("--plane_grid", options.plane_grid), ("--interpolate_tensors",
                                                                    options.interpolate_tensors),
                             ("--layerwise", options.layerwise)) if v is not None]
    if len(chosen) > 1:
        raise OptionError(f"argument {chosen[1]}: not with {chosen[0]} (one geometry per sweep)")
    if options.merges and chosen:
        raise OptionError(f"argument --merges: merges go beside a line or a matrix, not with {chosen[0]}")
    try:
        check_pattern(options.interpolate_tensors)
    except ValueError as exc:
        raise OptionError(f"argument {exc}") from None
    if options.merges:
        try:
            check_merge_settings(options.merge_lambdas, options.merge_density, ("--merge_lambdas", "--merge_density"))
        except ValueError as exc:
            raise OptionError(f"argument {exc}") from None
    if (options.interpolate_tensors or options.layerwise) and options.load_PET_path_list:
        raise OptionError(f"argument {chosen[0]}: a layer-wise sweep joins --load_PET_path_1 and --load_PET_path_2")
    if options.plane_random:
        if options.plane_grid is None or not options.load_PET_path_1 or options.load_PET_path_2 \
                or options.load_PET_path_list:
            raise OptionError("argument --plane_random: give --load_PET_path_1 alone (the checkpoint the plane is "
                              "drawn around) and --plane_grid G")
        if not options.plane_span > 0:
            raise OptionError(f"argument --plane_span: expected a number > 0, got {options.plane_span}")
    elif options.plane_grid is not None:
        given = len(options.load_PET_path_list or [])
        if given != 3:
            raise OptionError(f"argument --plane_grid: the plane goes through three checkpoints, given as "
                              f"--load_PET_path_list A B C (got {given})")
        if options.plane_grid < 2 or options.plane_margin < 0:
            raise OptionError(f"argument --plane_grid/--plane_margin: expected a grid of at least 2 and a margin "
                              f">= 0, got {options.plane_grid} and {options.plane_margin}")
    if options.tokenizer_path is None:
        options.tokenizer_path = options.model
    return options


def parse_options(argv: Sequence[str] | None = None, description: str | None = None,
                  entry: str = "tune") -> T5Options:
    """Parse and check the command line of one entry point."""
    parser = build_parser(description, entry)
    try:
        return check_options(T5Options(**vars(parser.parse_args(argv))))
    except OptionError as exc:
        parser.error(str(exc))
