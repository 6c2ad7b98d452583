/* SPLIT and SPLIT_V int8 reference kernel: TFLite Micro's reference split (the input cut along one axis into
 * consecutive pieces, one per output; the bytes are copied, so the outputs keep the input's quantization). SPLIT
 * cuts equal pieces, SPLIT_V the sizes of its size_splits operand: both are the outputs' extents along the axis. */
#include <string.h>

#include "kernel_util.h"
#include "op_table.h"

static int32_t extent_along(const wess_dims_t *dims, int32_t axis)
{
    const int32_t extents[4] = {dims->n, dims->h, dims->w, dims->c};
    return extents[axis];
}

/* Every output valid and equal to the input off the axis, their extents along it adding up to the input's. */
static int split_shapes_valid(const wess_dims_t *input_dims, int32_t axis, int32_t output_count,
                              const wess_dims_t *output_dims)
{
    const int32_t input_extents[4] = {input_dims->n, input_dims->h, input_dims->w, input_dims->c};
    int64_t total = 0;  /* output_count <= 16 extents < 2^31 each */
    for (int32_t position = 0; position < output_count; ++position) {
        const wess_dims_t *dims = &output_dims[position];
        if (!dims_valid(dims)) {
            return 0;
        }
        const int32_t output_extents[4] = {dims->n, dims->h, dims->w, dims->c};
        for (int32_t other = 0; other < 4; ++other) {
            if (other != axis && output_extents[other] != input_extents[other]) {
                return 0;
            }
        }
        total += output_extents[axis];
    }
    return total == input_extents[axis];
}

wess_status_t wess_split_s8(const wess_split_params_t *params, const wess_dims_t *input_dims, const int8_t *input,
                            int32_t output_count, const wess_dims_t *output_dims, int8_t *const *outputs)
{
    if (params == NULL || input == NULL || output_dims == NULL || outputs == NULL || params->axis < 0 ||
        params->axis > 3 || output_count < 1 || output_count > WESS_MAX_SPLIT_OUTPUTS) {
        return WESS_ERR_BAD_ARG;
    }
    for (int32_t position = 0; position < output_count; ++position) {
        if (outputs[position] == NULL) {
            return WESS_ERR_BAD_ARG;
        }
    }
    if (!dims_valid(input_dims) || !split_shapes_valid(input_dims, params->axis, output_count, output_dims)) {
        return WESS_ERR_BAD_SHAPE;
    }
    const int32_t axis = params->axis;
    const axis_split_t split = split_at_axis(input_dims, axis);
    const int32_t outer = split.outer, input_extent = split.extent, inner = split.inner;
    for (int32_t outer_index = 0; outer_index < outer; ++outer_index) {
        const int8_t *source = input + (size_t)outer_index * (size_t)input_extent * (size_t)inner;
        for (int32_t position = 0; position < output_count; ++position) {
            const size_t piece_bytes = (size_t)extent_along(&output_dims[position], axis) * (size_t)inner;
            memcpy(outputs[position] + (size_t)outer_index * piece_bytes, source, piece_bytes);
            source += piece_bytes;
        }
    }
    return WESS_OK;
}

/* SPLIT / SPLIT_V of a compact model: tensors (input, outputs...), wess_split_params_t words. The validator holds
 * the output count to [1, WESS_MAX_SPLIT_OUTPUTS] (the row's range). */
wess_status_t split_op_run(const model_run_t *model, const model_op_t *op)
{
    if (op->output_count < 1u || op->output_count > WESS_MAX_SPLIT_OUTPUTS) {
        return WESS_ERR_BAD_OP;
    }
    const bound_tensor_t input = model_op_tensor(model, op, 0);
    wess_dims_t output_dims[WESS_MAX_SPLIT_OUTPUTS];
    int8_t *outputs[WESS_MAX_SPLIT_OUTPUTS];
    for (uint32_t position = 0; position < op->output_count; ++position) {
        const bound_tensor_t output = model_op_tensor(model, op, op->input_count + position);
        output_dims[position] = output.record.dims;
        outputs[position] = (int8_t *)output.data;
    }
    wess_split_params_t params;
    model_op_params(op, &params, sizeof params);
    return wess_split_s8(&params, &input.record.dims, (const int8_t *)input.data, (int32_t)op->output_count,
                         output_dims, outputs);
}
