/* RESIZE_NEAREST_NEIGHBOR int8 reference kernel: TFLite Micro's ResizeNearestNeighbor (each output pixel copies the
 * input pixel its float32 source position falls in), no rescaling: the output keeps the input's quantization. */
#include <math.h>
#include <string.h>

#include "kernel_util.h"
#include "op_table.h"

#define NEAREST_MAX_EXTENT (1 << 16)  /* source positions below 2^17: exact in float32, no int32 overflow */

/* TFLite's GetNearestNeighbor, in float32 as TFLite computes it (no contraction: -ffp-contract=off): the source
 * position (index + offset) * scale, floored (rounded half away from zero with align_corners), clamped to
 * [0, input_size - 1]. */
static int32_t nearest_index(int32_t index, int32_t input_size, int32_t output_size,
                             const wess_resize_params_t *params)
{
    const float scale = (params->align_corners && output_size > 1)
        ? (float)(input_size - 1) / (float)(output_size - 1)
        : (float)input_size / (float)output_size;
    const float offset = params->half_pixel_centers ? 0.5f : 0.0f;
    const float position = ((float)index + offset) * scale;  /* in [0, 2^17): index < 2^16, scale <= 2^16 */
    int32_t source = params->align_corners ? (int32_t)roundf(position) : (int32_t)floorf(position);
    if (source > input_size - 1) {
        source = input_size - 1;
    }
    return source < 0 ? 0 : source;
}

wess_status_t wess_resize_nearest_neighbor_s8(const wess_resize_params_t *params,
                                              const wess_dims_t *input_dims, const int8_t *input,
                                              const wess_dims_t *output_dims, int8_t *output)
{
    if (params == NULL || input == NULL || output == NULL ||
        (params->align_corners != 0 && params->align_corners != 1) ||
        (params->half_pixel_centers != 0 && params->half_pixel_centers != 1)) {
        return WESS_ERR_BAD_ARG;
    }
    if (!dims_valid(input_dims) || !dims_valid(output_dims) || input_dims->n != output_dims->n ||
        input_dims->c != output_dims->c) {
        return WESS_ERR_BAD_SHAPE;
    }
    if (input_dims->h > NEAREST_MAX_EXTENT || input_dims->w > NEAREST_MAX_EXTENT ||
        output_dims->h > NEAREST_MAX_EXTENT || output_dims->w > NEAREST_MAX_EXTENT) {
        return WESS_ERR_UNSUPPORTED;
    }
    const int32_t depth = output_dims->c;
    int8_t *out = output;
    for (int32_t n = 0; n < output_dims->n; ++n) {
        const int8_t *image = input + n * input_dims->h * input_dims->w * depth;
        for (int32_t y = 0; y < output_dims->h; ++y) {
            const int32_t source_y = nearest_index(y, input_dims->h, output_dims->h, params);
            for (int32_t x = 0; x < output_dims->w; ++x, out += depth) {
                const int32_t source_x = nearest_index(x, input_dims->w, output_dims->w, params);
                memcpy(out, image + (source_y * input_dims->w + source_x) * depth, (size_t)depth);
            }
        }
    }
    return WESS_OK;
}

/* RESIZE_NEAREST_NEIGHBOR of a compact model: tensors (input, output; the size operand is the output's H and W),
 * wess_resize_params_t words. */
wess_status_t resize_nearest_neighbor_op_run(const model_run_t *model, const model_op_t *op)
{
    const bound_tensor_t input = model_op_tensor(model, op, 0), output = model_op_tensor(model, op, 1);
    wess_resize_params_t params;
    model_op_params(op, &params, sizeof params);
    return wess_resize_nearest_neighbor_s8(&params, &input.record.dims, (const int8_t *)input.data,
                                           &output.record.dims, (int8_t *)output.data);
}
