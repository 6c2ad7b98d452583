"""C reference kernels: hand-computed tensors, error paths, bit-exactness against LiteRT BUILTIN_REF and TFLite Micro."""
from __future__ import annotations

import ctypes
import subprocess
import sys
from dataclasses import astuple, dataclass, replace

import numpy as np
import pytest

from pipeline.cref import kernel_params as kp
from pipeline.cref import kernel_calls, library
from pipeline.fixedpoint import INT32_MAX, INT32_MIN, requantize

SAMPLES_PER_MODEL = 3


pytestmark = pytest.mark.usefixtures("reference_library")  # conftest.py: build/libwess_ref.so, built when stale


def unit_requant(count: int = 1) -> kp.Requant:
    """Multiplier 2**30 with right shift -1: requantize(acc) == acc exactly."""
    return kp.Requant(np.full(count, 2**30, dtype=np.int32), np.full(count, -1, dtype=np.int32))


PLAIN_CONV = kp.ConvParams(input_offset=0, output_offset=0, stride_y=1, stride_x=1, dilation_y=1, dilation_x=1,
                           pad_top=0, pad_left=0, act_min=-128, act_max=127)


# ---------------------------------------------------------------- hand-written tensors

def test_conv_1x3x3x1_valid_by_hand():
    # input [1, 3, 3, 1] (NHWC), filter OHWI [1, 3, 3, 1], VALID -> output [1, 1, 1, 1]
    input = np.arange(1, 10, dtype=np.int8).reshape(1, 3, 3, 1)  # 1..9
    filter = np.array([1, 0, -1, 2, 0, -2, 1, 0, -1], dtype=np.int8).reshape(1, 3, 3, 1)  # Sobel x
    bias = np.array([5], dtype=np.int32)
    # acc = (1 - 3) + 2 * (4 - 6) + (7 - 9) + bias = -2 - 4 - 2 + 5 = -3
    output = kernel_calls.conv_2d(PLAIN_CONV, unit_requant(), input, filter, bias, (1, 1, 1, 1))
    assert output.ravel().tolist() == [-3]


def test_conv_same_padding_offsets_and_activation_by_hand():
    # input [1, 3, 3, 1] all 10 with zero point 2 (input_offset -2): every real input is 8.
    # filter [1, 3, 3, 1] all ones, SAME (pad_top = pad_left = 1) -> output [1, 3, 3, 1]:
    # corner windows see 4 cells (32), edges 6 (48), centre 9 (72). Output zero point 3, clamp at 60.
    params = replace(PLAIN_CONV, input_offset=-2, output_offset=3, pad_top=1, pad_left=1, act_max=60)
    input = np.full((1, 3, 3, 1), 10, dtype=np.int8)
    filter = np.ones((1, 3, 3, 1), dtype=np.int8)
    output = kernel_calls.conv_2d(params, unit_requant(), input, filter, None, (1, 3, 3, 1))
    assert output[0, :, :, 0].tolist() == [[35, 51, 35], [51, 60, 51], [35, 51, 35]]


def test_conv_per_channel_requant_and_wess_shifts_by_hand():
    # input [1, 1, 1, 1] = 100; filter [4, 1, 1, 1] = 1 -> acc 100 on 4 channels.
    # One multiplier 2**30 (0.5) with right shift 0 and k_c = 0, 1, 2, 15: 50, 25, 12.5 -> 13, 0.
    input = np.array([[[[100]]]], dtype=np.int8)
    filter = np.ones((4, 1, 1, 1), dtype=np.int8)
    requant = kp.Requant(np.array([2**30], dtype=np.int32), np.array([0], dtype=np.int32),
                         kp.pack_channel_shift4([0, 1, 2, 15]))
    output = kernel_calls.conv_2d(PLAIN_CONV, requant, input, filter, None, (1, 1, 1, 4))
    assert output.ravel().tolist() == [50, 25, 13, 0]


def test_wess_total_right_shift_beyond_31_flushes_to_zero():
    # right_shift 20 + k_c 12 = 32 > 31: TFLite's QuantizeMultiplier would have flushed that channel's multiplier.
    input = np.array([[127]], dtype=np.int8)
    filter = np.array([[127], [127]], dtype=np.int8)
    bias = np.array([2**30, 2**30], dtype=np.int32)
    requant = kp.Requant(np.array([INT32_MAX], dtype=np.int32), np.array([20], dtype=np.int32),
                         kp.pack_channel_shift4([11, 12]))
    params = kp.FullyConnectedParams(input_offset=0, output_offset=7, act_min=-128, act_max=127)
    output = kernel_calls.fully_connected(params, requant, input, filter, bias)
    acc = 127 * 127 + 2**30
    assert output.tolist() == [[min(127, 7 + requantize(acc, INT32_MAX, 31)), 7]]


def test_depthwise_multiplier_2_by_hand():
    # input [1, 2, 2, 2]; filter [1, 2, 2, 4] (out channel = in_c * 2 + m); VALID -> output [1, 1, 1, 4]
    input = np.array([1, 10, 2, 20, 3, 30, 4, 40], dtype=np.int8).reshape(1, 2, 2, 2)
    filter = np.zeros((1, 2, 2, 4), dtype=np.int8)
    filter[0, :, :, 0] = 1   # sum of channel 0: 10
    filter[0, :, :, 1] = -1  # -10
    filter[0, 0, 0, 2] = 1   # channel 1 at (0, 0): 10
    filter[0, 1, 1, 3] = 2   # 2 * channel 1 at (1, 1): 80
    params = kp.DepthwiseParams(PLAIN_CONV, depth_multiplier=2)
    output = kernel_calls.depthwise_conv_2d(params, unit_requant(4), input, filter, None, (1, 1, 1, 4))
    assert output.ravel().tolist() == [10, -10, 10, 80]


def test_conv_wide_filter_takes_the_direct_path_and_skips_padding_by_hand():
    # input [1, 3, 3, 114] all 10 with zero point 2 (input_offset -2): every real input is 8.
    # filter OHWI [1, 3, 3, 114] all ones: kh * kw * in_ch = 1026 taps, more than conv_2d.c's 1024-tap patch, so the
    # kernel accumulates straight from the input. SAME (pad 1) -> output [1, 3, 3, 1]:
    # corner windows see 4 * 114 cells (acc 3648), edges 6 * 114 (5472), centre 9 * 114 (8208).
    # Multiplier 2**30 with right shift 9: acc / 1024 rounded twice: 3.56 -> 4, 5.34 -> 5, 8.02 -> 8.
    params = replace(PLAIN_CONV, input_offset=-2, pad_top=1, pad_left=1)
    input = np.full((1, 3, 3, 114), 10, dtype=np.int8)
    filter = np.ones((1, 3, 3, 114), dtype=np.int8)
    requant = kp.Requant(np.array([2**30], dtype=np.int32), np.array([9], dtype=np.int32))
    output = kernel_calls.conv_2d(params, requant, input, filter, None, (1, 3, 3, 1))
    assert output[0, :, :, 0].tolist() == [[4, 5, 4], [5, 8, 5], [4, 5, 4]]


def test_depthwise_padding_and_more_channels_than_one_block_by_hand():
    # input [1, 2, 2, 70] (more channels than the kernels' 64-channel block): channel c holds c - 35 everywhere.
    # filter [1, 3, 3, 70] all ones, SAME (pad 1) on 2x2 -> output [1, 2, 2, 70]: every window sees the 4 real
    # cells, so output channel c = 4 * (c - 35 + 5) with input_offset 5; unit requantization, clamped to int8.
    params = kp.DepthwiseParams(replace(PLAIN_CONV, input_offset=5, pad_top=1, pad_left=1), depth_multiplier=1)
    channel_values = np.arange(70) - 35
    input = np.ascontiguousarray(np.broadcast_to(channel_values, (1, 2, 2, 70)), dtype=np.int8)
    filter = np.ones((1, 3, 3, 70), dtype=np.int8)
    output = kernel_calls.depthwise_conv_2d(params, unit_requant(70), input, filter, None, (1, 2, 2, 70))
    expected = np.clip(4 * (channel_values + 5), -128, 127)
    assert (output == expected).all()


def reference_conv(params: kp.ConvParams, requant: kp.Requant, input, filter, bias, output_hw,
                   depth_multiplier: int | None = None, groups: int = 1) -> np.ndarray:
    """Straight-from-the-definition int8 conv / depthwise conv in int64 numpy, one output pixel at a time.

    input NHWC [1, h, w, in_ch]; filter OHWI [out_ch, kh, kw, in_ch / groups] for conv (output channel o reads
    the input channels of group o // (out_ch / groups)), [1, kh, kw, out_ch] for depthwise (depth_multiplier
    given). Padded cells hold -input_offset, so (input + input_offset) pads with zeros."""
    kh, kw = filter.shape[1:3]
    out_h, out_w = output_hw
    shifted = input[0].astype(np.int64) + params.input_offset
    span_y, span_x = (kh - 1) * params.dilation_y + 1, (kw - 1) * params.dilation_x + 1
    pad_y = max(0, (out_h - 1) * params.stride_y + span_y - shifted.shape[0] - params.pad_top)
    pad_x = max(0, (out_w - 1) * params.stride_x + span_x - shifted.shape[1] - params.pad_left)
    padded = np.pad(shifted, ((params.pad_top, pad_y), (params.pad_left, pad_x), (0, 0)))
    out_ch = filter.shape[0] if depth_multiplier is None else filter.shape[3]
    acc = np.zeros((out_h, out_w, out_ch), dtype=np.int64)
    for out_y in range(out_h):
        for out_x in range(out_w):
            y, x = out_y * params.stride_y, out_x * params.stride_x
            window = padded[y:y + span_y:params.dilation_y, x:x + span_x:params.dilation_x]  # [kh, kw, in_ch]
            if depth_multiplier is None:
                grouped = window.reshape(kh, kw, groups, -1)[:, :, np.arange(out_ch) // (out_ch // groups)]
                acc[out_y, out_x] = np.einsum("hwoc,ohwc->o", grouped, filter.astype(np.int64))
            else:
                repeated = np.repeat(window, depth_multiplier, axis=2)  # out channel c reads in channel c // m
                acc[out_y, out_x] = (repeated * filter[0].astype(np.int64)).sum(axis=(0, 1))
    if bias is not None:
        acc = np.clip(acc + bias, INT32_MIN, INT32_MAX)
    channel = np.arange(out_ch)
    index = channel if requant.multiplier.size > 1 else np.zeros_like(channel)
    shifts = np.zeros(out_ch, np.int64)
    if requant.channel_shift4 is not None:
        packed = requant.channel_shift4[channel // 2].astype(np.int64)
        shifts = np.where(channel % 2 == 0, packed & 0x0F, packed >> 4)
    total = requant.right_shift[index].astype(np.int64) + shifts
    flushed = total > 31
    requantized = requantize(acc, np.where(flushed, 0, requant.multiplier[index]), np.where(flushed, 0, total))
    return np.clip(requantized + params.output_offset, params.act_min, params.act_max).astype(np.int8)


def random_requant(rng, channels: int, per_channel: bool, channel_shifts: bool) -> kp.Requant:
    count = channels if per_channel else 1
    multiplier = rng.integers(2**30, 2**31 - 1, count).astype(np.int32)
    right_shift = rng.integers(4, 12, count).astype(np.int32)
    shift4 = kp.pack_channel_shift4(rng.integers(0, 16, channels)) if channel_shifts else None
    return kp.Requant(multiplier, right_shift, shift4)


WEIGHTED_CASES = {
    # name: (input [h, w, in_ch], filter [kh, kw], out_ch or depth multiplier, stride, dilation, padding, requant)
    # conv: 3x3x8 = 72 taps through the patch; SAME padding on every border; 70 output channels = 2 blocks.
    "conv_patch_same_stride2_two_blocks": ((7, 6, 8), (3, 3), 70, (2, 2), (1, 1), "same", (True, True)),
    # conv: 1x1 (no padding), per-layer multiplier with WESS shifts.
    "conv_1x1_per_layer": ((4, 5, 24), (1, 1), 9, (1, 1), (1, 1), "valid", (False, True)),
    # conv: 10x4 on one input channel, as ds_cnn's first layer: tall windows crossing the top and bottom padding.
    "conv_10x4_single_channel": ((12, 9, 1), (10, 4), 5, (2, 2), (1, 1), "same", (True, False)),
    # conv: 3x3x120 = 1080 taps > the 1024-tap patch: direct path, with padding and dilation 2 along x.
    "conv_direct_same_dilation": ((5, 6, 120), (3, 3), 3, (1, 1), (1, 2), "same", (True, True)),
    # depthwise: 70 channels = 2 blocks, SAME, stride 2.
    "depthwise_two_blocks_same_stride2": ((6, 5, 70), (3, 3), 1, (2, 2), (1, 1), "same", (True, True)),
    # depthwise: depth multiplier 3 over 25 input channels (75 output channels, blocks cut inside a group).
    "depthwise_multiplier3_same": ((4, 4, 25), (3, 3), 3, (1, 1), (1, 1), "same", (True, False)),
    # depthwise: dilation 2, VALID, per-layer multiplier.
    "depthwise_dilation2_valid": ((7, 7, 6), (3, 3), 1, (1, 1), (2, 2), "valid", (False, True)),
}


@pytest.mark.parametrize("name", WEIGHTED_CASES)
def test_conv_and_depthwise_match_the_definition_on_every_code_path(name):
    (h, w, in_ch), filter_hw, channels, stride, dilation, padding, (per_channel, shifts) = WEIGHTED_CASES[name]
    rng = np.random.default_rng(sum(map(ord, name)))
    depthwise = name.startswith("depthwise")
    out_ch = in_ch * channels if depthwise else channels
    input = rng.integers(-128, 128, (1, h, w, in_ch)).astype(np.int8)
    filter_shape = (1, *filter_hw, out_ch) if depthwise else (out_ch, *filter_hw, in_ch)
    filter = rng.integers(-127, 128, filter_shape).astype(np.int8)
    bias = rng.integers(-5000, 5000, out_ch).astype(np.int32)
    conv = kp.conv_params((h, w), filter_hw, stride, dilation, padding, int(rng.integers(-128, 128)), 0.05,
                          int(rng.integers(-20, 20)), "RELU6" if per_channel else "NONE")
    requant = random_requant(rng, out_ch, per_channel, shifts)
    span = [(k - 1) * d + 1 for k, d in zip(filter_hw, dilation)]
    output_hw = [-(-size // s) if padding == "same" else (size - k) // s + 1
                 for size, k, s in zip((h, w), span, stride)]
    if depthwise:
        output = kernel_calls.depthwise_conv_2d(kp.DepthwiseParams(conv, channels), requant, input, filter, bias,
                                        (1, *output_hw, out_ch))
    else:
        output = kernel_calls.conv_2d(conv, requant, input, filter, bias, (1, *output_hw, out_ch))
    expected = reference_conv(conv, requant, input, filter, bias, output_hw, channels if depthwise else None)
    assert output.shape == (1, *output_hw, out_ch)
    assert (output[0] == expected).all()
    assert len(np.unique(expected)) > 4  # the requantization keeps a spread of values, not one clamped constant


GROUPED_CASES = {
    # name: (input [h, w, in_ch], filter [kh, kw], out_ch, groups, stride, dilation, padding, requant)
    # 2 groups of 6 input channels, 3x3 SAME with stride 2, per-channel requantization with WESS shifts
    "two_groups_same_stride2": ((7, 6, 12), (3, 3), 8, 2, (2, 2), (1, 1), "same", (True, True)),
    # 3 groups of 1 input channel, 2 outputs each, VALID, per-layer multiplier
    "three_groups_one_channel_valid": ((5, 5, 3), (2, 2), 6, 3, (1, 1), (1, 1), "valid", (False, False)),
    # 4 groups of 18 output channels: 72 = two channel blocks, the block edge inside a group; dilation 2
    "four_groups_two_blocks_dilated": ((6, 6, 8), (3, 3), 72, 4, (1, 1), (2, 2), "same", (False, True)),
}


@pytest.mark.parametrize("name", GROUPED_CASES)
def test_grouped_conv_matches_the_definition(name):
    (h, w, in_ch), filter_hw, out_ch, groups, stride, dilation, padding, (per_channel, shifts) = GROUPED_CASES[name]
    rng = np.random.default_rng(sum(map(ord, name)))
    input = rng.integers(-128, 128, (1, h, w, in_ch)).astype(np.int8)
    filter = rng.integers(-127, 128, (out_ch, *filter_hw, in_ch // groups)).astype(np.int8)
    bias = rng.integers(-5000, 5000, out_ch).astype(np.int32)
    conv = kp.conv_params((h, w), filter_hw, stride, dilation, padding, int(rng.integers(-128, 128)), 0.05,
                          int(rng.integers(-20, 20)), "NONE")
    requant = random_requant(rng, out_ch, per_channel, shifts)
    span = [(k - 1) * d + 1 for k, d in zip(filter_hw, dilation)]
    output_hw = [-(-size // s) if padding == "same" else (size - k) // s + 1
                 for size, k, s in zip((h, w), span, stride)]
    output = kernel_calls.conv_2d(conv, requant, input, filter, bias, (1, *output_hw, out_ch),
                                  kernel="wess_conv_2d_grouped_s8")
    expected = reference_conv(conv, requant, input, filter, bias, output_hw, groups=groups)
    assert (output[0] == expected).all(), np.argwhere(output[0] != expected)[:10]
    assert len(np.unique(expected)) > 4


@pytest.mark.parametrize("filter_shape, output_channels", [((8, 3, 3, 5), 8),  # 5 does not divide 12 inputs
                                                            ((9, 3, 3, 6), 9),  # 9 outputs over 2 groups
                                                            ((8, 3, 3, 6), 6)])  # output != filter outputs
def test_grouped_conv_inconsistent_shapes_are_bad_shape(filter_shape, output_channels):
    conv = kp.conv_params((4, 4), (3, 3), (1, 1), (1, 1), "same", 0, 0.05, 0, "NONE")
    input = np.zeros((1, 4, 4, 12), np.int8)
    with pytest.raises(library.KernelError, match="WESS_ERR_BAD_SHAPE"):
        kernel_calls.conv_2d(conv, unit_requant(output_channels), input, np.zeros(filter_shape, np.int8), None,
                             (1, 4, 4, output_channels), kernel="wess_conv_2d_grouped_s8")


def test_average_pool_rounds_half_away_and_ignores_padding():
    # input [1, 2, 2, 1] = [[1, 2], [-1, -2]]; 2x2 SAME (pad 0 top/left) -> windows clipped at the far edge.
    input = np.array([1, 2, -1, -2], dtype=np.int8).reshape(1, 2, 2, 1)
    params = kp.PoolParams(stride_y=1, stride_x=1, filter_height=2, filter_width=2, pad_top=0, pad_left=0,
                           act_min=-128, act_max=127)
    output = kernel_calls.average_pool_2d(params, input, (1, 2, 2, 1))
    # (1+2-1-2)/4 = 0; (2-2)/2 = 0; (-1-2)/2 = -1.5 -> -2; -2
    assert output[0, :, :, 0].tolist() == [[0, 0], [-2, -2]]
    assert kernel_calls.max_pool_2d(params, input, (1, 2, 2, 1))[0, :, :, 0].tolist() == [[2, 2], [-1, -2]]


def test_pad_concatenation_and_quantize_by_hand():
    input = np.array([[[[1], [2]]]], dtype=np.int8)  # [1, 1, 2, 1]
    padded = kernel_calls.pad(kp.PadParams(pad_top=1, pad_bottom=0, pad_left=0, pad_right=1, pad_value=-5), input)
    assert padded[0, :, :, 0].tolist() == [[-5, -5, -5], [1, 2, -5]]
    joined = kernel_calls.concatenation([input, np.array([[[[7, 8], [9, 10]]]], dtype=np.int8)])
    assert joined.tolist() == [[[[1, 7, 8], [2, 9, 10]]]]
    values = np.array([0.25, -0.25, 0.75, 1000.0, -1000.0, np.nan], dtype=np.float32)
    quantized = kernel_calls.quantize(kp.quantize_params(0.5, 3), values)
    assert quantized.tolist() == [4, 2, 5, 127, -128, -128]  # ties away from zero: 0.5 -> 1, -0.5 -> -1
    assert kernel_calls.dequantize(kp.dequantize_params(0.5, 3), quantized[:3]).tolist() == [0.5, -0.5, 1.0]


def test_softmax_of_equal_logits_is_uniform():
    params = kp.softmax_params(input_scale=0.1)
    output = kernel_calls.softmax(params, np.zeros((2, 4), dtype=np.int8))
    assert output.tolist() == [[-64] * 4] * 2  # 1/4 * 256 - 128


def test_activation_range_and_padding_follow_tflite():
    assert kp.activation_range("RELU6", 6.0 / 255, -128) == (-128, 127)
    assert kp.activation_range(1, 0.1, 5) == (5, 127)
    assert kp.activation_range("RELU_N1_TO_1", 0.01, 0) == (-100, 100)
    assert kp.compute_padding(6, 3, 2, 1, "SAME") == (3, 0)
    assert kp.compute_padding(7, 3, 2, 1, "SAME") == (4, 1)
    assert kp.compute_padding(7, 3, 1, 2, "VALID") == (3, 0)


# ---------------------------------------------------------------- error paths

INPUT_3X3 = np.zeros((1, 3, 3, 1), dtype=np.int8)
FILTER_3X3 = np.zeros((1, 3, 3, 1), dtype=np.int8)


@pytest.mark.parametrize("call, status", [
    (lambda: kernel_calls.conv_2d(PLAIN_CONV, unit_requant(), INPUT_3X3, FILTER_3X3, None, (1, 2, 1, 1)), "BAD_SHAPE"),
    (lambda: kernel_calls.conv_2d(PLAIN_CONV, unit_requant(), INPUT_3X3, np.zeros((1, 3, 3, 2), np.int8), None,
                          (1, 1, 1, 1)), "BAD_SHAPE"),
    (lambda: kernel_calls.conv_2d(replace(PLAIN_CONV, stride_y=0), unit_requant(), INPUT_3X3, FILTER_3X3, None,
                          (1, 1, 1, 1)), "BAD_ARG"),
    (lambda: kernel_calls.conv_2d(replace(PLAIN_CONV, pad_top=3), unit_requant(), INPUT_3X3, FILTER_3X3, None,
                          (1, 1, 1, 1)), "BAD_ARG"),
    (lambda: kernel_calls.conv_2d(replace(PLAIN_CONV, act_min=10, act_max=9), unit_requant(), INPUT_3X3, FILTER_3X3,
                          None, (1, 1, 1, 1)), "BAD_ARG"),
    (lambda: kernel_calls.conv_2d(PLAIN_CONV, unit_requant(2), INPUT_3X3, FILTER_3X3, None, (1, 1, 1, 1)), "BAD_ARG"),
    (lambda: kernel_calls.conv_2d(PLAIN_CONV, kp.Requant(np.array([-1], np.int32), np.array([0], np.int32)), INPUT_3X3,
                          FILTER_3X3, None, (1, 1, 1, 1)), "BAD_ARG"),
    (lambda: kernel_calls.conv_2d(PLAIN_CONV, kp.Requant(np.array([1], np.int32), np.array([32], np.int32)), INPUT_3X3,
                          FILTER_3X3, None, (1, 1, 1, 1)), "BAD_ARG"),
    (lambda: kernel_calls.conv_2d(PLAIN_CONV, unit_requant(), np.zeros((2, 3, 3, 1), np.int8), FILTER_3X3, None,
                          (2, 1, 1, 1)), "UNSUPPORTED"),
    (lambda: kernel_calls.conv_2d(PLAIN_CONV, unit_requant(), np.zeros((1, 300, 1, 256), np.int8),
                          np.zeros((1, 257, 1, 256), np.int8), None, (1, 44, 1, 1)), "UNSUPPORTED"),
    (lambda: kernel_calls.depthwise_conv_2d(kp.DepthwiseParams(PLAIN_CONV, 2), unit_requant(), INPUT_3X3, FILTER_3X3,
                                    None, (1, 1, 1, 1)), "BAD_SHAPE"),
    (lambda: kernel_calls.fully_connected(kp.FullyConnectedParams(0, 0, -128, 127), unit_requant(),
                                  np.zeros((1, 4), np.int8), np.zeros((2, 5), np.int8), None), "BAD_SHAPE"),
    (lambda: kernel_calls.add(replace(kp.add_params(0.1, 0, 0.1, 0, 0.2, 0, "NONE"), left_shift=21),
                      np.zeros((1, 2), np.int8), np.zeros((1, 1), np.int8)), "BAD_ARG"),
    (lambda: kernel_calls.sub(replace(kp.add_params(0.1, 0, 0.1, 0, 0.2, 0, "NONE"), input1_right_shift=32),
                      np.zeros((1, 2), np.int8), np.zeros((1, 1), np.int8)), "BAD_ARG"),
    (lambda: kernel_calls.average_pool_2d(kp.PoolParams(1, 1, 2, 2, 0, 0, -128, 127), INPUT_3X3, (1, 3, 3, 2)),
     "BAD_SHAPE"),
    (lambda: kernel_calls.max_pool_2d(kp.PoolParams(1, 1, 2, 2, 2, 0, -128, 127), INPUT_3X3, (1, 3, 3, 1)), "BAD_ARG"),
    (lambda: kernel_calls.mean_hw(kp.MeanParams(0, 0, 2**30, 40), INPUT_3X3), "BAD_ARG"),
    (lambda: kernel_calls.softmax(kp.SoftmaxParams(2**30, 5, 1), INPUT_3X3), "BAD_ARG"),
    (lambda: kernel_calls.softmax(kp.SoftmaxParams(2**30, 5, -10), np.zeros((1, 4096), np.int8)), "UNSUPPORTED"),
    (lambda: kernel_calls.quantize(kp.QuantizeParams(0.0, 0), np.zeros(3, np.float32)), "BAD_ARG"),
    (lambda: kernel_calls.dequantize(kp.DequantizeParams(1.0, 200), np.zeros(3, np.int8)), "BAD_ARG"),
    (lambda: kernel_calls.pad(kp.PadParams(-1, 0, 0, 0, 0), INPUT_3X3), "BAD_ARG"),
])
def test_invalid_arguments_return_the_status_and_the_wrapper_raises(call, status):
    with pytest.raises(library.KernelError, match=f"WESS_ERR_{status}"):
        call()


def test_null_pointers_return_bad_arg(reference_library):
    dims = library.Dims(1, 3, 3, 1)
    params = library.PoolParams(*astuple(kp.PoolParams(1, 1, 1, 1, 0, 0, -128, 127)))
    status = reference_library.wess_max_pool_2d_s8(ctypes.byref(params), ctypes.byref(dims), None,
                                                   ctypes.byref(dims), None)
    assert status == 1
    assert reference_library.wess_conv_2d_s8(None, None, None, None, None, None, None, None, None) == 1


def test_wrapper_refuses_silent_casts_and_names_the_kernel():
    with pytest.raises(TypeError):
        kernel_calls.max_pool_2d(kp.PoolParams(1, 1, 1, 1, 0, 0, -128, 127), INPUT_3X3.astype(np.int16), (1, 3, 3, 1))
    error = library.KernelError("wess_add_s8", 3)
    assert "wess_add_s8" in str(error) and "WESS_ERR_UNSUPPORTED" in str(error)


def test_missing_library_error_names_make(monkeypatch, tmp_path):
    monkeypatch.setenv("WESS_REF_LIB", str(tmp_path / "missing.so"))
    library.load_library.cache_clear()
    try:
        with pytest.raises(FileNotFoundError, match="make"):
            library.load_library()
    finally:
        monkeypatch.undo()
        library.load_library.cache_clear()


# ---------------------------------------------------------------- bit-exact against LiteRT reference and TFLite Micro

@dataclass
class ReferenceRun:
    """One single-op model run on a few random inputs by LiteRT (BUILTIN_REF) and TFLite Micro."""

    model: bytes
    op: dict  # LiteRT op details: op_name, inputs, outputs (tensor indices)
    tensors: dict  # tensor index -> LiteRT tensor details
    constants: dict  # tensor index -> constant value (weights, bias)
    inputs: list  # per sample: {tensor index: model input}
    litert_outputs: list  # per sample: model outputs
    micro_outputs: list

    def scale(self, index: int) -> float:
        return float(self.tensors[index]["quantization_parameters"]["scales"][0])

    def zero_point(self, index: int) -> int:
        return int(self.tensors[index]["quantization_parameters"]["zero_points"][0])

    def shape(self, index: int) -> tuple:
        return tuple(int(extent) for extent in self.tensors[index]["shape"])


def convert(tf, model, input_shapes, per_tensor: bool = False, float_io: bool = False) -> bytes:
    """Full-int8 conversion of a tiny Keras model with a seeded representative dataset."""
    def representative_dataset():  # input i ranges over +-(i + 1), so multi-input ops see different scales
        rng = np.random.default_rng(0)
        for _ in range(16):
            yield [rng.uniform(-1.0 - i, 1.0 + i, shape).astype(np.float32) for i, shape in enumerate(input_shapes)]

    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = representative_dataset
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    if not float_io:
        converter.inference_input_type = tf.int8
        converter.inference_output_type = tf.int8
    if per_tensor:
        converter._experimental_disable_per_channel = True
    return converter.convert()


def random_input(rng, detail: dict) -> np.ndarray:
    shape = tuple(detail["shape"])
    if detail["dtype"] == np.float32:
        return rng.uniform(-1.5, 1.5, shape).astype(np.float32)
    return rng.integers(-128, 128, shape).astype(np.int8)


def run_references(model: bytes, op_name: str, seed: int = 0) -> ReferenceRun:
    from ai_edge_litert.interpreter import Interpreter, OpResolverType
    from tflite_micro.python.tflite_micro import runtime

    litert = Interpreter(model_content=model, experimental_op_resolver_type=OpResolverType.BUILTIN_REF)
    litert.allocate_tensors()
    micro = runtime.Interpreter.from_bytes(model)
    op = next(details for details in litert._get_ops_details() if details["op_name"] == op_name)
    tensors = {details["index"]: details for details in litert.get_tensor_details()}
    input_details, output_details = litert.get_input_details(), litert.get_output_details()
    constants = {index: litert.get_tensor(index) for index in op["inputs"]
                 if index >= 0 and index not in [details["index"] for details in input_details]}
    rng = np.random.default_rng(seed)
    run = ReferenceRun(model, op, tensors, constants, [], [], [])
    for _ in range(SAMPLES_PER_MODEL):
        sample = {details["index"]: random_input(rng, details) for details in input_details}
        for position, details in enumerate(input_details):
            litert.set_tensor(details["index"], sample[details["index"]])
            micro.set_input(sample[details["index"]], position)
        litert.invoke()
        micro.invoke()
        run.inputs.append(sample)
        run.litert_outputs.append([litert.get_tensor(details["index"]) for details in output_details])
        run.micro_outputs.append([micro.get_output(position) for position in range(len(output_details))])
    return run


def assert_bit_exact(run: ReferenceRun, c_output, litert: bool = True, micro: bool = True):
    """c_output(sample) against both references' first model output, for every sample."""
    for sample, litert_outputs, micro_outputs in zip(run.inputs, run.litert_outputs, run.micro_outputs):
        got = c_output(sample)
        if litert:
            np.testing.assert_array_equal(got.reshape(litert_outputs[0].shape), litert_outputs[0], "vs LiteRT")
        if micro:
            np.testing.assert_array_equal(got.reshape(micro_outputs[0].shape), micro_outputs[0], "vs TFLite Micro")


@pytest.fixture(scope="module")
def keras():
    tf = pytest.importorskip("tensorflow")
    return tf, tf.keras


def single_layer(keras_module, layer, *input_shapes):
    inputs = [keras_module.Input(shape[1:], batch_size=1) for shape in input_shapes]
    outputs = layer(inputs if len(inputs) > 1 else inputs[0])
    return keras_module.Model(inputs, outputs)


def seeded_weights(model, seed: int):
    """Weights spread over several decades per output channel, as batch-norm folding produces."""
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        weights = layer.get_weights()
        if weights:
            kernel = rng.normal(size=weights[0].shape) * np.logspace(-2, 0, weights[0].shape[-1])
            layer.set_weights([kernel.astype(np.float32)] + [rng.normal(0, 0.1, w.shape).astype(np.float32)
                                                            for w in weights[1:]])
    return model


CONV_CASES = {
    # name: (input shape, Conv2D kwargs, per_tensor)
    "per_channel_same_stride2_relu": ((1, 6, 6, 3), dict(filters=4, kernel_size=3, strides=2, padding="same",
                                                           activation="relu"), False),
    "per_tensor_valid_dilation2": ((1, 7, 7, 2), dict(filters=3, kernel_size=3, dilation_rate=2, padding="valid"),
                                   True),
    "per_channel_same_relu6_1x2": ((1, 5, 4, 3), dict(filters=5, kernel_size=(1, 2), padding="same",
                                                        activation="relu6"), False),
}
ACTIVATIONS = {None: "NONE", "linear": "NONE", "relu": "RELU", "relu6": "RELU6"}


def c_conv(run: ReferenceRun, config: dict):
    input_index, filter_index, bias_index = run.op["inputs"]
    output_index = run.op["outputs"][0]
    filter, bias = run.constants[filter_index], run.constants[bias_index]
    params = kp.conv_params(run.shape(input_index)[1:3], filter.shape[1:3], _pair(config.get("strides", 1)),
                            _pair(config.get("dilation_rate", 1)), config["padding"], run.zero_point(input_index),
                            run.scale(output_index), run.zero_point(output_index),
                            ACTIVATIONS[config.get("activation")])
    requant = kp.per_channel_requant(run.scale(input_index),
                                     run.tensors[filter_index]["quantization_parameters"]["scales"],
                                     run.scale(output_index))
    return lambda sample: kernel_calls.conv_2d(params, requant, sample[input_index], filter, bias, run.shape(output_index))


def _pair(value):
    return tuple(value) if isinstance(value, (tuple, list)) else (value, value)


@pytest.fixture(scope="module")
def conv_runs(keras):
    tf, keras_module = keras
    runs = {}
    for seed, (name, (shape, config, per_tensor)) in enumerate(CONV_CASES.items()):
        model = seeded_weights(single_layer(keras_module, keras_module.layers.Conv2D(**config), shape), seed)
        runs[name] = run_references(convert(tf, model, [shape], per_tensor=per_tensor), "CONV_2D", seed)
    return runs


@pytest.mark.parametrize("name", CONV_CASES)
def test_conv_2d_matches_references(conv_runs, name):
    run = conv_runs[name]
    filter_scales = run.tensors[run.op["inputs"][1]]["quantization_parameters"]["scales"]
    assert len(filter_scales) == (1 if CONV_CASES[name][2] else CONV_CASES[name][1]["filters"])
    assert_bit_exact(run, c_conv(run, CONV_CASES[name][1]))


def wess_model(run: ReferenceRun, channel_shifts) -> bytes:
    """The per-tensor conv model rewritten with per-channel weight scales s * 2**-k_c (bias scales to match);
    integer weights and bias unchanged."""
    import flatbuffers
    from ai_edge_litert import schema_py_generated as schema

    model = schema.ModelT.InitFromPackedBuf(run.model, 0)
    tensors = model.subgraphs[0].tensors
    input_scale = run.scale(run.op["inputs"][0])
    for index, scale_of in ((run.op["inputs"][1], lambda s: s), (run.op["inputs"][2], lambda s: input_scale * s)):
        quantization = tensors[index].quantization
        layer_scale = np.float32(run.scale(run.op["inputs"][1]))
        channel_scales = [float(np.float32(scale_of(layer_scale * np.float32(2.0 ** -k)))) for k in channel_shifts]
        quantization.scale = channel_scales
        quantization.zeroPoint = [0] * len(channel_shifts)
        quantization.quantizedDimension = 0
    builder = flatbuffers.Builder(1024)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


def test_wess_one_multiplier_and_channel_shifts_equal_tflite_per_channel(conv_runs):
    per_tensor = conv_runs["per_tensor_valid_dilation2"]
    channel_shifts = [0, 3, 15]
    run = run_references(wess_model(per_tensor, channel_shifts), "CONV_2D", seed=7)
    input_index, filter_index, bias_index = run.op["inputs"]
    output_index = run.op["outputs"][0]
    assert len(run.tensors[filter_index]["quantization_parameters"]["scales"]) == 3
    config = CONV_CASES["per_tensor_valid_dilation2"][1]
    per_channel = c_conv(run, config)
    layer_scale = per_tensor.scale(per_tensor.op["inputs"][1])
    requant = kp.wess_requant(run.scale(input_index), layer_scale, run.scale(output_index), channel_shifts)
    assert requant.multiplier.size == 1
    params = kp.conv_params(run.shape(input_index)[1:3], (3, 3), (1, 1), (2, 2), "valid",
                            run.zero_point(input_index), run.scale(output_index), run.zero_point(output_index), "NONE")
    filter, bias = run.constants[filter_index], run.constants[bias_index]
    wess = lambda sample: kernel_calls.conv_2d(params, requant, sample[input_index], filter, bias, run.shape(output_index))
    assert_bit_exact(run, wess)
    assert_bit_exact(run, per_channel)


OP_CASES = {
    # name: (Keras layer factory, input shapes, TFLite op, float input/output)
    "depthwise_multiplier2_same_relu": (
        lambda layers: layers.DepthwiseConv2D(3, depth_multiplier=2, padding="same", activation="relu"),
        [(1, 5, 5, 3)], "DEPTHWISE_CONV_2D", False),
    "depthwise_stride2_valid": (lambda layers: layers.DepthwiseConv2D(3, strides=2, padding="valid"),
                                [(1, 7, 7, 4)], "DEPTHWISE_CONV_2D", False),
    "fully_connected_relu": (lambda layers: layers.Dense(6, activation="relu"), [(1, 16)], "FULLY_CONNECTED", False),
    "add": (lambda layers: layers.Add(), [(1, 4, 4, 3), (1, 4, 4, 3)], "ADD", False),
    "add_relu": (lambda layers: lambda inputs: layers.ReLU()(layers.Add()(inputs)), [(1, 2, 3, 5), (1, 2, 3, 5)],
                 "ADD", False),
    "average_pool_3x3_stride2_same": (lambda layers: layers.AveragePooling2D(3, strides=2, padding="same"),
                                      [(1, 7, 7, 3)], "AVERAGE_POOL_2D", False),
    "max_pool_3x3_stride2_same": (lambda layers: layers.MaxPooling2D(3, strides=2, padding="same"),
                                  [(1, 6, 6, 2)], "MAX_POOL_2D", False),
    "mean_global_average_pool": (lambda layers: layers.GlobalAveragePooling2D(), [(1, 5, 5, 3)], "MEAN", False),
    "mean_keepdims_12x12": (lambda layers: layers.GlobalAveragePooling2D(keepdims=True), [(1, 12, 12, 8)],
                            "MEAN", False),
    "pad": (lambda layers: layers.ZeroPadding2D(((1, 2), (0, 1))), [(1, 3, 3, 2)], "PAD", False),
    "concatenation": (lambda layers: layers.Concatenate(), [(1, 3, 3, 2), (1, 3, 3, 3)], "CONCATENATION", False),
    "softmax": (lambda layers: layers.Softmax(), [(1, 10)], "SOFTMAX", False),
    "softmax_rows": (lambda layers: layers.Softmax(), [(1, 3, 40)], "SOFTMAX", False),
    "softmax_wide": (lambda layers: layers.Softmax(), [(1, 600)], "SOFTMAX", False),
    "quantize_max_pool_dequantize": (lambda layers: layers.MaxPooling2D(2), [(1, 4, 4, 2)], "MAX_POOL_2D", True),
}


@pytest.fixture(scope="module")
def op_runs(keras):
    """Converts and runs each OP_CASES model once, on first use."""
    tf, keras_module = keras
    cache = {}

    def get(name: str) -> ReferenceRun:
        if name not in cache:
            factory, shapes, op_name, float_io = OP_CASES[name]
            model = seeded_weights(single_layer(keras_module, factory(keras_module.layers), *shapes), seed=len(cache))
            cache[name] = run_references(convert(tf, model, shapes, float_io=float_io), op_name, seed=len(cache))
        return cache[name]

    return get


def _io(run: ReferenceRun):
    return run.op["inputs"][0], run.op["outputs"][0]


@pytest.mark.parametrize("name, strides, padding, depth_multiplier, activation", [
    ("depthwise_multiplier2_same_relu", (1, 1), "same", 2, "RELU"),
    ("depthwise_stride2_valid", (2, 2), "valid", 1, "NONE"),
])
def test_depthwise_conv_2d_matches_references(op_runs, name, strides, padding, depth_multiplier, activation):
    run = op_runs(name)
    input_index, filter_index, bias_index = run.op["inputs"]
    output_index = run.op["outputs"][0]
    filter, bias = run.constants[filter_index], run.constants[bias_index]
    params = kp.depthwise_params(run.shape(input_index)[1:3], filter.shape[1:3], strides, (1, 1), padding,
                                 depth_multiplier, run.zero_point(input_index), run.scale(output_index),
                                 run.zero_point(output_index), activation)
    requant = kp.per_channel_requant(run.scale(input_index),
                                     run.tensors[filter_index]["quantization_parameters"]["scales"],
                                     run.scale(output_index))
    assert_bit_exact(run, lambda sample: kernel_calls.depthwise_conv_2d(params, requant, sample[input_index], filter, bias,
                                                                run.shape(output_index)))


def test_fully_connected_matches_references(op_runs):
    run = op_runs("fully_connected_relu")
    input_index, filter_index, bias_index = run.op["inputs"]
    output_index = run.op["outputs"][0]
    params = kp.fully_connected_params(run.zero_point(input_index), run.scale(output_index),
                                       run.zero_point(output_index), "RELU")
    requant = kp.per_channel_requant(run.scale(input_index),
                                     run.tensors[filter_index]["quantization_parameters"]["scales"],
                                     run.scale(output_index))
    filter, bias = run.constants[filter_index], run.constants[bias_index]
    assert_bit_exact(run, lambda sample: kernel_calls.fully_connected(params, requant, sample[input_index], filter, bias))


def test_add_and_sub_broadcast_a_channel_vector_by_hand():
    # input1 NHWC [1, 2, 2, 2]; input2 [2] broadcast over N, H, W. All scales 1, zero points 0: the int8 values add
    # exactly (inputs scaled by 1/2 after << 20, the sum by 2^-19).
    params = kp.add_params(1.0, 0, 1.0, 0, 1.0, 0, "NONE")
    input1 = np.array([[[[1, 2], [3, 4]], [[5, 6], [7, 8]]]], np.int8)
    channel = np.array([10, -20], np.int8)
    assert kernel_calls.add(params, input1, channel).tolist() == [[[[11, -18], [13, -16]], [[15, -14], [17, -12]]]]
    assert kernel_calls.sub(params, input1, channel).tolist() == [[[[-9, 22], [-7, 24]], [[-5, 26], [-3, 28]]]]
    # input2 [1, 2, 1, 1] broadcast over W and C: rows of input1 minus 1 and 2
    rows = np.array([[[[1]], [[2]]]], np.int8)
    assert kernel_calls.sub(params, input1, rows).tolist() == [[[[0, 1], [2, 3]], [[3, 4], [5, 6]]]]


@pytest.mark.parametrize("name, activation", [("add", "NONE"), ("add_relu", "RELU")])
def test_add_matches_references(op_runs, name, activation):
    run = op_runs(name)
    first, second = run.op["inputs"]
    output_index = run.op["outputs"][0]
    assert run.scale(first) != run.scale(second)
    params = kp.add_params(run.scale(first), run.zero_point(first), run.scale(second), run.zero_point(second),
                           run.scale(output_index), run.zero_point(output_index), activation)
    assert_bit_exact(run, lambda sample: kernel_calls.add(params, sample[first], sample[second]))


@pytest.mark.parametrize("name, pool, filter_hw, stride_hw, padding", [
    ("average_pool_3x3_stride2_same", kernel_calls.average_pool_2d, (3, 3), (2, 2), "same"),
    ("max_pool_3x3_stride2_same", kernel_calls.max_pool_2d, (3, 3), (2, 2), "same"),
])
def test_pools_match_references(op_runs, name, pool, filter_hw, stride_hw, padding):
    run = op_runs(name)
    input_index, output_index = _io(run)
    assert (run.scale(input_index), run.zero_point(input_index)) == (run.scale(output_index),
                                                                     run.zero_point(output_index))
    params = kp.pool_params(run.shape(input_index)[1:3], filter_hw, stride_hw, padding, run.scale(output_index),
                            run.zero_point(output_index), "NONE")
    assert_bit_exact(run, lambda sample: pool(params, sample[input_index], run.shape(output_index)))


def c_mean(run: ReferenceRun):
    input_index, output_index = _io(run)
    params = kp.mean_params(run.scale(input_index), run.zero_point(input_index), run.scale(output_index),
                            run.zero_point(output_index))
    return lambda sample: kernel_calls.mean_hw(params, sample[input_index])


@pytest.mark.parametrize("name", ["mean_global_average_pool", "mean_keepdims_12x12"])
def test_mean_matches_references(op_runs, name):
    # The kernel follows TFLite Micro's QuantizedMeanOrSum; LiteRT 2.3.0's BUILTIN_REF MEAN agrees with it.
    run = op_runs(name)
    assert_bit_exact(run, c_mean(run))


def test_pad_matches_references(op_runs):
    run = op_runs("pad")
    input_index, output_index = _io(run)
    params = kp.pad_params(((1, 2), (0, 1)), run.zero_point(output_index))
    assert_bit_exact(run, lambda sample: kernel_calls.pad(params, sample[input_index]))


def test_concatenation_matches_references(op_runs):
    run = op_runs("concatenation")
    output_index = run.op["outputs"][0]
    kp.concatenation_params([(run.scale(i), run.zero_point(i)) for i in run.op["inputs"]],
                            (run.scale(output_index), run.zero_point(output_index)))
    assert_bit_exact(run, lambda sample: kernel_calls.concatenation([sample[i] for i in run.op["inputs"]]))


@pytest.mark.parametrize("name", ["softmax", "softmax_rows", "softmax_wide"])
def test_softmax_matches_references(op_runs, name):
    run = op_runs(name)
    input_index, output_index = _io(run)
    assert (run.scale(output_index), run.zero_point(output_index)) == (1 / 256, -128)
    params = kp.softmax_params(run.scale(input_index))
    assert_bit_exact(run, lambda sample: kernel_calls.softmax(params, sample[input_index]))


def test_softmax_sum_of_exps_beyond_2_28_gives_exact_zero_probabilities():
    # 600 equal logits: sum of exps = 600 * 2**19 >= 2**28, so the final rounding exponent is 32; every
    # probability (1/600) rounds to 0 -> -128. LiteRT's reference and TFLite Micro abort here (TFLITE_CHECK).
    params = kp.softmax_params(input_scale=0.0078)
    assert (kernel_calls.softmax(params, np.zeros((1, 600), dtype=np.int8)) == -128).all()
    assert (kernel_calls.softmax(params, np.zeros((1, 500), dtype=np.int8)) == -127).all()  # 256 / 500 = 0.512 -> 1


SUBPROCESS_RUNNERS = {
    "litert": "from ai_edge_litert.interpreter import Interpreter, OpResolverType\n"
              "it = Interpreter(model_content=model, experimental_op_resolver_type=OpResolverType.BUILTIN_REF)\n"
              "it.allocate_tensors(); it.set_tensor(it.get_input_details()[0]['index'], x); it.invoke()",
    "micro": "from tflite_micro.python.tflite_micro import runtime\n"
             "it = runtime.Interpreter.from_bytes(model); it.set_input(x, 0); it.invoke()",
}


@pytest.mark.slow
@pytest.mark.parametrize("reference", SUBPROCESS_RUNNERS)
def test_references_abort_on_600_equal_softmax_logits(op_runs, tmp_path, reference):
    model_path = tmp_path / "softmax.tflite"
    model_path.write_bytes(op_runs("softmax_wide").model)
    code = (f"import numpy as np\nmodel = open({str(model_path)!r}, 'rb').read()\n"
            f"x = np.zeros((1, 600), dtype=np.int8)\n{SUBPROCESS_RUNNERS[reference]}")
    assert subprocess.run([sys.executable, "-c", code], capture_output=True).returncode != 0


def test_quantize_and_dequantize_at_the_model_edges_match_references(op_runs):
    run = op_runs("quantize_max_pool_dequantize")
    quantized_index, pooled_index = _io(run)
    quantize = kp.quantize_params(run.scale(quantized_index), run.zero_point(quantized_index))
    dequantize = kp.dequantize_params(run.scale(pooled_index), run.zero_point(pooled_index))
    pool = kp.pool_params(run.shape(quantized_index)[1:3], (2, 2), (2, 2), "valid", run.scale(pooled_index),
                          run.zero_point(pooled_index), "NONE")

    def chain(sample):
        (float_input,) = sample.values()
        quantized = kernel_calls.quantize(quantize, float_input)
        return kernel_calls.dequantize(dequantize, kernel_calls.max_pool_2d(pool, quantized, run.shape(pooled_index)))

    assert [details["op_name"] for details in _ops(run)] == ["QUANTIZE", "MAX_POOL_2D", "DEQUANTIZE"]
    assert_bit_exact(run, chain)


def _ops(run: ReferenceRun) -> list:
    from ai_edge_litert.interpreter import Interpreter
    return Interpreter(model_content=run.model)._get_ops_details()
