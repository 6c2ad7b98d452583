/* SUB int8 reference kernel: TFLite Micro's quantized sub (ADD's parameters, input2 subtracted; see add_sub.h). */
#include "add_sub.h"
#include "op_table.h"

wess_status_t wess_sub_s8(const wess_add_params_t *params,
                          const wess_dims_t *input1_dims, const int8_t *input1,
                          const wess_dims_t *input2_dims, const int8_t *input2,
                          const wess_dims_t *output_dims, int8_t *output)
{
    return add_sub_s8(params, input1_dims, input1, input2_dims, input2, output_dims, output, -1);
}

/* SUB of a compact model: tensors (input1, input2, output), wess_add_params_t words. */
wess_status_t sub_op_run(const model_run_t *model, const model_op_t *op)
{
    const bound_tensor_t input1 = model_op_tensor(model, op, 0), input2 = model_op_tensor(model, op, 1);
    const bound_tensor_t output = model_op_tensor(model, op, 2);
    wess_add_params_t params;
    model_op_params(op, &params, sizeof params);
    return wess_sub_s8(&params, &input1.record.dims, (const int8_t *)input1.data, &input2.record.dims,
                       (const int8_t *)input2.data, &output.record.dims, (int8_t *)output.data);
}
