/* PAD int8 reference kernel for the H and W axes (the ZeroPadding2D case); padded cells get pad_value. */
#include "kernel_util.h"
#include "op_table.h"

wess_status_t wess_pad_s8(const wess_pad_params_t *params,
                          const wess_dims_t *input_dims, const int8_t *input,
                          const wess_dims_t *output_dims, int8_t *output)
{
    if (params == NULL || input == NULL || output == NULL) {
        return WESS_ERR_BAD_ARG;
    }
    if (params->pad_top < 0 || params->pad_bottom < 0 || params->pad_left < 0 || params->pad_right < 0 ||
        !int8_value_valid(params->pad_value)) {
        return WESS_ERR_BAD_ARG;
    }
    if (!dims_valid(input_dims) || !dims_valid(output_dims)) {
        return WESS_ERR_BAD_SHAPE;
    }
    if (input_dims->n != 1 || output_dims->n != 1) {
        return WESS_ERR_UNSUPPORTED;
    }
    if ((int64_t)params->pad_top + input_dims->h + params->pad_bottom != output_dims->h ||
        (int64_t)params->pad_left + input_dims->w + params->pad_right != output_dims->w ||
        output_dims->c != input_dims->c) {
        return WESS_ERR_BAD_SHAPE;
    }
    const int32_t depth = output_dims->c;
    for (int32_t out_y = 0; out_y < output_dims->h; ++out_y) {
        const int32_t in_y = out_y - params->pad_top;
        for (int32_t out_x = 0; out_x < output_dims->w; ++out_x) {
            const int32_t in_x = out_x - params->pad_left;
            const int inside = in_y >= 0 && in_y < input_dims->h && in_x >= 0 && in_x < input_dims->w;
            for (int32_t channel = 0; channel < depth; ++channel) {
                output[(out_y * output_dims->w + out_x) * depth + channel] =
                    inside ? input[(in_y * input_dims->w + in_x) * depth + channel] : (int8_t)params->pad_value;
            }
        }
    }
    return WESS_OK;
}

/* PAD of a compact model: tensors (input, output), wess_pad_params_t words. */
wess_status_t pad_op_run(const model_run_t *model, const model_op_t *op)
{
    const bound_tensor_t input = model_op_tensor(model, op, 0), output = model_op_tensor(model, op, 1);
    wess_pad_params_t params;
    model_op_params(op, &params, sizeof params);
    return wess_pad_s8(&params, &input.record.dims, (const int8_t *)input.data,
                       &output.record.dims, (int8_t *)output.data);
}
