"""Nothing lost, same bytes: the --force rule, SIGINT/SIGTERM mid-deploy, untouched inputs, reproducible outputs."""
from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from pipeline import deploy
from pipeline.cli import main as cli
from pipeline.cref import compact
from pipeline.tflite import flatbuf, versions

ROOT = Path(__file__).resolve().parent.parent
needs_toolchain = pytest.mark.skipif(shutil.which("arm-none-eabi-gcc") is None, reason="gcc-arm-none-eabi missing")


def wess(capfd, *argv):
    code = cli.main([str(a) for a in argv])
    out, err = capfd.readouterr()
    return code, out, err


def files(root: Path) -> dict[str, tuple[bytes, int]]:
    """Every file under root (temp files included) with its bytes and st_mtime_ns."""
    return {str(p.relative_to(root)): (p.read_bytes(), p.stat().st_mtime_ns) for p in sorted(root.rglob("*"))
            if p.is_file()}


def subprocess_env(tmp: Path) -> dict[str, str]:
    tmp.mkdir(exist_ok=True)
    return {**os.environ, "PYTHONPATH": str(ROOT), "TMPDIR": str(tmp)}


@pytest.fixture(scope="module")
def user_files(tmp_path_factory, splits, zoo_model):
    """A user's ds_cnn .keras with calibration and test data, and its model deployed in this process."""
    root = tmp_path_factory.mktemp("user")
    zoo_model("ds_cnn").save(root / "user.keras")
    np.savez(root / "calib.npz", x=splits.x_calib[:50])
    np.savez(root / "test.npz", x=splits.x_test[:50], y=splits.y_test[:50])
    np.save(root / "x.npy", splits.x_test[:2])
    code = cli.main(["deploy", str(root / "user.keras"), "--data", str(root / "calib.npz"), "--out",
                     str(root / "deployed"), "--verify-inputs", "5"])
    assert code == 0
    return root


# ---------------------------------------------------------------- one rule: replace outputs only with --force

@pytest.mark.parametrize("argv,existing", [
    (["deploy", "zoo:ds_cnn"], "build/deploy/ds_cnn/report.json"),
    (["firmware", "{model}"], "build/firmware/deployed/cortex-m3/firmware.hex"),
    (["run", "{model}", "--random-input", "--output", "y.npy"], "y.npy"),
    (["run", "{model}", "--random-input", "--backend", "ref", "--dump-intermediates", "dump"],
     "dump/t0000_input.npy"),
])
def test_existing_outputs_are_kept_without_force(argv, existing, user_files, tmp_path, capfd, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / existing).parent.mkdir(parents=True, exist_ok=True)
    (tmp_path / existing).write_bytes(b"earlier output")
    before = files(tmp_path)
    code, out, err = wess(capfd, *[a.format(model=user_files / "deployed" / "model.tflite") for a in argv])
    assert (code, out) == (2, "")
    assert err.splitlines() == [f"wess {argv[0]}: error: {existing}: exists; pass --force to replace it"]
    assert files(tmp_path) == before


def test_force_replaces_outputs(user_files, tmp_path, capfd):
    target = tmp_path / "y.npy"
    target.write_bytes(b"earlier output")
    code, _, err = wess(capfd, "run", user_files / "deployed" / "model.tflite", "--random-input", "--output", target,
                        "--force")
    assert code == 0, err
    assert np.load(target).shape == (1, 10)


# ---------------------------------------------------------------- interrupted runs

@pytest.mark.parametrize("signum,step", [(signal.SIGINT, "calibrate_pass"),
                                         pytest.param(signal.SIGTERM, "quantize_pass", marks=pytest.mark.slow)])
def test_interrupted_deploy_leaves_earlier_outputs(signum, step, tmp_path):
    """The signal arrives once --progress says the pass started; earlier outputs stay byte for byte, no temp file."""
    out = tmp_path / "out"
    out.mkdir()
    for name in deploy.OUTPUTS:
        (out / name).write_bytes(f"earlier {name}".encode())
    before = files(out)
    proc = subprocess.Popen([sys.executable, "-m", "pipeline.cli", "deploy", "zoo:ds_cnn", "--out", str(out),
                             "--force", "--progress"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=subprocess_env(tmp_path / "tmp"))
    seen = []
    for line in proc.stderr:
        seen.append(line)
        if re.fullmatch(rf"wess deploy: pass \d+/{len(deploy.PASSES)} {step}", line.strip()):
            break
    else:
        pytest.fail(f"no --progress line for {step}: {''.join(seen[-5:])}")
    proc.send_signal(signum)
    stdout, stderr = proc.communicate(timeout=300)
    name = signal.Signals(signum).name
    assert proc.returncode == 128 + signum, stderr[-3000:]
    assert stdout == ""
    assert stderr.strip().splitlines()[-1] == f"wess deploy: interrupted by {name}; no output was written or replaced"
    assert files(out) == before
    assert list((tmp_path / "tmp").iterdir()) == []


# ---------------------------------------------------------------- inputs are only read

@needs_toolchain
def test_every_command_leaves_its_inputs_untouched(user_files, capfd, tmp_path):
    inputs = ["user.keras", "calib.npz", "test.npz", "x.npy", "deployed/model.tflite"]
    before = {name: ((user_files / name).read_bytes(), (user_files / name).stat().st_mtime_ns) for name in inputs}
    model = user_files / "deployed" / "model.tflite"
    commands = [
        ["deploy", user_files / "user.keras", "--data", user_files / "calib.npz", "--out", tmp_path / "d",
         "--verify-inputs", "5"],
        ["eval", user_files / "user.keras", "--data", user_files / "calib.npz", "--test-data", user_files / "test.npz",
         "--schemes", "wess", "--augment", "0"],
        ["run", model, "--input", user_files / "x.npy", "--backend", "ref", "--output", tmp_path / "y.npy"],
        ["inspect", model],
        ["verify", model, "--inputs", 2, "--random-inputs", 1],
        ["firmware", model, "--inputs", 1, "--out", tmp_path / "fw"],
    ]
    for argv in commands:
        code, _, err = wess(capfd, *argv)
        assert code == 0, (argv[0], err)
        after = {name: ((user_files / name).read_bytes(), (user_files / name).stat().st_mtime_ns) for name in inputs}
        assert after == before, argv[0]


# ---------------------------------------------------------------- determinism and recorded versions

@needs_toolchain
def test_outputs_are_byte_identical_in_a_fresh_process(user_files, tmp_path, capfd):
    """The same model, data and options give the same .tflite, compact blob and firmware images."""
    first_model = user_files / "deployed" / "model.tflite"
    code, _, err = wess(capfd, "firmware", first_model, "--inputs", 1, "--out", tmp_path / "fw1")
    assert code == 0, err
    env = subprocess_env(tmp_path / "tmp")
    for argv in (["deploy", user_files / "user.keras", "--data", user_files / "calib.npz", "--out", tmp_path / "d2",
                  "--verify-inputs", "5"],
                 ["firmware", tmp_path / "d2" / "model.tflite", "--inputs", 1, "--out", tmp_path / "fw2"]):
        proc = subprocess.run([sys.executable, "-m", "pipeline.cli", *map(str, argv)], capture_output=True,
                              text=True, env=env, timeout=600)
        assert proc.returncode == 0, proc.stderr
    second_model = tmp_path / "d2" / "model.tflite"
    assert first_model.read_bytes() == second_model.read_bytes()
    assert compact.compile_model(first_model.read_bytes()).blob == compact.compile_model(second_model.read_bytes()).blob
    for name in ("firmware.elf", "firmware.bin", "firmware.hex", "model_data.c", "model_data.h"):
        assert (tmp_path / "fw1" / name).read_bytes() == (tmp_path / "fw2" / name).read_bytes(), name
    for name in ("ranges.png", "sqnr.png", "report.md"):
        assert ((user_files / "deployed" / name).read_bytes().replace(str(user_files / "deployed").encode(), b"")
                == (tmp_path / "d2" / name).read_bytes().replace(str(tmp_path / "d2").encode(), b"")), name


def test_versions_are_recorded_in_report_metadata_and_inspect(user_files, capfd):
    deployed = user_files / "deployed"
    expected = versions.tool_versions()
    assert set(expected) == {"python", *versions.PACKAGES} and expected["tensorflow"] and expected["wess-deploy"]
    assert json.loads((deployed / "report.json").read_text())["versions"] == expected
    assert all(f"- {k}: {v}" in (deployed / "report.md").read_text() for k, v in expected.items())
    payload = flatbuf.get_metadata(flatbuf.read_model((deployed / "model.tflite").read_bytes()), versions.METADATA_NAME)
    assert payload == versions.encode(expected)
    code, out, _ = wess(capfd, "inspect", deployed / "model.tflite", "--json")
    assert code == 0 and json.loads(out)["versions"] == expected


@needs_toolchain
def test_firmware_reports_the_compiler_version(user_files, tmp_path, capfd):
    code, out, err = wess(capfd, "firmware", user_files / "deployed" / "model.tflite", "--inputs", 1, "--out",
                          tmp_path / "fw", "--json")
    assert code == 0, err
    gcc = subprocess.run(["arm-none-eabi-gcc", "-dumpfullversion"], capture_output=True, text=True).stdout.strip()
    assert json.loads(out)["versions"] == {**versions.tool_versions(), "arm-none-eabi-gcc": gcc}
