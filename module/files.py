"""Small file helpers: every write goes to a temporary name in the same folder and is renamed into place."""

from __future__ import annotations

import csv
import io
import json
import logging
import os
import re
import shutil
import sys
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from tqdm.auto import tqdm


@contextmanager
def atomic_target(path: str | Path, suffix: str = "") -> Iterator[Path]:
    """Yield a temporary path beside `path`; when the block succeeds it is renamed to `path`, otherwise removed.

    Readers see the old file or the whole new one, never a part. `suffix` keeps an extension some writers
    need (e.g. ".png" for matplotlib).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}{suffix}")
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def atomic_write_text(path: str | Path, text: str) -> Path:
    """Write `text` to `path` atomically (fsynced before the rename)."""
    with atomic_target(path) as tmp, tmp.open("w", encoding="utf-8", newline="") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    return Path(path)


def atomic_write_json(path: str | Path, data) -> Path:
    """Write `data` as indented JSON, atomically."""
    return atomic_write_text(path, json.dumps(data, indent=2) + "\n")


def read_json(path: str | Path, fix: str = "delete it and run again to rebuild it"):
    """The JSON value in `path`; a file that does not parse is one ValueError naming it, where and how to fix it."""
    path = Path(path)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as exc:
        raise ValueError(f"{path}: not UTF-8 (byte {exc.start}); {fix}") from None
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}:{exc.lineno}: not valid JSON ({exc.msg}, column {exc.colno}); {fix}") from None


def atomic_write_csv(path: str | Path, header: Sequence[str], rows: Iterable[Sequence]) -> Path:
    """Write a whole CSV file atomically."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(header)
    writer.writerows(rows)
    return atomic_write_text(path, buffer.getvalue())


TEMPORARY = re.compile(r"^\..+\.tmp-(\d+)")  # atomic_target's names: .<name>.tmp-<pid>[suffix]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale_temporaries(folder: str | Path) -> list[Path]:
    """Delete the temporary files that interrupted atomic writes left in `folder` (and its sub-folders):
    those whose writing process is gone. Returns what was removed."""
    folder = Path(folder)
    removed = []
    if not folder.is_dir():
        return removed
    for path in folder.rglob(".*.tmp-*"):
        match = TEMPORARY.match(path.name)
        if match and path.is_file() and not _alive(int(match.group(1))):
            path.unlink(missing_ok=True)
            removed.append(path)
    return removed


LOCK_FILE = ".lock"
_HELD: set[Path] = set()  # the folders this process holds the lock of


class FolderBusy(OSError):
    """Another run holds the output folder."""


def _is_peer_process() -> bool:
    """True in a non-main process of a distributed run (torchrun / accelerate set RANK): the main one holds locks."""
    return int(os.environ.get("RANK", "0")) != 0


@contextmanager
def folder_lock(folder: str | Path, beside: bool = False) -> Iterator[None]:
    """Hold an exclusive lock on `folder` for the block: a second run gets one line naming the folder and the
    holder's pid. The processes of one distributed run share the folder: only its main process (RANK 0) locks.
    `beside`: the lock file is `.<name>.lock` next to the folder, which is then neither created nor written (for a
    folder that appears whole, by `atomic_folder`, and must be empty until then)."""
    import fcntl

    folder = Path(folder)
    if _is_peer_process():
        yield
        return
    (folder.parent if beside else folder).mkdir(parents=True, exist_ok=True)
    key = folder.resolve()
    if key in _HELD:  # this process holds it already (a job locks its folder from its first write, its sweep again)
        yield
        return
    path = folder.parent / f".{folder.name}{LOCK_FILE}" if beside else folder / LOCK_FILE
    with path.open("a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "unknown"
            raise FolderBusy(f"{folder}: in use by another run (pid {holder}); wait for it or use another "
                             "output folder") from None
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        _HELD.add(key)
        try:
            yield
        finally:
            _HELD.discard(key)
            handle.seek(0)
            handle.truncate()
            if beside:  # leave nothing beside the folder (whoever opened it meanwhile was refused: LOCK_NB)
                path.unlink(missing_ok=True)
            fcntl.flock(handle, fcntl.LOCK_UN)


def read_csv(path: str | Path) -> list[dict[str, str]]:
    """Rows of a CSV file as dicts; an absent file gives no rows."""
    path = Path(path)
    if not path.exists():
        return []
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def upsert_csv_row(path: str | Path, header: Sequence[str], key: str, row: dict) -> None:
    """Insert `row` into the CSV at `path`, replacing the row with the same `key` value; atomic."""
    rows = [r for r in read_csv(path) if r.get(key) != str(row[key])]
    rows.append({k: row.get(k, "") for k in header})
    atomic_write_csv(path, header, [[r.get(k, "") for k in header] for r in rows])


def setup_logger(name: str, log_file: str | Path | None = None, quiet: bool = False) -> logging.Logger:
    """A logger writing to `log_file` (when given) and, unless quiet, to stderr."""
    logger = logging.getLogger(name)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    for handler in list(logger.handlers):
        logger.removeHandler(handler)
        handler.close()
    fmt = logging.Formatter("%(asctime)s %(levelname)s %(message)s", "%m/%d %H:%M:%S")
    if log_file is not None:
        Path(log_file).parent.mkdir(parents=True, exist_ok=True)
        handler = logging.FileHandler(log_file)
        handler.setFormatter(fmt)
        logger.addHandler(handler)
    if not quiet:
        handler = TqdmHandler()
        handler.setFormatter(fmt)
        logger.addHandler(handler)
    return logger


class TqdmHandler(logging.Handler):
    """Writes log lines to stderr through `tqdm.write`, so that they print above a progress bar, not into it."""

    def emit(self, record: logging.LogRecord) -> None:

        try:
            tqdm.write(self.format(record), file=sys.stderr)
        except Exception:  # noqa: BLE001 - logging must never raise
            self.handleError(record)


@contextmanager
def atomic_folder(final: str | Path, replace: bool = True) -> Iterator[Path]:
    """Yield an empty ``.<name>.tmp-<pid>`` sibling of `final`; when the block ends without error it replaces
    `final` (the old folder is removed only after the new one is in place); on any error or Ctrl-C the temporary
    folder is removed and `final` is left as it was. Temporary siblings of dead processes are removed first.
    `replace=False`: `final` may only be missing or empty, also at the moment of the rename (else FolderBusy)."""

    final = Path(final)
    parent = final.parent
    parent.mkdir(parents=True, exist_ok=True)
    if final.exists() and not final.is_dir():
        raise ValueError(f"{final}: exists and is not a folder")
    for stale in parent.glob(f".{final.name}.tmp-*"):
        suffix = stale.name.rsplit("-", 1)[-1]
        if suffix.isdigit() and int(suffix) != os.getpid() and not _alive(int(suffix)):
            shutil.rmtree(stale, ignore_errors=True)
    tmp = parent / f".{final.name}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    try:
        yield tmp
        old = None
        if not replace:
            try:
                os.rename(tmp, final)  # atomic: fails when something filled `final` meanwhile
            except OSError as exc:
                raise FolderBusy(f"{final}: was written by another run meanwhile; nothing of this run was kept") \
                    from exc
            return
        if final.exists():
            old = parent / f".{final.name}.old-{os.getpid()}"
            shutil.rmtree(old, ignore_errors=True)
            os.rename(final, old)
        try:
            os.rename(tmp, final)
        except BaseException:
            if old is not None and not final.exists():
                os.rename(old, final)
            raise
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
