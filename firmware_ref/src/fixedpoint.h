/* TFLite's int8 fixed-point primitives (gemmlowp semantics, default double rounding); twins of pipeline/fixedpoint.py. */
#ifndef WESS_FIXEDPOINT_H
#define WESS_FIXEDPOINT_H

#include <stdint.h>

/* Saturates an int64 to int32. */
static inline int32_t saturate_int32(int64_t value)
{
    if (value > INT32_MAX) {
        return INT32_MAX;
    }
    if (value < INT32_MIN) {
        return INT32_MIN;
    }
    return (int32_t)value;
}

/* a * b / 2^31 rounded to nearest, ties toward +infinity (nudge by +-2^30, then truncate toward zero).
 * The only overflow, INT32_MIN * INT32_MIN, saturates to INT32_MAX. */
static inline int32_t saturating_rounding_doubling_high_mul(int32_t a, int32_t b)
{
    if (a == INT32_MIN && b == INT32_MIN) {
        return INT32_MAX;
    }
    const int64_t product = (int64_t)a * (int64_t)b;  /* |product| <= 2^62 */
    const int64_t nudge = product >= 0 ? ((int64_t)1 << 30) : (1 - ((int64_t)1 << 30));
    return (int32_t)((product + nudge) / ((int64_t)1 << 31));  /* C division truncates toward zero */
}

/* saturating_rounding_doubling_high_mul(a, b) for b >= 0 (where the INT32_MIN * INT32_MIN overflow cannot occur), in
 * one form: floor((a * b + 2^30) / 2^31). Proof: for a * b >= 0 the nudged quotient is non-negative, so truncation is
 * floor. For a * b < 0 the numerator n = a * b + 1 - 2^30 is negative, and truncating n / 2^31 toward zero is
 * ceil(n / 2^31) = floor((n + 2^31 - 1) / 2^31) = floor((a * b + 2^30) / 2^31). The result is in
 * [-2^31 + 1, 2^31 - 2]. (This is also what Helium's VQRDMULH computes: round half toward +infinity.) */
static inline int32_t rounding_doubling_high_mul_nonnegative(int32_t a, int32_t b)
{
    return (int32_t)(((int64_t)a * (int64_t)b + ((int64_t)1 << 30)) >> 31);  /* arithmetic shift: floor */
}

/* round(x / 2^exponent), ties away from zero; requires 0 <= exponent <= 31 (arithmetic right shift assumed,
 * as gcc and clang provide). */
static inline int32_t rounding_divide_by_pot(int32_t x, int32_t exponent)
{
    const int32_t mask = (int32_t)(((int64_t)1 << exponent) - 1);
    const int32_t remainder = x & mask;
    const int32_t threshold = (mask >> 1) + (x < 0 ? 1 : 0);
    return (x >> exponent) + (remainder > threshold ? 1 : 0);
}

/* TFLite's double-rounding MultiplyByQuantizedMultiplier: x * q_fixed * 2^(exponent - 31).
 * Requires q_fixed >= 0 and -31 <= exponent <= 30. The left shift by max(exponent, 0) saturates to int32
 * (in TFLite that int32 multiply would overflow, undefined behaviour). */
static inline int32_t multiply_by_quantized_multiplier(int32_t x, int32_t q_fixed, int32_t exponent)
{
    const int32_t left_shift = exponent > 0 ? exponent : 0;
    const int32_t right_shift = exponent > 0 ? 0 : -exponent;
    const int32_t shifted = saturate_int32((int64_t)x * ((int64_t)1 << left_shift));
    return rounding_divide_by_pot(saturating_rounding_doubling_high_mul(shifted, q_fixed), right_shift);
}

/* acc * multiplier * 2^(-31 - right_shift): multiply_by_quantized_multiplier(acc, multiplier, -right_shift).
 * Requires multiplier >= 0 and -30 <= right_shift <= 31 (negative = left shift). */
static inline int32_t requantize(int32_t acc, int32_t multiplier, int32_t right_shift)
{
    return multiply_by_quantized_multiplier(acc, multiplier, -right_shift);
}

#endif /* WESS_FIXEDPOINT_H */
