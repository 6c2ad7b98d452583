/* wess_model_validate: every offset, size, count, index and type of a compact model blob checked before use. */
#include "kernel_util.h"
#include "op_table.h"

static int range_inside(uint64_t start, uint64_t bytes, uint64_t limit)
{
    return start <= limit && bytes <= limit - start;
}

/* Bytes of an element (1 for packed int4: its data offset needs no alignment). */
static uint32_t element_bytes(uint8_t type)
{
    return type == MODEL_TYPE_INT8 || type == MODEL_TYPE_INT4 ? 1u : 4u;
}

/* Bytes of `elements` values of a type: packed int4 holds two per byte. */
static uint64_t data_bytes(uint8_t type, int64_t elements)
{
    return type == MODEL_TYPE_INT4 ? ((uint64_t)elements + 1u) / 2u : (uint64_t)elements * element_bytes(type);
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
    if (tensor->type > MODEL_TYPE_INT4 || tensor->storage > MODEL_STORAGE_CONSTANT ||
        (tensor->type == MODEL_TYPE_INT4 && tensor->storage == MODEL_STORAGE_ARENA)) {
        return 0;  /* packed int4 is for constant weights only */
    }
    if (tensor->storage == MODEL_STORAGE_NONE) {
        return 1;
    }
    if (!dims_valid(&tensor->dims) ||
        data_bytes(tensor->type, flat_size(&tensor->dims)) != tensor->data_bytes ||
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

/* The type tensor word `position` of an op must have (MODEL_TYPE_ANY: left to the op's check). */
static uint8_t expected_type(const model_op_t *op, uint32_t position)
{
    if (position >= op->input_count) {
        return op->kind->output_type;
    }
    return op->kind->input_types[position < 2u ? position : 2u];
}

/* Two tensors share arena bytes (empty tensors share none). */
static int arena_bytes_shared(const model_tensor_t *a, const model_tensor_t *b)
{
    return a->storage == MODEL_STORAGE_ARENA && b->storage == MODEL_STORAGE_ARENA && a->data_bytes > 0 &&
           b->data_bytes > 0 && (uint64_t)a->data_offset < (uint64_t)b->data_offset + b->data_bytes &&
           (uint64_t)b->data_offset < (uint64_t)a->data_offset + a->data_bytes;
}

/* Every output shares no arena byte with the op's inputs or its other outputs (the memory plan never places them so,
 * and the kernels copy with memcpy), except for the relabelling ops, whose output is their input's buffer. Tensor
 * indices are already checked. */
static wess_status_t op_outputs_apart(const model_run_t *model, const model_op_t *op, int32_t *error_tensor)
{
    if (op->kind->run == reshape_op_run) {
        return WESS_OK;
    }
    const uint32_t tensor_words = (uint32_t)op->input_count + op->output_count;
    for (uint32_t word = op->input_count; word < tensor_words; ++word) {
        model_tensor_t output, other;
        model_read_tensor(model->blob, &model->header, (uint32_t)op_word(op, word), &output);
        for (uint32_t earlier = 0; earlier < word; ++earlier) {
            const int32_t index = op_word(op, earlier);
            if (index < 0) {
                continue;  /* the absent optional input */
            }
            model_read_tensor(model->blob, &model->header, (uint32_t)index, &other);
            if (arena_bytes_shared(&output, &other)) {
                *error_tensor = op_word(op, word);
                return WESS_ERR_BAD_TENSOR;
            }
        }
    }
    return WESS_OK;
}

/* Tensor words: indices in range (the optional input may be -1), stored, of the kernel's type; outputs in the
 * arena, apart from the op's other tensors. */
static wess_status_t op_tensors_valid(const model_run_t *model, const model_op_t *op, int32_t *error_tensor)
{
    const uint32_t tensor_words = (uint32_t)op->input_count + op->output_count;
    for (uint32_t word = 0; word < tensor_words; ++word) {
        const int32_t index = op_word(op, word);
        *error_tensor = index;
        if (index == -1 && (int32_t)word == op->kind->optional_input) {
            continue;
        }
        if (index < 0 || (uint32_t)index >= model->header.tensor_count) {
            return WESS_ERR_BAD_TENSOR;
        }
        model_tensor_t tensor;
        model_read_tensor(model->blob, &model->header, (uint32_t)index, &tensor);
        const uint8_t type = expected_type(op, word);
        const int is_output = word >= op->input_count;
        if (tensor.storage == MODEL_STORAGE_NONE || (type != MODEL_TYPE_ANY && tensor.type != type) ||
            (is_output && tensor.storage != MODEL_STORAGE_ARENA)) {
            return WESS_ERR_BAD_TENSOR;
        }
    }
    if (op_outputs_apart(model, op, error_tensor) != WESS_OK) {
        return WESS_ERR_BAD_TENSOR;
    }
    *error_tensor = -1;
    return WESS_OK;
}

wess_status_t model_check_none(const model_run_t *model, const model_op_t *op, int32_t *error_tensor)
{
    (void)model;
    (void)op;
    (void)error_tensor;
    return WESS_OK;
}

/* The requantization words of a weighted op: 1 or channel_count multipliers, tables inside the constant section. */
static wess_status_t requant_words_valid(const model_header_t *header, const model_op_t *op, int32_t channel_count)
{
    const model_requant_words_t words = model_op_requant_words(op);
    if (words.multiplier_count != 1 && words.multiplier_count != channel_count) {
        return WESS_ERR_BAD_OP;
    }
    const uint64_t table_bytes = 4u * (uint64_t)words.multiplier_count;
    if (!constant_table_valid(header, words.multiplier_offset, table_bytes, 4u) ||
        !constant_table_valid(header, words.right_shift_offset, table_bytes, 4u) ||
        (words.shift4_offset != MODEL_NO_OFFSET &&
         !constant_table_valid(header, words.shift4_offset, ((uint64_t)channel_count + 1u) / 2u, 1u))) {
        return WESS_ERR_BAD_OFFSET;
    }
    return WESS_OK;
}

wess_status_t model_check_weighted(const model_run_t *model, const model_op_t *op, int32_t *error_tensor)
{
    const bound_tensor_t bias = model_op_tensor(model, op, 2), output = model_op_tensor(model, op, 3);
    const int32_t channel_count = output.record.dims.c;
    if (op_word(op, 2) >= 0 && flat_size(&bias.record.dims) != channel_count) {
        *error_tensor = op_word(op, 2);
        return WESS_ERR_BAD_TENSOR;
    }
    if (op->kind->requant_words == 0u) {
        return WESS_OK;  /* float32 kernels take no requantization tables */
    }
    return requant_words_valid(&model->header, op, channel_count);
}

/* The generic checks every op gets from its table row, then the row's own check. */
static wess_status_t op_valid(const model_run_t *model, const model_op_t *op, int32_t *error_tensor)
{
    const model_op_kind_t *kind = op->kind;
    *error_tensor = -1;
    if (op->output_count < kind->min_outputs || op->output_count > kind->max_outputs ||
        op->input_count < kind->min_inputs ||
        op->input_count > kind->max_inputs) {
        return WESS_ERR_BAD_OP;
    }
    const wess_status_t status = op_tensors_valid(model, op, error_tensor);
    return status != WESS_OK ? status : kind->check(model, op, error_tensor);
}

/* Every op record in order, then the op table's size against the records read. */
static wess_status_t ops_valid(const model_run_t *model, wess_model_info_t *info)
{
    uint32_t cursor = 0;
    for (uint32_t position = 0; position < model->header.op_count; ++position) {
        model_op_t op;
        int32_t error_tensor = -1;
        wess_status_t status = model_read_op(model->blob, &model->header, &cursor, &op);
        if (status == WESS_OK) {
            status = op_valid(model, &op, &error_tensor);
        }
        if (status != WESS_OK) {
            return fail(info, status, (int32_t)position, error_tensor);
        }
    }
    return cursor == model->header.op_table_bytes ? WESS_OK : fail(info, WESS_ERR_BAD_OFFSET, -1, -1);
}

/* Model input `io` for io < input_count, else output io - input_count (the header checked). */
static uint32_t io_tensor(const uint8_t *blob, const model_header_t *header, uint32_t io)
{
    return io < header->input_count ? model_input_tensor(blob, header, io)
                                    : model_output_tensor(blob, header, io - header->input_count);
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
            const int offset_bad = tensor.type <= MODEL_TYPE_INT4 && tensor.storage != MODEL_STORAGE_NONE &&
                                   !(tensor.type == MODEL_TYPE_INT4 && tensor.storage == MODEL_STORAGE_ARENA) &&
                                   dims_valid(&tensor.dims) &&
                                   data_bytes(tensor.type, flat_size(&tensor.dims)) == tensor.data_bytes;
            return fail(info, offset_bad ? WESS_ERR_BAD_OFFSET : WESS_ERR_BAD_TENSOR, -1, (int32_t)index);
        }
    }
    /* positions [0, input_count): the inputs; then the outputs. Every one an arena tensor; the inputs are distinct,
     * and so are the outputs. */
    const uint32_t inputs = header.input_count;
    for (uint32_t io = 0; io < inputs + header.output_count; ++io) {
        const uint32_t index = io_tensor(blob, &header, io);
        model_tensor_t tensor;
        if (index >= header.tensor_count) {
            return fail(info, WESS_ERR_BAD_TENSOR, -1, (int32_t)index);
        }
        model_read_tensor(blob, &header, index, &tensor);
        if (tensor.storage != MODEL_STORAGE_ARENA) {
            return fail(info, WESS_ERR_BAD_TENSOR, -1, (int32_t)index);
        }
        for (uint32_t earlier = io < inputs ? 0u : inputs; earlier < io; ++earlier) {
            if (io_tensor(blob, &header, earlier) == index) {
                return fail(info, WESS_ERR_BAD_TENSOR, -1, (int32_t)index);
            }
        }
        uint32_t *total_bytes = io < inputs ? &info->input_bytes : &info->output_bytes;
        if (tensor.data_bytes > UINT32_MAX - *total_bytes) {
            return fail(info, WESS_ERR_BAD_TENSOR, -1, (int32_t)index);
        }
        *total_bytes += tensor.data_bytes;
    }
    const model_run_t model = {blob, header, NULL};
    status = ops_valid(&model, info);
    if (status != WESS_OK) {
        return status;
    }
    if (header.arena_bytes > arena_len) {
        return WESS_ERR_ARENA_TOO_SMALL;
    }
    return WESS_OK;
}
