"""Errors that say whose fault: bad input and unsupported features (exit 2), everything else is a bug (exit 1)."""
from __future__ import annotations

import contextlib
from collections.abc import Iterator


class WessError(Exception):
    """The user's side of a failure (exit 2): the message names the file, layer, tensor or option and what is wrong.

    Raise one of the subclasses; a plain WessError reads as bad input. Any other exception is a bug in wess-deploy.
    """


class InputError(WessError):
    """Bad input: a file, array, tensor or option that is malformed, inconsistent or out of range."""


class UnsupportedError(WessError):
    """Valid input that wess-deploy cannot handle yet: names the op or layer and what would be needed."""


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
