"""atheris harnesses over the Python readers: any input either works or raises WessError with a message.

Usage: python tools/fuzz_python.py HARNESS [libFuzzer arguments] [CORPUS_DIR ...]
HARNESS is one of:
  flatbuf   pipeline.flatbuf.read_model on .tflite bytes
  metadata  .tflite bytes: read_model, then metadata.read_shifts (get_metadata + metadata.decode + the checks
            against the model); other bytes: metadata.decode of a raw `wess.shifts` payload
  compact   pipeline.compact.compile_model on .tflite bytes (the compact-model writer's input)
Any exception other than WessError, or a WessError without a message, is a finding (atheris prints it and exits
non-zero); tools/fuzz.py runs these with time, hang and memory limits. `replay(harness, data)` is the same check
without atheris (tests/test_fuzz_regressions.py).
"""
from __future__ import annotations

import logging
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

HARNESSES = ("flatbuf", "metadata", "compact")
SOURCE = "fuzz.tflite"


def _targets():
    """The harness functions; imported late so that atheris can instrument the modules first."""
    from pipeline.cref import compact
    from pipeline.tflite import flatbuf, metadata

    def flatbuf_target(data: bytes) -> None:
        flatbuf.read_model(data, SOURCE)

    def metadata_target(data: bytes) -> None:
        if data[4:8] == flatbuf.FILE_IDENTIFIER:
            metadata.read_shifts(flatbuf.read_model(data, SOURCE), SOURCE)
        else:
            metadata.decode(data, "fuzz.shifts")

    def compact_target(data: bytes) -> None:
        compact.compile_model(data, SOURCE)

    return {"flatbuf": flatbuf_target, "metadata": metadata_target, "compact": compact_target}


def replay(harness: str, data: bytes) -> str | None:
    """Run one input through a harness: None if it was accepted, the WessError message if it was refused.
    Any other exception propagates (a finding)."""
    from pipeline.errors import WessError

    try:
        _targets()[harness](data)
    except WessError as error:
        message = str(error)
        if not message.strip():
            raise AssertionError("WessError without a message") from error
        return message
    return None


def main() -> None:
    import atheris

    if len(sys.argv) < 2 or sys.argv[1] not in HARNESSES:
        raise SystemExit(f"usage: {sys.argv[0]} {{{','.join(HARNESSES)}}} [libFuzzer arguments] [CORPUS ...]")
    harness = sys.argv.pop(1)
    logging.disable(logging.CRITICAL)  # the readers log warnings for odd but valid inputs
    with atheris.instrument_imports(include=["pipeline", "flatbuffers", "ai_edge_litert.schema_py_generated"]):
        import flatbuffers  # noqa: F401
        from ai_edge_litert import schema_py_generated  # noqa: F401

        from pipeline.cref import compact  # noqa: F401
        from pipeline.quant import rewrite  # noqa: F401
        from pipeline.tflite import flatbuf, metadata  # noqa: F401
    targets = _targets()
    target = targets[harness]
    from pipeline.errors import WessError

    def test_one_input(data: bytes) -> None:
        try:
            target(data)
        except WessError as error:
            if not str(error).strip():
                raise AssertionError("WessError without a message") from error

    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
