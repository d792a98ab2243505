"""A resumable sweep over points of a path: one JSON record per point, all output files rewritten after each."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path

from tqdm.auto import tqdm

from module.analysis import point_record, write_sweep_files
from module.distributed import gather, join, together
from module.files import atomic_write_json, folder_lock, remove_stale_temporaries
from module.report import BARRIER_NOTE, summary_table
from module.runs import RESULTS_VERSION, SettingsMismatch, claim_settings, fingerprint

__all__ = ["RESULTS_VERSION", "PointStore", "SweepSettingsMismatch", "fingerprint", "point_path", "read_records",
           "run_sweep",
           "sweep_settings"]

SETTINGS_FILE = "sweep.json"


def sweep_settings(settings: dict, endpoints: Sequence[str | Path], data_files: Sequence[str | Path]) -> dict:
    """A sweep's settings with the content fingerprints of its endpoints and of every data file it reads:
    the one mechanism every sweep kind uses, so that no point is reused once any of its inputs changed."""
    return {**settings, "endpoints": fingerprint(*endpoints), "data": fingerprint(*data_files)}


class SweepSettingsMismatch(SettingsMismatch):
    """The output folder already holds points of a sweep with other settings."""


def point_path(out_dir: str | Path, x: float) -> Path:
    """Where the finished point x of the sweep in `out_dir` is kept."""
    return Path(out_dir) / "points" / f"x_{x:.3f}.json"


class PointStore:
    """Finished points of one sweep, kept as `<out_dir>/points/x_<x>.json`, plus the sweep's settings."""

    def __init__(self, out_dir: str | Path, settings: dict):
        self.out_dir = Path(out_dir)
        self.folder = self.out_dir / "points"
        try:
            self.settings = claim_settings(self.out_dir / SETTINGS_FILE, settings, any(self.folder.glob("x_*.json")),
                                           "points of a sweep", "use another --output_dir or delete that folder")
        except SettingsMismatch as e:
            raise SweepSettingsMismatch(str(e)) from None
        self.folder.mkdir(parents=True, exist_ok=True)

    def _path(self, x: float) -> Path:
        return point_path(self.out_dir, x)

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
        return read_records(self.out_dir, xs)


def read_records(out_dir: str | Path, xs: Sequence[float] | None = None) -> list[dict]:
    """The finished point records of the sweep in `out_dir` (its `points/`), sorted by x; only those in `xs` when
    given. The one reader of the point store, for sweeps and for whoever reads their results."""
    found = [json.loads(p.read_text()) for p in (Path(out_dir) / "points").glob("x_*.json")]
    if xs is not None:
        wanted = {round(x, 3) for x in xs}
        found = [r for r in found if round(r["x"], 3) in wanted]
    return sorted(found, key=lambda r: r["x"])


def run_sweep(xs: Sequence[float], set_point: Callable[[float], None], evaluate: Callable[[], dict[str, dict]],
              out_dir: str | Path, prefix: str, metric: str, settings: dict, itp_on_train: bool = False,
              extra_summary: dict | None = None, quiet: bool = False, desc: str = "sweep",
              path_info=None) -> list[dict]:
    """Evaluate every x not yet done, saving each point and rewriting the result files after it.

    `set_point(x)` moves the model to the point; `evaluate()` returns, per split, a dict with
    `performance`, `loss` and per-example `scores`. Running again skips finished points, so an
    interrupted sweep continues where it stopped and never duplicates a row. Under torchrun / accelerate launch
    the processes share the points (point i of `xs` to process i mod N, finished ones skipped); each saves its
    own, the main process gathers every record (so no shared file system is needed) and writes the result files.
    """
    rank, size = join()
    with folder_lock(out_dir):  # the main process locks; its peers share the folder
        def claim() -> PointStore:
            remove_stale_temporaries(out_dir)
            return PointStore(out_dir, settings)

        together(claim, only_main=True)  # one process claims the folder, then every process opens it
        store = together(lambda: PointStore(out_dir, settings))
        mine = [x for i, x in enumerate(xs) if i % size == rank and not store.has(x)]
        label = desc if size == 1 else f"{desc} [{rank + 1}/{size}]"
        done_before = sum(store.has(x) for x in xs) if size == 1 else 0
        total = len(xs) if size == 1 else len(mine)
        evaluated = []
        with tqdm(total=total, initial=done_before, desc=label, unit="pt", disable=quiet) as bar:
            for x in mine:
                set_point(x)
                results = evaluate()
                record = point_record(x, results)
                store.save(record)
                evaluated.append(record)
                bar.set_postfix({"x": x, **{split: f"{r['performance']:.3f}" for split, r in results.items()}})
                done = store.records(xs)
                if rank == 0 and len(done) >= 2:  # barriers and changes need two points
                    write_sweep_files(out_dir, done, prefix, metric, itp_on_train, plot=False,
                                      extra_summary=extra_summary)
                bar.update(1)
        records = _merged(store, xs, [r for part in gather(evaluated) for r in part])
        if rank == 0:
            write_sweep_files(out_dir, records, prefix, metric, itp_on_train, plot=True, extra_summary=extra_summary,
                              path_info=path_info)
        gather(None)  # the others wait for the result files
    if rank == 0 and (Path(out_dir) / "summary.json").is_file():
        summary = json.loads((Path(out_dir) / "summary.json").read_text())
        print(f"\n{summary_table({Path(out_dir).name: summary}, metric)}\n{BARRIER_NOTE}")
    return records


def _merged(store: PointStore, xs: Sequence[float], gathered: list[dict]) -> list[dict]:
    """The sweep's records from this process's store and from every process's new points (saved here when this
    process's file system lacked them), sorted by x."""
    for record in gathered:
        if not store.has(record["x"]):
            store.save(record)
    return store.records(xs)
