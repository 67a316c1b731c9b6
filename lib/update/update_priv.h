/*
 * update_priv.h - libupdate internals shared by state.c, boot.c and install.c.
 */
#ifndef NACRE_UPDATE_PRIV_H
#define NACRE_UPDATE_PRIV_H

#include <stddef.h>
#include <stdint.h>

#include <sodium.h>

#include <nacre/board.h>
#include <nacre/image.h>
#include <nacre/pluton.h>
#include <nacre/update.h>

/* ---- slot state journal (state.c) --------------------------------------------
 * The decoded content of the latest valid record in NACRE_FLASH_AREA_BOOT_STATE.
 */
struct journal_record {
    uint32_t seq;
    uint8_t confirmed;       /* nacre_update_slot */
    uint8_t pending;
    uint8_t trial_boots;
    uint8_t last_boot;
    uint8_t last_boot_trial; /* 0 / 1 */
    uint8_t installing;
    uint32_t install_progress;
    uint8_t install_id[16];  /* first 16 bytes of the measurement being installed */
};

struct journal {
    uint8_t active;           /* sector holding the latest record */
    uint32_t next_slot;       /* next free record slot in it */
    uint32_t slots_per_sector;
    uint32_t sector_size;
    struct journal_record cur; /* all zero (nothing installed) when the journal is empty */
};

nacre_update_status journal_load(struct nacre_board *board, struct journal *j);
/* Appends next (its seq is set here); on success j->cur = next. */
nacre_update_status journal_commit(struct nacre_board *board, struct journal *j,
                                   struct journal_record next);

/* ---- shared helpers (boot.c) --------------------------------------------------- */

nacre_update_status update_from_board(nacre_board_status status);
nacre_update_status update_from_pluton(nacre_pluton_status status);
unsigned update_slot_area(nacre_update_slot slot);
nacre_update_slot update_other_slot(nacre_update_slot slot);

/* The device's policy: root-key hash from OTP, counters from pluton. */
struct device_policy {
    uint8_t root_key_hash[NACRE_IMAGE_DIGEST_BYTES];
    struct nacre_image_policy policy;
};
nacre_update_status update_device_policy(nacre_pluton *p, const struct nacre_update_config *cfg,
                                         struct device_policy *out);

/*
 * Verify the image in a slot from flash: metadata against the policy, then
 * the payload digest, reading in small chunks. max_image_size is set from
 * the slot size here. buf: NACRE_UPDATE_METADATA_MAX bytes to work in
 * (cfg->verify_buffer), or NULL for a buffer on the stack.
 */
nacre_update_status update_verify_slot(struct nacre_board *board, nacre_update_slot slot,
                                       struct nacre_image_policy policy,
                                       struct nacre_image_info *info, uint8_t *buf);

/* cfg->verify_buffer, or NULL (cfg may be NULL). */
uint8_t *update_verify_buffer(const struct nacre_update_config *cfg);

/* Read a slot's metadata (up to NACRE_UPDATE_METADATA_MAX bytes) into meta. */
nacre_update_status update_read_meta(struct nacre_board *board, nacre_update_slot slot,
                                     uint8_t meta[NACRE_UPDATE_METADATA_MAX], size_t *meta_len);

/* Raise the anti-rollback counters to an image's values (never lowers). */
nacre_update_status update_raise_counters(nacre_pluton *p, const struct nacre_image_info *info);

#endif /* NACRE_UPDATE_PRIV_H */
