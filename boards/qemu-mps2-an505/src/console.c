/*
 * console.c - output on a CMSDK APB UART (DATA 0x00, STATE 0x04 with bit 0
 * "TX full", CTRL 0x08 with bit 0 "TX enable", BAUDDIV 0x10). QEMU sends
 * the bytes to the chardev given with -serial.
 */
#include "console.h"

static volatile uint32_t *uart;

void con_init(uintptr_t uart_base)
{
    uart = (volatile uint32_t *)uart_base;
    uart[4] = 16; /* BAUDDIV: QEMU wants >= 16 */
    uart[2] = 1;  /* CTRL: TX enable */
}

static void con_putc(char c)
{
    while (uart[1] & 1u) {
    }
    uart[0] = (uint8_t)c;
}

void con_puts(const char *s)
{
    while (*s != '\0') {
        con_putc(*s++);
    }
}

void con_hex(const void *buf, size_t len)
{
    static const char digits[] = "0123456789abcdef";
    const uint8_t *p = buf;
    for (size_t i = 0; i < len; i++) {
        con_putc(digits[p[i] >> 4]);
        con_putc(digits[p[i] & 15]);
    }
}

void con_u32(uint32_t v)
{
    char b[11];
    int i = 10;
    b[i] = '\0';
    do {
        b[--i] = (char)('0' + v % 10);
        v /= 10;
    } while (v != 0);
    con_puts(b + i);
}

void con_x32(uint32_t v)
{
    uint8_t be[4] = {(uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v};
    con_puts("0x");
    con_hex(be, 4);
}
