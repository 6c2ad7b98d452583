/* The loop MAXIMUM and MINIMUM share: TFLite's MaximumMinimumBroadcastSlow compares the stored int8 values of the
 * two inputs (no rescaling), each broadcast along any axis of extent 1. */
#ifndef WESS_MAXIMUM_MINIMUM_H
#define WESS_MAXIMUM_MINIMUM_H

#include "kernel_util.h"

/* The larger (take_larger 1: MAXIMUM) or smaller (0: MINIMUM) of two int8 values. */
static inline int8_t maximum_minimum_element(int8_t input1, int8_t input2, int take_larger)
{
    if (take_larger) {
        return input1 > input2 ? input1 : input2;
    }
    return input1 < input2 ? input1 : input2;
}

static inline wess_status_t maximum_minimum_s8(const wess_dims_t *input1_dims, const int8_t *input1,
                                               const wess_dims_t *input2_dims, const int8_t *input2,
                                               const wess_dims_t *output_dims, int8_t *output, int take_larger)
{
    if (input1 == NULL || input2 == NULL || output == NULL) {
        return WESS_ERR_BAD_ARG;
    }
    broadcast_strides_t strides1, strides2;
    if (!broadcast_strides(input1_dims, output_dims, &strides1) ||
        !broadcast_strides(input2_dims, output_dims, &strides2)) {
        return WESS_ERR_BAD_SHAPE;
    }
    for (int32_t n = 0; n < output_dims->n; ++n) {
        for (int32_t y = 0; y < output_dims->h; ++y) {
            for (int32_t x = 0; x < output_dims->w; ++x) {
                const int8_t *row1 = input1 + n * strides1.n + y * strides1.h + x * strides1.w;
                const int8_t *row2 = input2 + n * strides2.n + y * strides2.h + x * strides2.w;
                int8_t *row = output + ((n * output_dims->h + y) * output_dims->w + x) * output_dims->c;
                for (int32_t c = 0; c < output_dims->c; ++c) {
                    row[c] = maximum_minimum_element(row1[c * strides1.c], row2[c * strides2.c], take_larger);
                }
            }
        }
    }
    return WESS_OK;
}

#endif /* WESS_MAXIMUM_MINIMUM_H */
