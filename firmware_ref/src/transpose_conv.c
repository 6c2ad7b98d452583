/* TRANSPOSE_CONV int8 reference kernel: TFLite Micro's per-channel integer TransposeConv, written as a gather (each
 * output sums the input pixels and filter taps that TFLite's scatter adds into it: the same int32 sum, which cannot
 * overflow here) so that it needs no scratch buffer; per-channel or WESS requantization as CONV_2D. */
#include "kernel_util.h"
#include "requant_block.h"
#include "op_table.h"

static wess_status_t transpose_conv_check(const wess_transpose_conv_params_t *params, const wess_dims_t *input_dims,
                                          const wess_dims_t *filter_dims, const wess_dims_t *output_dims)
{
    if (params->stride_y < 1 || params->stride_x < 1 || !input_offset_valid(params->input_offset) ||
        !int8_value_valid(params->output_offset) || !activation_valid(params->act_min, params->act_max)) {
        return WESS_ERR_BAD_ARG;
    }
    if (!dims_valid(input_dims) || !dims_valid(filter_dims) || !dims_valid(output_dims)) {
        return WESS_ERR_BAD_SHAPE;
    }
    if (params->pad_top < 0 || params->pad_top >= filter_dims->h || params->pad_left < 0 ||
        params->pad_left >= filter_dims->w) {
        return WESS_ERR_BAD_ARG;
    }
    if (input_dims->n != 1 || output_dims->n != 1) {
        return WESS_ERR_UNSUPPORTED;
    }
    if (filter_dims->c != input_dims->c || filter_dims->n != output_dims->c) {
        return WESS_ERR_BAD_SHAPE;
    }
    if ((int64_t)filter_dims->h * filter_dims->w * filter_dims->c > WESS_MAX_DOT_LENGTH) {
        return WESS_ERR_UNSUPPORTED;
    }
    return WESS_OK;
}

/* The input index that filter tap `tap` maps onto output index `out` (out = in * stride - pad + tap), or -1 when
 * none does (not a multiple of the stride, or outside the input). */
static int32_t transpose_source(int32_t out, int32_t pad, int32_t tap, int32_t stride, int32_t input_size)
{
    const int64_t shifted = (int64_t)out + pad - tap;  /* in int64: out + pad may pass INT32_MAX */
    if (shifted < 0 || shifted % stride != 0 || shifted / stride >= input_size) {
        return -1;
    }
    return (int32_t)(shifted / stride);
}

wess_status_t wess_transpose_conv_s8(const wess_transpose_conv_params_t *params, const wess_requant_t *requant,
                                     const wess_dims_t *input_dims, const int8_t *input,
                                     const wess_dims_t *filter_dims, const int8_t *filter, const int32_t *bias,
                                     const wess_dims_t *output_dims, int8_t *output)
{
    if (params == NULL || input == NULL || filter == NULL || output == NULL) {
        return WESS_ERR_BAD_ARG;
    }
    wess_status_t status = transpose_conv_check(params, input_dims, filter_dims, output_dims);
    if (status != WESS_OK) {
        return status;
    }
    const int32_t out_channels = output_dims->c, in_channels = input_dims->c;
    status = requant_check(requant, out_channels);
    if (status != WESS_OK) {
        return status;
    }
    const int32_t tap_stride = in_channels, filter_channel_stride = filter_dims->h * filter_dims->w * in_channels;
    channel_requant_t table[WESS_CHANNEL_BLOCK];
    int32_t acc[WESS_CHANNEL_BLOCK];
    for (int32_t first_c = 0; first_c < out_channels; first_c += WESS_CHANNEL_BLOCK) {
        const int32_t block_size = out_channels - first_c < WESS_CHANNEL_BLOCK ? out_channels - first_c
                                                                               : WESS_CHANNEL_BLOCK;
        channel_requant_block(requant, bias, first_c, block_size, table);
        for (int32_t out_y = 0; out_y < output_dims->h; ++out_y) {
            for (int32_t out_x = 0; out_x < output_dims->w; ++out_x) {
                for (int32_t block_c = 0; block_c < block_size; ++block_c) {
                    acc[block_c] = 0;
                }
                /* at most kh * kw * in_ch <= 2^16 terms, each |w * (x + input_offset)| <= 128 * 255: |acc| < 2^31 */
                for (int32_t filter_y = 0; filter_y < filter_dims->h; ++filter_y) {
                    const int32_t in_y = transpose_source(out_y, params->pad_top, filter_y, params->stride_y,
                                                          input_dims->h);
                    if (in_y < 0) {
                        continue;
                    }
                    for (int32_t filter_x = 0; filter_x < filter_dims->w; ++filter_x) {
                        const int32_t in_x = transpose_source(out_x, params->pad_left, filter_x, params->stride_x,
                                                              input_dims->w);
                        if (in_x < 0) {
                            continue;
                        }
                        const int8_t *pixel = input + (in_y * input_dims->w + in_x) * in_channels;
                        const int8_t *taps = filter + (filter_y * filter_dims->w + filter_x) * tap_stride +
                                             first_c * filter_channel_stride;
                        for (int32_t block_c = 0; block_c < block_size; ++block_c) {
                            acc[block_c] += dot_s8_offset(taps + block_c * filter_channel_stride, pixel,
                                                          params->input_offset, in_channels);
                        }
                    }
                }
                int8_t *out = output + (out_y * output_dims->w + out_x) * out_channels + first_c;
                for (int32_t block_c = 0; block_c < block_size; ++block_c) {
                    out[block_c] = requantize_to_int8(&table[block_c], acc[block_c], params->output_offset,
                                                      params->act_min, params->act_max);
                }
            }
        }
    }
    return WESS_OK;
}

/* TRANSPOSE_CONV of a compact model: tensors (input, filter, bias or -1, output: the TFLite operands reordered, the
 * output-shape operand dropped), wess_transpose_conv_params_t words, requantization words. */
wess_status_t transpose_conv_op_run(const model_run_t *model, const model_op_t *op)
{
    const bound_tensor_t input = model_op_tensor(model, op, 0), filter = model_op_tensor(model, op, 1);
    const bound_tensor_t bias = model_op_tensor(model, op, 2), output = model_op_tensor(model, op, 3);
    wess_transpose_conv_params_t params;
    model_op_params(op, &params, sizeof params);
    const wess_requant_t requant = model_op_requant(model, op);
    return wess_transpose_conv_s8(&params, &requant, &input.record.dims, (const int8_t *)input.data,
                                  &filter.record.dims, (const int8_t *)filter.data, (const int32_t *)bias.data,
                                  &output.record.dims, (int8_t *)output.data);
}
