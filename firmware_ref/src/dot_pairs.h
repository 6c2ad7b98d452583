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
    for (int32_t k = 0; k < length; k += 16) {
        const mve_pred16_t lanes = vctp8q((uint32_t)(length - k));
        const int8x16_t input0 = vldrbq_z_s8(x0 + k, lanes), input1 = vldrbq_z_s8(x1 + k, lanes);
        const int8x16_t w0 = vldrbq_z_s8(row0 + k, lanes), w1 = vldrbq_z_s8(row1 + k, lanes);
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

/* acc0[i] = sum over k of rows[i * length + k] * (x0[k] + input_offset) and acc1[i] the same for x1, i < count:
 * count consecutive filter rows of `length` values against two pixels, two rows at a time (an odd last row with
 * itself, its second result unused); ranges as dot_pair_pair. */
static inline void dot_rows_two_pixels(const int8_t *rows, const int8_t *x0, const int8_t *x1, int32_t input_offset,
                                       int32_t length, int32_t count, int32_t *acc0, int32_t *acc1)
{
    int32_t block[4];
    for (int32_t row = 0; row < count; row += 2) {
        const int8_t *first = rows + row * length;
        const int pair = row + 1 < count;
        const int8_t *second = pair ? first + length : first;
        if (input_offset == 0) {
            dot_pair_pair(first, second, x0, x1, 0, length, 0, block);
        } else {
            dot_pair_pair(first, second, x0, x1, input_offset, length, 1, block);
        }
        acc0[row] = block[0];
        acc1[row] = block[2];
        if (pair) {
            acc0[row + 1] = block[1];
            acc1[row + 1] = block[3];
        }
    }
}
#endif

#endif /* WESS_DOT_PAIRS_H */
