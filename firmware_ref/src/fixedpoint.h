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

/* The host build's branch-free forms (kernel_util.h: WESS_HOST_KERNELS), for loops that compilers vectorise: every
 * step in 32-bit lanes except one widening 32 x 32 -> 64-bit multiply. (Conversions of uint32 to int32 wrap modulo
 * 2^32 and >> of a negative value is arithmetic, as gcc and clang define them.) */

/* saturate_int32((int64_t)a + b): the wrapped sum, unless both addends have the sign opposite to it (overflow),
 * then INT32_MAX or INT32_MIN by the sign of a. */
static inline int32_t saturating_add_host(int32_t a, int32_t b)
{
    const int32_t sum = (int32_t)((uint32_t)a + (uint32_t)b);
    const int32_t overflow = ((a ^ sum) & (b ^ sum)) >> 31;  /* all ones iff the sum overflowed */
    const int32_t saturated = (a >> 31) ^ INT32_MAX;           /* INT32_MIN for a < 0, else INT32_MAX */
    return (sum & ~overflow) | (saturated & overflow);
}

/* multiply_by_quantized_multiplier(x, q_fixed, exponent) without branches: left_shift = max(exponent, 0) in [0, 30],
 * right_shift = max(-exponent, 0) in [0, 31], q_fixed >= 0. The same value for every x:
 * - shifted = saturate(x * 2^left_shift): the wrapped shift, unless shifting it back loses bits (overflow), then
 *   INT32_MAX or INT32_MIN by the sign of x;
 * - high = floor((shifted * q_fixed + 2^30) / 2^31) = rounding_doubling_high_mul_nonnegative, which equals
 *   saturating_rounding_doubling_high_mul for q_fixed >= 0; |shifted * q_fixed| <= 2^62, and high lies in
 *   [-2^31 + 1, 2^31 - 2], so the low 32 bits of the logical shift are those of the arithmetic one;
 * - rounding_divide_by_pot(high, right_shift), its mask formed in uint32 (1 << 31 fits); right_shift 0 gives mask
 *   0, threshold >= 0, so high unchanged (multiply_by_quantized_multiplier's path with a left shift). */
static inline int32_t multiply_by_quantized_multiplier_host(int32_t x, int32_t q_fixed, int32_t left_shift,
                                                            int32_t right_shift)
{
    const int32_t wrapped = (int32_t)((uint32_t)x << left_shift);
    const int32_t overflow = -(int32_t)((wrapped >> left_shift) != x);  /* all ones iff bits were lost */
    const int32_t shifted = (wrapped & ~overflow) | (((x >> 31) ^ INT32_MAX) & overflow);
    const int64_t product = (int64_t)shifted * q_fixed;
    const int32_t high = (int32_t)(uint32_t)((uint64_t)(product + ((int64_t)1 << 30)) >> 31);
    const int32_t mask = (int32_t)((1u << right_shift) - 1u);
    const int32_t threshold = (mask >> 1) + (int32_t)(high < 0);
    return (high >> right_shift) + (int32_t)((high & mask) > threshold);
}

/* acc * multiplier * 2^(-31 - right_shift): multiply_by_quantized_multiplier(acc, multiplier, -right_shift).
 * Requires multiplier >= 0 and -30 <= right_shift <= 31 (negative = left shift). */
static inline int32_t requantize(int32_t acc, int32_t multiplier, int32_t right_shift)
{
    return multiply_by_quantized_multiplier(acc, multiplier, -right_shift);
}

#endif /* WESS_FIXEDPOINT_H */
