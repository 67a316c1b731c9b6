/*
 * nacre/attest.h - libattest: attestation evidence, the DICE chain, and its
 * verification.
 *
 * Evidence is what a device hands a verifier to prove what it is and what it
 * runs. It is one CBOR array of two COSE_Sign1 structures (RFC 9052, alg
 * EdDSA = -8), byte layouts in docs/attestation.md:
 *
 *   [ alias-certificate, token ]
 *
 *   alias-certificate  COSE_Sign1 signed by the DeviceID key: CWT-style
 *                      claims in the spirit of the Open Profile for DICE —
 *                      issuer (DeviceID), subject (Alias), the code hash (R0),
 *                      the mode (normal / debug) and the Alias public key.
 *   token              COSE_Sign1 signed by the Alias key: an Entity
 *                      Attestation Token (RFC 9711) as a CWT (RFC 8392) —
 *                      nonce, UEID, issued-at, debug state, lifecycle, boot
 *                      seed, anti-rollback counters and the measured software
 *                      components.
 *
 * A verifier that knows the DeviceID public key walks DeviceID → Alias →
 * token. Both signatures are made inside libpluton (handles, never keys).
 *
 * All CBOR produced here is deterministic (RFC 8949 §4.2.1: shortest
 * integers, definite lengths, map keys in bytewise order of their encoding);
 * the verifier re-encodes what it decoded and refuses anything that is not
 * byte-identical, so a token has exactly one valid encoding.
 *
 * The signing path (nacre_attest_evidence, _token, _dice_cert) allocates
 * nothing and makes no OS calls: it builds for a microcontroller. The
 * verifier allocates nothing either (it decodes with libcbor's streaming
 * decoder; input capped at NACRE_ATTEST_EVIDENCE_MAX);
 * nacre_attest_cose_verify allocates one buffer of about the message size.
 *
 * Success is NACRE_ATTEST_OK, a many-bit value: compare with ==.
 */
#ifndef NACRE_ATTEST_H
#define NACRE_ATTEST_H

#include <stddef.h>
#include <stdint.h>

#include <nacre/pluton.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__) || defined(__clang__)
#define NACRE_ATTEST_WUR __attribute__((warn_unused_result))
#else
#define NACRE_ATTEST_WUR
#endif

/** Status codes. Values are pinned; retired codes are never reused. */
typedef enum nacre_attest_status {
    NACRE_ATTEST_OK = 0x4B3D2CE1,            /**< success (many-bit value) */
    NACRE_ATTEST_ERR_ARGUMENT = 1,           /**< NULL pointer, bad length */
    NACRE_ATTEST_ERR_BUFFER_TOO_SMALL = 2,   /**< output buffer too small */
    NACRE_ATTEST_ERR_PLUTON = 3,             /**< the root of trust refused (not booted, ...) */
    NACRE_ATTEST_ERR_REFUSED = 4,            /**< verification failed: see result->failures */
    NACRE_ATTEST_ERR_NONCE_UNKNOWN = 5,      /**< nonce store: never issued */
    NACRE_ATTEST_ERR_NONCE_REUSED = 6,       /**< nonce store: already used */
    NACRE_ATTEST_ERR_NONCE_EXPIRED = 7,      /**< nonce store: too old */
    NACRE_ATTEST_ERR_NONCE_STORE_FULL = 8,   /**< nonce store: no free entry */
    NACRE_ATTEST_ERR_TOO_MANY = 9,           /**< too many components */
    NACRE_ATTEST_ERR_COSE = 10,              /**< COSE_Sign1 malformed (cose API) */
    NACRE_ATTEST_ERR_ALGORITHM = 11,         /**< COSE alg is not EdDSA (cose API) */
    NACRE_ATTEST_ERR_BAD_SIGNATURE = 12,     /**< COSE signature does not verify (cose API) */
} nacre_attest_status;

/** \brief One-line description of a status. Never NULL. */
const char *nacre_attest_strerror(nacre_attest_status status);

/* ---- claims ---------------------------------------------------------------- */

#define NACRE_ATTEST_NONCE_MIN 8u
#define NACRE_ATTEST_NONCE_MAX 64u
#define NACRE_ATTEST_UEID_BYTES 33u        /**< 0x01 (RAND type) || BLAKE2b-256(DeviceID pk) */
#define NACRE_ATTEST_COMPONENTS_MAX 4u
#define NACRE_ATTEST_NAME_MAX 32u
#define NACRE_ATTEST_VERSION_MAX 32u       /**< "X.Y.Z" text */
#define NACRE_ATTEST_DIGEST_BYTES 32u
#define NACRE_ATTEST_EVIDENCE_MAX 2048u    /**< evidence size cap (verifier refuses more) */

/** A measured software component, as the boot stage reports it. */
struct nacre_attest_component {
    char name[NACRE_ATTEST_NAME_MAX + 1];
    char version[NACRE_ATTEST_VERSION_MAX + 1];
    uint8_t measurement[NACRE_ATTEST_DIGEST_BYTES]; /**< the image measurement (R0 input) */
    uint8_t signer_id[NACRE_ATTEST_DIGEST_BYTES];   /**< key id of the image's signer */
    uint32_t security_counter;                      /**< the image's anti-rollback counter */
};

/** Everything a token claims. */
struct nacre_attest_claims {
    uint8_t nonce[NACRE_ATTEST_NONCE_MAX];
    size_t nonce_len;
    uint8_t ueid[NACRE_ATTEST_UEID_BYTES];
    uint64_t issued_at;           /**< seconds since the epoch; 0 = the device has no clock */
    unsigned lifecycle;           /**< nacre_pluton_lifecycle */
    unsigned debug_state;         /**< EAT dbgstat: 0 enabled, 3 disabled-permanently */
    uint8_t boot_seed[32];
    uint32_t security_counter;    /**< pluton counter 0 */
    uint32_t key_epoch;           /**< pluton counter 1 */
    unsigned component_count;
    struct nacre_attest_component components[NACRE_ATTEST_COMPONENTS_MAX];
};

/**
 * \brief Fill the device-given claims from pluton: UEID (from the DeviceID
 * key), lifecycle, debug state, boot seed, counters 0 and 1; copy the nonce
 * and issued_at. No components yet (nacre_attest_claims_add_component).
 * pluton must be booted.
 */
NACRE_ATTEST_WUR nacre_attest_status nacre_attest_claims_init(struct nacre_attest_claims *claims,
                                                              nacre_pluton *p, const uint8_t *nonce,
                                                              size_t nonce_len, uint64_t issued_at);

/** \brief Append a measured component (e.g. from the boot stage's result). */
NACRE_ATTEST_WUR nacre_attest_status nacre_attest_claims_add_component(
    struct nacre_attest_claims *claims, const struct nacre_attest_component *component);

/* ---- producing evidence (device side; no allocation) ------------------------ */

/** \brief The Alias certificate: COSE_Sign1 by the DeviceID key. */
NACRE_ATTEST_WUR nacre_attest_status nacre_attest_dice_cert(nacre_pluton *p, uint8_t *out, size_t out_max,
                                                            size_t *out_len);

/** \brief The token alone: COSE_Sign1 over the claims by the Alias key. */
NACRE_ATTEST_WUR nacre_attest_status nacre_attest_token(nacre_pluton *p,
                                                        const struct nacre_attest_claims *claims,
                                                        uint8_t *out, size_t out_max, size_t *out_len);

/** \brief The evidence: [alias certificate, token]. */
NACRE_ATTEST_WUR nacre_attest_status nacre_attest_evidence(nacre_pluton *p,
                                                           const struct nacre_attest_claims *claims,
                                                           uint8_t *out, size_t out_max,
                                                           size_t *out_len);

/* ---- verification ------------------------------------------------------------ */

/** A reference value: what the build says a good component is. */
struct nacre_attest_ref {
    char name[NACRE_ATTEST_NAME_MAX + 1];
    char version[NACRE_ATTEST_VERSION_MAX + 1];
    uint8_t measurement[NACRE_ATTEST_DIGEST_BYTES];
    uint8_t signer_id[NACRE_ATTEST_DIGEST_BYTES];
    uint32_t security_counter;
};

/** Single-use nonces with an expiry, kept by the verifier. */
#define NACRE_ATTEST_NONCE_BYTES 32u
#define NACRE_ATTEST_NONCE_SLOTS 64u
struct nacre_attest_nonce_store {
    uint64_t ttl;                 /**< seconds a nonce stays valid */
    struct {
        uint8_t nonce[NACRE_ATTEST_NONCE_BYTES];
        uint64_t expires;         /**< 0 = free slot */
        uint8_t used;
    } slots[NACRE_ATTEST_NONCE_SLOTS];
};

void nacre_attest_nonce_store_init(struct nacre_attest_nonce_store *store, uint64_t ttl_seconds);
/** \brief A fresh random nonce, valid until now + ttl, usable once. */
NACRE_ATTEST_WUR nacre_attest_status nacre_attest_nonce_issue(struct nacre_attest_nonce_store *store,
                                                              uint64_t now,
                                                              uint8_t nonce[NACRE_ATTEST_NONCE_BYTES]);
/** \brief Use a nonce: OK once; then ERR_NONCE_REUSED; ERR_NONCE_EXPIRED; ERR_NONCE_UNKNOWN. */
NACRE_ATTEST_WUR nacre_attest_status nacre_attest_nonce_consume(struct nacre_attest_nonce_store *store,
                                                                const uint8_t *nonce, size_t nonce_len,
                                                                uint64_t now);

/** What evidence must satisfy. */
struct nacre_attest_policy {
    const uint8_t *device_id_pk;     /**< 32 bytes: the DeviceID key the verifier knows (required) */
    const uint8_t *nonce;            /**< expected nonce, or NULL to use nonce_store */
    size_t nonce_len;
    struct nacre_attest_nonce_store *nonce_store; /**< if set: the nonce is consumed from it */
    uint64_t now;                    /**< for the nonce store */
    const struct nacre_attest_ref *refs; /**< reference values (required, >= 1) */
    size_t ref_count;
    uint32_t min_security_counter;   /**< the device's counter 0 must be at least this */
    int require_secured;             /**< lifecycle must be SECURED (debug locked) */
};

/** Reasons a verification fails (bits of result->failures). */
enum nacre_attest_failure {
    NACRE_ATTEST_FAIL_FORMAT = 1u << 0,         /**< malformed, truncated, non-canonical or oversized CBOR */
    NACRE_ATTEST_FAIL_ALGORITHM = 1u << 1,      /**< a COSE alg other than EdDSA */
    NACRE_ATTEST_FAIL_UNKNOWN_DEVICE = 1u << 2, /**< the chain's DeviceID is not the known one */
    NACRE_ATTEST_FAIL_CHAIN = 1u << 3,          /**< Alias certificate not signed by the DeviceID key */
    NACRE_ATTEST_FAIL_SIGNATURE = 1u << 4,      /**< token not signed by the certified Alias key */
    NACRE_ATTEST_FAIL_CLAIMS = 1u << 5,         /**< a claim missing, unknown, mistyped or out of range */
    NACRE_ATTEST_FAIL_NONCE = 1u << 6,          /**< wrong nonce (or unknown to the store) */
    NACRE_ATTEST_FAIL_NONCE_REUSED = 1u << 7,   /**< nonce already used */
    NACRE_ATTEST_FAIL_NONCE_EXPIRED = 1u << 8,  /**< nonce too old */
    NACRE_ATTEST_FAIL_MEASUREMENT = 1u << 9,    /**< a component matches no reference value */
    NACRE_ATTEST_FAIL_COUNTER = 1u << 10,       /**< security counter below the reference */
    NACRE_ATTEST_FAIL_LIFECYCLE = 1u << 11,     /**< not secured / debug open when required */
    NACRE_ATTEST_FAIL_BINDING = 1u << 12,       /**< token and certificate disagree (UEID, code hash) */
};

/** \brief A short name for one failure bit, e.g. "nonce reused". */
const char *nacre_attest_failure_name(uint32_t failure_bit);

struct nacre_attest_result {
    uint32_t failures;                        /**< 0 = pass; else OR of nacre_attest_failure */
    int claims_valid;                         /**< claims below were decoded (signature may still fail) */
    struct nacre_attest_claims claims;
    uint8_t alias_pk[32];                     /**< the certified Alias key (if the chain decoded) */
    uint8_t code_hash[32];                    /**< R0 as the certificate states it */
};

/**
 * \brief Verify evidence: structure and canonical encoding, the chain
 * against policy->device_id_pk, the token signature by the certified Alias
 * key, the binding of token to certificate, the nonce, each component
 * against the reference values, counters and lifecycle. Checks continue
 * after a failure where they can, so result->failures lists every reason.
 * \retval NACRE_ATTEST_OK       pass (result->failures == 0)
 * \retval NACRE_ATTEST_ERR_REFUSED  see result->failures
 */
NACRE_ATTEST_WUR nacre_attest_status nacre_attest_verify(const uint8_t *evidence, size_t evidence_len,
                                                         const struct nacre_attest_policy *policy,
                                                         struct nacre_attest_result *result);

/* ---- COSE_Sign1 (EdDSA) on its own -------------------------------------------- */

/**
 * \brief Verify a tagged or untagged COSE_Sign1 with EdDSA against pk, with
 * empty external AAD; on success *payload points into msg. Accepts any
 * protected header that holds alg -8 (and nothing critical it does not know);
 * used for interop (cose-wg examples) and by nacre_attest_verify.
 */
NACRE_ATTEST_WUR nacre_attest_status nacre_attest_cose_verify(const uint8_t *msg, size_t msg_len,
                                                              const uint8_t pk[32],
                                                              const uint8_t **payload,
                                                              size_t *payload_len);

#ifdef __cplusplus
}
#endif

#endif /* NACRE_ATTEST_H */
