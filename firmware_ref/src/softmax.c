/* SOFTMAX int8 reference kernel: TFLite's fixed-point exp path (gemmlowp exp_on_negative_values, Newton reciprocal).
 *
 * Raw int32 values carry a Q format: Qm.n has m integer bits and n = 31 - m fractional bits; the product of a Qa and a
 * Qb value by saturating_rounding_doubling_high_mul is Q(a+b).
 * Deliberate difference: when the sum of exps reaches 2^28 (Q12.19; e.g. >= 512 equal logits) the final rounding
 * exponent exceeds 31. LiteRT's reference kernel and TFLite Micro then abort the process (TFLITE_CHECK; checked with
 * LiteRT 2.3.0 and tflite-micro 2026-10); this kernel returns the exact result, -128 (every probability < 1/512).
 */
#include "kernel_util.h"
#include "op_table.h"

#define SCALED_DIFF_INTEGER_BITS 5    /* exp input: Q5.26 */
#define ACCUMULATION_INTEGER_BITS 12  /* sum of exps: Q12.19 */
#define MAX_DEPTH 4095                /* sum of exps <= depth * 2^19 < 2^31 */

/* x * 2^left_shift saturated to int32 (gemmlowp's positive SaturatingRoundingMultiplyByPOT). */
static int32_t saturating_left_shift(int32_t x, int32_t left_shift)
{
    return saturate_int32((int64_t)x * ((int64_t)1 << left_shift));
}

static int32_t count_leading_zeros(uint32_t x)
{
    int32_t count = 0;
    for (uint32_t bit = 0x80000000u; bit != 0 && (x & bit) == 0; bit >>= 1) {
        ++count;
    }
    return count;
}

/* exp(a) for a in [-1/4, 0), Q0.31 in and out: fourth-order Taylor expansion around -1/8. */
static int32_t exp_on_interval_between_negative_one_quarter_and_0_excl(int32_t a_q0)
{
    const int32_t exp_minus_one_eighth_q0 = 1895147668;  /* exp(-1/8) */
    const int32_t one_third_q0 = 715827883;              /* 1/3 */
    const int32_t x = a_q0 + (1 << 28);                  /* x = a + 1/8 in [-1/8, 1/8) */
    const int32_t x2 = saturating_rounding_doubling_high_mul(x, x);
    const int32_t x3 = saturating_rounding_doubling_high_mul(x2, x);
    const int32_t x4 = saturating_rounding_doubling_high_mul(x2, x2);
    const int32_t x4_over_4 = rounding_divide_by_pot(x4, 2);
    const int32_t x4_over_24_plus_x3_over_6_plus_x2_over_2 =
        rounding_divide_by_pot(saturating_rounding_doubling_high_mul(x4_over_4 + x3, one_third_q0) + x2, 1);
    return exp_minus_one_eighth_q0 +
           saturating_rounding_doubling_high_mul(exp_minus_one_eighth_q0, x + x4_over_24_plus_x3_over_6_plus_x2_over_2);
}

/* exp(a) for a <= 0: a in Q5.26, result in Q0.31 (exp(0) = INT32_MAX). a = -(k/4) + (a mod 1/4 - 1/4): the
 * fractional quarter goes through the Taylor expansion, each set bit of k multiplies by exp(-2^bit / 4). */
static int32_t exp_on_negative_values(int32_t a_q5)
{
    static const int32_t exp_minus_pot_q0[7] = {
        1672461947,  /* exp(-1/4) */
        1302514674,  /* exp(-1/2) */
        790015084,   /* exp(-1) */
        290630308,   /* exp(-2) */
        39332535,    /* exp(-4) */
        720401,      /* exp(-8) */
        242          /* exp(-16) */
    };
    const int32_t one_quarter_q5 = 1 << 24;
    const int32_t a_mod_quarter_minus_one_quarter = (a_q5 & (one_quarter_q5 - 1)) - one_quarter_q5;  /* [-1/4, 0) */
    int32_t result = exp_on_interval_between_negative_one_quarter_and_0_excl(
        saturating_left_shift(a_mod_quarter_minus_one_quarter, SCALED_DIFF_INTEGER_BITS));  /* Q5.26 -> Q0.31 */
    const int32_t remainder = a_mod_quarter_minus_one_quarter - a_q5;  /* >= 0, a multiple of 1/4 */
    for (int32_t bit = 0; bit < 7; ++bit) {
        if ((remainder & ((int32_t)1 << (24 + bit))) != 0) {
            result = saturating_rounding_doubling_high_mul(result, exp_minus_pot_q0[bit]);
        }
    }
    return a_q5 == 0 ? INT32_MAX : result;
}

/* 1 / (1 + x) for x in [0, 1), Q0.31 in and out: three Newton-Raphson steps on the half denominator. */
static int32_t one_over_one_plus_x_for_x_in_0_1(int32_t x_q0)
{
    const int32_t one_q2 = 1 << 29;
    const int32_t constant_48_over_17_q2 = 1515870810;
    const int32_t constant_neg_32_over_17_q2 = -1010580540;
    /* (x + 1) / 2, rounded half away from zero; the int64 sum is >= 0 */
    const int32_t half_denominator_q0 = (int32_t)(((int64_t)x_q0 + INT32_MAX + 1) / 2);
    int32_t estimate_q2 = constant_48_over_17_q2 +
                          saturating_rounding_doubling_high_mul(half_denominator_q0, constant_neg_32_over_17_q2);
    for (int32_t step = 0; step < 3; ++step) {
        const int32_t half_denominator_times_estimate_q2 =
            saturating_rounding_doubling_high_mul(half_denominator_q0, estimate_q2);
        const int32_t error_q2 = one_q2 - half_denominator_times_estimate_q2;
        const int32_t correction_q4 = saturating_rounding_doubling_high_mul(estimate_q2, error_q2);
        estimate_q2 = estimate_q2 + saturating_left_shift(correction_q4, 2);  /* Q4 -> Q2 */
    }
    /* estimate / 2 is 1 / (1 + x): read the Q2 raw value as Q1, then rescale Q1 -> Q0 */
    return saturating_left_shift(estimate_q2, 1);
}

/* exp((input - max) * beta * input_scale) in Q0.31, input_diff = input - max in [diff_min, 0]. */
static int32_t exp_of_input_diff(const wess_softmax_params_t *params, int32_t input_diff)
{
    /* |input_diff| * 2^left_shift <= 31 * 2^26 by the definition of diff_min; saturation guards bad params */
    const int32_t input_diff_rescaled_q5 = saturating_rounding_doubling_high_mul(
        saturating_left_shift(input_diff, params->input_beta_left_shift), params->input_beta_multiplier);
    return exp_on_negative_values(input_diff_rescaled_q5);
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
