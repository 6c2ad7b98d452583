"""Models with several inputs (an image and a vector, joined): calibration data per input name, the inputs in the
Keras model's order, deploy's gate, the version 4 blob's input list, `wess run --input NAME=X.npy`, eval, firmware."""
from __future__ import annotations

import json
import shutil
import struct

import numpy as np
import pytest

from pipeline import deploy
from pipeline.cli import main as cli
from pipeline.cref import backends, compact, library, verify
from pipeline.errors import InputError
from pipeline.keras import modelio
from pipeline.tflite import flatbuf, runtime

pytestmark = pytest.mark.usefixtures("reference_library")

# (Keras input name, shape): named so that sorting by name (the converter's signature order) reverses them
INPUTS = (("zz_image", (8, 8, 3)), ("aa_vector", (5,)))
OUTPUT_UNITS = (3, 4)  # a softmax class head and an Add of both branches
SAMPLES = 32


def _image_and_vector():
    import keras

    keras.utils.set_random_seed(0)
    image, vector = (keras.Input(shape, name=name) for name, shape in INPUTS)
    x = keras.layers.Flatten()(keras.layers.Conv2D(4, 3, strides=2, activation="relu")(image))
    v = keras.layers.Dense(6, activation="relu")(vector)
    joined = keras.layers.Concatenate()([x, v])
    probability = keras.layers.Dense(OUTPUT_UNITS[0], activation="softmax", name="probability")(joined)
    offset = keras.layers.Add(name="offset")([keras.layers.Dense(OUTPUT_UNITS[1])(joined),
                                              keras.layers.Dense(OUTPUT_UNITS[1])(v)])
    return keras.Model([image, vector], [probability, offset])


def _float_inputs(count: int, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.uniform(0, 1, (count, *INPUTS[0][1])).astype(np.float32),
            rng.uniform(-1, 1, (count, *INPUTS[1][1])).astype(np.float32)]


@pytest.fixture(scope="module")
def two_inputs(tmp_path_factory):
    """The Keras model, its data as an .npz per input name (with labels), the joined floats, the deployed state."""
    model = _image_and_vector()
    parts = _float_inputs(SAMPLES)
    root = tmp_path_factory.mktemp("two_inputs")
    labels = np.arange(SAMPLES) % OUTPUT_UNITS[0]
    np.savez(root / "data.npz", **{name: part for (name, _), part in zip(INPUTS, parts)}, y=labels)
    data = modelio.load_model_data(root / "data.npz", model)
    state = deploy.run_passes(model, data.x[:24], deploy.DeployOptions(verify_inputs=16))
    (root / "model.tflite").write_bytes(state.model)
    model.save(root / "two_inputs.keras")
    return model, root, data, state


def test_data_per_input_name_is_joined_per_sample(two_inputs):
    model, root, data, _ = two_inputs
    parts = _float_inputs(SAMPLES)
    assert data.x.shape == (SAMPLES, 8 * 8 * 3 + 5) and data.y.tolist() == (np.arange(SAMPLES) % 3).tolist()
    np.testing.assert_array_equal(data.x, np.concatenate([part.reshape(SAMPLES, -1) for part in parts], axis=1))
    for part, back in zip(parts, modelio.keras_inputs(model, data.x)):
        np.testing.assert_array_equal(part, back)


@pytest.mark.parametrize("arrays, message", [
    ({"zz_image": "image"}, r"data.npz: no array for the model's input\(s\) aa_vector \(the model has 2 inputs: "
                            r"zz_image, aa_vector; an array per input, named after it; found: zz_image\)"),
    ({"zz_image": "image", "aa_vector": "wide"},
     r"data.npz: aa_vector has shape \(4, 6\); input 'aa_vector' expects \(N, 5\)"),
    ({"zz_image": "image", "aa_vector": "short"},
     r"data.npz: array 'aa_vector' has 3 samples and 'zz_image' 4; every input's array needs the same number"),
])
def test_bad_data_names_the_file_array_and_input(two_inputs, tmp_path, arrays, message):
    model = two_inputs[0]
    choices = {"image": np.zeros((4, 8, 8, 3)), "wide": np.zeros((4, 6)), "short": np.zeros((3, 5))}
    np.savez(tmp_path / "data.npz", **{name: choices[kind] for name, kind in arrays.items()})
    with pytest.raises(InputError, match=message):
        modelio.load_model_data(tmp_path / "data.npz", model)


def test_inputs_keep_the_keras_order(two_inputs):
    model, _, data, state = two_inputs
    q = runtime.io_quant(state.model)
    assert [(i.name, i.shape) for i in q.inputs] == list(INPUTS)
    assert [output.shape for output in q.outputs] == [(units,) for units in OUTPUT_UNITS]
    calibrated = data.x[:24]  # the deploy's calibration samples: inside every calibrated range, none saturates
    y = runtime.run_litert(state.model, runtime.quantize_input(calibrated, q))
    float_parts = model.predict(modelio.keras_inputs(model, calibrated), verbose=0)
    # each output's dequantized int8 values follow the float model's (within a few of its quantization steps; a
    # swapped or misquantized input would be off by far more)
    for part, float_part, output in zip(runtime.split_outputs(runtime.dequantize_output(y, q), q), float_parts,
                                        q.outputs):
        assert np.max(np.abs(part - float_part)) <= 8 * output.scale, output


def test_reordering_the_inputs_by_name_swaps_them(two_inputs):
    _, _, data, state = two_inputs
    swapped = flatbuf.inputs_in_keras_order(state.model, [name for name, _ in reversed(INPUTS)])
    assert flatbuf.read_model(swapped).subgraphs[0].inputs.tolist() == \
        list(reversed(flatbuf.read_model(state.model).subgraphs[0].inputs.tolist()))
    q, q_swapped = runtime.io_quant(state.model), runtime.io_quant(swapped)
    assert [i.name for i in q_swapped.inputs] == ["aa_vector", "zz_image"]
    x = runtime.quantize_input(data.x[:4], q)
    image, vector = runtime.split_inputs(x, q)
    np.testing.assert_array_equal(runtime.run_litert(swapped, runtime.join_outputs([vector, image])),
                                  runtime.run_litert(state.model, x))
    assert flatbuf.inputs_in_keras_order(state.model, [name for name, _ in INPUTS]) == state.model


def test_deploy_gate_and_verify_compare_every_input(two_inputs):
    _, _, _, state = two_inputs
    assert state.verification["pair"] == "ref vs tflm" and state.verification["mismatched_bytes"] == 0
    assert state.verification["inputs"] == 32  # 16 calibration samples + 16 seeded random ones
    result = verify.verify(state.model, "two_inputs", 8)
    assert result.mismatched_bytes["ref_vs_tflm"] == 0, result.first_divergence


def _lists(blob: bytes) -> tuple[tuple[int, ...], tuple[int, ...]]:
    output_count, list_offset = struct.unpack_from("<II", blob, 56)
    at = struct.unpack_from("<I", blob, 44)[0] + list_offset
    outputs = struct.unpack_from(f"<{output_count}I", blob, at)
    (input_count,) = struct.unpack_from("<I", blob, at + 4 * output_count)
    return outputs, struct.unpack_from(f"<{input_count}I", blob, at + 4 * output_count + 4)


def test_blob_lists_the_inputs_and_the_runner_reads_them_in_order(two_inputs):
    _, _, data, state = two_inputs
    compiled = compact.compile_model(state.model, "two_inputs")
    assert struct.unpack_from("<4sH", compiled.blob) == (b"WSSM", compact.VERSION_INPUT_LIST)
    assert _lists(compiled.blob) == (compiled.output_tensors, compiled.input_tensors)
    assert struct.unpack_from("<I", compiled.blob, 24)[0] == compiled.input_tensors[0]
    info = library.validate_model(compiled.blob)
    assert (info.input_bytes, info.output_bytes) == (8 * 8 * 3 + 5, sum(OUTPUT_UNITS))
    x_int8 = runtime.quantize_input(data.x[:4], runtime.io_quant(state.model))
    np.testing.assert_array_equal(backends.run_ref(state.model, x_int8), runtime.run_tflm(state.model, x_int8))


def _with_word(blob: bytes, offset: int, word: int) -> bytes:
    patched = bytearray(blob)
    struct.pack_into("<I", patched, offset, word)
    return bytes(patched)


def test_a_corrupt_input_list_is_refused(two_inputs):
    blob = compact.compile_model(two_inputs[3].model, "two_inputs").blob
    output_count, list_offset = struct.unpack_from("<II", blob, 56)
    constant_offset = struct.unpack_from("<I", blob, 44)[0]
    count_at = constant_offset + list_offset + 4 * output_count
    first, second = struct.unpack_from("<2I", blob, count_at + 4)
    constant = next(index for index, tensor in enumerate(compact.compile_model(two_inputs[3].model).tensors)
                    if tensor.storage == compact.STORAGE_CONSTANT)
    cases = {
        "no inputs": (_with_word(blob, count_at, 0), "WESS_ERR_BAD_OFFSET"),
        "more than the maximum": (_with_word(blob, count_at, 17), "WESS_ERR_BAD_OFFSET"),
        # the lists are the last constants: a shorter constant section cuts them, the output list kept whole
        "count word past the constants": (_with_word(blob, 48, list_offset + 4 * output_count), "WESS_ERR_BAD_OFFSET"),
        "list past the constants": (_with_word(blob, 48, list_offset + 4 * output_count + 8), "WESS_ERR_BAD_OFFSET"),
        "first entry is not input_tensor": (_with_word(blob, count_at + 4, second), "WESS_ERR_BAD_OFFSET"),
        "an input twice": (_with_word(blob, count_at + 8, first), "WESS_ERR_BAD_TENSOR"),
        "an input out of range": (_with_word(blob, count_at + 8, 10**6), "WESS_ERR_BAD_TENSOR"),
        "a constant input": (_with_word(blob, count_at + 8, constant), "WESS_ERR_BAD_TENSOR"),
        "a later version": (blob[:4] + struct.pack("<H", 5) + blob[6:], "WESS_ERR_BAD_VERSION"),
    }
    for name, (corrupt, status) in cases.items():
        with pytest.raises(Exception, match=status):
            library.validate_model(corrupt)
        assert name


def test_cli_run_takes_one_input_file_per_name(two_inputs, capfd):
    _, root, data, state = two_inputs
    parts = _float_inputs(3, seed=1)
    for (name, _), part in zip(INPUTS, parts):
        np.save(root / f"{name}.npy", part)
    argv = ["run", str(root / "model.tflite"), "--backend", "ref", "--json"]
    code = cli.main([*argv, "--input", f"aa_vector={root / 'aa_vector.npy'}",
                     "--input", f"zz_image={root / 'zz_image.npy'}"])
    out = capfd.readouterr().out
    assert code == 0, out
    x_int8 = runtime.quantize_input(runtime.join_outputs(parts), runtime.io_quant(state.model))
    assert json.loads(out)["output_int8"] == backends.run_ref(state.model, x_int8).tolist()
    code = cli.main([*argv, "--input", str(root / "zz_image.npy")])
    assert code == 2
    assert ("the model has 2 inputs (zz_image, aa_vector); give each as --input zz_image=X.npy --input "
            "aa_vector=X.npy") in capfd.readouterr().err


def test_eval_reads_the_npz_per_input(two_inputs, capfd):
    _, root, _, _ = two_inputs
    code = cli.main(["eval", str(root / "two_inputs.keras"), "--data", str(root / "data.npz"), "--test-data",
                     str(root / "data.npz"), "--schemes", "per_channel,wess", "--augment", "0", "--json"])
    out = capfd.readouterr().out
    assert code == 0, out
    result = json.loads(out)
    assert set(result["schemes"]) == {"per_channel", "wess"}
    for row in result["schemes"].values():
        assert row["sqnr_db"] > 10, row


@pytest.mark.skipif(shutil.which("arm-none-eabi-gcc") is None or shutil.which("qemu-system-arm") is None,
                    reason="gcc-arm-none-eabi / qemu-system-arm not installed (make apt)")
def test_firmware_reads_every_input(two_inputs):
    from pipeline.firmware import build as firmware

    assert firmware.measure(two_inputs[3].model, "cortex-m3", inputs=2).matches_host
