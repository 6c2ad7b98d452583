"""WESS maths: per-channel 4-bit shifts, one layer-wise scale, int8 weights and int32 bias (pure functions)."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from pipeline.errors import InputError, UnsupportedError
from pipeline.fixedpoint import INT32_MAX, quantize_multiplier, round_half_away
from pipeline.tflite.metadata import wess_scales

MAX_SHIFT = 15  # 4 bits
MAX_RIGHT_SHIFT = 31  # TFLite flushes multipliers whose total right shift exceeds 31 to zero
SHIFT_RULES = ("floor", "mse", "relative")
Q_MAX = {8: 127, 4: 7}  # weight bit width -> largest weight magnitude of the symmetric grid (-q_max..q_max)
BIAS_LIMIT = 2.0 ** 30  # |bias_q| a weight scale raised for its bias leaves: half of int32's range


@dataclass
class WessLayer:
    """The quantized form of one layer: int8 (or 4-bit values in int8) weights with per-channel shifts under one
    layer scale."""

    weights_q: np.ndarray  # int8, the float weights' layout; in -q_max..q_max
    bias_q: np.ndarray  # int32 [C]
    channel_right_shift: np.ndarray  # uint8 [C], k_c in 0..15
    layer_scale: np.float32  # s
    channel_scales: np.ndarray  # float32 [C], s * 2**-k_c (exact)
    multiplier: int  # Q31 mantissa of s_in * s / s_out
    right_shift: int  # n: the layer's right shift (negative: left shift); channel c uses n + k_c
    saturated: np.ndarray = field(default_factory=lambda: np.zeros(0, bool))  # k_c hit 15 before R / r_c was met
    capped: np.ndarray = field(default_factory=lambda: np.zeros(0, bool))  # k_c lowered for bias or n + k_c <= 31
    weight_bits: int = 8  # 8 (q in -127..127) or 4 (q in -7..7)
    scale_raised_by: float = 1.0  # > 1: the rule's layer scale was raised so that the int32 bias fits (raise_for_bias)


def channel_ranges(weights: np.ndarray, channel_axis: int) -> np.ndarray:
    """r_c = max |W_c| per output channel, as float64."""
    axes = tuple(a for a in range(weights.ndim) if a != channel_axis % weights.ndim)
    return np.abs(np.asarray(weights, np.float64)).max(axis=axes)


def floor_shifts(ranges: np.ndarray) -> np.ndarray:
    """k_c = min(15, floor(log2(R / r_c))) for r_c > 0, else 0: so that r_c * 2**k_c <= R."""
    layer_range = ranges.max() if ranges.size else 0.0
    shifts = np.zeros(ranges.shape, np.int64)
    live = ranges > 0
    if layer_range > 0:
        ratio = layer_range / ranges[live]
        k = np.floor(np.log2(ratio)).astype(np.int64)
        k -= (ranges[live] * np.exp2(k) > layer_range)  # guard log2 rounding: never overshoot R
        shifts[live] = np.clip(k, 0, MAX_SHIFT)
    return shifts


def _to_channel_last(weights: np.ndarray, channel_axis: int) -> np.ndarray:
    return np.moveaxis(np.asarray(weights, np.float64), channel_axis, -1).reshape(-1, weights.shape[channel_axis])


def _broadcast(values: np.ndarray, ndim: int, channel_axis: int) -> np.ndarray:
    shape = [1] * ndim
    shape[channel_axis] = -1
    return np.asarray(values, np.float64).reshape(shape)


def quantize_per_channel(weights: np.ndarray, channel_axis: int, channel_scales: np.ndarray,
                         q_max: int = 127) -> np.ndarray:
    """q = clip(round(W / s_c), -q_max, q_max) as int8, rounding half away from zero (TFLite's rounding).

    With s_c = s * 2**-k_c this is WESS's round(W * 2**k_c / s) exactly: dividing by a power of two is exact.
    """
    scaled = np.asarray(weights, np.float64) / _broadcast(channel_scales, weights.ndim, channel_axis)
    return np.clip(round_half_away(scaled), -q_max, q_max).astype(np.int8)


def fake_quantize(weights: np.ndarray, channel_axis: int, channel_scales: np.ndarray, q_max: int = 127) -> np.ndarray:
    """The float64 weights the integer weights stand for."""
    q = quantize_per_channel(weights, channel_axis, channel_scales, q_max)
    return q.astype(np.float64) * _broadcast(channel_scales, weights.ndim, channel_axis)


def weight_error(weights: np.ndarray, channel_axis: int, layer_scale: float, shifts: np.ndarray,
                 q_max: int = 127) -> np.ndarray:
    """Sum of squared weight quantization error per channel."""
    deq = fake_quantize(weights, channel_axis, wess_scales(layer_scale, shifts), q_max)
    return _to_channel_last((deq - weights) ** 2, channel_axis).sum(axis=0)


def floor_scale(layer_range: float, q_max: int = 127) -> np.float32:
    """The paper's layer scale R / q_max (1 for an all-zero layer)."""
    return np.float32(layer_range / q_max) if layer_range > 0 else np.float32(1.0)


def mse_scale_and_shifts(weights: np.ndarray, channel_axis: int, num_candidates: int = 24,
                         q_max: int = 127) -> tuple[float, np.ndarray]:
    """Search s on a grid in [R/(2 q_max), R/q_max] and, per channel, k_c in 0..15 minimising the squared weight error.

    The floor rule's (R/q_max, floor shifts) is always a candidate, so this never does worse than it on the
    layer's total squared weight error.
    """
    ranges = channel_ranges(weights, channel_axis)
    layer_range = float(ranges.max()) if ranges.size else 0.0
    if layer_range == 0.0:
        return 1.0, np.zeros(ranges.shape, np.int64)
    best_scale = floor_scale(layer_range, q_max)
    best_shifts = floor_shifts(ranges)
    best_err = weight_error(weights, channel_axis, best_scale, best_shifts, q_max).sum()
    for fraction in np.linspace(0.5, 1.0, num_candidates, endpoint=False):
        scale = np.float32(layer_range / q_max * fraction)
        errors = np.stack([weight_error(weights, channel_axis, scale, np.full(ranges.shape, k), q_max)
                           for k in range(MAX_SHIFT + 1)])
        shifts = np.argmin(errors, axis=0)
        err = errors[shifts, np.arange(ranges.size)].sum()
        if err < best_err:
            best_scale, best_shifts, best_err = scale, shifts, err
    return float(best_scale), best_shifts.astype(np.int64)


def unclipped_shifts(ranges: np.ndarray, layer_scale: float, q_max: int) -> np.ndarray:
    """The largest k_c in 0..15 with r_c * 2**k_c <= q_max * s (no weight of the channel clips); 0 for r_c = 0."""
    live = ranges > 0
    shifts = np.zeros(ranges.shape, np.int64)
    limit = float(layer_scale) * q_max
    k = np.floor(np.log2(limit / ranges[live])).astype(np.int64)
    k -= (ranges[live] * np.exp2(k) > limit)  # guard log2 rounding: never clip
    shifts[live] = np.clip(k, 0, MAX_SHIFT)
    return shifts


def relative_error(weights: np.ndarray, channel_axis: int, layer_scale: float, shifts: np.ndarray,
                   q_max: int) -> float:
    """Sum over channels of the squared weight error divided by the channel's energy sum W_c^2 (all-zero channels
    count 0): every channel's SQNR weighs the same, as it does for a per-channel grid."""
    errors = weight_error(weights, channel_axis, layer_scale, shifts, q_max)
    energy = _to_channel_last(np.asarray(weights, np.float64) ** 2, channel_axis).sum(axis=0)
    return float(np.sum(np.where(energy > 0, errors / np.where(energy > 0, energy, 1.0), 0.0)))


def relative_scale_and_shifts(weights: np.ndarray, channel_axis: int, num_candidates: int = 24,
                              q_max: int = 127) -> tuple[float, np.ndarray]:
    """Search s on a grid in [R/q_max, 2R/q_max) with, per channel, the largest shift that clips nothing, minimising
    the sum of the channels' relative squared errors (relative_error). s = R/q_max is the floor rule's choice, so
    no weight is ever clipped; a larger s trades the widest channel's resolution for the others' alignment. Measured
    better than `mse` for 4-bit weights, where clipping a channel's largest weights costs most (README)."""
    ranges = channel_ranges(weights, channel_axis)
    layer_range = float(ranges.max()) if ranges.size else 0.0
    if layer_range == 0.0:
        return 1.0, np.zeros(ranges.shape, np.int64)
    best = None
    for fraction in np.linspace(1.0, 2.0, num_candidates, endpoint=False):
        scale = np.float32(layer_range / q_max * fraction)
        shifts = unclipped_shifts(ranges, scale, q_max)
        error = relative_error(weights, channel_axis, scale, shifts, q_max)
        if best is None or error < best[0]:
            best = (error, float(scale), shifts)
    return best[1], best[2]


def quantize_layer(weights: np.ndarray, bias: np.ndarray, channel_axis: int, input_scale: float,
                   output_scale: float, rule: str = "mse", weight_bits: int = 8) -> WessLayer:
    """WESS-quantize one layer's float weights and bias (see docs/wess.md) onto the weight_bits grid (8 or 4).

    Shifts are lowered where needed so that (a) the int32 bias fits and (b) n + k_c <= 31, the largest right
    shift TFLite keeps (it flushes smaller multipliers to zero); such channels are flagged `capped`.
    """
    weights = np.asarray(weights, np.float32)
    bias = np.asarray(bias, np.float32)
    input_scale, output_scale = np.float32(input_scale), np.float32(output_scale)  # as the tensors store them
    q_max = Q_MAX[weight_bits]
    ranges = channel_ranges(weights, channel_axis)
    layer_range = float(ranges.max()) if ranges.size else 0.0
    if rule == "floor":
        layer_scale = floor_scale(layer_range, q_max)
        shifts = floor_shifts(ranges)
    elif rule == "mse":
        scale, shifts = mse_scale_and_shifts(weights, channel_axis, q_max=q_max)
        layer_scale = np.float32(scale)
    elif rule == "relative":
        scale, shifts = relative_scale_and_shifts(weights, channel_axis, q_max=q_max)
        layer_scale = np.float32(scale)
    else:
        raise InputError(f"unknown shift rule {rule!r}; choose one of {', '.join(SHIFT_RULES)}")
    chosen_scale = np.float32(layer_scale)
    layer_scale = raise_for_bias(np.array([chosen_scale], np.float32), bias, input_scale)[0]
    with np.errstate(divide="ignore", invalid="ignore"):
        saturated = (ranges > 0) & (layer_range / ranges >= 2.0 ** (MAX_SHIFT + 1))  # R / r_c beyond 4 bits

    multiplier, exponent = quantize_multiplier(float(np.float64(input_scale) * np.float64(layer_scale) / np.float64(output_scale)))
    right_shift = -exponent
    bias_unit = np.float64(input_scale) * np.float64(layer_scale)  # bias scale of a channel with k = 0
    capped = np.zeros(shifts.shape, bool)
    for c in range(shifts.size):
        while shifts[c] > 0 and (right_shift + shifts[c] > MAX_RIGHT_SHIFT or
                                 abs(np.round(bias[c] / (bias_unit * 2.0 ** -shifts[c]))) > INT32_MAX):
            shifts[c] -= 1
            capped[c] = True
    channel_scales = wess_scales(layer_scale, shifts)
    return WessLayer(
        weights_q=quantize_per_channel(weights, channel_axis, channel_scales, q_max),
        bias_q=quantize_bias(bias, input_scale, channel_scales),
        channel_right_shift=shifts.astype(np.uint8),
        layer_scale=layer_scale,
        channel_scales=channel_scales,
        multiplier=multiplier,
        right_shift=right_shift,
        saturated=saturated,
        capped=capped,
        weight_bits=weight_bits,
        scale_raised_by=float(layer_scale) / float(chosen_scale) if chosen_scale > 0 else 1.0,
    )


def raise_for_bias(scales: np.ndarray, bias: np.ndarray, input_scale: float) -> np.ndarray:
    """Weight scales (float32, [C] per channel or [1] for the layer) raised where a bias would overflow int32 even
    with shift 0 (weights tiny against their bias): to |b| / (s_in * 2^30), rounded up in float32, as TFLite's own
    quantizer widens such a scale. A [1] scale is raised for the largest |b_c|; others are returned unchanged."""
    scales = np.asarray(scales, np.float32)
    magnitude = np.abs(np.asarray(bias, np.float32).astype(np.float64))
    if magnitude.size == 0:
        return scales
    if scales.size == 1 and magnitude.size > 1:
        magnitude = magnitude.max(keepdims=True)
    needed = magnitude / (np.float64(np.float32(input_scale)) * BIAS_LIMIT)
    overflows = magnitude / (np.float64(np.float32(input_scale)) * scales.astype(np.float64)) > INT32_MAX
    raised = needed.astype(np.float32)
    raised = np.where(raised.astype(np.float64) < needed, np.nextafter(raised, np.float32(np.inf)), raised)
    return np.where(overflows, raised, scales).astype(np.float32)


def quantize_bias(bias: np.ndarray, input_scale: float, channel_scales: np.ndarray) -> np.ndarray:
    """bias_q_c = round(b_c / (s_in * s_c)) as int32; UnsupportedError naming the channel when int32 cannot hold it."""
    bias_real = np.float64(np.float32(input_scale)) * np.asarray(channel_scales, np.float32).astype(np.float64)
    bias_q = np.round(np.asarray(bias, np.float32).astype(np.float64) / bias_real)
    if np.any(np.abs(bias_q) > INT32_MAX):
        bad = int(np.argmax(np.abs(bias_q)))
        raise UnsupportedError(f"channel {bad}: bias {bias[bad]:.6g} / scale {bias_real[bad]:.3g} overflows int32 even with "
                            "shift 0")
    return bias_q.astype(np.int32)


def grid_scales(weights: np.ndarray, channel_axis: int, per_channel: bool, q_max: int) -> np.ndarray:
    """Plain symmetric grids, float32 [C]: per-channel r_c / q_max (1 for an all-zero channel), else R / q_max for
    every channel."""
    ranges = channel_ranges(weights, channel_axis)
    if per_channel:
        return np.where(ranges > 0, ranges / q_max, 1.0).astype(np.float32)
    return np.full(ranges.shape, floor_scale(float(ranges.max()) if ranges.size else 0.0, q_max), np.float32)


def disparity(weights: np.ndarray, channel_axis: int) -> float:
    """max_c R / r_c over the non-zero channels (1.0 for a layer of one live channel, inf never)."""
    ranges = channel_ranges(weights, channel_axis)
    live = ranges[ranges > 0]
    return float(live.max() / live.min()) if live.size else 1.0


def sqnr_db(reference: np.ndarray, approx: np.ndarray) -> float:
    """10 log10(|ref|^2 / |ref - approx|^2) in dB (inf when exact)."""
    reference = np.asarray(reference, np.float64)
    noise = float(np.sum((reference - np.asarray(approx, np.float64)) ** 2))
    signal = float(np.sum(reference ** 2))
    if noise == 0.0:
        return float("inf")
    return 10.0 * np.log10(max(signal, 1e-300) / noise)
