/* The host build's ADD / SUB of same-shaped tensors (add_sub.h), compiled once (with AVX2 clones on x86-64); empty
 * on Cortex-M. */
#include "add_sub.h"

#if defined(WESS_HOST_KERNELS)
/* add_sub_element of element_count same-shaped elements, in chunks whose int32 results are computed first (a loop of
 * int32 lanes vectorises 8 wide with AVX2; one storing int8 would take 32 at a time), with the branch-free
 * multiply_by_quantized_multiplier_host (fixedpoint.h; requantize(x, m, s) for s in [0, 31] is its right_shift s,
 * left_shift 0): the same bytes as add_sub_element. */
static WESS_HOST_CLONES void add_sub_elements(const wess_add_params_t *params, const int8_t *input1,
                                              const int8_t *input2, int8_t *output, int32_t element_count,
                                              int32_t input2_sign)
{
    const int32_t scale = 1 << params->left_shift;  /* left_shift in [0, 20] */
    const int32_t act_low = params->act_min - params->output_offset, act_high = params->act_max - params->output_offset;
    for (int32_t first = 0; first < element_count; first += WESS_CHANNEL_BLOCK) {
        const int32_t count = element_count - first < WESS_CHANNEL_BLOCK ? element_count - first : WESS_CHANNEL_BLOCK;
        int32_t result[WESS_CHANNEL_BLOCK];
        for (int32_t index = 0; index < count; ++index) {
            /* the ranges of add_sub_element: |shifted| < 2^28, |scaled| < 2^28, |raw| < 2^29 */
            const int32_t shifted1 = (input1[first + index] + params->input1_offset) * scale;
            const int32_t shifted2 = (input2[first + index] + params->input2_offset) * scale;
            const int32_t scaled1 = multiply_by_quantized_multiplier_host(shifted1, params->input1_multiplier, 0,
                                                                          params->input1_right_shift);
            const int32_t scaled2 = multiply_by_quantized_multiplier_host(shifted2, params->input2_multiplier, 0,
                                                                          params->input2_right_shift);
            const int32_t raw = scaled1 + input2_sign * scaled2;
            const int32_t requantized = multiply_by_quantized_multiplier_host(raw, params->output_multiplier, 0,
                                                                              params->output_right_shift);
            result[index] = clamp_int32(requantized, act_low, act_high) + params->output_offset;
        }
        for (int32_t index = 0; index < count; ++index) {
            output[first + index] = (int8_t)result[index];
        }
    }
}

void wess_add_sub_elements_host(const wess_add_params_t *params, const int8_t *input1, const int8_t *input2,
                                int8_t *output, int32_t element_count, int32_t input2_sign)
{
    add_sub_elements(params, input1, input2, output, element_count, input2_sign);
}
#endif
