/* gemmlowp's fixed-point exp, reciprocal, logistic and tanh as TFLite's int8 SOFTMAX, LOGISTIC and TANH use them
 * (internal). Raw int32 values carry a Q format: Qm.n has m integer bits and n = 31 - m fractional bits; the product
 * of a Qa and a Qb value by saturating_rounding_doubling_high_mul is Q(a+b). */
#ifndef WESS_FIXEDPOINT_EXP_H
#define WESS_FIXEDPOINT_EXP_H

#include <stdint.h>

#include "fixedpoint.h"

/* x * 2^left_shift saturated to int32, 0 <= left_shift <= 31 (gemmlowp's positive SaturatingRoundingMultiplyByPOT). */
static inline int32_t saturating_left_shift(int32_t x, int32_t left_shift)
{
    return saturate_int32((int64_t)x * ((int64_t)1 << left_shift));
}

/* exp(a) for a in [-1/4, 0), Q0.31 in and out: fourth-order Taylor expansion around -1/8. */
static inline int32_t exp_on_interval_between_negative_one_quarter_and_0_excl(int32_t a_q0)
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

/* exp(a) for a <= 0 given with integer_bits (1..5) integer bits (Q<integer_bits>), result in Q0.31
 * (exp(0) = INT32_MAX). a = -(k/4) + (a mod 1/4 - 1/4): the fractional quarter goes through the Taylor expansion,
 * each set bit of k below 2^integer_bits multiplies by exp(-2^bit / 4). */
static inline int32_t exp_on_negative_values(int32_t a, int32_t integer_bits)
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
    const int32_t fractional_bits = 31 - integer_bits;
    const int32_t one_quarter = (int32_t)1 << (fractional_bits - 2);
    const int32_t a_mod_quarter_minus_one_quarter = (a & (one_quarter - 1)) - one_quarter;  /* [-1/4, 0) */
    int32_t result = exp_on_interval_between_negative_one_quarter_and_0_excl(
        saturating_left_shift(a_mod_quarter_minus_one_quarter, integer_bits));  /* Q<integer_bits> -> Q0.31 */
    const int32_t remainder = a_mod_quarter_minus_one_quarter - a;  /* >= 0, a multiple of 1/4 */
    for (int32_t bit = 0; bit < integer_bits + 2; ++bit) {  /* the multiple's bits: 1/4 up to 2^(integer_bits-1) */
        if ((remainder & ((int32_t)1 << (fractional_bits - 2 + bit))) != 0) {
            result = saturating_rounding_doubling_high_mul(result, exp_minus_pot_q0[bit]);
        }
    }
    return a == 0 ? INT32_MAX : result;
}

/* The Newton-Raphson estimate of 1 / (1 + x) in Q2.29 for x in [0, 1) given in Q0.31, and the half denominator
 * (1 + x) / 2 rounded half away from zero, as gemmlowp's two reciprocal helpers share them. */
static inline int32_t reciprocal_estimate_q2(int32_t x_q0)
{
    const int32_t one_q2 = 1 << 29;
    const int32_t constant_48_over_17_q2 = 1515870810;
    const int32_t constant_neg_32_over_17_q2 = -1010580540;
    const int32_t half_denominator_q0 = (int32_t)(((int64_t)x_q0 + INT32_MAX + 1) / 2);  /* the int64 sum is >= 0 */
    int32_t estimate_q2 = constant_48_over_17_q2 +
                          saturating_rounding_doubling_high_mul(half_denominator_q0, constant_neg_32_over_17_q2);
    for (int32_t step = 0; step < 3; ++step) {
        const int32_t half_denominator_times_estimate_q2 =
            saturating_rounding_doubling_high_mul(half_denominator_q0, estimate_q2);
        const int32_t error_q2 = one_q2 - half_denominator_times_estimate_q2;
        const int32_t correction_q4 = saturating_rounding_doubling_high_mul(estimate_q2, error_q2);
        estimate_q2 = estimate_q2 + saturating_left_shift(correction_q4, 2);  /* Q4 -> Q2 */
    }
    return estimate_q2;  /* 2 / (1 + x) */
}

/* 1 / (1 + x) for x in [0, 1), Q0.31 in and out. */
static inline int32_t one_over_one_plus_x_for_x_in_0_1(int32_t x_q0)
{
    /* the estimate is 2 / (1 + x): read the Q2 raw value as Q1, then rescale Q1 -> Q0 */
    return saturating_left_shift(reciprocal_estimate_q2(x_q0), 1);
}

/* (1 - x) / (1 + x) for x in [0, 1), Q0.31 in and out: 2 / (1 + x) - 1, rescaled Q2 -> Q0. */
static inline int32_t one_minus_x_over_one_plus_x_for_x_in_0_1(int32_t x_q0)
{
    return saturating_left_shift(reciprocal_estimate_q2(x_q0) - (1 << 29), 2);
}

/* logistic(a) = 1 / (1 + exp(-a)) for a in Q4.27 with a != INT32_MIN, result in Q0.31 (1/2 at a = 0). */
static inline int32_t logistic_q4(int32_t a_q4)
{
    if (a_q4 == 0) {
        return 1 << 30;
    }
    const int32_t abs_a_q4 = a_q4 > 0 ? a_q4 : -a_q4;
    const int32_t logistic_of_abs_q0 = one_over_one_plus_x_for_x_in_0_1(exp_on_negative_values(-abs_a_q4, 4));
    return a_q4 > 0 ? logistic_of_abs_q0 : INT32_MAX - logistic_of_abs_q0;
}

/* tanh(a) for a in Q4.27 with a != INT32_MIN, result in Q0.31: (1 - exp(-2|a|)) / (1 + exp(-2|a|)), the doubling
 * done by reading the Q4 raw value as Q5. */
static inline int32_t tanh_q4(int32_t a_q4)
{
    if (a_q4 == 0) {
        return 0;
    }
    const int32_t minus_abs_a_q4 = a_q4 < 0 ? a_q4 : -a_q4;
    const int32_t tanh_of_abs_q0 = one_minus_x_over_one_plus_x_for_x_in_0_1(exp_on_negative_values(minus_abs_a_q4, 5));
    return a_q4 < 0 ? -tanh_of_abs_q0 : tanh_of_abs_q0;
}

#endif /* WESS_FIXEDPOINT_EXP_H */
