/* MAXIMUM int8 reference kernel: TFLite Micro's reference MAXIMUM, the larger stored byte of the two inputs
 * (maximum_minimum.h). */
#include "maximum_minimum.h"
#include "op_table.h"

wess_status_t wess_maximum_s8(const wess_dims_t *input1_dims, const int8_t *input1,
                              const wess_dims_t *input2_dims, const int8_t *input2,
                              const wess_dims_t *output_dims, int8_t *output)
{
    return maximum_minimum_s8(input1_dims, input1, input2_dims, input2, output_dims, output, 1);
}

/* MAXIMUM of a compact model: tensors (input1, input2, output), no parameter words. */
wess_status_t maximum_op_run(const model_run_t *model, const model_op_t *op)
{
    const bound_tensor_t input1 = model_op_tensor(model, op, 0), input2 = model_op_tensor(model, op, 1);
    const bound_tensor_t output = model_op_tensor(model, op, 2);
    return wess_maximum_s8(&input1.record.dims, (const int8_t *)input1.data, &input2.record.dims,
                           (const int8_t *)input2.data, &output.record.dims, (int8_t *)output.data);
}
