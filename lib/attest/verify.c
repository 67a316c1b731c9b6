/*
 * verify.c - the evidence verifier.
 *
 * Three passes over the input, none of which allocates:
 *
 *  1. Decode strictly into C structs: the outer array, both COSE_Sign1s
 *     (cose.c), the certificate's claims, the token's claims. Definite
 *     lengths only; a claim that is unknown, of the wrong type or out of
 *     range is FAIL_CLAIMS; anything that is not CBOR of the expected shape
 *     is FAIL_FORMAT.
 *  2. Re-encode the structs with the signer's own encoders (evidence.c) in
 *     COMPARE mode against the input. Anything not byte-identical is
 *     FAIL_FORMAT: non-shortest integers and lengths, unsorted or duplicate
 *     keys, indefinite lengths, extra items, a missing or different tag. So
 *     evidence has exactly one valid encoding, and what was checked is
 *     exactly what was signed.
 *  3. The checks: chain, signatures, binding, nonce, reference values,
 *     counters, lifecycle. They go on after a failure wherever their inputs
 *     were decoded, so result->failures lists every reason found.
 *
 * NACRE_ATTEST_OK is returned only when no failure bit is set AND every
 * check actually ran with a positive outcome (the last guard in
 * nacre_attest_verify), so a skipped check can never read as a pass.
 */
#include <string.h>

#include <sodium.h>

#include "attest_priv.h"

/* Room for either Sig_structure: never longer than the evidence itself. */
#define SCRATCH_BYTES (NACRE_ATTEST_EVIDENCE_MAX + 32u)

/* Claims that must be present (bit = index in claim_index). */
enum {
    CLAIM_IAT,
    CLAIM_NONCE,
    CLAIM_UEID,
    CLAIM_DBGSTAT,
    CLAIM_LIFECYCLE,
    CLAIM_BOOT_SEED,
    CLAIM_COUNTERS,
    CLAIM_COMPONENTS,
    CLAIM_COUNT
};
#define CLAIMS_REQUIRED (((1u << CLAIM_COUNT) - 1u) & ~(1u << CLAIM_IAT))

enum { CERT_ISS, CERT_SUB, CERT_CODE_HASH, CERT_MODE, CERT_SUBJECT_PK, CERT_KEY_USAGE, CERT_COUNT };
#define CERT_REQUIRED ((1u << CERT_COUNT) - 1u)

/* ---- small typed readers over one item (a sub-range holding exactly it) ---- */

static int get_uint(struct attest_in *v, uint64_t max, uint64_t *out)
{
    struct attest_item it;
    if (!attest_in_next(v, &it) || it.kind != ATTEST_CBOR_UINT || it.value > max) {
        return 0;
    }
    *out = it.value;
    return 1;
}

static int get_bstr(struct attest_in *v, const uint8_t **data, size_t *len)
{
    struct attest_item it;
    if (!attest_in_next(v, &it) || it.kind != ATTEST_CBOR_BSTR || it.indefinite) {
        return 0;
    }
    *data = it.data;
    *len = it.len;
    return 1;
}

static int get_bstr_exact(struct attest_in *v, uint8_t *out, size_t len)
{
    const uint8_t *data;
    size_t n;
    if (!get_bstr(v, &data, &n) || n != len) {
        return 0;
    }
    memcpy(out, data, len);
    return 1;
}

static int get_tstr(struct attest_in *v, const uint8_t **data, size_t *len)
{
    struct attest_item it;
    if (!attest_in_next(v, &it) || it.kind != ATTEST_CBOR_TSTR || it.indefinite) {
        return 0;
    }
    *data = it.data;
    *len = it.len;
    return 1;
}

/* 64 lowercase hex digits (the one spelling the signer writes). */
static int get_hex32(struct attest_in *v, uint8_t out[32])
{
    const uint8_t *t;
    size_t n;
    if (!get_tstr(v, &t, &n) || n != 64) {
        return 0;
    }
    for (size_t i = 0; i < 64; i++) {
        uint8_t c = t[i];
        unsigned d;
        if (c >= '0' && c <= '9') {
            d = (unsigned)(c - '0');
        } else if (c >= 'a' && c <= 'f') {
            d = (unsigned)(c - 'a' + 10);
        } else {
            return 0;
        }
        if (i % 2 == 0) {
            out[i / 2] = (uint8_t)(d << 4);
        } else {
            out[i / 2] |= (uint8_t)d;
        }
    }
    return 1;
}

/*
 * Walks a map whose values are decoded one by one. For each entry, *key and
 * a reader over exactly the value are handed to the caller; non-integer keys
 * come back with key_ok = 0. Returns 0 (FAIL_FORMAT) if the map is not
 * well-formed strict CBOR filling [buf, buf+len).
 */
struct map_walk {
    struct attest_in in;
    uint64_t count, i;
};

static int walk_start(struct map_walk *w, const uint8_t *buf, size_t len)
{
    struct attest_item it;
    attest_in_init(&w->in, buf, len);
    w->i = 0;
    if (!attest_in_next(&w->in, &it) || it.kind != ATTEST_CBOR_MAP || it.indefinite ||
        it.value > len) {
        return 0;
    }
    w->count = it.value;
    return 1;
}

/* 1: an entry came out; 0: end of map (*format set if malformed). */
static int walk_next(struct map_walk *w, int *key_ok, int64_t *key, struct attest_in *value,
                     int *format)
{
    if (w->i >= w->count) {
        if (w->in.pos != w->in.len) {
            *format = 1; /* bytes after the map */
        }
        return 0;
    }
    w->i++;
    size_t key_at = w->in.pos;
    if (!attest_in_skip(&w->in, 1)) {
        *format = 1;
        return 0;
    }
    struct attest_in k;
    attest_in_init(&k, w->in.buf + key_at, w->in.pos - key_at);
    *key_ok = attest_in_int(&k, key) && k.pos == k.len;
    size_t value_at = w->in.pos;
    if (!attest_in_skip(&w->in, 1)) {
        *format = 1;
        return 0;
    }
    attest_in_init(value, w->in.buf + value_at, w->in.pos - value_at);
    return 1;
}

/* ---- the token's claims --------------------------------------------------------- */

static int claim_index(int64_t key)
{
    switch (key) {
    case ATTEST_CLAIM_IAT:
        return CLAIM_IAT;
    case ATTEST_CLAIM_NONCE:
        return CLAIM_NONCE;
    case ATTEST_CLAIM_UEID:
        return CLAIM_UEID;
    case ATTEST_CLAIM_DBGSTAT:
        return CLAIM_DBGSTAT;
    case ATTEST_CLAIM_LIFECYCLE:
        return CLAIM_LIFECYCLE;
    case ATTEST_CLAIM_BOOT_SEED:
        return CLAIM_BOOT_SEED;
    case ATTEST_CLAIM_COUNTERS:
        return CLAIM_COUNTERS;
    case ATTEST_CLAIM_COMPONENTS:
        return CLAIM_COMPONENTS;
    default:
        return -1;
    }
}

static int get_text(struct attest_in *v, char *out, size_t max, int (*ok)(const char *, size_t))
{
    const uint8_t *t;
    size_t n;
    if (!get_tstr(v, &t, &n) || n > max) {
        return 0;
    }
    memcpy(out, t, n);
    out[n] = '\0';
    /* A NUL inside the text would make the C string shorter than the claim. */
    return memchr(t, '\0', n) == NULL && ok(out, n);
}

static int get_component(struct attest_in *v, struct nacre_attest_component *c)
{
    struct map_walk w;
    int key_ok, format = 0;
    int64_t key;
    struct attest_in value;
    unsigned seen = 0;
    uint64_t u = 0;
    if (!walk_start(&w, v->buf + v->pos, v->len - v->pos)) {
        return 0;
    }
    while (walk_next(&w, &key_ok, &key, &value, &format)) {
        if (!key_ok || key < ATTEST_COMP_NAME || key > ATTEST_COMP_SECURITY_COUNTER ||
            (seen & (1u << key)) != 0) {
            return 0;
        }
        seen |= 1u << key;
        int ok = 0;
        switch (key) {
        case ATTEST_COMP_NAME:
            ok = get_text(&value, c->name, NACRE_ATTEST_NAME_MAX, attest_name_ok);
            break;
        case ATTEST_COMP_VERSION:
            ok = get_text(&value, c->version, NACRE_ATTEST_VERSION_MAX, attest_version_ok);
            break;
        case ATTEST_COMP_MEASUREMENT:
            ok = get_bstr_exact(&value, c->measurement, sizeof c->measurement);
            break;
        case ATTEST_COMP_SIGNER_ID:
            ok = get_bstr_exact(&value, c->signer_id, sizeof c->signer_id);
            break;
        default:
            ok = get_uint(&value, UINT32_MAX, &u);
            c->security_counter = (uint32_t)u;
            break;
        }
        if (!ok) {
            return 0;
        }
    }
    v->pos = v->len;
    return !format && seen == 0x3Eu; /* keys 1..5 */
}

static int get_claim(int index, struct attest_in *v, struct nacre_attest_claims *c)
{
    struct attest_item it;
    const uint8_t *data;
    uint64_t u = 0;
    switch (index) {
    case CLAIM_IAT:
        return get_uint(v, UINT64_MAX, &c->issued_at);
    case CLAIM_NONCE:
        if (!get_bstr(v, &data, &c->nonce_len) || c->nonce_len < NACRE_ATTEST_NONCE_MIN ||
            c->nonce_len > NACRE_ATTEST_NONCE_MAX) {
            c->nonce_len = 0;
            return 0;
        }
        memcpy(c->nonce, data, c->nonce_len);
        return 1;
    case CLAIM_UEID:
        return get_bstr_exact(v, c->ueid, sizeof c->ueid);
    case CLAIM_DBGSTAT:
        /* Nacre devices say 0 (debug open) or 3 (locked for good). */
        if (!get_uint(v, ATTEST_DBGSTAT_DISABLED_PERMANENTLY, &u) ||
            (u != ATTEST_DBGSTAT_ENABLED && u != ATTEST_DBGSTAT_DISABLED_PERMANENTLY)) {
            return 0;
        }
        c->debug_state = (unsigned)u;
        return 1;
    case CLAIM_LIFECYCLE:
        /* A BLANK device cannot boot, so it cannot attest. */
        if (!get_uint(v, NACRE_PLUTON_LIFECYCLE_SECURED, &u) ||
            u < NACRE_PLUTON_LIFECYCLE_PROVISIONED) {
            return 0;
        }
        c->lifecycle = (unsigned)u;
        return 1;
    case CLAIM_BOOT_SEED:
        return get_bstr_exact(v, c->boot_seed, sizeof c->boot_seed);
    case CLAIM_COUNTERS: {
        uint64_t a, b;
        if (!attest_in_next(v, &it) || it.kind != ATTEST_CBOR_ARRAY || it.indefinite || it.value != 2 ||
            !get_uint(v, UINT32_MAX, &a) || !get_uint(v, UINT32_MAX, &b)) {
            return 0;
        }
        c->security_counter = (uint32_t)a;
        c->key_epoch = (uint32_t)b;
        return 1;
    }
    case CLAIM_COMPONENTS:
        if (!attest_in_next(v, &it) || it.kind != ATTEST_CBOR_ARRAY || it.indefinite ||
            it.value > NACRE_ATTEST_COMPONENTS_MAX) {
            return 0;
        }
        for (uint64_t i = 0; i < it.value; i++) {
            size_t at = v->pos;
            if (!attest_in_skip(v, 1)) {
                return 0;
            }
            struct attest_in one;
            attest_in_init(&one, v->buf + at, v->pos - at);
            if (!get_component(&one, &c->components[i])) {
                return 0;
            }
        }
        c->component_count = (unsigned)it.value;
        return 1;
    default:
        return 0;
    }
}

/* Failure bits of decoding the token payload (0: every claim decoded). */
static uint32_t decode_claims(const uint8_t *buf, size_t len, struct nacre_attest_claims *c)
{
    struct map_walk w;
    int key_ok, format = 0;
    int64_t key;
    struct attest_in value;
    unsigned seen = 0;
    uint32_t fails = 0;
    memset(c, 0, sizeof *c);
    if (!walk_start(&w, buf, len)) {
        return NACRE_ATTEST_FAIL_FORMAT;
    }
    while (walk_next(&w, &key_ok, &key, &value, &format)) {
        int index = key_ok ? claim_index(key) : -1;
        if (index < 0) {
            fails |= NACRE_ATTEST_FAIL_CLAIMS; /* unknown claim */
            continue;
        }
        if ((seen & (1u << index)) != 0) {
            return fails | NACRE_ATTEST_FAIL_FORMAT; /* duplicate key */
        }
        seen |= 1u << index;
        if (!get_claim(index, &value, c) || value.pos != value.len) {
            fails |= NACRE_ATTEST_FAIL_CLAIMS;
        }
    }
    if (format) {
        return fails | NACRE_ATTEST_FAIL_FORMAT;
    }
    if ((seen & CLAIMS_REQUIRED) != CLAIMS_REQUIRED) {
        fails |= NACRE_ATTEST_FAIL_CLAIMS; /* a claim missing */
    }
    return fails;
}

/* ---- the certificate's claims --------------------------------------------------- */

/* The COSE_Key inside subjectPublicKey. *alg_ok: an Ed25519 EdDSA key. */
static uint32_t decode_cose_key(const uint8_t *buf, size_t len, struct attest_cert *c, int *alg_ok)
{
    struct map_walk w;
    int key_ok, format = 0;
    int64_t key;
    struct attest_in value;
    unsigned seen = 0;
    uint32_t fails = 0;
    *alg_ok = 0;
    if (!walk_start(&w, buf, len)) {
        return NACRE_ATTEST_FAIL_FORMAT;
    }
    while (walk_next(&w, &key_ok, &key, &value, &format)) {
        unsigned bit;
        int64_t *field = NULL;
        if (key_ok && key == ATTEST_KEY_KTY) {
            bit = 0;
            field = &c->kty;
        } else if (key_ok && key == ATTEST_KEY_ALG) {
            bit = 1;
            field = &c->alg;
        } else if (key_ok && key == ATTEST_KEY_CRV) {
            bit = 2;
            field = &c->crv;
        } else if (key_ok && key == ATTEST_KEY_X) {
            bit = 3;
        } else {
            fails |= NACRE_ATTEST_FAIL_CLAIMS;
            continue;
        }
        if ((seen & (1u << bit)) != 0) {
            return fails | NACRE_ATTEST_FAIL_FORMAT;
        }
        seen |= 1u << bit;
        int ok = field != NULL ? attest_in_int(&value, field)
                               : get_bstr_exact(&value, c->alias_pk, sizeof c->alias_pk);
        if (!ok || value.pos != value.len) {
            fails |= NACRE_ATTEST_FAIL_CLAIMS;
        }
    }
    if (format) {
        return fails | NACRE_ATTEST_FAIL_FORMAT;
    }
    if (seen != 0x0Fu) {
        return fails | NACRE_ATTEST_FAIL_CLAIMS;
    }
    *alg_ok = c->kty == ATTEST_KTY_OKP && c->alg == ATTEST_ALG_EDDSA && c->crv == ATTEST_CRV_ED25519;
    return fails;
}

static int cert_index(int64_t key)
{
    switch (key) {
    case ATTEST_CERT_ISS:
        return CERT_ISS;
    case ATTEST_CERT_SUB:
        return CERT_SUB;
    case ATTEST_CERT_CODE_HASH:
        return CERT_CODE_HASH;
    case ATTEST_CERT_MODE:
        return CERT_MODE;
    case ATTEST_CERT_SUBJECT_PK:
        return CERT_SUBJECT_PK;
    case ATTEST_CERT_KEY_USAGE:
        return CERT_KEY_USAGE;
    default:
        return -1;
    }
}

static uint32_t decode_cert(const uint8_t *buf, size_t len, struct attest_cert *c, int *key_alg_ok)
{
    struct map_walk w;
    int key_ok, format = 0;
    int64_t key;
    struct attest_in value;
    unsigned seen = 0;
    uint32_t fails = 0;
    memset(c, 0, sizeof *c);
    *key_alg_ok = 0;
    if (!walk_start(&w, buf, len)) {
        return NACRE_ATTEST_FAIL_FORMAT;
    }
    while (walk_next(&w, &key_ok, &key, &value, &format)) {
        int index = key_ok ? cert_index(key) : -1;
        if (index < 0) {
            fails |= NACRE_ATTEST_FAIL_CLAIMS;
            continue;
        }
        if ((seen & (1u << index)) != 0) {
            return fails | NACRE_ATTEST_FAIL_FORMAT;
        }
        seen |= 1u << index;
        int ok = 0;
        const uint8_t *data;
        size_t n;
        switch (index) {
        case CERT_ISS:
            ok = get_hex32(&value, c->iss);
            break;
        case CERT_SUB:
            ok = get_hex32(&value, c->sub);
            break;
        case CERT_CODE_HASH:
            ok = get_bstr_exact(&value, c->code_hash, sizeof c->code_hash);
            break;
        case CERT_MODE:
            ok = get_bstr_exact(&value, &c->mode, 1) &&
                 (c->mode == ATTEST_MODE_NORMAL || c->mode == ATTEST_MODE_DEBUG);
            break;
        case CERT_SUBJECT_PK:
            if (get_bstr(&value, &data, &n)) {
                uint32_t f = decode_cose_key(data, n, c, key_alg_ok);
                fails |= f;
                ok = (f & (NACRE_ATTEST_FAIL_FORMAT | NACRE_ATTEST_FAIL_CLAIMS)) == 0;
                if (!*key_alg_ok && ok) {
                    fails |= NACRE_ATTEST_FAIL_ALGORITHM; /* not an Ed25519 EdDSA key */
                }
            }
            break;
        default:
            ok = get_bstr_exact(&value, &c->key_usage, 1) && c->key_usage == ATTEST_KEY_USAGE_SIGN;
            break;
        }
        if (!ok || value.pos != value.len) {
            fails |= NACRE_ATTEST_FAIL_CLAIMS;
        }
    }
    if (format) {
        return fails | NACRE_ATTEST_FAIL_FORMAT;
    }
    if (seen != CERT_REQUIRED) {
        fails |= NACRE_ATTEST_FAIL_CLAIMS;
    }
    return fails;
}

/* ---- the verifier ------------------------------------------------------------------ */

static int policy_ok(const struct nacre_attest_policy *policy)
{
    if (policy == NULL || policy->device_id_pk == NULL || policy->refs == NULL ||
        policy->ref_count == 0) {
        return 0;
    }
    if (policy->nonce == NULL) {
        return policy->nonce_store != NULL;
    }
    return policy->nonce_len >= NACRE_ATTEST_NONCE_MIN && policy->nonce_len <= NACRE_ATTEST_NONCE_MAX;
}

static void hash32(uint8_t out[32], const uint8_t *in, size_t len)
{
    crypto_generichash(out, 32, in, len, NULL, 0);
}

/* Does the re-encoding of a COSE_Sign1 equal its bytes in the input? */
static int sign1_canonical(const uint8_t *evidence, const struct attest_sign1 *s,
                           const struct nacre_attest_claims *claims, const struct attest_cert *cert)
{
    struct attest_out o;
    attest_out_compare(&o, evidence + s->start, s->end - s->start);
    if (claims != NULL) {
        attest_put_token_sign1(&o, claims, s->alg, s->kid, s->sig);
    } else {
        attest_put_cert_sign1(&o, cert, s->alg, s->kid, s->sig);
    }
    return attest_out_ok(&o);
}

static int ref_matches(const struct nacre_attest_ref *r, const struct nacre_attest_component *c)
{
    /* Bounded: a reference string need not be terminated by the caller. */
    return strncmp(r->name, c->name, sizeof r->name) == 0 &&
           strncmp(r->version, c->version, sizeof r->version) == 0 &&
           memcmp(r->measurement, c->measurement, sizeof r->measurement) == 0 &&
           memcmp(r->signer_id, c->signer_id, sizeof r->signer_id) == 0;
}

/* Each component against the reference values; 0 components is a binding
 * failure (checked with the code hash). */
static uint32_t check_components(const struct nacre_attest_claims *c,
                                 const struct nacre_attest_policy *policy)
{
    uint32_t fails = 0;
    for (unsigned i = 0; i < c->component_count; i++) {
        int matched = 0, counter_ok = 0;
        for (size_t j = 0; j < policy->ref_count; j++) {
            if (ref_matches(&policy->refs[j], &c->components[i])) {
                matched = 1;
                if (c->components[i].security_counter >= policy->refs[j].security_counter) {
                    counter_ok = 1;
                }
            }
        }
        if (!matched) {
            fails |= NACRE_ATTEST_FAIL_MEASUREMENT;
        } else if (!counter_ok) {
            fails |= NACRE_ATTEST_FAIL_COUNTER;
        }
    }
    if (c->security_counter < policy->min_security_counter) {
        fails |= NACRE_ATTEST_FAIL_COUNTER;
    }
    return fails;
}

/* Token and certificate describe the same boot of the same device. */
static uint32_t check_binding(const struct nacre_attest_claims *c, const struct attest_cert *cert,
                              int cert_ok, const uint8_t device_id[32])
{
    uint32_t fails = 0;
    if (c->ueid[0] != 0x01u || memcmp(c->ueid + 1, device_id, 32) != 0) {
        fails |= NACRE_ATTEST_FAIL_BINDING;
    }
    if (!cert_ok) {
        return fails;
    }
    int secured = c->lifecycle == NACRE_PLUTON_LIFECYCLE_SECURED;
    if (cert->mode != (secured ? ATTEST_MODE_NORMAL : ATTEST_MODE_DEBUG) ||
        c->debug_state != (secured ? ATTEST_DBGSTAT_DISABLED_PERMANENTLY : ATTEST_DBGSTAT_ENABLED)) {
        fails |= NACRE_ATTEST_FAIL_BINDING;
    }
    /* The boot stage extends R0 once, from zero, with the booted image's
     * measurement: the first component. */
    if (c->component_count == 0) {
        fails |= NACRE_ATTEST_FAIL_BINDING;
    } else {
        uint8_t cat[64], r0[32];
        memset(cat, 0, 32);
        memcpy(cat + 32, c->components[0].measurement, 32);
        hash32(r0, cat, sizeof cat);
        if (memcmp(r0, cert->code_hash, 32) != 0) {
            fails |= NACRE_ATTEST_FAIL_BINDING;
        }
    }
    return fails;
}

static uint32_t nonce_failure(nacre_attest_status st)
{
    switch (st) {
    case NACRE_ATTEST_OK:
        return 0;
    case NACRE_ATTEST_ERR_NONCE_REUSED:
        return NACRE_ATTEST_FAIL_NONCE_REUSED;
    case NACRE_ATTEST_ERR_NONCE_EXPIRED:
        return NACRE_ATTEST_FAIL_NONCE_EXPIRED;
    default:
        return NACRE_ATTEST_FAIL_NONCE;
    }
}

nacre_attest_status nacre_attest_verify(const uint8_t *evidence, size_t evidence_len,
                                        const struct nacre_attest_policy *policy,
                                        struct nacre_attest_result *result)
{
    struct attest_in in;
    struct attest_item it;
    struct attest_sign1 cert_s, token_s;
    struct attest_cert cert;
    uint8_t device_id[32], alias_id[32];
    uint8_t scratch[SCRATCH_BYTES];
    uint32_t fails = 0;

    if (result == NULL) {
        return NACRE_ATTEST_ERR_ARGUMENT;
    }
    memset(result, 0, sizeof *result);
    memset(&cert_s, 0, sizeof cert_s);
    memset(&token_s, 0, sizeof token_s);
    if (evidence == NULL || !policy_ok(policy)) {
        return NACRE_ATTEST_ERR_ARGUMENT;
    }

    /* ---- 1. structure ---- */
    if (evidence_len > NACRE_ATTEST_EVIDENCE_MAX) {
        result->failures = NACRE_ATTEST_FAIL_FORMAT;
        return NACRE_ATTEST_ERR_REFUSED;
    }
    attest_in_init(&in, evidence, evidence_len);
    nacre_attest_status cert_st = NACRE_ATTEST_ERR_COSE, token_st = NACRE_ATTEST_ERR_COSE;
    if (attest_in_next(&in, &it) && it.kind == ATTEST_CBOR_ARRAY && !it.indefinite && it.value == 2) {
        cert_st = attest_sign1_parse(&in, &cert_s, 1);
        if (cert_st != NACRE_ATTEST_ERR_COSE) {
            token_st = attest_sign1_parse(&in, &token_s, 1);
        }
    }
    /* Without the envelope nothing else can be located: stop here. */
    if (cert_st == NACRE_ATTEST_ERR_COSE || token_st == NACRE_ATTEST_ERR_COSE ||
        in.pos != evidence_len || cert_s.kid == NULL || cert_s.kid_len != 32 ||
        token_s.kid == NULL || token_s.kid_len != 32 || !cert_s.tagged || !token_s.tagged) {
        result->failures = NACRE_ATTEST_FAIL_FORMAT;
        return NACRE_ATTEST_ERR_REFUSED;
    }
    if (cert_st != NACRE_ATTEST_OK || token_st != NACRE_ATTEST_OK) {
        fails |= NACRE_ATTEST_FAIL_ALGORITHM;
    }

    int cert_key_ok = 0;
    uint32_t cert_fails = decode_cert(cert_s.payload, cert_s.payload_len, &cert, &cert_key_ok);
    uint32_t claims_fails = decode_claims(token_s.payload, token_s.payload_len, &result->claims);
    fails |= cert_fails | claims_fails;
    int cert_ok = (cert_fails & (NACRE_ATTEST_FAIL_FORMAT | NACRE_ATTEST_FAIL_CLAIMS)) == 0;
    int claims_ok = claims_fails == 0;

    /* ---- 2. one encoding only ---- */
    struct attest_out o;
    attest_out_compare(&o, evidence, cert_s.start);
    attest_out_array(&o, 2);
    int head_same = attest_out_ok(&o);
    /* Each COSE_Sign1 is compared when its payload decoded: -1 = not compared
     * (its failure is already recorded), 0 = differs, 1 = identical. */
    int cert_same = cert_ok && cert_s.alg_is_int ? sign1_canonical(evidence, &cert_s, NULL, &cert) : -1;
    int token_same = claims_ok && token_s.alg_is_int
                         ? sign1_canonical(evidence, &token_s, &result->claims, NULL)
                         : -1;
    if (!head_same || cert_same == 0 || token_same == 0) {
        fails |= NACRE_ATTEST_FAIL_FORMAT;
    }
    int canonical = head_same && cert_same == 1 && token_same == 1;

    /* ---- 3a. chain: DeviceID -> Alias certificate -> token ---- */
    hash32(device_id, policy->device_id_pk, 32);
    if (memcmp(cert_s.kid, device_id, 32) != 0 || (cert_ok && memcmp(cert.iss, device_id, 32) != 0)) {
        fails |= NACRE_ATTEST_FAIL_UNKNOWN_DEVICE;
    }
    int cert_auth = 0, token_auth = 0;
    if (cert_st == NACRE_ATTEST_OK) {
        if (attest_sign1_check(&cert_s, policy->device_id_pk, scratch, sizeof scratch) ==
            NACRE_ATTEST_OK) {
            cert_auth = 1;
        } else {
            fails |= NACRE_ATTEST_FAIL_CHAIN;
        }
    }
    if (cert_ok && cert_key_ok) {
        hash32(alias_id, cert.alias_pk, 32);
        if (memcmp(alias_id, cert.sub, 32) != 0) {
            fails |= NACRE_ATTEST_FAIL_CHAIN; /* the certificate names another subject */
            cert_auth = 0;
        }
        if (memcmp(token_s.kid, alias_id, 32) != 0) {
            fails |= NACRE_ATTEST_FAIL_SIGNATURE; /* the token names another signer */
        }
        if (token_st == NACRE_ATTEST_OK) {
            if (attest_sign1_check(&token_s, cert.alias_pk, scratch, sizeof scratch) ==
                NACRE_ATTEST_OK) {
                token_auth = 1;
            } else {
                fails |= NACRE_ATTEST_FAIL_SIGNATURE;
            }
        }
        memcpy(result->alias_pk, cert.alias_pk, 32);
    }
    if (cert_ok) {
        memcpy(result->code_hash, cert.code_hash, 32);
    }

    int authentic = cert_auth && token_auth &&
                    (fails & (NACRE_ATTEST_FAIL_FORMAT | NACRE_ATTEST_FAIL_ALGORITHM |
                              NACRE_ATTEST_FAIL_UNKNOWN_DEVICE | NACRE_ATTEST_FAIL_CHAIN |
                              NACRE_ATTEST_FAIL_SIGNATURE)) == 0;

    /* ---- 3b. what the token says ---- */
    if (claims_ok) {
        const struct nacre_attest_claims *c = &result->claims;
        result->claims_valid = 1;
        fails |= check_binding(c, &cert, cert_ok, device_id);
        if (policy->nonce != NULL &&
            (c->nonce_len != policy->nonce_len ||
             sodium_memcmp(c->nonce, policy->nonce, policy->nonce_len) != 0)) {
            fails |= NACRE_ATTEST_FAIL_NONCE;
        }
        if (policy->nonce_store != NULL) {
            /* Only authentic evidence uses the nonce up: anyone who saw a
             * challenge go by could otherwise burn it with garbage. */
            fails |= nonce_failure(attest_nonce_lookup(policy->nonce_store, c->nonce, c->nonce_len,
                                                       policy->now, authentic));
        }
        fails |= check_components(c, policy);
        if (policy->require_secured &&
            (c->lifecycle != NACRE_PLUTON_LIFECYCLE_SECURED ||
             c->debug_state != ATTEST_DBGSTAT_DISABLED_PERMANENTLY)) {
            fails |= NACRE_ATTEST_FAIL_LIFECYCLE;
        }
    } else {
        memset(&result->claims, 0, sizeof result->claims);
    }

    /* A pass needs every step to have run and succeeded, not just no bit. */
    if (fails == 0 && !(authentic && canonical && claims_ok && cert_ok)) {
        fails = NACRE_ATTEST_FAIL_FORMAT;
    }
    result->failures = fails;
    return fails == 0 ? NACRE_ATTEST_OK : NACRE_ATTEST_ERR_REFUSED;
}
