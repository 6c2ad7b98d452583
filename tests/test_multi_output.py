"""Models with several outputs (face detectors' probability + box + landmark heads): the outputs in the Keras model's
order, deploy's gate, the version 3 blob's output list, the firmware comparing every output byte, eval per output."""
from __future__ import annotations

import shutil
import struct

import numpy as np
import pytest

from pipeline import deploy
from pipeline.cli import main as cli
from pipeline.cref import backends, compact, library, verify
from pipeline.tflite import runtime

pytestmark = pytest.mark.usefixtures("reference_library")

# (Keras output name, units): listed so that the converter's own output order (by its internal names) differs
HEADS = (("zz_box", 4), ("aa_probability", 2), ("mm_landmarks", 10))


def _three_heads():
    import keras

    keras.utils.set_random_seed(0)
    inp = keras.Input((12, 12, 3), name="face")
    x = keras.layers.Conv2D(8, 3, strides=2, activation="relu")(inp)
    x = keras.layers.Flatten()(keras.layers.Conv2D(8, 3, activation="relu")(x))
    outputs = [keras.layers.Dense(units, activation="softmax" if "probability" in name else None, name=name)(x)
               for name, units in HEADS]
    return keras.Model(inp, outputs)


@pytest.fixture(scope="module")
def three_heads():
    model = _three_heads()
    x = np.random.default_rng(0).uniform(0, 1, (32, 12, 12, 3)).astype(np.float32)
    return model, x, deploy.run_passes(model, x[:24], deploy.DeployOptions(verify_inputs=16))


def test_outputs_keep_the_keras_order_and_are_joined_per_sample(three_heads):
    model, x, state = three_heads
    q = runtime.io_quant(state.model)
    assert [output.shape for output in q.outputs] == [(units,) for _, units in HEADS]
    y = runtime.run_litert(state.model, runtime.quantize_input(x, q))
    assert y.shape == (len(x), sum(units for _, units in HEADS))
    float_parts = model.predict(x, verbose=0)
    # each head's dequantized int8 output follows its own float head (within a few of its quantization steps)
    for part, float_part, output in zip(runtime.split_outputs(runtime.dequantize_output(y, q), q), float_parts,
                                        q.outputs):
        assert np.max(np.abs(part - float_part)) <= 8 * output.scale, output


def test_deploy_gate_and_verify_compare_every_output(three_heads):
    _, x, state = three_heads
    assert state.verification["pair"] == "ref vs tflm" and state.verification["mismatched_bytes"] == 0
    result = verify.verify(state.model, "three_heads", 8)
    assert result.mismatched_bytes["ref_vs_tflm"] == 0, result.first_divergence
    # LiteRT's reference FULLY_CONNECTED may be 1 LSB off both (docs/operators.md): then it is the odd one out
    assert result.mismatched_bytes["ref_vs_litert"] == result.mismatched_bytes["litert_vs_tflm"]


def test_blob_lists_the_outputs_and_the_runner_copies_them_in_order(three_heads):
    _, x, state = three_heads
    compiled = compact.compile_model(state.model, "three_heads")
    magic, version = struct.unpack_from("<4sH", compiled.blob)
    output_count, list_offset = struct.unpack_from("<II", compiled.blob, 56)
    assert (magic, version, output_count) == (b"WSSM", compact.VERSION_OUTPUT_LIST, 3)
    constant_offset = struct.unpack_from("<I", compiled.blob, 44)[0]
    assert struct.unpack_from("<3I", compiled.blob, constant_offset + list_offset) == compiled.output_tensors
    assert library.validate_model(compiled.blob).output_bytes == sum(units for _, units in HEADS)
    x_int8 = runtime.quantize_input(x[:4], runtime.io_quant(state.model))
    np.testing.assert_array_equal(backends.run_ref(state.model, x_int8), runtime.run_tflm(state.model, x_int8))


def _with_header_words(blob: bytes, offset: int, *words: int) -> bytes:
    patched = bytearray(blob)
    struct.pack_into(f"<{len(words)}I", patched, offset, *words)
    return bytes(patched)


def test_a_corrupt_output_list_is_refused(three_heads):
    blob = compact.compile_model(three_heads[2].model, "three_heads").blob
    output_count, list_offset = struct.unpack_from("<II", blob, 56)
    constant_offset, constant_bytes = struct.unpack_from("<II", blob, 44)
    list_at = constant_offset + list_offset
    first, second = struct.unpack_from("<2I", blob, list_at)
    cases = {
        "no outputs": (_with_header_words(blob, 56, 0), "WESS_ERR_BAD_OFFSET"),
        "more than the maximum": (_with_header_words(blob, 56, 17), "WESS_ERR_BAD_OFFSET"),
        "list past the constants": (_with_header_words(blob, 60, constant_bytes - 4), "WESS_ERR_BAD_OFFSET"),
        "first entry is not output_tensor": (_with_header_words(blob, list_at, second), "WESS_ERR_BAD_OFFSET"),
        "an output twice": (_with_header_words(blob, list_at + 4, first), "WESS_ERR_BAD_TENSOR"),
        "an output out of range": (_with_header_words(blob, list_at + 8, 10**6), "WESS_ERR_BAD_TENSOR"),
        "a later version": (blob[:4] + struct.pack("<H", compact.VERSION_INPUT_LIST + 1) + blob[6:], "WESS_ERR_BAD_VERSION"),
    }
    for name, (corrupt, status) in cases.items():
        with pytest.raises(Exception, match=status):
            library.validate_model(corrupt)
        assert name


def test_one_output_blobs_stay_version_2(three_heads):
    import keras

    model, x, _ = three_heads
    one_head = keras.Model(model.inputs, model.outputs[1])
    blob = compact.compile_model(deploy.run_passes(one_head, x[:24], deploy.DeployOptions(verify_inputs=0)).model).blob
    assert struct.unpack_from("<H", blob, 4)[0] == compact.VERSION
    assert struct.unpack_from("<II", blob, 56) == (0, 0)


def test_eval_without_labels_reports_every_scheme(three_heads, tmp_path, capfd):
    model, x, _ = three_heads
    path = tmp_path / "three_heads.keras"
    model.save(path)
    np.savez(tmp_path / "calib.npz", x=x[:24])
    np.savez(tmp_path / "test.npz", x=x)
    code = cli.main(["eval", str(path), "--data", str(tmp_path / "calib.npz"), "--test-data",
                     str(tmp_path / "test.npz"), "--augment", "0", "--json"])
    out = capfd.readouterr().out
    assert code == 0, out
    import json

    result = json.loads(out)
    assert set(result["schemes"]) >= {"per_tensor", "per_channel", "wess"}
    for row in result["schemes"].values():
        assert row["sqnr_db"] > 10 and row["max_abs_error"] < 1


@pytest.mark.skipif(shutil.which("arm-none-eabi-gcc") is None or shutil.which("qemu-system-arm") is None,
                    reason="gcc-arm-none-eabi / qemu-system-arm not installed (make apt)")
def test_firmware_compares_every_output_byte(three_heads):
    from pipeline.firmware import build as firmware

    assert firmware.measure(three_heads[2].model, "cortex-m3", inputs=2).matches_host
