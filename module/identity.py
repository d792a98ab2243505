"""What shapes a result, declared once with each option: a dataclass field's metadata `shapes` holds letters
(`TUNING` a tuning run's weights, `SWEEP` a sweep's points, `CURVE_TRAINING` a trained curve). `shaping(options,
letters)` reads a run's identity from the fields, and `undeclared(cls)` names the fields that say nothing (the
tests keep it empty for every options class), so a new option cannot be forgotten in a reuse check."""

from __future__ import annotations

from dataclasses import MISSING, field, fields, is_dataclass

TUNING, SWEEP, CURVE_TRAINING = "t", "s", "c"
KEY = "shapes"


def shaping(options: object, letters: str) -> dict:
    """The values of the fields of dataclass `options` that shape a result of any kind in `letters` (a field that
    declares nothing is an error: it may shape anything)."""
    missing = undeclared(type(options))
    if missing:
        raise TypeError(f"{type(options).__name__}.{missing[0]} does not declare what it shapes (metadata {KEY!r})")
    return {f.name: getattr(options, f.name) for f in fields(options) if set(f.metadata[KEY]) & set(letters)}


def undeclared(cls: type) -> list[str]:
    """The fields of dataclass `cls` whose metadata does not say what they shape (empty: every field declares)."""
    if not is_dataclass(cls):
        raise TypeError(f"{cls!r} is not a dataclass")
    return [f.name for f in fields(cls) if not isinstance(f.metadata.get(KEY), str)
            or set(f.metadata[KEY]) - set(TUNING + SWEEP + CURVE_TRAINING)]


def option(default=MISSING, help: str = "", shapes: str = "", **metadata):
    """A dataclass field (an HfArgumentParser flag or config key) with its help and what it shapes; a list or a
    callable default becomes a default_factory."""
    metadata = {"help": help, KEY: shapes, **metadata}
    if isinstance(default, list):
        return field(default_factory=lambda: list(default), metadata=metadata)
    if callable(default):
        return field(default_factory=default, metadata=metadata)
    return field(default=default, metadata=metadata)
