/* CONV_2D float32 reference kernel: TFLite's reference_ops::Conv, same accumulation order (bit-exact without FMA). */
#include "kernel_util.h"
#include "op_table.h"

wess_status_t wess_conv_2d_f32(const wess_conv_f32_params_t *params,
                               const wess_dims_t *input_dims, const float *input,
                               const wess_dims_t *filter_dims, const float *filter, const float *bias,
                               const wess_dims_t *output_dims, float *output)
{
    if (params == NULL || input == NULL || filter == NULL || output == NULL) {
        return WESS_ERR_BAD_ARG;
    }
    if (!float_activation_valid(params->act_min, params->act_max)) {
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
    if (filter_dims->c != input_dims->c || output_dims->c != filter_dims->n) {
        return WESS_ERR_BAD_SHAPE;
    }
    const int32_t input_c = input_dims->c, output_c = output_dims->c;
    const int32_t filter_channel_size = filter_dims->h * filter_dims->w * input_c;  /* <= filter flat size */
    for (int32_t out_y = 0; out_y < output_dims->h; ++out_y) {
        const int32_t in_y_origin = out_y * params->stride_y - params->pad_top;
        for (int32_t out_x = 0; out_x < output_dims->w; ++out_x) {
            const int32_t in_x_origin = out_x * params->stride_x - params->pad_left;
            float *output_pixel = output + (out_y * output_dims->w + out_x) * output_c;
            for (int32_t out_c = 0; out_c < output_c; ++out_c) {
                const float *filter_channel = filter + out_c * filter_channel_size;
                float total = 0.0f;
                for (int32_t filter_y = 0; filter_y < filter_dims->h; ++filter_y) {
                    const int32_t in_y = in_y_origin + filter_y * params->dilation_y;
                    for (int32_t filter_x = 0; filter_x < filter_dims->w; ++filter_x) {
                        const int32_t in_x = in_x_origin + filter_x * params->dilation_x;
                        if (in_y < 0 || in_y >= input_dims->h || in_x < 0 || in_x >= input_dims->w) {
                            continue;  /* TFLite skips taps in the padding (it does not add 0 * filter) */
                        }
                        const float *input_pixel = input + (in_y * input_dims->w + in_x) * input_c;
                        const float *filter_pixel = filter_channel + (filter_y * filter_dims->w + filter_x) * input_c;
                        for (int32_t in_c = 0; in_c < input_c; ++in_c) {
                            total += input_pixel[in_c] * filter_pixel[in_c];
                        }
                    }
                }
                /* TFLite adds a bias of 0.0f when there is none: -0.0f + 0.0f is +0.0f */
                const float bias_value = bias == NULL ? 0.0f : bias[out_c];
                output_pixel[out_c] = clamp_float(total + bias_value, params->act_min, params->act_max);
            }
        }
    }
    return WESS_OK;
}

/* CONV_2D float32 of a compact model: tensors (input, filter, bias or -1, output), wess_conv_f32_params_t
 * words. */
wess_status_t conv_2d_f32_op_run(const model_run_t *model, const model_op_t *op)
{
    const bound_tensor_t input = model_op_tensor(model, op, 0), filter = model_op_tensor(model, op, 1);
    const bound_tensor_t bias = model_op_tensor(model, op, 2), output = model_op_tensor(model, op, 3);
    const float *input_data = (const float *)(const void *)input.data;
    const float *filter_data = (const float *)(const void *)filter.data;
    const float *bias_data = (const float *)(const void *)bias.data;
    wess_conv_f32_params_t params;
    model_op_params(op, &params, sizeof params);
    return wess_conv_2d_f32(&params, &input.record.dims, input_data, &filter.record.dims, filter_data, bias_data,
                            &output.record.dims, (float *)(void *)output.data);
}
