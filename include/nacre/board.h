/*
 * nacre/board.h - the board contract.
 *
 * Every board (host, qemu-mps2-an505, ...) implements each function declared
 * here (except nacre_board_strerror, which is common), in its own source files under boards/<name>/, selected at configure
 * time with -Dboard=<name>. There are deliberately no weak defaults: a board
 * that forgets a function fails to link, rather than silently running without
 * a security hook.
 *
 * The contract is the hardware a root of trust needs and nothing more:
 *   - OTP (one-time programmable fuses): bits go from 0 to 1 and never back;
 *     a range can be read-locked until the next reset (for the UDS).
 *   - Flash, split into named areas, with a real geometry: reads anywhere,
 *     writes only to erased bytes and only at the write granularity, erases
 *     only whole sectors. Erased bytes read as NACRE_BOARD_FLASH_ERASED.
 *   - Entropy.
 *
 * Monotonic counters live in the NACRE_FLASH_AREA_COUNTERS area, which the
 * board must place in storage that only the secure world can reach.
 *
 * Power loss: any OTP program, flash write or flash erase may be interrupted.
 * An interrupted operation may have been applied partially (a "torn" write);
 * it returns NACRE_BOARD_ERR_POWER_LOST and so does every later call until the
 * board is reset. Code above this contract must stay correct whatever prefix
 * of its writes reached storage.
 *
 * THREAD SAFETY: a board instance is used by one thread at a time.
 */
#ifndef NACRE_BOARD_H
#define NACRE_BOARD_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/** Opaque board instance; each board defines it. */
struct nacre_board;

/** Status codes of the board contract. Values are pinned: never reuse one. */
typedef enum nacre_board_status {
    NACRE_BOARD_OK = 0,
    NACRE_BOARD_ERR_ARGUMENT = 1,   /**< NULL pointer or unknown area */
    NACRE_BOARD_ERR_RANGE = 2,      /**< offset/length outside the OTP or area */
    NACRE_BOARD_ERR_ALIGNMENT = 3,  /**< write not on write_size / erase not on sector */
    NACRE_BOARD_ERR_NOT_ERASED = 4, /**< flash write over bytes that are not erased */
    NACRE_BOARD_ERR_LOCKED = 5,     /**< OTP range read-locked until reset */
    NACRE_BOARD_ERR_POWER_LOST = 6, /**< power was cut: nothing works until reset */
    NACRE_BOARD_ERR_IO = 7,         /**< the backing store failed */
    NACRE_BOARD_ERR_ENTROPY = 8,    /**< no entropy available */
    NACRE_BOARD_ERR_CORRUPT = 9,    /**< backing store malformed (bad header, size) */
} nacre_board_status;

/** Value of an erased flash byte. */
#define NACRE_BOARD_FLASH_ERASED 0xFFu

/** Minimum OTP size, in bytes, that every board provides. */
#define NACRE_BOARD_OTP_BYTES 256u

/** Flash areas. Values are pinned (they appear in on-disk headers). */
enum nacre_flash_area_id {
    NACRE_FLASH_AREA_COUNTERS = 0,   /**< libpluton monotonic counters (2+ sectors) */
    NACRE_FLASH_AREA_BOOT_STATE = 1, /**< libupdate slot state / trailer */
    NACRE_FLASH_AREA_SLOT_A = 2,     /**< image slot A */
    NACRE_FLASH_AREA_SLOT_B = 3,     /**< image slot B */
    NACRE_FLASH_AREA_EVENT_LOG = 4,  /**< libsecmon security-event ring */
    NACRE_FLASH_AREA_STORAGE = 5,    /**< per-app mutable storage */
    NACRE_FLASH_AREA_COUNT = 6
};

/** Geometry of one flash area. All values in bytes. */
struct nacre_flash_area {
    uint32_t size;        /**< area size, a multiple of sector_size */
    uint32_t sector_size; /**< erase unit */
    uint32_t write_size;  /**< program unit: writes start and end on it */
};

/**
 * \brief Read OTP bytes.
 * \retval NACRE_BOARD_ERR_LOCKED if any byte of the range is read-locked.
 */
nacre_board_status nacre_board_otp_read(struct nacre_board *board, uint32_t offset,
                                        void *buf, size_t len);

/**
 * \brief Program OTP bits: each bit set in buf is set in OTP (bitwise OR).
 * Bits already set stay set; nothing can be cleared. Allowed only on
 * ranges that are not read-locked.
 */
nacre_board_status nacre_board_otp_program(struct nacre_board *board, uint32_t offset,
                                           const void *buf, size_t len);

/**
 * \brief Read-lock an OTP range until the next reset (sticky).
 * Used for the UDS once the boot stage has derived from it. Boards must
 * support at least one locked range.
 */
nacre_board_status nacre_board_otp_lock_read(struct nacre_board *board, uint32_t offset,
                                             size_t len);

/** \brief Describe a flash area. */
nacre_board_status nacre_board_flash_area(struct nacre_board *board, unsigned area_id,
                                          struct nacre_flash_area *out);

/** \brief Read from a flash area at an area-relative offset. */
nacre_board_status nacre_board_flash_read(struct nacre_board *board, unsigned area_id,
                                          uint32_t offset, void *buf, size_t len);

/**
 * \brief Program a flash area. offset and len are multiples of write_size and
 * every target byte must be erased (NACRE_BOARD_ERR_NOT_ERASED otherwise).
 */
nacre_board_status nacre_board_flash_write(struct nacre_board *board, unsigned area_id,
                                           uint32_t offset, const void *buf, size_t len);

/** \brief Erase whole sectors: offset and len are multiples of sector_size. */
nacre_board_status nacre_board_flash_erase(struct nacre_board *board, unsigned area_id,
                                           uint32_t offset, size_t len);

/** \brief Fill buf with entropy suitable for keys and nonces. */
nacre_board_status nacre_board_entropy(struct nacre_board *board, void *buf, size_t len);

/**
 * \brief Short name of a board status, e.g. "power lost". Never NULL.
 * Shared by every board: provided by libnacre-pluton, not by the board.
 */
const char *nacre_board_strerror(nacre_board_status status);

#ifdef __cplusplus
}
#endif

#endif /* NACRE_BOARD_H */
