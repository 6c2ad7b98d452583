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
    broadcast_rows_t rows;
    if (!broadcast_rows_start(&rows, input1_dims, input2_dims, output_dims)) {
        return WESS_ERR_BAD_SHAPE;
    }
    for (int32_t row = 0; row < rows.count; ++row, broadcast_rows_next(&rows)) {
        const int8_t *input1_row = input1 + rows.offset1;
        const int8_t *input2_row = input2 + rows.offset2;
        int8_t *output_row = output + row * output_dims->c;
        for (int32_t c = 0; c < output_dims->c; ++c) {
            output_row[c] = maximum_minimum_element(input1_row[c * rows.strides1.c], input2_row[c * rows.strides2.c],
                                                    take_larger);
        }
    }
    return WESS_OK;
}

#endif /* WESS_MAXIMUM_MINIMUM_H */
