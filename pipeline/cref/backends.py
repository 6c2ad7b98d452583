"""Every backend that runs an int8 model by name: LiteRT (reference or XNNPACK), TFLite Micro, the C reference runner."""
from __future__ import annotations

import numpy as np

from pipeline.errors import InputError, UnsupportedError
from pipeline.tflite import runtime

from . import compact, library

BACKENDS = ("litert", "litert-xnnpack", "tflm", "ref")


def run_ref(model: bytes, x_int8: np.ndarray) -> np.ndarray:
    """The C reference runner (firmware_ref/src/runner.c) on the model's compact blob, the whole batch in one call."""
    compiled = compact.compile_model(model)
    if len(compiled.inputs) > 1 and {np.dtype(record.numpy_type) for record in compiled.inputs} != {np.dtype(np.int8)}:
        raise UnsupportedError("a model with several inputs runs in the C reference runner when every input is int8")
    y = library.run_model(compiled.blob, x_int8, output_type(compiled))
    outputs = compiled.outputs
    return y.reshape((len(x_int8),) + outputs[0].shape[1:]) if len(outputs) == 1 else y


def output_type(compiled: compact.CompactModel):
    """The numpy type of the model's outputs: several outputs are int8, joined as runtime.join_outputs does."""
    types = {np.dtype(output.numpy_type) for output in compiled.outputs}
    if len(compiled.outputs) > 1 and types != {np.dtype(np.int8)}:
        raise UnsupportedError("a model with several outputs runs in the C reference runner when every output is int8")
    return types.pop()


def ref_intermediates(model: bytes, x_int8: np.ndarray) -> dict[int, np.ndarray]:
    """Every tensor the C reference runner computes (and the input), by tensor index, stacked over the batch: each
    sample's tensor without its leading axis when that is the batch (extent 1), else whole (a batch-1 model's
    [time, 1, features] before an UNPACK)."""
    compiled = compact.compile_model(model)
    parts = runtime.split_joined(x_int8, [record.shape[1:] for record in compiled.inputs])
    per_sample: dict[int, list[np.ndarray]] = {tensor: list(part) for tensor, part in zip(compiled.input_tensors, parts)}

    def keep(_sample: int, _op: int, tensor: int, data: bytes) -> None:
        record = compiled.tensors[tensor]
        shape = record.shape[1:] if record.shape[:1] == (1,) else record.shape
        per_sample.setdefault(tensor, []).append(np.frombuffer(data, record.numpy_type).reshape(shape))

    library.run_model(compiled.blob, x_int8, output_type(compiled), on_tensor=keep)
    return {tensor: np.stack(arrays) for tensor, arrays in per_sample.items()}


def run(model: bytes, x_int8: np.ndarray, backend: str) -> np.ndarray:
    if backend == "litert":
        return runtime.run_litert(model, x_int8, reference=True)
    if backend == "litert-xnnpack":
        return runtime.run_litert(model, x_int8, reference=False)
    if backend == "tflm":
        return runtime.run_tflm(model, x_int8)
    if backend == "ref":
        return run_ref(model, x_int8)
    raise InputError(f"unknown backend {backend!r}; choose one of {', '.join(BACKENDS)}")
