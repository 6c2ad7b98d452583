/* Runs the embedded compact model on the embedded test inputs, compares with the host C reference's outputs
 * and prints one machine-readable line per input and one summary line over semihosting (docs/firmware.md). */
#include <stdint.h>
#include <string.h>

#include "model_data.h"
#include "semihost.h"
#include "timer.h"
#include "wess_ref.h"

#ifndef WESS_CORE_CLOCK_HZ
#error "WESS_CORE_CLOCK_HZ (the SysTick processor clock of the target machine) must be defined"
#endif

#define NANOSECONDS_PER_SECOND 1000000000ull
#define LINE_BYTES (2u * WESS_OUTPUT_BYTES + 256u)

extern uint32_t __stack_limit__, __stack_top__;

/* the activation arena of the static memory plan: the only RAM the model uses besides the stack */
static uint8_t arena[WESS_ARENA_BYTES] __attribute__((aligned(16), section(".arena")));
static uint8_t output[WESS_OUTPUT_BYTES] __attribute__((aligned(16)));

/* A line being formatted: text[0, length), always NUL-terminated, silently cut at LINE_BYTES - 1. */
typedef struct {
    char text[LINE_BYTES];
    uint32_t length;
} line_t;

static line_t line;

#if defined(WESS_PROFILE_OPS)
/* Ticks spent in each op over all samples (WESS_PROFILE_OP_COUNT ops; the runner calls wess_profile_op_end). */
static uint64_t op_ticks[WESS_PROFILE_OP_COUNT];
static uint64_t last_mark_ticks;

void wess_profile_op_end(int32_t position);
void wess_profile_op_end(int32_t position)
{
    const uint64_t now = timer_ticks();
    if (position >= 0 && position < (int32_t)WESS_PROFILE_OP_COUNT) {
        op_ticks[position] += now - last_mark_ticks;
    }
    last_mark_ticks = timer_ticks();  /* the hook's own instructions up to here are charged to no op */
}
#endif

static void put_text(const char *text)
{
    while (*text != '\0' && line.length + 1u < LINE_BYTES) {
        line.text[line.length++] = *text++;
    }
    line.text[line.length] = '\0';
}

static void put_field(const char *name, uint64_t value)
{
    char text[21];  /* 2^64 has 20 decimal digits */
    uint32_t first = sizeof text - 1u;
    text[first] = '\0';
    do {
        text[--first] = (char)('0' + (int)(value % 10u));
        value /= 10u;
    } while (value != 0u);
    put_text(name);
    put_text("=");
    put_text(text + first);
    put_text(" ");
}

static void put_hex(const char *name, const uint8_t *bytes, uint32_t count)
{
    static const char hex[] = "0123456789abcdef";
    put_text(name);
    put_text("=");
    for (uint32_t index = 0; index < count && line.length + 3u < LINE_BYTES; ++index) {
        line.text[line.length++] = hex[bytes[index] >> 4];
        line.text[line.length++] = hex[bytes[index] & 0xFu];
    }
    line.text[line.length] = '\0';
}

static void begin_line(const char *tag)
{
    line.length = 0;
    put_text(tag);
    put_text(" ");
}

static void end_line(void)
{
    put_text("\n");
    semihost_write(line.text);
}

/* Instructions QEMU executed in `ticks` core clock ticks: with -icount shift=0 one instruction is 1 ns. */
static uint64_t instructions_from_ticks(uint64_t ticks)
{
    return ticks * NANOSECONDS_PER_SECOND / WESS_CORE_CLOCK_HZ;
}

/* Bytes of stack ever used: from the top down to the lowest word whose paint was overwritten. */
static uint32_t stack_used_bytes(void)
{
    const uint32_t *word = &__stack_limit__;
    while (word < &__stack_top__ && *word == STACK_PAINT) {
        ++word;
    }
    return (uint32_t)((const uint8_t *)&__stack_top__ - (const uint8_t *)word);
}

int main(void)
{
    timer_start();
    wess_model_info_t info;
    uint64_t start = timer_ticks();
    wess_status_t status = wess_model_validate(wess_model_blob, WESS_MODEL_BLOB_BYTES, sizeof arena, &info);
    const uint64_t validate_ticks = timer_ticks() - start;
    if (status == WESS_OK && (info.input_bytes != WESS_INPUT_BYTES || info.output_bytes != WESS_OUTPUT_BYTES)) {
        status = WESS_ERR_BAD_TENSOR;  /* the generated sources disagree with the blob */
    }
    uint32_t mismatches = 0, completed = 0;
    uint64_t total_ticks = 0;
    for (uint32_t sample = 0; status == WESS_OK && sample < WESS_SAMPLE_COUNT; ++sample) {
        start = timer_ticks();
        status = wess_model_run(wess_model_blob, WESS_MODEL_BLOB_BYTES, arena, sizeof arena,
                                wess_test_inputs + (size_t)sample * WESS_INPUT_BYTES, output, NULL);
        const uint64_t ticks = timer_ticks() - start;
        if (status != WESS_OK) {
            break;
        }
        const int match = memcmp(output, wess_expected_outputs + (size_t)sample * WESS_OUTPUT_BYTES,
                                 WESS_OUTPUT_BYTES) == 0;
        mismatches += match ? 0u : 1u;
        total_ticks += ticks;
        ++completed;
        begin_line("WESS_SAMPLE");
        put_field("index", sample);
        put_field("match", (uint64_t)match);
        put_field("ticks", ticks);
        put_field("instructions", instructions_from_ticks(ticks));
        put_hex("output", output, WESS_OUTPUT_BYTES);
        end_line();
    }
    const int all_match = status == WESS_OK && mismatches == 0u;
#if defined(WESS_PROFILE_OPS)
    for (uint32_t position = 0; completed != 0u && position < WESS_PROFILE_OP_COUNT; ++position) {
        begin_line("WESS_OP");
        put_field("position", position);
        put_field("instructions", instructions_from_ticks(op_ticks[position]) / completed);
        end_line();
    }
#endif
    begin_line("WESS_RESULT");
    put_field("match", (uint64_t)all_match);
    put_field("status", (uint64_t)status);
    put_field("inputs", completed);
    put_field("mismatches", mismatches);
    put_field("instructions", completed ? instructions_from_ticks(total_ticks) / completed : 0u);
    put_field("validate_instructions", instructions_from_ticks(validate_ticks));
    put_field("stack_bytes", stack_used_bytes());
    put_field("clock_hz", WESS_CORE_CLOCK_HZ);
    end_line();
    return all_match ? 0 : 1;
}
