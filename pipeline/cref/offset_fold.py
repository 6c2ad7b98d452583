"""Offline folding of a weighted op's input offset into its bias: bias + input_offset * (sum of the channel's weights)."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
from ai_edge_litert import schema_py_generated as schema

from pipeline.cref import kernel_params as kp
from pipeline.fixedpoint import INT32_MAX, INT32_MIN

# The ops whose kernels accumulate sum w * (x + input_offset) over taps that all lie inside the input when the
# window never leaves it (CONV_2D) or always (FULLY_CONNECTED): with the offset folded, the kernel runs with
# input_offset 0 and the folded bias, and computes the same int32 sums.
FOLDABLE_OPS = (schema.BuiltinOperator.CONV_2D, schema.BuiltinOperator.FULLY_CONNECTED)


@dataclass(frozen=True)
class Fold:
    """A folded op: its parameters with input_offset 0 and the bias tensor's new int32 values."""

    params: kp.ConvParams | kp.FullyConnectedParams
    bias: np.ndarray  # int32, one per output channel


def folded_bias(bias: np.ndarray, weights: np.ndarray, input_offset: int) -> np.ndarray | None:
    """bias[c] + input_offset * sum(weights[c]) per output channel c (weights' axis 0), computed exactly; None when a
    value leaves int32 (the op then keeps its runtime offset).

    The kernel adds the bias to the accumulator with saturation; folded, it adds the folded bias to sum w * x. Both
    sums equal acc + bias exactly whenever the folded bias is an int32, so the saturated results are the same."""
    sums = weights.reshape(weights.shape[0], -1).astype(np.int64).sum(axis=1)
    folded = bias.astype(np.int64) + np.int64(input_offset) * sums  # |.| < 2^31 + 128 * 2^23 * 128: no int64 overflow
    if folded.size and (folded.min() < INT32_MIN or folded.max() > INT32_MAX):
        return None
    return folded.astype(np.int32)


def window_inside(params: kp.ConvParams, input_hw: tuple[int, int], filter_hw: tuple[int, int],
                  output_hw: tuple[int, int]) -> bool:
    """No tap of any output pixel falls outside the input: no padding on top / left and the last window ends inside
    the input on the bottom / right (VALID padding, or SAME where it pads nothing)."""
    if params.pad_top != 0 or params.pad_left != 0:
        return False
    axes = ((input_hw[0], filter_hw[0], params.stride_y, params.dilation_y, output_hw[0]),
            (input_hw[1], filter_hw[1], params.stride_x, params.dilation_x, output_hw[1]))
    return all((out - 1) * stride + (kernel - 1) * dilation < extent for extent, kernel, stride, dilation, out in axes)


def fold(code: int, params, input_shape: tuple[int, ...], weights: np.ndarray, bias: np.ndarray,
         output_shape: tuple[int, ...]) -> Fold | None:
    """The folded form of a CONV_2D / FULLY_CONNECTED op (code: its builtin code), or None when it cannot be folded:
    another op, a tap in the padding, a folded bias outside int32, or an input offset already 0."""
    if code not in FOLDABLE_OPS or params.input_offset == 0:
        return None
    if code == schema.BuiltinOperator.CONV_2D and not window_inside(params, tuple(input_shape[1:3]),
                                                                    tuple(weights.shape[1:3]), tuple(output_shape[1:3])):
        return None
    values = folded_bias(bias, weights, params.input_offset)
    return None if values is None else Fold(dataclasses.replace(params, input_offset=0), values)
