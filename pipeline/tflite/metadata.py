"""The `wess.shifts` metadata format: a versioned little-endian record of each layer's scale, multiplier and shifts."""
from __future__ import annotations

import struct
from dataclasses import dataclass

import numpy as np
from ai_edge_litert import schema_py_generated as schema

from pipeline.errors import InputError
from pipeline.fixedpoint import quantize_multiplier

from . import flatbuf

METADATA_NAME = "wess.shifts"
MAGIC = b"WESS"
VERSION = 2  # 2: the layer record's last field is the weight bit width (version 1: reserved, 0; 8-bit weights)
HEADER = struct.Struct("<4sHHI")  # magic, version, header bytes, layer count
LAYER = struct.Struct("<IIIfiBbH")  # operator, weight tensor, channels, layer scale, multiplier, op code, right shift,
# weight bits (version 1: reserved)
WEIGHT_BITS = (4, 8)
Q_MAX = {8: 127, 4: 7}  # the symmetric weight grid -q_max..q_max of each bit width
MIN_TOTAL_SHIFT, MAX_TOTAL_SHIFT = -30, 31  # a channel's n + k_c (docs/metadata.md; wess_ref.h)


def wess_scales(layer_scale: float, shifts: np.ndarray) -> np.ndarray:
    """s * 2**-k_c in float32 (exact: a power-of-two factor)."""
    return (np.float32(layer_scale) * np.exp2(-np.asarray(shifts, np.float32))).astype(np.float32)


@dataclass(frozen=True)
class LayerShifts:
    """One conv/depthwise/FC layer as the NPU sees it: one multiplier, right shift n, and k_c per channel."""

    operator_index: int
    weight_tensor: int
    builtin_code: int  # TFLite BuiltinOperator: 3 CONV_2D, 4 DEPTHWISE_CONV_2D, 9 FULLY_CONNECTED, 67 TRANSPOSE_CONV
    layer_scale: float  # float32 s
    multiplier: int  # Q31 mantissa M0 of s_in * s / s_out
    right_shift: int  # n (negative: left shift); channel c shifts right by n + k_c
    channel_right_shift: np.ndarray  # uint8 k_c in 0..15
    weight_bits: int = 8  # 8: weights in -127..127; 4: weights in -7..7 (still stored as int8 in the .tflite)

    def channel_scales(self) -> np.ndarray:
        """The per-channel scales s * 2**-k_c (float32, exact) that the weight tensor must carry."""
        return wess_scales(self.layer_scale, self.channel_right_shift)


def pack_nibbles(values: np.ndarray) -> bytes:
    """Two 4-bit values per byte, the even index in the low nibble; an odd count pads the last high nibble with 0."""
    values = np.asarray(values, np.uint8)
    if values.size and values.max() > 15:
        raise ValueError(f"shift {int(values.max())} does not fit in 4 bits")
    padded = np.zeros(2 * ((values.size + 1) // 2), np.uint8)
    padded[:values.size] = values
    return (padded[0::2] | (padded[1::2] << 4)).astype(np.uint8).tobytes()


def unpack_nibbles(data: bytes, count: int) -> np.ndarray:
    raw = np.frombuffer(data, np.uint8)
    out = np.empty(raw.size * 2, np.uint8)
    out[0::2], out[1::2] = raw & 0x0F, raw >> 4
    return out[:count].copy()


def _padded(n: int) -> int:
    return (n + 3) & ~3


def encode(layers: list[LayerShifts]) -> bytes:
    """Serialize: header, then per layer a fixed record followed by its packed shifts padded to 4 bytes.

    A model whose layers are all 8-bit is written as version 1 (byte for byte what earlier releases wrote, so they
    still read it); any 4-bit layer makes it version 2, which records every layer's weight bit width.
    """
    version = 1 if all(layer.weight_bits == 8 for layer in layers) else VERSION
    parts = [HEADER.pack(MAGIC, version, HEADER.size, len(layers))]
    for layer in layers:
        if layer.weight_bits not in WEIGHT_BITS:
            raise ValueError(f"weight bit width {layer.weight_bits} is not one of {WEIGHT_BITS}")
        shifts = pack_nibbles(layer.channel_right_shift)
        parts.append(LAYER.pack(layer.operator_index, layer.weight_tensor, layer.channel_right_shift.size,
                                np.float32(layer.layer_scale), layer.multiplier, layer.builtin_code,
                                layer.right_shift, 0 if version == 1 else layer.weight_bits))
        parts.append(shifts + b"\0" * (_padded(len(shifts)) - len(shifts)))
    return b"".join(parts)


def decode(data: bytes, source: str = METADATA_NAME) -> list[LayerShifts]:
    """Parse and check the format (magic, version, lengths, shift range); raise WessError naming the problem."""
    if len(data) < HEADER.size:
        raise InputError(f"{source}: {len(data)} bytes, shorter than the {HEADER.size}-byte header")
    magic, version, header_bytes, count = HEADER.unpack_from(data, 0)
    if magic != MAGIC:
        raise InputError(f"{source}: bad magic {magic!r}, expected {MAGIC!r}")
    if version > VERSION:
        raise InputError(f"{source}: format version {version} is newer than this wess-deploy reads ({VERSION}); "
                        "upgrade wess-deploy")
    if version < 1 or header_bytes < HEADER.size:
        raise InputError(f"{source}: bad version {version} or header size {header_bytes}")
    offset, layers = header_bytes, []
    for i in range(count):
        if offset + LAYER.size > len(data):
            raise InputError(f"{source}: layer record {i} of {count} runs past the end ({len(data)} bytes)")
        op, tensor, channels, scale, multiplier, code, right_shift, bits_field = LAYER.unpack_from(data, offset)
        offset += LAYER.size
        weight_bits = 8 if version == 1 else bits_field
        if weight_bits not in WEIGHT_BITS:
            raise InputError(f"{source}: layer record {i} (operator {op}) has weight bit width {bits_field}, not one of "
                            f"{', '.join(map(str, WEIGHT_BITS))}")
        packed = (channels + 1) // 2
        if offset + packed > len(data):
            raise InputError(f"{source}: layer record {i} (operator {op}) declares {channels} channels, "
                            f"more shifts than the {len(data) - offset} bytes left")
        if not (np.isfinite(scale) and scale > 0):
            raise InputError(f"{source}: layer record {i} (operator {op}) has layer scale {scale}, not a positive number")
        shifts = unpack_nibbles(data[offset:offset + packed], channels)
        total = right_shift + shifts.astype(np.int32)
        outside = np.flatnonzero((total < MIN_TOTAL_SHIFT) | (total > MAX_TOTAL_SHIFT))
        if outside.size:
            c = int(outside[0])
            raise InputError(f"{source}: layer record {i} (operator {op}) channel {c}: right shift n + k_c = "
                            f"{right_shift} + {int(shifts[c])} lies outside {MIN_TOTAL_SHIFT}..{MAX_TOTAL_SHIFT}")
        offset += _padded(packed)
        layers.append(LayerShifts(op, tensor, code, float(scale), multiplier, right_shift, shifts, weight_bits))
    if offset != len(data):
        raise InputError(f"{source}: {len(data) - offset} trailing bytes after {count} layer records")
    return layers


def read_shifts(model: schema.ModelT, source: str) -> list[LayerShifts]:
    """Read the WESS metadata and check it against the model's operators and per-channel scales."""
    payload = flatbuf.get_metadata(model, METADATA_NAME)
    if payload is None:
        raise InputError(f"{source}: no {METADATA_NAME!r} metadata: not a WESS model "
                        "(make one with `wess deploy --scheme wess`)")
    layers = decode(payload, f"{source}: metadata {METADATA_NAME!r}")
    graph = model.subgraphs[0]
    for layer in layers:
        where = f"{source}: metadata layer for operator {layer.operator_index}"
        if layer.operator_index >= len(graph.operators):
            raise InputError(f"{where}: the model has only {len(graph.operators)} operators")
        op = graph.operators[layer.operator_index]
        code = flatbuf.builtin_code(model, op)
        if code not in flatbuf.WEIGHTED_OPS or code != layer.builtin_code:
            raise InputError(f"{where}: operator is {flatbuf.opcode_name(model, op)}, metadata says op code "
                            f"{layer.builtin_code}")
        operands = flatbuf.WEIGHTED_OPS[code]
        if (len(op.inputs) <= max(operands.input, operands.filter) or operands.filter_of(op) != layer.weight_tensor
                or operands.input_of(op) < 0 or len(op.outputs) != 1):
            raise InputError(f"{where}: weight tensor {layer.weight_tensor} is not the operator's weight input")
        q = graph.tensors[layer.weight_tensor].quantization
        scales = np.asarray(q.scale if q is not None and q.scale is not None else [], np.float32)
        expected = layer.channel_scales()
        if scales.shape != expected.shape or not np.array_equal(scales, expected):
            raise InputError(f"{where}: weight tensor {layer.weight_tensor} scales disagree with s * 2^-k "
                            f"({scales.size} scales, {expected.size} shifts)")
        _check_weight_range(model, layer, where)
        input_scale = flatbuf.tensor_scale(model, operands.input_of(op))
        output_scale = flatbuf.tensor_scale(model, op.outputs[0])
        mantissa, exponent = quantize_multiplier(float(np.float64(input_scale) * np.float64(np.float32(layer.layer_scale))
                                                       / np.float64(output_scale)))
        if (mantissa, -exponent) != (layer.multiplier, layer.right_shift):
            raise InputError(f"{where}: multiplier ({layer.multiplier}, right shift {layer.right_shift}) disagrees "
                            f"with the tensors' scales ({mantissa}, {-exponent})")
    return layers


def _check_weight_range(model: schema.ModelT, layer: LayerShifts, where: str) -> None:
    """The weight tensor is int8 (or INT4 for a 4-bit layer) and its values lie on the layer's grid -q_max..q_max."""
    tensor = model.subgraphs[0].tensors[layer.weight_tensor]
    allowed = (schema.TensorType.INT8, schema.TensorType.INT4) if layer.weight_bits == 4 else (schema.TensorType.INT8,)
    if tensor.type not in allowed:
        raise InputError(f"{where}: weight tensor {layer.weight_tensor} is "
                         f"{flatbuf.TENSOR_TYPE_NAMES.get(tensor.type, tensor.type)}, not "
                         f"{' or '.join(flatbuf.TENSOR_TYPE_NAMES[t] for t in allowed)}")
    weights = flatbuf.tensor_array(model, layer.weight_tensor)
    q_max = Q_MAX[layer.weight_bits]
    if weights.size and int(np.abs(weights.astype(np.int32)).max()) > q_max:  # int32: |-128| fits
        largest = int(np.abs(weights.astype(np.int32)).max())
        raise InputError(f"{where}: weight tensor {layer.weight_tensor} holds {largest}, outside the "
                         f"{layer.weight_bits}-bit grid -{q_max}..{q_max}")
