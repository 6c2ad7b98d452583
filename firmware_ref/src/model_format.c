/* Compact model blob readers: header, tensor and op records, each bounds-checked against the blob. */
#include "model_format.h"

#include "op_table.h"

#include <string.h>

/* start + bytes lies inside [0, limit), in 64-bit arithmetic (no wrap-around on 32-bit targets). */
static int range_inside(uint64_t start, uint64_t bytes, uint64_t limit)
{
    return start <= limit && bytes <= limit - start;
}

/* Version 4: after the (checked) output list, an input count word and that many input tensor indices, all inside
 * the constant section; the first is input_tensor. */
static wess_status_t read_input_list(const uint8_t *blob, model_header_t *header)
{
    const uint64_t count_offset = (uint64_t)header->output_list_offset + 4u * (uint64_t)header->output_count;
    if (!range_inside(count_offset, 4u, header->constant_bytes)) {
        return WESS_ERR_BAD_OFFSET;
    }
    header->input_count = read_u32(blob + header->constant_offset + count_offset);
    if (header->input_count < 1u || header->input_count > WESS_MODEL_MAX_INPUTS ||
        !range_inside(count_offset + 4u, 4u * header->input_count, header->constant_bytes)) {
        return WESS_ERR_BAD_OFFSET;
    }
    header->input_list_offset = (uint32_t)(count_offset + 4u);
    return model_input_tensor(blob, header, 0) == header->input_tensor ? WESS_OK : WESS_ERR_BAD_OFFSET;
}

wess_status_t model_read_header(const uint8_t *blob, size_t blob_len, model_header_t *header)
{
    if (blob_len < 8u) {
        return WESS_ERR_TRUNCATED;
    }
    if (memcmp(blob, "WSSM", 4) != 0) {
        return WESS_ERR_BAD_MAGIC;
    }
    const uint16_t version = read_u16(blob + 4);
    if (version < WESS_MODEL_VERSION_MIN || version > WESS_MODEL_VERSION) {
        return WESS_ERR_BAD_VERSION;
    }
    if (blob_len < MODEL_HEADER_BYTES) {
        return WESS_ERR_TRUNCATED;
    }
    const uint16_t header_bytes = read_u16(blob + 6);
    header->blob_bytes = read_u32(blob + 8);
    header->flags = read_u32(blob + 12);
    header->tensor_count = read_u32(blob + 16);
    header->op_count = read_u32(blob + 20);
    header->input_tensor = read_u32(blob + 24);
    header->output_tensor = read_u32(blob + 28);
    header->tensor_table_offset = read_u32(blob + 32);
    header->op_table_offset = read_u32(blob + 36);
    header->op_table_bytes = read_u32(blob + 40);
    header->constant_offset = read_u32(blob + 44);
    header->constant_bytes = read_u32(blob + 48);
    header->arena_bytes = read_u32(blob + 52);
    header->output_count = version >= 3 ? read_u32(blob + 56) : 1u;
    header->output_list_offset = version >= 3 ? read_u32(blob + 60) : 0u;
    header->input_count = 1u;
    header->input_list_offset = 0u;
    if (header->blob_bytes > blob_len) {
        return WESS_ERR_TRUNCATED;
    }
    if (header_bytes != MODEL_HEADER_BYTES || header->blob_bytes < MODEL_HEADER_BYTES) {
        return WESS_ERR_BAD_OFFSET;
    }
    const uint64_t limit = header->blob_bytes;
    if (!range_inside(header->tensor_table_offset, (uint64_t)header->tensor_count * MODEL_TENSOR_BYTES, limit) ||
        !range_inside(header->op_table_offset, header->op_table_bytes, limit) ||
        !range_inside(header->constant_offset, header->constant_bytes, limit) ||
        header->tensor_table_offset < MODEL_HEADER_BYTES || header->op_table_offset < MODEL_HEADER_BYTES ||
        header->constant_offset % 16u != 0 || header->op_table_offset % 4u != 0) {
        return WESS_ERR_BAD_OFFSET;
    }
    if (version >= 3 && (header->output_count < 1u || header->output_count > WESS_MODEL_MAX_OUTPUTS ||
                         header->output_list_offset % 4u != 0 ||
                         !range_inside(header->output_list_offset, 4u * header->output_count, header->constant_bytes) ||
                         model_output_tensor(blob, header, 0) != header->output_tensor)) {
        return WESS_ERR_BAD_OFFSET;
    }
    return version >= 4 ? read_input_list(blob, header) : WESS_OK;
}

uint32_t model_input_tensor(const uint8_t *blob, const model_header_t *header, uint32_t position)
{
    if (header->input_list_offset == 0u) {
        return header->input_tensor;
    }
    return read_u32(blob + header->constant_offset + header->input_list_offset + 4u * position);
}

uint32_t model_output_tensor(const uint8_t *blob, const model_header_t *header, uint32_t position)
{
    if (header->output_list_offset == 0u && header->output_count == 1u) {
        return header->output_tensor;
    }
    return read_u32(blob + header->constant_offset + header->output_list_offset + 4u * position);
}

void model_read_tensor(const uint8_t *blob, const model_header_t *header, uint32_t index, model_tensor_t *tensor)
{
    const uint8_t *record = blob + header->tensor_table_offset + (size_t)index * MODEL_TENSOR_BYTES;
    tensor->dims.n = read_i32(record);
    tensor->dims.h = read_i32(record + 4);
    tensor->dims.w = read_i32(record + 8);
    tensor->dims.c = read_i32(record + 12);
    tensor->type = record[16];
    tensor->storage = record[17];
    tensor->zero_point = read_i32(record + 20);
    const uint32_t scale_bits = read_u32(record + 24);
    memcpy(&tensor->scale, &scale_bits, sizeof tensor->scale);
    tensor->data_offset = read_u32(record + 28);
    tensor->data_bytes = read_u32(record + 32);
}

wess_status_t model_read_op(const uint8_t *blob, const model_header_t *header, uint32_t *cursor, model_op_t *op)
{
    if (!range_inside(*cursor, MODEL_OP_HEADER_BYTES, header->op_table_bytes)) {
        return WESS_ERR_BAD_OFFSET;
    }
    const uint8_t *record = blob + header->op_table_offset + *cursor;
    op->op_code = read_u16(record);
    op->record_bytes = read_u16(record + 2);
    op->input_count = read_u16(record + 4);
    op->output_count = read_u16(record + 6);
    if (op->record_bytes < MODEL_OP_HEADER_BYTES || op->record_bytes % 4u != 0 ||
        !range_inside(*cursor, op->record_bytes, header->op_table_bytes)) {
        return WESS_ERR_BAD_OFFSET;
    }
    op->word_count = (uint32_t)(op->record_bytes - MODEL_OP_HEADER_BYTES) / 4u;
    op->words = record + MODEL_OP_HEADER_BYTES;
    op->kind = model_op_find(op->op_code);
    if (op->kind == NULL || op->word_count != (uint32_t)op->input_count + op->output_count + op->kind->param_words +
                                                 op->kind->requant_words) {
        return WESS_ERR_BAD_OP;
    }
    *cursor += op->record_bytes;
    return WESS_OK;
}
