/* Requantization of a block of output channels' accumulators to int8 (internal): a Helium (MVE) variant, four
 * outputs per vector, and the portable loop over requantize_to_int8. */
#ifndef WESS_REQUANT_BLOCK_H
#define WESS_REQUANT_BLOCK_H

#include <stddef.h>
#include <stdint.h>

#include "kernel_util.h"

#if !defined(WESS_PORTABLE_KERNELS) && defined(__ARM_FEATURE_MVE) && (__ARM_FEATURE_MVE & 1)
#include <arm_mve.h>
#define WESS_REQUANT_BLOCK_MVE 1

/* requantize_to_int8 of four lanes: channel i of acc uses channels[i] (lanes past `lanes` are neither read nor
 * written). Each step is the scalar one, lane by lane:
 * - VQADD: saturate_int32(acc + bias);
 * - VQSHL by max(exponent, 0): the saturating left shift of multiply_by_quantized_multiplier;
 * - VQRDMULH: sat((2 * a * b + 2^31) >> 32) = floor((a * b + 2^30) / 2^31), which equals
 *   saturating_rounding_doubling_high_mul for every a, b (fixedpoint.h proves the negative case; INT32_MIN squared
 *   saturates to INT32_MAX in both);
 * - rounding_divide_by_pot by e = max(-exponent, 0): VRSHL by -e rounds half up, (x + 2^(e-1)) >> e in exact
 *   arithmetic; subtracting 1 first from a negative x when e > 0 turns that into round half away from zero,
 *   (x - 1 + 2^(e-1)) >> e; the multiplier is >= 0 (requant_check), so x >= -2^31 + 1 after the multiply and
 *   x - 1 cannot overflow;
 * - VQADD of the output offset then VMAX / VMIN: output_int8's clamp(saturate(x + offset)). */
static inline void requantize4_mve(const channel_requant_t *channels, int32x4_t acc, mve_pred16_t lanes,
                                   int32_t output_offset, int32_t act_min, int32_t act_max, int8_t *output)
{
    /* word offsets of a field in channels[0..3]: the table's words are read with word-indexed gathers */
    const uint32x4_t first_word = vmulq_n_u32(vidupq_n_u32(0, 1), (uint32_t)(sizeof(channel_requant_t) / 4));
    const int32_t *words = (const int32_t *)(const void *)channels;
    const int32x4_t multiplier = vldrwq_gather_shifted_offset_z_s32(
        words, vaddq_n_u32(first_word, offsetof(channel_requant_t, multiplier) / 4), lanes);
    const int32x4_t exponent = vldrwq_gather_shifted_offset_z_s32(
        words, vaddq_n_u32(first_word, offsetof(channel_requant_t, exponent) / 4), lanes);
    const int32x4_t bias = vldrwq_gather_shifted_offset_z_s32(
        words, vaddq_n_u32(first_word, offsetof(channel_requant_t, bias) / 4), lanes);
    const int32x4_t zero = vdupq_n_s32(0);
    int32x4_t x = vqaddq_s32(acc, bias);
    x = vqshlq_s32(x, vmaxq_s32(exponent, zero));
    x = vqrdmulhq_s32(x, multiplier);
    const int32x4_t minus_right_shift = vminq_s32(exponent, zero);  /* -e, e in [0, 31] */
    const mve_pred16_t round_away = vcmpltq_n_s32(x, 0) & vcmpltq_n_s32(minus_right_shift, 0);
    x = vsubq_m_n_s32(x, x, 1, round_away);
    x = vrshlq_s32(x, minus_right_shift);
    x = vqaddq_n_s32(x, output_offset);
    x = vminq_s32(vmaxq_s32(x, vdupq_n_s32(act_min)), vdupq_n_s32(act_max));
    vstrbq_p_s32(output, x, lanes);
}
#endif

/* output[i] = requantize_to_int8(&channels[i], acc[i], ...) for i < count (count <= WESS_CHANNEL_BLOCK). */
static inline void requantize_block(const channel_requant_t *channels, const int32_t *acc, int32_t count,
                                    int32_t output_offset, int32_t act_min, int32_t act_max, int8_t *output)
{
#if defined(WESS_REQUANT_BLOCK_MVE)
    for (int32_t index = 0; index < count; index += 4) {
        const mve_pred16_t lanes = vctp32q((uint32_t)(count - index));
        requantize4_mve(channels + index, vldrwq_z_s32(acc + index, lanes), lanes, output_offset, act_min, act_max,
                        output + index);
    }
#else
    for (int32_t index = 0; index < count; ++index) {
        output[index] = requantize_to_int8(&channels[index], acc[index], output_offset, act_min, act_max);
    }
#endif
}

#endif /* WESS_REQUANT_BLOCK_H */
