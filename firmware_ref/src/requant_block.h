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

/* table[i] = the constants of channel first_channel + i, i < count <= WESS_CHANNEL_BLOCK, as the scalar
 * channel_requant_block in kernel_util.h computes them, four channels per vector: VLDRW of per-channel multipliers,
 * right shifts and biases (or VDUP of the per-layer ones), the 4-bit shifts k_c by a byte gather (byte c / 2) and a
 * right shift by 4 * (c & 1), total = right_shift + k_c, flushed (total > 31) lanes get multiplier 0 and shift 0,
 * and VST4 writes the four fields interleaved. The entries after count up to the next multiple of 4 (within the
 * table) hold the values of inactive lanes (no array is read there): multiplier 0 or the per-layer one, shifts from
 * right_shift 0 or the per-layer one, bias 0; requantize4_mve reads them and stores none of their results. */
static inline void channel_requant_block(const wess_requant_t *requant, const int32_t *bias, int32_t first_channel,
                                         int32_t count, channel_requant_t *table)
{
    const int per_channel = requant->multiplier_count != 1;
    const int32x4_t zero = vdupq_n_s32(0);
    for (int32_t block_c = 0; block_c < count; block_c += 4) {
        const int32_t channel = first_channel + block_c;
        const mve_pred16_t lanes = vctp32q((uint32_t)(count - block_c));
        const int32x4_t multiplier = per_channel ? vldrwq_z_s32(requant->multiplier + channel, lanes)
                                                 : vdupq_n_s32(requant->multiplier[0]);
        int32x4_t total = per_channel ? vldrwq_z_s32(requant->right_shift + channel, lanes)
                                      : vdupq_n_s32(requant->right_shift[0]);  /* [-30, 31] */
        if (requant->channel_shift4 != NULL) {
            const uint32x4_t lane_channel = vidupq_n_u32((uint32_t)channel, 1);  /* channel + lane, < 2^31 */
            const uint32x4_t pair = vldrbq_gather_offset_z_u32(requant->channel_shift4, vshrq_n_u32(lane_channel, 1),
                                                               lanes);
            const int32x4_t nibble_shift = vmulq_n_s32(vreinterpretq_s32_u32(vandq_u32(lane_channel,
                                                                                        vdupq_n_u32(1))), -4);
            total = vaddq_s32(total, vreinterpretq_s32_u32(vandq_u32(vshlq_u32(pair, nibble_shift),
                                                                      vdupq_n_u32(15))));  /* + k_c in [0, 15] */
        }
        const mve_pred16_t flushed = vcmpgtq_n_s32(total, 31);
        const int32x4_t exponent = vpselq_s32(zero, vnegq_s32(total), flushed);  /* [-31, 30] */
        int32x4x4_t fields;
        fields.val[0] = vpselq_s32(zero, multiplier, flushed);
        fields.val[1] = vmaxq_s32(exponent, zero);
        fields.val[2] = vminq_s32(exponent, zero);
        fields.val[3] = bias == NULL ? zero : vldrwq_z_s32(bias + channel, lanes);
        vst4q_s32((int32_t *)(void *)(table + block_c), fields);
    }
}

/* requantize_to_int8 of four lanes: lane i is channels[i] and acc[i]; channels[0..3] are all read (the table is
 * filled to a multiple of 4, channel_requant_block), acc and output only in the active lanes. Each step is the
 * scalar one, lane by lane, so the bytes are the portable kernels' (and TFLite's) bit for bit:
 * - VLD40..VLD43: the four fields of four channels (the table's words de-interleaved) in four instructions;
 * - VQADD: saturate_int32(acc + bias);
 * - VQSHL by left_shift (>= 0): the saturating left shift of multiply_by_quantized_multiplier;
 * - VQRDMULH: sat((2 * a * b + 2^31) >> 32) = floor((a * b + 2^30) / 2^31), which equals
 *   saturating_rounding_doubling_high_mul for every a and every b >= 0 (fixedpoint.h proves the negative case;
 *   INT32_MIN squared saturates to INT32_MAX in both); its result x lies in [-2^31 + 1, 2^31 - 1] because b >= 0
 *   (requant_check): a * b >= -2^31 * (2^31 - 1);
 * - rounding_divide_by_pot by e = -minus_right_shift in [0, 31]: VRSHL by -e is (x + 2^(e-1)) >> e in exact
 *   arithmetic for e > 0 (round half up) and x for e = 0. TFLite rounds half away from zero: for x >= 0 that is
 *   round half up; for x < 0 and e > 0, (x >> e) + (remainder > 2^(e-1)) = floor((x - 1 + 2^(e-1)) / 2^e) (the
 *   remainder r = x mod 2^e: r > 2^(e-1) iff r - 1 >= 2^(e-1)), i.e. VRSHL of x - 1. So the lanes add
 *   (x >> 31) & mask, mask = minus_right_shift >> 31 (all ones iff e > 0): x - 1 exactly for the negative lanes that
 *   are shifted, and x - 1 >= -2^31 cannot overflow;
 * - VQADD of the output offset then VMAX / VMIN: output_int8's clamp(saturate(x + offset)). */
static inline __attribute__((always_inline)) void requantize4_mve(const channel_requant_t *channels, int32x4_t acc,
                                                                  mve_pred16_t lanes, int32_t output_offset,
                                                                  int32x4_t act_min, int32x4_t act_max,
                                                                  int8_t *output)
{
    const int32x4x4_t fields = vld4q_s32((const int32_t *)(const void *)channels);
    const int32x4_t multiplier = fields.val[0], left_shift = fields.val[1];
    const int32x4_t minus_right_shift = fields.val[2], bias = fields.val[3];
    int32x4_t x = vqaddq_s32(acc, bias);
    x = vqshlq_s32(x, left_shift);
    x = vqrdmulhq_s32(x, multiplier);
    x = vaddq_s32(x, vandq_s32(vshrq_n_s32(x, 31), vshrq_n_s32(minus_right_shift, 31)));
    x = vrshlq_s32(x, minus_right_shift);
    x = vqaddq_n_s32(x, output_offset);
    x = vminq_s32(vmaxq_s32(x, act_min), act_max);
    if (lanes == 0xFFFF) {  /* folded at compile time where the caller passes all lanes: a store without VPST */
        vstrbq_s32(output, x);
    } else {
        vstrbq_p_s32(output, x, lanes);
    }
}
#endif

#if defined(WESS_HOST_KERNELS)
/* output[row * output_stride + i] = requantize_to_int8(&channels[i], acc[row * acc_stride + i], ...) for
 * row < rows, i < count <= WESS_CHANNEL_BLOCK: on the host one call for several output pixels of a channel block
 * (requant_rows_host.c, compiled once, with AVX2 clones). */
void wess_requantize_rows_host(const channel_requant_t *channels, const int32_t *acc, int32_t acc_stride, int32_t rows,
                               int32_t count, int32_t output_offset, int32_t act_min, int32_t act_max, int8_t *output,
                               int32_t output_stride);
#endif

/* output[i] = requantize_to_int8(&channels[i], acc[i], ...) for i < count (count <= WESS_CHANNEL_BLOCK). On Helium
 * a call of its own compiled at -O2 (WESS_DOT_LOOP in dot_rows.h: gcc -Os spills the vectors), whole groups of four
 * without predicates, a last partial group predicated. */
#if defined(WESS_REQUANT_BLOCK_MVE)
static __attribute__((noinline, unused, optimize("O2")))
#else
static inline
#endif
void requantize_block(const channel_requant_t *channels, const int32_t *acc, int32_t count,
                                    int32_t output_offset, int32_t act_min, int32_t act_max, int8_t *output)
{
#if defined(WESS_REQUANT_BLOCK_MVE)
    const int32x4_t low = vdupq_n_s32(act_min), high = vdupq_n_s32(act_max);
    const mve_pred16_t all = 0xFFFF;  /* every lane */
    int32_t index = 0;
    for (; index + 4 <= count; index += 4) {
        requantize4_mve(channels + index, vldrwq_s32(acc + index), all, output_offset, low, high, output + index);
    }
    if (index < count) {
        const mve_pred16_t lanes = vctp32q((uint32_t)(count - index));
        requantize4_mve(channels + index, vldrwq_z_s32(acc + index, lanes), lanes, output_offset, low, high,
                        output + index);
    }
#elif defined(WESS_HOST_KERNELS)
    wess_requantize_rows_host(channels, acc, 0, 1, count, output_offset, act_min, act_max, output, 0);
#else
    for (int32_t index = 0; index < count; ++index) {
        output[index] = requantize_to_int8(&channels[index], acc[index], output_offset, act_min, act_max);
    }
#endif
}

#if defined(WESS_HOST_KERNELS)
/* Output pixels whose accumulators the host kernels collect before requantizing them in one call, so that the
 * vectorised requantization's set-up is paid once per WESS_REQUANT_ROWS * block_size outputs (acc rows: 2 KiB of
 * stack; Cortex-M requantizes per pixel). */
#define WESS_REQUANT_ROWS 8

/* output[row * output_stride + i] = requantize_to_int8(&channels[i], acc[row][i], ...) for row < rows <=
 * WESS_REQUANT_ROWS, i < count <= WESS_CHANNEL_BLOCK: `rows` output pixels of one channel block, output_stride (the
 * layer's output channels) apart. */
static inline void requantize_rows(const channel_requant_t *channels, const int32_t (*acc)[WESS_CHANNEL_BLOCK],
                                   int32_t rows, int32_t count, int32_t output_offset, int32_t act_min,
                                   int32_t act_max, int8_t *output, int32_t output_stride)
{
    wess_requantize_rows_host(channels, acc[0], WESS_CHANNEL_BLOCK, rows, count, output_offset, act_min, act_max,
                              output, output_stride);
}
#endif

#endif /* WESS_REQUANT_BLOCK_H */
