/* PRELU int8 reference kernel: TFLite Micro's BroadcastPrelu4DSlow (inputs at or above the input zero point
 * rescaled by input_scale / output_scale, those below multiplied by the offset alpha and rescaled by
 * input_scale * alpha_scale / output_scale), alpha broadcast along any axis of extent 1. */
#include "kernel_util.h"
#include "op_table.h"

static int prelu_params_valid(const wess_prelu_params_t *params)
{
    return input_offset_valid(params->input_offset) && input_offset_valid(params->alpha_offset) &&
           int8_value_valid(params->output_offset) &&
           multiplier_valid(params->identity_multiplier, params->identity_right_shift) &&
           multiplier_valid(params->alpha_multiplier, params->alpha_right_shift);
}

/* One output element from an int8 input and alpha. */
static int8_t prelu_element(const wess_prelu_params_t *params, int8_t input, int8_t alpha)
{
    const int32_t centred = input + params->input_offset;  /* [-255, 255] */
    int32_t rescaled;
    if (centred >= 0) {
        rescaled = requantize(centred, params->identity_multiplier, params->identity_right_shift);
    } else {
        /* |centred| <= 255 and |alpha + alpha_offset| <= 255: |product| <= 65025 */
        const int32_t product = centred * (alpha + params->alpha_offset);
        rescaled = requantize(product, params->alpha_multiplier, params->alpha_right_shift);
    }
    return output_int8(rescaled, params->output_offset, INT8_MIN, INT8_MAX);
}

wess_status_t wess_prelu_s8(const wess_prelu_params_t *params,
                            const wess_dims_t *input_dims, const int8_t *input,
                            const wess_dims_t *alpha_dims, const int8_t *alpha,
                            const wess_dims_t *output_dims, int8_t *output)
{
    if (params == NULL || input == NULL || alpha == NULL || output == NULL || !prelu_params_valid(params)) {
        return WESS_ERR_BAD_ARG;
    }
    broadcast_rows_t rows;
    if (!broadcast_rows_start(&rows, input_dims, alpha_dims, output_dims)) {
        return WESS_ERR_BAD_SHAPE;
    }
    for (int32_t row = 0; row < rows.count; ++row, broadcast_rows_next(&rows)) {
        const int8_t *input_row = input + rows.offset1;
        const int8_t *alpha_row = alpha + rows.offset2;
        int8_t *output_row = output + row * output_dims->c;
        for (int32_t c = 0; c < output_dims->c; ++c) {
            output_row[c] = prelu_element(params, input_row[c * rows.strides1.c], alpha_row[c * rows.strides2.c]);
        }
    }
    return WESS_OK;
}

/* PRELU of a compact model: tensors (input, alpha, output), wess_prelu_params_t words. */
wess_status_t prelu_op_run(const model_run_t *model, const model_op_t *op)
{
    const bound_tensor_t input = model_op_tensor(model, op, 0), alpha = model_op_tensor(model, op, 1);
    const bound_tensor_t output = model_op_tensor(model, op, 2);
    wess_prelu_params_t params;
    model_op_params(op, &params, sizeof params);
    return wess_prelu_s8(&params, &input.record.dims, (const int8_t *)input.data, &alpha.record.dims,
                         (const int8_t *)alpha.data, &output.record.dims, (int8_t *)output.data);
}
