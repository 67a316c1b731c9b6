/*
 * startup_s.c - reset and fault handling of the Secure image (and of the
 * Secure-only unit-test images).
 *
 * Faults: with AIRCR.BFHFNMINS = 0 (reset value) HardFault and BusFault are
 * Secure; SecureFault is enabled here. A fault taken in the Secure world is
 * the end of the run: the handler prints the fault status registers and
 * stops QEMU with a status the test harness checks (docs of the board):
 *   20 SecureFault, 21 HardFault, 22 BusFault, 23 MemManage (Secure), 24 UsageFault.
 * (QEMU never sets SFAR, so only SFSR is printed for SecureFault.)
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <nacre/mps2_an505_map.h>

#include "console.h"
#include "semihost.h"
#include "secure.h"

extern uint32_t __data_load[], __data_start[], __data_end[];
extern uint32_t __bss_start[], __bss_end[];
extern uint32_t __stack_bottom[], __stack_top[];

int main(void);
void Reset_Handler(void);
void Default_Handler(void);
void HardFault_Handler(void);
void MemManage_Handler(void);
void BusFault_Handler(void);
void UsageFault_Handler(void);
void SecureFault_Handler(void);

#define STACK_PAINT 0xA5A5A5A5u

__attribute__((section(".vectors"), used)) static void (*const vectors[16 + 16])(void) = {
    (void (*)(void))(uintptr_t)__stack_top,
    Reset_Handler,
    Default_Handler,    /* NMI */
    HardFault_Handler,
    MemManage_Handler,
    BusFault_Handler,
    UsageFault_Handler,
    SecureFault_Handler,
    0, 0, 0,
    Default_Handler,    /* SVC */
    Default_Handler,    /* DebugMon */
    0,
    Default_Handler,    /* PendSV */
    Default_Handler,    /* SysTick */
    Default_Handler, Default_Handler, Default_Handler, Default_Handler,
    Default_Handler, Default_Handler, Default_Handler, Default_Handler,
    Default_Handler, Default_Handler, Default_Handler, Default_Handler,
    Default_Handler, Default_Handler, Default_Handler, Default_Handler,
};

__attribute__((noreturn)) void Reset_Handler(void)
{
    uint32_t *src = __data_load;
    for (uint32_t *dst = __data_start; dst < __data_end; dst++) {
        *dst = *src++;
    }
    for (uint32_t *dst = __bss_start; dst < __bss_end; dst++) {
        *dst = 0;
    }
    /* Paint the stack below this frame, for the high-water mark. */
    uint32_t sp;
    __asm__ volatile("mov %0, sp" : "=r"(sp));
    for (uint32_t *p = __stack_bottom; (uintptr_t)p < sp - 64; p++) {
        *p = STACK_PAINT;
    }
    /* A stack overflow is a UsageFault (STKOF), not silent corruption of .bss. */
    __asm__ volatile("msr msplim, %0" ::"r"(__stack_bottom));
    /* Secure SHCSR: enable SecureFault, UsageFault, BusFault, MemManage. */
    *(volatile uint32_t *)0xE000ED24u |= (1u << 19) | (1u << 18) | (1u << 17) | (1u << 16);
    con_init(MPS2_UART0_S);
    sh_exit(main());
}

void secure_stack_repaint(void)
{
    uint32_t sp;
    __asm__ volatile("mov %0, sp" : "=r"(sp));
    for (uint32_t *p = __stack_bottom; (uintptr_t)p < sp - 64; p++) {
        *p = STACK_PAINT;
    }
}

uint32_t secure_stack_high_water(void)
{
    uint32_t *p = __stack_bottom;
    while (p < __stack_top && *p == STACK_PAINT) {
        p++;
    }
    return (uint32_t)((uintptr_t)__stack_top - (uintptr_t)p);
}

__attribute__((noreturn)) static void fault(const char *name, int code)
{
    con_puts("\nSECURE FAULT: ");
    con_puts(name);
    con_puts(" CFSR=");
    con_x32(*(volatile uint32_t *)0xE000ED28u);
    con_puts(" SFSR=");
    con_x32(*(volatile uint32_t *)0xE000EDE4u);
    con_puts(" HFSR=");
    con_x32(*(volatile uint32_t *)0xE000ED2Cu);
    con_puts(" BFAR=");
    con_x32(*(volatile uint32_t *)0xE000ED38u);
    con_puts("\n");
    sh_exit(code);
}

void SecureFault_Handler(void)
{
    fault("SecureFault", 20);
}

void HardFault_Handler(void)
{
    fault("HardFault", 21);
}

void BusFault_Handler(void)
{
    fault("BusFault", 22);
}

void MemManage_Handler(void)
{
    fault("MemManage", 23);
}

void UsageFault_Handler(void)
{
    fault("UsageFault", 24);
}

void Default_Handler(void)
{
    fault("unexpected exception", 25);
}

/* newlib: abort() and exit() end the run. Defining abort() here also keeps
 * newlib's signal machinery (and with it malloc) out of the image. */
__attribute__((noreturn)) void abort(void)
{
    con_puts("\nSECURE: abort\n");
    sh_exit(26);
}

__attribute__((noreturn)) void _exit(int code);
__attribute__((noreturn)) void _exit(int code)
{
    sh_exit(code);
}
