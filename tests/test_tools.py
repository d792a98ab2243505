"""utils/calculate_dist.py and utils/process_cartography.py on hand-made inputs with known answers."""

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from module import distance as module_distance
from module.checkpoint import save_checkpoint
from module.cli import run_cli
from utils import calculate_dist as cd
from utils import process_cartography as pc

ROOT = Path(__file__).resolve().parents[1]
A = "encoder.block.0.layer.0.adapter.adapter_A"
B = "encoder.block.0.layer.0.adapter.adapter_B"


def _run(script: str, *args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(ROOT / "utils" / script), *map(str, args)], cwd=ROOT,
                          capture_output=True, text=True, timeout=60)


def _cli(main, capsys, *args) -> tuple[int, str, str]:
    """A script's main() in this process, wrapped like its __main__ (subprocesses cost a torch import each)."""
    code = run_cli(lambda: main([str(a) for a in args]))
    out = capsys.readouterr()
    return code, out.out, out.err


# ----------------------------------------------------------------------------- calculate_dist
def test_distance_known_answer():
    got = cd.distance({"w.adapter_A": torch.tensor([3.0, 0.0])}, {"w.adapter_A": torch.tensor([0.0, 4.0])})
    assert got["l2"] == pytest.approx(5.0)
    assert got["cosine"] == pytest.approx(0.0, abs=1e-15)
    assert got["params"] == 2
    assert got["rms"] == pytest.approx(5 / math.sqrt(2))


def test_distance_spans_tensors_as_one_vector_and_any_dtype():
    a = {A: torch.tensor([[1.0, 2.0]]), B: torch.tensor([2.0], dtype=torch.bfloat16)}
    b = {A: torch.tensor([[2.0, 4.0]], dtype=torch.float16), B: torch.tensor([4.0], dtype=torch.float64)}
    got = cd.distance(a, b)  # b = 2a: cosine 1, |a - b| = |a| = 3
    assert got == pytest.approx({"l2": 3.0, "cosine": 1.0, "params": 3, "rms": math.sqrt(3.0)})


def test_distance_chunked_sums_match_direct(monkeypatch):
    g = torch.Generator().manual_seed(0)
    a = {"x": torch.randn(37, 5, generator=g), "y": torch.randn(11, generator=g)}
    b = {"x": torch.randn(37, 5, generator=g), "y": torch.randn(11, generator=g)}
    monkeypatch.setattr(module_distance, "CHUNK", 7)
    got = cd.distance(a, b)
    u = torch.cat([a["x"].flatten(), a["y"]]).double()
    v = torch.cat([b["x"].flatten(), b["y"]]).double()
    assert got["l2"] == pytest.approx(torch.dist(u, v).item(), rel=1e-12)
    assert got["cosine"] == pytest.approx(torch.nn.functional.cosine_similarity(u, v, dim=0).item(), rel=1e-12)
    assert got["params"] == 196


def test_zero_vector_cosine_is_nan():
    got = cd.distance({"w": torch.zeros(2)}, {"w": torch.tensor([1.0, 0.0])})
    assert math.isnan(got["cosine"]) and got["l2"] == 1.0


def test_key_and_shape_mismatch_errors_name_the_key():
    with pytest.raises(ValueError, match=r"'b\.adapter_B' is in first but missing in second"):
        cd.distance({"a": torch.ones(1), "b.adapter_B": torch.ones(1), "c": torch.ones(1)},
                    {"a": torch.ones(1)}, labels=("first", "second"))
    with pytest.raises(ValueError, match=r"'z' is in second but missing in first"):
        cd.distance({"a": torch.ones(1)}, {"a": torch.ones(1), "z": torch.ones(1)}, labels=("first", "second"))
    with pytest.raises(ValueError, match=r"'a' has shape \[2, 3\] in input1 but \[3, 2\] in input2"):
        cd.distance({"a": torch.ones(2, 3)}, {"a": torch.ones(3, 2)})


def test_select_tensors_by_type():
    tensors = {A: torch.ones(1), "shared.weight": torch.ones(2)}
    assert list(cd.select_tensors(tensors, "adapter")) == [A]
    assert cd.select_tensors(tensors, "model") == tensors
    assert cd.select_tensors(tensors, "finetune") == tensors


@pytest.mark.parametrize(("name", "group"), [
    (A, "encoder.block.0.layer.0.adapter"),
    ("decoder.block.11.layer.2.adapter.adapter_B", "decoder.block.11.layer.2.adapter"),
    ("encoder.block.3.layer.0.SelfAttention.q.weight", "encoder.block.3"),
    ("decoder.block.0.layer.1.EncDecAttention.relative_attention_bias.weight", "decoder.block.0"),
    ("roberta.encoder.layer.5.attention.self.query.weight", "roberta.encoder.layer.5"),
    ("shared.weight", "shared"),
    ("lm_head.weight", "lm_head"),
    ("encoder.final_layer_norm.weight", "encoder.final_layer_norm"),
    ("adapter_A", "adapter_A"),
    ("scale", "scale"),
])
def test_group_name(name, group):
    assert cd.group_name(name) == group


def test_per_group_distance_natural_order():
    a = {"encoder.block.10.layer.0.x.weight": torch.tensor([3.0]), "encoder.block.2.layer.0.x.weight":
         torch.tensor([1.0]), "encoder.block.2.layer.1.y.weight": torch.tensor([0.0]), "shared.weight": torch.ones(2)}
    b = {"encoder.block.10.layer.0.x.weight": torch.tensor([0.0]), "encoder.block.2.layer.0.x.weight":
         torch.tensor([1.0]), "encoder.block.2.layer.1.y.weight": torch.tensor([1.0]), "shared.weight": torch.ones(2)}
    rows = cd.per_group_distance(a, b)
    assert [r["group"] for r in rows] == ["encoder.block.2", "encoder.block.10", "shared"]
    block2, block10, shared = rows
    assert block2["params"] == 2 and block2["l2"] == pytest.approx(1.0)
    assert block2["cosine"] == pytest.approx(1 / math.sqrt(2))  # [1, 0] vs [1, 1]
    assert block10["l2"] == pytest.approx(3.0) and math.isnan(block10["cosine"])
    assert shared == {"group": "shared", "l2": 0.0, "cosine": pytest.approx(1.0), "params": 2, "rms": 0.0}


def test_cli_project_vs_original_pickle_writes_distance_files(tmp_path):
    (tmp_path / "seed20").mkdir()
    first = save_checkpoint(tmp_path / "seed20" / "checkpoint-best.pt",
                            {A: torch.tensor([3.0]), B: torch.tensor([0.0])}, kind="adapter")
    original = tmp_path / "seed30.pt"  # the original code's layout: tensors next to args/config
    torch.save({"adapter": {A: torch.tensor([0.0]), B: torch.tensor([4.0])}, "args": {"seed": 30}}, original)
    out = tmp_path / "result" / "nested"
    proc = _run("calculate_dist.py", "--input1", first, "--input2", original, "--type", "adapter",
                "--path", out, "--per_layer")
    assert proc.returncode == 0, proc.stderr
    assert "=====================L2 distance===================\n5.0\n" in proc.stdout
    assert "encoder.block.0.layer.0.adapter" in proc.stdout
    lines = (out / "distance.txt").read_text().splitlines()
    assert lines[0::2] == ["L2 distance is: ", "num of para is: ", "average L2 distance is: ", "Cos distance is: "]
    assert float(lines[1]) == pytest.approx(5.0) and lines[3] == "2"
    assert float(lines[5]) == pytest.approx(5 / math.sqrt(2)) and float(lines[7]) == pytest.approx(0.0, abs=1e-15)
    named = json.loads((out / "distance.json").read_text())
    assert named["l2_distance"] == float(lines[1]) and named["num_parameters"] == 2
    assert named["cosine_similarity"] == float(lines[7]) and named["rms_distance"] == float(lines[5])
    table = (out / "distance_per_layer.tsv").read_text().splitlines()
    assert table[0] == "group\tparams\tl2\tcosine"
    group, params, l2, cosine = table[1].split("\t")
    assert (group, params, float(l2), float(cosine)) == ("encoder.block.0.layer.0.adapter", "2", 5.0, 0.0)
    assert len(table) == 2


def test_cli_type_model_and_mismatch_error(tmp_path, capsys):
    p1 = save_checkpoint(tmp_path / "a.safetensors", {A: torch.tensor([1.0]), "shared.weight": torch.ones(3)}, "model")
    p2 = save_checkpoint(tmp_path / "b.pt", {A: torch.tensor([1.0])}, "adapter")
    code, _, err = _cli(cd.main, capsys, "--input1", p1, "--input2", p2, "--type", "model")
    assert code == 2
    assert err.splitlines() == [f"error: tensor 'shared.weight' is in {p1} but missing in {p2}"]
    code, out, err = _cli(cd.main, capsys, "--input1", p1, "--input2", p2, "--type", "adapter")  # shared ignored
    assert code == 0, err
    assert "====================num of para====================\n1\n" in out
    assert "per layer" not in out and not list(tmp_path.glob("*.txt"))


def test_cli_missing_or_adapterless_checkpoint_is_one_line(tmp_path, capsys):
    code, _, err = _cli(cd.main, capsys, "--input1", tmp_path / "nope.pt", "--input2", tmp_path / "nope.pt",
                        "--type", "adapter")
    assert code == 2 and err.splitlines() == [f"error: checkpoint not found: {tmp_path / 'nope.pt'}"]
    bare = tmp_path / "bare.pt"
    torch.save({"shared.weight": torch.ones(2)}, bare)
    code, _, err = _cli(cd.main, capsys, "--input1", bare, "--input2", bare, "--type", "adapter")
    assert code == 2 and err.splitlines() == [f"error: {bare}: no adapter tensors (names containing 'adapter_') "
                                              "to compare"]


# ----------------------------------------------------------------------------- process_cartography
CARTOGRAPHY = {
    "0": {"acc": [1.0, 1.0, 1.0], "confidence": [0.9, 0.8, 0.7]},  # corr 1,   conf .8, std sqrt(.02/3), turn 0
    "1": {"acc": [0.0, 1.0, 0.0], "confidence": [0.2, 0.6, 0.4]},  # corr 1/3, conf .4, std sqrt(.08/3), turn 2
    "2": {"acc": [0.0, 0.0, 1.0], "confidence": [0.1, 0.2, 0.6]},  # corr 1/3, conf .3, std sqrt(.14/3), turn 1
    "3": {"acc": [1.0, 0.0, 1.0], "confidence": [0.5, 0.5, 0.5]},  # corr 2/3, conf .5, std 0,           turn 2
}
# file order is not x order; at 0.5 nothing new; at 1.0 example 1 is remembered again and 3, 0, 2 are new
ANALYSIS = {
    "1.0": {"zero_list": [3, 0, 2, 2], "one_list": [1]},
    "0.0": {"zero_list": ["1"], "one_list": [0, 2, 3]},
    "0.5": {"zero_list": [1], "one_list": [0, 2, 3]},
}


def test_example_statistics():
    stats = pc.example_statistics(CARTOGRAPHY)
    assert stats["2"] == pytest.approx({"correctness": 1 / 3, "confidence": 0.3,
                                        "variability": math.sqrt(0.14 / 3), "turn": 2 - 1})
    assert stats["1"]["turn"] == 2 and stats["3"]["variability"] == pytest.approx(0.0, abs=1e-15)


def test_forgetting_statistics_known_answer():
    rows = pc.forgetting_statistics(CARTOGRAPHY, ANALYSIS)
    assert [(r["from"], r["to"], r["newly_forgotten"]) for r in rows] == [
        ("start", "0.0", 1), ("0.0", "0.5", 0), ("0.5", "1.0", 3)]
    assert rows[0] == pytest.approx({"from": "start", "to": "0.0", "newly_forgotten": 1, "correctness": 1 / 3,
                                     "confidence": 0.4, "variability": math.sqrt(0.08 / 3), "turn": 2.0})
    assert all(rows[1][k] is None for k in pc.MEANS)
    variability = (math.sqrt(0.02 / 3) + math.sqrt(0.14 / 3) + 0.0) / 3
    assert rows[2] == pytest.approx({"from": "0.5", "to": "1.0", "newly_forgotten": 3, "correctness": 2 / 3,
                                     "confidence": 1.6 / 3, "variability": variability, "turn": 1.0})


def test_forgotten_again_after_being_remembered_counts_again():
    rows = pc.forgetting_statistics(CARTOGRAPHY, {"0": {"zero_list": [1], "one_list": [0, 2, 3]},
                                                  "0.5": {"zero_list": [], "one_list": [0, 1, 2, 3]},
                                                  "1": {"zero_list": [1], "one_list": [0, 2, 3]}})
    assert [r["newly_forgotten"] for r in rows] == [1, 0, 1]


def test_points_sorted_numerically():
    analysis = {k: {"zero_list": []} for k in ("1.0", "-0.25", "0.04", "-0.5", "0")}
    assert [k for k, _ in pc.analysis_points(analysis)] == ["-0.5", "-0.25", "0", "0.04", "1.0"]
    with pytest.raises(ValueError, match="'mid' is not a finite number"):
        pc.analysis_points({"mid": {"zero_list": []}})


def test_cli_text_json_and_table(tmp_path):
    (tmp_path / "cartography.json").write_text(json.dumps(CARTOGRAPHY))
    (tmp_path / "analysis.json").write_text(json.dumps(ANALYSIS))
    args = ("--cartography_path", tmp_path / "cartography.json", "--analysis_path", tmp_path / "analysis.json")
    proc = _run("process_cartography.py", *args, "--save_path", tmp_path / "out" / "result.txt")
    assert proc.returncode == 0, proc.stderr
    rows = pc.forgetting_statistics(CARTOGRAPHY, ANALYSIS)
    assert (tmp_path / "out" / "result.txt").read_text() == pc.format_original(rows)
    lines = (tmp_path / "out" / "result.txt.tsv").read_text().splitlines()
    assert lines[0].split("\t") == list(pc.FIELDS)
    assert lines[2].split("\t") == ["0.0", "0.5", "0", "", "", "", ""]
    last = lines[3].split("\t")
    assert last[:3] == ["0.5", "1.0", "3"] and float(last[3]) == pytest.approx(2 / 3) and float(last[6]) == 1.0
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["result.txt", "result.txt.tsv"]  # no temp files
    proc = _run("process_cartography.py", *args, "--save_path", tmp_path / "result.json")
    assert proc.returncode == 0, proc.stderr
    data = json.loads((tmp_path / "result.json").read_text())
    assert data == rows and data[1]["correctness"] is None  # JSON keeps floats exactly
    assert (tmp_path / "result.json.tsv").read_text() == pc.format_table(rows)


# the original's utils/process_cartography.py on this fixture (keys 0..11 in file order, points in x order, no
# repeats: inputs it reads the same way) wrote exactly this; 10 examples are newly forgotten at 0.5, where np.mean's
# pairwise sum would give 0.49695257500000006 for the confidence
ORIGINAL_CARTOGRAPHY = {str(i): {"acc": [int((i * 7 + e * 3) % 5 < 2) for e in range(4)],
                                 "confidence": [round(((i * 6 + e * 11) % 97) / 97 + 0.001 * i, 6) for e in range(4)]}
                        for i in range(12)}
ORIGINAL_ANALYSIS = {"0.0": {"zero_list": [3, 7], "one_list": []}, "0.25": {"zero_list": [3], "one_list": []},
                     "0.5": {"zero_list": [3, 7, 0, 1, 2, 4, 5, 6, 8, 9, 10], "one_list": []},
                     "1.0": {"zero_list": [1, 11], "one_list": []}}
ORIGINAL_TEXT = """\
this is from interpolation point start ===> 0.0
total number of newly forgotten examples: 2
average correctness is: 0.375
average confidence is: 0.4843815
average variance is: 0.1267872903922156
average turn is: 2.0

this is from interpolation point 0.0 ===> 0.25
total number of newly forgotten examples: 0
average correctness is: 0.0
average confidence is: 0.0
average variance is: 0.0
average turn is: 0.0

this is from interpolation point 0.25 ===> 0.5
total number of newly forgotten examples: 10
average correctness is: 0.4
average confidence is: 0.496952575
average variance is: 0.12678739101536332
average turn is: 2.5

this is from interpolation point 0.5 ===> 1.0
total number of newly forgotten examples: 1
average correctness is: 0.5
average confidence is: 0.6115152500000001
average variance is: 0.3442720247953463
average turn is: 3.0

"""


def test_save_path_holds_the_originals_text(tmp_path, capsys):
    (tmp_path / "cartography.json").write_text(json.dumps(ORIGINAL_CARTOGRAPHY))
    (tmp_path / "analysis.json").write_text(json.dumps(ORIGINAL_ANALYSIS))
    save = tmp_path / "result.txt"
    code, out, err = _cli(pc.main, capsys, "--cartography_path", tmp_path / "cartography.json", "--analysis_path",
                          tmp_path / "analysis.json", "--save_path", save)
    assert code == 0, err
    assert save.read_text() == ORIGINAL_TEXT
    table = [line.split("\t") for line in (tmp_path / "result.txt.tsv").read_text().splitlines()]
    assert table[3] == ["0.25", "0.5", "10", "0.4", "0.496952575", "0.12678739101536332", "2.5"]
    assert table[2] == ["0.0", "0.25", "0", "", "", "", ""] and f"saved to {save}" in out
    import pandas as pd

    frame = pd.read_csv(tmp_path / "result.txt.tsv", sep="\t")  # numbers, with NaN where no example was forgotten
    assert all(pd.api.types.is_float_dtype(frame[c]) for c in pc.MEANS)
    assert frame["correctness"].isna().tolist() == [False, True, False, False]


def test_cli_errors_are_one_line(tmp_path, capsys):
    cartography, analysis = tmp_path / "cartography.json", tmp_path / "analysis.json"
    cartography.write_text(json.dumps({k: CARTOGRAPHY[k] for k in "012"}))
    analysis.write_text(json.dumps(ANALYSIS))
    args = ("--cartography_path", cartography, "--analysis_path", analysis, "--save_path", tmp_path / "result.txt")
    code, _, err = _cli(pc.main, capsys, *args)
    assert code == 2
    assert err.splitlines() == [f"error: {analysis} covers 4 examples, {cartography} has 3 (index 3 is not in the "
                                "cartography): expected an --itp_on_train sweep of the same training data"]
    assert not (tmp_path / "result.txt").exists() and not (tmp_path / "result.txt.tsv").exists()
    (tmp_path / "taken.tsv").mkdir()
    cartography.write_text(json.dumps(CARTOGRAPHY))
    code, _, err = _cli(pc.main, capsys, *args[:4], "--save_path", tmp_path / "taken")
    assert code == 2 and err.splitlines() == [f"error: --save_path: {tmp_path / 'taken.tsv'} is a folder, expected "
                                              "a file name"]
    assert not (tmp_path / "taken").exists()
    cartography.write_text(json.dumps({k: CARTOGRAPHY[k] for k in "012"}))
    analysis.write_text('{"0.0": {"zero_list": [1,]}')
    code, _, err = _cli(pc.main, capsys, *args)
    assert code == 2 and len(err.splitlines()) == 1
    assert err.startswith(f"error: {analysis}: malformed JSON (") and "line 1 column 26" in err
    code, _, err = _cli(pc.main, capsys, *args[:1], tmp_path / "missing.json", *args[2:])
    assert code == 2 and err.splitlines() == [f"error: cartography file not found: {tmp_path / 'missing.json'}"]
    cartography.write_text(json.dumps({"0": {"acc": [1.0], "confidence": []}}))
    analysis.write_text(json.dumps(ANALYSIS))
    code, _, err = _cli(pc.main, capsys, *args)
    assert code == 2 and err.splitlines() == [f"error: {cartography}: entry '0' 'confidence' must be a non-empty "
                                              "list of finite numbers"]


@pytest.mark.parametrize("case,cartography,analysis,expected", [
    ("nan", '{"0": {"acc": [1, 0], "confidence": [NaN, 0.5]}}', '{"0.0": {"zero_list": [0]}}',
     "must be a non-empty list of finite numbers"),
    ("infinity", '{"0": {"acc": [1, 0], "confidence": [Infinity, 0.5]}}', '{"0.0": {"zero_list": [0]}}',
     "finite numbers"),
    ("ragged_entry", '{"0": {"acc": [1, 0], "confidence": [0.5]}}', '{"0.0": {"zero_list": [0]}}',
     "expected one per epoch"),
    ("ragged_examples", '{"0": {"acc": [1, 0], "confidence": [0.5, 0.5]}, "1": {"acc": [1], "confidence": [0.5]}}',
     '{"0.0": {"zero_list": [0]}}', "expected one per epoch (2"),
    ("same_x", '{"0": {"acc": [1], "confidence": [0.5]}}', '{"0.5": {"zero_list": [0]}, "0.50": {"zero_list": []}}',
     "are the same x"),
    ("repeated_key", '{"0": {"acc": [1], "confidence": [0.5]}}',
     '{"0.5": {"zero_list": [0]}, "0.5": {"zero_list": []}}',
     "key '0.5' appears twice"),
])
def test_nonsense_cartography_inputs_are_refused(case, cartography, analysis, expected, tmp_path, capsys):
    """Issue 13.6: inputs that gave NaN outputs or duplicate rows, exit 0, now get one line and exit 2."""
    (tmp_path / "c.json").write_text(cartography)
    (tmp_path / "a.json").write_text(analysis)
    code, _, err = _cli(pc.main, capsys, "--cartography_path", tmp_path / "c.json", "--analysis_path",
                        tmp_path / "a.json", "--save_path", tmp_path / "out.txt")
    assert code == 2 and len(err.splitlines()) == 1 and expected in err, err
    assert not (tmp_path / "out.txt").exists() and not (tmp_path / "out.txt.tsv").exists()


def test_an_analysis_of_other_examples_or_of_a_dev_sweep_is_refused(tmp_path, capsys):
    """Issue 13.4: a dev sweep of 2 examples against a 4-example cartography gave a table, exit 0."""
    (tmp_path / "c.json").write_text(json.dumps(CARTOGRAPHY))
    sweep = tmp_path / "sweep"
    sweep.mkdir()
    analysis = sweep / "valid_data_analysis.json"
    analysis.write_text(json.dumps({"0.0": {"zero_list": [0], "one_list": [1]},
                                    "1.0": {"zero_list": [1], "one_list": [0]}}))
    args = ("--cartography_path", tmp_path / "c.json", "--analysis_path", analysis, "--save_path", tmp_path / "o")
    code, _, err = _cli(pc.main, capsys, *args)
    assert code == 2 and len(err.splitlines()) == 1
    assert "covers 2 examples" in err and "has 4" in err and "2 of its examples never appear" in err
    analysis.write_text(json.dumps(ANALYSIS))
    (sweep / "sweep.json").write_text(json.dumps({"itp_on_train": False, "do_valid": True}))
    code, _, err = _cli(pc.main, capsys, *args)
    assert code == 2 and len(err.splitlines()) == 1 and "not with --itp_on_train" in err
    assert not (tmp_path / "o").exists() and not (tmp_path / "o.tsv").exists()
    (sweep / "sweep.json").write_text(json.dumps({"itp_on_train": True}))
    assert _cli(pc.main, capsys, *args)[0] == 0


def test_groups_are_the_forgotten_or_learned_examples_in_the_order_the_path_reaches_them(tmp_path, capsys):
    cartography, analysis = tmp_path / "cartography.json", tmp_path / "analysis.json"
    cartography.write_text(json.dumps(CARTOGRAPHY))
    analysis.write_text(json.dumps(ANALYSIS))
    common = ("--cartography_path", cartography, "--analysis_path", analysis, "--groups", "2")
    code, _, err = _cli(pc.main, capsys, *common, "--save_path", tmp_path / "forgotten.json")
    assert code == 0, err
    # right at x=0 and wrong at x=1: 0, 2 and 3, all first wrong at x=1.0, one point: one group however many asked
    (group,) = json.loads((tmp_path / "forgotten.json").read_text())
    assert (group["group"], group["examples"], group["x_first"], group["x_last"]) == ("F1", 3, "1.0", "1.0")
    assert group["confidence"] == pytest.approx((0.8 + 0.3 + 0.5) / 3)
    code, _, err = _cli(pc.main, capsys, *common, "--order", "learned", "--save_path", tmp_path / "learned.txt")
    assert code == 0, err
    assert (tmp_path / "learned.txt").read_text().startswith("this is group M1 (interpolation points 1.0 ===> 1.0)\n"
                                                             "total number of learned examples: 1\n")
    header, row = (line.split("\t") for line in (tmp_path / "learned.txt.tsv").read_text().splitlines())
    assert header[:4] == ["group", "examples", "x_first", "x_last"] and row[:2] == ["M1", "1"]
    with pytest.raises(SystemExit) as stop:
        pc.main([str(a) for a in (*common[:4], "--groups", "0", "--save_path", tmp_path / "zero.json")])
    err = capsys.readouterr().err
    assert stop.value.code == 2 and len(err.splitlines()) == 1 and "argument --groups: expected a positive" in err
    assert not (tmp_path / "zero.json").exists()
