/* CONV_2D int8 reference kernel for a grouped filter (TFLite's ConvPerChannel with groups = input channels /
 * filter input channels): output channel c reads only the input channels of its group, c / (out_ch / groups). */
#include "kernel_util.h"
#include "op_table.h"
#include "requant_block.h"

/* acc of one output pixel and channel: the group's input channels at every tap inside the input (a padded tap's
 * input is -input_offset: it contributes nothing). */
static int32_t conv_grouped_acc(const wess_conv_params_t *params, const wess_dims_t *input_dims, const int8_t *input,
                                const wess_dims_t *filter_dims, const int8_t *filter_channel,
                                int32_t first_input_c, int32_t in_y_origin, int32_t in_x_origin)
{
    /* acc: at most kh * kw * group_c <= WESS_MAX_DOT_LENGTH terms (checked), each |filter * (input +
     * input_offset)| <= 128 * 255, so |acc| < 2^31. */
    int32_t acc = 0;
    for (int32_t filter_y = 0; filter_y < filter_dims->h; ++filter_y) {
        const int32_t in_y = in_y_origin + filter_y * params->dilation_y;
        if (in_y < 0 || in_y >= input_dims->h) {
            continue;
        }
        for (int32_t filter_x = 0; filter_x < filter_dims->w; ++filter_x) {
            const int32_t in_x = in_x_origin + filter_x * params->dilation_x;
            if (in_x < 0 || in_x >= input_dims->w) {
                continue;
            }
            const int8_t *input_pixel = input + (in_y * input_dims->w + in_x) * input_dims->c + first_input_c;
            const int8_t *filter_pixel = filter_channel + (filter_y * filter_dims->w + filter_x) * filter_dims->c;
            acc += dot_s8_offset(filter_pixel, input_pixel, params->input_offset, filter_dims->c);
        }
    }
    return acc;
}

wess_status_t wess_conv_2d_grouped_s8(const wess_conv_params_t *params, const wess_requant_t *requant,
                                      const wess_dims_t *input_dims, const int8_t *input,
                                      const wess_dims_t *filter_dims, const int8_t *filter, const int32_t *bias,
                                      const wess_dims_t *output_dims, int8_t *output)
{
    if (params == NULL || input == NULL || filter == NULL || output == NULL) {
        return WESS_ERR_BAD_ARG;
    }
    wess_status_t status = conv_s8_check(params, input_dims, filter_dims, output_dims, 1);
    if (status != WESS_OK || (status = requant_check(requant, output_dims->c)) != WESS_OK) {
        return status;
    }
    const int32_t output_c = output_dims->c, group_c = filter_dims->c;
    const int32_t outputs_per_group = output_c / (input_dims->c / group_c);
    const int32_t filter_length = filter_dims->h * filter_dims->w * group_c;
    channel_requant_t channels[WESS_CHANNEL_BLOCK];
    for (int32_t first_out_c = 0; first_out_c < output_c; first_out_c += WESS_CHANNEL_BLOCK) {
        const int32_t block_size = output_c - first_out_c < WESS_CHANNEL_BLOCK ? output_c - first_out_c
                                                                                : WESS_CHANNEL_BLOCK;
        channel_requant_block(requant, bias, first_out_c, block_size, channels);
        for (int32_t out_y = 0; out_y < output_dims->h; ++out_y) {
            const int32_t in_y_origin = out_y * params->stride_y - params->pad_top;
            for (int32_t out_x = 0; out_x < output_dims->w; ++out_x) {
                const int32_t in_x_origin = out_x * params->stride_x - params->pad_left;
                int8_t *output_pixel = output + (out_y * output_dims->w + out_x) * output_c;
                for (int32_t block_c = 0; block_c < block_size; ++block_c) {
                    const int32_t out_c = first_out_c + block_c;
                    const int32_t acc = conv_grouped_acc(params, input_dims, input, filter_dims,
                                                         filter + out_c * filter_length,
                                                         out_c / outputs_per_group * group_c, in_y_origin,
                                                         in_x_origin);
                    output_pixel[out_c] = requantize_to_int8(&channels[block_c], acc, params->output_offset,
                                                             params->act_min, params->act_max);
                }
            }
        }
    }
    return WESS_OK;
}

/* CONV_2D with a grouped filter (op code MODEL_OP_GROUPED_FILTER | CONV_2D): as conv_2d_op_run. */
wess_status_t conv_2d_grouped_op_run(const model_run_t *model, const model_op_t *op)
{
    const bound_tensor_t input = model_op_tensor(model, op, 0), filter = model_op_tensor(model, op, 1);
    const bound_tensor_t bias = model_op_tensor(model, op, 2), output = model_op_tensor(model, op, 3);
    wess_conv_params_t params;
    model_op_params(op, &params, sizeof params);
    const wess_requant_t requant = model_op_requant(model, op);
    return wess_conv_2d_grouped_s8(&params, &requant, &input.record.dims, (const int8_t *)input.data,
                                   &filter.record.dims, (const int8_t *)filter.data, (const int32_t *)bias.data,
                                   &output.record.dims, (int8_t *)output.data);
}
