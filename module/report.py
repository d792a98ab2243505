"""Console tables of finished sweeps: endpoints, worst point and the three barriers, for the metric and the loss."""

from __future__ import annotations

from pathlib import Path

BARRIERS = ("barrier_endpoint_mean", "barrier_linear", "barrier_subsegment")
BARRIER_NOTE = ("barriers: positive = the path is worse than the reference (mean of endpoints / straight line / "
                "any sub-segment); metric drops and loss rises both count as positive")


def summary_table(summaries: dict[str, dict], metric: str = "metric") -> str:
    """One line per sweep and split, from each sweep's summary.json content, labelled by the dict's keys."""
    short = metric if len(metric) <= 8 else metric[:8]
    width = max([len("path")] + [len(label) for label in summaries])
    lines = [f"{'path':<{width}} {'split':<5} {short + ' x=0':>12} {short + ' x=1':>12} {'worst':>13} "
             f"{'barrier ' + short + ' (mean/lin/sub)':>30} {'barrier loss (mean/lin/sub)':>28}"]
    for label, summary in summaries.items():
        for split, block in summary["splits"].items():
            perf, loss = block["performance"], block["loss"]
            b = [perf[k] for k in BARRIERS]
            c = [loss[k] for k in BARRIERS]
            lines.append(f"{label:<{width}} {split:<5} {perf['endpoints'][0]:>12.3f} {perf['endpoints'][1]:>12.3f} "
                         f"{perf['worst']['value']:>6.3f} @{perf['worst']['x']:<5} "
                         f"{b[0]:>11.3f}/{b[1]:.3f}/{b[2]:.3f} {c[0]:>10.3f}/{c[1]:.3f}/{c[2]:.3f}")
    return "\n".join(lines)


def print_endpoints(records: list[dict], out_dir: str | Path) -> None:
    """One line per endpoint, then where the files are (a plane's or a layer-wise sweep's job printed its own)."""
    if (records and "u" in records[0]) or (Path(out_dir) / "layerwise.csv").is_file():
        return
    for record in (records[0], records[-1]):
        parts = [f"{s} accuracy {v['performance']:.4f} loss {v['loss']:.4f}" for s, v in record["splits"].items()]
        print(f"x={record['x']}: " + "; ".join(parts))
    print(f"wrote {out_dir}/result.csv, summary.json and interpolation.png ({len(records)} points)")

