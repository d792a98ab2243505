"""One checkpoint format for the project, plus safe loading of the original code's checkpoints.

Project files are ``<stem>.pt`` (a plain dict that ``torch.load(weights_only=True)`` reads) or
``<stem>.safetensors`` (JSON metadata in the header under ``"mc_meta"``, training state in a
sibling ``<stem>.state.pt``).  Original Qin et al. pickles, bare state dicts and HF model
directories are read too; nothing in a loaded file is ever allowed to run code.
"""

from __future__ import annotations

import argparse
import builtins
import codecs
import collections
import contextlib
import errno
import json
import os
import pickle
import tarfile
import types
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Self

import safetensors
import safetensors.torch
import torch

from module.aliases import alias_map
from module.tensors import check_finite

FORMAT = "mode-connectivity/v1"
DELTA_FILE = "delta.safetensors"  # an encoder adapter run's checkpoint folder: its tuned tensors only
KINDS = ("adapter", "model", "state_dict")
EXPECTED = "expected a safetensors file, a torch .pt checkpoint with 'adapter' or 'model' tensors, or a state dict"


class CheckpointError(ValueError):
    """A file exists but is not a checkpoint this module can read."""


class CheckpointWriteError(OSError):
    """A checkpoint could not be written (full disk, ...); nothing of it was left behind."""


@dataclass
class Checkpoint:
    """Tensors plus what is known about them; optimizer/scheduler are state dicts for resuming."""

    tensors: dict[str, torch.Tensor]
    kind: str  # "adapter" | "model" | "state_dict"
    meta: dict  # arguments, step, config...
    optimizer: dict | None = None
    scheduler: dict | None = None
    source: str = "project"  # "project" | "original" | "state_dict" | "hf"
    rng: list | None = None  # random-generator states of each process, for a bit-exact resume


# ----------------------------------------------------------------------------- safe unpickling
class Opaque:
    """Inert stand-in for a global the safe unpickler refused; calling or building it only records data."""

    module = name = "?"

    def __new__(cls, *args: Any, **kwargs: Any) -> Self:
        obj = object.__new__(cls)
        obj.__dict__.update(args=args, kwargs=kwargs, state=None, items=[], entries={})
        return obj

    def __call__(self, *args: Any, **kwargs: Any) -> Opaque:
        return type(self)(*args, **kwargs)

    def __setstate__(self, state: Any) -> None:
        self.__dict__["state"] = state

    def append(self, item: Any) -> None:
        self.items.append(item)

    def extend(self, items: Any) -> None:
        self.items.extend(items)

    def __setitem__(self, key: Any, value: Any) -> None:
        self.entries[key] = value

    def __repr__(self) -> str:
        return f"<Opaque {self.module}.{self.name}>"


def _allowed_globals() -> dict[tuple[str, str], Any]:
    rebuild = ("_rebuild_tensor", "_rebuild_tensor_v2", "_rebuild_parameter", "_rebuild_parameter_with_state")
    allowed = {("torch._utils", n): getattr(torch._utils, n) for n in rebuild if hasattr(torch._utils, n)}
    allowed |= {("torch", "Size"): torch.Size, ("torch", "device"): torch.device, ("_codecs", "encode"): codecs.encode,
                ("collections", "OrderedDict"): collections.OrderedDict,
                ("torch.storage", "UntypedStorage"): torch.UntypedStorage,
                ("torch.storage", "TypedStorage"): torch.TypedStorage}
    for n in ("set", "frozenset", "slice", "complex", "bytearray"):
        allowed[("builtins", n)] = allowed[("__builtin__", n)] = getattr(builtins, n)
    for n in dir(torch):  # dtypes (torch.float32, ...) and legacy storage classes (torch.FloatStorage, ...)
        obj = getattr(torch, n, None)
        if isinstance(obj, torch.dtype) or (n.endswith("Storage") and isinstance(obj, type)):
            allowed[("torch", n)] = obj
    return allowed


_ALLOWED = _allowed_globals()


class SafeUnpickler(pickle.Unpickler):
    """Resolves only torch's tensor-rebuild globals (never importing anything); the rest become Opaque."""

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in _ALLOWED:
            return _ALLOWED[(module, name)]
        return type(f"Opaque[{module}.{name}]", (Opaque,), {"module": module, "name": name})


SafeUnpicklerModule = types.ModuleType("mode_connectivity_safe_pickle")
SafeUnpicklerModule.Unpickler = SafeUnpickler
SafeUnpicklerModule.load = lambda f, **kw: SafeUnpickler(f, **kw).load()


# ----------------------------------------------------------------------------- helpers
def _jsonable(x: Any) -> Any:
    """Turn meta values into JSON types (Namespace -> dict, tuple -> list); unknown objects -> str()."""
    x = vars(x) if isinstance(x, argparse.Namespace) else x
    if isinstance(x, dict):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple, set, frozenset)):
        return [_jsonable(v) for v in x]
    if isinstance(x, torch.Tensor) and x.numel() == 1:
        return x.item()
    return x if x is None or isinstance(x, (bool, int, float, str)) else str(x)


def _plain(x: Any) -> Any:
    """Return x as JSON scalars/lists/dicts (an Opaque's dict state unwrapped); TypeError if impossible."""
    x = vars(x) if isinstance(x, argparse.Namespace) else x
    x = x.state if isinstance(x, Opaque) and not x.args and isinstance(x.state, dict) else x
    if isinstance(x, dict):
        return {str(k): _plain(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_plain(v) for v in x]
    if x is None or isinstance(x, (bool, int, float, str)):
        return x
    raise TypeError(type(x).__name__)


def _plain_fields(x: Any) -> dict:
    """The plain-valued fields of a Namespace/config-like object (others dropped); {} if none."""
    x = vars(x) if isinstance(x, argparse.Namespace) else x
    x = x.state if isinstance(x, Opaque) and not x.args and isinstance(x.state, dict) else x
    out = {}
    for k, v in x.items() if isinstance(x, dict) else ():
        with contextlib.suppress(TypeError):
            out[str(k)] = _plain(v)
    return out


def _check_state(x: Any, where: str) -> None:
    """Raise TypeError unless x holds only tensors and Python scalars/containers (weights_only-safe)."""
    if isinstance(x, dict):
        for k, v in x.items():
            _check_state(k, where)
            _check_state(v, where)
    elif isinstance(x, (list, tuple)):
        for v in x:
            _check_state(v, where)
    elif not (x is None or isinstance(x, (bool, int, float, str, torch.Tensor))):
        raise TypeError(f"{where} holds a {type(x).__name__}; only tensors and Python scalars/containers are saved")


def _is_tensor_dict(x: Any) -> bool:
    return isinstance(x, dict) and all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in x.items())


def _fsync(path: Path, flags: int) -> None:
    fd = os.open(path, flags)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _atomic_write(writes: dict[Path, Callable[[Path], object]]) -> None:
    """Write every file to a temp name beside it and fsync, then os.replace all; failures leave no temp files."""
    tmps = {path: path.with_name(f".{path.name}.tmp-{os.getpid()}") for path in writes}
    try:
        for path, write in writes.items():
            try:
                write(tmps[path])
                _fsync(tmps[path], os.O_RDWR)
            except (OSError, RuntimeError) as exc:  # torch reports a full disk as a RuntimeError
                reason = getattr(exc, "strerror", None) or (str(exc).strip().splitlines() or [type(exc).__name__])[-1]
                error = CheckpointWriteError(f"{path}: cannot write the checkpoint ({reason[:160]}); files "
                                             "already there are unchanged")
                error.errno = getattr(exc, "errno", None) or errno.EIO
                raise error from exc
        for path, tmp in tmps.items():  # weights go last, so a reader never sees new weights with old state
            os.replace(tmp, path)
    except BaseException:
        for tmp in tmps.values():
            tmp.unlink(missing_ok=True)
        raise
    with contextlib.suppress(OSError):  # make the renames durable where the platform allows it
        _fsync(next(iter(writes)).parent, os.O_RDONLY)


def _with_aliases(tensors: dict[str, torch.Tensor], aliases: Any) -> dict[str, torch.Tensor]:
    """The tensors with every tied name written once put back, as the same tensor as its canonical name."""
    if not aliases:
        return tensors
    if not (isinstance(aliases, dict) and all(isinstance(c, str) and c in tensors for c in aliases.values())):
        raise ValueError("its list of tied tensor names refers to tensors it does not hold")
    return tensors | {str(alias): tensors[canonical] for alias, canonical in aliases.items()}


def _state_path(path: Path) -> Path:
    return path.with_name(path.name.removesuffix(".safetensors") + ".state.pt")


# ----------------------------------------------------------------------------- public API
def save_checkpoint(path: str | os.PathLike, tensors: dict[str, torch.Tensor], kind: str, meta: dict | None = None,
                    optimizer: dict | None = None, scheduler: dict | None = None, rng: list | None = None) -> Path:
    """Atomically write a checkpoint: ``.safetensors`` (+ ``.state.pt``) or, for any other suffix, one torch file."""
    path = Path(path)
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    if not _is_tensor_dict(tensors):
        raise TypeError("tensors must be a dict of str -> torch.Tensor")
    _check_state(optimizer, "optimizer state")
    _check_state(scheduler, "scheduler state")
    _check_state(rng, "random-generator state")
    meta = _jsonable(meta or {})
    aliases = alias_map(tensors, architecture=False)  # a tied parameter is written once, under its first name
    cpu = {k: v.detach().cpu().clone(memory_format=torch.contiguous_format) for k, v in tensors.items()
           if k not in aliases}
    if path.suffix != ".safetensors":
        obj = {"format": FORMAT, "kind": kind, "tensors": cpu, "meta_json": json.dumps(meta)}
        obj |= {"aliases": aliases} if aliases else {}
        obj |= {k: v for k, v in (("optimizer", optimizer), ("scheduler", scheduler), ("rng", rng)) if v is not None}
        _atomic_write({path: lambda tmp: torch.save(obj, tmp)})
        return path
    header = {"mc_meta": json.dumps({"format": FORMAT, "kind": kind, "meta": meta}
                                    | ({"aliases": aliases} if aliases else {}))}
    writes = {}
    if has_state := optimizer is not None or scheduler is not None or rng is not None:
        state = {"format": FORMAT, "optimizer": optimizer, "scheduler": scheduler, "rng": rng}
        writes[_state_path(path)] = lambda tmp: torch.save(state, tmp)
    writes[path] = lambda tmp: safetensors.torch.save_file(cpu, str(tmp), metadata=header)
    _atomic_write(writes)
    if not has_state:
        _state_path(path).unlink(missing_ok=True)  # a stale training state must not pair with new weights
    return path


def _load_safetensors(path: Path, device: str) -> Checkpoint:
    with safetensors.safe_open(str(path), framework="pt", device=device) as f:
        header = f.metadata() or {}
        tensors = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118 - safe_open is not iterable
    if "mc_meta" not in header:
        return Checkpoint(tensors, "state_dict", {"metadata": header} if header else {}, source="state_dict")
    info = json.loads(header["mc_meta"])
    ckpt = Checkpoint(_with_aliases(tensors, info.get("aliases")), info["kind"], info.get("meta", {}))
    if _state_path(path).exists():
        state = torch.load(_state_path(path), map_location=device, weights_only=True)
        ckpt.optimizer, ckpt.scheduler, ckpt.rng = state.get("optimizer"), state.get("scheduler"), state.get("rng")
    return ckpt


def _torch_load(path: Path, map_location: Any) -> Any:
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except Exception:  # noqa: BLE001 - not weights_only-clean, e.g. the original's pickled config/args
        if zipfile.is_zipfile(path):  # torch.load would hand a TorchScript archive to torch.jit.load
            with zipfile.ZipFile(path) as z:
                if any(n.rsplit("/", 1)[-1] == "constants.pkl" for n in z.namelist()):
                    raise ValueError("TorchScript archives are not checkpoints") from None
        elif tarfile.is_tarfile(path):
            raise ValueError("the pre-1.6 torch tar format is not supported") from None
        return torch.load(path, map_location=map_location, weights_only=False, pickle_module=SafeUnpicklerModule)


def _from_torch_obj(obj: Any) -> Checkpoint:
    if isinstance(obj, dict) and obj.get("format") == FORMAT and _is_tensor_dict(obj.get("tensors")):
        return Checkpoint(_with_aliases(obj["tensors"], obj.get("aliases")), obj["kind"],
                          json.loads(obj.get("meta_json", "{}")), obj.get("optimizer"), obj.get("scheduler"),
                          rng=obj.get("rng"))
    for kind in ("adapter", "model"):  # the original code: {"adapter" or "model": tensors, "config", "args", ...}
        group = obj.get(kind) if isinstance(obj, dict) else None
        group = group if isinstance(group, dict) else {}
        tensors = {str(k): v for k, v in group.items() if isinstance(v, torch.Tensor)}
        if tensors:
            counters = obj.get("current_state") if isinstance(obj.get("current_state"), dict) else obj
            meta = {k: counters[k] for k in ("epoch", "num_updates") if type(counters.get(k)) is int}
            meta |= {k: v for k in ("args", "config") if (v := _plain_fields(obj.get(k)))}
            if ignored := sorted(str(k) for k in group if str(k) not in tensors):
                meta["ignored_entries"] = ignored
            state = {}
            for k in ("optimizer", "scheduler"):
                with contextlib.suppress(TypeError):
                    _check_state(obj.get(k), k)
                    state[k] = obj.get(k)
            return Checkpoint(tensors, kind, meta, source="original", **state)
    if _is_tensor_dict(obj) and obj:
        return Checkpoint(dict(obj), "state_dict", {}, source="state_dict")
    raise ValueError("no 'adapter' or 'model' tensors and not a state dict")


def _load_hf_dir(path: Path, map_location: Any) -> Checkpoint:
    tensors: dict[str, torch.Tensor] = {}
    if (path / "model.safetensors").exists():
        tensors = _load_safetensors(path / "model.safetensors", str(map_location)).tensors
    elif (path / "model.safetensors.index.json").exists():
        index = json.loads((path / "model.safetensors.index.json").read_text())
        for shard in sorted(set(index["weight_map"].values())):
            tensors |= _load_safetensors(path / shard, str(map_location)).tensors
    elif (path / "pytorch_model.bin").exists():
        tensors = _from_torch_obj(_torch_load(path / "pytorch_model.bin", map_location)).tensors
    elif (path / DELTA_FILE).exists():
        tensors = _load_safetensors(path / DELTA_FILE, str(map_location)).tensors
    else:
        raise CheckpointError(f"{path}: directory has no model.safetensors or pytorch_model.bin; {EXPECTED}")
    config = path / "config.json"
    meta = {"config": json.loads(config.read_text())} if config.exists() else {}
    return Checkpoint(tensors, "model", meta, source="hf")


def load_checkpoint(path: str | os.PathLike, map_location: Any = "cpu") -> Checkpoint:
    """Load a project, original-format, bare state-dict or HF-directory checkpoint without running its code."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"checkpoint not found: {path}")
    try:
        if path.is_dir():
            ckpt = _load_hf_dir(path, map_location)
        elif path.suffix == ".safetensors":
            ckpt = _load_safetensors(path, str(map_location))
        else:
            ckpt = _from_torch_obj(_torch_load(path, map_location))
        ckpt.tensors = {k: v.detach() for k, v in ckpt.tensors.items()}  # plain tensors, never Parameters
        return ckpt
    except CheckpointError:
        raise
    except Exception as e:
        reason = (str(e).strip().splitlines() or [type(e).__name__])[0][:160]
        raise CheckpointError(f"{path}: cannot read checkpoint ({reason}); {EXPECTED}") from e


def load_endpoint(path: str | os.PathLike) -> Checkpoint:
    """`load_checkpoint` for an endpoint of a path or distance: every floating-point tensor must be finite (a NaN
    is named here, with its file and tensor, not found in the first evaluated point)."""
    ckpt = load_checkpoint(path)
    check_finite(ckpt.tensors, str(path))
    return ckpt


def checkpoint_tensors(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """Return just the tensors of any checkpoint ``load_checkpoint`` understands."""
    return load_checkpoint(path).tensors
