"""Turn expected failures (bad files, flags, folders) into one clear line and a non-zero exit."""

from __future__ import annotations

import sys
from collections.abc import Callable


def expected_errors() -> tuple[type[BaseException], ...]:
    """Exception types that mean bad input rather than a bug."""
    from dataloader.tasks import DataFormatError
    from module.checkpoint import CheckpointError

    return (DataFormatError, CheckpointError, FileNotFoundError, ValueError, KeyError, OSError)


def run_cli(main: Callable[[], int]) -> int:
    """Run `main`; an expected error prints `error: <message>` on one line and returns 2."""
    try:
        return main()
    except KeyboardInterrupt:
        print("interrupted: finished files are kept; run the same command again to continue", file=sys.stderr)
        return 130
    except expected_errors() as exc:
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        if isinstance(exc, KeyError):
            message = f"missing key {exc}"
        print(f"error: {message}", file=sys.stderr)
        return 2
