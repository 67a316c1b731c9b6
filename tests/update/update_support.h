/* Helpers shared by the libupdate tests: deterministic keys and images. */
#ifndef NACRE_UPDATE_SUPPORT_H
#define NACRE_UPDATE_SUPPORT_H

#include <stddef.h>
#include <stdint.h>

#include <nacre/image.h>
#include <nacre/update.h>

/* A root key, a signing key it certified, and the certificate. */
struct upd_keys {
    uint8_t root_seed[32], root_pk[32], root_hash[32];
    uint8_t signer_seed[32], signer_pk[32];
    uint8_t cert[NACRE_KEYCERT_BYTES];
    uint32_t epoch;
};

/* Deterministic keys from tag (different tags: unrelated keys); the signing
 * key is certified at epoch. Aborts on failure. */
void upd_keys_make(struct upd_keys *k, uint8_t tag, uint32_t epoch);

/* A signed image: payload of payload_len bytes (byte i = fill + i), signed by
 * the root key (use_cert 0) or the certified signing key (use_cert 1).
 * version is "X.Y.Z". malloc'd; aborts on failure. */
uint8_t *upd_image(size_t *len, const struct upd_keys *k, int use_cert, const char *component,
                   const char *version, uint32_t security_counter, size_t payload_len, uint8_t fill);

/* A policy accepting k's images for component (NULL = any), counters 0. */
void upd_policy(struct nacre_image_policy *pol, const struct upd_keys *k, const char *component);

#endif
