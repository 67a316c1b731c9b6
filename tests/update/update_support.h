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

/* ---- devices ----------------------------------------------------------- */
#include "test_support.h"

/* A new host device provisioned with k's root key (geometry NULL = default),
 * powered on, not booted. Aborts on failure. */
void upd_device(struct nacre_test_device *d, const char *tag, const struct upd_keys *k,
                const struct nacre_host_geometry *geometry);

/* Small geometry for power-cut runs: sectors of `sector` bytes, 8-byte writes,
 * slots of slot_sectors sectors. */
struct nacre_host_geometry upd_small_geometry(uint32_t sector, uint32_t slot_sectors);

/* Install image (begin, resume from the offset it gives, chunks of `chunk`
 * bytes, finish). Returns the first status that is not OK. */
nacre_update_status upd_install(struct nacre_test_device *d, const uint8_t *image, size_t len,
                                size_t chunk, const struct nacre_update_config *cfg);

/* Reset the device and run the boot stage. */
nacre_update_status upd_boot(struct nacre_test_device *d, const struct nacre_update_config *cfg,
                             struct nacre_boot_result *r);

/* Reset, attach to the running image (as the app would be) and confirm it. */
nacre_update_status upd_confirm(struct nacre_test_device *d, const struct nacre_update_config *cfg);
