/*
 * The verifier refuses, and says why: each bad input below is checked for
 * its exact set of failure bits (not merely "refused"), so a check that
 * fires for the wrong reason, or not at all, shows up.
 *
 * Forged inputs are made with the independent encoder of attest_test.c and
 * signed through libpluton with the device's own DeviceID / Alias handles:
 * the signatures are valid, so what is refused is the encoding or the claim,
 * never just a broken signature.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "attest_test.h"

static const uint8_t nonce[32] = {'r', 'e', 'j', 'e', 'c', 't', '-', 'n', 'o', 'n', 'c',
                                  'e', 1,   2,   3,   4,   5,   6,   7,   8,   9,   10,
                                  11,  12,  13,  14,  15,  16,  17,  18,  19,  20};
#define IAT 1767225600u

/* A: the device under test. B: another device with the same image.
 * C: a device running modified firmware (same keys, version and counter,
 * other payload bytes). */
static struct att_device A, B, C;
static uint8_t ev[ATT_EVIDENCE_BUF];
static size_t ev_len, cert_len, token_len;
static unsigned cases;

static int setup(void **state)
{
    (void)state;
    att_device_new(&A, "att-rej-a", NULL, 0x71, "2.1.0", 4, 0x01, 0);
    att_device_new(&B, "att-rej-b", NULL, 0x71, "2.1.0", 4, 0x01, 0);
    att_device_new(&C, "att-rej-c", NULL, 0x71, "2.1.0", 4, 0x02, 0);
    ev_len = att_evidence(&A, nonce, sizeof nonce, IAT, ev, sizeof ev);
    att_split(ev, ev_len, &cert_len, &token_len);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    att_device_free(&A);
    att_device_free(&B);
    att_device_free(&C);
    printf("reject: %u refusals checked, each with its exact failure bits\n", cases);
    return 0;
}

static void names(uint32_t bits, char *out, size_t max)
{
    out[0] = '\0';
    for (unsigned i = 0; i < 32; i++) {
        if (bits & (1u << i)) {
            size_t n = strlen(out);
            snprintf(out + n, max - n, "%s%s", n ? ", " : "", nacre_attest_failure_name(1u << i));
        }
    }
}

/* Verifies an exact-size heap copy; the status must agree with the bits. */
static uint32_t verify_bits(const uint8_t *e, size_t len, const struct nacre_attest_policy *pol,
                            struct nacre_attest_result *res_out)
{
    struct nacre_attest_result res;
    uint8_t *copy = malloc(len ? len : 1);
    assert_non_null(copy);
    if (len > 0) {
        memcpy(copy, e, len);
    }
    nacre_attest_status st = nacre_attest_verify(copy, len, pol, &res);
    free(copy);
    assert_int_equal(st, res.failures == 0 ? NACRE_ATTEST_OK : NACRE_ATTEST_ERR_REFUSED);
    if (res_out != NULL) {
        *res_out = res;
    }
    return res.failures;
}

static void expect_bits(const char *what, const uint8_t *e, size_t len,
                        const struct nacre_attest_policy *pol, uint32_t want)
{
    uint32_t got = verify_bits(e, len, pol, NULL);
    char g[512], w[512];
    names(got, g, sizeof g);
    names(want, w, sizeof w);
    printf("reject: %-44s -> %s\n", what, g);
    if (got != want) {
        fail_msg("%s: got 0x%x (%s), want 0x%x (%s)", what, (unsigned)got, g, (unsigned)want, w);
    }
    cases++;
}

static void policy(struct nacre_attest_policy *pol)
{
    att_policy(pol, &A, nonce, sizeof nonce);
}

/* ---- the token and certificate, re-made ------------------------------------- */

/* A's token re-made with quirks (and claims edits), re-signed by A's Alias. */
static size_t forged_token(uint8_t *out, int quirks, const struct nacre_attest_claims *claims,
                           const struct te_sign1 *opt_in)
{
    struct nacre_attest_claims c;
    struct te w;
    uint8_t kid[32];
    if (claims != NULL) {
        c = *claims;
    } else {
        att_claims(&A, &c, nonce, sizeof nonce, IAT);
    }
    te_init(&w, quirks);
    te_claims(&w, &c);
    att_hash(kid, A.alias_pk, 32);
    struct te_sign1 opt = {NULL, 0, -8, kid, 0, 0};
    if (opt_in != NULL) {
        opt = *opt_in;
    }
    return te_sign1(out, ATT_EVIDENCE_BUF, A.d.p, NACRE_PLUTON_KEY_ALIAS, &opt, w.buf, w.len);
}

/* [A's certificate, token]. */
static size_t with_token(uint8_t *out, const uint8_t *token, size_t len)
{
    return te_evidence(out, ATT_EVIDENCE_BUF, ev + 1, cert_len, token, len);
}

/* A certificate from cert claims, signed by signer's DeviceID, kid given. */
static size_t forged_cert(uint8_t *out, int quirks, const struct te_cert *tc, nacre_pluton *signer,
                          const uint8_t kid[32], int64_t alg)
{
    struct te w;
    te_init(&w, quirks);
    te_cert(&w, tc);
    struct te_sign1 opt = {NULL, 0, alg, kid, 0, 0};
    return te_sign1(out, ATT_EVIDENCE_BUF, signer, NACRE_PLUTON_KEY_DEVICE_ID, &opt, w.buf, w.len);
}

/* ---- the tests ----------------------------------------------------------------- */

static void test_baseline_passes(void **state)
{
    (void)state;
    struct nacre_attest_policy pol;
    policy(&pol);
    expect_bits("the genuine evidence", ev, ev_len, &pol, 0);
    /* The forging encoder with no quirks gives the genuine token back. */
    uint8_t t[ATT_EVIDENCE_BUF], e[ATT_EVIDENCE_BUF];
    size_t n = forged_token(t, 0, NULL, NULL);
    assert_int_equal(n, token_len);
    assert_memory_equal(t, ev + 1 + cert_len, n);
    expect_bits("re-made without quirks", e, with_token(e, t, n), &pol, 0);
}

static void test_nonce_and_device(void **state)
{
    (void)state;
    struct nacre_attest_policy pol;
    uint8_t wrong[32];
    memcpy(wrong, nonce, 32);
    wrong[31] ^= 0x40;
    policy(&pol);
    pol.nonce = wrong;
    expect_bits("wrong nonce", ev, ev_len, &pol, NACRE_ATTEST_FAIL_NONCE);
    pol.nonce_len = 31;
    expect_bits("nonce of another length", ev, ev_len, &pol, NACRE_ATTEST_FAIL_NONCE);

    /* Another device's DeviceID: the certificate names a device we do not
     * know, its signature is not by the key we know, and the UEID is not
     * the known device's either. */
    policy(&pol);
    pol.device_id_pk = B.device_pk;
    expect_bits("unknown device (B's DeviceID as policy)", ev, ev_len, &pol,
                NACRE_ATTEST_FAIL_UNKNOWN_DEVICE | NACRE_ATTEST_FAIL_CHAIN |
                    NACRE_ATTEST_FAIL_BINDING);
}

static void test_chain(void **state)
{
    (void)state;
    struct nacre_attest_policy pol;
    uint8_t e[ATT_EVIDENCE_BUF], cert[ATT_EVIDENCE_BUF], token[ATT_EVIDENCE_BUF];
    size_t n;
    policy(&pol);

    /* B's certificate in front of A's token. */
    assert_int_equal(nacre_attest_dice_cert(B.d.p, cert, sizeof cert, &n), NACRE_ATTEST_OK);
    size_t e_len = te_evidence(e, sizeof e, cert, n, ev + 1 + cert_len, token_len);
    expect_bits("another device's certificate swapped in", e, e_len, &pol,
                NACRE_ATTEST_FAIL_UNKNOWN_DEVICE | NACRE_ATTEST_FAIL_CHAIN |
                    NACRE_ATTEST_FAIL_SIGNATURE);

    /* A flipped byte of the certificate's signature. */
    memcpy(e, ev, ev_len);
    e[cert_len] ^= 0x01; /* the certificate's last byte */
    expect_bits("certificate signature byte flipped", e, ev_len, &pol, NACRE_ATTEST_FAIL_CHAIN);

    /* The real attack: B certifies its own Alias key under A's identity
     * (A's kid and iss, same firmware, so the same R0) and signs a token
     * claiming A's UEID with it. Every claim is right; only the chain is not. */
    struct te_cert tc;
    te_cert_of(&tc, B.d.p);
    att_hash(tc.iss, A.device_pk, 32);
    uint8_t kid_a[32];
    att_hash(kid_a, A.device_pk, 32);
    n = forged_cert(cert, 0, &tc, B.d.p, kid_a, -8);
    struct nacre_attest_claims c;
    att_claims(&B, &c, nonce, sizeof nonce, IAT);
    c.ueid[0] = 0x01;
    att_hash(c.ueid + 1, A.device_pk, 32);
    size_t t_len;
    assert_int_equal(nacre_attest_token(B.d.p, &c, token, sizeof token, &t_len), NACRE_ATTEST_OK);
    e_len = te_evidence(e, sizeof e, cert, n, token, t_len);
    expect_bits("Alias certified by another DeviceID", e, e_len, &pol, NACRE_ATTEST_FAIL_CHAIN);

    /* A's own DeviceID signs a certificate whose sub does not name its key. */
    te_cert_of(&tc, A.d.p);
    tc.sub[0] ^= 1;
    n = forged_cert(cert, 0, &tc, A.d.p, kid_a, -8);
    e_len = te_evidence(e, sizeof e, cert, n, ev + 1 + cert_len, token_len);
    expect_bits("certificate sub is not its key", e, e_len, &pol, NACRE_ATTEST_FAIL_CHAIN);

    /* The token names a signer other than the certified Alias key. */
    struct te_sign1 opt = {NULL, 0, -8, kid_a, 0, 0};
    n = forged_token(token, 0, NULL, &opt);
    expect_bits("token kid is not the Alias key", e, with_token(e, token, n), &pol,
                NACRE_ATTEST_FAIL_SIGNATURE);

    /* The token signed by A's DeviceID instead of its Alias key. */
    struct te w;
    att_claims(&A, &c, nonce, sizeof nonce, IAT);
    te_init(&w, 0);
    te_claims(&w, &c);
    uint8_t kid_alias[32];
    att_hash(kid_alias, A.alias_pk, 32);
    struct te_sign1 opt2 = {NULL, 0, -8, kid_alias, 0, 0};
    n = te_sign1(token, sizeof token, A.d.p, NACRE_PLUTON_KEY_DEVICE_ID, &opt2, w.buf, w.len);
    expect_bits("token signed by the DeviceID key", e, with_token(e, token, n), &pol,
                NACRE_ATTEST_FAIL_SIGNATURE);
}

static void test_measurements_and_counters(void **state)
{
    (void)state;
    struct nacre_attest_policy pol;
    uint8_t e[ATT_EVIDENCE_BUF];

    /* Modified firmware: C's evidence against A's reference value. */
    size_t e_len = att_evidence(&C, nonce, sizeof nonce, IAT, e, sizeof e);
    att_policy(&pol, &C, nonce, sizeof nonce);
    expect_bits("C's own reference value (sanity)", e, e_len, &pol, 0);
    pol.refs = &A.ref;
    expect_bits("modified firmware (measurement not in refs)", e, e_len, &pol,
                NACRE_ATTEST_FAIL_MEASUREMENT);

    /* The right measurement under another name, version or signer. */
    struct nacre_attest_ref ref = A.ref;
    policy(&pol);
    pol.refs = &ref;
    snprintf(ref.version, sizeof ref.version, "2.1.1");
    expect_bits("reference with another version", ev, ev_len, &pol, NACRE_ATTEST_FAIL_MEASUREMENT);
    ref = A.ref;
    ref.signer_id[5] ^= 1;
    expect_bits("reference with another signer", ev, ev_len, &pol, NACRE_ATTEST_FAIL_MEASUREMENT);
    ref = A.ref;
    snprintf(ref.name, sizeof ref.name, "thermostat2");
    expect_bits("reference with another name", ev, ev_len, &pol, NACRE_ATTEST_FAIL_MEASUREMENT);

    /* Several references: one matching is enough. */
    struct nacre_attest_ref refs[3] = {C.ref, A.ref, C.ref};
    pol.refs = refs;
    pol.ref_count = 3;
    expect_bits("matching reference among others", ev, ev_len, &pol, 0);

    /* Counters. */
    ref = A.ref;
    ref.security_counter = A.comp.security_counter + 1;
    pol.refs = &ref;
    pol.ref_count = 1;
    expect_bits("component counter below the reference", ev, ev_len, &pol, NACRE_ATTEST_FAIL_COUNTER);
    policy(&pol);
    pol.min_security_counter = A.comp.security_counter + 1;
    expect_bits("device counter 0 below the minimum", ev, ev_len, &pol, NACRE_ATTEST_FAIL_COUNTER);
    pol.min_security_counter = A.comp.security_counter;
    expect_bits("device counter 0 at the minimum", ev, ev_len, &pol, 0);
}

static void test_lifecycle_and_binding(void **state)
{
    (void)state;
    struct nacre_attest_policy pol;
    struct nacre_attest_claims c;
    uint8_t e[ATT_EVIDENCE_BUF], t[ATT_EVIDENCE_BUF], cert[ATT_EVIDENCE_BUF];
    size_t n;
    policy(&pol);
    pol.require_secured = 1;
    expect_bits("require_secured on a PROVISIONED device", ev, ev_len, &pol,
                NACRE_ATTEST_FAIL_LIFECYCLE);

    /* Claims the device signs but that disagree with its certificate. */
    policy(&pol);
    att_claims(&A, &c, nonce, sizeof nonce, IAT);
    c.component_count = 0;
    assert_int_equal(nacre_attest_token(A.d.p, &c, t, sizeof t, &n), NACRE_ATTEST_OK);
    expect_bits("no component (R0 unexplained)", e, with_token(e, t, n), &pol,
                NACRE_ATTEST_FAIL_BINDING);

    att_claims(&A, &c, nonce, sizeof nonce, IAT);
    c.ueid[7] ^= 1;
    assert_int_equal(nacre_attest_token(A.d.p, &c, t, sizeof t, &n), NACRE_ATTEST_OK);
    expect_bits("UEID of another device", e, with_token(e, t, n), &pol, NACRE_ATTEST_FAIL_BINDING);

    att_claims(&A, &c, nonce, sizeof nonce, IAT);
    c.components[0] = C.comp; /* the other firmware, which A does not run */
    assert_int_equal(nacre_attest_token(A.d.p, &c, t, sizeof t, &n), NACRE_ATTEST_OK);
    struct nacre_attest_ref refs[2] = {A.ref, C.ref};
    pol.refs = refs;
    pol.ref_count = 2;
    expect_bits("component is not what R0 measured", e, with_token(e, t, n), &pol,
                NACRE_ATTEST_FAIL_BINDING);

    /* Lifecycle and debug state that do not match the certificate's mode,
     * and a certificate claiming normal mode on a PROVISIONED device. */
    policy(&pol);
    att_claims(&A, &c, nonce, sizeof nonce, IAT);
    c.lifecycle = NACRE_PLUTON_LIFECYCLE_SECURED;
    c.debug_state = 3;
    assert_int_equal(nacre_attest_token(A.d.p, &c, t, sizeof t, &n), NACRE_ATTEST_OK);
    expect_bits("token says SECURED, certificate says debug", e, with_token(e, t, n), &pol,
                NACRE_ATTEST_FAIL_BINDING);
    att_claims(&A, &c, nonce, sizeof nonce, IAT);
    c.debug_state = 3;
    assert_int_equal(nacre_attest_token(A.d.p, &c, t, sizeof t, &n), NACRE_ATTEST_OK);
    expect_bits("debug locked but not SECURED", e, with_token(e, t, n), &pol,
                NACRE_ATTEST_FAIL_BINDING);
    struct te_cert tc;
    uint8_t kid_a[32];
    att_hash(kid_a, A.device_pk, 32);
    te_cert_of(&tc, A.d.p);
    tc.mode = 1;
    n = forged_cert(cert, 0, &tc, A.d.p, kid_a, -8);
    size_t e_len = te_evidence(e, sizeof e, cert, n, ev + 1 + cert_len, token_len);
    expect_bits("certificate says normal mode", e, e_len, &pol, NACRE_ATTEST_FAIL_BINDING);
    te_cert_of(&tc, A.d.p);
    tc.code_hash[0] ^= 1;
    n = forged_cert(cert, 0, &tc, A.d.p, kid_a, -8);
    e_len = te_evidence(e, sizeof e, cert, n, ev + 1 + cert_len, token_len);
    expect_bits("certificate code hash is another R0", e, e_len, &pol, NACRE_ATTEST_FAIL_BINDING);
}

static void test_tampering(void **state)
{
    (void)state;
    struct nacre_attest_policy pol;
    struct nacre_attest_claims c;
    struct nacre_attest_result res;
    uint8_t e[ATT_EVIDENCE_BUF];
    policy(&pol);

    /* A byte of the boot seed inside the signed token payload. */
    att_claims(&A, &c, nonce, sizeof nonce, IAT);
    size_t at = 0;
    for (size_t i = 1 + cert_len; i + 32 <= ev_len && at == 0; i++) {
        if (memcmp(ev + i, c.boot_seed, 32) == 0) {
            at = i;
        }
    }
    assert_int_not_equal(at, 0);
    memcpy(e, ev, ev_len);
    e[at + 9] ^= 0x10;
    assert_int_equal(verify_bits(e, ev_len, &pol, &res), NACRE_ATTEST_FAIL_SIGNATURE);
    assert_true(res.claims_valid); /* decoded, though not authentic */
    expect_bits("claim byte flipped (boot seed)", e, ev_len, &pol, NACRE_ATTEST_FAIL_SIGNATURE);

    /* Every truncation: refused as malformed, never a crash. */
    for (size_t n = 0; n < ev_len; n++) {
        uint32_t f = verify_bits(ev, n, &pol, NULL);
        assert_true(f & NACRE_ATTEST_FAIL_FORMAT);
    }
    printf("reject: all %zu truncations refused (malformed)\n", ev_len);
    cases += (unsigned)ev_len;

    /* Every single-bit flip: never a pass. */
    unsigned flips = 0;
    for (size_t i = 0; i < ev_len; i++) {
        for (unsigned b = 0; b < 8; b++) {
            memcpy(e, ev, ev_len);
            e[i] ^= (uint8_t)(1u << b);
            assert_int_not_equal(verify_bits(e, ev_len, &pol, NULL), 0);
            flips++;
        }
    }
    printf("reject: all %u single-bit flips of the %zu-byte evidence refused\n", flips, ev_len);
    cases += flips;

    /* Oversized: valid evidence followed by padding past the cap. */
    static uint8_t big[NACRE_ATTEST_EVIDENCE_MAX + 1];
    memcpy(big, ev, ev_len);
    expect_bits("oversized (cap + 1 bytes)", big, sizeof big, &pol, NACRE_ATTEST_FAIL_FORMAT);
    expect_bits("a byte after the evidence", big, ev_len + 1, &pol, NACRE_ATTEST_FAIL_FORMAT);
}

/* Validly signed but not in the one canonical encoding, or with bad claims. */
static void test_encoding(void **state)
{
    (void)state;
    struct nacre_attest_policy pol;
    uint8_t e[ATT_EVIDENCE_BUF], t[ATT_EVIDENCE_BUF], cert[ATT_EVIDENCE_BUF];
    size_t n;
    policy(&pol);

    static const struct {
        int quirks;
        uint32_t want;
        const char *what;
    } q[] = {
        {Q_LONG_INT, NACRE_ATTEST_FAIL_FORMAT, "non-shortest integers (re-signed)"},
        {Q_UNSORTED, NACRE_ATTEST_FAIL_FORMAT, "unsorted claims map (re-signed)"},
        {Q_INDEF_MAP, NACRE_ATTEST_FAIL_FORMAT, "indefinite-length map (re-signed)"},
        {Q_DUP_KEY, NACRE_ATTEST_FAIL_FORMAT, "duplicate claim (re-signed)"},
        {Q_IAT_ZERO, NACRE_ATTEST_FAIL_FORMAT, "iat 0 written out (re-signed)"},
        {Q_TRAILING, NACRE_ATTEST_FAIL_FORMAT, "byte after the claims map (re-signed)"},
        {Q_LONG_LEN, NACRE_ATTEST_FAIL_FORMAT, "non-shortest bstr length (re-signed)"},
        {Q_UNKNOWN_CLAIM, NACRE_ATTEST_FAIL_CLAIMS, "unknown claim 99 (re-signed)"},
        {Q_WRONG_TYPE, NACRE_ATTEST_FAIL_CLAIMS, "dbgstat as text (re-signed)"},
        {Q_LIFECYCLE_7, NACRE_ATTEST_FAIL_CLAIMS, "lifecycle 7 (re-signed)"},
        {Q_COMPONENT_EXTRA, NACRE_ATTEST_FAIL_CLAIMS, "component with a sixth key (re-signed)"},
    };
    for (size_t i = 0; i < sizeof q / sizeof q[0]; i++) {
        n = forged_token(t, q[i].quirks, NULL, NULL);
        expect_bits(q[i].what, e, with_token(e, t, n), &pol, q[i].want);
    }

    uint8_t kid_alias[32], kid_a[32];
    att_hash(kid_alias, A.alias_pk, 32);
    att_hash(kid_a, A.device_pk, 32);
    struct te_sign1 opt;

    opt = (struct te_sign1){NULL, 0, -8, kid_alias, 1, 0};
    n = forged_token(t, 0, NULL, &opt);
    expect_bits("untagged token (re-signed)", e, with_token(e, t, n), &pol, NACRE_ATTEST_FAIL_FORMAT);
    opt = (struct te_sign1){NULL, 0, -8, kid_alias, 0, 1};
    n = forged_token(t, 0, NULL, &opt);
    expect_bits("extra unprotected header (re-signed)", e, with_token(e, t, n), &pol,
                NACRE_ATTEST_FAIL_FORMAT);
    opt = (struct te_sign1){NULL, 0, -8, NULL, 0, 0};
    n = forged_token(t, 0, NULL, &opt);
    expect_bits("token without kid (re-signed)", e, with_token(e, t, n), &pol, NACRE_ATTEST_FAIL_FORMAT);
    static const uint8_t long_alg[] = {0xA1, 0x01, 0x38, 0x07}; /* {1: -8}, -8 in two bytes */
    opt = (struct te_sign1){long_alg, sizeof long_alg, 0, kid_alias, 0, 0};
    n = forged_token(t, 0, NULL, &opt);
    expect_bits("non-shortest alg in protected (re-signed)", e, with_token(e, t, n), &pol,
                NACRE_ATTEST_FAIL_FORMAT);
    static const uint8_t ctype[] = {0xA2, 0x01, 0x27, 0x03, 0x00}; /* {1: -8, 3: 0} */
    opt = (struct te_sign1){ctype, sizeof ctype, 0, kid_alias, 0, 0};
    n = forged_token(t, 0, NULL, &opt);
    expect_bits("extra protected header (re-signed)", e, with_token(e, t, n), &pol,
                NACRE_ATTEST_FAIL_FORMAT);

    /* Wrong algorithm: {1: -7} (ES256), the bytes still Ed25519-signed. */
    opt = (struct te_sign1){NULL, 0, -7, kid_alias, 0, 0};
    n = forged_token(t, 0, NULL, &opt);
    expect_bits("token alg -7 (re-signed)", e, with_token(e, t, n), &pol, NACRE_ATTEST_FAIL_ALGORITHM);
    struct te_cert tc;
    te_cert_of(&tc, A.d.p);
    n = forged_cert(cert, 0, &tc, A.d.p, kid_a, -7);
    size_t e_len = te_evidence(e, sizeof e, cert, n, ev + 1 + cert_len, token_len);
    expect_bits("certificate alg -7 (re-signed)", e, e_len, &pol, NACRE_ATTEST_FAIL_ALGORITHM);
    te_cert_of(&tc, A.d.p);
    tc.alg = -7;
    n = forged_cert(cert, 0, &tc, A.d.p, kid_a, -8);
    e_len = te_evidence(e, sizeof e, cert, n, ev + 1 + cert_len, token_len);
    expect_bits("certified key is not EdDSA (re-signed)", e, e_len, &pol, NACRE_ATTEST_FAIL_ALGORITHM);

    /* The certificate: non-shortest integer, bad key usage. */
    te_cert_of(&tc, A.d.p);
    n = forged_cert(cert, Q_LONG_INT, &tc, A.d.p, kid_a, -8);
    e_len = te_evidence(e, sizeof e, cert, n, ev + 1 + cert_len, token_len);
    expect_bits("certificate non-shortest integer (re-signed)", e, e_len, &pol,
                NACRE_ATTEST_FAIL_FORMAT);
    te_cert_of(&tc, A.d.p);
    tc.key_usage = 0x02;
    n = forged_cert(cert, 0, &tc, A.d.p, kid_a, -8);
    e_len = te_evidence(e, sizeof e, cert, n, ev + 1 + cert_len, token_len);
    expect_bits("certificate keyUsage not signing (re-signed)", e, e_len, &pol,
                NACRE_ATTEST_FAIL_CLAIMS);

    /* The outer array: long head, indefinite length, three items. */
    memcpy(e + 2, ev + 1, ev_len - 1);
    e[0] = 0x98;
    e[1] = 0x02;
    expect_bits("outer array head non-shortest", e, ev_len + 1, &pol, NACRE_ATTEST_FAIL_FORMAT);
    memcpy(e + 1, ev + 1, ev_len - 1);
    e[0] = 0x9F;
    e[ev_len] = 0xFF;
    expect_bits("outer array indefinite", e, ev_len + 1, &pol, NACRE_ATTEST_FAIL_FORMAT);
    memcpy(e, ev, ev_len);
    e[0] = 0x83;
    e[ev_len] = 0x00;
    expect_bits("outer array of three", e, ev_len + 1, &pol, NACRE_ATTEST_FAIL_FORMAT);
    memcpy(e, ev, ev_len);
    e[0] = 0x81;
    expect_bits("outer array of one", e, 1 + cert_len, &pol, NACRE_ATTEST_FAIL_FORMAT);
}

/* Several things wrong at once: every reason is listed. */
static void test_all_reasons_listed(void **state)
{
    (void)state;
    struct nacre_attest_policy pol;
    struct nacre_attest_ref ref = C.ref;
    uint8_t wrong[32] = {0};
    policy(&pol);
    pol.nonce = wrong;
    pol.refs = &ref;
    pol.min_security_counter = 1000;
    pol.require_secured = 1;
    expect_bits("nonce, measurement, counter and lifecycle", ev, ev_len, &pol,
                NACRE_ATTEST_FAIL_NONCE | NACRE_ATTEST_FAIL_MEASUREMENT | NACRE_ATTEST_FAIL_COUNTER |
                    NACRE_ATTEST_FAIL_LIFECYCLE);
}

static void test_arguments(void **state)
{
    (void)state;
    struct nacre_attest_policy pol;
    struct nacre_attest_result res;
    policy(&pol);
    assert_int_equal(nacre_attest_verify(ev, ev_len, &pol, NULL), NACRE_ATTEST_ERR_ARGUMENT);
    assert_int_equal(nacre_attest_verify(NULL, ev_len, &pol, &res), NACRE_ATTEST_ERR_ARGUMENT);
    assert_int_equal(nacre_attest_verify(ev, ev_len, NULL, &res), NACRE_ATTEST_ERR_ARGUMENT);
    pol.device_id_pk = NULL;
    assert_int_equal(nacre_attest_verify(ev, ev_len, &pol, &res), NACRE_ATTEST_ERR_ARGUMENT);
    policy(&pol);
    pol.refs = NULL;
    assert_int_equal(nacre_attest_verify(ev, ev_len, &pol, &res), NACRE_ATTEST_ERR_ARGUMENT);
    policy(&pol);
    pol.ref_count = 0;
    assert_int_equal(nacre_attest_verify(ev, ev_len, &pol, &res), NACRE_ATTEST_ERR_ARGUMENT);
    policy(&pol);
    pol.nonce = NULL; /* and no store */
    assert_int_equal(nacre_attest_verify(ev, ev_len, &pol, &res), NACRE_ATTEST_ERR_ARGUMENT);
    policy(&pol);
    pol.nonce_len = NACRE_ATTEST_NONCE_MAX + 1;
    assert_int_equal(nacre_attest_verify(ev, ev_len, &pol, &res), NACRE_ATTEST_ERR_ARGUMENT);
    assert_int_equal(res.failures, 0);

    /* Names. */
    for (unsigned i = 0; i <= 12; i++) {
        assert_string_not_equal(nacre_attest_failure_name(1u << i), "unknown failure");
    }
    assert_string_equal(nacre_attest_failure_name(1u << 13), "unknown failure");
    assert_string_equal(nacre_attest_failure_name(NACRE_ATTEST_FAIL_NONCE_REUSED), "nonce reused");
    for (int s = 1; s <= 12; s++) {
        assert_string_not_equal(nacre_attest_strerror((nacre_attest_status)s), "unknown status");
    }
    assert_string_equal(nacre_attest_strerror(NACRE_ATTEST_OK), "success");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_baseline_passes),
        cmocka_unit_test(test_nonce_and_device),
        cmocka_unit_test(test_chain),
        cmocka_unit_test(test_measurements_and_counters),
        cmocka_unit_test(test_lifecycle_and_binding),
        cmocka_unit_test(test_tampering),
        cmocka_unit_test(test_encoding),
        cmocka_unit_test(test_all_reasons_listed),
        cmocka_unit_test(test_arguments),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
