/*
 * pluton.c - instance life: reset, lifecycle, provisioning, DICE boot.
 */
#include <string.h>

#include "pluton_priv.h"

#ifndef NACRE_VERSION
#define NACRE_VERSION "unknown"
#endif

static const char kdf_prefix[] = "nacre/v1/";

void pluton_kdf(uint8_t out[PLUTON_KEY_BYTES], const uint8_t key[PLUTON_KEY_BYTES],
                const char *label, const void *info, size_t info_len)
{
    crypto_generichash_blake2b_state h;
    static const uint8_t zero = 0;

    crypto_generichash_blake2b_init(&h, key, PLUTON_KEY_BYTES, PLUTON_KEY_BYTES);
    crypto_generichash_blake2b_update(&h, (const uint8_t *)kdf_prefix, sizeof kdf_prefix - 1);
    crypto_generichash_blake2b_update(&h, (const uint8_t *)label, strlen(label));
    crypto_generichash_blake2b_update(&h, &zero, 1);
    if (info_len > 0) {
        crypto_generichash_blake2b_update(&h, info, info_len);
    }
    crypto_generichash_blake2b_final(&h, out, PLUTON_KEY_BYTES);
    sodium_memzero(&h, sizeof h);
}

nacre_pluton_status pluton_from_board(nacre_board_status status)
{
    switch (status) {
    case NACRE_BOARD_OK:
        return NACRE_PLUTON_OK;
    case NACRE_BOARD_ERR_POWER_LOST:
        return NACRE_PLUTON_ERR_POWER_LOST;
    case NACRE_BOARD_ERR_ENTROPY:
        return NACRE_PLUTON_ERR_ENTROPY;
    case NACRE_BOARD_ERR_CORRUPT:
        return NACRE_PLUTON_ERR_STORAGE_CORRUPT;
    case NACRE_BOARD_ERR_LOCKED:
        /* The only read-locked OTP range is the UDS, locked by boot_complete. */
        return NACRE_PLUTON_ERR_ALREADY_BOOTED;
    default:
        return NACRE_PLUTON_ERR_STORAGE;
    }
}

nacre_pluton_status pluton_get(nacre_pluton *p, struct pluton_state **out)
{
    if (p == NULL) {
        return NACRE_PLUTON_ERR_ARGUMENT;
    }
    struct pluton_state *st = pluton_state(p);
    if (st->magic != PLUTON_MAGIC) {
        return NACRE_PLUTON_ERR_NOT_INITIALIZED;
    }
    *out = st;
    return NACRE_PLUTON_OK;
}

nacre_pluton_status pluton_require_provisioned(const struct pluton_state *st)
{
    if (st->lifecycle == NACRE_PLUTON_LIFECYCLE_BLANK) {
        return NACRE_PLUTON_ERR_NOT_PROVISIONED;
    }
    return NACRE_PLUTON_OK;
}

nacre_pluton_status pluton_require_booted(const struct pluton_state *st)
{
    nacre_pluton_status s = pluton_require_provisioned(st);
    if (s != NACRE_PLUTON_OK) {
        return s;
    }
    return st->booted ? NACRE_PLUTON_OK : NACRE_PLUTON_ERR_NOT_BOOTED;
}

/* Reads the two lifecycle bytes. Anything but 0x00 / 0xA5 is damage. */
static nacre_pluton_status read_lifecycle(struct pluton_state *st)
{
    uint8_t lc[2];
    nacre_board_status b = nacre_board_otp_read(st->board, OTP_LC_PROVISIONED, lc, sizeof lc);
    if (b != NACRE_BOARD_OK) {
        return pluton_from_board(b);
    }
    for (size_t i = 0; i < sizeof lc; i++) {
        if (lc[i] != 0 && lc[i] != OTP_LC_BURNED) {
            return NACRE_PLUTON_ERR_OTP_CORRUPT;
        }
    }
    if (lc[0] == 0) {
        /* SECURED without PROVISIONED cannot come from our own writes. */
        if (lc[1] != 0) {
            return NACRE_PLUTON_ERR_OTP_CORRUPT;
        }
        st->lifecycle = NACRE_PLUTON_LIFECYCLE_BLANK;
    } else {
        st->lifecycle = lc[1] ? NACRE_PLUTON_LIFECYCLE_SECURED : NACRE_PLUTON_LIFECYCLE_PROVISIONED;
    }
    return NACRE_PLUTON_OK;
}

nacre_pluton_status nacre_pluton_init(nacre_pluton *p, struct nacre_board *board)
{
    if (p == NULL || board == NULL) {
        return NACRE_PLUTON_ERR_ARGUMENT;
    }
    sodium_memzero(p, sizeof *p);
    if (sodium_init() < 0) {
        return NACRE_PLUTON_ERR_CRYPTO;
    }
    struct pluton_state *st = pluton_state(p);
    st->board = board;

    enum otp_field_state uds_state;
    nacre_pluton_status s = read_lifecycle(st);
    if (s == NACRE_PLUTON_OK) {
        s = otp_read_field(st, OTP_UDS, OTP_UDS_CHECK, "uds", st->uds, sizeof st->uds, &uds_state);
    }
    if (s == NACRE_PLUTON_OK) {
        s = otp_read_field(st, OTP_ROOT_HASH, OTP_ROOT_HASH_CHECK, "root-key-hash",
                           st->root_key_hash, sizeof st->root_key_hash, &st->root_hash_state);
    }
    if (s != NACRE_PLUTON_OK) {
        goto error;
    }

    if (st->lifecycle == NACRE_PLUTON_LIFECYCLE_BLANK) {
        /*
         * Not provisioned yet. A fuse field that is neither blank nor matching
         * its check value was cut short mid-write: fuses cannot be erased and
         * a partial UDS cannot be trusted, so the part is unusable and we say
         * so. Fields that were written completely (provisioning cut before
         * the lifecycle byte) are kept: nacre_pluton_provision resumes.
         */
        if (uds_state == OTP_FIELD_INTERRUPTED || st->root_hash_state == OTP_FIELD_INTERRUPTED) {
            s = NACRE_PLUTON_ERR_OTP_INTERRUPTED;
            goto error;
        }
    } else if (uds_state != OTP_FIELD_SET) {
        s = NACRE_PLUTON_ERR_OTP_CORRUPT;
        goto error;
    }
    /* (A root-key hash cut short after provisioning is reported by
     * nacre_pluton_root_key_hash; the device itself stays usable.) */
    if (uds_state == OTP_FIELD_SET) {
        st->uds_programmed = 1;
        st->uds_loaded = 1;
        /* Counters are needed by the boot stage before the UDS is locked. */
        pluton_kdf(st->counter_key, st->uds, "counter-mac", NULL, 0);
    }
    st->magic = PLUTON_MAGIC;
    return NACRE_PLUTON_OK;

error:
    sodium_memzero(p, sizeof *p);
    return s;
}

void nacre_pluton_deinit(nacre_pluton *p)
{
    if (p != NULL) {
        sodium_memzero(p, sizeof *p);
    }
}

nacre_pluton_status nacre_pluton_provision(nacre_pluton *p, const uint8_t *root_key_hash)
{
    struct pluton_state *st;
    nacre_pluton_status s = pluton_get(p, &st);
    if (s != NACRE_PLUTON_OK) {
        return s;
    }
    if (st->lifecycle != NACRE_PLUTON_LIFECYCLE_BLANK) {
        return NACRE_PLUTON_ERR_ALREADY_PROVISIONED;
    }

    /* A root-key hash already in the fuses (an earlier, interrupted
     * provisioning) is write-once: it must be the same one. */
    if (root_key_hash != NULL && st->root_hash_state == OTP_FIELD_SET &&
        sodium_memcmp(root_key_hash, st->root_key_hash, NACRE_PLUTON_DIGEST_BYTES) != 0) {
        return NACRE_PLUTON_ERR_ALREADY_PROVISIONED;
    }

    uint8_t uds[NACRE_PLUTON_UDS_BYTES];
    if (st->uds_programmed) {
        /* Resume: the UDS was written and verified before the cut. */
        memcpy(uds, st->uds, sizeof uds);
    } else {
        nacre_board_status b = nacre_board_entropy(st->board, uds, sizeof uds);
        if (b != NACRE_BOARD_OK) {
            s = b == NACRE_BOARD_ERR_POWER_LOST ? NACRE_PLUTON_ERR_POWER_LOST : NACRE_PLUTON_ERR_ENTROPY;
            goto out;
        }
        /* An all-zero UDS would read back as "unset": refuse such entropy. */
        if (sodium_is_zero(uds, sizeof uds)) {
            s = NACRE_PLUTON_ERR_ENTROPY;
            goto out;
        }
        /* Order matters for power cuts: secrets, then counters, lifecycle last. */
        s = otp_program_field(st, OTP_UDS, OTP_UDS_CHECK, "uds", uds, sizeof uds);
        if (s != NACRE_PLUTON_OK) {
            goto out;
        }
        st->uds_programmed = 1;
    }
    if (root_key_hash != NULL && st->root_hash_state == OTP_FIELD_UNSET) {
        s = otp_program_field(st, OTP_ROOT_HASH, OTP_ROOT_HASH_CHECK, "root-key-hash",
                              root_key_hash, NACRE_PLUTON_DIGEST_BYTES);
        if (s != NACRE_PLUTON_OK) {
            goto out;
        }
        memcpy(st->root_key_hash, root_key_hash, NACRE_PLUTON_DIGEST_BYTES);
        st->root_hash_state = OTP_FIELD_SET;
    }
    memcpy(st->uds, uds, sizeof uds);
    st->uds_loaded = 1;
    pluton_kdf(st->counter_key, st->uds, "counter-mac", NULL, 0);
    s = counters_format(st);
    if (s == NACRE_PLUTON_OK) {
        static const uint8_t burned = OTP_LC_BURNED;
        s = pluton_from_board(nacre_board_otp_program(st->board, OTP_LC_PROVISIONED, &burned, 1));
    }
    /* On failure the verified UDS stays loaded, exactly as init would load
     * it after a reset; boot_complete is refused until provisioning ends. */
    if (s == NACRE_PLUTON_OK) {
        st->lifecycle = NACRE_PLUTON_LIFECYCLE_PROVISIONED;
    }
out:
    sodium_memzero(uds, sizeof uds);
    return s;
}

nacre_pluton_status nacre_pluton_set_root_key_hash(nacre_pluton *p,
                                                   const uint8_t root_key_hash[NACRE_PLUTON_DIGEST_BYTES])
{
    struct pluton_state *st;
    nacre_pluton_status s = pluton_get(p, &st);
    if (s != NACRE_PLUTON_OK) {
        return s;
    }
    if (root_key_hash == NULL) {
        return NACRE_PLUTON_ERR_ARGUMENT;
    }
    if (st->lifecycle == NACRE_PLUTON_LIFECYCLE_SECURED) {
        return NACRE_PLUTON_ERR_OTP_LOCKED;
    }
    s = pluton_require_provisioned(st);
    if (s != NACRE_PLUTON_OK) {
        return s;
    }
    if (st->root_hash_state == OTP_FIELD_INTERRUPTED) {
        return NACRE_PLUTON_ERR_OTP_INTERRUPTED;
    }
    if (st->root_hash_state == OTP_FIELD_SET) {
        return NACRE_PLUTON_ERR_ALREADY_PROVISIONED;
    }
    s = otp_program_field(st, OTP_ROOT_HASH, OTP_ROOT_HASH_CHECK, "root-key-hash", root_key_hash,
                          NACRE_PLUTON_DIGEST_BYTES);
    if (s == NACRE_PLUTON_OK) {
        memcpy(st->root_key_hash, root_key_hash, NACRE_PLUTON_DIGEST_BYTES);
        st->root_hash_state = OTP_FIELD_SET;
    } else {
        st->root_hash_state = OTP_FIELD_INTERRUPTED;
    }
    return s;
}

nacre_pluton_status nacre_pluton_secure(nacre_pluton *p)
{
    struct pluton_state *st;
    nacre_pluton_status s = pluton_get(p, &st);
    if (s != NACRE_PLUTON_OK) {
        return s;
    }
    if (st->lifecycle == NACRE_PLUTON_LIFECYCLE_SECURED) {
        return NACRE_PLUTON_ERR_OTP_LOCKED;
    }
    s = pluton_require_provisioned(st);
    if (s != NACRE_PLUTON_OK) {
        return s;
    }
    /* A secured device must be able to verify its updates. */
    if (st->root_hash_state != OTP_FIELD_SET) {
        return NACRE_PLUTON_ERR_NOT_SECURABLE;
    }
    static const uint8_t burned = OTP_LC_BURNED;
    s = pluton_from_board(nacre_board_otp_program(st->board, OTP_LC_SECURED, &burned, 1));
    if (s == NACRE_PLUTON_OK) {
        st->lifecycle = NACRE_PLUTON_LIFECYCLE_SECURED;
    }
    return s;
}

nacre_pluton_lifecycle nacre_pluton_lifecycle_get(const nacre_pluton *p)
{
    if (p == NULL || pluton_state_const(p)->magic != PLUTON_MAGIC) {
        return NACRE_PLUTON_LIFECYCLE_BLANK;
    }
    return pluton_state_const(p)->lifecycle;
}

int nacre_pluton_debug_locked(const nacre_pluton *p)
{
    return nacre_pluton_lifecycle_get(p) == NACRE_PLUTON_LIFECYCLE_SECURED;
}

nacre_pluton_status nacre_pluton_root_key_hash(const nacre_pluton *p,
                                               uint8_t out[NACRE_PLUTON_DIGEST_BYTES])
{
    if (p == NULL || out == NULL) {
        return NACRE_PLUTON_ERR_ARGUMENT;
    }
    const struct pluton_state *st = pluton_state_const(p);
    if (st->magic != PLUTON_MAGIC) {
        return NACRE_PLUTON_ERR_NOT_INITIALIZED;
    }
    switch (st->root_hash_state) {
    case OTP_FIELD_SET:
        memcpy(out, st->root_key_hash, NACRE_PLUTON_DIGEST_BYTES);
        return NACRE_PLUTON_OK;
    case OTP_FIELD_INTERRUPTED:
        return NACRE_PLUTON_ERR_OTP_INTERRUPTED;
    default:
        return NACRE_PLUTON_ERR_NOT_SET;
    }
}

nacre_pluton_status nacre_pluton_boot_complete(nacre_pluton *p)
{
    struct pluton_state *st;
    nacre_pluton_status s = pluton_get(p, &st);
    if (s != NACRE_PLUTON_OK) {
        return s;
    }
    s = pluton_require_provisioned(st);
    if (s != NACRE_PLUTON_OK) {
        return s;
    }
    if (st->booted || !st->uds_loaded) {
        return NACRE_PLUTON_ERR_ALREADY_BOOTED;
    }
    /*
     * Lock the UDS in hardware first: if that fails nothing has been derived
     * yet, and the caller must not run the next stage.
     */
    /*
     * The boot seed is published in attestation tokens, so it is never a raw
     * entropy draw: a weak or replayed entropy source (such as the host
     * board's fixed-seed test mode, which restarts its stream at every power
     * on and gave the UDS as its first draw) must not show up verbatim.
     */
    uint8_t draw[PLUTON_KEY_BYTES];
    nacre_board_status b = nacre_board_entropy(st->board, draw, sizeof draw);
    if (b != NACRE_BOARD_OK) {
        sodium_memzero(draw, sizeof draw);
        return b == NACRE_BOARD_ERR_POWER_LOST ? NACRE_PLUTON_ERR_POWER_LOST : NACRE_PLUTON_ERR_ENTROPY;
    }
    pluton_kdf(st->boot_seed, draw, "boot-seed", NULL, 0);
    sodium_memzero(draw, sizeof draw);
    s = pluton_from_board(nacre_board_otp_lock_read(st->board, OTP_SECRET_START, OTP_SECRET_LEN));
    if (s != NACRE_PLUTON_OK) {
        sodium_memzero(st->boot_seed, sizeof st->boot_seed);
        return s;
    }
    keys_derive_dice(st);
    sodium_memzero(st->uds, sizeof st->uds);
    st->uds_loaded = 0;
    st->booted = 1;
    return NACRE_PLUTON_OK;
}

nacre_pluton_status nacre_pluton_boot_seed(const nacre_pluton *p, uint8_t out[NACRE_PLUTON_DIGEST_BYTES])
{
    if (p == NULL || out == NULL) {
        return NACRE_PLUTON_ERR_ARGUMENT;
    }
    const struct pluton_state *st = pluton_state_const(p);
    if (st->magic != PLUTON_MAGIC) {
        return NACRE_PLUTON_ERR_NOT_INITIALIZED;
    }
    if (!st->booted) {
        return NACRE_PLUTON_ERR_NOT_BOOTED;
    }
    memcpy(out, st->boot_seed, sizeof st->boot_seed);
    return NACRE_PLUTON_OK;
}

int nacre_pluton_booted(const nacre_pluton *p)
{
    return p != NULL && pluton_state_const(p)->magic == PLUTON_MAGIC && pluton_state_const(p)->booted;
}

size_t nacre_pluton_seal_overhead(void)
{
    return NACRE_PLUTON_SEAL_OVERHEAD;
}

size_t nacre_pluton_register_count(void)
{
    return NACRE_PLUTON_REGISTER_COUNT;
}

size_t nacre_pluton_counter_count(void)
{
    return NACRE_PLUTON_COUNTER_COUNT;
}

const char *nacre_pluton_version(void)
{
    return NACRE_VERSION;
}
