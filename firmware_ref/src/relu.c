/* RELU, RELU6 and int8 -> int8 QUANTIZE reference kernel: TFLite Micro's ReluQuantized (rescale to the output
 * quantization, then clamp to the activation range). Its Requantize (QUANTIZE_S8) is the same with the full int8
 * range; its RELU6 clamps the input's bytes between the input's quantized 0 and 6, which is this kernel with an
 * identity rescale and the input's zero point on both sides (pipeline/cref/kernel_params.py: relu_params). */
#include "kernel_util.h"
#include "op_table.h"

wess_status_t wess_relu_s8(const wess_relu_params_t *params,
                           const wess_dims_t *input_dims, const int8_t *input,
                           const wess_dims_t *output_dims, int8_t *output)
{
    const wess_status_t status = elementwise_check(params, input_dims, input, output_dims, output);
    if (status != WESS_OK) {
        return status;
    }
    if (!int8_value_valid(params->input_zero_point) || !int8_value_valid(params->output_zero_point) ||
        !multiplier_valid(params->multiplier, params->right_shift) ||
        !activation_valid(params->act_min, params->act_max)) {
        return WESS_ERR_BAD_ARG;
    }
    const int32_t element_count = flat_size(output_dims);
    for (int32_t index = 0; index < element_count; ++index) {
        const int32_t centred = input[index] - params->input_zero_point;  /* [-255, 255] */
        output[index] = output_int8(requantize(centred, params->multiplier, params->right_shift),
                                    params->output_zero_point, params->act_min, params->act_max);
    }
    return WESS_OK;
}

/* RELU / RELU6 / QUANTIZE_S8 of a compact model: tensors (input, output), wess_relu_params_t words. */
wess_status_t relu_op_run(const model_run_t *model, const model_op_t *op)
{
    const bound_tensor_t input = model_op_tensor(model, op, 0), output = model_op_tensor(model, op, 1);
    wess_relu_params_t params;
    model_op_params(op, &params, sizeof params);
    return wess_relu_s8(&params, &input.record.dims, (const int8_t *)input.data,
                        &output.record.dims, (int8_t *)output.data);
}
