/* MUL int8 reference kernel: TFLite Micro's reference_integer_ops::Mul and BroadcastMul4DSlow (product of the two
 * offset inputs, one requantization, clamp), broadcasting any input axis of extent 1. */
#include "kernel_util.h"
#include "op_table.h"

wess_status_t wess_mul_s8(const wess_mul_params_t *params,
                          const wess_dims_t *input1_dims, const int8_t *input1,
                          const wess_dims_t *input2_dims, const int8_t *input2,
                          const wess_dims_t *output_dims, int8_t *output)
{
    if (params == NULL || input1 == NULL || input2 == NULL || output == NULL) {
        return WESS_ERR_BAD_ARG;
    }
    if (!input_offset_valid(params->input1_offset) || !input_offset_valid(params->input2_offset) ||
        !int8_value_valid(params->output_offset) || !multiplier_valid(params->multiplier, params->right_shift) ||
        !activation_valid(params->act_min, params->act_max)) {
        return WESS_ERR_BAD_ARG;
    }
    broadcast_rows_t rows;
    if (!broadcast_rows_start(&rows, input1_dims, input2_dims, output_dims)) {
        return WESS_ERR_BAD_SHAPE;
    }
    for (int32_t row = 0; row < rows.count; ++row, broadcast_rows_next(&rows)) {
        const int8_t *input1_row = input1 + rows.offset1;
        const int8_t *input2_row = input2 + rows.offset2;
        int8_t *output_row = output + row * output_dims->c;
        for (int32_t c = 0; c < output_dims->c; ++c) {
            /* |(input + offset)| <= 255 each: |product| <= 65025 */
            const int32_t product = (input1_row[c * rows.strides1.c] + params->input1_offset) *
                                    (input2_row[c * rows.strides2.c] + params->input2_offset);
            output_row[c] = output_int8(requantize(product, params->multiplier, params->right_shift),
                                        params->output_offset, params->act_min, params->act_max);
        }
    }
    return WESS_OK;
}

/* MUL of a compact model: tensors (input1, input2, output), wess_mul_params_t words. */
wess_status_t mul_op_run(const model_run_t *model, const model_op_t *op)
{
    const bound_tensor_t input1 = model_op_tensor(model, op, 0), input2 = model_op_tensor(model, op, 1);
    const bound_tensor_t output = model_op_tensor(model, op, 2);
    wess_mul_params_t params;
    model_op_params(op, &params, sizeof params);
    return wess_mul_s8(&params, &input1.record.dims, (const int8_t *)input1.data, &input2.record.dims,
                       (const int8_t *)input2.data, &output.record.dims, (int8_t *)output.data);
}
