/* Argument checks and per-channel requantization shared by the kernels (internal). */
#ifndef WESS_KERNEL_UTIL_H
#define WESS_KERNEL_UTIL_H

#include <stddef.h>
#include <stdint.h>

#include "fixedpoint.h"
#include "wess_ref.h"

/* Largest accumulation length for which an int8 x (int8 + offset) dot product fits int32:
 * |w * (x + input_offset)| <= 128 * 255 = 32640 and 32640 * 65536 < 2^31. */
#define WESS_MAX_DOT_LENGTH 65536

/* Dot products of the weighted kernels, written as plain loops over contiguous memory so that the compiler can
 * vectorize them. Both accumulate in int32: length <= WESS_MAX_DOT_LENGTH terms (the callers check it), each
 * |filter * (input + input_offset)| <= 128 * 255, so |acc| < 2^31. */

/* sum of filter[i] * shifted_input[i], i < length; shifted_input holds input + input_offset, in [-255, 255]. */
static inline int32_t dot_s8_s16(const int8_t *filter, const int16_t *shifted_input, int32_t length)
{
    int32_t acc = 0;
    for (int32_t index = 0; index < length; ++index) {
        acc += filter[index] * shifted_input[index];
    }
    return acc;
}

/* sum of filter[i] * (input[i] + input_offset), i < length. The sum input + input_offset is in [-255, 255]
 * (input_offset in [-127, 128]), so it is formed in int16, which lets the compiler use 16-bit multiply-adds. */
static inline int32_t dot_s8_offset(const int8_t *filter, const int8_t *input, int32_t input_offset, int32_t length)
{
    const int16_t offset = (int16_t)input_offset;
    int32_t acc = 0;
    for (int32_t index = 0; index < length; ++index) {
        acc += filter[index] * (int16_t)(input[index] + offset);
    }
    return acc;
}

/* The host build (x86-64, aarch64; not WESS_PORTABLE_KERNELS) runs host formulations of the hottest loops that
 * compilers vectorise (requant_rows_host.c, add_sub_host.c, dot_host.h, and the pixel loops of conv_2d.c and
 * depthwise_conv_2d.c), bit-exact with the portable ones (tests/test_host_kernels.py compares them on random
 * shapes). On x86-64 Linux the functions marked WESS_HOST_CLONES are compiled twice, for AVX2 and for the baseline,
 * and the loader picks one (GCC / clang function multiversioning, ifunc): the same C, so the same bytes
 * (WESS_NO_HOST_CLONES builds the baseline alone, for the tests). */
#if !defined(WESS_PORTABLE_KERNELS) && (defined(__x86_64__) || defined(__aarch64__))
#define WESS_HOST_KERNELS 1
#endif
#if defined(WESS_HOST_KERNELS) && !defined(WESS_NO_HOST_CLONES) && defined(__x86_64__) && defined(__linux__) && \
    ((defined(__clang__) && __clang_major__ >= 14) || (!defined(__clang__) && defined(__GNUC__) && __GNUC__ >= 8))
#define WESS_HOST_CLONES __attribute__((target_clones("avx2", "default")))
#else
#define WESS_HOST_CLONES
#endif

static inline int32_t clamp_int32(int32_t value, int32_t low, int32_t high)
{
    return value < low ? low : (value > high ? high : value);
}

/* Every dimension >= 1 and the flat size fits int32. */
static inline int dims_valid(const wess_dims_t *dims)
{
    if (dims == NULL || dims->n < 1 || dims->h < 1 || dims->w < 1 || dims->c < 1) {
        return 0;
    }
    const int32_t extents[4] = {dims->n, dims->h, dims->w, dims->c};
    int64_t size = 1;
    for (int axis = 0; axis < 4; ++axis) {
        size *= extents[axis];  /* size <= 2^31 and extent < 2^31 before: product < 2^62 */
        if (size > INT32_MAX) {
            return 0;
        }
    }
    return 1;
}

static inline int32_t flat_size(const wess_dims_t *dims)
{
    return dims->n * dims->h * dims->w * dims->c;
}

static inline int dims_equal(const wess_dims_t *a, const wess_dims_t *b)
{
    return a->n == b->n && a->h == b->h && a->w == b->w && a->c == b->c;
}

static inline int input_offset_valid(int32_t input_offset)
{
    return input_offset >= -127 && input_offset <= 128;
}

static inline int int8_value_valid(int32_t value)
{
    return value >= INT8_MIN && value <= INT8_MAX;
}

static inline int activation_valid(int32_t act_min, int32_t act_max)
{
    return int8_value_valid(act_min) && int8_value_valid(act_max) && act_min <= act_max;
}

/* A multiplier and right shift requantize() takes: a Q31 mantissa >= 0, right shift in [-30, 31]. */
static inline int multiplier_valid(int32_t multiplier, int32_t right_shift)
{
    return multiplier >= 0 && right_shift >= -30 && right_shift <= 31;
}

/* Element strides of an input read at every output position: 0 along an axis the input broadcasts (extent 1). */
typedef struct {
    int32_t n, h, w, c;
} broadcast_strides_t;

/* The input's strides over the output's positions: valid dims, and every input extent 1 or the output's. */
static inline int broadcast_strides(const wess_dims_t *input_dims, const wess_dims_t *output_dims,
                                    broadcast_strides_t *strides)
{
    if (!dims_valid(input_dims) || !dims_valid(output_dims)) {
        return 0;
    }
    const int32_t extents[4] = {input_dims->n, input_dims->h, input_dims->w, input_dims->c};
    const int32_t output_extents[4] = {output_dims->n, output_dims->h, output_dims->w, output_dims->c};
    int32_t axis_strides[4];
    int32_t stride = 1;
    for (int axis = 3; axis >= 0; --axis) {
        if (extents[axis] != 1 && extents[axis] != output_extents[axis]) {
            return 0;
        }
        axis_strides[axis] = extents[axis] == 1 ? 0 : stride;
        stride *= extents[axis];  /* <= the input's flat size, < 2^31 */
    }
    strides->n = axis_strides[0];
    strides->h = axis_strides[1];
    strides->w = axis_strides[2];
    strides->c = axis_strides[3];
    return 1;
}

/* A tensor seen around one NHWC axis: the elements before it (outer), its extent, the elements after it (inner). */
typedef struct {
    int32_t outer, extent, inner;
} axis_split_t;

/* dims valid and axis in [0, 3]: outer * extent * inner is the flat size, so each fits int32. */
static inline axis_split_t split_at_axis(const wess_dims_t *dims, int32_t axis)
{
    const int32_t extents[4] = {dims->n, dims->h, dims->w, dims->c};
    axis_split_t parts = {1, extents[axis], 1};
    for (int32_t other = 0; other < 4; ++other) {
        if (other < axis) {
            parts.outer *= extents[other];
        } else if (other > axis) {
            parts.inner *= extents[other];
        }
    }
    return parts;
}

/* The output's rows (n, y, x) in order, each with its first element in two inputs broadcast to the output: every
 * input extent is 1 (read again at every output position along that axis: stride 0) or the output's. */
typedef struct {
    broadcast_strides_t strides1, strides2; /* element strides of input1 / input2 per output axis; .c per channel */
    int32_t count;                          /* output rows: n * h * w */
    int32_t height, width;                  /* the output's h, w */
    int32_t n, y, x;                        /* the current row */
    int32_t offset1, offset2;               /* its first element in input1 / input2 (< each input's flat size) */
} broadcast_rows_t;

/* Starts at row (0, 0, 0): valid dims, each input extent 1 or the output's, else 0. */
static inline int broadcast_rows_start(broadcast_rows_t *rows, const wess_dims_t *input1_dims,
                                       const wess_dims_t *input2_dims, const wess_dims_t *output_dims)
{
    if (!broadcast_strides(input1_dims, output_dims, &rows->strides1) ||
        !broadcast_strides(input2_dims, output_dims, &rows->strides2)) {
        return 0;
    }
    rows->count = output_dims->n * output_dims->h * output_dims->w; /* <= the output's flat size, < 2^31 */
    rows->height = output_dims->h;
    rows->width = output_dims->w;
    rows->n = rows->y = rows->x = 0;
    rows->offset1 = rows->offset2 = 0;
    return 1;
}

/* Moves to the next row: x, then y, then n. */
static inline void broadcast_rows_next(broadcast_rows_t *rows)
{
    if (++rows->x == rows->width) {
        rows->x = 0;
        if (++rows->y == rows->height) {
            rows->y = 0;
            ++rows->n;
        }
    }
    rows->offset1 = rows->n * rows->strides1.n + rows->y * rows->strides1.h + rows->x * rows->strides1.w;
    rows->offset2 = rows->n * rows->strides2.n + rows->y * rows->strides2.h + rows->x * rows->strides2.w;
}

/* An elementwise op's pointers and dims: non-NULL, valid and equal (any layout). */
static inline wess_status_t elementwise_check(const void *params, const wess_dims_t *input_dims, const void *input,
                                              const wess_dims_t *output_dims, const void *output)
{
    if (params == NULL || input == NULL || output == NULL) {
        return WESS_ERR_BAD_ARG;
    }
    if (!dims_valid(input_dims) || !dims_valid(output_dims) || !dims_equal(input_dims, output_dims)) {
        return WESS_ERR_BAD_SHAPE;
    }
    return WESS_OK;
}

/* TFLite's output geometry along one axis: (output_size, pad_before) is what padding SAME or VALID gives for
 * this input size, dilated filter size, and stride (ComputeOutSize and ComputePaddingHeightWidth). */
static inline int window_geometry_valid(int32_t input_size, int64_t filter_size, int32_t stride, int32_t pad_before,
                                        int32_t output_size)
{
    const int64_t same_output = ((int64_t)input_size + stride - 1) / stride;
    const int64_t same_total_pad = (same_output - 1) * stride + filter_size - input_size;
    const int64_t same_pad = same_total_pad > 0 ? same_total_pad / 2 : 0;
    const int64_t valid_output = ((int64_t)input_size + stride - filter_size) / stride;
    return (output_size == same_output && pad_before == same_pad) ||
           (valid_output >= 1 && output_size == valid_output && pad_before == 0);
}

/* The 2-D window of a convolution (filter_height x filter_width taps, dilated) over input_dims giving output_dims
 * (batch 1): WESS_ERR_BAD_ARG for a stride, dilation or pad out of range, WESS_ERR_UNSUPPORTED for batches,
 * WESS_ERR_BAD_SHAPE when the output size or pads are not what TFLite's SAME or VALID padding gives. */
static inline wess_status_t conv_window_check(int32_t stride_y, int32_t stride_x, int32_t dilation_y,
                                              int32_t dilation_x, int32_t pad_top, int32_t pad_left,
                                              int32_t filter_height, int32_t filter_width,
                                              const wess_dims_t *input_dims, const wess_dims_t *output_dims)
{
    if (stride_y < 1 || stride_x < 1 || dilation_y < 1 || dilation_x < 1) {
        return WESS_ERR_BAD_ARG;
    }
    if (input_dims->n != 1 || output_dims->n != 1) {
        return WESS_ERR_UNSUPPORTED;
    }
    const int64_t filter_extent_y = (int64_t)(filter_height - 1) * dilation_y;  /* dilated extent - 1 */
    const int64_t filter_extent_x = (int64_t)(filter_width - 1) * dilation_x;
    if (pad_top < 0 || pad_top > filter_extent_y || pad_left < 0 || pad_left > filter_extent_x) {
        return WESS_ERR_BAD_ARG;
    }
    if (!window_geometry_valid(input_dims->h, filter_extent_y + 1, stride_y, pad_top, output_dims->h) ||
        !window_geometry_valid(input_dims->w, filter_extent_x + 1, stride_x, pad_left, output_dims->w)) {
        return WESS_ERR_BAD_SHAPE;
    }
    return WESS_OK;
}

/* The checks of an int8 CONV_2D's parameters and shapes: offsets and activation range, valid dims, the window
 * geometry, output channels = filter outputs, and the filter's input channels: the input's (grouped == 0) or a
 * divisor of them whose group count divides the output channels (grouped == 1); the dot length bound. */
static inline wess_status_t conv_s8_check(const wess_conv_params_t *params, const wess_dims_t *input_dims,
                                          const wess_dims_t *filter_dims, const wess_dims_t *output_dims, int grouped)
{
    if (!input_offset_valid(params->input_offset) || !int8_value_valid(params->output_offset) ||
        !activation_valid(params->act_min, params->act_max)) {
        return WESS_ERR_BAD_ARG;
    }
    if (!dims_valid(input_dims) || !dims_valid(filter_dims) || !dims_valid(output_dims)) {
        return WESS_ERR_BAD_SHAPE;
    }
    const wess_status_t status = conv_window_check(params->stride_y, params->stride_x, params->dilation_y,
                                                   params->dilation_x, params->pad_top, params->pad_left,
                                                   filter_dims->h, filter_dims->w, input_dims, output_dims);
    if (status != WESS_OK) {
        return status;
    }
    const int channels_valid = grouped
        ? input_dims->c % filter_dims->c == 0 && output_dims->c % (input_dims->c / filter_dims->c) == 0
        : filter_dims->c == input_dims->c;
    if (!channels_valid || output_dims->c != filter_dims->n) {
        return WESS_ERR_BAD_SHAPE;
    }
    if ((int64_t)filter_dims->h * filter_dims->w * filter_dims->c > WESS_MAX_DOT_LENGTH) {
        return WESS_ERR_UNSUPPORTED;
    }
    return WESS_OK;
}

/* FULLY_CONNECTED shapes: every dims valid, input [N,1,1,I], filter [O,1,1,I], output [N,1,1,O]. */
static inline int fc_dims_valid(const wess_dims_t *input_dims, const wess_dims_t *filter_dims,
                                const wess_dims_t *output_dims)
{
    return dims_valid(input_dims) && dims_valid(filter_dims) && dims_valid(output_dims) &&
           input_dims->h == 1 && input_dims->w == 1 && filter_dims->h == 1 && filter_dims->w == 1 &&
           output_dims->h == 1 && output_dims->w == 1 && filter_dims->c == input_dims->c &&
           output_dims->n == input_dims->n && output_dims->c == filter_dims->n;
}

/* A float fused-activation range: neither bound NaN, act_min <= act_max. */
static inline int float_activation_valid(float act_min, float act_max)
{
    return act_min <= act_max;  /* false when either is NaN */
}

/* TFLite's ActivationFunctionWithMinMax for float: std::min(std::max(value, act_min), act_max), written with the
 * same comparisons so that NaN and the sign of zero come out as TFLite's (a -0.0 total stays -0.0 under RELU). */
static inline float clamp_float(float value, float act_min, float act_max)
{
    const float bounded_below = value < act_min ? act_min : value;
    return act_max < bounded_below ? act_max : bounded_below;
}

/* WESS shift k_c in [0, 15] of a channel: two 4-bit shifts per byte, low nibble = even channel. */
static inline int32_t channel_shift4(const uint8_t *packed, int32_t channel)
{
    if (packed == NULL) {
        return 0;
    }
    const uint8_t pair = packed[channel / 2];
    return (channel % 2 == 0) ? (pair & 0x0F) : (pair >> 4);
}

/* WESS_OK if the requantization table is usable for channel_count output channels. */
static inline wess_status_t requant_check(const wess_requant_t *requant, int32_t channel_count)
{
    if (requant == NULL || requant->multiplier == NULL || requant->right_shift == NULL) {
        return WESS_ERR_BAD_ARG;
    }
    if (requant->multiplier_count != 1 && requant->multiplier_count != channel_count) {
        return WESS_ERR_BAD_ARG;
    }
    for (int32_t index = 0; index < requant->multiplier_count; ++index) {
        if (requant->multiplier[index] < 0 || requant->right_shift[index] < -30 || requant->right_shift[index] > 31) {
            return WESS_ERR_BAD_ARG;
        }
    }
    return WESS_OK;
}

/* clamp(output_offset + requantized, act_min, act_max), computed as clamp(requantized, act_min - output_offset,
 * act_max - output_offset) + output_offset: the same value for every int32 requantized (clamping commutes with
 * adding a constant), and no addition can overflow (the bounds are in [-255, 255]). */
static inline int8_t output_int8(int32_t requantized, int32_t output_offset, int32_t act_min, int32_t act_max)
{
    return (int8_t)(clamp_int32(requantized, act_min - output_offset, act_max - output_offset) + output_offset);
}

/* Output channels that the weighted kernels (conv, depthwise, fully connected) handle together: their
 * requantization constants are decoded once per kernel call into a table of this many entries (1 KiB of
 * stack), and depthwise accumulates this many int32 (256 bytes). A multiple of 4 (Helium requantizes four table
 * entries per vector). */
#define WESS_CHANNEL_BLOCK 64

/* Requantization of one output channel, decoded from wess_requant_t once per kernel call: four words, so that
 * Helium loads four channels' fields with one VLD4 (requant_block.h). multiply_by_quantized_multiplier's exponent
 * is left_shift + minus_right_shift; at most one of the two is nonzero. */
typedef struct {
    int32_t multiplier;         /* Q31 mantissa; 0 when the total right shift exceeds 31 (TFLite flushes to zero) */
    int32_t left_shift;         /* max(-(right_shift + k_c), 0), in [0, 30] */
    int32_t minus_right_shift;  /* min(-(right_shift + k_c), 0), in [-31, 0] */
    int32_t bias;               /* bias[channel], 0 without a bias */
} channel_requant_t;

/* Helium's table fill is requant_block.h's (four channels per vector); this is the others'. */
#if defined(WESS_PORTABLE_KERNELS) || !defined(__ARM_FEATURE_MVE) || !(__ARM_FEATURE_MVE & 1)
/* table[i] = the constants of channel first_channel + i, i < count <= WESS_CHANNEL_BLOCK. */
static inline void channel_requant_block(const wess_requant_t *requant, const int32_t *bias, int32_t first_channel,
                                         int32_t count, channel_requant_t *table)
{
    for (int32_t block_c = 0; block_c < count; ++block_c) {
        const int32_t channel = first_channel + block_c;
        const int32_t index = requant->multiplier_count == 1 ? 0 : channel;
        /* right_shift in [-30, 31] and k_c in [0, 15]: total in [-30, 46] */
        const int32_t total_right_shift = requant->right_shift[index] + channel_shift4(requant->channel_shift4, channel);
        const int flushed = total_right_shift > 31;  /* multiplier 0 gives requantize(acc) == 0 for every acc */
        const int32_t exponent = flushed ? 0 : -total_right_shift;
        table[block_c].multiplier = flushed ? 0 : requant->multiplier[index];
        table[block_c].left_shift = exponent > 0 ? exponent : 0;
        table[block_c].minus_right_shift = exponent < 0 ? exponent : 0;
        table[block_c].bias = bias == NULL ? 0 : bias[channel];
    }
}
#endif

/* The output int8 of one accumulator: add the bias (saturating: TFLite's int32 addition would overflow there),
 * requantize, add the output offset, clamp. The common case, a right shift (no left shift), uses the one-step form
 * of the high multiply (multiplier >= 0, fixedpoint.h); a left shift takes multiply_by_quantized_multiplier. */
static inline int8_t requantize_to_int8(const channel_requant_t *channel, int32_t acc, int32_t output_offset,
                                        int32_t act_min, int32_t act_max)
{
    int32_t biased;
    if (__builtin_add_overflow(acc, channel->bias, &biased)) {
        biased = acc < 0 ? INT32_MIN : INT32_MAX;  /* both addends have the sign of an overflowing sum */
    }
    const int32_t requantized = channel->left_shift == 0
        ? rounding_divide_by_pot(rounding_doubling_high_mul_nonnegative(biased, channel->multiplier),
                                 -channel->minus_right_shift)
        : multiply_by_quantized_multiplier(biased, channel->multiplier, channel->left_shift);
    return output_int8(requantized, output_offset, act_min, act_max);
}

/* Checks shared by AVERAGE_POOL_2D and MAX_POOL_2D. */
static inline wess_status_t pool_check(const wess_pool_params_t *params, const wess_dims_t *input_dims,
                                       const wess_dims_t *output_dims)
{
    if (params->stride_y < 1 || params->stride_x < 1 || params->filter_height < 1 || params->filter_width < 1 ||
        params->pad_top < 0 || params->pad_top >= params->filter_height ||
        params->pad_left < 0 || params->pad_left >= params->filter_width ||
        !activation_valid(params->act_min, params->act_max)) {
        return WESS_ERR_BAD_ARG;
    }
    if (!dims_valid(input_dims) || !dims_valid(output_dims)) {
        return WESS_ERR_BAD_SHAPE;
    }
    if (input_dims->n != 1 || output_dims->n != 1) {
        return WESS_ERR_UNSUPPORTED;
    }
    if (output_dims->c != input_dims->c ||
        !window_geometry_valid(input_dims->h, params->filter_height, params->stride_y, params->pad_top, output_dims->h) ||
        !window_geometry_valid(input_dims->w, params->filter_width, params->stride_x, params->pad_left, output_dims->w)) {
        return WESS_ERR_BAD_SHAPE;
    }
    if ((int64_t)params->filter_height * params->filter_width > WESS_MAX_DOT_LENGTH) {
        return WESS_ERR_UNSUPPORTED;
    }
    return WESS_OK;
}

#endif /* WESS_KERNEL_UTIL_H */
