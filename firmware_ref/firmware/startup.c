/* Cortex-M startup: vector table, reset handler (FPU on, .data copied, .bss zeroed, stack painted), fault exit. */
#include <stdint.h>
#include <string.h>

#include "semihost.h"
#include "timer.h"

#define CPACR (*(volatile uint32_t *)0xE000ED88u)
#define CPACR_CP10_CP11_FULL (0xFu << 20)

extern uint32_t __data_load__, __data_start__, __data_end__, __bss_start__, __bss_end__;
extern uint32_t __stack_limit__, __stack_top__;

int main(void);
void reset_handler(void) __attribute__((noreturn));

/* The firmware has no use for any other exception: report it and stop. */
static void fault_handler(void)
{
    semihost_write("WESS_RESULT match=0 fault=1\n");
    semihost_exit(3);
}

__attribute__((section(".vectors"), used)) static const void *const vectors[16] = {
    &__stack_top__,  /* initial main stack pointer */
    reset_handler,
    fault_handler,   /* NMI */
    fault_handler,   /* HardFault */
    fault_handler,   /* MemManage */
    fault_handler,   /* BusFault */
    fault_handler,   /* UsageFault */
    fault_handler,   /* SecureFault (Armv8-M) */
    0, 0, 0,
    fault_handler,   /* SVCall */
    fault_handler,   /* DebugMonitor */
    0,
    fault_handler,   /* PendSV */
    timer_systick_handler,
};

void reset_handler(void)
{
#if defined(__ARM_FP)
    CPACR |= CPACR_CP10_CP11_FULL;  /* hard-float ABI: FP instructions must not fault */
    __asm__ volatile("dsb\n\tisb" ::: "memory");
#endif
    const size_t data_bytes = (size_t)((uint8_t *)&__data_end__ - (uint8_t *)&__data_start__);
    memcpy(&__data_start__, &__data_load__, data_bytes);
    memset(&__bss_start__, 0, (size_t)((uint8_t *)&__bss_end__ - (uint8_t *)&__bss_start__));
    /* paint the stack below the current frame so main can measure its high-water mark */
    uint32_t *const frame = (uint32_t *)__builtin_frame_address(0) - 16;
    for (uint32_t *word = &__stack_limit__; word < frame; ++word) {
        *word = STACK_PAINT;
    }
    semihost_exit(main());
}
