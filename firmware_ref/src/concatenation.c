/* CONCATENATION int8 reference kernel along the channel axis (a copy: TFLite requires equal int8 quantization). */
#include "kernel_util.h"
#include "op_table.h"

static wess_status_t concatenation_check(const wess_concat_params_t *params, const wess_dims_t *input_dims,
                                         const int8_t *const *inputs, const wess_dims_t *output_dims)
{
    if (params->input_count < 1 || input_dims == NULL) {
        return WESS_ERR_BAD_ARG;
    }
    if (!dims_valid(output_dims)) {
        return WESS_ERR_BAD_SHAPE;
    }
    int64_t channel_total = 0;
    for (int32_t input_index = 0; input_index < params->input_count; ++input_index) {
        const wess_dims_t *dims = &input_dims[input_index];
        if (inputs[input_index] == NULL) {
            return WESS_ERR_BAD_ARG;
        }
        if (!dims_valid(dims) || dims->n != output_dims->n || dims->h != output_dims->h || dims->w != output_dims->w) {
            return WESS_ERR_BAD_SHAPE;
        }
        channel_total += dims->c;
    }
    if (output_dims->n != 1) {
        return WESS_ERR_UNSUPPORTED;
    }
    return channel_total == output_dims->c ? WESS_OK : WESS_ERR_BAD_SHAPE;
}

wess_status_t wess_concatenation_s8(const wess_concat_params_t *params, const wess_dims_t *input_dims,
                                    const int8_t *const *inputs,
                                    const wess_dims_t *output_dims, int8_t *output)
{
    if (params == NULL || inputs == NULL || output == NULL) {
        return WESS_ERR_BAD_ARG;
    }
    const wess_status_t status = concatenation_check(params, input_dims, inputs, output_dims);
    if (status != WESS_OK) {
        return status;
    }
    const int32_t pixel_count = output_dims->h * output_dims->w;
    int8_t *destination = output;
    for (int32_t pixel = 0; pixel < pixel_count; ++pixel) {
        for (int32_t input_index = 0; input_index < params->input_count; ++input_index) {
            const int32_t depth = input_dims[input_index].c;
            const int8_t *source = inputs[input_index] + pixel * depth;
            for (int32_t channel = 0; channel < depth; ++channel) {
                *destination++ = source[channel];
            }
        }
    }
    return WESS_OK;
}

/* CONCATENATION of a compact model: tensors (input_count inputs, output), no parameter words
 * (input_count is the record's). */
wess_status_t concatenation_op_run(const model_run_t *model, const model_op_t *op)
{
    wess_dims_t input_dims[MODEL_MAX_CONCAT_INPUTS];
    const int8_t *inputs[MODEL_MAX_CONCAT_INPUTS];
    for (uint32_t input_index = 0; input_index < op->input_count; ++input_index) {
        const bound_tensor_t input = model_op_tensor(model, op, input_index);
        input_dims[input_index] = input.record.dims;
        inputs[input_index] = (const int8_t *)input.data;
    }
    const bound_tensor_t output = model_op_tensor(model, op, op->input_count);
    const wess_concat_params_t params = {op->input_count};
    return wess_concatenation_s8(&params, input_dims, inputs, &output.record.dims, (int8_t *)output.data);
}
