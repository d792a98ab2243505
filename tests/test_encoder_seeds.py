"""The encoder track's `init_seed`: the adapters and the new head start from `init_seed`'s draw whatever `seed`
is, while `seed` alone still sets the data order and dropout (the T5 track's --SGD_noise, for the paper's
initialisation-vs-SGD-noise experiment)."""

from __future__ import annotations

import json

import pytest
import torch

from module.checkpoint import load_checkpoint
from RoBERTa_model import run_glue
from utils import toy


@pytest.fixture(scope="module")
def setup(tmp_path_factory, minilm_dir):
    root = tmp_path_factory.mktemp("enc-seeds")
    toy.write_task(root / "data", "toy-sentiment")
    return root, toy.build_tiny_encoder(root / "tiny-bert", minilm_dir)


def _tuned(setup, name: str, lr: float, **values) -> dict[str, torch.Tensor]:
    root, backbone = setup
    out = root / name
    cfg = root / f"{name}.json"
    cfg.write_text(json.dumps({"model_name_or_path": str(backbone), "task_name": "toy-sentiment",
                               "data_dir": str(root / "data"), "delta_type": "adapter", "bottleneck_dim": 4,
                               "max_source_length": 64, "disable_tqdm": True, "learning_rate": lr, "max_steps": 3,
                               "per_device_train_batch_size": 8, "save_strategy": "no", "output_dir": str(out),
                               "do_train": True, "warmup_steps": 0, **values}))
    assert run_glue.main([str(cfg)]) == 0
    return load_checkpoint(out).tensors


def _same(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def _near(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.allclose(a[k], b[k], rtol=0, atol=1e-20) for k in a)


def test_the_same_init_seed_gives_the_same_start_whatever_the_seed(setup):
    # learning rate 1e-30 (0 is refused): three updates move no tensor by more than about 1e-29, so what is saved
    # is the start up to that
    start = {(init, seed): _tuned(setup, f"start-{init}-{seed}", 1e-30, init_seed=init, seed=seed)
             for init, seed in ((7, 1), (7, 2), (8, 1))}
    assert _near(start[7, 1], start[7, 2])
    assert not _near(start[7, 1], start[8, 1])
    assert _near(_tuned(setup, "start-default", 1e-30, seed=7), start[7, 1])  # no init_seed: seed's draw


def test_another_seed_with_the_same_init_seed_still_changes_the_data_order(setup):
    one = _tuned(setup, "sgd-1", 1e-2, init_seed=7, seed=1)
    assert _same(one, _tuned(setup, "sgd-1-again", 1e-2, init_seed=7, seed=1))
    assert not _same(one, _tuned(setup, "sgd-2", 1e-2, init_seed=7, seed=2))


def test_cartography_records_every_epoch_of_every_training_example_and_survives_a_resume(setup, monkeypatch):
    """3 epochs of 64 examples; a run killed right after its epoch-2 checkpoint (its file already holding a
    third epoch's entries from before) resumes to the uninterrupted run's file."""
    from transformers import Trainer

    from utils.process_cartography import example_statistics

    root, _ = setup
    common = {"cartography": True, "num_train_epochs": 3, "max_steps": -1, "save_strategy": "epoch", "seed": 5,
              "per_device_train_batch_size": 16}
    _tuned(setup, "carto", 1e-2, **common)
    straight = json.loads((root / "carto" / "cartography.json").read_text())
    assert sorted(straight, key=int) == [str(i) for i in range(64)]
    assert all(len(e["acc"]) == 3 and len(e["confidence"]) == 3 for e in straight.values())
    assert all(a == float(c > 0.5) for e in straight.values() for a, c in zip(e["acc"], e["confidence"], strict=True))
    assert len(example_statistics(straight)) == 64  # what process_cartography.py reads

    original_save = Trainer._save_checkpoint

    def save_then_die(self, *args, **kwargs):
        original_save(self, *args, **kwargs)
        if self.state.global_step == 8:  # the end of epoch 2
            raise KeyboardInterrupt

    monkeypatch.setattr(Trainer, "_save_checkpoint", save_then_die)
    with pytest.raises(KeyboardInterrupt):
        _tuned(setup, "carto-killed", 1e-2, **common)
    monkeypatch.setattr(Trainer, "_save_checkpoint", original_save)
    path = root / "carto-killed" / "cartography.json"
    stale = json.loads(path.read_text())
    assert all(len(e["acc"]) == 2 for e in stale.values())
    path.write_text(json.dumps({k: {n: v + [0.5] for n, v in e.items()} for k, e in stale.items()}))
    _tuned(setup, "carto-killed", 1e-2, **common)
    assert json.loads(path.read_text()) == straight


def test_an_encoder_sweep_on_the_training_data_joins_with_cartography(setup, tmp_path, capsys):
    """Experiment 8's pipeline on the encoder track: cartography during tuning, `itp_on_train` sweep, then
    utils/process_cartography.py over both."""
    from utils import process_cartography

    root, backbone = setup
    common = {"cartography": True, "num_train_epochs": 2, "max_steps": -1, "save_strategy": "no",
              "per_device_train_batch_size": 16}
    for seed in (11, 12):
        _tuned(setup, f"otrain-{seed}", 1e-2, seed=seed, **common)
    cfg = tmp_path / "sweep.json"
    cfg.write_text(json.dumps({"model_name_or_path": str(backbone), "task_name": "toy-sentiment",
                               "data_dir": str(root / "data"), "delta_type": "adapter", "bottleneck_dim": 4,
                               "max_source_length": 64, "disable_tqdm": True, "itp_on_train": True,
                               "path1": str(root / "otrain-11"), "path2": str(root / "otrain-12"), "itpl_points": 3,
                               "output_dir": str(tmp_path / "sweep")}))
    from RoBERTa_model import itp_pretrain_adapter

    assert itp_pretrain_adapter.main([str(cfg)]) == 0
    analysis = json.loads((tmp_path / "sweep" / "valid_data_analysis.json").read_text())
    assert sorted(analysis) == ["0.0", "0.5", "1.0"]
    listed = set(analysis["0.5"]["zero_list"]) | set(analysis["0.5"]["one_list"])
    assert listed == set(range(64))  # every training example, by its index in the training split
    assert not (tmp_path / "sweep" / "test_data_analysis.json").exists()
    save = tmp_path / "forgetting.txt"
    assert process_cartography.main(["--cartography_path", str(root / "otrain-11" / "cartography.json"),
                                     "--analysis_path", str(tmp_path / "sweep" / "valid_data_analysis.json"),
                                     "--save_path", str(save)]) == 0
    assert save.read_text().count("this is from interpolation point") == 3


def test_the_task_boundary_script_refuses_itp_on_train(setup, tmp_path, capsys):
    from module.cli import run_cli
    from RoBERTa_model import itp_task_boundary_finetune

    root, backbone = setup
    cfg = tmp_path / "boundary.json"
    cfg.write_text(json.dumps({"model_name_or_path": str(backbone), "task_name": "toy-sentiment",
                               "data_dir": str(root / "data"), "path1": str(backbone),
                               "path2": str(backbone), "itp_on_train": True,
                               "output_dir": str(tmp_path / "out")}))
    capsys.readouterr()
    assert run_cli(lambda: itp_task_boundary_finetune.main([str(cfg)])) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "itp_on_train" in err[0], err
    assert not (tmp_path / "out").exists()


def test_datasplit_trains_on_one_half_of_the_chosen_examples(setup, tmp_path):
    """The T5 track's --datasplit for the encoder (the paper's data-overlap experiment): halves of the first
    max_train_samples, disjoint, together all of them; a run on one half sees only that half."""
    from RoBERTa_model.config import config_from_values
    from RoBERTa_model.jobs import training_examples

    root, _ = setup
    halves = {}
    for half in ("", "split1", "split2"):
        values = {"task_name": "toy-sentiment", "data_dir": str(root / "data"), "max_train_samples": 40,
                  "datasplit": half, "output_dir": str(tmp_path / "o")}
        halves[half] = [e.input for e in training_examples(config_from_values(values, source="t").data)]
    assert len(halves["split1"]) == len(halves["split2"]) == 20
    assert halves["split1"] + halves["split2"] == halves[""]
    _tuned(setup, "half2", 1e-2, datasplit="split2", cartography=True, num_train_epochs=1, max_steps=-1,
           per_device_train_batch_size=16)
    assert len(json.loads((root / "half2" / "cartography.json").read_text())) == 32  # 64 examples, one half


def test_an_unknown_datasplit_is_one_clear_error(tmp_path):
    from RoBERTa_model.config import ConfigError, config_from_values

    with pytest.raises(ConfigError, match="key 'datasplit' must be one of '', 'split1', 'split2', got 'split3'"):
        config_from_values({"task_name": "snli", "datasplit": "split3", "output_dir": str(tmp_path / "o")},
                           source="cfg.json")
    assert not (tmp_path / "o").exists()
