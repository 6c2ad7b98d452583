/* Arm semihosting calls the firmware uses: write a string to the host console, exit with a status. */
#ifndef WESS_SEMIHOST_H
#define WESS_SEMIHOST_H

#include <stdint.h>

/** Writes a NUL-terminated string to the debugger's / QEMU's console (SYS_WRITE0). */
void semihost_write(const char *text);

/** Ends the program with an exit status the host sees (SYS_EXIT_EXTENDED); never returns. */
void semihost_exit(int32_t status) __attribute__((noreturn));

#endif /* WESS_SEMIHOST_H */
