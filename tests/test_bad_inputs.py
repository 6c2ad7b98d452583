"""Bad input, one case per class: exit 2 (1 for a bug), one stderr line naming the file and the problem, no
traceback, nothing written and every input file untouched. tools/bad_input_table.py prints docs/bad_inputs.md."""
from __future__ import annotations

import contextlib
import hashlib
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from pipeline.cli import main as cli
from pipeline.tflite import flatbuf, metadata, versions

TFLITE_COMMANDS = ("inspect", "run", "verify", "firmware")
OUT = "out"  # the output directory (or file) every case names; it must not exist afterwards


@dataclass(frozen=True)
class Case:
    """One bad input: the CLI arguments (paths relative to the case directory) and what stderr must say."""

    id: str
    input: str  # what is wrong, for the table
    argv: tuple[str, ...]
    expect: tuple[str, ...]  # the line after "wess CMD: error: " starts with expect[0]; the rest follow in order
    code: int = 2
    bug: str | None = None  # "module.attribute" replaced by a function raising RuntimeError (an internal error)

    @property
    def command(self) -> str:
        return self.argv[0]


def _tflite_argv(command: str, path: str) -> tuple[str, ...]:
    return {"inspect": ("inspect", path), "run": ("run", path, "--random-input", "--output", f"{OUT}/y.npy"),
            "verify": ("verify", path, "--inputs", "1", "--random-inputs", "0"),
            "firmware": ("firmware", path, "--inputs", "1", "--out", OUT)}[command]


def _file_cases(name: str, what: str, expect: tuple[str, ...], commands=TFLITE_COMMANDS) -> list[Case]:
    return [Case(f"{name}-{c}", what, _tflite_argv(c, f"{name}.tflite"), (f"{name}.tflite: ", *expect))
            for c in commands]


def _deploy(model: str, *extra: str) -> tuple[str, ...]:
    return ("deploy", model, *extra, "--out", OUT)


CASES: list[Case] = [
    *_file_cases("missing", "a .tflite that does not exist", ("no such file",)),
    *_file_cases("empty", "an empty file", ("not a TFLite model (0 bytes, too short for a flatbuffer)",)),
    *_file_cases("text", "a text file, not a flatbuffer", ("not a TFLite model (file identifier b' is ', "
                                                           "expected b'TFL3')",)),
    *_file_cases("wrong_id", "a model whose file identifier is not TFL3",
                 ("not a TFLite model (file identifier b'XXXX', expected b'TFL3')",)),
    *_file_cases("truncated", "a model cut to half its length", ("truncated or corrupt TFLite flatbuffer (a field at "
                                                                 "byte", "lies past the end of the", "-byte file)")),
    *_file_cases("flipped", "a model with its root table offset's bytes flipped",
                 ("not a valid TFLite flatbuffer: root table offset 4294967", "outside 8..")),
    Case("float-inspect", "a float TFLite model (no int8 op)", ("inspect", "float.tflite"),
         ("float.tflite: no 'wess.shifts' metadata: not a WESS model",)),
    *_file_cases("float", "a float TFLite model (no int8 op)", ("model input/output are float32/float32; an int8 "
                                                                "model (int8 input and output) is required",),
                 ("run", "verify", "firmware")),
    *[Case(f"unsupported_op-{c}", "an int8 model with an op the C runner lacks (MEAN patched to REDUCE_PROD)", argv,
           ("unsupported_op.tflite: operator ", " is REDUCE_PROD, which the C reference runner does not support"))
      for c, argv in (("run", ("run", "unsupported_op.tflite", "--random-input", "--backend", "ref")),
                      ("verify", _tflite_argv("verify", "unsupported_op.tflite")),
                      ("firmware", _tflite_argv("firmware", "unsupported_op.tflite")))],
    *[Case(f"{name}-{c}", what, _tflite_argv(c, f"{name}.tflite"),
           (f"{name}.tflite: metadata 'wess.shifts': ", problem)) for c in ("inspect", "verify")
      for name, what, problem in (
          ("meta_magic", "WESS metadata with the wrong magic", "bad magic b'XXXX', expected b'WESS'"),
          ("meta_version", "WESS metadata of a newer format version",
           f"format version {metadata.VERSION + 1} is newer than this wess-deploy reads ({metadata.VERSION}); "
           "upgrade wess-deploy"),
          ("meta_length", "WESS metadata longer than its records", "4 trailing bytes after 28 layer records"),
          ("meta_shift", "WESS metadata with a shift out of range (n + k_c > 31)",
           "layer record 0 (operator 0) channel 3: right shift n + k_c = 31 + 1 lies outside -30..31"))],
    *[Case(f"meta_scales-{c}", "WESS metadata disagreeing with the weight tensor's scales",
           _tflite_argv(c, "meta_scales.tflite"),
           ("meta_scales.tflite: metadata layer for operator 0: weight tensor", "scales disagree with s * 2^-k "
            "(8 scales, 8 shifts)")) for c in ("inspect", "verify")],
    Case("meta_versions", "a `wess.versions` entry of a newer format", ("inspect", "meta_versions.tflite"),
         ("meta_versions.tflite: metadata 'wess.versions': format 2 is newer than this wess-deploy reads (1); "
          "upgrade wess-deploy",)),
    Case("run-input-shape", "`run --input` of the wrong shape",
         ("run", "good.tflite", "--input", "shape.npy", "--output", f"{OUT}/y.npy"),
         ("shape.npy: shape (3, 8, 8); the model expects (N, 32, 32, 1)",)),
    Case("run-input-dtype", "`run --input` of dtype bool", ("run", "good.tflite", "--input", "bool.npy"),
         ("bool.npy: dtype bool; give int8 (quantized) or float inputs",)),
    Case("run-input-nan", "`run --input` with NaN", ("run", "good.tflite", "--input", "nan.npy"),
         ("nan.npy: 1 NaN/Inf values; float inputs must be finite",)),
    Case("data-missing", "`--data` that does not exist", _deploy("zoo:ds_cnn", "--data", "missing.npz"),
         ("missing.npz: no such file",)),
    Case("data-not-npz", "`--data` that is not an .npz", _deploy("zoo:ds_cnn", "--data", "text.npz"),
         ("text.npz: not an .npz archive (not a zip file; write it with numpy.savez)",)),
    Case("data-no-x", "`--data` without an array x", _deploy("zoo:ds_cnn", "--data", "no_x.npz"),
         ("no_x.npz: no array named 'x' (found: images)",)),
    Case("data-shape", "`--data` of the wrong shape", _deploy("zoo:ds_cnn", "--data", "shape.npz"),
         ("shape.npz: x has shape (4, 8, 8); the model expects (N, 32, 32, 1)",)),
    Case("data-dtype", "`--data` of dtype bool", _deploy("zoo:ds_cnn", "--data", "bool.npz"),
         ("bool.npz: x has dtype bool; a numeric array is required",)),
    Case("data-nan", "`--data` with NaN", _deploy("zoo:ds_cnn", "--data", "nan.npz"),
         ("nan.npz: x contains 6 NaN/Inf values",)),
    Case("data-empty", "an empty calibration set", _deploy("zoo:ds_cnn", "--data", "empty.npz"),
         ("empty.npz: x is empty (0 samples)",)),
    Case("test-data-inf", "`--test-data` with Inf", ("eval", "zoo:ds_cnn", "--test-data", "inf.npz"),
         ("inf.npz: x contains 1 NaN/Inf values",)),
    Case("test-data-labels-range", "labels out of range", ("eval", "zoo:ds_cnn", "--test-data", "labels.npz"),
         ("labels.npz: labels must be in 0..9, found 3..12",)),
    Case("test-data-labels-dtype", "float labels", ("eval", "zoo:ds_cnn", "--test-data", "float_labels.npz"),
         ("float_labels.npz: y must be integer labels of shape (2,), got float64 (2,)",)),
    Case("keras-missing", "a Keras file that does not exist", _deploy("missing.keras", "--data", "calib.npz"),
         ("missing.keras: no such file or directory",)),
    Case("keras-suffix", "a model file that is not .keras/.h5/.hdf5", _deploy("model.onnx", "--data", "calib.npz"),
         ("model.onnx: expected a .keras, .h5 or .hdf5 file, a SavedModel directory or zoo:<name>",)),
    Case("keras-corrupt", "a .keras that is not a zip archive", _deploy("corrupt.keras", "--data", "calib.npz"),
         ("corrupt.keras: not a .keras model (not a zip archive)",)),
    Case("keras-custom", "a .keras with a custom layer class this process lacks",
         _deploy("custom.keras", "--data", "calib.npz"),
         ("custom.keras: Keras cannot load the model: custom class 'Scale' is not available: pass the module or .py "
          "file that defines it with --custom-objects MODULE[,MODULE], or export the model as a SavedModel directory "
          "(model.export(DIR))",)),
    Case("keras-inputs", "a Keras model with two inputs, calibration data with only x",
         _deploy("two_inputs.keras", "--data", "calib.npz"),
         ("calib.npz: no array for the model's input(s) ", "(the model has 2 inputs: ", "; an array per input, named "
          "after it; found: x")),
    Case("keras-no-data", "a user model without `--data`", _deploy("plain.keras"),
         ("plain.keras: --data FILE.npz (array x of shape (N, 32, 32, 1)) is needed for calibration",)),
    Case("keras-layernorm", "a layer with no int8 kernel (LayerNormalization)",
         _deploy("layernorm.keras", "--data", "calib.npz"),
         ("layernorm.keras: operator", "(NEG of Keras layer 'layer_normalization', output", "layer_normalization",
          "has no int8 kernel, so the converter left it in float")),
    Case("zoo-unknown", "an unknown zoo model", _deploy("zoo:nope"),
         ("zoo:nope: unknown zoo model; available: mobilenet_v1, mobilenet_v2, resnet8, ds_cnn",)),
    Case("zoo-stress", "`--stress` on a model without depthwise layers", ("eval", "zoo:resnet8", "--stress"),
         ("", "--stress needs depthwise")),
    Case("calibrator", "an unknown calibrator", _deploy("zoo:resnet8", "--calibrator", "median"),
         ("unknown calibrator",)),
    Case("bug", "an internal error (a bug)", ("inspect", "good.tflite"),
         ("RuntimeError: simulated bug (rerun with --debug for the traceback)",), code=1,
         bug="pipeline.tflite.flatbuf.read_model_file"),
]


def _with_metadata(model: bytes, name: str, payload: bytes) -> bytes:
    parsed = flatbuf.read_model(model)
    flatbuf.set_metadata(parsed, name, payload)
    return flatbuf.write_model(parsed)


def _with_opcode(model: bytes, old: str, new: str) -> bytes:
    from ai_edge_litert import schema_py_generated as schema

    parsed = flatbuf.read_model(model)
    for code in parsed.operatorCodes:
        if flatbuf.OPCODE_NAMES.get(max(code.builtinCode, code.deprecatedBuiltinCode)) == old:
            code.builtinCode = code.deprecatedBuiltinCode = getattr(schema.BuiltinOperator, new)
    return flatbuf.write_model(parsed)


def _keras_files(root: Path) -> None:
    import keras

    @keras.saving.register_keras_serializable(package="bad_inputs")
    class Scale(keras.layers.Layer):
        def call(self, x):
            return x * 2.0

    def small(middle=None, inputs=None):
        inp = inputs or keras.Input((32, 32, 1))
        h = keras.layers.Conv2D(4, 3)(inp if not isinstance(inp, list) else keras.layers.Add()(inp))
        h = middle(h) if middle else h
        return keras.Model(inp, keras.layers.Dense(10, activation="softmax")(keras.layers.GlobalAveragePooling2D()(h)))

    small(Scale()).save(root / "custom.keras")
    keras.saving.get_custom_objects().pop("bad_inputs>Scale")  # loaded later as if the class were never imported
    small(keras.layers.LayerNormalization()).save(root / "layernorm.keras")
    small(inputs=[keras.Input((32, 32, 1)), keras.Input((32, 32, 1))]).save(root / "two_inputs.keras")
    small().save(root / "plain.keras")
    (root / "corrupt.keras").write_bytes(b"PK\x03\x04 not really a zip archive")
    (root / "model.onnx").write_bytes(b"\x08\x07")


def make_inputs(root: Path, model: bytes, float_model: bytes, calibration_x: np.ndarray) -> None:
    """Every bad input file of CASES, made from one deployed WESS model (mobilenet_v1) and its float model."""
    (root / "good.tflite").write_bytes(model)
    (root / "empty.tflite").write_bytes(b"")
    (root / "text.tflite").write_text("this is a text file, not a flatbuffer\n")
    (root / "wrong_id.tflite").write_bytes(model[:4] + b"XXXX" + model[8:])
    (root / "truncated.tflite").write_bytes(model[:len(model) // 2])
    (root / "flipped.tflite").write_bytes(bytes(b ^ 0xFF for b in model[:4]) + model[4:])
    (root / "float.tflite").write_bytes(float_model)
    (root / "unsupported_op.tflite").write_bytes(_with_opcode(model, "MEAN", "REDUCE_PROD"))
    shifts = flatbuf.get_metadata(flatbuf.read_model(model), metadata.METADATA_NAME)
    layers = metadata.decode(shifts)
    first = layers[0]
    bad_payloads = {
        "meta_magic": b"XXXX" + shifts[4:],
        "meta_version": shifts[:4] + struct.pack("<H", metadata.VERSION + 1) + shifts[6:],
        "meta_length": shifts + b"\0" * 4,
        "meta_shift": metadata.encode([metadata.LayerShifts(first.operator_index, first.weight_tensor,
                                                            first.builtin_code, first.layer_scale, first.multiplier,
                                                            31, first.channel_right_shift), *layers[1:]]),
        "meta_scales": metadata.encode([metadata.LayerShifts(first.operator_index, first.weight_tensor,
                                                             first.builtin_code, first.layer_scale * 1.5,
                                                             first.multiplier, first.right_shift,
                                                             first.channel_right_shift), *layers[1:]]),
    }
    for name, payload in bad_payloads.items():
        (root / f"{name}.tflite").write_bytes(_with_metadata(model, metadata.METADATA_NAME, payload))
    (root / "meta_versions.tflite").write_bytes(_with_metadata(
        model, versions.METADATA_NAME, b'{"format":2,"versions":{}}'))
    x = calibration_x[:20]
    np.save(root / "shape.npy", np.zeros((3, 8, 8), np.float32))
    np.save(root / "bool.npy", np.zeros((1, 32, 32, 1), bool))
    np.save(root / "nan.npy", np.where(np.arange(x[:1].size).reshape(x[:1].shape) == 5, np.nan, x[:1]))
    (root / "text.npz").write_text("not an archive\n")
    np.savez(root / "calib.npz", x=x)
    np.savez(root / "no_x.npz", images=x)
    np.savez(root / "shape.npz", x=np.zeros((4, 8, 8), np.float32))
    np.savez(root / "bool.npz", x=np.zeros((2, 32, 32, 1), bool))
    np.savez(root / "nan.npz", x=np.where(np.arange(x.size).reshape(x.shape) % 4000 == 1, np.nan, x))
    np.savez(root / "empty.npz", x=np.zeros((0, 32, 32, 1), np.float32))
    np.savez(root / "inf.npz", x=np.where(np.arange(2 * 1024).reshape(2, 32, 32, 1) == 7, np.inf, 0.0), y=[1, 2])
    np.savez(root / "labels.npz", x=x[:2], y=np.array([3, 12]))
    np.savez(root / "float_labels.npz", x=x[:2], y=np.array([3.0, 1.0]))
    _keras_files(root)


def snapshot(root: Path) -> dict[str, tuple[str, int]]:
    """Every file under root: its SHA-256 and st_mtime_ns."""
    return {str(p.relative_to(root)): (hashlib.sha256(p.read_bytes()).hexdigest(), p.stat().st_mtime_ns)
            for p in sorted(root.rglob("*")) if p.is_file()}


@contextlib.contextmanager
def simulated_bug(target: str | None):
    if target is None:
        yield
        return
    from unittest import mock

    def boom(*_args, **_kwargs):
        raise RuntimeError("simulated bug")

    with mock.patch(target, boom):
        yield


def run_case(case: Case, capfd) -> tuple[int, str, str]:
    """The CLI in process, run from the case directory (the current directory)."""
    capfd.readouterr()
    with simulated_bug(case.bug):
        code = cli.main(list(case.argv))
    out, err = capfd.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def case_dir(tmp_path_factory, deployed, splits, reference_library):
    root = tmp_path_factory.mktemp("bad_inputs")
    make_inputs(root, deployed.model, deployed.calibrated, splits.x_calib)
    return root


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input(case: Case, case_dir: Path, capfd, monkeypatch):
    monkeypatch.chdir(case_dir)
    before = snapshot(case_dir)
    code, out, err = run_case(case, capfd)
    lines = err.splitlines()
    assert (code, out, len(lines)) == (case.code, "", 1), err
    kind = "error" if case.code == 2 else "internal error"
    head = f"wess {case.command}: {kind}: {case.expect[0]}"
    assert lines[0].startswith(head), lines[0]
    position = len(head)
    for fragment in case.expect[1:]:
        found = lines[0].find(fragment, position)
        assert found >= 0, (fragment, lines[0])
        position = found + len(fragment)
    assert "Traceback" not in err
    assert not (case_dir / OUT).exists()
    assert snapshot(case_dir) == before  # inputs untouched, no temp file left anywhere
