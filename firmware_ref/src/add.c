/* ADD int8 reference kernel, same-shape inputs (TFLite's general quantized add: left_shift 20, three multipliers). */
#include "kernel_util.h"
#include "op_table.h"

static int right_shift_valid(int32_t right_shift)
{
    return right_shift >= 0 && right_shift <= 31;
}

static wess_status_t add_check(const wess_add_params_t *params, const wess_dims_t *input1_dims,
                               const wess_dims_t *input2_dims, const wess_dims_t *output_dims)
{
    if (!input_offset_valid(params->input1_offset) || !input_offset_valid(params->input2_offset) ||
        !int8_value_valid(params->output_offset) || params->left_shift < 0 || params->left_shift > 20 ||
        params->input1_multiplier < 0 || params->input2_multiplier < 0 || params->output_multiplier < 0 ||
        !right_shift_valid(params->input1_right_shift) || !right_shift_valid(params->input2_right_shift) ||
        !right_shift_valid(params->output_right_shift) || !activation_valid(params->act_min, params->act_max)) {
        return WESS_ERR_BAD_ARG;
    }
    if (!dims_valid(input1_dims) || !dims_valid(input2_dims) || !dims_valid(output_dims)) {
        return WESS_ERR_BAD_SHAPE;
    }
    if (!dims_equal(input1_dims, input2_dims)) {
        return WESS_ERR_UNSUPPORTED;  /* broadcasting */
    }
    if (!dims_equal(input1_dims, output_dims)) {
        return WESS_ERR_BAD_SHAPE;
    }
    return WESS_OK;
}

wess_status_t wess_add_s8(const wess_add_params_t *params,
                          const wess_dims_t *input1_dims, const int8_t *input1,
                          const wess_dims_t *input2_dims, const int8_t *input2,
                          const wess_dims_t *output_dims, int8_t *output)
{
    if (params == NULL || input1 == NULL || input2 == NULL || output == NULL) {
        return WESS_ERR_BAD_ARG;
    }
    const wess_status_t status = add_check(params, input1_dims, input2_dims, output_dims);
    if (status != WESS_OK) {
        return status;
    }
    const int32_t element_count = flat_size(output_dims);
    for (int32_t index = 0; index < element_count; ++index) {
        /* |input + input_offset| <= 255, shifted left by <= 20: |shifted| < 2^28 */
        const int32_t shifted1 = (input1[index] + params->input1_offset) * (1 << params->left_shift);
        const int32_t shifted2 = (input2[index] + params->input2_offset) * (1 << params->left_shift);
        /* multipliers are Q31 (< 1) with right shifts >= 0: |scaled| <= |shifted| < 2^28, |sum| < 2^29 */
        const int32_t scaled1 = requantize(shifted1, params->input1_multiplier, params->input1_right_shift);
        const int32_t scaled2 = requantize(shifted2, params->input2_multiplier, params->input2_right_shift);
        const int32_t raw_sum = scaled1 + scaled2;
        const int32_t raw_output = requantize(raw_sum, params->output_multiplier, params->output_right_shift);
        output[index] = output_int8(raw_output, params->output_offset, params->act_min, params->act_max);
    }
    return WESS_OK;
}

/* ADD of a compact model: tensors (input1, input2, output), wess_add_params_t words. */
wess_status_t add_op_run(const model_run_t *model, const model_op_t *op)
{
    const bound_tensor_t input1 = model_op_tensor(model, op, 0), input2 = model_op_tensor(model, op, 1);
    const bound_tensor_t output = model_op_tensor(model, op, 2);
    wess_add_params_t params;
    model_op_params(op, &params, sizeof params);
    return wess_add_s8(&params, &input1.record.dims, (const int8_t *)input1.data, &input2.record.dims,
                       (const int8_t *)input2.data, &output.record.dims, (int8_t *)output.data);
}
