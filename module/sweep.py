"""A resumable sweep over points of a path: one JSON record per point, all output files rewritten after each."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

from tqdm.auto import tqdm

from module.analysis import point_record, write_sweep_files
from module.distributed import gather, join, together
from module.files import atomic_write_json, folder_lock, read_json, remove_stale_temporaries
from module.report import BARRIER_NOTE, summary_table
from module.runs import RESULTS_VERSION, SettingsMismatch, claim_settings, fingerprint

__all__ = ["RESULTS_VERSION", "Line", "PointStore", "SharedEvaluation", "SweepSettingsMismatch", "fingerprint",
           "in_batch_order", "point_path", "read_records", "run_sweep", "run_sweeps", "share_of", "sweep_settings"]

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
        current = read_json(self.out_dir / SETTINGS_FILE)
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
    found = [read_json(p, "delete it and run the sweep again to recompute that point")
             for p in (Path(out_dir) / "points").glob("x_*.json")]
    if xs is not None:
        wanted = {round(x, 3) for x in xs}
        found = [r for r in found if round(r["x"], 3) in wanted]
    return sorted(found, key=lambda r: r["x"])


@dataclass(frozen=True)
class SharedEvaluation:
    """A point's evaluation that processes can share: `part(rank, size)` evaluates this process's share of every
    split's length-sorted batches (`share_of`) into picklable per-batch records, and `combine(parts)` (the parts of
    every process, in rank order) gives per split the results `evaluate()` would; calling it evaluates alone."""

    part: Callable[[int, int], object]
    combine: Callable[[list], dict[str, dict]]

    def __call__(self) -> dict[str, dict]:
        return self.combine([self.part(0, 1)])


def split_results(outputs: list[tuple[list[int], list, list]], size: int) -> dict:
    """Accuracy, mean loss and per-example correctness of a split of `size` examples from its batches' outputs
    (per batch: its rows' positions, their correctness 0/1 and their losses), in the form sweeps record."""
    correct, losses = [0.0] * size, [0.0] * size
    for ids, hits, batch_losses in outputs:
        for row, i in enumerate(ids):
            correct[i], losses[i] = hits[row], batch_losses[row]
    return {"performance": sum(correct) / max(size, 1), "loss": sum(losses) / max(size, 1), "scores": correct}


def share_of(batches: Sequence, rank: int, size: int) -> list[tuple[int, object]]:
    """The batches process `rank` of `size` evaluates, with their positions: every size-th one, so that the
    long and the short (length-sorted) batches are spread over the processes."""
    return [(position, batches[position]) for position in range(rank, len(batches), size)]


def in_batch_order(parts: list[list[tuple[int, object]]]) -> list[object]:
    """Every process's per-batch records (`(position, record)` lists) as one list in the batches' order."""
    return [record for _, record in sorted((item for part in parts for item in part), key=lambda item: item[0])]


@dataclass
class Line:
    """One path of a sweep pool: its points, how to move the model to one, its folder and what its files hold."""

    xs: Sequence[float]
    set_point: Callable[[float], None]
    out_dir: Path
    settings: dict
    prefix: str
    itp_on_train: bool = False
    extra_summary: dict | None = None
    path_info: object = None


def run_sweep(xs: Sequence[float], set_point: Callable[[float], None], evaluate: Callable[[], dict[str, dict]],
              out_dir: str | Path, prefix: str, metric: str, settings: dict, itp_on_train: bool = False,
              extra_summary: dict | None = None, quiet: bool = False, desc: str = "sweep",
              path_info=None) -> list[dict]:
    """Evaluate every x not yet done, saving each point and rewriting the result files after it.

    `set_point(x)` moves the model to the point; `evaluate()` returns, per split, a dict with
    `performance`, `loss` and per-example `scores`. Running again skips finished points, so an
    interrupted sweep continues where it stopped and never duplicates a row. Under torchrun / accelerate launch
    the processes share the points as `run_sweeps` says.
    """
    line = Line(xs, set_point, Path(out_dir), settings, prefix, itp_on_train, extra_summary, path_info)
    return run_sweeps([line], evaluate, metric, quiet, desc)[0]


def run_sweeps(lines: Sequence[Line], evaluate: Callable[[], dict[str, dict]], metric: str, quiet: bool = False,
               desc: str = "sweep") -> list[list[dict]]:
    """Sweep several lines of one model as one pool of points; returns each line's records.

    Under torchrun / accelerate launch the i-th unfinished point of the pool goes to process i mod N, so every
    process stays busy whatever the lines' sizes; when `evaluate` is a `SharedEvaluation`, the last points that
    would leave processes idle (fewer than N) are each evaluated by all processes together, each taking a share
    of the batches. Each process saves its own points; the main process gathers every record (so no shared file
    system is needed) and writes each line's result files.
    """
    rank, size = join()
    with ExitStack() as locks:
        stores = []
        for line in lines:
            locks.enter_context(folder_lock(line.out_dir))  # the main process locks; its peers share the folder

            def claim(line: Line = line) -> PointStore:
                remove_stale_temporaries(line.out_dir)
                return PointStore(line.out_dir, line.settings)

            together(claim, only_main=True)  # one process claims the folder, then every process opens it
            stores.append(together(lambda line=line: PointStore(line.out_dir, line.settings)))
        finished = [set().union(*part) for part in zip(*gather([[x for x in line.xs if store.has(x)]
                                                                  for line, store in zip(lines, stores, strict=True)]),
                                                       strict=True)]  # done by any process
        todo = [(k, x) for k, line in enumerate(lines) for x in line.xs if x not in finished[k]]
        alone = len(todo) - len(todo) % size if size > 1 and isinstance(evaluate, SharedEvaluation) else len(todo)
        mine, shared = todo[rank:alone:size], todo[alone:]
        label = desc if size == 1 else f"{desc} [{rank + 1}/{size}]"
        done_before = sum(map(len, finished)) if size == 1 else 0
        with tqdm(total=done_before + len(mine) + len(shared), initial=done_before, desc=label, unit="pt",
                  disable=quiet) as bar:
            for k, x in mine + shared:
                line, store = lines[k], stores[k]
                line.set_point(x)
                if (k, x) in shared:
                    parts = gather(evaluate.part(rank, size))
                    results = evaluate.combine(parts) if rank == 0 else None
                else:
                    results = evaluate()
                if results is not None:
                    store.save(point_record(x, results))
                    bar.set_postfix({"x": x, **{split: f"{r['performance']:.3f}" for split, r in results.items()}})
                    done = store.records(line.xs)
                    if rank == 0 and len(done) >= 2:  # barriers and changes need two points
                        write_sweep_files(line.out_dir, done, line.prefix, metric, line.itp_on_train, plot=False,
                                          extra_summary=line.extra_summary)
                bar.update(1)
        everything = []
        for line, store in zip(lines, stores, strict=True):
            records = _merged(store, line.xs, [r for part in gather(store.records(line.xs) if rank else [])
                                               for r in part])
            if rank == 0:
                write_sweep_files(line.out_dir, records, line.prefix, metric, line.itp_on_train, plot=True,
                                  extra_summary=line.extra_summary, path_info=line.path_info)
            everything.append(records)
        gather(None)  # the others wait for the result files
    for line in lines:
        if rank == 0 and (line.out_dir / "summary.json").is_file():
            summary = read_json(line.out_dir / "summary.json")
            print(f"\n{summary_table({line.out_dir.name: summary}, metric)}\n{BARRIER_NOTE}")
    return everything


def _merged(store: PointStore, xs: Sequence[float], gathered: list[dict]) -> list[dict]:
    """The sweep's records from this process's store and from every process's new points (saved here when this
    process's file system lacked them), sorted by x."""
    for record in gathered:
        if not store.has(record["x"]):
            store.save(record)
    return store.records(xs)
