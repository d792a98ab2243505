"""Encoder-track models and data: any `AutoModelForSequenceClassification` encoder, adapters from module/adapter.py."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from dataloader.batching import length_groups
from dataloader.tasks import DataFormatError, Example, check_task_dir, load_split, split_path
from module.adapter import is_adapter_tensor
from module.checkpoint import DELTA_FILE, load_checkpoint
from module.files import read_json
from module.loading import UnsafeModelFolder, check_no_custom_code, quiet_transformers, safe_weights
from module.sweep import split_results
from module.tensors import copy_into
from RoBERTa_model.adapters import ENCODER_DELTA_TYPES, add_encoder_adapters

# Label order of known tasks (GLUE's ids where they exist); other tasks use the sorted label words.
CANONICAL_LABELS = {
    "mnli": ["entailment", "neutral", "contradiction"],
    "snli": ["entailment", "neutral", "contradiction"],
    "anli": ["entailment", "neutral", "contradiction"],
    "sst2": ["negative", "positive"],
    "rotten_tomatoes": ["negative", "positive"],
    "tweet_sentiment": ["negative", "neutral", "positive"],
}
PREFIX = re.compile(r"^(premise|hypothesis|sentence|sentence1|sentence2|question|context|review|tweet):\s*", re.I)
DELTA_KEY = "mode_connectivity_delta"


class EncoderError(ValueError):
    """A model folder, checkpoint or task that the encoder track cannot use."""


def task_folder(data_dir: str | Path, task_name: str) -> Path:
    """`<data_dir>/<task>`, or `<data_dir>/glue-<task>` for the original's GLUE names (mnli, sst2, ...)."""
    for name in (task_name, f"glue-{task_name}", f"superglue-{task_name}"):
        if (Path(data_dir) / name).is_dir():
            return Path(data_dir) / name
    try:
        check_task_dir(Path(data_dir) / task_name, "task_name")
    except DataFormatError as exc:
        raise EncoderError(f"{exc} (prepare it with python utils/prepare_data.py, or set data_dir)") from None
    raise EncoderError(f"{Path(data_dir) / task_name}: not a task folder")


def task_labels(task_name: str, examples: list[Example]) -> list[str]:
    """The label words of a task in id order."""
    found = sorted({e.answers[0] for e in examples})
    key = task_name.removeprefix("glue-")
    canonical = CANONICAL_LABELS.get(key)
    if canonical and set(found) <= set(canonical):
        return canonical
    return found


def text_pair(text: str) -> tuple[str, str | None]:
    """Split a verbalised input on ' [SEP] ' into a sentence pair and drop field prefixes like 'premise:'."""
    parts = [PREFIX.sub("", p.strip()) for p in text.split("[SEP]", 1)]
    return parts[0], (parts[1] if len(parts) > 1 else None)


@dataclass
class EncodedTask:
    """Token ids and label ids of one split."""

    input_ids: list[list[int]]
    token_type_ids: list[list[int]] | None
    labels: list[int]

    def __len__(self) -> int:
        return len(self.labels)

    def item(self, i: int) -> dict:
        row = {"input_ids": self.input_ids[i], "labels": self.labels[i]}
        if self.token_type_ids is not None:
            row["token_type_ids"] = self.token_type_ids[i]
        return row


def encode_task(examples: list[Example], tokenizer, labels: list[str], max_length: int) -> EncodedTask:
    """Tokenise (as sentence pairs where the input has ' [SEP] ') and map label words to ids."""
    index = {label: i for i, label in enumerate(labels)}
    unknown = sorted({e.answers[0] for e in examples} - set(index))
    if unknown:
        raise EncoderError(f"label {unknown[0]!r} is not among the head's labels {labels}")
    pairs = [text_pair(e.input) for e in examples]
    firsts, seconds = [a for a, _ in pairs], [b for _, b in pairs]
    if all(b is None for b in seconds):
        enc = tokenizer(firsts, truncation=True, max_length=max_length)
    else:
        enc = tokenizer(firsts, [b or "" for b in seconds], truncation=True, max_length=max_length)
    return EncodedTask(enc["input_ids"], enc.get("token_type_ids"), [index[e.answers[0]] for e in examples])


def collate(rows: list[dict], pad_id: int) -> dict[str, torch.Tensor]:
    """Pad a list of encoded rows to their longest (dynamic padding)."""
    width = max(len(r["input_ids"]) for r in rows)
    batch = {"input_ids": torch.full((len(rows), width), pad_id, dtype=torch.long),
             "attention_mask": torch.zeros((len(rows), width), dtype=torch.long),
             "labels": torch.tensor([r["labels"] for r in rows], dtype=torch.long)}
    if "token_type_ids" in rows[0]:
        batch["token_type_ids"] = torch.zeros((len(rows), width), dtype=torch.long)
    for i, r in enumerate(rows):
        n = len(r["input_ids"])
        batch["input_ids"][i, :n] = torch.tensor(r["input_ids"])
        batch["attention_mask"][i, :n] = 1
        if "token_type_ids" in r:
            batch["token_type_ids"][i, :n] = torch.tensor(r["token_type_ids"])
    return batch


class TaskDataset(torch.utils.data.Dataset):
    """An `EncodedTask` as a torch dataset of dict rows (for the Hugging Face Trainer)."""

    def __init__(self, encoded: EncodedTask):
        self.encoded = encoded

    def __len__(self) -> int:
        return len(self.encoded)

    def __getitem__(self, i: int) -> dict:
        return self.encoded.item(i)


def classifier_batches(encoded: EncodedTask, batch_size: int, pad_id: int) -> list[tuple[list[int], dict]]:
    """Length-sorted, dynamically padded batches of at most `batch_size` rows (cut where padding costs least,
    `length_groups`), with the positions of their rows."""
    return [(ids, collate([encoded.item(i) for i in ids], pad_id))
            for ids in length_groups([len(ids) for ids in encoded.input_ids], batch_size)]


@torch.inference_mode()
def classifier_outputs(model: nn.Module, batches: list[tuple[list[int], dict]]) -> list[tuple]:
    """Per batch: its rows' positions, correctness (0/1), cross-entropy losses, predicted label indices and predicted
    distributions under the model as it stands."""
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    outputs = []
    try:
        for ids, batch in batches:
            batch = {k: v.to(device) for k, v in batch.items()}
            labels = batch.pop("labels")
            logits = model(**batch).logits.float()
            loss = F.cross_entropy(logits, labels, reduction="none")
            predicted = logits.argmax(-1)
            outputs.append((ids, (predicted == labels).float().tolist(), loss.tolist(), predicted.tolist(),
                            torch.softmax(logits, dim=-1).tolist()))
    finally:
        model.train(was_training)
    return outputs


def evaluate_classifier(model: nn.Module, batches: list[tuple[list[int], dict]]) -> dict:
    """Accuracy, mean loss and per-example correctness (0/1) of a sequence classifier on pre-built batches."""
    return split_results(classifier_outputs(model, batches), sum(len(ids) for ids, _ in batches))


def names_module(name: str, entry: str) -> bool:
    """True when `entry` (one or more dotted components) is a module or parameter on the path of `name`."""
    return f".{entry}." in f".{name}."


def is_unfrozen(name: str, modules: list[str]) -> bool:
    """The `unfrozen_modules` rule of OpenDelta 0.2.4's `freeze_module`, the version the paper ran: 'deltas' means
    the adapters; any other entry keeps the parameters under a module whose path ends with it (`classifier`).

    0.2.4 prefixed every path with a '.', so its common structure map never applied while freezing: the
    paper's `layer_norm` and `final_layer_norm` match no BERT/RoBERTa module (those are named `LayerNorm`),
    and every LayerNorm stays frozen. Name them to train them: `output.LayerNorm` selects the two inside each
    layer, `embeddings.LayerNorm` the embeddings' one.
    """
    return any((entry == "deltas" and is_adapter_tensor(name)) or names_module(name, entry) for entry in modules)


def unmatched_entries(names: list[str], modules: list[str]) -> list[str]:
    """The `unfrozen_modules` entries that select none of `names` (as `layer_norm` for BERT/RoBERTa)."""
    return [entry for entry in modules if not any(is_unfrozen(name, [entry]) for name in names)]


def set_encoder_trainable(model: nn.Module, delta_type: str, unfrozen_modules: list[str]) -> list[str]:
    """With adapters only parameters selected by `unfrozen_modules` train; `none`: every parameter trains."""
    names = []
    for name, param in model.named_parameters():
        train = delta_type == "none" or is_unfrozen(name, unfrozen_modules)
        param.requires_grad_(train)
        if train:
            names.append(name)
    return names


def _read_config(folder: str | Path) -> dict:
    path = Path(folder) / "config.json"
    if not path.is_file():
        raise EncoderError(f"{folder}: no config.json (expected a Hugging Face model or checkpoint folder)")
    return read_json(path, "expected a Hugging Face config.json")


def _is_generic(id2label: dict | None) -> bool:
    return not id2label or all(str(v).startswith("LABEL_") for v in id2label.values())


def build_classifier(model_path: str, labels: list[str], delta_type: str = "none", bottleneck_dim: int = 24,
                     r_mean: float | None = None, r_std: float | None = None, seed: int = 0,
                     task: str | None = None) -> nn.Module:
    """A sequence classifier for `labels`: pre-trained weights from `model_path`, adapters when asked
    (`delta_type` adapter or houlsby_dense; `r_mean`/`r_std` None: that adapter's own initialisation).

    `model_path` may be a plain encoder (a new head is made) or a checkpoint of this track (its adapters and
    head are restored; the head's labels must equal `labels`).
    """
    with quiet_transformers():  # the new head's "newly initialized" warning and the loading bar
        return _build_classifier(model_path, labels, delta_type, bottleneck_dim, r_mean, r_std, seed, task)


def _build_classifier(model_path: str, labels: list[str], delta_type: str = "none", bottleneck_dim: int = 24,
                      r_mean: float | None = None, r_std: float | None = None, seed: int = 0,
                      task: str | None = None) -> nn.Module:
    from transformers import AutoConfig, AutoModelForSequenceClassification

    raw = _read_config(model_path)
    check_no_custom_code(raw, f"{model_path}/config.json")
    saved_delta = raw.get(DELTA_KEY)
    head_labels = [raw["id2label"][str(i)] for i in range(len(raw["id2label"]))] if raw.get("id2label") else None
    if saved_delta is None and head_labels and not _is_generic(raw.get("id2label")) and head_labels != labels:
        raise EncoderError(f"{model_path}: its head has labels {head_labels}, the task has {labels}")
    config = AutoConfig.from_pretrained(model_path, num_labels=len(labels), local_files_only=True,
                                        trust_remote_code=False, id2label=dict(enumerate(labels)),
                                        label2id={w: i for i, w in enumerate(labels)})
    torch.manual_seed(seed)
    delta_only = (Path(model_path) / DELTA_FILE).is_file()
    backbone = (saved_delta or {}).get("backbone") if delta_only else None
    if delta_only and not (backbone and Path(backbone).is_dir()):
        raise EncoderError(f"{model_path}: holds only its tuned tensors; their backbone {backbone!r} (the run's "
                           "model_name_or_path, recorded in config.json) is not there")
    try:
        if saved_delta is None or delta_only:
            with safe_weights(backbone or model_path, "model_name_or_path"):
                model, info = AutoModelForSequenceClassification.from_pretrained(
                    backbone or model_path, config=config, local_files_only=True, output_loading_info=True)
            model.newly_initialized = sorted(info.get("missing_keys", []))  # the head, a pooler the encoder lacks
        else:
            model = AutoModelForSequenceClassification.from_config(config)
    except UnsafeModelFolder:
        raise
    except ValueError as exc:
        raise EncoderError(f"{model_path}: {raw.get('model_type')!r} is not a sequence-classification encoder "
                           f"({str(exc).splitlines()[0][:120]})") from None
    if delta_type in ENCODER_DELTA_TYPES:
        add_encoder_adapters(model, bottleneck_dim, r_mean, r_std, seed=seed, delta_type=delta_type)
    setattr(model.config, DELTA_KEY, {"delta_type": delta_type, "bottleneck_dim": bottleneck_dim,
                                      "task": task or (saved_delta or {}).get("task"),
                                      "backbone": str(Path(backbone if delta_only else model_path).resolve())})
    if saved_delta is not None:
        tensors = load_checkpoint(model_path).tensors
        check_delta_type(str(model_path), saved_delta.get("delta_type"), list(tensors), delta_type)
        if head_labels != labels:
            raise EncoderError(f"{model_path}: its head has labels {head_labels}, the task has {labels}")
        load_tensors(model, tensors, str(model_path))
    return model


def check_delta_type(source: str, saved: str | None, names: list[str], wanted: str) -> None:
    """A checkpoint's delta_type must be the config's; checkpoints written before `adapter` became OpenDelta's
    (saved as 'adapter', tensors `...adapter.adapter_A`) count as houlsby_dense."""
    if saved == "adapter" and any(n.endswith(".adapter.adapter_A") for n in names):
        saved = "houlsby_dense"
        if wanted != saved:
            raise EncoderError(f"{source}: its adapters are the earlier bias-free variant (adapter_A/adapter_B); "
                               "use delta_type houlsby_dense for it, or tune it again")
    if saved != wanted:
        raise EncoderError(f"{source}: a checkpoint with delta_type {saved!r}, the config asks for {wanted!r}")


def load_tensors(model: nn.Module, tensors: dict[str, torch.Tensor], source: str) -> None:
    """Copy named tensors into the model; every name and shape must match, tied tensors must agree."""
    copy_into(model, tensors, source, "another architecture or delta?")


def checkpoint_info(folder: str | Path) -> tuple[list[str], dict]:
    """The label words of a checkpoint's head and its delta settings (delta_type, bottleneck_dim, task)."""
    raw = _read_config(folder)
    id2label = raw.get("id2label") or {}
    return [id2label[str(i)] for i in range(len(id2label))], raw.get(DELTA_KEY) or {}


def task_data_files(data_dir: str, task_name: str, splits: list[str]) -> list[Path]:
    """The TSV files of `splits` in a task folder (their contents go into a sweep's settings)."""
    folder = task_folder(data_dir, task_name)
    return [split_path(folder, split) for split in splits]


def model_folders(model_args) -> list[str]:
    """The backbone and tokenizer folders a sweep builds its model from (their contents go into its settings)."""
    tokenizer = model_args.tokenizer_name or model_args.model_name_or_path
    return [model_args.model_name_or_path] + ([tokenizer] if tokenizer != model_args.model_name_or_path else [])


def load_task_split(data_dir: str, task_name: str, split: str, limit: int | None = None) -> list[Example]:
    """One split of a task folder, optionally its first `limit` examples."""
    examples = load_split(task_folder(data_dir, task_name), split)
    return examples[:limit] if limit else examples
