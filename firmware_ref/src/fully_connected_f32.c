/* FULLY_CONNECTED float32 reference kernel: TFLite's reference_ops::FullyConnected accumulation order. */
#include "kernel_util.h"
#include "op_table.h"

wess_status_t wess_fully_connected_f32(const wess_fc_f32_params_t *params,
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
    if (!fc_dims_valid(input_dims, filter_dims, output_dims)) {
        return WESS_ERR_BAD_SHAPE;
    }
    const int32_t in_depth = input_dims->c, out_depth = output_dims->c;
    for (int32_t batch = 0; batch < input_dims->n; ++batch) {
        const float *input_row = input + batch * in_depth;
        for (int32_t out_c = 0; out_c < out_depth; ++out_c) {
            const float *filter_row = filter + out_c * in_depth;
            float total = 0.0f;
            for (int32_t in_d = 0; in_d < in_depth; ++in_d) {
                total += input_row[in_d] * filter_row[in_d];
            }
            const float bias_value = bias == NULL ? 0.0f : bias[out_c];
            output[batch * out_depth + out_c] = clamp_float(total + bias_value, params->act_min, params->act_max);
        }
    }
    return WESS_OK;
}

/* FULLY_CONNECTED float32 of a compact model: tensors (input, filter, bias or -1, output),
 * wess_fc_f32_params_t words; the input flattened as for int8. */
wess_status_t fully_connected_f32_op_run(const model_run_t *model, const model_op_t *op)
{
    const bound_tensor_t input = model_op_tensor(model, op, 0), filter = model_op_tensor(model, op, 1);
    const bound_tensor_t bias = model_op_tensor(model, op, 2), output = model_op_tensor(model, op, 3);
    const float *input_data = (const float *)(const void *)input.data;
    const float *filter_data = (const float *)(const void *)filter.data;
    const float *bias_data = (const float *)(const void *)bias.data;
    wess_fc_f32_params_t params;
    model_op_params(op, &params, sizeof params);
    wess_dims_t input_dims, output_dims;
    model_fully_connected_dims(&input, &filter, &output, &input_dims, &output_dims);
    return wess_fully_connected_f32(&params, &input_dims, input_data, &filter.record.dims, filter_data, bias_data,
                                    &output_dims, (float *)(void *)output.data);
}
