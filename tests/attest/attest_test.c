#include "attest_test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cbor.h>
#include <sodium.h>

static const struct nacre_update_config att_cfg = {ATT_COMPONENT, 3};

static void fail(const char *what, const char *why)
{
    fprintf(stderr, "attest test support: %s: %s\n", what, why);
    abort();
}

static void must_pluton(nacre_pluton_status s, const char *what)
{
    if (s != NACRE_PLUTON_OK) {
        fail(what, nacre_pluton_strerror(s));
    }
}

static void must_update(nacre_update_status s, const char *what)
{
    if (s != NACRE_UPDATE_OK) {
        fail(what, nacre_update_strerror(s));
    }
}

static void must_attest(nacre_attest_status s, const char *what)
{
    if (s != NACRE_ATTEST_OK) {
        fail(what, nacre_attest_strerror(s));
    }
}

void att_hash(uint8_t out[32], const uint8_t *in, size_t len)
{
    crypto_generichash(out, 32, in, len, NULL, 0);
}

void att_device_new(struct att_device *a, const char *tag, const uint8_t *seed, uint8_t key_tag,
                    const char *version, uint32_t counter, uint8_t fill, int secure)
{
    memset(a, 0, sizeof *a);
    upd_keys_make(&a->keys, key_tag, 1);
    nacre_test_device_new(&a->d, tag, seed, 0);
    must_pluton(nacre_pluton_provision(a->d.p, a->keys.root_hash), "provision");
    if (secure) {
        must_pluton(nacre_pluton_secure(a->d.p), "secure");
    }
    size_t len;
    uint8_t *img = upd_image(&len, &a->keys, 1, ATT_COMPONENT, version, counter, 4096, fill);
    must_update(upd_install(&a->d, img, len, 1024, &att_cfg), "install");
    free(img);
    must_update(upd_boot(&a->d, &att_cfg, &a->boot), "trial boot");
    must_update(upd_confirm(&a->d, &att_cfg), "confirm");
    must_update(upd_boot(&a->d, &att_cfg, &a->boot), "boot");
    if (a->boot.reason != NACRE_BOOT_CONFIRMED) {
        fail("boot", "not the confirmed image");
    }

    const struct nacre_image_info *im = &a->boot.image;
    snprintf(a->comp.name, sizeof a->comp.name, "%s", im->component);
    snprintf(a->comp.version, sizeof a->comp.version, "%u.%u.%u", (unsigned)im->version.major,
             (unsigned)im->version.minor, (unsigned)im->version.patch);
    memcpy(a->comp.measurement, im->measurement, 32);
    memcpy(a->comp.signer_id, im->signer_key_id, 32);
    a->comp.security_counter = im->security_counter;

    memcpy(a->ref.name, a->comp.name, sizeof a->ref.name);
    memcpy(a->ref.version, a->comp.version, sizeof a->ref.version);
    memcpy(a->ref.measurement, a->comp.measurement, 32);
    memcpy(a->ref.signer_id, a->comp.signer_id, 32);
    a->ref.security_counter = a->comp.security_counter;

    must_pluton(nacre_pluton_key_public(a->d.p, NACRE_PLUTON_KEY_DEVICE_ID, a->device_pk), "DeviceID");
    must_pluton(nacre_pluton_key_public(a->d.p, NACRE_PLUTON_KEY_ALIAS, a->alias_pk), "Alias");
    must_pluton(nacre_pluton_measure_read(a->d.p, 0, a->r0), "R0");
}

void att_device_free(struct att_device *a)
{
    nacre_test_device_free(&a->d);
}

void att_claims(struct att_device *a, struct nacre_attest_claims *c, const uint8_t *nonce,
                size_t nonce_len, uint64_t issued_at)
{
    must_attest(nacre_attest_claims_init(c, a->d.p, nonce, nonce_len, issued_at), "claims_init");
    must_attest(nacre_attest_claims_add_component(c, &a->comp), "add_component");
}

size_t att_evidence(struct att_device *a, const uint8_t *nonce, size_t nonce_len,
                    uint64_t issued_at, uint8_t *out, size_t out_max)
{
    struct nacre_attest_claims c;
    size_t len = 0;
    att_claims(a, &c, nonce, nonce_len, issued_at);
    must_attest(nacre_attest_evidence(a->d.p, &c, out, out_max, &len), "evidence");
    return len;
}

void att_policy(struct nacre_attest_policy *pol, const struct att_device *a, const uint8_t *nonce,
                size_t nonce_len)
{
    memset(pol, 0, sizeof *pol);
    pol->device_id_pk = a->device_pk;
    pol->nonce = nonce;
    pol->nonce_len = nonce_len;
    pol->refs = &a->ref;
    pol->ref_count = 1;
}

/* Length of the CBOR item at p (only what evidence holds: definite items). */
static size_t item_len(const uint8_t *p, size_t max)
{
    size_t len = 0;
    size_t pending = 1;
    while (pending > 0) {
        if (len >= max) {
            fail("split", "truncated");
        }
        uint8_t ib = p[len];
        unsigned major = ib >> 5, ai = ib & 0x1Fu;
        uint64_t arg = ai;
        size_t head = 1;
        if (ai >= 24 && ai <= 27) {
            size_t n = (size_t)1 << (ai - 24);
            arg = 0;
            for (size_t i = 0; i < n; i++) {
                arg = (arg << 8) | p[len + 1 + i];
            }
            head += n;
        } else if (ai > 27) {
            fail("split", "indefinite or reserved");
        }
        len += head;
        pending--;
        if (major == 2 || major == 3) {
            len += (size_t)arg;
        } else if (major == 4) {
            pending += (size_t)arg;
        } else if (major == 5) {
            pending += 2 * (size_t)arg;
        } else if (major == 6) {
            pending++;
        }
    }
    return len;
}

void att_split(const uint8_t *ev, size_t len, size_t *cert_len, size_t *token_len)
{
    if (len < 1 || ev[0] != 0x82) {
        fail("split", "not [cert, token]");
    }
    *cert_len = item_len(ev + 1, len - 1);
    *token_len = item_len(ev + 1 + *cert_len, len - 1 - *cert_len);
}

/* ---- the forging encoder ------------------------------------------------------ */

void te_init(struct te *w, int quirks)
{
    memset(w, 0, sizeof *w);
    w->quirks = quirks;
}

void te_raw(struct te *w, const uint8_t *data, size_t len)
{
    if (len > sizeof w->buf - w->len) {
        fail("te", "overflow");
    }
    if (len > 0) {
        memcpy(w->buf + w->len, data, len);
    }
    w->len += len;
}

/* Shortest head from libcbor's encoder for major types 0..5; the tests'
 * own byte arithmetic for tags (libcbor's tag encoder is what is tested). */
void te_head(struct te *w, unsigned major, uint64_t value)
{
    uint8_t h[9];
    size_t n = 0;
    switch (major) {
    case 0:
        n = cbor_encode_uint(value, h, sizeof h);
        break;
    case 1:
        n = cbor_encode_negint(value, h, sizeof h);
        break;
    case 2:
        n = cbor_encode_bytestring_start((size_t)value, h, sizeof h);
        break;
    case 3:
        n = cbor_encode_string_start((size_t)value, h, sizeof h);
        break;
    case 4:
        n = cbor_encode_array_start((size_t)value, h, sizeof h);
        break;
    case 5:
        n = cbor_encode_map_start((size_t)value, h, sizeof h);
        break;
    default:
        if (value < 24) {
            h[0] = (uint8_t)(0xC0 | value);
            n = 1;
        } else if (value < 256) {
            h[0] = 0xD8;
            h[1] = (uint8_t)value;
            n = 2;
        } else {
            fail("te", "tag too large for the test encoder");
        }
        break;
    }
    if (n == 0) {
        fail("te", "head");
    }
    te_raw(w, h, n);
}

/* A small unsigned integer in a needlessly long form: 0x18 xx. */
static void te_uint_maybe_long(struct te *w, uint64_t v)
{
    if ((w->quirks & Q_LONG_INT) && v < 24) {
        uint8_t h[2] = {0x18, (uint8_t)v};
        te_raw(w, h, 2);
    } else {
        te_head(w, 0, v);
    }
}

void te_int(struct te *w, int64_t v)
{
    if (v >= 0) {
        te_head(w, 0, (uint64_t)v);
    } else {
        te_head(w, 1, (uint64_t)(-(v + 1)));
    }
}

void te_bstr(struct te *w, const uint8_t *data, size_t len)
{
    te_head(w, 2, len);
    te_raw(w, data, len);
}

void te_tstr(struct te *w, const char *s)
{
    te_head(w, 3, strlen(s));
    te_raw(w, (const uint8_t *)s, strlen(s));
}

static void te_component(struct te *w, const struct nacre_attest_component *c)
{
    int extra = (w->quirks & Q_COMPONENT_EXTRA) != 0;
    te_head(w, 5, extra ? 6 : 5);
    te_int(w, 1);
    te_tstr(w, c->name);
    te_int(w, 2);
    te_tstr(w, c->version);
    te_int(w, 3);
    te_bstr(w, c->measurement, 32);
    te_int(w, 4);
    te_bstr(w, c->signer_id, 32);
    te_int(w, 5);
    te_int(w, c->security_counter);
    if (extra) {
        te_int(w, 6);
        te_int(w, 0);
    }
}

void te_claims(struct te *w, const struct nacre_attest_claims *c)
{
    int q = w->quirks;
    int iat = c->issued_at != 0 || (q & Q_IAT_ZERO) != 0;
    size_t n = 7 + (iat ? 1 : 0) + ((q & Q_DUP_KEY) ? 1 : 0) + ((q & Q_UNKNOWN_CLAIM) ? 1 : 0);
    if (q & Q_INDEF_MAP) {
        uint8_t b = 0xBF;
        te_raw(w, &b, 1);
    } else {
        te_head(w, 5, n);
    }
    if (iat) {
        te_int(w, 6);
        te_head(w, 0, (q & Q_IAT_ZERO) ? 0 : c->issued_at);
    }
    te_int(w, 10);
    if (q & Q_LONG_LEN) {
        uint8_t h[3] = {0x59, 0x00, (uint8_t)c->nonce_len};
        te_raw(w, h, 3);
        te_raw(w, c->nonce, c->nonce_len);
    } else {
        te_bstr(w, c->nonce, c->nonce_len);
    }
    if (q & Q_DUP_KEY) {
        te_int(w, 10);
        te_bstr(w, c->nonce, c->nonce_len);
    }
    if (q & Q_UNKNOWN_CLAIM) {
        te_int(w, 99);
        te_int(w, 0);
    }
    if (!(q & Q_UNSORTED)) {
        te_int(w, 256);
        te_bstr(w, c->ueid, 33);
    }
    te_int(w, 263);
    if (q & Q_WRONG_TYPE) {
        te_tstr(w, "3");
    } else {
        te_uint_maybe_long(w, c->debug_state);
    }
    if (q & Q_UNSORTED) {
        te_int(w, 256);
        te_bstr(w, c->ueid, 33);
    }
    te_int(w, -75000);
    te_uint_maybe_long(w, (q & Q_LIFECYCLE_7) ? 7u : c->lifecycle);
    te_int(w, -75001);
    te_bstr(w, c->boot_seed, 32);
    te_int(w, -75002);
    te_head(w, 4, 2);
    te_uint_maybe_long(w, c->security_counter);
    te_uint_maybe_long(w, c->key_epoch);
    te_int(w, -75003);
    te_head(w, 4, c->component_count);
    for (unsigned i = 0; i < c->component_count; i++) {
        te_component(w, &c->components[i]);
    }
    if (q & Q_INDEF_MAP) {
        uint8_t b = 0xFF;
        te_raw(w, &b, 1);
    }
    if (q & Q_TRAILING) {
        uint8_t b = 0x00;
        te_raw(w, &b, 1);
    }
}

void te_cert_of(struct te_cert *c, nacre_pluton *p)
{
    uint8_t pk[32];
    memset(c, 0, sizeof *c);
    must_pluton(nacre_pluton_key_public(p, NACRE_PLUTON_KEY_DEVICE_ID, pk), "DeviceID");
    att_hash(c->iss, pk, 32);
    must_pluton(nacre_pluton_key_public(p, NACRE_PLUTON_KEY_ALIAS, c->x), "Alias");
    att_hash(c->sub, c->x, 32);
    must_pluton(nacre_pluton_measure_read(p, 0, c->code_hash), "R0");
    c->mode = nacre_pluton_lifecycle_get(p) == NACRE_PLUTON_LIFECYCLE_SECURED ? 1 : 2;
    c->kty = 1;
    c->alg = -8;
    c->crv = 6;
    c->key_usage = 1;
}

static void te_hex(struct te *w, const uint8_t b[32])
{
    char hex[65];
    for (int i = 0; i < 32; i++) {
        snprintf(hex + 2 * i, 3, "%02x", b[i]);
    }
    te_tstr(w, hex);
}

void te_cert(struct te *w, const struct te_cert *c)
{
    struct te key;
    te_init(&key, w->quirks);
    te_head(&key, 5, 4);
    te_int(&key, 1);
    if (w->quirks & Q_LONG_INT) {
        uint8_t h[2] = {0x18, (uint8_t)c->kty};
        te_raw(&key, h, 2);
    } else {
        te_int(&key, c->kty);
    }
    te_int(&key, 3);
    te_int(&key, c->alg);
    te_int(&key, -1);
    te_int(&key, c->crv);
    te_int(&key, -2);
    te_bstr(&key, c->x, 32);

    te_head(w, 5, 6);
    te_int(w, 1);
    te_hex(w, c->iss);
    te_int(w, 2);
    te_hex(w, c->sub);
    te_int(w, -4670545);
    te_bstr(w, c->code_hash, 32);
    te_int(w, -4670551);
    te_bstr(w, &c->mode, 1);
    te_int(w, -4670552);
    te_bstr(w, key.buf, key.len);
    te_int(w, -4670553);
    te_bstr(w, &c->key_usage, 1);
}

size_t te_sign1(uint8_t *out, size_t max, nacre_pluton *p, nacre_pluton_key key,
                const struct te_sign1 *opt, const uint8_t *payload, size_t payload_len)
{
    struct te ph, tbs, msg;
    te_init(&ph, 0);
    if (opt->protected_hdr != NULL) {
        te_raw(&ph, opt->protected_hdr, opt->protected_len);
    } else {
        te_head(&ph, 5, 1);
        te_int(&ph, 1);
        te_int(&ph, opt->alg);
    }

    te_init(&tbs, 0);
    te_head(&tbs, 4, 4);
    te_tstr(&tbs, "Signature1");
    te_bstr(&tbs, ph.buf, ph.len);
    te_bstr(&tbs, NULL, 0);
    te_bstr(&tbs, payload, payload_len);
    uint8_t sig[64];
    must_pluton(nacre_pluton_sign(p, key, sig, tbs.buf, tbs.len), "sign");

    te_init(&msg, 0);
    if (!opt->untagged) {
        te_head(&msg, 6, 18);
    }
    te_head(&msg, 4, 4);
    te_bstr(&msg, ph.buf, ph.len);
    te_head(&msg, 5, (opt->kid != NULL ? 1u : 0u) + (opt->extra_unprotected ? 1u : 0u));
    if (opt->kid != NULL) {
        te_int(&msg, 4);
        te_bstr(&msg, opt->kid, 32);
    }
    if (opt->extra_unprotected) {
        uint8_t iv = 0;
        te_int(&msg, 5);
        te_bstr(&msg, &iv, 1);
    }
    te_bstr(&msg, payload, payload_len);
    te_bstr(&msg, sig, 64);
    if (msg.len > max) {
        fail("te_sign1", "output too small");
    }
    memcpy(out, msg.buf, msg.len);
    return msg.len;
}

size_t te_evidence(uint8_t *out, size_t max, const uint8_t *cert, size_t cert_len,
                   const uint8_t *token, size_t token_len)
{
    if (1 + cert_len + token_len > max) {
        fail("te_evidence", "output too small");
    }
    out[0] = 0x82;
    memcpy(out + 1, cert, cert_len);
    memcpy(out + 1 + cert_len, token, token_len);
    return 1 + cert_len + token_len;
}
