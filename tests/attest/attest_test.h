/*
 * Helpers shared by the libattest tests: a host device booted by the real
 * boot stage from a signed image, and an independent encoder for forging
 * evidence.
 *
 * The forging encoder ("te_") is written from docs/attestation.md, not from
 * lib/attest: with no quirks it must reproduce the library's bytes exactly
 * (test_evidence checks that), and its quirks make the non-canonical,
 * mistyped or re-signed variants the rejection tests feed the verifier. It
 * signs through libpluton with the device's own DeviceID and Alias handles,
 * which is exactly what any code running on a booted device could do: it
 * isolates the verifier's encoding and claim checks from its signature
 * checks (a valid signature over bytes that are still refused).
 */
#ifndef NACRE_ATTEST_TEST_H
#define NACRE_ATTEST_TEST_H

#include <stddef.h>
#include <stdint.h>

#include <nacre/attest.h>

#include "../update/update_support.h"

#define ATT_COMPONENT "thermostat"
#define ATT_EVIDENCE_BUF 4096u

/* A device that ran the boot stage on a signed, confirmed image. */
struct att_device {
    struct nacre_test_device d;
    struct upd_keys keys;
    struct nacre_boot_result boot;
    struct nacre_attest_component comp; /* the booted image, as a component */
    struct nacre_attest_ref ref;        /* the same as a reference value */
    uint8_t device_pk[32], alias_pk[32], r0[32];
};

/*
 * Provision (seed: fixed entropy seed or NULL; key_tag: upd_keys_make tag;
 * secure: also lock debug), install the image "thermostat" version with its
 * security counter and a 4 KiB payload of fill bytes, trial-boot, confirm,
 * boot again. Aborts on failure.
 */
void att_device_new(struct att_device *a, const char *tag, const uint8_t *seed, uint8_t key_tag,
                    const char *version, uint32_t counter, uint8_t fill, int secure);
void att_device_free(struct att_device *a);

/* Claims with the device's component; evidence of them. Abort on failure. */
void att_claims(struct att_device *a, struct nacre_attest_claims *c, const uint8_t *nonce,
                size_t nonce_len, uint64_t issued_at);
size_t att_evidence(struct att_device *a, const uint8_t *nonce, size_t nonce_len,
                    uint64_t issued_at, uint8_t *out, size_t out_max);
/* A policy for a's evidence: its DeviceID, its component as the only
 * reference, the given nonce (exact match). */
void att_policy(struct nacre_attest_policy *pol, const struct att_device *a, const uint8_t *nonce,
                size_t nonce_len);

/* Where the certificate and the token are inside evidence (0x82 first). */
void att_split(const uint8_t *ev, size_t len, size_t *cert_len, size_t *token_len);

/* ---- the forging encoder ------------------------------------------------------ */

struct te {
    uint8_t buf[ATT_EVIDENCE_BUF];
    size_t len;
    int quirks;
};

/* Claims-map quirks. */
#define Q_LONG_INT 0x001u       /* dbgstat, lifecycle, counters in non-shortest form */
#define Q_UNSORTED 0x002u       /* ueid (256) after dbgstat (263) */
#define Q_INDEF_MAP 0x004u      /* indefinite-length claims map */
#define Q_DUP_KEY 0x008u        /* the nonce claim twice */
#define Q_UNKNOWN_CLAIM 0x010u  /* an extra claim 99: 0 */
#define Q_IAT_ZERO 0x020u       /* iat: 0 written out (the signer omits it) */
#define Q_TRAILING 0x040u       /* a byte after the map inside the payload */
#define Q_WRONG_TYPE 0x080u     /* dbgstat as a text string */
#define Q_LONG_LEN 0x100u       /* the nonce bstr with a 2-byte length */
#define Q_LIFECYCLE_7 0x200u    /* lifecycle 7: out of range */
#define Q_COMPONENT_EXTRA 0x400u /* a component map with a sixth key */

void te_init(struct te *w, int quirks);
void te_head(struct te *w, unsigned major, uint64_t value);
void te_int(struct te *w, int64_t v);
void te_bstr(struct te *w, const uint8_t *data, size_t len);
void te_tstr(struct te *w, const char *s);
void te_raw(struct te *w, const uint8_t *data, size_t len);

/* The token payload (claims map) and the certificate payload. */
void te_claims(struct te *w, const struct nacre_attest_claims *c);
struct te_cert {
    uint8_t iss[32], sub[32], code_hash[32];
    uint8_t mode;
    int64_t kty, alg, crv;
    uint8_t x[32];
    uint8_t key_usage;
};
/* The certificate a booted device should make. */
void te_cert_of(struct te_cert *c, nacre_pluton *p);
void te_cert(struct te *w, const struct te_cert *c);

/* A COSE_Sign1 around payload, signed by key of p over its Sig_structure. */
struct te_sign1 {
    const uint8_t *protected_hdr; /* encoded header map; NULL = {1: alg} */
    size_t protected_len;
    int64_t alg;                  /* when protected_hdr is NULL */
    const uint8_t *kid;           /* 32 bytes; NULL = no unprotected kid */
    int untagged;
    int extra_unprotected;        /* add 5: h'00' (an IV) to the unprotected map */
};
size_t te_sign1(uint8_t *out, size_t max, nacre_pluton *p, nacre_pluton_key key,
                const struct te_sign1 *opt, const uint8_t *payload, size_t payload_len);

/* 0x82 || cert || token into out. */
size_t te_evidence(uint8_t *out, size_t max, const uint8_t *cert, size_t cert_len,
                   const uint8_t *token, size_t token_len);

/* BLAKE2b-256. */
void att_hash(uint8_t out[32], const uint8_t *in, size_t len);

#endif
