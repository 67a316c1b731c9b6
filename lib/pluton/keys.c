/*
 * keys.c - DICE key derivation and the key-handle table.
 *
 * Private keys live only in struct pluton_state; callers get handles.
 * A handle carries a generation number, so a destroyed handle that is used
 * again never reaches a newer key stored in the same slot.
 */
#include <string.h>

#include "pluton_priv.h"

#define HANDLE_TAG 0x4Bu /* 'K': marks slot handles, never 0 */

static void slot_from_seed(struct pluton_key_slot *slot, nacre_pluton_key handle,
                           const uint8_t seed[NACRE_PLUTON_SEED_BYTES])
{
    crypto_sign_ed25519_seed_keypair(slot->pk, slot->sk, seed);
    slot->handle = handle;
}

void keys_derive_dice(struct pluton_state *st)
{
    uint8_t seed[PLUTON_KEY_BYTES];

    /* CDI = KDF(UDS, "cdi", R0): everything below it follows the firmware. */
    pluton_kdf(st->cdi, st->uds, "cdi", st->regs[NACRE_PLUTON_BOOT_REGISTER],
               NACRE_PLUTON_DIGEST_BYTES);

    pluton_kdf(seed, st->uds, "device-id", NULL, 0);
    slot_from_seed(&st->device_id, NACRE_PLUTON_KEY_DEVICE_ID, seed);

    pluton_kdf(seed, st->cdi, "alias", NULL, 0);
    slot_from_seed(&st->alias, NACRE_PLUTON_KEY_ALIAS, seed);

    pluton_kdf(st->derive_root, st->uds, "derive", NULL, 0);
    pluton_kdf(st->seal_root, st->uds, "seal", NULL, 0);
    pluton_kdf(seed, st->seal_root, "seal-device-tag", NULL, 0);
    memcpy(st->seal_device_tag, seed, sizeof st->seal_device_tag);

    sodium_memzero(seed, sizeof seed);
}

static struct pluton_key_slot *find_slot(struct pluton_state *st, nacre_pluton_key key)
{
    if (key == NACRE_PLUTON_KEY_DEVICE_ID) {
        return st->booted ? &st->device_id : NULL;
    }
    if (key == NACRE_PLUTON_KEY_ALIAS) {
        return st->booted ? &st->alias : NULL;
    }
    unsigned idx = key & 0xFFu;
    if (((key >> 8) & 0xFFu) != HANDLE_TAG || idx >= NACRE_PLUTON_KEY_SLOTS) {
        return NULL;
    }
    struct pluton_key_slot *slot = &st->slots[idx];
    return slot->handle == key ? slot : NULL;
}

/* Reserves a free slot and returns the handle it will carry. */
static struct pluton_key_slot *alloc_slot(struct pluton_state *st, nacre_pluton_key *handle)
{
    for (unsigned i = 0; i < NACRE_PLUTON_KEY_SLOTS; i++) {
        if (st->slots[i].handle == 0) {
            st->key_generation++;
            *handle = ((nacre_pluton_key)st->key_generation << 16) | (HANDLE_TAG << 8) | i;
            return &st->slots[i];
        }
    }
    return NULL;
}

/* Looks up a key for use; distinguishes "not booted" from "no such key". */
static nacre_pluton_status use_key(nacre_pluton *p, nacre_pluton_key key,
                                   struct pluton_key_slot **out)
{
    struct pluton_state *st;
    nacre_pluton_status s = pluton_get(p, &st);
    if (s == NACRE_PLUTON_OK) {
        s = pluton_require_provisioned(st);
    }
    if (s != NACRE_PLUTON_OK) {
        return s;
    }
    if ((key == NACRE_PLUTON_KEY_DEVICE_ID || key == NACRE_PLUTON_KEY_ALIAS) && !st->booted) {
        return NACRE_PLUTON_ERR_NOT_BOOTED;
    }
    *out = find_slot(st, key);
    return *out != NULL ? NACRE_PLUTON_OK : NACRE_PLUTON_ERR_BAD_HANDLE;
}

nacre_pluton_status nacre_pluton_key_derive(nacre_pluton *p, nacre_pluton_key_base base,
                                            const void *label, size_t label_len,
                                            nacre_pluton_key *out)
{
    struct pluton_state *st;
    nacre_pluton_status s = pluton_get(p, &st);
    if (s != NACRE_PLUTON_OK) {
        return s;
    }
    if (out == NULL || label == NULL || label_len == 0 || label_len > NACRE_PLUTON_LABEL_MAX ||
        (base != NACRE_PLUTON_KEY_BASE_DEVICE && base != NACRE_PLUTON_KEY_BASE_FIRMWARE)) {
        return NACRE_PLUTON_ERR_ARGUMENT;
    }
    s = pluton_require_booted(st);
    if (s != NACRE_PLUTON_OK) {
        return s;
    }
    nacre_pluton_key handle;
    struct pluton_key_slot *slot = alloc_slot(st, &handle);
    if (slot == NULL) {
        return NACRE_PLUTON_ERR_NO_KEY_SLOT;
    }
    uint8_t seed[PLUTON_KEY_BYTES];
    const uint8_t *root = base == NACRE_PLUTON_KEY_BASE_DEVICE ? st->derive_root : st->cdi;
    pluton_kdf(seed, root, "key", label, label_len);
    slot_from_seed(slot, handle, seed);
    sodium_memzero(seed, sizeof seed);
    *out = handle;
    return NACRE_PLUTON_OK;
}

nacre_pluton_status nacre_pluton_key_import_ed25519(nacre_pluton *p,
                                                    const uint8_t seed[NACRE_PLUTON_SEED_BYTES],
                                                    nacre_pluton_key *out)
{
    struct pluton_state *st;
    nacre_pluton_status s = pluton_get(p, &st);
    if (s != NACRE_PLUTON_OK) {
        return s;
    }
    if (seed == NULL || out == NULL) {
        return NACRE_PLUTON_ERR_ARGUMENT;
    }
    s = pluton_require_provisioned(st);
    if (s != NACRE_PLUTON_OK) {
        return s;
    }
    nacre_pluton_key handle;
    struct pluton_key_slot *slot = alloc_slot(st, &handle);
    if (slot == NULL) {
        return NACRE_PLUTON_ERR_NO_KEY_SLOT;
    }
    slot_from_seed(slot, handle, seed);
    *out = handle;
    return NACRE_PLUTON_OK;
}

nacre_pluton_status nacre_pluton_key_destroy(nacre_pluton *p, nacre_pluton_key key)
{
    struct pluton_key_slot *slot;
    if (key == NACRE_PLUTON_KEY_DEVICE_ID || key == NACRE_PLUTON_KEY_ALIAS) {
        return NACRE_PLUTON_ERR_BAD_HANDLE;
    }
    nacre_pluton_status s = use_key(p, key, &slot);
    if (s == NACRE_PLUTON_OK) {
        sodium_memzero(slot, sizeof *slot);
    }
    return s;
}

nacre_pluton_status nacre_pluton_key_public(const nacre_pluton *p, nacre_pluton_key key,
                                            uint8_t pk[NACRE_PLUTON_PUBLICKEY_BYTES])
{
    struct pluton_key_slot *slot;
    if (pk == NULL) {
        return NACRE_PLUTON_ERR_ARGUMENT;
    }
    /* use_key only reads the table; the cast keeps one lookup path. */
    nacre_pluton_status s = use_key((nacre_pluton *)(uintptr_t)p, key, &slot);
    if (s == NACRE_PLUTON_OK) {
        memcpy(pk, slot->pk, NACRE_PLUTON_PUBLICKEY_BYTES);
    }
    return s;
}

nacre_pluton_status nacre_pluton_sign(nacre_pluton *p, nacre_pluton_key key,
                                      uint8_t sig[NACRE_PLUTON_SIGNATURE_BYTES], const void *msg,
                                      size_t msg_len)
{
    struct pluton_key_slot *slot;
    if (sig == NULL || (msg == NULL && msg_len > 0)) {
        return NACRE_PLUTON_ERR_ARGUMENT;
    }
    nacre_pluton_status s = use_key(p, key, &slot);
    if (s != NACRE_PLUTON_OK) {
        return s;
    }
    static const uint8_t empty[1] = {0};
    if (crypto_sign_ed25519_detached(sig, NULL, msg_len ? msg : empty, msg_len, slot->sk) != 0) {
        sodium_memzero(sig, NACRE_PLUTON_SIGNATURE_BYTES);
        return NACRE_PLUTON_ERR_CRYPTO;
    }
    return NACRE_PLUTON_OK;
}

nacre_pluton_status nacre_pluton_verify(const uint8_t sig[NACRE_PLUTON_SIGNATURE_BYTES],
                                        const void *msg, size_t msg_len,
                                        const uint8_t pk[NACRE_PLUTON_PUBLICKEY_BYTES])
{
    static const uint8_t empty[1] = {0};
    if (sig == NULL || pk == NULL || (msg == NULL && msg_len > 0)) {
        return NACRE_PLUTON_ERR_ARGUMENT;
    }
    /* Start from "bad" so only an explicit 0 from libsodium turns it OK. */
    nacre_pluton_status s = NACRE_PLUTON_ERR_BAD_SIGNATURE;
    if (crypto_sign_ed25519_verify_detached(sig, msg_len ? msg : empty, msg_len, pk) == 0) {
        s = NACRE_PLUTON_OK;
    }
    return s;
}

nacre_pluton_status nacre_pluton_random(nacre_pluton *p, void *buf, size_t len)
{
    struct pluton_state *st;
    nacre_pluton_status s = pluton_get(p, &st);
    if (s != NACRE_PLUTON_OK) {
        return s;
    }
    if (buf == NULL && len > 0) {
        return NACRE_PLUTON_ERR_ARGUMENT;
    }
    nacre_board_status b = nacre_board_entropy(st->board, buf, len);
    if (b != NACRE_BOARD_OK) {
        sodium_memzero(buf, len);
        return b == NACRE_BOARD_ERR_POWER_LOST ? NACRE_PLUTON_ERR_POWER_LOST : NACRE_PLUTON_ERR_ENTROPY;
    }
    return NACRE_PLUTON_OK;
}
