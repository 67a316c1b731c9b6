/*
 * ns_kernel.c - the privileged part of the Non-secure image, in the spirit
 * of an RTOS kernel: it owns the NS MPU and UART1, starts the app as an
 * unprivileged thread on its own stack, and serves its SVCs (print, exit).
 *
 * NS MPU (ARMv8-M PMSA, NS bank):
 *   region 0  NS code          RO, privileged and unprivileged, executable
 *   region 1  NS kernel RAM    RW privileged only, XN
 *   region 2  NS task RAM      RW privileged and unprivileged, XN
 *   region 3  UART1            RW privileged only, XN, device
 *   region 4  NSC veneers      RO, both, executable (the task calls them)
 * PRIVDEFENA: the kernel keeps the default map for everything else.
 *
 * Kernel-level attacks (they need no task) run here; each must fault, so
 * reaching the line after the access is a test failure (exit 1).
 * NS fault exits: 30 MemManage, 31 HardFault, 32 BusFault, 33 UsageFault.
 */
#include <string.h>

#include <nacre/mps2_an505_map.h>

#include "console.h"
#include "ns.h"
#include "semihost.h"

#define REG(a) (*(volatile uint32_t *)(a))

extern uint32_t __data_load[], __data_start[], __data_end[];
extern uint32_t __bss_start[], __bss_end[];
extern uint32_t __kstack_top[], __task_stack_top[];

void ns_reset(void);
void ns_hardfault(void);
void ns_memmanage(void);
void ns_busfault(void);
void ns_usagefault(void);
void ns_svc(void);
void ns_default(void);
void ns_svc_dispatch(uint32_t *frame);

volatile uint32_t ns_kernel_secret = 0x5EC12E7u;
static char cmdline[256];
/* The task's copy of its argument: it cannot read kernel memory. */
static char task_arg[64] __attribute__((section(".task_bss")));

__attribute__((section(".vectors"), used)) static void (*const ns_vectors[16])(void) = {
    (void (*)(void))(uintptr_t)__kstack_top,
    ns_reset,
    ns_default,      /* NMI */
    ns_hardfault,
    ns_memmanage,
    ns_busfault,
    ns_usagefault,
    0, 0, 0, 0,
    ns_svc,
    ns_default,
    0,
    ns_default,      /* PendSV */
    ns_default,      /* SysTick */
};

static void mpu_region(uint32_t n, uint32_t base, uint32_t limit, uint32_t ap, int xn, uint32_t attr)
{
    REG(0xE000ED98u) = n;                                          /* RNR */
    REG(0xE000ED9Cu) = (base & ~31u) | (ap << 1) | (xn ? 1u : 0u); /* RBAR */
    REG(0xE000EDA0u) = (limit & ~31u) | (attr << 1) | 1u;          /* RLAR */
}

static void mpu_configure(void)
{
    REG(0xE000EDC0u) = 0x000000FFu; /* MAIR0: attr 0 normal WB, attr 1 device */
    mpu_region(0, MPS2_NS_CODE_BASE, MPS2_NS_CODE_BASE + MPS2_NS_CODE_SIZE - 1, 3 /* RO any */, 0, 0);
    mpu_region(1, MPS2_NS_KRAM_BASE, MPS2_NS_KRAM_BASE + MPS2_NS_KRAM_SIZE - 1, 0 /* RW priv */, 1, 0);
    mpu_region(2, MPS2_NS_URAM_BASE, MPS2_NS_URAM_BASE + MPS2_NS_URAM_SIZE - 1, 1 /* RW any */, 1, 0);
    mpu_region(3, MPS2_UART1_NS, MPS2_UART1_NS + 0xFFF, 0, 1, 1);
    mpu_region(4, MPS2_NSC_BASE, MPS2_NSC_BASE + MPS2_NSC_SIZE - 1, 3, 0, 0);
    REG(0xE000ED94u) = 0x5u; /* MPU_CTRL: ENABLE | PRIVDEFENA */
    REG(0xE000ED24u) |= (1u << 16) | (1u << 17) | (1u << 18); /* SHCSR_NS: MemManage, Bus, Usage */
    __asm__ volatile("dsb\n isb" ::: "memory");
}

static const char *scenario_of(const char *line)
{
    const char *p = strchr(line, ' '); /* skip the image name */
    if (p == NULL) {
        return "run";
    }
    while (*p == ' ') {
        p++;
    }
    return *p != '\0' ? p : "run";
}

static int is(const char *scenario, const char *name)
{
    size_t n = strlen(name);
    return strncmp(scenario, name, n) == 0 && (scenario[n] == ' ' || scenario[n] == '\0');
}

__attribute__((noreturn)) static void not_faulted(const char *what, uint32_t value)
{
    con_puts("NS: ATTACK NOT STOPPED: ");
    con_puts(what);
    con_puts(" value ");
    con_x32(value);
    con_puts("\n");
    sh_exit(1);
}

static void kernel_attacks(const char *s)
{
    if (is(s, "attack-sram")) {
        con_puts("NS: attack: read Secure RAM at 0x38000000\n");
        uint32_t v = *(volatile uint32_t *)MPS2_S_RAM_BASE;
        not_faulted("read of Secure RAM", v);
    }
    if (is(s, "attack-otp")) {
        con_puts("NS: attack: write the Secure OTP region at 0x38010010\n");
        *(volatile uint32_t *)(MPS2_S_OTP_BASE + 0x10) = 0xFFFFFFFFu;
        not_faulted("write to Secure OTP", 0);
    }
    if (is(s, "attack-nonveneer")) {
        /* Secure code that is not an SG veneer (Thumb bit set). */
        uint32_t target = MPS2_S_CODE_BASE + 0x100u;
        con_puts("NS: attack: call Secure code that is not a veneer at ");
        con_x32(target);
        con_puts("\n");
        void (*fn)(void) = (void (*)(void))(uintptr_t)(target | 1u);
        fn();
        not_faulted("call into Secure code", 0);
    }
}

__attribute__((noreturn)) void ns_reset(void)
{
    uint32_t *src = __data_load;
    for (uint32_t *dst = __data_start; dst < __data_end; dst++) {
        *dst = *src++;
    }
    for (uint32_t *dst = __bss_start; dst < __bss_end; dst++) {
        *dst = 0;
    }
    con_init(MPS2_UART1_NS);
    con_puts("NS: kernel up\n");
    mpu_configure();
    sh_cmdline(cmdline, sizeof cmdline);
    const char *s = scenario_of(cmdline);
    kernel_attacks(s);
    strncpy(task_arg, s, sizeof task_arg - 1);
    /* Start the task: unprivileged thread mode on the process stack. */
    __asm__ volatile("msr psp, %0\n"
                     "msr control, %1\n"
                     "isb\n" ::"r"(__task_stack_top), "r"(3u)
                     : "memory");
    ns_task_main(task_arg);
}

/* SVC: r0 from the task's stacked frame; the SVC number from the opcode. */
__attribute__((naked)) void ns_svc(void)
{
    __asm__ volatile("tst lr, #4\n"
                     "ite eq\n"
                     "mrseq r0, msp\n"
                     "mrsne r0, psp\n"
                     "b ns_svc_dispatch\n");
}

__attribute__((used)) void ns_svc_dispatch(uint32_t *frame)
{
    uint8_t number = ((const uint8_t *)(uintptr_t)frame[6])[-2];
    switch (number) {
    case NS_SVC_PUTS: {
        /* Print only what the task itself may read: check with TT. */
        const char *s = (const char *)(uintptr_t)frame[0];
        uint32_t tt;
        __asm__ volatile("ttt %0, %1" : "=r"(tt) : "r"(s));
        if ((tt & (1u << 16)) == 0 || (tt & (1u << 18)) == 0) { /* MRVALID, R (unprivileged) */
            con_puts("NS: svc puts refused\n");
            return;
        }
        con_puts(s);
        return;
    }
    case NS_SVC_EXIT:
        sh_exit((int)frame[0]);
    default:
        con_puts("NS: unknown svc\n");
        sh_exit(34);
    }
}

__attribute__((noreturn)) static void ns_fault(const char *name, int code)
{
    con_puts("NS FAULT: ");
    con_puts(name);
    con_puts(" CFSR=");
    con_x32(REG(0xE000ED28u));
    con_puts(" MMFAR=");
    con_x32(REG(0xE000ED34u));
    con_puts("\n");
    sh_exit(code);
}

void ns_memmanage(void)
{
    ns_fault("MemManage", 30);
}

void ns_hardfault(void)
{
    ns_fault("HardFault", 31);
}

void ns_busfault(void)
{
    ns_fault("BusFault", 32);
}

void ns_usagefault(void)
{
    ns_fault("UsageFault", 33);
}

void ns_default(void)
{
    ns_fault("unexpected exception", 35);
}
