"""User-facing errors: the CLI prints them as one line and exits with status 2."""
from __future__ import annotations

import contextlib
from collections.abc import Iterator


class WessError(Exception):
    """Bad input or an unsupported model: the message names the file, layer or tensor and what is wrong."""


class VerificationError(WessError):
    """Backends disagree: the message says how; `result` is the whole report (the CLI prints it with --json)."""

    def __init__(self, message: str, result: dict):
        super().__init__(message)
        self.result = result


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised in the main thread like SIGINT's KeyboardInterrupt so the same cleanup runs."""


@contextlib.contextmanager
def about(source: str) -> Iterator[None]:
    """Prefix a WessError raised inside with `source: ` unless its message already starts with it."""
    try:
        yield
    except WessError as exc:
        if not str(exc).startswith(f"{source}:"):
            exc.args = (f"{source}: {exc}",)
        raise
