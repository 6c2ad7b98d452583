/* Blocked int8 dot products of the weighted kernels (internal): four filter rows against one input vector, with a
 * Helium (MVE) variant, a DSP (SXTB16 + SMLAD) variant and the portable loop, selected at compile time. */
#ifndef WESS_DOT_ROWS_H
#define WESS_DOT_ROWS_H

#include <stdint.h>
#include <string.h>

#include "kernel_util.h"

/* WESS_PORTABLE_KERNELS keeps the portable loops on any target (the variants' tests and benchmark compare them). */
#if defined(WESS_PORTABLE_KERNELS)
#elif defined(__ARM_FEATURE_MVE) && (__ARM_FEATURE_MVE & 1)
#include <arm_mve.h>
#define WESS_DOT_ROWS_MVE 1
#elif defined(__ARM_FEATURE_DSP) && __ARM_FEATURE_DSP
#include <arm_acle.h>
#define WESS_DOT_ROWS_DSP 1
/* SXTB16 of x rotated right by 8 bits: bytes 1 and 3 sign-extended to two int16 lanes, one instruction (the
 * rotation is SXTB16's operand; gcc does not fuse a separate ROR into it). */
static inline uint32_t sxtb16_odd(uint32_t x)
{
    uint32_t result;
    __asm__("sxtb16 %0, %1, ror #8" : "=r"(result) : "r"(x));
    return result;
}
#endif

/* Helium's dot loops are separate functions: inlined into the kernels' pixel loops, gcc -Os spills their pointers
 * to the stack inside the loop (the kernels keep many values live); called, they get the registers to themselves. */
#if defined(WESS_DOT_ROWS_MVE)
#define WESS_DOT_LOOP static __attribute__((noinline, unused, optimize("O2")))
#else
#define WESS_DOT_LOOP static inline
#endif

/* Output channels one dot_rows4 call produces. */
#define WESS_DOT_ROWS 4

/* dot_rows4's loop for a compile-time with_offset: 0 when input_offset is 0 (the blob compiler folds the offset
 * into the bias where it can, docs/compact_model.md), which leaves out the offset work; always inlined, so that each
 * call site gets its own loop. */
#if defined(WESS_DOT_ROWS_MVE)
static inline __attribute__((always_inline)) void dot_rows4_loop(const int8_t *row0, const int8_t *row1,
                                                                 const int8_t *row2, const int8_t *row3,
                                                                 const int8_t *input, int32_t input_offset,
                                                                 int32_t length, int with_offset,
                                                                 int32_t acc[WESS_DOT_ROWS])
{
    int32_t acc0 = 0, acc1 = 0, acc2 = 0, acc3 = 0;  /* sum w * x: |.| <= 128 * 128 * 65536 = 2^30 */
    int32_t sum0 = 0, sum1 = 0, sum2 = 0, sum3 = 0;  /* sum w: |.| <= 128 * 65536 = 2^23 */
    /* whole 16-byte chunks: unpredicated loads that step the pointers (post-increment), then one predicated tail */
    for (int32_t chunk = length >> 4; chunk > 0; --chunk) {
        const int8x16_t x = vld1q_s8(input);
        const int8x16_t w0 = vld1q_s8(row0), w1 = vld1q_s8(row1), w2 = vld1q_s8(row2), w3 = vld1q_s8(row3);
        input += 16;
        row0 += 16;
        row1 += 16;
        row2 += 16;
        row3 += 16;
        acc0 = vmladavaq_s8(acc0, w0, x);
        acc1 = vmladavaq_s8(acc1, w1, x);
        acc2 = vmladavaq_s8(acc2, w2, x);
        acc3 = vmladavaq_s8(acc3, w3, x);
        if (with_offset) {
            sum0 = vaddvaq_s8(sum0, w0);
            sum1 = vaddvaq_s8(sum1, w1);
            sum2 = vaddvaq_s8(sum2, w2);
            sum3 = vaddvaq_s8(sum3, w3);
        }
    }
    if ((length & 15) != 0) {
        const mve_pred16_t lanes = vctp8q((uint32_t)(length & 15));
        const int8x16_t x = vldrbq_z_s8(input, lanes);
        const int8x16_t w0 = vldrbq_z_s8(row0, lanes), w1 = vldrbq_z_s8(row1, lanes);
        const int8x16_t w2 = vldrbq_z_s8(row2, lanes), w3 = vldrbq_z_s8(row3, lanes);
        acc0 = vmladavaq_s8(acc0, w0, x);
        acc1 = vmladavaq_s8(acc1, w1, x);
        acc2 = vmladavaq_s8(acc2, w2, x);
        acc3 = vmladavaq_s8(acc3, w3, x);
        if (with_offset) {
            sum0 = vaddvaq_s8(sum0, w0);
            sum1 = vaddvaq_s8(sum1, w1);
            sum2 = vaddvaq_s8(sum2, w2);
            sum3 = vaddvaq_s8(sum3, w3);
        }
    }
    acc[0] = acc0 + input_offset * sum0;
    acc[1] = acc1 + input_offset * sum1;
    acc[2] = acc2 + input_offset * sum2;
    acc[3] = acc3 + input_offset * sum3;
}
#elif defined(WESS_DOT_ROWS_DSP)
static inline __attribute__((always_inline)) void dot_rows4_loop(const int8_t *row0, const int8_t *row1,
                                                                 const int8_t *row2, const int8_t *row3,
                                                                 const int8_t *input, int32_t input_offset,
                                                                 int32_t length, int with_offset,
                                                                 int32_t acc[WESS_DOT_ROWS])
{
    /* both int16 lanes hold input_offset: x + input_offset in [-255, 255] fits a lane */
    const uint32_t offset_pair = ((uint32_t)(uint16_t)input_offset << 16) | (uint16_t)input_offset;
    int32_t acc0 = 0, acc1 = 0, acc2 = 0, acc3 = 0;
    int32_t k = 0;
    if (!with_offset && length >= 4) {
        /* The same words, products and SMLAD sums as the loop below without the offset, as one assembly loop: gcc -Os
         * spills the row pointers of the C loop (14 live values: 5 pointers, 4 sums, 4 unpacked words, the count).
         * Per four inputs: 5 LDR (post-increment), 10 SXTB16, 8 SMLAD. */
        const int8_t *x_word = input, *w0_word = row0, *w1_word = row1, *w2_word = row2, *w3_word = row3;
        int32_t words = length >> 2;
        uint32_t x_even, x_odd, w_even, w_odd;
        __asm__ volatile(
            "1:\n\t"
            "ldr %[x_odd], [%[x]], #4\n\t"
            "sxtb16 %[x_even], %[x_odd]\n\t"
            "sxtb16 %[x_odd], %[x_odd], ror #8\n\t"
            "ldr %[w_odd], [%[w0]], #4\n\t"
            "sxtb16 %[w_even], %[w_odd]\n\t"
            "sxtb16 %[w_odd], %[w_odd], ror #8\n\t"
            "smlad %[acc0], %[w_even], %[x_even], %[acc0]\n\t"
            "smlad %[acc0], %[w_odd], %[x_odd], %[acc0]\n\t"
            "ldr %[w_odd], [%[w1]], #4\n\t"
            "sxtb16 %[w_even], %[w_odd]\n\t"
            "sxtb16 %[w_odd], %[w_odd], ror #8\n\t"
            "smlad %[acc1], %[w_even], %[x_even], %[acc1]\n\t"
            "smlad %[acc1], %[w_odd], %[x_odd], %[acc1]\n\t"
            "ldr %[w_odd], [%[w2]], #4\n\t"
            "sxtb16 %[w_even], %[w_odd]\n\t"
            "sxtb16 %[w_odd], %[w_odd], ror #8\n\t"
            "smlad %[acc2], %[w_even], %[x_even], %[acc2]\n\t"
            "smlad %[acc2], %[w_odd], %[x_odd], %[acc2]\n\t"
            "ldr %[w_odd], [%[w3]], #4\n\t"
            "sxtb16 %[w_even], %[w_odd]\n\t"
            "sxtb16 %[w_odd], %[w_odd], ror #8\n\t"
            "smlad %[acc3], %[w_even], %[x_even], %[acc3]\n\t"
            "smlad %[acc3], %[w_odd], %[x_odd], %[acc3]\n\t"
            "subs %[words], %[words], #1\n\t"
            "bne 1b"
            : [acc0] "+r"(acc0), [acc1] "+r"(acc1), [acc2] "+r"(acc2), [acc3] "+r"(acc3), [x] "+r"(x_word),
              [w0] "+r"(w0_word), [w1] "+r"(w1_word), [w2] "+r"(w2_word), [w3] "+r"(w3_word), [words] "+r"(words),
              [x_even] "=&r"(x_even), [x_odd] "=&r"(x_odd), [w_even] "=&r"(w_even), [w_odd] "=&r"(w_odd)
            :
            : "cc", "memory");
        k = length & ~3;
    }
    for (; k + 4 <= length; k += 4) {
        uint32_t x, w0, w1, w2, w3;
        memcpy(&x, input + k, 4);  /* unaligned word loads (LDR) */
        uint32_t x_even = __sxtb16(x), x_odd = sxtb16_odd(x);  /* x[k], x[k + 2]; x[k + 1], x[k + 3] */
        if (with_offset) {
            x_even = __sadd16(x_even, offset_pair);
            x_odd = __sadd16(x_odd, offset_pair);
        }
        memcpy(&w0, row0 + k, 4);
        acc0 = __smlad(__sxtb16(w0), x_even, acc0);
        acc0 = __smlad(sxtb16_odd(w0), x_odd, acc0);
        memcpy(&w1, row1 + k, 4);
        acc1 = __smlad(__sxtb16(w1), x_even, acc1);
        acc1 = __smlad(sxtb16_odd(w1), x_odd, acc1);
        memcpy(&w2, row2 + k, 4);
        acc2 = __smlad(__sxtb16(w2), x_even, acc2);
        acc2 = __smlad(sxtb16_odd(w2), x_odd, acc2);
        memcpy(&w3, row3 + k, 4);
        acc3 = __smlad(__sxtb16(w3), x_even, acc3);
        acc3 = __smlad(sxtb16_odd(w3), x_odd, acc3);
    }
    for (; k < length; ++k) {
        const int32_t x = input[k] + input_offset;
        acc0 += row0[k] * x;
        acc1 += row1[k] * x;
        acc2 += row2[k] * x;
        acc3 += row3[k] * x;
    }
    acc[0] = acc0;
    acc[1] = acc1;
    acc[2] = acc2;
    acc[3] = acc3;
}
#endif

/* acc[r] = sum over k < length of rows[r * row_stride + k] * (input[k] + input_offset), r < 4.
 * rows: four int8 filter rows of `length` values, row r starting at rows + r * row_stride; input: `length` int8;
 * input_offset in [-127, 128]; 1 <= length <= WESS_MAX_DOT_LENGTH. Every variant computes the same exact integer
 * sums: each |w * (x + input_offset)| <= 128 * 255 and length <= 65536, so every partial sum is below 2^31 in
 * magnitude (the MVE variant's two partial sums, sum w * x and input_offset * sum w, are each below 2^30). Reads
 * exactly the listed bytes (MVE tails are predicated loads, which do not access the inactive lanes). */
static inline __attribute__((always_inline)) void dot_rows4(const int8_t *rows, int32_t row_stride,
                                                            const int8_t *input, int32_t input_offset,
                                                            int32_t length, int32_t acc[WESS_DOT_ROWS])
{
    const int8_t *row0 = rows, *row1 = rows + row_stride, *row2 = rows + 2 * row_stride;
    const int8_t *row3 = rows + 3 * row_stride;
#if defined(WESS_DOT_ROWS_MVE) || defined(WESS_DOT_ROWS_DSP)
    if (input_offset == 0) {
        dot_rows4_loop(row0, row1, row2, row3, input, 0, length, 0, acc);
    } else {
        dot_rows4_loop(row0, row1, row2, row3, input, input_offset, length, 1, acc);
    }
#else
    /* each input + input_offset is formed once and used by the four rows */
    const int16_t offset = (int16_t)input_offset;
    int32_t acc0 = 0, acc1 = 0, acc2 = 0, acc3 = 0;
    for (int32_t k = 0; k < length; ++k) {
        const int16_t x = (int16_t)(input[k] + offset);  /* [-255, 255] */
        acc0 += row0[k] * x;
        acc1 += row1[k] * x;
        acc2 += row2[k] * x;
        acc3 += row3[k] * x;
    }
    acc[0] = acc0;
    acc[1] = acc1;
    acc[2] = acc2;
    acc[3] = acc3;
#endif
}

/* The input offset a dot product of `count` consecutive filter rows (`length` int8 values each, as dot_rows takes
 * them) should run with, after folding what it can into the block's biases: on Helium, when input_offset != 0 and
 * every channel's bias + input_offset * (sum of its row) fits int32, that value replaces channels[i].bias and the
 * result is 0; otherwise the biases are untouched and the result is input_offset. Exact: the kernels compute
 * sat(acc + bias) with acc = sum w * (x + input_offset) = sum w * x + input_offset * sum w, and with the fold
 * sat(sum w * x + folded bias): the same exact integer is saturated whenever the folded bias is an int32 (the
 * argument of pipeline/cref/offset_fold.py, which does this offline where it can). A padded tap of a gathered
 * patch holds -input_offset, so it still adds w * (-input_offset) + input_offset * w = 0. Helium only: its dot
 * loops without the offset leave out the weight sums (VADDVA) that spill registers; DSP and portable builds add
 * the offset inside their loops, so they always get input_offset back. */
static inline int32_t fold_input_offset(channel_requant_t *channels, const int8_t *rows, int32_t length,
                                        int32_t count, int32_t input_offset)
{
#if defined(WESS_DOT_ROWS_MVE)
    if (input_offset == 0) {
        return 0;
    }
    int32_t folded[WESS_CHANNEL_BLOCK];  /* count <= WESS_CHANNEL_BLOCK */
    for (int32_t row = 0; row < count; ++row) {
        const int8_t *weights = rows + row * length;
        int32_t sum = 0;  /* |sum| <= 128 * 65536 = 2^23 */
        for (int32_t k = 0; k < length; k += 16) {
            sum = vaddvaq_s8(sum, vldrbq_z_s8(weights + k, vctp8q((uint32_t)(length - k))));  /* zeros past the row */
        }
        const int64_t value = (int64_t)channels[row].bias + (int64_t)input_offset * sum;
        if (value < INT32_MIN || value > INT32_MAX) {
            return input_offset;
        }
        folded[row] = (int32_t)value;
    }
    for (int32_t row = 0; row < count; ++row) {
        channels[row].bias = folded[row];
    }
    return 0;
#else
    (void)channels;
    (void)rows;
    (void)length;
    (void)count;
    return input_offset;
#endif
}

/* acc[i] = sum over k < length of rows[i * length + k] * (input[k] + input_offset), i < count: `count` consecutive
 * filter rows of `length` values (same ranges as dot_rows4), four at a time, the rest one by one. One call per input
 * vector on Helium (WESS_DOT_LOOP). */
WESS_DOT_LOOP void dot_rows(const int8_t *rows, const int8_t *input, int32_t input_offset, int32_t length,
                            int32_t count, int32_t *acc)
{
    int32_t row = 0;
    for (; row + WESS_DOT_ROWS <= count; row += WESS_DOT_ROWS) {
        dot_rows4(rows + row * length, length, input, input_offset, length, acc + row);
    }
    for (; row < count; ++row) {
        acc[row] = dot_s8_offset(rows + row * length, input, input_offset, length);
    }
}

#endif /* WESS_DOT_ROWS_H */
