"""One point's evaluation shared by several processes: each evaluates a share of every split's length-sorted
batches and the combined shares equal one process's evaluation exactly (both tracks); `run_sweep` gives the
last points, those that would leave processes idle, to all processes together."""

from __future__ import annotations

import pytest

from module import sweep
from module.sweep import SharedEvaluation, in_batch_order, share_of
from utils import toy


def _shares(evaluation: SharedEvaluation, size: int) -> dict:
    return evaluation.combine([evaluation.part(rank, size) for rank in range(size)])


def test_share_of_spreads_the_batches_and_in_batch_order_puts_them_back():
    batches = list("abcdefg")
    shares = [share_of(batches, rank, 3) for rank in range(3)]
    assert shares[0] == [(0, "a"), (3, "d"), (6, "g")] and shares[2] == [(2, "c"), (5, "f")]
    assert in_batch_order(list(reversed(shares))) == batches
    assert share_of(batches[:1], 1, 2) == []  # more processes than batches: some evaluate nothing


def test_t5_point_shares_combine_to_what_one_process_gives(tiny_t5_dir, toy_task, tmp_path):
    from T5_model.jobs import path_setup
    from T5_model.options import options_for
    from T5_model.sweeping import sweep_splits

    options = options_for("interpolate", task_dir=str(toy_task), model=str(tiny_t5_dir), output_dir=str(tmp_path),
                          do_valid=True, do_predict=True, metric="ACC", max_output_length=6, predict_batch_size=5,
                          quiet=True)
    splits = sweep_splits(options)
    setup = path_setup(options, "toy", splits, tmp_path, {})
    alone = setup.evaluate()
    assert len(splits["dev"]) > 3 * 5  # more than three batches of 5, so that three shares are uneven
    for size in (2, 3):
        assert _shares(setup.evaluate, size) == alone
    assert (tmp_path / "log.txt").read_text().count(" dev: ACC") == 3  # one line per combined evaluation


def test_encoder_point_shares_combine_to_what_one_process_gives(tmp_path, minilm_dir):
    from module.loading import load_tokenizer
    from RoBERTa_model.encoder import build_classifier, classifier_batches, encode_task, load_task_split
    from RoBERTa_model.sweeps import shared_evaluation

    toy.write_task(tmp_path / "data", "toy-sentiment")
    backbone = toy.build_tiny_encoder(tmp_path / "tiny-bert", minilm_dir)
    tok = load_tokenizer(backbone)
    model = build_classifier(str(backbone), ["negative", "positive"]).eval()
    batches = {split: classifier_batches(encode_task(load_task_split(str(tmp_path / "data"), "toy-sentiment", split),
                                                     tok, ["negative", "positive"], 64), 4, tok.pad_token_id)
               for split in ("dev", "test")}
    evaluation = shared_evaluation(model, batches)
    alone = evaluation()
    assert len(alone["dev"]["scores"]) == 32
    for size in (2, 3, 40):  # 40: more processes than batches
        assert _shares(evaluation, size) == alone


class _Counting:
    """A SharedEvaluation of a fake split of 6 examples whose scores depend on the point, counting its calls."""

    def __init__(self):
        self.x, self.parts = 0.0, []

    def evaluation(self) -> SharedEvaluation:
        def part(rank, size):
            self.parts.append((self.x, rank, size))
            return [(i, (i, 1.0 if i < 6 * self.x else 0.0)) for i in range(rank, 6, size)]

        def combine(parts):
            scores = [score for _, score in in_batch_order(parts)]
            return {"dev": {"performance": sum(scores) / 6, "loss": 1.0 - sum(scores) / 6, "scores": scores}}

        return SharedEvaluation(part, combine)


def test_a_single_process_evaluates_a_shared_evaluation_whole(tmp_path):
    counting = _Counting()
    records = sweep.run_sweep([0.0, 0.5, 1.0], lambda x: setattr(counting, "x", x), counting.evaluation(), tmp_path,
                              "t", "ACC", {"a": 1}, quiet=True)
    assert counting.parts == [(0.0, 0, 1), (0.5, 0, 1), (1.0, 0, 1)]
    assert [r["splits"]["dev"]["performance"] for r in records] == [0.0, 0.5, 1.0]


@pytest.mark.parametrize("rank", [0, 1])
def test_the_points_that_would_leave_processes_idle_are_shared(tmp_path, monkeypatch, rank):
    """Five points on two processes: points 1-4 go to one process each, the fifth to both, each with half the
    batches (the other process's part comes through the gather, faked here)."""
    counting = _Counting()
    sent = []

    def gather(value):
        sent.append(value)
        if isinstance(value, list) and value and isinstance(value[0], tuple) and len(value[0]) == 2 \
                and isinstance(value[0][1], tuple):  # a part: the other process evaluates the other share
            other = [(i, (i, 1.0 if i < 6 * counting.x else 0.0)) for i in range(1 - rank, 6, 2)]
            return [value, other] if rank == 0 else [other, value]
        return [value, value]

    monkeypatch.setattr(sweep, "join", lambda: (rank, 2))
    monkeypatch.setattr(sweep, "gather", gather)
    monkeypatch.setattr(sweep, "together", lambda step, only_main=False: step() if rank == 0 or not only_main else None)
    xs = [0.0, 0.25, 0.5, 0.75, 1.0]
    sweep.run_sweep(xs, lambda x: setattr(counting, "x", x), counting.evaluation(), tmp_path, "t", "ACC", {"a": 1},
                    quiet=True)
    own = [0.0, 0.5] if rank == 0 else [0.25, 0.75]
    assert counting.parts == [(x, 0, 1) for x in own] + [(1.0, rank, 2)]
    saved = sorted(p.name for p in (tmp_path / "points").glob("x_*.json"))
    assert ("x_1.000.json" in saved) == (rank == 0)  # the main process combines and saves the shared point
    if rank == 0:
        record = sweep.read_records(tmp_path, [1.0])[0]
        assert record["splits"]["dev"]["scores"] == [1.0] * 6
