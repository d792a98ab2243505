"""Tiny, fast stand-ins built from configs: a real SentencePiece tokenizer, a small T5, a toy task. Shared by the
tests and the benchmarks (so a benchmark runs as documented from a fresh clone, without the tests on its path)."""

from __future__ import annotations

import contextlib
import random
from pathlib import Path

import torch

POSITIVE = ["good", "great", "fine", "lovely", "superb", "nice", "happy", "bright", "warm"]
NEGATIVE = ["bad", "awful", "poor", "dull", "boring", "sad", "ugly", "dark", "cold"]
FILLER = ["the", "a", "movie", "film", "story", "plot", "actor", "scene", "was", "is", "and", "but", "very",
          "quite", "with", "[SEP]", "premise:", "hypothesis:"]


def toy_sentence(rng: random.Random) -> tuple[str, str]:
    """A sentence whose label (positive/negative) is the majority of its sentiment words."""
    pos, neg = rng.randint(0, 3), rng.randint(0, 3)
    if pos == neg:
        pos += 1
    words = [rng.choice(POSITIVE) for _ in range(pos)] + [rng.choice(NEGATIVE) for _ in range(neg)]
    words += [rng.choice(FILLER) for _ in range(rng.randint(1, 6))]
    rng.shuffle(words)
    return " ".join(words), "positive" if pos > neg else "negative"


def write_task(root: Path, name: str = "toy-sentiment", sizes=(64, 32, 32), seed: int = 0) -> Path:
    """Write `root/<name>/<name>_{train,dev,test}.tsv` with a learnable two-label task."""
    rng = random.Random(seed)
    folder = Path(root) / name
    folder.mkdir(parents=True, exist_ok=True)
    for split, size in zip(("train", "dev", "test"), sizes, strict=False):
        lines = ["\t".join(toy_sentence(rng)) for _ in range(size)]
        (folder / f"{name}_{split}.tsv").write_text("\n".join(lines) + "\n")
    return folder


def corpus(n: int = 600, seed: int = 1) -> list[str]:
    """Sentences covering the toy vocabulary, label words and prompt punctuation."""
    rng = random.Random(seed)
    texts = [toy_sentence(rng)[0] for _ in range(n)]
    texts += ["positive negative entailment neutral contradiction [toy-sentiment] [task] 0123456789 .,:;!?-"] * 20
    return texts


def build_tokenizer(folder: Path):
    """A real T5 tokenizer trained on the toy corpus."""
    from T5_model.tokenizer import train_t5_tokenizer

    return train_t5_tokenizer(corpus(), folder, vocab_size=200)


def tiny_t5_config(vocab_size: int, **overrides):
    """A T5 v1.1-style config small enough to train in seconds on a CPU."""
    from transformers import T5Config

    values = {"vocab_size": vocab_size, "d_model": 32, "d_kv": 8, "d_ff": 64, "num_layers": 2, "num_decoder_layers": 2,
                  "num_heads": 4, "feed_forward_proj": "gated-gelu", "dropout_rate": 0.0, "tie_word_embeddings": False,
                  "decoder_start_token_id": 0, "pad_token_id": 0, "eos_token_id": 1, "initializer_factor": 0.1}
    values.update(overrides)
    return T5Config(**values)


def build_tiny_t5(folder: Path, tokenizer, seed: int = 0, **overrides) -> Path:
    """Save a randomly initialised tiny T5 and its tokenizer into `folder`."""
    from transformers import T5ForConditionalGeneration

    torch.manual_seed(seed)
    model = T5ForConditionalGeneration(tiny_t5_config(len(tokenizer), **overrides))
    model.save_pretrained(str(folder))
    tokenizer.save_pretrained(str(folder))
    return Path(folder)


def write_nli_task(root: Path, name: str = "toy-nli", sizes=(48, 24, 24), seed: int = 0) -> Path:
    """A three-label task in the NLI format (`premise: ... [SEP] hypothesis: ...`)."""
    rng = random.Random(seed)
    folder = Path(root) / name
    folder.mkdir(parents=True, exist_ok=True)
    labels = ["entailment", "neutral", "contradiction"]
    for split, size in zip(("train", "dev", "test"), sizes, strict=True):
        lines = []
        for _ in range(size):
            premise, _ = toy_sentence(rng)
            label = rng.choice(labels)
            hypothesis = {"entailment": premise, "neutral": "a film", "contradiction": "not " + premise}[label]
            lines.append(f"premise: {premise} [SEP] hypothesis: {hypothesis}\t{label}")
        (folder / f"{name}_{split}.tsv").write_text("\n".join(lines) + "\n")
    return folder


def build_tiny_encoder(folder: Path, tokenizer_source: Path, kind: str = "bert", seed: int = 0, **overrides) -> Path:
    """Save a randomly initialised tiny BERT or RoBERTa encoder with a real tokenizer (MiniLM's WordPiece);
    `overrides` change its config (hidden_size=48, ...)."""
    from transformers import AutoTokenizer, BertConfig, BertModel, RobertaConfig, RobertaModel

    torch.manual_seed(seed)
    tok = AutoTokenizer.from_pretrained(str(tokenizer_source))
    common = {"vocab_size": len(tok), "hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 2,
              "intermediate_size": 64, "max_position_embeddings": 130, "pad_token_id": tok.pad_token_id, **overrides}
    model = BertModel(BertConfig(**common)) if kind == "bert" else RobertaModel(RobertaConfig(**common))
    model.save_pretrained(str(folder))
    tok.save_pretrained(str(folder))
    return Path(folder)


def build_tiny_causal(folder: Path, tokenizer, arch: str = "gpt2", seed: int = 0) -> Path:
    """Save a randomly initialised tiny GPT-2 or Llama causal LM with `tokenizer` into `folder`."""
    import transformers

    torch.manual_seed(seed)
    ends = {"bos_token_id": tokenizer.eos_token_id, "eos_token_id": tokenizer.eos_token_id}
    if arch == "gpt2":
        model = transformers.GPT2LMHeadModel(transformers.GPT2Config(
            vocab_size=len(tokenizer), n_positions=128, n_embd=16, n_layer=2, n_head=2, **ends))
    else:
        model = transformers.LlamaForCausalLM(transformers.LlamaConfig(
            vocab_size=len(tokenizer), hidden_size=16, intermediate_size=32, num_hidden_layers=2,
            num_attention_heads=2, num_key_value_heads=1, max_position_embeddings=128, **ends))
    model.save_pretrained(str(folder))
    tokenizer.save_pretrained(str(folder))
    return Path(folder)


def t5_args(tiny_t5_dir: Path, task_dir: Path, out: Path, *extra: str):
    """tune_singletask flags for the tiny T5 on a toy task (accuracy, short outputs, quiet), plus `extra`."""
    from T5_model.options import parse_options

    return parse_options(["--task_dir", str(task_dir), "--model", str(tiny_t5_dir), "--output_dir", str(out),
                       "--metric", "ACC", "--max_output_length", "8", "--quiet", *extra])


def t5_trainer(args, task_dir: Path, run_dir: Path, splits=("train", "dev")):
    """A seeded Trainer of the tiny T5 on the toy task's `splits`."""
    from transformers import set_seed

    from dataloader.tasks import load_split
    from T5_model.model import model_provider
    from T5_model.trainer import Trainer

    set_seed(args.seed)
    model, _, tok = model_provider(args)
    data = {s: load_split(task_dir, s) for s in splits}
    return Trainer(args, model, tok, "toy-sentiment", "ACC", data, run_dir)


def perturbed(model: torch.nn.Module, scale: float, seed: int) -> torch.nn.Module:
    """`model` with small Gaussian noise drawn from `seed` added to every parameter (an endpoint without training)."""
    torch.manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(scale * torch.randn_like(p))
    return model


def perturbed_t5_ends(model_dir: Path, out: Path, scale: float = 0.05, seeds=(1, 2)) -> list[Path]:
    """Full-model endpoints without training: the T5 in `model_dir` plus small seeded noise, one file per seed."""
    from transformers import T5ForConditionalGeneration

    from module.checkpoint import save_checkpoint

    return [save_checkpoint(Path(out) / f"full{seed}.pt", perturbed(
        T5ForConditionalGeneration.from_pretrained(str(model_dir)), scale, seed).state_dict(), kind="model")
        for seed in seeds]


def perturbed_causal_ends(base_dir: Path, out: Path, scale: float = 0.05, seeds=(1, 2)) -> list[Path]:
    """Fine-tuned-model endpoints without training: the causal LM in `base_dir` plus small seeded noise, one Hugging
    Face folder per seed."""
    from transformers import AutoModelForCausalLM

    for seed in seeds:
        perturbed(AutoModelForCausalLM.from_pretrained(str(base_dir)), scale, seed).save_pretrained(
            str(Path(out) / f"ft{seed}"))
    return [Path(out) / f"ft{seed}" for seed in seeds]


def random_lora_adapters(base_dir: Path, out: Path, seeds=(1, 2), r: int = 4, target_modules=("c_attn", "c_fc"),
                         b_scale: float = 20.0) -> list[Path]:
    """peft LoRA folders of the GPT-2 in `base_dir` without training: random A and B (B scaled by `b_scale`, so
    that the update is visible, as after tuning), one per seed."""
    from peft import LoraConfig, get_peft_model
    from transformers import GPT2LMHeadModel

    adapters = []
    for seed in seeds:
        torch.manual_seed(seed)
        model = get_peft_model(GPT2LMHeadModel.from_pretrained(str(base_dir)),
                               LoraConfig(r=r, lora_alpha=2 * r, target_modules=list(target_modules),
                                          init_lora_weights=False, fan_in_fan_out=True))
        with torch.no_grad():
            for name, p in model.named_parameters():
                if "lora_B" in name:
                    p.mul_(b_scale)
        model.save_pretrained(str(Path(out) / f"lora{seed}"))
        adapters.append(Path(out) / f"lora{seed}")
    return adapters


@contextlib.contextmanager
def threads(count: int):
    """Torch's intra-op threads set to `count` for the block (restored after)."""
    before = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(before)


@contextlib.contextmanager
def ctrl_c_at(owner: type, method: str, call: int):
    """Within the block, the `call`-th call of `owner.method` raises KeyboardInterrupt (as a Ctrl-C there would);
    the method is put back afterwards."""
    real, calls = getattr(owner, method), []

    def interrupted(self, *args, **kwargs):
        calls.append(1)
        if len(calls) == call:
            raise KeyboardInterrupt
        return real(self, *args, **kwargs)

    setattr(owner, method, interrupted)
    try:
        yield
    finally:
        setattr(owner, method, real)


def torchrun(script: str, *args: str, processes: int = 2, timeout: int = 300):
    """Run `script` from the repository root under `torchrun --nproc_per_node processes` (gloo, one thread each,
    offline) on a free port; a hang fails after `timeout` seconds."""
    import os
    import socket
    import subprocess
    import sys

    with socket.socket() as probe:  # a free port (torchrun's --master_port 0 does not work with its default rdzv)
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", str(processes), "--master_port",
           str(port), script, *args]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false", "OMP_NUM_THREADS": "1"}
    return subprocess.run(cmd, cwd=Path(__file__).resolve().parents[1], env=env, capture_output=True, text=True,
                          timeout=timeout)


@contextlib.contextmanager
def folder_held_elsewhere(folder: Path, beside: bool = False):
    """Another process holds `folder`'s run lock (`folder_lock(folder, beside)`) for the block (as a second run
    would); yields its pid."""
    import subprocess
    import sys
    import time

    from module.files import LOCK_FILE

    code = (f"import sys, time\nfrom module.files import folder_lock\nwith folder_lock(sys.argv[1], {beside}):\n"
            "    print('held', flush=True)\n    time.sleep(600)\n")
    holder = subprocess.Popen([sys.executable, "-c", code, str(folder)], cwd=Path(__file__).resolve().parents[1],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held", "the lock holder did not start"
        deadline = time.time() + 30
        lock = Path(folder).parent / f".{Path(folder).name}{LOCK_FILE}" if beside else Path(folder) / LOCK_FILE
        while lock.read_text().strip() != str(holder.pid) and time.time() < deadline:
            time.sleep(0.05)
        yield holder.pid
    finally:
        holder.kill()
        holder.wait()
