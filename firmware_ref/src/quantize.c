/* QUANTIZE float32 -> int8 reference kernel (TFLite's AffineQuantize: float division, round half away from zero). */
#include <math.h>

#include "kernel_util.h"
#include "op_table.h"

wess_status_t wess_quantize_f32_s8(const wess_quantize_params_t *params,
                                   const wess_dims_t *input_dims, const float *input,
                                   const wess_dims_t *output_dims, int8_t *output)
{
    if (params == NULL || input == NULL || output == NULL) {
        return WESS_ERR_BAD_ARG;
    }
    if (!(params->output_scale > 0.0f && params->output_scale <= 3.4e38f) ||
        !int8_value_valid(params->output_zero_point)) {
        return WESS_ERR_BAD_ARG;
    }
    if (!dims_valid(input_dims) || !dims_valid(output_dims) || !dims_equal(input_dims, output_dims)) {
        return WESS_ERR_BAD_SHAPE;
    }
    const int32_t element_count = flat_size(input_dims);
    for (int32_t index = 0; index < element_count; ++index) {
        const float rounded = roundf(input[index] / params->output_scale);
        /* clamp in float first: the int32 conversion of a huge value or NaN is undefined in C (TFLite does it;
         * x86 yields INT32_MIN, hence NaN -> -128) */
        const float bounded = rounded != rounded ? -1024.0f : (rounded < -1024.0f ? -1024.0f
                                                               : (rounded > 1024.0f ? 1024.0f : rounded));
        const int32_t quantized = (int32_t)bounded + params->output_zero_point;
        output[index] = (int8_t)clamp_int32(quantized, INT8_MIN, INT8_MAX);
    }
    return WESS_OK;
}

/* QUANTIZE of a compact model: tensors (input, output), wess_quantize_params_t words. */
wess_status_t quantize_op_run(const model_run_t *model, const model_op_t *op)
{
    const bound_tensor_t input = model_op_tensor(model, op, 0), output = model_op_tensor(model, op, 1);
    wess_quantize_params_t params;
    model_op_params(op, &params, sizeof params);
    return wess_quantize_f32_s8(&params, &input.record.dims, (const float *)(const void *)input.data,
                                &output.record.dims, (int8_t *)output.data);
}
