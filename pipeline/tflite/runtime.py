"""Run int8 TFLite models in LiteRT (reference or default kernels) and TFLite Micro (in a subprocess)."""
from __future__ import annotations

import logging
import os
import re
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pipeline.errors import InputError, UnsupportedError
from pipeline.fixedpoint import round_half_away

from . import flatbuf

log = logging.getLogger(__name__)
BATCH = 100


@dataclass(frozen=True)
class OutputQuant:
    """Quantization and shape (without the batch axis) of one model output or input (`name`: its signature name,
    the Keras input's name for an input)."""

    scale: float
    zero_point: int
    shape: tuple[int, ...]
    name: str = ""

    @property
    def size(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64))


@dataclass(frozen=True)
class IoQuant:
    """Quantization of the model's inputs and outputs (in the subgraph's orders: the Keras model's).

    A model with several outputs gives, per sample, its outputs flattened and joined in that order (`join_outputs`):
    every runner here and the C reference runner return [N, total elements] for it, [N, *shape] for one output.
    Several inputs are joined the same way: every runner takes [N, total input elements] (`join_outputs` of the
    inputs in order, split again by `split_inputs`), [N, *shape] for one input.
    """

    inputs: tuple[OutputQuant, ...]
    outputs: tuple[OutputQuant, ...]

    @property
    def input_shape(self) -> tuple[int, ...]:
        """One sample's input as the runners take it: the input's shape, or (total elements,) for several."""
        return self.inputs[0].shape if len(self.inputs) == 1 else (sum(i.size for i in self.inputs),)

    @property
    def class_elements(self) -> int:
        """Elements per sample, from the start of the joined outputs, that carry the class: the first output."""
        return self.outputs[0].size


def join_outputs(outputs) -> np.ndarray:
    """One array per sample from a model's outputs (a list from Keras' predict, or one array): [N, *shape] for one
    output, [N, total elements] with each output flattened, in order, for several. Inputs are joined the same way."""
    if not isinstance(outputs, (list, tuple)):
        return np.asarray(outputs)
    if len(outputs) == 1:
        return np.asarray(outputs[0])
    return np.concatenate([np.asarray(out).reshape(len(out), -1) for out in outputs], axis=1)


def split_joined(y: np.ndarray, shapes: list[tuple[int, ...]]) -> list[np.ndarray]:
    """The inverse of join_outputs for arrays of these per-sample shapes: each [N, *shape]."""
    if len(shapes) == 1:
        return [y]
    flat, start = y.reshape(len(y), -1), 0
    parts = []
    for shape in shapes:
        size = int(np.prod(shape, dtype=np.int64))
        parts.append(flat[:, start:start + size].reshape((len(y),) + tuple(shape)))
        start += size
    return parts


def split_outputs(y: np.ndarray, q: IoQuant) -> list[np.ndarray]:
    """The inverse of join_outputs: each output [N, *shape]."""
    return split_joined(y, [output.shape for output in q.outputs])


def split_inputs(x: np.ndarray, q: IoQuant) -> list[np.ndarray]:
    """Joined inputs (float or int8) back into each input [N, *shape], in the subgraph's input order."""
    return split_joined(x, [i.shape for i in q.inputs])


def _interpreter(model: bytes, reference: bool = True):
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    resolver = OpResolverType.BUILTIN_REF if reference else OpResolverType.AUTO
    try:
        return Interpreter(model_content=model, experimental_op_resolver_type=resolver, num_threads=1)
    except (ValueError, RuntimeError) as exc:
        raise UnsupportedError(f"LiteRT cannot load the model: {str(exc).strip().splitlines()[0]}") from None


def io_quant(model: bytes) -> IoQuant:
    interpreter = _interpreter(model)
    inputs, outputs = interpreter.get_input_details(), interpreter.get_output_details()
    types = {np.dtype(d["dtype"]).name for d in (*inputs, *outputs)}
    if types != {"int8"}:
        raise InputError(f"model input/output are {', '.join(np.dtype(i['dtype']).name for i in inputs)}/"
                         f"{', '.join(np.dtype(o['dtype']).name for o in outputs)}; an int8 model (int8 input and "
                         "output) is required")
    names = _input_names(interpreter, inputs)
    return IoQuant(tuple(_tensor_quant(i, name) for i, name in zip(inputs, names)),
                   tuple(_tensor_quant(o, "") for o in outputs))


def _input_names(interpreter, inputs: list[dict]) -> list[str]:
    """Each input's signature name (the Keras input's name), else its tensor name (a model without a signature)."""
    try:
        by_index = {detail["index"]: name for name, detail in interpreter.get_signature_runner().get_input_details().items()}
    except ValueError:  # no signature (or several)
        by_index = {}
    return [by_index.get(detail["index"], detail["name"]) for detail in inputs]


def _tensor_quant(detail: dict, name: str) -> OutputQuant:
    return OutputQuant(float(detail["quantization"][0]), int(detail["quantization"][1]),
                       tuple(int(d) for d in detail["shape"][1:]), name)


def quantize_input(x: np.ndarray, q: IoQuant) -> np.ndarray:
    """float -> int8 as TFLite's QUANTIZE does (round half away from zero, add zero point, saturate), each input with
    its own scale and zero point (several inputs: joined, as the runners take them)."""
    return join_outputs([quantize_tensor(part, i) for part, i in zip(split_inputs(np.asarray(x), q), q.inputs)])


def quantize_tensor(x: np.ndarray, tensor: OutputQuant) -> np.ndarray:
    """float -> int8 with one tensor's scale and zero point, as quantize_input does."""
    scaled = np.asarray(x, np.float32) / np.float32(tensor.scale)
    return np.clip(round_half_away(scaled) + tensor.zero_point, -128, 127).astype(np.int8)


def dequantize_output(y: np.ndarray, q: IoQuant) -> np.ndarray:
    """int8 -> float with each output's scale and zero point (several outputs: joined as join_outputs does)."""
    parts = [(part.astype(np.float32) - output.zero_point) * np.float32(output.scale)
             for part, output in zip(split_outputs(y, q), q.outputs)]
    return join_outputs(parts)


def run_litert(model: bytes, x_int8: np.ndarray, reference: bool = True) -> np.ndarray:
    """int8 outputs for a batch of int8 inputs; batches of BATCH when the model allows resizing, else one by one."""
    interpreter = _interpreter(model, reference)
    out_indices = [detail["index"] for detail in interpreter.get_output_details()]
    try:
        return _run_batched(interpreter, out_indices, x_int8)
    except (ValueError, RuntimeError) as exc:
        log.debug("batched run failed (%s); running one sample at a time", exc)
    interpreter = _interpreter(model, reference)
    interpreter.allocate_tensors()
    outputs = []
    for sample in range(len(x_int8)):
        set_inputs(interpreter, x_int8[sample:sample + 1])
        interpreter.invoke()
        outputs.append(join_outputs([interpreter.get_tensor(out).copy() for out in out_indices])[0])
    return np.stack(outputs)


def set_inputs(interpreter, x: np.ndarray, resize: bool = False) -> None:
    """Set a LiteRT interpreter's inputs from a batch (several inputs: joined, split here in the subgraph's order);
    `resize` first resizes each input to the batch and allocates."""
    details = interpreter.get_input_details()
    parts = split_joined(x, [tuple(int(d) for d in detail["shape"][1:]) for detail in details])
    if resize:
        for detail, part in zip(details, parts):
            interpreter.resize_tensor_input(detail["index"], part.shape)
        interpreter.allocate_tensors()
    for detail, part in zip(details, parts):
        interpreter.set_tensor(detail["index"], part)


def _run_batched(interpreter, out_indices: list[int], x_int8: np.ndarray) -> np.ndarray:
    outputs = []
    for start in range(0, len(x_int8), BATCH):
        batch = x_int8[start:start + BATCH]
        set_inputs(interpreter, batch, resize=True)
        interpreter.invoke()
        parts = [interpreter.get_tensor(out).copy() for out in out_indices]
        if any(part.shape[:1] != (len(batch),) for part in parts):  # a batch-1 model's constant RESHAPE mixed samples
            raise ValueError(f"output shapes {[part.shape for part in parts]} for a batch of {len(batch)}")
        outputs.append(join_outputs(parts))
    return np.concatenate(outputs)


def _tflm_subprocess(argv: list[str], timeout_s: float, what: str) -> subprocess.CompletedProcess:
    """`python -m pipeline.tflite.tflm_worker ARGV...`; a time-out is an UnsupportedError naming `what`."""
    try:
        return subprocess.run([sys.executable, "-m", "pipeline.tflite.tflm_worker", *argv], capture_output=True,
                              text=True, timeout=timeout_s, env={**os.environ, "PYTHONPATH": _package_root()})
    except subprocess.TimeoutExpired:
        raise UnsupportedError(f"TFLite Micro did not {what} within {timeout_s:g} s") from None


def run_tflm(model: bytes, x_int8: np.ndarray, timeout_s: float = 600.0) -> np.ndarray:
    """Run TFLite Micro's interpreter in a subprocess: it aborts the whole process on some degenerate models."""
    with tempfile.TemporaryDirectory(prefix="wess-tflm-") as tmp:
        model_path, in_path, out_path = (os.path.join(tmp, n) for n in ("m.tflite", "x.npz", "y.npy"))
        Path(model_path).write_bytes(model)
        graph = flatbuf.read_model(model).subgraphs[0]
        shapes = [tuple(int(d) for d in graph.tensors[i].shape[1:]) for i in graph.inputs]
        np.savez(in_path, *split_joined(x_int8, shapes))  # arr_0, arr_1, ...: one array per input, in order
        output_count = len(graph.outputs)
        proc = _tflm_subprocess(["run", model_path, in_path, out_path, str(output_count)], timeout_s, "finish")
        if proc.returncode != 0:
            raise tflm_refusal(model, proc.stderr, proc.returncode)
        return np.load(out_path)


class TflmRefusal(UnsupportedError):
    """TFLite Micro (the device runtime) cannot run the model: the operator its log names, if any, and why."""

    def __init__(self, detail: str, operator: int | None = None, op: str = ""):
        self.detail, self.operator, self.op = detail, operator, op
        super().__init__(self.describe())

    def describe(self, layer: str = "") -> str:
        """The message, with " of Keras layer 'NAME'" (`layer`) after the op name when the caller knows it."""
        if self.operator is None:
            return self.detail
        return (f"operator {self.operator} ({self.op}{layer}): {self.detail}, so the device runtime cannot run the "
                "model; replace that layer")


_TFLM_NO_KERNEL = re.compile(r"Didn't find op for builtin opcode '(\w+)'")
_TFLM_NOT_PREPARED = re.compile(r"Node (\w+) \(number (\d+)\) failed to prepare")


def tflm_refusal(model: bytes, stderr: str, exit_code: int) -> TflmRefusal:
    """What TFLite Micro's log says stopped it: the operator it has no kernel for or cannot prepare (with the check
    that failed), else the log's last line."""
    lines = [line.strip() for line in stderr.strip().splitlines()]
    for i, line in enumerate(lines):
        if match := _TFLM_NO_KERNEL.search(line):
            parsed = flatbuf.read_model(model)
            ops = [flatbuf.opcode_name(parsed, op) for op in parsed.subgraphs[0].operators]
            if match[1] not in ops:
                return TflmRefusal(f"TFLite Micro has no kernel for {match[1]}")
            return TflmRefusal("TFLite Micro has no kernel for it", ops.index(match[1]), match[1])
        if match := _TFLM_NOT_PREPARED.search(line):
            check = f" ({re.sub(r'^[^ ]*/', '', lines[i - 1])})" if i and lines[i - 1] else ""  # exp.cc:41 input->..
            return TflmRefusal(f"TFLite Micro cannot prepare it{check}", int(match[2]), match[1])
    return TflmRefusal(f"TFLite Micro failed on the model (exit {exit_code}): {lines[-1] if lines else 'no message'}")


def tflm_arena_bytes(model: bytes, timeout_s: float = 300.0) -> dict:
    """TFLite Micro's arena for the model as its recording allocator reports it (host build, 64-bit pointers)."""
    with tempfile.TemporaryDirectory(prefix="wess-tflm-") as tmp:
        path = Path(tmp) / "model.tflite"
        path.write_bytes(model)
        proc = _tflm_subprocess(["allocations", str(path)], timeout_s, "report its allocations")
    found = dict(re.findall(r"Arena allocation (total|head|tail) (\d+) bytes", proc.stdout + proc.stderr))
    if proc.returncode != 0 or len(found) != 3:
        raise UnsupportedError(f"TFLite Micro could not plan the model's arena (exit {proc.returncode})")
    return {"total_bytes": int(found["total"]), "head_bytes": int(found["head"]), "tail_bytes": int(found["tail"])}


def _package_root() -> str:
    root = str(Path(__file__).resolve().parents[2])
    current = os.environ.get("PYTHONPATH")
    return root if not current else f"{root}{os.pathsep}{current}"
