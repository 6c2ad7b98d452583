/* SQUARED_DIFFERENCE int8 reference kernel: TFLite Micro's quantized SquaredDifference (left_shift 7, both inputs
 * rescaled to twice the larger input scale, the difference squared, then requantized), with broadcasting of any
 * input axis of extent 1 as its BroadcastBinaryFunction4DSlow. */
#include "kernel_util.h"
#include "op_table.h"

#define SQUARED_DIFFERENCE_LEFT_SHIFT 7

/* A Q31 multiplier with a right shift >= 0 whose value is at most 0.5 (TFLite's s_i / (2 max(s1, s2))). */
static int half_multiplier_valid(int32_t multiplier, int32_t right_shift)
{
    return multiplier >= 0 && right_shift >= 0 && right_shift <= 31 &&
           (right_shift > 0 || multiplier <= (int32_t)1 << 30);
}

static int params_valid(const wess_squared_difference_params_t *params)
{
    return input_offset_valid(params->input1_offset) && input_offset_valid(params->input2_offset) &&
           int8_value_valid(params->output_offset) &&
           half_multiplier_valid(params->input1_multiplier, params->input1_right_shift) &&
           half_multiplier_valid(params->input2_multiplier, params->input2_right_shift) &&
           params->output_multiplier >= 0 && params->output_right_shift >= -30 && params->output_right_shift <= 31;
}

static int8_t squared_difference_element(const wess_squared_difference_params_t *params, int8_t input1,
                                         int8_t input2)
{
    /* |q + offset| <= 255, times 2^7: |shifted| <= 32640; multipliers <= 0.5: |scaled| <= 16321 */
    const int32_t shifted1 = (input1 + params->input1_offset) * (1 << SQUARED_DIFFERENCE_LEFT_SHIFT);
    const int32_t shifted2 = (input2 + params->input2_offset) * (1 << SQUARED_DIFFERENCE_LEFT_SHIFT);
    const int32_t difference = requantize(shifted1, params->input1_multiplier, params->input1_right_shift) -
                               requantize(shifted2, params->input2_multiplier, params->input2_right_shift);
    const int32_t squared = difference * difference;  /* |difference| <= 32642: squared < 2^31 */
    return output_int8(requantize(squared, params->output_multiplier, params->output_right_shift),
                       params->output_offset, INT8_MIN, INT8_MAX);
}

wess_status_t wess_squared_difference_s8(const wess_squared_difference_params_t *params,
                                         const wess_dims_t *input1_dims, const int8_t *input1,
                                         const wess_dims_t *input2_dims, const int8_t *input2,
                                         const wess_dims_t *output_dims, int8_t *output)
{
    if (params == NULL || input1 == NULL || input2 == NULL || output == NULL || input1_dims == NULL ||
        input2_dims == NULL || output_dims == NULL || !params_valid(params)) {
        return WESS_ERR_BAD_ARG;
    }
    broadcast_rows_t rows;
    if (!broadcast_rows_start(&rows, input1_dims, input2_dims, output_dims)) {
        return WESS_ERR_BAD_SHAPE;
    }
    for (int32_t row = 0; row < rows.count; ++row, broadcast_rows_next(&rows)) {
        const int8_t *input1_row = input1 + rows.offset1;
        const int8_t *input2_row = input2 + rows.offset2;
        int8_t *output_row = output + row * output_dims->c;
        for (int32_t c = 0; c < output_dims->c; ++c) {
            output_row[c] = squared_difference_element(params, input1_row[c * rows.strides1.c],
                                                       input2_row[c * rows.strides2.c]);
        }
    }
    return WESS_OK;
}

/* SQUARED_DIFFERENCE of a compact model: tensors (input1, input2, output), wess_squared_difference_params_t words. */
wess_status_t squared_difference_op_run(const model_run_t *model, const model_op_t *op)
{
    const bound_tensor_t input1 = model_op_tensor(model, op, 0), input2 = model_op_tensor(model, op, 1);
    const bound_tensor_t output = model_op_tensor(model, op, 2);
    wess_squared_difference_params_t params;
    model_op_params(op, &params, sizeof params);
    return wess_squared_difference_s8(&params, &input1.record.dims, (const int8_t *)input1.data,
                                      &input2.record.dims, (const int8_t *)input2.data, &output.record.dims,
                                      (int8_t *)output.data);
}
