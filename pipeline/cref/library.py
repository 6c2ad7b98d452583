"""ctypes bindings of the firmware_ref C reference kernels and model runner (libwess_ref.so; WESS_REF_LIB overrides)."""
from __future__ import annotations

import ctypes
import functools
import os
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
AbsParams = _struct("AbsParams", list(kpe.AbsParams.__dataclass_fields__))
BatchMatmulParams = _struct("BatchMatmulParams", list(kpe.BatchMatmulParams.__dataclass_fields__))
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
    for name in ("wess_conv_2d_s8", "wess_conv_2d_grouped_s8", "wess_depthwise_conv_2d_s8", "wess_fully_connected_s8", "wess_conv_2d_s4",
                 "wess_depthwise_conv_2d_s4", "wess_fully_connected_s4", "wess_conv_2d_f32",
                 "wess_depthwise_conv_2d_f32", "wess_fully_connected_f32", "wess_add_s8",
                 "wess_average_pool_2d_s8", "wess_max_pool_2d_s8", "wess_mean_hw_s8", "wess_pad_s8",
                 "wess_concatenation_s8", "wess_softmax_s8", "wess_mul_s8", "wess_logistic_s8", "wess_hard_swish_s8", "wess_tanh_s8",
                 "wess_relu_s8", "wess_leaky_relu_s8", "wess_quantize_f32_s8", "wess_dequantize_s8_f32",
                 "wess_prelu_s8", "wess_maximum_s8", "wess_minimum_s8", "wess_reduce_max_s8",
                 "wess_resize_bilinear_s8", "wess_resize_nearest_neighbor_s8", "wess_strided_slice_s8",
                 "wess_transpose_conv_s8", "wess_abs_s8", "wess_batch_matmul_s8",
                 "wess_fixedpoint_batch", "wess_model_validate", "wess_model_run_batch", "wess_op_info"):
        getattr(library, name).restype = ctypes.c_int
    return library


def call_kernel(kernel: str, *arguments) -> None:
    status = getattr(load_library(), kernel)(*arguments)
    if status != 0:
        raise KernelError(kernel, status)


def pointer(array: np.ndarray | None, dtype):
    """Pointer to a C-contiguous array of exactly `dtype` (no silent casts), or NULL for None."""
    if array is None:
        return None
    if array.dtype != dtype:
        raise TypeError(f"expected {np.dtype(dtype)} array, got {array.dtype}")
    if not array.flags.c_contiguous:
        raise ValueError("array must be C-contiguous")
    return array.ctypes.data_as(ctypes.POINTER(np.ctypeslib.as_ctypes_type(dtype)))


def nhwc_dims(shape) -> Dims:
    """NHWC dims of a shape of rank <= 4, padded with leading ones; rank 2 (batches, depth) maps to [b, 1, 1, d]."""
    shape = tuple(int(extent) for extent in shape)
    if len(shape) > 4:
        raise ValueError(f"rank {len(shape)} > 4")
    if len(shape) == 2:
        return Dims(shape[0], 1, 1, shape[1])
    return Dims(*((1,) * (4 - len(shape)) + shape))


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
    status = library.wess_model_validate(pointer(buffer, np.uint8), ctypes.c_size_t(buffer.size),
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
        pointer(buffer, np.uint8), ctypes.c_size_t(buffer.size), pointer(arena, np.uint8),
        ctypes.c_size_t(arena.size), _int32(len(inputs)), inputs.ctypes.data_as(ctypes.c_void_p),
        outputs.ctypes.data_as(ctypes.c_void_p), ctypes.byref(hooks))
    if failure:
        raise failure[0]
    if status != 0:
        info.error_op = hooks.failed_op
        raise _model_error(status, info, context)
    return outputs
