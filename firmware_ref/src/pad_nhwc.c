/* PADV2 int8 reference kernel, any NHWC axis: TFLite Micro's reference pad (the input's bytes copied unchanged
 * into the output at each axis's `before` offset, every other cell pad_value). PAD on an axis other than H and W
 * runs here too, with the output zero point as pad_value (TFLite's int8 PAD). */
#include <string.h>

#include "kernel_util.h"
#include "op_table.h"

wess_status_t wess_pad_nhwc_s8(const wess_pad_nhwc_params_t *params,
                               const wess_dims_t *input_dims, const int8_t *input,
                               const wess_dims_t *output_dims, int8_t *output)
{
    if (params == NULL || input == NULL || output == NULL) {
        return WESS_ERR_BAD_ARG;
    }
    const int32_t before[4] = {params->pad_n_before, params->pad_h_before, params->pad_w_before,
                               params->pad_c_before};
    const int32_t after[4] = {params->pad_n_after, params->pad_h_after, params->pad_w_after, params->pad_c_after};
    for (int axis = 0; axis < 4; ++axis) {
        if (before[axis] < 0 || after[axis] < 0) {
            return WESS_ERR_BAD_ARG;
        }
    }
    if (!int8_value_valid(params->pad_value)) {
        return WESS_ERR_BAD_ARG;
    }
    if (!dims_valid(input_dims) || !dims_valid(output_dims)) {
        return WESS_ERR_BAD_SHAPE;
    }
    const int32_t in[4] = {input_dims->n, input_dims->h, input_dims->w, input_dims->c};
    const int32_t out[4] = {output_dims->n, output_dims->h, output_dims->w, output_dims->c};
    for (int axis = 0; axis < 4; ++axis) {
        if ((int64_t)before[axis] + in[axis] + after[axis] != out[axis]) {
            return WESS_ERR_BAD_SHAPE;
        }
    }
    /* flat sizes fit int32 (dims_valid), so every offset below does */
    memset(output, params->pad_value, (size_t)out[0] * (size_t)out[1] * (size_t)out[2] * (size_t)out[3]);
    for (int32_t in_n = 0; in_n < in[0]; ++in_n) {
        for (int32_t in_y = 0; in_y < in[1]; ++in_y) {
            for (int32_t in_x = 0; in_x < in[2]; ++in_x) {
                const int32_t out_pixel = ((in_n + before[0]) * out[1] + in_y + before[1]) * out[2] + in_x + before[2];
                memcpy(output + (size_t)out_pixel * (size_t)out[3] + (size_t)before[3],
                       input + (((size_t)in_n * (size_t)in[1] + (size_t)in_y) * (size_t)in[2] + (size_t)in_x) *
                                   (size_t)in[3],
                       (size_t)in[3]);
            }
        }
    }
    return WESS_OK;
}

/* PADV2 (or PAD on any axis) of a compact model: tensors (input, output), wess_pad_nhwc_params_t words. */
wess_status_t pad_nhwc_op_run(const model_run_t *model, const model_op_t *op)
{
    const bound_tensor_t input = model_op_tensor(model, op, 0), output = model_op_tensor(model, op, 1);
    wess_pad_nhwc_params_t params;
    model_op_params(op, &params, sizeof params);
    return wess_pad_nhwc_s8(&params, &input.record.dims, (const int8_t *)input.data, &output.record.dims,
                            (int8_t *)output.data);
}
