"""`--target`: Cortex-M cost measured in QEMU, Ethos-U compiled by the real Vela (pinned extra `ethos-u`)."""
import csv
import json
import os
import subprocess
import sys
from importlib import metadata as importlib_metadata
from pathlib import Path

import pytest

from pipeline.cli import main as cli
from pipeline.cref import compact
from pipeline.firmware import targets, vela
from pipeline.tflite import flatbuf, metadata

ROOT = Path(__file__).resolve().parent.parent


def _vela_installed() -> bool:
    try:
        return importlib_metadata.version(vela.DISTRIBUTION) == vela.PINNED_VERSION
    except importlib_metadata.PackageNotFoundError:
        return False


needs_vela = pytest.mark.skipif(not _vela_installed(), reason=f"{vela.DISTRIBUTION}=={vela.PINNED_VERSION} not "
                                f"installed (it is in the dev extra: make setup, or {vela.INSTALL_HINT})")


def wess(capfd, *argv):
    code = cli.main([str(a) for a in argv])
    out, err = capfd.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def ethos_deploy(tmp_path_factory):
    if not _vela_installed():
        pytest.skip(f"{vela.DISTRIBUTION} not installed")
    out = tmp_path_factory.mktemp("ethos")
    assert cli.main(["deploy", "zoo:resnet8", "--target", "ethos-u55-128", "--out", str(out), "--json"]) == 0
    return out


@needs_vela
def test_ethos_deploy_reports_vela_figures(ethos_deploy):
    report = json.loads((ethos_deploy / "report.json").read_text())["target"]
    assert (report["name"], report["kind"], report["executed"]) == ("ethos-u55-128", "ethos-u", False)
    assert (report["system_config"], report["memory_mode"]) == ("Ethos_U55_High_End_Embedded", "Shared_Sram")
    assert report["vela_version"] == vela.PINNED_VERSION
    # every zoo model runs wholly on the NPU (Vela folds Flatten's dynamic-batch SHAPE/STRIDED_SLICE/PACK away)
    assert (report["cpu_operators"], report["cpu_operator_list"], report["npu_command_streams"]) == (0, [], 1)
    assert {w["op"] for w in report["warnings"]} <= {"SHAPE", "STRIDED_SLICE", "PACK"}
    row = next(csv.DictReader((ethos_deploy / vela.SUMMARY_CSV).open()))
    assert report["cycles_per_inference"] == int(float(row["cycles_total"]))
    assert report["encoded_weight_bytes"] == int(float(row["total_npu_encoded_weights"]))
    assert report["sram_bytes"] == round(float(row["sram_memory_used"]) * 1024) > 0
    assert report["off_chip_flash_bytes"] > report["encoded_weight_bytes"] > 0 and report["dram_bytes"] == 0
    assert report["inference_time_s"] == pytest.approx(report["cycles_per_inference"] / report["core_clock_hz"],
                                                       rel=1e-5)  # Vela prints the time rounded to 6 digits
    compiled = compact.compile_model((ethos_deploy / "model.tflite").read_bytes())
    channels = sum(compiled.tensors[op.outputs[0]].dims[3] for op in compiled.ops if op.op_code in compact.WEIGHTED_OPS)
    assert report["scale_bias_bytes"] == 10 * channels
    md = (ethos_deploy / "report.md").read_text()
    assert "## Target ethos-u55-128 (compiled and estimated by Vela 5.2.0, not executed)" in md


@needs_vela
def test_vela_model_drops_the_stale_shifts_and_says_why(ethos_deploy, capfd):
    source = flatbuf.read_model_file(ethos_deploy / "model.tflite")
    compiled = flatbuf.read_model_file(ethos_deploy / vela.VELA_MODEL)
    assert flatbuf.get_metadata(source, metadata.METADATA_NAME) is not None
    assert flatbuf.get_metadata(compiled, metadata.METADATA_NAME) is None
    record = json.loads(flatbuf.get_metadata(compiled, vela.METADATA_NAME))
    assert record["dropped_metadata"] == vela.DROPPED and record["target"] == "ethos-u55-128"
    assert vela.is_vela_output(compiled) and not vela.is_vela_output(source)
    code, out, err = wess(capfd, "inspect", ethos_deploy / vela.VELA_MODEL, "--json")
    assert (code, err) == (0, "")
    shown = json.loads(out)
    assert (shown["vela_output"], shown["npu_command_streams"], shown["cpu_operators"]) == (True, 1, [])
    assert shown["versions"][vela.DISTRIBUTION] == vela.PINNED_VERSION and not shown["wess_shifts_present"]


@needs_vela
def test_ethos_outputs_refused_without_force(ethos_deploy, capfd, tmp_path, tiny_model):
    """A Vela model from an earlier deploy is an output like model.tflite: kept unless --force; a forced deploy for
    another target removes it (it was compiled from the model being replaced)."""
    kept = (ethos_deploy / vela.VELA_MODEL).read_bytes()
    (tmp_path / vela.VELA_MODEL).write_bytes(kept)
    model, calib, _ = tiny_model
    code, _, err = wess(capfd, "deploy", model, "--data", calib, "--target", "ethos-u55-128", "--out", tmp_path)
    assert (code, err) == (2, f"wess deploy: error: {tmp_path / vela.VELA_MODEL}: exists; pass --force to replace "
                              "it\n")
    assert sorted(p.name for p in tmp_path.iterdir()) == [vela.VELA_MODEL]
    assert (tmp_path / vela.VELA_MODEL).read_bytes() == kept
    code, _, err = wess(capfd, "deploy", model, "--data", calib, "--out", tmp_path, "--force")
    assert code == 0, err
    assert not (tmp_path / vela.VELA_MODEL).exists() and (tmp_path / "model.tflite").is_file()


@needs_vela
def test_eval_on_ethos_shows_every_scheme(tmp_path, tiny_model):
    """In its own process: stdout is the one JSON object, and no library warning reaches stderr."""
    model, calib, test = tiny_model
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p)}
    proc = subprocess.run([sys.executable, "-m", "pipeline.cli", "eval", str(model), "--data", str(calib),
                           "--test-data", str(test), "--target", "ethos-u85-256", "--out", str(tmp_path), "--json",
                           "--schemes", "per_tensor,per_channel,wess", "--augment", "0"],
                          capture_output=True, text=True, env=env, timeout=1800)
    assert (proc.returncode, proc.stderr) == (0, "")
    result = json.loads(proc.stdout)
    rows = result["target"]["schemes"]
    assert result["target"]["name"] == "ethos-u85-256" and list(rows) == list(result["schemes"])
    for row in rows.values():
        assert set(row) == set(targets.SCHEME_FIGURES["ethos-u"])
        assert row["encoded_weight_bytes"] > 0 and row["cycles_per_inference"] > 0 and row["cpu_operators"] == 0
        assert row["scale_bias_bytes"] == 10 * (8 + 8 + 10)  # one record per output channel, whatever the scheme
    assert "## The schemes on ethos-u85-256" in (tmp_path / "eval.md").read_text()


def test_missing_vela_is_one_line(capfd, monkeypatch, tmp_path):
    real = importlib_metadata.version

    def version(name):
        if name == vela.DISTRIBUTION:
            raise importlib_metadata.PackageNotFoundError(name)
        return real(name)

    monkeypatch.setattr(vela.importlib_metadata, "version", version)
    code, out, err = wess(capfd, "deploy", "zoo:resnet8", "--target", "ethos-u65-256", "--out", tmp_path / "o")
    assert (code, out) == (2, "")
    assert err == ("wess deploy: error: Ethos-U targets need Vela, which is not installed: pip install "
                   "'wess-deploy[ethos-u]' (installs ethos-u-vela==5.2.0)\n")
    assert not (tmp_path / "o").exists()


def test_cortex_m_target_measures_the_deployed_model(tmp_path, capfd, tiny_model):
    model, calib, _ = tiny_model
    code, out, err = wess(capfd, "deploy", model, "--data", calib, "--target", "cortex-m55", "--out", tmp_path,
                          "--json")
    assert code == 0, err
    report = json.loads(out)["target"]
    assert (report["name"], report["kind"], report["matches_host"]) == ("cortex-m55", "cortex-m", True)
    assert report["blob_bytes"] == len(compact.compile_model((tmp_path / "model.tflite").read_bytes()).blob)
    assert report["flash_bytes"] > report["blob_bytes"] and report["ram_bytes"] > report["arena_bytes"] > 0
    assert report["instructions_per_inference"] > 0
    assert "## Target cortex-m55 (firmware measured in QEMU)" in (tmp_path / "report.md").read_text()


@needs_vela
def test_inspect_refuses_a_corrupt_vela_record(ethos_deploy, capfd, tmp_path):
    model = flatbuf.read_model_file(ethos_deploy / vela.VELA_MODEL)
    flatbuf.set_metadata(model, vela.METADATA_NAME, b"\xff not json")
    path = tmp_path / "corrupt_vela.tflite"
    path.write_bytes(flatbuf.write_model(model))
    code, out, err = wess(capfd, "inspect", path)
    assert (code, out) == (2, "")
    assert err.startswith(f"wess inspect: error: {path}: metadata 'wess.vela': not UTF-8 JSON (") and \
        err.count("\n") == 1, err
