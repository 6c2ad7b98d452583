"""Kernel parameters of the operators after the first kernels (PRELU ... ABS, BATCH_MATMUL), as in TFLite Micro."""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .kernel_params import (MeanParams, ParameterError, activation_range, compute_padding, divisor_scale, f32,
                            mean_params, multiplier_and_right_shift)
from .kernel_params import _smaller_than_one as smaller_than_one


@dataclass(frozen=True)
class PreluParams:
    """PRELU (C: wess_prelu_params_t)."""

    input_offset: int
    alpha_offset: int
    output_offset: int
    identity_multiplier: int
    identity_right_shift: int
    alpha_multiplier: int
    alpha_right_shift: int


@dataclass(frozen=True)
class ReduceParams:
    """REDUCE_MAX (C: wess_reduce_params_t): 1 for each reduced NHWC axis, else 0."""

    reduce_n: int
    reduce_h: int
    reduce_w: int
    reduce_c: int


@dataclass(frozen=True)
class TransposeParams:
    """TRANSPOSE (C: wess_transpose_params_t): the input NHWC axis each output NHWC axis runs along."""

    perm_n: int
    perm_h: int
    perm_w: int
    perm_c: int


@dataclass(frozen=True)
class ResizeParams:
    """RESIZE_BILINEAR and RESIZE_NEAREST_NEIGHBOR (C: wess_resize_params_t): TFLite's options as 0 / 1."""

    align_corners: int
    half_pixel_centers: int


def prelu_params(input_scale: float, input_zero_point: int, alpha_scale: float, alpha_zero_point: int,
                 output_scale: float, output_zero_point: int) -> PreluParams:
    """TFLite Micro's CalculatePreluParams: input_scale / output_scale and input_scale * alpha_scale / output_scale
    in double, each through QuantizeMultiplier. An all-zero alpha has scale 0 (multiplier 0: every negative input
    gives the output zero point)."""
    output_scale = divisor_scale(output_scale, "output")
    if not 0.0 <= f32(alpha_scale) < math.inf:
        raise ParameterError(f"alpha scale {alpha_scale!r} is not a finite number >= 0")
    identity = multiplier_and_right_shift(f32(input_scale) / output_scale)
    alpha = multiplier_and_right_shift(f32(input_scale) * f32(alpha_scale) / output_scale)
    return PreluParams(-input_zero_point, -alpha_zero_point, output_zero_point, *identity, *alpha)


def reduced_nhwc_axes(input_rank: int, axes) -> tuple[int, int, int, int]:
    """1 for each of the blob's NHWC axes that `axes` of an input of rank 1 to 4 reduce (negative axes count from
    the end, repeats allowed; rank 2 [b, d] is [b, 1, 1, d], lower ranks are padded with leading ones), else 0."""
    positions = _nhwc_positions(input_rank)
    reduced = [0, 0, 0, 0]
    for axis in axes:
        if not -input_rank <= int(axis) < input_rank:
            raise ParameterError(f"reduction axis {int(axis)} is outside a rank-{input_rank} input")
        reduced[positions[int(axis) % input_rank]] = 1
    return tuple(reduced)


def _nhwc_positions(rank: int) -> tuple[int, ...]:
    """Where each axis of a rank-1..4 tensor sits in the blob's NHWC dims (rank 2 [b, d] is [b, 1, 1, d])."""
    if not 1 <= rank <= 4:
        raise ParameterError(f"a rank-{rank} input (the kernels take rank 1 to 4)")
    return (0, 3) if rank == 2 else tuple(range(4 - rank, 4))


def transpose_params(perm, input_quant: tuple[float, int], output_quant: tuple[float, int]) -> TransposeParams:
    """TRANSPOSE by TFLite's perm operand, onto the NHWC dims: output axis i of the TFLite shape reads input axis
    perm[i]; the padded axes (extent 1) take the unused input positions in order. The bytes are copied, so the
    output must keep the input's quantization (the converter gives it the same)."""
    perm = [int(axis) for axis in perm]
    if sorted(perm) != list(range(len(perm))):
        raise ParameterError(f"TRANSPOSE perm {perm} is not a permutation of 0..{len(perm) - 1}")
    if (f32(input_quant[0]), input_quant[1]) != (f32(output_quant[0]), output_quant[1]):
        raise ParameterError(f"TRANSPOSE output quantization {output_quant} differs from the input's {input_quant}")
    positions = _nhwc_positions(len(perm))
    nhwc_perm = [-1] * 4
    for axis, source in enumerate(perm):
        nhwc_perm[positions[axis]] = positions[source]
    spare = iter(position for position in range(4) if position not in nhwc_perm)
    return TransposeParams(*(axis if axis >= 0 else next(spare) for axis in nhwc_perm))


def reduce_params(input_rank: int, axes, input_quant: tuple[float, int],
                  output_quant: tuple[float, int]) -> ReduceParams:
    """REDUCE_MAX over `axes` (reduced_nhwc_axes). TFLite Micro's int8 kernel requires the output to keep the
    input's scale and zero point."""
    if (f32(input_quant[0]), input_quant[1]) != (f32(output_quant[0]), output_quant[1]):
        raise ParameterError(f"REDUCE_MAX output quantization {output_quant} differs from the input's {input_quant}")
    return ReduceParams(*reduced_nhwc_axes(input_rank, axes))


def resize_params(align_corners: bool, half_pixel_centers: bool, bilinear: bool = True) -> ResizeParams:
    """RESIZE_BILINEAR's or RESIZE_NEAREST_NEIGHBOR's options; TFLite Micro's bilinear Prepare refuses both set."""
    if bilinear and align_corners and half_pixel_centers:
        raise ParameterError("RESIZE_BILINEAR with both align_corners and half_pixel_centers (TFLite refuses it)")
    return ResizeParams(int(bool(align_corners)), int(bool(half_pixel_centers)))


@dataclass(frozen=True)
class SliceParams:
    """STRIDED_SLICE and SLICE (C: wess_slice_params_t): per NHWC axis the first index, the step and the count."""

    start_n: int
    start_h: int
    start_w: int
    start_c: int
    stride_n: int
    stride_h: int
    stride_w: int
    stride_c: int
    count_n: int
    count_h: int
    count_w: int
    count_c: int


@dataclass(frozen=True)
class AxisSlice:
    """One input axis of a slice: the first index, the step and how many elements."""

    start: int
    stride: int
    count: int


def slice_params(axes: list[AxisSlice]) -> SliceParams:
    """The kernel's parameters from one AxisSlice per input axis; the axes the blob pads are taken whole."""
    whole = AxisSlice(0, 1, 1)
    nhwc = [whole] * 4
    for position, axis in zip(_nhwc_positions(len(axes)), axes):
        if axis.count < 1:
            raise ParameterError("a slice with no elements along an axis")
        nhwc[position] = axis
    return SliceParams(*(axis.start for axis in nhwc), *(axis.stride for axis in nhwc), *(axis.count for axis in nhwc))


def _clamp(value: int, low: int, high: int) -> int:
    return high if value > high else (low if value < low else value)


def strided_slice_axis(extent: int, begin: int, end: int, stride: int, begin_masked: bool, end_masked: bool,
                       shrink: bool) -> AxisSlice:
    """TFLite's StridedSliceStartForAxis and StridedSliceEndForAxis (the forms TFLite Micro's kernel runs): negative
    indices count from the end, clamped to [0, extent] (stride > 0) or [-1, extent - 1], then the masks; a shrunk
    axis takes one element. The count is how many times TFLite's loop runs."""
    if stride == 0:
        raise ParameterError("STRIDED_SLICE stride 0")
    low, high = (0, extent) if stride > 0 else (-1, extent - 1)
    start = _clamp(begin + extent if begin < 0 else begin, low, high)
    if begin_masked:
        start = 0 if stride > 0 else extent - 1
    if shrink:
        stop = start if start >= extent else start + 1
    else:
        stop = _clamp(end + extent if end < 0 else end, low, high)
        if end_masked:
            stop = extent if stride > 0 else -1
    count = max(0, -(-(stop - start) // stride))  # ceil((stop - start) / stride)
    return AxisSlice(start, stride, count)


def strided_slice_axes(extents, begins, ends, strides, begin_mask: int, end_mask: int,
                       shrink_axis_mask: int) -> tuple[list[AxisSlice], list[int]]:
    """STRIDED_SLICE's AxisSlice per input axis, and the counts of the axes it does not shrink (its output shape)."""
    bit = lambda mask, axis: bool(mask >> axis & 1)
    axes = [strided_slice_axis(extent, begins[i], ends[i], strides[i], bit(begin_mask, i), bit(end_mask, i),
                               bit(shrink_axis_mask, i)) for i, extent in enumerate(extents)]
    return axes, [axis.count for i, axis in enumerate(axes) if not bit(shrink_axis_mask, i)]


def slice_axes(extents, begins, sizes) -> list[AxisSlice]:
    """SLICE's AxisSlice per input axis, as TFLite's reference Slice: from begin, size elements (-1: to the end)."""
    axes = []
    for extent, begin, size in zip(extents, begins, sizes):
        count = extent - begin if size == -1 else size
        if not 0 <= begin < extent or not 1 <= count <= extent - begin:
            raise ParameterError(f"SLICE from {list(begins)} of size {list(sizes)} leaves the input {list(extents)}")
        axes.append(AxisSlice(begin, 1, count))
    return axes


@dataclass(frozen=True)
class TransposeConvParams:
    """TRANSPOSE_CONV (C: wess_transpose_conv_params_t); the requantization as CONV_2D's."""

    input_offset: int
    output_offset: int
    stride_y: int
    stride_x: int
    pad_top: int
    pad_left: int
    act_min: int
    act_max: int


def transpose_conv_params(output_hw, filter_hw, stride_hw, padding: str, input_zero_point: int, output_scale: float,
                          output_zero_point: int, activation: str | int) -> TransposeConvParams:
    """TFLite Micro's TRANSPOSE_CONV Prepare: the padding ComputePaddingHeightWidth gives for the *output* size (the
    convolution this op transposes maps the output back onto the input), dilation 1."""
    pads = [compute_padding(size, kernel, stride, 1, padding)[1]
            for size, kernel, stride in zip(output_hw, filter_hw, stride_hw)]
    return TransposeConvParams(-input_zero_point, output_zero_point, stride_hw[0], stride_hw[1], pads[0], pads[1],
                               *activation_range(activation, output_scale, output_zero_point))


@dataclass(frozen=True)
class SplitParams:
    """SPLIT and SPLIT_V (C: wess_split_params_t): the blob's NHWC axis the input is cut along."""

    axis: int


def split_params(input_shape: tuple[int, ...], axis: int, output_shapes: list[tuple[int, ...]],
                 input_quant: tuple[float, int], output_quants: list[tuple[float, int]]) -> SplitParams:
    """SPLIT / SPLIT_V along TFLite's `axis` (negative counts from the end) of an input of rank 1 to 4: every output
    equals the input off the axis and their extents along it add up to the input's; the bytes are copied, so each
    output keeps the input's quantization (the converter gives them the same)."""
    rank = len(input_shape)
    if not -rank <= axis < rank:
        raise ParameterError(f"split axis {axis} of a rank-{rank} input")
    axis %= rank
    for shape in output_shapes:
        if len(shape) != rank or any(a != b for position, (a, b) in enumerate(zip(shape, input_shape))
                                     if position != axis):
            raise ParameterError(f"split output shape {list(shape)} is not the input's {list(input_shape)} off "
                                 f"axis {axis}")
    if sum(shape[axis] for shape in output_shapes) != input_shape[axis]:
        raise ParameterError(f"split outputs {[list(s) for s in output_shapes]} do not add up to the input's "
                             f"{list(input_shape)} along axis {axis}")
    for quant in output_quants:
        if (f32(quant[0]), quant[1]) != (f32(input_quant[0]), input_quant[1]):
            raise ParameterError(f"split output quantization {quant} differs from the input's {input_quant}")
    return SplitParams(_nhwc_positions(rank)[axis])


@dataclass(frozen=True)
class UnpackParams:
    """UNPACK (C: wess_unpack_params_t): the blob's NHWC axis of the input that the outputs remove."""

    axis: int


def unpack_params(input_shape: tuple[int, ...], axis: int, output_shapes: list[tuple[int, ...]],
                  input_quant: tuple[float, int], output_quants: list[tuple[float, int]]) -> UnpackParams:
    """UNPACK along TFLite's `axis` (negative counts from the end) of an input of rank 1 to 4: one output per index
    along the axis, each the input's shape without it; the bytes are copied, so each output keeps the input's
    quantization (the converter gives them the same)."""
    return UnpackParams(_stacked_axis("unpack", input_shape, axis, output_shapes, input_quant, output_quants))


@dataclass(frozen=True)
class PackParams:
    """PACK (C: wess_pack_params_t): the blob's NHWC axis of the output that stacks the inputs."""

    axis: int


def pack_params(input_shapes: list[tuple[int, ...]], axis: int, output_shape: tuple[int, ...],
                input_quants: list[tuple[float, int]], output_quant: tuple[float, int]) -> PackParams:
    """PACK along TFLite's `axis` of the output (negative counts from the end) of rank 1 to 4: every input has the
    output's shape without that axis, one per index along it; the bytes are copied, so every input must have the
    output's quantization (the converter gives them the same)."""
    return PackParams(_stacked_axis("pack", output_shape, axis, input_shapes, output_quant, input_quants))


def _stacked_axis(op: str, stacked_shape: tuple[int, ...], axis: int, piece_shapes: list[tuple[int, ...]],
                  stacked_quant: tuple[float, int], piece_quants: list[tuple[float, int]]) -> int:
    """UNPACK's input / PACK's output (`stacked_shape`) holds the pieces along TFLite's `axis`, one per index, each
    its shape without the axis and its quantization: the blob's NHWC position of the axis."""
    rank = len(stacked_shape)
    if not -rank <= axis < rank:
        raise ParameterError(f"{op} axis {axis} of a rank-{rank} tensor")
    axis %= rank
    piece = tuple(stacked_shape[:axis]) + tuple(stacked_shape[axis + 1:])
    if len(piece_shapes) != stacked_shape[axis] or any(tuple(shape) != piece for shape in piece_shapes):
        raise ParameterError(f"{op} of {list(stacked_shape)} along axis {axis} has {len(piece_shapes)} pieces of "
                             f"shapes {sorted({tuple(int(d) for d in shape) for shape in piece_shapes})}; "
                             f"expected {stacked_shape[axis]} of {list(piece)}")
    for quant in piece_quants:
        if (f32(quant[0]), quant[1]) != (f32(stacked_quant[0]), stacked_quant[1]):
            raise ParameterError(f"{op} piece quantization {quant} differs from the stacked tensor's {stacked_quant}")
    return _nhwc_positions(rank)[axis]


@dataclass(frozen=True)
class PadNhwcParams:
    """PADV2, and PAD on any axis (C: wess_pad_nhwc_params_t): cells before and after each NHWC axis, their value."""

    pad_n_before: int
    pad_n_after: int
    pad_h_before: int
    pad_h_after: int
    pad_w_before: int
    pad_w_after: int
    pad_c_before: int
    pad_c_after: int
    pad_value: int


def pad_nhwc_params(paddings, pad_value: int, input_quant: tuple[float, int],
                    output_quant: tuple[float, int]) -> PadNhwcParams:
    """PAD / PADV2 by TFLite's paddings operand ([rank, 2]: before and after each axis of a rank 1..4 input) onto the
    NHWC dims. The input's bytes are copied, so the output must keep the input's quantization."""
    paddings = [(int(before), int(after)) for before, after in paddings]
    if min((min(pair) for pair in paddings), default=0) < 0:
        raise ParameterError(f"negative paddings {paddings}")
    if not -128 <= pad_value <= 127:
        raise ParameterError(f"pad value {pad_value} is not an int8")
    if (f32(input_quant[0]), input_quant[1]) != (f32(output_quant[0]), output_quant[1]):
        raise ParameterError(f"pad output quantization {output_quant} differs from the input's {input_quant}")
    nhwc_pairs = [(0, 0)] * 4
    for position, pair in zip(_nhwc_positions(len(paddings)), paddings):
        nhwc_pairs[position] = pair
    return PadNhwcParams(*(amount for pair in nhwc_pairs for amount in pair), pad_value)


REDUCE_SUM, REDUCE_MEAN, REDUCE_MEAN_SAME_QUANT = 0, 1, 2  # wess_reduce_sum_params_t.mode (WESS_REDUCE_* in C)


@dataclass(frozen=True)
class ReduceSumParams:
    """SUM, and MEAN over any axes (C: wess_reduce_sum_params_t)."""

    axes: ReduceParams
    quant: MeanParams
    mode: int


def reduce_sum_params(input_rank: int, axes, input_quant: tuple[float, int], output_quant: tuple[float, int],
                      mean: bool) -> ReduceSumParams:
    """SUM or MEAN over `axes` (reduced_nhwc_axes) as TFLite Micro's Prepare and Eval choose: QuantizeMultiplier(
    s_in / s_out) with the zero points; a MEAN whose input and output share scale and zero point is its integer
    Mean (no requantization)."""
    same = (f32(input_quant[0]), input_quant[1]) == (f32(output_quant[0]), output_quant[1])
    mode = (REDUCE_MEAN_SAME_QUANT if same else REDUCE_MEAN) if mean else REDUCE_SUM
    return ReduceSumParams(ReduceParams(*reduced_nhwc_axes(input_rank, axes)),
                           mean_params(*input_quant, *output_quant), mode)


SQUARED_DIFFERENCE_LEFT_SHIFT = 7  # TFLite's int8 SQUARED_DIFFERENCE: 255^2 * 2^14 fits int32


@dataclass(frozen=True)
class SquaredDifferenceParams:
    """SQUARED_DIFFERENCE (C: wess_squared_difference_params_t)."""

    input1_offset: int
    input2_offset: int
    output_offset: int
    input1_multiplier: int
    input1_right_shift: int
    input2_multiplier: int
    input2_right_shift: int
    output_multiplier: int
    output_right_shift: int


def squared_difference_params(input1_scale: float, input1_zero_point: int, input2_scale: float,
                              input2_zero_point: int, output_scale: float,
                              output_zero_point: int) -> SquaredDifferenceParams:
    """TFLite Micro's int8 SQUARED_DIFFERENCE Prepare (in double): inputs rescaled by s_i / (2 max(s1, s2)), the
    squared difference by (2 max(s1, s2))^2 / (2^14 s_out), 2^14 s_out formed in float32 as TFLite does."""
    twice_max_input_scale = 2.0 * max(divisor_scale(input1_scale, "input1"), divisor_scale(input2_scale, "input2"))
    input1 = smaller_than_one(f32(input1_scale) / twice_max_input_scale)
    input2 = smaller_than_one(f32(input2_scale) / twice_max_input_scale)
    shifted_output_scale = f32((1 << 2 * SQUARED_DIFFERENCE_LEFT_SHIFT) * divisor_scale(output_scale, "output"))
    output = multiplier_and_right_shift(twice_max_input_scale * twice_max_input_scale / shifted_output_scale)
    return SquaredDifferenceParams(-input1_zero_point, -input2_zero_point, output_zero_point, *input1, *input2,
                                   *output)


@dataclass(frozen=True)
class AbsParams:
    """ABS (C: wess_abs_params_t)."""

    input_zero_point: int
    output_zero_point: int
    multiplier: int
    right_shift: int


def abs_params(input_scale: float, input_zero_point: int, output_scale: float, output_zero_point: int) -> AbsParams:
    """TFLite Micro's elementwise Prepare for ABS: input_scale / output_scale divided in float32, then
    QuantizeMultiplier; with equal scales TFLite skips the rescale, which the ratio 1.0 (2^30, -1) reproduces."""
    output_scale = divisor_scale(output_scale, "output")
    ratio = 1.0 if f32(input_scale) == output_scale else float(np.float32(f32(input_scale)) / np.float32(output_scale))
    return AbsParams(input_zero_point, output_zero_point, *multiplier_and_right_shift(ratio))


@dataclass(frozen=True)
class BatchMatmulParams:
    """BATCH_MATMUL (C: wess_batch_matmul_params_t)."""

    lhs_offset: int
    rhs_offset: int
    output_zero_point: int
    multiplier: int
    right_shift: int
    batch_outer: int
    batch_inner: int
    lhs_batch_outer: int
    lhs_batch_inner: int
    rhs_batch_outer: int
    rhs_batch_inner: int
    rows: int
    depth: int
    cols: int
    lhs_transposed: int
    rhs_transposed: int


MAX_MATMUL_DEPTH = 33025  # WESS_MAX_MATMUL_DEPTH (wess_ref.h): 33025 * 255 * 255 < 2^31


def batch_matmul_params(lhs_shape: tuple[int, ...], rhs_shape: tuple[int, ...], adj_x: bool, adj_y: bool,
                        lhs_quant: tuple[float, int], rhs_quant: tuple[float, int],
                        output_quant: tuple[float, int]) -> BatchMatmulParams:
    """TFLite Micro's BatchMatMulPrepare, int8: lhs_scale * rhs_scale / output_scale in double, QuantizeMultiplier,
    no activation; batch axes (at most two before the matrices) broadcast from 1."""
    if not 2 <= len(lhs_shape) <= 4 or not 2 <= len(rhs_shape) <= 4:
        raise ParameterError(f"BATCH_MATMUL of ranks {len(lhs_shape)} and {len(rhs_shape)}: the kernel takes 2 to 4")
    lhs_batch = (1, 1, *lhs_shape[:-2])[-2:]
    rhs_batch = (1, 1, *rhs_shape[:-2])[-2:]
    batch = []
    for lhs_extent, rhs_extent in zip(lhs_batch, rhs_batch):
        if lhs_extent != rhs_extent and 1 not in (lhs_extent, rhs_extent):
            raise ParameterError(f"BATCH_MATMUL batch extents {list(lhs_shape[:-2])} and {list(rhs_shape[:-2])} "
                                 "do not broadcast")
        batch.append(max(lhs_extent, rhs_extent))
    rows, depth = (lhs_shape[-1], lhs_shape[-2]) if adj_x else (lhs_shape[-2], lhs_shape[-1])
    rhs_depth, cols = (rhs_shape[-1], rhs_shape[-2]) if adj_y else (rhs_shape[-2], rhs_shape[-1])
    if depth != rhs_depth:
        raise ParameterError(f"BATCH_MATMUL depths {depth} and {rhs_depth} differ")
    if depth > MAX_MATMUL_DEPTH:
        raise ParameterError(f"BATCH_MATMUL depth {depth} > {MAX_MATMUL_DEPTH}: its int32 accumulator could overflow")
    (lhs_scale, lhs_zero_point), (rhs_scale, rhs_zero_point) = lhs_quant, rhs_quant
    real_multiplier = f32(lhs_scale) * f32(rhs_scale) / divisor_scale(output_quant[0], "output")
    return BatchMatmulParams(-lhs_zero_point, -rhs_zero_point, output_quant[1],
                             *multiplier_and_right_shift(real_multiplier), *batch, *lhs_batch, *rhs_batch,
                             rows, depth, cols, int(adj_x), int(adj_y))
