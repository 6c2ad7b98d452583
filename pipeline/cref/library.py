"""ctypes bindings of the firmware_ref C reference kernels and model runner (libwess_ref.so; WESS_REF_LIB overrides)."""
from __future__ import annotations

import ctypes
import functools
import os
from dataclasses import astuple
from pathlib import Path

import numpy as np

from pipeline import resources
from pipeline.errors import InputError, WessError

from . import kernel_params as kp
from . import kernel_params_ext as kpe

STATUS_NAMES = {0: "WESS_OK", 1: "WESS_ERR_BAD_ARG", 2: "WESS_ERR_BAD_SHAPE", 3: "WESS_ERR_UNSUPPORTED",
                4: "WESS_ERR_TRUNCATED", 5: "WESS_ERR_BAD_MAGIC", 6: "WESS_ERR_BAD_VERSION", 7: "WESS_ERR_BAD_OFFSET",
                8: "WESS_ERR_BAD_TENSOR", 9: "WESS_ERR_BAD_OP", 10: "WESS_ERR_ARENA_TOO_SMALL",
                11: "WESS_ERR_BAD_ALIGNMENT", 12: "WESS_ERR_CALLBACK"}
STATUS_MEANINGS = {
    1: "a NULL pointer or a parameter outside its range", 2: "inconsistent tensor dimensions",
    3: "a case the kernels do not implement", 4: "the blob is shorter than its header or its declared size",
    5: "not a compact model blob (bad magic)", 6: "format version other than the one this library reads",
    7: "an offset or size points outside its section of the blob", 8: "a tensor index out of range or a tensor of "
    "the wrong type, storage or size", 9: "an op record of unknown op code or wrong tensor/parameter count",
    10: "the arena is smaller than the model needs", 11: "blob or arena not 4-byte aligned",
    12: "the tensor callback stopped the run"}
FIXEDPOINT_OPS = {"srdhm": 0, "rdbpot": 1, "mbqm": 2, "requantize": 3, "srdhm_nonnegative": 4}  # wess_fixedpoint_op_t

_int32 = ctypes.c_int32


class KernelError(RuntimeError):
    """A C kernel returned a status other than WESS_OK."""

    def __init__(self, kernel: str, status: int):
        self.kernel = kernel
        self.status = status
        super().__init__(f"{kernel} returned {STATUS_NAMES.get(status, status)}")


def _struct(name: str, field_names: list[str], field_type=_int32) -> type[ctypes.Structure]:
    return type(name, (ctypes.Structure,), {"_fields_": [(field, field_type) for field in field_names]})


Dims = _struct("Dims", ["n", "h", "w", "c"])
ConvParams = _struct("ConvParams", list(kp.ConvParams.__dataclass_fields__))
DepthwiseParams = type("DepthwiseParams", (ctypes.Structure,),
                       {"_fields_": [("conv", ConvParams), ("depth_multiplier", _int32)]})
FullyConnectedParams = _struct("FullyConnectedParams", list(kp.FullyConnectedParams.__dataclass_fields__))
AddParams = _struct("AddParams", list(kp.AddParams.__dataclass_fields__))
PoolParams = _struct("PoolParams", list(kp.PoolParams.__dataclass_fields__))
MeanParams = _struct("MeanParams", list(kp.MeanParams.__dataclass_fields__))
PadParams = _struct("PadParams", list(kp.PadParams.__dataclass_fields__))
ConcatParams = _struct("ConcatParams", list(kp.ConcatParams.__dataclass_fields__))
SoftmaxParams = _struct("SoftmaxParams", list(kp.SoftmaxParams.__dataclass_fields__))
HardSwishParams = _struct("HardSwishParams", list(kp.HardSwishParams.__dataclass_fields__))
MulParams = _struct("MulParams", list(kp.MulParams.__dataclass_fields__))
SigmoidParams = _struct("SigmoidParams", list(kp.SigmoidParams.__dataclass_fields__))
ReluParams = _struct("ReluParams", list(kp.ReluParams.__dataclass_fields__))
LeakyReluParams = _struct("LeakyReluParams", list(kp.LeakyReluParams.__dataclass_fields__))
PreluParams = _struct("PreluParams", list(kpe.PreluParams.__dataclass_fields__))
ReduceParams = _struct("ReduceParams", list(kpe.ReduceParams.__dataclass_fields__))
PadNhwcParams = _struct("PadNhwcParams", list(kpe.PadNhwcParams.__dataclass_fields__))
ReduceSumParams = type("ReduceSumParams", (ctypes.Structure,),
                       {"_fields_": [("axes", ReduceParams), ("quant", MeanParams), ("mode", _int32)]})
SquaredDifferenceParams = _struct("SquaredDifferenceParams", list(kpe.SquaredDifferenceParams.__dataclass_fields__))
SplitParams = _struct("SplitParams", list(kpe.SplitParams.__dataclass_fields__))
UnpackParams = _struct("UnpackParams", list(kpe.UnpackParams.__dataclass_fields__))
PackParams = _struct("PackParams", list(kpe.PackParams.__dataclass_fields__))
TransposeParams = _struct("TransposeParams", list(kpe.TransposeParams.__dataclass_fields__))
ResizeParams = _struct("ResizeParams", list(kpe.ResizeParams.__dataclass_fields__))
SliceParams = _struct("SliceParams", list(kpe.SliceParams.__dataclass_fields__))
TransposeConvParams = _struct("TransposeConvParams", list(kpe.TransposeConvParams.__dataclass_fields__))
QuantizeParams = type("QuantizeParams", (ctypes.Structure,),
                      {"_fields_": [("output_scale", ctypes.c_float), ("output_zero_point", _int32)]})
DequantizeParams = type("DequantizeParams", (ctypes.Structure,),
                        {"_fields_": [("input_scale", ctypes.c_float), ("input_zero_point", _int32)]})
ConvF32Params = type("ConvF32Params", (ctypes.Structure,), {"_fields_": [
    *((name, _int32) for name in ("stride_y", "stride_x", "dilation_y", "dilation_x", "pad_top", "pad_left")),
    ("act_min", ctypes.c_float), ("act_max", ctypes.c_float)]})
DepthwiseF32Params = type("DepthwiseF32Params", (ctypes.Structure,),
                          {"_fields_": [("conv", ConvF32Params), ("depth_multiplier", _int32)]})
FullyConnectedF32Params = _struct("FullyConnectedF32Params", ["act_min", "act_max"], ctypes.c_float)
Requant = type("Requant", (ctypes.Structure,), {"_fields_": [
    ("multiplier", ctypes.POINTER(_int32)), ("right_shift", ctypes.POINTER(_int32)),
    ("multiplier_count", _int32), ("channel_shift4", ctypes.POINTER(ctypes.c_uint8))]})


OpInfo = type("OpInfo", (ctypes.Structure,), {"_fields_": [
    ("op_code", ctypes.c_uint32), ("name", ctypes.c_char_p), ("min_inputs", ctypes.c_uint32),
    ("max_inputs", ctypes.c_uint32), ("min_outputs", ctypes.c_uint32), ("max_outputs", ctypes.c_uint32),
    ("input_types", ctypes.c_uint32 * 3),
    ("output_type", ctypes.c_uint32), ("optional_input", _int32), ("param_words", ctypes.c_uint32),
    ("params_struct", ctypes.c_char_p), ("requant_words", ctypes.c_uint32)]})
ModelInfo = type("ModelInfo", (ctypes.Structure,), {"_fields_": [
    ("tensor_count", ctypes.c_uint32), ("op_count", ctypes.c_uint32), ("arena_bytes", ctypes.c_uint32),
    ("input_bytes", ctypes.c_uint32), ("output_bytes", ctypes.c_uint32), ("error_tensor", _int32),
    ("error_op", _int32)]})
TensorCallback = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p, _int32, _int32, _int32, ctypes.c_void_p,
                                  ctypes.c_uint32)
RunHooks = type("RunHooks", (ctypes.Structure,), {"_fields_": [
    ("tensor_callback", TensorCallback), ("user", ctypes.c_void_p), ("failed_op", _int32)]})


def library_path() -> Path:
    """The path in the environment variable WESS_REF_LIB (e.g. the asan build), else resources.reference_library()."""
    return Path(os.environ.get("WESS_REF_LIB") or resources.reference_library())


@functools.cache
def load_library() -> ctypes.CDLL:
    """The reference-kernel library; raises FileNotFoundError naming the make command if it is not built."""
    path = library_path()
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found: {resources.library_hint()}")
    library = ctypes.CDLL(str(path))
    for name in ("wess_conv_2d_s8", "wess_depthwise_conv_2d_s8", "wess_fully_connected_s8", "wess_conv_2d_s4",
                 "wess_depthwise_conv_2d_s4", "wess_fully_connected_s4", "wess_conv_2d_f32",
                 "wess_depthwise_conv_2d_f32", "wess_fully_connected_f32", "wess_add_s8",
                 "wess_average_pool_2d_s8", "wess_max_pool_2d_s8", "wess_mean_hw_s8", "wess_pad_s8",
                 "wess_concatenation_s8", "wess_softmax_s8", "wess_mul_s8", "wess_logistic_s8", "wess_hard_swish_s8", "wess_tanh_s8",
                 "wess_relu_s8", "wess_leaky_relu_s8", "wess_quantize_f32_s8", "wess_dequantize_s8_f32",
                 "wess_prelu_s8", "wess_maximum_s8", "wess_minimum_s8", "wess_reduce_max_s8",
                 "wess_resize_bilinear_s8", "wess_resize_nearest_neighbor_s8", "wess_strided_slice_s8",
                 "wess_transpose_conv_s8",
                 "wess_fixedpoint_batch", "wess_model_validate", "wess_model_run_batch", "wess_op_info"):
        getattr(library, name).restype = ctypes.c_int
    return library


def _call(kernel: str, *arguments) -> None:
    status = getattr(load_library(), kernel)(*arguments)
    if status != 0:
        raise KernelError(kernel, status)


def _pointer(array: np.ndarray | None, dtype):
    """Pointer to a C-contiguous array of exactly `dtype` (no silent casts), or NULL for None."""
    if array is None:
        return None
    if array.dtype != dtype:
        raise TypeError(f"expected {np.dtype(dtype)} array, got {array.dtype}")
    if not array.flags.c_contiguous:
        raise ValueError("array must be C-contiguous")
    return array.ctypes.data_as(ctypes.POINTER(np.ctypeslib.as_ctypes_type(dtype)))


def _dims(shape) -> Dims:
    """NHWC dims of a shape of rank <= 4, padded with leading ones; rank 2 (batches, depth) maps to [b, 1, 1, d]."""
    shape = tuple(int(extent) for extent in shape)
    if len(shape) > 4:
        raise ValueError(f"rank {len(shape)} > 4")
    if len(shape) == 2:
        return Dims(shape[0], 1, 1, shape[1])
    return Dims(*((1,) * (4 - len(shape)) + shape))


def _requant(requant: kp.Requant) -> Requant:
    """ctypes Requant holding references to the arrays it points into."""
    multiplier = np.ascontiguousarray(requant.multiplier, dtype=np.int32)
    right_shift = np.ascontiguousarray(requant.right_shift, dtype=np.int32)
    if multiplier.shape != right_shift.shape or multiplier.ndim != 1:
        raise ValueError("multiplier and right_shift must be 1-D arrays of equal length")
    shifts = None if requant.channel_shift4 is None else np.ascontiguousarray(requant.channel_shift4, dtype=np.uint8)
    structure = Requant(_pointer(multiplier, np.int32), _pointer(right_shift, np.int32), multiplier.size,
                        _pointer(shifts, np.uint8))
    structure.arrays = (multiplier, right_shift, shifts)  # keeps the memory alive as long as the structure
    return structure


def conv_2d(params: kp.ConvParams, requant: kp.Requant, input: np.ndarray, filter: np.ndarray,
            bias: np.ndarray | None, output_shape) -> np.ndarray:
    """CONV_2D: input [1, H, W, I] int8, filter [O, KH, KW, I] int8, bias [O] int32 or None."""
    output = np.empty(output_shape, dtype=np.int8)
    _call("wess_conv_2d_s8", ctypes.byref(ConvParams(*astuple(params))), ctypes.byref(_requant(requant)),
          ctypes.byref(_dims(input.shape)), _pointer(input, np.int8), ctypes.byref(_dims(filter.shape)),
          _pointer(filter, np.int8), _pointer(bias, np.int32), ctypes.byref(_dims(output.shape)),
          _pointer(output, np.int8))
    return output


def transpose_conv(params: kpe.TransposeConvParams, requant: kp.Requant, input: np.ndarray, filter: np.ndarray,
                   bias: np.ndarray | None, output_shape) -> np.ndarray:
    """TRANSPOSE_CONV: input [1, H, W, I] int8, filter [O, KH, KW, I] int8, bias [O] int32 or None."""
    output = np.empty(output_shape, dtype=np.int8)
    _call("wess_transpose_conv_s8", ctypes.byref(TransposeConvParams(*astuple(params))),
          ctypes.byref(_requant(requant)), ctypes.byref(_dims(input.shape)), _pointer(input, np.int8),
          ctypes.byref(_dims(filter.shape)), _pointer(filter, np.int8), _pointer(bias, np.int32),
          ctypes.byref(_dims(output.shape)), _pointer(output, np.int8))
    return output


def depthwise_conv_2d(params: kp.DepthwiseParams, requant: kp.Requant, input: np.ndarray, filter: np.ndarray,
                      bias: np.ndarray | None, output_shape) -> np.ndarray:
    """DEPTHWISE_CONV_2D: input [1, H, W, I], filter [1, KH, KW, I * depth_multiplier], bias [O] or None."""
    output = np.empty(output_shape, dtype=np.int8)
    structure = DepthwiseParams(ConvParams(*astuple(params.conv)), params.depth_multiplier)
    _call("wess_depthwise_conv_2d_s8", ctypes.byref(structure), ctypes.byref(_requant(requant)),
          ctypes.byref(_dims(input.shape)), _pointer(input, np.int8), ctypes.byref(_dims(filter.shape)),
          _pointer(filter, np.int8), _pointer(bias, np.int32), ctypes.byref(_dims(output.shape)),
          _pointer(output, np.int8))
    return output


def fully_connected(params: kp.FullyConnectedParams, requant: kp.Requant, input: np.ndarray, filter: np.ndarray,
                    bias: np.ndarray | None) -> np.ndarray:
    """FULLY_CONNECTED: input [B, I] int8, filter [O, I] int8, bias [O] int32 or None -> [B, O]."""
    output = np.empty((input.shape[0], filter.shape[0]), dtype=np.int8)
    _call("wess_fully_connected_s8", ctypes.byref(FullyConnectedParams(*astuple(params))),
          ctypes.byref(_requant(requant)), ctypes.byref(_dims(input.shape)), _pointer(input, np.int8),
          ctypes.byref(_dims(filter.shape)), _pointer(filter, np.int8), _pointer(bias, np.int32),
          ctypes.byref(_dims(output.shape)), _pointer(output, np.int8))
    return output


def _packed_filter(filter_packed: np.ndarray, filter_shape) -> tuple[Dims, object]:
    """dims of the unpacked filter and a pointer to its packed bytes ((count + 1) // 2 uint8, checked)."""
    count = int(np.prod(filter_shape))
    if filter_packed.size != (count + 1) // 2:
        raise ValueError(f"{filter_packed.size} packed bytes for {count} 4-bit weights; expected {(count + 1) // 2}")
    return _dims(filter_shape), _pointer(filter_packed, np.uint8)


def conv_2d_s4(params: kp.ConvParams, requant: kp.Requant, input: np.ndarray, filter_packed: np.ndarray,
               filter_shape, bias: np.ndarray | None, output_shape) -> np.ndarray:
    """CONV_2D with packed 4-bit weights: filter_packed uint8 (compact.pack_int4 of the [O, KH, KW, I] values)."""
    output = np.empty(output_shape, dtype=np.int8)
    filter_dims, filter_pointer = _packed_filter(filter_packed, filter_shape)
    _call("wess_conv_2d_s4", ctypes.byref(ConvParams(*astuple(params))), ctypes.byref(_requant(requant)),
          ctypes.byref(_dims(input.shape)), _pointer(input, np.int8), ctypes.byref(filter_dims), filter_pointer,
          _pointer(bias, np.int32), ctypes.byref(_dims(output.shape)), _pointer(output, np.int8))
    return output


def depthwise_conv_2d_s4(params: kp.DepthwiseParams, requant: kp.Requant, input: np.ndarray,
                         filter_packed: np.ndarray, filter_shape, bias: np.ndarray | None, output_shape) -> np.ndarray:
    """DEPTHWISE_CONV_2D with packed 4-bit weights (the [1, KH, KW, O] values packed)."""
    output = np.empty(output_shape, dtype=np.int8)
    filter_dims, filter_pointer = _packed_filter(filter_packed, filter_shape)
    structure = DepthwiseParams(ConvParams(*astuple(params.conv)), params.depth_multiplier)
    _call("wess_depthwise_conv_2d_s4", ctypes.byref(structure), ctypes.byref(_requant(requant)),
          ctypes.byref(_dims(input.shape)), _pointer(input, np.int8), ctypes.byref(filter_dims), filter_pointer,
          _pointer(bias, np.int32), ctypes.byref(_dims(output.shape)), _pointer(output, np.int8))
    return output


def fully_connected_s4(params: kp.FullyConnectedParams, requant: kp.Requant, input: np.ndarray,
                       filter_packed: np.ndarray, filter_shape, bias: np.ndarray | None) -> np.ndarray:
    """FULLY_CONNECTED with packed 4-bit weights (the [O, I] values packed) -> [B, O]."""
    output = np.empty((input.shape[0], int(filter_shape[0])), dtype=np.int8)
    filter_dims, filter_pointer = _packed_filter(filter_packed, filter_shape)
    _call("wess_fully_connected_s4", ctypes.byref(FullyConnectedParams(*astuple(params))),
          ctypes.byref(_requant(requant)), ctypes.byref(_dims(input.shape)), _pointer(input, np.int8),
          ctypes.byref(filter_dims), filter_pointer, _pointer(bias, np.int32), ctypes.byref(_dims(output.shape)),
          _pointer(output, np.int8))
    return output


def conv_2d_f32(params: kp.ConvF32Params, input: np.ndarray, filter: np.ndarray, bias: np.ndarray | None,
                output_shape) -> np.ndarray:
    """CONV_2D float32: input [1, H, W, I], filter [O, KH, KW, I], bias [O] or None (all float32)."""
    output = np.empty(output_shape, dtype=np.float32)
    _call("wess_conv_2d_f32", ctypes.byref(ConvF32Params(*astuple(params))), ctypes.byref(_dims(input.shape)),
          _pointer(input, np.float32), ctypes.byref(_dims(filter.shape)), _pointer(filter, np.float32),
          _pointer(bias, np.float32), ctypes.byref(_dims(output.shape)), _pointer(output, np.float32))
    return output


def depthwise_conv_2d_f32(params: kp.DepthwiseF32Params, input: np.ndarray, filter: np.ndarray,
                          bias: np.ndarray | None, output_shape) -> np.ndarray:
    """DEPTHWISE_CONV_2D float32: input [1, H, W, I], filter [1, KH, KW, I * depth_multiplier], bias [O] or None."""
    output = np.empty(output_shape, dtype=np.float32)
    structure = DepthwiseF32Params(ConvF32Params(*astuple(params.conv)), params.depth_multiplier)
    _call("wess_depthwise_conv_2d_f32", ctypes.byref(structure), ctypes.byref(_dims(input.shape)),
          _pointer(input, np.float32), ctypes.byref(_dims(filter.shape)), _pointer(filter, np.float32),
          _pointer(bias, np.float32), ctypes.byref(_dims(output.shape)), _pointer(output, np.float32))
    return output


def fully_connected_f32(params: kp.FullyConnectedF32Params, input: np.ndarray, filter: np.ndarray,
                        bias: np.ndarray | None) -> np.ndarray:
    """FULLY_CONNECTED float32: input [B, I], filter [O, I], bias [O] or None -> [B, O]."""
    output = np.empty((input.shape[0], filter.shape[0]), dtype=np.float32)
    _call("wess_fully_connected_f32", ctypes.byref(FullyConnectedF32Params(*astuple(params))),
          ctypes.byref(_dims(input.shape)), _pointer(input, np.float32), ctypes.byref(_dims(filter.shape)),
          _pointer(filter, np.float32), _pointer(bias, np.float32), ctypes.byref(_dims(output.shape)),
          _pointer(output, np.float32))
    return output


def _add_or_sub(kernel: str, params: kp.AddParams, input1: np.ndarray, input2: np.ndarray) -> np.ndarray:
    output = np.empty(np.broadcast_shapes(input1.shape, input2.shape), dtype=np.int8)
    _call(kernel, ctypes.byref(AddParams(*astuple(params))), ctypes.byref(_dims(input1.shape)),
          _pointer(input1, np.int8), ctypes.byref(_dims(input2.shape)), _pointer(input2, np.int8),
          ctypes.byref(_dims(output.shape)), _pointer(output, np.int8))
    return output


def add(params: kp.AddParams, input1: np.ndarray, input2: np.ndarray) -> np.ndarray:
    """ADD int8, the inputs broadcast as numpy does (rank <= 4, padded to NHWC)."""
    return _add_or_sub("wess_add_s8", params, input1, input2)


def sub(params: kp.AddParams, input1: np.ndarray, input2: np.ndarray) -> np.ndarray:
    """SUB int8 (input1 - input2), broadcast as ADD."""
    return _add_or_sub("wess_sub_s8", params, input1, input2)


def _pool(kernel: str, params: kp.PoolParams, input: np.ndarray, output_shape) -> np.ndarray:
    output = np.empty(output_shape, dtype=np.int8)
    _call(kernel, ctypes.byref(PoolParams(*astuple(params))), ctypes.byref(_dims(input.shape)),
          _pointer(input, np.int8), ctypes.byref(_dims(output.shape)), _pointer(output, np.int8))
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
    _call("wess_mean_hw_s8", ctypes.byref(MeanParams(*astuple(params))), ctypes.byref(_dims(input.shape)),
          _pointer(input, np.int8), ctypes.byref(_dims(output.shape)), _pointer(output, np.int8))
    return output


def pad(params: kp.PadParams, input: np.ndarray) -> np.ndarray:
    """PAD of H and W: input [1, H, W, C] int8."""
    batch, height, width, depth = input.shape
    output = np.empty((batch, params.pad_top + height + params.pad_bottom, params.pad_left + width + params.pad_right,
                       depth), dtype=np.int8)
    _call("wess_pad_s8", ctypes.byref(PadParams(*astuple(params))), ctypes.byref(_dims(input.shape)),
          _pointer(input, np.int8), ctypes.byref(_dims(output.shape)), _pointer(output, np.int8))
    return output


def concatenation(inputs: list[np.ndarray]) -> np.ndarray:
    """CONCATENATION along channels of int8 tensors [1, H, W, C_i] sharing one quantization."""
    output = np.empty(inputs[0].shape[:-1] + (sum(array.shape[-1] for array in inputs),), dtype=np.int8)
    dims = (Dims * len(inputs))(*(_dims(array.shape) for array in inputs))
    pointers = (ctypes.POINTER(ctypes.c_int8) * len(inputs))(*(_pointer(array, np.int8) for array in inputs))
    _call("wess_concatenation_s8", ctypes.byref(ConcatParams(len(inputs))), dims, pointers,
          ctypes.byref(_dims(output.shape)), _pointer(output, np.int8))
    return output


def softmax(params: kp.SoftmaxParams, input: np.ndarray) -> np.ndarray:
    """SOFTMAX over the last axis: int8 -> int8 (scale 1/256, zero point -128)."""
    output = np.empty(input.shape, dtype=np.int8)
    _call("wess_softmax_s8", ctypes.byref(SoftmaxParams(*astuple(params))), ctypes.byref(_dims(input.shape)),
          _pointer(input, np.int8), ctypes.byref(_dims(output.shape)), _pointer(output, np.int8))
    return output


def mul(params: kp.MulParams, input1: np.ndarray, input2: np.ndarray) -> np.ndarray:
    """MUL int8, the inputs broadcast as numpy does (rank <= 4, padded to NHWC)."""
    output = np.empty(np.broadcast_shapes(input1.shape, input2.shape), dtype=np.int8)
    _call("wess_mul_s8", ctypes.byref(MulParams(*astuple(params))), ctypes.byref(_dims(input1.shape)),
          _pointer(input1, np.int8), ctypes.byref(_dims(input2.shape)), _pointer(input2, np.int8),
          ctypes.byref(_dims(output.shape)), _pointer(output, np.int8))
    return output


def prelu(params: kpe.PreluParams, input: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """PRELU int8, input and alpha broadcast as numpy does (rank <= 4, padded to NHWC)."""
    output = np.empty(np.broadcast_shapes(input.shape, alpha.shape), dtype=np.int8)
    _call("wess_prelu_s8", ctypes.byref(PreluParams(*astuple(params))), ctypes.byref(_dims(input.shape)),
          _pointer(input, np.int8), ctypes.byref(_dims(alpha.shape)), _pointer(alpha, np.int8),
          ctypes.byref(_dims(output.shape)), _pointer(output, np.int8))
    return output


def maximum_minimum(op: str, input1: np.ndarray, input2: np.ndarray) -> np.ndarray:
    """MAXIMUM or MINIMUM (op) int8, the inputs broadcast as numpy does (rank <= 4, padded to NHWC)."""
    kernel = {"MAXIMUM": "wess_maximum_s8", "MINIMUM": "wess_minimum_s8"}[op]
    output = np.empty(np.broadcast_shapes(input1.shape, input2.shape), dtype=np.int8)
    _call(kernel, ctypes.byref(_dims(input1.shape)), _pointer(input1, np.int8), ctypes.byref(_dims(input2.shape)),
          _pointer(input2, np.int8), ctypes.byref(_dims(output.shape)), _pointer(output, np.int8))
    return output


def squared_difference(params: kpe.SquaredDifferenceParams, input1: np.ndarray, input2: np.ndarray) -> np.ndarray:
    """SQUARED_DIFFERENCE int8, the inputs broadcast as numpy does (rank <= 4, padded to NHWC)."""
    output = np.empty(np.broadcast_shapes(input1.shape, input2.shape), dtype=np.int8)
    _call("wess_squared_difference_s8", ctypes.byref(SquaredDifferenceParams(*astuple(params))),
          ctypes.byref(_dims(input1.shape)), _pointer(input1, np.int8), ctypes.byref(_dims(input2.shape)),
          _pointer(input2, np.int8), ctypes.byref(_dims(output.shape)), _pointer(output, np.int8))
    return output


def transpose(params: kpe.TransposeParams, input: np.ndarray) -> np.ndarray:
    """TRANSPOSE int8 of a 4-D NHWC input: output axis j runs along input axis params' perm_j."""
    perm = astuple(params)
    output = np.empty([input.shape[axis] for axis in perm], np.int8)
    _call("wess_transpose_s8", ctypes.byref(TransposeParams(*perm)), ctypes.byref(_dims(input.shape)),
          _pointer(input, np.int8), ctypes.byref(_dims(output.shape)), _pointer(output, np.int8))
    return output


def pad_nhwc(params: kpe.PadNhwcParams, input: np.ndarray) -> np.ndarray:
    """PADV2 int8 of a 4-D NHWC input: each axis grows by its before and after cells, filled with pad_value."""
    amounts = astuple(params)[:8]
    output = np.empty([extent + amounts[2 * axis] + amounts[2 * axis + 1] for axis, extent in enumerate(input.shape)],
                      np.int8)
    _call("wess_pad_nhwc_s8", ctypes.byref(PadNhwcParams(*astuple(params))), ctypes.byref(_dims(input.shape)),
          _pointer(input, np.int8), ctypes.byref(_dims(output.shape)), _pointer(output, np.int8))
    return output


def reduce_sum(params: kpe.ReduceSumParams, input: np.ndarray) -> np.ndarray:
    """SUM / MEAN int8 of a 4-D NHWC input over the axes params marks, with keep_dims (reduced axes of extent 1)."""
    output = np.empty([1 if reduced else extent for extent, reduced in zip(input.shape, astuple(params.axes))],
                      np.int8)
    structure = ReduceSumParams(ReduceParams(*astuple(params.axes)), MeanParams(*astuple(params.quant)), params.mode)
    _call("wess_reduce_sum_s8", ctypes.byref(structure), ctypes.byref(_dims(input.shape)), _pointer(input, np.int8),
          ctypes.byref(_dims(output.shape)), _pointer(output, np.int8))
    return output


def split(params: kpe.SplitParams, input: np.ndarray, extents: list[int]) -> list[np.ndarray]:
    """SPLIT int8 of a 4-D NHWC input along params' axis into pieces of the given extents."""
    outputs = []
    for extent in extents:
        shape = list(input.shape)
        shape[params.axis] = extent
        outputs.append(np.empty(shape, np.int8))
    dims = (Dims * len(outputs))(*(_dims(output.shape) for output in outputs))
    pointers = (ctypes.POINTER(ctypes.c_int8) * len(outputs))(*(_pointer(output, np.int8) for output in outputs))
    _call("wess_split_s8", ctypes.byref(SplitParams(params.axis)), ctypes.byref(_dims(input.shape)),
          _pointer(input, np.int8), len(outputs), dims, pointers)
    return outputs


def unpack(params: kpe.UnpackParams, input: np.ndarray, output_index: int,
           output_shape: tuple[int, ...] | None = None) -> np.ndarray:
    """UNPACK int8 of a 4-D NHWC input: the slice at output_index along params' axis, in an array of output_shape
    (default: the input's shape with that axis of extent 1)."""
    shape = list(input.shape)
    shape[params.axis] = 1
    output = np.empty(output_shape if output_shape is not None else shape, np.int8)
    _call("wess_unpack_s8", ctypes.byref(UnpackParams(params.axis)), ctypes.byref(_dims(input.shape)),
          _pointer(input, np.int8), output_index, ctypes.byref(_dims(output.shape)), _pointer(output, np.int8))
    return output


def pack(params: kpe.PackParams, inputs: list[np.ndarray], output_shape: tuple[int, ...]) -> np.ndarray:
    """PACK int8: each input written, in order, as the slice of a 4-D NHWC output of output_shape at its index
    along params' axis (the bytes the inputs leave unwritten stay zero)."""
    output = np.zeros(output_shape, np.int8)
    for index, input in enumerate(inputs):
        _call("wess_pack_s8", ctypes.byref(PackParams(params.axis)), index, ctypes.byref(_dims(input.shape)),
              _pointer(input, np.int8), ctypes.byref(_dims(output.shape)), _pointer(output, np.int8))
    return output


def reduce_max(params: kpe.ReduceParams, input: np.ndarray) -> np.ndarray:
    """REDUCE_MAX int8 of a 4-D NHWC input over the axes params marks, with keep_dims (reduced axes of extent 1)."""
    output = np.empty([1 if reduced else extent for extent, reduced in zip(input.shape, astuple(params))], np.int8)
    _call("wess_reduce_max_s8", ctypes.byref(ReduceParams(*astuple(params))), ctypes.byref(_dims(input.shape)),
          _pointer(input, np.int8), ctypes.byref(_dims(output.shape)), _pointer(output, np.int8))
    return output


def resize(op: str, params: kpe.ResizeParams, input: np.ndarray, output_hw: tuple[int, int]) -> np.ndarray:
    """RESIZE_BILINEAR or RESIZE_NEAREST_NEIGHBOR (op) int8 of a 4-D NHWC input to output_hw (H, W)."""
    kernel = {"RESIZE_BILINEAR": "wess_resize_bilinear_s8",
              "RESIZE_NEAREST_NEIGHBOR": "wess_resize_nearest_neighbor_s8"}[op]
    output = np.empty((input.shape[0], *output_hw, input.shape[3]), np.int8)
    _call(kernel, ctypes.byref(ResizeParams(*astuple(params))), ctypes.byref(_dims(input.shape)),
          _pointer(input, np.int8), ctypes.byref(_dims(output.shape)), _pointer(output, np.int8))
    return output


def strided_slice(params: kpe.SliceParams, input: np.ndarray) -> np.ndarray:
    """STRIDED_SLICE / SLICE int8 of a 4-D NHWC input: the output's shape is the params' counts."""
    output = np.empty((params.count_n, params.count_h, params.count_w, params.count_c), np.int8)
    _call("wess_strided_slice_s8", ctypes.byref(SliceParams(*astuple(params))), ctypes.byref(_dims(input.shape)),
          _pointer(input, np.int8), ctypes.byref(_dims(output.shape)), _pointer(output, np.int8))
    return output


ELEMENTWISE_KERNELS = {  # op name -> (ctypes parameter struct, kernel) of the int8 elementwise activations
    "LOGISTIC": (SigmoidParams, "wess_logistic_s8"), "TANH": (SigmoidParams, "wess_tanh_s8"),
    "RELU": (ReluParams, "wess_relu_s8"), "LEAKY_RELU": (LeakyReluParams, "wess_leaky_relu_s8"),
    "HARD_SWISH": (HardSwishParams, "wess_hard_swish_s8"),
}


def elementwise(op: str, params, input: np.ndarray) -> np.ndarray:
    """An int8 elementwise activation (ELEMENTWISE_KERNELS; RELU6 is RELU's kernel) of any shape of rank <= 4."""
    struct, kernel = ELEMENTWISE_KERNELS[op]
    output = np.empty(input.shape, dtype=np.int8)
    _call(kernel, ctypes.byref(struct(*astuple(params))), ctypes.byref(_dims(input.shape)), _pointer(input, np.int8),
          ctypes.byref(_dims(output.shape)), _pointer(output, np.int8))
    return output


def quantize(params: kp.QuantizeParams, input: np.ndarray) -> np.ndarray:
    """QUANTIZE float32 -> int8 (rank <= 4)."""
    output = np.empty(input.shape, dtype=np.int8)
    _call("wess_quantize_f32_s8", ctypes.byref(QuantizeParams(*astuple(params))), ctypes.byref(_dims(input.shape)),
          _pointer(input, np.float32), ctypes.byref(_dims(output.shape)), _pointer(output, np.int8))
    return output


def dequantize(params: kp.DequantizeParams, input: np.ndarray) -> np.ndarray:
    """DEQUANTIZE int8 -> float32 (rank <= 4)."""
    output = np.empty(input.shape, dtype=np.float32)
    _call("wess_dequantize_s8_f32", ctypes.byref(DequantizeParams(*astuple(params))),
          ctypes.byref(_dims(input.shape)), _pointer(input, np.int8), ctypes.byref(_dims(output.shape)),
          _pointer(output, np.float32))
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
    _call("wess_fixedpoint_batch", FIXEDPOINT_OPS[op], _pointer(a, np.int32), _pointer(b, np.int32),
          _pointer(c, np.int32), _pointer(output, np.int32), a.size)
    return output


# ---------------------------------------------------------------- whole-model runner

def op_table() -> list:
    """The rows of the C runner's operator table (wess_op_info), as OpInfo structures."""
    rows = []
    while True:
        info = OpInfo()
        if load_library().wess_op_info(ctypes.c_uint32(len(rows)), ctypes.byref(info)) != 0:
            return rows
        rows.append(info)


def _model_error(status: int, info, context: str) -> WessError:
    """One line naming the status, what it means and where (op position, tensor index) the runner saw it."""
    where = "".join(f", {label} {value}" for label, value in (("op", info.error_op), ("tensor", info.error_tensor))
                    if value >= 0)
    return WessError(f"{context}: {STATUS_NAMES.get(status, status)} ({STATUS_MEANINGS.get(status, 'unknown status')}"
                     f"{where})")


def _aligned_copy(blob: bytes) -> np.ndarray:
    """The blob in a numpy buffer (16-byte aligned allocation: the runner needs 4)."""
    return np.frombuffer(blob, np.uint8).copy()


def validate_model(blob: bytes, arena_bytes: int | None = None, context: str = "model blob"):
    """wess_model_validate; the ModelInfo, or a one-line WessError naming the problem. arena_bytes None: the blob's."""
    buffer = _aligned_copy(blob)
    info = ModelInfo()
    library = load_library()
    status = library.wess_model_validate(_pointer(buffer, np.uint8), ctypes.c_size_t(buffer.size),
                                         ctypes.c_size_t(2**31 if arena_bytes is None else arena_bytes),
                                         ctypes.byref(info))
    if status != 0:
        raise _model_error(status, info, context)
    return info


def run_model(blob: bytes, inputs: np.ndarray, output_dtype, arena_bytes: int | None = None,
              on_tensor=None, context: str = "model blob") -> np.ndarray:
    """Run a batch [N, ...] of inputs through the blob in one C call; outputs [N, output elements].

    on_tensor(sample, op_position, tensor_index, data: bytes) is called after every op (for intermediate dumps).
    """
    info = validate_model(blob, arena_bytes, context)
    inputs = np.ascontiguousarray(inputs)
    if inputs.ndim < 1 or inputs[0].nbytes != info.input_bytes:
        raise InputError(f"{context}: one input has {inputs[0].nbytes if inputs.ndim else 0} bytes; the model takes "
                        f"{info.input_bytes}")
    buffer = _aligned_copy(blob)
    arena = np.zeros(info.arena_bytes if arena_bytes is None else arena_bytes, np.uint8)
    outputs = np.empty((len(inputs), info.output_bytes // np.dtype(output_dtype).itemsize), output_dtype)
    failure: list[BaseException] = []

    def callback(_user, sample, op, tensor, data, size):
        try:
            on_tensor(sample, op, tensor, ctypes.string_at(data, size))
            return 0
        except BaseException as exc:  # ctypes cannot propagate it: stop the run and re-raise below
            failure.append(exc)
            return 1

    hooks = RunHooks(TensorCallback(callback) if on_tensor else TensorCallback(), None, -1)
    status = load_library().wess_model_run_batch(
        _pointer(buffer, np.uint8), ctypes.c_size_t(buffer.size), _pointer(arena, np.uint8),
        ctypes.c_size_t(arena.size), _int32(len(inputs)), inputs.ctypes.data_as(ctypes.c_void_p),
        outputs.ctypes.data_as(ctypes.c_void_p), ctypes.byref(hooks))
    if failure:
        raise failure[0]
    if status != 0:
        info.error_op = hooks.failed_op
        raise _model_error(status, info, context)
    return outputs
