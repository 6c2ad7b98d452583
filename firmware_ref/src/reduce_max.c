/* REDUCE_MAX int8 reference kernel: TFLite Micro's ReduceGeneric with the max reducer (every output starts at -128,
 * then takes the larger of itself and each input element reduced into it), the output holding the kept axes in
 * order. */
#include "kernel_util.h"
#include "op_table.h"

static int reduce_flag_valid(int32_t flag)
{
    return flag == 0 || flag == 1;
}

wess_status_t wess_reduce_max_s8(const wess_reduce_params_t *params,
                                 const wess_dims_t *input_dims, const int8_t *input,
                                 const wess_dims_t *output_dims, int8_t *output)
{
    if (params == NULL || input == NULL || output == NULL || !reduce_flag_valid(params->reduce_n) ||
        !reduce_flag_valid(params->reduce_h) || !reduce_flag_valid(params->reduce_w) ||
        !reduce_flag_valid(params->reduce_c)) {
        return WESS_ERR_BAD_ARG;
    }
    if (!dims_valid(input_dims) || !dims_valid(output_dims)) {
        return WESS_ERR_BAD_SHAPE;
    }
    /* the output's strides along the input's axes: 0 along a reduced axis, row-major over the kept ones */
    const int32_t extents[4] = {input_dims->n, input_dims->h, input_dims->w, input_dims->c};
    const int32_t reduced[4] = {params->reduce_n, params->reduce_h, params->reduce_w, params->reduce_c};
    int32_t output_strides[4];
    int32_t kept_size = 1;
    for (int axis = 3; axis >= 0; --axis) {
        output_strides[axis] = reduced[axis] ? 0 : kept_size;
        kept_size *= reduced[axis] ? 1 : extents[axis];  /* <= the input's flat size, < 2^31 */
    }
    if (flat_size(output_dims) != kept_size) {
        return WESS_ERR_BAD_SHAPE;
    }
    for (int32_t index = 0; index < kept_size; ++index) {
        output[index] = INT8_MIN;
    }
    const int8_t *element = input;
    for (int32_t n = 0; n < input_dims->n; ++n) {
        for (int32_t y = 0; y < input_dims->h; ++y) {
            for (int32_t x = 0; x < input_dims->w; ++x) {
                int8_t *row = output + n * output_strides[0] + y * output_strides[1] + x * output_strides[2];
                for (int32_t c = 0; c < input_dims->c; ++c, ++element) {
                    int8_t *target = row + c * output_strides[3];  /* < kept_size: each index < its extent */
                    *target = *element > *target ? *element : *target;
                }
            }
        }
    }
    return WESS_OK;
}

/* REDUCE_MAX of a compact model: tensors (input, output), wess_reduce_params_t words. */
wess_status_t reduce_max_op_run(const model_run_t *model, const model_op_t *op)
{
    const bound_tensor_t input = model_op_tensor(model, op, 0), output = model_op_tensor(model, op, 1);
    wess_reduce_params_t params;
    model_op_params(op, &params, sizeof params);
    return wess_reduce_max_s8(&params, &input.record.dims, (const int8_t *)input.data, &output.record.dims,
                              (int8_t *)output.data);
}
