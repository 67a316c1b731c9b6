/*
 * nacre/mps2_an505_map.h - the memory map of the qemu-mps2-an505 board, as
 * Nacre uses it. The linker scripts (secure.ld, ns.ld) and the TrustZone
 * set-up in secure_main.c follow these numbers; docs/board-qemu-mps2-an505.md
 * has the same table in prose.
 *
 * AN505: Cortex-M33, TrustZone-M. The IDAU marks an address Secure when bit
 * 28 is set, so each memory has a Non-secure alias (bit 28 clear) and a
 * Secure alias (bit 28 set) of the same bytes; the Memory Protection
 * Controllers (MPC, one per memory, 1 KiB blocks) decide per block which
 * alias works, and the SAU (8 regions) says what is NS or NSC. Everything
 * not in a SAU region is Secure.
 *
 *   what                      address      size     world
 *   Secure code (boot stage,  0x10000000   1 MiB    S    SSRAM0, S alias
 *     pluton, secmon, crypto)
 *   NSC veneers (.gnu.sgstubs)0x10100000   4 KiB    NSC  SAU region 0
 *   Secure RAM                0x38000000   64 KiB   S    SSRAM1 (MPC all S)
 *   Secure OTP shadow         0x38010000   1 KiB    S    OTP fuses, see below
 *   NS code (image payload)   0x00200000   1 MiB    NS   SSRAM0 blocks 2048..3071
 *   NS RAM, kernel part       0x28200000   32 KiB   NS   SSRAM2, privileged only (NS MPU)
 *   NS RAM, task part         0x28208000   32 KiB   NS   SSRAM2, unprivileged (NS MPU)
 *   UART0 (Secure console)    0x50200000            S
 *   UART1 (NS app's UART)     0x40201000            NS   PPC APBNSPPCEXP1 bit 6
 *
 * OTP: the board has no fuse macro in QEMU, so the Secure image keeps the
 * fuses in the Secure-only OTP shadow (loaded from the host file otp.bin at
 * reset and written through on every program). Its Secure-only placement
 * is what an attacker in the Non-secure world runs into.
 */
#ifndef NACRE_MPS2_AN505_MAP_H
#define NACRE_MPS2_AN505_MAP_H

#define MPS2_S_CODE_BASE 0x10000000u
#define MPS2_S_CODE_SIZE 0x00100000u
#define MPS2_NSC_BASE 0x10100000u
#define MPS2_NSC_SIZE 0x00001000u
#define MPS2_S_RAM_BASE 0x38000000u
#define MPS2_S_RAM_SIZE 0x00010000u
#define MPS2_S_OTP_BASE 0x38010000u
#define MPS2_S_OTP_SIZE 0x00000400u

#define MPS2_NS_CODE_BASE 0x00200000u
#define MPS2_NS_CODE_SIZE 0x00100000u
#define MPS2_NS_RAM_BASE 0x28200000u
#define MPS2_NS_RAM_SIZE 0x00010000u
#define MPS2_NS_KRAM_BASE 0x28200000u /* privileged part (NS kernel) */
#define MPS2_NS_KRAM_SIZE 0x00008000u
#define MPS2_NS_URAM_BASE 0x28208000u /* unprivileged part (the app task) */
#define MPS2_NS_URAM_SIZE 0x00008000u

#define MPS2_UART0_S 0x50200000u
#define MPS2_UART1_NS 0x40201000u

/* Memory Protection Controllers (Secure), register offsets. */
#define MPS2_MPC_SSRAM0 0x58007000u
#define MPS2_MPC_SSRAM1 0x58008000u
#define MPS2_MPC_SSRAM2 0x58009000u
#define MPS2_MPC_CTRL 0x00u
#define MPS2_MPC_BLK_MAX 0x10u
#define MPS2_MPC_BLK_CFG 0x14u
#define MPS2_MPC_BLK_IDX 0x18u
#define MPS2_MPC_BLK_LUT 0x1Cu
/* Security Privilege Control block (Secure). */
#define MPS2_SPCB_NSCCFG 0x50080014u       /* bit 0: CODENSC */
#define MPS2_SPCB_APBNSPPCEXP1 0x50080084u /* bit 6: UART1 */

/* OTP shadow layout (bytes). 0..255 are the board contract's OTP
 * (NACRE_BOARD_OTP_BYTES, libpluton's fuse map); 256..287 the board's
 * entropy seed fuse (never exposed through the contract). */
#define MPS2_OTP_CONTRACT_BYTES 256u
#define MPS2_OTP_ENTROPY_SEED 256u
#define MPS2_OTP_TOTAL_BYTES 512u

#endif /* NACRE_MPS2_AN505_MAP_H */
