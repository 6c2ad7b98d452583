"""The compact model blob: an int8 TFLite model laid out for the firmware runner (format: docs/compact_model.md)."""
from __future__ import annotations

import struct
from dataclasses import dataclass, field

import numpy as np
from ai_edge_litert import schema_py_generated as schema

from pipeline.errors import InputError, UnsupportedError, about
from pipeline.tflite import flatbuf, metadata
from pipeline.tflite.flatbuf import INT4_MAX, INT4_MIN, pack_int4, unpack_int4  # noqa: F401 (unpack_int4: API)

from . import kernel_params as kp
from . import memplan, offset_fold
from . import op_registry as registry
from . import op_records
from . import param_words
from .op_registry import (  # noqa: F401 (OP: API)
    OP,
    OP_FLOAT32,
    OP_GROUPED_FILTER,
    OP_INT4_FILTER,
    TYPE_FLOAT32,
    TYPE_INT4,
    TYPE_INT8,
    TYPE_INT32,
    WEIGHTED_OPS,
)

MAGIC = b"WSSM"
VERSION = 2  # 2: float32 CONV_2D / DEPTHWISE_CONV_2D / FULLY_CONNECTED (op code | OP_FLOAT32); one output
VERSION_OUTPUT_LIST = 3  # 3: as 2, with an output list (a model with several outputs); one-output blobs stay 2
VERSION_INPUT_LIST = 4  # 4: as 3, the output list followed by an input count and an input list (several inputs)
MAX_OUTPUTS = 16  # WESS_MODEL_MAX_OUTPUTS
MAX_INPUTS = 16  # WESS_MODEL_MAX_INPUTS
HEADER = struct.Struct("<4sHH14I")  # 64 bytes, see docs/compact_model.md
TENSOR = struct.Struct("<iiiiBBHifII")  # 36 bytes
OP_HEADER = struct.Struct("<HHHH")  # op code, record bytes, input count, output count
CONSTANT_ALIGNMENT = 16
FLAG_WESS = 1

TYPE_CODES = {schema.TensorType.INT8: TYPE_INT8, schema.TensorType.INT32: TYPE_INT32,
              schema.TensorType.FLOAT32: TYPE_FLOAT32}
ELEMENT_BYTES = {TYPE_INT8: 1, TYPE_INT32: 4, TYPE_FLOAT32: 4}
NUMPY_TYPES = {TYPE_INT8: np.int8, TYPE_INT32: np.int32, TYPE_FLOAT32: np.float32, TYPE_INT4: np.int8}
STORAGE_NONE, STORAGE_ARENA, STORAGE_CONSTANT = 0, 1, 2
NO_OFFSET = -1  # an absent optional constant (bias, WESS shifts)


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
    """One op record: op code (TFLite's, | OP_FLOAT32 for a float32 kernel), tensor indices, parameter words
    (the requantization words last, also given as `requant` for weighted int8 ops)."""

    operator_index: int
    op_code: int
    op_name: str
    inputs: tuple[int, ...]
    outputs: tuple[int, ...]
    params: tuple[int, ...]
    requant: op_records.RequantWords | None = None


@dataclass(frozen=True)
class CompactModel:
    """The blob and the tables it was made from."""

    blob: bytes
    tensors: tuple[CompactTensor, ...]
    ops: tuple[CompactOp, ...]
    memory_plan: memplan.MemoryPlan
    input_tensors: tuple[int, ...]  # the model's inputs in the TFLite subgraph's order, copied in in this order
    output_tensors: tuple[int, ...]  # the model's outputs in the TFLite subgraph's order, copied out in this order
    wess: bool  # requantization from WESS metadata (one multiplier per layer plus 4-bit shifts)

    @property
    def arena_bytes(self) -> int:
        return self.memory_plan.arena_bytes

    @property
    def inputs(self) -> tuple[CompactTensor, ...]:
        return tuple(self.tensors[index] for index in self.input_tensors)

    @property
    def outputs(self) -> tuple[CompactTensor, ...]:
        return tuple(self.tensors[index] for index in self.output_tensors)


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
        raise UnsupportedError(f"{where}: rank {len(shape)} > 4 is not supported")
    if any(extent < 1 for extent in shape):
        raise InputError(f"{where}: shape {shape} has an empty or dynamic dimension")
    if int(np.prod(shape, dtype=object)) > 2**31 - 1:
        raise UnsupportedError(f"{where}: shape {shape} has more than 2^31 - 1 elements")
    return param_words.nhwc(shape)


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
        q = self.graph.tensors[index].quantization
        if q is None or q.scale is None or len(q.scale) == 0:
            raise InputError(f"tensor {index} ({flatbuf.tensor_name(self.graph.tensors[index])}) has no scale")
        return np.asarray(q.scale, np.float32)

    def is_constant(self, index: int) -> bool:
        data = self.model.buffers[self.graph.tensors[index].buffer].data
        return data is not None and len(data) > 0

    def array(self, index: int) -> np.ndarray:
        return flatbuf.tensor_array(self.model, index)


def _packable(reader: _Reader, op: schema.OperatorT, code: int, filter_users: dict[int, int]) -> bool:
    """A weighted int8 op whose constant filter holds only 4-bit values (-8..7, e.g. a 4-bit scheme's -7..7), is read
    by this op alone, and whose unpacked rows fit the 4-bit kernel's buffer: its weights can be stored packed."""
    weights = flatbuf.WEIGHTED_OPS[code].filter_of(op)
    tensor = reader.graph.tensors[weights]
    if tensor.type not in (schema.TensorType.INT8, schema.TensorType.INT4) or not reader.is_constant(weights) \
            or filter_users.get(weights, 0) != 1:
        return False
    if registry.unpack_rows(code, reader.shape(weights)) > registry.S4_UNPACK_BYTES:
        return False
    values = reader.array(weights)
    return bool(values.size) and int(values.min()) >= INT4_MIN and int(values.max()) <= INT4_MAX


def _requant_words(requant: kp.Requant, constants: _Constants) -> op_records.RequantWords:
    """The requantization tables added to the constant section, and the words that point to them."""
    multiplier_offset = constants.add(np.asarray(requant.multiplier, "<i4").tobytes())
    right_shift_offset = constants.add(np.asarray(requant.right_shift, "<i4").tobytes())
    shift4_offset = NO_OFFSET if requant.channel_shift4 is None else constants.add(
        np.asarray(requant.channel_shift4, np.uint8).tobytes())
    return op_records.RequantWords(int(requant.multiplier.size), multiplier_offset, right_shift_offset, shift4_offset)


def _is_float32(reader: _Reader, index: int) -> bool:
    return reader.graph.tensors[index].type == schema.TensorType.FLOAT32


def _touches_float32(spec: registry.OpSpec) -> bool:
    """An op whose kernel takes float32 tensors, keeps its input's type, or has a float32 variant."""
    types = (*spec.input_types, spec.output_type)
    return TYPE_FLOAT32 in types or registry.TYPE_ANY in types or (spec.code | OP_FLOAT32) in registry.SPECS


FLOAT32_KERNELS = " and ".join(", ".join(spec.name.removesuffix("_F32") for spec in registry.SPECS.values()
                                          if spec.code & OP_FLOAT32).rsplit(", ", 1))


def _lifetimes(ops: list[CompactOp], constant_tensors: set[int], input_tensors: tuple[int, ...],
               output_tensors: tuple[int, ...]) -> list[memplan.Buffer]:
    """Activation buffers with the span of op positions they are live, RESHAPE outputs aliasing their input."""
    root: dict[int, int] = {}
    for op in ops:
        if registry.SPECS[op.op_code].aliases_input:
            root[op.outputs[0]] = root.get(op.inputs[0], op.inputs[0])
    spans: dict[int, list[int]] = {}

    def touch(tensor: int, position: int) -> None:
        span = spans.setdefault(root.get(tensor, tensor), [position, position])
        span[0], span[1] = min(span[0], position), max(span[1], position)

    for input_tensor in input_tensors:  # written before the first op
        touch(input_tensor, 0)
    for position, op in enumerate(ops):
        for tensor in op.inputs + op.outputs:
            if tensor >= 0 and tensor not in constant_tensors:
                touch(tensor, position)
    for output_tensor in output_tensors:  # read after the last op
        touch(output_tensor, len(ops) - 1)
    members: dict[int, list[int]] = {}
    for tensor in set(root) | set(spans):
        members.setdefault(root.get(tensor, tensor), []).append(tensor)
    return [memplan.Buffer(tuple(sorted(members[r])), 0, span[0], span[1]) for r, span in spans.items()]


def data_inputs(model: schema.ModelT, op: schema.OperatorT) -> list[int]:
    """The inputs whose values the op reads; RESHAPE takes its shape from its static output tensor instead."""
    spec = registry.SPECS.get(flatbuf.builtin_code(model, op))
    return registry.data_inputs(spec, [int(t) for t in op.inputs if t >= 0])


def live_operators(model: schema.ModelT) -> set[int]:
    """Operators the graph output depends on: the SHAPE / STRIDED_SLICE / PACK chain that Keras' Flatten leaves
    to compute a RESHAPE's target shape is dead once RESHAPE uses its static output shape."""
    graph = model.subgraphs[0]
    needed, live = {int(t) for t in graph.outputs}, set()
    for index in reversed(range(len(graph.operators))):
        op = graph.operators[index]
        if any(int(t) in needed for t in op.outputs):
            live.add(index)
            needed.update(data_inputs(model, op))
    return live


def operator_plan(model: schema.ModelT, source: str = "model") -> tuple[dict[int, str | None], set[int]]:
    """({live operator: why the C runner cannot run it, or None when it can}, the constant tensors), for running the
    C runner with another runtime standing in per operator: an operator the C runner lacks reads all its inputs
    (so the SHAPE chain of a TRANSPOSE_CONV run elsewhere is live), one it has only its data inputs."""
    reader = _Reader(model)
    graph = reader.graph
    needed, plan = {int(t) for t in graph.outputs}, {}
    for index in reversed(range(len(graph.operators))):
        op = graph.operators[index]
        if not any(int(t) in needed for t in op.outputs):
            continue
        try:
            _op_spec(reader, op, f"operator {index}", flatbuf.opcode_name(model, op))
            plan[index] = None
            needed.update(data_inputs(model, op))
        except UnsupportedError as exc:
            plan[index] = f"{source}: {exc}"
            needed.update(int(t) for t in op.inputs if t >= 0)
    constants = {index for index in range(len(graph.tensors)) if reader.is_constant(index)}
    return dict(sorted(plan.items())), constants


def _op_spec(reader: _Reader, op: schema.OperatorT, where: str, name: str) -> registry.OpSpec:
    """The registry entry of an operator: its int8 kernel, or its float32 one when its input is float32."""
    spec = registry.SPECS.get(flatbuf.builtin_code(reader.model, op))
    if spec is None:
        raise UnsupportedError(f"{where} is {name}, which the C reference runner does not support")
    low, high = spec.output_count
    if not low <= len(op.outputs) <= high:
        raise UnsupportedError(f"{where} ({name}) has {len(op.outputs)} outputs; {low} to {high} are supported")
    inputs = [int(i) for i in op.inputs]
    if len(inputs) < spec.required_inputs or min(inputs[:spec.required_inputs]) < 0:
        raise InputError(f"{where} ({name}) has inputs {inputs}; it needs {spec.required_inputs} tensors")
    if spec.code == OP.PAD and op_records.pads_beyond_hw(reader, op):
        spec = registry.SPECS[OP.PADV2]  # PAD on any axis: PADV2's kernel with the output zero point
    if spec.code == OP.MEAN and not op_records.mean_on_hw(reader, op):
        spec = registry.SPECS[OP.SUM]  # MEAN on any axes: SUM's kernel in its MEAN mode
    if spec.code == OP.CONV_2D and op_records.grouped_filter(reader.model, op):
        spec = registry.SPECS[OP_GROUPED_FILTER | OP.CONV_2D]  # int8 only: a float one is refused below
    float_spec = registry.SPECS.get(spec.code | OP_FLOAT32)
    if float_spec is not None and _is_float32(reader, inputs[0]):
        return float_spec  # left in float by partial quantization
    int8_spec = registry.SPECS.get(spec.code | registry.OP_INT8_INPUT)
    if int8_spec is not None and not _is_float32(reader, inputs[0]):
        return int8_spec  # QUANTIZE int8 -> int8: a requantization
    if not _touches_float32(spec) and any(_is_float32(reader, t) for t in
                                          data_inputs(reader.model, op) + [int(t) for t in op.outputs]):
        raise UnsupportedError(f"{where} ({name}) was left in float32; only {FLOAT32_KERNELS} have float32 kernels")
    return spec


def _fold_offset(reader: _Reader, code: int, record: op_records.OpRecord, output: int, foldable_biases: set[int],
                 folded_biases: dict[int, np.ndarray]) -> op_records.OpRecord:
    """The record with its input offset folded into its bias (offset_fold; the new bias values go to folded_biases)
    when its bias is in foldable_biases (a constant only this op reads) and offset_fold.fold accepts it."""
    bias = record.inputs[2] if len(record.inputs) > 2 else -1
    if bias not in foldable_biases:
        return record
    input_tensor, weights = record.inputs[0], record.inputs[1]
    folded = offset_fold.fold(code & ~(OP_INT4_FILTER | OP_GROUPED_FILTER), record.params,
                              reader.shape(input_tensor), reader.array(weights), reader.array(bias),
                              reader.shape(output))
    if folded is None:
        return record
    folded_biases[bias] = folded.bias
    return op_records.OpRecord(record.inputs, folded.params, record.requant)


def _compile_op(reader: _Reader, op: schema.OperatorT, index: int, name: str, layer: metadata.LayerShifts | None,
                constants: _Constants, packed_filters: set[int], foldable_biases: set[int],
                folded_biases: dict[int, np.ndarray]) -> CompactOp:
    """One op record, its parameters computed as TFLite's Prepare does (errors name the operator); a weighted op
    whose filter is in packed_filters gets the packed 4-bit weight kernel; _fold_offset folds its input offset."""
    spec = _op_spec(reader, op, f"operator {index}", name)
    if spec.code in WEIGHTED_OPS and flatbuf.WEIGHTED_OPS[spec.code].filter_of(op) in packed_filters:
        spec = registry.SPECS[spec.code | OP_INT4_FILTER]
    with about(f"operator {index} ({name})"):
        if layer is not None and not spec.requant:
            raise InputError("WESS metadata names this float operator")
        record = spec.build(op_records.OpContext(reader, op, layer))
        record = _fold_offset(reader, spec.code, record, int(op.outputs[0]), foldable_biases, folded_biases)
        words = param_words.param_words(record.params) if record.params is not None else ()
        requant = None
        if record.requant is not None:
            requant = _requant_words(record.requant, constants)
            words += param_words.param_words(requant)
    return CompactOp(index, spec.code, name, record.inputs, tuple(int(t) for t in op.outputs), words, requant)


def compile_model(data: bytes, source: str = "model", pack_int4: bool = True, fold_offsets: bool = True) -> CompactModel:
    """Read a one-subgraph int8 .tflite (and its WESS metadata, if any) and lay it out as a blob.

    With pack_int4, every int8 (or TFLite INT4) conv/FC filter whose values all lie in -8..7 (the 4-bit schemes') is stored two
    weights per byte and run by the 4-bit kernel (same bytes out; a lossless choice made from the values). With
    fold_offsets, a CONV_2D / FULLY_CONNECTED whose bias only it reads gets its input offset folded into that bias
    where offset_fold allows (same bytes out; the blob format is unchanged: input_offset 0 and the folded bias)."""
    model = flatbuf.read_model(data, source)
    if len(model.subgraphs) != 1:
        raise UnsupportedError(f"{source}: {len(model.subgraphs)} subgraphs; exactly one is supported")
    reader = _Reader(model)
    graph = reader.graph
    input_tensors = tuple(int(t) for t in graph.inputs)
    if not 1 <= len(input_tensors) <= MAX_INPUTS or len(set(input_tensors)) != len(input_tensors):
        raise UnsupportedError(f"{source}: inputs {list(input_tensors)}; the C reference runner takes 1 to "
                               f"{MAX_INPUTS} distinct inputs")
    output_tensors = tuple(int(t) for t in graph.outputs)
    if not 1 <= len(output_tensors) <= MAX_OUTPUTS or len(set(output_tensors)) != len(output_tensors):
        raise UnsupportedError(f"{source}: outputs {list(output_tensors)}; the C reference runner takes 1 to "
                               f"{MAX_OUTPUTS} distinct outputs")
    has_wess = flatbuf.get_metadata(model, metadata.METADATA_NAME) is not None
    shifts = {layer.operator_index: layer for layer in metadata.read_shifts(model, source)} if has_wess else {}
    constants = _Constants()
    live = live_operators(model)
    packed = _packed_filters(reader, live) if pack_int4 else set()
    users = _tensor_users(reader, live)
    foldable = {t for t, count in users.items() if count == 1 and t >= 0 and reader.is_constant(t)} if fold_offsets \
        else set()
    folded: dict[int, np.ndarray] = {}
    with about(source):
        ops = [_compile_op(reader, op, index, flatbuf.opcode_name(model, op), shifts.get(index), constants, packed,
                           foldable, folded)
               for index, op in enumerate(graph.operators) if index in live]
    return _layout(reader, ops, constants, input_tensors, output_tensors, has_wess, source, folded)


def _tensor_users(reader: _Reader, live: set[int]) -> dict[int, int]:
    """How many input slots of the live ops read each tensor."""
    users: dict[int, int] = {}
    for index, op in enumerate(reader.graph.operators):
        for tensor in op.inputs if index in live else ():
            users[int(tensor)] = users.get(int(tensor), 0) + 1
    return users


def _packed_filters(reader: _Reader, live: set[int]) -> set[int]:
    """The filter tensors of the live int8 conv/FC ops that _packable accepts."""
    ops = [(index, op) for index, op in enumerate(reader.graph.operators) if index in live]
    users = _tensor_users(reader, live)
    return {flatbuf.WEIGHTED_OPS[code].filter_of(op) for _, op in ops
            if (OP_INT4_FILTER | (code := flatbuf.builtin_code(reader.model, op))) in registry.SPECS
            and len(op.inputs) > flatbuf.WEIGHTED_OPS[code].filter and _packable(reader, op, code, users)}


def _tensor_type(reader: _Reader, tensor: int, packed: set[int]) -> int | None:
    """The blob type of a tensor: TYPE_INT4 for a packed filter, TYPE_INT8 for a TFLite INT4 constant stored
    unpacked, else its TFLite type's (None: no blob type)."""
    if tensor in packed:
        return TYPE_INT4
    if reader.graph.tensors[tensor].type == schema.TensorType.INT4:
        return TYPE_INT8 if reader.is_constant(tensor) else None
    return TYPE_CODES.get(reader.graph.tensors[tensor].type)


def _check_tensor_types(reader: _Reader, op: CompactOp, source: str, packed: set[int]) -> None:
    """Every tensor of the op of a blob type, the one its kernel takes (TYPE_ANY: RESHAPE, whose C check compares
    input and output)."""
    spec = registry.SPECS[op.op_code]
    for position, tensor in enumerate(op.inputs + op.outputs):
        is_output = position >= len(op.inputs)
        expected = spec.output_type if is_output else spec.input_types[min(position, 2)]
        if tensor < 0:
            continue
        tensor_type = _tensor_type(reader, tensor, packed)
        if tensor_type is None or (expected is not registry.TYPE_ANY and tensor_type != expected):
            raise InputError(f"{source}: operator {op.operator_index} ({op.op_name}): tensor {tensor} has type "
                             f"{flatbuf.TENSOR_TYPE_NAMES.get(reader.graph.tensors[tensor].type)}, not the type the "
                             "kernel takes")


def _layout(reader: _Reader, ops: list[CompactOp], constants: _Constants, input_tensors: tuple[int, ...],
            output_tensors: tuple[int, ...], has_wess: bool, source: str,
            folded_biases: dict[int, np.ndarray]) -> CompactModel:
    """Tensor records, memory plan and the serialized blob (a constant in folded_biases gets those values)."""
    used = {t for op in ops for t in op.inputs + op.outputs if t >= 0} | {*input_tensors, *output_tensors}
    constant_tensors = {t for t in used if reader.is_constant(t)}
    if constant_tensors & {*input_tensors, *output_tensors}:
        raise InputError(f"{source}: a model input or output is a constant")
    packed = {op.inputs[1] for op in ops if op.op_code & OP_INT4_FILTER}
    for op in ops:
        _check_tensor_types(reader, op, source, packed)
        written = sorted(set(op.outputs) & constant_tensors)
        if written:
            raise InputError(f"{source}: operator {op.operator_index} writes constant tensor {written[0]}")
    sizes = {t: _data_bytes(int(np.prod(reader.shape(t), dtype=np.int64)), _tensor_type(reader, t, packed))
             for t in used}
    buffers = [memplan.Buffer(b.tensors, max(sizes[t] for t in b.tensors), b.first_op, b.last_op)
               for b in _lifetimes(ops, constant_tensors, input_tensors, output_tensors)]
    memory_plan = memplan.plan(buffers)
    tensors = []
    for index in range(len(reader.graph.tensors)):
        tensor = reader.graph.tensors[index]
        name = flatbuf.tensor_name(tensor)
        if index not in used:
            tensors.append(CompactTensor(index, name, (1,), (1, 1, 1, 1), TYPE_INT8, STORAGE_NONE, 0, 0.0, 0, 0))
            continue
        shape = reader.shape(index)
        type_code = _tensor_type(reader, index, packed)
        if index in packed:
            storage, offset = STORAGE_CONSTANT, constants.add(pack_int4(reader.array(index)))
        elif index in constant_tensors:
            values = folded_biases[index] if index in folded_biases else reader.array(index)
            storage, offset = STORAGE_CONSTANT, constants.add(values.astype(
                np.dtype(NUMPY_TYPES[type_code]).newbyteorder("<")).tobytes())
        else:
            storage, offset = STORAGE_ARENA, memory_plan.offset_of(index)
        scale, zero_point = reader.quant(index)
        tensors.append(CompactTensor(index, name, shape, _dims(shape, f"{source}: tensor {index} ({name})"), type_code,
                                     storage, zero_point, scale, offset, sizes[index]))
    try:
        blob = _serialize(tensors, ops, constants, input_tensors, output_tensors, memory_plan.arena_bytes, has_wess)
    except struct.error as exc:  # a zero point, size or parameter word outside its int32/uint32 field
        raise InputError(f"{source}: a value does not fit its field of the compact blob: {exc}") from None
    return CompactModel(blob, tuple(tensors), tuple(ops), memory_plan, input_tensors, output_tensors, has_wess)


def _io_lists(constants: _Constants, input_tensors: tuple[int, ...],
              output_tensors: tuple[int, ...]) -> tuple[int, tuple[int, int]]:
    """The blob version and header words 56/60 (output count, output list offset): version 2 and (0, 0) for one
    input and one output; else the output list in the constant section (version 3), followed, for several inputs, by
    the input count and the input list (version 4)."""
    if len(input_tensors) == 1 and len(output_tensors) == 1:
        return VERSION, (0, 0)  # reserved words of a version 2 header
    words = output_tensors if len(input_tensors) == 1 else (*output_tensors, len(input_tensors), *input_tensors)
    list_offset = constants.add(struct.pack(f"<{len(words)}I", *words))
    version = VERSION_OUTPUT_LIST if len(input_tensors) == 1 else VERSION_INPUT_LIST
    return version, (len(output_tensors), list_offset)


def _data_bytes(elements: int, type_code: int) -> int:
    return (elements + 1) // 2 if type_code == TYPE_INT4 else elements * ELEMENT_BYTES[type_code]


def _serialize(tensors: list[CompactTensor], ops: list[CompactOp], constants: _Constants,
               input_tensors: tuple[int, ...], output_tensors: tuple[int, ...], arena_bytes: int,
               has_wess: bool) -> bytes:
    version, output_words = _io_lists(constants, input_tensors, output_tensors)
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
    header = HEADER.pack(MAGIC, version, HEADER.size, blob_bytes, FLAG_WESS if has_wess else 0, len(tensors), len(ops),
                         input_tensors[0], output_tensors[0], tensor_table_offset, op_table_offset, len(op_table),
                         constant_offset, constants.size_bytes, arena_bytes, *output_words)
    padding = b"\0" * (constant_offset - op_table_offset - len(op_table))
    return header + tensor_table + op_table + padding + b"".join(constants.chunks)

