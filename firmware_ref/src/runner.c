/* Whole-model runner: validates a compact model blob, then runs its ops in order on a caller-owned arena, each
 * through the run of its operator table row (op_table.c). */
#include <string.h>

#include "op_table.h"

#if defined(WESS_PROFILE_OPS)
/* Per-op profile hook of the firmware (firmware/main.c, built with WESS_PROFILE_OPS): called with -1 before a
 * sample's first op and with each op's position after it, so that the firmware can charge the time between two
 * calls to that op. */
void wess_profile_op_end(int32_t position);
#define PROFILE_OP_END(position) wess_profile_op_end(position)
#else
#define PROFILE_OP_END(position) ((void)0)
#endif

/* One sample through every op; the blob is already validated. */
static wess_status_t run_sample(const model_run_t *run, int32_t sample, wess_run_hooks_t *hooks)
{
    uint32_t cursor = 0;
    PROFILE_OP_END(-1);
    for (uint32_t position = 0; position < run->header.op_count; ++position) {
        model_op_t op;
        wess_status_t status = model_read_op(run->blob, &run->header, &cursor, &op);
        if (status == WESS_OK) {
            status = op.kind->run(run, &op);
        }
        PROFILE_OP_END((int32_t)position);
        if (status != WESS_OK) {
            if (hooks != NULL) {
                hooks->failed_op = (int32_t)position;
            }
            return status;
        }
        for (uint32_t output_position = 0; hooks != NULL && hooks->tensor_callback != NULL &&
                                           output_position < op.output_count; ++output_position) {
            const int32_t output_index = op_word(&op, op.input_count + output_position);
            const bound_tensor_t output = model_bind(run, output_index);
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
    for (int32_t sample = 0; sample < batch_count; ++sample) {
        /* the inputs one after another, in the blob's list order (their bytes add up to info.input_bytes) */
        const uint8_t *source = (const uint8_t *)inputs + (size_t)sample * info.input_bytes;
        for (uint32_t position = 0; position < run.header.input_count; ++position) {
            const bound_tensor_t input = model_bind(&run, (int32_t)model_input_tensor(blob, &run.header, position));
            memcpy(input.data, source, input.record.data_bytes);
            source += input.record.data_bytes;
        }
        status = run_sample(&run, sample, hooks);
        if (status != WESS_OK) {
            return status;
        }
        /* the outputs one after another, in the blob's list order (their bytes add up to info.output_bytes) */
        uint8_t *destination = (uint8_t *)outputs + (size_t)sample * info.output_bytes;
        for (uint32_t position = 0; position < run.header.output_count; ++position) {
            const bound_tensor_t output = model_bind(&run, (int32_t)model_output_tensor(blob, &run.header, position));
            memcpy(destination, output.data, output.record.data_bytes);
            destination += output.record.data_bytes;
        }
    }
    return WESS_OK;
}

wess_status_t wess_model_run(const uint8_t *blob, size_t blob_len, uint8_t *arena, size_t arena_len,
                             const void *input, void *output, wess_run_hooks_t *hooks)
{
    return wess_model_run_batch(blob, blob_len, arena, arena_len, 1, input, output, hooks);
}
