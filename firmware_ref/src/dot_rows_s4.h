/* Blocked dot products of packed 4-bit filter rows (internal): the weights are sign-extended from their nibbles
 * inside the multiply-accumulate loop (portable, DSP SXTB16 + SMLAD, Helium VLD2 + VMLADAVA), so the _s4 kernels keep
 * the int8 kernels' blocking (four rows per pass over the input, on Helium two rows x two pixels as dot_pairs.h, one
 * gathered patch per pixel and channel block) without unpacking rows into a buffer; unpack_s4 for the blocks the
 * kernels do unpack (short rows, DSP conv sub-blocks, depthwise taps), and the block type both kinds of rows share.
 * Every variant computes the exact integer sums the int8 loops of dot_rows.h compute on the same weight values, so
 * the kernels' output bytes are the int8 kernels'.
 *
 * Packed stream (wess_ref.h, WESS_S4_UNPACK_BYTES): element 2j in the low nibble of byte j, 2j + 1 in the high
 * nibble, two's complement -8..7. A filter row of `length` elements starts at element `first`, which is odd for
 * every other row when length is odd; the 4-row loops take rows of one parity (first & 1) and handle an odd first
 * element and an odd last element alone, so their inner loops always read whole bytes. */
#ifndef WESS_DOT_ROWS_S4_H
#define WESS_DOT_ROWS_S4_H

#include <stdint.h>
#include <string.h>

#include "dot_pairs.h"
#include "dot_rows.h"
#include "kernel_util.h"

/* The nibble values below use >> of negative int32 values, which gcc and clang (the only compilers of this code)
 * define as an arithmetic shift. */

/* The signed low nibble (-8..7) of a packed byte. */
static inline int32_t s4_low(uint32_t byte)
{
    return (int32_t)(byte << 28) >> 28;
}

/* The signed high nibble (-8..7) of a packed byte. */
static inline int32_t s4_high(uint32_t byte)
{
    return (int32_t)(byte << 24) >> 28;
}

/* Element `index` (>= 0) of a packed stream, -8..7. */
static inline int32_t s4_at(const uint8_t *packed, int32_t index)
{
    const uint32_t byte = packed[index >> 1];
    return (index & 1) ? s4_high(byte) : s4_low(byte);
}

/* out[i] = element first + i of a packed stream, i < count (-8..7); reads bytes first / 2 .. (first + count - 1) / 2
 * only. An odd first element alone, then whole bytes (on Helium 16 bytes, 32 elements, per VLDRB + VST2: the low
 * nibbles to the even outputs, the high nibbles to the odd ones), then the rest one by one. */
static inline void unpack_s4(const uint8_t *packed, int32_t first, int32_t count, int8_t *out)
{
    int32_t i = 0;
    if (count > 0 && (first & 1)) {
        out[i++] = (int8_t)s4_at(packed, first);
    }
    const uint8_t *bytes = packed + ((first + i) >> 1);
#if defined(WESS_DOT_ROWS_MVE)
    for (; i + 32 <= count; i += 32, bytes += 16) {
        const int8x16_t b = vld1q_s8((const int8_t *)bytes);
        int8x16x2_t split;
        split.val[0] = vshrq_n_s8(vshlq_n_s8(b, 4), 4);
        split.val[1] = vshrq_n_s8(b, 4);
        vst2q_s8(out + i, split);
    }
#endif
    for (; i + 2 <= count; i += 2, ++bytes) {
        out[i] = (int8_t)s4_low(*bytes);
        out[i + 1] = (int8_t)s4_high(*bytes);
    }
    if (i < count) {
        out[i] = (int8_t)s4_low(*bytes);
    }
}

/* sum over k < length of element first + k of packed times (input[k] + input_offset): one row, scalar (the rows
 * left over by the 4-row loops). input_offset in [-127, 128], 0 <= length <= WESS_MAX_DOT_LENGTH: each
 * |w * (x + input_offset)| <= 8 * 255, so |acc| < 2^31. Reads bytes first / 2 .. (first + length - 1) / 2 only. */
static inline int32_t dot_s4_offset(const uint8_t *packed, int32_t first, const int8_t *input, int32_t input_offset,
                                    int32_t length)
{
    int32_t acc = 0;
    for (int32_t k = 0; k < length; ++k) {
        acc += s4_at(packed, first + k) * (input[k] + input_offset);
    }
    return acc;
}

/* dot_rows4_s4_pairs' loop (always inlined: with_offset is a compile-time 0 when input_offset is 0, one loop per
 * case). acc[r] = sum over j < pairs of low(row_r[j]) * (input[2j] + o) + high(row_r[j]) * (input[2j + 1] + o),
 * o = input_offset in [-127, 128]; rows: four rows of `pairs` whole packed bytes; input: 2 * pairs int8;
 * 0 <= pairs <= WESS_MAX_DOT_LENGTH / 2. Reads exactly those bytes (Helium tails are predicated loads). */
#if defined(WESS_DOT_ROWS_MVE)
static inline __attribute__((always_inline)) void dot_rows4_s4_loop(const uint8_t *row0, const uint8_t *row1,
                                                                    const uint8_t *row2, const uint8_t *row3,
                                                                    const int8_t *input, int32_t input_offset,
                                                                    int32_t pairs, int with_offset,
                                                                    int32_t acc[WESS_DOT_ROWS])
{
    /* Sixteen packed bytes hold 32 weights: b << 4 is 16 * the even elements (low nibbles) and b & 0xF0 is 16 * the
     * odd ones (high nibbles), each exact in int8; VLD2 splits 32 inputs into the even and the odd elements. So
     * acc16 = 16 * sum w * x: |.| <= 16 * 8 * 128 * 65536 = 2^30; sum16 = 16 * sum w: |.| <= 2^23. */
    const int8x16_t high_mask = vdupq_n_s8((int8_t)0xF0);
    int32_t acc0 = 0, acc1 = 0, acc2 = 0, acc3 = 0;
    int32_t sum0 = 0, sum1 = 0, sum2 = 0, sum3 = 0;
#define WESS_S4_ROW_TERMS(bytes, acc, sum, x_even, x_odd)                                                           \
    do {                                                                                                           \
        const int8x16_t even16 = vshlq_n_s8(bytes, 4), odd16 = vandq_s8(bytes, high_mask);                        \
        acc = vmladavaq_s8(acc, even16, x_even);                                                                   \
        acc = vmladavaq_s8(acc, odd16, x_odd);                                                                     \
        if (with_offset) {                                                                                         \
            sum = vaddvaq_s8(vaddvaq_s8(sum, even16), odd16);                                                      \
        }                                                                                                          \
    } while (0)
    for (int32_t chunk = pairs >> 4; chunk > 0; --chunk) {
        const int8x16x2_t x = vld2q_s8(input);  /* x.val[0] = input[2j], x.val[1] = input[2j + 1], j < 16 */
        input += 32;
        const int8x16_t b0 = vld1q_s8((const int8_t *)row0), b1 = vld1q_s8((const int8_t *)row1);
        const int8x16_t b2 = vld1q_s8((const int8_t *)row2), b3 = vld1q_s8((const int8_t *)row3);
        row0 += 16;
        row1 += 16;
        row2 += 16;
        row3 += 16;
        WESS_S4_ROW_TERMS(b0, acc0, sum0, x.val[0], x.val[1]);
        WESS_S4_ROW_TERMS(b1, acc1, sum1, x.val[0], x.val[1]);
        WESS_S4_ROW_TERMS(b2, acc2, sum2, x.val[0], x.val[1]);
        WESS_S4_ROW_TERMS(b3, acc3, sum3, x.val[0], x.val[1]);
    }
    if ((pairs & 15) != 0) {
        /* the last 1..15 bytes: predicated loads, the inputs gathered at even / odd offsets (VLD2 has no predicate) */
        const mve_pred16_t lanes = vctp8q((uint32_t)(pairs & 15));
        const uint8x16_t even_offsets = vidupq_n_u8(0, 2);
        const int8x16_t x_even = vldrbq_gather_offset_z_s8(input, even_offsets, lanes);
        const int8x16_t x_odd = vldrbq_gather_offset_z_s8(input + 1, even_offsets, lanes);
        const int8x16_t b0 = vldrbq_z_s8((const int8_t *)row0, lanes), b1 = vldrbq_z_s8((const int8_t *)row1, lanes);
        const int8x16_t b2 = vldrbq_z_s8((const int8_t *)row2, lanes), b3 = vldrbq_z_s8((const int8_t *)row3, lanes);
        WESS_S4_ROW_TERMS(b0, acc0, sum0, x_even, x_odd);
        WESS_S4_ROW_TERMS(b1, acc1, sum1, x_even, x_odd);
        WESS_S4_ROW_TERMS(b2, acc2, sum2, x_even, x_odd);
        WESS_S4_ROW_TERMS(b3, acc3, sum3, x_even, x_odd);
    }
#undef WESS_S4_ROW_TERMS
    /* 16 * the exact sum, |.| < 16 * 8 * 255 * 65536 < 2^31: formed in uint32 (each part is exact), then / 16 */
    acc[0] = (int32_t)((uint32_t)acc0 + (uint32_t)(input_offset * sum0)) >> 4;
    acc[1] = (int32_t)((uint32_t)acc1 + (uint32_t)(input_offset * sum1)) >> 4;
    acc[2] = (int32_t)((uint32_t)acc2 + (uint32_t)(input_offset * sum2)) >> 4;
    acc[3] = (int32_t)((uint32_t)acc3 + (uint32_t)(input_offset * sum3)) >> 4;
}
#elif defined(WESS_DOT_ROWS_DSP)
static inline __attribute__((always_inline)) void dot_rows4_s4_loop(const uint8_t *row0, const uint8_t *row1,
                                                                    const uint8_t *row2, const uint8_t *row3,
                                                                    const int8_t *input, int32_t input_offset,
                                                                    int32_t pairs, int with_offset,
                                                                    int32_t acc[WESS_DOT_ROWS])
{
    /* both int16 lanes hold input_offset: x + input_offset in [-255, 255] fits a lane */
    const uint32_t offset_pair = ((uint32_t)(uint16_t)input_offset << 16) | (uint16_t)input_offset;
    const uint32_t high_mask = 0xF0F0F0F0u;
    /* acc16 = 16 * sum w * (x + o): |.| <= 16 * 8 * 255 * 65536 < 2^31 */
    int32_t acc0 = 0, acc1 = 0, acc2 = 0, acc3 = 0;
    int32_t j = 0;
    for (; j + 4 <= pairs; j += 4) {
        /* eight inputs x0..x7 as the int16 pairs (x0, x4), (x2, x6), (x1, x5), (x3, x7) */
        uint32_t x_low, x_high;
        memcpy(&x_low, input + 2 * j, 4);  /* unaligned word loads (LDR) */
        memcpy(&x_high, input + 2 * j + 4, 4);
        uint32_t even_low = __sxtb16(x_low), odd_low = sxtb16_odd(x_low);     /* (x0, x2), (x1, x3) */
        uint32_t even_high = __sxtb16(x_high), odd_high = sxtb16_odd(x_high); /* (x4, x6), (x5, x7) */
        if (with_offset) {
            even_low = __sadd16(even_low, offset_pair);
            odd_low = __sadd16(odd_low, offset_pair);
            even_high = __sadd16(even_high, offset_pair);
            odd_high = __sadd16(odd_high, offset_pair);
        }
        const uint32_t x04 = (even_low & 0xFFFFu) | (even_high << 16);   /* PKHBT */
        const uint32_t x26 = (even_high & 0xFFFF0000u) | (even_low >> 16);  /* PKHTB */
        const uint32_t x15 = (odd_low & 0xFFFFu) | (odd_high << 16);
        const uint32_t x37 = (odd_high & 0xFFFF0000u) | (odd_low >> 16);
        /* a packed word w0..w7: (p << 4) & mask has bytes 16 * (w0, w2, w4, w6), p & mask 16 * (w1, w3, w5, w7);
         * SXTB16 (and its ROR 8) pair them as (w0, w4), (w2, w6) and (w1, w5), (w3, w7) */
#define WESS_S4_ROW_WORD(row, acc)                                                                                  \
    do {                                                                                                           \
        uint32_t packed_word;                                                                                      \
        memcpy(&packed_word, (row) + j, 4);                                                                        \
        const uint32_t even16 = (packed_word << 4) & high_mask, odd16 = packed_word & high_mask;                  \
        acc = __smlad(__sxtb16(even16), x04, acc);                                                                 \
        acc = __smlad(sxtb16_odd(even16), x26, acc);                                                               \
        acc = __smlad(__sxtb16(odd16), x15, acc);                                                                  \
        acc = __smlad(sxtb16_odd(odd16), x37, acc);                                                                \
    } while (0)
        WESS_S4_ROW_WORD(row0, acc0);
        WESS_S4_ROW_WORD(row1, acc1);
        WESS_S4_ROW_WORD(row2, acc2);
        WESS_S4_ROW_WORD(row3, acc3);
#undef WESS_S4_ROW_WORD
    }
    acc0 >>= 4;  /* exact: multiples of 16 */
    acc1 >>= 4;
    acc2 >>= 4;
    acc3 >>= 4;
    for (; j < pairs; ++j) {
        const int32_t x_even = input[2 * j] + input_offset, x_odd = input[2 * j + 1] + input_offset;
        acc0 += s4_low(row0[j]) * x_even + s4_high(row0[j]) * x_odd;
        acc1 += s4_low(row1[j]) * x_even + s4_high(row1[j]) * x_odd;
        acc2 += s4_low(row2[j]) * x_even + s4_high(row2[j]) * x_odd;
        acc3 += s4_low(row3[j]) * x_even + s4_high(row3[j]) * x_odd;
    }
    acc[0] = acc0;
    acc[1] = acc1;
    acc[2] = acc2;
    acc[3] = acc3;
}
#else
static inline __attribute__((always_inline)) void dot_rows4_s4_loop(const uint8_t *row0, const uint8_t *row1,
                                                                    const uint8_t *row2, const uint8_t *row3,
                                                                    const int8_t *input, int32_t input_offset,
                                                                    int32_t pairs, int with_offset,
                                                                    int32_t acc[WESS_DOT_ROWS])
{
    (void)with_offset;
    /* each input + input_offset is formed once and used by the four rows; |acc| < 2^31 as dot_s4_offset */
    int32_t acc0 = 0, acc1 = 0, acc2 = 0, acc3 = 0;
    for (int32_t j = 0; j < pairs; ++j) {
        const int32_t x_even = input[2 * j] + input_offset, x_odd = input[2 * j + 1] + input_offset;
        const uint32_t b0 = row0[j], b1 = row1[j], b2 = row2[j], b3 = row3[j];
        /* one multiply-accumulate per term (a sum of two products would cost a MUL, an MLA and an ADD) */
        acc0 += s4_low(b0) * x_even;
        acc0 += s4_high(b0) * x_odd;
        acc1 += s4_low(b1) * x_even;
        acc1 += s4_high(b1) * x_odd;
        acc2 += s4_low(b2) * x_even;
        acc2 += s4_high(b2) * x_odd;
        acc3 += s4_low(b3) * x_even;
        acc3 += s4_high(b3) * x_odd;
    }
    acc[0] = acc0;
    acc[1] = acc1;
    acc[2] = acc2;
    acc[3] = acc3;
}
#endif

/* acc[r] = sum over k < length of element first + r * row_stride + k of packed times (input[k] + input_offset),
 * r < 4: four rows of one parity (row_stride even), 1 <= length <= WESS_MAX_DOT_LENGTH, input_offset in
 * [-127, 128]; |acc| < 2^31 as dot_s4_offset. An odd first element (high nibble) and an odd last element (low
 * nibble) are added alone; reads exactly the rows' bytes. */
static inline __attribute__((always_inline)) void dot_rows4_s4(const uint8_t *packed, int32_t first,
                                                               int32_t row_stride, const int8_t *input,
                                                               int32_t input_offset, int32_t length,
                                                               int32_t acc[WESS_DOT_ROWS])
{
    const int32_t head = first & 1, pairs = (length - head) >> 1, tail = (length - head) & 1;
    const uint8_t *row0 = packed + (first >> 1) + head, *row1 = row0 + (row_stride >> 1);
    const uint8_t *row2 = row1 + (row_stride >> 1), *row3 = row2 + (row_stride >> 1);
    if (input_offset == 0) {
        dot_rows4_s4_loop(row0, row1, row2, row3, input + head, 0, pairs, 0, acc);
    } else {
        dot_rows4_s4_loop(row0, row1, row2, row3, input + head, input_offset, pairs, 1, acc);
    }
    if (head | tail) {  /* rows of an odd length: the high nibble before row r, the low nibble after it */
        const uint8_t *rows[WESS_DOT_ROWS] = {row0, row1, row2, row3};
        const int32_t x_first = input[0] + input_offset, x_last = input[length - 1] + input_offset;
        for (int32_t r = 0; r < WESS_DOT_ROWS; ++r) {
            if (head) {
                acc[r] += s4_high(rows[r][-1]) * x_first;
            }
            if (tail) {
                acc[r] += s4_low(rows[r][pairs]) * x_last;
            }
        }
    }
}

/* acc[i] = sum over k < length of element first + i * length + k of packed times (input[k] + input_offset),
 * i < count: `count` consecutive packed filter rows (ranges as dot_rows4_s4). Four rows at a time: consecutive rows
 * when length is even; rows i, i + 2, i + 4, i + 6 and then i + 1, ..., i + 7 when it is odd (each four of one
 * parity); the rest one by one. One call per input vector on Helium (WESS_DOT_LOOP). */
WESS_DOT_LOOP void dot_rows_s4(const uint8_t *packed, int32_t first, const int8_t *input, int32_t input_offset,
                               int32_t length, int32_t count, int32_t *acc)
{
    int32_t row = 0;
    if (((first | length) & 1) == 0) {
        /* every row is whole bytes: no odd elements, the byte pointers step by whole rows */
        const int32_t pairs = length >> 1;
        const uint8_t *bytes = packed + (first >> 1);
        for (; row < count; row += WESS_DOT_ROWS, bytes += WESS_DOT_ROWS * pairs) {
            /* 1 to 3 rows left: the last one stands in for the missing ones, their results dropped */
            const int32_t left = count - row;
            int32_t quad[WESS_DOT_ROWS];
            const uint8_t *row1 = bytes + (left > 1 ? pairs : 0), *row2 = bytes + (left > 2 ? 2 : left - 1) * pairs;
            const uint8_t *row3 = bytes + (left > 3 ? 3 : left - 1) * pairs;
            if (input_offset == 0) {
                dot_rows4_s4_loop(bytes, row1, row2, row3, input, 0, pairs, 0, quad);
            } else {
                dot_rows4_s4_loop(bytes, row1, row2, row3, input, input_offset, pairs, 1, quad);
            }
            for (int32_t r = 0; r < WESS_DOT_ROWS && r < left; ++r) {
                acc[row + r] = quad[r];
            }
        }
    } else if ((length & 1) == 0) {
        for (; row + WESS_DOT_ROWS <= count; row += WESS_DOT_ROWS) {
            dot_rows4_s4(packed, first + row * length, length, input, input_offset, length, acc + row);
        }
    } else {
        for (; row + 2 * WESS_DOT_ROWS <= count; row += 2 * WESS_DOT_ROWS) {
            int32_t even[WESS_DOT_ROWS], odd[WESS_DOT_ROWS];
            dot_rows4_s4(packed, first + row * length, 2 * length, input, input_offset, length, even);
            dot_rows4_s4(packed, first + (row + 1) * length, 2 * length, input, input_offset, length, odd);
            for (int32_t r = 0; r < WESS_DOT_ROWS; ++r) {
                acc[row + 2 * r] = even[r];
                acc[row + 2 * r + 1] = odd[r];
            }
        }
    }
    for (; row < count; ++row) {
        acc[row] = dot_s4_offset(packed, first + row * length, input, input_offset, length);
    }
}

#if defined(WESS_DOT_ROWS_MVE)

/* The even and the odd elements of 2 * lanes inputs (lanes <= 16): VLD2 for a whole 32-byte chunk, gathers at even
 * and odd offsets for a predicated tail (VLD2 has no predicate); zeros past the inputs. */
static inline __attribute__((always_inline)) int8x16x2_t s4_inputs_split(const int8_t *input, mve_pred16_t lanes,
                                                                         int whole)
{
    if (whole) {
        return vld2q_s8(input);
    }
    const uint8x16_t even_offsets = vidupq_n_u8(0, 2);
    const int8x16x2_t split = {{vldrbq_gather_offset_z_s8(input, even_offsets, lanes),
                                vldrbq_gather_offset_z_s8(input + 1, even_offsets, lanes)}};
    return split;
}

/* The dot products of two packed rows of one parity (bytes row0, row1, `pairs` whole bytes each) with two pixels'
 * inputs x0, x1 (2 * pairs int8 each) plus input_offset o in [-127, 128]: acc[0] = row0.(x0 + o),
 * acc[1] = row1.(x0 + o), acc[2] = row0.(x1 + o), acc[3] = row1.(x1 + o); 0 <= pairs <= WESS_MAX_DOT_LENGTH / 2.
 * Each weight vector serves both pixels and each input vector both rows; the sums are formed as in
 * dot_rows4_s4_loop (16 * sum w * x and 16 * o * sum w, each |.| <= 2^30, added in uint32, then / 16). Reads exactly
 * the listed bytes; with_offset a compile-time 0 when o is 0. */
static inline __attribute__((always_inline)) void dot_pair_pair_s4(const uint8_t *row0, const uint8_t *row1,
                                                                   const int8_t *x0, const int8_t *x1,
                                                                   int32_t input_offset, int32_t pairs,
                                                                   int with_offset, int32_t acc[4])
{
    const int8x16_t high_mask = vdupq_n_s8((int8_t)0xF0);
    int32_t acc00 = 0, acc10 = 0, acc01 = 0, acc11 = 0;  /* acc<row><pixel> */
    int32_t sum0 = 0, sum1 = 0;
#define WESS_S4_PAIR_PAIR_CHUNK(lanes, whole)                                                                       \
    do {                                                                                                           \
        const int8x16x2_t in0 = s4_inputs_split(x0, lanes, whole), in1 = s4_inputs_split(x1, lanes, whole);       \
        const int8x16_t b0 = whole ? vld1q_s8((const int8_t *)row0) : vldrbq_z_s8((const int8_t *)row0, lanes);   \
        const int8x16_t b1 = whole ? vld1q_s8((const int8_t *)row1) : vldrbq_z_s8((const int8_t *)row1, lanes);   \
        const int8x16_t even0 = vshlq_n_s8(b0, 4), odd0 = vandq_s8(b0, high_mask);                                \
        const int8x16_t even1 = vshlq_n_s8(b1, 4), odd1 = vandq_s8(b1, high_mask);                                \
        acc00 = vmladavaq_s8(vmladavaq_s8(acc00, even0, in0.val[0]), odd0, in0.val[1]);                           \
        acc01 = vmladavaq_s8(vmladavaq_s8(acc01, even0, in1.val[0]), odd0, in1.val[1]);                           \
        acc10 = vmladavaq_s8(vmladavaq_s8(acc10, even1, in0.val[0]), odd1, in0.val[1]);                           \
        acc11 = vmladavaq_s8(vmladavaq_s8(acc11, even1, in1.val[0]), odd1, in1.val[1]);                           \
        if (with_offset) {                                                                                         \
            sum0 = vaddvaq_s8(vaddvaq_s8(sum0, even0), odd0);                                                      \
            sum1 = vaddvaq_s8(vaddvaq_s8(sum1, even1), odd1);                                                      \
        }                                                                                                          \
    } while (0)
    const mve_pred16_t all_lanes = vctp8q(16);
    for (int32_t chunk = pairs >> 4; chunk > 0; --chunk) {
        WESS_S4_PAIR_PAIR_CHUNK(all_lanes, 1);
        x0 += 32;
        x1 += 32;
        row0 += 16;
        row1 += 16;
    }
    if ((pairs & 15) != 0) {
        WESS_S4_PAIR_PAIR_CHUNK(vctp8q((uint32_t)(pairs & 15)), 0);
    }
#undef WESS_S4_PAIR_PAIR_CHUNK
    const uint32_t term0 = (uint32_t)(input_offset * sum0), term1 = (uint32_t)(input_offset * sum1);
    acc[0] = (int32_t)((uint32_t)acc00 + term0) >> 4;
    acc[1] = (int32_t)((uint32_t)acc10 + term1) >> 4;
    acc[2] = (int32_t)((uint32_t)acc01 + term0) >> 4;
    acc[3] = (int32_t)((uint32_t)acc11 + term1) >> 4;
}

/* dot_pair_pair_s4 of the rows starting at elements first and first + row_stride (one parity: row_stride even),
 * `length` elements each (1 <= length <= WESS_MAX_DOT_LENGTH), with an odd first and last element added alone as
 * in dot_rows4_s4. */
static inline __attribute__((always_inline)) void dot_pair_pair_rows_s4(const uint8_t *packed, int32_t first,
                                                                        int32_t row_stride, const int8_t *x0,
                                                                        const int8_t *x1, int32_t input_offset,
                                                                        int32_t length, int with_offset,
                                                                        int32_t acc[4])
{
    const int32_t head = first & 1, pairs = (length - head) >> 1, tail = (length - head) & 1;
    const uint8_t *row0 = packed + (first >> 1) + head, *row1 = row0 + (row_stride >> 1);
    dot_pair_pair_s4(row0, row1, x0 + head, x1 + head, input_offset, pairs, with_offset, acc);
    if (head | tail) {
        const uint8_t *rows[2] = {row0, row1};
        const int8_t *pixels[2] = {x0, x1};
        for (int32_t pixel = 0; pixel < 2; ++pixel) {
            for (int32_t r = 0; r < 2; ++r) {
                if (head) {
                    acc[2 * pixel + r] += s4_high(rows[r][-1]) * (pixels[pixel][0] + input_offset);
                }
                if (tail) {
                    acc[2 * pixel + r] += s4_low(rows[r][pairs]) * (pixels[pixel][length - 1] + input_offset);
                }
            }
        }
    }
}

/* dot_rows_two_pixels_s4's loop for a compile-time with_offset: row pairs (i, i + 1) when length is even, (i, i + 2)
 * and (i + 1, i + 3) when it is odd (each pair of one parity); a leftover row with itself, its second result
 * unused. */
static inline __attribute__((always_inline)) void dot_rows_two_pixels_s4_loop(const uint8_t *packed, int32_t first,
                                                                              const int8_t *x0, const int8_t *x1,
                                                                              int32_t input_offset, int32_t length,
                                                                              int32_t count, int with_offset,
                                                                              int32_t *acc0, int32_t *acc1)
{
    int32_t block[4];
    int32_t row = 0;
    if (((first | length) & 1) == 0) {
        /* every row is whole bytes: no odd elements, the byte pointers step by whole rows */
        const int32_t pairs = length >> 1;
        const uint8_t *bytes = packed + (first >> 1);
        for (; row + 2 <= count; row += 2, bytes += 2 * pairs) {
            dot_pair_pair_s4(bytes, bytes + pairs, x0, x1, input_offset, pairs, with_offset, block);
            acc0[row] = block[0];
            acc0[row + 1] = block[1];
            acc1[row] = block[2];
            acc1[row + 1] = block[3];
        }
    } else if (length & 1) {
        for (; row + 4 <= count; row += 4) {
            for (int32_t parity = 0; parity < 2; ++parity) {
                dot_pair_pair_rows_s4(packed, first + (row + parity) * length, 2 * length, x0, x1, input_offset,
                                      length, with_offset, block);
                acc0[row + parity] = block[0];
                acc0[row + parity + 2] = block[1];
                acc1[row + parity] = block[2];
                acc1[row + parity + 2] = block[3];
            }
        }
    }
    while (row < count) {
        const int pair = row + 1 < count && (length & 1) == 0;
        dot_pair_pair_rows_s4(packed, first + row * length, pair ? length : 0, x0, x1, input_offset, length,
                              with_offset, block);
        acc0[row] = block[0];
        acc1[row] = block[2];
        if (pair) {
            acc0[row + 1] = block[1];
            acc1[row + 1] = block[3];
        }
        row += pair ? 2 : 1;
    }
}

/* acc0[i] = sum over k of element first + i * length + k of packed times (x0[k] + input_offset), acc1[i] the same
 * for x1, i < count: `count` consecutive packed rows against two pixels (ranges as dot_pair_pair_s4). One call per
 * pixel pair (WESS_DOT_LOOP). */
WESS_DOT_LOOP void dot_rows_two_pixels_s4(const uint8_t *packed, int32_t first, const int8_t *x0, const int8_t *x1,
                                          int32_t input_offset, int32_t length, int32_t count, int32_t *acc0,
                                          int32_t *acc1)
{
    if (input_offset == 0) {
        dot_rows_two_pixels_s4_loop(packed, first, x0, x1, 0, length, count, 0, acc0, acc1);
    } else {
        dot_rows_two_pixels_s4_loop(packed, first, x0, x1, input_offset, length, count, 1, acc0, acc1);
    }
}
#endif

/* The filter rows of one channel block, int8 or packed: the weighted kernels' block loops take either. */
typedef struct {
    const int8_t *rows;     /* the block's rows of int8 values back to back, or NULL for packed rows */
    const uint8_t *packed;  /* the packed stream (when rows is NULL) */
    int32_t first;          /* the element of packed where the block's first row starts, >= 0 */
} filter_block_t;

/* dot_rows (int8 rows) or dot_rows_s4 (packed rows) of a block's first `count` rows; ranges as those. */
static inline void filter_block_dot(const filter_block_t *block, const int8_t *input, int32_t input_offset,
                                    int32_t length, int32_t count, int32_t *acc)
{
    if (block->rows != NULL) {
        dot_rows(block->rows, input, input_offset, length, count, acc);
    } else {
        dot_rows_s4(block->packed, block->first, input, input_offset, length, count, acc);
    }
}

#if defined(WESS_DOT_PAIRS_MVE)
/* dot_rows_two_pixels (dot_pairs.h; int8 rows) or dot_rows_two_pixels_s4 (packed rows) of a block's first `count`
 * rows against two pixels; ranges as those. */
static inline void filter_block_dot_two_pixels(const filter_block_t *block, const int8_t *x0, const int8_t *x1,
                                               int32_t input_offset, int32_t length, int32_t count, int32_t *acc0,
                                               int32_t *acc1)
{
    if (block->rows != NULL) {
        dot_rows_two_pixels(block->rows, x0, x1, input_offset, length, count, acc0, acc1);
    } else {
        dot_rows_two_pixels_s4(block->packed, block->first, x0, x1, input_offset, length, count, acc0, acc1);
    }
}
#endif

/* fold_input_offset (dot_rows.h) of a block's `count` rows of `length` values, int8 or packed: on Helium the
 * packed rows' weight sums come from the same 16 * nibble vectors as dot_rows4_s4_loop (|16 * sum| <= 2^23). */
static inline int32_t filter_block_fold(channel_requant_t *channels, const filter_block_t *block, int32_t length,
                                        int32_t count, int32_t input_offset)
{
    if (block->rows != NULL) {
        return fold_input_offset(channels, block->rows, length, count, input_offset);
    }
#if defined(WESS_DOT_ROWS_MVE)
    if (input_offset == 0) {
        return 0;
    }
    int32_t folded[WESS_CHANNEL_BLOCK];  /* count <= WESS_CHANNEL_BLOCK */
    const int8x16_t high_mask = vdupq_n_s8((int8_t)0xF0);
    for (int32_t row = 0; row < count; ++row) {
        const int32_t first = block->first + row * length, head = first & 1, pairs = (length - head) >> 1;
        const int8_t *bytes = (const int8_t *)block->packed + (first >> 1) + head;
        int32_t sum16 = 0;
        for (int32_t j = 0; j < pairs; j += 16) {
            const int8x16_t b = vldrbq_z_s8(bytes + j, vctp8q((uint32_t)(pairs - j)));  /* zeros past the row */
            sum16 = vaddvaq_s8(vaddvaq_s8(sum16, vshlq_n_s8(b, 4)), vandq_s8(b, high_mask));
        }
        int32_t sum = sum16 >> 4;  /* exact: a multiple of 16 */
        if (head) {
            sum += s4_at(block->packed, first);
        }
        if ((length - head) & 1) {
            sum += s4_at(block->packed, first + length - 1);
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
    (void)length;
    (void)count;
    return input_offset;
#endif
}

#endif /* WESS_DOT_ROWS_S4_H */
