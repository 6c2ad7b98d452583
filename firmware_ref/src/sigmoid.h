/* The loop LOGISTIC and TANH share (internal): TFLite Micro's reference_integer_ops::Logistic and Tanh differ only
 * in the fixed-point function and the output scale and zero point. */
#ifndef WESS_SIGMOID_H
#define WESS_SIGMOID_H

#include "fixedpoint_exp.h"
#include "kernel_util.h"

/* The parameters both LOGISTIC and TANH take. */
static inline int sigmoid_params_valid(const wess_sigmoid_params_t *params)
{
    return int8_value_valid(params->input_zero_point) && params->input_range_radius >= 0 &&
           params->input_multiplier >= 0 && params->input_left_shift >= -31 && params->input_left_shift <= 30;
}

/* For each element: |q - zero point| at or beyond the radius saturates to -128 / 127; otherwise the input rescaled
 * to Q4.27 goes through q0_of_q4 (a Q0.31 result), divided by 2^right_shift (rounding half away), plus
 * output_zero_point, clamped to int8. */
static inline wess_status_t sigmoid_family_s8(const wess_sigmoid_params_t *params,
                                              const wess_dims_t *input_dims, const int8_t *input,
                                              const wess_dims_t *output_dims, int8_t *output,
                                              int32_t (*q0_of_q4)(int32_t), int32_t right_shift,
                                              int32_t output_zero_point)
{
    const wess_status_t status = elementwise_check(params, input_dims, input, output_dims, output);
    if (status != WESS_OK) {
        return status;
    }
    if (!sigmoid_params_valid(params)) {
        return WESS_ERR_BAD_ARG;
    }
    const int32_t element_count = flat_size(output_dims);
    for (int32_t index = 0; index < element_count; ++index) {
        const int32_t centred = input[index] - params->input_zero_point;  /* [-255, 255] */
        if (centred <= -params->input_range_radius) {
            output[index] = INT8_MIN;
        } else if (centred >= params->input_range_radius) {
            output[index] = INT8_MAX;
        } else {
            /* |centred| < radius keeps the Q4.27 value inside (-16, 16); the guard only serves bad params */
            const int32_t input_q4 = multiply_by_quantized_multiplier(centred, params->input_multiplier,
                                                                      params->input_left_shift);
            const int32_t result_q0 = q0_of_q4(input_q4 == INT32_MIN ? INT32_MIN + 1 : input_q4);
            const int32_t value = rounding_divide_by_pot(result_q0, right_shift) + output_zero_point;
            output[index] = (int8_t)clamp_int32(value, INT8_MIN, INT8_MAX);
        }
    }
    return WESS_OK;
}

#endif /* WESS_SIGMOID_H */
