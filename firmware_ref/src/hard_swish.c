/* HARD_SWISH int8 reference kernel: TFLite Micro's reference_ops::HardSwish, x * relu6(x + 3) / 6 in 16-bit fixed
 * point: the input on a "hires" scale (x 2^7), its rescale to the output scale, and a "reluish" factor in [0, 1]
 * (x rescaled so that 3.0 is 2^15, then mapped from [-1, 1] to [0, 1]), multiplied with a truncating high mul. */
#include "kernel_util.h"
#include "op_table.h"

static int16_t saturate_int16(int64_t value)
{
    return (int16_t)(value > INT16_MAX ? INT16_MAX : (value < INT16_MIN ? INT16_MIN : value));
}

/* a * b / 2^15 rounded to nearest (ties toward +infinity), INT16_MAX for INT16_MIN * INT16_MIN (gemmlowp, int16). */
static int16_t saturating_rounding_doubling_high_mul_int16(int16_t a, int16_t b)
{
    if (a == INT16_MIN && b == INT16_MIN) {
        return INT16_MAX;
    }
    const int32_t product = (int32_t)a * (int32_t)b;
    const int32_t nudge = product >= 0 ? (1 << 14) : (1 - (1 << 14));
    return (int16_t)((product + nudge) / (1 << 15));  /* C division truncates toward zero */
}

/* a * b / 2^15 truncated toward zero, INT16_MAX for INT16_MIN * INT16_MIN (TFLite's SaturatingDoublingHighMul). */
static int16_t saturating_doubling_high_mul_int16(int16_t a, int16_t b)
{
    if (a == INT16_MIN && b == INT16_MIN) {
        return INT16_MAX;
    }
    return (int16_t)(((int32_t)a * (int32_t)b) / (1 << 15));
}

static int params_valid(const wess_hard_swish_params_t *params)
{
    return int8_value_valid(params->input_zero_point) && int8_value_valid(params->output_zero_point) &&
           params->reluish_multiplier >= 0 && params->reluish_multiplier <= INT16_MAX &&
           params->reluish_exponent >= -31 && params->reluish_exponent <= 30 &&
           params->output_multiplier >= 0 && params->output_multiplier <= INT16_MAX &&
           params->output_exponent >= -31 && params->output_exponent <= 0;
}

/* gemmlowp's RoundingDivideByPOT on int16_t, exponent in [0, 31], which TFLite Micro's HARD_SWISH applies: round
 * half away from zero up to exponent 15; from 16 on its mask (1 << exponent) - 1 truncates to the int16 -1, so the
 * remainder is x itself against a threshold of -1 (x >= 0) or 0 (x < 0), and the result is 1 for x >= 0 and -1 for
 * x < 0 (reached by layers whose scales are tiny, e.g. random weights). */
static int16_t rounding_divide_by_pot_int16(int16_t x, int32_t exponent)
{
    if (exponent >= 16) {
        return (int16_t)(x >= 0 ? 1 : -1);
    }
    return (int16_t)rounding_divide_by_pot(x, exponent);
}

/* x rescaled so that 3.0 is 2^15 (saturating), in [-2^15, 2^15 - 1]. */
static int16_t reluish_value(const wess_hard_swish_params_t *params, int16_t input_hires)
{
    int16_t value = input_hires;
    if (params->reluish_exponent > 0) {  /* all but the last bit of the left shift before the multiply */
        value = saturate_int16((int64_t)value * ((int64_t)1 << (params->reluish_exponent - 1)));
    }
    value = saturating_rounding_doubling_high_mul_int16(value, (int16_t)params->reluish_multiplier);
    if (params->reluish_exponent > 0) {
        value = saturate_int16((int64_t)value * 2);
    } else if (params->reluish_exponent < 0) {
        value = rounding_divide_by_pot_int16(value, -params->reluish_exponent);
    }
    return value;
}

wess_status_t wess_hard_swish_s8(const wess_hard_swish_params_t *params,
                                 const wess_dims_t *input_dims, const int8_t *input,
                                 const wess_dims_t *output_dims, int8_t *output)
{
    const wess_status_t status = elementwise_check(params, input_dims, input, output_dims, output);
    if (status != WESS_OK) {
        return status;
    }
    if (!params_valid(params)) {
        return WESS_ERR_BAD_ARG;
    }
    const int32_t element_count = flat_size(output_dims);
    for (int32_t index = 0; index < element_count; ++index) {
        const int16_t input_hires = (int16_t)((input[index] - params->input_zero_point) * (1 << 7));  /* |.| <= 32640 */
        const int16_t input_on_output_scale =
            saturating_rounding_doubling_high_mul_int16(input_hires, (int16_t)params->output_multiplier);
        /* [-1, 1] -> [0, 1] in Q0.15 */
        const int16_t reluish = (int16_t)((reluish_value(params, input_hires) + (1 << 15)) >> 1);
        const int16_t preshift_output = saturating_doubling_high_mul_int16(reluish, input_on_output_scale);
        const int32_t value = rounding_divide_by_pot_int16(preshift_output, -params->output_exponent) +
                              params->output_zero_point;
        output[index] = (int8_t)clamp_int32(value, INT8_MIN, INT8_MAX);
    }
    return WESS_OK;
}

/* HARD_SWISH of a compact model: tensors (input, output), wess_hard_swish_params_t words. */
wess_status_t hard_swish_op_run(const model_run_t *model, const model_op_t *op)
{
    const bound_tensor_t input = model_op_tensor(model, op, 0), output = model_op_tensor(model, op, 1);
    wess_hard_swish_params_t params;
    model_op_params(op, &params, sizeof params);
    return wess_hard_swish_s8(&params, &input.record.dims, (const int8_t *)input.data,
                              &output.record.dims, (int8_t *)output.data);
}
