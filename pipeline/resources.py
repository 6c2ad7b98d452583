"""Where the C reference library and sources are: a source checkout's, else the copies installed with the package."""
from __future__ import annotations

import os
from pathlib import Path

from .errors import UnsupportedError

PACKAGE_DIR = Path(__file__).resolve().parent
CHECKOUT_ROOT = PACKAGE_DIR.parent
LIBRARY_NAME = "libwess_ref.so"
PACKAGED_LIBRARY = PACKAGE_DIR / "lib" / LIBRARY_NAME  # built by setup.py when the wheel is made
PACKAGED_SOURCES = PACKAGE_DIR / "firmware_ref"  # include/, src/, firmware/, copied by setup.py


def source_checkout() -> Path | None:
    """The repository root when this package runs from a source checkout (firmware_ref/ beside pipeline/)."""
    return CHECKOUT_ROOT if (CHECKOUT_ROOT / "firmware_ref" / "Makefile").is_file() else None


def reference_library() -> Path:
    """build/libwess_ref.so of a checkout (built with make), else the wheel's pipeline/lib/libwess_ref.so."""
    root = source_checkout()
    return root / "build" / LIBRARY_NAME if root else PACKAGED_LIBRARY


def library_hint() -> str:
    """How to get the library reference_library() names."""
    root = source_checkout()
    if root:
        return f"build it with `make -C firmware_ref BUILD_DIR={root / 'build'}`"
    return "the installed wess-deploy lacks its C library: reinstall it from a wheel built with `pip wheel .`"


def firmware_sources() -> Path:
    """firmware_ref/ (include/, src/, firmware/) of a checkout, else the copy installed with the package."""
    root = source_checkout()
    sources = root / "firmware_ref" if root else PACKAGED_SOURCES
    if not (sources / "src").is_dir() or not (sources / "firmware").is_dir():
        raise UnsupportedError(f"{sources}: the firmware sources are missing; reinstall wess-deploy from a wheel built "
                        "with `pip wheel .`")
    return sources


def cache_dir() -> Path:
    """The per-user cache for build outputs: $XDG_CACHE_HOME/wess-deploy, by default ~/.cache/wess-deploy."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "wess-deploy"


def firmware_out_dir(model_name: str, target: str) -> Path:
    """`wess firmware`'s default --out: build/firmware/<model>/<target> under the working directory in a source
    checkout (as `make firmware` expects), else under the per-user cache, never inside the installed package."""
    base = Path("build") if source_checkout() else cache_dir()
    return base / "firmware" / model_name / target
