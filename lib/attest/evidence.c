/*
 * evidence.c - the token, the Alias certificate and the evidence.
 *
 * This is the device side: it runs on the microcontroller, so it allocates
 * nothing, makes no OS calls and keeps its stack small (no local array is
 * larger than a signature; the largest local is the certificate's claims,
 * under 200 bytes). Both signatures are made inside libpluton by key handle.
 * docs/attestation.md gives every byte.
 *
 * A COSE_Sign1 is signed over its Sig_structure, which must exist as one
 * contiguous message for Ed25519. Rather than a second buffer, it is built
 * inside the output buffer: the Sig_structure is written so that its payload
 * lands exactly where the COSE_Sign1's payload will be (the COSE_Sign1's
 * prefix — tag, protected and unprotected headers — is always longer than the
 * Sig_structure's), it is signed there, and then the COSE_Sign1's own prefix
 * and the signature are written around the payload, which never moves.
 *
 * The encoders below (attest_put_*) are also what the verifier re-encodes
 * with, so there is exactly one definition of the byte layout.
 */
#include <string.h>

#include <sodium.h>

#include "attest_priv.h"

#define SIG_BYTES crypto_sign_ed25519_BYTES

_Static_assert(NACRE_ATTEST_DIGEST_BYTES == crypto_generichash_BYTES, "BLAKE2b-256");
_Static_assert(NACRE_PLUTON_SIGNATURE_BYTES == crypto_sign_ed25519_BYTES, "Ed25519 signature");

/* ---- syntax shared with the verifier ------------------------------------------ */

int attest_name_ok(const char *name, size_t len)
{
    if (len < 1 || len > NACRE_ATTEST_NAME_MAX) {
        return 0;
    }
    for (size_t i = 0; i < len; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
              c == '-')) {
            return 0;
        }
    }
    return 1;
}

/* "X.Y.Z": three decimal numbers below 2^32 without leading zeros, so that
 * one version has one spelling and reference values compare as text. */
int attest_version_ok(const char *version, size_t len)
{
    size_t i = 0;
    if (len < 5 || len > NACRE_ATTEST_VERSION_MAX) {
        return 0;
    }
    for (unsigned part = 0; part < 3; part++) {
        size_t start = i;
        uint64_t value = 0;
        while (i < len && version[i] >= '0' && version[i] <= '9') {
            value = value * 10u + (uint64_t)(version[i] - '0');
            if (value > UINT32_MAX) {
                return 0;
            }
            i++;
        }
        size_t digits = i - start;
        if (digits == 0 || (digits > 1 && version[start] == '0')) {
            return 0;
        }
        if (part < 2) {
            if (i >= len || version[i] != '.') {
                return 0;
            }
            i++;
        }
    }
    return i == len;
}

/* Length of a string that must end inside an array of max + 1 chars. */
static int bounded_len(const char *s, size_t max, size_t *len)
{
    const char *nul = memchr(s, '\0', max + 1);
    if (nul == NULL) {
        return 0;
    }
    *len = (size_t)(nul - s);
    return 1;
}

int attest_component_ok(const struct nacre_attest_component *c)
{
    size_t name_len, version_len;
    return bounded_len(c->name, NACRE_ATTEST_NAME_MAX, &name_len) &&
           bounded_len(c->version, NACRE_ATTEST_VERSION_MAX, &version_len) &&
           attest_name_ok(c->name, name_len) && attest_version_ok(c->version, version_len);
}

int attest_claims_ok(const struct nacre_attest_claims *c)
{
    if (c->nonce_len < NACRE_ATTEST_NONCE_MIN || c->nonce_len > NACRE_ATTEST_NONCE_MAX ||
        c->component_count > NACRE_ATTEST_COMPONENTS_MAX) {
        return 0;
    }
    for (unsigned i = 0; i < c->component_count; i++) {
        if (!attest_component_ok(&c->components[i])) {
            return 0;
        }
    }
    return 1;
}

/* ---- the encoders --------------------------------------------------------------- */

static void put_component(struct attest_out *o, const struct nacre_attest_component *c)
{
    attest_out_map(o, 5);
    attest_out_int(o, ATTEST_COMP_NAME);
    attest_out_tstr(o, c->name, strlen(c->name));
    attest_out_int(o, ATTEST_COMP_VERSION);
    attest_out_tstr(o, c->version, strlen(c->version));
    attest_out_int(o, ATTEST_COMP_MEASUREMENT);
    attest_out_bstr(o, c->measurement, sizeof c->measurement);
    attest_out_int(o, ATTEST_COMP_SIGNER_ID);
    attest_out_bstr(o, c->signer_id, sizeof c->signer_id);
    attest_out_int(o, ATTEST_COMP_SECURITY_COUNTER);
    attest_out_uint(o, c->security_counter);
}

/*
 * The claims map. Keys go out in the bytewise order of their encodings
 * (RFC 8949 §4.2.1): 6 (0x06), 10 (0x0A), 256 (0x19 0100), 263 (0x19 0107),
 * then the negative private keys, -75000 (0x3A 000124F7) first since its
 * argument 74999 is the smallest. Callers have checked attest_claims_ok.
 */
void attest_put_claims(struct attest_out *o, const struct nacre_attest_claims *c)
{
    attest_out_map(o, c->issued_at != 0 ? 8u : 7u);
    if (c->issued_at != 0) {
        attest_out_int(o, ATTEST_CLAIM_IAT);
        attest_out_uint(o, c->issued_at);
    }
    attest_out_int(o, ATTEST_CLAIM_NONCE);
    attest_out_bstr(o, c->nonce, c->nonce_len);
    attest_out_int(o, ATTEST_CLAIM_UEID);
    attest_out_bstr(o, c->ueid, sizeof c->ueid);
    attest_out_int(o, ATTEST_CLAIM_DBGSTAT);
    attest_out_uint(o, c->debug_state);
    attest_out_int(o, ATTEST_CLAIM_LIFECYCLE);
    attest_out_uint(o, c->lifecycle);
    attest_out_int(o, ATTEST_CLAIM_BOOT_SEED);
    attest_out_bstr(o, c->boot_seed, sizeof c->boot_seed);
    attest_out_int(o, ATTEST_CLAIM_COUNTERS);
    attest_out_array(o, 2);
    attest_out_uint(o, c->security_counter);
    attest_out_uint(o, c->key_epoch);
    attest_out_int(o, ATTEST_CLAIM_COMPONENTS);
    attest_out_array(o, c->component_count);
    for (unsigned i = 0; i < c->component_count && i < NACRE_ATTEST_COMPONENTS_MAX; i++) {
        put_component(o, &c->components[i]);
    }
}

/* COSE_Key {1: kty, 3: alg, -1: crv, -2: x}: keys 0x01, 0x03, 0x20, 0x21. */
static void put_cose_key(struct attest_out *o, const void *ctx)
{
    const struct attest_cert *c = ctx;
    attest_out_map(o, 4);
    attest_out_int(o, ATTEST_KEY_KTY);
    attest_out_int(o, c->kty);
    attest_out_int(o, ATTEST_KEY_ALG);
    attest_out_int(o, c->alg);
    attest_out_int(o, ATTEST_KEY_CRV);
    attest_out_int(o, c->crv);
    attest_out_int(o, ATTEST_KEY_X);
    attest_out_bstr(o, c->alias_pk, sizeof c->alias_pk);
}

/*
 * The certificate's claims: 1 (0x01), 2 (0x02), then the Open Profile for
 * DICE keys -4670545 (0x3A 00474450), -4670551, -4670552, -4670553, in that
 * (bytewise) order.
 */
void attest_put_cert(struct attest_out *o, const struct attest_cert *c)
{
    attest_out_map(o, 6);
    attest_out_int(o, ATTEST_CERT_ISS);
    attest_out_hex(o, c->iss, sizeof c->iss);
    attest_out_int(o, ATTEST_CERT_SUB);
    attest_out_hex(o, c->sub, sizeof c->sub);
    attest_out_int(o, ATTEST_CERT_CODE_HASH);
    attest_out_bstr(o, c->code_hash, sizeof c->code_hash);
    attest_out_int(o, ATTEST_CERT_MODE);
    attest_out_bstr(o, &c->mode, 1);
    attest_out_int(o, ATTEST_CERT_SUBJECT_PK);
    attest_out_wrapped(o, put_cose_key, c);
    attest_out_int(o, ATTEST_CERT_KEY_USAGE);
    attest_out_bstr(o, &c->key_usage, 1);
}

static void put_claims_fn(struct attest_out *o, const void *ctx)
{
    attest_put_claims(o, ctx);
}

static void put_cert_fn(struct attest_out *o, const void *ctx)
{
    attest_put_cert(o, ctx);
}

static void put_alg_map(struct attest_out *o, const void *ctx)
{
    attest_out_map(o, 1);
    attest_out_int(o, ATTEST_HDR_ALG);
    attest_out_int(o, *(const int64_t *)ctx);
}

void attest_put_protected(struct attest_out *o, int64_t alg)
{
    attest_out_wrapped(o, put_alg_map, &alg);
}

/* A COSE_Sign1 up to and including the head of the payload bstr. */
static void put_sign1_head(struct attest_out *o, int64_t alg, const uint8_t kid[32],
                           size_t payload_len)
{
    attest_out_tag(o, ATTEST_TAG_COSE_SIGN1);
    attest_out_array(o, 4);
    attest_put_protected(o, alg);
    attest_out_map(o, 1);
    attest_out_int(o, ATTEST_HDR_KID);
    attest_out_bstr(o, kid, 32);
    attest_out_bstr_head(o, payload_len);
}

static void put_sign1(struct attest_out *o, int64_t alg, const uint8_t kid[32], attest_put_fn put,
                      const void *ctx, const uint8_t sig[SIG_BYTES])
{
    struct attest_out counter;
    attest_out_count(&counter);
    put(&counter, ctx);
    put_sign1_head(o, alg, kid, counter.len);
    put(o, ctx);
    attest_out_bstr(o, sig, SIG_BYTES);
}

void attest_put_token_sign1(struct attest_out *o, const struct nacre_attest_claims *claims,
                            int64_t alg, const uint8_t kid[32], const uint8_t sig[64])
{
    put_sign1(o, alg, kid, put_claims_fn, claims, sig);
}

void attest_put_cert_sign1(struct attest_out *o, const struct attest_cert *cert, int64_t alg,
                           const uint8_t kid[32], const uint8_t sig[64])
{
    put_sign1(o, alg, kid, put_cert_fn, cert, sig);
}

/* ---- signing --------------------------------------------------------------------- */

static nacre_attest_status from_pluton(nacre_pluton_status s)
{
    return s == NACRE_PLUTON_OK ? NACRE_ATTEST_OK : NACRE_ATTEST_ERR_PLUTON;
}

/* kid of a pluton key: BLAKE2b-256 of its public key (optionally the key too). */
static nacre_attest_status key_id(nacre_pluton *p, nacre_pluton_key key, uint8_t id[32],
                                  uint8_t pk_out[32])
{
    uint8_t pk[NACRE_PLUTON_PUBLICKEY_BYTES];
    nacre_attest_status st = from_pluton(nacre_pluton_key_public(p, key, pk));
    if (st == NACRE_ATTEST_OK) {
        crypto_generichash(id, 32, pk, sizeof pk, NULL, 0);
        if (pk_out != NULL) {
            memcpy(pk_out, pk, sizeof pk);
        }
    }
    return st;
}

/*
 * One COSE_Sign1 by a pluton key around put(ctx), into out (see the top of
 * the file for where the Sig_structure is built).
 */
static nacre_attest_status sign1_make(nacre_pluton *p, nacre_pluton_key key, attest_put_fn put,
                                      const void *ctx, uint8_t *out, size_t out_max,
                                      size_t *out_len)
{
    uint8_t kid[32];
    uint8_t sig[SIG_BYTES] = {0};
    uint8_t protected_hdr[8];
    struct attest_out o;

    nacre_attest_status st = key_id(p, key, kid, NULL);
    if (st != NACRE_ATTEST_OK) {
        return st;
    }

    /* The encoded protected header, {1: -8}, as the Sig_structure holds it. */
    struct attest_out ph;
    int64_t alg = ATTEST_ALG_EDDSA;
    attest_out_write(&ph, protected_hdr, sizeof protected_hdr);
    put_alg_map(&ph, &alg);
    if (!attest_out_ok(&ph)) {
        return NACRE_ATTEST_ERR_ARGUMENT; /* cannot happen: 3 bytes */
    }

    /* Lengths first: the payload, the COSE_Sign1 up to its payload, the
     * Sig_structure up to its payload, and the signature item. */
    int overflow;
    attest_out_count(&o);
    put(&o, ctx);
    size_t payload_len = o.len;
    overflow = o.overflow;
    attest_out_count(&o);
    put_sign1_head(&o, ATTEST_ALG_EDDSA, kid, payload_len);
    size_t cose_prefix = o.len;
    overflow |= o.overflow;
    attest_out_count(&o);
    attest_put_sig_structure_head(&o, protected_hdr, ph.len, payload_len);
    size_t tbs_prefix = o.len;
    overflow |= o.overflow;
    attest_out_count(&o);
    attest_out_bstr(&o, sig, sizeof sig);
    size_t sig_item = o.len;
    /* Always true for this layout (cose_prefix is 25 bytes longer); checked
     * because the in-place construction depends on it. */
    if (overflow || payload_len > SIZE_MAX / 4 || tbs_prefix > cose_prefix) {
        return NACRE_ATTEST_ERR_ARGUMENT;
    }
    size_t total = cose_prefix + payload_len + sig_item;
    if (out_max < total) {
        return NACRE_ATTEST_ERR_BUFFER_TOO_SMALL;
    }

    /* The Sig_structure, ending where the COSE_Sign1's payload ends. */
    size_t tbs_at = cose_prefix - tbs_prefix;
    size_t tbs_len = tbs_prefix + payload_len;
    attest_out_write(&o, out + tbs_at, tbs_len);
    attest_put_sig_structure_head(&o, protected_hdr, ph.len, payload_len);
    put(&o, ctx);
    if (!attest_out_ok(&o) || o.len != tbs_len) {
        return NACRE_ATTEST_ERR_BUFFER_TOO_SMALL;
    }
    st = from_pluton(nacre_pluton_sign(p, key, sig, out + tbs_at, tbs_len));
    if (st != NACRE_ATTEST_OK) {
        sodium_memzero(out, total);
        return st;
    }

    /* The COSE_Sign1's prefix over the Sig_structure's, then the signature. */
    attest_out_write(&o, out, cose_prefix);
    put_sign1_head(&o, ATTEST_ALG_EDDSA, kid, payload_len);
    struct attest_out tail;
    attest_out_write(&tail, out + cose_prefix + payload_len, total - cose_prefix - payload_len);
    attest_out_bstr(&tail, sig, sizeof sig);
    if (!attest_out_ok(&o) || o.len != cose_prefix || !attest_out_ok(&tail) ||
        cose_prefix + payload_len + tail.len != total) {
        sodium_memzero(out, total);
        return NACRE_ATTEST_ERR_BUFFER_TOO_SMALL;
    }
    *out_len = total;
    return NACRE_ATTEST_OK;
}

nacre_attest_status nacre_attest_token(nacre_pluton *p, const struct nacre_attest_claims *claims,
                                       uint8_t *out, size_t out_max, size_t *out_len)
{
    if (out_len != NULL) {
        *out_len = 0;
    }
    if (p == NULL || claims == NULL || out == NULL || out_len == NULL || !attest_claims_ok(claims)) {
        return NACRE_ATTEST_ERR_ARGUMENT;
    }
    return sign1_make(p, NACRE_PLUTON_KEY_ALIAS, put_claims_fn, claims, out, out_max, out_len);
}

nacre_attest_status nacre_attest_dice_cert(nacre_pluton *p, uint8_t *out, size_t out_max,
                                           size_t *out_len)
{
    struct attest_cert cert;
    if (out_len != NULL) {
        *out_len = 0;
    }
    if (p == NULL || out == NULL || out_len == NULL) {
        return NACRE_ATTEST_ERR_ARGUMENT;
    }
    memset(&cert, 0, sizeof cert);
    nacre_attest_status st = key_id(p, NACRE_PLUTON_KEY_DEVICE_ID, cert.iss, NULL);
    if (st == NACRE_ATTEST_OK) {
        st = key_id(p, NACRE_PLUTON_KEY_ALIAS, cert.sub, cert.alias_pk);
    }
    if (st == NACRE_ATTEST_OK) {
        st = from_pluton(nacre_pluton_measure_read(p, NACRE_PLUTON_BOOT_REGISTER, cert.code_hash));
    }
    if (st != NACRE_ATTEST_OK) {
        return st;
    }
    cert.mode = nacre_pluton_lifecycle_get(p) == NACRE_PLUTON_LIFECYCLE_SECURED ? ATTEST_MODE_NORMAL
                                                                                : ATTEST_MODE_DEBUG;
    cert.kty = ATTEST_KTY_OKP;
    cert.alg = ATTEST_ALG_EDDSA;
    cert.crv = ATTEST_CRV_ED25519;
    cert.key_usage = ATTEST_KEY_USAGE_SIGN;
    return sign1_make(p, NACRE_PLUTON_KEY_DEVICE_ID, put_cert_fn, &cert, out, out_max, out_len);
}

nacre_attest_status nacre_attest_evidence(nacre_pluton *p, const struct nacre_attest_claims *claims,
                                          uint8_t *out, size_t out_max, size_t *out_len)
{
    struct attest_out o;
    size_t cert_len = 0, token_len = 0;
    if (out_len != NULL) {
        *out_len = 0;
    }
    if (p == NULL || claims == NULL || out == NULL || out_len == NULL || !attest_claims_ok(claims)) {
        return NACRE_ATTEST_ERR_ARGUMENT;
    }
    attest_out_write(&o, out, out_max);
    attest_out_array(&o, 2);
    if (!attest_out_ok(&o)) {
        return NACRE_ATTEST_ERR_BUFFER_TOO_SMALL;
    }
    nacre_attest_status st = nacre_attest_dice_cert(p, out + o.len, out_max - o.len, &cert_len);
    if (st == NACRE_ATTEST_OK) {
        st = nacre_attest_token(p, claims, out + o.len + cert_len, out_max - o.len - cert_len,
                                &token_len);
    }
    if (st != NACRE_ATTEST_OK) {
        return st;
    }
    *out_len = o.len + cert_len + token_len;
    return NACRE_ATTEST_OK;
}
