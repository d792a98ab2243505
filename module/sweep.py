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
from module.functional import write_functional
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
    return Path(out_dir) / "points" / line_point_name(x)


class PointStore:
    """Finished points of one sweep, one JSON file each in `<out_dir>/points/` (named by the sweep's geometry:
    `x_<x>.json` on a path), plus the sweep's settings."""

    def __init__(self, out_dir: str | Path, settings: dict, name: Callable[[object], str] = None):
        self.out_dir = Path(out_dir)
        self.folder = self.out_dir / "points"
        self.name = name or line_point_name
        try:
            self.settings = claim_settings(self.out_dir / SETTINGS_FILE, settings, any(self.folder.glob("*.json")),
                                           "points of a sweep", "use another --output_dir or delete that folder")
        except SettingsMismatch as e:
            raise SweepSettingsMismatch(str(e)) from None
        self.folder.mkdir(parents=True, exist_ok=True)

    def _path(self, point) -> Path:
        return self.folder / self.name(point)

    def has(self, point) -> bool:
        """True when `point` (a coordinate of the sweep's geometry) is finished."""
        return self._path(point).is_file()

    def save(self, record: dict, point=None) -> None:
        """Store one finished point atomically (a path's record names its x), after checking that the folder still
        holds this sweep's settings."""
        point = record["x"] if point is None else point
        current = read_json(self.out_dir / SETTINGS_FILE)
        if current != self.settings:
            raise SweepSettingsMismatch(f"{self.out_dir}: its settings were changed by another run during this "
                                        f"sweep; point {self.name(point)} not written")
        atomic_write_json(self._path(point), record)

    def read(self, points: Sequence) -> list[dict]:
        """The finished records of `points`, in their order."""
        return [read_json(self._path(p), "delete it and run the sweep again to recompute that point")
                for p in points if self.has(p)]

    def records(self, xs: Sequence[float] | None = None) -> list[dict]:
        """Finished records of a path, sorted by x (only those in `xs` when given)."""
        return read_records(self.out_dir, xs)


def line_point_name(x: float) -> str:
    """The file of a path's point x."""
    return f"x_{x:.3f}.json"


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


def split_results(outputs: list[tuple], size: int) -> dict:
    """Accuracy, mean loss and per-example correctness of a split of `size` examples from its batches' outputs
    (per batch: its rows' positions, their correctness 0/1 and their losses, and optionally their predicted label
    indices and distributions), in the form sweeps record."""
    correct, losses = [0.0] * size, [0.0] * size
    extra = len(outputs[0]) > 3 if outputs else False
    predictions, probs = ([0] * size, [[]] * size) if extra else (None, None)
    for ids, hits, batch_losses, *more in outputs:
        for row, i in enumerate(ids):
            correct[i], losses[i] = hits[row], batch_losses[row]
            if extra:
                predictions[i], probs[i] = more[0][row], more[1][row]
    out = {"performance": sum(correct) / max(size, 1), "loss": sum(losses) / max(size, 1), "scores": correct}
    return out | ({"predictions": predictions, "probs": probs} if extra else {})


def share_of(batches: Sequence, rank: int, size: int) -> list[tuple[int, object]]:
    """The batches process `rank` of `size` evaluates, with their positions: every size-th one, so that the
    long and the short (length-sorted) batches are spread over the processes."""
    return [(position, batches[position]) for position in range(rank, len(batches), size)]


def in_batch_order(parts: list[list[tuple[int, object]]]) -> list[object]:
    """Every process's per-batch records (`(position, record)` lists) as one list in the batches' order."""
    return [record for _, record in sorted((item for part in parts for item in part), key=lambda item: item[0])]


@dataclass
class Line:
    """One path of a sweep pool: its points, how to move the model to one, its folder and what its files hold.

    A sweep pool runs any geometry with this interface (`points`, `set_point`, `out_dir`, `settings`, `name`,
    `record`, `coordinate`, `write`); a path's coordinate is its x."""

    xs: Sequence[float]
    set_point: Callable[[float], None]
    out_dir: Path
    settings: dict
    prefix: str
    itp_on_train: bool = False
    extra_summary: dict | None = None
    path_info: object = None

    @property
    def points(self) -> Sequence[float]:
        """The coordinates of the sweep's points."""
        return self.xs

    def name(self, x: float) -> str:
        """The point file of x."""
        return line_point_name(x)

    def record(self, x: float, results: dict) -> dict:
        """The stored record of point x."""
        return point_record(x, results)

    def coordinate(self, record: dict) -> float:
        """The coordinate a stored record belongs to."""
        return record["x"]

    def write(self, records: list[dict], metric: str, final: bool) -> None:
        """The path's result files from its finished records (the figure and the printed table when `final`)."""
        if not final and len(records) < 2:  # barriers and changes need two points
            return
        write_sweep_files(self.out_dir, records, self.prefix, metric, self.itp_on_train, plot=final,
                          extra_summary=self.extra_summary, path_info=self.path_info if final else None)
        if final:
            write_functional(self.out_dir, records)

    def report(self, metric: str) -> None:
        """Print the finished path's summary table."""
        if (self.out_dir / "summary.json").is_file():
            summary = read_json(self.out_dir / "summary.json")
            print(f"\n{summary_table({self.out_dir.name: summary}, metric)}\n{BARRIER_NOTE}")


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
                return PointStore(line.out_dir, line.settings, line.name)

            together(claim, only_main=True)  # one process claims the folder, then every process opens it
            stores.append(together(lambda line=line: PointStore(line.out_dir, line.settings, line.name)))
        finished = [set().union(*part) for part in zip(*gather([[x for x in line.points if store.has(x)]
                                                                  for line, store in zip(lines, stores, strict=True)]),
                                                       strict=True)]  # done by any process
        todo = [(k, x) for k, line in enumerate(lines) for x in line.points if x not in finished[k]]
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
                    store.save(line.record(x, results), x)
                    bar.set_postfix({"x": x, **{split: f"{r['performance']:.3f}" for split, r in results.items()}})
                    if rank == 0:
                        line.write(store.read(line.points), metric, final=False)
                bar.update(1)
        everything = []
        for line, store in zip(lines, stores, strict=True):
            records = _merged(store, line, [r for part in gather(store.read(line.points) if rank else [])
                                            for r in part])
            if rank == 0:
                line.write(records, metric, final=True)
            everything.append(records)
        gather(None)  # the others wait for the result files
    for line in lines:
        if rank == 0:
            line.report(metric)
    return everything


def _merged(store: PointStore, line: Line, gathered: list[dict]) -> list[dict]:
    """The sweep's records from this process's store and from every process's new points (saved here when this
    process's file system lacked them), in the order of the sweep's points."""
    for record in gathered:
        point = line.coordinate(record)
        if not store.has(point):
            store.save(record, point)
    return store.read(line.points)
