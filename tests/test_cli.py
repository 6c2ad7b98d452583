"""The `wess` CLI: JSON contracts, output files, bad input (one line, exit 2), inputs left untouched."""
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from pipeline.cli import main as cli
from pipeline.keras import zoo
from pipeline.quant import schemes


def wess(capfd, *argv):
    """Run the CLI in process; return (exit code, stdout, stderr)."""
    code = cli.main([str(a) for a in argv])
    out, err = capfd.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def deployed_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("deploy")
    code = cli.main(["deploy", "zoo:mobilenet_v1", "--out", str(out), "--json"])
    assert code == 0
    return out


def test_zoo_list_json(capfd):
    code, out, _ = wess(capfd, "zoo", "list", "--json")
    assert code == 0
    data = json.loads(out)
    assert [m["name"] for m in data["models"]] == list(zoo.ZOO)
    assert all(m["present"] and m["float_top1"] >= 0.95 for m in data["models"])


def test_deploy_writes_model_and_reports(deployed_dir):
    assert sorted(p.name for p in deployed_dir.iterdir()) == ["model.tflite", "ranges.png", "report.json",
                                                             "report.md", "sqnr.png"]
    report = json.loads((deployed_dir / "report.json").read_text())
    assert report["scheme"] == "wess" and report["verification"]["mismatched_bytes"] == 0
    assert report["model_bytes"] == (deployed_dir / "model.tflite").stat().st_size
    assert {"per_tensor", "per_channel", "wess"} == set(report["layers"][0]["weight_sqnr_db"])
    assert "![ranges](ranges.png)" in (deployed_dir / "report.md").read_text()
    assert not list(deployed_dir.glob(".*.tmp"))


def test_deploy_refuses_to_overwrite_without_force(deployed_dir, capfd):
    before = (deployed_dir / "model.tflite").stat().st_mtime_ns
    code, out, err = wess(capfd, "deploy", "zoo:mobilenet_v1", "--out", deployed_dir)
    assert code == 2 and out == ""
    assert err.splitlines() == [f"wess deploy: error: {deployed_dir / 'model.tflite'}: exists (and 4 more outputs); "
                                "pass --force to replace it"]
    assert (deployed_dir / "model.tflite").stat().st_mtime_ns == before


def test_inspect_json(deployed_dir, capfd):
    code, out, _ = wess(capfd, "inspect", deployed_dir / "model.tflite", "--json")
    assert code == 0
    data = json.loads(out)
    assert data["channels"] == sum(layer["output_channels"] for layer in data["layers"]) == sum(data["shift_histogram"])
    assert data["metadata_bytes"] > 0


def test_run_backends_agree(deployed_dir, capfd, tmp_path):
    outputs = {}
    for backend in ("litert", "tflm"):
        target = tmp_path / f"{backend}.npy"
        code, out, _ = wess(capfd, "run", deployed_dir / "model.tflite", "--random-input", "--count", 5,
                            "--backend", backend, "--output", target, "--json")
        assert code == 0 and json.loads(out)["inputs"] == 5
        outputs[backend] = np.load(target)
    assert np.array_equal(outputs["litert"], outputs["tflm"])


def test_run_float_input_file(deployed_dir, capfd, tmp_path, splits):
    path = tmp_path / "x.npy"
    np.save(path, splits.x_test[:3])
    code, out, _ = wess(capfd, "run", deployed_dir / "model.tflite", "--input", path, "--json")
    assert code == 0
    assert json.loads(out)["top1"] == splits.y_test[:3].tolist()


def test_eval_json_keys(capfd):
    code, out, _ = wess(capfd, "eval", "zoo:resnet8", "--augment", "0", "--schemes", "per_tensor,per_channel,wess",
                        "--json")
    assert code == 0
    data = json.loads(out)
    for key in ("float", "per_tensor", "per_channel", "wess"):
        assert 0.0 <= data["accuracy"][key] <= 1.0
    assert data["layers"] and {"op", "output_channels", "disparity"} <= set(data["layers"][0])
    assert data["accuracy"]["wess"] >= data["accuracy"]["float"] - 0.005


def test_inspect_plain_model_is_rejected(deployed_dir, capfd, tmp_path, splits):

    plain = tmp_path / "plain.tflite"
    code = cli.main(["deploy", "zoo:ds_cnn", "--scheme", "per_channel", "--out", str(tmp_path), "--verify-inputs",
                     "0"])
    capfd.readouterr()
    assert code == 0
    (tmp_path / "model.tflite").rename(plain)
    code, out, err = wess(capfd, "inspect", plain)
    assert code == 2 and "not a WESS model" in err
    assert schemes.SCHEMES  # the schemes the CLI offers


def test_user_model_and_data_untouched(tmp_path, capfd, splits, zoo_model):
    model_path, data_path = tmp_path / "user.keras", tmp_path / "calib.npz"
    zoo_model("ds_cnn").save(model_path)
    np.savez(data_path, x=splits.x_calib[:50])
    before = {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in (model_path, data_path)}
    code, out, err = wess(capfd, "deploy", model_path, "--data", data_path, "--out", tmp_path / "out", "--json")
    assert code == 0, err
    assert json.loads(out)["model"] == "user"
    assert {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in before} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["calib.npz", "out", "user.keras"]


def test_console_script_exit_code_and_clean_stdout(tmp_path):
    """The installed entry point: only the JSON object on stdout, exit 2 and one line on stderr for bad input."""
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
    ok = subprocess.run([sys.executable, "-m", "pipeline.cli", "zoo", "list", "--json"], capture_output=True,
                        text=True, env=env, timeout=300)
    assert ok.returncode == 0 and json.loads(ok.stdout)["default"] == zoo.DEFAULT_MODEL
    bad = subprocess.run([sys.executable, "-m", "pipeline.cli", "deploy", str(tmp_path / "nope.h5")],
                         capture_output=True, text=True, env=env, timeout=300)
    assert bad.returncode == 2 and bad.stdout == ""
    assert bad.stderr.strip().splitlines() == [f"wess deploy: error: {tmp_path / 'nope.h5'}: no such file or directory"]


def test_saved_model_directory(tmp_path, capfd, splits, zoo_model):
    """A SavedModel has no Keras layers to fold: the converter folds its batch norms, WESS still applies."""
    zoo_model("ds_cnn").export(str(tmp_path / "saved"))
    capfd.readouterr()
    np.savez(tmp_path / "calib.npz", x=splits.x_calib[:50])
    np.savez(tmp_path / "test.npz", x=splits.x_test[:100], y=splits.y_test[:100])
    code, out, err = wess(capfd, "eval", tmp_path / "saved", "--data", tmp_path / "calib.npz",
                          "--test-data", tmp_path / "test.npz", "--augment", "1", "--json")
    assert code == 0, err
    data = json.loads(out)
    assert data["test_samples"] == 100 and len(data["layers"]) == 10  # stem, 4 x (dw, pw), logits
    assert data["augmented_samples"] == 200 and data["schemes"]["wess"]["augmented"]["inputs"] == 200
    assert data["accuracy"]["wess"] >= data["accuracy"]["float"] - 0.01


@pytest.mark.slow  # 65 s: a sensitivity sweep over every layer; tests/test_sensitivity.py covers the sweep itself
def test_eval_sensitivity_writes_json_markdown_and_plot(capfd, tmp_path):
    code, out, err = wess(capfd, "eval", "zoo:ds_cnn", "--sensitivity", "--augment", "0", "--out", tmp_path, "--json")
    assert code == 0, err
    result = json.loads(out)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["eval.json", "eval.md", "sensitivity.png"]
    assert json.loads((tmp_path / "eval.json").read_text()) == result
    assert set(result["accuracy"]) == {"float", *cli_schemes()}
    sweep = result["sensitivity"]
    assert sweep["scheme"] == "wess" and sweep["samples"] == 400 and len(sweep["layers"]) == 10
    keys = [(row["top1"], row["sqnr_db"]) for row in sweep["layers"]]
    assert keys == sorted(keys)
    assert "![sensitivity](sensitivity.png)" in (tmp_path / "eval.md").read_text()
    assert (tmp_path / "sensitivity.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    code, _, err = wess(capfd, "eval", "zoo:ds_cnn", "--out", tmp_path)  # the one output rule: no --force
    assert code == 2 and "exists" in err and "--force" in err


def cli_schemes():

    return schemes.SCHEMES
