"""Read and write TFLite flatbuffers through the object API of ai_edge_litert's generated schema."""
from __future__ import annotations

import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from ai_edge_litert import schema_py_generated as schema

from pipeline.errors import InputError, UnsupportedError

FILE_IDENTIFIER = b"TFL3"
BUFFER_ALIGNMENT = 16

OPCODE_NAMES = {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_")}
TENSOR_TYPE_NAMES = {v: k for k, v in vars(schema.TensorType).items() if not k.startswith("_")}
NUMPY_DTYPES = {schema.TensorType.INT8: np.int8, schema.TensorType.INT32: np.int32,
                schema.TensorType.FLOAT32: np.float32, schema.TensorType.INT16: np.int16,
                schema.TensorType.INT64: np.int64, schema.TensorType.UINT8: np.uint8}
BUILTIN = schema.BuiltinOperator
INT4_MIN, INT4_MAX = -8, 7


@dataclass(frozen=True)
class Operands:
    """Where a weighted op's data input, filter and bias sit among its TFLite inputs, and its filter's output-channel
    axis. The bias is optional (the converter drops an all-zero one): `bias_of` gives -1 when it is absent."""

    input: int
    filter: int
    bias: int
    channel_axis: int

    def input_of(self, op) -> int:
        return int(op.inputs[self.input])

    def filter_of(self, op) -> int:
        return int(op.inputs[self.filter])

    def bias_of(self, op) -> int:
        return int(op.inputs[self.bias]) if len(op.inputs) > self.bias else -1


# The operators whose constant weights carry per-output-channel scales (WESS, bias correction, AdaRound, partial
# quantization and the metadata check read their operands here, never by position): op code -> Operands.
WEIGHTED_OPS = {
    BUILTIN.CONV_2D: Operands(input=0, filter=1, bias=2, channel_axis=0),  # filter [O, kh, kw, I]
    BUILTIN.DEPTHWISE_CONV_2D: Operands(input=0, filter=1, bias=2, channel_axis=3),  # filter [1, kh, kw, I * M]
    BUILTIN.FULLY_CONNECTED: Operands(input=0, filter=1, bias=2, channel_axis=0),  # filter [O, I]
    BUILTIN.TRANSPOSE_CONV: Operands(input=2, filter=1, bias=3, channel_axis=0),  # 0: output shape; [O, kh, kw, I]
}
WEIGHTED_OP_NAMES = tuple(OPCODE_NAMES[code] for code in WEIGHTED_OPS)


def read_model(data: bytes, source: str = "<bytes>") -> schema.ModelT:
    """Parse a .tflite flatbuffer into a ModelT, with a clear error when it is not one."""
    if len(data) < 8:
        raise InputError(f"{source}: not a TFLite model ({len(data)} bytes, too short for a flatbuffer)")
    if data[4:8] != FILE_IDENTIFIER:
        raise InputError(f"{source}: not a TFLite model (file identifier {data[4:8]!r}, expected {FILE_IDENTIFIER!r})")
    root = int.from_bytes(data[:4], "little")
    if root % 4 or not 8 <= root <= len(data) - 4:
        raise InputError(f"{source}: not a valid TFLite flatbuffer: root table offset {root} outside 8..{len(data) - 4}")
    try:
        _check_unpack_size(schema.Model.GetRootAs(data, 0), len(data))
        model = schema.ModelT.InitFromObj(schema.Model.GetRootAs(data, 0))
    except _TooManyObjects as exc:
        raise InputError(f"{source}: not a valid TFLite flatbuffer: {exc}") from None
    except Exception as exc:  # the generated reader raises whatever a corrupt offset leads to
        past_end = re.search(r"at offset (\d+) \(actual buffer size is (\d+)\)", str(exc))
        if past_end:
            raise InputError(f"{source}: truncated or corrupt TFLite flatbuffer (a field at byte {past_end[1]} lies "
                            f"past the end of the {past_end[2]}-byte file)") from None
        raise InputError(f"{source}: not a valid TFLite flatbuffer: {type(exc).__name__}: {str(exc)[:200]}") from None
    if not model.subgraphs:
        raise InputError(f"{source}: TFLite model has no subgraph")
    _check_indices(model, source)
    return model


class _TooManyObjects(Exception):
    pass


def _check_unpack_size(root: schema.Model, file_bytes: int) -> None:
    """Refuse a flatbuffer whose tables or strings are shared so often that unpacking it would take far more work
    than its size suggests (a 16 KB file can list one subgraph 2,000 times, each listing one tensor 2,000 times).
    A file without shared objects has at most one table per 4 bytes and at most its own size of string bytes; the
    walk stops as soon as either budget is exceeded, so it costs O(file size)."""
    budget = {"tables": 64 + file_bytes // 4, "string bytes": file_bytes}

    def spend(kind: str, amount: int) -> None:
        budget[kind] -= amount
        if budget[kind] < 0:
            raise _TooManyObjects(f"more {kind} than its {file_bytes} bytes can hold without shared references")

    def strings(*values) -> None:
        spend("string bytes", sum(len(value or b"") for value in values))

    spend("tables", root.OperatorCodesLength() + root.SubgraphsLength() + root.BuffersLength() +
          root.MetadataLength() + root.SignatureDefsLength())
    for i in range(root.OperatorCodesLength()):
        strings(root.OperatorCodes(i).CustomCode())
    for i in range(root.MetadataLength()):
        strings(root.Metadata(i).Name())
    for i in range(root.SignatureDefsLength()):
        signature = root.SignatureDefs(i)
        spend("tables", signature.InputsLength() + signature.OutputsLength())
        strings(signature.SignatureKey(), *(signature.Inputs(j).Name() for j in range(signature.InputsLength())),
                *(signature.Outputs(j).Name() for j in range(signature.OutputsLength())))
    for i in range(root.SubgraphsLength()):
        graph = root.Subgraphs(i)
        spend("tables", 2 * graph.TensorsLength() + 2 * graph.OperatorsLength())  # + quantization / options
        strings(graph.Name())
        for j in range(graph.TensorsLength()):
            tensor = graph.Tensors(j)
            strings(tensor.Name())
            sparsity = tensor.Sparsity()
            spend("tables", tensor.VariantTensorsLength() + (3 * sparsity.DimMetadataLength() if sparsity else 0))


def _check_indices(model: schema.ModelT, source: str) -> None:
    """Every tensor, buffer and operator-code index the readers follow is in range (as TFLite's own loader
    checks) and the index lists they iterate are present; raises WessError naming the first bad one. Absent
    buffer, operator-code, tensor and operator lists become empty lists (what an absent vector means)."""
    model.buffers, model.operatorCodes = model.buffers or [], model.operatorCodes or []
    buffers, codes = len(model.buffers), len(model.operatorCodes)
    for g, graph in enumerate(model.subgraphs):
        where = f"{source}: subgraph {g}"
        graph.tensors, graph.operators = graph.tensors or [], graph.operators or []
        tensors = len(graph.tensors)
        for t, tensor in enumerate(graph.tensors):
            if not 0 <= tensor.buffer < buffers:
                raise InputError(f"{where}: tensor {t} refers to buffer {tensor.buffer}, outside 0..{buffers - 1}")
        for name in ("inputs", "outputs"):
            _check_tensor_list(getattr(graph, name), 0, tensors, f"{where}: {name}")
        for o, op in enumerate(graph.operators):
            if not 0 <= op.opcodeIndex < codes:
                raise InputError(f"{where}: operator {o} has operator code {op.opcodeIndex}, outside 0..{codes - 1}")
            _check_tensor_list(op.inputs, -1, tensors, f"{where}: operator {o} inputs")  # -1: optional input absent
            _check_tensor_list(op.outputs, 0, tensors, f"{where}: operator {o} outputs")


def _check_tensor_list(indices, low: int, tensors: int, where: str) -> None:
    if indices is None:
        raise InputError(f"{where} missing")
    bad = [int(i) for i in indices if not low <= int(i) < tensors]
    if bad:
        raise InputError(f"{where}: tensor index {bad[0]} outside {low}..{tensors - 1}")


def read_model_file(path: Path | str) -> schema.ModelT:
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    return read_model(path.read_bytes(), str(path))


def write_model(model: schema.ModelT) -> bytes:
    """Serialize a ModelT with every buffer's data 16-byte aligned (TFLite's own alignment).

    The Python builder aligns buffer vectors to 1 byte only; TFLite Micro's C++ re-aligner (shipped in the
    tflite-micro package) rewrites the file with the alignment the C++ converter uses.
    """
    import flatbuffers
    from tflite_micro.tensorflow.lite.micro.tools import (
        tflite_flatbuffer_align_wrapper as aligner,
    )

    builder = flatbuffers.Builder(1024)
    builder.Finish(model.Pack(builder), file_identifier=FILE_IDENTIFIER)
    with tempfile.TemporaryDirectory(prefix="wess-align-") as tmp:
        raw, aligned = os.path.join(tmp, "raw.tflite"), os.path.join(tmp, "aligned.tflite")
        Path(raw).write_bytes(bytes(builder.Output()))
        aligner.align_tflite_model(raw, aligned)
        return Path(aligned).read_bytes()


_SIGNATURE_OUTPUT = re.compile(r"output_(\d+)")


def outputs_in_signature_order(data: bytes) -> bytes:
    """The model with its subgraph's outputs in its signature's order (`output_0`, `output_1`, ...: the Keras
    model's outputs in order), which the converter does not keep for several outputs; the same bytes when there is
    one output, no such signature, or the order already holds."""
    model = read_model(data)
    graph = model.subgraphs[0]
    if graph.outputs is None or len(graph.outputs) < 2 or not model.signatureDefs:
        return data
    by_position = {}
    for tensor_map in model.signatureDefs[0].outputs or []:
        name = tensor_map.name.decode() if isinstance(tensor_map.name, bytes) else str(tensor_map.name)
        match = _SIGNATURE_OUTPUT.fullmatch(name)
        if match:
            by_position[int(match.group(1))] = int(tensor_map.tensorIndex)
    order = [by_position[k] for k in sorted(by_position)]
    if sorted(order) != sorted(int(t) for t in graph.outputs) or order == [int(t) for t in graph.outputs]:
        return data
    graph.outputs = np.asarray(order, np.int32)
    return write_model(model)


def inputs_in_keras_order(data: bytes, names: list[str]) -> bytes:
    """The model with its subgraph's inputs in the order of `names` (the Keras model's input names, which its
    signature's inputs carry); the same bytes when there is one input, no such signature, or the order holds."""
    model = read_model(data)
    graph = model.subgraphs[0]
    if graph.inputs is None or len(graph.inputs) < 2 or not model.signatureDefs:
        return data
    by_name = {_text(tensor_map.name): int(tensor_map.tensorIndex) for tensor_map in model.signatureDefs[0].inputs or []}
    order = [by_name.get(name) for name in names]
    if None in order or sorted(order) != sorted(int(t) for t in graph.inputs) or order == [int(t) for t in graph.inputs]:
        return data
    graph.inputs = np.asarray(order, np.int32)
    return write_model(model)


_QUANTIZER_INSERTED = frozenset({"QUANTIZE", "DEQUANTIZE"})


def independent_runs_in_input_order(data: bytes) -> bytes:
    """The model with each run of consecutive QUANTIZE or DEQUANTIZE operators (one opcode per run, none reading
    another's output) ordered by their input tensors, their output tensors renumbered in that order and those
    tensors' names given out in sorted order; the same bytes when every run is in that order already.

    The quantizer emits such runs (the DEQUANTIZEs it inserts before float nodes) in an order, and names their
    outputs in an order, that change from run to run on the same input; any order of a run computes the same
    function, so this one is chosen. Only runs whose outputs are intermediate tensors (no data, not a graph input
    or output, the same count per op) are reordered.
    """
    model = read_model(data)
    graph = model.subgraphs[0]
    ops = graph.operators or []
    boundary = {int(t) for t in [*(graph.inputs if graph.inputs is not None else []),
                                 *(graph.outputs if graph.outputs is not None else [])]}
    tensors, buffers = list(graph.tensors), [tensor.buffer for tensor in graph.tensors]
    renumbered: dict[int, int] = {}
    start = 0
    while start < len(ops):
        end, written = start + 1, {int(t) for t in ops[start].outputs}
        while (end < len(ops) and ops[end].opcodeIndex == ops[start].opcodeIndex
               and not written & {int(t) for t in ops[end].inputs}):
            written |= {int(t) for t in ops[end].outputs}
            end += 1
        run, ordered = ops[start:end], sorted(ops[start:end], key=lambda op: [int(t) for t in op.inputs])
        if (ordered != run and opcode_name(model, run[0]) in _QUANTIZER_INSERTED
                and _intermediates_only(model, run, boundary)):
            targets = sorted(written)
            names = sorted(tensors[t].name for t in targets)
            for source, target, name in zip((int(t) for op in ordered for t in op.outputs), targets, names):
                renumbered[source] = target
                graph.tensors[target] = tensors[source]  # the tensor moves; its (empty) buffer stays at the index
                graph.tensors[target].buffer, graph.tensors[target].name = buffers[target], name
            ops[start:end] = ordered
        start = end
    if not renumbered:
        return data
    for op in ops:
        op.inputs = np.asarray([renumbered.get(int(t), int(t)) for t in op.inputs], np.int32)
        op.outputs = np.asarray([renumbered.get(int(t), int(t)) for t in op.outputs], np.int32)
    return write_model(model)


def _intermediates_only(model: schema.ModelT, run: list, boundary: set[int]) -> bool:
    """Every op of the run writes as many tensors as the first, none of them a graph input/output or a constant."""
    outputs = [int(t) for op in run for t in op.outputs]
    return (len({len(op.outputs) for op in run}) == 1 and not boundary & set(outputs)
            and not any(_has_data(model, model.subgraphs[0].tensors[t]) for t in outputs))


def _has_data(model: schema.ModelT, tensor: schema.TensorT) -> bool:
    data = model.buffers[tensor.buffer].data if model.buffers and tensor.buffer < len(model.buffers) else None
    return data is not None and len(data) > 0


def _text(name) -> str:
    return name.decode() if isinstance(name, bytes) else str(name)


def builtin_code(model: schema.ModelT, op: schema.OperatorT) -> int:
    """The operator's BuiltinOperator: the larger of the two fields (codes past 127 live only in builtinCode)."""
    code = model.operatorCodes[op.opcodeIndex]
    return max(code.builtinCode, code.deprecatedBuiltinCode)


def opcode_name(model: schema.ModelT, op: schema.OperatorT) -> str:
    builtin = builtin_code(model, op)
    if builtin == schema.BuiltinOperator.CUSTOM:
        code = model.operatorCodes[op.opcodeIndex]
        return f"CUSTOM({code.customCode.decode() if code.customCode else '?'})"
    return OPCODE_NAMES.get(builtin, f"OP{builtin}")


def float_ops(model: schema.ModelT) -> list[tuple[int, str, str]]:
    """(index, op name, output tensor name) of the operators that compute in float32 (QUANTIZE/DEQUANTIZE aside)."""
    graph, found = model.subgraphs[0], []
    for index, op in enumerate(graph.operators):
        name = opcode_name(model, op)
        tensors = [graph.tensors[t] for t in list(op.inputs) + list(op.outputs) if t >= 0]
        if name not in ("QUANTIZE", "DEQUANTIZE") and any(t.type == schema.TensorType.FLOAT32 for t in tensors):
            found.append((index, name, tensor_name(graph.tensors[op.outputs[0]]) if len(op.outputs) else ""))
    return found


def pack_int4(values: np.ndarray) -> bytes:
    """Signed 4-bit values (-8..7) two per byte, element 2i in the low nibble of byte i (TFLite's INT4 packing); an odd
    count leaves the last high nibble 0."""
    values = np.asarray(values).reshape(-1).astype(np.int16)
    if values.size and (values.min() < INT4_MIN or values.max() > INT4_MAX):
        raise ValueError(f"values outside {INT4_MIN}..{INT4_MAX} cannot be packed into 4 bits")
    nibbles = np.zeros(2 * ((values.size + 1) // 2), np.uint8)
    nibbles[:values.size] = (values & 0x0F).astype(np.uint8)
    return (nibbles[0::2] | (nibbles[1::2] << 4)).astype(np.uint8).tobytes()


def unpack_int4(data: bytes, count: int) -> np.ndarray:
    """pack_int4's inverse: `count` int8 values."""
    raw = np.frombuffer(data, np.uint8)
    nibbles = np.empty(raw.size * 2, np.int16)
    nibbles[0::2], nibbles[1::2] = raw & 0x0F, raw >> 4
    return np.where(nibbles >= 8, nibbles - 16, nibbles)[:count].astype(np.int8)


def tensor_array(model: schema.ModelT, tensor_index: int, subgraph: int = 0) -> np.ndarray:
    """A constant tensor's data as a numpy array of its shape (a copy); an INT4 tensor's as int8 values."""
    tensor = model.subgraphs[subgraph].tensors[tensor_index]
    data = model.buffers[tensor.buffer].data
    if data is None or len(data) == 0:
        raise InputError(f"tensor {tensor_index} ({tensor_name(tensor)}) has no constant data")
    if tensor.type not in NUMPY_DTYPES and tensor.type != schema.TensorType.INT4:
        raise UnsupportedError(f"tensor {tensor_index} ({tensor_name(tensor)}) has constant data of type "
                        f"{TENSOR_TYPE_NAMES.get(tensor.type, tensor.type)}, which is not supported")
    shape = tuple(int(extent) for extent in (tensor.shape if tensor.shape is not None else ()))
    count = int(np.prod(shape, dtype=object))
    raw = bytes(np.asarray(data, np.uint8))
    if tensor.type == schema.TensorType.INT4:
        if min(shape, default=0) < 0 or len(raw) != (count + 1) // 2:
            raise InputError(f"tensor {tensor_index} ({tensor_name(tensor)}): {len(raw)} bytes of constant data do "
                             f"not fill shape {list(shape)} of packed 4-bit elements")
        return unpack_int4(raw, count).reshape(shape)
    dtype = np.dtype(NUMPY_DTYPES[tensor.type])
    if min(shape, default=0) < 0 or len(raw) != dtype.itemsize * count:
        raise InputError(f"tensor {tensor_index} ({tensor_name(tensor)}): {len(raw)} bytes of constant data do not "
                        f"fill shape {list(shape)} of {dtype.itemsize}-byte elements")
    return np.frombuffer(raw, dtype=dtype).reshape(shape).copy()


def set_tensor_array(model: schema.ModelT, tensor_index: int, array: np.ndarray, subgraph: int = 0) -> None:
    """Replace a constant tensor's data (same shape; an INT4 tensor's packed); a new buffer is appended if the old
    one is shared."""
    tensor = model.subgraphs[subgraph].tensors[tensor_index]
    if tuple(array.shape) != tuple(tensor.shape):
        raise ValueError(f"tensor {tensor_index}: shape {array.shape} != {tuple(tensor.shape)}")
    users = sum(t.buffer == tensor.buffer for sg in model.subgraphs for t in sg.tensors)
    if users > 1:
        model.buffers.append(schema.BufferT())
        tensor.buffer = len(model.buffers) - 1
    data = pack_int4(array) if tensor.type == schema.TensorType.INT4 else np.ascontiguousarray(array).tobytes()
    model.buffers[tensor.buffer].data = np.frombuffer(data, np.uint8).copy()


def tensor_scale(model: schema.ModelT, tensor_index: int) -> float:
    """A tensor's single per-tensor scale (float32), checked positive and finite."""
    q = model.subgraphs[0].tensors[tensor_index].quantization
    if q is None or q.scale is None or len(q.scale) != 1:
        raise InputError(f"tensor {tensor_index}: expected one per-tensor scale")
    scale = float(np.float32(q.scale[0]))
    if not (np.isfinite(scale) and scale > 0):
        raise InputError(f"tensor {tensor_index}: scale {scale} is not a positive number")
    return scale


def tensor_name(tensor: schema.TensorT) -> str:
    return tensor.name.decode("utf-8", "replace") if isinstance(tensor.name, bytes) else str(tensor.name)


def _metadata_name(entry: schema.MetadataT) -> str:
    return entry.name.decode("utf-8", "replace") if isinstance(entry.name, bytes) else str(entry.name)


def get_metadata(model: schema.ModelT, name: str) -> bytes | None:
    for entry in model.metadata or []:
        if _metadata_name(entry) == name:
            if not 0 < entry.buffer < len(model.buffers):
                raise InputError(f"metadata {name!r} points to buffer {entry.buffer}, outside 1..{len(model.buffers) - 1}")
            data = model.buffers[entry.buffer].data
            return b"" if data is None else bytes(np.asarray(data, np.uint8))
    return None


def set_metadata(model: schema.ModelT, name: str, payload: bytes) -> None:
    """Add one Model.metadata entry pointing at a buffer holding `payload`, or refill the entry's own buffer."""
    buffer = schema.BufferT()
    buffer.data = np.frombuffer(payload, np.uint8).copy()
    existing = [m for m in (model.metadata or []) if _metadata_name(m) == name]
    if existing and 0 < existing[0].buffer < len(model.buffers):
        model.buffers[existing[0].buffer] = buffer
        return
    model.metadata = [m for m in (model.metadata or []) if _metadata_name(m) != name]
    model.buffers.append(buffer)
    entry = schema.MetadataT()
    entry.name = name
    entry.buffer = len(model.buffers) - 1
    model.metadata.append(entry)


def remove_metadata(model: schema.ModelT, name: str) -> bool:
    """Drop the Model.metadata entry `name` and empty its buffer (buffer indices stay valid); whether it was there."""
    found = [m for m in (model.metadata or []) if _metadata_name(m) == name]
    for entry in found:
        if 0 < entry.buffer < len(model.buffers):
            model.buffers[entry.buffer] = schema.BufferT()
        model.metadata.remove(entry)
    return bool(found)
