/* CONV_2D int8 reference kernel (TFLite's per-channel integer convolution, WESS requantization). */
#include <string.h>

#include "dot_host.h"
#include "dot_pairs.h"
#include "dot_rows.h"
#include "dot_rows_s4.h"
#include "kernel_util.h"
#include "requant_block.h"
#include "op_table.h"

/* Largest patch (kh * kw * in_ch taps) that the fast path gathers on the stack: 2048 int8 = 2 KiB.
 * Filters with more taps take the direct path, which needs no buffer. */
#define CONV_PATCH_MAX 2048
#if WESS_S4_UNPACK_BYTES > CONV_PATCH_MAX
#error "packed 4-bit rows take the gathered patch: WESS_S4_UNPACK_BYTES must not exceed CONV_PATCH_MAX"
#endif

/* dst[0..count) = src[0..count): on Helium sixteen bytes per VLDRB / VSTRB, the tail predicated (neither reads nor
 * writes past count), inline, since the patch rows are short; elsewhere memcpy. */
static inline void copy_bytes(int8_t *dst, const int8_t *src, int32_t count)
{
#if defined(WESS_DOT_ROWS_MVE)
    for (int32_t k = 0; k < count; k += 16) {
        const mve_pred16_t lanes = vctp8q((uint32_t)(count - k));
        vstrbq_p_s8(dst + k, vldrbq_z_s8(src + k, lanes), lanes);
    }
#else
    memcpy(dst, src, (size_t)count);
#endif
}

/* One output pixel's receptive field, gathered in the filter's (kh, kw, in_ch) order:
 * patch[(filter_y * kw + filter_x) * in_ch + in_c] = the input, or -input_offset (in [-128, 127]) where the tap falls
 * in the padding, so that a padded tap's input + input_offset is 0 and it contributes nothing. A filter row whose
 * taps all lie inside the input with dilation 1 is one contiguous kw * in_ch run of the input: one copy. */
static void conv_gather_patch(const wess_conv_params_t *params, const wess_dims_t *input_dims, const int8_t *input,
                              const wess_dims_t *filter_dims, int32_t in_y_origin, int32_t in_x_origin,
                              int8_t *patch)
{
    const int32_t input_c = input_dims->c, row_length = filter_dims->w * input_c;
    const int8_t padding = (int8_t)-params->input_offset;  /* input_offset in [-127, 128] */
    const int row_inside = params->dilation_x == 1 && in_x_origin >= 0 && in_x_origin + filter_dims->w <= input_dims->w;
    int8_t *tap = patch;
    for (int32_t filter_y = 0; filter_y < filter_dims->h; ++filter_y) {
        const int32_t in_y = in_y_origin + filter_y * params->dilation_y;
        if (in_y < 0 || in_y >= input_dims->h) {
            memset(tap, padding, (size_t)row_length);
            tap += row_length;
            continue;
        }
        const int8_t *input_row = input + in_y * input_dims->w * input_c;
        if (row_inside) {
            copy_bytes(tap, input_row + in_x_origin * input_c, row_length);
            tap += row_length;
            continue;
        }
        for (int32_t filter_x = 0; filter_x < filter_dims->w; ++filter_x, tap += input_c) {
            const int32_t in_x = in_x_origin + filter_x * params->dilation_x;
            if (in_x < 0 || in_x >= input_dims->w) {
                memset(tap, padding, (size_t)input_c);
                continue;
            }
            copy_bytes(tap, input_row + in_x * input_c, input_c);
        }
    }
}

/* acc of one output pixel and channel without a patch: every valid tap's input channels are contiguous in the
 * input and in the filter. */
static int32_t conv_direct_acc(const wess_conv_params_t *params, const wess_dims_t *input_dims, const int8_t *input,
                               const wess_dims_t *filter_dims, const int8_t *filter_channel, int32_t in_y_origin,
                               int32_t in_x_origin)
{
    const int32_t input_c = input_dims->c;
    /* acc: at most kh * kw * in_ch <= 65536 terms (checked), each |filter * (input + input_offset)| <= 128 * 255,
     * so |acc| < 2^31. */
    int32_t acc = 0;
    for (int32_t filter_y = 0; filter_y < filter_dims->h; ++filter_y) {
        const int32_t in_y = in_y_origin + filter_y * params->dilation_y;
        if (in_y < 0 || in_y >= input_dims->h) {
            continue;  /* padded rows contribute zero (input == -input_offset) */
        }
        for (int32_t filter_x = 0; filter_x < filter_dims->w; ++filter_x) {
            const int32_t in_x = in_x_origin + filter_x * params->dilation_x;
            if (in_x < 0 || in_x >= input_dims->w) {
                continue;
            }
            const int8_t *input_pixel = input + (in_y * input_dims->w + in_x) * input_c;
            const int8_t *filter_pixel = filter_channel + (filter_y * filter_dims->w + filter_x) * input_c;
            acc += dot_s8_offset(filter_pixel, input_pixel, params->input_offset, input_c);
        }
    }
    return acc;
}

/* Output pixels conv_2d_pointwise_block takes at a time: two on Helium (dot_pairs.h), one elsewhere. */
#if defined(WESS_DOT_PAIRS_MVE)
#define POINTWISE_PIXELS 2
#else
#define POINTWISE_PIXELS 1
#endif

/* conv_2d_block of a 1x1 filter (no padding, as checked): each output pixel reads one input pixel's in_ch
 * contiguous values, no gather; POINTWISE_PIXELS pixels at a time, an odd last pixel alone (filter_block_dot). */
static void conv_2d_pointwise_block(const wess_conv_params_t *params, const channel_requant_t *channels,
                                    const wess_dims_t *input_dims, const int8_t *input, const filter_block_t *filter,
                                    int32_t dot_offset, int32_t first_out_c, int32_t block_size,
                                    const wess_dims_t *output_dims, int8_t *output)
{
    const int32_t input_c = input_dims->c, output_c = output_dims->c;  /* input_c <= 65536 (checked) */
    const int32_t pixels = output_dims->h * output_dims->w;
    /* acc[member][i]: channel first_out_c + i of pixel + member; |acc| < 2^31 as dot_rows and dot_pairs.h show */
    int32_t acc[POINTWISE_PIXELS][WESS_CHANNEL_BLOCK];
    const int8_t *pixel_input[POINTWISE_PIXELS];
    for (int32_t pixel = 0; pixel < pixels; pixel += POINTWISE_PIXELS) {
        const int32_t step = pixels - pixel < POINTWISE_PIXELS ? pixels - pixel : POINTWISE_PIXELS;
        for (int32_t member = 0; member < step; ++member) {
            const int32_t out_y = (pixel + member) / output_dims->w, out_x = (pixel + member) % output_dims->w;
            const int32_t in_y = out_y * params->stride_y - params->pad_top;
            const int32_t in_x = out_x * params->stride_x - params->pad_left;
            pixel_input[member] = input + (in_y * input_dims->w + in_x) * input_c;
        }
#if defined(WESS_DOT_PAIRS_MVE)
        if (step == 2) {
            filter_block_dot_two_pixels(filter, pixel_input[0], pixel_input[1], dot_offset, input_c, block_size,
                                        acc[0], acc[1]);
        } else
#endif
        {
            filter_block_dot(filter, pixel_input[0], dot_offset, input_c, block_size, acc[0]);
        }
        for (int32_t member = 0; member < step; ++member) {
            requantize_block(channels, acc[member], block_size, params->output_offset, params->act_min,
                             params->act_max, output + (pixel + member) * output_c + first_out_c);
        }
    }
}

#if defined(WESS_HOST_KERNELS)
/* conv_2d_block on the host for a 1x1 filter or a patch of at most CONV_PATCH_MAX taps: every output pixel's input
 * vector (the input pixel of a 1x1 filter, which has no padding, else the gathered patch) against the block's rows,
 * WESS_REQUANT_ROWS pixels requantized per call. Rows of at most HOST_DOT_MAX_LENGTH values are transposed once
 * (dot_host.h) when the layer has at least WESS_REQUANT_ROWS pixels to pay for it; longer rows take dot_rows. */
static WESS_HOST_CLONES void conv_2d_block_host(const wess_conv_params_t *params,
                                                const channel_requant_t *channels, const wess_dims_t *input_dims,
                                                const int8_t *input, const wess_dims_t *filter_dims,
                                                const int8_t *block_filter, int32_t first_out_c, int32_t block_size,
                                                const wess_dims_t *output_dims, int8_t *output)
{
    const int32_t output_c = output_dims->c, input_c = input_dims->c;
    const int32_t patch_length = filter_dims->h * filter_dims->w * input_c;  /* <= 65536 (checked) */
    const int pointwise = filter_dims->h == 1 && filter_dims->w == 1;
    const int32_t pixels = output_dims->h * output_dims->w;
    const int transposed_rows = patch_length <= HOST_DOT_MAX_LENGTH && pixels >= WESS_REQUANT_ROWS;
    int16_t transposed[HOST_DOT_MAX_LENGTH * WESS_CHANNEL_BLOCK];
    if (transposed_rows) {
        host_dot_transpose(block_filter, patch_length, block_size, transposed);
    }
    int8_t patch[2][CONV_PATCH_MAX];  /* two pixels' patches; not used by a 1x1 filter, whose rows may be longer */
    /* acc[row]: the output channels of pixel first_pixel + row (raster order), not yet requantized; |acc| < 2^31 as
     * dot_rows and host_dot show */
    int32_t acc[WESS_REQUANT_ROWS][WESS_CHANNEL_BLOCK];
    int32_t first_pixel = 0;
    for (int32_t pixel = 0; pixel < pixels;) {
        /* two pixels at a time (their rows share the weight loads) where the row group has room for both */
        const int32_t step = pixel + 1 < pixels && pixel + 2 - first_pixel <= WESS_REQUANT_ROWS ? 2 : 1;
        const int8_t *vectors[2];
        for (int32_t member = 0; member < step; ++member) {
            const int32_t in_y_origin = (pixel + member) / output_dims->w * params->stride_y - params->pad_top;
            const int32_t in_x_origin = (pixel + member) % output_dims->w * params->stride_x - params->pad_left;
            vectors[member] = input + (in_y_origin * input_dims->w + in_x_origin) * input_c;
            if (!pointwise) {
                conv_gather_patch(params, input_dims, input, filter_dims, in_y_origin, in_x_origin, patch[member]);
                vectors[member] = patch[member];
            }
        }
        int32_t *pixel_acc = acc[pixel - first_pixel];
        if (transposed_rows) {
            for (int32_t member = 0; member < step; ++member) {
                host_dot(transposed, vectors[member], params->input_offset, patch_length, block_size,
                         acc[pixel + member - first_pixel]);
            }
        } else if (step == 2) {
            host_dot_rows_pair(block_filter, vectors[0], vectors[1], params->input_offset, patch_length, block_size,
                               pixel_acc, acc[pixel + 1 - first_pixel]);
        } else {
            dot_rows(block_filter, vectors[0], params->input_offset, patch_length, block_size, pixel_acc);
        }
        pixel += step;
        if (pixel - first_pixel == WESS_REQUANT_ROWS || pixel == pixels) {
            requantize_rows(channels, (const int32_t (*)[WESS_CHANNEL_BLOCK])acc, pixel - first_pixel, block_size,
                            params->output_offset, params->act_min, params->act_max,
                            output + first_pixel * output_c + first_out_c, output_c);
            first_pixel = pixel;
        }
    }
}
#endif

/* The output channels first_out_c .. first_out_c + block_size - 1 (block_size <= WESS_CHANNEL_BLOCK) at every output
 * pixel: filter holds those channels' filter rows, patch_length values each, back to back (int8, or packed with
 * patch_length <= CONV_PATCH_MAX: packed rows always take the gathered patch). The block's input offset goes into
 * its biases where filter_block_fold can put it (not on the direct path, which skips padded taps instead of reading
 * -input_offset for them). */
static WESS_HOST_CLONES
void conv_2d_block(const wess_conv_params_t *params, channel_requant_t *channels,
                   const wess_dims_t *input_dims, const int8_t *input, const wess_dims_t *filter_dims,
                   const filter_block_t *filter, int32_t first_out_c, int32_t block_size,
                   const wess_dims_t *output_dims, int8_t *output)
{
    const int32_t output_c = output_dims->c;
    const int32_t patch_length = filter_dims->h * filter_dims->w * input_dims->c;  /* <= 65536 (checked) */
    const int pointwise = filter_dims->h == 1 && filter_dims->w == 1;
    const int use_patch = patch_length <= CONV_PATCH_MAX;
#if defined(WESS_HOST_KERNELS)
    if ((pointwise || use_patch) && filter->rows != NULL) {  /* int8 rows; the offset stays in the dot products */
        conv_2d_block_host(params, channels, input_dims, input, filter_dims, filter->rows, first_out_c, block_size,
                           output_dims, output);
        return;
    }
#endif
    const int32_t dot_offset = pointwise || use_patch
        ? filter_block_fold(channels, filter, patch_length, block_size, params->input_offset)
        : params->input_offset;
    if (pointwise) {
        conv_2d_pointwise_block(params, channels, input_dims, input, filter, dot_offset, first_out_c,
                                block_size, output_dims, output);
        return;
    }
    int8_t patch[CONV_PATCH_MAX];
    int32_t acc[WESS_CHANNEL_BLOCK];  /* output channel first_out_c + i of the current pixel */
#if defined(WESS_DOT_PAIRS_MVE)
    if (use_patch && 2 * patch_length <= CONV_PATCH_MAX) {
        /* two pixels' patches side by side in the buffer, then the pointwise pair loop over them */
        int32_t second_acc[WESS_CHANNEL_BLOCK];
        const int32_t pixels = output_dims->h * output_dims->w;
        for (int32_t pixel = 0; pixel < pixels; pixel += 2) {
            const int pair = pixel + 1 < pixels;
            for (int32_t member = 0; member <= pair; ++member) {
                const int32_t out_y = (pixel + member) / output_dims->w, out_x = (pixel + member) % output_dims->w;
                conv_gather_patch(params, input_dims, input, filter_dims, out_y * params->stride_y - params->pad_top,
                                  out_x * params->stride_x - params->pad_left, patch + member * patch_length);
            }
            if (pair) {
                filter_block_dot_two_pixels(filter, patch, patch + patch_length, dot_offset, patch_length,
                                            block_size, acc, second_acc);
                requantize_block(channels, second_acc, block_size, params->output_offset, params->act_min,
                                 params->act_max, output + (pixel + 1) * output_c + first_out_c);
            } else {
                filter_block_dot(filter, patch, dot_offset, patch_length, block_size, acc);
            }
            requantize_block(channels, acc, block_size, params->output_offset, params->act_min, params->act_max,
                             output + pixel * output_c + first_out_c);
        }
        return;
    }
#endif
    for (int32_t out_y = 0; out_y < output_dims->h; ++out_y) {
        const int32_t in_y_origin = out_y * params->stride_y - params->pad_top;
        for (int32_t out_x = 0; out_x < output_dims->w; ++out_x) {
            const int32_t in_x_origin = out_x * params->stride_x - params->pad_left;
            /* acc: |acc| < 2^31 as dot_rows and conv_direct_acc show */
            if (use_patch) {
                conv_gather_patch(params, input_dims, input, filter_dims, in_y_origin, in_x_origin, patch);
                filter_block_dot(filter, patch, dot_offset, patch_length, block_size, acc);
            } else {
                for (int32_t block_c = 0; block_c < block_size; ++block_c) {
                    acc[block_c] = conv_direct_acc(params, input_dims, input, filter_dims,
                                                   filter->rows + block_c * patch_length, in_y_origin, in_x_origin);
                }
            }
            int8_t *output_block = output + (out_y * output_dims->w + out_x) * output_c + first_out_c;
            requantize_block(channels, acc, block_size, params->output_offset, params->act_min, params->act_max,
                             output_block);
        }
    }
}

/* The checks both weight formats share: arguments, shapes, requantization tables. */
static wess_status_t conv_2d_prepare(const wess_conv_params_t *params, const wess_requant_t *requant,
                                     const wess_dims_t *input_dims, const void *input, const wess_dims_t *filter_dims,
                                     const void *filter, const wess_dims_t *output_dims, const void *output)
{
    if (params == NULL || input == NULL || filter == NULL || output == NULL) {
        return WESS_ERR_BAD_ARG;
    }
    const wess_status_t status = conv_s8_check(params, input_dims, filter_dims, output_dims, 0);
    return status != WESS_OK ? status : requant_check(requant, output_dims->c);
}

wess_status_t wess_conv_2d_s8(const wess_conv_params_t *params, const wess_requant_t *requant,
                              const wess_dims_t *input_dims, const int8_t *input,
                              const wess_dims_t *filter_dims, const int8_t *filter, const int32_t *bias,
                              const wess_dims_t *output_dims, int8_t *output)
{
    const wess_status_t status = conv_2d_prepare(params, requant, input_dims, input, filter_dims, filter,
                                                 output_dims, output);
    if (status != WESS_OK) {
        return status;
    }
    const int32_t output_c = output_dims->c;
    const int32_t patch_length = filter_dims->h * filter_dims->w * input_dims->c;
    channel_requant_t channels[WESS_CHANNEL_BLOCK];
    for (int32_t first_out_c = 0; first_out_c < output_c; first_out_c += WESS_CHANNEL_BLOCK) {
        const int32_t block_size = output_c - first_out_c < WESS_CHANNEL_BLOCK ? output_c - first_out_c
                                                                                : WESS_CHANNEL_BLOCK;
        channel_requant_block(requant, bias, first_out_c, block_size, channels);
        const filter_block_t block = {filter + first_out_c * patch_length, NULL, 0};
        conv_2d_block(params, channels, input_dims, input, filter_dims, &block, first_out_c, block_size, output_dims,
                      output);
    }
    return WESS_OK;
}

/* Rows of a packed channel block (block_size rows of patch_length weights) that wess_conv_2d_s4 unpacks at a time,
 * or 0 to read them packed: the whole block when its rows fit the unpack buffer (short rows, the first layers: the
 * int8 loops hold such rows in registers); on DSP builds also as many rows as fit, a multiple of the four dot_rows4
 * takes, when at least four fit: there the int8 loop on unpacked rows plus one more patch gather per sub-block costs
 * fewer instructions than the packed SXTB16 loop (ds_cnn on the Cortex-M4: 1.02x the int8 model's instructions
 * against 1.24x all packed). Helium and portable builds read longer rows packed (resnet8 on the Cortex-M55: 1.05x
 * against 1.29x with sub-blocks; README, "4-bit weights"). */
static int32_t conv_s4_unpacked_rows(int32_t patch_length, int32_t block_size)
{
    const int32_t fit = WESS_S4_UNPACK_BYTES / patch_length;  /* >= 1: patch_length <= WESS_S4_UNPACK_BYTES */
    if (fit >= block_size) {
        return block_size;
    }
#if defined(WESS_DOT_ROWS_DSP)
    if (fit >= WESS_DOT_ROWS) {
        return fit - fit % WESS_DOT_ROWS;
    }
#endif
    return 0;
}

wess_status_t wess_conv_2d_s4(const wess_conv_params_t *params, const wess_requant_t *requant,
                              const wess_dims_t *input_dims, const int8_t *input,
                              const wess_dims_t *filter_dims, const uint8_t *filter_packed, const int32_t *bias,
                              const wess_dims_t *output_dims, int8_t *output)
{
    const wess_status_t status = conv_2d_prepare(params, requant, input_dims, input, filter_dims, filter_packed,
                                                 output_dims, output);
    if (status != WESS_OK) {
        return status;
    }
    const int32_t output_c = output_dims->c;
    const int32_t patch_length = filter_dims->h * filter_dims->w * input_dims->c;
    if (patch_length > WESS_S4_UNPACK_BYTES) {  /* also the gathered patch's limit, CONV_PATCH_MAX */
        return WESS_ERR_UNSUPPORTED;
    }
    /* The int8 kernel's blocking: 64 output channels at a time, each block's rows read packed in place by the dot
     * products of dot_rows_s4.h, or unpacked in sub-blocks of whole rows (conv_s4_unpacked_rows) that run the int8
     * loops. */
    int8_t unpacked[WESS_S4_UNPACK_BYTES];
    channel_requant_t channels[WESS_CHANNEL_BLOCK];
    for (int32_t first_out_c = 0; first_out_c < output_c; first_out_c += WESS_CHANNEL_BLOCK) {
        const int32_t block_size = output_c - first_out_c < WESS_CHANNEL_BLOCK ? output_c - first_out_c
                                                                                : WESS_CHANNEL_BLOCK;
        channel_requant_block(requant, bias, first_out_c, block_size, channels);
        const int32_t rows = conv_s4_unpacked_rows(patch_length, block_size);
        if (rows == 0) {
            const filter_block_t block = {NULL, filter_packed, first_out_c * patch_length};
            conv_2d_block(params, channels, input_dims, input, filter_dims, &block, first_out_c, block_size,
                          output_dims, output);
            continue;
        }
        for (int32_t done = 0; done < block_size; done += rows) {
            const int32_t count = block_size - done < rows ? block_size - done : rows;
            unpack_s4(filter_packed, (first_out_c + done) * patch_length, count * patch_length, unpacked);
            const filter_block_t block = {unpacked, NULL, 0};
            conv_2d_block(params, channels + done, input_dims, input, filter_dims, &block, first_out_c + done, count,
                          output_dims, output);
        }
    }
    return WESS_OK;
}

/* CONV_2D of a compact model: tensors (input, filter, bias or -1, output), wess_conv_params_t words,
 * requantization words. */
wess_status_t conv_2d_op_run(const model_run_t *model, const model_op_t *op)
{
    const bound_tensor_t input = model_op_tensor(model, op, 0), filter = model_op_tensor(model, op, 1);
    const bound_tensor_t bias = model_op_tensor(model, op, 2), output = model_op_tensor(model, op, 3);
    wess_conv_params_t params;
    model_op_params(op, &params, sizeof params);
    const wess_requant_t requant = model_op_requant(model, op);
    return wess_conv_2d_s8(&params, &requant, &input.record.dims, (const int8_t *)input.data, &filter.record.dims,
                           (const int8_t *)filter.data, (const int32_t *)bias.data, &output.record.dims,
                           (int8_t *)output.data);
}

/* CONV_2D with packed 4-bit weights (op code MODEL_OP_INT4_FILTER | CONV_2D): as conv_2d_op_run. */
wess_status_t conv_2d_s4_op_run(const model_run_t *model, const model_op_t *op)
{
    const bound_tensor_t input = model_op_tensor(model, op, 0), filter = model_op_tensor(model, op, 1);
    const bound_tensor_t bias = model_op_tensor(model, op, 2), output = model_op_tensor(model, op, 3);
    wess_conv_params_t params;
    model_op_params(op, &params, sizeof params);
    const wess_requant_t requant = model_op_requant(model, op);
    return wess_conv_2d_s4(&params, &requant, &input.record.dims, (const int8_t *)input.data, &filter.record.dims,
                           filter.data, (const int32_t *)bias.data, &output.record.dims, (int8_t *)output.data);
}
