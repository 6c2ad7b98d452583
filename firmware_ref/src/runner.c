/* Whole-model runner: validates a compact model blob, then runs its ops in order on a caller-owned arena. */
#include <string.h>

#include "kernel_util.h"
#include "model_format.h"

/* The model being run: the checked header and the two memory regions tensors live in. */
typedef struct {
    const uint8_t *blob;
    model_header_t header;
    uint8_t *arena;
} model_run_t;

/* A tensor's record and its bytes (NULL for an absent optional tensor, index -1). */
typedef struct {
    model_tensor_t record;
    uint8_t *data;
} bound_tensor_t;

static bound_tensor_t bind(const model_run_t *run, int32_t index)
{
    bound_tensor_t bound = {{{1, 1, 1, 1}, 0, 0, 0, 0.0f, 0, 0}, NULL};
    if (index < 0) {
        return bound;
    }
    model_read_tensor(run->blob, &run->header, (uint32_t)index, &bound.record);
    if (bound.record.storage == MODEL_STORAGE_ARENA) {
        bound.data = run->arena + bound.record.data_offset;
    } else {
        /* constants are read-only: kernels take them through const pointers */
        bound.data = (uint8_t *)(uintptr_t)(run->blob + run->header.constant_offset + bound.record.data_offset);
    }
    return bound;
}

static const void *constant_at(const model_run_t *run, int32_t offset)
{
    return offset == MODEL_NO_OFFSET ? NULL : run->blob + run->header.constant_offset + (uint32_t)offset;
}

/* Requantization table from the four words at `first`: count, multiplier, right_shift and shift4 offsets. */
static wess_requant_t requant_from(const model_run_t *run, const model_op_t *op, uint32_t first)
{
    wess_requant_t requant;
    requant.multiplier_count = op_word(op, first);
    requant.multiplier = (const int32_t *)constant_at(run, op_word(op, first + 1));
    requant.right_shift = (const int32_t *)constant_at(run, op_word(op, first + 2));
    requant.channel_shift4 = (const uint8_t *)constant_at(run, op_word(op, first + 3));
    return requant;
}

/* Convolution parameters from the ten words at `first`. */
static wess_conv_params_t conv_params_from(const model_op_t *op, uint32_t first)
{
    wess_conv_params_t params;
    params.input_offset = op_word(op, first);
    params.output_offset = op_word(op, first + 1);
    params.stride_y = op_word(op, first + 2);
    params.stride_x = op_word(op, first + 3);
    params.dilation_y = op_word(op, first + 4);
    params.dilation_x = op_word(op, first + 5);
    params.pad_top = op_word(op, first + 6);
    params.pad_left = op_word(op, first + 7);
    params.act_min = op_word(op, first + 8);
    params.act_max = op_word(op, first + 9);
    return params;
}

/* Word i of an op record read as the bits of a float32. */
static float op_word_float(const model_op_t *op, uint32_t index)
{
    const uint32_t bits = (uint32_t)op_word(op, index);
    float value;
    memcpy(&value, &bits, sizeof value);
    return value;
}

/* FULLY_CONNECTED flattens its input to [flat / in_depth, in_depth] (divisibility checked by validate). */
static void fully_connected_dims(const bound_tensor_t *input, const bound_tensor_t *filter,
                                 const bound_tensor_t *output, wess_dims_t *input_dims, wess_dims_t *output_dims)
{
    const int32_t in_depth = filter->record.dims.c;
    const wess_dims_t flat_input = {flat_size(&input->record.dims) / in_depth, 1, 1, in_depth};
    const wess_dims_t flat_output = {output->record.dims.n * output->record.dims.h * output->record.dims.w, 1, 1,
                                     output->record.dims.c};
    *input_dims = flat_input;
    *output_dims = flat_output;
}

static wess_status_t run_weighted(const model_run_t *run, const model_op_t *op)
{
    const bound_tensor_t input = bind(run, op_word(op, 0)), filter = bind(run, op_word(op, 1));
    const bound_tensor_t bias = bind(run, op_word(op, 2)), output = bind(run, op_word(op, 3));
    const uint32_t params_word = 4u;  /* three inputs and one output come first */
    const wess_requant_t requant = requant_from(run, op, op->word_count - 4u);
    if (op->op_code == MODEL_OP_CONV_2D) {
        const wess_conv_params_t params = conv_params_from(op, params_word);
        return wess_conv_2d_s8(&params, &requant, &input.record.dims, (const int8_t *)input.data,
                               &filter.record.dims, (const int8_t *)filter.data, (const int32_t *)bias.data,
                               &output.record.dims, (int8_t *)output.data);
    }
    if (op->op_code == MODEL_OP_DEPTHWISE_CONV_2D) {
        wess_depthwise_params_t params;
        params.conv = conv_params_from(op, params_word);
        params.depth_multiplier = op_word(op, params_word + 10);
        return wess_depthwise_conv_2d_s8(&params, &requant, &input.record.dims, (const int8_t *)input.data,
                                         &filter.record.dims, (const int8_t *)filter.data,
                                         (const int32_t *)bias.data, &output.record.dims, (int8_t *)output.data);
    }
    const wess_fc_params_t params = {op_word(op, params_word), op_word(op, params_word + 1),
                                     op_word(op, params_word + 2), op_word(op, params_word + 3)};
    wess_dims_t input_dims, output_dims;
    fully_connected_dims(&input, &filter, &output, &input_dims, &output_dims);
    return wess_fully_connected_s8(&params, &requant, &input_dims, (const int8_t *)input.data,
                                   &filter.record.dims, (const int8_t *)filter.data, (const int32_t *)bias.data,
                                   &output_dims, (int8_t *)output.data);
}

#ifndef WESS_NO_FLOAT_KERNELS
/* The float32 CONV_2D / DEPTHWISE_CONV_2D / FULLY_CONNECTED of an operator left in float. */
static wess_status_t run_weighted_f32(const model_run_t *run, const model_op_t *op)
{
    const bound_tensor_t input = bind(run, op_word(op, 0)), filter = bind(run, op_word(op, 1));
    const bound_tensor_t bias = bind(run, op_word(op, 2)), output = bind(run, op_word(op, 3));
    const float *input_data = (const float *)(const void *)input.data;
    const float *filter_data = (const float *)(const void *)filter.data;
    const float *bias_data = (const float *)(const void *)bias.data;
    float *output_data = (float *)(void *)output.data;
    if (op->op_code == MODEL_OP_FULLY_CONNECTED_F32) {
        const wess_fc_f32_params_t params = {op_word_float(op, 4), op_word_float(op, 5)};
        wess_dims_t input_dims, output_dims;
        fully_connected_dims(&input, &filter, &output, &input_dims, &output_dims);
        return wess_fully_connected_f32(&params, &input_dims, input_data, &filter.record.dims, filter_data,
                                        bias_data, &output_dims, output_data);
    }
    wess_conv_f32_params_t conv;
    conv.stride_y = op_word(op, 4);
    conv.stride_x = op_word(op, 5);
    conv.dilation_y = op_word(op, 6);
    conv.dilation_x = op_word(op, 7);
    conv.pad_top = op_word(op, 8);
    conv.pad_left = op_word(op, 9);
    conv.act_min = op_word_float(op, 10);
    conv.act_max = op_word_float(op, 11);
    if (op->op_code == MODEL_OP_CONV_2D_F32) {
        return wess_conv_2d_f32(&conv, &input.record.dims, input_data, &filter.record.dims, filter_data, bias_data,
                                &output.record.dims, output_data);
    }
    const wess_depthwise_f32_params_t params = {conv, op_word(op, 12)};
    return wess_depthwise_conv_2d_f32(&params, &input.record.dims, input_data, &filter.record.dims, filter_data,
                                      bias_data, &output.record.dims, output_data);
}
#endif

static wess_status_t run_add(const model_run_t *run, const model_op_t *op)
{
    const bound_tensor_t input1 = bind(run, op_word(op, 0)), input2 = bind(run, op_word(op, 1));
    const bound_tensor_t output = bind(run, op_word(op, 2));
    wess_add_params_t params;
    int32_t *fields[12] = {&params.input1_offset, &params.input2_offset, &params.output_offset, &params.left_shift,
                           &params.input1_multiplier, &params.input1_right_shift, &params.input2_multiplier,
                           &params.input2_right_shift, &params.output_multiplier, &params.output_right_shift,
                           &params.act_min, &params.act_max};
    for (uint32_t field = 0; field < 12u; ++field) {
        *fields[field] = op_word(op, 3u + field);
    }
    return wess_add_s8(&params, &input1.record.dims, (const int8_t *)input1.data, &input2.record.dims,
                       (const int8_t *)input2.data, &output.record.dims, (int8_t *)output.data);
}

static wess_status_t run_pool(const model_run_t *run, const model_op_t *op)
{
    const bound_tensor_t input = bind(run, op_word(op, 0)), output = bind(run, op_word(op, 1));
    const wess_pool_params_t params = {op_word(op, 2), op_word(op, 3), op_word(op, 4), op_word(op, 5),
                                       op_word(op, 6), op_word(op, 7), op_word(op, 8), op_word(op, 9)};
    if (op->op_code == MODEL_OP_AVERAGE_POOL_2D) {
        return wess_average_pool_2d_s8(&params, &input.record.dims, (const int8_t *)input.data,
                                       &output.record.dims, (int8_t *)output.data);
    }
    return wess_max_pool_2d_s8(&params, &input.record.dims, (const int8_t *)input.data, &output.record.dims,
                               (int8_t *)output.data);
}

static wess_status_t run_concatenation(const model_run_t *run, const model_op_t *op)
{
    wess_dims_t input_dims[MODEL_MAX_CONCAT_INPUTS];
    const int8_t *inputs[MODEL_MAX_CONCAT_INPUTS];
    for (uint32_t input_index = 0; input_index < op->input_count; ++input_index) {
        const bound_tensor_t input = bind(run, op_word(op, input_index));
        input_dims[input_index] = input.record.dims;
        inputs[input_index] = (const int8_t *)input.data;
    }
    const bound_tensor_t output = bind(run, op_word(op, op->input_count));
    const wess_concat_params_t params = {op->input_count};
    return wess_concatenation_s8(&params, input_dims, inputs, &output.record.dims, (int8_t *)output.data);
}

/* Ops with one input and one output tensor: words 0 and 1, parameters from word 2. */
static wess_status_t run_unary(const model_run_t *run, const model_op_t *op)
{
    const bound_tensor_t input = bind(run, op_word(op, 0)), output = bind(run, op_word(op, 1));
    const wess_dims_t *in_dims = &input.record.dims, *out_dims = &output.record.dims;
    switch (op->op_code) {
    case MODEL_OP_MEAN: {
        const wess_mean_params_t params = {op_word(op, 2), op_word(op, 3), op_word(op, 4), op_word(op, 5)};
        /* keep_dims false gives [1, c]: the same bytes as [1, 1, 1, c] */
        return wess_mean_hw_s8(&params, in_dims, (const int8_t *)input.data, out_dims, (int8_t *)output.data);
    }
    case MODEL_OP_PAD: {
        const wess_pad_params_t params = {op_word(op, 2), op_word(op, 3), op_word(op, 4), op_word(op, 5),
                                          op_word(op, 6)};
        return wess_pad_s8(&params, in_dims, (const int8_t *)input.data, out_dims, (int8_t *)output.data);
    }
    case MODEL_OP_SOFTMAX: {
        const wess_softmax_params_t params = {op_word(op, 2), op_word(op, 3), op_word(op, 4)};
        return wess_softmax_s8(&params, in_dims, (const int8_t *)input.data, out_dims, (int8_t *)output.data);
    }
    case MODEL_OP_QUANTIZE: {
        const wess_quantize_params_t params = {op_word_float(op, 2), op_word(op, 3)};
        return wess_quantize_f32_s8(&params, in_dims, (const float *)(const void *)input.data, out_dims,
                                    (int8_t *)output.data);
    }
    case MODEL_OP_DEQUANTIZE: {
        const wess_dequantize_params_t params = {op_word_float(op, 2), op_word(op, 3)};
        return wess_dequantize_s8_f32(&params, in_dims, (const int8_t *)input.data, out_dims,
                                      (float *)(void *)output.data);
    }
    default: /* RESHAPE: the memory plan aliases output and input; copy only when it did not */
        if (output.data != input.data) {
            memmove(output.data, input.data, output.record.data_bytes);
        }
        return WESS_OK;
    }
}

static wess_status_t run_op(const model_run_t *run, const model_op_t *op)
{
    switch (op->op_code) {
    case MODEL_OP_CONV_2D:
    case MODEL_OP_DEPTHWISE_CONV_2D:
    case MODEL_OP_FULLY_CONNECTED:
        return run_weighted(run, op);
    case MODEL_OP_CONV_2D_F32:
    case MODEL_OP_DEPTHWISE_CONV_2D_F32:
    case MODEL_OP_FULLY_CONNECTED_F32:
#ifdef WESS_NO_FLOAT_KERNELS  /* an all-int8 firmware image leaves the float32 kernels out (docs/firmware.md) */
        return WESS_ERR_UNSUPPORTED;
#else
        return run_weighted_f32(run, op);
#endif
    case MODEL_OP_ADD:
        return run_add(run, op);
    case MODEL_OP_AVERAGE_POOL_2D:
    case MODEL_OP_MAX_POOL_2D:
        return run_pool(run, op);
    case MODEL_OP_CONCATENATION:
        return run_concatenation(run, op);
    default:
        return run_unary(run, op);
    }
}

/* One sample through every op; the blob is already validated. */
static wess_status_t run_sample(const model_run_t *run, int32_t sample, wess_run_hooks_t *hooks)
{
    uint32_t cursor = 0;
    for (uint32_t position = 0; position < run->header.op_count; ++position) {
        model_op_t op;
        wess_status_t status = model_read_op(run->blob, &run->header, &cursor, &op);
        if (status == WESS_OK) {
            status = run_op(run, &op);
        }
        if (status != WESS_OK) {
            if (hooks != NULL) {
                hooks->failed_op = (int32_t)position;
            }
            return status;
        }
        if (hooks != NULL && hooks->tensor_callback != NULL) {
            const int32_t output_index = op_word(&op, op.input_count);
            const bound_tensor_t output = bind(run, output_index);
            if (hooks->tensor_callback(hooks->user, sample, (int32_t)position, output_index, output.data,
                                       output.record.data_bytes) != WESS_OK) {
                return WESS_ERR_CALLBACK;
            }
        }
    }
    return WESS_OK;
}

wess_status_t wess_model_run_batch(const uint8_t *blob, size_t blob_len, uint8_t *arena, size_t arena_len,
                                   int32_t batch_count, const void *inputs, void *outputs, wess_run_hooks_t *hooks)
{
    if (hooks != NULL) {
        hooks->failed_op = -1;
    }
    wess_model_info_t info;
    wess_status_t status = wess_model_validate(blob, blob_len, arena_len, &info);
    if (status != WESS_OK) {
        return status;
    }
    if (arena == NULL || inputs == NULL || outputs == NULL || batch_count < 1) {
        return WESS_ERR_BAD_ARG;
    }
    if ((uintptr_t)arena % 4u != 0) {
        return WESS_ERR_BAD_ALIGNMENT;
    }
    model_run_t run;
    run.blob = blob;
    run.arena = arena;
    (void)model_read_header(blob, blob_len, &run.header);  /* checked by wess_model_validate */
    const bound_tensor_t input = bind(&run, (int32_t)run.header.input_tensor);
    const bound_tensor_t output = bind(&run, (int32_t)run.header.output_tensor);
    for (int32_t sample = 0; sample < batch_count; ++sample) {
        memcpy(input.data, (const uint8_t *)inputs + (size_t)sample * info.input_bytes, info.input_bytes);
        status = run_sample(&run, sample, hooks);
        if (status != WESS_OK) {
            return status;
        }
        memcpy((uint8_t *)outputs + (size_t)sample * info.output_bytes, output.data, info.output_bytes);
    }
    return WESS_OK;
}

wess_status_t wess_model_run(const uint8_t *blob, size_t blob_len, uint8_t *arena, size_t arena_len,
                             const void *input, void *output, wess_run_hooks_t *hooks)
{
    return wess_model_run_batch(blob, blob_len, arena, arena_len, 1, input, output, hooks);
}
