"""Offline folding of the input offset into the bias (pipeline/cref/offset_fold.py): the exact int32 bounds, the
windows it applies to, and a model whose folded and unfolded blobs give TFLite Micro's bytes in the C runner."""
import numpy as np
import pytest

from pipeline.cref import compact, kernel_params as kp, library, offset_fold
from pipeline.fixedpoint import INT32_MAX, INT32_MIN
from pipeline.quant.convert import int8_converter
from pipeline.tflite import runtime

CONV, FC = offset_fold.FOLDABLE_OPS


def conv_params(input_offset: int, pad_top: int = 0, pad_left: int = 0, stride: int = 1) -> kp.ConvParams:
    return kp.ConvParams(input_offset, 0, stride, stride, 1, 1, pad_top, pad_left, -128, 127)


def test_folded_bias_is_exact_up_to_the_int32_bounds():
    """bias + offset * sum(w) per channel; a value one past INT32_MAX or INT32_MIN refuses the fold."""
    weights = np.full((2, 1, 1, 4), 127, np.int8)  # sum 508 per channel
    top = INT32_MAX - 128 * 508
    np.testing.assert_array_equal(offset_fold.folded_bias(np.array([top, -5], np.int32), weights, 128),
                                  [INT32_MAX, -5 + 128 * 508])
    assert offset_fold.folded_bias(np.array([top + 1, 0], np.int32), weights, 128) is None
    bottom = INT32_MIN + 127 * 508
    np.testing.assert_array_equal(offset_fold.folded_bias(np.array([bottom, 0], np.int32), weights, -127),
                                  [INT32_MIN, -127 * 508])
    assert offset_fold.folded_bias(np.array([0, bottom - 1], np.int32), weights, -127) is None


@pytest.mark.parametrize("input_hw, kernel, stride, pads, output_hw, inside", [
    ((5, 5), 3, 1, (0, 0), (3, 3), True),  # VALID
    ((5, 5), 1, 2, (0, 0), (3, 3), True),  # strided 1x1
    ((5, 5), 3, 1, (1, 1), (5, 5), False),  # SAME, padded on every side
    ((4, 4), 3, 2, (0, 0), (2, 2), False),  # SAME with stride 2: no top/left padding, one padded row/column at the end
])
def test_window_inside(input_hw, kernel, stride, pads, output_hw, inside):
    params = conv_params(5, *pads, stride=stride)
    assert offset_fold.window_inside(params, input_hw, (kernel, kernel), output_hw) is inside


def test_fold_declines_padding_overflow_and_zero_offset():
    weights = np.ones((3, 3, 3, 2), np.int8)
    bias = np.zeros(3, np.int32)
    folded = offset_fold.fold(CONV, conv_params(7), (1, 5, 5, 2), weights, bias, (1, 3, 3, 3))
    assert folded.params.input_offset == 0 and folded.params.stride_y == 1
    np.testing.assert_array_equal(folded.bias, [7 * 18] * 3)
    assert offset_fold.fold(CONV, conv_params(7, 1, 1), (1, 5, 5, 2), weights, bias, (1, 5, 5, 3)) is None
    assert offset_fold.fold(CONV, conv_params(0), (1, 5, 5, 2), weights, bias, (1, 3, 3, 3)) is None
    full = np.array([INT32_MAX, 0, 0], np.int32)
    assert offset_fold.fold(CONV, conv_params(7), (1, 5, 5, 2), weights, full, (1, 3, 3, 3)) is None
    fc = kp.FullyConnectedParams(-3, 0, -128, 127)
    np.testing.assert_array_equal(offset_fold.fold(FC, fc, (1, 4), np.ones((2, 4), np.int8), np.zeros(2, np.int32),
                                                   (1, 2)).bias, [-12, -12])


@pytest.fixture(scope="module")
def mixed_windows_model() -> bytes:
    """VALID 3x3, strided 1x1, SAME 3x3 (padded: not folded) convolutions and a dense layer, seeded."""
    keras = pytest.importorskip("tensorflow").keras
    rng = np.random.default_rng(7)
    inputs = keras.Input((9, 9, 3), batch_size=1)
    x = keras.layers.Conv2D(6, 3, activation="relu")(inputs)
    x = keras.layers.Conv2D(5, 1, strides=2)(x)
    x = keras.layers.Conv2D(4, 3, padding="same")(x)
    outputs = keras.layers.Dense(7)(keras.layers.Flatten()(x))
    model = keras.Model(inputs, outputs)
    for layer in model.layers:
        if layer.get_weights():
            layer.set_weights([rng.normal(size=w.shape).astype(np.float32) for w in layer.get_weights()])
    with int8_converter(model, rng.uniform(-1.0, 2.0, (8, 9, 9, 3)).astype(np.float32)) as converter:
        return converter.convert()


def test_folded_and_unfolded_blobs_give_tflite_micros_bytes(mixed_windows_model, reference_library):
    """The blob compiled before folding existed (fold_offsets=False: every op keeps its input offset) and the folded
    one both run in the C runner and give TFLite Micro's output bytes; the folded blob has input offset 0 exactly in
    the two convolutions whose windows stay inside the input and in the dense layer."""
    folded = compact.compile_model(mixed_windows_model, "mixed_windows")
    unfolded = compact.compile_model(mixed_windows_model, "mixed_windows", fold_offsets=False)
    weighted = [op for op in folded.ops if op.op_name in ("CONV_2D", "FULLY_CONNECTED")]
    assert [op.params[0] == 0 for op in weighted] == [True, True, False, True]  # word 0: input_offset
    assert all(op.params[0] != 0 for op in unfolded.ops if op.op_name in ("CONV_2D", "FULLY_CONNECTED"))
    assert folded.blob != unfolded.blob and len(folded.blob) == len(unfolded.blob)
    x = np.random.default_rng(3).integers(-128, 128, (6, 9, 9, 3), dtype=np.int8)
    want = runtime.run_tflm(mixed_windows_model, x).reshape(len(x), -1)
    for compiled in (folded, unfolded):
        np.testing.assert_array_equal(library.run_model(compiled.blob, x, np.int8), want)
