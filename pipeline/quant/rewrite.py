"""The WESS rewrite of a layer-wise int8 TFLite flatbuffer: shifted weights, per-channel scales, metadata records."""
from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
from ai_edge_litert import schema_py_generated as schema

from pipeline.errors import UnsupportedError
from pipeline.fixedpoint import quantize_multiplier
from pipeline.tflite import flatbuf, metadata

from . import wess

log = logging.getLogger(__name__)



@dataclass(frozen=True)
class WeightedOp:
    """A conv/depthwise/FC/transpose-conv operator of a quantized model and the float weights it was made from."""

    operator_index: int
    builtin_code: int
    op_name: str
    channel_axis: int
    weight_tensor: int
    bias_tensor: int  # -1 when the op has no bias
    input_tensor: int
    output_tensor: int
    float_weights: np.ndarray  # float32 in TFLite layout
    float_bias: np.ndarray  # float32 [C] (zeros when the op has no bias)
    float_name: str  # its output tensor's name in the calibrated float model (the key of float-side tables)


def weighted_ops(quantized: schema.ModelT, calibrated: schema.ModelT) -> list[WeightedOp]:
    """The quantized model's int8 conv/FC ops paired with the float weights of the calibrated float model.

    The pairing is by output tensor name, which the quantizer keeps, except where it renames one (it appends "1"
    to a bias-less TRANSPOSE_CONV's output, whose name its filter's extends): then the k-th op of that code pairs
    with the float model's k-th, which must have the same filter shape. The float weights are those the converter
    quantized, so no weight is re-derived from rounded int8 values.
    """
    float_graph = calibrated.subgraphs[0]
    float_ops: dict[str, schema.OperatorT] = {}
    float_by_code: dict[int, list] = {}
    for op in float_graph.operators:
        if (code := flatbuf.builtin_code(calibrated, op)) in flatbuf.WEIGHTED_OPS:
            float_ops[flatbuf.tensor_name(float_graph.tensors[op.outputs[0]])] = op
            float_by_code.setdefault(code, []).append(op)
    result, seen = [], {}
    graph = quantized.subgraphs[0]
    for index, op in enumerate(graph.operators):
        code = flatbuf.builtin_code(quantized, op)
        operands = flatbuf.WEIGHTED_OPS.get(code)
        if operands is None:
            continue
        rank, seen[code] = seen.get(code, 0), seen.get(code, 0) + 1
        if graph.tensors[operands.filter_of(op)].type not in (schema.TensorType.INT8, schema.TensorType.INT4):
            continue  # one left in float (partial quantization); INT4: a deployed 4-bit scheme's convolutions
        out_name = flatbuf.tensor_name(graph.tensors[op.outputs[0]])
        float_op = float_ops.get(out_name)
        same_place = float_by_code.get(code, [])[rank:rank + 1]
        filter_shape = graph.tensors[operands.filter_of(op)].shape
        if float_op is None and same_place and np.array_equal(
                float_graph.tensors[operands.filter_of(same_place[0])].shape, filter_shape):
            float_op = same_place[0]
        if float_op is None:
            raise UnsupportedError(f"operator {index} ({flatbuf.OPCODE_NAMES[code]}, output {out_name!r}): no float "
                            "counterpart in the calibrated model")
        weights = flatbuf.tensor_array(calibrated, operands.filter_of(float_op)).astype(np.float32)
        axis, float_bias = operands.channel_axis, operands.bias_of(float_op)
        bias = (flatbuf.tensor_array(calibrated, float_bias).astype(np.float32) if float_bias >= 0
                else np.zeros(weights.shape[axis], np.float32))
        result.append(WeightedOp(index, code, flatbuf.OPCODE_NAMES[code], axis, operands.filter_of(op),
                                 operands.bias_of(op), operands.input_of(op), int(op.outputs[0]), weights, bias,
                                 flatbuf.tensor_name(float_graph.tensors[float_op.outputs[0]])))
    return result


def quantization_params(scales: np.ndarray, axis: int) -> schema.QuantizationParametersT:
    q = schema.QuantizationParametersT()
    q.scale = np.asarray(scales, np.float32)
    q.zeroPoint = np.zeros(len(scales), np.int64)
    q.quantizedDimension = axis
    return q


def bias_quantization_params(input_scale: float, weight_scales: np.ndarray) -> schema.QuantizationParametersT:
    """TFLite's bias quantization for a conv/FC: scale input_scale * weight_scale ([1] or per output channel, both
    float32, multiplied in float64), zero point 0."""
    scales = np.float64(np.float32(input_scale)) * np.asarray(weight_scales, np.float32).astype(np.float64)
    return quantization_params(scales.astype(np.float32), 0)


def ensure_own_bias(model: schema.ModelT, op_index: int, channels: int) -> int:
    """The op's bias tensor index, creating a fresh int32 tensor at the op's bias position (flatbuf.WEIGHTED_OPS)
    when the op has none or shares one."""
    graph = model.subgraphs[0]
    op = graph.operators[op_index]
    position = flatbuf.WEIGHTED_OPS[flatbuf.builtin_code(model, op)].bias
    bias = int(op.inputs[position]) if len(op.inputs) > position else -1
    shared = bias >= 0 and sum(bias in o.inputs for o in graph.operators) > 1
    if bias >= 0 and not shared:
        return bias
    tensor = schema.TensorT()
    tensor.name = f"wess_bias_{op_index}".encode()
    tensor.type = schema.TensorType.INT32
    tensor.shape = np.array([channels], np.int32)
    model.buffers.append(schema.BufferT())
    tensor.buffer = len(model.buffers) - 1
    graph.tensors.append(tensor)
    inputs = list(op.inputs) + [-1] * (position + 1 - len(op.inputs))
    inputs[position] = len(graph.tensors) - 1
    op.inputs = np.array(inputs, np.int32)
    return inputs[position]


def apply_wess(quantized: schema.ModelT, ops: list[WeightedOp], rule: str = "mse",
               weight_bits: int = 8) -> list[tuple[WeightedOp, wess.WessLayer]]:
    """Rewrite every conv/FC op's weights, bias and scales in place; return what each layer became."""
    results = []
    for wop in ops:
        input_scale, output_scale = flatbuf.tensor_scale(quantized, wop.input_tensor), flatbuf.tensor_scale(quantized, wop.output_tensor)
        try:
            layer = wess.quantize_layer(wop.float_weights, wop.float_bias, wop.channel_axis, input_scale,
                                        output_scale, rule, weight_bits)
        except UnsupportedError as exc:  # a bias int32 cannot hold
            raise UnsupportedError(f"operator {wop.operator_index} ({wop.op_name}): {exc}") from None
        check_exact_per_channel(layer, input_scale, output_scale, wop)
        _log_raised(wop, np.array([layer.scale_raised_by]))
        tensors = quantized.subgraphs[0].tensors
        flatbuf.set_tensor_array(quantized, wop.weight_tensor, layer.weights_q)
        tensors[wop.weight_tensor].quantization = quantization_params(layer.channel_scales, wop.channel_axis)
        bias_index = ensure_own_bias(quantized, wop.operator_index, layer.bias_q.size)
        flatbuf.set_tensor_array(quantized, bias_index, layer.bias_q)
        tensors[bias_index].quantization = bias_quantization_params(input_scale, layer.channel_scales)
        results.append((wop, layer))
        if layer.saturated.any():
            log.warning("operator %d (%s): %d channel(s) need a shift above 15 (R / r_c >= 2^16); shifts saturate",
                        wop.operator_index, wop.op_name, int(layer.saturated.sum()))
    return results


def apply_grid(quantized: schema.ModelT, ops: list[WeightedOp], per_channel: bool, weight_bits: int) -> None:
    """Rewrite every conv/FC op onto a plain symmetric grid of weight_bits (per-tensor R / q_max, or per-channel
    r_c / q_max): weights, bias and scales in place. A per-tensor layer keeps one scale on its weight and bias."""
    q_max = wess.Q_MAX[weight_bits]
    for wop in ops:
        input_scale = flatbuf.tensor_scale(quantized, wop.input_tensor)
        grid = wess.grid_scales(wop.float_weights, wop.channel_axis, per_channel, q_max)
        scales = wess.raise_for_bias(grid if per_channel else grid[:1], wop.float_bias, input_scale)
        scales = np.broadcast_to(scales, grid.shape).astype(np.float32)
        _log_raised(wop, scales / grid)
        try:
            bias_q = wess.quantize_bias(wop.float_bias, input_scale, scales)
        except UnsupportedError as exc:
            raise UnsupportedError(f"operator {wop.operator_index} ({wop.op_name}): {exc}") from None
        stored = scales if per_channel else scales[:1]
        tensors = quantized.subgraphs[0].tensors
        flatbuf.set_tensor_array(quantized, wop.weight_tensor,
                                 wess.quantize_per_channel(wop.float_weights, wop.channel_axis, scales, q_max))
        tensors[wop.weight_tensor].quantization = quantization_params(stored, wop.channel_axis if per_channel else 0)
        bias_index = ensure_own_bias(quantized, wop.operator_index, bias_q.size)
        flatbuf.set_tensor_array(quantized, bias_index, bias_q)
        tensors[bias_index].quantization = bias_quantization_params(input_scale, stored)


def _log_raised(wop: WeightedOp, factors: np.ndarray) -> None:
    """Warn when wess.raise_for_bias raised weight scales (factors: raised / chosen, per scale)."""
    raised = factors > 1.0
    if raised.any():
        log.warning("operator %d (%s): %d weight scale(s) raised up to %.3gx so that the int32 bias fits (weights "
                    "tiny against the bias)", wop.operator_index, wop.op_name, int(raised.sum()),
                    float(np.max(factors)))


def check_exact_per_channel(layer: wess.WessLayer, input_scale: float, output_scale: float, wop: WeightedOp) -> None:
    """TFLite's per-channel multipliers for scales s * 2**-k_c must equal (M0, n + k_c) exactly."""
    for c, k in enumerate(layer.channel_right_shift):
        real = np.float64(input_scale) * np.float64(layer.channel_scales[c]) / np.float64(output_scale)
        mantissa, exponent = quantize_multiplier(float(real))
        if (mantissa, -exponent) != (layer.multiplier, layer.right_shift + int(k)):
            raise RuntimeError(f"operator {wop.operator_index} channel {c}: TFLite multiplier {(mantissa, exponent)}"
                                 f" differs from the NPU's ({layer.multiplier}, right shift {layer.right_shift}+{k})")


def layer_records(results: list[tuple[WeightedOp, wess.WessLayer]]) -> list[metadata.LayerShifts]:
    return [metadata.LayerShifts(wop.operator_index, wop.weight_tensor, wop.builtin_code, float(layer.layer_scale),
                                 layer.multiplier, layer.right_shift, layer.channel_right_shift, layer.weight_bits)
            for wop, layer in results]
