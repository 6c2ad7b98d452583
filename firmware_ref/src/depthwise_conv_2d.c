/* DEPTHWISE_CONV_2D int8 reference kernel with depth multiplier (TFLite's per-channel integer kernel, WESS requantization). */
#include "kernel_util.h"

static wess_status_t depthwise_check(const wess_depthwise_params_t *params, const wess_dims_t *input_dims,
                                     const wess_dims_t *filter_dims, const wess_dims_t *output_dims)
{
    const wess_conv_params_t *conv = &params->conv;
    if (conv->stride_y < 1 || conv->stride_x < 1 || conv->dilation_y < 1 || conv->dilation_x < 1 ||
        params->depth_multiplier < 1 || !input_offset_valid(conv->input_offset) ||
        !int8_value_valid(conv->output_offset) || !activation_valid(conv->act_min, conv->act_max)) {
        return WESS_ERR_BAD_ARG;
    }
    if (!dims_valid(input_dims) || !dims_valid(filter_dims) || !dims_valid(output_dims)) {
        return WESS_ERR_BAD_SHAPE;
    }
    if (input_dims->n != 1 || output_dims->n != 1) {
        return WESS_ERR_UNSUPPORTED;
    }
    if (filter_dims->n != 1 || (int64_t)input_dims->c * params->depth_multiplier != filter_dims->c ||
        output_dims->c != filter_dims->c) {
        return WESS_ERR_BAD_SHAPE;
    }
    const int64_t filter_extent_y = (int64_t)(filter_dims->h - 1) * conv->dilation_y;  /* dilated extent - 1 */
    const int64_t filter_extent_x = (int64_t)(filter_dims->w - 1) * conv->dilation_x;
    if (conv->pad_top < 0 || conv->pad_top > filter_extent_y || conv->pad_left < 0 || conv->pad_left > filter_extent_x) {
        return WESS_ERR_BAD_ARG;
    }
    if (!window_geometry_valid(input_dims->h, filter_extent_y + 1, conv->stride_y, conv->pad_top, output_dims->h) ||
        !window_geometry_valid(input_dims->w, filter_extent_x + 1, conv->stride_x, conv->pad_left, output_dims->w)) {
        return WESS_ERR_BAD_SHAPE;
    }
    if ((int64_t)filter_dims->h * filter_dims->w > WESS_MAX_DOT_LENGTH) {
        return WESS_ERR_UNSUPPORTED;
    }
    return WESS_OK;
}

wess_status_t wess_depthwise_conv_2d_s8(const wess_depthwise_params_t *params, const wess_requant_t *requant,
                                        const wess_dims_t *input_dims, const int8_t *input,
                                        const wess_dims_t *filter_dims, const int8_t *filter,
                                        const int32_t *bias, const wess_dims_t *output_dims, int8_t *output)
{
    if (params == NULL || input == NULL || filter == NULL || output == NULL) {
        return WESS_ERR_BAD_ARG;
    }
    wess_status_t status = depthwise_check(params, input_dims, filter_dims, output_dims);
    if (status != WESS_OK) {
        return status;
    }
    status = requant_check(requant, output_dims->c);
    if (status != WESS_OK) {
        return status;
    }
    const wess_conv_params_t *conv = &params->conv;
    const int32_t input_h = input_dims->h, input_w = input_dims->w, input_c = input_dims->c;
    const int32_t filter_h = filter_dims->h, filter_w = filter_dims->w, output_c = output_dims->c;
    for (int32_t out_y = 0; out_y < output_dims->h; ++out_y) {
        const int32_t in_y_origin = out_y * conv->stride_y - conv->pad_top;
        for (int32_t out_x = 0; out_x < output_dims->w; ++out_x) {
            const int32_t in_x_origin = out_x * conv->stride_x - conv->pad_left;
            for (int32_t in_c = 0; in_c < input_c; ++in_c) {
                for (int32_t multiplier_index = 0; multiplier_index < params->depth_multiplier; ++multiplier_index) {
                    const int32_t out_c = in_c * params->depth_multiplier + multiplier_index;
                    /* acc: at most kh * kw <= 65536 terms (checked), each
                     * |filter * (input + input_offset)| <= 128 * 255, so |acc| < 2^31. */
                    int32_t acc = 0;
                    for (int32_t filter_y = 0; filter_y < filter_h; ++filter_y) {
                        const int32_t in_y = in_y_origin + filter_y * conv->dilation_y;
                        if (in_y < 0 || in_y >= input_h) {
                            continue;  /* padded rows contribute zero (input == -input_offset) */
                        }
                        for (int32_t filter_x = 0; filter_x < filter_w; ++filter_x) {
                            const int32_t in_x = in_x_origin + filter_x * conv->dilation_x;
                            if (in_x < 0 || in_x >= input_w) {
                                continue;
                            }
                            const int32_t input_value = input[(in_y * input_w + in_x) * input_c + in_c];
                            const int32_t filter_value = filter[(filter_y * filter_w + filter_x) * output_c + out_c];
                            acc += filter_value * (input_value + conv->input_offset);
                        }
                    }
                    const int32_t requantized = requant_channel(requant, out_c, add_bias(acc, bias, out_c));
                    output[(out_y * output_dims->w + out_x) * output_c + out_c] =
                        output_int8(requantized, conv->output_offset, conv->act_min, conv->act_max);
                }
            }
        }
    }
    return WESS_OK;
}
