"""The compact model blob: an int8 TFLite model laid out for the firmware runner (format: docs/compact_model.md)."""
from __future__ import annotations

import struct
from dataclasses import astuple, dataclass, field

import numpy as np
from ai_edge_litert import schema_py_generated as schema

from pipeline.errors import WessError
from pipeline.tflite import flatbuf, metadata

from . import kernel_params as kp
from . import memplan

MAGIC = b"WSSM"
VERSION = 2  # 2: float32 CONV_2D / DEPTHWISE_CONV_2D / FULLY_CONNECTED (op code | OP_FLOAT32)
HEADER = struct.Struct("<4sHH14I")  # 64 bytes, see docs/compact_model.md
TENSOR = struct.Struct("<iiiiBBHifII")  # 36 bytes
OP_HEADER = struct.Struct("<HHHH")  # op code, record bytes, input count, output count
CONSTANT_ALIGNMENT = 16
FLAG_WESS = 1

TYPE_INT8, TYPE_INT32, TYPE_FLOAT32 = 0, 1, 2
TYPE_CODES = {schema.TensorType.INT8: TYPE_INT8, schema.TensorType.INT32: TYPE_INT32,
              schema.TensorType.FLOAT32: TYPE_FLOAT32}
ELEMENT_BYTES = {TYPE_INT8: 1, TYPE_INT32: 4, TYPE_FLOAT32: 4}
NUMPY_TYPES = {TYPE_INT8: np.int8, TYPE_INT32: np.int32, TYPE_FLOAT32: np.float32}
STORAGE_NONE, STORAGE_ARENA, STORAGE_CONSTANT = 0, 1, 2
NO_OFFSET = -1  # an absent optional constant (bias, WESS shifts)

OP = schema.BuiltinOperator
SUPPORTED_OPS = (OP.CONV_2D, OP.DEPTHWISE_CONV_2D, OP.FULLY_CONNECTED, OP.ADD, OP.AVERAGE_POOL_2D, OP.MAX_POOL_2D,
                 OP.MEAN, OP.PAD, OP.RESHAPE, OP.CONCATENATION, OP.SOFTMAX, OP.QUANTIZE, OP.DEQUANTIZE)
OP_FLOAT32 = 0x8000  # op code bit: the float32 kernel of an operator a partially quantized model leaves in float
WEIGHTED_OPS = (OP.CONV_2D, OP.DEPTHWISE_CONV_2D, OP.FULLY_CONNECTED)
FLOAT_CAPABLE_OPS = (*WEIGHTED_OPS, OP.QUANTIZE, OP.DEQUANTIZE, OP.RESHAPE)  # ops that may touch float32 tensors
PADDING_NAMES = {schema.Padding.SAME: "SAME", schema.Padding.VALID: "VALID"}


@dataclass(frozen=True)
class CompactTensor:
    """One tensor record: NHWC dims (rank <= 4, leading ones), type, int8 quantization and where its bytes live."""

    index: int
    name: str
    shape: tuple[int, ...]  # the TFLite shape, for dumps
    dims: tuple[int, int, int, int]
    type_code: int
    storage: int
    zero_point: int
    scale: float
    data_offset: int  # arena offset (STORAGE_ARENA) or offset in the constant section (STORAGE_CONSTANT)
    data_bytes: int

    @property
    def numpy_type(self):
        return NUMPY_TYPES[self.type_code]


@dataclass(frozen=True)
class CompactOp:
    """One op record: op code (TFLite's, | OP_FLOAT32 for a float32 kernel), tensor indices, parameter words."""

    operator_index: int
    op_code: int
    op_name: str
    inputs: tuple[int, ...]
    outputs: tuple[int, ...]
    params: tuple[int, ...]


@dataclass(frozen=True)
class CompactModel:
    """The blob and the tables it was made from."""

    blob: bytes
    tensors: tuple[CompactTensor, ...]
    ops: tuple[CompactOp, ...]
    memory_plan: memplan.MemoryPlan
    input_tensor: int
    output_tensor: int
    wess: bool  # requantization from WESS metadata (one multiplier per layer plus 4-bit shifts)

    @property
    def arena_bytes(self) -> int:
        return self.memory_plan.arena_bytes


@dataclass
class _Constants:
    """The constant section being built: 16-byte aligned chunks."""

    chunks: list[bytes] = field(default_factory=list)
    size_bytes: int = 0

    def add(self, data: bytes) -> int:
        offset = self.size_bytes
        padding = -len(data) % CONSTANT_ALIGNMENT
        self.chunks.append(data + b"\0" * padding)
        self.size_bytes += len(data) + padding
        return offset


def _dims(shape: tuple[int, ...], where: str) -> tuple[int, int, int, int]:
    """NHWC dims: rank 2 [b, d] -> [b, 1, 1, d]; other ranks <= 4 padded with leading ones."""
    if len(shape) > 4:
        raise WessError(f"{where}: rank {len(shape)} > 4 is not supported")
    if any(extent < 1 for extent in shape):
        raise WessError(f"{where}: shape {shape} has an empty or dynamic dimension")
    if int(np.prod(shape, dtype=object)) > 2**31 - 1:
        raise WessError(f"{where}: shape {shape} has more than 2^31 - 1 elements")
    if len(shape) == 2:
        return (shape[0], 1, 1, shape[1])
    return tuple((1,) * (4 - len(shape)) + shape)


class _Reader:
    """The TFLite model's tensors as the compiler needs them."""

    def __init__(self, model: schema.ModelT):
        self.model = model
        self.graph = model.subgraphs[0]

    def shape(self, index: int) -> tuple[int, ...]:
        shape = self.graph.tensors[index].shape
        return () if shape is None else tuple(int(extent) for extent in shape)  # no shape vector: a scalar

    def quant(self, index: int) -> tuple[float, int]:
        q = self.graph.tensors[index].quantization
        if q is None or q.scale is None or len(q.scale) == 0:
            return 0.0, 0
        return float(np.float32(q.scale[0])), int(q.zeroPoint[0]) if q.zeroPoint is not None and len(q.zeroPoint) else 0

    def scales(self, index: int) -> np.ndarray:
        return np.asarray(self.graph.tensors[index].quantization.scale, np.float32)

    def is_constant(self, index: int) -> bool:
        data = self.model.buffers[self.graph.tensors[index].buffer].data
        return data is not None and len(data) > 0

    def array(self, index: int) -> np.ndarray:
        return flatbuf.tensor_array(self.model, index)


def _requant_words(requant: kp.Requant, constants: _Constants) -> tuple[int, ...]:
    multiplier_offset = constants.add(np.asarray(requant.multiplier, "<i4").tobytes())
    right_shift_offset = constants.add(np.asarray(requant.right_shift, "<i4").tobytes())
    shift4_offset = NO_OFFSET if requant.channel_shift4 is None else constants.add(
        np.asarray(requant.channel_shift4, np.uint8).tobytes())
    return (int(requant.multiplier.size), multiplier_offset, right_shift_offset, shift4_offset)


def _layer_requant(reader: _Reader, op: schema.OperatorT, operator_index: int,
                   shifts: dict[int, metadata.LayerShifts]) -> kp.Requant:
    """WESS: one multiplier plus 4-bit shifts; otherwise one multiplier per weight scale (1 or C)."""
    input_scale, output_scale = reader.quant(op.inputs[0])[0], reader.quant(op.outputs[0])[0]
    layer = shifts.get(operator_index)
    if layer is not None:
        requant = kp.wess_requant(input_scale, layer.layer_scale, output_scale, layer.channel_right_shift)
        if (int(requant.multiplier[0]), int(requant.right_shift[0])) != (layer.multiplier, layer.right_shift):
            raise WessError(f"operator {operator_index}: WESS metadata multiplier disagrees with the scales")
        return requant
    return kp.per_channel_requant(input_scale, reader.scales(op.inputs[1]), output_scale)


def _float_bits(value: float) -> int:
    """A float32's bit pattern as an int32 parameter word."""
    return int(np.float32(value).view(np.int32))


def _activation(options) -> int:
    code = int(options.fusedActivationFunction)
    if code not in kp.ACTIVATION_CODES:
        raise ValueError(f"fused activation {code} is not supported")
    return code


def _is_float32(reader: _Reader, index: int) -> bool:
    return reader.graph.tensors[index].type == schema.TensorType.FLOAT32


def _float_weighted_params(reader: _Reader, code: int, op: schema.OperatorT) -> tuple[int, ...]:
    """Parameter words of a float32 CONV_2D / DEPTHWISE_CONV_2D / FULLY_CONNECTED (activation bounds as f32 bits)."""
    options = op.builtinOptions
    if code == OP.FULLY_CONNECTED:
        if options is not None and options.weightsFormat != 0:
            raise ValueError("only the default weights format is supported")
        bounds = kp.float_activation_range(_activation(options) if options is not None else 0)
        return tuple(_float_bits(bound) for bound in bounds)
    input_shape, filter_shape = reader.shape(int(op.inputs[0])), reader.shape(int(op.inputs[1]))
    params = kp.conv_f32_params(input_shape[1:3], filter_shape[1:3], (options.strideH, options.strideW),
                                (options.dilationHFactor, options.dilationWFactor), PADDING_NAMES[options.padding],
                                _activation(options))
    words = (*astuple(params)[:6], _float_bits(params.act_min), _float_bits(params.act_max))
    if code == OP.CONV_2D:
        return words
    if filter_shape[3] % input_shape[3]:
        raise ValueError(f"{filter_shape[3]} output channels are not a multiple of {input_shape[3]} inputs")
    return (*words, filter_shape[3] // input_shape[3])


def _op_params(reader: _Reader, code: int, op: schema.OperatorT, operator_index: int,
               shifts: dict[int, metadata.LayerShifts], constants: _Constants) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """(runtime input tensor indices, parameter words) of one op, computed as TFLite's Prepare does."""
    inputs = tuple(int(i) for i in op.inputs)
    if code & OP_FLOAT32:
        if operator_index in shifts:
            raise ValueError("WESS metadata names this float operator")
        weighted_inputs = inputs[:2] + (inputs[2] if len(inputs) > 2 else -1,)
        return weighted_inputs, _float_weighted_params(reader, code & ~OP_FLOAT32, op)
    options = op.builtinOptions
    output = int(op.outputs[0])
    out_scale, out_zero_point = reader.quant(output)
    in_scale, in_zero_point = reader.quant(inputs[0])
    if code in (OP.CONV_2D, OP.DEPTHWISE_CONV_2D):
        filter_shape = reader.shape(inputs[1])
        input_shape = reader.shape(inputs[0])
        args = (input_shape[1:3], filter_shape[1:3], (options.strideH, options.strideW),
                (options.dilationHFactor, options.dilationWFactor), PADDING_NAMES[options.padding])
        tail = (in_zero_point, out_scale, out_zero_point, _activation(options))
        if code == OP.CONV_2D:
            words = astuple(kp.conv_params(*args, *tail))
        else:
            output_channels, input_channels = filter_shape[3], input_shape[3]
            if output_channels % input_channels:
                raise ValueError(f"{output_channels} output channels are not a multiple of {input_channels} inputs")
            params = kp.depthwise_params(*args, output_channels // input_channels, *tail)
            words = (*astuple(params.conv), params.depth_multiplier)
        requant = _layer_requant(reader, op, operator_index, shifts)
        return inputs[:2] + (inputs[2] if len(inputs) > 2 else -1,), (*words, *_requant_words(requant, constants))
    if code == OP.FULLY_CONNECTED:
        if options is not None and options.weightsFormat != 0:
            raise ValueError("only the default weights format is supported")
        params = kp.fully_connected_params(in_zero_point, out_scale, out_zero_point,
                                           _activation(options) if options is not None else 0)
        requant = _layer_requant(reader, op, operator_index, shifts)
        return (inputs[:2] + (inputs[2] if len(inputs) > 2 else -1,),
                (*astuple(params), *_requant_words(requant, constants)))
    if code == OP.ADD:
        if reader.shape(inputs[0]) != reader.shape(inputs[1]):
            raise ValueError(f"broadcasting {reader.shape(inputs[0])} + {reader.shape(inputs[1])} is not supported")
        second_scale, second_zero_point = reader.quant(inputs[1])
        params = kp.add_params(in_scale, in_zero_point, second_scale, second_zero_point, out_scale, out_zero_point,
                               _activation(options))
        return inputs, astuple(params)
    if code in (OP.AVERAGE_POOL_2D, OP.MAX_POOL_2D):
        params = kp.pool_params(reader.shape(inputs[0])[1:3], (options.filterHeight, options.filterWidth),
                                (options.strideH, options.strideW), PADDING_NAMES[options.padding], out_scale,
                                out_zero_point, _activation(options))
        return inputs, astuple(params)
    if code == OP.MEAN:
        axes = sorted(int(a) % 4 for a in reader.array(inputs[1]).ravel())
        if len(reader.shape(inputs[0])) != 4 or axes != [1, 2]:
            raise ValueError(f"MEAN over axes {axes} is not supported (only H and W of a 4-D input)")
        return inputs[:1], astuple(kp.mean_params(in_scale, in_zero_point, out_scale, out_zero_point))
    if code == OP.PAD:
        paddings = reader.array(inputs[1]).reshape(-1, 2)
        if paddings.shape[0] != 4 or paddings[0].any() or paddings[3].any():
            raise ValueError(f"PAD {paddings.tolist()} is not supported (only H and W of a 4-D input)")
        params = kp.pad_params(((int(paddings[1, 0]), int(paddings[1, 1])), (int(paddings[2, 0]), int(paddings[2, 1]))),
                               out_zero_point)
        return inputs[:1], astuple(params)
    if code == OP.RESHAPE:
        return inputs[:1], ()
    if code == OP.CONCATENATION:
        if options.axis not in (-1, len(reader.shape(output)) - 1) or options.fusedActivationFunction != 0:
            raise ValueError("only CONCATENATION along the last axis without fused activation is supported")
        kp.concatenation_params([reader.quant(i) for i in inputs], (out_scale, out_zero_point))
        return inputs, ()
    if code == OP.SOFTMAX:
        if (out_scale, out_zero_point) != (float(np.float32(1 / 256)), -128):
            raise ValueError(f"output quantization ({out_scale}, {out_zero_point}) is not (1/256, -128)")
        return inputs, astuple(kp.softmax_params(in_scale, options.beta))
    if code == OP.QUANTIZE:
        params = kp.quantize_params(out_scale, out_zero_point)
        return inputs, (_float_bits(params.output_scale), params.output_zero_point)
    params = kp.dequantize_params(in_scale, in_zero_point)  # DEQUANTIZE
    return inputs, (_float_bits(params.input_scale), params.input_zero_point)


def _expected_types(code: int, input_count: int) -> tuple[tuple[int, ...], int]:
    """(input types, output type) the C kernels take; RESHAPE keeps its input's type (checked separately)."""
    if code & OP_FLOAT32:
        return (TYPE_FLOAT32,) * 3, TYPE_FLOAT32
    if code in WEIGHTED_OPS:
        return (TYPE_INT8, TYPE_INT8, TYPE_INT32), TYPE_INT8
    if code == OP.QUANTIZE:
        return (TYPE_FLOAT32,), TYPE_INT8
    if code == OP.DEQUANTIZE:
        return (TYPE_INT8,), TYPE_FLOAT32
    return (TYPE_INT8,) * input_count, TYPE_INT8


def _lifetimes(ops: list[CompactOp], constant_tensors: set[int], input_tensor: int,
               output_tensor: int) -> list[memplan.Buffer]:
    """Activation buffers with the span of op positions they are live, RESHAPE outputs aliasing their input."""
    root: dict[int, int] = {}
    for op in ops:
        if op.op_code == OP.RESHAPE:
            root[op.outputs[0]] = root.get(op.inputs[0], op.inputs[0])
    spans: dict[int, list[int]] = {}

    def touch(tensor: int, position: int) -> None:
        span = spans.setdefault(root.get(tensor, tensor), [position, position])
        span[0], span[1] = min(span[0], position), max(span[1], position)

    touch(input_tensor, 0)
    for position, op in enumerate(ops):
        for tensor in op.inputs + op.outputs:
            if tensor >= 0 and tensor not in constant_tensors:
                touch(tensor, position)
    touch(output_tensor, len(ops) - 1)
    members: dict[int, list[int]] = {}
    for tensor in set(root) | set(spans):
        members.setdefault(root.get(tensor, tensor), []).append(tensor)
    return [memplan.Buffer(tuple(sorted(members[r])), 0, span[0], span[1]) for r, span in spans.items()]


def _data_inputs(model: schema.ModelT, op: schema.OperatorT) -> list[int]:
    """The inputs whose values the op reads; RESHAPE takes its shape from its static output tensor instead."""
    code = model.operatorCodes[op.opcodeIndex]
    inputs = [int(t) for t in op.inputs if t >= 0]
    return inputs[:1] if max(code.builtinCode, code.deprecatedBuiltinCode) == OP.RESHAPE else inputs


def _live_operators(model: schema.ModelT) -> set[int]:
    """Operators the graph output depends on: the SHAPE / STRIDED_SLICE / PACK chain that Keras' Flatten leaves
    to compute a RESHAPE's target shape is dead once RESHAPE uses its static output shape."""
    graph = model.subgraphs[0]
    needed, live = {int(t) for t in graph.outputs}, set()
    for index in reversed(range(len(graph.operators))):
        op = graph.operators[index]
        if any(int(t) in needed for t in op.outputs):
            live.add(index)
            needed.update(_data_inputs(model, op))
    return live


# Inputs an operator must have (>= 0 tensor indices) before its parameters are read; others need one.
REQUIRED_INPUTS = {OP.CONV_2D: 2, OP.DEPTHWISE_CONV_2D: 2, OP.FULLY_CONNECTED: 2, OP.ADD: 2, OP.MEAN: 2, OP.PAD: 2}


def compile_model(data: bytes, source: str = "model") -> CompactModel:
    """Read a one-subgraph int8 .tflite (and its WESS metadata, if any) and lay it out as a blob."""
    model = flatbuf.read_model(data, source)
    if len(model.subgraphs) != 1:
        raise WessError(f"{source}: {len(model.subgraphs)} subgraphs; exactly one is supported")
    reader = _Reader(model)
    graph = reader.graph
    if len(graph.inputs) != 1 or len(graph.outputs) != 1:
        raise WessError(f"{source}: {len(graph.inputs)} inputs and {len(graph.outputs)} outputs; one of each is supported")
    has_wess = flatbuf.get_metadata(model, metadata.METADATA_NAME) is not None
    shifts = {layer.operator_index: layer for layer in metadata.read_shifts(model, source)} if has_wess else {}
    constants = _Constants()
    ops: list[CompactOp] = []
    live = _live_operators(model)
    for index, op in enumerate(graph.operators):
        if index not in live:
            continue
        code = max(model.operatorCodes[op.opcodeIndex].builtinCode,
                   model.operatorCodes[op.opcodeIndex].deprecatedBuiltinCode)
        name = flatbuf.opcode_name(model, op)
        if code not in SUPPORTED_OPS:
            raise WessError(f"{source}: operator {index} is {name}, which the C reference runner does not support")
        if len(op.outputs) != 1:
            raise WessError(f"{source}: operator {index} ({name}) has {len(op.outputs)} outputs; one is supported")
        required = REQUIRED_INPUTS.get(code, 1)
        if len(op.inputs) < required or min(int(i) for i in op.inputs[:required]) < 0:
            raise WessError(f"{source}: operator {index} ({name}) has inputs {[int(i) for i in op.inputs]}; it needs "
                            f"{required} tensors")
        if code in WEIGHTED_OPS and _is_float32(reader, int(op.inputs[0])):
            code |= OP_FLOAT32  # left in float by partial quantization
        elif code not in FLOAT_CAPABLE_OPS and any(_is_float32(reader, t) for t in
                                                   _data_inputs(model, op) + [int(op.outputs[0])]):
            raise WessError(f"{source}: operator {index} ({name}) was left in float32; only CONV_2D, "
                            "DEPTHWISE_CONV_2D and FULLY_CONNECTED have float32 kernels")
        try:
            inputs, params = _op_params(reader, code, op, index, shifts, constants)
        except (ValueError, KeyError, AttributeError, IndexError, TypeError, ArithmeticError) as exc:  # e.g. bad rank
            raise WessError(f"{source}: operator {index} ({name}): {type(exc).__name__}: {exc}") from None
        ops.append(CompactOp(index, code, name, inputs, (int(op.outputs[0]),), tuple(int(w) for w in params)))
    input_tensor, output_tensor = int(graph.inputs[0]), int(graph.outputs[0])
    return _layout(reader, ops, constants, input_tensor, output_tensor, has_wess, source)


def _layout(reader: _Reader, ops: list[CompactOp], constants: _Constants, input_tensor: int, output_tensor: int,
            has_wess: bool, source: str) -> CompactModel:
    """Tensor records, memory plan and the serialized blob."""
    used = {t for op in ops for t in op.inputs + op.outputs if t >= 0} | {input_tensor, output_tensor}
    constant_tensors = {t for t in used if reader.is_constant(t)}
    if input_tensor in constant_tensors or output_tensor in constant_tensors:
        raise WessError(f"{source}: the model input or output is a constant")
    for op in ops:
        input_types, output_type = _expected_types(op.op_code, len(op.inputs))
        for position, tensor in enumerate(op.inputs + op.outputs):
            tensor_type = TYPE_CODES.get(reader.graph.tensors[tensor].type) if tensor >= 0 else None
            expected = (input_types + (output_type,))[position] if op.op_code != OP.RESHAPE else tensor_type
            if tensor >= 0 and (tensor_type is None or tensor_type != expected):
                raise WessError(f"{source}: operator {op.operator_index} ({op.op_name}): tensor {tensor} has type "
                                f"{flatbuf.TENSOR_TYPE_NAMES.get(reader.graph.tensors[tensor].type)}, not the "
                                "type the kernel takes")
        if op.outputs[0] in constant_tensors:
            raise WessError(f"{source}: operator {op.operator_index} writes constant tensor {op.outputs[0]}")
    sizes = {t: int(np.prod(reader.shape(t), dtype=np.int64)) * ELEMENT_BYTES[TYPE_CODES[reader.graph.tensors[t].type]]
             for t in used}
    buffers = [memplan.Buffer(b.tensors, max(sizes[t] for t in b.tensors), b.first_op, b.last_op)
               for b in _lifetimes(ops, constant_tensors, input_tensor, output_tensor)]
    memory_plan = memplan.plan(buffers)
    tensors = []
    for index in range(len(reader.graph.tensors)):
        tensor = reader.graph.tensors[index]
        name = flatbuf.tensor_name(tensor)
        if index not in used:
            tensors.append(CompactTensor(index, name, (1,), (1, 1, 1, 1), TYPE_INT8, STORAGE_NONE, 0, 0.0, 0, 0))
            continue
        shape = reader.shape(index)
        type_code = TYPE_CODES[tensor.type]
        if index in constant_tensors:
            storage, offset = STORAGE_CONSTANT, constants.add(reader.array(index).astype(
                np.dtype(NUMPY_TYPES[type_code]).newbyteorder("<")).tobytes())
        else:
            storage, offset = STORAGE_ARENA, memory_plan.offset_of(index)
        scale, zero_point = reader.quant(index)
        tensors.append(CompactTensor(index, name, shape, _dims(shape, f"{source}: tensor {index} ({name})"), type_code,
                                     storage, zero_point, scale, offset, sizes[index]))
    try:
        blob = _serialize(tensors, ops, constants, input_tensor, output_tensor, memory_plan.arena_bytes, has_wess)
    except struct.error as exc:  # a zero point, size or parameter word outside its int32/uint32 field
        raise WessError(f"{source}: a value does not fit its field of the compact blob: {exc}") from None
    return CompactModel(blob, tuple(tensors), tuple(ops), memory_plan, input_tensor, output_tensor, has_wess)


def _serialize(tensors: list[CompactTensor], ops: list[CompactOp], constants: _Constants, input_tensor: int,
               output_tensor: int, arena_bytes: int, has_wess: bool) -> bytes:
    tensor_table = b"".join(TENSOR.pack(*t.dims, t.type_code, t.storage, 0, t.zero_point, np.float32(t.scale),
                                        t.data_offset, t.data_bytes) for t in tensors)
    records = []
    for op in ops:
        words = op.inputs + op.outputs + op.params
        records.append(OP_HEADER.pack(op.op_code, OP_HEADER.size + 4 * len(words), len(op.inputs), len(op.outputs))
                       + struct.pack(f"<{len(words)}i", *words))
    op_table = b"".join(records)
    tensor_table_offset = HEADER.size
    op_table_offset = tensor_table_offset + len(tensor_table)
    constant_offset = -(-(op_table_offset + len(op_table)) // CONSTANT_ALIGNMENT) * CONSTANT_ALIGNMENT
    blob_bytes = constant_offset + constants.size_bytes
    header = HEADER.pack(MAGIC, VERSION, HEADER.size, blob_bytes, FLAG_WESS if has_wess else 0, len(tensors), len(ops),
                         input_tensor, output_tensor, tensor_table_offset, op_table_offset, len(op_table),
                         constant_offset, constants.size_bytes, arena_bytes, 0, 0)
    padding = b"\0" * (constant_offset - op_table_offset - len(op_table))
    return header + tensor_table + op_table + padding + b"".join(constants.chunks)

