/*
 * nacre/image.h - the Nacre signed image format (part of libnacre-update).
 *
 * An image, byte by byte in docs/image-format.md (all integers little-endian):
 *
 *   0                 header (64 bytes, struct nacre_image_header)
 *   64                protected TLV area (protected_size bytes)  } signed
 *   64+protected_size unprotected TLV area: signature, key certificate or
 *                     root public key; then 0x00 padding up to ...
 *   payload_offset    payload (payload_size bytes); payload_offset is a
 *                     multiple of NACRE_IMAGE_PAYLOAD_ALIGN, at most
 *                     NACRE_IMAGE_METADATA_MAX
 *
 * The signature is Ed25519 (RFC 8032, pure) over header || protected area:
 * the "to-be-signed" bytes, at most a few hundred, so an HSM or
 * `openssl pkeyutl -sign -rawin` can sign them offline. The protected area
 * carries the BLAKE2b-256 digest of the payload, so the signature covers it.
 * The image *measurement* — what the boot stage extends into pluton R0 and
 * what attestation reference values name — is BLAKE2b-256 of the same
 * to-be-signed bytes.
 *
 * Keys: the device holds BLAKE2b-256(root public key) in OTP. An image is
 * signed either by the root key itself (it then carries the root public key
 * in a ROOT_KEY TLV) or by a signing key that the root certified in a key
 * certificate (KEY_CERT TLV) carrying an epoch; raising the device's epoch
 * counter revokes every certificate below it.
 *
 * Verification never allocates and reads the metadata from one buffer, so the
 * same code runs in the boot stage on a microcontroller. The image *builder*
 * functions (marked HOST) allocate and are for tools.
 */
#ifndef NACRE_IMAGE_H
#define NACRE_IMAGE_H

#include <stddef.h>
#include <stdint.h>

#include <nacre/update_status.h>

#ifdef __cplusplus
extern "C" {
#endif

#define NACRE_IMAGE_HEADER_BYTES 64u
#define NACRE_IMAGE_FORMAT_VERSION 1u
#define NACRE_IMAGE_PAYLOAD_ALIGN 256u
#define NACRE_IMAGE_METADATA_MAX 4096u  /**< payload_offset never exceeds this */
#define NACRE_IMAGE_COMPONENT_MAX 32u   /**< component name bytes, [a-z0-9._-] */
#define NACRE_IMAGE_DEPENDENCY_MAX 4u
#define NACRE_IMAGE_DIGEST_BYTES 32u
#define NACRE_IMAGE_PUBLICKEY_BYTES 32u
#define NACRE_IMAGE_SIGNATURE_BYTES 64u
#define NACRE_KEYCERT_BYTES 144u

/** The fixed header. On flash exactly as laid out here, little-endian. */
struct nacre_image_header {
    uint8_t magic[4];         /**< "NIMG" */
    uint16_t format_version;  /**< NACRE_IMAGE_FORMAT_VERSION */
    uint16_t header_size;     /**< NACRE_IMAGE_HEADER_BYTES */
    uint32_t protected_size;  /**< bytes of the protected TLV area, after the header */
    uint32_t payload_offset;  /**< where the payload starts; multiple of 256, <= 4096 */
    uint32_t payload_size;    /**< bytes of payload */
    uint32_t flags;           /**< 0 (none defined) */
    uint8_t reserved[40];     /**< 0 */
};
_Static_assert(sizeof(struct nacre_image_header) == NACRE_IMAGE_HEADER_BYTES, "image header size");

/**
 * TLV registry: type (u16 LE), length (u16 LE), value. A type 0x0000 or the
 * end of its area ends an area; what follows END must be zero padding.
 * Types 0x00xx belong in the protected area, 0x01xx in the unprotected one.
 */
enum nacre_image_tlv {
    NACRE_IMAGE_TLV_END = 0x0000,              /**< end of area; zero padding follows */
    NACRE_IMAGE_TLV_COMPONENT = 0x0001,        /**< 1..32: component name, [a-z0-9._-] (required) */
    NACRE_IMAGE_TLV_VERSION = 0x0002,          /**< 12: major, minor, patch u32 (required) */
    NACRE_IMAGE_TLV_SECURITY_COUNTER = 0x0003, /**< 4: anti-rollback counter u32 (required) */
    NACRE_IMAGE_TLV_PAYLOAD_DIGEST = 0x0004,   /**< 32: BLAKE2b-256 of the payload (required) */
    NACRE_IMAGE_TLV_SIGNER_KEY_ID = 0x0005,    /**< 32: BLAKE2b-256 of the signer public key (required) */
    NACRE_IMAGE_TLV_DEPENDENCY = 0x0006,       /**< 13..44: minimum version (12) + component (0..4 of them) */
    NACRE_IMAGE_TLV_SIGNATURE = 0x0101,        /**< 64: Ed25519 over header || protected area */
    NACRE_IMAGE_TLV_KEY_CERT = 0x0102,         /**< 144: signing-key certificate */
    NACRE_IMAGE_TLV_ROOT_KEY = 0x0103,         /**< 32: root public key (root-signed images) */
};

struct nacre_image_version {
    uint32_t major, minor, patch;
};

struct nacre_image_dependency {
    char component[NACRE_IMAGE_COMPONENT_MAX + 1];
    struct nacre_image_version min_version;
};

/** Everything verification learns about an image. */
struct nacre_image_info {
    uint32_t payload_offset;
    uint32_t payload_size;
    uint32_t image_size;        /**< payload_offset + payload_size */
    char component[NACRE_IMAGE_COMPONENT_MAX + 1];
    struct nacre_image_version version;
    uint32_t security_counter;
    uint8_t payload_digest[NACRE_IMAGE_DIGEST_BYTES];
    uint8_t signer_key_id[NACRE_IMAGE_DIGEST_BYTES];
    uint8_t measurement[NACRE_IMAGE_DIGEST_BYTES]; /**< BLAKE2b-256(header || protected area) */
    unsigned dependency_count;
    struct nacre_image_dependency dependencies[NACRE_IMAGE_DEPENDENCY_MAX];
    int signed_by_root;          /**< 1: root key signed it; 0: a certified key (or no signer yet) */
    uint32_t key_epoch;          /**< the key certificate's epoch (0 if root-signed or none);
                                      from nacre_image_parse it is what the unverified
                                      certificate claims */
    int has_signature;           /**< a SIGNATURE TLV is present */
};

/** What an image must satisfy to be accepted. */
struct nacre_image_policy {
    const uint8_t *root_key_hash;  /**< 32 bytes, from OTP (required) */
    uint32_t min_security_counter; /**< refuse below: anti-rollback */
    uint32_t min_key_epoch;        /**< refuse key certificates below: revocation */
    const char *component;         /**< required component, or NULL for any */
    uint32_t max_image_size;       /**< the slot size; 0 = no limit */
};

/**
 * \brief Parse the metadata (header and both TLV areas) without checking any
 * signature. meta holds at least the first payload_offset bytes of the image
 * (call with the first NACRE_IMAGE_HEADER_BYTES to learn payload_offset:
 * ERR_TRUNCATED then still fills info->payload_offset when the header parses).
 */
NACRE_UPDATE_WUR nacre_update_status nacre_image_parse(const uint8_t *meta, size_t meta_len,
                                                       struct nacre_image_info *info);

/**
 * \brief Parse and verify the metadata against a policy: signature, signer
 * (root key or certified key, epoch), security counter, component, size.
 * Does not read the payload (its digest is checked by the caller, or by
 * nacre_image_verify). Checks are ordered so that each bad input gets its own
 * status: structure, then signature, then policy.
 */
NACRE_UPDATE_WUR nacre_update_status nacre_image_check(const uint8_t *meta, size_t meta_len,
                                                       const struct nacre_image_policy *policy,
                                                       struct nacre_image_info *info);

/** \brief nacre_image_check plus the payload digest, for an image in memory. */
NACRE_UPDATE_WUR nacre_update_status nacre_image_verify(const uint8_t *image, size_t image_len,
                                                        const struct nacre_image_policy *policy,
                                                        struct nacre_image_info *info);

/** \brief The to-be-signed bytes (header || protected area) inside image. */
NACRE_UPDATE_WUR nacre_update_status nacre_image_tbs(const uint8_t *image, size_t image_len,
                                                     const uint8_t **tbs, size_t *tbs_len);

/** \brief Parse "X.Y.Z" (decimal, each part < 2^32, no sign, no leading '+'). */
NACRE_UPDATE_WUR nacre_update_status nacre_image_version_parse(const char *text,
                                                               struct nacre_image_version *out);

/** \brief -1, 0 or 1 as a is below, equal to or above b. */
int nacre_image_version_compare(const struct nacre_image_version *a,
                                const struct nacre_image_version *b);

/** \brief BLAKE2b-256 of a public key: the key id (and the OTP root-key hash). */
void nacre_image_key_id(uint8_t out[NACRE_IMAGE_DIGEST_BYTES],
                        const uint8_t pk[NACRE_IMAGE_PUBLICKEY_BYTES]);

/* ---- key certificates ------------------------------------------------------
 * 144 bytes: "NKC1" | version u8 (1) | 3 x 0 | epoch u32 | 0 u32 |
 *            root public key (32) | signing public key (32) |
 *            Ed25519 signature by the root key over bytes 0..79 (64)
 */
struct nacre_keycert {
    uint32_t epoch;
    uint8_t root_pk[NACRE_IMAGE_PUBLICKEY_BYTES];
    uint8_t signer_pk[NACRE_IMAGE_PUBLICKEY_BYTES];
};

/** \brief Parse a certificate and verify its signature by its root key. */
NACRE_UPDATE_WUR nacre_update_status nacre_keycert_verify(const uint8_t cert[NACRE_KEYCERT_BYTES],
                                                          struct nacre_keycert *out);

/* ---- building images (HOST: these allocate) -------------------------------- */

struct nacre_image_params {
    const char *component;
    struct nacre_image_version version;
    uint32_t security_counter;
    uint8_t signer_pk[NACRE_IMAGE_PUBLICKEY_BYTES];  /**< the key that will sign */
    unsigned dependency_count;
    struct nacre_image_dependency dependencies[NACRE_IMAGE_DEPENDENCY_MAX];
};

/**
 * \brief HOST. Build an unsigned image around payload, with room reserved for
 * a signature and a key certificate. *image is malloc'd; free() it.
 */
NACRE_UPDATE_WUR nacre_update_status nacre_image_create(uint8_t **image, size_t *image_len,
                                                        const uint8_t *payload, size_t payload_len,
                                                        const struct nacre_image_params *params);

/**
 * \brief HOST. Put a detached signature (made offline over nacre_image_tbs)
 * into the unprotected area, with either the signer's key certificate
 * (key_cert, NACRE_KEYCERT_BYTES) or, for a root-signed image, the root public
 * key (root_pk). Exactly one of key_cert / root_pk is non-NULL. The signature
 * is checked against the signer before it is attached.
 */
NACRE_UPDATE_WUR nacre_update_status nacre_image_attach_signature(
    uint8_t *image, size_t image_len, const uint8_t sig[NACRE_IMAGE_SIGNATURE_BYTES],
    const uint8_t *key_cert, const uint8_t *root_pk);

/** \brief HOST. Sign with an Ed25519 seed and attach (see attach_signature). */
NACRE_UPDATE_WUR nacre_update_status nacre_image_sign(uint8_t *image, size_t image_len,
                                                      const uint8_t seed[32],
                                                      const uint8_t *key_cert);

/** \brief HOST. Certify signer_pk with the root key's seed at epoch. */
NACRE_UPDATE_WUR nacre_update_status nacre_keycert_create(uint8_t out[NACRE_KEYCERT_BYTES],
                                                          const uint8_t root_seed[32],
                                                          const uint8_t signer_pk[NACRE_IMAGE_PUBLICKEY_BYTES],
                                                          uint32_t epoch);

#ifdef __cplusplus
}
#endif

#endif /* NACRE_IMAGE_H */
