"""Atomic output files: write to a temp file in the target directory, fsync, then rename."""
from __future__ import annotations

import contextlib
import os
import signal
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from .errors import InputError, Terminated


def atomic_write_bytes(path: Path | str, data: bytes) -> None:
    """Replace `path` with `data` so that readers see either the old file or the whole new one."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp creates 0600; give the file the user's usual permissions
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_text(path: Path | str, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def refuse_existing(paths: list[Path], force: bool) -> None:
    """The one rule for every command that writes outputs: an existing output is replaced only with --force."""
    existing = [Path(p) for p in paths if Path(p).exists()]
    if existing and not force:
        more = f" (and {len(existing) - 1} more outputs)" if len(existing) > 1 else ""
        raise InputError(f"{existing[0]}: exists{more}; pass --force to replace it")


@dataclass
class _SignalState:
    deferring: bool = False
    pending: int | None = None  # a signal that arrived while deferring
    received: int | None = None  # the first signal since signals_handled() began


_signals = _SignalState()


def _raise_for(signum: int) -> None:
    raise Terminated() if signum == signal.SIGTERM else KeyboardInterrupt()


def _on_signal(signum: int, _frame) -> None:
    _signals.received = _signals.received or signum
    if _signals.deferring:
        _signals.pending = _signals.pending or signum
        return
    _raise_for(signum)


@contextlib.contextmanager
def signals_handled() -> Iterator[None]:
    """SIGINT raises KeyboardInterrupt and SIGTERM Terminated (a KeyboardInterrupt), so both clean up alike."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    _signals.received = None
    previous = {signum: signal.signal(signum, _on_signal) for signum in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def received_signal() -> int | None:
    """The signal that interrupted the command, if any: code that catches every exception (TensorFlow's converter
    calling back into Python) can turn the KeyboardInterrupt into another error; this tells the CLI what happened."""
    return _signals.received


@contextlib.contextmanager
def signals_deferred() -> Iterator[None]:
    """Hold SIGINT and SIGTERM while a set of outputs is written, so they are replaced together; raise after.

    A signal that arrived earlier and was swallowed on the way (see received_signal) stops the write here."""
    if _signals.received is not None:
        _raise_for(_signals.received)
    _signals.deferring = True
    try:
        yield
    finally:
        _signals.deferring = False
        pending, _signals.pending = _signals.pending, None
        if pending is not None:
            _raise_for(pending)
