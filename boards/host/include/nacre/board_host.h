/*
 * nacre/board_host.h - the host board: a device is a directory.
 *
 *   DIR/otp.bin    emulated OTP fuses (header + NACRE_BOARD_OTP_BYTES)
 *   DIR/flash.bin  emulated NOR flash (header with geometry + area table, then data)
 *
 * Byte layouts are in docs/boards.md. Both files are checked when the device
 * is opened: a wrong magic, version, size or header checksum is reported as
 * NACRE_BOARD_ERR_CORRUPT with a one-line reason from
 * nacre_host_board_detail(), never as a crash.
 *
 * Power-cut injection (the technique of MCUboot's simulator): every OTP
 * program, flash write and flash erase counts as one persistent write. After
 * nacre_host_board_set_power_cut(b, n), the next n writes succeed and the one
 * after is torn: its first half (rounded down to the write unit, or the first
 * half of the sectors for an erase) reaches the file, the call returns
 * NACRE_BOARD_ERR_POWER_LOST, and so does every later call until the board is
 * closed and opened again (a reset).
 *
 * An open device holds an exclusive lock on DIR/flash.bin; a second open of
 * the same directory, from this process or another, fails with
 * NACRE_BOARD_ERR_IO and the detail "device is in use".
 */
#ifndef NACRE_BOARD_HOST_H
#define NACRE_BOARD_HOST_H

#include <stdint.h>

#include <nacre/board.h>

#ifdef __cplusplus
extern "C" {
#endif

/** Flash geometry of a new host device. */
struct nacre_host_geometry {
    uint32_t sector_size;                      /**< bytes, power of two, >= 256 */
    uint32_t write_size;                       /**< bytes, power of two, <= sector_size */
    uint32_t area_sectors[NACRE_FLASH_AREA_COUNT]; /**< sectors per area (counters >= 2) */
};

/** Fill g with the default geometry (4 KiB sectors, 8-byte writes, 1 MiB slots). */
void nacre_host_geometry_default(struct nacre_host_geometry *g);

/**
 * \brief Create a blank device in dir (created if missing; must not already
 * hold a device): OTP all zero, flash all erased.
 * \param g geometry, or NULL for the default.
 * \param detail if not NULL, receives a pointer to a static one-line reason on error.
 */
nacre_board_status nacre_host_device_create(const char *dir, const struct nacre_host_geometry *g,
                                            const char **detail);

/**
 * \brief Open (power on) the device in dir.
 * \param detail if not NULL, receives a pointer to a static one-line reason on error.
 */
nacre_board_status nacre_host_board_open(const char *dir, struct nacre_board **out,
                                         const char **detail);

/** \brief Close (power off) the device. NULL is allowed. */
void nacre_host_board_close(struct nacre_board *b);

/** \brief Arm a power cut after n more persistent writes; n < 0 disarms. */
void nacre_host_board_set_power_cut(struct nacre_board *b, long n);

/** \brief Number of persistent writes (OTP programs, flash writes, erases) since open. */
uint64_t nacre_host_board_write_count(const struct nacre_board *b);

/** \brief 1 if an injected power cut has happened since open. */
int nacre_host_board_power_lost(const struct nacre_board *b);

/**
 * \brief Replace the entropy source by a deterministic stream from seed
 * (BLAKE2b in counter mode). FOR TESTS ONLY: a device provisioned this way has
 * a predictable UDS.
 */
void nacre_host_board_set_entropy_seed(struct nacre_board *b, const uint8_t seed[32]);

/** \brief One-line reason for the board's last error ("" if none). Never NULL. */
const char *nacre_host_board_detail(const struct nacre_board *b);

#ifdef __cplusplus
}
#endif

#endif /* NACRE_BOARD_HOST_H */
