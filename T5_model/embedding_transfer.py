"""Start a new vocabulary's embeddings from another model's: each piece gets the mean of its sub-word vectors."""

from __future__ import annotations

from pathlib import Path

import torch

from module.loading import load_tokenizer


def source_file(folder: str | Path) -> Path:
    """The safetensors file of the model folder named by --init_embeddings; a clear error when it is missing."""
    if not Path(folder).is_dir():
        raise FileNotFoundError(f"--init_embeddings {folder}: folder not found (python utils/prepare_models.py "
                                "installs all-MiniLM-L6-v2; --init_embeddings none starts from random embeddings)")
    path = Path(folder) / "model.safetensors"
    if not path.is_file():
        raise FileNotFoundError(f"--init_embeddings {folder}: no model.safetensors (expected a local model folder)")
    return path


def source_embeddings(folder: str | Path) -> torch.Tensor:
    """The input (word) embedding matrix of a local Hugging Face model folder, read from its safetensors."""
    from safetensors import safe_open

    path = source_file(folder)
    with safe_open(str(path), "pt") as handle:
        keys = [k for k in handle.keys() if k.endswith("word_embeddings.weight")]  # noqa: SIM118
        if len(keys) != 1:
            raise ValueError(f"--init_embeddings {path}: expected one '*word_embeddings.weight' tensor, found {keys}")
        return handle.get_tensor(keys[0]).float()


def piece_vectors(tokenizer, source_tokenizer, source: torch.Tensor) -> tuple[list[int], torch.Tensor]:
    """Ids of `tokenizer`'s ordinary pieces that `source_tokenizer` can spell, and their mean source vectors."""
    special = set(tokenizer.all_special_ids)
    unknown = source_tokenizer.unk_token_id
    rows, vectors = [], []
    for index in range(len(tokenizer)):
        if index in special:
            continue
        word = tokenizer.convert_ids_to_tokens(index).replace("\u2581", " ").strip()
        ids = source_tokenizer(word, add_special_tokens=False)["input_ids"] if word else []
        if ids and unknown not in ids:
            rows.append(index)
            vectors.append(source[ids].mean(0))
    return rows, torch.stack(vectors)


def project(vectors: torch.Tensor, width: int, std: float) -> tuple[torch.Tensor, float]:
    """Top principal components of `vectors` (at most `width`), scaled to standard deviation `std`; variance kept."""
    centred = vectors - vectors.mean(0)
    _, singular, basis = torch.linalg.svd(centred, full_matrices=False)
    out = centred @ basis[:width].T
    kept = float((singular[:width] ** 2).sum() / (singular ** 2).sum())
    return out * (std / out.std()), kept


def transfer_embeddings(model, tokenizer, folder: str | Path) -> dict:
    """Overwrite `model`'s input embeddings of every piece the model in `folder` can spell; returns a record.

    Where the model is wider than the source, the columns beyond the source's width keep their random values.
    """

    source = source_embeddings(folder)
    rows, vectors = piece_vectors(tokenizer, load_tokenizer(folder, "--init_embeddings"), source)
    weight = model.get_input_embeddings().weight
    projected, kept = project(vectors, weight.shape[1], float(weight.detach().std()))
    with torch.no_grad():
        weight[rows, : projected.shape[1]] = projected.to(weight.dtype)
    return {"from": str(folder), "pieces": len(rows), "vocabulary": len(tokenizer), "variance_kept": round(kept, 3)}
