/* STRIDED_SLICE / SLICE int8 reference kernel: TFLite Micro's StridedSlice and Slice, which copy the elements at
 * start + k * stride (k < count) along each axis, in row-major order. The first index, stride and count of each NHWC
 * axis are resolved ahead of time from the begin / end / strides (or begin / size) operands and the masks, as TFLite
 * resolves them (StridedSliceStartForAxis, StridedSliceEndForAxis); the kernel checks every index it will read. */
#include <string.h>

#include "kernel_util.h"
#include "op_table.h"

/* One axis: count >= 1, stride != 0, and the first and last index it reads inside [0, extent). */
static int slice_axis_valid(int32_t start, int32_t stride, int32_t count, int32_t extent)
{
    if (count < 1 || stride == 0 || start < 0 || start >= extent) {
        return 0;
    }
    const int64_t last = (int64_t)start + (int64_t)(count - 1) * stride;  /* |.| < 2^31 + 2^62 */
    return last >= 0 && last < extent;
}

wess_status_t wess_strided_slice_s8(const wess_slice_params_t *params,
                                    const wess_dims_t *input_dims, const int8_t *input,
                                    const wess_dims_t *output_dims, int8_t *output)
{
    if (params == NULL || input == NULL || output == NULL) {
        return WESS_ERR_BAD_ARG;
    }
    if (!dims_valid(input_dims)) {
        return WESS_ERR_BAD_SHAPE;
    }
    if (!slice_axis_valid(params->start_n, params->stride_n, params->count_n, input_dims->n) ||
        !slice_axis_valid(params->start_h, params->stride_h, params->count_h, input_dims->h) ||
        !slice_axis_valid(params->start_w, params->stride_w, params->count_w, input_dims->w) ||
        !slice_axis_valid(params->start_c, params->stride_c, params->count_c, input_dims->c)) {
        return WESS_ERR_BAD_ARG;
    }
    /* each count <= its extent (a valid axis reads count distinct indices), so the product <= the input's size */
    if (!dims_valid(output_dims) ||
        (int64_t)params->count_n * params->count_h * params->count_w * params->count_c != flat_size(output_dims)) {
        return WESS_ERR_BAD_SHAPE;
    }
    const int32_t row_stride = input_dims->w * input_dims->c, image_stride = input_dims->h * row_stride;
    int8_t *out = output;
    for (int32_t n = 0; n < params->count_n; ++n) {
        const int8_t *image = input + (params->start_n + n * params->stride_n) * image_stride;
        for (int32_t y = 0; y < params->count_h; ++y) {
            const int8_t *row = image + (params->start_h + y * params->stride_h) * row_stride;
            for (int32_t x = 0; x < params->count_w; ++x) {
                const int8_t *pixel = row + (params->start_w + x * params->stride_w) * input_dims->c;
                if (params->stride_c == 1) {
                    memcpy(out, pixel + params->start_c, (size_t)params->count_c);
                    out += params->count_c;
                    continue;
                }
                for (int32_t c = 0; c < params->count_c; ++c) {
                    *out++ = pixel[params->start_c + c * params->stride_c];
                }
            }
        }
    }
    return WESS_OK;
}

/* STRIDED_SLICE or SLICE of a compact model: tensors (input, output; the index operands are resolved into the
 * parameters), wess_slice_params_t words. */
wess_status_t strided_slice_op_run(const model_run_t *model, const model_op_t *op)
{
    const bound_tensor_t input = model_op_tensor(model, op, 0), output = model_op_tensor(model, op, 1);
    wess_slice_params_t params;
    model_op_params(op, &params, sizeof params);
    return wess_strided_slice_s8(&params, &input.record.dims, (const int8_t *)input.data, &output.record.dims,
                                 (int8_t *)output.data);
}
