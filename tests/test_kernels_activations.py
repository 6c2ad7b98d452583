"""C reference elementwise kernels (LOGISTIC, TANH, HARD_SWISH, RELU, RELU6, LEAKY_RELU, int8 QUANTIZE), MUL, PRELU,
MAXIMUM, MINIMUM, REDUCE_MAX, RESIZE_BILINEAR, RESIZE_NEAREST_NEIGHBOR, STRIDED_SLICE, SLICE, TRANSPOSE_CONV: hand-computed tensors, the
parameters TFLite Micro's Prepare computes, error paths. Whole models: tests/test_ops_models.py."""
from __future__ import annotations

import ctypes
from dataclasses import astuple, replace

import numpy as np
import pytest

from pipeline.cref import kernel_params as kp
from pipeline.cref import kernel_params_ext as kpe
from pipeline.cref import kernel_calls, library

pytestmark = pytest.mark.usefixtures("reference_library")  # conftest.py: build/libwess_ref.so, built when stale


def _int8(values) -> np.ndarray:
    return np.array(values, dtype=np.int8)


def test_sigmoid_params_follow_tflite_micro_prepare():
    # input scale 1/16: 2^-4 * 2^27 = 2^23 = 0.5 * 2^24 -> multiplier 2^30, left shift 24;
    # radius floor(15 * 2^27 / 2^24) = 120 (inputs at |q - zero point| >= 120 saturate)
    assert kp.sigmoid_params(1 / 16, 3) == kp.SigmoidParams(3, 120, 2**30, 24)


def test_logistic_by_hand():
    # [1, 6] input, scale 1/16, zero point 0: reals 0, 1, -1, -2, 7.94 (beyond the radius), -8 (beyond);
    # output scale 1/256, zero point -128: 256 * sigmoid - 128 = 0, 59.1, -59.2, -97.5 (30.52 - 128) and the ends
    params = kp.sigmoid_params(1 / 16, 0)
    output = kernel_calls.elementwise("LOGISTIC", params, _int8([[0, 16, -16, -32, 127, -128]]))
    assert output.tolist() == [[0, 59, -59, -97, 127, -128]]


def test_tanh_by_hand():
    # [1, 5] input, scale 1/16, zero point 0: reals 0, 1, -1, -2, 7.94 (beyond the radius);
    # output scale 1/128, zero point 0: 128 * tanh = 0, 97.5, -97.5, -123.4, saturated
    params = kp.sigmoid_params(1 / 16, 0)
    output = kernel_calls.elementwise("TANH", params, _int8([[0, 16, -16, -32, 127]]))
    assert output.tolist() == [[0, 97, -97, -123, 127]]


def test_relu_rescales_then_clamps_by_hand():
    # [2, 2] input, scale 0.5, zero point 10 -> output scale 0.25, zero point -128 (multiplier 2.0):
    # reals -5, 0, 5, 58.5 -> -128 (clamped at the output zero point), -128, -108, 106
    params = kp.relu_params(0.5, 10, 0.25, -128, "RELU")
    assert (params.act_min, params.act_max) == (-128, 127)
    output = kernel_calls.elementwise("RELU", params, _int8([[0, 10], [20, 127]]))
    assert output.tolist() == [[-128, -128], [-108, 106]]


def test_relu6_clamps_in_the_input_quantization_by_hand():
    # input scale 0.1, zero point -5: RELU6 keeps the input's bytes between its quantized 0 (-5) and 6 (55),
    # as TFLite Micro does, whatever the output quantization says
    params = kp.relu_params(0.1, -5, 0.3, 7, "RELU6")
    assert (params.output_zero_point, params.act_min, params.act_max) == (-5, -5, 55)
    output = kernel_calls.elementwise("RELU", params, _int8([-128, -5, 0, 55, 100]))
    assert output.tolist() == [-5, -5, 0, 55, 55]


def test_int8_quantize_requantizes_by_hand():
    # QUANTIZE int8 -> int8 (QUANTIZE_S8) is RELU's kernel over the full int8 range. Input scale 0.5, zero point 10
    # -> output scale 0.25, zero point 0 (multiplier 2.0): -10, 10, 117, -138 doubled, clamped to int8
    params = kp.relu_params(0.5, 10, 0.25, 0, "NONE")
    output = kernel_calls.elementwise("RELU", params, _int8([0, 20, 127, -128]))
    assert output.tolist() == [-20, 20, 127, -128]


def test_hard_swish_by_hand():
    # input and output scale 1/16, zero points 0: reluish multiplier 5.33 = 21845 / 2^15 * 2^3, output 1/128 = 16384
    # / 2^15 * 2^-6. Reals 1, 3, -1, -4, 7.94 -> x * relu6(x + 3) / 6 = 0.667, 3, -0.333, 0, 7.94 -> times 16:
    # 10.7, 48, -5.3, 0, 127 (the 16-bit steps: for x = 1, 682 / 2^6 = 10.66 -> 11)
    params = kp.hard_swish_params(1 / 16, 0, 1 / 16, 0)
    assert params == kp.HardSwishParams(0, 0, 21845, 3, 16384, -6)
    output = kernel_calls.elementwise("HARD_SWISH", params, _int8([16, 48, -16, -64, 127]))
    assert output.tolist() == [11, 48, -5, 0, 127]


def test_hard_swish_exponents_below_minus_15_follow_gemmlowps_int16_rounding():
    # gemmlowp's RoundingDivideByPOT on int16 by 16 or more: the mask (1 << e) - 1 truncates to -1, so the result is
    # 1 for x >= 0 and -1 for x < 0 (what TFLite Micro computes; a model with tiny scales reaches it, see
    # tests/test_ops_models.py). Reluish exponent -16, output 1/2 at exponent 0: reluish (+-1 + 2^15) >> 1 is 16384
    # (x >= 0) or 16383 (x < 0), then trunc(reluish * 64x / 2^15): 1 -> 32, 0 -> 0, -1 -> -31, -2 -> -63
    # (round-half-away division would give reluish 16384 and -32, -64).
    params = kp.HardSwishParams(0, 0, 16384, -16, 16384, 0)
    output = kernel_calls.elementwise("HARD_SWISH", params, _int8([1, 0, -1, -2]))
    assert output.tolist() == [32, 0, -31, -63]
    # output exponent -16 (and -31, the largest): every output is the zero point +1 for x >= 0 (0 included), -1 else
    for exponent in (-16, -31):
        params = kp.HardSwishParams(0, 5, 16384, 3, 16384, exponent)
        assert kernel_calls.elementwise("HARD_SWISH", params, _int8([0, 7, -7])).tolist() == [6, 6, 4]


def test_leaky_relu_by_hand():
    # [4] input, scale 0.1, zero point 0 -> output scale 0.1, zero point 3; alpha 0.25:
    # 40 -> 43; 127 -> 130 clamped to 127; -40 -> -10 + 3 = -7; -128 -> -32 + 3 = -29
    params = kp.leaky_relu_params(0.1, 0, 0.1, 3, 0.25)
    output = kernel_calls.elementwise("LEAKY_RELU", params, _int8([40, 127, -40, -128]))
    assert output.tolist() == [43, 127, -7, -29]


SIGMOID = kp.sigmoid_params(1 / 16, 0)
RELU = kp.relu_params(0.5, 10, 0.25, -128, "RELU")
LEAKY = kp.leaky_relu_params(0.1, 0, 0.1, 3, 0.25)
HARD_SWISH = kp.hard_swish_params(1 / 16, 0, 1 / 16, 0)


@pytest.mark.parametrize("op, params", [
    ("LOGISTIC", replace(SIGMOID, input_zero_point=128)),
    ("LOGISTIC", replace(SIGMOID, input_range_radius=-1)),
    ("TANH", replace(SIGMOID, input_multiplier=-1)),
    ("TANH", replace(SIGMOID, input_left_shift=31)),
    ("RELU", replace(RELU, act_min=5, act_max=4)),
    ("RELU", replace(RELU, right_shift=32)),
    ("RELU", replace(RELU, output_zero_point=-129)),
    ("LEAKY_RELU", replace(LEAKY, alpha_multiplier=-1)),
    ("LEAKY_RELU", replace(LEAKY, identity_right_shift=-31)),
    ("HARD_SWISH", replace(HARD_SWISH, output_exponent=1)),
    ("HARD_SWISH", replace(HARD_SWISH, reluish_multiplier=32768)),
])
def test_invalid_parameters_return_bad_arg(op, params):
    with pytest.raises(library.KernelError, match="WESS_ERR_BAD_ARG"):
        kernel_calls.elementwise(op, params, _int8([1, 2, 3]))


@pytest.mark.parametrize("op, params", [("LOGISTIC", SIGMOID), ("TANH", SIGMOID), ("RELU", RELU),
                                        ("LEAKY_RELU", LEAKY), ("HARD_SWISH", HARD_SWISH)])
def test_unequal_dims_are_bad_shape_and_null_pointers_bad_arg(reference_library, op, params):
    struct, kernel = kernel_calls.ELEMENTWISE_KERNELS[op]
    c_params = struct(*astuple(params))
    input, output = _int8([1, 2, 3, 4]), np.zeros(4, np.int8)
    pointer = lambda array: array.ctypes.data_as(ctypes.POINTER(ctypes.c_int8))
    run = getattr(reference_library, kernel)
    assert run(ctypes.byref(c_params), ctypes.byref(library.Dims(1, 1, 1, 4)), pointer(input),
               ctypes.byref(library.Dims(1, 1, 2, 2)), pointer(output)) == 2  # WESS_ERR_BAD_SHAPE
    assert run(ctypes.byref(c_params), ctypes.byref(library.Dims(1, 1, 1, 4)), None,
               ctypes.byref(library.Dims(1, 1, 1, 4)), pointer(output)) == 1  # WESS_ERR_BAD_ARG


@pytest.mark.parametrize("call, message", [
    (lambda: kp.sigmoid_params(0.0, 0), "input scale 0.0 is not a positive finite number"),
    (lambda: kp.sigmoid_params(2.0**-40, 0), "Q4.27 rescale outside"),
    (lambda: kp.leaky_relu_params(0.1, 0, 0.1, 0, -0.5), "alpha -0.5 is not >= 0"),
    (lambda: kp.relu_params(0.1, 0, 0.0, 0, "RELU"), "output scale 0.0"),
    (lambda: kp.hard_swish_params(1.0, 0, 2.0**-20, 0), "HARD_SWISH exponents"),
])
def test_parameters_outside_the_kernels_range_are_parameter_errors(call, message):
    with pytest.raises(kp.ParameterError, match=message):
        call()


# ---------------------------------------------------------------- MUL

def test_mul_broadcasts_a_channel_constant_by_hand():
    # input1 [1, 2, 1, 2] NHWC, zero point 1 (offset -1): reals (q - 1) = [[3, -2], [0, 5]]
    # input2 [2] (a per-channel constant, padded to [1, 1, 1, 2]), zero point 0: [2, -3]
    # multiplier 1.0 * 1.0 / 0.5 = 2.0, output zero point -1: 2 * product - 1
    params = kp.mul_params(1.0, 1, 1.0, 0, 0.5, -1, "NONE")
    output = kernel_calls.mul(params, _int8([[[[4, -1]], [[1, 6]]]]), _int8([2, -3]))
    assert output[0, :, 0, :].tolist() == [[11, 11], [-1, -31]]  # 2*6-1, 2*6-1, 2*0-1, 2*(-15)-1


def test_mul_same_shape_with_relu_by_hand():
    # [1, 3] x [1, 3], zero points 0, scales 0.5 and 0.25 -> output scale 0.125: product * 1.0, clamp at 0 (RELU)
    params = kp.mul_params(0.5, 0, 0.25, 0, 0.125, 0, "RELU")
    output = kernel_calls.mul(params, _int8([[3, -4, 100]]), _int8([[5, 6, 2]]))
    assert output.tolist() == [[15, 0, 127]]


MUL = kp.mul_params(1.0, 1, 1.0, 0, 0.5, -1, "NONE")


@pytest.mark.parametrize("params, shapes, status", [
    (replace(MUL, input1_offset=-128), ((1, 4), (1, 4)), "BAD_ARG"),
    (replace(MUL, right_shift=40), ((1, 4), (1, 4)), "BAD_ARG"),
    (replace(MUL, act_min=1, act_max=0), ((1, 4), (1, 4)), "BAD_ARG"),
])
def test_mul_invalid_parameters(params, shapes, status):
    with pytest.raises(library.KernelError, match=f"WESS_ERR_{status}"):
        kernel_calls.mul(params, np.zeros(shapes[0], np.int8), np.zeros(shapes[1], np.int8))


def test_mul_input_extent_neither_one_nor_the_outputs_is_bad_shape(reference_library):
    # input1 [1, 1, 1, 3] against an output [1, 1, 1, 4]: 3 neither broadcasts nor matches
    c_params = library.MulParams(*astuple(MUL))
    input1, input2, output = np.zeros(3, np.int8), np.zeros(4, np.int8), np.zeros(4, np.int8)
    pointer = lambda array: array.ctypes.data_as(ctypes.POINTER(ctypes.c_int8))
    status = reference_library.wess_mul_s8(ctypes.byref(c_params), ctypes.byref(library.Dims(1, 1, 1, 3)),
                                           pointer(input1), ctypes.byref(library.Dims(1, 1, 1, 4)), pointer(input2),
                                           ctypes.byref(library.Dims(1, 1, 1, 4)), pointer(output))
    assert status == 2  # WESS_ERR_BAD_SHAPE


def _pointer(array: np.ndarray):
    return None if array is None else array.ctypes.data_as(ctypes.POINTER(ctypes.c_int8))


# ---------------------------------------------------------------- PRELU

PRELU = kpe.prelu_params(0.5, 2, 0.25, 0, 0.5, -1)


def test_prelu_params_follow_tflite_micro_prepare():
    # identity 0.5 / 0.5 = 1.0 = 0.5 * 2^1 -> (2^30, right shift -1); alpha 0.5 * 0.25 / 0.5 = 0.25 -> (2^30, 1)
    assert PRELU == kpe.PreluParams(-2, 0, -1, 2**30, -1, 2**30, 1)
    # an all-zero alpha has scale 0: multiplier 0, every input below the zero point gives the output zero point
    assert kpe.prelu_params(0.5, 2, 0.0, 0, 0.5, -1).alpha_multiplier == 0


def test_prelu_per_channel_alpha_by_hand():
    # input [1, 1, 3, 2], scale 0.5, zero point 2; alpha [2] per channel, scale 0.25: reals 1.0, -2.0;
    # output scale 0.5, zero point -1. At or above the zero point: q - 2 - 1; below: (q - 2) * alpha_q / 4 - 1
    # pixel 0: 10 -> 7; 0 -> (-2)(-8) / 4 - 1 = 3. pixel 1: -6 -> (-8)(4) / 4 - 1 = -9; 2 -> -1.
    # pixel 2: 127 -> 124; -128 -> (-130)(-8) / 4 - 1 = 259, clamped to 127
    output = kernel_calls.prelu(PRELU, _int8([[[[10, 0], [-6, 2], [127, -128]]]]), _int8([4, -8]))
    assert output[0, 0].tolist() == [[7, 3], [-9, -1], [124, 127]]


@pytest.mark.parametrize("params", [replace(PRELU, input_offset=-128), replace(PRELU, alpha_offset=129),
                                    replace(PRELU, output_offset=128), replace(PRELU, alpha_right_shift=32),
                                    replace(PRELU, identity_multiplier=-1)])
def test_prelu_invalid_parameters_are_bad_arg(params):
    with pytest.raises(library.KernelError, match="WESS_ERR_BAD_ARG"):
        kernel_calls.prelu(params, _int8([[1, 2]]), _int8([1, 2]))


def test_prelu_alpha_that_does_not_broadcast_is_bad_shape_and_null_bad_arg(reference_library):
    c_params = library.PreluParams(*astuple(PRELU))
    input, alpha, output = _int8([1, 2, 3, 4]), _int8([1, 2, 3]), np.zeros(4, np.int8)
    dims4, dims3 = ctypes.byref(library.Dims(1, 1, 1, 4)), ctypes.byref(library.Dims(1, 1, 1, 3))
    run = reference_library.wess_prelu_s8
    assert run(ctypes.byref(c_params), dims4, _pointer(input), dims3, _pointer(alpha), dims4, _pointer(output)) == 2
    assert run(ctypes.byref(c_params), dims4, _pointer(input), dims4, None, dims4, _pointer(output)) == 1


@pytest.mark.parametrize("call, message", [
    (lambda: kpe.prelu_params(0.5, 0, -0.25, 0, 0.5, 0), "alpha scale -0.25"),
    (lambda: kpe.prelu_params(0.5, 0, 0.25, 0, 0.0, 0), "output scale 0.0"),
])
def test_prelu_parameters_outside_the_kernels_range_are_parameter_errors(call, message):
    with pytest.raises(kp.ParameterError, match=message):
        call()


# ---------------------------------------------------------------- MAXIMUM, MINIMUM

def test_maximum_and_minimum_compare_stored_bytes_broadcasting_by_hand():
    # input1 [1, 2, 1, 2] against a per-channel input2 [2] = [1, -1] (padded to [1, 1, 1, 2])
    input1, input2 = _int8([[[[3, -5]], [[7, 0]]]]), _int8([1, -1])
    assert kernel_calls.maximum_minimum("MAXIMUM", input1, input2)[0, :, 0].tolist() == [[3, -1], [7, 0]]
    assert kernel_calls.maximum_minimum("MINIMUM", input1, input2)[0, :, 0].tolist() == [[1, -5], [1, -1]]
    same = _int8([[-128, 127, 0]])
    assert kernel_calls.maximum_minimum("MAXIMUM", same, _int8([[127, -128, 0]])).tolist() == [[127, 127, 0]]


@pytest.mark.parametrize("kernel", ["wess_maximum_s8", "wess_minimum_s8"])
def test_maximum_minimum_extent_neither_one_nor_the_outputs_is_bad_shape_and_null_bad_arg(reference_library,
                                                                                         kernel):
    input1, input2, output = np.zeros(3, np.int8), np.zeros(4, np.int8), np.zeros(4, np.int8)
    dims4, dims3 = ctypes.byref(library.Dims(1, 1, 1, 4)), ctypes.byref(library.Dims(1, 1, 1, 3))
    run = getattr(reference_library, kernel)
    assert run(dims3, _pointer(input1), dims4, _pointer(input2), dims4, _pointer(output)) == 2
    assert run(dims4, _pointer(input2), dims4, _pointer(input2), dims4, None) == 1


# ---------------------------------------------------------------- REDUCE_MAX

def test_reduce_params_resolve_axes_to_nhwc():
    quant = (0.1, 3)
    assert kpe.reduce_params(4, [1, 2], quant, quant) == kpe.ReduceParams(0, 1, 1, 0)
    assert kpe.reduce_params(4, [-2, 1, 1], quant, quant) == kpe.ReduceParams(0, 1, 1, 0)  # negative, repeated
    assert kpe.reduce_params(2, [-1], quant, quant) == kpe.ReduceParams(0, 0, 0, 1)  # [b, d] is [b, 1, 1, d]
    assert kpe.reduce_params(3, [0], quant, quant) == kpe.ReduceParams(0, 1, 0, 0)  # [a, b, c] is [1, a, b, c]


@pytest.mark.parametrize("call, message", [
    (lambda: kpe.reduce_params(4, [1], (0.1, 3), (0.2, 3)), "differs from the input's"),
    (lambda: kpe.reduce_params(4, [4], (0.1, 3), (0.1, 3)), "axis 4 is outside a rank-4 input"),
    (lambda: kpe.reduced_nhwc_axes(3, [-4]), "axis -4 is outside a rank-3 input"),
    (lambda: kpe.reduce_params(5, [1], (0.1, 3), (0.1, 3)), "rank-5 input"),
])
def test_reduce_parameters_tflite_micro_refuses_are_parameter_errors(call, message):
    with pytest.raises(kp.ParameterError, match=message):
        call()


def test_reduce_max_by_hand():
    # input [1, 2, 2, 3]: pixels (0,0) [1, -128, 5], (0,1) [4, -7, -9], (1,0) [-3, -100, 2], (1,1) [0, -128, 6]
    input = _int8([[[[1, -128, 5], [4, -7, -9]], [[-3, -100, 2], [0, -128, 6]]]])
    over_hw = kernel_calls.reduce_max(kpe.ReduceParams(0, 1, 1, 0), input)
    assert over_hw.tolist() == [[[[4, -7, 6]]]]
    assert kernel_calls.reduce_max(kpe.ReduceParams(0, 0, 0, 1), input)[0, :, :, 0].tolist() == [[5, 4], [2, 6]]
    assert kernel_calls.reduce_max(kpe.ReduceParams(1, 1, 1, 1), input).tolist() == [[[[6]]]]
    assert kernel_calls.reduce_max(kpe.ReduceParams(0, 0, 0, 0), input).tolist() == input.tolist()  # nothing reduced
    assert kernel_calls.reduce_max(kpe.ReduceParams(0, 1, 1, 0), _int8([[[[-128]]]])).tolist() == [[[[-128]]]]


def test_reduce_max_errors(reference_library):
    input, output = np.zeros(12, np.int8), np.zeros(3, np.int8)
    dims_in, dims_out = ctypes.byref(library.Dims(1, 2, 2, 3)), ctypes.byref(library.Dims(1, 1, 1, 3))
    run = reference_library.wess_reduce_max_s8
    hw = library.ReduceParams(0, 1, 1, 0)
    assert run(ctypes.byref(hw), dims_in, _pointer(input), dims_out, _pointer(output)) == 0
    assert run(ctypes.byref(library.ReduceParams(0, 2, 1, 0)), dims_in, _pointer(input), dims_out,
               _pointer(output)) == 1  # a flag other than 0 or 1: WESS_ERR_BAD_ARG
    assert run(ctypes.byref(library.ReduceParams(0, 1, 0, 0)), dims_in, _pointer(input), dims_out,
               _pointer(output)) == 2  # keeps W: 6 outputs, not 3: WESS_ERR_BAD_SHAPE
    assert run(ctypes.byref(hw), dims_in, None, dims_out, _pointer(output)) == 1


# ---------------------------------------------------------------- TRANSPOSE

def test_transpose_by_hand():
    # input [1, 2, 3, 1]: rows [1, 2, 3] and [4, 5, 6]; swapping H and W (Keras Permute((2, 1, 3))) gives [1, 3, 2, 1]
    input = _int8([[[[1], [2], [3]], [[4], [5], [6]]]])
    swapped = kernel_calls.transpose(kpe.TransposeParams(0, 2, 1, 3), input)
    assert swapped[0, :, :, 0].tolist() == [[1, 4], [2, 5], [3, 6]]
    # channels first: [1, 2, 3, 1] -> [1, 1, 2, 3]
    assert kernel_calls.transpose(kpe.TransposeParams(0, 3, 1, 2), input)[0, 0].tolist() == [[1, 2, 3], [4, 5, 6]]
    assert kernel_calls.transpose(kpe.TransposeParams(0, 1, 2, 3), input).tolist() == input.tolist()  # identity


def test_transpose_params_map_tflite_perm_onto_nhwc():
    same = (0.5, 3)
    assert kpe.transpose_params([0, 2, 1, 3], same, same) == kpe.TransposeParams(0, 2, 1, 3)
    assert kpe.transpose_params([0, 2, 1], same, same) == kpe.TransposeParams(0, 1, 3, 2)  # [1, T, C] -> [1, C, T]
    assert kpe.transpose_params([1, 0], same, same) == kpe.TransposeParams(3, 1, 2, 0)  # [b, d] is [b, 1, 1, d]
    with pytest.raises(kp.ParameterError, match="not a permutation"):
        kpe.transpose_params([0, 0, 1], same, same)
    with pytest.raises(kp.ParameterError, match="quantization"):
        kpe.transpose_params([0, 2, 1], same, (0.25, 3))


def test_transpose_errors(reference_library):
    input, output = np.zeros(6, np.int8), np.zeros(6, np.int8)
    dims_in, dims_out = ctypes.byref(library.Dims(1, 2, 3, 1)), ctypes.byref(library.Dims(1, 3, 2, 1))
    run = reference_library.wess_transpose_s8
    swap = library.TransposeParams(0, 2, 1, 3)
    assert run(ctypes.byref(swap), dims_in, _pointer(input), dims_out, _pointer(output)) == 0
    assert run(ctypes.byref(library.TransposeParams(0, 2, 2, 3)), dims_in, _pointer(input), dims_out,
               _pointer(output)) == 1  # not a permutation: WESS_ERR_BAD_ARG
    assert run(ctypes.byref(library.TransposeParams(0, 2, 1, 4)), dims_in, _pointer(input), dims_out,
               _pointer(output)) == 1  # axis 4: WESS_ERR_BAD_ARG
    assert run(ctypes.byref(library.TransposeParams(0, 1, 2, 3)), dims_in, _pointer(input), dims_out,
               _pointer(output)) == 2  # output dims not the input's permuted: WESS_ERR_BAD_SHAPE
    assert run(ctypes.byref(swap), dims_in, None, dims_out, _pointer(output)) == 1


# ---------------------------------------------------------------- RESIZE_BILINEAR

@pytest.mark.parametrize("align_corners, half_pixel_centers, row, expected", [
    # W 2 -> 4, scale_10 (2^11 + 2) / 4 = 512: positions 0, 512, 1024, 1536 (the last clamped to column 1)
    (False, False, [0, 100], [0, 50, 100, 100]),
    # half pixel centres: positions -256 (both neighbours column 0), 256, 768, 1280; Q20 sums / 2^20 = -74.25 and
    # -22.75, rounded half away from zero
    (False, True, [-100, 3], [-100, -74, -23, 3]),
    # align corners: scale_10 (1024 + 1) / 3 = 341: positions 0, 341, 682, 1023 -> 33.3, 66.6, 99.9
    (True, False, [0, 100], [0, 33, 67, 100]),
])
def test_resize_bilinear_one_row_by_hand(align_corners, half_pixel_centers, row, expected):
    params = kpe.resize_params(align_corners, half_pixel_centers)
    output = kernel_calls.resize("RESIZE_BILINEAR", params, _int8(row).reshape(1, 1, 2, 1), (1, 4))
    assert output.ravel().tolist() == expected


def test_resize_bilinear_two_axes_half_pixel_by_hand():
    # 2x2 -> 3x3 (UpSampling2D's bilinear: half pixel centres): scale_10 (2048 + 1) / 3 = 683, positions -171
    # (row / column 0 only), 512 (halfway), 1195 (row / column 1 only)
    input = _int8([[0, 40], [80, 120]]).reshape(1, 2, 2, 1)
    output = kernel_calls.resize("RESIZE_BILINEAR", kpe.ResizeParams(0, 1), input, (3, 3))
    assert output[0, :, :, 0].tolist() == [[0, 20, 40], [40, 60, 80], [80, 100, 120]]


def test_resize_bilinear_errors(reference_library):
    run = reference_library.wess_resize_bilinear_s8
    input, output = np.zeros(2, np.int8), np.zeros(4000, np.int8)

    def status(params, input_dims, output_dims, input_data=input):
        return run(ctypes.byref(library.ResizeParams(*params)), ctypes.byref(library.Dims(*input_dims)),
                   _pointer(input_data), ctypes.byref(library.Dims(*output_dims)), _pointer(output))

    assert status((0, 1), (1, 1, 2, 1), (1, 1, 4, 1)) == 0
    assert status((1, 1), (1, 1, 2, 1), (1, 1, 4, 1)) == 1  # both options: WESS_ERR_BAD_ARG
    assert status((2, 0), (1, 1, 2, 1), (1, 1, 4, 1)) == 1
    assert status((0, 1), (1, 1, 2, 1), (1, 1, 4, 1), None) == 1  # NULL input
    assert status((0, 1), (1, 1, 1, 2), (1, 1, 2, 1)) == 2  # channels differ: WESS_ERR_BAD_SHAPE
    assert status((0, 1), (1, 1, 1, 2), (1, 2, 1, 2)) == 0
    # W 2 -> 4000: scale_10 (2048 + 2000) / 4000 = 1, so the last lower neighbour is 3999 / 1024 = 3, past the
    # input (TFLite would read there): refused before any read
    assert status((0, 0), (1, 1, 2, 1), (1, 1, 4000, 1)) == 3  # WESS_ERR_UNSUPPORTED


def test_resize_params_refuse_both_options():
    with pytest.raises(kp.ParameterError, match="both align_corners and half_pixel_centers"):
        kpe.resize_params(True, True)


# ---------------------------------------------------------------- RESIZE_NEAREST_NEIGHBOR

@pytest.mark.parametrize("align_corners, half_pixel_centers, width, expected", [
    # W 3 -> 7, scale 3/7: positions x * 3/7 = 0, .43, .86, 1.29, 1.71, 2.14, 2.57, floored
    (False, False, 7, [10, 10, 10, 20, 20, 30, 30]),
    # half pixel centres (Keras Resizing): (x + 0.5) * 3/7 = .21, .64, 1.07, 1.5, 1.93, 2.36, 2.79, floored
    (False, True, 7, [10, 10, 20, 20, 20, 30, 30]),
    # align corners: x * 2/6 = 0, .33, .67, 1, 1.33, 1.67, 2, rounded
    (True, False, 7, [10, 10, 20, 20, 20, 30, 30]),
    # W 3 -> 2 with half pixel centres: (x + 0.5) * 1.5 = 0.75, 2.25
    (False, True, 2, [10, 30]),
])
def test_resize_nearest_neighbor_one_row_by_hand(align_corners, half_pixel_centers, width, expected):
    params = kpe.resize_params(align_corners, half_pixel_centers, bilinear=False)
    output = kernel_calls.resize("RESIZE_NEAREST_NEIGHBOR", params, _int8([10, 20, 30]).reshape(1, 1, 3, 1), (1, width))
    assert output.ravel().tolist() == expected


def test_resize_nearest_neighbor_copies_whole_pixels_by_hand():
    # [1, 2, 1, 2] -> [1, 4, 2, 2], half pixel centres: rows 0, 0, 1, 1 (positions .25, .75, 1.25, 1.75), each
    # pixel's two channels copied to both columns
    input = _int8([[[[1, -2]], [[3, -4]]]])
    output = kernel_calls.resize("RESIZE_NEAREST_NEIGHBOR", kpe.ResizeParams(0, 1), input, (4, 2))
    assert output[0].tolist() == [[[1, -2]] * 2, [[1, -2]] * 2, [[3, -4]] * 2, [[3, -4]] * 2]


def test_resize_nearest_neighbor_errors(reference_library):
    run = reference_library.wess_resize_nearest_neighbor_s8
    input, output = np.zeros(2, np.int8), np.zeros(70000, np.int8)

    def status(params, input_dims, output_dims, input_data=input):
        return run(ctypes.byref(library.ResizeParams(*params)), ctypes.byref(library.Dims(*input_dims)),
                   _pointer(input_data), ctypes.byref(library.Dims(*output_dims)), _pointer(output))

    assert status((1, 1), (1, 1, 2, 1), (1, 1, 4, 1)) == 0  # both options: TFLite's nearest kernel takes them
    assert status((0, 2), (1, 1, 2, 1), (1, 1, 4, 1)) == 1  # WESS_ERR_BAD_ARG
    assert status((0, 1), (1, 1, 2, 1), (1, 1, 4, 1), None) == 1
    assert status((0, 1), (1, 1, 1, 2), (1, 1, 2, 1)) == 2  # channels differ: WESS_ERR_BAD_SHAPE
    assert status((0, 1), (1, 1, 2, 1), (1, 1, 70000, 1)) == 3  # W over 65536: WESS_ERR_UNSUPPORTED


# ---------------------------------------------------------------- STRIDED_SLICE, SLICE

@pytest.mark.parametrize("arguments, expected", [
    ((6, 1, 5, 1, False, False, False), (1, 1, 4)),  # [1:5]
    ((6, 0, 0, 2, True, True, False), (0, 2, 3)),  # [::2]: 0, 2, 4
    ((6, -1, -7, -2, False, False, False), (5, -2, 3)),  # [-1:-7:-2]: end -1 after wrapping and clamping: 5, 3, 1
    ((6, 0, 0, -1, True, True, False), (5, -1, 6)),  # [::-1]
    ((6, -4, 0, 1, False, False, True), (2, 1, 1)),  # [-4] (shrunk): one element
    ((6, 9, 12, 1, False, False, False), (6, 1, 0)),  # past the end: clamped, empty
])
def test_strided_slice_axis_resolves_as_tflite_micro(arguments, expected):
    assert kpe.strided_slice_axis(*arguments) == kpe.AxisSlice(*expected)


def test_strided_slice_axes_and_slice_axes_to_kernel_params():
    # x[:, 2, ::-2] of [1, 6, 6, 4]: axis 1 shrunk, axis 2 backwards from 5, axes 0 and 3 whole (begin / end masks)
    axes, kept = kpe.strided_slice_axes((1, 6, 6, 4), (0, 2, 0, 0), (0, 3, 0, 0), (1, 1, -2, 1), 0b1101, 0b1101, 0b10)
    assert kept == [1, 3, 4]
    assert kpe.slice_params(axes) == kpe.SliceParams(0, 2, 5, 0, 1, 1, -2, 1, 1, 1, 3, 4)
    # SLICE of [6, 4] (rank 2: [b, 1, 1, d]) from (1, 2), sizes (-1, 2): rows 1..5, columns 2..3
    assert kpe.slice_params(kpe.slice_axes((6, 4), (1, 2), (-1, 2))) == kpe.SliceParams(1, 0, 0, 2, 1, 1, 1, 1,
                                                                                        5, 1, 1, 2)
    with pytest.raises(kp.ParameterError, match="leaves the input"):
        kpe.slice_axes((6, 4), (5, 0), (3, -1))
    with pytest.raises(kp.ParameterError, match="no elements"):
        kpe.slice_params([kpe.strided_slice_axis(6, 9, 12, 1, False, False, False)])
    with pytest.raises(kp.ParameterError, match="stride 0"):
        kpe.strided_slice_axis(6, 0, 6, 0, False, False, False)


def test_strided_slice_kernel_by_hand():
    # input [1, 2, 3, 4] holding its own flat index h * 12 + w * 4 + c: row 1, columns 2 then 1, channels 3 then 1
    input = np.arange(24, dtype=np.int8).reshape(1, 2, 3, 4)
    params = kpe.SliceParams(0, 1, 2, 3, 1, 1, -1, -2, 1, 1, 2, 2)
    assert kernel_calls.strided_slice(params, input).ravel().tolist() == [23, 21, 19, 17]
    whole_rows = kpe.SliceParams(0, 0, 1, 0, 1, 1, 1, 1, 1, 2, 2, 4)  # columns 1..2, every channel (the memcpy path)
    assert kernel_calls.strided_slice(whole_rows, input).ravel().tolist() == [*range(4, 12), *range(16, 24)]


SLICE = kpe.SliceParams(0, 1, 2, 3, 1, 1, -1, -2, 1, 1, 2, 2)


@pytest.mark.parametrize("params", [replace(SLICE, count_w=0), replace(SLICE, stride_h=0),
                                    replace(SLICE, start_c=4), replace(SLICE, start_w=-1),
                                    replace(SLICE, count_c=3),  # 3, 1, -1: past the start of the axis
                                    replace(SLICE, stride_w=2**31 - 1)])  # 2 + (2^31 - 1): no int32 wrap
def test_strided_slice_indices_outside_the_input_are_bad_arg(params):
    input = np.zeros((1, 2, 3, 4), np.int8)
    with pytest.raises(library.KernelError, match="WESS_ERR_BAD_ARG"):
        kernel_calls.strided_slice(params, input)


def test_strided_slice_output_size_and_null(reference_library):
    input, output = np.zeros(24, np.int8), np.zeros(8, np.int8)
    run = reference_library.wess_strided_slice_s8
    dims_in = ctypes.byref(library.Dims(1, 2, 3, 4))
    c_params = ctypes.byref(library.SliceParams(*astuple(SLICE)))
    assert run(c_params, dims_in, _pointer(input), ctypes.byref(library.Dims(1, 1, 1, 4)), _pointer(output)) == 0
    assert run(c_params, dims_in, _pointer(input), ctypes.byref(library.Dims(1, 1, 1, 5)), _pointer(output)) == 2
    assert run(c_params, dims_in, None, ctypes.byref(library.Dims(1, 1, 1, 4)), _pointer(output)) == 1


# ---------------------------------------------------------------- TRANSPOSE_CONV

UNIT_REQUANT = kp.per_channel_requant(1.0, [0.5], 0.5)  # multiplier 1.0: the output is the accumulator plus bias


def test_transpose_conv_stride_2_stamps_the_filter_by_hand():
    # input [1, 2, 2, 1], zero point 1: centred [[2, 0], [-1, 4]]; filter [1, 2, 2, 1] [[1, 2], [3, -1]]; stride 2,
    # VALID (output 4x4, pad 0): each input pixel stamps filter * value into its own 2x2 block; bias 10
    params = kpe.transpose_conv_params((4, 4), (2, 2), (2, 2), "VALID", 1, 0.5, 0, "NONE")
    assert (params.pad_top, params.pad_left) == (0, 0)
    input = _int8([[3, 1], [0, 5]]).reshape(1, 2, 2, 1)
    filter = _int8([[1, 2], [3, -1]]).reshape(1, 2, 2, 1)
    output = kernel_calls.transpose_conv(params, UNIT_REQUANT, input, filter, np.array([10], np.int32), (1, 4, 4, 1))
    assert output[0, :, :, 0].tolist() == [[12, 14, 10, 10], [16, 8, 10, 10], [9, 8, 14, 18], [7, 11, 22, 6]]


def test_transpose_conv_overlapping_taps_sum_by_hand():
    # input [1, 1, 2, 1] centred [2, -1]; filter 1x2 [1, 3]; stride 1, SAME: total padding 1, pad_left 0:
    # output 0 = 2 * 1; output 1 = 2 * 3 + (-1) * 1 (both input pixels reach it); the last tap of pixel 1 falls outside
    params = kpe.transpose_conv_params((1, 2), (1, 2), (1, 1), "SAME", 1, 0.5, 0, "NONE")
    output = kernel_calls.transpose_conv(params, UNIT_REQUANT, _int8([3, 0]).reshape(1, 1, 2, 1),
                                    _int8([1, 3]).reshape(1, 1, 2, 1), None, (1, 1, 2, 1))
    assert output.ravel().tolist() == [2, 5]


TRANSPOSE = kpe.transpose_conv_params((4, 4), (2, 2), (2, 2), "VALID", 1, 0.5, 0, "NONE")


@pytest.mark.parametrize("params, input_shape, filter_shape, output_shape, requant, status", [
    (replace(TRANSPOSE, stride_y=0), (1, 2, 2, 1), (1, 2, 2, 1), (1, 4, 4, 1), UNIT_REQUANT, "BAD_ARG"),
    (replace(TRANSPOSE, pad_left=2), (1, 2, 2, 1), (1, 2, 2, 1), (1, 4, 4, 1), UNIT_REQUANT, "BAD_ARG"),
    (replace(TRANSPOSE, act_min=1, act_max=0), (1, 2, 2, 1), (1, 2, 2, 1), (1, 4, 4, 1), UNIT_REQUANT, "BAD_ARG"),
    (TRANSPOSE, (1, 2, 2, 2), (1, 2, 2, 1), (1, 4, 4, 1), UNIT_REQUANT, "BAD_SHAPE"),  # input channels != filter's
    (TRANSPOSE, (1, 2, 2, 1), (1, 2, 2, 1), (1, 4, 4, 2), UNIT_REQUANT, "BAD_SHAPE"),  # output channels != filters
    (TRANSPOSE, (2, 2, 2, 1), (1, 2, 2, 1), (2, 4, 4, 1), UNIT_REQUANT, "UNSUPPORTED"),  # batch 2
    (TRANSPOSE, (1, 2, 2, 1), (1, 2, 2, 1), (1, 4, 4, 1), kp.per_channel_requant(1.0, [0.5] * 3, 0.5), "BAD_ARG"),
])
def test_transpose_conv_errors(params, input_shape, filter_shape, output_shape, requant, status):
    with pytest.raises(library.KernelError, match=f"WESS_ERR_{status}"):
        kernel_calls.transpose_conv(params, requant, np.zeros(input_shape, np.int8), np.zeros(filter_shape, np.int8),
                               None, output_shape)
