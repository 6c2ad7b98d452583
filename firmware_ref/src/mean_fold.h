/* TFLite Micro's QuantizedMeanOrSum folds 1 / count into MEAN's requantization (internal; mean.c, reduce_sum.c). */
#ifndef WESS_MEAN_FOLD_H
#define WESS_MEAN_FOLD_H

#include <stdint.h>

#define WESS_MAX_MEAN_COUNT (1 << 23)  /* a sum of count terms |q - zero point| <= 255 stays below 2^31 */

/* With n = min(floor(log2(count)), 31 + exponent) and exponent = -right_shift: multiplier' = (multiplier * 2^n) /
 * count (truncating), returned, and *mean_exponent = exponent - n, in [-31, 30]. multiplier in [0, INT32_MAX],
 * right_shift in [-30, 31], count in [1, WESS_MAX_MEAN_COUNT]. */
static inline int32_t mean_fold_multiplier(int32_t multiplier, int32_t right_shift, int32_t count,
                                           int32_t *mean_exponent)
{
    const int32_t exponent = -right_shift;
    int32_t count_log2 = 0;
    while ((count >> 1) >= (int32_t)1 << count_log2) {
        ++count_log2;  /* floor(log2(count)) <= 23 */
    }
    if (count_log2 > 31 + exponent) {
        count_log2 = 31 + exponent;  /* keeps exponent - count_log2 >= -31 */
    }
    *mean_exponent = exponent - count_log2;
    /* multiplier * 2^count_log2 < 2^54; the quotient is < 2^31 since 2^count_log2 <= count */
    return (int32_t)(((int64_t)multiplier * ((int64_t)1 << count_log2)) / count);
}

#endif /* WESS_MEAN_FOLD_H */
