/* console.h - a few output helpers on a CMSDK APB UART (no printf, no heap). */
#ifndef NACRE_MPS2_CONSOLE_H
#define NACRE_MPS2_CONSOLE_H

#include <stddef.h>
#include <stdint.h>

void con_init(uintptr_t uart_base);
void con_puts(const char *s);
void con_hex(const void *buf, size_t len);
void con_u32(uint32_t v);  /* decimal */
void con_x32(uint32_t v);  /* 0x%08x */

#endif
