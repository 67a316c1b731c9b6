/*
 * nacre/board_mps2.h - the qemu-mps2-an505 board (Secure side only).
 *
 * The board's OTP and flash persist across QEMU runs as host files reached
 * through Arm semihosting, in the directory QEMU runs in:
 *
 *   otp.bin    512 bytes: OTP fuses 0..255 (the board contract's OTP), then
 *              the 32-byte entropy-seed fuse at 256, then zeros. Raw bytes,
 *              no header.
 *   flash.bin  the areas of the board contract back to back in id order,
 *              then one board-private sector (the entropy pool), 4 KiB
 *              sectors, 8-byte writes; erased bytes 0xFF. Raw, no header:
 *
 *      id area        sectors  offset in flash.bin
 *       0 COUNTERS        2    0x000000
 *       1 BOOT_STATE      2    0x002000
 *       2 SLOT_A         96    0x004000  (384 KiB)
 *       3 SLOT_B         96    0x064000  (384 KiB)
 *       4 EVENT_LOG       4    0x0C4000
 *       5 STORAGE         8    0x0C8000
 *       - entropy pool    1    0x0D0000  (board-private)
 *      total 209 sectors = 856,064 bytes
 *
 * Both files are created (blank) on the first boot if missing; a file of
 * another size makes open fail with NACRE_BOARD_ERR_CORRUPT. Every flash
 * write goes straight to the file (no cache), and every OTP program is
 * written through, so terminating QEMU at any moment leaves the device as
 * its completed writes left it.
 *
 * Entropy: the AN505 has no TRNG. nacre_board_entropy() and libsodium's
 * randombytes return a BLAKE2b-512 stream keyed by the entropy-seed fuse
 * (a device secret programmed at the factory) over a boot seed that is
 * ratcheted in the entropy-pool sector at every reset, mixed with the
 * free-running timer. Predictable to whoever knows the fuse: a documented
 * substitute for a TRNG, not one.
 */
#ifndef NACRE_BOARD_MPS2_H
#define NACRE_BOARD_MPS2_H

#include <stddef.h>
#include <stdint.h>

#include <nacre/board.h>

#ifdef __cplusplus
extern "C" {
#endif

#define MPS2_FLASH_SECTOR 4096u
#define MPS2_FLASH_WRITE 8u
#define MPS2_FLASH_SECTORS 209u
#define MPS2_FLASH_POOL_OFFSET (208u * MPS2_FLASH_SECTOR)

/**
 * \brief Open the device in QEMU's working directory (create blank files if
 * missing), load the OTP shadow, set up entropy (ratchet the boot seed) and
 * libsodium's randombytes. Call once per reset, before sodium_init().
 * \param power_cut  tear the (power_cut+1)-th persistent write and stop QEMU
 *                   (exit status 40); -1 for none.
 */
nacre_board_status nacre_mps2_board_open(struct nacre_board **out, long power_cut);

/** \brief Program the entropy-seed fuse (factory; once). */
nacre_board_status nacre_mps2_board_set_entropy_seed(struct nacre_board *board,
                                                     const uint8_t seed[32]);

/** \brief 1 once the entropy-seed fuse is programmed (entropy available). */
int nacre_mps2_board_entropy_ready(const struct nacre_board *board);

/** \brief Persistent writes since open. */
unsigned long nacre_mps2_board_write_count(const struct nacre_board *board);

#ifdef __cplusplus
}
#endif

#endif /* NACRE_BOARD_MPS2_H */
