"""The target kernel variants (DSP on Cortex-M4/M7/M33, Helium on Cortex-M55) against the portable kernels in QEMU,
and the one-step high multiply the kernels requantize with against its Python twin."""
import shutil

import numpy as np
import pytest

from pipeline.cref import compact, kernel_calls
from pipeline.firmware import build as firmware
from pipeline.fixedpoint import INT32_MAX, INT32_MIN, saturating_rounding_doubling_high_mul
from pipeline.quant.convert import int8_converter
from pipeline.tflite import flatbuf

needs_toolchain = pytest.mark.skipif(shutil.which("arm-none-eabi-gcc") is None or
                                     shutil.which("qemu-system-arm") is None,
                                     reason="gcc-arm-none-eabi / qemu-system-arm not installed (make apt)")


def test_one_step_high_multiply_is_tflites_for_every_nonnegative_multiplier(reference_library):
    """floor((a * b + 2^30) / 2^31) == SaturatingRoundingDoublingHighMul(a, b) for b >= 0, on random values, the
    int32 extremes and every negative midpoint (a * b = -(2k + 1) * 2^30, where rounding directions differ)."""
    rng = np.random.default_rng(13)
    a = rng.integers(INT32_MIN, INT32_MAX, 1_000_000, endpoint=True)
    b = rng.integers(0, INT32_MAX, 1_000_000, endpoint=True)
    extremes = np.array([INT32_MIN, INT32_MIN + 1, -1, 0, 1, INT32_MAX - 1, INT32_MAX], dtype=np.int64)
    grid_a, grid_b = np.meshgrid(extremes, extremes[extremes >= 0])
    odd = rng.integers(0, 2**15, 10_000) * 2 + 1
    midpoint_a, midpoint_b = -odd, np.full(odd.shape, 2**30)  # a * b = -odd * 2^30: an exact negative half
    a = np.concatenate([a, grid_a.ravel(), midpoint_a])
    b = np.concatenate([b, grid_b.ravel(), midpoint_b])
    np.testing.assert_array_equal(kernel_calls.fixedpoint_batch("srdhm_nonnegative", a, b),
                                  saturating_rounding_doubling_high_mul(a, b))


def odd_shapes_model(seed: int) -> bytes:
    """A full-int8 model whose layers hit every tail of the blocked loops: channel counts that are not multiples of 4
    or 16, more than one 64-channel block, 1x1 and 3x3 (padded, strided) convolutions, a 1-pixel 1x1 convolution,
    odd pixel counts, depthwise (padded; strided) and a fully connected layer with odd sizes; channel counts drawn
    from `seed`."""
    tf = pytest.importorskip("tensorflow")
    keras = tf.keras
    rng = np.random.default_rng(seed)
    width = [int(rng.integers(low, high)) for low, high in ((3, 8), (65, 80), (17, 31), (5, 12), (9, 20))]
    inputs = keras.Input((7, 9, width[0]), batch_size=1)
    x = keras.layers.Conv2D(width[1], 1, activation="relu")(inputs)  # 1x1: in tail of 4 / 16, two channel blocks
    x = keras.layers.Conv2D(width[2], 3, strides=2, padding="same")(x)  # patch with padding, stride 2
    x = keras.layers.DepthwiseConv2D(3, padding="same", activation="relu6")(x)
    x = keras.layers.DepthwiseConv2D(3, strides=2, padding="same")(x)  # strided, padded bottom/right only: 2 x 3
    x = keras.layers.Conv2D(width[3], (1, 3), padding="valid")(x)  # a non-square patch without padding
    x = keras.layers.Conv2D(width[3], 1, strides=(1, 2))(x)  # strided 1x1 (2 x 1 output: one pixel pair)
    x = keras.layers.GlobalAveragePooling2D(keepdims=True)(x)
    x = keras.layers.Conv2D(width[4], 1)(x)  # a 1-pixel layer
    x = keras.layers.Flatten()(x)
    outputs = keras.layers.Dense(int(rng.integers(3, 40)))(x)
    model = keras.Model(inputs, outputs)
    for layer in model.layers:
        weights = layer.get_weights()
        if weights:
            layer.set_weights([rng.normal(size=w.shape).astype(np.float32) for w in weights])

    calibration_x = np.random.default_rng(seed).uniform(-1.0, 1.5, (8, 7, 9, width[0])).astype(np.float32)
    with int8_converter(model, calibration_x) as converter:
        return converter.convert()


def first_layers_model(seed: int) -> bytes:
    """A full-int8 model for the Helium paths of few input channels and the eight-channel depthwise groups: a 3x3
    stride-2 SAME convolution of one input channel (9-value patches, two pixels per pass, an odd pixel count: 5 x 7,
    padded bottom / right, so its offset is folded at run time), 1x1 convolutions of 8 and of 20 input channels
    (rows of one and of two 16-byte chunks held in registers), depthwise layers of 12 channels (a group of 8 and a
    partial one), of 70 channels (two channel blocks; strided) and dilated, a 1x1 convolution of 70 input channels
    into two output blocks, a 3x3 convolution of 20 channels (180-value patches), a 1-pixel layer and a dense layer."""
    tf = pytest.importorskip("tensorflow")
    keras = tf.keras
    rng = np.random.default_rng(seed)
    inputs = keras.Input((9, 13, 1), batch_size=1)
    x = keras.layers.Conv2D(8, 3, strides=2, padding="same", activation="relu")(inputs)  # 5 x 7 x 8
    x = keras.layers.Conv2D(12, 1)(x)  # rows of 8 values
    x = keras.layers.DepthwiseConv2D(3, padding="same", activation="relu6")(x)  # 12 = 8 + 4 channels
    x = keras.layers.Conv2D(70, 1)(x)  # two output blocks: 64 + 6
    x = keras.layers.DepthwiseConv2D(3, strides=2, padding="same")(x)  # 70 channels: 64 + 6, 3 x 4
    x = keras.layers.Conv2D(20, 1, activation="relu")(x)  # rows of 70 values: 4 chunks + a tail of 6
    x = keras.layers.DepthwiseConv2D(3, padding="same", dilation_rate=2)(x)  # dilated: taps found by division
    x = keras.layers.Conv2D(9, 3, padding="same")(x)  # 180-value patches, 12 pixels
    x = keras.layers.Conv2D(7, 1)(x)  # rows of 9 values
    x = keras.layers.Conv2D(5, 1)(keras.layers.Conv2D(20, 1)(x))  # rows of 20 values: two chunks
    x = keras.layers.GlobalAveragePooling2D(keepdims=True)(x)
    x = keras.layers.DepthwiseConv2D(1)(x)  # a 1-pixel depthwise layer of 5 channels: one partial group
    outputs = keras.layers.Dense(11)(keras.layers.Flatten()(x))
    model = keras.Model(inputs, outputs)
    for layer in model.layers:
        weights = layer.get_weights()
        if weights:
            layer.set_weights([rng.normal(size=w.shape).astype(np.float32) for w in weights])
    calibration_x = np.random.default_rng(seed).uniform(-1.0, 1.5, (8, 9, 13, 1)).astype(np.float32)
    with int8_converter(model, calibration_x) as converter:
        return converter.convert()


def assert_variants_match_portable(model: bytes, target: str, tmp_path) -> None:
    """The target kernels and the portable kernels, each in QEMU, give the host reference's bytes on 4 inputs; the
    target kernels' build carries the per-op profile, one count per op of the blob, summing to at most the whole
    inference's count (the runner's own work between ops is charged to no op)."""
    for portable in (False, True):
        options = firmware.FirmwareOptions(target, tmp_path / f"{target}-{portable}", run=True, inputs=4,
                                           compare_field=False, portable_kernels=portable, profile_ops=not portable)
        result = firmware.build_firmware(model, "odd_shapes.tflite", options)
        assert result["matches_host"] is True and result["mismatched_inputs"] == 0
        assert result["portable_kernels"] is portable
        if not portable:
            ops = compact.compile_model(model).ops
            assert len(result["op_instructions"]) == len(ops) and min(result["op_instructions"]) > 0
            assert sum(result["op_instructions"]) <= result["instructions_per_inference"]
        else:
            assert result["op_instructions"] is None


@needs_toolchain
@pytest.mark.parametrize("target", ["cortex-m4", "cortex-m55"])  # DSP, Helium
def test_target_kernels_match_portable_on_odd_shapes(target, reference_library, tmp_path):
    assert_variants_match_portable(odd_shapes_model(0), target, tmp_path)


@needs_toolchain
# the paths this model is for are Helium's; the DSP build (the gathered patch rows, the dilation-1 taps) runs in -m slow
@pytest.mark.parametrize("target", [pytest.param("cortex-m4", marks=pytest.mark.slow), "cortex-m55"])
def test_target_kernels_match_portable_on_first_layer_shapes(target, reference_library, tmp_path):
    assert_variants_match_portable(first_layers_model(0), target, tmp_path)


@needs_toolchain
@pytest.mark.slow
@pytest.mark.parametrize("seed", range(1, 5))
@pytest.mark.parametrize("target", ["cortex-m4", "cortex-m7", "cortex-m33", "cortex-m55"])
def test_target_kernels_match_portable_on_random_odd_shapes(target, seed, reference_library, tmp_path):
    assert_variants_match_portable(odd_shapes_model(seed), target, tmp_path)


def four_bit_weights(model: bytes) -> bytes:
    """The model with every CONV_2D / DEPTHWISE_CONV_2D / FULLY_CONNECTED filter's int8 values divided by 16, rounded
    down (-128..127 -> -8..7, both ends of the 4-bit grid), so that compact.compile_model packs them and the _S4
    kernels run them; scales unchanged (the outputs differ from the 8-bit model's, the runtimes must agree)."""
    parsed = flatbuf.read_model(model)
    packed_ops = {"CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED"}
    for op in parsed.subgraphs[0].operators:
        if flatbuf.opcode_name(parsed, op) in packed_ops:
            values = flatbuf.tensor_array(parsed, op.inputs[1])
            flatbuf.set_tensor_array(parsed, op.inputs[1], (values.astype(np.int16) // 16).astype(np.int8))
    return flatbuf.write_model(parsed)


def assert_packed(model: bytes) -> None:
    """Every conv / FC of the model runs a packed 4-bit kernel (else the test below would test the int8 ones)."""
    ops = compact.compile_model(model).ops
    weighted = [op for op in ops if op.op_code & ~compact.OP_INT4_FILTER in compact.WEIGHTED_OPS]
    assert weighted and all(op.op_code & compact.OP_INT4_FILTER for op in weighted)


@needs_toolchain
# fast tier: each packed path once (portable and DSP here, Helium on the blocks read packed); the rest slow
@pytest.mark.parametrize("target", ["cortex-m3", "cortex-m4", pytest.param("cortex-m55", marks=pytest.mark.slow)])
def test_packed_4_bit_kernels_match_portable_on_odd_shapes(target, reference_library, tmp_path):
    """The packed-weight dot products (dot_rows_s4.h) on odd row lengths (rows starting mid-byte, a last half
    byte), rows of one parity four at a time plus leftover rows, two channel blocks, 1-pixel layers and a dense layer:
    target kernels and portable kernels in QEMU give the host's bytes."""
    model = four_bit_weights(odd_shapes_model(0))
    assert_packed(model)
    assert_variants_match_portable(model, target, tmp_path)


def packed_rows_model(seed: int) -> bytes:
    """A full-int8 model whose conv blocks do not fit the 2 KiB unpack buffer, so that the 4-bit convolutions read
    their rows packed (Helium, portable) or in sub-blocks (DSP): 3x3 patches of even length (14 channels: 126) over
    35 pixels (pairs and a last single pixel) into 30 rows (a tail of 2 after the four-row passes), of odd length
    (15 channels: 135; rows start mid-byte, one parity per pass) into 21 rows, a 1x1 convolution of 70 input
    channels (2 whole 16-byte chunks + a 3-byte tail) into 37 rows, a 1-pixel 1x1 convolution of 37 (odd) into 61
    rows and a dense layer; weights drawn from `seed`."""
    tf = pytest.importorskip("tensorflow")
    keras = tf.keras
    rng = np.random.default_rng(seed)
    inputs = keras.Input((5, 7, 14), batch_size=1)
    x = keras.layers.Conv2D(30, 3, padding="same", activation="relu")(inputs)  # rows of 126, padded
    x = keras.layers.Conv2D(15, 1)(x)
    x = keras.layers.Conv2D(21, 3, padding="same")(x)  # rows of 135
    x = keras.layers.Conv2D(70, 1, activation="relu")(x)
    x = keras.layers.Conv2D(37, 1)(x)  # rows of 70
    x = keras.layers.GlobalAveragePooling2D(keepdims=True)(x)
    x = keras.layers.Conv2D(61, 1)(x)  # 1 pixel, rows of 37
    outputs = keras.layers.Dense(13)(keras.layers.Flatten()(x))
    model = keras.Model(inputs, outputs)
    for layer in model.layers:
        weights = layer.get_weights()
        if weights:
            layer.set_weights([rng.normal(size=w.shape).astype(np.float32) for w in weights])
    calibration_x = np.random.default_rng(seed).uniform(-1.0, 1.5, (8, 5, 7, 14)).astype(np.float32)
    with int8_converter(model, calibration_x) as converter:
        return converter.convert()


@needs_toolchain
@pytest.mark.parametrize("target", [pytest.param("cortex-m3", marks=pytest.mark.slow),
                                    pytest.param("cortex-m4", marks=pytest.mark.slow), "cortex-m55"])
def test_packed_4_bit_kernels_match_portable_on_blocks_read_packed(target, reference_library, tmp_path):
    model = four_bit_weights(packed_rows_model(0))
    assert_packed(model)
    assert_variants_match_portable(model, target, tmp_path)


@needs_toolchain
@pytest.mark.parametrize("target", [pytest.param("cortex-m4", marks=pytest.mark.slow),
                                    pytest.param("cortex-m55", marks=pytest.mark.slow)])
def test_packed_4_bit_kernels_match_portable_on_first_layer_shapes(target, reference_library, tmp_path):
    """The same on the first-layer shapes: 9-value rows, rows of 8, 20 and 70 values (every 16-byte tail of the
    Helium loop), a padded 3x3 convolution whose input offset is folded at run time from the packed rows."""
    model = four_bit_weights(first_layers_model(0))
    assert_packed(model)
    assert_variants_match_portable(model, target, tmp_path)


@needs_toolchain
@pytest.mark.slow
@pytest.mark.parametrize("seed", range(1, 4))
@pytest.mark.parametrize("target", ["cortex-m3", "cortex-m4", "cortex-m55"])
def test_packed_4_bit_kernels_match_portable_on_random_odd_shapes(target, seed, reference_library, tmp_path):
    model = four_bit_weights(odd_shapes_model(seed))
    assert_packed(model)
    assert_variants_match_portable(model, target, tmp_path)


@needs_toolchain
def test_deployed_mobilenet_on_cortex_m4_matches_host(deployed, reference_library, tmp_path):
    """The DSP kernels on a zoo model (cortex-m3 and cortex-m55 run it in tests/test_firmware.py)."""
    options = firmware.FirmwareOptions("cortex-m4", tmp_path, run=True, inputs=3, compare_field=False)
    result = firmware.build_firmware(deployed.model, "mobilenet_v1.tflite", options)
    assert result["matches_host"] is True and result["inputs"] == 3
