/* DEQUANTIZE int8 -> float32 reference kernel: scale * (q - zero_point). */
#include "kernel_util.h"
#include "op_table.h"

wess_status_t wess_dequantize_s8_f32(const wess_dequantize_params_t *params,
                                     const wess_dims_t *input_dims, const int8_t *input,
                                     const wess_dims_t *output_dims, float *output)
{
    if (params == NULL || input == NULL || output == NULL) {
        return WESS_ERR_BAD_ARG;
    }
    if (!(params->input_scale > 0.0f && params->input_scale <= 3.4e38f) ||
        !int8_value_valid(params->input_zero_point)) {
        return WESS_ERR_BAD_ARG;
    }
    if (!dims_valid(input_dims) || !dims_valid(output_dims) || !dims_equal(input_dims, output_dims)) {
        return WESS_ERR_BAD_SHAPE;
    }
    const int32_t element_count = flat_size(input_dims);
    for (int32_t index = 0; index < element_count; ++index) {
        /* TFLite computes (double)scale * (q - zero_point) and rounds to float; that double product is exact
         * (24 + 9 significant bits), so one float multiplication rounds identically. */
        output[index] = params->input_scale * (float)(input[index] - params->input_zero_point);
    }
    return WESS_OK;
}

/* DEQUANTIZE of a compact model: tensors (input, output), wess_dequantize_params_t words. */
wess_status_t dequantize_op_run(const model_run_t *model, const model_op_t *op)
{
    const bound_tensor_t input = model_op_tensor(model, op, 0), output = model_op_tensor(model, op, 1);
    wess_dequantize_params_t params;
    model_op_params(op, &params, sizeof params);
    return wess_dequantize_s8_f32(&params, &input.record.dims, (const int8_t *)input.data,
                                  &output.record.dims, (float *)(void *)output.data);
}
