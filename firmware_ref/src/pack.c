/* PACK int8 reference kernel: TFLite Micro's reference pack (the inputs stacked along a new axis of the output; the
 * bytes are copied, so the output keeps the inputs' quantization). The converter emits it at the end of an unrolled
 * recurrent layer with return_sequences=True: one input per time step. */
#include <string.h>

#include "kernel_util.h"
#include "op_table.h"

wess_status_t wess_pack_s8(const wess_pack_params_t *params, int32_t input_index, const wess_dims_t *input_dims,
                           const int8_t *input, const wess_dims_t *output_dims, int8_t *output)
{
    if (params == NULL || input == NULL || output == NULL || params->axis < 0 || params->axis > 3) {
        return WESS_ERR_BAD_ARG;
    }
    if (!dims_valid(input_dims) || !dims_valid(output_dims)) {
        return WESS_ERR_BAD_SHAPE;
    }
    const axis_split_t stacked = split_at_axis(output_dims, params->axis);
    const int32_t outer = stacked.outer, count = stacked.extent, inner = stacked.inner;
    if (input_index < 0 || input_index >= count) {
        return WESS_ERR_BAD_ARG;
    }
    /* the input holds the output's other axes in order: any NHWC dims with outer * inner elements */
    const int64_t input_size = (int64_t)input_dims->n * input_dims->h * input_dims->w * input_dims->c;
    if (input_size != (int64_t)outer * inner) {
        return WESS_ERR_BAD_SHAPE;
    }
    for (int32_t outer_index = 0; outer_index < outer; ++outer_index) {
        const size_t target = ((size_t)outer_index * (size_t)count + (size_t)input_index) * (size_t)inner;
        memcpy(output + target, input + (size_t)outer_index * (size_t)inner, (size_t)inner);
    }
    return WESS_OK;
}

/* PACK of a compact model: tensors (inputs..., output), wess_pack_params_t words. The validator holds the input
 * count to [1, WESS_MAX_PACK_INPUTS] (the row's range); the output's extent along the axis must be that count. One
 * input at a time: nothing bound on the stack per input. */
wess_status_t pack_op_run(const model_run_t *model, const model_op_t *op)
{
    const bound_tensor_t output = model_op_tensor(model, op, op->input_count);
    wess_pack_params_t params;
    model_op_params(op, &params, sizeof params);
    const int32_t output_extents[4] = {output.record.dims.n, output.record.dims.h, output.record.dims.w,
                                       output.record.dims.c};
    if (params.axis < 0 || params.axis > 3 || (uint32_t)output_extents[params.axis] != op->input_count) {
        return WESS_ERR_BAD_SHAPE;
    }
    for (uint32_t position = 0; position < op->input_count; ++position) {
        const bound_tensor_t input = model_op_tensor(model, op, position);
        const wess_status_t status = wess_pack_s8(&params, (int32_t)position, &input.record.dims,
                                                  (const int8_t *)input.data, &output.record.dims,
                                                  (int8_t *)output.data);
        if (status != WESS_OK) {
            return status;
        }
    }
    return WESS_OK;
}
