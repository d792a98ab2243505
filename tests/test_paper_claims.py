"""The report says what the paper says: every claim sentence comes from the table in experiments/paper_claims.py,
which cites the poster's section of each; each of the paper's findings has its section; nothing the paper does not say
(initialisation scale, checkpoints joining their final one, distances) is attributed to it; and the reference summary
of the poster (../shared/reference/paper-findings.md, where present) holds the words each quote rests on."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from experiments.paper_claims import CLAIMS, OWN_QUESTIONS
from experiments.paper_report import Finding, Table, render
from tests.conftest import ROOT

FINDINGS_FILE = ROOT.parent / "shared" / "reference" / "paper-findings.md"
# the paper's findings as the reference summary lists them (Q1 1-5, Q2 1-2, Q3), each with the poster's own heading
SECTIONS = {"q1_order": 'Q1, "1. Effects of Training Data Order"', "q1_init": 'Q1, "2. Effects of Initialization"',
            "q1_overlap": 'Q1, "3. Effects of Data Overlap"', "q1_domain": 'Q1, "4. Effects of Data Domain"',
            "q1_curve": 'Q1, "5. Non-linear Connectivity"', "q2_pretrain": 'Q2, "1."', "q2_boundary": 'Q2, "2."',
            "q3_knowledge": 'Q3, "Experiment Results"'}
NOT_THE_PAPERS = re.compile(r"r_std|initiali[sz]ation scale|scale of the initiali|final checkpoint|distance|"
                            r"memoriz\w* .*barrier|disjoint .* higher barrier", re.IGNORECASE)


def normal(text: str) -> str:
    return re.sub(r"\s+", " ", text.replace("\u2019", "'")).strip().lower()


def test_every_finding_of_the_paper_has_one_claim_citing_its_poster_section():
    assert {k: c.section for k, c in CLAIMS.items()} == SECTIONS


def test_no_claim_attributes_to_the_paper_what_it_does_not_say():
    for claim in CLAIMS.values():
        for text in (claim.quote, claim.reading, *claim.setting.values()):
            assert not NOT_THE_PAPERS.search(text), (claim.key, text)
    assert "distance" in OWN_QUESTIONS["own_distance"] and "states no finding" in OWN_QUESTIONS["own_distance"]


@pytest.mark.skipif(not FINDINGS_FILE.is_file(), reason="the reference summary of the poster is not beside this clone")
def test_each_quote_shares_five_words_in_a_row_with_the_reference_summarys_account_of_the_paper():
    text = FINDINGS_FILE.read_text(encoding="utf-8").split("## Not in the paper")[0]
    summary = normal(re.sub(r"[*\"]", "", text))
    for claim in CLAIMS.values():
        words = normal(claim.quote).rstrip(".").split()
        windows = [" ".join(words[i:i + 5]) for i in range(len(words) - 4)]
        assert any(w in summary for w in windows), claim.key


def report_of(findings: list[Finding]) -> str:
    return render(findings, Path("/tmp"), ["preamble"])


def test_the_report_opens_each_section_with_the_papers_words_and_its_setting_beside_this_runs():
    findings = [Finding(key, {"model": "tiny", "task": "toy"}, [Table("", ["a"], [[1.0]])], [], "reproduced", "Rule.",
                        "Measured.") for key in CLAIMS] + [Finding("own_distance", {"pairs": "lines"})]
    text = report_of(findings)
    part1, part2 = text.split("## Part 2: this project's own questions (not in the paper)")
    said = re.findall(r'\*\*The paper\*\* \(poster, (.+?)\): "(.+?)"\n', part1)
    assert said == [(c.section, c.quote) for c in CLAIMS.values()]
    assert part1.count("| | the paper | this run |".replace("| |", "|  |")) == len(CLAIMS)
    assert "**The paper**" not in part2 and "not the paper's" in part2 and "Distance and barrier" in part2
    assert not NOT_THE_PAPERS.search(part1.split("## Part 1")[1].split("Rule.")[0])


def test_a_finding_outside_the_table_or_with_another_verdict_is_refused():
    with pytest.raises(ValueError, match="neither a claim"):
        Finding("q1_steps", {})
    with pytest.raises(ValueError, match="verdict must be one of"):
        Finding("q1_order", {}, verdict="not testable at this scale")
