/* Dot products of a block of filter rows against input vectors on the host build (internal; kernel_util.h:
 * WESS_HOST_KERNELS), vectorised across output channels rather than along the rows, so that short rows (1x1
 * convolutions over 8-64 channels, small patches) fill the vectors: the block's rows are transposed once per call
 * into groups of HOST_DOT_GROUP channels, then each input value multiplies one group's weights at a time. */
#ifndef WESS_DOT_HOST_H
#define WESS_DOT_HOST_H

#include <stdint.h>
#include <string.h>

#include "kernel_util.h"

/* Output channels per group: 16 int32 sums (two AVX2 registers) kept in registers over a row. */
#define HOST_DOT_GROUP 16

/* Longest row the transposed block holds: HOST_DOT_MAX_LENGTH * WESS_CHANNEL_BLOCK int16 = 32 KiB of stack. */
#define HOST_DOT_MAX_LENGTH 32

/* transposed[(group * length + k) * HOST_DOT_GROUP + lane] = rows[(group * HOST_DOT_GROUP + lane) * length + k] for
 * the count rows (count <= WESS_CHANNEL_BLOCK) of length <= HOST_DOT_MAX_LENGTH int8 values each, 0 for the lanes of
 * the last group past count. */
static inline void host_dot_transpose(const int8_t *rows, int32_t length, int32_t count, int16_t *transposed)
{
    const int32_t groups = (count + HOST_DOT_GROUP - 1) / HOST_DOT_GROUP;
    for (int32_t group = 0; group < groups; ++group) {
        int16_t *group_weights = transposed + group * length * HOST_DOT_GROUP;
        for (int32_t lane = 0; lane < HOST_DOT_GROUP; ++lane) {
            const int32_t row = group * HOST_DOT_GROUP + lane;
            for (int32_t k = 0; k < length; ++k) {
                group_weights[k * HOST_DOT_GROUP + lane] = row < count ? rows[row * length + k] : 0;
            }
        }
    }
}

/* One group's weights at one k (int16 lanes) and its sums (int32 lanes), as GCC / clang generic vectors: the
 * compiler lowers them to the target's registers (two SSE2 or one AVX2 register of weights); plain loops over the
 * lanes are vectorised along k instead, which this layout does not suit. */
typedef int16_t host_weights_t __attribute__((vector_size(16)));  /* half a group: 8 lanes */
typedef int32_t host_sums_t __attribute__((vector_size(32)));

/* acc[i] = sum over k < length of rows[i * length + k] * (input[k] + input_offset), i < count, from the transposed
 * rows (host_dot_transpose). The same integers as dot_rows: each product |w * (x + input_offset)| <= 128 * 255 =
 * 32640 fits int16 exactly (so the multiply is 16-bit), and the sum of at most HOST_DOT_MAX_LENGTH of them is below
 * 2^23 in magnitude. */
static inline void host_dot(const int16_t *transposed, const int8_t *input, int32_t input_offset, int32_t length,
                            int32_t count, int32_t *acc)
{
    for (int32_t first = 0; first < count; first += HOST_DOT_GROUP) {
        const int16_t *group_weights = transposed + first * length;
        host_sums_t low = {0}, high = {0};  /* lanes 0-7, 8-15 */
        for (int32_t k = 0; k < length; ++k) {
            const int16_t x = (int16_t)(input[k] + input_offset);  /* [-255, 255] */
            host_weights_t weights_low, weights_high;
            memcpy(&weights_low, group_weights + k * HOST_DOT_GROUP, sizeof weights_low);
            memcpy(&weights_high, group_weights + k * HOST_DOT_GROUP + 8, sizeof weights_high);
            low += __builtin_convertvector(weights_low * x, host_sums_t);
            high += __builtin_convertvector(weights_high * x, host_sums_t);
        }
        int32_t lanes_sum[HOST_DOT_GROUP];
        memcpy(lanes_sum, &low, sizeof low);
        memcpy(lanes_sum + 8, &high, sizeof high);
        const int32_t lanes = count - first < HOST_DOT_GROUP ? count - first : HOST_DOT_GROUP;
        for (int32_t lane = 0; lane < lanes; ++lane) {
            acc[first + lane] = lanes_sum[lane];
        }
    }
}

/* acc0[i], acc1[i] = dot_rows' sums of row i (count rows of `length` values, 1 <= length <= WESS_MAX_DOT_LENGTH,
 * back to back) against input0 and input1: two output pixels, so that each weight loaded serves both; four rows at a
 * time, the rest one by one. The same exact integers as dot_rows (the same ranges: every partial sum below 2^31). */
static inline void host_dot_rows_pair(const int8_t *rows, const int8_t *input0, const int8_t *input1,
                                      int32_t input_offset, int32_t length, int32_t count, int32_t *acc0,
                                      int32_t *acc1)
{
    const int16_t offset = (int16_t)input_offset;  /* [-127, 128] */
    int32_t row = 0;
    for (; row + 4 <= count; row += 4) {
        const int8_t *row0 = rows + row * length, *row1 = row0 + length, *row2 = row1 + length;
        const int8_t *row3 = row2 + length;
        int32_t sum00 = 0, sum10 = 0, sum20 = 0, sum30 = 0, sum01 = 0, sum11 = 0, sum21 = 0, sum31 = 0;
        for (int32_t k = 0; k < length; ++k) {
            const int16_t x0 = (int16_t)(input0[k] + offset), x1 = (int16_t)(input1[k] + offset);  /* [-255, 255] */
            sum00 += row0[k] * x0;
            sum10 += row1[k] * x0;
            sum20 += row2[k] * x0;
            sum30 += row3[k] * x0;
            sum01 += row0[k] * x1;
            sum11 += row1[k] * x1;
            sum21 += row2[k] * x1;
            sum31 += row3[k] * x1;
        }
        acc0[row] = sum00;
        acc0[row + 1] = sum10;
        acc0[row + 2] = sum20;
        acc0[row + 3] = sum30;
        acc1[row] = sum01;
        acc1[row + 1] = sum11;
        acc1[row + 2] = sum21;
        acc1[row + 3] = sum31;
    }
    for (; row < count; ++row) {
        acc0[row] = dot_s8_offset(rows + row * length, input0, input_offset, length);
        acc1[row] = dot_s8_offset(rows + row * length, input1, input_offset, length);
    }
}

#endif /* WESS_DOT_HOST_H */
