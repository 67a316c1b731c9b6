/*
 * seal.c - sealed storage: XChaCha20-Poly1305 under a device-bound key.
 *
 * Blob layout (all integers little-endian; docs/pluton.md has the table):
 *   0  magic "NSEL"           4
 *   4  version (1)            1
 *   5  reserved (0)           3
 *   8  register mask          4   bit n binds Rn
 *  12  plaintext length       4
 *  16  device tag            16   KDF(seal root, "seal-device-tag"), truncated
 *  32  policy digest         32   BLAKE2b-256 of the bound registers (0 if none)
 *  64  nonce                 24   from the board's entropy
 *  88  ciphertext || tag     len + 16
 * The whole 88-byte header is the AEAD's associated data, and the key is
 * KDF(seal root, "seal", context), so the context (e.g. an app id) is bound
 * too. The clear device tag and policy digest only let unseal say *why* a
 * blob is refused; the AEAD check is what enforces it.
 */
#include <string.h>

#include "pluton_priv.h"

#define SEAL_VERSION 1u

static const uint8_t seal_magic[4] = {'N', 'S', 'E', 'L'};

_Static_assert(NACRE_PLUTON_SEAL_HEADER_BYTES == 64 + crypto_aead_xchacha20poly1305_ietf_NPUBBYTES,
               "seal header layout");
_Static_assert(NACRE_PLUTON_SEAL_TAG_BYTES == crypto_aead_xchacha20poly1305_ietf_ABYTES,
               "seal tag size");

/* The sealing key for context: KDF(seal root, "seal", context), cached. */
static const uint8_t *seal_key(struct pluton_state *st, const void *context, size_t context_len)
{
    if (!st->seal_cache_valid || st->seal_cache_context_len != context_len ||
        (context_len > 0 && memcmp(st->seal_cache_context, context, context_len) != 0)) {
        pluton_kdf(st->seal_cache_key, st->seal_root, "seal", context, context_len);
        if (context_len > 0) {
            memcpy(st->seal_cache_context, context, context_len);
        }
        st->seal_cache_context_len = (uint8_t)context_len;
        st->seal_cache_valid = 1;
    }
    return st->seal_cache_key;
}

static nacre_pluton_status seal_open(nacre_pluton *p, const void *context, size_t context_len,
                                     struct pluton_state **out)
{
    nacre_pluton_status s = pluton_get(p, out);
    if (s != NACRE_PLUTON_OK) {
        return s;
    }
    if ((context == NULL && context_len > 0) || context_len > NACRE_PLUTON_LABEL_MAX) {
        return NACRE_PLUTON_ERR_ARGUMENT;
    }
    return pluton_require_booted(*out);
}

nacre_pluton_status nacre_pluton_seal(nacre_pluton *p, uint8_t *out, size_t out_max, size_t *out_len,
                                      const void *pt, size_t pt_len, const void *context,
                                      size_t context_len, uint32_t reg_mask)
{
    struct pluton_state *st;
    nacre_pluton_status s = seal_open(p, context, context_len, &st);
    if (s != NACRE_PLUTON_OK) {
        return s;
    }
    if (out == NULL || out_len == NULL || (pt == NULL && pt_len > 0) ||
        pt_len > NACRE_PLUTON_SEAL_MAX_PLAINTEXT || (reg_mask >> NACRE_PLUTON_REGISTER_COUNT)) {
        return NACRE_PLUTON_ERR_ARGUMENT;
    }
    if (out_max < pt_len + NACRE_PLUTON_SEAL_OVERHEAD) {
        return NACRE_PLUTON_ERR_BUFFER_TOO_SMALL;
    }
    /* The plaintext may not overlap the header we are about to write. */
    if (pt_len > 0 && (const uint8_t *)pt < out + NACRE_PLUTON_SEAL_OVERHEAD + pt_len &&
        out < (const uint8_t *)pt + pt_len) {
        return NACRE_PLUTON_ERR_ARGUMENT;
    }

    uint8_t *h = out;
    memcpy(h, seal_magic, 4);
    h[4] = SEAL_VERSION;
    h[5] = h[6] = h[7] = 0;
    le32_put(h + 8, reg_mask);
    le32_put(h + 12, (uint32_t)pt_len);
    memcpy(h + 16, st->seal_device_tag, 16);
    s = measure_policy(st, reg_mask, h + 32);
    if (s != NACRE_PLUTON_OK) {
        return s;
    }
    nacre_board_status b = nacre_board_entropy(st->board, h + 64,
                                               crypto_aead_xchacha20poly1305_ietf_NPUBBYTES);
    if (b != NACRE_BOARD_OK) {
        sodium_memzero(out, NACRE_PLUTON_SEAL_HEADER_BYTES);
        return b == NACRE_BOARD_ERR_POWER_LOST ? NACRE_PLUTON_ERR_POWER_LOST : NACRE_PLUTON_ERR_ENTROPY;
    }

    static const uint8_t empty[1] = {0};
    unsigned long long clen = 0;
    int rc = crypto_aead_xchacha20poly1305_ietf_encrypt(
        out + NACRE_PLUTON_SEAL_HEADER_BYTES, &clen, pt_len ? pt : empty, pt_len, h,
        NACRE_PLUTON_SEAL_HEADER_BYTES, NULL, h + 64, seal_key(st, context, context_len));
    if (rc != 0) {
        sodium_memzero(out, out_max);
        return NACRE_PLUTON_ERR_CRYPTO;
    }
    *out_len = NACRE_PLUTON_SEAL_HEADER_BYTES + (size_t)clen;
    return NACRE_PLUTON_OK;
}

nacre_pluton_status nacre_pluton_unseal(nacre_pluton *p, uint8_t *out, size_t out_max,
                                        size_t *out_len, const uint8_t *blob, size_t blob_len,
                                        const void *context, size_t context_len)
{
    struct pluton_state *st;
    nacre_pluton_status s = seal_open(p, context, context_len, &st);
    if (s != NACRE_PLUTON_OK) {
        return s;
    }
    if (out_len == NULL || blob == NULL || (out == NULL && out_max > 0)) {
        return NACRE_PLUTON_ERR_ARGUMENT;
    }
    if (blob_len < NACRE_PLUTON_SEAL_OVERHEAD || memcmp(blob, seal_magic, 4) != 0 ||
        blob[4] != SEAL_VERSION || blob[5] != 0 || blob[6] != 0 || blob[7] != 0) {
        return NACRE_PLUTON_ERR_SEAL_FORMAT;
    }
    uint32_t mask = le32_get(blob + 8);
    size_t pt_len = le32_get(blob + 12);
    if ((mask >> NACRE_PLUTON_REGISTER_COUNT) || pt_len > NACRE_PLUTON_SEAL_MAX_PLAINTEXT ||
        pt_len != blob_len - NACRE_PLUTON_SEAL_OVERHEAD) {
        return NACRE_PLUTON_ERR_SEAL_FORMAT;
    }
    if (out_max < pt_len) {
        return NACRE_PLUTON_ERR_BUFFER_TOO_SMALL;
    }
    /* The tag is derived from the UDS: constant-time compare. */
    if (crypto_verify_16(blob + 16, st->seal_device_tag) != 0) {
        return NACRE_PLUTON_ERR_SEAL_WRONG_DEVICE;
    }
    uint8_t policy[NACRE_PLUTON_DIGEST_BYTES];
    s = measure_policy(st, mask, policy);
    if (s != NACRE_PLUTON_OK) {
        return s;
    }
    /* The policy digest is a hash of public measurements: no secret here. */
    if (memcmp(blob + 32, policy, sizeof policy) != 0) {
        return NACRE_PLUTON_ERR_SEAL_MEASUREMENT;
    }

    uint8_t scratch[1];
    unsigned long long mlen = 0;
    int rc = crypto_aead_xchacha20poly1305_ietf_decrypt(
        pt_len ? out : scratch, &mlen, NULL, blob + NACRE_PLUTON_SEAL_HEADER_BYTES,
        blob_len - NACRE_PLUTON_SEAL_HEADER_BYTES, blob, NACRE_PLUTON_SEAL_HEADER_BYTES, blob + 64,
        seal_key(st, context, context_len));
    if (rc != 0 || mlen != pt_len) {
        if (out != NULL) {
            sodium_memzero(out, pt_len);
        }
        return NACRE_PLUTON_ERR_SEAL_AUTH;
    }
    *out_len = pt_len;
    return NACRE_PLUTON_OK;
}
