/* What an op's check and run read from the blob: its tensors, its parameter words and requantization tables. */
#include <string.h>

#include "kernel_util.h"
#include "op_table.h"

bound_tensor_t model_bind(const model_run_t *model, int32_t index)
{
    bound_tensor_t bound = {{{1, 1, 1, 1}, 0, 0, 0, 0.0f, 0, 0}, NULL};
    if (index < 0) {
        return bound;
    }
    model_read_tensor(model->blob, &model->header, (uint32_t)index, &bound.record);
    if (bound.record.storage == MODEL_STORAGE_ARENA) {
        bound.data = model->arena == NULL ? NULL : model->arena + bound.record.data_offset;
    } else {
        /* constants are read-only: kernels take them through const pointers */
        bound.data = (uint8_t *)(uintptr_t)(model->blob + model->header.constant_offset + bound.record.data_offset);
    }
    return bound;
}

bound_tensor_t model_op_tensor(const model_run_t *model, const model_op_t *op, uint32_t position)
{
    return model_bind(model, op_word(op, position));
}

/* First parameter word: after the input and output tensor indices. */
static uint32_t first_param_word(const model_op_t *op)
{
    return (uint32_t)op->input_count + op->output_count;
}

/* Each word read as little-endian uint32 and stored in host order: int32 fields get their value and float fields
 * their bits (the blob holds a float32 parameter as its bit pattern). */
static void read_words(const model_op_t *op, uint32_t first, void *fields, size_t bytes)
{
    uint8_t *field = (uint8_t *)fields;
    for (uint32_t word = 0; word < bytes / 4u; ++word) {
        const uint32_t bits = (uint32_t)op_word(op, first + word);
        memcpy(field + 4u * word, &bits, 4u);
    }
}

void model_op_params(const model_op_t *op, void *params, size_t bytes)
{
    read_words(op, first_param_word(op), params, bytes);
}

model_requant_words_t model_op_requant_words(const model_op_t *op)
{
    model_requant_words_t words;
    read_words(op, first_param_word(op) + op->kind->param_words, &words, sizeof words);
    return words;
}

static const void *constant_at(const model_run_t *model, int32_t offset)
{
    return offset == MODEL_NO_OFFSET ? NULL : model->blob + model->header.constant_offset + (uint32_t)offset;
}

wess_requant_t model_op_requant(const model_run_t *model, const model_op_t *op)
{
    const model_requant_words_t words = model_op_requant_words(op);
    wess_requant_t requant;
    requant.multiplier_count = words.multiplier_count;
    requant.multiplier = (const int32_t *)constant_at(model, words.multiplier_offset);
    requant.right_shift = (const int32_t *)constant_at(model, words.right_shift_offset);
    requant.channel_shift4 = (const uint8_t *)constant_at(model, words.shift4_offset);
    return requant;
}

void model_fully_connected_dims(const bound_tensor_t *input, const bound_tensor_t *filter,
                                const bound_tensor_t *output, wess_dims_t *input_dims, wess_dims_t *output_dims)
{
    const int32_t in_depth = filter->record.dims.c;  /* >= 1; int8: divides the input's flat size (checked) */
    const wess_dims_t flat_input = {flat_size(&input->record.dims) / in_depth, 1, 1, in_depth};
    const wess_dims_t flat_output = {output->record.dims.n * output->record.dims.h * output->record.dims.w, 1, 1,
                                     output->record.dims.c};
    *input_dims = flat_input;
    *output_dims = flat_output;
}

wess_status_t model_run_unsupported(const model_run_t *model, const model_op_t *op)
{
    (void)model;
    (void)op;
    return WESS_ERR_UNSUPPORTED;
}
