"""One Python call per C reference kernel (ctypes into libwess_ref.so): numpy arrays in, the kernel's output out;
a status other than WESS_OK raises library.KernelError. The kernel tests call the C kernels through these."""
from __future__ import annotations

import ctypes
from dataclasses import astuple

import numpy as np

from . import kernel_params as kp
from . import kernel_params_ext as kpe
from .library import (AbsParams, AddParams, BatchMatmulParams, ConcatParams, ConvF32Params, ConvParams, DepthwiseF32Params, DepthwiseParams,
                      DequantizeParams, Dims, FIXEDPOINT_OPS, FullyConnectedF32Params,
                      FullyConnectedParams, HardSwishParams, LeakyReluParams, MeanParams,
                      MulParams, PackParams, PadNhwcParams, PadParams, PoolParams, PreluParams,
                      QuantizeParams, ReduceParams, ReduceSumParams, ReluParams, Requant,
                      ResizeParams, SigmoidParams, SliceParams, SoftmaxParams, SplitParams,
                      SquaredDifferenceParams, TransposeConvParams, TransposeParams,
                      UnpackParams, call_kernel, nhwc_dims, pointer)


def _requant(requant: kp.Requant) -> Requant:
    """ctypes Requant holding references to the arrays it points into."""
    multiplier = np.ascontiguousarray(requant.multiplier, dtype=np.int32)
    right_shift = np.ascontiguousarray(requant.right_shift, dtype=np.int32)
    if multiplier.shape != right_shift.shape or multiplier.ndim != 1:
        raise ValueError("multiplier and right_shift must be 1-D arrays of equal length")
    shifts = None if requant.channel_shift4 is None else np.ascontiguousarray(requant.channel_shift4, dtype=np.uint8)
    structure = Requant(pointer(multiplier, np.int32), pointer(right_shift, np.int32), multiplier.size,
                        pointer(shifts, np.uint8))
    structure.arrays = (multiplier, right_shift, shifts)  # keeps the memory alive as long as the structure
    return structure


def conv_2d(params: kp.ConvParams, requant: kp.Requant, input: np.ndarray, filter: np.ndarray,
            bias: np.ndarray | None, output_shape, kernel: str = "wess_conv_2d_s8") -> np.ndarray:
    """CONV_2D: input [1, H, W, I] int8, filter [O, KH, KW, I] int8 (I / groups with the kernel
    wess_conv_2d_grouped_s8), bias [O] int32 or None."""
    output = np.empty(output_shape, dtype=np.int8)
    call_kernel(kernel, ctypes.byref(ConvParams(*astuple(params))), ctypes.byref(_requant(requant)),
          ctypes.byref(nhwc_dims(input.shape)), pointer(input, np.int8), ctypes.byref(nhwc_dims(filter.shape)),
          pointer(filter, np.int8), pointer(bias, np.int32), ctypes.byref(nhwc_dims(output.shape)),
          pointer(output, np.int8))
    return output


def transpose_conv(params: kpe.TransposeConvParams, requant: kp.Requant, input: np.ndarray, filter: np.ndarray,
                   bias: np.ndarray | None, output_shape) -> np.ndarray:
    """TRANSPOSE_CONV: input [1, H, W, I] int8, filter [O, KH, KW, I] int8, bias [O] int32 or None."""
    output = np.empty(output_shape, dtype=np.int8)
    call_kernel("wess_transpose_conv_s8", ctypes.byref(TransposeConvParams(*astuple(params))),
          ctypes.byref(_requant(requant)), ctypes.byref(nhwc_dims(input.shape)), pointer(input, np.int8),
          ctypes.byref(nhwc_dims(filter.shape)), pointer(filter, np.int8), pointer(bias, np.int32),
          ctypes.byref(nhwc_dims(output.shape)), pointer(output, np.int8))
    return output


def depthwise_conv_2d(params: kp.DepthwiseParams, requant: kp.Requant, input: np.ndarray, filter: np.ndarray,
                      bias: np.ndarray | None, output_shape) -> np.ndarray:
    """DEPTHWISE_CONV_2D: input [1, H, W, I], filter [1, KH, KW, I * depth_multiplier], bias [O] or None."""
    output = np.empty(output_shape, dtype=np.int8)
    structure = DepthwiseParams(ConvParams(*astuple(params.conv)), params.depth_multiplier)
    call_kernel("wess_depthwise_conv_2d_s8", ctypes.byref(structure), ctypes.byref(_requant(requant)),
          ctypes.byref(nhwc_dims(input.shape)), pointer(input, np.int8), ctypes.byref(nhwc_dims(filter.shape)),
          pointer(filter, np.int8), pointer(bias, np.int32), ctypes.byref(nhwc_dims(output.shape)),
          pointer(output, np.int8))
    return output


def fully_connected(params: kp.FullyConnectedParams, requant: kp.Requant, input: np.ndarray, filter: np.ndarray,
                    bias: np.ndarray | None) -> np.ndarray:
    """FULLY_CONNECTED: input [B, I] int8, filter [O, I] int8, bias [O] int32 or None -> [B, O]."""
    output = np.empty((input.shape[0], filter.shape[0]), dtype=np.int8)
    call_kernel("wess_fully_connected_s8", ctypes.byref(FullyConnectedParams(*astuple(params))),
          ctypes.byref(_requant(requant)), ctypes.byref(nhwc_dims(input.shape)), pointer(input, np.int8),
          ctypes.byref(nhwc_dims(filter.shape)), pointer(filter, np.int8), pointer(bias, np.int32),
          ctypes.byref(nhwc_dims(output.shape)), pointer(output, np.int8))
    return output


def _packed_filter(filter_packed: np.ndarray, filter_shape) -> tuple[Dims, object]:
    """dims of the unpacked filter and a pointer to its packed bytes ((count + 1) // 2 uint8, checked)."""
    count = int(np.prod(filter_shape))
    if filter_packed.size != (count + 1) // 2:
        raise ValueError(f"{filter_packed.size} packed bytes for {count} 4-bit weights; expected {(count + 1) // 2}")
    return nhwc_dims(filter_shape), pointer(filter_packed, np.uint8)


def conv_2d_s4(params: kp.ConvParams, requant: kp.Requant, input: np.ndarray, filter_packed: np.ndarray,
               filter_shape, bias: np.ndarray | None, output_shape) -> np.ndarray:
    """CONV_2D with packed 4-bit weights: filter_packed uint8 (compact.pack_int4 of the [O, KH, KW, I] values)."""
    output = np.empty(output_shape, dtype=np.int8)
    filter_dims, filter_pointer = _packed_filter(filter_packed, filter_shape)
    call_kernel("wess_conv_2d_s4", ctypes.byref(ConvParams(*astuple(params))), ctypes.byref(_requant(requant)),
          ctypes.byref(nhwc_dims(input.shape)), pointer(input, np.int8), ctypes.byref(filter_dims), filter_pointer,
          pointer(bias, np.int32), ctypes.byref(nhwc_dims(output.shape)), pointer(output, np.int8))
    return output


def depthwise_conv_2d_s4(params: kp.DepthwiseParams, requant: kp.Requant, input: np.ndarray,
                         filter_packed: np.ndarray, filter_shape, bias: np.ndarray | None, output_shape) -> np.ndarray:
    """DEPTHWISE_CONV_2D with packed 4-bit weights (the [1, KH, KW, O] values packed)."""
    output = np.empty(output_shape, dtype=np.int8)
    filter_dims, filter_pointer = _packed_filter(filter_packed, filter_shape)
    structure = DepthwiseParams(ConvParams(*astuple(params.conv)), params.depth_multiplier)
    call_kernel("wess_depthwise_conv_2d_s4", ctypes.byref(structure), ctypes.byref(_requant(requant)),
          ctypes.byref(nhwc_dims(input.shape)), pointer(input, np.int8), ctypes.byref(filter_dims), filter_pointer,
          pointer(bias, np.int32), ctypes.byref(nhwc_dims(output.shape)), pointer(output, np.int8))
    return output


def fully_connected_s4(params: kp.FullyConnectedParams, requant: kp.Requant, input: np.ndarray,
                       filter_packed: np.ndarray, filter_shape, bias: np.ndarray | None) -> np.ndarray:
    """FULLY_CONNECTED with packed 4-bit weights (the [O, I] values packed) -> [B, O]."""
    output = np.empty((input.shape[0], int(filter_shape[0])), dtype=np.int8)
    filter_dims, filter_pointer = _packed_filter(filter_packed, filter_shape)
    call_kernel("wess_fully_connected_s4", ctypes.byref(FullyConnectedParams(*astuple(params))),
          ctypes.byref(_requant(requant)), ctypes.byref(nhwc_dims(input.shape)), pointer(input, np.int8),
          ctypes.byref(filter_dims), filter_pointer, pointer(bias, np.int32), ctypes.byref(nhwc_dims(output.shape)),
          pointer(output, np.int8))
    return output


def conv_2d_f32(params: kp.ConvF32Params, input: np.ndarray, filter: np.ndarray, bias: np.ndarray | None,
                output_shape) -> np.ndarray:
    """CONV_2D float32: input [1, H, W, I], filter [O, KH, KW, I], bias [O] or None (all float32)."""
    output = np.empty(output_shape, dtype=np.float32)
    call_kernel("wess_conv_2d_f32", ctypes.byref(ConvF32Params(*astuple(params))), ctypes.byref(nhwc_dims(input.shape)),
          pointer(input, np.float32), ctypes.byref(nhwc_dims(filter.shape)), pointer(filter, np.float32),
          pointer(bias, np.float32), ctypes.byref(nhwc_dims(output.shape)), pointer(output, np.float32))
    return output


def depthwise_conv_2d_f32(params: kp.DepthwiseF32Params, input: np.ndarray, filter: np.ndarray,
                          bias: np.ndarray | None, output_shape) -> np.ndarray:
    """DEPTHWISE_CONV_2D float32: input [1, H, W, I], filter [1, KH, KW, I * depth_multiplier], bias [O] or None."""
    output = np.empty(output_shape, dtype=np.float32)
    structure = DepthwiseF32Params(ConvF32Params(*astuple(params.conv)), params.depth_multiplier)
    call_kernel("wess_depthwise_conv_2d_f32", ctypes.byref(structure), ctypes.byref(nhwc_dims(input.shape)),
          pointer(input, np.float32), ctypes.byref(nhwc_dims(filter.shape)), pointer(filter, np.float32),
          pointer(bias, np.float32), ctypes.byref(nhwc_dims(output.shape)), pointer(output, np.float32))
    return output


def fully_connected_f32(params: kp.FullyConnectedF32Params, input: np.ndarray, filter: np.ndarray,
                        bias: np.ndarray | None) -> np.ndarray:
    """FULLY_CONNECTED float32: input [B, I], filter [O, I], bias [O] or None -> [B, O]."""
    output = np.empty((input.shape[0], filter.shape[0]), dtype=np.float32)
    call_kernel("wess_fully_connected_f32", ctypes.byref(FullyConnectedF32Params(*astuple(params))),
          ctypes.byref(nhwc_dims(input.shape)), pointer(input, np.float32), ctypes.byref(nhwc_dims(filter.shape)),
          pointer(filter, np.float32), pointer(bias, np.float32), ctypes.byref(nhwc_dims(output.shape)),
          pointer(output, np.float32))
    return output


def _add_or_sub(kernel: str, params: kp.AddParams, input1: np.ndarray, input2: np.ndarray) -> np.ndarray:
    output = np.empty(np.broadcast_shapes(input1.shape, input2.shape), dtype=np.int8)
    call_kernel(kernel, ctypes.byref(AddParams(*astuple(params))), ctypes.byref(nhwc_dims(input1.shape)),
          pointer(input1, np.int8), ctypes.byref(nhwc_dims(input2.shape)), pointer(input2, np.int8),
          ctypes.byref(nhwc_dims(output.shape)), pointer(output, np.int8))
    return output


def add(params: kp.AddParams, input1: np.ndarray, input2: np.ndarray) -> np.ndarray:
    """ADD int8, the inputs broadcast as numpy does (rank <= 4, padded to NHWC)."""
    return _add_or_sub("wess_add_s8", params, input1, input2)


def sub(params: kp.AddParams, input1: np.ndarray, input2: np.ndarray) -> np.ndarray:
    """SUB int8 (input1 - input2), broadcast as ADD."""
    return _add_or_sub("wess_sub_s8", params, input1, input2)


def _pool(kernel: str, params: kp.PoolParams, input: np.ndarray, output_shape) -> np.ndarray:
    output = np.empty(output_shape, dtype=np.int8)
    call_kernel(kernel, ctypes.byref(PoolParams(*astuple(params))), ctypes.byref(nhwc_dims(input.shape)),
          pointer(input, np.int8), ctypes.byref(nhwc_dims(output.shape)), pointer(output, np.int8))
    return output


def average_pool_2d(params: kp.PoolParams, input: np.ndarray, output_shape) -> np.ndarray:
    """AVERAGE_POOL_2D: input [1, H, W, C] int8 -> output_shape [1, OH, OW, C]."""
    return _pool("wess_average_pool_2d_s8", params, input, output_shape)


def max_pool_2d(params: kp.PoolParams, input: np.ndarray, output_shape) -> np.ndarray:
    """MAX_POOL_2D: input [1, H, W, C] int8 -> output_shape [1, OH, OW, C]."""
    return _pool("wess_max_pool_2d_s8", params, input, output_shape)


def mean_hw(params: kp.MeanParams, input: np.ndarray) -> np.ndarray:
    """MEAN over H and W: input [1, H, W, C] int8 -> [1, 1, 1, C]."""
    output = np.empty((1, 1, 1, input.shape[-1]), dtype=np.int8)
    call_kernel("wess_mean_hw_s8", ctypes.byref(MeanParams(*astuple(params))), ctypes.byref(nhwc_dims(input.shape)),
          pointer(input, np.int8), ctypes.byref(nhwc_dims(output.shape)), pointer(output, np.int8))
    return output


def pad(params: kp.PadParams, input: np.ndarray) -> np.ndarray:
    """PAD of H and W: input [1, H, W, C] int8."""
    batch, height, width, depth = input.shape
    output = np.empty((batch, params.pad_top + height + params.pad_bottom, params.pad_left + width + params.pad_right,
                       depth), dtype=np.int8)
    call_kernel("wess_pad_s8", ctypes.byref(PadParams(*astuple(params))), ctypes.byref(nhwc_dims(input.shape)),
          pointer(input, np.int8), ctypes.byref(nhwc_dims(output.shape)), pointer(output, np.int8))
    return output


def concatenation(inputs: list[np.ndarray]) -> np.ndarray:
    """CONCATENATION along channels of int8 tensors [1, H, W, C_i] sharing one quantization."""
    output = np.empty(inputs[0].shape[:-1] + (sum(array.shape[-1] for array in inputs),), dtype=np.int8)
    dims = (Dims * len(inputs))(*(nhwc_dims(array.shape) for array in inputs))
    pointers = (ctypes.POINTER(ctypes.c_int8) * len(inputs))(*(pointer(array, np.int8) for array in inputs))
    call_kernel("wess_concatenation_s8", ctypes.byref(ConcatParams(len(inputs))), dims, pointers,
          ctypes.byref(nhwc_dims(output.shape)), pointer(output, np.int8))
    return output


def softmax(params: kp.SoftmaxParams, input: np.ndarray) -> np.ndarray:
    """SOFTMAX over the last axis: int8 -> int8 (scale 1/256, zero point -128)."""
    output = np.empty(input.shape, dtype=np.int8)
    call_kernel("wess_softmax_s8", ctypes.byref(SoftmaxParams(*astuple(params))), ctypes.byref(nhwc_dims(input.shape)),
          pointer(input, np.int8), ctypes.byref(nhwc_dims(output.shape)), pointer(output, np.int8))
    return output


def mul(params: kp.MulParams, input1: np.ndarray, input2: np.ndarray) -> np.ndarray:
    """MUL int8, the inputs broadcast as numpy does (rank <= 4, padded to NHWC)."""
    output = np.empty(np.broadcast_shapes(input1.shape, input2.shape), dtype=np.int8)
    call_kernel("wess_mul_s8", ctypes.byref(MulParams(*astuple(params))), ctypes.byref(nhwc_dims(input1.shape)),
          pointer(input1, np.int8), ctypes.byref(nhwc_dims(input2.shape)), pointer(input2, np.int8),
          ctypes.byref(nhwc_dims(output.shape)), pointer(output, np.int8))
    return output


def prelu(params: kpe.PreluParams, input: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """PRELU int8, input and alpha broadcast as numpy does (rank <= 4, padded to NHWC)."""
    output = np.empty(np.broadcast_shapes(input.shape, alpha.shape), dtype=np.int8)
    call_kernel("wess_prelu_s8", ctypes.byref(PreluParams(*astuple(params))), ctypes.byref(nhwc_dims(input.shape)),
          pointer(input, np.int8), ctypes.byref(nhwc_dims(alpha.shape)), pointer(alpha, np.int8),
          ctypes.byref(nhwc_dims(output.shape)), pointer(output, np.int8))
    return output


def maximum_minimum(op: str, input1: np.ndarray, input2: np.ndarray) -> np.ndarray:
    """MAXIMUM or MINIMUM (op) int8, the inputs broadcast as numpy does (rank <= 4, padded to NHWC)."""
    kernel = {"MAXIMUM": "wess_maximum_s8", "MINIMUM": "wess_minimum_s8"}[op]
    output = np.empty(np.broadcast_shapes(input1.shape, input2.shape), dtype=np.int8)
    call_kernel(kernel, ctypes.byref(nhwc_dims(input1.shape)), pointer(input1, np.int8), ctypes.byref(nhwc_dims(input2.shape)),
          pointer(input2, np.int8), ctypes.byref(nhwc_dims(output.shape)), pointer(output, np.int8))
    return output


def squared_difference(params: kpe.SquaredDifferenceParams, input1: np.ndarray, input2: np.ndarray) -> np.ndarray:
    """SQUARED_DIFFERENCE int8, the inputs broadcast as numpy does (rank <= 4, padded to NHWC)."""
    output = np.empty(np.broadcast_shapes(input1.shape, input2.shape), dtype=np.int8)
    call_kernel("wess_squared_difference_s8", ctypes.byref(SquaredDifferenceParams(*astuple(params))),
          ctypes.byref(nhwc_dims(input1.shape)), pointer(input1, np.int8), ctypes.byref(nhwc_dims(input2.shape)),
          pointer(input2, np.int8), ctypes.byref(nhwc_dims(output.shape)), pointer(output, np.int8))
    return output


def transpose(params: kpe.TransposeParams, input: np.ndarray) -> np.ndarray:
    """TRANSPOSE int8 of a 4-D NHWC input: output axis j runs along input axis params' perm_j."""
    perm = astuple(params)
    output = np.empty([input.shape[axis] for axis in perm], np.int8)
    call_kernel("wess_transpose_s8", ctypes.byref(TransposeParams(*perm)), ctypes.byref(nhwc_dims(input.shape)),
          pointer(input, np.int8), ctypes.byref(nhwc_dims(output.shape)), pointer(output, np.int8))
    return output


def pad_nhwc(params: kpe.PadNhwcParams, input: np.ndarray) -> np.ndarray:
    """PADV2 int8 of a 4-D NHWC input: each axis grows by its before and after cells, filled with pad_value."""
    amounts = astuple(params)[:8]
    output = np.empty([extent + amounts[2 * axis] + amounts[2 * axis + 1] for axis, extent in enumerate(input.shape)],
                      np.int8)
    call_kernel("wess_pad_nhwc_s8", ctypes.byref(PadNhwcParams(*astuple(params))), ctypes.byref(nhwc_dims(input.shape)),
          pointer(input, np.int8), ctypes.byref(nhwc_dims(output.shape)), pointer(output, np.int8))
    return output


def reduce_sum(params: kpe.ReduceSumParams, input: np.ndarray) -> np.ndarray:
    """SUM / MEAN int8 of a 4-D NHWC input over the axes params marks, with keep_dims (reduced axes of extent 1)."""
    output = np.empty([1 if reduced else extent for extent, reduced in zip(input.shape, astuple(params.axes))],
                      np.int8)
    structure = ReduceSumParams(ReduceParams(*astuple(params.axes)), MeanParams(*astuple(params.quant)), params.mode)
    call_kernel("wess_reduce_sum_s8", ctypes.byref(structure), ctypes.byref(nhwc_dims(input.shape)), pointer(input, np.int8),
          ctypes.byref(nhwc_dims(output.shape)), pointer(output, np.int8))
    return output


def split(params: kpe.SplitParams, input: np.ndarray, extents: list[int]) -> list[np.ndarray]:
    """SPLIT int8 of a 4-D NHWC input along params' axis into pieces of the given extents."""
    outputs = []
    for extent in extents:
        shape = list(input.shape)
        shape[params.axis] = extent
        outputs.append(np.empty(shape, np.int8))
    dims = (Dims * len(outputs))(*(nhwc_dims(output.shape) for output in outputs))
    pointers = (ctypes.POINTER(ctypes.c_int8) * len(outputs))(*(pointer(output, np.int8) for output in outputs))
    call_kernel("wess_split_s8", ctypes.byref(SplitParams(params.axis)), ctypes.byref(nhwc_dims(input.shape)),
          pointer(input, np.int8), len(outputs), dims, pointers)
    return outputs


def unpack(params: kpe.UnpackParams, input: np.ndarray, output_index: int,
           output_shape: tuple[int, ...] | None = None) -> np.ndarray:
    """UNPACK int8 of a 4-D NHWC input: the slice at output_index along params' axis, in an array of output_shape
    (default: the input's shape with that axis of extent 1)."""
    shape = list(input.shape)
    shape[params.axis] = 1
    output = np.empty(output_shape if output_shape is not None else shape, np.int8)
    call_kernel("wess_unpack_s8", ctypes.byref(UnpackParams(params.axis)), ctypes.byref(nhwc_dims(input.shape)),
          pointer(input, np.int8), output_index, ctypes.byref(nhwc_dims(output.shape)), pointer(output, np.int8))
    return output


def pack(params: kpe.PackParams, inputs: list[np.ndarray], output_shape: tuple[int, ...]) -> np.ndarray:
    """PACK int8: each input written, in order, as the slice of a 4-D NHWC output of output_shape at its index
    along params' axis (the bytes the inputs leave unwritten stay zero)."""
    output = np.zeros(output_shape, np.int8)
    for index, input in enumerate(inputs):
        call_kernel("wess_pack_s8", ctypes.byref(PackParams(params.axis)), index, ctypes.byref(nhwc_dims(input.shape)),
              pointer(input, np.int8), ctypes.byref(nhwc_dims(output.shape)), pointer(output, np.int8))
    return output


def reduce_max(params: kpe.ReduceParams, input: np.ndarray) -> np.ndarray:
    """REDUCE_MAX int8 of a 4-D NHWC input over the axes params marks, with keep_dims (reduced axes of extent 1)."""
    output = np.empty([1 if reduced else extent for extent, reduced in zip(input.shape, astuple(params))], np.int8)
    call_kernel("wess_reduce_max_s8", ctypes.byref(ReduceParams(*astuple(params))), ctypes.byref(nhwc_dims(input.shape)),
          pointer(input, np.int8), ctypes.byref(nhwc_dims(output.shape)), pointer(output, np.int8))
    return output


def resize(op: str, params: kpe.ResizeParams, input: np.ndarray, output_hw: tuple[int, int]) -> np.ndarray:
    """RESIZE_BILINEAR or RESIZE_NEAREST_NEIGHBOR (op) int8 of a 4-D NHWC input to output_hw (H, W)."""
    kernel = {"RESIZE_BILINEAR": "wess_resize_bilinear_s8",
              "RESIZE_NEAREST_NEIGHBOR": "wess_resize_nearest_neighbor_s8"}[op]
    output = np.empty((input.shape[0], *output_hw, input.shape[3]), np.int8)
    call_kernel(kernel, ctypes.byref(ResizeParams(*astuple(params))), ctypes.byref(nhwc_dims(input.shape)),
          pointer(input, np.int8), ctypes.byref(nhwc_dims(output.shape)), pointer(output, np.int8))
    return output


def strided_slice(params: kpe.SliceParams, input: np.ndarray) -> np.ndarray:
    """STRIDED_SLICE / SLICE int8 of a 4-D NHWC input: the output's shape is the params' counts."""
    output = np.empty((params.count_n, params.count_h, params.count_w, params.count_c), np.int8)
    call_kernel("wess_strided_slice_s8", ctypes.byref(SliceParams(*astuple(params))), ctypes.byref(nhwc_dims(input.shape)),
          pointer(input, np.int8), ctypes.byref(nhwc_dims(output.shape)), pointer(output, np.int8))
    return output


ELEMENTWISE_KERNELS = {  # op name -> (ctypes parameter struct, kernel) of the int8 elementwise activations
    "LOGISTIC": (SigmoidParams, "wess_logistic_s8"), "TANH": (SigmoidParams, "wess_tanh_s8"),
    "RELU": (ReluParams, "wess_relu_s8"), "LEAKY_RELU": (LeakyReluParams, "wess_leaky_relu_s8"),
    "HARD_SWISH": (HardSwishParams, "wess_hard_swish_s8"), "ABS": (AbsParams, "wess_abs_s8"),
}


def elementwise(op: str, params, input: np.ndarray) -> np.ndarray:
    """An int8 elementwise activation (ELEMENTWISE_KERNELS; RELU6 is RELU's kernel) of any shape of rank <= 4."""
    struct, kernel = ELEMENTWISE_KERNELS[op]
    output = np.empty(input.shape, dtype=np.int8)
    call_kernel(kernel, ctypes.byref(struct(*astuple(params))), ctypes.byref(nhwc_dims(input.shape)), pointer(input, np.int8),
          ctypes.byref(nhwc_dims(output.shape)), pointer(output, np.int8))
    return output


def quantize(params: kp.QuantizeParams, input: np.ndarray) -> np.ndarray:
    """QUANTIZE float32 -> int8 (rank <= 4)."""
    output = np.empty(input.shape, dtype=np.int8)
    call_kernel("wess_quantize_f32_s8", ctypes.byref(QuantizeParams(*astuple(params))), ctypes.byref(nhwc_dims(input.shape)),
          pointer(input, np.float32), ctypes.byref(nhwc_dims(output.shape)), pointer(output, np.int8))
    return output


def dequantize(params: kp.DequantizeParams, input: np.ndarray) -> np.ndarray:
    """DEQUANTIZE int8 -> float32 (rank <= 4)."""
    output = np.empty(input.shape, dtype=np.float32)
    call_kernel("wess_dequantize_s8_f32", ctypes.byref(DequantizeParams(*astuple(params))),
          ctypes.byref(nhwc_dims(input.shape)), pointer(input, np.int8), ctypes.byref(nhwc_dims(output.shape)),
          pointer(output, np.float32))
    return output


def _int32_array(values) -> np.ndarray:
    """Contiguous int32 copy of integer values, refusing values outside int32 instead of wrapping them."""
    array = np.asarray(values)
    if array.size and (array.min() < np.iinfo(np.int32).min or array.max() > np.iinfo(np.int32).max):
        raise ValueError("values outside int32")
    return np.ascontiguousarray(array, dtype=np.int32)


def fixedpoint_batch(op: str, a: np.ndarray, b: np.ndarray, c: np.ndarray | None = None) -> np.ndarray:
    """One fixed-point primitive ('srdhm', 'rdbpot', 'mbqm', 'requantize', 'srdhm_nonnegative') over int32 arrays, in C."""
    a, b = _int32_array(a), _int32_array(b)
    c = None if c is None else _int32_array(c)
    if b.shape != a.shape or (c is not None and c.shape != a.shape):
        raise ValueError("a, b and c must have one shape")
    output = np.empty(a.shape, dtype=np.int32)
    call_kernel("wess_fixedpoint_batch", FIXEDPOINT_OPS[op], pointer(a, np.int32), pointer(b, np.int32),
          pointer(c, np.int32), pointer(output, np.int32), a.size)
    return output


# ---------------------------------------------------------------- whole-model runner


def batch_matmul(params: kpe.BatchMatmulParams, lhs: np.ndarray, rhs: np.ndarray) -> np.ndarray:
    """BATCH_MATMUL int8 of two operands of rank 2..4 (their dims: the flat element counts); the output is
    [batch_outer, batch_inner, rows, cols]."""
    output = np.empty((params.batch_outer, params.batch_inner, params.rows, params.cols), np.int8)
    call_kernel("wess_batch_matmul_s8", ctypes.byref(BatchMatmulParams(*astuple(params))),
                ctypes.byref(nhwc_dims((1, 1, 1, lhs.size))), pointer(lhs, np.int8),
                ctypes.byref(nhwc_dims((1, 1, 1, rhs.size))), pointer(rhs, np.int8),
                ctypes.byref(nhwc_dims(output.shape)), pointer(output, np.int8))
    return output
