"""Fuzz findings stay fixed: every input in tests/fuzz_regressions/ and tests/fuzz_corpus/ gets a clean answer.

Each file goes through every Python reader harness (tools/fuzz_python.py: flatbuf, metadata, compact) and
through the C validator and runner (ctypes, pipeline/cref/library.py; under ASan in tools/run_sanitized_tests.sh): it
must be accepted or refused with a one-line WessError, never raise anything else or crash. docs/fuzzing.md.
"""
from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from pipeline.cref import compact, library
from pipeline.errors import WessError

pytestmark = pytest.mark.usefixtures("reference_library")
ROOT = Path(__file__).resolve().parent.parent
REGRESSIONS, CORPUS = ROOT / "tests" / "fuzz_regressions", ROOT / "tests" / "fuzz_corpus"
REGENERATE = ".venv/bin/python tools/fuzz.py corpus --commit"
INPUTS = sorted(p for d in (REGRESSIONS, CORPUS) for p in d.rglob("*") if p.is_file())


def _harnesses():
    spec = importlib.util.spec_from_file_location("fuzz_python", ROOT / "tools" / "fuzz_python.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


fuzz_python = _harnesses()


def _c_answer(data: bytes) -> str | None:
    """Validate, then run one zero input if accepted: None if it ran, else the one-line error."""
    try:
        info = library.validate_model(data)
        library.run_model(data, np.zeros((1, info.input_bytes), np.uint8), np.uint8)
    except WessError as error:
        assert "\n" not in str(error)
        return str(error)
    return None


@pytest.mark.parametrize("path", INPUTS, ids=lambda p: str(p.relative_to(ROOT / "tests")))
def test_input_is_accepted_or_refused_cleanly(path):
    data = path.read_bytes()
    for harness in fuzz_python.HARNESSES:
        message = fuzz_python.replay(harness, data)
        assert message is None or message.strip()
    _c_answer(data)


def test_regressions_are_refused():
    """Every committed finding is bad input: some reader must refuse it (a finding that now passes every
    reader silently would mean the fix is gone or the file is not what it claims)."""
    for path in sorted(p for p in REGRESSIONS.rglob("*") if p.is_file()):
        data = path.read_bytes()
        answers = [fuzz_python.replay(h, data) for h in fuzz_python.HARNESSES] + [_c_answer(data)]
        assert any(answer is not None for answer in answers), path


def test_committed_corpus_is_current():
    """The committed seeds are what the current writer produces, so the CI fuzz pass starts from valid models
    (a stale blob would stop at the version check)."""
    blobs = sorted((CORPUS / "blob").glob("*.blob"))
    assert blobs, f"no committed blob seeds: run {REGENERATE}"
    for blob in blobs:
        model = CORPUS / "compact" / f"{blob.stem}.tflite"
        assert model.is_file(), f"{model} missing: run {REGENERATE}"
        if compact.compile_model(model.read_bytes(), model.name).blob != blob.read_bytes():
            pytest.fail(f"{blob.relative_to(ROOT)} is stale (the blob format or writer changed): run {REGENERATE}")
        assert _c_answer(blob.read_bytes()) is None
