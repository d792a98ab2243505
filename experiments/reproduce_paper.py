"""The paper's findings tested at this scale, with a report (`<out>/REPORT.md`).

Each finding of the paper (experiments/paper_claims.py, quoting the authors' poster) is tested by the experiment
its design calls for (experiments/paper_plan.py), run through the jobs a user runs (experiments/paper_execution.py),
and judged by a rule of this project's that accounts for noise and for endpoints that have not converged
(experiments/paper_rules.py, experiments/paper_findings.py). Profiles: `small` (default: all-MiniLM-L6-v2 and a small
RoBERTa pre-trained here, on the offline tasks, two CPU cores), `quick` (a smoke test) and `paper` (the paper's sizes
on GPUs, with the backbones and task folders a user supplies). Finished runs and points are reused under the same
settings; a run stopped with Ctrl-C continues when started again.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import sys
import time
from pathlib import Path

from experiments.encoder_jobs import forget_stale_runs
from experiments.paper_execution import Execution
from experiments.paper_findings import FINDINGS
from experiments.paper_plan import PROFILES, Profile, Recipe, plan, runs_of
from experiments.paper_report import write_report
from experiments.paper_rules import CONVERGENCE_RULE, LEARNED, RESAMPLES, TAU
from module.cli import OneLineParser, positive_int, run_cli
from module.files import atomic_write_json, folder_lock
from RoBERTa_model.mlm import MLMPretrainOptions
from RoBERTa_model.step_checkpoints import step_checkpoints

ROOT = Path(__file__).resolve().parents[1]
OUT_FOLDERS = {"small": "paper", "quick": "paper-quick", "paper": "paper-full"}  # under runs/


def scaled(recipes: dict[str, Recipe], steps: int) -> dict[str, Recipe]:
    """Every recipe with `steps` updates."""
    return {m: dataclasses.replace(r, steps=steps) for m, r in recipes.items()}


def resolve_profile(args) -> Profile:
    """The chosen profile with the command line's overrides."""
    profile = PROFILES["quick" if args.quick else args.profile]
    if args.model is not None:
        profile = dataclasses.replace(profile, model=str(args.model.resolve()))
    if args.steps is not None:
        profile = dataclasses.replace(
            profile, recipes=scaled(profile.recipes, args.steps), q2_recipes=scaled(profile.q2_recipes, args.steps),
            cartography_recipes=scaled(profile.cartography_recipes, args.steps),
            curve=dataclasses.replace(profile.curve, steps=args.steps), q2_task_steps={})
    for key in ("train_examples", "eval_examples", "cartography_examples"):
        if getattr(args, key) is not None:
            profile = dataclasses.replace(profile, **{key: getattr(args, key)})
    if args.points is not None:
        profile = dataclasses.replace(profile, points=args.points, early_points=args.points, train_points=args.points)
    return profile


def pretrain(profile: Profile, text: Path, folder: Path) -> None:
    """Q2's step checkpoints: pre-trained here (small and quick profiles), reused under the same text and settings."""
    p = profile.pretraining
    step_checkpoints(MLMPretrainOptions(
        text=str(text), out=str(folder), steps=max(p.steps), save_steps=list(p.steps), hidden_size=p.hidden_size,
        num_layers=p.num_layers, num_heads=p.num_heads, intermediate_size=p.intermediate_size, seq_len=p.seq_len,
        batch_size=p.batch_size, lr=p.lr, warmup_steps=p.warmup_steps, max_lines=p.max_lines, quiet=True))


def preamble(profile: Profile, minutes: float, loads: tuple[tuple[float, ...], tuple[float, ...]],
             quick: bool) -> list[str]:
    """The report's opening: what ran, how long, on how loaded a machine, and the rules every section uses."""
    sizes = (f"Q1: {profile.model_name} on {profile.task}, "
             + "; ".join(f"{m} lr {r.lr:g}, {r.steps} updates" for m, r in profile.recipes.items())
             + f"; paths of {profile.points} points on the first {profile.eval_examples or 'all'} {profile.split} "
               f"examples.")
    return [f"Profile `{profile.name}`{' (a smoke test: its numbers mean nothing)' if quick else ''}. {sizes}",
            "",
            f"Wall time of this run: {minutes:.1f} min (finished runs and points reused) on {os.cpu_count()} CPU "
            f"cores; load average (1, 5, 15 min) {' / '.join(f'{v:.2f}' for v in loads[0])} at the start, "
            f"{' / '.join(f'{v:.2f}' for v in loads[1])} at the end.",
            "",
            f"Rules every section uses (this project's): an endpoint has *learned* its task when its accuracy is at "
            f"least {LEARNED} above the majority class of the evaluated examples; {CONVERGENCE_RULE}. A verdict rests "
            f"only on endpoints that learned and converged; otherwise it is \"inconclusive at this scale\" and names "
            f"them. Intervals are 95% percentile bootstrap intervals over the evaluated examples ({RESAMPLES} "
            f"resamples, seeded), and a drop counts as significant at {TAU} (5 accuracy points)."]


def main(argv: list[str] | None = None) -> int:
    """Entry point."""
    p = OneLineParser(description=__doc__.splitlines()[0])
    p.add_argument("--profile", choices=sorted(PROFILES), default="small",
                   help="sizes and assets: small (default, two CPU cores), quick (smoke test), paper (GPUs)")
    p.add_argument("--quick", action="store_true", help="the same as --profile quick")
    p.add_argument("--out", type=Path, default=None,
                   help="default: runs/paper (runs/paper-quick, runs/paper-full for the paper profile)")
    p.add_argument("--data", type=Path, default=ROOT / "data", help="the task folders")
    p.add_argument("--model", type=Path, default=None, help="Q1 and Q3's backbone folder (default: the profile's)")
    p.add_argument("--checkpoints", type=Path, default=None,
                   help="Q2's folder of ckpt_<STEP>/ backbones (default: the profile's; small and quick pre-train "
                        "them into <out>/pretraining)")
    p.add_argument("--text", type=Path, default=ROOT / "data" / "pretrain_text" / "corpus.txt",
                   help="the pre-training text of Q2's checkpoints (small and quick profiles)")
    for key in ("steps", "train_examples", "eval_examples", "points", "cartography_examples"):
        p.add_argument(f"--{key}", type=positive_int, default=None, help="override the profile's")
    p.add_argument("--force", action="store_true", help="redo every run and sweep point")
    args = p.parse_args(argv)
    profile = resolve_profile(args)
    out = (args.out or ROOT / "runs" / OUT_FOLDERS[profile.name]).resolve()
    data = args.data.resolve()
    checkpoints = str(args.checkpoints.resolve()) if args.checkpoints else None
    if checkpoints:
        profile = dataclasses.replace(profile, q2_checkpoints=checkpoints, pretraining=None)
    ex = Execution(profile, out, data, ROOT, quiet=True)
    experiments = plan(profile, str(ex.q2_folder()))
    runs = runs_of(experiments)
    ex.check_inputs(runs, [path for e in experiments.values() for path in e.paths()], profile.pretraining)
    if profile.pretraining and not args.text.is_file():
        raise FileNotFoundError(f"--text: {args.text} is not a file (python utils/prepare_data.py --text)")
    if args.force and out.exists():
        shutil.rmtree(out)
    start, load = time.time(), os.getloadavg()
    with folder_lock(out):
        forget_stale_runs(out)
        if profile.pretraining:
            pretrain(profile, args.text.resolve(), ex.q2_folder())
        for run in runs:
            ex.tune(run)
        findings = [FINDINGS[key](ex, experiment) for key, experiment in experiments.items()]
        minutes = (time.time() - start) / 60
        report = write_report(out / "REPORT.md", findings, preamble(profile, minutes, (load, os.getloadavg()),
                                                                     profile.name == "quick"))
        atomic_write_json(out / "findings.json", {f.key: f.verdict for f in findings})
    print(f"[paper] wrote {report} in {minutes:.1f} min")
    return 0


def cli() -> int:
    """Console entry point: `main` with one-line errors."""
    return run_cli(main)


if __name__ == "__main__":
    sys.exit(cli())
