/* libFuzzer harness: validates a compact model blob and, if it is accepted, runs one inference on it. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "wess_ref.h"

/* Largest activation arena a fuzzed blob may declare; validation refuses larger ones (ARENA_TOO_SMALL). Small, so
 * that accepted blobs run quickly under the sanitizers: the tiny seed models need about 1 KiB; zoo models with a
 * larger arena are only validated. */
#define FUZZ_MAX_ARENA_BYTES (16u * 1024u)

/* Tensor callback: reads every byte of each op output, so an output pointer outside the arena is caught. */
static wess_status_t touch_output(void *user, int32_t sample, int32_t op, int32_t tensor, const void *data,
                                  uint32_t bytes)
{
    (void)sample;
    (void)op;
    (void)tensor;
    uint32_t *checksum = (uint32_t *)user;
    const uint8_t *bytes_in = (const uint8_t *)data;
    for (uint32_t index = 0; index < bytes; ++index) {
        *checksum = *checksum * 31u + bytes_in[index];
    }
    return WESS_OK;
}

/* Every buffer is a heap block of exactly its declared size, so ASan reports any access past its end. */
static void run_accepted(const uint8_t *blob, size_t blob_len, const wess_model_info_t *info)
{
    uint8_t *arena = malloc(info->arena_bytes > 0 ? info->arena_bytes : 1u);
    uint8_t *input = malloc(info->input_bytes > 0 ? info->input_bytes : 1u);
    uint8_t *output = malloc(info->output_bytes > 0 ? info->output_bytes : 1u);
    if (arena != NULL && input != NULL && output != NULL) {
        for (uint32_t index = 0; index < info->input_bytes; ++index) {
            input[index] = (uint8_t)(index * 37u + 11u);  /* fixed pattern; float inputs get odd values too */
        }
        uint32_t checksum = 0;
        wess_run_hooks_t hooks = {touch_output, &checksum, -1};
        (void)wess_model_run(blob, blob_len, arena, info->arena_bytes, input, output, &hooks);
    }
    free(output);
    free(input);
    free(arena);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* malloc is 16-byte aligned, as the runner requires; an exact-size copy lets ASan see reads past blob_len */
    uint8_t *blob = malloc(size > 0 ? size : 1u);
    if (blob == NULL) {
        return 0;
    }
    if (size > 0) {
        memcpy(blob, data, size);
    }
    wess_model_info_t info;
    if (wess_model_validate(blob, size, FUZZ_MAX_ARENA_BYTES, &info) == WESS_OK) {
        run_accepted(blob, size, &info);
    }
    free(blob);
    return 0;
}
