/*
 * nacre_attest_cose_verify against the cose-wg examples (copied into
 * tests/attest/vectors/cose/ from github.com/cose-wg/Examples:
 * eddsa-examples/eddsa-sig-01 and sign1-tests/sign-fail-* / sign-pass-01),
 * plus truncations, bit flips and hand-made edge cases.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>
#include <sodium.h>

#include "attest_test.h"

static const char *attest_dir = "tests/attest";

struct vector {
    uint8_t cbor[1024];
    size_t cbor_len;
    uint8_t tbs[1024];
    size_t tbs_len;
    uint8_t pk[32];
    int has_pk;
    char plaintext[128];
};

static void load(const char *name, struct vector *v)
{
    char path[1024];
    json_error_t err;
    memset(v, 0, sizeof *v);
    snprintf(path, sizeof path, "%s/vectors/cose/%s.json", attest_dir, name);
    json_t *root = json_load_file(path, 0, &err);
    if (root == NULL) {
        fail_msg("%s: %s", path, err.text);
    }
    const char *cbor = json_string_value(json_object_get(json_object_get(root, "output"), "cbor"));
    const char *tbs = json_string_value(
        json_object_get(json_object_get(root, "intermediates"), "ToBeSign_hex"));
    json_t *input = json_object_get(root, "input");
    const char *pt = json_string_value(json_object_get(input, "plaintext"));
    const char *x = json_string_value(
        json_object_get(json_object_get(json_object_get(input, "sign0"), "key"), "x_hex"));
    assert_non_null(cbor);
    assert_non_null(tbs);
    assert_non_null(pt);
    long n = nacre_test_unhex(cbor, v->cbor, sizeof v->cbor);
    assert_true(n > 0);
    v->cbor_len = (size_t)n;
    n = nacre_test_unhex(tbs, v->tbs, sizeof v->tbs);
    assert_true(n > 0);
    v->tbs_len = (size_t)n;
    snprintf(v->plaintext, sizeof v->plaintext, "%s", pt);
    if (x != NULL) {
        assert_int_equal(nacre_test_unhex(x, v->pk, sizeof v->pk), 32);
        v->has_pk = 1;
    }
    json_decref(root);
}

/* An exact-size heap copy, so that ASan sees any read past the end. */
static nacre_attest_status verify_copy(const uint8_t *msg, size_t len, const uint8_t pk[32],
                                       const uint8_t **payload, size_t *payload_len)
{
    uint8_t *copy = malloc(len ? len : 1);
    assert_non_null(copy);
    if (len > 0) {
        memcpy(copy, msg, len);
    }
    nacre_attest_status st = nacre_attest_cose_verify(copy, len, pk, payload, payload_len);
    if (st == NACRE_ATTEST_OK && payload != NULL) {
        /* The payload points into the message. */
        assert_true(*payload >= copy && *payload + *payload_len <= copy + len);
        *payload = msg + (*payload - copy);
    }
    free(copy);
    return st;
}

static void test_eddsa_sig_01(void **state)
{
    (void)state;
    struct vector v;
    const uint8_t *payload = NULL;
    size_t payload_len = 0;
    load("eddsa-sig-01", &v);
    assert_true(v.has_pk);

    /* The vector's own ToBeSign is what its signature covers. */
    const uint8_t *sig = v.cbor + v.cbor_len - 64;
    assert_int_equal(crypto_sign_ed25519_verify_detached(sig, v.tbs, v.tbs_len, v.pk), 0);

    assert_int_equal(verify_copy(v.cbor, v.cbor_len, v.pk, &payload, &payload_len), NACRE_ATTEST_OK);
    assert_int_equal(payload_len, strlen(v.plaintext));
    assert_memory_equal(payload, v.plaintext, payload_len);
    assert_string_equal(v.plaintext, "This is the content.");

    /* Untagged: the same message without 0xD2 is accepted too. */
    assert_int_equal(v.cbor[0], 0xD2);
    assert_int_equal(verify_copy(v.cbor + 1, v.cbor_len - 1, v.pk, NULL, NULL), NACRE_ATTEST_OK);

    /* Another key; a flipped payload byte; a flipped signature byte. */
    uint8_t other[32];
    memcpy(other, v.pk, 32);
    other[0] ^= 1;
    assert_int_equal(verify_copy(v.cbor, v.cbor_len, other, &payload, &payload_len),
                     NACRE_ATTEST_ERR_BAD_SIGNATURE);
    assert_null(payload);
    assert_int_equal(payload_len, 0);
    uint8_t m[1024];
    memcpy(m, v.cbor, v.cbor_len);
    m[v.cbor_len - 66 - 1] ^= 0x01; /* last payload byte: '.' -> '/' */
    assert_int_equal(verify_copy(m, v.cbor_len, v.pk, NULL, NULL), NACRE_ATTEST_ERR_BAD_SIGNATURE);
    memcpy(m, v.cbor, v.cbor_len);
    m[v.cbor_len - 1] ^= 0x80;
    assert_int_equal(verify_copy(m, v.cbor_len, v.pk, NULL, NULL), NACRE_ATTEST_ERR_BAD_SIGNATURE);

    /* A byte after the message: refused as malformed. */
    memcpy(m, v.cbor, v.cbor_len);
    m[v.cbor_len] = 0x00;
    assert_int_equal(verify_copy(m, v.cbor_len + 1, v.pk, NULL, NULL), NACRE_ATTEST_ERR_COSE);

    /* Every truncation and every single-bit flip: never OK, except inside
     * the unprotected header {4: h'3131'} (bytes 8..12), which COSE leaves
     * unauthenticated by design: a different kid, or the same bytes under
     * another unprotected label, still carries a valid signature. */
    unsigned refused = 0, unprotected_ok = 0;
    const size_t unprot_at = 8, unprot_end = 13;
    assert_int_equal(v.cbor[unprot_at], 0xA1);
    for (size_t n = 0; n < v.cbor_len; n++) {
        assert_int_not_equal(verify_copy(v.cbor, n, v.pk, NULL, NULL), NACRE_ATTEST_OK);
        refused++;
    }
    for (size_t i = 0; i < v.cbor_len; i++) {
        for (unsigned b = 0; b < 8; b++) {
            memcpy(m, v.cbor, v.cbor_len);
            m[i] ^= (uint8_t)(1u << b);
            nacre_attest_status st = verify_copy(m, v.cbor_len, v.pk, NULL, NULL);
            if (i >= unprot_at && i < unprot_end && st == NACRE_ATTEST_OK) {
                unprotected_ok++;
                continue;
            }
            assert_int_not_equal(st, NACRE_ATTEST_OK);
            refused++;
        }
    }
    printf("cose: eddsa-sig-01 verified; %u truncations and bit flips refused, %u flips in the "
           "unauthenticated unprotected header still verify (as COSE intends)\n",
           refused, unprotected_ok);
}

/* The sign1-tests failures, all ES256 (alg -7) messages by a P-256 key we do
 * not hold, so they are checked against the EdDSA example key: what matters
 * is that each is refused, and why. */
static void test_sign_fail_vectors(void **state)
{
    (void)state;
    struct vector ed, v;
    load("eddsa-sig-01", &ed);
    static const struct {
        const char *name;
        nacre_attest_status expect;
        const char *why;
    } cases[] = {
        /* Tag 998 instead of 18: not a COSE_Sign1 at all, refused before
         * the headers are looked at (structural error). */
        {"sign-fail-01", NACRE_ATTEST_ERR_COSE, "wrong CBOR tag"},
        /* The payload was changed; alg -7 stops it first. */
        {"sign-fail-02", NACRE_ATTEST_ERR_ALGORITHM, "changed payload (ES256)"},
        /* alg -999: an unknown algorithm. */
        {"sign-fail-03", NACRE_ATTEST_ERR_ALGORITHM, "alg -999"},
        /* alg "unknown": a text-string algorithm we do not know. */
        {"sign-fail-04", NACRE_ATTEST_ERR_ALGORITHM, "alg \"unknown\""},
        /* ctyp added to the protected header (signature over the old one). */
        {"sign-fail-06", NACRE_ATTEST_ERR_ALGORITHM, "protected attribute added (ES256)"},
        /* ctyp removed from the protected header. */
        {"sign-fail-07", NACRE_ATTEST_ERR_ALGORITHM, "protected attribute removed (ES256)"},
        /* A valid ES256 message with alg only in the unprotected header:
         * no EdDSA in the protected header, so not for this verifier. */
        {"sign-pass-01", NACRE_ATTEST_ERR_ALGORITHM, "ES256, alg unprotected"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        load(cases[i].name, &v);
        nacre_attest_status st = verify_copy(v.cbor, v.cbor_len, ed.pk, NULL, NULL);
        printf("cose: %-12s %-36s -> %s\n", cases[i].name, cases[i].why, nacre_attest_strerror(st));
        assert_int_not_equal(st, NACRE_ATTEST_OK);
        assert_int_equal(st, cases[i].expect);
    }
}

/* Hand-made messages around the eddsa example: each header rule. */
static void test_header_rules(void **state)
{
    (void)state;
    struct att_device a;
    uint8_t msg[1024];
    static const uint8_t payload[] = "hello";
    att_device_new(&a, "att-cose", NULL, 0x57, "1.0.0", 1, 0x11, 0);
    uint8_t pk[32];
    memcpy(pk, a.alias_pk, 32);
    struct te_sign1 opt;

    /* {1: -8} signed by the Alias key: OK; untagged too. */
    memset(&opt, 0, sizeof opt);
    opt.alg = -8;
    size_t n = te_sign1(msg, sizeof msg, a.d.p, NACRE_PLUTON_KEY_ALIAS, &opt, payload, 5);
    assert_int_equal(verify_copy(msg, n, pk, NULL, NULL), NACRE_ATTEST_OK);
    opt.untagged = 1;
    n = te_sign1(msg, sizeof msg, a.d.p, NACRE_PLUTON_KEY_ALIAS, &opt, payload, 5);
    assert_int_equal(verify_copy(msg, n, pk, NULL, NULL), NACRE_ATTEST_OK);

    /* Other protected headers. */
    static const struct {
        uint8_t hdr[16];
        size_t len;
        nacre_attest_status expect;
    } hdrs[] = {
        {{0xA1, 0x01, 0x26}, 3, NACRE_ATTEST_ERR_ALGORITHM},               /* {1: -7} */
        {{0xA0}, 1, NACRE_ATTEST_ERR_ALGORITHM},                           /* {} */
        {{0}, 0, NACRE_ATTEST_ERR_ALGORITHM},                              /* h'' */
        {{0xA1, 0x01, 0x61, 0x78}, 4, NACRE_ATTEST_ERR_ALGORITHM},         /* {1: "x"} */
        {{0xA1, 0x01, 0x41, 0x00}, 4, NACRE_ATTEST_ERR_COSE},              /* {1: h'00'} */
        {{0xA2, 0x01, 0x27, 0x01, 0x27}, 5, NACRE_ATTEST_ERR_COSE},        /* alg twice */
        {{0xA2, 0x01, 0x27, 0x02, 0x81, 0x01}, 6, NACRE_ATTEST_ERR_COSE},  /* crit [1] */
        {{0xA2, 0x01, 0x27, 0x03, 0x00}, 5, NACRE_ATTEST_OK},              /* + content type 0 */
        {{0xA2, 0x01, 0x27, 0x61, 0x61, 0x00}, 6, NACRE_ATTEST_OK},        /* + "a": 0 */
        {{0xBF, 0x01, 0x27, 0xFF}, 4, NACRE_ATTEST_OK},                    /* indefinite map */
        {{0xA1, 0x01, 0x38, 0x07}, 4, NACRE_ATTEST_OK},                    /* -8 in 2 bytes */
        {{0xA1, 0x01, 0x27, 0x00}, 4, NACRE_ATTEST_ERR_COSE},              /* trailing byte */
        {{0x81, 0x27}, 2, NACRE_ATTEST_ERR_COSE},                          /* not a map */
        {{0xA1, 0x41, 0x01, 0x27}, 4, NACRE_ATTEST_ERR_COSE},              /* bstr label */
    };
    for (size_t i = 0; i < sizeof hdrs / sizeof hdrs[0]; i++) {
        memset(&opt, 0, sizeof opt);
        opt.protected_hdr = hdrs[i].hdr;
        opt.protected_len = hdrs[i].len;
        n = te_sign1(msg, sizeof msg, a.d.p, NACRE_PLUTON_KEY_ALIAS, &opt, payload, 5);
        nacre_attest_status st = verify_copy(msg, n, pk, NULL, NULL);
        if (st != hdrs[i].expect) {
            fail_msg("protected header case %zu: %s", i, nacre_attest_strerror(st));
        }
    }

    /* Detached payload (nil) and a short signature are malformed. */
    static const uint8_t detached[] = {0xD2, 0x84, 0x43, 0xA1, 0x01, 0x27, 0xA0, 0xF6, 0x58, 0x40};
    uint8_t d[sizeof detached + 64] = {0};
    memcpy(d, detached, sizeof detached);
    assert_int_equal(verify_copy(d, sizeof d, pk, NULL, NULL), NACRE_ATTEST_ERR_COSE);
    static const uint8_t short_sig[] = {0x84, 0x43, 0xA1, 0x01, 0x27, 0xA0, 0x40, 0x41, 0x00};
    assert_int_equal(verify_copy(short_sig, sizeof short_sig, pk, NULL, NULL), NACRE_ATTEST_ERR_COSE);
    /* COSE_Sign (tag 98) and an array of 3. */
    static const uint8_t sign98[] = {0xD8, 0x62, 0x80};
    assert_int_equal(verify_copy(sign98, sizeof sign98, pk, NULL, NULL), NACRE_ATTEST_ERR_COSE);
    static const uint8_t three[] = {0x83, 0x40, 0xA0, 0x40};
    assert_int_equal(verify_copy(three, sizeof three, pk, NULL, NULL), NACRE_ATTEST_ERR_COSE);
    /* Deep nesting in the unprotected header is refused, not recursed into. */
    uint8_t deep[200];
    size_t k = 0;
    deep[k++] = 0x84;
    deep[k++] = 0x43;
    deep[k++] = 0xA1;
    deep[k++] = 0x01;
    deep[k++] = 0x27;
    deep[k++] = 0xA1;
    deep[k++] = 0x05;
    for (int i = 0; i < 100; i++) {
        deep[k++] = 0x81;
    }
    deep[k++] = 0x00;
    deep[k++] = 0x40;
    deep[k++] = 0x40;
    assert_int_equal(verify_copy(deep, k, pk, NULL, NULL), NACRE_ATTEST_ERR_COSE);

    assert_int_equal(nacre_attest_cose_verify(NULL, 10, pk, NULL, NULL), NACRE_ATTEST_ERR_ARGUMENT);
    assert_int_equal(nacre_attest_cose_verify(msg, n, NULL, NULL, NULL), NACRE_ATTEST_ERR_ARGUMENT);
    att_device_free(&a);
}

int main(int argc, char **argv)
{
    if (argc > 1) {
        attest_dir = argv[1];
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_eddsa_sig_01),
        cmocka_unit_test(test_sign_fail_vectors),
        cmocka_unit_test(test_header_rules),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
