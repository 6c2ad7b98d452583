/* DEPTHWISE_CONV_2D float32 reference kernel with depth multiplier: TFLite's reference_ops::DepthwiseConv order. */
#include "kernel_util.h"
#include "op_table.h"

wess_status_t wess_depthwise_conv_2d_f32(const wess_depthwise_f32_params_t *params,
                                         const wess_dims_t *input_dims, const float *input,
                                         const wess_dims_t *filter_dims, const float *filter, const float *bias,
                                         const wess_dims_t *output_dims, float *output)
{
    if (params == NULL || input == NULL || filter == NULL || output == NULL) {
        return WESS_ERR_BAD_ARG;
    }
    const wess_conv_f32_params_t *conv = &params->conv;
    if (params->depth_multiplier < 1 || !float_activation_valid(conv->act_min, conv->act_max)) {
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
    const int32_t input_c = input_dims->c, output_c = output_dims->c;
    for (int32_t out_y = 0; out_y < output_dims->h; ++out_y) {
        const int32_t in_y_origin = out_y * conv->stride_y - conv->pad_top;
        for (int32_t out_x = 0; out_x < output_dims->w; ++out_x) {
            const int32_t in_x_origin = out_x * conv->stride_x - conv->pad_left;
            float *output_pixel = output + (out_y * output_dims->w + out_x) * output_c;
            for (int32_t in_c = 0; in_c < input_c; ++in_c) {
                for (int32_t multiplier = 0; multiplier < params->depth_multiplier; ++multiplier) {
                    const int32_t out_c = in_c * params->depth_multiplier + multiplier;
                    float total = 0.0f;
                    for (int32_t filter_y = 0; filter_y < filter_dims->h; ++filter_y) {
                        const int32_t in_y = in_y_origin + filter_y * conv->dilation_y;
                        for (int32_t filter_x = 0; filter_x < filter_dims->w; ++filter_x) {
                            const int32_t in_x = in_x_origin + filter_x * conv->dilation_x;
                            if (in_y < 0 || in_y >= input_dims->h || in_x < 0 || in_x >= input_dims->w) {
                                continue;  /* padding: skipped, as TFLite does */
                            }
                            total += input[(in_y * input_dims->w + in_x) * input_c + in_c] *
                                     filter[(filter_y * filter_dims->w + filter_x) * output_c + out_c];
                        }
                    }
                    const float bias_value = bias == NULL ? 0.0f : bias[out_c];
                    output_pixel[out_c] = clamp_float(total + bias_value, conv->act_min, conv->act_max);
                }
            }
        }
    }
    return WESS_OK;
}

/* DEPTHWISE_CONV_2D float32 of a compact model: tensors (input, filter, bias or -1, output),
 * wess_depthwise_f32_params_t words. */
wess_status_t depthwise_conv_2d_f32_op_run(const model_run_t *model, const model_op_t *op)
{
    const bound_tensor_t input = model_op_tensor(model, op, 0), filter = model_op_tensor(model, op, 1);
    const bound_tensor_t bias = model_op_tensor(model, op, 2), output = model_op_tensor(model, op, 3);
    const float *input_data = (const float *)(const void *)input.data;
    const float *filter_data = (const float *)(const void *)filter.data;
    const float *bias_data = (const float *)(const void *)bias.data;
    wess_depthwise_f32_params_t params;
    model_op_params(op, &params, sizeof params);
    return wess_depthwise_conv_2d_f32(&params, &input.record.dims, input_data, &filter.record.dims, filter_data,
                                      bias_data, &output.record.dims, (float *)(void *)output.data);
}
