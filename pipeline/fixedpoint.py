"""Fixed-point arithmetic of TFLite's int8 kernels: the Python twin of firmware_ref/src/fixedpoint.h."""
from __future__ import annotations

import math

import numpy as np

INT32_MIN = -(2**31)
INT32_MAX = 2**31 - 1


def round_half_away(x: np.ndarray) -> np.ndarray:
    """Round to the nearest integer, ties away from zero (std::round, TfLiteRound), elementwise; float result."""
    x = np.asarray(x)
    return np.sign(x) * np.floor(np.abs(x) + 0.5)


def quantize_multiplier(real_multiplier: float) -> tuple[int, int]:
    """TFLite's QuantizeMultiplier: real_multiplier ~= q_fixed * 2**(exponent - 31).

    q_fixed is a Q31 mantissa in [2**30, 2**31 - 1] (0 for a zero multiplier); `exponent` is the power of two
    to apply: positive means a left shift, negative a right shift of -exponent. Multipliers below 2**-32 flush
    to (0, 0) as TFLite does. Requires 0 <= real_multiplier (TFLite asserts the same).
    """
    if real_multiplier < 0 or not math.isfinite(real_multiplier):
        raise ValueError(f"multiplier must be finite and >= 0, got {real_multiplier!r}")
    if real_multiplier == 0.0:
        return 0, 0
    mantissa, exponent = math.frexp(real_multiplier)
    # TfLiteRound is std::round (ties away from zero); mantissa * 2^31 and the + 0.5 are exact in double.
    q_fixed = math.floor(mantissa * (1 << 31) + 0.5)
    if q_fixed == 1 << 31:
        q_fixed //= 2
        exponent += 1
    if exponent < -31:
        return 0, 0
    return int(q_fixed), int(exponent)


def _as_int64(value, name: str):
    """Value as an int64 array, checked to lie in int32 (the contract of every primitive below)."""
    array = np.asarray(value, dtype=np.int64)
    if array.size and (array.min() < INT32_MIN or array.max() > INT32_MAX):
        raise ValueError(f"{name} must lie in int32")
    return array


def _like_input(result, *inputs):
    """Python int when every input was a scalar, else the int64 array."""
    if all(np.ndim(value) == 0 for value in inputs):
        return int(result)
    return result


def saturating_rounding_doubling_high_mul(a, b):
    """a * b / 2**31 rounded to nearest, ties toward +infinity (what TFLite's nudge-then-truncate computes).

    Saturates the one overflow, INT32_MIN * INT32_MIN, to INT32_MAX.
    """
    a64, b64 = _as_int64(a, "a"), _as_int64(b, "b")
    product = a64 * b64  # |a * b| <= 2**62: exact in int64
    high = (product + (1 << 30)) >> 31  # floor((a * b + 2**30) / 2**31)
    result = np.where((a64 == INT32_MIN) & (b64 == INT32_MIN), INT32_MAX, high)
    return _like_input(result, a, b)


def rounding_divide_by_pot(x, exponent):
    """round(x / 2**exponent), ties away from zero; 0 <= exponent <= 31. Never overflows."""
    x64, exponent64 = _as_int64(x, "x"), _as_int64(exponent, "exponent")
    if exponent64.size and (exponent64.min() < 0 or exponent64.max() > 31):
        raise ValueError("exponent must lie in 0..31")
    mask = (np.int64(1) << exponent64) - 1
    remainder = x64 & mask
    threshold = (mask >> 1) + (x64 < 0)
    result = (x64 >> exponent64) + (remainder > threshold)
    return _like_input(result, x, exponent)


def _saturating_left_shift(x64, left_shift64):
    """x * 2**left_shift saturated to int32 (TFLite's int32 multiply would overflow, undefined behaviour)."""
    return np.clip(x64 << left_shift64, INT32_MIN, INT32_MAX)


def multiply_by_quantized_multiplier(x, q_fixed, exponent):
    """TFLite's double-rounding MultiplyByQuantizedMultiplier: x * q_fixed * 2**(exponent - 31), rounded twice.

    Left shift by max(exponent, 0) (saturated to int32), then saturating_rounding_doubling_high_mul, then
    rounding_divide_by_pot by max(-exponent, 0). Requires 0 <= q_fixed and -31 <= exponent <= 30.
    """
    x64, q64, exponent64 = _as_int64(x, "x"), _as_int64(q_fixed, "q_fixed"), _as_int64(exponent, "exponent")
    if exponent64.size and (exponent64.min() < -31 or exponent64.max() > 30):
        raise ValueError("exponent must lie in -31..30")
    if q64.size and q64.min() < 0:
        raise ValueError("q_fixed must be >= 0")
    shifted = _saturating_left_shift(x64, np.maximum(exponent64, 0))
    high = saturating_rounding_doubling_high_mul(shifted, q64)
    result = rounding_divide_by_pot(high, np.maximum(-exponent64, 0))
    return _like_input(result, x, q_fixed, exponent)


def requantize(acc, multiplier, right_shift):
    """multiply_by_quantized_multiplier(acc, multiplier, -right_shift); -30 <= right_shift <= 31."""
    return multiply_by_quantized_multiplier(acc, multiplier, -_as_int64(right_shift, "right_shift"))
