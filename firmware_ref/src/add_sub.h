/* The arithmetic ADD and SUB share (TFLite's general quantized add / sub: left_shift 20, three multipliers), with
 * broadcasting of any input axis of extent 1, as TFLite Micro's BroadcastAdd4DSlow / BroadcastQuantSubSlow. */
#ifndef WESS_ADD_SUB_H
#define WESS_ADD_SUB_H

#include "kernel_util.h"

static inline int add_right_shift_valid(int32_t right_shift)
{
    return right_shift >= 0 && right_shift <= 31;
}

static inline int add_params_valid(const wess_add_params_t *params)
{
    return input_offset_valid(params->input1_offset) && input_offset_valid(params->input2_offset) &&
           int8_value_valid(params->output_offset) && params->left_shift >= 0 && params->left_shift <= 20 &&
           params->input1_multiplier >= 0 && params->input2_multiplier >= 0 && params->output_multiplier >= 0 &&
           add_right_shift_valid(params->input1_right_shift) && add_right_shift_valid(params->input2_right_shift) &&
           add_right_shift_valid(params->output_right_shift) && activation_valid(params->act_min, params->act_max);
}

/* One output element from the two int8 inputs; input2_sign is +1 (ADD) or -1 (SUB). */
static inline int8_t add_sub_element(const wess_add_params_t *params, int8_t input1, int8_t input2,
                                     int32_t input2_sign)
{
    /* |input + input_offset| <= 255, shifted left by <= 20: |shifted| < 2^28 */
    const int32_t shifted1 = (input1 + params->input1_offset) * (1 << params->left_shift);
    const int32_t shifted2 = (input2 + params->input2_offset) * (1 << params->left_shift);
    /* multipliers are Q31 (< 1) with right shifts >= 0: |scaled| <= |shifted| < 2^28, |sum or difference| < 2^29 */
    const int32_t scaled1 = requantize(shifted1, params->input1_multiplier, params->input1_right_shift);
    const int32_t scaled2 = requantize(shifted2, params->input2_multiplier, params->input2_right_shift);
    const int32_t raw = input2_sign > 0 ? scaled1 + scaled2 : scaled1 - scaled2;
    return output_int8(requantize(raw, params->output_multiplier, params->output_right_shift),
                       params->output_offset, params->act_min, params->act_max);
}

#if defined(WESS_HOST_KERNELS)
/* add_sub_element of element_count same-shaped elements, on the host (add_sub_host.c: vectorised, AVX2 clones). */
void wess_add_sub_elements_host(const wess_add_params_t *params, const int8_t *input1, const int8_t *input2,
                                int8_t *output, int32_t element_count, int32_t input2_sign);
#endif

/* ADD (input2_sign +1) or SUB (-1) of two int8 tensors, each broadcast to output_dims along axes of extent 1. */
static inline wess_status_t add_sub_s8(const wess_add_params_t *params,
                                       const wess_dims_t *input1_dims, const int8_t *input1,
                                       const wess_dims_t *input2_dims, const int8_t *input2,
                                       const wess_dims_t *output_dims, int8_t *output, int32_t input2_sign)
{
    if (params == NULL || input1 == NULL || input2 == NULL || output == NULL || input1_dims == NULL ||
        input2_dims == NULL || output_dims == NULL) {
        return WESS_ERR_BAD_ARG;
    }
    if (!add_params_valid(params)) {
        return WESS_ERR_BAD_ARG;
    }
    broadcast_rows_t rows;
    if (!broadcast_rows_start(&rows, input1_dims, input2_dims, output_dims)) {
        return WESS_ERR_BAD_SHAPE;
    }
    if (dims_equal(input1_dims, output_dims) && dims_equal(input2_dims, output_dims)) {
        const int32_t element_count = flat_size(output_dims);
#if defined(WESS_HOST_KERNELS)
        wess_add_sub_elements_host(params, input1, input2, output, element_count, input2_sign);
        return WESS_OK;
#endif
        for (int32_t index = 0; index < element_count; ++index) {
            output[index] = add_sub_element(params, input1[index], input2[index], input2_sign);
        }
        return WESS_OK;
    }
    for (int32_t row = 0; row < rows.count; ++row, broadcast_rows_next(&rows)) {
        const int8_t *input1_row = input1 + rows.offset1;
        const int8_t *input2_row = input2 + rows.offset2;
        int8_t *output_row = output + row * output_dims->c;
        for (int32_t c = 0; c < output_dims->c; ++c) {
            output_row[c] = add_sub_element(params, input1_row[c * rows.strides1.c], input2_row[c * rows.strides2.c],
                                            input2_sign);
        }
    }
    return WESS_OK;
}

#endif
