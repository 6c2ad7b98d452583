/* RESIZE_BILINEAR int8 reference kernel: TFLite Micro's ResizeBilinearInteger (source positions in Q10 fixed
 * point, the four neighbours weighted in Q20, rounded half away from zero), no rescaling: the output keeps the
 * input's quantization. */
#include "kernel_util.h"
#include "op_table.h"

#define RESIZE_ONE_Q10 (1 << 10)
#define RESIZE_MAX_EXTENT (1 << 16)  /* keeps every Q10 product below 2^31 */

/* One axis: the Q10 step through the input (TFLite's scale_10) and, per output index, the Q10 source position and
 * the two input rows or columns it lies between. */
typedef struct {
    int32_t scale_q10;
    int32_t half_pixel_centers;
    int32_t input_size;
} resize_axis_t;

static resize_axis_t resize_axis(int32_t input_size, int32_t output_size, int32_t align_corners,
                                 int32_t half_pixel_centers)
{
    /* input_size, output_size in [1, 2^16]: (2^10 * input_size + output_size / 2) < 2^27 */
    resize_axis_t axis = {(RESIZE_ONE_Q10 * input_size + output_size / 2) / output_size, half_pixel_centers,
                          input_size};
    if (align_corners && output_size > 1) {
        axis.scale_q10 = (RESIZE_ONE_Q10 * (input_size - 1) + (output_size - 1) / 2) / (output_size - 1);
    }
    return axis;
}

/* TFLite's ComputeInterpolationValuesInteger: the Q10 position of output index `index` and its lower and upper
 * input neighbours (the upper clamped to the input, the lower only at 0). */
static void resize_position(const resize_axis_t *axis, int32_t index, int32_t *position_q10, int32_t *lower,
                            int32_t *upper)
{
    /* index * scale_q10 + scale_q10 <= 2^30 for every index of the axis (resize_axis_valid) */
    *position_q10 = index * axis->scale_q10;
    if (axis->half_pixel_centers) {
        *position_q10 += axis->scale_q10 / 2 - (1 << 9);
    }
    const int32_t floor_q10 = *position_q10 / RESIZE_ONE_Q10;  /* C division: toward zero, as TFLite */
    *lower = floor_q10 > 0 ? floor_q10 : 0;
    const int32_t ceil_q10 = (*position_q10 + RESIZE_ONE_Q10 - 1) / RESIZE_ONE_Q10;
    *upper = ceil_q10 < axis->input_size - 1 ? ceil_q10 : axis->input_size - 1;
}

/* TFLite never clamps the lower neighbour from above: for outputs far larger than the input its rounded scale can
 * put it past the last row, where TFLite reads out of bounds. Such a geometry is refused. The position grows with
 * the index, so the last output index decides. */
static int resize_axis_valid(const resize_axis_t *axis, int32_t output_size)
{
    if ((int64_t)(output_size - 1) * axis->scale_q10 + axis->scale_q10 > INT32_MAX / 2) {
        return 0;
    }
    int32_t position_q10, lower, upper;
    resize_position(axis, output_size - 1, &position_q10, &lower, &upper);
    return lower <= axis->input_size - 1;
}

wess_status_t wess_resize_bilinear_s8(const wess_resize_params_t *params,
                                      const wess_dims_t *input_dims, const int8_t *input,
                                      const wess_dims_t *output_dims, int8_t *output)
{
    if (params == NULL || input == NULL || output == NULL ||
        (params->align_corners != 0 && params->align_corners != 1) ||
        (params->half_pixel_centers != 0 && params->half_pixel_centers != 1) ||
        (params->align_corners && params->half_pixel_centers)) {
        return WESS_ERR_BAD_ARG;
    }
    if (!dims_valid(input_dims) || !dims_valid(output_dims) || input_dims->n != output_dims->n ||
        input_dims->c != output_dims->c) {
        return WESS_ERR_BAD_SHAPE;
    }
    if (input_dims->h > RESIZE_MAX_EXTENT || input_dims->w > RESIZE_MAX_EXTENT ||
        output_dims->h > RESIZE_MAX_EXTENT || output_dims->w > RESIZE_MAX_EXTENT) {
        return WESS_ERR_UNSUPPORTED;
    }
    const resize_axis_t axis_y = resize_axis(input_dims->h, output_dims->h, params->align_corners,
                                             params->half_pixel_centers);
    const resize_axis_t axis_x = resize_axis(input_dims->w, output_dims->w, params->align_corners,
                                             params->half_pixel_centers);
    if (!resize_axis_valid(&axis_y, output_dims->h) || !resize_axis_valid(&axis_x, output_dims->w)) {
        return WESS_ERR_UNSUPPORTED;
    }
    const int32_t depth = output_dims->c;
    int8_t *out = output;
    for (int32_t n = 0; n < output_dims->n; ++n) {
        const int8_t *image = input + n * input_dims->h * input_dims->w * depth;
        for (int32_t y = 0; y < output_dims->h; ++y) {
            int32_t position_y, y0, y1;
            resize_position(&axis_y, y, &position_y, &y0, &y1);
            /* the weights of rows y1 and y0: the Q10 fraction of the way from y0, in [-2^9, 2^10) (half pixel
             * centres give a position down to -2^9 at the border, where y0 == y1), and its complement, in
             * (0, 2^10 + 2^9] */
            const int64_t weight_y1 = position_y - RESIZE_ONE_Q10 * y0;
            const int64_t weight_y0 = RESIZE_ONE_Q10 - weight_y1;
            for (int32_t x = 0; x < output_dims->w; ++x, out += depth) {
                int32_t position_x, x0, x1;
                resize_position(&axis_x, x, &position_x, &x0, &x1);
                const int64_t weight_x1 = position_x - RESIZE_ONE_Q10 * x0;
                const int64_t weight_x0 = RESIZE_ONE_Q10 - weight_x1;
                const int8_t *p00 = image + (y0 * input_dims->w + x0) * depth;
                const int8_t *p10 = image + (y1 * input_dims->w + x0) * depth;
                const int8_t *p01 = image + (y0 * input_dims->w + x1) * depth;
                const int8_t *p11 = image + (y1 * input_dims->w + x1) * depth;
                for (int32_t c = 0; c < depth; ++c) {
                    /* each term |q| * |weight_y| * |weight_x| <= 2^7 * 1536 * 1536 < 2^29: the sum is < 2^31 */
                    const int64_t sum_q20 = p00[c] * weight_y0 * weight_x0 + p10[c] * weight_y1 * weight_x0 +
                                            p01[c] * weight_y0 * weight_x1 + p11[c] * weight_y1 * weight_x1;
                    const int64_t rounding = sum_q20 > 0 ? (1 << 19) : -(1 << 19);
                    out[c] = (int8_t)((sum_q20 + rounding) / (1 << 20));  /* toward zero: ties away from zero */
                }
            }
        }
    }
    return WESS_OK;
}

/* RESIZE_BILINEAR of a compact model: tensors (input, output; the size operand is the output's H and W),
 * wess_resize_params_t words. */
wess_status_t resize_bilinear_op_run(const model_run_t *model, const model_op_t *op)
{
    const bound_tensor_t input = model_op_tensor(model, op, 0), output = model_op_tensor(model, op, 1);
    wess_resize_params_t params;
    model_op_params(op, &params, sizeof params);
    return wess_resize_bilinear_s8(&params, &input.record.dims, (const int8_t *)input.data, &output.record.dims,
                                   (int8_t *)output.data);
}
