/* wess_model_validate: every offset, size, count, index and type of a compact model blob checked before use. */
#include "kernel_util.h"
#include "model_format.h"

static int range_inside(uint64_t start, uint64_t bytes, uint64_t limit)
{
    return start <= limit && bytes <= limit - start;
}

static uint32_t element_bytes(uint8_t type)
{
    return type == MODEL_TYPE_INT8 ? 1u : 4u;
}

static wess_status_t fail(wess_model_info_t *info, wess_status_t status, int32_t op, int32_t tensor)
{
    info->error_op = op;
    info->error_tensor = tensor;
    return status;
}

/* A tensor record: known type and storage; for stored tensors, valid dims, matching size, data inside its section. */
static int tensor_valid(const model_header_t *header, const model_tensor_t *tensor)
{
    if (tensor->type > MODEL_TYPE_FLOAT32 || tensor->storage > MODEL_STORAGE_CONSTANT) {
        return 0;
    }
    if (tensor->storage == MODEL_STORAGE_NONE) {
        return 1;
    }
    if (!dims_valid(&tensor->dims) ||
        (uint64_t)flat_size(&tensor->dims) * element_bytes(tensor->type) != tensor->data_bytes ||
        tensor->data_offset % element_bytes(tensor->type) != 0) {
        return 0;
    }
    const uint32_t section_bytes = tensor->storage == MODEL_STORAGE_ARENA ? header->arena_bytes : header->constant_bytes;
    return range_inside(tensor->data_offset, tensor->data_bytes, section_bytes);
}

/* A constant int32 or byte table of `bytes` at a parameter offset inside the constant section. */
static int constant_table_valid(const model_header_t *header, int32_t offset, uint64_t bytes, uint32_t alignment)
{
    return offset >= 0 && (uint32_t)offset % alignment == 0 && range_inside((uint32_t)offset, bytes, header->constant_bytes);
}

/* The type each tensor word of an op must have; -1: any (RESHAPE). position < input_count + output_count. */
static int32_t expected_type(const model_op_t *op, uint32_t position)
{
    const int is_output = position >= op->input_count;
    switch (op->op_code) {
    case MODEL_OP_CONV_2D:
    case MODEL_OP_DEPTHWISE_CONV_2D:
    case MODEL_OP_FULLY_CONNECTED:
        return position == 2 ? MODEL_TYPE_INT32 : MODEL_TYPE_INT8;
    case MODEL_OP_CONV_2D_F32:
    case MODEL_OP_DEPTHWISE_CONV_2D_F32:
    case MODEL_OP_FULLY_CONNECTED_F32:
        return MODEL_TYPE_FLOAT32;
    case MODEL_OP_QUANTIZE:
        return is_output ? MODEL_TYPE_INT8 : MODEL_TYPE_FLOAT32;
    case MODEL_OP_DEQUANTIZE:
        return is_output ? MODEL_TYPE_FLOAT32 : MODEL_TYPE_INT8;
    case MODEL_OP_RESHAPE:
        return -1;
    default:
        return MODEL_TYPE_INT8;
    }
}

static int input_count_valid(const model_op_t *op)
{
    if (model_op_weighted(op->op_code)) {
        return op->input_count == 3;
    }
    switch (op->op_code) {
    case MODEL_OP_ADD:
        return op->input_count == 2;
    case MODEL_OP_CONCATENATION:
        return op->input_count >= 1 && op->input_count <= MODEL_MAX_CONCAT_INPUTS;
    default:
        return op->input_count == 1;
    }
}

/* Tensor words: indices in range (bias may be -1), stored, of the kernel's type; the output in the arena. */
static wess_status_t op_tensors_valid(const uint8_t *blob, const model_header_t *header, const model_op_t *op,
                                      int32_t position, wess_model_info_t *info)
{
    const uint32_t tensor_words = (uint32_t)op->input_count + op->output_count;
    for (uint32_t word = 0; word < tensor_words; ++word) {
        const int32_t index = op_word(op, word);
        const int optional_bias = word == 2 && model_op_weighted(op->op_code);
        if (index == -1 && optional_bias) {
            continue;
        }
        if (index < 0 || (uint32_t)index >= header->tensor_count) {
            return fail(info, WESS_ERR_BAD_TENSOR, position, index);
        }
        model_tensor_t tensor;
        model_read_tensor(blob, header, (uint32_t)index, &tensor);
        const int32_t type = expected_type(op, word);
        const int is_output = word >= op->input_count;
        if (tensor.storage == MODEL_STORAGE_NONE || (type >= 0 && tensor.type != (uint8_t)type) ||
            (is_output && tensor.storage != MODEL_STORAGE_ARENA)) {
            return fail(info, WESS_ERR_BAD_TENSOR, position, index);
        }
    }
    return WESS_OK;
}

/* CONV_2D / DEPTHWISE_CONV_2D / FULLY_CONNECTED, int8 or float32: bias length; for int8 the requant tables
 * inside the constant section. */
static wess_status_t weighted_op_valid(const uint8_t *blob, const model_header_t *header, const model_op_t *op,
                                       int32_t position, wess_model_info_t *info)
{
    model_tensor_t input, filter, output;
    model_read_tensor(blob, header, (uint32_t)op_word(op, 0), &input);
    model_read_tensor(blob, header, (uint32_t)op_word(op, 1), &filter);
    model_read_tensor(blob, header, (uint32_t)op_word(op, 3), &output);
    const int32_t channel_count = output.dims.c;
    const int32_t bias_index = op_word(op, 2);
    if (bias_index >= 0) {
        model_tensor_t bias;
        model_read_tensor(blob, header, (uint32_t)bias_index, &bias);
        if (flat_size(&bias.dims) != channel_count) {
            return fail(info, WESS_ERR_BAD_TENSOR, position, bias_index);
        }
    }
    if (op->op_code == MODEL_OP_FULLY_CONNECTED && flat_size(&input.dims) % filter.dims.c != 0) {
        return fail(info, WESS_ERR_BAD_TENSOR, position, op_word(op, 0));
    }
    if ((op->op_code & MODEL_OP_FLOAT32) != 0) {
        return WESS_OK;  /* float32 kernels take no requantization tables */
    }
    const uint32_t requant_word = op->word_count - 4u;
    const int32_t multiplier_count = op_word(op, requant_word);
    if (multiplier_count != 1 && multiplier_count != channel_count) {
        return fail(info, WESS_ERR_BAD_OP, position, -1);
    }
    const int32_t shift4_offset = op_word(op, requant_word + 3);
    if (!constant_table_valid(header, op_word(op, requant_word + 1), 4u * (uint64_t)multiplier_count, 4u) ||
        !constant_table_valid(header, op_word(op, requant_word + 2), 4u * (uint64_t)multiplier_count, 4u) ||
        (shift4_offset != MODEL_NO_OFFSET &&
         !constant_table_valid(header, shift4_offset, ((uint64_t)channel_count + 1u) / 2u, 1u))) {
        return fail(info, WESS_ERR_BAD_OFFSET, position, -1);
    }
    return WESS_OK;
}

static wess_status_t op_valid(const uint8_t *blob, const model_header_t *header, const model_op_t *op,
                              int32_t position, wess_model_info_t *info)
{
    if (op->output_count != 1 || !input_count_valid(op)) {
        return fail(info, WESS_ERR_BAD_OP, position, -1);
    }
    const wess_status_t status = op_tensors_valid(blob, header, op, position, info);
    if (status != WESS_OK) {
        return status;
    }
    if (model_op_weighted(op->op_code)) {
        return weighted_op_valid(blob, header, op, position, info);
    }
    if (op->op_code == MODEL_OP_RESHAPE) {
        model_tensor_t input, output;
        model_read_tensor(blob, header, (uint32_t)op_word(op, 0), &input);
        model_read_tensor(blob, header, (uint32_t)op_word(op, 1), &output);
        if (input.type != output.type || input.data_bytes != output.data_bytes) {
            return fail(info, WESS_ERR_BAD_TENSOR, position, op_word(op, 1));
        }
    }
    return WESS_OK;
}

wess_status_t wess_model_validate(const uint8_t *blob, size_t blob_len, size_t arena_len, wess_model_info_t *info)
{
    wess_model_info_t scratch;
    if (info == NULL) {
        info = &scratch;
    }
    info->tensor_count = info->op_count = info->arena_bytes = info->input_bytes = info->output_bytes = 0;
    info->error_tensor = info->error_op = -1;
    if (blob == NULL) {
        return WESS_ERR_BAD_ARG;
    }
    if ((uintptr_t)blob % 4u != 0) {
        return WESS_ERR_BAD_ALIGNMENT;
    }
    model_header_t header;
    wess_status_t status = model_read_header(blob, blob_len, &header);
    if (status != WESS_OK) {
        return status;
    }
    info->tensor_count = header.tensor_count;
    info->op_count = header.op_count;
    info->arena_bytes = header.arena_bytes;
    for (uint32_t index = 0; index < header.tensor_count; ++index) {
        model_tensor_t tensor;
        model_read_tensor(blob, &header, index, &tensor);
        if (!tensor_valid(&header, &tensor)) {
            const int offset_bad = tensor.type <= MODEL_TYPE_FLOAT32 && tensor.storage != MODEL_STORAGE_NONE &&
                                   dims_valid(&tensor.dims) &&
                                   (uint64_t)flat_size(&tensor.dims) * element_bytes(tensor.type) == tensor.data_bytes;
            return fail(info, offset_bad ? WESS_ERR_BAD_OFFSET : WESS_ERR_BAD_TENSOR, -1, (int32_t)index);
        }
    }
    const uint32_t io_tensors[2] = {header.input_tensor, header.output_tensor};
    for (int io = 0; io < 2; ++io) {
        model_tensor_t tensor;
        if (io_tensors[io] >= header.tensor_count) {
            return fail(info, WESS_ERR_BAD_TENSOR, -1, (int32_t)io_tensors[io]);
        }
        model_read_tensor(blob, &header, io_tensors[io], &tensor);
        if (tensor.storage != MODEL_STORAGE_ARENA) {
            return fail(info, WESS_ERR_BAD_TENSOR, -1, (int32_t)io_tensors[io]);
        }
        *(io == 0 ? &info->input_bytes : &info->output_bytes) = tensor.data_bytes;
    }
    uint32_t cursor = 0;
    for (uint32_t position = 0; position < header.op_count; ++position) {
        model_op_t op;
        status = model_read_op(blob, &header, &cursor, &op);
        if (status == WESS_OK) {
            status = op_valid(blob, &header, &op, (int32_t)position, info);
        }
        if (status != WESS_OK) {
            return fail(info, status, (int32_t)position, info->error_tensor);
        }
    }
    if (cursor != header.op_table_bytes) {
        return fail(info, WESS_ERR_BAD_OFFSET, -1, -1);
    }
    if (header.arena_bytes > arena_len) {
        return WESS_ERR_ARENA_TOO_SMALL;
    }
    return WESS_OK;
}
