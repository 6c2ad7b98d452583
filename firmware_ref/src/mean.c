/* MEAN over H and W (global average pool) int8 reference kernel, following TFLite Micro's QuantizedMeanOrSum.
 *
 * TFLite Micro folds 1 / count (count = in_h * in_w) into the multiplier: with n = min(floor(log2(count)),
 * 31 + exponent), multiplier' = (multiplier * 2^n) / count (truncating), exponent' = exponent - n, where exponent =
 * -right_shift; output = clamp(output_offset + MultiplyByQuantizedMultiplier(sum, multiplier', exponent')).
 * LiteRT 2.3.0's reference MEAN (BUILTIN_REF) gave the same bytes as TFLite Micro on every case tested (keep_dims
 * true and false, equal and unequal scales); LiteRT's default optimized MEAN differs in the last place.
 */
#include "kernel_util.h"
#include "mean_fold.h"
#include "op_table.h"


wess_status_t wess_mean_hw_s8(const wess_mean_params_t *params,
                              const wess_dims_t *input_dims, const int8_t *input,
                              const wess_dims_t *output_dims, int8_t *output)
{
    if (params == NULL || input == NULL || output == NULL) {
        return WESS_ERR_BAD_ARG;
    }
    if (!input_offset_valid(params->input_offset) || !int8_value_valid(params->output_offset) ||
        params->multiplier < 0 || params->right_shift < -30 || params->right_shift > 31) {
        return WESS_ERR_BAD_ARG;
    }
    if (!dims_valid(input_dims) || !dims_valid(output_dims)) {
        return WESS_ERR_BAD_SHAPE;
    }
    if (input_dims->n != 1 || output_dims->n != 1) {
        return WESS_ERR_UNSUPPORTED;
    }
    if (output_dims->h != 1 || output_dims->w != 1 || output_dims->c != input_dims->c) {
        return WESS_ERR_BAD_SHAPE;
    }
    if ((int64_t)input_dims->h * input_dims->w > WESS_MAX_MEAN_COUNT) {
        return WESS_ERR_UNSUPPORTED;
    }
    const int32_t count = input_dims->h * input_dims->w, depth = input_dims->c;
    int32_t mean_exponent;
    const int32_t mean_multiplier = mean_fold_multiplier(params->multiplier, params->right_shift, count,
                                                         &mean_exponent);
    for (int32_t channel = 0; channel < depth; ++channel) {
        int32_t sum = 0;  /* count <= 2^23 terms of magnitude <= 255: |sum| < 2^31 */
        for (int32_t in_y = 0; in_y < input_dims->h; ++in_y) {
            for (int32_t in_x = 0; in_x < input_dims->w; ++in_x) {
                sum += input[(in_y * input_dims->w + in_x) * depth + channel] + params->input_offset;
            }
        }
        const int32_t mean = multiply_by_quantized_multiplier(sum, mean_multiplier, mean_exponent);
        output[channel] = output_int8(mean, params->output_offset, INT8_MIN, INT8_MAX);
    }
    return WESS_OK;
}

/* MEAN of a compact model: tensors (input, output), wess_mean_params_t words. */
wess_status_t mean_op_run(const model_run_t *model, const model_op_t *op)
{
    const bound_tensor_t input = model_op_tensor(model, op, 0), output = model_op_tensor(model, op, 1);
    wess_mean_params_t params;
    model_op_params(op, &params, sizeof params);
    /* keep_dims false gives [1, c]: the same bytes as [1, 1, 1, c] */
    return wess_mean_hw_s8(&params, &input.record.dims, (const int8_t *)input.data,
                           &output.record.dims, (int8_t *)output.data);
}
