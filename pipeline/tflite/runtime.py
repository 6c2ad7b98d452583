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
    """Quantization and shape (without the batch axis) of one model output."""

    scale: float
    zero_point: int
    shape: tuple[int, ...]

    @property
    def size(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64))


@dataclass(frozen=True)
class IoQuant:
    """Quantization of the model's single input and of its outputs (in the subgraph's output order).

    A model with several outputs gives, per sample, its outputs flattened and joined in that order (`join_outputs`):
    every runner here and the C reference runner return [N, total elements] for it, [N, *shape] for one output.
    """

    input_scale: float
    input_zero_point: int
    input_shape: tuple[int, ...]
    outputs: tuple[OutputQuant, ...]

    @property
    def class_elements(self) -> int:
        """Elements per sample, from the start of the joined outputs, that carry the class: the first output."""
        return self.outputs[0].size


def join_outputs(outputs) -> np.ndarray:
    """One array per sample from a model's outputs (a list from Keras' predict, or one array): [N, *shape] for one
    output, [N, total elements] with each output flattened, in order, for several."""
    if not isinstance(outputs, (list, tuple)):
        return np.asarray(outputs)
    if len(outputs) == 1:
        return np.asarray(outputs[0])
    return np.concatenate([np.asarray(out).reshape(len(out), -1) for out in outputs], axis=1)


def split_outputs(y: np.ndarray, q: IoQuant) -> list[np.ndarray]:
    """The inverse of join_outputs: each output [N, *shape]."""
    if len(q.outputs) == 1:
        return [y]
    flat, start = y.reshape(len(y), -1), 0
    parts = []
    for output in q.outputs:
        parts.append(flat[:, start:start + output.size].reshape((len(y),) + output.shape))
        start += output.size
    return parts


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
    if len(inputs) != 1:
        raise UnsupportedError(f"model has {len(inputs)} inputs; one is supported")
    i = inputs[0]
    types = {np.dtype(d["dtype"]).name for d in (i, *outputs)}
    if types != {"int8"}:
        raise InputError(f"model input/output are {np.dtype(i['dtype']).name}/"
                         f"{', '.join(np.dtype(o['dtype']).name for o in outputs)}; an int8 model (int8 input and "
                         "output) is required")
    return IoQuant(float(i["quantization"][0]), int(i["quantization"][1]), tuple(int(d) for d in i["shape"][1:]),
                   tuple(OutputQuant(float(o["quantization"][0]), int(o["quantization"][1]),
                                     tuple(int(d) for d in o["shape"][1:])) for o in outputs))


def quantize_input(x: np.ndarray, q: IoQuant) -> np.ndarray:
    """float -> int8 as TFLite's QUANTIZE does: round half away from zero, add zero point, saturate."""
    scaled = np.asarray(x, np.float32) / np.float32(q.input_scale)
    return np.clip(round_half_away(scaled) + q.input_zero_point, -128, 127).astype(np.int8)


def dequantize_output(y: np.ndarray, q: IoQuant) -> np.ndarray:
    """int8 -> float with each output's scale and zero point (several outputs: joined as join_outputs does)."""
    parts = [(part.astype(np.float32) - output.zero_point) * np.float32(output.scale)
             for part, output in zip(split_outputs(y, q), q.outputs)]
    return join_outputs(parts)


def run_litert(model: bytes, x_int8: np.ndarray, reference: bool = True) -> np.ndarray:
    """int8 outputs for a batch of int8 inputs; batches of BATCH when the model allows resizing, else one by one."""
    interpreter = _interpreter(model, reference)
    index = interpreter.get_input_details()[0]["index"]
    out_indices = [detail["index"] for detail in interpreter.get_output_details()]
    try:
        return _run_batched(interpreter, index, out_indices, x_int8)
    except (ValueError, RuntimeError) as exc:
        log.debug("batched run failed (%s); running one sample at a time", exc)
    interpreter = _interpreter(model, reference)
    interpreter.allocate_tensors()
    outputs = []
    for sample in x_int8:
        interpreter.set_tensor(index, sample[None])
        interpreter.invoke()
        outputs.append(join_outputs([interpreter.get_tensor(out).copy() for out in out_indices])[0])
    return np.stack(outputs)


def _run_batched(interpreter, index: int, out_indices: list[int], x_int8: np.ndarray) -> np.ndarray:
    outputs = []
    for start in range(0, len(x_int8), BATCH):
        batch = x_int8[start:start + BATCH]
        interpreter.resize_tensor_input(index, batch.shape)
        interpreter.allocate_tensors()
        interpreter.set_tensor(index, batch)
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
        model_path, in_path, out_path = (os.path.join(tmp, n) for n in ("m.tflite", "x.npy", "y.npy"))
        Path(model_path).write_bytes(model)
        np.save(in_path, x_int8)
        output_count = len(flatbuf.read_model(model).subgraphs[0].outputs)
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
