/* Batch entry point applying one fixed-point primitive to arrays, for comparison with the Python twins. */
#include "kernel_util.h"

static int element_valid(wess_fixedpoint_op_t op, int32_t b, int32_t c)
{
    switch (op) {
    case WESS_FP_SRDHM:
        return 1;
    case WESS_FP_RDBPOT:
        return b >= 0 && b <= 31;
    case WESS_FP_SRDHM_NONNEGATIVE:
        return b >= 0;
    case WESS_FP_MBQM:
        return b >= 0 && c >= -31 && c <= 30;
    case WESS_FP_REQUANTIZE:
        return b >= 0 && c >= -30 && c <= 31;
    default:
        return 0;
    }
}

static int32_t apply(wess_fixedpoint_op_t op, int32_t a, int32_t b, int32_t c)
{
    switch (op) {
    case WESS_FP_SRDHM:
        return saturating_rounding_doubling_high_mul(a, b);
    case WESS_FP_RDBPOT:
        return rounding_divide_by_pot(a, b);
    case WESS_FP_SRDHM_NONNEGATIVE:
        return rounding_doubling_high_mul_nonnegative(a, b);
    case WESS_FP_MBQM:
        return multiply_by_quantized_multiplier(a, b, c);
    default:
        return requantize(a, b, c);
    }
}

wess_status_t wess_fixedpoint_batch(wess_fixedpoint_op_t op, const int32_t *a, const int32_t *b,
                                    const int32_t *c, int32_t *out, int32_t count)
{
    const int needs_c = op == WESS_FP_MBQM || op == WESS_FP_REQUANTIZE;
    if (a == NULL || b == NULL || out == NULL || (needs_c && c == NULL) || count < 0) {
        return WESS_ERR_BAD_ARG;
    }
    for (int32_t index = 0; index < count; ++index) {
        if (!element_valid(op, b[index], needs_c ? c[index] : 0)) {
            return WESS_ERR_BAD_ARG;
        }
    }
    for (int32_t index = 0; index < count; ++index) {
        out[index] = apply(op, a[index], b[index], needs_c ? c[index] : 0);
    }
    return WESS_OK;
}
