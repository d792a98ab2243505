"""JSON configs of the encoder track: the original's keys, read into argument dataclasses."""

from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass
from pathlib import Path

from dataloader.tasks import DATASPLITS
from module.cli import SEED_MAX, one_line_hf_parser
from module.identity import option, shaping
from module.interpolation import MAX_ITPL_POINTS
from module.trainer_runs import TRAINER_SHAPES, trainer_key_shapes
from RoBERTa_model.config_types import type_errors
from RoBERTa_model.resume import checkpoint_folders, latest_complete_checkpoint

# keys of the original configs that only mattered to its `datasets`/generation set-up
IGNORED_KEYS = {"dataset_config_name", "eval_dataset_config_name", "test_dataset_config_name", "eval_dataset_name",
                "test_dataset_name", "predict_with_generate", "config_name", "overwrite_output_dir",
                "dataset_name", "overwrite_cache", "max_target_length", "pad_to_max_length"}
RENAMED_KEYS = {"evaluation_strategy": "eval_strategy", "do_test": "do_predict"}
# transformers 4's `group_by_length: true/false` is transformers 5's `train_sampling_strategy`
SAMPLING_KEY = ("group_by_length", "train_sampling_strategy", {True: "group_by_length", False: "random"})


# values that size something: at least 1
POSITIVE_KEYS = ("bottleneck_dim", "max_source_length", "per_device_train_batch_size", "per_device_eval_batch_size",
                 "max_train_samples", "max_eval_samples", "max_test_samples", "gradient_accumulation_steps")
SEED_KEYS = ("seed", "data_seed", "init_seed")  # numpy takes 0 to 2**32 - 1


class ConfigError(ValueError):
    """A config file that cannot be used."""


def _help(default, text: str, shapes: str, **kw):
    """A config key: its default, a help line (HfArgumentParser shows it with the default) and the results it
    shapes (module/identity.py: t a tuning run's weights, s a sweep's points, c a trained curve)."""
    return option(default, text, shapes, **kw)


@dataclass
class ModelArguments:
    """Which encoder and tokenizer to start from."""

    model_name_or_path: str = _help("pretrained_models/all-MiniLM-L6-v2",
                                    "local folder of the encoder, or of a checkpoint of this track", shapes="tsc")
    tokenizer_name: str | None = _help(None, "local tokenizer folder (None: model_name_or_path)", shapes="tsc")


@dataclass
class DataArguments:
    """Which task folder, and how to tokenise it."""

    task_name: str = _help("snli", "task folder name under data_dir (data/<task>/<task>_{train,dev,test}.tsv)",
                           shapes="tsc")
    data_dir: str = _help("data", "folder holding the task folders", shapes="tsc")
    max_source_length: int = _help(128, "tokens kept per input", shapes="tsc")
    max_train_samples: int | None = _help(None, "use the first N train examples (None: all)", shapes="tsc")
    datasplit: str = _help("", "train on one half of the (first max_train_samples) train examples: 'split1' the "
                               "first, 'split2' the second, '' all (the T5 track's --datasplit)", shapes="tsc")
    max_eval_samples: int | None = _help(None, "use the first N dev examples (None: all)", shapes="tsc")
    max_test_samples: int | None = _help(None, "use the first N test examples (None: all)", shapes="s")
    cartography: bool = _help(False, "after every epoch, each training example's correctness and gold-label "
                                     "confidence into output_dir/cartography.json (utils/process_cartography.py)",
                                     shapes="t")


DELTA_TYPES = ("adapter", "houlsby_dense", "none")


@dataclass
class DeltaArguments:
    """What is tuned: `delta_type` adapter (OpenDelta's, as the paper), houlsby_dense (this project's earlier
    bias-free adapter after the dense projections) or none (full fine-tuning); `r_mean`/`r_std` override the
    adapter's initialisation (default: N(0, 0.01) for adapter, N(0, 0.02) for houlsby_dense)."""

    delta_type: str = _help("none", "adapter (OpenDelta's, as the paper), houlsby_dense, or none (full tuning)",
                            shapes="tsc")
    bottleneck_dim: int = _help(24, "adapter bottleneck size", shapes="tsc")
    unfrozen_modules: list[str] = _help(lambda: ["deltas", "layer_norm", "final_layer_norm", "classifier"],
                                        "modules trained with adapters (deltas: the adapters), as OpenDelta 0.2.4",
                                        shapes="tsc")
    r_mean: float | None = _help(None, "mean of the adapter weights (None: the adapter's own)", shapes="tsc")
    r_std: float | None = _help(None, "std of the adapter weights (None: 0.01 adapter, 0.02 houlsby_dense)",
                                shapes="tsc")
    init_seed: int | None = _help(None, "seed of the adapters' and the new head's initialisation (None: seed); "
                                        "the same init_seed with another seed changes only the data order and "
                                        "dropout, as the T5 track's --SGD_noise", shapes="t")


@dataclass
class InterpolationArguments:
    """The endpoints of an interpolation (`itp_*.py` only)."""

    path1: str | None = _help(None, "first endpoint (x = 0): a checkpoint folder, or a run folder (its latest "
                                    "complete checkpoint-<step>)", shapes="")
    path2: str | None = _help(None, "second endpoint (x = 1), like path1", shapes="")
    paths: list[str] | None = _help(None, "itp_pretrain_adapter.py: N >= 2 endpoints instead of path1/path2; every "
                                          "pair's line into output_dir/pair_<i>_<j>/, then matrix.csv and matrix.png",
                                          shapes="")
    itpl_points: int = _help(26, "evenly spaced points evaluated, endpoints included (2 to 1001)", shapes="")
    plane_grid: int | None = _help(None, "itp_pretrain_adapter.py with paths [A, B, C]: the plane through the three "
                                         "runs on a G x G grid (plane.csv, summary.json, plane.png) instead of the "
                                         "matrix", shapes="s")
    interpolate_tensors: str | None = _help(None, "itp_pretrain_adapter.py: interpolate only the tensors whose names "
                                                  "match this regular expression, every other at path1", shapes="s")
    layerwise: str | None = _help(None, "itp_pretrain_adapter.py: one line per group of tensors, every other at "
                                        "path1: 'layers' or 'modules'; layerwise.csv and layerwise.png", shapes="s")
    merges: bool = _help(False, "itp_pretrain_adapter.py: after the line, merges of the two runs (task arithmetic, "
                                "TIES, DARE, SLERP) beside its endpoints and best point, into output_dir/merges/",
                         shapes="")
    merge_lambdas: list[float] = _help(lambda: [0.5, 1.0], "task arithmetic's λ grid", shapes="")
    merge_density: float = _help(0.5, "fraction of each task vector TIES and DARE keep", shapes="")
    plane_random: bool = _help(False, "itp_pretrain_adapter.py with path1 alone and plane_grid: the loss landscape "
                                      "around that run, two random filter-wise normalised directions (Li et al. 2018)",
                               shapes="s")
    plane_span: float = _help(1.0, "the random plane's α and β run over [-span, span]", shapes="s")
    plane_margin: float = _help(0.2, "how far the plane's grid reaches beyond the runs, as a fraction of their extent",
                                shapes="s")
    itp_on_train: bool = _help(False, "itp_pretrain_adapter.py: evaluate the line on the training examples (the "
                                      "first max_train_samples) instead of dev/test, to join with cartography.json",
                                      shapes="s")
    eval_task_names: list[str] | None = _help(None, "itp_task_boundary_finetune.py: tasks evaluated "
                                                    "(None: task_name)", shapes="s")
    bend_num: int = _help(1, "curve_find_adapter.py: bends of the curve (1: a quadratic Bezier curve)", shapes="c")
    curve_type: str = _help("bezier", "curve_find_adapter.py: bezier or polychain", shapes="c")
    curve_steps: int = _help(200, "curve_find_adapter.py: AdamW updates training the bends", shapes="c")
    curve_lr: float = _help(3e-3, "curve_find_adapter.py: learning rate of the bends", shapes="c")
    valid_t: list[float] = _help(lambda: [0.25, 0.5, 0.75], "curve_find_adapter.py: points of the curve whose mean "
                                 "dev accuracy picks the best curve (the first max_eval_samples dev examples)",
                                 shapes="c")
    valid_interval: int | None = _help(None, "curve_find_adapter.py: validate every N updates and sweep the best "
                                             "curve (None: once, after the last update)", shapes="c")
    output_interval: int = _help(100, "curve_find_adapter.py: a resumable checkpoint every N updates", shapes="")
    curve_log_interval: int = _help(1, "curve_find_adapter.py: mean training loss logged every N updates", shapes="")


def _check_delta(path: Path, delta: DeltaArguments) -> None:
    """delta_type is known; unfrozen_modules is a list of module names (OpenDelta's '[r]' regexes are not read)."""
    if delta.delta_type not in DELTA_TYPES:
        raise ConfigError(f"{path}: delta_type must be one of {', '.join(map(repr, DELTA_TYPES))}, "
                          f"got {delta.delta_type!r}")
    modules = delta.unfrozen_modules
    if not isinstance(modules, list) or not all(isinstance(m, str) and m for m in modules):
        raise ConfigError(f"{path}: unfrozen_modules must be a list of module names, got {modules!r}")
    regex = next((m for m in modules if m.startswith("[r]")), None)
    if regex:
        raise ConfigError(f"{path}: unfrozen_modules entry {regex!r}: regular expressions are not supported; "
                          "name the modules (e.g. 'classifier', 'output.LayerNorm')")


def _has_cuda() -> bool:
    import torch

    return torch.cuda.is_available()


def _unique_keys(pairs: list[tuple[str, object]], path: Path) -> dict:
    """A JSON object whose keys each occur once (json.loads otherwise keeps the last value without a word)."""
    seen: dict = {}
    for key, value in pairs:
        if key in seen:
            raise ConfigError(f"{path}: key {key!r} is given twice (JSON keeps only the last value); give it once")
        seen[key] = value
    return seen


def read_config_json(path: str | Path) -> dict:
    """A config file's keys and values, with the original's renamed keys mapped and its ignored keys dropped."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: config file not found")
    try:
        raw = json.loads(path.read_text(), object_pairs_hook=lambda pairs: _unique_keys(pairs, path))
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{path}: not valid JSON ({exc.msg} at line {exc.lineno})") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text (byte {exc.start})") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a JSON object of arguments")
    return current_keys(raw)


def current_keys(values: dict) -> dict:
    """A config's keys under their current names (the original's renamed keys mapped, its ignored ones dropped)."""
    old, new, meaning = SAMPLING_KEY
    current = {}
    for key, value in values.items():
        if key == old:
            if not isinstance(value, bool):
                raise ConfigError(f"key {old!r} must be true or false, got {value!r}")
            key, value = new, meaning[value]
        if key not in IGNORED_KEYS:
            current[RENAMED_KEYS.get(key, key)] = value
    return current


# keys holding paths: relative ones in a config file are taken relative to the file's folder
PATH_KEYS = ("model_name_or_path", "tokenizer_name", "data_dir", "output_dir", "path1", "path2", "paths",
             "resume_from_checkpoint")


def resolve_paths(values: dict, base: Path) -> dict:
    """`values` with every relative path of `PATH_KEYS` made relative to `base` (absolute ones as given)."""
    out = dict(values)
    def resolved(path):
        return os.path.normpath(base / path) if isinstance(path, str) and path and not Path(path).is_absolute() \
            else path

    for key in PATH_KEYS:
        if key in out:
            out[key] = [resolved(p) for p in out[key]] if isinstance(out[key], list) else resolved(out[key])
    return out


def _parser_classes(with_interpolation: bool) -> list[type]:
    from transformers import TrainingArguments

    return [ModelArguments, DataArguments, DeltaArguments, *([InterpolationArguments] if with_interpolation else []),
            TrainingArguments]


def config_parser(with_interpolation: bool = False, prog: str | None = None):
    """transformers' HfArgumentParser over the track's dataclasses and TrainingArguments; errors are one line."""
    usage = f"{prog or 'run_glue.py'} CONFIG.json [--KEY VALUE ...]"
    return one_line_hf_parser(_parser_classes(with_interpolation), prog=prog, usage=usage,
                           description="Values come from CONFIG.json (relative paths there are relative to its "
                                       "folder); a --KEY VALUE after it overrides the file's value.")


def parse_config_args(argv: list[str], with_interpolation: bool = False, prog: str | None = None) -> EncoderConfig:
    """`CONFIG.json [--KEY VALUE ...]` (or --help) into the job's config."""
    parser = config_parser(with_interpolation, prog)
    if not argv or argv[0] in ("-h", "--help"):
        parser.print_help()
        raise SystemExit(0 if argv else 2)
    if not argv[0].endswith(".json"):
        parser.error(f"the first argument must be a JSON config file, got {argv[0]!r}")
    return load_config(argv[0], with_interpolation, overrides=argv[1:], parser=parser)


@dataclass
class EncoderConfig:
    """One encoder-track job's arguments, grouped as the scripts read them, and the keys it was given."""

    model: ModelArguments
    data: DataArguments
    delta: DeltaArguments
    training: object  # transformers.TrainingArguments
    interpolation: InterpolationArguments | None
    given: dict  # the keys the config and the command line set, with JSON values (a run's recorded settings)
    source: str  # where the values came from (a config file), for messages


OWN_GROUPS = (ModelArguments, DataArguments, DeltaArguments, InterpolationArguments)


def key_shapes(key: str) -> str:
    """What config key `key` shapes (module/identity.py letters): as its field declares, or for a Trainer argument
    as module/trainer_runs.TRAINER_SHAPES says (any other shapes a tuning run)."""
    for group in OWN_GROUPS:
        for f in dataclasses.fields(group):
            if f.name == key:
                return f.metadata["shapes"]
    return trainer_key_shapes(key)


def config_identity(config: EncoderConfig, letters: str) -> dict:
    """The values of the config's keys that shape a result of any kind in `letters` (a sweep's or a curve's
    identity, read from the declarations: no key list to keep in step)."""
    values = {}
    for group in (config.model, config.data, config.delta, config.interpolation):
        if group is not None:
            values |= shaping(group, letters)
    return values | {key: getattr(config.training, key) for key, shapes in TRAINER_SHAPES.items()
                     if set(shapes) & set(letters)}


def load_config(path: str | Path, with_interpolation: bool = False, overrides: list[str] | tuple = (),
                parser=None) -> EncoderConfig:
    """Read a JSON config (and `--KEY VALUE` overrides); unknown keys and wrong types are one-line errors."""
    path = Path(path)
    raw = resolve_paths(read_config_json(path), path.resolve().parent)
    return config_from_values(raw, with_interpolation, overrides, parser, source=str(path))


def config_from_values(raw: dict, with_interpolation: bool = False, overrides: list[str] | tuple = (),
                       parser=None, source: str = "config") -> EncoderConfig:
    """Check a config's keys and values (paths as given) and parse them, with `--KEY VALUE` overrides, into the
    track's argument groups: what a config file holds, built in memory (as the experiments do)."""
    raw, overrides = current_keys(raw), current_overrides(overrides)
    classes = _parser_classes(with_interpolation)
    known = {f.name for cls in classes for f in dataclasses.fields(cls)}
    unknown = sorted(k for k in raw if k not in known)
    if unknown:
        hint = " (path1/path2 belong to itp_*.py configs)" if unknown[0] in ("path1", "path2") else ""
        raise ConfigError(f"{source}: unknown key {unknown[0]!r}{hint}")
    for key, expected in type_errors(raw, classes):
        raise ConfigError(f"{source}: key {key!r} must be {expected}, got {raw[key]!r}")
    defaults = {"output_dir": "runs/encoder", "report_to": "none",
                "disable_tqdm": False,  # not transformers' verbosity-dependent default: always a bar
                "dataloader_pin_memory": _has_cuda(),  # no pin_memory warning on CPU
                "use_cpu": not _has_cuda()}  # under torchrun on CPU: accelerate's multi-CPU state, no DDP warning
    parser = parser or config_parser(with_interpolation)
    parser.set_defaults(**(defaults | raw))
    try:
        parts = list(parser.parse_args_into_dataclasses(args=list(overrides)))
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{source}: {str(exc).strip().splitlines()[0]}") from None
    overridden = {k: json.loads(json.dumps(getattr(part, k), default=str)) for part in parts
                  for k in _override_keys(overrides) if hasattr(part, k)}
    given = {**raw, **overridden}
    for key in POSITIVE_KEYS:
        if isinstance(given.get(key), int) and given[key] < 1:
            raise ConfigError(f"{source}: key {key!r} must be at least 1, got {given[key]!r}")
    for key in SEED_KEYS:
        if isinstance(given.get(key), int) and not 0 <= given[key] <= SEED_MAX:
            raise ConfigError(f"{source}: key {key!r} must be a seed from 0 to {SEED_MAX}, got {given[key]!r}")
    if parts[-1].do_train and not parts[-1].learning_rate > 0:  # 0 trains updates that change nothing
        raise ConfigError(f"{source}: key 'learning_rate' must be above 0, got {parts[-1].learning_rate!r}")
    _check_delta(Path(source), parts[2])
    if parts[1].datasplit not in DATASPLITS:
        raise ConfigError(f"{source}: key 'datasplit' must be one of {', '.join(map(repr, DATASPLITS))}, "
                          f"got {parts[1].datasplit!r}")
    itp = None
    if with_interpolation:
        itp = parts[3]
        if itp.paths is not None:
            if itp.path1 or itp.path2:
                raise ConfigError(f"{source}: give either 'paths' or 'path1'/'path2', not both")
            itp.paths = [str(endpoint_folder(p, "paths")) for p in itp.paths]
        else:
            for key in ("path1", "path2"):
                if not getattr(itp, key):
                    raise ConfigError(f"{source}: missing key {key!r} (the checkpoint folder of each endpoint)")
            for key in ("path1", "path2"):
                setattr(itp, key, str(endpoint_folder(getattr(itp, key), key)))

        if not 2 <= itp.itpl_points <= MAX_ITPL_POINTS:
            raise ConfigError(f"{source}: itpl_points must be 2 to {MAX_ITPL_POINTS} (x is rounded to 3 decimals), "
                              f"got {itp.itpl_points}")
    return EncoderConfig(*parts[:3], parts[-1], itp, given, source)


def current_overrides(overrides: list[str] | tuple) -> list[str]:
    """`--KEY VALUE` (or `--KEY=VALUE`, or a bare `--FLAG`) overrides under the keys' current names: every key a
    config file may give under the original's name (`current_keys`) is accepted on the command line too."""
    old, new, meaning = SAMPLING_KEY
    items, out, i = list(overrides), [], 0
    while i < len(items):
        arg = items[i]
        key, inline, value = arg[2:].partition("=") if arg.startswith("--") else ("", "", "")
        if not key:
            out.append(arg)
            i += 1
            continue
        given = value if inline else (items[i + 1] if i + 1 < len(items) and not items[i + 1].startswith("--")
                                      else None)
        i += 1 if inline or given is None else 2
        if key in IGNORED_KEYS:
            continue
        if key == old:
            flag = True if given is None else given.strip().lower() in ("true", "1", "yes")
            if given is not None and given.strip().lower() not in ("true", "false", "1", "0", "yes", "no"):
                raise ConfigError(f"--{old}: must be true or false, got {given!r}")
            out += [f"--{new}", meaning[flag]]
            continue
        out += [f"--{RENAMED_KEYS.get(key, key)}", *([] if given is None else [given])]
    return out


def _override_keys(overrides: list[str] | tuple) -> list[str]:
    return [a[2:].split("=", 1)[0] for a in overrides if a.startswith("--")]


def endpoint_folder(path: str, key: str) -> Path:
    """A checkpoint folder as given, or for a run folder (holding `checkpoint-<step>/`) its latest complete one."""

    folder = Path(path)
    if folder.is_dir() and checkpoint_folders(folder):
        latest = latest_complete_checkpoint(folder)
        if latest is None:
            raise ConfigError(f"{key} {path}: a run folder without a complete checkpoint-<step>/")
        print(f"[config] {key}: {latest} (the latest checkpoint of {path})")
        return latest
    return folder
