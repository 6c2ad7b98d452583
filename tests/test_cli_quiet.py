"""The CLI as a user's process sees it: no abbreviated options, `--version`, and nothing on stderr but one line."""
import json
import os
import subprocess
import sys
from importlib import metadata as importlib_metadata
from pathlib import Path

import numpy as np
import pytest

from pipeline.cli import main as cli
from pipeline.tflite import versions

ROOT = Path(__file__).resolve().parent.parent
# TensorFlow's own logging at its most talkative: what a user's environment may well have set
NOISY_ENV = {"TF_CPP_MIN_LOG_LEVEL": "0", "TF_ENABLE_ONEDNN_OPTS": "1"}


def wess_process(*argv, cwd=None):
    """The CLI in its own process, as the `wess` script runs it."""
    env = {**os.environ, **NOISY_ENV, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "pipeline.cli", *map(str, argv)], capture_output=True, text=True,
                          env=env, cwd=cwd, timeout=900)


@pytest.mark.parametrize("argv", [
    ("deploy", "zoo:resnet8", "--target-d", "1"),  # a prefix of --target-drop
    ("deploy", "zoo:resnet8", "--sch", "wess"),  # a prefix of --scheme
    ("firmware", "m.tflite", "--tar", "cortex-m3"),
    ("--deb", "zoo", "list"),
])
def test_abbreviated_options_are_errors(argv, capsys):
    with pytest.raises(SystemExit) as exc:
        cli.build_parser().parse_args(list(argv))
    assert exc.value.code == cli.EXIT_USAGE
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and "unrecognized arguments" in err, err


def test_target_is_not_read_as_target_drop():
    """The bug that made abbreviations visible: `--target ethos-u55-128` parsed as `--target-drop`."""
    args = cli.build_parser().parse_args(["deploy", "zoo:mobilenet_v1", "--target", "ethos-u55-128"])
    assert (args.target, args.target_drop) == ("ethos-u55-128", None)


def test_version_lists_the_recorded_tools():
    proc = wess_process("--version")
    assert (proc.returncode, proc.stderr) == (0, "")
    lines = proc.stdout.splitlines()
    assert lines[0] == f"wess-deploy {importlib_metadata.version('wess-deploy')}"
    recorded = versions.tool_versions(compiler=True)
    assert lines[1:] == [f"{name} {version or 'not installed'}" for name, version in recorded.items()
                         if name != "wess-deploy"]


def test_usage_error_is_one_line():
    proc = wess_process("deploy", "zoo:resnet8", "--scheme", "bogus")
    assert proc.returncode == cli.EXIT_USAGE and proc.stdout == ""
    assert proc.stderr.count("\n") == 1 and proc.stderr.startswith("wess deploy: error: argument --scheme: invalid "
                                                                     "choice: 'bogus'"), proc.stderr


def test_refused_deploy_after_tensorflow_loaded_is_one_line(tmp_path):
    """The refusal comes after Keras (and so TensorFlow) has loaded the model, with TF's logging switched on."""
    np.savez(tmp_path / "calib.npz", x=np.zeros((4, 8, 8), np.float32))
    proc = wess_process("deploy", "zoo:resnet8", "--data", tmp_path / "calib.npz", "--out", tmp_path / "out")
    assert proc.returncode == cli.EXIT_USAGE and proc.stdout == ""
    assert proc.stderr.splitlines() == [f"wess deploy: error: {tmp_path / 'calib.npz'}: x has shape (4, 8, 8); the "
                                        "model expects (N, 32, 32, 1)"], proc.stderr


def test_deploy_json_is_alone_on_stdout_and_stderr_is_empty(tmp_path, tiny_model):
    model, calib, _ = tiny_model
    proc = wess_process("deploy", model, "--data", calib, "--out", tmp_path / "out", "--json", cwd=tmp_path)
    assert (proc.returncode, proc.stderr) == (0, "")
    report = json.loads(proc.stdout)  # exactly one JSON object: anything else on stdout fails to parse
    assert report["model"] == "model" and report["verification"]["mismatched_bytes"] == 0


def test_parsing_loads_no_tensorflow():
    """Usage errors, --help and --version come before the native libraries' output is redirected: parsing must
    not import TensorFlow, Keras or Vela (whose import-time log lines would precede the one-line error)."""
    probe = ("import sys; from pipeline.cli import main as cli; cli.build_parser().parse_args(['deploy', 'zoo:resnet8']); "
             "print(sorted(m for m in ('tensorflow', 'keras', 'ethosu', 'tflite_micro') if m in sys.modules))")
    proc = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, "[]\n", "")
