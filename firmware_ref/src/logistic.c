/* LOGISTIC int8 reference kernel: TFLite Micro's reference_integer_ops::Logistic (input rescaled to Q4.27,
 * gemmlowp's fixed-point logistic, output scale 1/256 and zero point -128). */
#include "op_table.h"
#include "sigmoid.h"

wess_status_t wess_logistic_s8(const wess_sigmoid_params_t *params,
                               const wess_dims_t *input_dims, const int8_t *input,
                               const wess_dims_t *output_dims, int8_t *output)
{
    /* probability * 256 = Q0.31 / 2^23, then the output zero point -128 */
    return sigmoid_family_s8(params, input_dims, input, output_dims, output, logistic_q4, 23, INT8_MIN);
}

/* LOGISTIC of a compact model: tensors (input, output), wess_sigmoid_params_t words. */
wess_status_t logistic_op_run(const model_run_t *model, const model_op_t *op)
{
    const bound_tensor_t input = model_op_tensor(model, op, 0), output = model_op_tensor(model, op, 1);
    wess_sigmoid_params_t params;
    model_op_params(op, &params, sizeof params);
    return wess_logistic_s8(&params, &input.record.dims, (const int8_t *)input.data,
                            &output.record.dims, (int8_t *)output.data);
}
