/*
 * semihost.c - Arm semihosting calls (operation numbers from Arm's
 * "Semihosting for AArch32 and AArch64"). Shared by the Secure image, the
 * unit tests and the Non-secure app (which has its own copy).
 */
#include "semihost.h"

#include <string.h>

static int sh_call(int op, void *arg)
{
    register int r0 __asm__("r0") = op;
    register void *r1 __asm__("r1") = arg;
    __asm__ volatile("bkpt 0xAB" : "+r"(r0) : "r"(r1) : "memory");
    return r0;
}

int sh_open(const char *path, int mode)
{
    uint32_t a[3] = {(uint32_t)(uintptr_t)path, (uint32_t)mode, (uint32_t)strlen(path)};
    return sh_call(0x01, a);
}

int sh_close(int fd)
{
    uint32_t a[1] = {(uint32_t)fd};
    return sh_call(0x02, a);
}

int sh_write(int fd, const void *buf, size_t len)
{
    uint32_t a[3] = {(uint32_t)fd, (uint32_t)(uintptr_t)buf, (uint32_t)len};
    return sh_call(0x05, a);
}

int sh_read(int fd, void *buf, size_t len)
{
    uint32_t a[3] = {(uint32_t)fd, (uint32_t)(uintptr_t)buf, (uint32_t)len};
    return sh_call(0x06, a);
}

int sh_seek(int fd, uint32_t pos)
{
    uint32_t a[2] = {(uint32_t)fd, pos};
    return sh_call(0x0A, a);
}

long sh_flen(int fd)
{
    uint32_t a[1] = {(uint32_t)fd};
    return sh_call(0x0C, a);
}

int sh_remove(const char *path)
{
    uint32_t a[2] = {(uint32_t)(uintptr_t)path, (uint32_t)strlen(path)};
    return sh_call(0x0E, a);
}

int sh_cmdline(char *buf, size_t max)
{
    uint32_t a[2] = {(uint32_t)(uintptr_t)buf, (uint32_t)max};
    int r = sh_call(0x15, a);
    if (r != 0 && max > 0) {
        buf[0] = '\0';
    }
    return r;
}

void sh_write0(const char *s)
{
    sh_call(0x04, (void *)(uintptr_t)s);
}

void sh_exit(int code)
{
    uint32_t a[2] = {0x20026u /* ADP_Stopped_ApplicationExit */, (uint32_t)code};
    for (;;) {
        sh_call(0x20, a); /* SYS_EXIT_EXTENDED */
    }
}
