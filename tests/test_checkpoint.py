"""Tests for module/checkpoint.py: round trips, atomic writes, original-format and hostile pickles."""

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import safetensors.torch
import torch
import transformers

from module import checkpoint as ck
from module.checkpoint import CheckpointError, load_checkpoint, save_checkpoint


def _tensors() -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    return {
        "encoder.block.0.layer.0.adapter.adapter_A": torch.randn(8, 4, generator=g),
        "encoder.block.0.layer.0.adapter.adapter_B": torch.randn(4, 8, generator=g).bfloat16(),
        "step_ids": torch.randint(-(2**40), 2**40, (5,), generator=g, dtype=torch.int64),
        "scalar": torch.tensor(3.5, dtype=torch.float64),
    }


def _assert_same(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> None:
    assert a.keys() == b.keys()
    for k, x in a.items():
        y = b[k]
        assert x.dtype == y.dtype and x.shape == y.shape, k
        assert torch.equal(x.reshape(-1).view(torch.uint8), y.reshape(-1).view(torch.uint8)), k  # bitwise


def _trained(opt_cls: type) -> tuple[torch.nn.Linear, torch.optim.Optimizer, torch.optim.lr_scheduler.LRScheduler]:
    torch.manual_seed(0)
    model = torch.nn.Linear(4, 3)
    opt = opt_cls(model.parameters(), lr=1e-2)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 1.0 / (s + 1))
    model(torch.randn(2, 4)).pow(2).sum().backward()
    opt.step()
    sched.step()
    return model, opt, sched


@pytest.mark.parametrize("suffix", [".pt", ".safetensors"])
@pytest.mark.parametrize("opt_cls", [torch.optim.AdamW, torch.optim.Adafactor])
def test_round_trip_bit_exact_with_meta_and_training_state(tmp_path, suffix, opt_cls):
    _, opt, sched = _trained(opt_cls)
    tensors = _tensors()
    meta = {"args": argparse.Namespace(lr=1e-4, seed=20, out=Path("runs/x"), betas=(0.9, 0.98)), "step": 7}
    path = save_checkpoint(tmp_path / f"checkpoint@7{suffix}", tensors, "adapter", meta,
                           optimizer=opt.state_dict(), scheduler=sched.state_dict())
    assert path == tmp_path / f"checkpoint@7{suffix}" and path.is_file()
    got = load_checkpoint(path)
    _assert_same(tensors, got.tensors)
    assert got.kind == "adapter" and got.source == "project"
    assert got.meta == {"args": {"lr": 1e-4, "seed": 20, "out": "runs/x", "betas": [0.9, 0.98]}, "step": 7}
    _, fresh_opt, fresh_sched = _trained(opt_cls)  # same seed: same param shapes
    fresh_opt.load_state_dict(got.optimizer)
    fresh_sched.load_state_dict(got.scheduler)
    for p, q in zip(opt.state_dict()["state"].values(), fresh_opt.state_dict()["state"].values(), strict=True):
        assert p.keys() == q.keys() and all(torch.equal(torch.as_tensor(p[k]), torch.as_tensor(q[k])) for k in p)
    assert fresh_sched.last_epoch == sched.last_epoch == 1
    assert sorted(os.listdir(tmp_path)) == sorted(
        [path.name] + (["checkpoint@7.state.pt"] if suffix == ".safetensors" else []))


def test_saved_tensors_do_not_alias_live_params_and_are_contiguous(tmp_path):
    live = torch.nn.Parameter(torch.arange(12.0).reshape(3, 4))
    path = save_checkpoint(tmp_path / "c.pt", {"w": live, "wt": live.t()}, "model")
    with torch.no_grad():
        live.add_(100)
    got = load_checkpoint(path).tensors
    assert torch.equal(got["w"], torch.arange(12.0).reshape(3, 4)) and got["wt"].is_contiguous()
    assert not isinstance(got["w"], torch.nn.Parameter) and not got["w"].requires_grad


def test_project_pt_is_weights_only_loadable(tmp_path):
    _, opt, _ = _trained(torch.optim.AdamW)
    path = save_checkpoint(tmp_path / "c.pt", _tensors(), "model", {"x": 1}, optimizer=opt.state_dict())
    raw = torch.load(path, weights_only=True)
    assert raw["format"] == ck.FORMAT and raw["kind"] == "model" and json.loads(raw["meta_json"]) == {"x": 1}


def test_safetensors_without_state_removes_stale_sibling(tmp_path):
    _, opt, _ = _trained(torch.optim.AdamW)
    path = tmp_path / "c.safetensors"
    save_checkpoint(path, _tensors(), "adapter", optimizer=opt.state_dict())
    assert (tmp_path / "c.state.pt").exists()
    save_checkpoint(path, _tensors(), "adapter")
    assert not (tmp_path / "c.state.pt").exists() and load_checkpoint(path).optimizer is None


@pytest.mark.parametrize("suffix,writer", [(".pt", "torch.save"), (".safetensors", "safetensors.torch.save_file")])
def test_failed_write_leaves_no_file_and_keeps_older_checkpoint(tmp_path, monkeypatch, suffix, writer):
    def half_write_then_fail(obj, f, *args, **kwargs):
        Path(f).write_bytes(b"partial")
        raise OSError("disk full")

    mod, name = writer.rsplit(".", 1)
    monkeypatch.setattr(sys.modules[mod], name, half_write_then_fail)
    target = tmp_path / f"checkpoint-best{suffix}"
    with pytest.raises(OSError, match="disk full"):
        save_checkpoint(target, _tensors(), "adapter")
    assert os.listdir(tmp_path) == []

    monkeypatch.undo()
    _, opt, _ = _trained(torch.optim.AdamW)
    save_checkpoint(target, {"w": torch.ones(3)}, "adapter", {"step": 1}, optimizer=opt.state_dict())
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    opt.step()
    monkeypatch.setattr(sys.modules[mod], name, half_write_then_fail)
    with pytest.raises(OSError):
        save_checkpoint(target, _tensors(), "adapter", {"step": 2}, optimizer=opt.state_dict())
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before  # weights and .state.pt untouched
    monkeypatch.undo()
    assert load_checkpoint(target).meta == {"step": 1}


def test_bad_arguments_write_nothing(tmp_path):
    with pytest.raises(ValueError, match="kind"):
        save_checkpoint(tmp_path / "a.pt", _tensors(), "weights")
    with pytest.raises(TypeError, match="optimizer"):
        save_checkpoint(tmp_path / "a.pt", _tensors(), "model", optimizer={"fn": object()})
    assert os.listdir(tmp_path) == []


def _t5_config() -> transformers.T5Config:
    return transformers.T5Config(d_model=8, num_layers=1, num_heads=1, d_kv=8, d_ff=16, vocab_size=32)


@pytest.mark.parametrize("key", ["adapter", "model"])
def test_original_format_pickle(tmp_path, key):
    tensors = {k: v for k, v in _tensors().items() if v.dtype != torch.bfloat16}
    _, opt, _ = _trained(torch.optim.AdamW)
    path = tmp_path / "checkpoint-best.pt"
    torch.save({key: tensors, "config": _t5_config(), "args": argparse.Namespace(lr=1e-4, seed=20, path=Path("x")),
                "optimizer": opt.state_dict(), "scheduler": None, "epoch": 3, "num_updates": 100}, path)
    with pytest.raises(Exception):  # noqa: B017 - proves the fallback is really exercised
        torch.load(path, weights_only=True)
    got = load_checkpoint(path)
    _assert_same(tensors, got.tensors)
    assert (got.kind, got.source) == (key, "original")
    assert got.meta["num_updates"] == 100 and got.meta["epoch"] == 3
    assert got.meta["args"] == {"lr": 1e-4, "seed": 20}  # the pathlib.Path field is not plain: dropped
    assert got.meta["config"]["d_model"] == 8 and got.meta["config"]["num_layers"] == 1
    assert torch.equal(got.optimizer["state"][0]["exp_avg"], opt.state_dict()["state"][0]["exp_avg"])


class _Payload:
    """Unpickling this runs a callable of the attacker's choice."""

    def __init__(self, fn, *args):
        self.fn, self.args = fn, args

    def __reduce__(self):
        return self.fn, self.args


def _hostile_files(tmp_path: Path) -> dict[str, tuple[Path, Path]]:
    """One file per payload; each maps to (checkpoint, marker file the payload would create)."""
    out = {}
    for name, payload in {
        "os.system": lambda m: _Payload(os.system, f"touch {m}"),
        "builtins.exec": lambda m: _Payload(exec, f"open({str(m)!r}, 'w').close()"),
        "subprocess.Popen": lambda m: _Payload(subprocess.Popen, ["touch", str(m)]),
    }.items():
        marker = tmp_path / f"pwned-{name}"
        path = tmp_path / f"evil-{name}.pt"
        adapter = {"w": torch.arange(4.0), "zz_payload": payload(marker)}
        torch.save({"adapter": adapter, "args": payload(marker), "epoch": payload(marker)}, path)
        out[name] = (path, marker)
    return out


def test_hostile_pickle_payload_is_not_executed(tmp_path):
    for path, marker in _hostile_files(tmp_path).values():
        got = load_checkpoint(path)
        assert torch.equal(got.tensors["w"], torch.arange(4.0)) and got.kind == "adapter"
        assert got.meta == {"ignored_entries": ["zz_payload"]}  # stand-ins are neither ints nor plain dicts
        assert not marker.exists()
    assert not any(p.name.startswith("pwned") for p in tmp_path.iterdir())


def test_hostile_legacy_format_and_torchscript_are_handled_safely(tmp_path):
    marker = tmp_path / "pwned-legacy"
    obj = {"adapter": {"w": torch.nn.Parameter(torch.ones(2))}, "args": _Payload(os.system, f"touch {marker}")}
    torch.save(obj, tmp_path / "legacy.pt", _use_new_zipfile_serialization=False)  # pre-zip pickle layout
    got = load_checkpoint(tmp_path / "legacy.pt")
    assert torch.equal(got.tensors["w"], torch.ones(2)) and type(got.tensors["w"]) is torch.Tensor
    assert not marker.exists()
    torch.jit.save(torch.jit.script(torch.nn.Linear(2, 2)), tmp_path / "script.pt")
    with pytest.warns(UserWarning, match="TorchScript"), pytest.raises(CheckpointError, match="TorchScript"):
        load_checkpoint(tmp_path / "script.pt")  # torch.load would otherwise dispatch to torch.jit.load


# Ordinary unpickling of a torch .pt file's pickle stream; torch's own rebuild functions are stubbed so
# that the child process need not spend seconds importing torch.  Everything else resolves normally.
_PLAIN_UNPICKLE = """
import pickle, sys, zipfile
class U(pickle.Unpickler):
    def find_class(self, mod, name):
        return (lambda *a, **k: None) if mod.split(".")[0] == "torch" else super().find_class(mod, name)
    def persistent_load(self, pid):
        return None
z = zipfile.ZipFile(sys.argv[1])
U(z.open(next(n for n in z.namelist() if n.endswith("/data.pkl")))).load()
"""


def test_hostile_pickles_are_a_real_threat(tmp_path):
    """Control: plain unpickling of the very same files does run each payload (in a child process)."""
    for path, marker in _hostile_files(tmp_path).values():
        subprocess.run([sys.executable, "-c", _PLAIN_UNPICKLE, str(path)], check=True, cwd=tmp_path, timeout=30)
        for _ in range(200):  # subprocess.Popen's child may finish after the unpickling process exits
            if marker.exists():
                break
            time.sleep(0.01)
        assert marker.exists(), marker.name


def test_safe_unpickler_stand_ins_are_inert():
    stand_in = ck.SafeUnpickler.find_class(None, "os", "system")
    assert issubclass(stand_in, ck.Opaque) and (stand_in.module, stand_in.name) == ("os", "system")
    obj = stand_in("rm -rf /")
    assert isinstance(obj, ck.Opaque) and obj.args == ("rm -rf /",)
    assert ck.SafeUnpickler.find_class(None, "torch._utils", "_rebuild_tensor_v2") is torch._utils._rebuild_tensor_v2


def test_bare_state_dict_and_foreign_safetensors(tmp_path):
    sd = torch.nn.Linear(3, 2).state_dict()
    torch.save(sd, tmp_path / "sd.bin")
    got = load_checkpoint(tmp_path / "sd.bin")
    _assert_same(dict(sd), got.tensors)
    assert (got.kind, got.source) == ("state_dict", "state_dict")
    safetensors.torch.save_file(dict(sd), tmp_path / "sd.safetensors", metadata={"format": "pt"})
    got = load_checkpoint(tmp_path / "sd.safetensors")
    _assert_same(dict(sd), got.tensors)
    assert got.kind == "state_dict" and got.meta == {"metadata": {"format": "pt"}}
    assert ck.checkpoint_tensors(tmp_path / "sd.bin").keys() == sd.keys()


@pytest.mark.parametrize("weights_file", ["model.safetensors", "pytorch_model.bin"])
def test_hf_directory(tmp_path, weights_file):
    sd = {"shared.weight": torch.randn(32, 8), "encoder.final_layer_norm.weight": torch.ones(8)}
    _t5_config().save_pretrained(tmp_path)  # writes config.json
    if weights_file == "model.safetensors":
        safetensors.torch.save_file(sd, tmp_path / weights_file, metadata={"format": "pt"})
    else:
        torch.save(sd, tmp_path / weights_file)
    got = load_checkpoint(tmp_path)
    assert (got.kind, got.source) == ("model", "hf") and got.meta["config"]["d_model"] == 8
    _assert_same(sd, got.tensors)


def test_missing_and_garbage_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.pt"):
        load_checkpoint(tmp_path / "nope.pt")
    junk = {"junk.pt": b"\x00not a checkpoint" * 10, "junk.safetensors": b"garbage!" * 4, "empty.pt": b""}
    for name, data in junk.items():
        (tmp_path / name).write_bytes(data)
        with pytest.raises(CheckpointError) as e:
            load_checkpoint(tmp_path / name)
        msg = str(e.value)
        assert str(tmp_path / name) in msg and "expected a safetensors file" in msg and "\n" not in msg
        assert isinstance(e.value, ValueError)
    torch.save({"foo": [1, 2]}, tmp_path / "nodata.pt")
    with pytest.raises(CheckpointError, match="nodata.pt"):
        load_checkpoint(tmp_path / "nodata.pt")
    (tmp_path / "emptydir").mkdir()
    with pytest.raises(CheckpointError, match="emptydir"):
        load_checkpoint(tmp_path / "emptydir")
