/* SOFTMAX int8 reference kernel: TFLite's fixed-point exp path (gemmlowp exp_on_negative_values, Newton reciprocal).
 *
 * Raw int32 values carry a Q format: Qm.n has m integer bits and n = 31 - m fractional bits; the product of a Qa and a
 * Qb value by saturating_rounding_doubling_high_mul is Q(a+b).
 * Deliberate difference: when the sum of exps reaches 2^28 (Q12.19; e.g. >= 512 equal logits) the final rounding
 * exponent exceeds 31. LiteRT's reference kernel and TFLite Micro then abort the process (TFLITE_CHECK; checked with
 * LiteRT 2.3.0 and tflite-micro 2026-10); this kernel returns the exact result, -128 (every probability < 1/512).
 */
#include "fixedpoint_exp.h"
#include "kernel_util.h"
#include "op_table.h"

#define SCALED_DIFF_INTEGER_BITS 5    /* exp input: Q5.26 */
#define ACCUMULATION_INTEGER_BITS 12  /* sum of exps: Q12.19 */
#define MAX_DEPTH 4095                /* sum of exps <= depth * 2^19 < 2^31 */

static int32_t count_leading_zeros(uint32_t x)
{
    int32_t count = 0;
    for (uint32_t bit = 0x80000000u; bit != 0 && (x & bit) == 0; bit >>= 1) {
        ++count;
    }
    return count;
}

/* exp((input - max) * beta * input_scale) in Q0.31, input_diff = input - max in [diff_min, 0]. */
static int32_t exp_of_input_diff(const wess_softmax_params_t *params, int32_t input_diff)
{
    /* |input_diff| * 2^left_shift <= 31 * 2^26 by the definition of diff_min; saturation guards bad params */
    const int32_t input_diff_rescaled_q5 = saturating_rounding_doubling_high_mul(
        saturating_left_shift(input_diff, params->input_beta_left_shift), params->input_beta_multiplier);
    return exp_on_negative_values(input_diff_rescaled_q5, SCALED_DIFF_INTEGER_BITS);
}

static void softmax_row(const wess_softmax_params_t *params, const int8_t *input, int8_t *output, int32_t depth)
{
    int32_t max_in_row = INT8_MIN;
    for (int32_t channel = 0; channel < depth; ++channel) {
        max_in_row = input[channel] > max_in_row ? input[channel] : max_in_row;
    }
    /* sum_of_exps_q12: each term <= 2^19, depth <= 4095 terms, so < 2^31; >= 2^19 from the row maximum */
    int32_t sum_of_exps_q12 = 0;
    for (int32_t channel = 0; channel < depth; ++channel) {
        const int32_t input_diff = input[channel] - max_in_row;
        if (input_diff >= params->diff_min) {
            sum_of_exps_q12 += rounding_divide_by_pot(exp_of_input_diff(params, input_diff),
                                                      ACCUMULATION_INTEGER_BITS);  /* Q0.31 -> Q12.19 */
        }
    }
    /* sum = 2^bits_over_unit * (1 + fraction): reciprocal of the normalised sum, rescaled at the end */
    const int32_t headroom_plus_one = count_leading_zeros((uint32_t)sum_of_exps_q12);
    const int32_t bits_over_unit = ACCUMULATION_INTEGER_BITS - headroom_plus_one;  /* [0, 11] */
    const int32_t fraction_q0 = (int32_t)(((uint32_t)sum_of_exps_q12 << headroom_plus_one) - 0x80000000u);
    const int32_t reciprocal_q0 = one_over_one_plus_x_for_x_in_0_1(fraction_q0);
    /* probability * 256 = reciprocal * exp / 2^(bits_over_unit + 31 - 8) */
    const int32_t output_right_shift = bits_over_unit + 31 - 8;
    for (int32_t channel = 0; channel < depth; ++channel) {
        const int32_t input_diff = input[channel] - max_in_row;
        int32_t probability_256 = 0;
        if (input_diff >= params->diff_min && output_right_shift <= 31) {
            probability_256 = rounding_divide_by_pot(
                saturating_rounding_doubling_high_mul(reciprocal_q0, exp_of_input_diff(params, input_diff)),
                output_right_shift);
        }
        output[channel] = (int8_t)clamp_int32(probability_256 + INT8_MIN, INT8_MIN, INT8_MAX);
    }
}

wess_status_t wess_softmax_s8(const wess_softmax_params_t *params,
                              const wess_dims_t *input_dims, const int8_t *input,
                              const wess_dims_t *output_dims, int8_t *output)
{
    if (params == NULL || input == NULL || output == NULL) {
        return WESS_ERR_BAD_ARG;
    }
    if (params->input_beta_multiplier < 0 || params->input_beta_left_shift < 0 ||
        params->input_beta_left_shift > 31 || params->diff_min > 0) {
        return WESS_ERR_BAD_ARG;
    }
    if (!dims_valid(input_dims) || !dims_valid(output_dims) || !dims_equal(input_dims, output_dims)) {
        return WESS_ERR_BAD_SHAPE;
    }
    if (input_dims->c > MAX_DEPTH) {
        return WESS_ERR_UNSUPPORTED;
    }
    const int32_t depth = input_dims->c;
    const int32_t row_count = input_dims->n * input_dims->h * input_dims->w;
    for (int32_t row = 0; row < row_count; ++row) {
        softmax_row(params, input + row * depth, output + row * depth, depth);
    }
    return WESS_OK;
}

/* SOFTMAX of a compact model: tensors (input, output), wess_softmax_params_t words. */
wess_status_t softmax_op_run(const model_run_t *model, const model_op_t *op)
{
    const bound_tensor_t input = model_op_tensor(model, op, 0), output = model_op_tensor(model, op, 1);
    wess_softmax_params_t params;
    model_op_params(op, &params, sizeof params);
    return wess_softmax_s8(&params, &input.record.dims, (const int8_t *)input.data,
                           &output.record.dims, (int8_t *)output.data);
}
