"""4-bit weights stored as TFLite INT4 tensors where both pinned runtimes run them, and as int8 for tools that do not."""
from __future__ import annotations

from ai_edge_litert import schema_py_generated as schema

from . import flatbuf

# The ops whose INT4 filter (int8 input and output) LiteRT and TFLite Micro both run -> the least operator version
# they then get: TFLite's op_version.cc gives 7 to both, but the pinned LiteRT registers DEPTHWISE_CONV_2D only up
# to version 6 (it runs the INT4 filter at the int8 version 3), so only CONV_2D is raised. TFLite Micro refuses an
# INT4 FULLY_CONNECTED filter with int8 input (fully_connected_common.cc) and has no INT4 TRANSPOSE_CONV: those
# filters stay int8 tensors holding -7..7.
INT4_FILTER_VERSIONS = {flatbuf.BUILTIN.CONV_2D: 7, flatbuf.BUILTIN.DEPTHWISE_CONV_2D: 1}


def with_int4_filters(data: bytes) -> bytes:
    """The model with every CONV_2D / DEPTHWISE_CONV_2D int8 constant filter whose values all lie in -8..7 (a 4-bit
    scheme's layers) stored as a packed INT4 tensor, and those operators at the INT4 version; the same bytes when
    there is none. Lossless: the tensor holds the same values in half the bytes."""
    model = flatbuf.read_model(data)
    graph = model.subgraphs[0]
    readers: dict[int, int] = {}
    for op in graph.operators:
        for tensor in op.inputs:
            readers[int(tensor)] = readers.get(int(tensor), 0) + 1
    changed = False
    for op in graph.operators:
        code = flatbuf.builtin_code(model, op)
        if code not in INT4_FILTER_VERSIONS or len(op.inputs) <= flatbuf.WEIGHTED_OPS[code].filter:
            continue
        index = flatbuf.WEIGHTED_OPS[code].filter_of(op)
        tensor = graph.tensors[index]
        if tensor.type != schema.TensorType.INT8 or readers.get(index) != 1 or not _is_constant(model, tensor):
            continue
        values = flatbuf.tensor_array(model, index)
        if not values.size or int(values.min()) < flatbuf.INT4_MIN or int(values.max()) > flatbuf.INT4_MAX:
            continue
        tensor.type = schema.TensorType.INT4
        flatbuf.set_tensor_array(model, index, values)
        op.opcodeIndex = _opcode_index(model, code, max(model.operatorCodes[op.opcodeIndex].version,
                                                        INT4_FILTER_VERSIONS[code]))
        changed = True
    return flatbuf.write_model(model) if changed else data


def with_int8_filters(data: bytes) -> bytes:
    """The model with every INT4 constant stored as an int8 tensor of the same values (for a tool that reads int8
    only, e.g. Vela); operator versions are left as they are. The same bytes when there is none."""
    model = flatbuf.read_model(data)
    graph = model.subgraphs[0]
    found = [index for index, tensor in enumerate(graph.tensors)
             if tensor.type == schema.TensorType.INT4 and _is_constant(model, tensor)]
    for index in found:
        values = flatbuf.tensor_array(model, index)
        graph.tensors[index].type = schema.TensorType.INT8
        flatbuf.set_tensor_array(model, index, values)
    return flatbuf.write_model(model) if found else data


def _is_constant(model: schema.ModelT, tensor: schema.TensorT) -> bool:
    data = model.buffers[tensor.buffer].data
    return data is not None and len(data) > 0


def _opcode_index(model: schema.ModelT, code: int, version: int) -> int:
    """The index of the (builtin code, version) operator code, appended when the model has none."""
    for index, opcode in enumerate(model.operatorCodes):
        if max(opcode.builtinCode, opcode.deprecatedBuiltinCode) == code and opcode.version == version:
            return index
    opcode = schema.OperatorCodeT()
    opcode.builtinCode, opcode.version = code, version
    opcode.deprecatedBuiltinCode = min(code, schema.BuiltinOperator.PLACEHOLDER_FOR_GREATER_OP_CODES)
    model.operatorCodes.append(opcode)
    return len(model.operatorCodes) - 1
