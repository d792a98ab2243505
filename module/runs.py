"""The settings a folder's results were made with: results (points, checkpoints) are reused only under equal ones.

Every resumable job (sweeps of both tracks, T5 tuning runs, `run_glue.py`) writes its settings, with content
hashes of the files it reads, into a JSON file in its folder; a later job finding results there made with other
settings stops with one line instead of mixing or reusing them.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from module.files import atomic_write_json

# Raised whenever a change of the code makes the same settings give other numbers, so that points (and runs,
# experiments/quickstart.py) computed before are never reused. 2: the original's decoding cleanup and first-point rule,
# weight decay in full tuning, OpenDelta's encoder adapter (issue 12).
RESULTS_VERSION = 2
RUN_SETTINGS = "run_settings.json"  # a training run's settings, in its folder


def file_sha256(path: Path) -> str:
    """The SHA-256 of a file's contents."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def fingerprint(*paths: str | Path) -> list[dict]:
    """Content hash and size of each file (or of every file in a folder, by relative name).

    Part of a job's settings, so that results computed from other endpoints or data, even at the same paths,
    are never reused.
    """
    result = []
    for path in map(Path, paths):
        files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
        result.append({"path": str(path), "files": [[str(f.relative_to(path)) if path.is_dir() else f.name,
                                                     f.stat().st_size, file_sha256(f)]
                                                    for f in files if f.exists()]})
    return result


class SettingsMismatch(ValueError):
    """The folder already holds results made with other settings."""


def changed_keys(old: dict, new: dict) -> list[str]:
    """The keys whose values differ between two settings dicts, sorted; inside a dict on both sides, its keys
    (``args.learning_rate``)."""
    changed = []
    for key in sorted(set(old) | set(new)):
        a, b = old.get(key), new.get(key)
        if isinstance(a, dict) and isinstance(b, dict):
            changed += [f"{key}.{inner}" for inner in changed_keys(a, b)]
        elif a != b:
            changed.append(key)
    return changed


def read_settings(path: Path) -> dict | None:
    """The settings stored at `path`, or None when there is no (readable) settings file."""
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def claim_settings(path: str | Path, settings: dict, has_results: bool, what: str, fix: str) -> dict:
    """Write `settings` (with RESULTS_VERSION) to `path`; SettingsMismatch when the folder already `has_results`
    made with other settings, or with settings nobody recorded. `what` names the results, `fix` the way out."""
    path = Path(path)
    settings = {**settings, "results_version": RESULTS_VERSION}
    if has_results:
        old = read_settings(path)
        if old is None:
            raise SettingsMismatch(f"{path.parent}: holds {what} whose settings are unknown (no {path.name}); {fix}")
        if changed := changed_keys(old, settings):
            raise SettingsMismatch(f"{path.parent}: holds {what} made with other settings "
                                   f"({', '.join(changed[:3])} differ); {fix}")
    atomic_write_json(path, settings)
    return settings
