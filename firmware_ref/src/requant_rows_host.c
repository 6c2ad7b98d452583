/* The host build's requantization of several output pixels of a channel block (requant_block.h), compiled once
 * (with AVX2 clones on x86-64); empty on Cortex-M. */
#include "requant_block.h"

#if defined(WESS_HOST_KERNELS)
/* requantize_to_int8 of one lane without branches (multiply_by_quantized_multiplier_host: the same value as either
 * of its paths), so that the compiler vectorises a loop of them. */
static inline int32_t requantize_lane(int32_t acc, int32_t bias, int32_t multiplier, int32_t left_shift,
                                      int32_t right_shift, int32_t output_offset, int32_t act_low, int32_t act_high)
{
    const int32_t requantized = multiply_by_quantized_multiplier_host(saturating_add_host(acc, bias), multiplier,
                                                                      left_shift, right_shift);
    return clamp_int32(requantized, act_low, act_high) + output_offset;  /* in [-128, 127] */
}

/* output[row * output_stride + i] = requantize_to_int8(&channels[i], acc[row * acc_stride + i], ...) for
 * row < rows, i < count <= WESS_CHANNEL_BLOCK: on the host one call for several output pixels of a channel block.
 * The lanes' int32 results go to a buffer first: a loop whose narrowest type is int32 vectorises 8 lanes wide
 * (AVX2), where one storing int8 would take 32 lanes at a time and leave blocks of 8-16 channels to its scalar
 * tail. (A static function: a multiversioned one with external linkage would need its clones declared in every
 * file that calls it.) */
static WESS_HOST_CLONES void requantize_lanes(const channel_requant_t *channels, const int32_t *acc,
                                              int32_t acc_stride, int32_t rows, int32_t count, int32_t output_offset,
                                              int32_t act_min, int32_t act_max, int8_t *output, int32_t output_stride)
{
    /* output_int8's bounds: act_min - output_offset .. act_max - output_offset, in [-255, 255] */
    const int32_t act_low = act_min - output_offset, act_high = act_max - output_offset;
    /* the table's fields as separate arrays (contiguous vector loads in the row loop) */
    int32_t multiplier[WESS_CHANNEL_BLOCK], left_shift[WESS_CHANNEL_BLOCK], right_shift[WESS_CHANNEL_BLOCK];
    int32_t bias[WESS_CHANNEL_BLOCK];
    int32_t any_left_shift = 0;
    for (int32_t index = 0; index < count; ++index) {
        multiplier[index] = channels[index].multiplier;
        left_shift[index] = channels[index].left_shift;
        right_shift[index] = -channels[index].minus_right_shift;
        bias[index] = channels[index].bias;
        any_left_shift |= left_shift[index];
    }
    for (int32_t row = 0; row < rows; ++row) {
        const int32_t *acc_row = acc + row * acc_stride;
        int32_t result[WESS_CHANNEL_BLOCK];
        if (any_left_shift != 0) {
            for (int32_t index = 0; index < count; ++index) {
                result[index] = requantize_lane(acc_row[index], bias[index], multiplier[index], left_shift[index],
                                                right_shift[index], output_offset, act_low, act_high);
            }
        } else {  /* the usual case: every left shift 0, a literal the compiler removes the shift steps for */
            for (int32_t index = 0; index < count; ++index) {
                result[index] = requantize_lane(acc_row[index], bias[index], multiplier[index], 0, right_shift[index],
                                                output_offset, act_low, act_high);
            }
        }
        int8_t *output_row = output + row * output_stride;
        for (int32_t index = 0; index < count; ++index) {
            output_row[index] = (int8_t)result[index];
        }
    }
}

void wess_requantize_rows_host(const channel_requant_t *channels, const int32_t *acc, int32_t acc_stride, int32_t rows,
                               int32_t count, int32_t output_offset, int32_t act_min, int32_t act_max, int8_t *output,
                               int32_t output_stride)
{
    requantize_lanes(channels, acc, acc_stride, rows, count, output_offset, act_min, act_max, output, output_stride);
}
#endif
