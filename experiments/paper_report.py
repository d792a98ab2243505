"""The report of `reproduce_paper.py`. Part 1 has one section per finding of the paper: the paper's words (from the
table in experiments/paper_claims.py, citing the poster's section), the paper's setting next to this run's, the
measured numbers, the figure and a verdict by a rule stated next to it. Part 2 holds this project's own questions,
which the paper does not ask, under a heading that says so."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from experiments.paper_claims import CLAIMS, CRITERION, OWN_QUESTIONS, POSTER
from experiments.paper_rules import VERDICTS
from module.files import atomic_write_text

OWN_TITLES = {"own_distance": "Distance and barrier"}


@dataclass
class Table:
    """A table of the report: an optional caption, a header and rows."""

    caption: str
    header: list[str]
    rows: list[list]


@dataclass
class Finding:
    """One section of REPORT.md: a finding of the paper (its key in CLAIMS) or one of this project's own questions (a
    key of OWN_QUESTIONS)."""

    key: str
    setting: dict[str, str]  # this run's setting, under the keys of the claim's
    tables: list[Table] = field(default_factory=list)
    figures: list[Path] = field(default_factory=list)
    verdict: str = "inconclusive at this scale"
    rule: str = ""  # the rule the verdict follows from
    measured: str = ""  # the numbers the rule compared, and what was not judged and why
    notes: list[str] = field(default_factory=list)  # further paragraphs (e.g. a reading of the poster's figure)

    def __post_init__(self):
        if self.key not in CLAIMS and self.key not in OWN_QUESTIONS:
            raise ValueError(f"finding {self.key!r} is neither a claim of the paper nor one of the project's own")
        if self.verdict not in VERDICTS:
            raise ValueError(f"finding {self.key}: verdict must be one of {VERDICTS}, got {self.verdict!r}")

    @property
    def title(self) -> str:
        return CLAIMS[self.key].title if self.key in CLAIMS else OWN_TITLES.get(self.key, self.key)


def cell(value) -> str:
    """A table cell: floats with 3 decimals, the rest as text."""
    return f"{value:.3f}" if isinstance(value, float) else str(value).replace("|", "/")


def table_lines(table: Table) -> list[str]:
    """A markdown table (with its caption above it)."""
    lines = [table.caption, ""] if table.caption else []
    lines += ["| " + " | ".join(table.header) + " |", "|" + "---|" * len(table.header)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in table.rows]
    return lines + [""]


def claim_lines(finding: Finding) -> list[str]:
    """The paper's words with their source, and the paper's setting next to this run's."""
    claim = CLAIMS[finding.key]
    lines = [f"**The paper** (poster, {claim.section}): \"{claim.quote}\"", ""]
    if claim.reading:
        lines += [f"*Read off the poster's figure (not stated in its text):* {claim.reading}.", ""]
    keys = list(dict.fromkeys([*claim.setting, *finding.setting]))
    rows = [[k, claim.setting.get(k, ""), finding.setting.get(k, "")] for k in keys]
    return lines + table_lines(Table("", ["", "the paper", "this run"], rows))


def section(finding: Finding, level: str, report_dir: Path) -> list[str]:
    """One finding's section."""
    lines = [f"{level} {finding.title}", ""]
    if finding.key in CLAIMS:
        lines += claim_lines(finding)
    else:
        lines += [f"**The question (this project's own, not the paper's).** {OWN_QUESTIONS[finding.key]}", ""]
        lines += table_lines(Table("", ["", "this run"], [[k, v] for k, v in finding.setting.items()
                                                          if k != "question"]))
    for table in finding.tables:
        lines += table_lines(table)
    for figure in finding.figures:
        lines += [f"![{finding.title}]({os.path.relpath(figure, report_dir)})", ""]
    for note in finding.notes:
        lines += [note, ""]
    lines += [f"**Verdict: {finding.verdict}.** {finding.rule} {finding.measured}".rstrip(), ""]
    return lines


def render(findings: list[Finding], report_dir: Path, preamble: list[str]) -> str:
    """REPORT.md's text: the preamble, a verdict table, part 1 (the paper's findings), part 2 (own questions)."""
    paper = [f for f in findings if f.key in CLAIMS]
    own = [f for f in findings if f.key in OWN_QUESTIONS]
    lines = ["# The paper's findings, tested at this scale", "", *preamble, "",
             f"Every quotation of the paper is from {POSTER}, by section.", "",
             f"The paper's criterion: {CRITERION}; every threshold below is this project's own rule, stated with its "
             "verdict.", "", "| the paper's finding | where the poster says it | verdict |", "|---|---|---|"]
    lines += [f"| {f.title} | {CLAIMS[f.key].section} | {f.verdict} |" for f in paper]
    lines += ["", "## Part 1: the paper's findings", ""]
    for finding in paper:
        lines += section(finding, "###", report_dir)
    if own:
        lines += ["## Part 2: this project's own questions (not in the paper)", "",
                  "Nothing here is attributed to the paper; the verdicts say whether this project's expectation held.",
                  ""]
        for finding in own:
            lines += section(finding, "###", report_dir)
    return "\n".join(lines).rstrip() + "\n"


def write_report(path: Path, findings: list[Finding], preamble: list[str]) -> Path:
    """Write REPORT.md atomically."""
    return atomic_write_text(path, render(findings, path.parent, preamble))
