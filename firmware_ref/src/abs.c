/* ABS int8 reference kernel: TFLite's AbsEvalQuantized (|input - input zero point|, rescaled to the output's
 * quantization, plus its zero point). */
#include "kernel_util.h"
#include "op_table.h"

wess_status_t wess_abs_s8(const wess_abs_params_t *params,
                          const wess_dims_t *input_dims, const int8_t *input,
                          const wess_dims_t *output_dims, int8_t *output)
{
    const wess_status_t status = elementwise_check(params, input_dims, input, output_dims, output);
    if (status != WESS_OK) {
        return status;
    }
    if (!int8_value_valid(params->input_zero_point) || !int8_value_valid(params->output_zero_point) ||
        !multiplier_valid(params->multiplier, params->right_shift)) {
        return WESS_ERR_BAD_ARG;
    }
    const int32_t element_count = flat_size(output_dims);
    for (int32_t index = 0; index < element_count; ++index) {
        const int32_t centred = input[index] - params->input_zero_point;  /* [-255, 255] */
        const int32_t magnitude = centred < 0 ? -centred : centred;         /* [0, 255] */
        output[index] = output_int8(requantize(magnitude, params->multiplier, params->right_shift),
                                    params->output_zero_point, INT8_MIN, INT8_MAX);
    }
    return WESS_OK;
}

/* ABS of a compact model: tensors (input, output), wess_abs_params_t words. */
wess_status_t abs_op_run(const model_run_t *model, const model_op_t *op)
{
    const bound_tensor_t input = model_op_tensor(model, op, 0), output = model_op_tensor(model, op, 1);
    wess_abs_params_t params;
    model_op_params(op, &params, sizeof params);
    return wess_abs_s8(&params, &input.record.dims, (const int8_t *)input.data,
                       &output.record.dims, (int8_t *)output.data);
}
