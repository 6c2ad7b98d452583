"""Kernel parameters computed from tensor quantization exactly as TFLite's Prepare does, for firmware_ref kernels."""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from pipeline.errors import UnsupportedError
from pipeline.fixedpoint import quantize_multiplier

ACTIVATION_CODES = {0: "NONE", 1: "RELU", 2: "RELU_N1_TO_1", 3: "RELU6"}  # tflite schema ActivationFunctionType
ADD_LEFT_SHIFT = 20  # TFLite's int8 ADD
SOFTMAX_SCALED_DIFF_INTEGER_BITS = 5  # TFLite's int8 SOFTMAX exp input format Q5.26


class ParameterError(UnsupportedError, ValueError):
    """A model's scales, shapes or options give a kernel parameter outside what the C kernels take."""


@dataclass(frozen=True)
class Requant:
    """Per-layer (multiplier_count 1) or per-channel requantization; channel_shift4: packed WESS shifts or None."""

    multiplier: np.ndarray  # int32 Q31 mantissas
    right_shift: np.ndarray  # int32, -(TFLite exponent)
    channel_shift4: np.ndarray | None = None  # uint8, two 4-bit shifts per byte, low nibble = even channel


@dataclass(frozen=True)
class ConvParams:
    input_offset: int  # -input zero point
    output_offset: int  # output zero point
    stride_y: int
    stride_x: int
    dilation_y: int
    dilation_x: int
    pad_top: int
    pad_left: int
    act_min: int
    act_max: int


@dataclass(frozen=True)
class DepthwiseParams:
    conv: ConvParams
    depth_multiplier: int


@dataclass(frozen=True)
class FullyConnectedParams:
    input_offset: int
    output_offset: int
    act_min: int
    act_max: int


@dataclass(frozen=True)
class AddParams:
    input1_offset: int
    input2_offset: int
    output_offset: int
    left_shift: int
    input1_multiplier: int
    input1_right_shift: int
    input2_multiplier: int
    input2_right_shift: int
    output_multiplier: int
    output_right_shift: int
    act_min: int
    act_max: int


@dataclass(frozen=True)
class PoolParams:
    stride_y: int
    stride_x: int
    filter_height: int
    filter_width: int
    pad_top: int
    pad_left: int
    act_min: int
    act_max: int


@dataclass(frozen=True)
class MeanParams:
    input_offset: int
    output_offset: int
    multiplier: int
    right_shift: int


@dataclass(frozen=True)
class PadParams:
    pad_top: int
    pad_bottom: int
    pad_left: int
    pad_right: int
    pad_value: int


@dataclass(frozen=True)
class ConcatParams:
    input_count: int


@dataclass(frozen=True)
class SoftmaxParams:
    input_beta_multiplier: int
    input_beta_left_shift: int
    diff_min: int


@dataclass(frozen=True)
class ConvF32Params:
    """CONV_2D float32 (an operator left in float): geometry as ConvParams, fused activation bounds in float32."""

    stride_y: int
    stride_x: int
    dilation_y: int
    dilation_x: int
    pad_top: int
    pad_left: int
    act_min: float
    act_max: float


@dataclass(frozen=True)
class DepthwiseF32Params:
    conv: ConvF32Params
    depth_multiplier: int


@dataclass(frozen=True)
class FullyConnectedF32Params:
    act_min: float
    act_max: float


@dataclass(frozen=True)
class QuantizeParams:
    output_scale: float
    output_zero_point: int


@dataclass(frozen=True)
class DequantizeParams:
    input_scale: float
    input_zero_point: int


def f32(value: float) -> float:
    """A tensor scale as TFLite holds it: float32, widened to double for products."""
    return float(np.float32(value))


def _round_half_away(value: float) -> int:
    """std::round: nearest integer, ties away from zero."""
    return int(math.copysign(math.floor(abs(value) + 0.5), value))


def activation_range(activation: str | int, output_scale: float, output_zero_point: int) -> tuple[int, int]:
    """TFLite's CalculateActivationRangeQuantized for int8: fused activation bounds quantized in float32."""
    name = activation.upper() if isinstance(activation, str) else ACTIVATION_CODES.get(int(activation), activation)

    def quantize(real: float) -> int:
        with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
            quotient = float(np.float32(real) / np.float32(output_scale))
        if not math.isfinite(quotient):
            raise ParameterError(f"activation bound {real} / output scale {output_scale!r} is not finite")
        return output_zero_point + _round_half_away(quotient)

    if name == "NONE":
        return -128, 127
    if name == "RELU":
        return max(-128, quantize(0.0)), 127
    if name == "RELU6":
        return max(-128, quantize(0.0)), min(127, quantize(6.0))
    if name == "RELU_N1_TO_1":
        return max(-128, quantize(-1.0)), min(127, quantize(1.0))
    raise ParameterError(f"unsupported fused activation {activation!r}")


FLOAT32_MAX = float(np.finfo(np.float32).max)


def float_activation_range(activation: str | int) -> tuple[float, float]:
    """TFLite's CalculateActivationRange for float: (lowest, max) of float32 for NONE, clamps for RELU*."""
    name = activation.upper() if isinstance(activation, str) else ACTIVATION_CODES.get(int(activation), activation)
    ranges = {"NONE": (-FLOAT32_MAX, FLOAT32_MAX), "RELU": (0.0, FLOAT32_MAX), "RELU6": (0.0, 6.0),
              "RELU_N1_TO_1": (-1.0, 1.0)}
    if name not in ranges:
        raise ParameterError(f"unsupported fused activation {activation!r}")
    return ranges[name]


def compute_padding(input_size: int, filter_size: int, stride: int, dilation: int, padding: str) -> tuple[int, int]:
    """TFLite's output size and leading padding (ComputeOutSize, ComputePaddingWithOffset) for 'SAME' or 'VALID'."""
    effective_filter_size = (filter_size - 1) * dilation + 1
    if padding.upper() == "SAME":
        output_size = (input_size + stride - 1) // stride
    elif padding.upper() == "VALID":
        output_size = (input_size + stride - effective_filter_size) // stride
    else:
        raise ParameterError(f"padding must be 'SAME' or 'VALID', got {padding!r}")
    if output_size < 1:
        raise ParameterError("filter larger than the padded input")
    total_padding = max((output_size - 1) * stride + effective_filter_size - input_size, 0)
    return output_size, total_padding // 2


def divisor_scale(scale: float, what: str) -> float:
    """A scale the parameters are divided by, as float32: it must be positive and finite."""
    if not 0.0 < f32(scale) < math.inf:
        raise ParameterError(f"{what} scale {scale!r} is not a positive finite number")
    return f32(scale)


def multiplier_and_right_shift(real_multiplier: float) -> tuple[int, int]:
    """quantize_multiplier as (Q31 mantissa, right shift), checked against the kernels' right-shift range."""
    if not 0.0 <= real_multiplier < math.inf:
        raise ParameterError(f"multiplier {real_multiplier!r} is not a finite number >= 0")
    q_fixed, exponent = quantize_multiplier(real_multiplier)
    if exponent > 30:
        raise ParameterError(f"multiplier {real_multiplier!r} too large for a left shift of at most 30")
    return q_fixed, -exponent


def per_channel_requant(input_scale: float, weight_scales, output_scale: float) -> Requant:
    """TFLite's PopulateConvolutionQuantizationParams: M_c = s_in * s_w[c] / s_out, one multiplier per scale."""
    output_scale = divisor_scale(output_scale, "output")
    pairs = [multiplier_and_right_shift(f32(input_scale) * f32(scale) / output_scale)
             for scale in np.atleast_1d(weight_scales)]
    return Requant(np.array([q for q, _ in pairs], dtype=np.int32), np.array([r for _, r in pairs], dtype=np.int32))


def pack_channel_shift4(channel_shifts) -> np.ndarray:
    """WESS shifts k_c in 0..15 packed two per byte, low nibble = even channel."""
    shifts = np.asarray(channel_shifts, dtype=np.int64)
    if shifts.size and (shifts.min() < 0 or shifts.max() > 15):
        raise ParameterError("WESS channel shifts must lie in 0..15")
    padded = np.concatenate([shifts, np.zeros(shifts.size % 2, dtype=np.int64)])
    return (padded[0::2] | (padded[1::2] << 4)).astype(np.uint8)


def wess_requant(input_scale: float, layer_weight_scale: float, output_scale: float, channel_shifts) -> Requant:
    """One layer multiplier M = s_in * s / s_out plus per-channel shifts k_c (channel scale s * 2**-k_c)."""
    q_fixed, right_shift = multiplier_and_right_shift(
        f32(input_scale) * f32(layer_weight_scale) / divisor_scale(output_scale, "output"))
    return Requant(np.array([q_fixed], dtype=np.int32), np.array([right_shift], dtype=np.int32),
                   pack_channel_shift4(channel_shifts))


def conv_params(input_hw, filter_hw, stride_hw, dilation_hw, padding: str, input_zero_point: int,
                output_scale: float, output_zero_point: int, activation: str | int) -> ConvParams:
    """CONV_2D parameters; also the convolution part of DEPTHWISE_CONV_2D."""
    pads = [compute_padding(size, kernel, stride, dilation, padding)[1]
            for size, kernel, stride, dilation in zip(input_hw, filter_hw, stride_hw, dilation_hw)]
    act_min, act_max = activation_range(activation, output_scale, output_zero_point)
    return ConvParams(-input_zero_point, output_zero_point, stride_hw[0], stride_hw[1], dilation_hw[0],
                      dilation_hw[1], pads[0], pads[1], act_min, act_max)


def depthwise_params(input_hw, filter_hw, stride_hw, dilation_hw, padding: str, depth_multiplier: int,
                     input_zero_point: int, output_scale: float, output_zero_point: int,
                     activation: str | int) -> DepthwiseParams:
    """DEPTHWISE_CONV_2D parameters."""
    conv = conv_params(input_hw, filter_hw, stride_hw, dilation_hw, padding, input_zero_point, output_scale,
                       output_zero_point, activation)
    return DepthwiseParams(conv, depth_multiplier)


def conv_f32_params(input_hw, filter_hw, stride_hw, dilation_hw, padding: str, activation: str | int) -> ConvF32Params:
    """CONV_2D float32 parameters; also the convolution part of DEPTHWISE_CONV_2D float32."""
    pads = [compute_padding(size, kernel, stride, dilation, padding)[1]
            for size, kernel, stride, dilation in zip(input_hw, filter_hw, stride_hw, dilation_hw)]
    return ConvF32Params(stride_hw[0], stride_hw[1], dilation_hw[0], dilation_hw[1], pads[0], pads[1],
                         *float_activation_range(activation))


def fully_connected_params(input_zero_point: int, output_scale: float, output_zero_point: int,
                           activation: str | int) -> FullyConnectedParams:
    """FULLY_CONNECTED parameters (requantization from per_channel_requant with the weight scale(s))."""
    act_min, act_max = activation_range(activation, output_scale, output_zero_point)
    return FullyConnectedParams(-input_zero_point, output_zero_point, act_min, act_max)


def _smaller_than_one(real_multiplier: float) -> tuple[int, int]:
    """TFLite's QuantizeMultiplierSmallerThanOneExp as (Q31 mantissa, right shift >= 0)."""
    if not 0.0 < real_multiplier < 1.0:
        raise ParameterError(f"multiplier {real_multiplier!r} must lie in (0, 1)")
    q_fixed, exponent = quantize_multiplier(real_multiplier)
    return q_fixed, -exponent


def add_params(input1_scale: float, input1_zero_point: int, input2_scale: float, input2_zero_point: int,
               output_scale: float, output_zero_point: int, activation: str | int) -> AddParams:
    """TFLite's int8 ADD Prepare: inputs rescaled to twice the larger input scale, left shift 20."""
    twice_max_input_scale = 2.0 * max(divisor_scale(input1_scale, "input1"), divisor_scale(input2_scale, "input2"))
    input1 = _smaller_than_one(f32(input1_scale) / twice_max_input_scale)
    input2 = _smaller_than_one(f32(input2_scale) / twice_max_input_scale)
    output = _smaller_than_one(twice_max_input_scale / ((1 << ADD_LEFT_SHIFT) * divisor_scale(output_scale, "output")))
    act_min, act_max = activation_range(activation, output_scale, output_zero_point)
    return AddParams(-input1_zero_point, -input2_zero_point, output_zero_point, ADD_LEFT_SHIFT,
                     *input1, *input2, *output, act_min, act_max)


def pool_params(input_hw, filter_hw, stride_hw, padding: str, output_scale: float, output_zero_point: int,
                activation: str | int) -> PoolParams:
    """AVERAGE_POOL_2D / MAX_POOL_2D parameters (input and output share quantization)."""
    pads = [compute_padding(size, kernel, stride, 1, padding)[1]
            for size, kernel, stride in zip(input_hw, filter_hw, stride_hw)]
    act_min, act_max = activation_range(activation, output_scale, output_zero_point)
    return PoolParams(stride_hw[0], stride_hw[1], filter_hw[0], filter_hw[1], pads[0], pads[1], act_min, act_max)


def mean_params(input_scale: float, input_zero_point: int, output_scale: float, output_zero_point: int) -> MeanParams:
    """MEAN over H and W: QuantizeMultiplier(s_in / s_out); the kernel folds in 1 / (H * W) as TFLite Micro does."""
    q_fixed, right_shift = multiplier_and_right_shift(f32(input_scale) / divisor_scale(output_scale, "output"))
    return MeanParams(-input_zero_point, output_zero_point, q_fixed, right_shift)


def pad_params(paddings_hw, output_zero_point: int) -> PadParams:
    """PAD of H and W by ((top, bottom), (left, right)); int8 pads with the output zero point."""
    (pad_top, pad_bottom), (pad_left, pad_right) = paddings_hw
    return PadParams(pad_top, pad_bottom, pad_left, pad_right, output_zero_point)


def concatenation_params(input_quantizations, output_quantization) -> ConcatParams:
    """CONCATENATION: TFLite requires every int8 input's (scale, zero point) to equal the output's."""
    for index, quantization in enumerate(input_quantizations):
        if (f32(quantization[0]), quantization[1]) != (f32(output_quantization[0]), output_quantization[1]):
            raise ParameterError(f"concatenation input {index} quantization {quantization} differs from the output's")
    return ConcatParams(len(input_quantizations))


def softmax_params(input_scale: float, beta: float = 1.0) -> SoftmaxParams:
    """TFLite's PreprocessSoftmaxScaling and CalculateInputRadius (5 integer bits, double rounding)."""
    max_real_multiplier = float((1 << 31) - 1)
    real_multiplier = min(f32(beta) * f32(input_scale) * float(1 << (31 - SOFTMAX_SCALED_DIFF_INTEGER_BITS)),
                          max_real_multiplier)
    if not real_multiplier > 1.0:
        raise ParameterError(f"softmax beta * input_scale * 2**26 = {real_multiplier!r} must exceed 1")
    q_fixed, left_shift = quantize_multiplier(real_multiplier)
    max_input_rescaled = (1.0 * ((1 << SOFTMAX_SCALED_DIFF_INTEGER_BITS) - 1)
                          * float(1 << (31 - SOFTMAX_SCALED_DIFF_INTEGER_BITS)) / float(1 << left_shift))
    return SoftmaxParams(q_fixed, left_shift, -math.floor(max_input_rescaled))


def quantize_params(output_scale: float, output_zero_point: int) -> QuantizeParams:
    """QUANTIZE float32 -> int8."""
    return QuantizeParams(f32(output_scale), output_zero_point)


def dequantize_params(input_scale: float, input_zero_point: int) -> DequantizeParams:
    """DEQUANTIZE int8 -> float32."""
    return DequantizeParams(f32(input_scale), input_zero_point)


# ---------------------------------------------------------------- elementwise activations (TFLite Micro's Prepare)

SIGMOID_INPUT_INTEGER_BITS = 4  # TFLite's int8 LOGISTIC and TANH rescale their input to Q4.27


@dataclass(frozen=True)
class SigmoidParams:
    """LOGISTIC and TANH (C: wess_sigmoid_params_t)."""

    input_zero_point: int
    input_range_radius: int
    input_multiplier: int
    input_left_shift: int


@dataclass(frozen=True)
class ReluParams:
    """RELU and RELU6 (C: wess_relu_params_t)."""

    input_zero_point: int
    output_zero_point: int
    multiplier: int
    right_shift: int
    act_min: int
    act_max: int


@dataclass(frozen=True)
class LeakyReluParams:
    """LEAKY_RELU (C: wess_leaky_relu_params_t)."""

    input_zero_point: int
    output_zero_point: int
    identity_multiplier: int
    identity_right_shift: int
    alpha_multiplier: int
    alpha_right_shift: int


@dataclass(frozen=True)
class MulParams:
    """MUL (C: wess_mul_params_t)."""

    input1_offset: int
    input2_offset: int
    output_offset: int
    multiplier: int
    right_shift: int
    act_min: int
    act_max: int


def mul_params(input1_scale: float, input1_zero_point: int, input2_scale: float, input2_zero_point: int,
               output_scale: float, output_zero_point: int, activation: str | int) -> MulParams:
    """TFLite Micro's CalculateOpDataMul: input1_scale * input2_scale / output_scale in double."""
    real_multiplier = f32(input1_scale) * f32(input2_scale) / divisor_scale(output_scale, "output")
    return MulParams(-input1_zero_point, -input2_zero_point, output_zero_point,
                     *multiplier_and_right_shift(real_multiplier),
                     *activation_range(activation, output_scale, output_zero_point))


def sigmoid_params(input_scale: float, input_zero_point: int) -> SigmoidParams:
    """TFLite Micro's CalculateArithmeticOpDataLogistic / TANH Prepare: frexp of input_scale * 2^27 (rounded without
    QuantizeMultiplier's carry fix), and CalculateInputRadius(4, left_shift, 31)."""
    real_multiplier = divisor_scale(input_scale, "input") * float(1 << (31 - SIGMOID_INPUT_INTEGER_BITS))
    mantissa, left_shift = math.frexp(real_multiplier)
    multiplier = _round_half_away(mantissa * float(1 << 31))
    if multiplier >= 1 << 31 or not 0 <= left_shift <= 30:
        raise ParameterError(f"input scale {input_scale!r} gives a Q4.27 rescale outside the kernels' range")
    max_input_rescaled = (1.0 * ((1 << SIGMOID_INPUT_INTEGER_BITS) - 1)
                          * float(1 << (31 - SIGMOID_INPUT_INTEGER_BITS)) / float(1 << left_shift))
    return SigmoidParams(input_zero_point, math.floor(max_input_rescaled), multiplier, left_shift)


def relu_params(input_scale: float, input_zero_point: int, output_scale: float, output_zero_point: int,
                activation: str) -> ReluParams:
    """TFLite Micro's CalculateReluOpData for RELU (input / output scale in double, clamp from the output zero
    point) and its int8 QUANTIZE Prepare for activation NONE (same multiplier, full int8 range); for RELU6 its
    Relu6Prepare: a clamp between the input's quantized 0 and 6 that keeps the input's bytes, whatever the output's
    quantization (LiteRT's reference rescales instead: docs/operators.md)."""
    if activation == "RELU6":
        identity = multiplier_and_right_shift(1.0)
        return ReluParams(input_zero_point, input_zero_point, *identity,
                          *activation_range("RELU6", input_scale, input_zero_point))
    real_multiplier = f32(input_scale) / divisor_scale(output_scale, "output")
    return ReluParams(input_zero_point, output_zero_point, *multiplier_and_right_shift(real_multiplier),
                      *activation_range(activation, output_scale, output_zero_point))


def leaky_relu_params(input_scale: float, input_zero_point: int, output_scale: float, output_zero_point: int,
                      alpha: float) -> LeakyReluParams:
    """TFLite Micro's CalculateOpDataLeakyRelu: both ratios formed in float32, then QuantizeMultiplier."""
    output_scale = divisor_scale(output_scale, "output")
    if not f32(alpha) >= 0.0:
        raise ParameterError(f"LEAKY_RELU alpha {alpha!r} is not >= 0")
    identity = float(np.float32(f32(input_scale)) / np.float32(output_scale))
    alpha_ratio = float(np.float32(np.float32(f32(input_scale)) * np.float32(alpha)) / np.float32(output_scale))
    return LeakyReluParams(input_zero_point, output_zero_point, *multiplier_and_right_shift(identity),
                           *multiplier_and_right_shift(alpha_ratio))


@dataclass(frozen=True)
class HardSwishParams:
    """HARD_SWISH (C: wess_hard_swish_params_t)."""

    input_zero_point: int
    output_zero_point: int
    reluish_multiplier: int
    reluish_exponent: int
    output_multiplier: int
    output_exponent: int


def _int16_multiplier(real_multiplier: float) -> tuple[int, int]:
    """QuantizeMultiplier, its mantissa rounded to Q0.15 (DownScaleInt32ToInt16Multiplier), and the exponent."""
    q_fixed, exponent = quantize_multiplier(real_multiplier)
    rounding_offset = 1 << 15
    q_fixed16 = 32767 if q_fixed >= 2**31 - 1 - rounding_offset else (q_fixed + rounding_offset) >> 16
    return q_fixed16, exponent


def hard_swish_params(input_scale: float, input_zero_point: int, output_scale: float,
                      output_zero_point: int) -> HardSwishParams:
    """TFLite Micro's HardSwishPrepare: the hires input scale input_scale / 128 and both ratios in float32."""
    output_scale = divisor_scale(output_scale, "output")
    hires_input_scale = np.float32(1.0 / 128.0) * np.float32(divisor_scale(input_scale, "input"))
    reluish = _int16_multiplier(float(hires_input_scale / np.float32(3.0 / 32768.0)))
    output = _int16_multiplier(float(hires_input_scale / np.float32(output_scale)))
    if not -31 <= reluish[1] <= 30 or not -31 <= output[1] <= 0:
        raise ParameterError(f"input scale {input_scale!r} and output scale {output_scale!r} give HARD_SWISH "
                             f"exponents {reluish[1]}, {output[1]} outside [-31, 30], [-31, 0]")
    return HardSwishParams(input_zero_point, output_zero_point, *reluish, *output)
