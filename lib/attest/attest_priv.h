/*
 * attest_priv.h - libattest internals shared by its source files.
 *
 * Two halves of one CBOR codec:
 *
 *   attest_out  a deterministic writer over a caller buffer, built only on
 *               libcbor's allocation-free encoders (cbor_encode_*). It has
 *               three modes: COUNT (no buffer: learn a length first, so that
 *               a byte string can be wrapped around CBOR without moving
 *               bytes), WRITE (into a buffer, with an overflow flag), and
 *               COMPARE (no buffer: every byte it would write is compared
 *               with expected input). The verifier re-encodes what it
 *               decoded in COMPARE mode, so it never needs a second buffer.
 *   attest_in   a reader over a byte range on libcbor's stateless decoder
 *               (cbor_stream_decode), which never allocates and hands out
 *               string contents as pointers into the input.
 *
 * And the pieces of the format itself (evidence.c), shared by the signer and
 * the verifier so that both produce the very same bytes.
 */
#ifndef NACRE_ATTEST_PRIV_H
#define NACRE_ATTEST_PRIV_H

#include <stddef.h>
#include <stdint.h>

#include <nacre/attest.h>

/* ---- the writer (cbor_out.c) ------------------------------------------------ */

struct attest_out {
    uint8_t *buf;          /* WRITE: the output buffer; else NULL */
    const uint8_t *expect; /* COMPARE: the bytes the output must equal; else NULL */
    size_t cap;            /* bytes in buf / expect */
    size_t len;            /* bytes produced so far (counted on past an overflow) */
    int overflow;          /* WRITE: did not fit; COMPARE: longer than expect */
    int mismatch;          /* COMPARE: a byte differed */
};

void attest_out_count(struct attest_out *o);
void attest_out_write(struct attest_out *o, uint8_t *buf, size_t cap);
void attest_out_compare(struct attest_out *o, const uint8_t *expect, size_t len);
/* 1 when every byte fitted (WRITE) or matched all of expect exactly (COMPARE). */
int attest_out_ok(const struct attest_out *o);

void attest_out_uint(struct attest_out *o, uint64_t v);
void attest_out_int(struct attest_out *o, int64_t v);
void attest_out_bstr_head(struct attest_out *o, size_t len);
void attest_out_bstr(struct attest_out *o, const uint8_t *data, size_t len);
void attest_out_tstr(struct attest_out *o, const char *text, size_t len);
/* A text string of 2 * len lowercase hex digits. */
void attest_out_hex(struct attest_out *o, const uint8_t *data, size_t len);
void attest_out_array(struct attest_out *o, size_t count);
void attest_out_map(struct attest_out *o, size_t count);
void attest_out_tag(struct attest_out *o, uint64_t tag);
void attest_out_bool(struct attest_out *o, int v);
/* Bytes that are already CBOR (or content of a string whose head is out). */
void attest_out_raw(struct attest_out *o, const uint8_t *data, size_t len);

/* Something that writes CBOR: the payload of a COSE_Sign1, a .cbor bstr. */
typedef void (*attest_put_fn)(struct attest_out *o, const void *ctx);

/* bstr(.cbor put(ctx)): counts put's output, writes the head, then put. */
void attest_out_wrapped(struct attest_out *o, attest_put_fn put, const void *ctx);

/* ---- the reader (cose.c) ---------------------------------------------------- */

enum attest_kind {
    ATTEST_CBOR_UINT = 0,
    ATTEST_CBOR_NEGINT = 1, /* value n stands for -1 - n */
    ATTEST_CBOR_BSTR = 2,
    ATTEST_CBOR_TSTR = 3,
    ATTEST_CBOR_ARRAY = 4,
    ATTEST_CBOR_MAP = 5,
    ATTEST_CBOR_TAG = 6,
    ATTEST_CBOR_SIMPLE = 7, /* false, true, null, undefined, floats */
    ATTEST_CBOR_BREAK = 8,
};

/* One data item head (a whole item for scalars and definite strings). */
struct attest_item {
    enum attest_kind kind;
    int indefinite;      /* strings, arrays and maps */
    uint64_t value;      /* int argument, element / pair count, or tag number */
    const uint8_t *data; /* definite strings: contents, inside the input */
    size_t len;
};

struct attest_in {
    const uint8_t *buf;
    size_t len;
    size_t pos;
};

/* Deepest nesting attest_in_skip follows; deeper input is refused. */
#define ATTEST_CBOR_DEPTH_MAX 16u

void attest_in_init(struct attest_in *in, const uint8_t *buf, size_t len);
/* Reads one head; 1 on success, 0 if malformed or truncated. */
int attest_in_next(struct attest_in *in, struct attest_item *it);
/* Skips one whole data item (any nesting up to ATTEST_CBOR_DEPTH_MAX);
 * strict refuses indefinite lengths. 1 on success. */
int attest_in_skip(struct attest_in *in, int strict);
/* An integer (major type 0 or 1) that fits int64_t. 1 on success. */
int attest_in_int(struct attest_in *in, int64_t *v);

/* ---- COSE_Sign1 (cose.c) ---------------------------------------------------- */

#define ATTEST_ALG_EDDSA (-8)
#define ATTEST_TAG_COSE_SIGN1 18u
#define ATTEST_HDR_ALG 1
#define ATTEST_HDR_CRIT 2
#define ATTEST_HDR_KID 4

/* Where the parts of a COSE_Sign1 are (all pointers into the input). */
struct attest_sign1 {
    size_t start, end;          /* the whole item in the input */
    int tagged;                 /* tag 18 present */
    const uint8_t *protected_hdr; /* contents of the protected bstr */
    size_t protected_len;
    int alg_is_int;             /* protected alg is an integer (alg holds it) */
    int64_t alg;
    int has_alg;
    const uint8_t *kid;         /* unprotected kid, or NULL */
    size_t kid_len;
    const uint8_t *payload;
    size_t payload_len;
    const uint8_t *sig;         /* 64 bytes */
};

/* Parses one COSE_Sign1 at in->pos: NACRE_ATTEST_OK, ERR_COSE (malformed,
 * unknown tag, crit, detached payload) or ERR_ALGORITHM (well formed; alg
 * missing or not EdDSA). strict refuses indefinite lengths anywhere. */
nacre_attest_status attest_sign1_parse(struct attest_in *in, struct attest_sign1 *s, int strict);

/* The Sig_structure ["Signature1", protected, h'' (external_aad), payload]
 * up to and including the head of the payload bstr (its contents follow). */
void attest_put_sig_structure_head(struct attest_out *o, const uint8_t *protected_hdr,
                                   size_t protected_len, size_t payload_len);
/* The whole Sig_structure's length ... */
size_t attest_sig_structure_len(const struct attest_sign1 *s);
/* ... and an Ed25519 check of sig over it, built in scratch. OK only on an
 * explicit success from libsodium. */
nacre_attest_status attest_sign1_check(const struct attest_sign1 *s, const uint8_t pk[32],
                                       uint8_t *scratch, size_t scratch_max);

/* ---- the format (evidence.c) ------------------------------------------------ */

/* Token claim keys: EAT / CWT registered ... */
#define ATTEST_CLAIM_IAT 6
#define ATTEST_CLAIM_NONCE 10
#define ATTEST_CLAIM_UEID 256
#define ATTEST_CLAIM_DBGSTAT 263
/* ... and Nacre private use (RFC 8392: below -65536). */
#define ATTEST_CLAIM_LIFECYCLE (-75000)
#define ATTEST_CLAIM_BOOT_SEED (-75001)
#define ATTEST_CLAIM_COUNTERS (-75002)
#define ATTEST_CLAIM_COMPONENTS (-75003)

/* Keys of a component map. */
#define ATTEST_COMP_NAME 1
#define ATTEST_COMP_VERSION 2
#define ATTEST_COMP_MEASUREMENT 3
#define ATTEST_COMP_SIGNER_ID 4
#define ATTEST_COMP_SECURITY_COUNTER 5

/* Alias certificate claims: CWT iss / sub, Open Profile for DICE. */
#define ATTEST_CERT_ISS 1
#define ATTEST_CERT_SUB 2
#define ATTEST_CERT_CODE_HASH (-4670545)
#define ATTEST_CERT_MODE (-4670551)
#define ATTEST_CERT_SUBJECT_PK (-4670552)
#define ATTEST_CERT_KEY_USAGE (-4670553)

/* COSE_Key (RFC 9052/9053) labels and values for an Ed25519 key. */
#define ATTEST_KEY_KTY 1
#define ATTEST_KEY_ALG 3
#define ATTEST_KEY_CRV (-1)
#define ATTEST_KEY_X (-2)
#define ATTEST_KTY_OKP 1
#define ATTEST_CRV_ED25519 6

#define ATTEST_MODE_NORMAL 1u
#define ATTEST_MODE_DEBUG 2u
#define ATTEST_KEY_USAGE_SIGN 0x01u
#define ATTEST_DBGSTAT_ENABLED 0u
#define ATTEST_DBGSTAT_DISABLED_PERMANENTLY 3u

/* The Alias certificate's claims, as signed or as decoded. */
struct attest_cert {
    uint8_t iss[32];        /* BLAKE2b-256(DeviceID pk) (as hex text on the wire) */
    uint8_t sub[32];        /* BLAKE2b-256(Alias pk) */
    uint8_t code_hash[32];  /* R0 */
    uint8_t mode;           /* 1 normal, 2 debug */
    int64_t kty, alg, crv;  /* of the COSE_Key: 1, -8, 6 */
    uint8_t alias_pk[32];
    uint8_t key_usage;      /* 0x01 digitalSignature */
};

/* The token's claims map and the certificate's claims map. */
void attest_put_claims(struct attest_out *o, const struct nacre_attest_claims *claims);
void attest_put_cert(struct attest_out *o, const struct attest_cert *cert);
/* The protected header {1: alg}. */
void attest_put_protected(struct attest_out *o, int64_t alg);
/* Whole COSE_Sign1s: tag 18, bstr(.cbor {1: alg}), {4: kid}, bstr(.cbor
 * claims), signature. The verifier re-encodes with these. */
void attest_put_token_sign1(struct attest_out *o, const struct nacre_attest_claims *claims,
                            int64_t alg, const uint8_t kid[32], const uint8_t sig[64]);
void attest_put_cert_sign1(struct attest_out *o, const struct attest_cert *cert, int64_t alg,
                           const uint8_t kid[32], const uint8_t sig[64]);

/* Syntax shared by the signer and the verifier. */
int attest_name_ok(const char *name, size_t len);
int attest_version_ok(const char *version, size_t len);
/* A component whose strings are NUL-terminated inside their arrays and valid. */
int attest_component_ok(const struct nacre_attest_component *c);
/* claims that can be encoded: nonce length, component count, components. */
int attest_claims_ok(const struct nacre_attest_claims *c);

/* ---- nonce store (nonce.c) -------------------------------------------------- */

/* Looks a nonce up; consumes it only if consume is set. Same statuses as
 * nacre_attest_nonce_consume. */
nacre_attest_status attest_nonce_lookup(struct nacre_attest_nonce_store *store,
                                        const uint8_t *nonce, size_t nonce_len, uint64_t now,
                                        int consume);

#endif /* NACRE_ATTEST_PRIV_H */
