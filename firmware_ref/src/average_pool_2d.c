/* AVERAGE_POOL_2D int8 reference kernel (TFLite's integer kernel: padded cells not counted, rounded division). */
#include "kernel_util.h"
#include "op_table.h"

wess_status_t wess_average_pool_2d_s8(const wess_pool_params_t *params,
                                      const wess_dims_t *input_dims, const int8_t *input,
                                      const wess_dims_t *output_dims, int8_t *output)
{
    if (params == NULL || input == NULL || output == NULL) {
        return WESS_ERR_BAD_ARG;
    }
    const wess_status_t status = pool_check(params, input_dims, output_dims);
    if (status != WESS_OK) {
        return status;
    }
    const int32_t input_h = input_dims->h, input_w = input_dims->w, depth = input_dims->c;
    for (int32_t out_y = 0; out_y < output_dims->h; ++out_y) {
        const int32_t in_y_origin = out_y * params->stride_y - params->pad_top;
        /* window rows clipped to the input; never empty under TFLite's SAME / VALID geometry (checked) */
        const int32_t filter_y_start = in_y_origin < 0 ? -in_y_origin : 0;
        const int32_t filter_y_end = input_h - in_y_origin < params->filter_height ? input_h - in_y_origin
                                                                                  : params->filter_height;
        for (int32_t out_x = 0; out_x < output_dims->w; ++out_x) {
            const int32_t in_x_origin = out_x * params->stride_x - params->pad_left;
            const int32_t filter_x_start = in_x_origin < 0 ? -in_x_origin : 0;
            const int32_t filter_x_end = input_w - in_x_origin < params->filter_width ? input_w - in_x_origin
                                                                                     : params->filter_width;
            const int32_t filter_count = (filter_y_end - filter_y_start) * (filter_x_end - filter_x_start);
            for (int32_t channel = 0; channel < depth; ++channel) {
                /* acc: filter_count <= 65536 (checked) int8 terms, |acc| <= 2^23 */
                int32_t acc = 0;
                for (int32_t filter_y = filter_y_start; filter_y < filter_y_end; ++filter_y) {
                    const int32_t in_y = in_y_origin + filter_y;
                    for (int32_t filter_x = filter_x_start; filter_x < filter_x_end; ++filter_x) {
                        const int32_t in_x = in_x_origin + filter_x;
                        acc += input[(in_y * input_w + in_x) * depth + channel];
                    }
                }
                /* round half away from zero; C division truncates toward zero */
                const int32_t average = acc > 0 ? (acc + filter_count / 2) / filter_count
                                                : (acc - filter_count / 2) / filter_count;
                output[(out_y * output_dims->w + out_x) * depth + channel] =
                    (int8_t)clamp_int32(average, params->act_min, params->act_max);
            }
        }
    }
    return WESS_OK;
}

/* AVERAGE_POOL_2D of a compact model: tensors (input, output), wess_pool_params_t words. */
wess_status_t average_pool_2d_op_run(const model_run_t *model, const model_op_t *op)
{
    const bound_tensor_t input = model_op_tensor(model, op, 0), output = model_op_tensor(model, op, 1);
    wess_pool_params_t params;
    model_op_params(op, &params, sizeof params);
    return wess_average_pool_2d_s8(&params, &input.record.dims, (const int8_t *)input.data,
                                   &output.record.dims, (int8_t *)output.data);
}
