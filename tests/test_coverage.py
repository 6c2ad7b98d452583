"""The coverage corpus (tools/coverage.py) through deploy -> verify -> firmware on cortex-m55 (slow: make test-all)."""
import importlib.util
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow


def _coverage():
    path = Path(__file__).resolve().parent.parent / "tools" / "coverage.py"
    spec = importlib.util.spec_from_file_location("coverage_tool", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_corpus_model_gets_a_row_and_refusals_are_one_line():
    """Every model ends in a row (a refusal is a WessError naming the stage; anything else would propagate); the
    models whose operators the C runner has today go all the way, bit-exact in QEMU."""
    coverage = _coverage()
    rows = {name: coverage.run_model(name, build) for name, build in coverage.CORPUS.items()}
    print("\n" + coverage.table(list(rows.values())))
    assert set(rows) == set(coverage.CORPUS)
    for name in ("mlp", "sigmoid_classifier", "conv1d_kws", "autoencoder", "unet_ish", "subclassed", "onet_like",
                 "detector_heads", "global_max_pool"):
        assert (rows[name].result, rows[name].mismatched_bytes) == ("firmware ok", 0), rows[name]
        assert rows[name].instructions > 0
    for row in rows.values():
        assert row.result == "firmware ok" or (" refused: " in row.result and "\n" not in row.result), row
