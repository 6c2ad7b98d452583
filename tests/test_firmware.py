"""Cortex-M firmware builds run in QEMU: outputs identical to the host C reference, sizes, and bad input."""
import json
import shutil

import numpy as np
import pytest

from pipeline.cli import main as cli
from pipeline.cref import backends
from pipeline.firmware import build as firmware
from pipeline.keras import zoo
from pipeline.tflite import runtime

needs_toolchain = pytest.mark.skipif(shutil.which("arm-none-eabi-gcc") is None or
                                     shutil.which("qemu-system-arm") is None,
                                     reason="gcc-arm-none-eabi / qemu-system-arm not installed (make apt)")
pytestmark = needs_toolchain


def wess(capfd, *argv):
    """Run the CLI in process; return (exit code, stdout, stderr)."""
    code = cli.main([str(a) for a in argv])
    out, err = capfd.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def model_path(deployed, reference_library, tmp_path_factory):
    path = tmp_path_factory.mktemp("model") / "model.tflite"
    path.write_bytes(deployed.model)
    return path


@pytest.mark.parametrize("target", ["cortex-m3", "cortex-m55"])
def test_firmware_in_qemu_matches_host_reference(model_path, target, tmp_path, capfd):
    out = tmp_path / "fw"
    code, stdout, err = wess(capfd, "firmware", model_path, "--target", target, "--out", out, "--run",
                             "--inputs", 6, "--json")
    assert code == 0, err
    result = json.loads(stdout)
    assert result["matches_host"] is True and result["mismatched_inputs"] == 0 and result["inputs"] == 6
    assert result["instructions_min"] <= result["instructions_per_inference"] <= result["instructions_max"]
    # a sanity floor for the timer-based count, not a tight bound: measured 5.1 M on cortex-m3, 0.82 M on cortex-m55
    assert result["instructions_per_inference"] > 500_000
    memory = result["memory"]
    assert memory["flash_model_bytes"] >= result["blob_bytes"] and memory["ram_arena_bytes"] >= result["arena_bytes"]
    assert result["flash_bytes"] == sum(v for k, v in memory.items() if k.startswith("flash_"))
    assert result["ram_bytes"] == sum(v for k, v in memory.items() if k.startswith("ram_"))
    assert 0 < result["stack_used_bytes"] <= memory["ram_stack_bytes"]
    for artifact in result["artifacts"]:
        assert (out / artifact.rsplit("/", 1)[-1]).stat().st_size > 0
    assert json.loads((out / "firmware.json").read_text())["matches_host"] is True
    assert not [p for p in out.iterdir() if p.name.startswith(".")]  # no temporary left behind


def test_firmware_outputs_are_the_host_reference_bytes(model_path, tmp_path):
    """The bytes QEMU printed, parsed on the host, equal backends.run_ref's (not only the firmware's own memcmp)."""
    options = firmware.FirmwareOptions("cortex-m3", tmp_path, inputs=3)
    firmware.build_firmware(model_path.read_bytes(), str(model_path), options)
    run = firmware.run_qemu(firmware.TARGETS["cortex-m3"], tmp_path / "firmware.elf", 120)
    model = model_path.read_bytes()
    from pipeline.cref.verify import verification_inputs

    inputs, _ = verification_inputs(runtime.io_quant(model), 3, 0, 0)
    assert np.array_equal(run.outputs.view(np.int8), backends.run_ref(model, inputs))
    assert run.exit_status == 0 and run.firmware_match


def test_field_comparison(model_path):
    from pipeline.cref import compact

    model = model_path.read_bytes()
    compiled = compact.compile_model(model)
    params = firmware.requant_parameter_bytes(compiled)
    assert params["tflm_bytes"] == 8 * params["output_channels"]
    # one multiplier and one shift word per layer, 4 bits per channel
    assert params["ours_bytes"] <= 8 * params["layers"] + (params["output_channels"] + params["layers"]) // 2
    assert params["tflm_over_ours"] > 10
    arena = firmware.compare_with_field(compiled, model)["arena"]
    assert arena["ours_bytes"] == compiled.arena_bytes <= arena["tflm_total_bytes"]


def _assert_one_line_error(code, stdout, err, message):
    assert code == 2, err
    assert stdout == ""
    assert message in err, err
    assert len(err.strip().splitlines()) == 1, err
    assert "Traceback" not in err


def test_unknown_target_is_refused(model_path, tmp_path, capfd):
    code, stdout, err = wess(capfd, "firmware", model_path, "--target", "cortex-a53", "--out", tmp_path / "o")
    _assert_one_line_error(code, stdout, err, "unknown target 'cortex-a53'; choose one of cortex-m3")
    assert not (tmp_path / "o").exists()


def test_model_too_large_for_flash_says_by_how_much(model_path, tmp_path, capfd):
    code, stdout, err = wess(capfd, "firmware", model_path, "--flash-bytes", 65536, "--out", tmp_path / "o")
    _assert_one_line_error(code, stdout, err, "bytes of flash, the part has 65,536 (over by ")
    assert not list((tmp_path / "o").iterdir())


def test_model_too_large_for_ram_says_by_how_much(model_path, tmp_path, capfd):
    code, stdout, err = wess(capfd, "firmware", model_path, "--ram-bytes", 4096, "--out", tmp_path / "o")
    _assert_one_line_error(code, stdout, err, "bytes of RAM, the part has 4,096 (over by ")


def test_qemu_timeout_is_an_error_and_writes_nothing(model_path, tmp_path, capfd):
    code, stdout, err = wess(capfd, "firmware", model_path, "--run", "--timeout", 0.05, "--out", tmp_path / "o")
    _assert_one_line_error(code, stdout, err, "QEMU (mps2-an385) did not finish within 0.05 s")
    assert not list((tmp_path / "o").iterdir())


@pytest.mark.parametrize("program,package", [("arm-none-eabi-gcc", "gcc-arm-none-eabi"),
                                             ("qemu-system-arm", "qemu-system-arm")])
def test_missing_tool_names_the_debian_package(model_path, tmp_path, capfd, monkeypatch, program, package):
    real_which = shutil.which
    monkeypatch.setattr(shutil, "which", lambda name, *a, **k: None if name == program else real_which(name, *a, **k))
    code, stdout, err = wess(capfd, "firmware", model_path, "--run", "--out", tmp_path / "o")
    _assert_one_line_error(code, stdout, err, f"{program} not found on PATH: install the Debian package {package}")


def test_firmware_mismatch_exits_2_and_writes_nothing(model_path, tmp_path, capfd, monkeypatch):
    real_run_ref = backends.run_ref

    def one_byte_off(model, inputs):
        expected = real_run_ref(model, inputs).copy()
        expected[1, 0] ^= 1
        return expected

    monkeypatch.setattr(backends, "run_ref", one_byte_off)
    code, stdout, err = wess(capfd, "firmware", model_path, "--run", "--inputs", 2, "--out", tmp_path / "o", "--json")
    assert code == 2, err
    result = json.loads(stdout)
    assert result["matches_host"] is False and result["mismatched_inputs"] == 1
    assert "differ from the host C reference on 1 of 2 inputs" in err
    assert not list((tmp_path / "o").iterdir())


@pytest.mark.slow
@pytest.mark.parametrize("target", ["cortex-m3", "cortex-m55"])
@pytest.mark.parametrize("name", sorted(zoo.ZOO))
def test_every_zoo_model_on_m3_and_m55(name, target, zoo_model, splits, reference_library, tmp_path):
    from pipeline import deploy

    model = deploy.run_passes(zoo_model(name), splits.x_calib, deploy.DeployOptions()).model
    path = tmp_path / "model.tflite"
    path.write_bytes(model)
    result = firmware.build_firmware(model, str(path), firmware.FirmwareOptions(target, tmp_path / "fw", run=True,
                                                                                inputs=10))
    assert result["matches_host"] is True and result["inputs"] == 10


@pytest.mark.parametrize("target", ["cortex-m3", pytest.param("cortex-m55", marks=pytest.mark.slow)])  # soft, hard float
def test_mixed_model_firmware_matches_host_reference(mixed, deployed, reference_library, target):
    """A mixed model (conftest.py: four float32 conv / FC operators) in QEMU, byte for byte the host reference;
    firmware.measure gives the cost against the all-int8 model."""
    mixed_cost = firmware.measure(mixed, target, inputs=3)
    int8_cost = firmware.measure(deployed.model, target, inputs=1)
    print(f"{target}: int8 {int8_cost}\nmixed {mixed_cost}")
    assert mixed_cost.matches_host and int8_cost.matches_host
    assert mixed_cost.arena_bytes > int8_cost.arena_bytes  # float32 activations take 4 bytes per element
    assert mixed_cost.instructions_per_inference > int8_cost.instructions_per_inference > 0
