/* Virtual-time measurement with SysTick on the core clock: 24-bit down-counter plus a wrap count. */
#ifndef WESS_TIMER_H
#define WESS_TIMER_H

#include <stdint.h>

/** Word written over the unused stack at reset; the first word that differs marks the stack's high-water mark. */
#define STACK_PAINT 0x57455353u

/** Starts SysTick on the processor clock, free running, interrupting on every wrap. */
void timer_start(void);

/** Core clock ticks since timer_start (wraps counted by the SysTick interrupt). */
uint64_t timer_ticks(void);

/** SysTick exception handler (vector 15). */
void timer_systick_handler(void);

#endif /* WESS_TIMER_H */
