/*
 * nacre/update.h - libupdate: the boot stage, A/B updates, anti-rollback.
 *
 * Renewable security: a device in the field can always be fixed and never be
 * downgraded. The image format and its verification are in nacre/image.h;
 * this header holds the status codes of the whole library and the parts that
 * act on a device:
 *
 *   nacre_boot_run()        the boot stage: verify the slots, pick the image
 *                           (trial boot of a pending one; automatic revert
 *                           after N unconfirmed boots), refuse anything below
 *                           the anti-rollback counter, measure the chosen
 *                           image into pluton R0 and complete the DICE boot.
 *   nacre_install_*()       streaming installer into the inactive slot:
 *                           bounded memory, verifies as it streams, resumable
 *                           after a power cut, a bad image leaves the slot empty.
 *   nacre_update_confirm()  the running trial image declares itself good;
 *                           only then are the anti-rollback counters raised.
 *   nacre_update_state_get() what is in the slots, for status displays.
 *
 * Slots live in the board's NACRE_FLASH_AREA_SLOT_A / _SLOT_B; the slot
 * state journal in NACRE_FLASH_AREA_BOOT_STATE. Anti-rollback uses pluton
 * counters NACRE_UPDATE_COUNTER_SECURITY and NACRE_UPDATE_COUNTER_KEY_EPOCH.
 * Every flash write may be cut by a power loss; docs/update.md explains why
 * each step stays safe, and tests/update/ cuts at every write.
 *
 * Return values follow libpluton: success is NACRE_UPDATE_OK, a many-bit
 * value; compare with ==.
 */
#ifndef NACRE_UPDATE_H
#define NACRE_UPDATE_H

#include <stddef.h>
#include <stdint.h>

#include <nacre/board.h>
#include <nacre/image.h>
#include <nacre/pluton.h>
#include <nacre/update_status.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- slots, counters, configuration -------------------------------------- */

typedef enum nacre_update_slot {
    NACRE_UPDATE_SLOT_NONE = 0,
    NACRE_UPDATE_SLOT_A = 1,
    NACRE_UPDATE_SLOT_B = 2,
} nacre_update_slot;

/** "A", "B" or "none". */
const char *nacre_update_slot_name(nacre_update_slot slot);

/** pluton counter holding the minimum image security counter. */
#define NACRE_UPDATE_COUNTER_SECURITY 0u
/** pluton counter holding the minimum signing-key certificate epoch. */
#define NACRE_UPDATE_COUNTER_KEY_EPOCH 1u
/** Trial boots a pending image gets before the automatic revert. */
#define NACRE_UPDATE_DEFAULT_TRIAL_BOOTS 3u

/**
 * The largest image metadata (header and TLVs: the payload offset) this
 * build's installer and boot stage accept, and so the size of their
 * metadata buffers. The format allows NACRE_IMAGE_METADATA_MAX; a board
 * short of RAM may build with a lower value (a multiple of
 * NACRE_IMAGE_PAYLOAD_ALIGN, at least 256; signed images carry about 300 to
 * 600 bytes of metadata), and then refuses larger metadata with
 * NACRE_UPDATE_ERR_TOO_LARGE.
 */
#ifndef NACRE_UPDATE_METADATA_MAX
#define NACRE_UPDATE_METADATA_MAX NACRE_IMAGE_METADATA_MAX
#endif

struct nacre_update_config {
    const char *component;    /**< the component this device runs, or NULL for any */
    unsigned max_trial_boots; /**< 0 = NACRE_UPDATE_DEFAULT_TRIAL_BOOTS */
    /**
     * Optional: NACRE_UPDATE_METADATA_MAX bytes in which nacre_boot_run,
     * nacre_boot_attach and nacre_update_confirm verify a slot (its
     * metadata, then its payload in pieces) while they run,
     * instead of a buffer of that size on the stack. Firmware with a small
     * stack lends memory that is idle during the call; verification is the
     * same either way. NULL: the stack. The installer keeps its own buffer.
     */
    uint8_t *verify_buffer;
};

/* ---- what is on the device ------------------------------------------------ */

/** One slot as the boot stage sees it. */
struct nacre_update_slot_view {
    nacre_update_slot slot;
    nacre_update_status verdict;  /**< NACRE_UPDATE_OK if it verifies now */
    int has_image;                /**< a parseable header is present */
    struct nacre_image_info info; /**< valid when has_image */
};

/** The slot state journal, decoded. */
struct nacre_update_state {
    nacre_update_slot confirmed;     /**< the known-good image */
    nacre_update_slot pending;       /**< installed, not yet confirmed */
    unsigned trial_boots;            /**< trial boots the pending image has had */
    nacre_update_slot last_boot;     /**< what the last boot ran */
    int last_boot_trial;             /**< ... and whether as a trial */
    nacre_update_slot installing;    /**< an install in progress, resumable */
    uint32_t install_progress;       /**< bytes of it safely in flash */
    uint32_t security_counter;       /**< pluton NACRE_UPDATE_COUNTER_SECURITY */
    uint32_t key_epoch;              /**< pluton NACRE_UPDATE_COUNTER_KEY_EPOCH */
    struct nacre_update_slot_view slots[2]; /**< [0] = A, [1] = B */
};

/**
 * \brief Read the state journal and check both slots (read-only; no boot).
 * Works before or after boot_complete.
 */
NACRE_UPDATE_WUR nacre_update_status nacre_update_state_get(nacre_pluton *p, struct nacre_board *board,
                                                            const struct nacre_update_config *cfg,
                                                            struct nacre_update_state *out);

/* ---- the boot stage ------------------------------------------------------------ */

/** Why the boot stage chose what it chose. */
typedef enum nacre_boot_reason {
    NACRE_BOOT_CONFIRMED = 1,        /**< the confirmed image; nothing pending */
    NACRE_BOOT_TRIAL = 2,            /**< a pending image, trial n of N */
    NACRE_BOOT_REVERTED = 3,         /**< pending image unconfirmed after N trials: reverted */
    NACRE_BOOT_PENDING_REJECTED = 4, /**< pending image failed verification: confirmed booted */
    NACRE_BOOT_FALLBACK = 5,         /**< confirmed image invalid: the other valid slot booted */
} nacre_boot_reason;

/** A sentence for a reason, e.g. "trial boot of a pending update". */
const char *nacre_boot_reason_name(nacre_boot_reason reason);

struct nacre_boot_result {
    nacre_update_slot slot;          /**< the slot booted */
    nacre_boot_reason reason;
    unsigned trial;                  /**< for NACRE_BOOT_TRIAL: 1..max */
    unsigned max_trials;
    struct nacre_image_info image;   /**< the image booted */
    nacre_update_slot rejected;      /**< a slot passed over, or NONE */
    nacre_update_status rejected_why; /**< why it was passed over */
};

/**
 * \brief The boot stage, run once per reset on a freshly initialised pluton.
 *
 * Verifies the slots against the root-key hash in OTP and the pluton
 * anti-rollback counters, picks the image, records the decision in the
 * state journal before acting on it, raises the counters to the confirmed
 * image's values if a previous confirm was cut short, extends R0 with the
 * image measurement and calls nacre_pluton_boot_complete().
 *
 * \retval NACRE_UPDATE_ERR_NO_IMAGE  nothing bootable (out->rejected says why)
 */
NACRE_UPDATE_WUR nacre_update_status nacre_boot_run(nacre_pluton *p, struct nacre_board *board,
                                                    const struct nacre_update_config *cfg,
                                                    struct nacre_boot_result *out);

/**
 * \brief Re-enter the running system after a reset of the host process:
 * measure the image the last boot chose (verifying it again) and complete the
 * DICE boot, WITHOUT changing any state. Host-board tools use it so that a
 * command acts on the device as its last boot left it.
 */
NACRE_UPDATE_WUR nacre_update_status nacre_boot_attach(nacre_pluton *p, struct nacre_board *board,
                                                       const struct nacre_update_config *cfg,
                                                       struct nacre_boot_result *out);

/**
 * \brief The running trial image is good: make it the confirmed image, then
 * raise the anti-rollback counters to its security counter and key epoch.
 * \retval NACRE_UPDATE_ERR_NOT_PENDING  the last boot was not a trial
 */
NACRE_UPDATE_WUR nacre_update_status nacre_update_confirm(nacre_pluton *p, struct nacre_board *board,
                                                          const struct nacre_update_config *cfg,
                                                          struct nacre_image_info *confirmed);

/* ---- streaming installer ------------------------------------------------------ */

/** Size of the installer state (5120 by default); firmware may allocate it statically. */
#define NACRE_INSTALL_STATE_BYTES (1024u + NACRE_UPDATE_METADATA_MAX)

typedef struct nacre_installer {
    _Alignas(64) unsigned char opaque[NACRE_INSTALL_STATE_BYTES]; /* 64: BLAKE2b state inside */
} nacre_installer;

/**
 * \brief Start (or resume) installing into the inactive slot.
 *
 * If an install into that slot was cut short by a power loss, it resumes:
 * *resume_offset receives how many bytes of the image are already safely in
 * flash, and the caller continues sending from that byte. Otherwise 0.
 * A pending (unconfirmed) image in the inactive slot is cancelled.
 */
NACRE_UPDATE_WUR nacre_update_status nacre_install_begin(nacre_installer *in, nacre_pluton *p,
                                                         struct nacre_board *board,
                                                         const struct nacre_update_config *cfg,
                                                         uint32_t *resume_offset);

/**
 * \brief Feed the next chunk (any size). The metadata is verified as soon
 * as it is complete (signature, key, anti-rollback, component, size), and
 * the payload is hashed as it streams. On any refusal the slot is marked
 * empty, the installer is finished, and the same status is returned.
 */
NACRE_UPDATE_WUR nacre_update_status nacre_install_write(nacre_installer *in, const void *chunk,
                                                         size_t len);

/**
 * \brief All bytes sent: check the payload digest and make the image
 * pending (it gets a trial boot at the next reset). *info may be NULL.
 */
NACRE_UPDATE_WUR nacre_update_status nacre_install_finish(nacre_installer *in,
                                                          struct nacre_image_info *info);

/** \brief Give up: mark the slot empty. Safe to call at any point. */
void nacre_install_abort(nacre_installer *in);

#ifdef __cplusplus
}
#endif

#endif /* NACRE_UPDATE_H */
