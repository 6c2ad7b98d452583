"""C float32 kernels (operators a partially quantized model leaves in float): by hand, error paths, and bit-exact
against LiteRT's BUILTIN_REF and TFLite Micro on one-op float models."""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from pipeline.cref import kernel_params as kp
from pipeline.cref import kernel_calls, library

pytestmark = pytest.mark.usefixtures("reference_library")  # conftest.py: build/libwess_ref.so, built when stale

FLOAT32_MAX = kp.FLOAT32_MAX
PLAIN_CONV = kp.ConvF32Params(stride_y=1, stride_x=1, dilation_y=1, dilation_x=1, pad_top=0, pad_left=0,
                              act_min=-FLOAT32_MAX, act_max=FLOAT32_MAX)
SAMPLES = 4


def f32(values, shape) -> np.ndarray:
    return np.asarray(values, dtype=np.float32).reshape(shape)


# ---------------------------------------------------------------- hand-written tensors

def test_conv_f32_3x3_valid_by_hand():
    # input [1, 3, 3, 1] = 1..9; filter OHWI [1, 3, 3, 1] Sobel x; bias 0.5; VALID -> [1, 1, 1, 1]
    # total = (1 - 3) + 2 * (4 - 6) + (7 - 9) = -8, + 0.5 = -7.5
    input = f32(range(1, 10), (1, 3, 3, 1))
    filter = f32([1, 0, -1, 2, 0, -2, 1, 0, -1], (1, 3, 3, 1))
    output = kernel_calls.conv_2d_f32(PLAIN_CONV, input, filter, f32([0.5], (1,)), (1, 1, 1, 1))
    assert output.ravel().tolist() == [-7.5]


def test_conv_f32_sums_in_tflite_order():
    # input [1, 1, 1, 3] = (1e8, 1, -1e8), filter [1, 1, 1, 3] all ones: TFLite adds in channel order,
    # ((0 + 1e8) + 1) + -1e8 = 0 in float32 (1e8 + 1 rounds back to 1e8); another order would give 1.
    input = f32([1e8, 1.0, -1e8], (1, 1, 1, 3))
    output = kernel_calls.conv_2d_f32(PLAIN_CONV, input, np.ones((1, 1, 1, 3), np.float32), None, (1, 1, 1, 1))
    assert output.ravel().tolist() == [0.0]
    # without a bias TFLite adds 0.0f: the result is +0.0, never -0.0
    assert not np.signbit(output).any()


def test_conv_f32_same_padding_skips_taps_and_relu6_clamps_by_hand():
    # input [1, 3, 3, 1] all 2; filter [1, 3, 3, 1] all 1; SAME (pads 1) -> [1, 3, 3, 1]:
    # corners see 4 taps (8), edges 6 (12, clamped to 6 by RELU6), centre 9 (18 -> 6). Bias -9: 8 - 9 -> 0.
    params = replace(PLAIN_CONV, pad_top=1, pad_left=1, act_min=0.0, act_max=6.0)
    input = np.full((1, 3, 3, 1), 2.0, np.float32)
    output = kernel_calls.conv_2d_f32(params, input, np.ones((1, 3, 3, 1), np.float32), f32([-5], (1,)), (1, 3, 3, 1))
    assert output[0, :, :, 0].tolist() == [[3, 6, 3], [6, 6, 6], [3, 6, 3]]
    output = kernel_calls.conv_2d_f32(params, input, np.ones((1, 3, 3, 1), np.float32), f32([-9], (1,)), (1, 3, 3, 1))
    assert output[0, :, :, 0].tolist() == [[0, 3, 0], [3, 6, 3], [0, 3, 0]]


def test_conv_f32_nan_passes_the_activation_as_in_tflite():
    # std::min(std::max(NaN, 0), 6) is NaN (both comparisons false)
    params = replace(PLAIN_CONV, act_min=0.0, act_max=6.0)
    output = kernel_calls.conv_2d_f32(params, f32([np.nan], (1, 1, 1, 1)), f32([1], (1, 1, 1, 1)), None, (1, 1, 1, 1))
    assert np.isnan(output).all()


def test_depthwise_f32_multiplier_2_by_hand():
    # input [1, 2, 2, 2]; filter [1, 2, 2, 4] (out channel = in_c * 2 + m); VALID -> [1, 1, 1, 4]
    input = f32([1, 10, 2, 20, 3, 30, 4, 40], (1, 2, 2, 2))
    filter = np.zeros((1, 2, 2, 4), np.float32)
    filter[0, :, :, 0] = 1.0    # in_c 0, m 0: 1 + 2 + 3 + 4 = 10
    filter[0, 0, 0, 1] = 0.5    # in_c 0, m 1: 0.5
    filter[0, 1, 1, 2] = -1.0   # in_c 1, m 0: -40
    filter[0, :, :, 3] = 0.25   # in_c 1, m 1: 100 / 4 = 25
    params = kp.DepthwiseF32Params(PLAIN_CONV, depth_multiplier=2)
    output = kernel_calls.depthwise_conv_2d_f32(params, input, filter, f32([0, 0, 1, 0], (4,)), (1, 1, 1, 4))
    assert output.ravel().tolist() == [10.0, 0.5, -39.0, 25.0]


def test_fully_connected_f32_two_batches_by_hand():
    # input [2, 3]; filter [2, 3]; no bias; RELU (act_min 0): [[1 - 3 -> 0, 1 + 2 + 3], [-1 + 3, -1 - 3 -> 0]]
    input = f32([1, 2, 3, -1, 0, -3], (2, 3))
    filter = f32([1, 0, -1, 1, 1, 1], (2, 3))
    output = kernel_calls.fully_connected_f32(kp.FullyConnectedF32Params(0.0, FLOAT32_MAX), input, filter, None)
    assert output.tolist() == [[0.0, 6.0], [2.0, 0.0]]


def test_float_activation_range_follows_tflite():
    assert kp.float_activation_range("NONE") == (-FLOAT32_MAX, FLOAT32_MAX)
    assert kp.float_activation_range(1) == (0.0, FLOAT32_MAX)
    assert kp.float_activation_range("RELU6") == (0.0, 6.0)
    assert kp.float_activation_range("RELU_N1_TO_1") == (-1.0, 1.0)
    with pytest.raises(ValueError, match="unsupported"):
        kp.float_activation_range(4)  # TANH is never fused into a conv


# ---------------------------------------------------------------- error paths

INPUT_3X3 = np.zeros((1, 3, 3, 1), np.float32)
FILTER_3X3 = np.zeros((1, 3, 3, 1), np.float32)


@pytest.mark.parametrize("call, status", [
    (lambda: kernel_calls.conv_2d_f32(PLAIN_CONV, INPUT_3X3, FILTER_3X3, None, (1, 2, 1, 1)), "BAD_SHAPE"),
    (lambda: kernel_calls.conv_2d_f32(PLAIN_CONV, INPUT_3X3, np.zeros((1, 3, 3, 2), np.float32), None, (1, 1, 1, 1)),
     "BAD_SHAPE"),
    (lambda: kernel_calls.conv_2d_f32(replace(PLAIN_CONV, stride_x=0), INPUT_3X3, FILTER_3X3, None, (1, 1, 1, 1)),
     "BAD_ARG"),
    (lambda: kernel_calls.conv_2d_f32(replace(PLAIN_CONV, pad_left=3), INPUT_3X3, FILTER_3X3, None, (1, 1, 1, 1)),
     "BAD_ARG"),
    (lambda: kernel_calls.conv_2d_f32(replace(PLAIN_CONV, act_min=1.0, act_max=0.0), INPUT_3X3, FILTER_3X3, None,
                              (1, 1, 1, 1)), "BAD_ARG"),
    (lambda: kernel_calls.conv_2d_f32(replace(PLAIN_CONV, act_max=float("nan")), INPUT_3X3, FILTER_3X3, None,
                              (1, 1, 1, 1)), "BAD_ARG"),
    (lambda: kernel_calls.conv_2d_f32(PLAIN_CONV, np.zeros((2, 3, 3, 1), np.float32), FILTER_3X3, None, (2, 1, 1, 1)),
     "UNSUPPORTED"),
    (lambda: kernel_calls.depthwise_conv_2d_f32(kp.DepthwiseF32Params(PLAIN_CONV, 2), INPUT_3X3, FILTER_3X3, None,
                                        (1, 1, 1, 1)), "BAD_SHAPE"),
    (lambda: kernel_calls.depthwise_conv_2d_f32(kp.DepthwiseF32Params(PLAIN_CONV, 0), INPUT_3X3, FILTER_3X3, None,
                                        (1, 1, 1, 1)), "BAD_ARG"),
    (lambda: kernel_calls.fully_connected_f32(kp.FullyConnectedF32Params(0.0, 6.0), np.zeros((1, 4), np.float32),
                                      np.zeros((2, 5), np.float32), None), "BAD_SHAPE"),
    (lambda: kernel_calls.fully_connected_f32(kp.FullyConnectedF32Params(float("nan"), 6.0), np.zeros((1, 4), np.float32),
                                      np.zeros((2, 4), np.float32), None), "BAD_ARG"),
])
def test_invalid_arguments_return_the_status_and_the_wrapper_raises(call, status):
    with pytest.raises(library.KernelError, match=f"WESS_ERR_{status}"):
        call()


def test_null_pointers_return_bad_arg(reference_library):
    assert reference_library.wess_conv_2d_f32(None, None, None, None, None, None, None, None) == 1
    assert reference_library.wess_depthwise_conv_2d_f32(None, None, None, None, None, None, None, None) == 1
    assert reference_library.wess_fully_connected_f32(None, None, None, None, None, None, None, None) == 1


def test_wrapper_refuses_int8_tensors():
    with pytest.raises(TypeError):
        kernel_calls.conv_2d_f32(PLAIN_CONV, INPUT_3X3.astype(np.int8), FILTER_3X3, None, (1, 1, 1, 1))


# ---------------------------------------------------------------- bit-exact against LiteRT and TFLite Micro float ops

FLOAT_CASES = {
    # name: (Keras layer factory, input shape, TFLite op)
    "conv_same_stride2_relu6": (lambda layers: layers.Conv2D(5, 3, strides=2, padding="same", activation="relu6"),
                                (1, 7, 7, 3), "CONV_2D"),
    "conv_valid_dilation2_no_bias": (lambda layers: layers.Conv2D(4, 3, dilation_rate=2, use_bias=False),
                                     (1, 8, 8, 6), "CONV_2D"),
    "depthwise_multiplier2_same_relu": (lambda layers: layers.DepthwiseConv2D(3, depth_multiplier=2,
                                                                              padding="same", activation="relu"),
                                        (1, 6, 6, 4), "DEPTHWISE_CONV_2D"),
    "fully_connected": (lambda layers: layers.Dense(7), (1, 40), "FULLY_CONNECTED"),
}


@pytest.fixture(scope="module")
def float_runs():
    """Each FLOAT_CASES layer as a float TFLite model (no quantization) run by LiteRT BUILTIN_REF and TFLite Micro."""
    tf = pytest.importorskip("tensorflow")
    from ai_edge_litert.interpreter import Interpreter, OpResolverType
    from tflite_micro.python.tflite_micro import runtime

    runs = {}
    for seed, (name, (factory, shape, op_name)) in enumerate(FLOAT_CASES.items()):
        inputs = tf.keras.Input(shape[1:], batch_size=1)
        keras_model = tf.keras.Model(inputs, factory(tf.keras.layers)(inputs))
        rng = np.random.default_rng(seed)
        for layer in keras_model.layers:
            layer.set_weights([rng.normal(0, 0.5, w.shape).astype(np.float32) for w in layer.get_weights()])
        model = tf.lite.TFLiteConverter.from_keras_model(keras_model).convert()
        litert = Interpreter(model_content=model, experimental_op_resolver_type=OpResolverType.BUILTIN_REF)
        litert.allocate_tensors()
        micro = runtime.Interpreter.from_bytes(model)
        (op,) = [details for details in litert._get_ops_details() if details["op_name"] == op_name]
        tensors = [litert.get_tensor(index) if index >= 0 else None for index in op["inputs"][1:]]
        options = keras_model.layers[-1].get_config()
        samples = []
        for _ in range(SAMPLES):
            x = rng.normal(0, 2.0, shape).astype(np.float32)
            litert.set_tensor(litert.get_input_details()[0]["index"], x)
            litert.invoke()
            micro.set_input(x, 0)
            micro.invoke()
            samples.append((x, litert.get_tensor(litert.get_output_details()[0]["index"]), micro.get_output(0)))
        runs[name] = (op, tensors, options, samples)
    return runs


def _c_float_op(name: str, tensors: list, options: dict, x: np.ndarray, output_shape) -> np.ndarray:
    filter, bias = tensors[0], tensors[1] if len(tensors) > 1 else None
    activation = {"linear": "NONE", "relu": "RELU", "relu6": "RELU6"}[options["activation"]]
    if name == "fully_connected":
        return kernel_calls.fully_connected_f32(kp.FullyConnectedF32Params(*kp.float_activation_range(activation)),
                                        x, filter, bias)
    pair = lambda value: tuple(value) if isinstance(value, (tuple, list)) else (value, value)  # noqa: E731
    params = kp.conv_f32_params(x.shape[1:3], filter.shape[1:3], pair(options["strides"]),
                                pair(options["dilation_rate"]), options["padding"], activation)
    if name.startswith("depthwise"):
        return kernel_calls.depthwise_conv_2d_f32(kp.DepthwiseF32Params(params, options["depth_multiplier"]), x, filter,
                                          bias, output_shape)
    return kernel_calls.conv_2d_f32(params, x, filter, bias, output_shape)


@pytest.mark.parametrize("name", FLOAT_CASES)
def test_float_op_is_bit_exact_with_litert_and_tflite_micro(float_runs, name):
    op, tensors, options, samples = float_runs[name]
    assert op["op_name"] == FLOAT_CASES[name][2] and tensors[0].dtype == np.float32
    for x, litert_output, micro_output in samples:
        ours = _c_float_op(name, tensors, options, x, litert_output.shape).reshape(litert_output.shape)
        # compare bit patterns, so that -0.0 vs 0.0 or a different NaN would count as a mismatch
        assert np.array_equal(ours.view(np.uint32), litert_output.view(np.uint32)), "vs LiteRT BUILTIN_REF"
        assert np.array_equal(ours.view(np.uint32), micro_output.view(np.uint32)), "vs TFLite Micro"
        assert len(np.unique(ours)) > 4
