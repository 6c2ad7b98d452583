"""Per-operator record builders: a TFLite operator's C kernel parameters and requantization (docs/adding_an_op.md)."""
from __future__ import annotations

import dataclasses
import typing
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from ai_edge_litert import schema_py_generated as schema

from pipeline.errors import InputError, UnsupportedError
from pipeline.tflite import flatbuf, metadata

from . import kernel_params as kp
from . import kernel_params_ext as kpe
from .param_words import nhwc

OP = schema.BuiltinOperator
MAX_SPLIT_OUTPUTS = 16  # WESS_MAX_SPLIT_OUTPUTS (wess_ref.h)
MAX_UNPACK_OUTPUTS = 1024  # WESS_MAX_UNPACK_OUTPUTS (wess_ref.h)
MAX_PACK_INPUTS = 1024  # WESS_MAX_PACK_INPUTS (wess_ref.h)
PADDING_NAMES = {schema.Padding.SAME: "SAME", schema.Padding.VALID: "VALID"}


@dataclass(frozen=True)
class RequantWords:
    """The four words after an int8 weighted op's parameters (C: model_requant_words_t in op_table.h)."""

    multiplier_count: int
    multiplier_offset: int  # byte offsets into the constant section
    right_shift_offset: int
    shift4_offset: int  # -1 without WESS shifts


@dataclass(frozen=True)
class OpRecord:
    """What a build function gives for one operator: runtime inputs (-1: the absent optional input), parameters
    (an instance of the spec's params_type, or None) and the requantization (weighted int8 ops)."""

    inputs: tuple[int, ...]
    params: object | None = None
    requant: kp.Requant | None = None


@dataclass(frozen=True)
class OpContext:
    """One TFLite operator as a build function sees it: the tensor reader (compact's), the operator and its WESS
    metadata record (None without)."""

    reader: typing.Any  # shape(i), quant(i) -> (scale, zero point), scales(i), array(i)
    op: schema.OperatorT
    wess_layer: metadata.LayerShifts | None

    @property
    def inputs(self) -> tuple[int, ...]:
        return tuple(int(i) for i in self.op.inputs)

    @property
    def output(self) -> int:
        return int(self.op.outputs[0])

    @property
    def outputs(self) -> tuple[int, ...]:
        return tuple(int(i) for i in self.op.outputs)

    def options(self, options_type: type):
        """The builtin options, checked to be of the op's options type."""
        options = self.op.builtinOptions
        if not isinstance(options, options_type):
            found = "missing" if options is None else type(options).__name__
            raise InputError(f"builtin options {found}, expected {options_type.__name__}")
        return options

    def shape4(self, tensor: int) -> tuple[int, int, int, int]:
        """A tensor's shape, checked to be 4-D NHWC without empty dimensions."""
        shape = self.reader.shape(tensor)
        if len(shape) != 4 or min(shape) < 1:
            raise InputError(f"tensor {tensor} has shape {list(shape)}; the kernel takes a 4-D NHWC tensor without "
                             "empty dimensions")
        return shape


# ---------------------------------------------------------------- shared pieces of the build functions

def _activation(options) -> int:
    code = int(options.fusedActivationFunction)
    if code not in kp.ACTIVATION_CODES:
        raise UnsupportedError(f"fused activation {code} is not supported")
    return code


def _padding(options) -> str:
    if options.padding not in PADDING_NAMES:
        raise InputError(f"padding code {options.padding} is neither SAME nor VALID")
    return PADDING_NAMES[options.padding]


def _positive(name: str, *values: int) -> tuple[int, ...]:
    if min(values) < 1:
        raise InputError(f"{name} {list(values)} must be >= 1")
    return tuple(int(value) for value in values)


def _window(ctx: OpContext, options) -> tuple:
    """(input_hw, filter_hw, stride_hw, dilation_hw, padding) of a CONV_2D / DEPTHWISE_CONV_2D."""
    input, filter, _ = _weighted_inputs(ctx)
    input_shape, filter_shape = ctx.shape4(input), ctx.shape4(filter)
    return (input_shape[1:3], filter_shape[1:3], _positive("strides", options.strideH, options.strideW),
            _positive("dilations", options.dilationHFactor, options.dilationWFactor), _padding(options))


def _depth_multiplier(ctx: OpContext) -> int:
    input, filter, _ = _weighted_inputs(ctx)
    output_channels, input_channels = ctx.shape4(filter)[3], ctx.shape4(input)[3]
    if output_channels % input_channels:
        raise InputError(f"{output_channels} output channels are not a multiple of {input_channels} inputs")
    return output_channels // input_channels


def _operands(ctx: OpContext) -> flatbuf.Operands:
    """Where the weighted op's input, filter and bias sit among its TFLite inputs (flatbuf.WEIGHTED_OPS)."""
    return flatbuf.WEIGHTED_OPS[flatbuf.builtin_code(ctx.reader.model, ctx.op)]


def _weighted_inputs(ctx: OpContext) -> tuple[int, int, int]:
    """(input, filter, bias or -1): the C record's order for every weighted op."""
    operands = _operands(ctx)
    return operands.input_of(ctx.op), operands.filter_of(ctx.op), operands.bias_of(ctx.op)


def _fc_activation(ctx: OpContext) -> int:
    """FULLY_CONNECTED's fused activation (no options: none); only the default weights format."""
    options = ctx.op.builtinOptions
    if options is None:
        return 0
    options = ctx.options(schema.FullyConnectedOptionsT)
    if options.weightsFormat != 0:
        raise UnsupportedError("only the default weights format is supported")
    return _activation(options)


def _requant(ctx: OpContext) -> kp.Requant:
    """WESS: one multiplier plus 4-bit shifts; otherwise one multiplier per weight scale (1 or C)."""
    input, filter, _ = _weighted_inputs(ctx)
    input_scale, output_scale = ctx.reader.quant(input)[0], ctx.reader.quant(ctx.output)[0]
    layer = ctx.wess_layer
    if layer is not None:
        requant = kp.wess_requant(input_scale, layer.layer_scale, output_scale, layer.channel_right_shift)
        if (int(requant.multiplier[0]), int(requant.right_shift[0])) != (layer.multiplier, layer.right_shift):
            raise InputError("WESS metadata multiplier disagrees with the scales")
        return requant
    return kp.per_channel_requant(input_scale, ctx.reader.scales(filter), output_scale)


def _output_quant(ctx: OpContext) -> tuple[float, int]:
    return ctx.reader.quant(ctx.output)


# ---------------------------------------------------------------- one build function per C kernel

def conv_2d(ctx: OpContext) -> OpRecord:
    options = ctx.options(schema.Conv2DOptionsT)
    output_scale, output_zero_point = _output_quant(ctx)
    params = kp.conv_params(*_window(ctx, options), ctx.reader.quant(_weighted_inputs(ctx)[0])[1], output_scale,
                            output_zero_point, _activation(options))
    return OpRecord(_weighted_inputs(ctx), params, _requant(ctx))


def depthwise_conv_2d(ctx: OpContext) -> OpRecord:
    options = ctx.options(schema.DepthwiseConv2DOptionsT)
    window = _window(ctx, options)
    output_scale, output_zero_point = _output_quant(ctx)
    input_zero_point = ctx.reader.quant(_weighted_inputs(ctx)[0])[1]
    params = kp.depthwise_params(*window, _depth_multiplier(ctx), input_zero_point, output_scale,
                                 output_zero_point, _activation(options))
    return OpRecord(_weighted_inputs(ctx), params, _requant(ctx))


def transpose_conv(ctx: OpContext) -> OpRecord:
    """TRANSPOSE_CONV: TFLite's operands (output shape, filter, input, bias) reordered as the weighted ops' (input,
    filter, bias), the output-shape operand unread (Keras' dynamic batch computes it with SHAPE / PACK, left out
    as dead); CONV_2D's requantization (WESS: one multiplier and 4-bit shifts; else one per weight scale)."""
    options = ctx.options(schema.TransposeConvOptionsT)
    input, filter, bias = _weighted_inputs(ctx)
    out_shape, filter_shape = ctx.shape4(ctx.output), ctx.shape4(filter)  # the static output shape, as RESHAPE's
    stride_hw = _positive("strides", options.strideH, options.strideW)
    params = kpe.transpose_conv_params(out_shape[1:3], filter_shape[1:3], stride_hw, _padding(options),
                                       ctx.reader.quant(input)[1], *_output_quant(ctx), _activation(options))
    return OpRecord((input, filter, bias), params, _requant(ctx))


def fully_connected(ctx: OpContext) -> OpRecord:
    activation = _fc_activation(ctx)
    params = kp.fully_connected_params(ctx.reader.quant(_weighted_inputs(ctx)[0])[1], *_output_quant(ctx), activation)
    return OpRecord(_weighted_inputs(ctx), params, _requant(ctx))


def conv_2d_f32(ctx: OpContext) -> OpRecord:
    options = ctx.options(schema.Conv2DOptionsT)
    return OpRecord(_weighted_inputs(ctx), kp.conv_f32_params(*_window(ctx, options), _activation(options)))


def depthwise_conv_2d_f32(ctx: OpContext) -> OpRecord:
    options = ctx.options(schema.DepthwiseConv2DOptionsT)
    conv = kp.conv_f32_params(*_window(ctx, options), _activation(options))
    return OpRecord(_weighted_inputs(ctx), kp.DepthwiseF32Params(conv, _depth_multiplier(ctx)))


def fully_connected_f32(ctx: OpContext) -> OpRecord:
    bounds = kp.float_activation_range(_fc_activation(ctx))
    return OpRecord(_weighted_inputs(ctx), kp.FullyConnectedF32Params(*bounds))




def _broadcast_inputs(ctx: OpContext) -> tuple[int, int]:
    """The two inputs of a broadcasting binary op, checked to broadcast as TFLite does (right-aligned) and, once
    both are the blob's NHWC dims, along axes where their extent is 1."""
    (first, second), reader = ctx.inputs[:2], ctx.reader
    shapes = (tuple(reader.shape(first)), tuple(reader.shape(second)))
    output = nhwc(tuple(reader.shape(ctx.output)))
    try:
        broadcast = np.broadcast_shapes(*shapes)
    except ValueError:
        raise InputError(f"input shapes {list(shapes[0])} and {list(shapes[1])} do not broadcast") from None
    if nhwc(broadcast) != output or any(extent not in (1, out) for shape in shapes
                                        for extent, out in zip(nhwc(shape), output)):
        raise UnsupportedError(f"broadcasting {list(shapes[0])} with {list(shapes[1])} to "
                               f"{list(reader.shape(ctx.output))} is not supported")
    return first, second


def add_or_sub(options_type):
    """ADD / SUB: TFLite's general quantized add parameters (SUB's Prepare computes the same), inputs broadcast."""
    def build(ctx: OpContext) -> OpRecord:
        first, second = _broadcast_inputs(ctx)
        params = kp.add_params(*ctx.reader.quant(first), *ctx.reader.quant(second), *_output_quant(ctx),
                               _activation(ctx.options(options_type)))
        return OpRecord((first, second), params)
    return build


def mul(ctx: OpContext) -> OpRecord:
    options = ctx.options(schema.MulOptionsT)
    first, second = _broadcast_inputs(ctx)
    params = kp.mul_params(*ctx.reader.quant(first), *ctx.reader.quant(second), *_output_quant(ctx),
                           _activation(options))
    return OpRecord((first, second), params)


def prelu(ctx: OpContext) -> OpRecord:
    """PRELU: input and alpha (a constant, one scale) broadcast to the output as a binary op's inputs."""
    input, alpha = _broadcast_inputs(ctx)
    if np.unique(ctx.reader.scales(alpha)).size != 1:
        raise UnsupportedError("PRELU with a per-channel quantized alpha is not supported (TFLite Micro reads one "
                               "alpha scale)")
    params = kpe.prelu_params(*ctx.reader.quant(input), *ctx.reader.quant(alpha), *_output_quant(ctx))
    return OpRecord((input, alpha), params)


def squared_difference(ctx: OpContext) -> OpRecord:
    first, second = _broadcast_inputs(ctx)
    params = kpe.squared_difference_params(*ctx.reader.quant(first), *ctx.reader.quant(second), *_output_quant(ctx))
    return OpRecord((first, second), params)


def maximum_minimum(ctx: OpContext) -> OpRecord:
    """MAXIMUM / MINIMUM: no parameters (TFLite compares the stored bytes), inputs broadcast."""
    return OpRecord(_broadcast_inputs(ctx))


def reduce_max(ctx: OpContext) -> OpRecord:
    options = ctx.options(schema.ReducerOptionsT)
    input_shape = ctx.reader.shape(ctx.inputs[0])
    params = kpe.reduce_params(len(input_shape), ctx.reader.array(ctx.inputs[1]).ravel(),
                               ctx.reader.quant(ctx.inputs[0]), _output_quant(ctx))
    kept = [extent for extent, reduced in zip(nhwc(input_shape), dataclasses.astuple(params)) if not reduced]
    if int(np.prod(ctx.reader.shape(ctx.output))) != int(np.prod(kept)):
        raise InputError(f"REDUCE_MAX output shape {list(ctx.reader.shape(ctx.output))} (keep_dims "
                         f"{bool(options.keepDims)}) does not hold the kept axes of {list(input_shape)}")
    return OpRecord(ctx.inputs[:1], params)


def transpose(ctx: OpContext) -> OpRecord:
    perm = ctx.reader.array(ctx.inputs[1]).ravel()
    if len(perm) != len(ctx.reader.shape(ctx.inputs[0])):
        raise InputError(f"TRANSPOSE perm {perm.tolist()} does not match the input's rank "
                         f"{len(ctx.reader.shape(ctx.inputs[0]))}")
    return OpRecord(ctx.inputs[:1], kpe.transpose_params(perm, ctx.reader.quant(ctx.inputs[0]), _output_quant(ctx)))


def _split_record(ctx: OpContext, input: int, axis_tensor: int) -> OpRecord:
    """SPLIT / SPLIT_V of `input` along the constant axis operand: the outputs' static shapes give the pieces."""
    axis = ctx.reader.array(axis_tensor).ravel()
    if axis.size != 1:
        raise InputError(f"split axis operand {axis.tolist()} is not one value")
    reader = ctx.reader
    params = kpe.split_params(tuple(reader.shape(input)), int(axis[0]), [tuple(reader.shape(t)) for t in ctx.outputs],
                              reader.quant(input), [reader.quant(t) for t in ctx.outputs])
    return OpRecord((input,), params)


def split(ctx: OpContext) -> OpRecord:
    """SPLIT (operands: axis, input) into numSplits equal pieces."""
    pieces = ctx.options(schema.SplitOptionsT).numSplits
    input_extents = {tuple(ctx.reader.shape(t)) for t in ctx.outputs}
    if pieces != len(ctx.outputs) or len(input_extents) != 1:
        raise InputError(f"SPLIT into {pieces} has {len(ctx.outputs)} outputs of shapes {sorted(input_extents)}")
    return _split_record(ctx, ctx.inputs[1], ctx.inputs[0])


def split_v(ctx: OpContext) -> OpRecord:
    """SPLIT_V (operands: input, size_splits, axis): the outputs' extents along the axis are size_splits (one
    -1 is the rest)."""
    record = _split_record(ctx, ctx.inputs[0], ctx.inputs[2])
    sizes = [int(size) for size in ctx.reader.array(ctx.inputs[1]).ravel()]
    found = [nhwc(tuple(ctx.reader.shape(t)))[record.params.axis] for t in ctx.outputs]
    if len(sizes) != len(found) or any(size not in (-1, extent) for size, extent in zip(sizes, found)):
        raise InputError(f"SPLIT_V size_splits {sizes} do not match its outputs' extents {found}")
    return record


def unpack(ctx: OpContext) -> OpRecord:
    """UNPACK (operand: input) into `num` slices along the axis option, the axis removed."""
    options = ctx.options(schema.UnpackOptionsT)
    if options.num != len(ctx.outputs):
        raise InputError(f"UNPACK into {options.num} has {len(ctx.outputs)} outputs")
    reader = ctx.reader
    params = kpe.unpack_params(tuple(reader.shape(ctx.inputs[0])), int(options.axis),
                               [tuple(reader.shape(t)) for t in ctx.outputs], reader.quant(ctx.inputs[0]),
                               [reader.quant(t) for t in ctx.outputs])
    return OpRecord(ctx.inputs[:1], params)


def pack(ctx: OpContext) -> OpRecord:
    """PACK (operands: the inputs) of `valuesCount` inputs along a new axis of the output."""
    options = ctx.options(schema.PackOptionsT)
    if options.valuesCount != len(ctx.inputs):
        raise InputError(f"PACK of {options.valuesCount} has {len(ctx.inputs)} inputs")
    reader = ctx.reader
    params = kpe.pack_params([tuple(reader.shape(t)) for t in ctx.inputs], int(options.axis),
                             tuple(reader.shape(ctx.output)), [reader.quant(t) for t in ctx.inputs],
                             reader.quant(ctx.output))
    return OpRecord(ctx.inputs, params)


def resize(options_type, bilinear: bool) -> Callable[[OpContext], OpRecord]:
    """RESIZE_BILINEAR / RESIZE_NEAREST_NEIGHBOR of a 4-D input to the constant size operand, which must be the
    output's H and W."""
    def build(ctx: OpContext) -> OpRecord:
        options = ctx.options(options_type)
        input_shape, output_shape = ctx.shape4(ctx.inputs[0]), ctx.shape4(ctx.output)
        size = [int(extent) for extent in ctx.reader.array(ctx.inputs[1]).ravel()]
        if size != list(output_shape[1:3]) or (input_shape[0], input_shape[3]) != (output_shape[0], output_shape[3]):
            raise InputError(f"resize of {list(input_shape)} to size {size} has output shape {list(output_shape)}")
        return OpRecord(ctx.inputs[:1], kpe.resize_params(options.alignCorners, options.halfPixelCenters, bilinear))
    return build


def _index_vectors(ctx: OpContext, count: int) -> list[list[int]]:
    """The constant index operands 1..count of a slice, one entry per input axis each."""
    rank = len(ctx.reader.shape(ctx.inputs[0]))
    vectors = [[int(value) for value in ctx.reader.array(ctx.inputs[i]).ravel()] for i in range(1, count + 1)]
    if any(len(vector) != rank for vector in vectors):
        raise InputError(f"index operands {vectors} do not have one entry per axis of a rank-{rank} input")
    return vectors


def _slice_record(ctx: OpContext, axes: list, kept: list[int]) -> OpRecord:
    """The record of a slice whose per-axis counts are `axes`; `kept`: the counts the output shape must list."""
    if list(ctx.reader.shape(ctx.output)) != kept:
        raise InputError(f"output shape {list(ctx.reader.shape(ctx.output))} is not the slice's {kept}")
    return OpRecord(ctx.inputs[:1], kpe.slice_params(axes))


def strided_slice(ctx: OpContext) -> OpRecord:
    """STRIDED_SLICE resolved as TFLite Micro's kernel does; it ignores the ellipsis and new-axis masks and the
    offset flag, so a model using them is refused rather than run differently."""
    options = ctx.options(schema.StridedSliceOptionsT)
    if options.ellipsisMask or options.newAxisMask or options.offset:
        raise UnsupportedError("STRIDED_SLICE with an ellipsis or new-axis mask or offset is not supported")
    masks = (options.beginMask, options.endMask, options.shrinkAxisMask)
    axes, kept = kpe.strided_slice_axes(ctx.reader.shape(ctx.inputs[0]), *_index_vectors(ctx, 3), *masks)
    return _slice_record(ctx, axes, kept)


def slice_op(ctx: OpContext) -> OpRecord:
    axes = kpe.slice_axes(ctx.reader.shape(ctx.inputs[0]), *_index_vectors(ctx, 2))
    return _slice_record(ctx, axes, [axis.count for axis in axes])


def pool_2d(ctx: OpContext) -> OpRecord:
    options = ctx.options(schema.Pool2DOptionsT)
    filter_hw = _positive("filter size", options.filterHeight, options.filterWidth)
    stride_hw = _positive("strides", options.strideH, options.strideW)
    params = kp.pool_params(ctx.shape4(ctx.inputs[0])[1:3], filter_hw, stride_hw, _padding(options),
                            *_output_quant(ctx), _activation(options))
    return OpRecord(ctx.inputs, params)


def mean_on_hw(reader, op: schema.OperatorT) -> bool:
    """A MEAN wess_mean_hw_s8 runs: its reduced axes, as the blob's NHWC axes, are H and W up to axes of extent 1
    (GlobalAveragePooling2D; GlobalAveragePooling1D: [1, T, C] is [1, 1, T, C]) and its output's quantization is
    not the input's (TFLite Micro's integer Mean runs that case). SUM's kernel runs any other MEAN."""
    input, axes = int(op.inputs[0]), reader.array(int(op.inputs[1])).ravel()
    if not 1 <= len(reader.shape(input)) <= 4 or any(not -len(reader.shape(input)) <= int(a) < len(reader.shape(input))
                                                      for a in axes):
        return False  # SUM's build names what is wrong
    reduced = kpe.reduced_nhwc_axes(len(reader.shape(input)), axes)
    on_hw = all(bool(flag) == (position in (1, 2)) for position, (flag, extent)
                in enumerate(zip(reduced, nhwc(reader.shape(input)))) if extent > 1)
    return on_hw and reader.quant(input) != reader.quant(int(op.outputs[0]))


def mean(ctx: OpContext) -> OpRecord:
    """MEAN over H and W (compact gives any other MEAN to SUM's kernel: mean_on_hw); TFLite Micro's int8 MEAN is one
    arithmetic for all axes."""
    return OpRecord(ctx.inputs[:1], kp.mean_params(*ctx.reader.quant(ctx.inputs[0]), *_output_quant(ctx)))


def reduce_sum(ctx: OpContext) -> OpRecord:
    """SUM, or a MEAN beyond H and W, over the constant axis operand (any NHWC axes); the output holds the kept axes."""
    input_shape = ctx.reader.shape(ctx.inputs[0])
    mean = flatbuf.builtin_code(ctx.reader.model, ctx.op) == OP.MEAN
    params = kpe.reduce_sum_params(len(input_shape), ctx.reader.array(ctx.inputs[1]).ravel(),
                                   ctx.reader.quant(ctx.inputs[0]), _output_quant(ctx), mean)
    kept = [extent for extent, reduced in zip(nhwc(input_shape), dataclasses.astuple(params.axes)) if not reduced]
    if int(np.prod(ctx.reader.shape(ctx.output))) != int(np.prod(kept)):
        raise InputError(f"output shape {list(ctx.reader.shape(ctx.output))} does not hold the kept axes of "
                         f"{list(input_shape)}")
    return OpRecord(ctx.inputs[:1], params)


def pad(ctx: OpContext) -> OpRecord:
    """PAD of H and W of a 4-D input (compact gives any other PAD to PADV2's kernel: pads_beyond_hw)."""
    paddings = ctx.reader.array(ctx.inputs[1]).reshape(4, 2)
    params = kp.pad_params(((int(paddings[1, 0]), int(paddings[1, 1])), (int(paddings[2, 0]), int(paddings[2, 1]))),
                           _output_quant(ctx)[1])
    return OpRecord(ctx.inputs[:1], params)


def grouped_filter(model: schema.ModelT, op: schema.OperatorT) -> bool:
    """A CONV_2D whose filter reads fewer input channels than the input has (groups = their ratio): the grouped
    kernel runs it."""
    if flatbuf.builtin_code(model, op) != OP.CONV_2D or len(op.inputs) < 2:
        return False
    tensors = model.subgraphs[0].tensors
    input_shape, filter_shape = tensors[int(op.inputs[0])].shape, tensors[int(op.inputs[1])].shape
    if input_shape is None or filter_shape is None or len(input_shape) != 4 or len(filter_shape) != 4:
        return False
    return int(filter_shape[3]) != int(input_shape[3])


def pads_beyond_hw(reader, op: schema.OperatorT) -> bool:
    """A PAD whose paddings touch an axis other than H and W of a 4-D input: PADV2's kernel runs it."""
    paddings = reader.array(int(op.inputs[1]))
    return paddings.size != 8 or paddings.reshape(4, 2)[0].any() or paddings.reshape(4, 2)[3].any()


def pad_any_axis(ctx: OpContext) -> OpRecord:
    """PADV2 (operands: input, paddings, pad value) or PAD (pad value: the output zero point, as TFLite's int8
    PAD) on any axes. The pad value operand must have the output's quantization (TFLite Micro requires it)."""
    input_shape, output_quant = ctx.reader.shape(ctx.inputs[0]), _output_quant(ctx)
    paddings = ctx.reader.array(ctx.inputs[1])
    if paddings.shape != (len(input_shape), 2):
        raise InputError(f"paddings of shape {list(paddings.shape)} for a rank-{len(input_shape)} input")
    pad_value = output_quant[1]
    if len(ctx.inputs) > 2 and ctx.inputs[2] >= 0:
        value = ctx.reader.array(ctx.inputs[2]).ravel()
        if value.size != 1 or ctx.reader.quant(ctx.inputs[2]) != output_quant:
            raise UnsupportedError(f"a pad value operand {value.tolist()} of quantization "
                                   f"{ctx.reader.quant(ctx.inputs[2])}, not one value of the output's {output_quant}")
        pad_value = int(value[0])
    params = kpe.pad_nhwc_params(paddings, pad_value, ctx.reader.quant(ctx.inputs[0]), output_quant)
    return OpRecord(ctx.inputs[:1], params)


def relabel(ctx: OpContext) -> OpRecord:
    """RESHAPE and its kin: the output is the input's bytes under another shape (the static output shape)."""
    return OpRecord(ctx.inputs[:1])


def concatenation(ctx: OpContext) -> OpRecord:
    options = ctx.options(schema.ConcatenationOptionsT)
    if options.axis not in (-1, len(ctx.reader.shape(ctx.output)) - 1) or options.fusedActivationFunction != 0:
        raise UnsupportedError("only CONCATENATION along the last axis without fused activation is supported")
    kp.concatenation_params([ctx.reader.quant(i) for i in ctx.inputs], _output_quant(ctx))
    return OpRecord(ctx.inputs)  # the C record's input count is the kernel's input_count


def softmax(ctx: OpContext) -> OpRecord:
    options = ctx.options(schema.SoftmaxOptionsT)
    output_quant = _output_quant(ctx)
    if output_quant != (float(np.float32(1 / 256)), -128):
        raise InputError(f"output quantization {output_quant} is not (1/256, -128)")
    return OpRecord(ctx.inputs, kp.softmax_params(ctx.reader.quant(ctx.inputs[0])[0], options.beta))


def quantize(ctx: OpContext) -> OpRecord:
    return OpRecord(ctx.inputs, kp.quantize_params(*_output_quant(ctx)))


def dequantize(ctx: OpContext) -> OpRecord:
    return OpRecord(ctx.inputs, kp.dequantize_params(*ctx.reader.quant(ctx.inputs[0])))


def sigmoid(output_quant: tuple[float, int]) -> Callable[[OpContext], OpRecord]:
    """LOGISTIC / TANH: the output quantization TFLite fixes for the op, then the Q4.27 input rescale."""
    def build(ctx: OpContext) -> OpRecord:
        found = _output_quant(ctx)
        if found != (float(np.float32(output_quant[0])), output_quant[1]):
            raise InputError(f"output quantization {found} is not {output_quant}")
        return OpRecord(ctx.inputs, kp.sigmoid_params(*ctx.reader.quant(ctx.inputs[0])))
    return build


def relu(activation: str) -> Callable[[OpContext], OpRecord]:
    def build(ctx: OpContext) -> OpRecord:
        return OpRecord(ctx.inputs, kp.relu_params(*ctx.reader.quant(ctx.inputs[0]), *_output_quant(ctx), activation))
    return build


def requantize(ctx: OpContext) -> OpRecord:
    """QUANTIZE int8 -> int8 (TFLite Micro's Requantize: input / output scale in double), as a RELU kernel with the
    full int8 range; the converter puts it before a CONCATENATION whose inputs differ in quantization."""
    return OpRecord(ctx.inputs, kp.relu_params(*ctx.reader.quant(ctx.inputs[0]), *_output_quant(ctx), "NONE"))


def hard_swish(ctx: OpContext) -> OpRecord:
    return OpRecord(ctx.inputs, kp.hard_swish_params(*ctx.reader.quant(ctx.inputs[0]), *_output_quant(ctx)))


def leaky_relu(ctx: OpContext) -> OpRecord:
    alpha = ctx.options(schema.LeakyReluOptionsT).alpha
    return OpRecord(ctx.inputs, kp.leaky_relu_params(*ctx.reader.quant(ctx.inputs[0]), *_output_quant(ctx), alpha))


# ---------------------------------------------------------------- the registry
