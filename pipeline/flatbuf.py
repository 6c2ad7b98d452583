"""Read and write TFLite flatbuffers through the object API of ai_edge_litert's generated schema."""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np
from ai_edge_litert import schema_py_generated as schema

from .errors import WessError

FILE_IDENTIFIER = b"TFL3"
BUFFER_ALIGNMENT = 16

OPCODE_NAMES = {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_")}
TENSOR_TYPE_NAMES = {v: k for k, v in vars(schema.TensorType).items() if not k.startswith("_")}
NUMPY_DTYPES = {schema.TensorType.INT8: np.int8, schema.TensorType.INT32: np.int32,
                schema.TensorType.FLOAT32: np.float32, schema.TensorType.INT16: np.int16,
                schema.TensorType.INT64: np.int64, schema.TensorType.UINT8: np.uint8}


def read_model(data: bytes, source: str = "<bytes>") -> schema.ModelT:
    """Parse a .tflite flatbuffer into a ModelT, with a clear error when it is not one."""
    if len(data) < 8:
        raise WessError(f"{source}: not a TFLite model ({len(data)} bytes, too short for a flatbuffer)")
    if data[4:8] != FILE_IDENTIFIER:
        raise WessError(f"{source}: not a TFLite model (file identifier {data[4:8]!r}, expected {FILE_IDENTIFIER!r})")
    try:
        model = schema.ModelT.InitFromObj(schema.Model.GetRootAs(data, 0))
    except Exception as exc:  # the generated reader raises whatever a corrupt offset leads to
        raise WessError(f"{source}: corrupt TFLite flatbuffer ({type(exc).__name__}: {exc})") from None
    if not model.subgraphs:
        raise WessError(f"{source}: TFLite model has no subgraph")
    return model


def read_model_file(path: Path | str) -> schema.ModelT:
    path = Path(path)
    if not path.is_file():
        raise WessError(f"{path}: no such file")
    return read_model(path.read_bytes(), str(path))


def write_model(model: schema.ModelT) -> bytes:
    """Serialize a ModelT with every buffer's data 16-byte aligned (TFLite's own alignment).

    The Python builder aligns buffer vectors to 1 byte only; TFLite Micro's C++ re-aligner (shipped in the
    tflite-micro package) rewrites the file with the alignment the C++ converter uses.
    """
    import flatbuffers
    from tflite_micro.tensorflow.lite.micro.tools import tflite_flatbuffer_align_wrapper as aligner

    builder = flatbuffers.Builder(1024)
    builder.Finish(model.Pack(builder), file_identifier=FILE_IDENTIFIER)
    with tempfile.TemporaryDirectory(prefix="wess-align-") as tmp:
        raw, aligned = os.path.join(tmp, "raw.tflite"), os.path.join(tmp, "aligned.tflite")
        Path(raw).write_bytes(bytes(builder.Output()))
        aligner.align_tflite_model(raw, aligned)
        return Path(aligned).read_bytes()


def opcode_name(model: schema.ModelT, op: schema.OperatorT) -> str:
    code = model.operatorCodes[op.opcodeIndex]
    builtin = max(code.builtinCode, code.deprecatedBuiltinCode)
    if builtin == schema.BuiltinOperator.CUSTOM:
        return f"CUSTOM({code.customCode.decode() if code.customCode else '?'})"
    return OPCODE_NAMES.get(builtin, f"OP{builtin}")


def tensor_array(model: schema.ModelT, tensor_index: int, subgraph: int = 0) -> np.ndarray:
    """A constant tensor's data as a numpy array of its shape (a copy)."""
    tensor = model.subgraphs[subgraph].tensors[tensor_index]
    data = model.buffers[tensor.buffer].data
    if data is None or len(data) == 0:
        raise WessError(f"tensor {tensor_index} ({tensor_name(tensor)}) has no constant data")
    dtype = NUMPY_DTYPES[tensor.type]
    return np.frombuffer(bytes(np.asarray(data, np.uint8)), dtype=dtype).reshape(tensor.shape).copy()


def set_tensor_array(model: schema.ModelT, tensor_index: int, array: np.ndarray, subgraph: int = 0) -> None:
    """Replace a constant tensor's data (same shape); a new buffer is appended if the old one is shared."""
    tensor = model.subgraphs[subgraph].tensors[tensor_index]
    if tuple(array.shape) != tuple(tensor.shape):
        raise ValueError(f"tensor {tensor_index}: shape {array.shape} != {tuple(tensor.shape)}")
    users = sum(t.buffer == tensor.buffer for sg in model.subgraphs for t in sg.tensors)
    if users > 1:
        model.buffers.append(schema.BufferT())
        tensor.buffer = len(model.buffers) - 1
    model.buffers[tensor.buffer].data = np.frombuffer(np.ascontiguousarray(array).tobytes(), np.uint8).copy()


def tensor_name(tensor: schema.TensorT) -> str:
    return tensor.name.decode("utf-8", "replace") if isinstance(tensor.name, bytes) else str(tensor.name)


def _metadata_name(entry: schema.MetadataT) -> str:
    return entry.name.decode() if isinstance(entry.name, bytes) else entry.name


def get_metadata(model: schema.ModelT, name: str) -> bytes | None:
    for entry in model.metadata or []:
        if _metadata_name(entry) == name:
            if not 0 < entry.buffer < len(model.buffers):
                raise WessError(f"metadata {name!r} points to buffer {entry.buffer}, outside 1..{len(model.buffers) - 1}")
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
