/* UNPACK int8 reference kernel: TFLite Micro's reference unpack (the input cut along one axis into its slices, the
 * axis removed; the bytes are copied, so every output keeps the input's quantization). The converter emits it at the
 * start of an unrolled recurrent layer (GRU, LSTM, SimpleRNN with unroll=True): one output per time step. */
#include <string.h>

#include "kernel_util.h"
#include "op_table.h"

wess_status_t wess_unpack_s8(const wess_unpack_params_t *params, const wess_dims_t *input_dims, const int8_t *input,
                             int32_t output_index, const wess_dims_t *output_dims, int8_t *output)
{
    if (params == NULL || input == NULL || output == NULL || params->axis < 0 || params->axis > 3) {
        return WESS_ERR_BAD_ARG;
    }
    if (!dims_valid(input_dims) || !dims_valid(output_dims)) {
        return WESS_ERR_BAD_SHAPE;
    }
    const axis_split_t stacked = split_at_axis(input_dims, params->axis);
    const int32_t outer = stacked.outer, count = stacked.extent, inner = stacked.inner;
    if (output_index < 0 || output_index >= count) {
        return WESS_ERR_BAD_ARG;
    }
    /* the output holds the other axes in order: any NHWC dims with outer * inner elements */
    const int64_t output_size = (int64_t)output_dims->n * output_dims->h * output_dims->w * output_dims->c;
    if (output_size != (int64_t)outer * inner) {
        return WESS_ERR_BAD_SHAPE;
    }
    for (int32_t outer_index = 0; outer_index < outer; ++outer_index) {
        const size_t source = ((size_t)outer_index * (size_t)count + (size_t)output_index) * (size_t)inner;
        memcpy(output + (size_t)outer_index * (size_t)inner, input + source, (size_t)inner);
    }
    return WESS_OK;
}

/* UNPACK of a compact model: tensors (input, outputs...), wess_unpack_params_t words. The validator holds the output
 * count to [1, WESS_MAX_UNPACK_OUTPUTS] (the row's range); the kernel holds each output to the input's extent along
 * the axis. One output at a time: nothing bound on the stack per output. */
wess_status_t unpack_op_run(const model_run_t *model, const model_op_t *op)
{
    const bound_tensor_t input = model_op_tensor(model, op, 0);
    wess_unpack_params_t params;
    model_op_params(op, &params, sizeof params);
    const int32_t input_extents[4] = {input.record.dims.n, input.record.dims.h, input.record.dims.w,
                                      input.record.dims.c};
    if (params.axis < 0 || params.axis > 3 || (uint32_t)input_extents[params.axis] != op->output_count) {
        return WESS_ERR_BAD_SHAPE;
    }
    for (uint32_t position = 0; position < op->output_count; ++position) {
        const bound_tensor_t output = model_op_tensor(model, op, op->input_count + position);
        const wess_status_t status = wess_unpack_s8(&params, &input.record.dims, (const int8_t *)input.data,
                                                    (int32_t)position, &output.record.dims, (int8_t *)output.data);
        if (status != WESS_OK) {
            return status;
        }
    }
    return WESS_OK;
}
