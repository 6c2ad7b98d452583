/* FULLY_CONNECTED int8 reference kernel (TFLite's integer kernel; per-layer, per-channel or WESS requantization). */
#include "dot_rows.h"
#include "dot_rows_s4.h"
#include "kernel_util.h"
#include "requant_block.h"
#include "op_table.h"

static wess_status_t fully_connected_check(const wess_fc_params_t *params, const wess_dims_t *input_dims,
                                           const wess_dims_t *filter_dims, const wess_dims_t *output_dims)
{
    if (!input_offset_valid(params->input_offset) || !int8_value_valid(params->output_offset) ||
        !activation_valid(params->act_min, params->act_max)) {
        return WESS_ERR_BAD_ARG;
    }
    if (!fc_dims_valid(input_dims, filter_dims, output_dims)) {
        return WESS_ERR_BAD_SHAPE;
    }
    if (filter_dims->c > WESS_MAX_DOT_LENGTH) {
        return WESS_ERR_UNSUPPORTED;
    }
    return WESS_OK;
}

/* The checks both weight formats share: arguments, shapes, requantization tables. */
static wess_status_t fully_connected_prepare(const wess_fc_params_t *params, const wess_requant_t *requant,
                                             const wess_dims_t *input_dims, const void *input,
                                             const wess_dims_t *filter_dims, const void *filter,
                                             const wess_dims_t *output_dims, const void *output)
{
    if (params == NULL || input == NULL || filter == NULL || output == NULL) {
        return WESS_ERR_BAD_ARG;
    }
    const wess_status_t status = fully_connected_check(params, input_dims, filter_dims, output_dims);
    return status != WESS_OK ? status : requant_check(requant, output_dims->c);
}

/* The output channels first_out_c .. first_out_c + block_size - 1 of every batch row; filter holds their rows of
 * in_depth values back to back (int8 or packed); the input offset goes into their biases where filter_block_fold can
 * put it. */
static void fully_connected_block(const wess_fc_params_t *params, channel_requant_t *channels,
                                  const wess_dims_t *input_dims, const int8_t *input, const filter_block_t *filter,
                                  int32_t first_out_c, int32_t block_size, const wess_dims_t *output_dims,
                                  int8_t *output)
{
    const int32_t in_depth = input_dims->c, out_depth = output_dims->c;
    int32_t acc[WESS_CHANNEL_BLOCK];  /* output channel first_out_c + i of the current batch row */
    const int32_t dot_offset = filter_block_fold(channels, filter, in_depth, block_size, params->input_offset);
    for (int32_t batch = 0; batch < input_dims->n; ++batch) {
        /* acc: in_depth <= 65536 terms (checked), |acc| < 2^31 as dot_rows shows */
        filter_block_dot(filter, input + batch * in_depth, dot_offset, in_depth, block_size, acc);
        int8_t *output_block = output + batch * out_depth + first_out_c;
        requantize_block(channels, acc, block_size, params->output_offset, params->act_min, params->act_max,
                         output_block);
    }
}

wess_status_t wess_fully_connected_s8(const wess_fc_params_t *params, const wess_requant_t *requant,
                                      const wess_dims_t *input_dims, const int8_t *input,
                                      const wess_dims_t *filter_dims, const int8_t *filter,
                                      const int32_t *bias, const wess_dims_t *output_dims, int8_t *output)
{
    const wess_status_t status = fully_connected_prepare(params, requant, input_dims, input, filter_dims, filter,
                                                         output_dims, output);
    if (status != WESS_OK) {
        return status;
    }
    const int32_t in_depth = input_dims->c, out_depth = output_dims->c;
    channel_requant_t channels[WESS_CHANNEL_BLOCK];
    for (int32_t first_out_c = 0; first_out_c < out_depth; first_out_c += WESS_CHANNEL_BLOCK) {
        const int32_t block_size = out_depth - first_out_c < WESS_CHANNEL_BLOCK ? out_depth - first_out_c
                                                                                 : WESS_CHANNEL_BLOCK;
        channel_requant_block(requant, bias, first_out_c, block_size, channels);
        const filter_block_t block = {filter + first_out_c * in_depth, NULL, 0};
        fully_connected_block(params, channels, input_dims, input, &block, first_out_c, block_size, output_dims,
                              output);
    }
    return WESS_OK;
}

wess_status_t wess_fully_connected_s4(const wess_fc_params_t *params, const wess_requant_t *requant,
                                      const wess_dims_t *input_dims, const int8_t *input,
                                      const wess_dims_t *filter_dims, const uint8_t *filter_packed,
                                      const int32_t *bias, const wess_dims_t *output_dims, int8_t *output)
{
    const wess_status_t status = fully_connected_prepare(params, requant, input_dims, input, filter_dims,
                                                         filter_packed, output_dims, output);
    if (status != WESS_OK) {
        return status;
    }
    const int32_t in_depth = input_dims->c, out_depth = output_dims->c;
    if (in_depth > WESS_S4_UNPACK_BYTES) {
        return WESS_ERR_UNSUPPORTED;
    }
    /* the int8 kernel's blocking: 64 output channels at a time, the packed rows read in place */
    channel_requant_t channels[WESS_CHANNEL_BLOCK];
    for (int32_t first_out_c = 0; first_out_c < out_depth; first_out_c += WESS_CHANNEL_BLOCK) {
        const int32_t block_size = out_depth - first_out_c < WESS_CHANNEL_BLOCK ? out_depth - first_out_c
                                                                                 : WESS_CHANNEL_BLOCK;
        channel_requant_block(requant, bias, first_out_c, block_size, channels);
        const filter_block_t block = {NULL, filter_packed, first_out_c * in_depth};
        fully_connected_block(params, channels, input_dims, input, &block, first_out_c, block_size, output_dims,
                              output);
    }
    return WESS_OK;
}

/* FULLY_CONNECTED of a compact model: the weighted-op checks, and the input's flat size a multiple of in_depth. */
wess_status_t fully_connected_op_check(const model_run_t *model, const model_op_t *op, int32_t *error_tensor)
{
    const wess_status_t status = model_check_weighted(model, op, error_tensor);
    if (status != WESS_OK) {
        return status;
    }
    const bound_tensor_t input = model_op_tensor(model, op, 0), filter = model_op_tensor(model, op, 1);
    if (flat_size(&input.record.dims) % filter.record.dims.c != 0) {
        *error_tensor = op_word(op, 0);
        return WESS_ERR_BAD_TENSOR;
    }
    return WESS_OK;
}

/* FULLY_CONNECTED of a compact model: tensors (input, filter, bias or -1, output), wess_fc_params_t words,
 * requantization words; the input flattened to [flat / in_depth, in_depth]. */
wess_status_t fully_connected_op_run(const model_run_t *model, const model_op_t *op)
{
    const bound_tensor_t input = model_op_tensor(model, op, 0), filter = model_op_tensor(model, op, 1);
    const bound_tensor_t bias = model_op_tensor(model, op, 2), output = model_op_tensor(model, op, 3);
    wess_fc_params_t params;
    model_op_params(op, &params, sizeof params);
    const wess_requant_t requant = model_op_requant(model, op);
    wess_dims_t input_dims, output_dims;
    model_fully_connected_dims(&input, &filter, &output, &input_dims, &output_dims);
    return wess_fully_connected_s8(&params, &requant, &input_dims, (const int8_t *)input.data, &filter.record.dims,
                                   (const int8_t *)filter.data, (const int32_t *)bias.data, &output_dims,
                                   (int8_t *)output.data);
}

/* FULLY_CONNECTED with packed 4-bit weights (op code MODEL_OP_INT4_FILTER | FULLY_CONNECTED): as
 * fully_connected_op_run. */
wess_status_t fully_connected_s4_op_run(const model_run_t *model, const model_op_t *op)
{
    const bound_tensor_t input = model_op_tensor(model, op, 0), filter = model_op_tensor(model, op, 1);
    const bound_tensor_t bias = model_op_tensor(model, op, 2), output = model_op_tensor(model, op, 3);
    wess_fc_params_t params;
    model_op_params(op, &params, sizeof params);
    const wess_requant_t requant = model_op_requant(model, op);
    wess_dims_t input_dims, output_dims;
    model_fully_connected_dims(&input, &filter, &output, &input_dims, &output_dims);
    return wess_fully_connected_s4(&params, &requant, &input_dims, (const int8_t *)input.data, &filter.record.dims,
                                   filter.data, (const int32_t *)bias.data, &output_dims, (int8_t *)output.data);
}
