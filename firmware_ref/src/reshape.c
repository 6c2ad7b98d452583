/* RESHAPE (and any op that only relabels a tensor's shape): the output holds the input's bytes unchanged. */
#include <string.h>

#include "op_table.h"

/* Input and output of one type and one byte size. */
wess_status_t reshape_op_check(const model_run_t *model, const model_op_t *op, int32_t *error_tensor)
{
    const bound_tensor_t input = model_op_tensor(model, op, 0), output = model_op_tensor(model, op, 1);
    if (input.record.type != output.record.type || input.record.data_bytes != output.record.data_bytes) {
        *error_tensor = op_word(op, 1);
        return WESS_ERR_BAD_TENSOR;
    }
    return WESS_OK;
}

/* The memory plan aliases output and input; copy only when it did not. */
wess_status_t reshape_op_run(const model_run_t *model, const model_op_t *op)
{
    const bound_tensor_t input = model_op_tensor(model, op, 0), output = model_op_tensor(model, op, 1);
    if (output.data != input.data) {
        memmove(output.data, input.data, output.record.data_bytes);
    }
    return WESS_OK;
}
