"""Empirical bias correction (Nagel et al. 2019): b <- b - E[(W_q - W) x], measured on the calibration split."""
from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
from ai_edge_litert import schema_py_generated as schema

from pipeline.fixedpoint import INT32_MAX, INT32_MIN
from pipeline.tflite import flatbuf

from . import calibration, rewrite

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class BiasCorrection:
    """What bias correction did to one conv/FC layer."""

    operator: int
    op: str
    correction: np.ndarray  # float [C]: E[(W_q - W) x] per output channel, subtracted from the bias
    clipped_channels: int  # channels whose corrected bias left int32 and was saturated


def input_means(calibrated: bytes, calibration_x: np.ndarray, tensor_indices: list[int]) -> dict[int, np.ndarray]:
    """Mean over the calibration samples of each listed tensor of the float model (shape without the batch)."""
    sums: dict[int, np.ndarray] = {}
    for tensors in calibration.stream_tensors(calibrated, calibration_x, tensor_indices):
        for index, values in tensors.items():
            total = values.astype(np.float64).sum(axis=0)
            sums[index] = sums[index] + total if index in sums else total
    return {index: total / len(calibration_x) for index, total in sums.items()}


def expected_error(op: schema.OperatorT, code: int, delta_w: np.ndarray, mean_x: np.ndarray,
                   output_hw: tuple[int, int] | None = None) -> np.ndarray:
    """E[conv(x, delta_w)] per output channel, averaged over output positions; exact because conv is linear in x.

    delta_w is in TFLite layout: CONV_2D and TRANSPOSE_CONV [O, kh, kw, I], DEPTHWISE_CONV_2D [1, kh, kw, I*M],
    FULLY_CONNECTED [O, I]; mean_x is the op's mean input without the batch axis (HWC, or any shape flattening to I
    for FC); output_hw is a TRANSPOSE_CONV's output height and width (its padding is TFLite's for that size).
    """
    import tensorflow as tf

    if code == flatbuf.BUILTIN.FULLY_CONNECTED:
        return delta_w.astype(np.float64) @ mean_x.reshape(-1, delta_w.shape[1]).mean(axis=0)
    opts = op.builtinOptions
    padding = "SAME" if opts.padding == schema.Padding.SAME else "VALID"
    strides = (1, opts.strideH, opts.strideW, 1)
    x = tf.constant(mean_x[None], tf.float64)
    if code == flatbuf.BUILTIN.TRANSPOSE_CONV:  # TensorFlow's filter [kh, kw, O, I]; its padding is TFLite's
        kernel = tf.constant(np.transpose(delta_w, (1, 2, 0, 3)), tf.float64)
        y = tf.nn.conv2d_transpose(x, kernel, (1, *output_hw, delta_w.shape[0]), strides, padding)
        return np.asarray(y, np.float64).mean(axis=(0, 1, 2))
    dilations = (opts.dilationHFactor or 1, opts.dilationWFactor or 1)
    if code == flatbuf.BUILTIN.CONV_2D:
        kernel = tf.constant(np.transpose(delta_w, (1, 2, 3, 0)), tf.float64)  # -> [kh, kw, I, O]
        y = tf.nn.conv2d(x, kernel, strides, padding, dilations=dilations)
    else:
        channels_in = mean_x.shape[-1]
        kernel = tf.constant(delta_w[0].reshape(delta_w.shape[1], delta_w.shape[2], channels_in, -1), tf.float64)
        y = tf.nn.depthwise_conv2d(x, kernel, strides, padding, dilations=dilations)
    return np.asarray(y, np.float64).mean(axis=(0, 1, 2))


def _dequantized_weights(model: schema.ModelT, wop: rewrite.WeightedOp) -> np.ndarray:
    q = model.subgraphs[0].tensors[wop.weight_tensor].quantization
    scales = np.asarray(q.scale, np.float64)
    shape = [1] * wop.float_weights.ndim
    if scales.size > 1:
        shape[wop.channel_axis] = scales.size
    return flatbuf.tensor_array(model, wop.weight_tensor).astype(np.float64) * scales.reshape(shape)


def float_layer_inputs(calibrated: schema.ModelT) -> dict[str, int]:
    """Output tensor name of each float conv/FC -> its input tensor index in the calibrated float model."""
    graph = calibrated.subgraphs[0]
    return {flatbuf.tensor_name(graph.tensors[op.outputs[0]]): operands.input_of(op) for op in graph.operators
            if (operands := flatbuf.WEIGHTED_OPS.get(flatbuf.builtin_code(calibrated, op))) is not None}


def layer_input_means(calibrated: bytes, calibration_x: np.ndarray) -> dict[str, np.ndarray]:
    """The mean input of every conv/FC of the float model over the calibration split, keyed by the op's output
    tensor name (which the quantizer keeps): one pass over the data serves every scheme quantized from it."""
    float_inputs = float_layer_inputs(flatbuf.read_model(calibrated))
    means = input_means(calibrated, calibration_x, sorted(set(float_inputs.values())))
    return {name: means[index] for name, index in float_inputs.items()}


def _bias_quantization(model: schema.ModelT, wop: rewrite.WeightedOp) -> schema.QuantizationParametersT:
    """The op's bias quantization; for an op without a bias (the converter drops all-zero ones), TFLite's rule for
    a new one: scale input_scale * weight_scale per output channel, zero point 0."""
    graph = model.subgraphs[0]
    if wop.bias_tensor >= 0 and graph.tensors[wop.bias_tensor].quantization is not None:
        return graph.tensors[wop.bias_tensor].quantization
    return rewrite.bias_quantization_params(flatbuf.tensor_scale(model, wop.input_tensor),
                                            graph.tensors[wop.weight_tensor].quantization.scale)


def correct_biases(quantized: bytes, calibrated: bytes, means: dict[str, np.ndarray]) -> tuple[bytes, list[BiasCorrection]]:
    """The quantized model with every int8 conv/FC bias corrected for the mean error its weight rounding causes.

    `means` is layer_input_means of the same calibrated model: the expectation uses the float model's activations
    on the calibration split, so the correction is the same whatever scheme rounded the weights; the corrected
    float bias is requantized with the bias tensor's own scales.
    """
    model = flatbuf.read_model(quantized)
    ops = rewrite.weighted_ops(model, flatbuf.read_model(calibrated))
    graph = model.subgraphs[0]
    results = []
    for wop in ops:
        mean_x = means[wop.float_name]
        delta_w = _dequantized_weights(model, wop) - wop.float_weights.astype(np.float64)
        output_hw = tuple(int(extent) for extent in graph.tensors[wop.output_tensor].shape[1:3])
        correction = expected_error(graph.operators[wop.operator_index], wop.builtin_code, delta_w, mean_x, output_hw)
        quantization = _bias_quantization(model, wop)
        bias_scales = np.asarray(quantization.scale, np.float64)
        bias_index = rewrite.ensure_own_bias(model, wop.operator_index, correction.size)
        target = np.round((wop.float_bias.astype(np.float64) - correction) / bias_scales)
        clipped = int(np.sum((target < INT32_MIN) | (target > INT32_MAX)))
        flatbuf.set_tensor_array(model, bias_index, np.clip(target, INT32_MIN, INT32_MAX).astype(np.int32))
        graph.tensors[bias_index].quantization = quantization
        if clipped:
            log.warning("operator %d (%s): %d corrected bias(es) saturated to int32", wop.operator_index,
                        wop.op_name, clipped)
        results.append(BiasCorrection(wop.operator_index, wop.op_name, correction.astype(np.float32), clipped))
    return flatbuf.write_model(model), results
