"""Tool versions: recorded in report.json / report.md and in the model's `wess.versions` metadata entry."""
from __future__ import annotations

import json
import platform
import shutil
import subprocess
from importlib import metadata as importlib_metadata

from pipeline.errors import InputError

METADATA_NAME = "wess.versions"
FORMAT = 1
# key -> the distributions that provide it (the first one installed wins)
PACKAGES = {"wess-deploy": ("wess-deploy",), "tensorflow": ("tensorflow-cpu", "tensorflow"), "keras": ("keras",),
            "ai-edge-litert": ("ai-edge-litert",), "tflite-micro": ("tflite-micro",), "numpy": ("numpy",),
            "flatbuffers": ("flatbuffers",)}
COMPILER = "arm-none-eabi-gcc"


def _installed(distributions: tuple[str, ...]) -> str | None:
    for name in distributions:
        try:
            return importlib_metadata.version(name)
        except importlib_metadata.PackageNotFoundError:
            continue
    return None


def tool_versions(compiler: bool = False) -> dict[str, str | None]:
    """python and the packages that shape the output; with `compiler`, arm-none-eabi-gcc's version too."""
    versions = {"python": platform.python_version(), **{key: _installed(d) for key, d in PACKAGES.items()}}
    if compiler:
        versions[COMPILER] = gcc_version()
    return versions


def gcc_version(program: str = COMPILER) -> str | None:
    """The version number `arm-none-eabi-gcc -dumpfullversion` prints, or None when it is not installed."""
    path = shutil.which(program)
    if path is None:
        return None
    proc = subprocess.run([path, "-dumpfullversion"], capture_output=True, text=True)
    return proc.stdout.strip() or None if proc.returncode == 0 else None


def encode(versions: dict[str, str | None]) -> bytes:
    """The metadata payload: compact JSON with sorted keys, so equal versions give equal bytes."""
    return json.dumps({"format": FORMAT, "versions": versions}, sort_keys=True, separators=(",", ":")).encode()


def decode(payload: bytes, source: str) -> dict[str, str | None]:
    where = f"{source}: metadata {METADATA_NAME!r}"
    try:
        record = json.loads(payload.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"{where}: not UTF-8 JSON ({exc})") from None
    if not isinstance(record, dict) or not isinstance(record.get("format"), int) \
            or not isinstance(record.get("versions"), dict):
        raise InputError(f"{where}: expected an object with an integer 'format' and a 'versions' object")
    if record["format"] > FORMAT:
        raise InputError(f"{where}: format {record['format']} is newer than this wess-deploy reads ({FORMAT}); "
                        "upgrade wess-deploy")
    return {str(k): None if v is None else str(v) for k, v in record["versions"].items()}


def stamp(model: bytes) -> bytes:
    """The model with a `wess.versions` metadata entry holding this process's tool versions."""
    from . import flatbuf

    parsed = flatbuf.read_model(model)
    flatbuf.set_metadata(parsed, METADATA_NAME, encode(tool_versions()))
    return flatbuf.write_model(parsed)


def read(model, source: str) -> dict[str, str | None] | None:
    """The versions a ModelT was made with, or None for a model without the entry (made before it existed)."""
    from . import flatbuf

    payload = flatbuf.get_metadata(model, METADATA_NAME)
    return None if payload is None else decode(payload, source)
