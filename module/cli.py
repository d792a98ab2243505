"""Command-line plumbing shared by every entry point: one-line argument errors, checked number types, and
`run_cli`, which turns expected failures into one line and exit code 2."""

from __future__ import annotations

import argparse
import copy
import math
import sys
import types
from collections.abc import Callable

EXPECTED_ERRORS = (FileNotFoundError, ValueError, KeyError, OSError)  # bad input, not a bug (data and checkpoint
# errors are ValueErrors)


class OneLineParser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are a single line (`<prog>: error: ...`) and exit code 2."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def one_line_hf_parser(dataclass_types: list[type], **kwargs):
    """transformers' HfArgumentParser over `dataclass_types`, whose errors are one line as OneLineParser's."""
    from transformers import HfArgumentParser

    class OneLineHfParser(HfArgumentParser):
        error = OneLineParser.error

        @staticmethod
        def _parse_dataclass_field(parser, field):  # what a field shapes (module/identity.py) is not argparse's
            if "shapes" in field.metadata:
                field = copy.copy(field)
                field.metadata = types.MappingProxyType({k: v for k, v in field.metadata.items() if k != "shapes"})
            HfArgumentParser._parse_dataclass_field(parser, field)

    return OneLineHfParser(dataclass_types, **kwargs)


class HelpFormatter(argparse.RawDescriptionHelpFormatter, argparse.ArgumentDefaultsHelpFormatter):
    """Keeps the description's line breaks and shows every flag's default."""


def _checked(text: str, convert, unreadable: str, ok, wrong: str):
    """`convert(text)` when it reads and passes `ok`; otherwise an ArgumentTypeError saying what was expected."""
    try:
        value = convert(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected {unreadable}, got {text!r}") from None
    if not ok(value):
        raise argparse.ArgumentTypeError(f"expected {wrong}, got {text!r}")
    return value


def positive_int(text: str) -> int:
    """argparse type: a whole number >= 1."""
    return _checked(text, int, "a positive integer", lambda v: v > 0, "a positive integer")


def finite_float(text: str) -> float:
    """argparse type: a finite number."""
    return _checked(text, float, "a number", math.isfinite, "a finite number")


SEED_MAX = 2**32 - 1  # numpy's seeds (set_seed seeds numpy too)


def seed_int(text: str) -> int:
    """argparse type: a random seed, a whole number from 0 to 2**32 - 1."""
    return _checked(text, int, "a whole number", lambda v: 0 <= v <= SEED_MAX, f"a seed from 0 to {SEED_MAX}")


def big_int(text: str) -> int:
    """argparse type: a count of at least 1 that may be written '1e7' as well as '10000000'."""
    whole = _checked(text, float, "an integer", lambda v: math.isfinite(v) and v >= 1 and v.is_integer(),
                     "a whole number of at least 1")
    return int(whole)


def _close_progress_bars() -> None:
    """Close the progress bars an interrupted or failed command left open, so that its last line stands alone."""
    from tqdm import tqdm

    for bar in list(getattr(tqdm, "_instances", ())):
        bar.close()


def run_cli(main: Callable[[], int]) -> int:
    """Run `main`; an expected error prints `error: <message>` on one line and returns 2, Ctrl-C one line saying how
    to continue and returns 130."""
    try:
        return main()
    except KeyboardInterrupt:
        _close_progress_bars()
        print("interrupted: finished files are kept; run the same command again to continue", file=sys.stderr)
        return 130
    except EXPECTED_ERRORS as exc:
        _close_progress_bars()
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        if isinstance(exc, KeyError):
            message = f"missing key {exc}"
        print(f"error: {message}", file=sys.stderr)
        return 2
