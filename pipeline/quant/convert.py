"""Keras -> int8 TFLite with TensorFlow's converter: a calibrated float model, then its int8 quantization."""
from __future__ import annotations

import contextlib
import io
import logging
import os
import sys
import tempfile
from collections.abc import Iterator

import numpy as np

from pipeline.errors import UnsupportedError
from pipeline.keras import modelio
from pipeline.tflite import flatbuf

log = logging.getLogger(__name__)


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


@contextlib.contextmanager
def int8_converter(keras_model, calibration_x: np.ndarray) -> Iterator[object]:
    """TensorFlow's converter set up for full int8 (int8 input and output) from this representative data.

    The model is exported with a fixed batch of 1 (what a device runs): with Keras' dynamic batch, Flatten, Reshape
    and Conv2DTranspose reach the TFLite model as SHAPE / STRIDED_SLICE / PACK chains computing the batch at run time,
    and a recurrent layer's initial state as a FILL whose dims TFLite Micro cannot prepare. The converter reads the
    export while it converts, so it is only valid inside the `with` block.
    """
    import tensorflow as tf

    names = [tensor.name for tensor in keras_model.inputs]
    parts = modelio.keras_inputs(keras_model, calibration_x)

    def representative() -> Iterator[list[np.ndarray] | dict[str, np.ndarray]]:
        for sample in range(len(calibration_x)):
            arrays = [part[sample:sample + 1].astype(np.float32) for part in parts]
            yield arrays if len(arrays) == 1 else dict(zip(names, arrays))  # several: by the signature's input names

    with tempfile.TemporaryDirectory(prefix="wess-export-") as export_dir:
        _export_batch1(keras_model, export_dir)
        converter = tf.lite.TFLiteConverter.from_saved_model(export_dir)
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = representative
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        converter.inference_input_type = tf.int8
        converter.inference_output_type = tf.int8
        yield converter


def _export_batch1(keras_model, export_dir: str) -> None:
    """Write the model's inference call (training=False) as a SavedModel whose inputs have batch 1, named after the
    Keras inputs (the signature's input names) and its outputs `output_0`, `output_1`, ... in the model's order."""
    import keras
    import tensorflow as tf

    signature = [tf.TensorSpec((1, *tensor.shape[1:]), tensor.dtype, name=tensor.name)
                 for tensor in keras_model.inputs]

    def serve(*inputs):
        outputs = keras_model(list(inputs) if len(inputs) > 1 else inputs[0], training=False)
        if not isinstance(outputs, (list, tuple)):
            return outputs
        return {f"output_{k}": output for k, output in enumerate(outputs)}

    archive = keras.export.ExportArchive()
    archive.track(keras_model)
    archive.add_endpoint("serve", serve, signature)
    with _quiet_native_logs():
        archive.write_out(export_dir, verbose=False)


def calibrated_float_model(keras_model, calibration_x: np.ndarray) -> bytes:
    """A float TFLite model whose activation tensors carry min/max from the converter's max calibration."""
    _refuse_rolled_recurrent_layers(keras_model)
    try:
        with int8_converter(keras_model, calibration_x) as converter, _quiet_native_logs():
            converter._experimental_calibrate_only = True
            converted = bytes(converter.convert())
    except Exception as exc:  # the converter raises ConverterError and friends with long messages
        raise UnsupportedError(f"model {keras_model.name!r}: the TFLite converter rejected it: {_first_line(exc)}") from None
    # several inputs or outputs: in the Keras model's order
    converted = flatbuf.inputs_in_keras_order(converted, [tensor.name for tensor in keras_model.inputs])
    return flatbuf.outputs_in_signature_order(converted)


def _refuse_rolled_recurrent_layers(keras_model) -> None:
    """A recurrent layer (GRU, LSTM, SimpleRNN, ConvLSTM, inside Bidirectional too) must be unrolled.

    With unroll=False the layer is a loop: TensorFlow 2.21's converter crashes the process (segmentation fault in
    its calibrator, seen for GRU, LSTM and SimpleRNN) on that loop at batch 1, and the C runner has no loops.
    Unrolled, each time step is FULLY_CONNECTED / LOGISTIC / TANH / MUL / ADD in int8 after an UNPACK (and before a
    PACK with return_sequences=True).
    """
    import keras

    for layer in keras_model._flatten_layers(include_self=False, recursive=True):
        if isinstance(layer, keras.layers.RNN) and not layer.unroll:
            raise UnsupportedError(
                f"Keras layer {layer.name!r} ({type(layer).__name__}) loops over its time steps (unroll=False): "
                "TensorFlow's converter crashes on that loop at a fixed batch of 1 and the C runner has no loops; "
                "build the layer with unroll=True (its steps then convert to int8 operators)")


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
    exposed, dead = _expose_dead_results(widen_softmax_inputs(calibrated))
    try:
        with _quiet_native_logs():
            quantized = bytes(convert.mlir_quantize(
                exposed, disable_per_channel=not per_channel, fully_quantize=not float_io,
                input_data_type=io_type, output_data_type=io_type,
                denylisted_nodes=list(float_nodes) or None))
    except Exception as exc:  # the quantizer raises ConverterError and friends with long messages
        raise UnsupportedError(f"the TFLite quantizer rejected the model: {_first_line(exc)}") from None
    ordered = flatbuf.outputs_in_signature_order(_hide_results(quantized, dead))
    return flatbuf.independent_runs_in_input_order(ordered)  # the same bytes on every run


# TFLite Micro's softmax needs beta * input_scale * 2^26 > 1 (it aborts otherwise); a range of 255 * 2^-24 / beta
# gives a 4x margin. Only a degenerate model (logits nearly constant: random weights) has a narrower one.
SOFTMAX_MIN_INPUT_RANGE = 255 * 2.0 ** -24
_SAME_RANGE_OPS = {"RESHAPE", "SQUEEZE", "EXPAND_DIMS"}


def widen_softmax_inputs(calibrated: bytes) -> bytes:
    """The calibrated model with each SOFTMAX input's [min, max] widened about its middle to at least
    SOFTMAX_MIN_INPUT_RANGE / beta (unchanged bytes when none is narrower)."""
    model = flatbuf.read_model(calibrated)
    graph = model.subgraphs[0]
    producers = {int(out): op for op in graph.operators for out in op.outputs}
    widened = []
    for op in graph.operators:
        if flatbuf.opcode_name(model, op) != "SOFTMAX":
            continue
        beta = float(op.builtinOptions.beta) if op.builtinOptions is not None else 1.0
        width = SOFTMAX_MIN_INPUT_RANGE / max(beta, 1e-30)
        tensor_index = int(op.inputs[0])
        while True:  # the quantizer gives a relabelling op's output its input's range: widen back to the producer
            quant = graph.tensors[tensor_index].quantization
            if quant is None or quant.min is None or quant.max is None or len(quant.min) != 1:
                break
            low, high = float(quant.min[0]), float(quant.max[0])
            if high - low >= width:
                break
            middle = (low + high) / 2
            quant.min, quant.max = np.array([middle - width / 2], np.float32), np.array([middle + width / 2], np.float32)
            widened.append(flatbuf.tensor_name(graph.tensors[tensor_index]))
            producer = producers.get(tensor_index)
            if producer is None or flatbuf.opcode_name(model, producer) not in _SAME_RANGE_OPS:
                break
            tensor_index = int(producer.inputs[0])
    if not widened:
        return calibrated
    log.warning("softmax input range widened to %.3g (TFLite Micro needs input scale * beta > 2^-26): %s",
                SOFTMAX_MIN_INPUT_RANGE, ", ".join(widened))
    return flatbuf.write_model(model)


def _expose_dead_results(calibrated: bytes) -> tuple[bytes, list[str]]:
    """The model with every unused result of a several-output op (SPLIT, SPLIT_V, UNPACK) added to the subgraph's
    outputs, and those tensors' names.

    A recurrent layer's first step splits its gates while the initial state is the constant zero, so the converter
    folds away the products of the zero state and one piece of that SPLIT is never read. TensorFlow 2.21's quantizer
    then left the SPLIT in float (DEQUANTIZE, float SPLIT, QUANTIZEs of the input's scale) in 3 of 10 runs on the
    same calibrated bytes of an LSTM; with the unused piece an output it was quantized, to the same bytes, in 10 of
    10 (tests/test_recurrent.py).
    """
    model = flatbuf.read_model(calibrated)
    graph = model.subgraphs[0]
    read = {int(t) for op in graph.operators for t in op.inputs} | {int(t) for t in graph.outputs}
    dead = [int(t) for op in graph.operators if len(op.outputs) > 1 for t in op.outputs if int(t) not in read]
    if not dead:
        return calibrated, []
    graph.outputs = np.concatenate([np.asarray(graph.outputs, np.int32), np.asarray(dead, np.int32)])
    return flatbuf.write_model(model), [flatbuf.tensor_name(graph.tensors[t]) for t in dead]


def _hide_results(quantized: bytes, names: list[str]) -> bytes:
    """The quantized model without the outputs _expose_dead_results added (found by tensor name)."""
    if not names:
        return quantized
    model = flatbuf.read_model(quantized)
    graph = model.subgraphs[0]
    kept = [int(t) for t in graph.outputs if flatbuf.tensor_name(graph.tensors[int(t)]) not in names]
    if len(kept) != len(graph.outputs) - len(names):
        raise RuntimeError(f"the quantized model's outputs lost the exposed results {names}")  # a bug
    graph.outputs = np.asarray(kept, np.int32)
    return flatbuf.write_model(model)
