/*
 * semihost.h - Arm semihosting (BKPT 0xAB) as the board uses it: the host
 * files that hold flash and OTP, the console fallback, and the exit status
 * of a test run (SYS_EXIT_EXTENDED gives any code, mod 256).
 * QEMU serves these calls from either world when started with
 * -semihosting-config enable=on,target=native,userspace=on.
 */
#ifndef NACRE_MPS2_SEMIHOST_H
#define NACRE_MPS2_SEMIHOST_H

#include <stddef.h>
#include <stdint.h>

/* Open modes (ISO C fopen strings, as semihosting numbers them). */
#define SH_MODE_RB 1   /* "rb" */
#define SH_MODE_RPB 3  /* "r+b" */
#define SH_MODE_WPB 7  /* "w+b" */

int sh_open(const char *path, int mode);          /* handle, or -1 */
int sh_close(int fd);
int sh_read(int fd, void *buf, size_t len);       /* 0 when all read */
int sh_write(int fd, const void *buf, size_t len); /* 0 when all written */
int sh_seek(int fd, uint32_t pos);
long sh_flen(int fd);
int sh_remove(const char *path);
/* The command line QEMU was given (-semihosting-config arg=...), NUL-terminated. */
int sh_cmdline(char *buf, size_t max);
void sh_write0(const char *s);
__attribute__((noreturn)) void sh_exit(int code);

#endif
