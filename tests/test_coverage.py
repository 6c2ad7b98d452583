"""The coverage corpus (tools/coverage.py) through deploy -> verify -> firmware on cortex-m55 and cortex-m3 (slow:
make test-all)."""
import importlib.util
import sys
from pathlib import Path

import pytest



def _coverage():
    path = Path(__file__).resolve().parent.parent / "tools" / "coverage.py"
    spec = importlib.util.spec_from_file_location("coverage_tool", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses resolve their annotations through sys.modules
    spec.loader.exec_module(module)
    return module


def test_targets_option_and_table_columns():
    """--target: repeatable or a comma list, duplicates once, default both; the table has a column per target, n/a
    where the firmware did not run (fast: no model is built)."""
    from pipeline.errors import InputError

    coverage = _coverage()
    assert coverage._targets(None) == ("cortex-m55", "cortex-m3")
    assert coverage._targets(["cortex-m3,cortex-m4", "cortex-m3"]) == ("cortex-m3", "cortex-m4")
    with pytest.raises(InputError, match="unknown target 'cortex-m9'"):
        coverage._targets(["cortex-m9"])
    rows = [coverage.CoverageRow("a", ["CONV_2D", "MEAN"], "firmware ok", 0, {"cortex-m55": 1234, "cortex-m3": 56789}),
            coverage.CoverageRow("b", [], "deploy refused: x", None, {"cortex-m55": None, "cortex-m3": None})]
    assert coverage.table(rows).splitlines() == [
        "| model | ops | result | bytes differing | instructions cortex-m55 | instructions cortex-m3 |",
        "|---|---|---|---|---|---|",
        "| a | CONV_2D, MEAN | firmware ok | 0 | 1,234 | 56,789 |",
        "| b |  | deploy refused: x | n/a | n/a | n/a |"]


@pytest.mark.slow
def test_every_corpus_model_reaches_the_firmware_on_both_targets():
    """Every model ends in a row (a refusal is a WessError naming the stage; anything else would propagate) and goes
    all the way: 0 bytes between the C reference and TFLite Micro, the firmware bit-exact with the host C reference
    in QEMU on cortex-m55 and cortex-m3 (no model of the corpus is refused today)."""
    coverage = _coverage()
    assert coverage.TARGETS == ("cortex-m55", "cortex-m3")
    rows = {name: coverage.run_model(name, build) for name, build in coverage.CORPUS.items()}
    print("\n" + coverage.table(list(rows.values())))
    assert set(rows) == set(coverage.CORPUS)
    for row in rows.values():
        assert (row.result, row.mismatched_bytes) == ("firmware ok", 0), row
        assert set(row.instructions) == set(coverage.TARGETS), row
        assert all(count > 0 for count in row.instructions.values()), row


@pytest.mark.slow
def test_mtcnn_onet_deploys_from_a_keras_file_with_custom_objects(tmp_path, capfd):
    """The user's path for a package's subclassed model: save it, deploy the file naming the module that defines it."""
    import json

    import numpy as np

    from pipeline.cli import main as cli

    coverage = _coverage()
    net = coverage.CORPUS["mtcnn_onet"]().layers[-1]  # the subclassed ONet inside the functional wrapper
    net.save(tmp_path / "onet.keras")
    np.savez(tmp_path / "calib.npz", x=np.random.default_rng(0).uniform(-1, 1, (32, 48, 48, 3)).astype(np.float32))
    code = cli.main(["deploy", str(tmp_path / "onet.keras"), "--custom-objects", "mtcnn.network.onet", "--data",
                     str(tmp_path / "calib.npz"), "--out", str(tmp_path / "out"), "--json"])
    out = capfd.readouterr().out
    assert code == 0, out
    verification = json.loads(out)["verification"]
    assert verification["pair"] == "ref vs tflm" and verification["mismatched_bytes"] == 0
    assert verification["firmware_unsupported"] == []
