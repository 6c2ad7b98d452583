"""C reference kernels added for issue 12's remaining operators (SPLIT, SPLIT_V, UNPACK, PACK, PADV2
and PAD on any axis, SUM and MEAN over any axes, SQUARED_DIFFERENCE): hand-computed tensors, the
parameters the build computes from TFLite's operands, error paths. Whole models: tests/test_ops_models.py."""
from __future__ import annotations

import ctypes
from dataclasses import astuple, replace

import numpy as np
import pytest

from pipeline.cref import kernel_params as kp
from pipeline.cref import kernel_params_ext as kpe
from pipeline.cref import kernel_calls, library

pytestmark = pytest.mark.usefixtures("reference_library")  # conftest.py: build/libwess_ref.so, built when stale

SAME = (0.5, 3)  # a quantization the outputs share with the input


def _int8(values) -> np.ndarray:
    return np.array(values, dtype=np.int8)


def _pointer(array: np.ndarray):
    return array.ctypes.data_as(ctypes.POINTER(ctypes.c_int8))


# ---------------------------------------------------------------- SPLIT, SPLIT_V

def test_split_by_hand():
    # input [1, 2, 2, 3]: pixel p holds 10 p + channel; channels cut 1 | 2, then rows cut 1 | 1
    input = _int8([[[[0, 1, 2], [10, 11, 12]], [[20, 21, 22], [30, 31, 32]]]])
    first, second = kernel_calls.split(kpe.SplitParams(3), input, [1, 2])
    assert first[0, :, :, 0].tolist() == [[0, 10], [20, 30]]
    assert second[0].tolist() == [[[1, 2], [11, 12]], [[21, 22], [31, 32]]]
    top, bottom = kernel_calls.split(kpe.SplitParams(1), input, [1, 1])
    assert (top[0, 0].tolist(), bottom[0, 0].tolist()) == ([[0, 1, 2], [10, 11, 12]], [[20, 21, 22], [30, 31, 32]])
    assert kernel_calls.split(kpe.SplitParams(2), input, [2])[0].tolist() == input.tolist()  # one piece: a copy


def test_split_params_map_the_tflite_axis_onto_nhwc():
    assert kpe.split_params((1, 6, 6, 6), -1, [(1, 6, 6, 2)] * 3, SAME, [SAME] * 3) == kpe.SplitParams(3)
    assert kpe.split_params((1, 6, 6, 6), 1, [(1, 2, 6, 6), (1, 4, 6, 6)], SAME, [SAME] * 2) == kpe.SplitParams(1)
    assert kpe.split_params((1, 12, 4), 1, [(1, 6, 4)] * 2, SAME, [SAME] * 2) == kpe.SplitParams(2)  # [1, T, C]
    assert kpe.split_params((1, 8), 1, [(1, 4)] * 2, SAME, [SAME] * 2) == kpe.SplitParams(3)  # [b, d]
    with pytest.raises(kp.ParameterError, match="axis 4"):
        kpe.split_params((1, 6, 6, 6), 4, [(1, 6, 6, 6)], SAME, [SAME])
    with pytest.raises(kp.ParameterError, match="do not add up"):
        kpe.split_params((1, 6, 6, 6), 3, [(1, 6, 6, 2)] * 2, SAME, [SAME] * 2)
    with pytest.raises(kp.ParameterError, match="off axis"):
        kpe.split_params((1, 6, 6, 6), 3, [(1, 5, 6, 3), (1, 6, 6, 3)], SAME, [SAME] * 2)
    with pytest.raises(kp.ParameterError, match="quantization"):
        kpe.split_params((1, 6, 6, 6), 3, [(1, 6, 6, 3)] * 2, SAME, [SAME, (0.25, 3)])


def test_split_errors(reference_library):
    run = reference_library.wess_split_s8
    input, first, second = np.zeros(12, np.int8), np.zeros(6, np.int8), np.zeros(6, np.int8)
    dims_in = ctypes.byref(library.Dims(1, 2, 2, 3))
    halves = (library.Dims * 2)(library.Dims(1, 1, 2, 3), library.Dims(1, 1, 2, 3))
    outputs = (ctypes.POINTER(ctypes.c_int8) * 2)(_pointer(first), _pointer(second))
    rows = ctypes.byref(library.SplitParams(1))
    assert run(rows, dims_in, _pointer(input), 2, halves, outputs) == 0
    assert run(ctypes.byref(library.SplitParams(4)), dims_in, _pointer(input), 2, halves, outputs) == 1  # axis
    assert run(rows, dims_in, _pointer(input), 0, halves, outputs) == 1  # no output: WESS_ERR_BAD_ARG
    assert run(rows, dims_in, _pointer(input), 17, halves, outputs) == 1  # past WESS_MAX_SPLIT_OUTPUTS
    assert run(rows, dims_in, None, 2, halves, outputs) == 1
    no_output = (ctypes.POINTER(ctypes.c_int8) * 2)(_pointer(first), None)
    assert run(rows, dims_in, _pointer(input), 2, halves, no_output) == 1
    assert run(ctypes.byref(library.SplitParams(3)), dims_in, _pointer(input), 2, halves, outputs) == 2  # off axis
    assert run(rows, dims_in, _pointer(input), 1, halves, outputs) == 2  # one half does not cover the input
    bad = (library.Dims * 2)(library.Dims(1, 1, 2, 3), library.Dims(1, 0, 2, 3))
    assert run(rows, dims_in, _pointer(input), 2, bad, outputs) == 2  # an empty output: WESS_ERR_BAD_SHAPE


# ---------------------------------------------------------------- UNPACK, PACK (unrolled GRU / LSTM time steps)

def test_unpack_by_hand():
    # input [1, 3, 1, 2] (TFLite [3, 1, 2]: time, batch, features): step t holds 10 t + feature
    input = _int8([[[[0, 1]], [[10, 11]], [[20, 21]]]])
    steps = [kernel_calls.unpack(kpe.UnpackParams(1), input, t, (1, 2)) for t in range(3)]
    assert [step.tolist() for step in steps] == [[[0, 1]], [[10, 11]], [[20, 21]]]
    # input [1, 2, 2, 3] along W: output w holds both rows' pixel w, channels in order (the axes before and after)
    input = _int8([[[[0, 1, 2], [10, 11, 12]], [[20, 21, 22], [30, 31, 32]]]])
    assert kernel_calls.unpack(kpe.UnpackParams(2), input, 1, (2, 3)).tolist() == [[10, 11, 12], [30, 31, 32]]
    assert kernel_calls.unpack(kpe.UnpackParams(3), input, 2, (2, 2)).tolist() == [[2, 12], [22, 32]]


def test_unpack_params_map_the_tflite_axis_onto_nhwc():
    assert kpe.unpack_params((49, 1, 10), 0, [(1, 10)] * 49, SAME, [SAME] * 49) == kpe.UnpackParams(1)
    assert kpe.unpack_params((1, 4, 3), -1, [(1, 4)] * 3, SAME, [SAME] * 3) == kpe.UnpackParams(3)
    assert kpe.unpack_params((2, 5), 0, [(5,)] * 2, SAME, [SAME] * 2) == kpe.UnpackParams(0)  # [b, d]: b is n
    with pytest.raises(kp.ParameterError, match="axis 3 of a rank-3"):
        kpe.unpack_params((49, 1, 10), 3, [(49, 1)] * 10, SAME, [SAME] * 10)
    with pytest.raises(kp.ParameterError, match="expected 3 of \\[1, 4\\]"):
        kpe.unpack_params((1, 4, 3), 2, [(1, 4)] * 2, SAME, [SAME] * 2)  # one output short
    with pytest.raises(kp.ParameterError, match="expected 3 of \\[1, 4\\]"):
        kpe.unpack_params((1, 4, 3), 2, [(1, 4)] * 2 + [(4, 1)], SAME, [SAME] * 3)  # a piece of another shape
    with pytest.raises(kp.ParameterError, match="quantization"):
        kpe.unpack_params((2, 5), 0, [(5,)] * 2, SAME, [SAME, (0.25, 3)])


def test_unpack_errors(reference_library):
    run = reference_library.wess_unpack_s8
    input, output = np.arange(12, dtype=np.int8), np.zeros(4, np.int8)
    dims_in, dims_out = ctypes.byref(library.Dims(1, 3, 1, 4)), ctypes.byref(library.Dims(1, 1, 1, 4))
    steps = ctypes.byref(library.UnpackParams(1))
    assert run(steps, dims_in, _pointer(input), 2, dims_out, _pointer(output)) == 0
    assert output.tolist() == [8, 9, 10, 11]
    assert run(ctypes.byref(library.UnpackParams(4)), dims_in, _pointer(input), 0, dims_out, _pointer(output)) == 1
    assert run(ctypes.byref(library.UnpackParams(-1)), dims_in, _pointer(input), 0, dims_out, _pointer(output)) == 1
    assert run(None, dims_in, _pointer(input), 0, dims_out, _pointer(output)) == 1
    assert run(steps, dims_in, None, 0, dims_out, _pointer(output)) == 1
    assert run(steps, dims_in, _pointer(input), 0, dims_out, None) == 1
    assert run(steps, dims_in, _pointer(input), 3, dims_out, _pointer(output)) == 1  # past the 3 steps
    assert run(steps, dims_in, _pointer(input), -1, dims_out, _pointer(output)) == 1
    wide = ctypes.byref(library.Dims(1, 1, 1, 5))
    assert run(steps, dims_in, _pointer(input), 0, wide, _pointer(output)) == 2  # 5 elements, a step holds 4
    empty = ctypes.byref(library.Dims(1, 0, 1, 4))
    assert run(steps, empty, _pointer(input), 0, dims_out, _pointer(output)) == 2


def test_pack_by_hand():
    # three steps [1, 2] stacked along TFLite axis 0 of [3, 1, 2] (NHWC [1, 3, 1, 2]): the inverse of UNPACK
    steps = [_int8([[10 * t, 10 * t + 1]]) for t in range(3)]
    packed = kernel_calls.pack(kpe.PackParams(1), steps, (1, 3, 1, 2))
    assert packed.tolist() == [[[[0, 1]], [[10, 11]], [[20, 21]]]]
    # two [2, 3] inputs stacked along W of [1, 2, 2, 3]: input k lands at column k of both rows
    first, second = _int8([[0, 1, 2], [20, 21, 22]]), _int8([[10, 11, 12], [30, 31, 32]])
    packed = kernel_calls.pack(kpe.PackParams(2), [first, second], (1, 2, 2, 3))
    assert packed.tolist() == [[[[0, 1, 2], [10, 11, 12]], [[20, 21, 22], [30, 31, 32]]]]
    assert [kernel_calls.unpack(kpe.UnpackParams(2), packed, k, (2, 3)).tolist() for k in (0, 1)] == \
        [first.tolist(), second.tolist()]


def test_pack_params_map_the_tflite_axis_onto_nhwc():
    assert kpe.pack_params([(1, 16)] * 49, 0, (49, 1, 16), [SAME] * 49, SAME) == kpe.PackParams(1)
    assert kpe.pack_params([(1, 4)] * 3, -1, (1, 4, 3), [SAME] * 3, SAME) == kpe.PackParams(3)
    with pytest.raises(kp.ParameterError, match="axis -4 of a rank-3"):
        kpe.pack_params([(1, 4)] * 3, -4, (1, 4, 3), [SAME] * 3, SAME)
    with pytest.raises(kp.ParameterError, match="expected 3 of \\[1, 4\\]"):
        kpe.pack_params([(1, 4)] * 3 + [(1, 4)], 2, (1, 4, 3), [SAME] * 4, SAME)  # one input too many
    with pytest.raises(kp.ParameterError, match="quantization"):
        kpe.pack_params([(1, 4)] * 3, 2, (1, 4, 3), [SAME, SAME, (0.25, 3)], SAME)


def test_pack_errors(reference_library):
    run = reference_library.wess_pack_s8
    input, output = np.arange(4, dtype=np.int8), np.zeros(12, np.int8)
    dims_in, dims_out = ctypes.byref(library.Dims(1, 1, 1, 4)), ctypes.byref(library.Dims(1, 3, 1, 4))
    steps = ctypes.byref(library.PackParams(1))
    assert run(steps, 1, dims_in, _pointer(input), dims_out, _pointer(output)) == 0
    assert output.tolist() == [0] * 4 + [0, 1, 2, 3] + [0] * 4
    assert run(ctypes.byref(library.PackParams(4)), 0, dims_in, _pointer(input), dims_out, _pointer(output)) == 1
    assert run(None, 0, dims_in, _pointer(input), dims_out, _pointer(output)) == 1
    assert run(steps, 0, dims_in, None, dims_out, _pointer(output)) == 1
    assert run(steps, 0, dims_in, _pointer(input), dims_out, None) == 1
    assert run(steps, 3, dims_in, _pointer(input), dims_out, _pointer(output)) == 1  # past the 3 steps
    assert run(steps, -1, dims_in, _pointer(input), dims_out, _pointer(output)) == 1
    short = ctypes.byref(library.Dims(1, 1, 1, 3))
    assert run(steps, 0, short, _pointer(input), dims_out, _pointer(output)) == 2  # 3 elements, a step holds 4
    empty = ctypes.byref(library.Dims(1, 0, 1, 4))
    assert run(steps, 0, dims_in, _pointer(input), empty, _pointer(output)) == 2
    assert output.tolist() == [0] * 4 + [0, 1, 2, 3] + [0] * 4  # no failed call wrote a byte


# ---------------------------------------------------------------- PADV2, PAD on any axis

def test_pad_nhwc_by_hand():
    # input [1, 1, 2, 2] = [[1, 2], [3, 4]]: one channel before and two after, one column after, value -5
    params = kpe.PadNhwcParams(0, 0, 0, 0, 0, 1, 1, 2, -5)
    output = kernel_calls.pad_nhwc(params, _int8([[[[1, 2], [3, 4]]]]))
    assert output[0, 0].tolist() == [[-5, 1, 2, -5, -5], [-5, 3, 4, -5, -5], [-5] * 5]
    rows = kernel_calls.pad_nhwc(kpe.PadNhwcParams(0, 0, 1, 0, 0, 0, 0, 0, 7), _int8([[[[1, 2], [3, 4]]]]))
    assert rows[0].tolist() == [[[7, 7], [7, 7]], [[1, 2], [3, 4]]]  # a row on top


def test_pad_nhwc_params_map_tflite_paddings_onto_nhwc():
    assert kpe.pad_nhwc_params([[0, 0], [1, 2], [0, 0], [3, 4]], -128, SAME, SAME) == kpe.PadNhwcParams(
        0, 0, 1, 2, 0, 0, 3, 4, -128)
    assert kpe.pad_nhwc_params([[0, 0], [2, 2], [0, 1]], 3, SAME, SAME) == kpe.PadNhwcParams(  # [1, T, C]
        0, 0, 0, 0, 2, 2, 0, 1, 3)
    with pytest.raises(kp.ParameterError, match="negative"):
        kpe.pad_nhwc_params([[0, 0], [-1, 0], [0, 0], [0, 0]], 0, SAME, SAME)
    with pytest.raises(kp.ParameterError, match="int8"):
        kpe.pad_nhwc_params([[0, 0], [1, 0], [0, 0], [0, 0]], 128, SAME, SAME)
    with pytest.raises(kp.ParameterError, match="quantization"):
        kpe.pad_nhwc_params([[0, 0], [1, 0], [0, 0], [0, 0]], 0, SAME, (0.25, 3))


def test_pad_nhwc_errors(reference_library):
    run = reference_library.wess_pad_nhwc_s8
    input, output = np.zeros(4, np.int8), np.zeros(12, np.int8)
    dims_in, dims_out = ctypes.byref(library.Dims(1, 1, 2, 2)), ctypes.byref(library.Dims(1, 1, 3, 4))
    good = library.PadNhwcParams(0, 0, 0, 0, 1, 0, 1, 1, 0)
    assert run(ctypes.byref(good), dims_in, _pointer(input), dims_out, _pointer(output)) == 0
    negative = library.PadNhwcParams(0, 0, 0, 0, 2, -1, 1, 1, 0)
    assert run(ctypes.byref(negative), dims_in, _pointer(input), dims_out, _pointer(output)) == 1
    value = library.PadNhwcParams(0, 0, 0, 0, 1, 0, 1, 1, 200)
    assert run(ctypes.byref(value), dims_in, _pointer(input), dims_out, _pointer(output)) == 1
    short = library.PadNhwcParams(0, 0, 0, 0, 1, 0, 1, 0, 0)  # the output is one channel wider
    assert run(ctypes.byref(short), dims_in, _pointer(input), dims_out, _pointer(output)) == 2
    assert run(ctypes.byref(good), dims_in, None, dims_out, _pointer(output)) == 1


# ---------------------------------------------------------------- SUM, MEAN over any axes

QUANT_IN, QUANT_OUT = (0.5, 3), (0.25, -1)  # input_scale / output_scale = 2
BYTES = [[[[4, 5], [6, 7]]]]  # [1, 1, 2, 2]; q - zero point = [[1, 2], [3, 4]]


@pytest.mark.parametrize("axes, mean, expected", [
    ([3], False, [5, 13]),  # (1 + 2) * 2 - 1, (3 + 4) * 2 - 1
    ([1, 2, 3], False, [19]),  # 10 * 2 - 1
    ([-1], True, [2, 6]),  # 1.5 * 2 - 1, 3.5 * 2 - 1 (1 / 2 folded into the multiplier)
    ([2], True, [3, 5]),  # columns: (1 + 3) / 2 * 2 - 1, (2 + 4) / 2 * 2 - 1
])
def test_reduce_sum_by_hand(axes, mean, expected):
    params = kpe.reduce_sum_params(4, axes, QUANT_IN, QUANT_OUT, mean)
    assert kernel_calls.reduce_sum(params, _int8(BYTES)).ravel().tolist() == expected


def test_mean_with_the_input_quantization_is_the_integer_mean():
    # TFLite Micro's EvalIntegerMean: the stored bytes summed, divided by the count, truncated toward zero
    params = kpe.reduce_sum_params(4, [3], QUANT_IN, QUANT_IN, mean=True)
    assert params.mode == kpe.REDUCE_MEAN_SAME_QUANT
    assert kernel_calls.reduce_sum(params, _int8([[[[4, 5], [-3, -4]]]])).ravel().tolist() == [4, -3]  # 9 / 2, -7 / 2
    assert kpe.reduce_sum_params(4, [3], QUANT_IN, QUANT_IN, mean=False).mode == kpe.REDUCE_SUM  # SUM requantizes


def test_reduce_sum_saturates_and_maps_axes():
    params = kpe.reduce_sum_params(4, [1, 2, 3], (1.0, 0), (1.0, 0), mean=False)
    assert kernel_calls.reduce_sum(params, np.full((1, 2, 2, 2), 100, np.int8)).ravel().tolist() == [127]  # 800
    assert kpe.reduce_sum_params(3, [1], SAME, SAME, False).axes == kpe.ReduceParams(0, 0, 1, 0)  # [1, T, C]
    with pytest.raises(kp.ParameterError):
        kpe.reduce_sum_params(4, [4], SAME, SAME, False)


def test_reduce_sum_errors(reference_library):
    run = reference_library.wess_reduce_sum_s8
    input, output = np.zeros(4, np.int8), np.zeros(2, np.int8)
    dims_in, dims_out = ctypes.byref(library.Dims(1, 1, 2, 2)), ctypes.byref(library.Dims(1, 1, 2, 1))
    params = kpe.reduce_sum_params(4, [3], QUANT_IN, QUANT_OUT, False)

    def structure(axes=params.axes, quant=params.quant, mode=params.mode):
        return ctypes.byref(library.ReduceSumParams(library.ReduceParams(*astuple(axes)),
                                                    library.MeanParams(*astuple(quant)), mode))

    assert run(structure(), dims_in, _pointer(input), dims_out, _pointer(output)) == 0
    assert run(structure(mode=3), dims_in, _pointer(input), dims_out, _pointer(output)) == 1
    assert run(structure(axes=kpe.ReduceParams(0, 0, 0, 2)), dims_in, _pointer(input), dims_out,
               _pointer(output)) == 1  # a reduce flag other than 0 / 1
    assert run(structure(quant=kp.MeanParams(-3, 200, 1 << 30, 0)), dims_in, _pointer(input), dims_out,
               _pointer(output)) == 1  # output zero point outside int8
    assert run(structure(axes=kpe.ReduceParams(0, 0, 1, 0)), dims_in, _pointer(input),
               ctypes.byref(library.Dims(1, 1, 1, 1)), _pointer(output)) == 2  # output holds 2 kept values, not 1
    assert run(structure(), dims_in, None, dims_out, _pointer(output)) == 1


# ---------------------------------------------------------------- SQUARED_DIFFERENCE

def test_squared_difference_by_hand():
    # scales 0.5, 0.5 -> 1.0, output zero point -128: (2 - 0)^2 = 4 -> -124; (0.5 - 1.5)^2 = 1 -> -127;
    # (10 - 0)^2 = 100 -> -28; (20 - 0)^2 = 400 saturates at 127. input2 [1, 1, 1, 1] broadcasts in the last row.
    params = kpe.squared_difference_params(0.5, 0, 0.5, 0, 1.0, -128)
    assert params.input1_multiplier == params.input2_multiplier == 1 << 30 and params.input1_right_shift == 0
    output = kernel_calls.squared_difference(params, _int8([[[[4, 1, 20, 40]]]]), _int8([[[[0, 3, 0, 0]]]]))
    assert output.ravel().tolist() == [-124, -127, -28, 127]
    broadcast = kernel_calls.squared_difference(params, _int8([[[[4, 6, 8]]]]), _int8([[[[2]]]]))
    assert broadcast.ravel().tolist() == [-127, -124, -119]  # (1, 2, 3)^2 - 128


def test_squared_difference_params_rescale_to_twice_the_larger_scale():
    params = kpe.squared_difference_params(0.25, 1, 0.5, -2, 2.0, 5)
    # s1 / (2 * 0.5) = 0.25: 2^30 with right shift 1; s2: 0.5; output 1 / (2^14 * 2) = 2^-15: right shift 14
    assert astuple(params) == (-1, 2, 5, 1 << 30, 1, 1 << 30, 0, 1 << 30, 14)


def test_squared_difference_errors(reference_library):
    run = reference_library.wess_squared_difference_s8
    input1, input2, output = np.zeros(4, np.int8), np.zeros(4, np.int8), np.zeros(4, np.int8)
    dims = ctypes.byref(library.Dims(1, 1, 2, 2))
    good = kpe.squared_difference_params(0.5, 0, 0.5, 0, 1.0, -128)

    def call(params, dims2=dims, first=input1):
        return run(ctypes.byref(library.SquaredDifferenceParams(*astuple(params))), dims, _pointer(first) if
                   first is not None else None, dims2, _pointer(input2), dims, _pointer(output))

    assert call(good) == 0
    assert call(replace(good, input1_multiplier=(1 << 30) + 1)) == 1  # above 0.5: the square could overflow
    assert call(replace(good, input2_right_shift=-1)) == 1
    assert call(replace(good, output_right_shift=-31)) == 1
    assert call(good, dims2=ctypes.byref(library.Dims(1, 1, 2, 3))) == 2  # does not broadcast
    assert call(good, first=None) == 1
