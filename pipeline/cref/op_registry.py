"""The operator registry: per compact op code, how its C record is built from a TFLite operator (docs/adding_an_op.md)."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from ai_edge_litert import schema_py_generated as schema

from . import kernel_params as kp
from . import kernel_params_ext as kpe
from . import op_records as rec
from . import op_records_ext as rec_ext
from .op_records import MAX_PACK_INPUTS, MAX_SPLIT_OUTPUTS, MAX_UNPACK_OUTPUTS, OP, OpContext, OpRecord
from .param_words import param_layout

OP_FLOAT32 = 0x8000  # op code bit: the float32 kernel of an operator a partially quantized model leaves in float
OP_INT8_INPUT = 0x4000  # op code bit: the int8-input kernel of an op whose plain row takes float (QUANTIZE)
OP_INT4_FILTER = 0x2000  # op code bit: the packed 4-bit weight kernel of CONV_2D, DEPTHWISE_CONV_2D, FULLY_CONNECTED
OP_GROUPED_FILTER = 0x1000  # op code bit: CONV_2D's kernel for a grouped filter (filter input channels < input's)
TYPE_INT8, TYPE_INT32, TYPE_FLOAT32, TYPE_INT4 = 0, 1, 2, 3  # tensor types of the compact blob (MODEL_TYPE_* in C)
S4_UNPACK_BYTES = 2048  # WESS_S4_UNPACK_BYTES (wess_ref.h): the longest conv/FC row, the depthwise unpack buffer
TYPE_ANY = None  # an op that keeps its input's type (RESHAPE): its C check compares input and output


@dataclass(frozen=True)
class OpSpec:
    """One registry entry, the Python side of a row of the C operator table (firmware_ref/src/op_table.c)."""

    code: int  # TFLite BuiltinOperator, | OP_FLOAT32 for a float32 kernel
    name: str  # as the C table names it
    build: Callable[[OpContext], OpRecord]
    params_type: type | None = None  # kernel_params dataclass laid out as the C parameter struct
    requant: bool = False  # RequantWords follow the parameters
    input_count: tuple[int, int] = (1, 1)  # runtime input tensors, min and max
    output_count: tuple[int, int] = (1, 1)  # output tensors, min and max
    required_inputs: int = 1  # leading TFLite inputs that must be tensors before build reads them
    input_types: tuple[int | None, int | None, int | None] = (TYPE_INT8,) * 3  # inputs 0, 1 and 2 on
    output_type: int | None = TYPE_INT8
    optional_input: int = -1  # the input that may be -1 (absent)
    data_inputs: int | tuple[int, ...] | None = None  # TFLite inputs whose values the kernel reads: the first n,
    # these positions, or None: all
    aliases_input: bool = False  # the output is the input's bytes (the memory plan shares their buffer)

    @property
    def param_word_count(self) -> int:
        return len(param_layout(self.params_type)) if self.params_type is not None else 0


_WEIGHTED = {"input_count": (3, 3), "required_inputs": 2, "optional_input": 2}
_WEIGHTED_S8 = {**_WEIGHTED, "requant": True, "input_types": (TYPE_INT8, TYPE_INT8, TYPE_INT32)}
_WEIGHTED_S4 = {**_WEIGHTED_S8, "input_types": (TYPE_INT8, TYPE_INT4, TYPE_INT32)}
_WEIGHTED_F32 = {**_WEIGHTED, "input_types": (TYPE_FLOAT32,) * 3, "output_type": TYPE_FLOAT32}
_RELABEL = {"input_types": (TYPE_ANY,) * 3, "output_type": TYPE_ANY, "data_inputs": 1, "aliases_input": True}
F32 = OP_FLOAT32

SPECS: dict[int, OpSpec] = {spec.code: spec for spec in (
    OpSpec(OP.ADD, "ADD", rec.add_or_sub(schema.AddOptionsT), kp.AddParams, input_count=(2, 2), required_inputs=2),
    OpSpec(OP.AVERAGE_POOL_2D, "AVERAGE_POOL_2D", rec.pool_2d, kp.PoolParams),
    OpSpec(OP.CONCATENATION, "CONCATENATION", rec.concatenation, input_count=(1, 16)),
    OpSpec(OP.CONV_2D, "CONV_2D", rec.conv_2d, kp.ConvParams, **_WEIGHTED_S8),
    OpSpec(OP.DEPTHWISE_CONV_2D, "DEPTHWISE_CONV_2D", rec.depthwise_conv_2d, kp.DepthwiseParams, **_WEIGHTED_S8),
    OpSpec(OP.TRANSPOSE_CONV, "TRANSPOSE_CONV", rec.transpose_conv, kpe.TransposeConvParams,
           **{**_WEIGHTED_S8, "required_inputs": 3, "data_inputs": (1, 2, 3)}),
    OpSpec(OP.DEQUANTIZE, "DEQUANTIZE", rec.dequantize, kp.DequantizeParams, output_type=TYPE_FLOAT32),
    OpSpec(OP.FULLY_CONNECTED, "FULLY_CONNECTED", rec.fully_connected, kp.FullyConnectedParams, **_WEIGHTED_S8),
    OpSpec(OP.MAX_POOL_2D, "MAX_POOL_2D", rec.pool_2d, kp.PoolParams),
    OpSpec(OP.RESHAPE, "RESHAPE", rec.relabel, **_RELABEL),
    OpSpec(OP.SOFTMAX, "SOFTMAX", rec.softmax, kp.SoftmaxParams),
    OpSpec(OP.PAD, "PAD", rec.pad, kp.PadParams, required_inputs=2),
    OpSpec(OP.PADV2, "PADV2", rec.pad_any_axis, kpe.PadNhwcParams, required_inputs=2, data_inputs=1),
    OpSpec(OP.MEAN, "MEAN", rec.mean, kp.MeanParams, required_inputs=2),
    OpSpec(OP.SQUEEZE, "SQUEEZE", rec.relabel, **_RELABEL),
    OpSpec(OP.MUL, "MUL", rec.mul, kp.MulParams, input_count=(2, 2), required_inputs=2),
    OpSpec(OP.SUB, "SUB", rec.add_or_sub(schema.SubOptionsT), kp.AddParams, input_count=(2, 2), required_inputs=2),
    OpSpec(OP.EXPAND_DIMS, "EXPAND_DIMS", rec.relabel, **_RELABEL),
    OpSpec(OP.LOGISTIC, "LOGISTIC", rec.sigmoid((1 / 256, -128)), kp.SigmoidParams),
    OpSpec(OP.TANH, "TANH", rec.sigmoid((1 / 128, 0)), kp.SigmoidParams),
    OpSpec(OP.RELU, "RELU", rec.relu("RELU"), kp.ReluParams),
    OpSpec(OP.RELU6, "RELU6", rec.relu("RELU6"), kp.ReluParams),
    OpSpec(OP.LEAKY_RELU, "LEAKY_RELU", rec.leaky_relu, kp.LeakyReluParams),
    OpSpec(OP.HARD_SWISH, "HARD_SWISH", rec.hard_swish, kp.HardSwishParams),
    OpSpec(OP.ABS, "ABS", rec_ext.abs_op, kpe.AbsParams),
    OpSpec(OP.BATCH_MATMUL, "BATCH_MATMUL", rec_ext.batch_matmul, kpe.BatchMatmulParams, input_count=(2, 2),
           required_inputs=2),
    OpSpec(OP.PRELU, "PRELU", rec.prelu, kpe.PreluParams, input_count=(2, 2), required_inputs=2),
    OpSpec(OP.MAXIMUM, "MAXIMUM", rec.maximum_minimum, input_count=(2, 2), required_inputs=2),
    OpSpec(OP.MINIMUM, "MINIMUM", rec.maximum_minimum, input_count=(2, 2), required_inputs=2),
    OpSpec(OP.SQUARED_DIFFERENCE, "SQUARED_DIFFERENCE", rec.squared_difference, kpe.SquaredDifferenceParams,
           input_count=(2, 2), required_inputs=2),
    OpSpec(OP.TRANSPOSE, "TRANSPOSE", rec.transpose, kpe.TransposeParams, required_inputs=2, data_inputs=1),
    OpSpec(OP.SUM, "SUM", rec.reduce_sum, kpe.ReduceSumParams, required_inputs=2, data_inputs=1),
    OpSpec(OP.REDUCE_MAX, "REDUCE_MAX", rec.reduce_max, kpe.ReduceParams, required_inputs=2, data_inputs=1),
    OpSpec(OP.RESIZE_BILINEAR, "RESIZE_BILINEAR", rec.resize(schema.ResizeBilinearOptionsT, bilinear=True),
           kpe.ResizeParams, required_inputs=2, data_inputs=1),
    OpSpec(OP.RESIZE_NEAREST_NEIGHBOR, "RESIZE_NEAREST_NEIGHBOR",
           rec.resize(schema.ResizeNearestNeighborOptionsT, bilinear=False), kpe.ResizeParams, required_inputs=2,
           data_inputs=1),
    OpSpec(OP.SPLIT, "SPLIT", rec.split, kpe.SplitParams, output_count=(1, MAX_SPLIT_OUTPUTS), required_inputs=2,
           data_inputs=(1,)),
    OpSpec(OP.SPLIT_V, "SPLIT_V", rec.split_v, kpe.SplitParams, output_count=(1, MAX_SPLIT_OUTPUTS), required_inputs=3,
           data_inputs=1),
    OpSpec(OP.PACK, "PACK", rec.pack, kpe.PackParams, input_count=(1, MAX_PACK_INPUTS)),
    OpSpec(OP.UNPACK, "UNPACK", rec.unpack, kpe.UnpackParams, output_count=(1, MAX_UNPACK_OUTPUTS)),
    OpSpec(OP.STRIDED_SLICE, "STRIDED_SLICE", rec.strided_slice, kpe.SliceParams, required_inputs=4, data_inputs=1),
    OpSpec(OP.SLICE, "SLICE", rec.slice_op, kpe.SliceParams, required_inputs=3, data_inputs=1),
    OpSpec(OP_INT8_INPUT | OP.QUANTIZE, "QUANTIZE_S8", rec.requantize, kp.ReluParams),
    OpSpec(OP.QUANTIZE, "QUANTIZE", rec.quantize, kp.QuantizeParams, input_types=(TYPE_FLOAT32,) * 3),
    OpSpec(OP_GROUPED_FILTER | OP.CONV_2D, "CONV_2D_GROUPED", rec.conv_2d, kp.ConvParams, **_WEIGHTED_S8),
    OpSpec(OP_INT4_FILTER | OP.CONV_2D, "CONV_2D_S4", rec.conv_2d, kp.ConvParams, **_WEIGHTED_S4),
    OpSpec(OP_INT4_FILTER | OP.DEPTHWISE_CONV_2D, "DEPTHWISE_CONV_2D_S4", rec.depthwise_conv_2d, kp.DepthwiseParams,
           **_WEIGHTED_S4),
    OpSpec(OP_INT4_FILTER | OP.FULLY_CONNECTED, "FULLY_CONNECTED_S4", rec.fully_connected, kp.FullyConnectedParams,
           **_WEIGHTED_S4),
    OpSpec(F32 | OP.CONV_2D, "CONV_2D_F32", rec.conv_2d_f32, kp.ConvF32Params, **_WEIGHTED_F32),
    OpSpec(F32 | OP.DEPTHWISE_CONV_2D, "DEPTHWISE_CONV_2D_F32", rec.depthwise_conv_2d_f32, kp.DepthwiseF32Params,
           **_WEIGHTED_F32),
    OpSpec(F32 | OP.FULLY_CONNECTED, "FULLY_CONNECTED_F32", rec.fully_connected_f32, kp.FullyConnectedF32Params,
           **_WEIGHTED_F32),
)}
# CONV_2D, DEPTHWISE_CONV_2D, FC, TRANSPOSE_CONV (int8 filters); the packed 4-bit weight rows are INT4_FILTER_OPS,
# the grouped CONV_2D row is CONV_2D's variant
WEIGHTED_OPS = tuple(code for code, spec in SPECS.items()
                     if spec.requant and not code & (OP_INT4_FILTER | OP_GROUPED_FILTER))
INT4_FILTER_OPS = tuple(code for code in SPECS if code & OP_INT4_FILTER)


def unpack_rows(code: int, filter_shape: tuple[int, ...]) -> int:
    """The weights the 4-bit kernel of a weighted op (CONV_2D, DEPTHWISE_CONV_2D, FULLY_CONNECTED) holds to
    S4_UNPACK_BYTES, as the C kernels compute it: a conv's or FC's filter row (everything but the output channel;
    read packed in place), a depthwise's taps times up to 64 channels (WESS_CHANNEL_BLOCK; unpacked)."""
    if code == OP.DEPTHWISE_CONV_2D:
        return int(np.prod(filter_shape[1:3])) * min(int(filter_shape[3]), 64)
    return int(np.prod(filter_shape[1:]))


def data_inputs(spec: OpSpec | None, inputs: list[int]) -> list[int]:
    """The TFLite inputs whose values an op reads (an op the registry lacks: all)."""
    if spec is None or spec.data_inputs is None:
        return inputs
    if isinstance(spec.data_inputs, tuple):
        return [inputs[position] for position in spec.data_inputs if position < len(inputs)]
    return inputs[:spec.data_inputs]
