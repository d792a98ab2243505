"""A resumable sweep over points of a path: one JSON record per point, all output files rewritten after each."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path

from tqdm.auto import tqdm

from module.analysis import point_record, write_sweep_files
from module.files import atomic_write_json, folder_lock, remove_stale_temporaries
from module.report import BARRIER_NOTE, summary_table
from module.runs import RESULTS_VERSION, SettingsMismatch, claim_settings, fingerprint

__all__ = ["RESULTS_VERSION", "PointStore", "SweepSettingsMismatch", "fingerprint", "read_records", "run_sweep",
           "sweep_settings"]

SETTINGS_FILE = "sweep.json"


def sweep_settings(settings: dict, endpoints: Sequence[str | Path], data_files: Sequence[str | Path]) -> dict:
    """A sweep's settings with the content fingerprints of its endpoints and of every data file it reads:
    the one mechanism every sweep kind uses, so that no point is reused once any of its inputs changed."""
    return {**settings, "endpoints": fingerprint(*endpoints), "data": fingerprint(*data_files)}


class SweepSettingsMismatch(SettingsMismatch):
    """The output folder already holds points of a sweep with other settings."""


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
    interrupted sweep continues where it stopped and never duplicates a row.
    """
    with folder_lock(out_dir):
        remove_stale_temporaries(out_dir)
        store = PointStore(out_dir, settings)
        todo = [x for x in xs if not store.has(x)]
        with tqdm(total=len(xs), initial=len(xs) - len(todo), desc=desc, unit="pt", disable=quiet) as bar:
            for x in todo:
                set_point(x)
                results = evaluate()
                store.save(point_record(x, results))
                bar.set_postfix({"x": x, **{split: f"{r['performance']:.3f}" for split, r in results.items()}})
                done = store.records(xs)
                if len(done) >= 2:  # barriers and changes need two points
                    write_sweep_files(out_dir, done, prefix, metric, itp_on_train, plot=False,
                                      extra_summary=extra_summary)
                bar.update(1)
        records = store.records(xs)
        write_sweep_files(out_dir, records, prefix, metric, itp_on_train, plot=True, extra_summary=extra_summary,
                          path_info=path_info)
    if (Path(out_dir) / "summary.json").is_file():
        summary = json.loads((Path(out_dir) / "summary.json").read_text())
        print(f"\n{summary_table({Path(out_dir).name: summary}, metric)}\n{BARRIER_NOTE}")
    return records
