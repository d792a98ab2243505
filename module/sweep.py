"""A resumable sweep over points of a path: one JSON record per point, all output files rewritten after each."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from pathlib import Path

from tqdm.auto import tqdm

from module.analysis import point_record, write_sweep_files
from module.files import atomic_write_json, folder_lock, remove_stale_temporaries

SETTINGS_FILE = "sweep.json"
# Raised whenever a change of the code makes the same settings give other numbers, so that points (and runs,
# utils/quickstart.py) computed before are never reused. 2: the original's decoding cleanup and first-point rule,
# weight decay in full tuning, OpenDelta's encoder adapter (issue 12).
RESULTS_VERSION = 2


def file_sha256(path: Path) -> str:
    """The SHA-256 of a file's contents."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def fingerprint(*paths: str | Path) -> list[dict]:
    """Content hash and size of each file (or of every file in a folder, by relative name).

    Part of a sweep's settings, so that points computed from other endpoints or data, even at the same paths,
    are never reused.
    """
    result = []
    for path in map(Path, paths):
        files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
        result.append({"path": str(path), "files": [[str(f.relative_to(path)) if path.is_dir() else f.name,
                                                     f.stat().st_size, file_sha256(f)]
                                                    for f in files if f.exists()]})
    return result


def sweep_settings(settings: dict, endpoints: Sequence[str | Path], data_files: Sequence[str | Path]) -> dict:
    """A sweep's settings with the content fingerprints of its endpoints and of every data file it reads:
    the one mechanism every sweep kind uses, so that no point is reused once any of its inputs changed."""
    return {**settings, "endpoints": fingerprint(*endpoints), "data": fingerprint(*data_files)}


class SweepSettingsMismatch(ValueError):
    """The output folder already holds points of a sweep with other settings."""


class PointStore:
    """Finished points of one sweep, kept as `<out_dir>/points/x_<x>.json`, plus the sweep's settings."""

    def __init__(self, out_dir: str | Path, settings: dict):
        settings = {**settings, "results_version": RESULTS_VERSION}
        self.out_dir = Path(out_dir)
        self.folder = self.out_dir / "points"
        settings_path = self.out_dir / SETTINGS_FILE
        if settings_path.exists():
            old = json.loads(settings_path.read_text())
            changed = sorted(k for k in set(old) | set(settings) if old.get(k) != settings.get(k))
            if changed and any(self.folder.glob("x_*.json")):
                raise SweepSettingsMismatch(
                    f"{self.out_dir}: holds points of a sweep with other settings ({', '.join(changed[:3])} differ); "
                    "use another --output_dir or delete that folder")
        self.folder.mkdir(parents=True, exist_ok=True)
        atomic_write_json(settings_path, settings)
        self.settings = settings

    def _path(self, x: float) -> Path:
        return self.folder / f"x_{x:.3f}.json"

    def has(self, x: float) -> bool:
        """True when point x is finished."""
        return self._path(x).is_file()

    def save(self, record: dict) -> None:
        """Store one finished point atomically, after checking that the folder still holds this sweep's settings."""
        current = json.loads((self.out_dir / SETTINGS_FILE).read_text())
        if current != self.settings:
            raise SweepSettingsMismatch(f"{self.out_dir}: its settings were changed by another run during this "
                                        f"sweep; point x={record['x']} not written")
        atomic_write_json(self._path(record["x"]), record)

    def records(self, xs: Sequence[float] | None = None) -> list[dict]:
        """Finished records, sorted by x (only those in `xs` when given)."""
        found = [json.loads(p.read_text()) for p in self.folder.glob("x_*.json")]
        if xs is not None:
            wanted = {round(x, 3) for x in xs}
            found = [r for r in found if round(r["x"], 3) in wanted]
        return sorted(found, key=lambda r: r["x"])


def run_sweep(xs: Sequence[float], set_point: Callable[[float], None], evaluate: Callable[[], dict[str, dict]],
              out_dir: str | Path, prefix: str, metric: str, settings: dict, itp_on_train: bool = False,
              extra_summary: dict | None = None, quiet: bool = False, desc: str = "sweep") -> list[dict]:
    """Evaluate every x not yet done, saving each point and rewriting the result files after it.

    `set_point(x)` moves the model to the point; `evaluate()` returns, per split, a dict with
    `performance`, `loss` and per-example `scores`. Running again skips finished points, so an
    interrupted sweep continues where it stopped and never duplicates a row.
    """
    with folder_lock(out_dir):
        remove_stale_temporaries(out_dir)
        store = PointStore(out_dir, settings)
        todo = [x for x in xs if not store.has(x)]
        with tqdm(total=len(xs), initial=len(xs) - len(todo), desc=desc, unit="pt", disable=quiet) as bar:
            for x in todo:
                set_point(x)
                store.save(point_record(x, evaluate()))
                done = store.records(xs)
                if len(done) >= 2:  # barriers and changes need two points
                    write_sweep_files(out_dir, done, prefix, metric, itp_on_train, plot=False,
                                      extra_summary=extra_summary)
                bar.update(1)
        records = store.records(xs)
        write_sweep_files(out_dir, records, prefix, metric, itp_on_train, plot=True, extra_summary=extra_summary)
    return records
