"""The report of `reproduce_paper.py`: one section per finding of the paper (its claim, what was run, the measured
numbers, the figure and a verdict that follows from the numbers by a rule stated next to it)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from module.files import atomic_write_text

VERDICTS = ("reproduced", "not reproduced", "not testable at this scale", "not run yet")


@dataclass
class Finding:
    """One experiment's section of REPORT.md."""

    number: int
    title: str
    claim: str  # the paper's claim, in one sentence
    ran: str  # what was run: commands, sizes, seeds
    header: list[str] = field(default_factory=list)
    rows: list[list] = field(default_factory=list)
    figures: list[Path] = field(default_factory=list)
    verdict: str = "not run yet"
    why: str = ""  # the rule the verdict follows from, with the numbers it compared

    def __post_init__(self):
        if self.verdict not in VERDICTS:
            raise ValueError(f"finding {self.number}: verdict must be one of {VERDICTS}, got {self.verdict!r}")


def cell(value) -> str:
    """A table cell: floats with 3 decimals, the rest as text."""
    return f"{value:.3f}" if isinstance(value, float) else str(value)


def render(findings: list[Finding], report_dir: Path, preamble: str) -> str:
    """REPORT.md's text: the preamble, a verdict table, then one section per finding (figures linked relative to
    `report_dir`)."""
    lines = ["# The paper's findings at small scale", "", preamble, "", "| finding | verdict |", "|---|---|"]
    lines += [f"| {f.number}. {f.title} | {f.verdict} |" for f in findings]
    for f in findings:
        lines += ["", f"## {f.number}. {f.title}", "", f"**The paper's claim.** {f.claim}", "",
                  f"**What was run.** {f.ran}", ""]
        if f.rows:
            lines += ["| " + " | ".join(f.header) + " |", "|" + "---|" * len(f.header)]
            lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in f.rows]
            lines.append("")
        for figure in f.figures:
            lines += [f"![{f.title}]({os.path.relpath(figure, report_dir)})", ""]
        lines += [f"**Verdict: {f.verdict}.** {f.why}"]
    return "\n".join(lines) + "\n"


def write_report(path: Path, findings: list[Finding], preamble: str) -> Path:
    """Write REPORT.md atomically."""
    return atomic_write_text(path, render(findings, path.parent, preamble))
