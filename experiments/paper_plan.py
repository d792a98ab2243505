"""The reproduction report's experiments as data: for every finding of the paper (experiments/paper_claims.py), the
tuning runs and the paths between their checkpoints, sized by a profile: `quick` (a smoke test), `small` (the
default: the offline assets on two CPU cores) and `paper` (the paper's sizes, with backbones a user supplies, for
GPUs). Nothing here runs anything; `experiments/paper_execution.py` does."""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

METHODS = ("finetune", "adapter")
LABELS = {"finetune": "full fine-tuning", "adapter": "adapters"}
SEEDS = (20, 30)  # the paper's first two seeds; the second run of a same-initialisation pair starts from SEEDS[0]


@dataclass(frozen=True)
class Recipe:
    """How one method tunes: learning rate, updates of batch 32 and, on the encoder track, the schedule (by default
    constant after a warm-up of a tenth of the updates, so that a flat stretch of the history means convergence, not
    a learning rate decayed to 0). The T5 track always runs the original's constant Adafactor."""

    lr: float
    steps: int
    schedule: str = "constant_with_warmup"
    warmup: float = 0.1  # warm-up updates as a fraction of `steps`


@dataclass(frozen=True)
class Pretraining:
    """The small RoBERTa the `small` and `quick` profiles pre-train with MLM for Q2 (module RoBERTa_model.mlm): its
    size and the steps whose checkpoints are kept."""

    steps: tuple[int, ...]
    hidden_size: int = 128
    num_layers: int = 2
    num_heads: int = 2
    intermediate_size: int = 512
    seq_len: int = 64
    batch_size: int = 32
    lr: float = 1e-3
    warmup_steps: int = 100
    max_lines: int | None = None


@dataclass(frozen=True)
class Profile:
    """The sizes and assets of one way of running the report."""

    name: str
    track: str  # the model family of Q1 and Q3: "encoder" (run_glue.py, ...) or "t5" (tune_singletask.py, ...)
    model: str  # Q1 and Q3's backbone folder (relative to the repository, or absolute)
    model_name: str  # how the report names it
    task: str  # Q1's task
    pair: tuple[str, str]  # Q1.4 and Q3: the source task (x = 0) and the target task (x = 1), one domain
    recipes: dict[str, Recipe]  # Q1's tuning, per method
    saves: tuple[float, ...]  # the fractions of training at which the Q1 endpoints are compared
    train_examples: int | None  # Q1's training examples (the first N of the train file; None: all)
    split: str  # the split the paths are evaluated on: "dev" or "test"
    eval_examples: int | None  # the first N of that split (None: all)
    points: int  # points on every path, endpoints included ...
    early_points: int  # ... but on Q1's paths between checkpoints before the last save
    train_points: int  # ... and on Q3's paths over training examples
    evaluations: int  # dev evaluations during each run (the history the convergence rule reads)
    cartography_examples: int  # Q3: training examples per task whose dynamics are recorded
    cartography_recipes: dict[str, Recipe]  # Q3's (and, with domain_from_cartography, Q1.4's) tuning
    domain_from_cartography: bool  # Q1.4's endpoints: Q3's runs (True) or runs like Q1's at every save (False)
    curve: Recipe  # Q1.5: the bend's training (one bend, batch `curve_batch`)
    curve_batch: int
    q2_checkpoints: str  # the folder holding ckpt_<STEP>/ backbones ("" = <out>/pretraining, built by `pretraining`)
    q2_model_name: str
    q2_task: str
    q2_pair: tuple[str, str]  # Q2.2's tasks, x = 0 and x = 1
    q2_steps: dict[str, tuple[int, ...]]  # Q2.1's pre-training checkpoints, per method
    q2_boundary_steps: dict[str, tuple[int, ...]]  # Q2.2's, per method
    q2_recipes: dict[str, Recipe]
    q2_task_steps: dict[str, int] = field(default_factory=dict)  # a task's own number of updates (else the recipe's)
    q2_train_examples: int | None = None
    pretraining: Pretraining | None = None  # None: the checkpoints exist (the paper profile: the user's)
    max_output_length: int = 64  # the T5 track's answer tokens (the original's default)
    group_by_length: bool = False  # encoder runs draw batches of similar length (about 1.5x faster on a CPU)


PROFILES: dict[str, Profile] = {p.name: p for p in (
    Profile(name="small", track="encoder", model="pretrained_models/all-MiniLM-L6-v2", model_name="all-MiniLM-L6-v2",
            task="rotten_tomatoes", pair=("rotten_tomatoes", "tweet_polarity"),
            recipes={"finetune": Recipe(5e-5, 300), "adapter": Recipe(1e-3, 300)}, saves=(1 / 3, 2 / 3, 1.0),
            train_examples=None, split="dev", eval_examples=500, points=26, early_points=14, train_points=14,
            evaluations=6, cartography_examples=1000,
            cartography_recipes={"finetune": Recipe(5e-5, 250), "adapter": Recipe(1e-3, 250)},  # 8 epochs
            domain_from_cartography=True, curve=Recipe(1e-3, 300), curve_batch=32,
            q2_checkpoints="", q2_model_name="a small RoBERTa (1.5M parameters) pre-trained here with MLM",
            q2_task="rotten_tomatoes", q2_pair=("snli", "rotten_tomatoes"),
            q2_steps={"finetune": (300, 3000), "adapter": (300, 3000)}, q2_boundary_steps={"finetune": (300, 3000)},
            q2_recipes={"finetune": Recipe(1e-4, 800), "adapter": Recipe(3e-3, 800)}, q2_train_examples=None,
            pretraining=Pretraining(steps=(300, 3000)), group_by_length=True),
    Profile(name="quick", track="encoder", model="pretrained_models/all-MiniLM-L6-v2", model_name="all-MiniLM-L6-v2",
            task="rotten_tomatoes", pair=("rotten_tomatoes", "tweet_polarity"),
            recipes={"finetune": Recipe(5e-5, 12), "adapter": Recipe(1e-3, 12)}, saves=(0.5, 1.0),
            train_examples=2000, split="dev", eval_examples=100, points=6, early_points=4, train_points=6,
            evaluations=4, cartography_examples=64,
            cartography_recipes={"finetune": Recipe(5e-5, 8), "adapter": Recipe(1e-3, 8)},
            domain_from_cartography=True, curve=Recipe(1e-3, 12), curve_batch=32,
            q2_checkpoints="", q2_model_name="a small RoBERTa pre-trained here with MLM",
            q2_task="rotten_tomatoes", q2_pair=("snli", "rotten_tomatoes"),
            q2_steps={"finetune": (4, 8), "adapter": (4, 8)}, q2_boundary_steps={"finetune": (4, 8)},
            q2_recipes={"finetune": Recipe(1e-4, 8), "adapter": Recipe(1e-3, 8)}, q2_train_examples=500,
            pretraining=Pretraining(steps=(4, 8), hidden_size=32, num_layers=1, num_heads=2, intermediate_size=64,
                                    warmup_steps=1, max_lines=2000), group_by_length=True),
    # The paper's sizes (poster figures; the original's scripts and configs for what the poster does not show).
    Profile(name="paper", track="t5", model="pretrained_models/t5-base-lm-adapt",
            model_name="T5 v1.1 base, LM-adapted", task="glue-mnli", pair=("glue-mnli", "anli"),
            recipes={"finetune": Recipe(1e-4, 50000), "adapter": Recipe(5e-5, 50000)}, saves=(0.2, 0.6, 1.0),
            train_examples=None, split="test", eval_examples=None, points=26, early_points=26, train_points=26,
            evaluations=10,
            cartography_examples=10000,  # the paper does not say how many; 8 epochs of them, as the original's script
            cartography_recipes={"finetune": Recipe(1e-4, 2500), "adapter": Recipe(5e-5, 2500)},
            domain_from_cartography=False, curve=Recipe(1e-4, 10000), curve_batch=16,
            q2_checkpoints="RoBERTa_model/checkpoint",
            q2_model_name="RoBERTa-base, the user's pre-training checkpoints",
            q2_task="glue-mnli", q2_pair=("glue-mnli", "glue-sst2"),
            q2_steps={"finetune": (5000, 6250, 7500, 8750), "adapter": (5000, 7500, 10000, 15000)},
            q2_boundary_steps={"finetune": (15000, 30000, 45000, 60000)},
            q2_recipes={"finetune": Recipe(5e-5, 50000, "linear", 0.0), "adapter": Recipe(3e-4, 50000, "linear", 0.0)},
            q2_task_steps={"glue-sst2": 15000}),
)}


@dataclass(frozen=True)
class Run:
    """One tuning run: its folder name under the report's folder, backbone and settings."""

    name: str
    track: str
    model: str
    task: str
    method: str
    seed: int
    lr: float
    steps: int
    saves: tuple[int, ...]  # the updates whose checkpoints are kept (the last is `steps`)
    evaluate_every: int  # a dev evaluation every this many updates (0: none)
    train_examples: int | None = None
    schedule: str = "constant_with_warmup"
    warmup: float = 0.1
    group_by_length: bool = False
    init_seed: int | None = None  # the initialisation's seed when not `seed` (same initialisation, other order)
    datasplit: str | None = None  # "split1" / "split2": one half of the training examples
    cartography: bool = False


@dataclass(frozen=True)
class End:
    """A path's endpoint: a run's checkpoint at one step."""

    run: Run
    step: int


@dataclass(frozen=True)
class PathPlan:
    """One path swept between two checkpoints, evaluated on one task's split."""

    name: str  # folder under the report's folder
    label: str  # the row label in the report
    ends: tuple[End, End]
    task: str  # the task evaluated
    split: str  # "dev", "test" or "train" (the runs' training examples, for Q3)
    points: int
    eval_examples: int | None
    kind: str = "line"  # "line"; "boundary" (heads of different tasks, itp_task_boundary_finetune); "curve"
    curve: Recipe | None = None
    curve_batch: int = 32


@dataclass
class ExperimentPlan:
    """The paths of one finding, in groups (e.g. one per method), and this run's setting next to the paper's."""

    key: str
    groups: dict[str, list[PathPlan]]
    setting: dict[str, str]

    def paths(self) -> list[PathPlan]:
        """Every path of the experiment, group by group."""
        return [p for group in self.groups.values() for p in group]


def run_name(method: str, task: str, seed: int, *, prefix: str = "", init_seed: int | None = None,
             datasplit: str | None = None, cartography: bool = False) -> str:
    """A run's folder name: what distinguishes it, in a fixed order."""
    parts = [prefix, method, task, f"seed{seed}", f"init{init_seed}" if init_seed is not None else "",
             datasplit or "", "cartography" if cartography else ""]
    return "-".join(p for p in parts if p)


def save_steps(steps: int, fractions: tuple[float, ...]) -> tuple[int, ...]:
    """The updates at the given fractions of training (at least 1, distinct, the last being `steps`)."""
    return tuple(sorted({max(1, round(steps * f)) for f in fractions} | {steps}))


def evaluate_every(saves: tuple[int, ...], evaluations: int) -> int:
    """Updates between two dev evaluations: about `evaluations` of them over the run, at every save among them (the
    largest divisor of the saves' common interval that is at most steps / evaluations)."""
    common, target = math.gcd(*saves), max(1, max(saves) // max(1, evaluations))
    return max(d for d in range(1, min(common, target) + 1) if common % d == 0)


def _q1_runs(p: Profile) -> dict[str, Run]:
    """Q1's runs by role: per method seed 20, seed 30, seed 30 from seed 20's initialisation, and the two halves."""
    runs = {}
    for method, recipe in p.recipes.items():
        saves = save_steps(recipe.steps, p.saves)
        common = {"track": p.track, "model": p.model, "task": p.task, "method": method, "lr": recipe.lr,
                  "steps": recipe.steps, "saves": saves, "evaluate_every": evaluate_every(saves, p.evaluations),
                  "train_examples": p.train_examples, "schedule": recipe.schedule, "warmup": recipe.warmup,
                  "group_by_length": p.group_by_length}
        runs[method, "a"] = Run(run_name(method, p.task, SEEDS[0]), seed=SEEDS[0], **common)
        runs[method, "b"] = Run(run_name(method, p.task, SEEDS[1]), seed=SEEDS[1], **common)
        runs[method, "order"] = Run(run_name(method, p.task, SEEDS[1], init_seed=SEEDS[0]), seed=SEEDS[1],
                                    init_seed=SEEDS[0], **common)
        for half in ("split1", "split2"):
            runs[method, half] = Run(run_name(method, p.task, SEEDS[0], datasplit=half), seed=SEEDS[0],
                                     datasplit=half, **{**common, "saves": (recipe.steps,)})
    return runs


def _cartography_run(p: Profile, method: str, task: str) -> Run:
    recipe = p.cartography_recipes[method]
    return Run(run_name(method, task, SEEDS[0], cartography=True), p.track, p.model, task, method, SEEDS[0], recipe.lr,
               recipe.steps, (recipe.steps,), evaluate_every((recipe.steps,), p.evaluations), p.cartography_examples,
               recipe.schedule, recipe.warmup, p.group_by_length, cartography=True)


def _q2_run(p: Profile, method: str, task: str, seed: int, step: int, checkpoints: str) -> Run:
    recipe = p.q2_recipes[method]
    steps = p.q2_task_steps.get(task, recipe.steps)
    return Run(run_name(method, task, seed, prefix=f"ckpt_{step}"), "encoder", f"{checkpoints}/ckpt_{step}", task,
               method, seed, recipe.lr, steps, (steps,), evaluate_every((steps,), p.evaluations), p.q2_train_examples,
               recipe.schedule, recipe.warmup, p.group_by_length)


def _line(p: Profile, name: str, label: str, a: End, b: End, task: str | None = None, split: str | None = None,
          kind: str = "line", points: int | None = None) -> PathPlan:
    split = split or p.split
    points = points or (p.train_points if split == "train" else p.points)
    return PathPlan(name, label, (a, b), task or a.run.task, split, points,
                    None if split == "train" else p.eval_examples, kind)


def plan(profile: Profile, checkpoints: str | None = None) -> dict[str, ExperimentPlan]:
    """Every experiment of the report, by the key of its claim (and "own_distance", this project's own question);
    `checkpoints` is Q2's folder of ckpt_<STEP>/ backbones (default: the profile's)."""
    p = profile
    q2_folder = checkpoints or p.q2_checkpoints
    runs = _q1_runs(p)
    seeds = f"seeds {SEEDS[0]} and {SEEDS[1]}"
    out: dict[str, ExperimentPlan] = {}

    def q1_setting(pairs: str, task: str | None = None, recipes: dict[str, Recipe] | None = None,
                   fractions: tuple[float, ...] | None = None) -> dict[str, str]:
        recipes = recipes or p.recipes
        tuning = "; ".join(f"{LABELS[m]} lr {r.lr:g}, {r.steps} updates" for m, r in recipes.items())
        steps = sorted({s for r in recipes.values() for s in save_steps(r.steps, fractions or p.saves)})
        return {"model": p.model_name, "task": task or p.task, "tuning": f"{tuning}; batch 32",
                "steps": "endpoints at " + ", ".join(map(str, steps)) + " updates", "pairs": pairs,
                "path": f"{p.points} points" + (f" ({p.early_points} between checkpoints before the last save)"
                                                 if p.early_points != p.points else "")
                        + f", {p.split} accuracy" + (f" (first {p.eval_examples} examples)" if p.eval_examples else "")}

    def stepped(key: str, role: str) -> dict[str, list[PathPlan]]:
        groups = {}
        for method in p.recipes:
            first, second = runs[method, "a"], runs[method, role]
            groups[LABELS[method]] = [
                _line(p, f"{key}-{method}-step{s}", f"{LABELS[method]}, step {s}", End(first, s), End(second, s),
                      points=p.points if s == first.steps else p.early_points)
                for s in first.saves]
        return groups

    out["q1_order"] = ExperimentPlan("q1_order", stepped("q1_order", "order"), q1_setting(
        f"seed {SEEDS[0]} against seed {SEEDS[1]} started from seed {SEEDS[0]}'s initialisation (the same adapters "
        f"and head, another data order); fine-tuning and adapters"))
    out["q1_init"] = ExperimentPlan("q1_init", stepped("q1_init", "b"), q1_setting(
        f"{seeds} (another initialisation of the adapters and head, another data order); fine-tuning and adapters"))
    out["q1_overlap"] = ExperimentPlan("q1_overlap", {LABELS[m]: [
        _line(p, f"q1_overlap-{m}", LABELS[m], End(runs[m, "split1"], r.steps), End(runs[m, "split2"], r.steps))]
        for m, r in p.recipes.items()}, q1_setting(
        f"seed {SEEDS[0]} on the first half of the training examples against seed {SEEDS[0]} on the second half"))

    source, target = p.pair
    cartography = {(m, t): _cartography_run(p, m, t) for m in p.cartography_recipes for t in p.pair}
    if p.domain_from_cartography:
        a, b = cartography["finetune", source], cartography["finetune", target]
        ends = [(End(a, a.steps), End(b, b.steps), f"step {a.steps}")]
        domain = (f"full fine-tuning on each task, seed {SEEDS[0]}, on the first {p.cartography_examples} training "
                  f"examples (Q3's runs)")
        domain_recipes, fractions = {"finetune": p.cartography_recipes["finetune"]}, (1.0,)
    else:
        a = runs["finetune", "a"]
        b = replace(a, name=run_name("finetune", target, SEEDS[0]), task=target)
        ends = [(End(a, s), End(b, s), f"step {s}") for s in a.saves]
        domain = f"full fine-tuning on each task, seed {SEEDS[0]}, compared at every save"
        domain_recipes, fractions = {"finetune": p.recipes["finetune"]}, p.saves
    out["q1_domain"] = ExperimentPlan("q1_domain", {f"evaluated on {task}": [
        _line(p, f"q1_domain-{task}-{label.replace(' ', '')}", f"on {task}, {label}", e0, e1, task)
        for e0, e1, label in ends] for task in p.pair}, q1_setting(domain, f"{source} ~ {target}", domain_recipes,
                                                                  fractions))

    curve_ends = (End(runs["adapter", "a"], runs["adapter", "a"].steps),
                  End(runs["adapter", "b"], runs["adapter", "b"].steps))
    line = out["q1_init"].groups[LABELS["adapter"]][-1]
    curve = replace(_line(p, "q1_curve-adapter", "Bezier curve", *curve_ends, kind="curve"), curve=p.curve,
                    curve_batch=p.curve_batch)
    out["q1_curve"] = ExperimentPlan("q1_curve", {"adapters": [replace(line, label="straight line"), curve]},
                                     {**q1_setting(f"adapters, {seeds} (Q1.2's pair at the last save)"),
                                      "curve": f"one bend trained for {p.curve.steps} updates of batch "
                                               f"{p.curve_batch}, lr {p.curve.lr:g}, a random t per update"})

    q2 = {}
    for method, steps in p.q2_steps.items():
        q2[LABELS[method]] = [
            _line(p, f"q2_pretrain-{method}-ckpt_{s}", f"{LABELS[method]}, pre-training step {s}",
                  *(End(run, run.steps) for run in (_q2_run(p, method, p.q2_task, seed, s, q2_folder)
                                                     for seed in SEEDS)))
            for s in steps]
    def q2_tuning(methods) -> str:
        return "; ".join(f"{LABELS[m]} lr {p.q2_recipes[m].lr:g}, {p.q2_recipes[m].steps} updates"
                         for m in methods) + "; batch 32"

    q2_setting = {"model": p.q2_model_name, "path": f"{p.points} points, {p.split} accuracy"}
    out["q2_pretrain"] = ExperimentPlan("q2_pretrain", q2, {
        **q2_setting, "task": p.q2_task, "tuning": q2_tuning(p.q2_steps),
        "steps": "; ".join(f"{LABELS[m]}: pre-training checkpoints " + ", ".join(map(str, s))
                           for m, s in p.q2_steps.items()),
        "pairs": f"{seeds} from each checkpoint"})
    boundary = {}
    for task in p.q2_pair:
        boundary[f"evaluated on {task}"] = [
            _line(p, f"q2_boundary-{method}-ckpt_{s}-on-{task}", f"{LABELS[method]}, pre-training step {s}",
                  *(End(run, run.steps) for run in (_q2_run(p, method, t, SEEDS[0], s, q2_folder) for t in p.q2_pair)),
                  task, kind="boundary")
            for method, steps in p.q2_boundary_steps.items() for s in steps]
    out["q2_boundary"] = ExperimentPlan("q2_boundary", boundary, {
        **q2_setting, "task": " ~ ".join(p.q2_pair),
        "tuning": q2_tuning(p.q2_boundary_steps),
        "steps": "; ".join(f"{LABELS[m]}: pre-training checkpoints " + ", ".join(map(str, s))
                           for m, s in p.q2_boundary_steps.items()),
        "pairs": f"one run per task from each checkpoint (seed {SEEDS[0]}), both tasks evaluated along the line"})

    q3 = {}
    for method in p.cartography_recipes:
        a, b = cartography[method, source], cartography[method, target]
        q3[LABELS[method]] = [_line(p, f"q3-{method}-on-{task}", f"{LABELS[method]}, {task} training examples",
                                    End(a, a.steps), End(b, b.steps), task, "train") for task in p.pair]
    out["q3_knowledge"] = ExperimentPlan("q3_knowledge", q3, {
        "model": p.model_name, "task": f"{source} (source) ~ {target} (target), training examples",
        "tuning": "; ".join(f"{LABELS[m]} lr {r.lr:g}, {r.steps} updates" for m, r in p.cartography_recipes.items())
                  + f"; batch 32, the first {p.cartography_examples} training examples of each task",
        "pairs": f"one run per task (seed {SEEDS[0]}) recording each training example's correctness and gold-label "
                 "probability after every epoch; the source's examples grouped F1..F5 by when the path forgets "
                 "them, the target's M1..M5 by when it learns them",
        "path": f"{p.train_points} points, on those training examples"})
    same_task = [path for key in ("q1_order", "q1_init", "q1_overlap", "q2_pretrain")
                 for path in out[key].paths()]
    out["own_distance"] = ExperimentPlan("own_distance", {"same-task lines": same_task}, {
        "pairs": "every straight line above between two runs of one task (Q1.1-Q1.3 and Q2.1)"})
    return out


def runs_of(experiments: dict[str, ExperimentPlan]) -> list[Run]:
    """Every run the experiments' paths need, each once, in the order first needed."""
    found: dict[str, Run] = {}
    for experiment in experiments.values():
        for path in experiment.paths():
            for end in path.ends:
                if found.setdefault(end.run.name, end.run) != end.run:
                    raise ValueError(f"two runs are both named {end.run.name}")
    return list(found.values())
