/* Register-blocked int8 dot products of the pointwise (1x1) convolution on Helium (internal): two filter rows
 * against two input pixels at a time, so that each loaded weight vector serves two pixels and each input vector two
 * rows, and each row's weight sum (for the input offset) is formed once for both pixels. Helium only: on the DSP
 * extension the same 2 x 2 blocking with SXTB16 + SMLAD measured slower than dot_rows4 at -Os (gcc spills the
 * eight live words), so DSP and portable builds keep dot_rows. */
#ifndef WESS_DOT_PAIRS_H
#define WESS_DOT_PAIRS_H

#include <stdint.h>

#include "dot_rows.h"

#if defined(WESS_DOT_ROWS_MVE)
#define WESS_DOT_PAIRS_MVE 1

/* The dot products of rows row0, row1 (length int8 each) with pixels x0, x1 (length int8 each) plus input_offset:
 * acc[0] = row0.(x0 + o), acc[1] = row1.(x0 + o), acc[2] = row0.(x1 + o), acc[3] = row1.(x1 + o), o = input_offset
 * in [-127, 128], 1 <= length <= WESS_MAX_DOT_LENGTH. Each is the exact sum, below 2^31 in magnitude (dot_rows4).
 * It forms sum w * x and o * sum w (each at most 2^30 in magnitude; the sum of a row's weights is shared
 * by both pixels) and adds them in uint32: the exact sum fits int32, so the wrapped sum is it. Reads exactly the listed
 * bytes (tails are predicated loads, which do not access the inactive lanes). with_offset is a compile-time 0 when
 * input_offset is 0 (a folded offset), which leaves out the weight sums; always inlined, one loop per call site. */
static inline __attribute__((always_inline)) void dot_pair_pair(const int8_t *row0, const int8_t *row1,
                                                                const int8_t *x0, const int8_t *x1,
                                                                int32_t input_offset, int32_t length, int with_offset,
                                                                int32_t acc[4])
{
    int32_t acc00 = 0, acc10 = 0, acc01 = 0, acc11 = 0;  /* acc<row><pixel>: sum w * x, |.| <= 2^30 */
    int32_t sum0 = 0, sum1 = 0;  /* sum of row0's, row1's weights: |.| <= 2^23 */
    /* whole 16-byte chunks: unpredicated loads that step the pointers (post-increment), then one predicated tail */
    for (int32_t chunk = length >> 4; chunk > 0; --chunk) {
        const int8x16_t input0 = vld1q_s8(x0), input1 = vld1q_s8(x1);
        const int8x16_t w0 = vld1q_s8(row0), w1 = vld1q_s8(row1);
        x0 += 16;
        x1 += 16;
        row0 += 16;
        row1 += 16;
        acc00 = vmladavaq_s8(acc00, w0, input0);
        acc01 = vmladavaq_s8(acc01, w0, input1);
        acc10 = vmladavaq_s8(acc10, w1, input0);
        acc11 = vmladavaq_s8(acc11, w1, input1);
        if (with_offset) {
            sum0 = vaddvaq_s8(sum0, w0);
            sum1 = vaddvaq_s8(sum1, w1);
        }
    }
    if ((length & 15) != 0) {
        const mve_pred16_t lanes = vctp8q((uint32_t)(length & 15));
        const int8x16_t input0 = vldrbq_z_s8(x0, lanes), input1 = vldrbq_z_s8(x1, lanes);
        const int8x16_t w0 = vldrbq_z_s8(row0, lanes), w1 = vldrbq_z_s8(row1, lanes);
        acc00 = vmladavaq_s8(acc00, w0, input0);
        acc01 = vmladavaq_s8(acc01, w0, input1);
        acc10 = vmladavaq_s8(acc10, w1, input0);
        acc11 = vmladavaq_s8(acc11, w1, input1);
        if (with_offset) {
            sum0 = vaddvaq_s8(sum0, w0);
            sum1 = vaddvaq_s8(sum1, w1);
        }
    }
    const uint32_t term0 = (uint32_t)(input_offset * sum0), term1 = (uint32_t)(input_offset * sum1);
    acc[0] = (int32_t)((uint32_t)acc00 + term0);
    acc[1] = (int32_t)((uint32_t)acc10 + term1);
    acc[2] = (int32_t)((uint32_t)acc01 + term0);
    acc[3] = (int32_t)((uint32_t)acc11 + term1);
}

/* dot_rows_two_pixels' loop for a compile-time with_offset (always inlined: one loop per case). */
static inline __attribute__((always_inline)) void dot_rows_two_pixels_loop(const int8_t *rows, const int8_t *x0,
                                                                           const int8_t *x1, int32_t input_offset,
                                                                           int32_t length, int32_t count,
                                                                           int with_offset, int32_t *acc0,
                                                                           int32_t *acc1)
{
    int32_t block[4];
    for (int32_t row = 0; row < count; row += 2) {
        const int8_t *first = rows + row * length;
        const int pair = row + 1 < count;
        const int8_t *second = pair ? first + length : first;
        dot_pair_pair(first, second, x0, x1, input_offset, length, with_offset, block);
        acc0[row] = block[0];
        acc1[row] = block[2];
        if (pair) {
            acc0[row + 1] = block[1];
            acc1[row + 1] = block[3];
        }
    }
}

/* dot_rows_two_pixels for rows of at most 32 values (compile-time two_chunks: more than 16): both pixels stay in
 * registers (one or two predicated VLDRB each, zeros past length) and each row is one or two predicated loads and
 * two VMLADAV per chunk, so short rows (the first layers' few input channels, a gathered 3x3 patch of one channel)
 * pay no loop setup per row. Sums as in dot_pair_pair (exact, each term below 2^30 in magnitude, added in uint32);
 * reads exactly the listed bytes. Always inlined: one loop per case. */
static inline __attribute__((always_inline)) void dot_rows_two_pixels_short(const int8_t *rows, const int8_t *x0,
                                                                            const int8_t *x1, int32_t input_offset,
                                                                            int32_t length, int32_t count,
                                                                            int two_chunks, int with_offset,
                                                                            int32_t *acc0, int32_t *acc1)
{
    const mve_pred16_t first = vctp8q((uint32_t)length);
    const mve_pred16_t second = vctp8q((uint32_t)(two_chunks ? length - 16 : 0));
    const int8x16_t input0 = vldrbq_z_s8(x0, first), input1 = vldrbq_z_s8(x1, first);
    const int8x16_t input0_high = two_chunks ? vldrbq_z_s8(x0 + 16, second) : input0;
    const int8x16_t input1_high = two_chunks ? vldrbq_z_s8(x1 + 16, second) : input1;
    for (int32_t row = 0; row < count; ++row, rows += length) {
        const int8x16_t w = vldrbq_z_s8(rows, first);
        int32_t sum0 = vmladavq_s8(w, input0), sum1 = vmladavq_s8(w, input1);  /* |.| <= 2^30 */
        int32_t weights = with_offset ? vaddvq_s8(w) : 0;  /* |.| <= 128 * 32 */
        if (two_chunks) {
            const int8x16_t w_high = vldrbq_z_s8(rows + 16, second);
            sum0 = vmladavaq_s8(sum0, w_high, input0_high);
            sum1 = vmladavaq_s8(sum1, w_high, input1_high);
            weights = with_offset ? vaddvaq_s8(weights, w_high) : 0;
        }
        acc0[row] = (int32_t)((uint32_t)sum0 + (uint32_t)(input_offset * weights));
        acc1[row] = (int32_t)((uint32_t)sum1 + (uint32_t)(input_offset * weights));
    }
}

/* acc0[i] = sum over k of rows[i * length + k] * (x0[k] + input_offset) and acc1[i] the same for x1, i < count:
 * count consecutive filter rows of `length` values against two pixels, two rows at a time (an odd last row with
 * itself, its second result unused); ranges as dot_pair_pair. One call per pixel pair (WESS_DOT_LOOP), so that the
 * loops' setup is paid once for all the rows. */
WESS_DOT_LOOP void dot_rows_two_pixels(const int8_t *rows, const int8_t *x0, const int8_t *x1, int32_t input_offset,
                                       int32_t length, int32_t count, int32_t *acc0, int32_t *acc1)
{
    if (length <= 16) {
        if (input_offset == 0) {
            dot_rows_two_pixels_short(rows, x0, x1, 0, length, count, 0, 0, acc0, acc1);
        } else {
            dot_rows_two_pixels_short(rows, x0, x1, input_offset, length, count, 0, 1, acc0, acc1);
        }
    } else if (length <= 32) {
        if (input_offset == 0) {
            dot_rows_two_pixels_short(rows, x0, x1, 0, length, count, 1, 0, acc0, acc1);
        } else {
            dot_rows_two_pixels_short(rows, x0, x1, input_offset, length, count, 1, 1, acc0, acc1);
        }
    } else if (input_offset == 0) {
        dot_rows_two_pixels_loop(rows, x0, x1, 0, length, count, 0, acc0, acc1);
    } else {
        dot_rows_two_pixels_loop(rows, x0, x1, input_offset, length, count, 1, acc0, acc1);
    }
}
#endif

#endif /* WESS_DOT_PAIRS_H */
