/* DEPTHWISE_CONV_2D int8 kernel with depth multiplier (TFLite's per-channel integer kernel, WESS requantization). */
#include <string.h>

#include "dot_rows.h"
#include "dot_rows_s4.h"
#include "kernel_util.h"
#include "requant_block.h"
#include "op_table.h"

static wess_status_t depthwise_check(const wess_depthwise_params_t *params, const wess_dims_t *input_dims,
                                     const wess_dims_t *filter_dims, const wess_dims_t *output_dims)
{
    const wess_conv_params_t *conv = &params->conv;
    if (params->depth_multiplier < 1 || !input_offset_valid(conv->input_offset) ||
        !int8_value_valid(conv->output_offset) || !activation_valid(conv->act_min, conv->act_max)) {
        return WESS_ERR_BAD_ARG;
    }
    if (!dims_valid(input_dims) || !dims_valid(filter_dims) || !dims_valid(output_dims)) {
        return WESS_ERR_BAD_SHAPE;
    }
    const wess_status_t status = conv_window_check(conv->stride_y, conv->stride_x, conv->dilation_y,
                                                   conv->dilation_x, conv->pad_top, conv->pad_left,
                                                   filter_dims->h, filter_dims->w, input_dims, output_dims);
    if (status != WESS_OK) {
        return status;
    }
    if (filter_dims->n != 1 || (int64_t)input_dims->c * params->depth_multiplier != filter_dims->c ||
        output_dims->c != filter_dims->c) {
        return WESS_ERR_BAD_SHAPE;
    }
    if ((int64_t)filter_dims->h * filter_dims->w > WESS_MAX_DOT_LENGTH) {
        return WESS_ERR_UNSUPPORTED;
    }
    return WESS_OK;
}

/* acc[i] += filter[i] * (input[(first_out_c + i) / depth_multiplier] + input_offset) for the block's output
 * channels at one filter tap; filter and the block's input channels start at that tap. */
static void depthwise_accumulate_tap(const int8_t *filter, const int8_t *input_pixel, int32_t input_offset,
                                     int32_t depth_multiplier, int32_t first_out_c, int32_t block_size, int32_t *acc)
{
    const int16_t offset = (int16_t)input_offset;  /* [-127, 128] */
    if (depth_multiplier == 1) {  /* output channel i reads input channel i: both contiguous */
        const int8_t *input_block = input_pixel + first_out_c;
        for (int32_t block_c = 0; block_c < block_size; ++block_c) {
            acc[block_c] += filter[block_c] * (int16_t)(input_block[block_c] + offset);
        }
        return;
    }
    for (int32_t block_c = 0; block_c < block_size; ++block_c) {
        const int32_t in_c = (first_out_c + block_c) / depth_multiplier;
        acc[block_c] += filter[block_c] * (int16_t)(input_pixel[in_c] + offset);
    }
}

#if defined(WESS_DOT_ROWS_MVE) || defined(WESS_DOT_ROWS_DSP)
/* The taps of one output pixel that lie inside the input, as element offsets and steps: the valid taps form a
 * rows x columns rectangle of the filter (the rest fall in the padding and contribute zero, input ==
 * -input_offset there). Offsets are from the input's / block filter's first element (channel 0, pixel / tap (0, 0));
 * both are 0 when the rectangle is empty. */
typedef struct {
    int32_t input_start, filter_start;  /* the first valid tap */
    int32_t rows, columns;              /* valid taps along the filter's height and width (>= 0) */
    int32_t input_x_step, input_y_step;  /* between taps along x / y: dilation * channels, dilation * w * channels */
    int32_t filter_x_step, filter_y_step;  /* filter_stride, kw * filter_stride */
} depthwise_window_t;

/* The taps [*first, *end) of one axis whose input coordinate origin + tap * dilation lies in [0, extent):
 * dilation >= 1, origin >= -(kernel - 1) * dilation (the padding is at most the filter extent, checked), so no
 * value below overflows. */
static void tap_range(int32_t origin, int32_t dilation, int32_t kernel, int32_t extent, int32_t *first,
                      int32_t *end)
{
    const int32_t room = extent - origin;  /* taps with tap * dilation < room are inside */
    if (dilation == 1) {  /* the common case, without divisions */
        *first = origin < 0 ? -origin : 0;
        const int32_t limit = room <= 0 ? 0 : room;
        *end = limit < kernel ? limit : kernel;
        return;
    }
    *first = origin < 0 ? (-origin + dilation - 1) / dilation : 0;
    const int32_t limit = room <= 0 ? 0 : (room + dilation - 1) / dilation;
    *end = limit < kernel ? limit : kernel;
}

/* The window of the output pixel whose taps start at (in_y_origin, in_x_origin); filter_stride as for
 * depthwise_pixel_acc. */
static void depthwise_window(const wess_conv_params_t *conv, const wess_dims_t *input_dims,
                             const wess_dims_t *filter_dims, int32_t filter_stride, int32_t in_y_origin,
                             int32_t in_x_origin, depthwise_window_t *window)
{
    int32_t y_first, y_end, x_first, x_end;
    tap_range(in_y_origin, conv->dilation_y, filter_dims->h, input_dims->h, &y_first, &y_end);
    tap_range(in_x_origin, conv->dilation_x, filter_dims->w, input_dims->w, &x_first, &x_end);
    const int32_t channels = input_dims->c;
    const int empty = y_end <= y_first || x_end <= x_first;
    window->rows = empty ? 0 : y_end - y_first;
    window->columns = empty ? 0 : x_end - x_first;
    window->input_start = empty ? 0 : ((in_y_origin + y_first * conv->dilation_y) * input_dims->w + in_x_origin +
                                       x_first * conv->dilation_x) * channels;
    window->filter_start = empty ? 0 : (y_first * filter_dims->w + x_first) * filter_stride;
    window->input_x_step = conv->dilation_x * channels;
    window->input_y_step = conv->dilation_y * input_dims->w * channels;
    window->filter_x_step = filter_stride;
    window->filter_y_step = filter_dims->w * filter_stride;
}

#endif

#if defined(WESS_DOT_ROWS_MVE)
/* Output channels one Helium group accumulates together (eight int16 lanes) and requantizes as two vectors of four. */
#define DEPTHWISE_GROUP 8

/* The accumulators of one group of eight channels over the window's taps, channels 0..3 in *low and 4..7 in *high:
 * input / filter point at the group's first channel of pixel / tap (0, 0). VLDRB.S16 widens eight int8 values to
 * int16 lanes, VMULLB / VMULLT give the even / odd lanes' products as int32 (|w * (x + input_offset)| <= 128 * 255)
 * and two VADD keep the even and odd channels' sums; VST2 to a small buffer puts the eight sums back in channel
 * order. with_offset (compile-time): the sums start at 0 and the lanes hold x + input_offset (in [-255, 255], an
 * int16); without it they start at input_offset times the sum of the channel's weights over every tap
 * (window_offset, de-interleaved by VLD2) and the lanes hold x: the same exact sum when the window holds every tap
 * (depthwise_row_mve); each term and partial sum is bounded as in wess_depthwise_conv_2d_s8 (|input_offset * sum w|
 * <= 2^30, |sum w * x| <= 2^30) and the lanes' additions are modular, so the int32 result is that exact sum. full
 * (compile-time 1 for eight channels) loads without a predicate; otherwise `lanes` (int16 lanes) says which
 * channels exist, and the inactive lanes are neither read nor summed. Always inlined: one loop per case. */
static inline __attribute__((always_inline)) void depthwise_group_sums(const depthwise_window_t *window,
                                                                       const int8_t *input, const int8_t *filter,
                                                                       int16_t input_offset, int with_offset,
                                                                       const int32_t *window_offset,
                                                                       mve_pred16_t lanes, int full,
                                                                       int32x4_t *low, int32x4_t *high)
{
    int32x4_t sum_even = vdupq_n_s32(0), sum_odd = vdupq_n_s32(0);  /* channels 0, 2, 4, 6 and 1, 3, 5, 7 */
    if (!with_offset) {
        const int32x4x2_t start = vld2q_s32(window_offset);
        sum_even = start.val[0];
        sum_odd = start.val[1];
    }
    const int8_t *input_row = input + window->input_start, *filter_row = filter + window->filter_start;
    for (int32_t row = 0; row < window->rows; ++row) {
        const int8_t *x = input_row, *w = filter_row;
        for (int32_t column = 0; column < window->columns; ++column) {
            int16x8_t input16 = full ? vldrbq_s16(x) : vldrbq_z_s16(x, lanes);
            const int16x8_t weight16 = full ? vldrbq_s16(w) : vldrbq_z_s16(w, lanes);
            if (with_offset) {
                input16 = vaddq_n_s16(input16, input_offset);
            }
            sum_even = vaddq_s32(sum_even, vmullbq_int_s16(input16, weight16));
            sum_odd = vaddq_s32(sum_odd, vmulltq_int_s16(input16, weight16));
            x += window->input_x_step;
            w += window->filter_x_step;
        }
        input_row += window->input_y_step;
        filter_row += window->filter_y_step;
    }
    int32_t ordered[DEPTHWISE_GROUP];
    const int32x4x2_t sums = {{sum_even, sum_odd}};
    vst2q_s32(ordered, sums);
    *low = vldrwq_s32(ordered);
    *high = vldrwq_s32(ordered + 4);
}

/* The sums of one group of eight channels at one pixel, the loop chosen by whether the window holds every tap
 * (window_offset: input_offset times each channel's weight sum over all taps, depthwise_window_offsets; not read
 * when all_taps is 0). */
static inline __attribute__((always_inline)) void depthwise_group_pixel(const depthwise_window_t *window,
                                                                        int all_taps, const int8_t *input,
                                                                        const int8_t *filter,
                                                                        const int32_t *window_offset,
                                                                        int32_t input_offset, mve_pred16_t lanes,
                                                                        int full, int32x4_t *low, int32x4_t *high)
{
    if (all_taps) {
        depthwise_group_sums(window, input, filter, 0, 0, window_offset, lanes, full, low, high);
    } else {
        depthwise_group_sums(window, input, filter, (int16_t)input_offset, 1, window_offset, lanes, full, low,
                             high);
    }
}

/* Output pixels from which a depthwise layer precomputes its window offsets (measured on mobilenet_v1: its 2x2 and
 * 1x1 layers, most of whose windows are cut by the padding, ran slower with them). */
#define DEPTHWISE_WINDOW_OFFSET_PIXELS 16

/* window_offset[i] = input_offset * (sum over every tap of block_filter[tap * filter_stride + i]) for i < count,
 * 0 up to the next multiple of 8 (WESS_CHANNEL_BLOCK entries are there): |.| <= 128 * 128 * 65536 = 2^30. */
static void depthwise_window_offsets(const int8_t *block_filter, int32_t filter_stride, int32_t taps,
                                     int32_t count, int32_t input_offset, int32_t *window_offset)
{
    for (int32_t group = 0; group < count; group += 4) {
        const mve_pred16_t lanes = vctp32q((uint32_t)(count - group));
        int32x4_t sum = vdupq_n_s32(0);
        for (int32_t tap = 0; tap < taps; ++tap) {
            sum = vaddq_s32(sum, vldrbq_z_s32(block_filter + tap * filter_stride + group, lanes));
        }
        vstrwq_s32(window_offset + group, vmulq_n_s32(sum, input_offset));
    }
    for (int32_t index = (count + 3) / 4 * 4; index % 8 != 0; ++index) {
        window_offset[index] = 0;
    }
}

/* Helium, depth multiplier 1: the block's outputs at the output pixels (out_y, 0 .. output_w - 1), output[pixel *
 * output_c + i] for i < block_size, eight channels at a time: each group's sums stay in two vectors from the taps
 * to the requantization (requantize4_mve) and the stores of their bytes; a last partial group is predicated (its
 * table entries exist: the block's table has WESS_CHANNEL_BLOCK entries, a multiple of 8). input / filter point at
 * the block's first channel of pixel / tap (0, 0); channels is the block's table; window_offset (WESS_CHANNEL_BLOCK
 * entries) holds depthwise_window_offsets' values when use_window_offset is 1, and the pixels whose window holds
 * every tap start from them. One call per output row (WESS_DOT_LOOP), so that the loops get the registers. */
WESS_DOT_LOOP void depthwise_row_mve(const wess_conv_params_t *conv, const wess_dims_t *input_dims,
                                     const wess_dims_t *filter_dims, int32_t filter_stride, const int8_t *input,
                                     const int8_t *filter, const int32_t *window_offset, int use_window_offset,
                                     const channel_requant_t *channels, int32_t block_size, int32_t out_y,
                                     int32_t output_w, int32_t output_c, int8_t *output)
{
    const int32x4_t act_min = vdupq_n_s32(conv->act_min), act_max = vdupq_n_s32(conv->act_max);
    const mve_pred16_t all = 0xFFFF;  /* every lane */
    const int32_t whole = block_size - block_size % DEPTHWISE_GROUP;
    const int32_t rest = block_size - whole;  /* 0 .. 7 channels in a last partial group */
    const mve_pred16_t rest_lanes = vctp16q((uint32_t)rest);  /* the partial group's channels, int16 lanes */
    const mve_pred16_t rest_low = vctp32q((uint32_t)rest), rest_high = vctp32q((uint32_t)(rest > 4 ? rest - 4 : 0));
    for (int32_t out_x = 0; out_x < output_w; ++out_x, output += output_c) {
        depthwise_window_t window;  /* the valid taps, found once for every group */
        depthwise_window(conv, input_dims, filter_dims, filter_stride, out_y * conv->stride_y - conv->pad_top,
                         out_x * conv->stride_x - conv->pad_left, &window);
        const int all_taps = use_window_offset && window.rows == filter_dims->h && window.columns == filter_dims->w;
        int32x4_t low, high;
        for (int32_t group = 0; group < whole; group += DEPTHWISE_GROUP) {
            depthwise_group_pixel(&window, all_taps, input + group, filter + group, window_offset + group,
                                  conv->input_offset, all, 1, &low, &high);
            requantize4_mve(channels + group, low, all, conv->output_offset, act_min, act_max, output + group);
            requantize4_mve(channels + group + 4, high, all, conv->output_offset, act_min, act_max,
                            output + group + 4);
        }
        if (rest != 0) {
            depthwise_group_pixel(&window, all_taps, input + whole, filter + whole, window_offset + whole,
                                  conv->input_offset, rest_lanes, 0, &low, &high);
            requantize4_mve(channels + whole, low, rest_low, conv->output_offset, act_min, act_max, output + whole);
            requantize4_mve(channels + whole + 4, high, rest_high, conv->output_offset, act_min, act_max,
                            output + whole + 4);
        }
    }
}
#elif defined(WESS_DOT_ROWS_DSP)
/* Output channels depthwise_group_acc accumulates together (the four int8 values of one word on DSP). */
#define DEPTHWISE_GROUP 4

/* DSP, depth multiplier 1: acc[i] as the Helium depthwise_group_acc, i < count <= DEPTHWISE_GROUP. A whole group
 * loads four channels' inputs and weights as one word each, SXTB16 splits them into int16 pairs (channels 0, 2 and
 * 1, 3), SADD16 adds the input offset (x + input_offset in [-255, 255] fits a lane) and SMLABB / SMLATT add each
 * lane's product to its channel's sum, four sums in registers across the taps; bounds of the sums as in
 * wess_depthwise_conv_2d_s8. A partial group takes the scalar loop. Reads only the group's count channels. */
static __attribute__((noinline, optimize("O2"))) void depthwise_group_acc(const depthwise_window_t *window,
                                                                        const int8_t *input, const int8_t *filter,
                                int32_t input_offset, int32_t count, int32_t *acc)
{
    const int8_t *input_row = input + window->input_start, *filter_row = filter + window->filter_start;
    if (count < DEPTHWISE_GROUP) {
        for (int32_t channel = 0; channel < count; ++channel) {
            acc[channel] = 0;
        }
        for (int32_t row = 0; row < window->rows; ++row) {
            const int8_t *x = input_row, *w = filter_row;
            for (int32_t column = 0; column < window->columns; ++column) {
                for (int32_t channel = 0; channel < count; ++channel) {
                    acc[channel] += w[channel] * (x[channel] + input_offset);
                }
                x += window->input_x_step;
                w += window->filter_x_step;
            }
            input_row += window->input_y_step;
            filter_row += window->filter_y_step;
        }
        return;
    }
    const uint32_t offset_pair = ((uint32_t)(uint16_t)input_offset << 16) | (uint16_t)input_offset;
    int32_t acc0 = 0, acc1 = 0, acc2 = 0, acc3 = 0;  /* channels 0 .. 3 */
    for (int32_t row = 0; row < window->rows; ++row) {
        const int8_t *x = input_row, *w = filter_row;
        for (int32_t column = 0; column < window->columns; ++column) {
            uint32_t input_word, weight_word;
            memcpy(&input_word, x, 4);  /* unaligned word loads (LDR) */
            memcpy(&weight_word, w, 4);
            const uint32_t x_even = __sadd16(__sxtb16(input_word), offset_pair);  /* channels 0, 2 */
            const uint32_t x_odd = __sadd16(sxtb16_odd(input_word), offset_pair);  /* 1, 3 */
            const uint32_t w_even = __sxtb16(weight_word), w_odd = sxtb16_odd(weight_word);
            acc0 = __smlabb(x_even, w_even, acc0);
            acc2 = __smlatt(x_even, w_even, acc2);
            acc1 = __smlabb(x_odd, w_odd, acc1);
            acc3 = __smlatt(x_odd, w_odd, acc3);
            x += window->input_x_step;
            w += window->filter_x_step;
        }
        input_row += window->input_y_step;
        filter_row += window->filter_y_step;
    }
    acc[0] = acc0;
    acc[1] = acc1;
    acc[2] = acc2;
    acc[3] = acc3;
}
#endif

/* acc[i] = the accumulator of output channel first_out_c + i at the output pixel whose window starts at
 * (in_y_origin, in_x_origin), i < block_size: the sum over the taps inside the input (padded taps contribute zero,
 * input == -input_offset there). block_filter[tap * filter_stride + i] is channel first_out_c + i's weight at tap
 * (filter_y * kw + filter_x). */
static WESS_HOST_CLONES
void depthwise_pixel_acc(const wess_depthwise_params_t *params, const wess_dims_t *input_dims, const int8_t *input,
                         const wess_dims_t *filter_dims, const int8_t *block_filter, int32_t filter_stride,
                         int32_t first_out_c, int32_t block_size, int32_t in_y_origin, int32_t in_x_origin,
                         int32_t *acc)
{
    const wess_conv_params_t *conv = &params->conv;
#if defined(WESS_DOT_ROWS_DSP)
    if (params->depth_multiplier == 1) {
        depthwise_window_t window;  /* the valid taps, found once for every group */
        depthwise_window(conv, input_dims, filter_dims, filter_stride, in_y_origin, in_x_origin, &window);
        for (int32_t group = 0; group < block_size; group += DEPTHWISE_GROUP) {
            const int32_t count = block_size - group < DEPTHWISE_GROUP ? block_size - group : DEPTHWISE_GROUP;
            depthwise_group_acc(&window, input + first_out_c + group, block_filter + group, conv->input_offset,
                                count, acc + group);
        }
        return;
    }
#endif
    for (int32_t block_c = 0; block_c < block_size; ++block_c) {
        acc[block_c] = 0;
    }
    for (int32_t filter_y = 0; filter_y < filter_dims->h; ++filter_y) {
        const int32_t in_y = in_y_origin + filter_y * conv->dilation_y;
        if (in_y < 0 || in_y >= input_dims->h) {
            continue;
        }
        for (int32_t filter_x = 0; filter_x < filter_dims->w; ++filter_x) {
            const int32_t in_x = in_x_origin + filter_x * conv->dilation_x;
            if (in_x < 0 || in_x >= input_dims->w) {
                continue;
            }
            depthwise_accumulate_tap(block_filter + (filter_y * filter_dims->w + filter_x) * filter_stride,
                                     input + (in_y * input_dims->w + in_x) * input_dims->c, conv->input_offset,
                                     params->depth_multiplier, first_out_c, block_size, acc);
        }
    }
}

/* The checks both weight formats share: arguments, shapes, requantization tables. */
static wess_status_t depthwise_prepare(const wess_depthwise_params_t *params, const wess_requant_t *requant,
                                       const wess_dims_t *input_dims, const void *input,
                                       const wess_dims_t *filter_dims, const void *filter,
                                       const wess_dims_t *output_dims, const void *output)
{
    if (params == NULL || input == NULL || filter == NULL || output == NULL) {
        return WESS_ERR_BAD_ARG;
    }
    const wess_status_t status = depthwise_check(params, input_dims, filter_dims, output_dims);
    return status != WESS_OK ? status : requant_check(requant, output_dims->c);
}

/* The output channels first_out_c .. first_out_c + block_size - 1 (block_size <= WESS_CHANNEL_BLOCK) at every output
 * pixel; block_filter and filter_stride as for depthwise_pixel_acc. */
static WESS_HOST_CLONES
void depthwise_block(const wess_depthwise_params_t *params, const channel_requant_t *channels,
                     const wess_dims_t *input_dims, const int8_t *input, const wess_dims_t *filter_dims,
                     const int8_t *block_filter, int32_t filter_stride, int32_t first_out_c, int32_t block_size,
                     const wess_dims_t *output_dims, int8_t *output)
{
    const wess_conv_params_t *conv = &params->conv;
    /* accumulators of output channel first_out_c + i: at most kh * kw <= 65536 terms (checked), each
     * |filter * (input + input_offset)| <= 128 * 255, so |acc| < 2^31. */
#if defined(WESS_DOT_ROWS_MVE)
    if (params->depth_multiplier == 1) {
        int32_t acc[WESS_CHANNEL_BLOCK];
        /* input_offset * each channel's weight sum, for the pixels whose window holds every tap: worth its cost
         * (a pass over the block's weights) only in layers of many pixels (NULL: every pixel adds the offset) */
        int32_t *window_offset = acc;
        const int use_window_offset = output_dims->h * output_dims->w >= DEPTHWISE_WINDOW_OFFSET_PIXELS;
        if (use_window_offset) {
            depthwise_window_offsets(block_filter, filter_stride, filter_dims->h * filter_dims->w, block_size,
                                     conv->input_offset, window_offset);
        }
        for (int32_t out_y = 0; out_y < output_dims->h; ++out_y) {
            depthwise_row_mve(conv, input_dims, filter_dims, filter_stride, input + first_out_c, block_filter,
                              window_offset, use_window_offset, channels, block_size, out_y, output_dims->w,
                              output_dims->c,
                              output + out_y * output_dims->w * output_dims->c + first_out_c);
        }
        return;
    }
#endif
#if defined(WESS_HOST_KERNELS)
    /* rows_acc[row]: the pixel first_pixel + row, the pixels (in raster order) not yet requantized */
    int32_t rows_acc[WESS_REQUANT_ROWS][WESS_CHANNEL_BLOCK];
    const int32_t pixels = output_dims->h * output_dims->w;
    int32_t first_pixel = 0;
    for (int32_t out_y = 0; out_y < output_dims->h; ++out_y) {
        const int32_t in_y_origin = out_y * conv->stride_y - conv->pad_top;
        for (int32_t out_x = 0; out_x < output_dims->w; ++out_x) {
            const int32_t in_x_origin = out_x * conv->stride_x - conv->pad_left;
            const int32_t pixel = out_y * output_dims->w + out_x;
            depthwise_pixel_acc(params, input_dims, input, filter_dims, block_filter, filter_stride, first_out_c,
                                block_size, in_y_origin, in_x_origin, rows_acc[pixel - first_pixel]);
            if (pixel + 1 - first_pixel == WESS_REQUANT_ROWS || pixel + 1 == pixels) {
                requantize_rows(channels, (const int32_t (*)[WESS_CHANNEL_BLOCK])rows_acc, pixel + 1 - first_pixel,
                                block_size, conv->output_offset, conv->act_min, conv->act_max,
                                output + first_pixel * output_dims->c + first_out_c, output_dims->c);
                first_pixel = pixel + 1;
            }
        }
    }
#else
    int32_t acc[WESS_CHANNEL_BLOCK];
    for (int32_t out_y = 0; out_y < output_dims->h; ++out_y) {
        const int32_t in_y_origin = out_y * conv->stride_y - conv->pad_top;
        for (int32_t out_x = 0; out_x < output_dims->w; ++out_x) {
            const int32_t in_x_origin = out_x * conv->stride_x - conv->pad_left;
            depthwise_pixel_acc(params, input_dims, input, filter_dims, block_filter, filter_stride, first_out_c,
                                block_size, in_y_origin, in_x_origin, acc);
            int8_t *output_block = output + (out_y * output_dims->w + out_x) * output_dims->c + first_out_c;
            requantize_block(channels, acc, block_size, conv->output_offset, conv->act_min, conv->act_max,
                             output_block);
        }
    }
#endif
}

wess_status_t wess_depthwise_conv_2d_s8(const wess_depthwise_params_t *params, const wess_requant_t *requant,
                                        const wess_dims_t *input_dims, const int8_t *input,
                                        const wess_dims_t *filter_dims, const int8_t *filter,
                                        const int32_t *bias, const wess_dims_t *output_dims, int8_t *output)
{
    const wess_status_t status = depthwise_prepare(params, requant, input_dims, input, filter_dims, filter,
                                                   output_dims, output);
    if (status != WESS_OK) {
        return status;
    }
    const int32_t output_c = output_dims->c;
    channel_requant_t channels[WESS_CHANNEL_BLOCK];
    for (int32_t first_out_c = 0; first_out_c < output_c; first_out_c += WESS_CHANNEL_BLOCK) {
        const int32_t block_size = output_c - first_out_c < WESS_CHANNEL_BLOCK ? output_c - first_out_c
                                                                                : WESS_CHANNEL_BLOCK;
        channel_requant_block(requant, bias, first_out_c, block_size, channels);
        depthwise_block(params, channels, input_dims, input, filter_dims, filter + first_out_c, output_c,
                        first_out_c, block_size, output_dims, output);
    }
    return WESS_OK;
}

wess_status_t wess_depthwise_conv_2d_s4(const wess_depthwise_params_t *params, const wess_requant_t *requant,
                                        const wess_dims_t *input_dims, const int8_t *input,
                                        const wess_dims_t *filter_dims, const uint8_t *filter_packed,
                                        const int32_t *bias, const wess_dims_t *output_dims, int8_t *output)
{
    const wess_status_t status = depthwise_prepare(params, requant, input_dims, input, filter_dims, filter_packed,
                                                   output_dims, output);
    if (status != WESS_OK) {
        return status;
    }
    const int32_t output_c = output_dims->c, taps = filter_dims->h * filter_dims->w;
    const int32_t rows = output_c < WESS_CHANNEL_BLOCK ? output_c : WESS_CHANNEL_BLOCK;
    if ((int64_t)taps * rows > WESS_S4_UNPACK_BYTES) {
        return WESS_ERR_UNSUPPORTED;
    }
    int8_t unpacked[WESS_S4_UNPACK_BYTES];  /* [tap][block channel], block_size channels per tap */
    channel_requant_t channels[WESS_CHANNEL_BLOCK];
    for (int32_t first_out_c = 0; first_out_c < output_c; first_out_c += WESS_CHANNEL_BLOCK) {
        const int32_t block_size = output_c - first_out_c < WESS_CHANNEL_BLOCK ? output_c - first_out_c
                                                                                : WESS_CHANNEL_BLOCK;
        channel_requant_block(requant, bias, first_out_c, block_size, channels);
        for (int32_t tap = 0; tap < taps; ++tap) {
            unpack_s4(filter_packed, tap * output_c + first_out_c, block_size, unpacked + tap * block_size);
        }
        depthwise_block(params, channels, input_dims, input, filter_dims, unpacked, block_size, first_out_c,
                        block_size, output_dims, output);
    }
    return WESS_OK;
}

/* DEPTHWISE_CONV_2D of a compact model: tensors (input, filter, bias or -1, output),
 * wess_depthwise_params_t words, requantization words. */
wess_status_t depthwise_conv_2d_op_run(const model_run_t *model, const model_op_t *op)
{
    const bound_tensor_t input = model_op_tensor(model, op, 0), filter = model_op_tensor(model, op, 1);
    const bound_tensor_t bias = model_op_tensor(model, op, 2), output = model_op_tensor(model, op, 3);
    wess_depthwise_params_t params;
    model_op_params(op, &params, sizeof params);
    const wess_requant_t requant = model_op_requant(model, op);
    return wess_depthwise_conv_2d_s8(&params, &requant, &input.record.dims, (const int8_t *)input.data,
                                     &filter.record.dims, (const int8_t *)filter.data, (const int32_t *)bias.data,
                                     &output.record.dims, (int8_t *)output.data);
}

/* DEPTHWISE_CONV_2D with packed 4-bit weights (op code MODEL_OP_INT4_FILTER | DEPTHWISE_CONV_2D): as
 * depthwise_conv_2d_op_run. */
wess_status_t depthwise_conv_2d_s4_op_run(const model_run_t *model, const model_op_t *op)
{
    const bound_tensor_t input = model_op_tensor(model, op, 0), filter = model_op_tensor(model, op, 1);
    const bound_tensor_t bias = model_op_tensor(model, op, 2), output = model_op_tensor(model, op, 3);
    wess_depthwise_params_t params;
    model_op_params(op, &params, sizeof params);
    const wess_requant_t requant = model_op_requant(model, op);
    return wess_depthwise_conv_2d_s4(&params, &requant, &input.record.dims, (const int8_t *)input.data,
                                     &filter.record.dims, filter.data, (const int32_t *)bias.data,
                                     &output.record.dims, (int8_t *)output.data);
}
