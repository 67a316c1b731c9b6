/*
 * tz.c - what is Non-secure on this board, and nothing more:
 *
 *   SAU region 0  NSC   the veneers (.gnu.sgstubs, from the linker symbols)
 *   SAU region 1  NS    NS code      0x00200000..0x002FFFFF
 *   SAU region 2  NS    NS RAM       0x28200000..0x2820FFFF
 *   SAU region 3  NS    UART1        0x40201000..0x40201FFF
 *   MPC SSRAM0    blocks of 0x00200000..0x002FFFFF Non-secure
 *   MPC SSRAM2    blocks of 0x28200000..0x2820FFFF Non-secure
 *   MPC SSRAM1    untouched: all Secure (Secure RAM, the OTP shadow)
 *   PPC           UART1 Non-secure (APBNSPPCEXP1 bit 6)
 *   NSCCFG        CODENSC: the code memory may hold NSC regions
 *
 * Everything outside the SAU regions is Secure (SAU enabled, ALLNS = 0).
 * Order matters: the SAU and MPC are set before the payload is copied to
 * NS code memory and before anything NS runs.
 */
#include "tz.h"

#include <arm_cmse.h>

#include <nacre/mps2_an505_map.h>

#define REG(a) (*(volatile uint32_t *)(a))

#define SAU_CTRL 0xE000EDD0u
#define SAU_RNR 0xE000EDD8u
#define SAU_RBAR 0xE000EDDCu
#define SAU_RLAR 0xE000EDE0u
#define SCB_NS_VTOR 0xE002ED08u

extern char __nsc_start[], __nsc_end[];
extern char __stack_top[];

static void sau_region(uint32_t n, uint32_t base, uint32_t limit, int nsc)
{
    REG(SAU_RNR) = n;
    REG(SAU_RBAR) = base & ~31u;
    REG(SAU_RLAR) = (limit & ~31u) | (nsc ? 2u : 0u) | 1u;
}

/* Mark [offset, offset + size) of one memory Non-secure in its MPC. */
static void mpc_set_ns(uint32_t mpc, uint32_t offset, uint32_t size)
{
    uint32_t block = 1u << (REG(mpc + MPS2_MPC_BLK_CFG) + 5u);
    uint32_t first = offset / block;
    uint32_t last = (offset + size - 1u) / block;
    for (uint32_t b = first; b <= last; b++) {
        REG(mpc + MPS2_MPC_BLK_IDX) = b / 32u;
        uint32_t lut = REG(mpc + MPS2_MPC_BLK_LUT);
        REG(mpc + MPS2_MPC_BLK_IDX) = b / 32u;
        REG(mpc + MPS2_MPC_BLK_LUT) = lut | (1u << (b % 32u));
    }
}

void tz_configure(void)
{
    sau_region(0, (uint32_t)(uintptr_t)__nsc_start, (uint32_t)(uintptr_t)__nsc_end - 1u, 1);
    sau_region(1, MPS2_NS_CODE_BASE, MPS2_NS_CODE_BASE + MPS2_NS_CODE_SIZE - 1u, 0);
    sau_region(2, MPS2_NS_RAM_BASE, MPS2_NS_RAM_BASE + MPS2_NS_RAM_SIZE - 1u, 0);
    sau_region(3, MPS2_UART1_NS, MPS2_UART1_NS + 0xFFFu, 0);
    REG(SAU_CTRL) = 1u; /* ENABLE; ALLNS = 0: the rest is Secure */
    REG(MPS2_SPCB_NSCCFG) |= 1u;
    mpc_set_ns(MPS2_MPC_SSRAM0, MPS2_NS_CODE_BASE - 0x00000000u, MPS2_NS_CODE_SIZE);
    mpc_set_ns(MPS2_MPC_SSRAM2, MPS2_NS_RAM_BASE - 0x28200000u, MPS2_NS_RAM_SIZE);
    REG(MPS2_SPCB_APBNSPPCEXP1) |= 1u << 6;
    __asm__ volatile("dsb\n isb" ::: "memory");
}

typedef void __attribute__((cmse_nonsecure_call)) ns_entry(void);

void tz_start_ns(uint32_t vtor)
{
    const volatile uint32_t *vt = (const volatile uint32_t *)(uintptr_t)vtor;
    REG(SCB_NS_VTOR) = vtor;
    __asm__ volatile("msr msp_ns, %0" ::"r"(vt[0]));
    ns_entry *reset = (ns_entry *)cmse_nsfptr_create((uintptr_t)vt[1]);
    /* The boot stage never resumes: give the veneers the whole Secure stack
     * (its frames below us are dead), so that a secmon call's depth is
     * counted from the top, not from where the boot stage left off. */
    __asm__ volatile("msr msp, %0\n dsb\n isb" ::"r"(__stack_top) : "memory");
    reset();
    for (;;) {
    }
}
