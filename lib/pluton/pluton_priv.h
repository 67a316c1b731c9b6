/*
 * pluton_priv.h - libpluton internals shared by its source files.
 *
 * Everything here stays inside struct nacre_pluton's opaque bytes: libpluton
 * never allocates, so firmware can hold the instance in static memory.
 */
#ifndef NACRE_PLUTON_PRIV_H
#define NACRE_PLUTON_PRIV_H

#include <stddef.h>
#include <stdint.h>

#include <sodium.h>

#include <nacre/board.h>
#include <nacre/pluton.h>

#include "nacre_le.h"

/* Marks an initialised instance (a zeroed or wiped one is not). */
#define PLUTON_MAGIC 0x4E504C54u

#define PLUTON_ED25519_SECRET_BYTES 64u
#define PLUTON_KEY_BYTES 32u

/* ---- OTP layout (fuse map), shared with docs/pluton.md -------------------- */
#define OTP_LC_PROVISIONED 0x00u /* 1 byte: 0x00 blank, 0xA5 burned */
#define OTP_LC_SECURED 0x01u     /* 1 byte: 0x00 open, 0xA5 burned */
#define OTP_LC_BURNED 0xA5u
#define OTP_UDS 0x10u            /* 32 bytes */
#define OTP_UDS_CHECK 0x30u      /* 16 bytes: BLAKE2b-128 check of the UDS */
#define OTP_ROOT_HASH 0x40u      /* 32 bytes: BLAKE2b-256 of the root public key */
#define OTP_ROOT_HASH_CHECK 0x60u /* 16 bytes */
#define OTP_CHECK_BYTES 16u
#define OTP_USED_BYTES 0x70u
/* The range read-locked after boot: the UDS and its check value. */
#define OTP_SECRET_START OTP_UDS
#define OTP_SECRET_LEN (OTP_ROOT_HASH - OTP_UDS)

/* State of an OTP field that has a value and a check value. */
enum otp_field_state {
    OTP_FIELD_UNSET,       /* value and check all zero */
    OTP_FIELD_SET,         /* check matches */
    OTP_FIELD_INTERRUPTED, /* partly programmed or damaged */
};

struct pluton_key_slot {
    nacre_pluton_key handle; /* 0 when free */
    uint8_t sk[PLUTON_ED25519_SECRET_BYTES];
    uint8_t pk[NACRE_PLUTON_PUBLICKEY_BYTES];
};

/* Cached view of the counter area (counters.c). */
struct pluton_counters {
    uint8_t loaded;
    uint8_t active;          /* index of the active sector (0 or 1) */
    uint32_t active_seq;     /* its sequence number */
    uint32_t next_slot;      /* next free record slot in the active sector */
    uint32_t record_size;    /* bytes per record / header slot */
    uint32_t slots_per_sector;
    uint32_t sector_size;
    uint32_t values[NACRE_PLUTON_COUNTER_COUNT];
};

struct pluton_state {
    uint32_t magic;
    struct nacre_board *board;
    nacre_pluton_lifecycle lifecycle;
    uint8_t booted;          /* boot_complete succeeded; UDS is locked */
    uint8_t uds_loaded;      /* uds[] holds the UDS (before boot only) */
    uint8_t uds_programmed;  /* the UDS fuses hold a verified UDS */
    enum otp_field_state root_hash_state;
    uint8_t uds[NACRE_PLUTON_UDS_BYTES];
    uint8_t root_key_hash[NACRE_PLUTON_DIGEST_BYTES];
    uint8_t cdi[PLUTON_KEY_BYTES];
    uint8_t derive_root[PLUTON_KEY_BYTES];
    uint8_t seal_root[PLUTON_KEY_BYTES];
    uint8_t seal_device_tag[16];
    uint8_t counter_key[PLUTON_KEY_BYTES];
    uint8_t boot_seed[NACRE_PLUTON_DIGEST_BYTES]; /* random, per boot */
    uint8_t regs[NACRE_PLUTON_REGISTER_COUNT][NACRE_PLUTON_DIGEST_BYTES];
    struct pluton_key_slot device_id;
    struct pluton_key_slot alias;
    struct pluton_key_slot slots[NACRE_PLUTON_KEY_SLOTS];
    uint16_t key_generation;
    /* Sealing key of the last context used: apps seal under one context over
     * and over, and deriving it each time cost a third of a 1 KiB seal. */
    uint8_t seal_cache_valid;
    uint8_t seal_cache_context_len;
    uint8_t seal_cache_context[NACRE_PLUTON_LABEL_MAX];
    uint8_t seal_cache_key[PLUTON_KEY_BYTES];
    struct pluton_counters counters;
};

_Static_assert(sizeof(struct pluton_state) <= NACRE_PLUTON_STATE_BYTES,
               "NACRE_PLUTON_STATE_BYTES too small for struct pluton_state");
_Static_assert(_Alignof(struct pluton_state) <= 16, "state alignment exceeds nacre_pluton");

static inline struct pluton_state *pluton_state(nacre_pluton *p)
{
    return (struct pluton_state *)(void *)p->opaque;
}

static inline const struct pluton_state *pluton_state_const(const nacre_pluton *p)
{
    return (const struct pluton_state *)(const void *)p->opaque;
}

/* pluton.c */
nacre_pluton_status pluton_from_board(nacre_board_status status);
/* Checks p != NULL and initialised; on success *out is the state. */
nacre_pluton_status pluton_get(nacre_pluton *p, struct pluton_state **out);
nacre_pluton_status pluton_require_provisioned(const struct pluton_state *st);
nacre_pluton_status pluton_require_booted(const struct pluton_state *st);

/*
 * Domain-separated KDF: out = BLAKE2b-256(key = key32,
 *                               msg = "nacre/v1/" || label || 0x00 || info).
 */
void pluton_kdf(uint8_t out[PLUTON_KEY_BYTES], const uint8_t key[PLUTON_KEY_BYTES],
                const char *label, const void *info, size_t info_len);

/* otp.c */
void otp_check_value(uint8_t out[OTP_CHECK_BYTES], const char *field, const uint8_t *value,
                     size_t len);
nacre_pluton_status otp_read_field(struct pluton_state *st, uint32_t value_off, uint32_t check_off,
                                   const char *field, uint8_t *value, size_t len,
                                   enum otp_field_state *state);
nacre_pluton_status otp_program_field(struct pluton_state *st, uint32_t value_off,
                                      uint32_t check_off, const char *field, const uint8_t *value,
                                      size_t len);

/* keys.c */
void keys_derive_dice(struct pluton_state *st);

/* counters.c */
nacre_pluton_status counters_format(struct pluton_state *st);

/* measure.c: policy digest of the registers selected by mask. */
nacre_pluton_status measure_policy(const struct pluton_state *st, uint32_t mask,
                                   uint8_t out[NACRE_PLUTON_DIGEST_BYTES]);

#endif /* NACRE_PLUTON_PRIV_H */
