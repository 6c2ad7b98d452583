/* TRANSPOSE int8 reference kernel: TFLite Micro's reference Transpose (a permutation of the input's axes; the
 * bytes are copied, so input and output share quantization). */
#include "kernel_util.h"
#include "op_table.h"

wess_status_t wess_transpose_s8(const wess_transpose_params_t *params,
                                const wess_dims_t *input_dims, const int8_t *input,
                                const wess_dims_t *output_dims, int8_t *output)
{
    if (params == NULL || input == NULL || output == NULL || input_dims == NULL || output_dims == NULL) {
        return WESS_ERR_BAD_ARG;
    }
    const int32_t perm[4] = {params->perm_n, params->perm_h, params->perm_w, params->perm_c};
    int seen[4] = {0, 0, 0, 0};
    for (int axis = 0; axis < 4; ++axis) {
        if (perm[axis] < 0 || perm[axis] > 3 || seen[perm[axis]]) {
            return WESS_ERR_BAD_ARG;
        }
        seen[perm[axis]] = 1;
    }
    if (!dims_valid(input_dims) || !dims_valid(output_dims)) {
        return WESS_ERR_BAD_SHAPE;
    }
    const int32_t input_extents[4] = {input_dims->n, input_dims->h, input_dims->w, input_dims->c};
    const int32_t output_extents[4] = {output_dims->n, output_dims->h, output_dims->w, output_dims->c};
    /* element strides of the input's NHWC axes; flat sizes are < 2^31 (dims_valid), so every offset fits */
    const int32_t input_strides[4] = {input_extents[1] * input_extents[2] * input_extents[3],
                                      input_extents[2] * input_extents[3], input_extents[3], 1};
    int32_t read_strides[4];  /* input stride along each output axis */
    for (int axis = 0; axis < 4; ++axis) {
        if (output_extents[axis] != input_extents[perm[axis]]) {
            return WESS_ERR_BAD_SHAPE;
        }
        read_strides[axis] = input_strides[perm[axis]];
    }
    int8_t *destination = output;
    for (int32_t n = 0; n < output_dims->n; ++n) {
        for (int32_t y = 0; y < output_dims->h; ++y) {
            for (int32_t x = 0; x < output_dims->w; ++x) {
                const int8_t *source = input + n * read_strides[0] + y * read_strides[1] + x * read_strides[2];
                for (int32_t c = 0; c < output_dims->c; ++c) {
                    *destination++ = source[c * read_strides[3]];
                }
            }
        }
    }
    return WESS_OK;
}

/* TRANSPOSE of a compact model: tensors (input, output), wess_transpose_params_t words. */
wess_status_t transpose_op_run(const model_run_t *model, const model_op_t *op)
{
    const bound_tensor_t input = model_op_tensor(model, op, 0), output = model_op_tensor(model, op, 1);
    wess_transpose_params_t params;
    model_op_params(op, &params, sizeof params);
    return wess_transpose_s8(&params, &input.record.dims, (const int8_t *)input.data, &output.record.dims,
                             (int8_t *)output.data);
}
