/* SysTick as a 64-bit tick counter: 2^24 ticks per wrap, wraps counted in the exception handler. */
#include "timer.h"

#define SYST_CSR (*(volatile uint32_t *)0xE000E010u)
#define SYST_RVR (*(volatile uint32_t *)0xE000E014u)
#define SYST_CVR (*(volatile uint32_t *)0xE000E018u)
#define SYST_CSR_ENABLE_TICKINT_CLKSOURCE 0x7u
#define SYST_RELOAD 0xFFFFFFu

static volatile uint32_t wrap_count;

void timer_systick_handler(void)
{
    wrap_count = wrap_count + 1u;
}

void timer_start(void)
{
    SYST_RVR = SYST_RELOAD;
    SYST_CVR = 0u;  /* any write clears the counter: it reloads on the next tick */
    wrap_count = 0u;
    SYST_CSR = SYST_CSR_ENABLE_TICKINT_CLKSOURCE;
    while (SYST_CVR == 0u) {  /* the first tick loads the reload value without an exception */
    }
}

uint64_t timer_ticks(void)
{
    uint32_t wraps, value;
    do {  /* a wrap between the two reads changes wrap_count: read again */
        wraps = wrap_count;
        value = SYST_CVR;
    } while (wraps != wrap_count);
    /* the exception fires as the counter reaches 0: that last tick still belongs to the previous period */
    return value == 0u ? ((uint64_t)wraps << 24) - 1u : ((uint64_t)wraps << 24) + (SYST_RELOAD - value);
}
