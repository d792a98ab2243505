"""Type checks of JSON config values against the argument dataclasses' annotations, done when a config is read."""

from __future__ import annotations

import enum
import types
import typing
from typing import Any

_NAMES = {bool: "true or false", int: "a whole number", float: "a number", str: "a string", dict: "an object"}


def accepts(annotation: Any, value: Any) -> bool | None:
    """True/False when `value` (from JSON) fits `annotation`; None when the annotation is not one this checks."""
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if annotation is Any:
        return True
    if annotation is type(None):
        return value is None
    if origin in (typing.Union, types.UnionType):
        verdicts = [accepts(a, value) for a in args]
        return True if True in verdicts else (False if all(v is False for v in verdicts) else None)
    if origin is typing.Literal:
        return value in args
    if origin in (list, tuple):
        if not isinstance(value, list):
            return False
        inner = [accepts(args[0], v) for v in value] if args else []
        return False not in inner
    if origin is dict:
        return isinstance(value, dict)
    if annotation is bool:
        return isinstance(value, bool)
    if annotation is int:
        return type(value) is int
    if annotation is float:
        return type(value) in (int, float)
    if annotation in (str, dict):
        return isinstance(value, annotation)
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        return isinstance(value, str)  # the library checks the name itself
    return None


def describe(annotation: Any) -> str:
    """How an error line names what a key expects: 'a whole number', 'a list of strings or null', ..."""
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType):
        parts = [describe(a) for a in args if a is not type(None)]
        return " or ".join(dict.fromkeys(parts)) + (" or null" if type(None) in args else "")
    if origin in (list, tuple):
        return f"a list of {describe(args[0]).removeprefix('a ').removeprefix('an ')}s" if args else "a list"
    if origin is typing.Literal:
        return "one of " + ", ".join(map(repr, args))
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        return "a string"
    return _NAMES.get(annotation, getattr(annotation, "__name__", str(annotation)))


def type_errors(values: dict, classes: list[type]) -> list[tuple[str, str]]:
    """(key, what it expects) for every value that does not fit its field's annotation in `classes`."""
    hints: dict[str, Any] = {}
    for cls in classes:
        hints |= typing.get_type_hints(cls)
    return [(key, describe(hints[key])) for key, value in values.items()
            if key in hints and accepts(hints[key], value) is False]
