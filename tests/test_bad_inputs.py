"""Bad inputs to every entry point: exit code 2, one line on stderr naming the file, key or flag, nothing written.

Each case builds its inputs in a fresh folder; the command's output folder is `out` inside it. After the run the
folder holds exactly the files it held before (no run folder, log, result or half-written checkpoint).
"""

from __future__ import annotations

import importlib
import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from module.checkpoint import load_checkpoint
from module.cli import run_cli
from utils import toy


# ----------------------------------------------------------------------------- inputs shared by the cases
@pytest.fixture(scope="module")
def world(tmp_path_factory, tiny_t5_dir, toy_task, minilm_dir):
    """A tiny T5 with two adapter endpoints, a tiny encoder, and the toy task."""
    import torch

    from module.checkpoint import save_checkpoint
    from T5_model.model import load_t5

    root = tmp_path_factory.mktemp("bad-inputs")
    model = load_t5(str(tiny_t5_dir))

    ends = toy.perturbed_t5_ends(tiny_t5_dir, root, scale=0.01)
    # issue 27.4: endpoints of another model size, adapters given as a full model, an endpoint holding a NaN
    from transformers import T5ForConditionalGeneration

    from T5_model.adapters import add_t5_adapters

    wider = T5ForConditionalGeneration(toy.tiny_t5_config(model.config.vocab_size, d_model=48)).state_dict()
    other = [save_checkpoint(root / f"wide{seed}.pt", wider, "model") for seed in (1, 2)]
    add_t5_adapters(model, "houlsby", 4, seed=0)
    adapters = save_checkpoint(root / "adapters.pt", {k: v for k, v in model.state_dict().items() if ".adapter" in k},
                               "adapter")
    state = load_checkpoint(ends[1]).tensors
    key = "decoder.block.1.layer.1.EncDecAttention.o.weight"
    nan = save_checkpoint(root / "nan.pt", {**state, key: state[key].clone().index_fill_(0, torch.tensor([2]),
                                                                                          float("nan"))}, "model")
    encoder = toy.build_tiny_encoder(root / "tiny-bert", minilm_dir)
    from RoBERTa_model.encoder import build_classifier

    wide_encoder = toy.build_tiny_encoder(root / "wide-bert", minilm_dir, hidden_size=48)
    wide_runs = []
    for seed in (1, 2):  # checkpoint-<step>/ folders of runs tuned from the wider encoder
        wide_runs.append(root / f"wide-run{seed}" / "checkpoint-2")
        build_classifier(str(wide_encoder), ["negative", "positive"], seed=seed).save_pretrained(str(wide_runs[-1]))
    data = root / "data"
    toy.write_task(data, "toy-sentiment")
    return {"t5": tiny_t5_dir, "task": toy_task, "ends": ends, "encoder": encoder, "data": data, "wide": other,
            "adapters": adapters, "nan": nan, "wide_runs": wide_runs}


def _pickled_folder(source: Path, case: Path) -> Path:
    """A copy of a model folder whose weights are a pytorch_model.bin holding a pickle that would write a file."""
    import pickle

    folder = case / "pickled"
    shutil.copytree(source, folder)
    for weights in folder.glob("*.safetensors"):
        weights.unlink()
    (folder / "pytorch_model.bin").write_bytes(pickle.dumps(_Payload(case / "RAN")))
    return folder


class _Payload:
    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):  # unpickling this calls Path.touch(marker): a file appears if the payload ran
        return (Path.touch, (self.marker,))


def _custom_code_folder(source: Path, case: Path) -> Path:
    folder = case / "custom"
    shutil.copytree(source, folder)
    values = json.loads((folder / "config.json").read_text())
    values |= {"model_type": "mybert", "auto_map": {"AutoConfig": "conf.MyConfig",
                                                    "AutoModelForSequenceClassification": "model.MyModel"}}
    (folder / "config.json").write_text(json.dumps(values))
    (folder / "model.py").write_text(f"open({str(case / 'RAN')!r}, 'w')\n")
    return folder


def _sweep_with_truncated_point(w: dict, case: Path) -> list[str]:
    argv = _t5_sweep(w, case)
    assert _interpolate(argv) == 0
    point = case / "out" / "points" / "x_1.000.json"
    point.write_text(point.read_text()[:40])
    return argv


def _t5_train(w: dict, case: Path, *extra: str) -> list[str]:
    return ["--task_dir", str(w["task"]), "--model", str(w["t5"]), "--output_dir", str(case / "out"), "--do_train",
            "--train_iters", "2", "--valid_interval", "2", "--output_interval", "2", "--train_batch_size", "16",
            "--metric", "ACC", "--max_output_length", "6", "--quiet", *extra]


def _t5_sweep(w: dict, case: Path, *extra: str) -> list[str]:
    return ["--task_dir", str(w["task"]), "--model", str(w["t5"]), "--output_dir", str(case / "out"),
            "--load_PET_path_1", str(w["ends"][0]), "--load_PET_path_2", str(w["ends"][1]), "--tune_method", "model",
            "--itpl_points", "2", "--do_valid", "--metric", "ACC", "--max_output_length", "6", "--quiet", *extra]


def _copy_task(w: dict, case: Path) -> Path:
    task = case / "toy-sentiment"
    shutil.copytree(w["task"], task)
    return task


def _non_utf8_task(w: dict, case: Path) -> Path:
    task = _copy_task(w, case)
    path = task / "toy-sentiment_train.tsv"
    lines = path.read_bytes().splitlines(keepends=True)
    lines[2] = b"caf\xe9 au lait\tpositive\n"  # Latin-1, line 3
    path.write_bytes(b"".join(lines))
    return task


def _edited_task(w: dict, case: Path, split: str, edit: Callable[[list[str]], list[str]]) -> Path:
    """A copy of the toy task whose `split` file's lines went through `edit`."""
    task = _copy_task(w, case)
    path = task / f"toy-sentiment_{split}.tsv"
    path.write_text("".join(f"{line}\n" for line in edit(path.read_text().splitlines())))
    return task


def _with_header(w: dict, case: Path, split: str = "train") -> Path:
    return _edited_task(w, case, split, lambda lines: ["sentence\tlabel", *lines])


def _broken_t5(w: dict, case: Path, edit: Callable[[dict], object] | None, text: str | None = None) -> Path:
    folder = case / "t5"
    shutil.copytree(w["t5"], folder)
    config = folder / "config.json"
    if text is not None:
        config.write_text(text)
    else:
        values = json.loads(config.read_text())
        edit(values)
        config.write_text(json.dumps(values))
    return folder


def _small_vocab_t5(w: dict, case: Path) -> Path:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(w["t5"]))
    from transformers import T5ForConditionalGeneration

    folder = case / "t5"
    T5ForConditionalGeneration(toy.tiny_t5_config(len(tokenizer) // 2)).save_pretrained(str(folder))
    tokenizer.save_pretrained(str(folder))
    return folder


def _encoder_config(w: dict, case: Path, **values) -> Path:
    base = {"model_name_or_path": str(w["encoder"]), "task_name": "toy-sentiment", "data_dir": str(w["data"]),
            "output_dir": str(case / "out"), "delta_type": "adapter", "bottleneck_dim": 4, "max_steps": 2,
            "do_train": True, "disable_tqdm": True, "per_device_train_batch_size": 8}
    path = case / "config.json"
    path.write_text(json.dumps({k: v for k, v in (base | values).items() if v is not None}))
    return path


def _itp_config(w: dict, case: Path, **values) -> Path:
    base = {"path1": str(w["encoder"]), "path2": str(w["encoder"]), "do_train": None, "max_steps": None}
    return _encoder_config(w, case, **(base | values))


def _entry(module: str) -> Callable[[list[str]], int]:
    """The `main` of an entry point, imported when a case runs."""
    return lambda argv: importlib.import_module(module).main(argv)


_tune = _entry("tune_singletask")
_interpolate = _entry("task_interpolation")
_curve = _entry("curve_find")
_glue = _entry("RoBERTa_model.run_glue")
_itp_adapter = _entry("RoBERTa_model.itp_pretrain_adapter")
_itp_boundary = _entry("RoBERTa_model.itp_task_boundary_finetune")
_pretrain_t5 = _entry("T5_model.pretrain_t5")
_pretrain_mlm = _entry("RoBERTa_model.pretrain_mlm")
_cartography = _entry("utils.process_cartography")
_dist = _entry("utils.calculate_dist")
_export = _entry("utils.export_point")


def _text(case: Path, data: bytes = b"a first line\nthe second line\n") -> str:
    (case / "corpus.txt").write_bytes(data)
    return str(case / "corpus.txt")


# (case id, entry point, argv from (world, case folder), what the one stderr line must name)
CASES: list[tuple[str, Callable, Callable[[dict, Path], list[str]], str]] = [
    # --- tune_singletask.py
    ("tune-non-utf8-data", _tune, lambda w, c: _t5_train(w, c, "--task_dir", str(_non_utf8_task(w, c))),
     "toy-sentiment_train.tsv:3: not UTF-8"),
    ("tune-config-not-json", _tune, lambda w, c: _t5_train(w, c, "--model", str(_broken_t5(w, c, None, "{oops"))),
     "config.json"),
    ("tune-config-wrong-type", _tune,
     lambda w, c: _t5_train(w, c, "--model", str(_broken_t5(w, c, lambda v: v.update(d_model="abc")))), "d_model"),
    ("tune-config-negative", _tune,
     lambda w, c: _t5_train(w, c, "--model", str(_broken_t5(w, c, lambda v: v.update(num_layers=-1)))),
     "num_layers"),
    ("tune-tokenizer-larger-than-vocab", _tune, lambda w, c: _t5_train(w, c, "--model", str(_small_vocab_t5(w, c))),
     "vocabulary"),
    ("tune-train-iters-huge", _tune, lambda w, c: _t5_train(w, c, "--train_iters", "1e400"), "--train_iters"),
    ("tune-train-iters-zero", _tune, lambda w, c: _t5_train(w, c, "--train_iters", "0"), "--train_iters"),
    ("tune-missing-init-checkpoint", _tune, lambda w, c: _t5_train(w, c, "--checkpoint", str(c / "nope.pt")),
     "nope.pt"),
    ("tune-bad-init-checkpoint", _tune,
     lambda w, c: (c / "junk.pt").write_text("junk") and _t5_train(w, c, "--checkpoint", str(c / "junk.pt")),
     "junk.pt"),
    ("tune-mistyped-task", _tune, lambda w, c: _t5_train(w, c, "--task_dir", str(w["task"].parent / "toy-sentimnt")),
     "task folder not found; close matches under"),
    ("itp-mistyped-task", _interpolate,
     lambda w, c: _t5_sweep(w, c, "--task_dir", str(w["task"].parent / "toy-sentimnt")), "toy-sentiment"),
    ("glue-mistyped-task", _glue, lambda w, c: [str(_encoder_config(w, c, task_name="toy-sentimnt"))],
     "close matches under"),
    ("tune-missing-task", _tune, lambda w, c: _t5_train(w, c, "--task_dir", str(c / "no-task")), "no-task"),
    ("tune-missing-model", _tune, lambda w, c: _t5_train(w, c, "--model", str(c / "no-model")), "no-model"),
    # --- task_interpolation.py
    ("itp-missing-endpoint", _interpolate, lambda w, c: _t5_sweep(w, c, "--load_PET_path_2", str(c / "gone.pt")),
     "gone.pt"),
    ("itp-non-utf8-dev", _interpolate,
     lambda w, c: _t5_sweep(w, c, "--dev_file", str(_non_utf8_task(w, c) / "toy-sentiment_train.tsv")),
     "toy-sentiment_train.tsv:3: not UTF-8"),
    ("itp-config-wrong-type", _interpolate,
     lambda w, c: _t5_sweep(w, c, "--model", str(_broken_t5(w, c, lambda v: v.update(num_heads="two")))),
     "num_heads"),
    ("itp-tokenizer-larger-than-vocab", _interpolate,
     lambda w, c: _t5_sweep(w, c, "--model", str(_small_vocab_t5(w, c))), "vocabulary"),
    ("itp-too-many-points", _interpolate, lambda w, c: _t5_sweep(w, c, "--itpl_points", "5000"), "--itpl_points"),
    # --- curve_find.py
    ("curve-missing-endpoint", _curve, lambda w, c: _t5_sweep(w, c, "--load_PET_path_1", str(c / "gone.pt")),
     "gone.pt"),
    ("curve-bad-bends", _curve, lambda w, c: _t5_sweep(w, c, "--bend_num", "0"), "--bend_num"),
    ("curve-config-not-json", _curve, lambda w, c: _t5_sweep(w, c, "--model", str(_broken_t5(w, c, None, "[]"))),
     "config.json"),
    # --- run_glue.py
    ("glue-learning-rate-string", _glue, lambda w, c: [str(_encoder_config(w, c, learning_rate="abc"))],
     "learning_rate"),
    ("glue-max-steps-string", _glue, lambda w, c: [str(_encoder_config(w, c, max_steps="ten"))], "max_steps"),
    ("glue-bottleneck-negative", _glue, lambda w, c: [str(_encoder_config(w, c, bottleneck_dim=-1))],
     "bottleneck_dim"),
    ("glue-unfrozen-string", _glue, lambda w, c: [str(_encoder_config(w, c, unfrozen_modules="deltas"))],
     "unfrozen_modules"),
    ("glue-seed-float", _glue, lambda w, c: [str(_encoder_config(w, c, seed=2.5))], "seed"),
    ("glue-max-source-length-string", _glue, lambda w, c: [str(_encoder_config(w, c, max_source_length="long"))],
     "max_source_length"),
    ("glue-non-utf8-data", _glue, lambda w, c: [str(_encoder_config(w, c, data_dir=str(_non_utf8_task(w, c).parent)))],
     "toy-sentiment_train.tsv:3: not UTF-8"),
    ("glue-config-not-utf8", _glue,
     lambda w, c: (c / "c.json").write_bytes(b'{"seed": "\xff"}') and [str(c / "c.json")], "c.json"),
    ("glue-learning-rate-zero", _glue, lambda w, c: [str(_encoder_config(w, c, learning_rate=0))],
     "'learning_rate' must be above 0"),  # issue 27.3: four updates that changed nothing, exit 0
    ("glue-duplicate-key", _glue,
     lambda w, c: (c / "dup.json").write_text(_encoder_config(w, c).read_text()[:-1] + ', "max_steps": 3}')
     and [str(c / "dup.json")], "dup.json: key 'max_steps' is given twice"),  # issue 27.3: the last value won
    # issue 27.3: a header row became a third class 'label', exit 0; a dev label unknown to training named no file
    ("tune-header-row", _tune, lambda w, c: _t5_train(w, c, "--task_dir", str(_with_header(w, c))),
     "toy-sentiment_train.tsv:1: looks like a header row"),
    ("glue-header-row", _glue, lambda w, c: [str(_encoder_config(w, c, data_dir=str(_with_header(w, c).parent)))],
     "toy-sentiment_train.tsv:1: looks like a header row"),
    ("glue-dev-header-row", _glue,
     lambda w, c: [str(_encoder_config(w, c, data_dir=str(_with_header(w, c, "dev").parent)))],
     "toy-sentiment_dev.tsv:1: looks like a header row"),
    ("glue-dev-label-unknown", _glue,
     lambda w, c: [str(_encoder_config(w, c, data_dir=str(_edited_task(
         w, c, "dev", lambda lines: [*lines[:4], "a film\tneutral", *lines[4:]]).parent)))],
     "toy-sentiment_dev.tsv:5: label 'neutral' is not among the training labels"),
    ("glue-missing-model", _glue, lambda w, c: [str(_encoder_config(w, c, model_name_or_path=str(c / "nomodel")))],
     "nomodel"),
    # --- itp_pretrain_adapter.py / itp_task_boundary_finetune.py
    ("itp-adapter-points-float", _itp_adapter, lambda w, c: [str(_itp_config(w, c, itpl_points=2.5))],
     "itpl_points"),
    ("itp-adapter-points-string", _itp_adapter, lambda w, c: [str(_itp_config(w, c, itpl_points="26"))],
     "itpl_points"),
    ("itp-adapter-path-list", _itp_adapter, lambda w, c: [str(_itp_config(w, c, path1=["a", "b"]))], "path1"),
    ("itp-boundary-tasks-string", _itp_boundary,
     lambda w, c: [str(_itp_config(w, c, eval_task_names="toy-sentiment", delta_type="none"))], "eval_task_names"),
    # --- utils/calculate_dist.py
    ("dist-missing-input", _dist,
     lambda w, c: ["--input1", str(w["ends"][0]), "--input2", str(c / "x.pt"), "--type", "model", "--path",
                   str(c / "out")], "x.pt"),
    ("dist-not-a-checkpoint", _dist,
     lambda w, c: (c / "x.pt").write_text("{}") and ["--input1", str(w["ends"][0]), "--input2", str(c / "x.pt"),
                                                      "--type", "model", "--path", str(c / "out")], "x.pt"),
    # --- T5_model/pretrain_t5.py, RoBERTa_model/pretrain_mlm.py
    ("pretrain-t5-missing-text", _pretrain_t5, lambda w, c: ["--text", str(c / "none.txt"), "--out", str(c / "out"),
                                                             "--init_embeddings", "none"], "none.txt"),
    ("pretrain-t5-non-utf8", _pretrain_t5,
     lambda w, c: ["--text", _text(c, b"fine\ncaf\xe9\n"), "--out", str(c / "out"), "--init_embeddings", "none"],
     "corpus.txt:2: not UTF-8"),
    ("pretrain-t5-zero-steps", _pretrain_t5, lambda w, c: ["--text", _text(c), "--out", str(c / "out"), "--steps", "0"],
     "--steps"),
    ("pretrain-mlm-zero-width", _pretrain_mlm,
     lambda w, c: ["--text", _text(c), "--out", str(c / "out"), "--hidden_size", "0"], "--hidden_size"),
    ("pretrain-mlm-non-utf8", _pretrain_mlm,
     lambda w, c: ["--text", _text(c, b"\xff\n"), "--out", str(c / "out")], "corpus.txt:1: not UTF-8"),
    # --- issue 27.4: refused before anything is created, in one line naming the file, tensor or flag
    ("itp-endpoints-other-size", _interpolate, lambda w, c: _t5_sweep(w, c, "--load_PET_path_1", str(w["wide"][0]),
                                                                       "--load_PET_path_2", str(w["wide"][1])),
     "wide1.pt: tensor 'shared.weight' has shape (206, 48), the model expects (206, 32)"),
    ("itp-adapters-as-full-model", _interpolate,
     lambda w, c: _t5_sweep(w, c, "--load_PET_path_1", str(w["adapters"]), "--load_PET_path_2", str(w["adapters"])),
     "pass --tune_method adapter"),
    ("itp-nan-endpoint", _interpolate, lambda w, c: _t5_sweep(w, c, "--load_PET_path_2", str(w["nan"])),
     "nan.pt: tensor 'decoder.block.1.layer.1.EncDecAttention.o.weight' holds 32 NaN value(s)"),
    ("curve-nan-endpoint", _curve, lambda w, c: _t5_sweep(w, c, "--load_PET_path_1", str(w["nan"])),
     "nan.pt: tensor 'decoder.block.1.layer.1.EncDecAttention.o.weight' holds 32 NaN"),
    ("itp-adapter-endpoints-other-size", _itp_adapter,
     lambda w, c: [str(_itp_config(w, c, delta_type="none", path1=str(w["wide_runs"][0]),
                                   path2=str(w["wide_runs"][1])))],
     "wide-run1/checkpoint-2: tensor 'bert.embeddings.LayerNorm.bias' has shape (48,), the model expects (32,)"),
    ("export-nan-endpoint", _export,
     lambda w, c: ["--path1", str(w["ends"][0]), "--path2", str(w["nan"]), "--x", "0", "--model", str(w["t5"]),
                   "--out", str(c / "out")], "nan.pt: tensor 'decoder.block.1.layer.1.EncDecAttention.o.weight'"),
    ("dist-nan-endpoint", _dist,
     lambda w, c: ["--input1", str(w["nan"]), "--input2", str(w["ends"][0]), "--type", "model", "--path",
                   str(c / "out")], "nan.pt: tensor 'decoder.block.1.layer.1.EncDecAttention.o.weight'"),
    ("export-x-not-a-number", _export,
     lambda w, c: ["--path1", str(w["ends"][0]), "--path2", str(w["ends"][1]), "--x", "half", "--out",
                   str(c / "out")], "argument --x: expected a number, got 'half'"),
    ("dist-type-unknown", _dist,
     lambda w, c: ["--input1", str(w["ends"][0]), "--input2", str(w["ends"][1]), "--type", "modl"],
     "argument --type: invalid choice: 'modl'"),
    ("glue-pickled-weights", _glue,
     lambda w, c: [str(_encoder_config(w, c, model_name_or_path=str(_pickled_folder(w["encoder"], c))))],
     "pickled/pytorch_model.bin: holds pickled objects besides tensors, refused unread (nothing in it ran)"),
    ("tune-pickled-weights", _tune, lambda w, c: _t5_train(w, c, "--model", str(_pickled_folder(w["t5"], c))),
     "pickled/pytorch_model.bin: holds pickled objects besides tensors"),
    ("glue-custom-code", _glue,
     lambda w, c: [str(_encoder_config(w, c, model_name_or_path=str(_custom_code_folder(w["encoder"], c))))],
     "model_name_or_path " "{case}/custom/config.json: names custom code"),
    ("itp-truncated-point", _interpolate, _sweep_with_truncated_point,
     "out/points/x_1.000.json:4: not valid JSON"),
    ("tune-seed-negative", _tune, lambda w, c: _t5_train(w, c, "--seed", "-1"),
     "argument --seed: expected a seed from 0 to 4294967295, got '-1'"),
    ("glue-seed-negative", _glue, lambda w, c: [str(_encoder_config(w, c, seed=-1))],
     "key 'seed' must be a seed from 0 to 4294967295, got -1"),
    ("glue-seed-override-negative", _glue, lambda w, c: [str(_encoder_config(w, c)), "--seed", "-1"],
     "key 'seed' must be a seed from 0 to 4294967295, got -1"),
    ("pretrain-mlm-seed-huge", _pretrain_mlm,
     lambda w, c: ["--text", _text(c), "--out", str(c / "out"), "--seed", str(2**32)], "argument --seed"),
    # --- utils/process_cartography.py
    ("cartography-missing", _cartography,
     lambda w, c: ["--cartography_path", str(c / "none.json"), "--analysis_path", str(c / "a.json"),
                   "--save_path", str(c / "out" / "forgotten.txt")], "none.json"),
    ("cartography-not-json", _cartography,
     lambda w, c: (c / "cart.json").write_text("{") and ["--cartography_path", str(c / "cart.json"),
                                                          "--analysis_path", str(c / "cart.json"),
                                                          "--save_path", str(c / "out" / "f.txt")], "cart.json"),
]


def _files(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


@pytest.mark.parametrize("case_id,entry,build,expected", CASES, ids=[c[0] for c in CASES])
def test_bad_input_gives_one_line_exit_2_and_writes_nothing(case_id, entry, build, expected, world, tmp_path,
                                                            capsys):
    argv = build(world, tmp_path)
    before = _files(tmp_path)
    capsys.readouterr()
    try:
        code = run_cli(lambda: entry(argv))
    except SystemExit as exc:  # argparse: its own one-line error
        code = exc.code
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert code == 2, err
    assert len(err) == 1 and "error: " in err[0] and expected.format(case=tmp_path) in err[0], err
    assert _files(tmp_path) == before, f"{case_id} left {sorted(set(_files(tmp_path)) - set(before))}"
