"""Keras -> int8 TFLite with TensorFlow's converter: calibrate (float model + ranges), then quantize."""
from __future__ import annotations

import contextlib
import io
import logging
import os
import sys
from collections.abc import Iterator

import numpy as np

from . import flatbuf
from .calibrate import Calibrator, make_calibrator
from .errors import WessError

log = logging.getLogger(__name__)
CALIBRATION_BATCH = 50


@contextlib.contextmanager
def _quiet_native_logs() -> Iterator[None]:
    """Silence the converter's chatter on stdout and stderr (C++ and Python) unless WESS_VERBOSE is set."""
    if os.environ.get("WESS_VERBOSE"):
        yield
        return
    sys.stdout.flush()
    saved = {fd: os.dup(fd) for fd in (1, 2)}
    try:
        with open(os.devnull, "wb") as devnull:
            for fd in saved:
                os.dup2(devnull.fileno(), fd)
        with contextlib.redirect_stdout(io.StringIO()):  # TensorFlow's Python-level prints
            yield
    finally:
        for fd, copy in saved.items():
            os.dup2(copy, fd)
            os.close(copy)


def int8_converter(keras_model, calibration_x: np.ndarray):
    """TensorFlow's converter set up for full int8 (int8 input and output) from this representative data."""
    import tensorflow as tf

    def representative() -> Iterator[list[np.ndarray]]:
        for sample in calibration_x:
            yield [sample[None].astype(np.float32)]

    converter = tf.lite.TFLiteConverter.from_keras_model(keras_model)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = representative
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    converter.inference_input_type = tf.int8
    converter.inference_output_type = tf.int8
    return converter


def calibrated_float_model(keras_model, calibration_x: np.ndarray) -> bytes:
    """A float TFLite model whose activation tensors carry min/max from the converter's max calibration."""
    converter = int8_converter(keras_model, calibration_x)
    converter._experimental_calibrate_only = True
    try:
        with _quiet_native_logs():
            return bytes(converter.convert())
    except Exception as exc:  # the converter raises ConverterError and friends with long messages
        raise WessError(f"model {keras_model.name!r}: the TFLite converter rejected it: {_first_line(exc)}") from None


def _first_line(exc: Exception) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def quantize(calibrated: bytes, per_channel: bool, float_nodes: tuple[str, ...] = (), float_io: bool = False) -> bytes:
    """Full-int8 quantization of a calibrated float model (int8 input and output unless `float_io`).

    `float_io` keeps the model's input and output float (QUANTIZE/DEQUANTIZE at the edges), as the quantizer does
    when not asked to fully quantize; the body is int8 either way.
    `float_nodes` names operators (by their output tensor name) the quantizer leaves in float: they run between a
    DEQUANTIZE and a QUANTIZE that it inserts, which is how a mixed NPU (int8) + CPU (float) model is made.
    """
    import tensorflow as tf
    from tensorflow.lite.python import convert

    io_type = tf.float32 if float_io else tf.int8
    try:
        with _quiet_native_logs():
            return bytes(convert.mlir_quantize(
                calibrated, disable_per_channel=not per_channel, fully_quantize=not float_io,
                input_data_type=io_type, output_data_type=io_type,
                denylisted_nodes=list(float_nodes) or None))
    except Exception as exc:  # the quantizer raises ConverterError and friends with long messages
        raise WessError(f"the TFLite quantizer rejected the model: {_first_line(exc)}") from None


def activation_tensors(calibrated: bytes) -> list[int]:
    """Indices of the tensors the converter calibrated (those carrying min/max)."""
    model = flatbuf.read_model(calibrated)
    return [i for i, t in enumerate(model.subgraphs[0].tensors)
            if t.quantization is not None and t.quantization.min is not None and len(t.quantization.min)]


def collect_activations(calibrated: bytes, calibration_x: np.ndarray, calibrators: dict[int, list[Calibrator]],
                        progress: bool = False) -> None:
    """Stream the calibration split through the float model and feed every calibrated tensor's values.

    Memory stays flat in the number of samples: batches of CALIBRATION_BATCH, histograms of fixed size.
    """
    from ai_edge_litert.interpreter import Interpreter
    from tqdm import tqdm

    interpreter = Interpreter(model_content=calibrated, experimental_preserve_all_tensors=True, num_threads=2)
    input_index = interpreter.get_input_details()[0]["index"]
    batches = range(0, len(calibration_x), CALIBRATION_BATCH)
    for start in tqdm(batches, desc="calibrating", disable=not progress, leave=False):
        batch = calibration_x[start:start + CALIBRATION_BATCH].astype(np.float32)
        interpreter.resize_tensor_input(input_index, batch.shape)
        interpreter.allocate_tensors()
        interpreter.set_tensor(input_index, batch)
        interpreter.invoke()
        for tensor_index, cals in calibrators.items():
            values = interpreter.get_tensor(tensor_index)
            for cal in cals:
                cal.collect(values)


def with_ranges(calibrated: bytes, ranges: dict[int, tuple[float, float]]) -> bytes:
    """The calibrated model with the given tensors' min/max replaced."""
    model = flatbuf.read_model(calibrated)
    tensors = model.subgraphs[0].tensors
    for index, (low, high) in ranges.items():
        tensors[index].quantization.min = np.array([low], np.float32)
        tensors[index].quantization.max = np.array([high], np.float32)
    return flatbuf.write_model(model)


def calibrate_ranges(calibrated: bytes, calibration_x: np.ndarray, names: list[str],
                     progress: bool = False) -> dict[str, dict[int, tuple[float, float]]]:
    """For each calibrator name, the [min, max] of every activation tensor, in one pass over the data."""
    indices = activation_tensors(calibrated)
    calibrators = {i: [make_calibrator(name) for name in names] for i in indices}
    collect_activations(calibrated, calibration_x, calibrators, progress)
    return {name: {i: calibrators[i][k].compute_range() for i in indices} for k, name in enumerate(names)}
