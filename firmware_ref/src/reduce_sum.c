/* SUM, and MEAN over any axes, int8 reference kernel: TFLite Micro's QuantizedMeanOrSum (the int32 sum of the
 * elements reduced into each output, less input zero point times count, requantized by input_scale / output_scale,
 * MEAN with 1 / count folded into the multiplier: mean_fold.h), or, for a MEAN whose input and output share scale
 * and zero point, its integer Mean (the sum of the stored bytes divided by the count, truncating toward zero). */
#include "kernel_util.h"
#include "mean_fold.h"
#include "op_table.h"

static int reduce_flag_valid(int32_t flag)
{
    return flag == 0 || flag == 1;
}

/* The sum of the input bytes in the box of the given extents from `first`; count <= 2^23 terms of magnitude <= 128
 * (|sum| <= 2^30). */
static int32_t box_sum(const int8_t *first, const int32_t strides[4], const int32_t extents[4])
{
    int32_t sum = 0;
    for (int32_t n = 0; n < extents[0]; ++n) {
        for (int32_t y = 0; y < extents[1]; ++y) {
            for (int32_t x = 0; x < extents[2]; ++x) {
                const int8_t *row = first + n * strides[0] + y * strides[1] + x * strides[2];
                for (int32_t c = 0; c < extents[3]; ++c) {
                    sum += row[c];
                }
            }
        }
    }
    return sum;
}

static wess_status_t params_valid(const wess_reduce_sum_params_t *params)
{
    const wess_reduce_params_t *axes = &params->axes;
    const wess_mean_params_t *quant = &params->quant;
    if (!reduce_flag_valid(axes->reduce_n) || !reduce_flag_valid(axes->reduce_h) ||
        !reduce_flag_valid(axes->reduce_w) || !reduce_flag_valid(axes->reduce_c) ||
        !input_offset_valid(quant->input_offset) || !int8_value_valid(quant->output_offset) ||
        quant->multiplier < 0 || quant->right_shift < -30 || quant->right_shift > 31 ||
        params->mode < WESS_REDUCE_SUM || params->mode > WESS_REDUCE_MEAN_SAME_QUANT) {
        return WESS_ERR_BAD_ARG;
    }
    return WESS_OK;
}

wess_status_t wess_reduce_sum_s8(const wess_reduce_sum_params_t *params,
                                 const wess_dims_t *input_dims, const int8_t *input,
                                 const wess_dims_t *output_dims, int8_t *output)
{
    if (params == NULL || input == NULL || output == NULL || params_valid(params) != WESS_OK) {
        return WESS_ERR_BAD_ARG;
    }
    if (!dims_valid(input_dims) || !dims_valid(output_dims)) {
        return WESS_ERR_BAD_SHAPE;
    }
    const int32_t extents[4] = {input_dims->n, input_dims->h, input_dims->w, input_dims->c};
    const int32_t reduced[4] = {params->axes.reduce_n, params->axes.reduce_h, params->axes.reduce_w,
                                params->axes.reduce_c};
    const int32_t strides[4] = {extents[1] * extents[2] * extents[3], extents[2] * extents[3], extents[3], 1};
    int32_t kept[4], box[4];  /* per axis: the output's extent and the reduced box's */
    int32_t kept_size = 1, count = 1;  /* each <= the input's flat size, < 2^31 */
    for (int axis = 0; axis < 4; ++axis) {
        kept[axis] = reduced[axis] ? 1 : extents[axis];
        box[axis] = reduced[axis] ? extents[axis] : 1;
        kept_size *= kept[axis];
        count *= box[axis];
    }
    if (flat_size(output_dims) != kept_size) {
        return WESS_ERR_BAD_SHAPE;
    }
    if (count > WESS_MAX_MEAN_COUNT) {
        return WESS_ERR_UNSUPPORTED;
    }
    const wess_mean_params_t *quant = &params->quant;
    int32_t multiplier = quant->multiplier, exponent = -quant->right_shift;
    if (params->mode == WESS_REDUCE_MEAN) {
        multiplier = mean_fold_multiplier(quant->multiplier, quant->right_shift, count, &exponent);
    }
    int8_t *destination = output;
    for (int32_t n = 0; n < kept[0]; ++n) {
        for (int32_t y = 0; y < kept[1]; ++y) {
            for (int32_t x = 0; x < kept[2]; ++x) {
                for (int32_t c = 0; c < kept[3]; ++c) {
                    const int8_t *first = input + n * strides[0] + y * strides[1] + x * strides[2] + c;
                    const int32_t sum = box_sum(first, strides, box);
                    if (params->mode == WESS_REDUCE_MEAN_SAME_QUANT) {
                        *destination++ = (int8_t)(sum / count);  /* a mean of int8 values is one */
                        continue;
                    }
                    /* |sum + input_offset * count| <= 255 * 2^23 < 2^31 */
                    const int32_t shifted_sum = sum + quant->input_offset * count;
                    const int32_t value = multiply_by_quantized_multiplier(shifted_sum, multiplier, exponent);
                    *destination++ = output_int8(value, quant->output_offset, INT8_MIN, INT8_MAX);
                }
            }
        }
    }
    return WESS_OK;
}

/* SUM (or a MEAN beyond H and W) of a compact model: tensors (input, output), wess_reduce_sum_params_t words. */
wess_status_t reduce_sum_op_run(const model_run_t *model, const model_op_t *op)
{
    const bound_tensor_t input = model_op_tensor(model, op, 0), output = model_op_tensor(model, op, 1);
    wess_reduce_sum_params_t params;
    model_op_params(op, &params, sizeof params);
    return wess_reduce_sum_s8(&params, &input.record.dims, (const int8_t *)input.data, &output.record.dims,
                              (int8_t *)output.data);
}
