"""Progress and noise: every run shows a bar, log lines print above it, no spurious warnings, sweep summaries."""

from __future__ import annotations

import json
import logging
import warnings

from module.files import TqdmHandler, setup_logger
from module.interpolation import interpolation_points
from module.sweep import run_sweep
from RoBERTa_model.config import load_config


def test_every_encoder_run_of_a_process_gets_a_progress_bar_and_no_pin_memory_warning(tmp_path, minilm_dir):
    """The first build_classifier used to set transformers' verbosity to error for good, which turned every
    later TrainingArguments' default disable_tqdm on: only the quickstart's first run showed a bar."""
    from transformers.utils import logging as hf_logging

    from RoBERTa_model.encoder import build_classifier
    from utils import toy

    backbone = toy.build_tiny_encoder(tmp_path / "enc", minilm_dir)
    config = tmp_path / "c.json"
    config.write_text(json.dumps({"model_name_or_path": str(backbone), "output_dir": str(tmp_path / "o")}))
    level = hf_logging.get_verbosity()
    for _ in range(2):
        training = load_config(config).training
        assert training.disable_tqdm is False and training.dataloader_pin_memory is False  # CPU: no pin warning
        build_classifier(str(backbone), ["a", "b"], "adapter", 4)
        assert hf_logging.get_verbosity() == level


def test_log_lines_go_through_tqdm_write(tmp_path, monkeypatch):
    from tqdm.auto import tqdm

    written = []
    monkeypatch.setattr(tqdm, "write", staticmethod(lambda text, file=None, **kw: written.append(text)))
    logger = setup_logger("progress-test", tmp_path / "log.txt")
    assert any(isinstance(h, TqdmHandler) for h in logger.handlers)
    logger.info("hello above the bar")
    assert written and written[-1].endswith("hello above the bar")
    assert "hello above the bar" in (tmp_path / "log.txt").read_text()
    setup_logger("progress-test", None, quiet=True)  # close the file handler
    logging.getLogger("progress-test").handlers.clear()


def test_embedding_transfer_raises_no_requires_grad_warning(tokenizer_dir, tiny_t5_dir, minilm_dir):
    from transformers import AutoTokenizer, T5ForConditionalGeneration

    from T5_model.embedding_transfer import transfer_embeddings

    model = T5ForConditionalGeneration.from_pretrained(str(tiny_t5_dir))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        transfer_embeddings(model, AutoTokenizer.from_pretrained(str(tokenizer_dir)), minilm_dir)


def test_a_finished_sweep_prints_endpoints_worst_point_and_barriers_per_split(tmp_path, capsys):
    state = {}

    def evaluate():
        x = state["x"]
        return {split: {"performance": 0.9 - 0.4 * x * (1 - x) - shift, "loss": 0.3 + x * (1 - x), "scores": [1.0]}
                for split, shift in (("dev", 0.0), ("test", 0.05))}

    run_sweep(interpolation_points(5), lambda x: state.update(x=x), evaluate, tmp_path / "sweep", "task", "ACC",
              {"a": 1}, quiet=True)
    out = capsys.readouterr().out
    lines = [line for line in out.splitlines() if line.startswith("sweep ")]
    assert [line.split()[1] for line in lines] == ["dev", "test"]
    dev = lines[0].split()
    assert dev[2] == "0.900" and dev[3] == "0.900" and dev[4] == "0.800" and dev[5] == "@0.5"
    assert "barrier ACC (mean/lin/sub)" in out and "barrier loss" in out and "positive = the path is worse" in out
    summary = json.loads((tmp_path / "sweep" / "summary.json").read_text())
    assert dev[6] == "{:.3f}/{:.3f}/{:.3f}".format(*(summary["splits"]["dev"]["performance"][k] for k in (
        "barrier_endpoint_mean", "barrier_linear", "barrier_subsegment")))


def test_the_pretraining_bar_and_final_loss_use_one_window():
    """Both pre-training scripts show and report `recent_loss`: the last 10% of steps, at most 50."""
    from module.pretraining import recent_loss

    losses = [float(i) for i in range(1000)]
    assert recent_loss(losses) == sum(range(950, 1000)) / 50
    assert recent_loss(losses[:200]) == sum(range(180, 200)) / 20
    assert recent_loss([2.0, 4.0]) == 4.0
