/*
 * Evidence from a host device that ran the real boot stage: claims, the
 * round trip through the verifier, the byte layout (checked against the
 * independent encoder in attest_test.c), determinism, buffer handling, and
 * the golden files.
 *
 * Golden files: tests/attest/golden/evidence-fixed-uds.cbor and
 * token-fixed-uds.cbor come from a device with a fixed entropy seed (so a
 * fixed UDS, DeviceID and boot seed), a fixed image, nonce and issued_at.
 * Any change to the bytes is a format change. To regenerate them (and only
 * then), run from the source tree:
 *
 *   NACRE_WRITE_GOLDEN=1 BUILD/tests/attest/test_attest_evidence tests/attest
 *
 * The program's first argument is the tests/attest directory (meson passes
 * it).
 *
 * The fuzz seeds in fuzz/corpus/attest/ come from the same golden device;
 * fuzz/fuzz_attest.c has their policy and digests baked in. To regenerate
 * them (after a format change, with the golden files):
 *
 *   NACRE_WRITE_FUZZ_SEEDS=fuzz/corpus/attest BUILD/tests/attest/test_attest_evidence tests/attest
 *
 * and paste the printed constants into fuzz_attest.c.
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

static const char *attest_dir = "tests/attest";

static const uint8_t nonce32[32] = {0,  1,  2,  3,  4,  5,  6,  7,  8,  9,  10, 11, 12, 13, 14, 15,
                                    16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31};
#define GOLDEN_IAT 1767225600u /* 2026-01-01T00:00:00Z */

/* ---- claims ----------------------------------------------------------------- */

static void test_claims_from_pluton(void **state)
{
    (void)state;
    struct att_device a;
    struct nacre_attest_claims c;
    att_device_new(&a, "att-claims", NULL, 0x51, "2.0.1", 7, 0x10, 0);

    assert_int_equal(nacre_attest_claims_init(&c, a.d.p, nonce32, 32, 1234), NACRE_ATTEST_OK);
    uint8_t ueid[33];
    ueid[0] = 0x01;
    att_hash(ueid + 1, a.device_pk, 32);
    assert_memory_equal(c.ueid, ueid, 33);
    assert_int_equal(c.lifecycle, NACRE_PLUTON_LIFECYCLE_PROVISIONED);
    assert_int_equal(c.debug_state, 0);
    assert_int_equal(c.security_counter, 7); /* raised by the confirm */
    assert_int_equal(c.key_epoch, 1);
    assert_int_equal(c.issued_at, 1234);
    assert_int_equal(c.nonce_len, 32);
    assert_memory_equal(c.nonce, nonce32, 32);
    assert_int_equal(c.component_count, 0);
    uint8_t seed[32];
    assert_int_equal(nacre_pluton_boot_seed(a.d.p, seed), NACRE_PLUTON_OK);
    assert_memory_equal(c.boot_seed, seed, 32);

    /* Nonce length bounds. */
    assert_int_equal(nacre_attest_claims_init(&c, a.d.p, nonce32, NACRE_ATTEST_NONCE_MIN - 1, 0),
                     NACRE_ATTEST_ERR_ARGUMENT);
    uint8_t big[NACRE_ATTEST_NONCE_MAX + 1] = {0};
    assert_int_equal(nacre_attest_claims_init(&c, a.d.p, big, sizeof big, 0), NACRE_ATTEST_ERR_ARGUMENT);
    assert_int_equal(nacre_attest_claims_init(&c, a.d.p, big, NACRE_ATTEST_NONCE_MAX, 0), NACRE_ATTEST_OK);
    assert_int_equal(nacre_attest_claims_init(&c, a.d.p, NULL, 8, 0), NACRE_ATTEST_ERR_ARGUMENT);
    assert_int_equal(nacre_attest_claims_init(NULL, a.d.p, nonce32, 8, 0), NACRE_ATTEST_ERR_ARGUMENT);

    /* Components: syntax and count. */
    assert_int_equal(nacre_attest_claims_init(&c, a.d.p, nonce32, 8, 0), NACRE_ATTEST_OK);
    static const char *bad_names[] = {"", "Thermostat", "a/b", "a b", "123456789012345678901234567890123"};
    static const char *bad_versions[] = {"", "1.2", "1.2.3.4", "01.2.3", "1.02.3", "1.2.x",
                                         "4294967296.0.0", "1..3", ".1.2", "1.2.3 ", "+1.2.3"};
    for (size_t i = 0; i < sizeof bad_names / sizeof bad_names[0]; i++) {
        struct nacre_attest_component x = a.comp;
        snprintf(x.name, sizeof x.name, "%s", bad_names[i]);
        if (strlen(bad_names[i]) > NACRE_ATTEST_NAME_MAX) {
            memset(x.name, 'a', sizeof x.name); /* no terminator inside the array */
        }
        assert_int_equal(nacre_attest_claims_add_component(&c, &x), NACRE_ATTEST_ERR_ARGUMENT);
    }
    for (size_t i = 0; i < sizeof bad_versions / sizeof bad_versions[0]; i++) {
        struct nacre_attest_component x = a.comp;
        snprintf(x.version, sizeof x.version, "%s", bad_versions[i]);
        assert_int_equal(nacre_attest_claims_add_component(&c, &x), NACRE_ATTEST_ERR_ARGUMENT);
    }
    struct nacre_attest_component ok = a.comp;
    snprintf(ok.name, sizeof ok.name, "a.b_c-9");
    snprintf(ok.version, sizeof ok.version, "4294967295.0.10");
    for (unsigned i = 0; i < NACRE_ATTEST_COMPONENTS_MAX; i++) {
        assert_int_equal(nacre_attest_claims_add_component(&c, &ok), NACRE_ATTEST_OK);
    }
    assert_int_equal(nacre_attest_claims_add_component(&c, &ok), NACRE_ATTEST_ERR_TOO_MANY);
    assert_int_equal(c.component_count, NACRE_ATTEST_COMPONENTS_MAX);
    att_device_free(&a);
}

static void test_not_booted(void **state)
{
    (void)state;
    struct nacre_test_device d;
    struct nacre_attest_claims c;
    uint8_t out[ATT_EVIDENCE_BUF];
    size_t len = 99;
    nacre_test_device_new(&d, "att-noboot", NULL, 1);
    assert_int_equal(nacre_attest_claims_init(&c, d.p, nonce32, 32, 0), NACRE_ATTEST_ERR_PLUTON);
    assert_int_equal(nacre_attest_dice_cert(d.p, out, sizeof out, &len), NACRE_ATTEST_ERR_PLUTON);
    assert_int_equal(len, 0);
    memset(&c, 0, sizeof c);
    c.nonce_len = 32;
    assert_int_equal(nacre_attest_token(d.p, &c, out, sizeof out, &len), NACRE_ATTEST_ERR_PLUTON);
    assert_int_equal(nacre_attest_evidence(d.p, &c, out, sizeof out, &len), NACRE_ATTEST_ERR_PLUTON);
    nacre_test_device_free(&d);
}

/* ---- round trip -------------------------------------------------------------- */

static void round_trip(int secure)
{
    struct att_device a;
    struct nacre_attest_policy pol;
    struct nacre_attest_result res;
    uint8_t ev[ATT_EVIDENCE_BUF];
    att_device_new(&a, secure ? "att-rt-sec" : "att-rt", NULL, 0x52, "1.4.0", 3, 0x20, secure);
    size_t len = att_evidence(&a, nonce32, 32, 1700000000u, ev, sizeof ev);
    assert_true(len <= NACRE_ATTEST_EVIDENCE_MAX);

    att_policy(&pol, &a, nonce32, 32);
    pol.require_secured = secure;
    pol.min_security_counter = 3;
    nacre_attest_status st = nacre_attest_verify(ev, len, &pol, &res);
    if (st != NACRE_ATTEST_OK) {
        print_error("failures 0x%x\n", (unsigned)res.failures);
    }
    assert_int_equal(st, NACRE_ATTEST_OK);
    assert_int_equal(res.failures, 0);
    assert_true(res.claims_valid);
    assert_memory_equal(res.alias_pk, a.alias_pk, 32);
    assert_memory_equal(res.code_hash, a.r0, 32);
    assert_int_equal(res.claims.component_count, 1);
    assert_string_equal(res.claims.components[0].name, ATT_COMPONENT);
    assert_string_equal(res.claims.components[0].version, "1.4.0");
    assert_memory_equal(res.claims.components[0].measurement, a.boot.image.measurement, 32);
    assert_int_equal(res.claims.components[0].security_counter, 3);
    assert_int_equal(res.claims.issued_at, 1700000000u);
    assert_int_equal(res.claims.lifecycle,
                     secure ? NACRE_PLUTON_LIFECYCLE_SECURED : NACRE_PLUTON_LIFECYCLE_PROVISIONED);
    assert_int_equal(res.claims.debug_state, secure ? 3 : 0);
    assert_int_equal(res.claims.security_counter, 3);

    /* The claims that went in are the claims that came out. */
    struct nacre_attest_claims c;
    att_claims(&a, &c, nonce32, 32, 1700000000u);
    assert_memory_equal(&res.claims.components[0], &c.components[0], sizeof c.components[0]);
    assert_memory_equal(res.claims.boot_seed, c.boot_seed, 32);
    assert_memory_equal(res.claims.ueid, c.ueid, 33);

    /* The DeviceID key is stable, the Alias key follows the firmware. */
    uint8_t cert[ATT_EVIDENCE_BUF];
    size_t cert_len;
    assert_int_equal(nacre_attest_dice_cert(a.d.p, cert, sizeof cert, &cert_len), NACRE_ATTEST_OK);
    const uint8_t *payload;
    size_t payload_len;
    assert_int_equal(nacre_attest_cose_verify(cert, cert_len, a.device_pk, &payload, &payload_len),
                     NACRE_ATTEST_OK);
    assert_true(payload > cert && payload + payload_len < cert + cert_len);
    att_device_free(&a);
}

static void test_round_trip_provisioned(void **state)
{
    (void)state;
    round_trip(0);
}

static void test_round_trip_secured(void **state)
{
    (void)state;
    round_trip(1);
}

/* Without issued_at the iat claim is left out, and the token still verifies;
 * a nonce of any allowed length works. */
static void test_no_clock_and_nonce_lengths(void **state)
{
    (void)state;
    struct att_device a;
    struct nacre_attest_policy pol;
    struct nacre_attest_result res;
    uint8_t ev[ATT_EVIDENCE_BUF], big[NACRE_ATTEST_NONCE_MAX];
    randombytes_buf(big, sizeof big);
    att_device_new(&a, "att-noclock", NULL, 0x53, "1.0.0", 1, 0x30, 0);
    size_t lens[] = {NACRE_ATTEST_NONCE_MIN, 16, 32, NACRE_ATTEST_NONCE_MAX};
    for (size_t i = 0; i < sizeof lens / sizeof lens[0]; i++) {
        size_t len = att_evidence(&a, big, lens[i], 0, ev, sizeof ev);
        att_policy(&pol, &a, big, lens[i]);
        assert_int_equal(nacre_attest_verify(ev, len, &pol, &res), NACRE_ATTEST_OK);
        assert_int_equal(res.claims.issued_at, 0);
        assert_int_equal(res.claims.nonce_len, lens[i]);
    }
    att_device_free(&a);
}

/* ---- byte layout --------------------------------------------------------------- */

/* The independent encoder reproduces the library's payloads exactly, and the
 * evidence is [cert, token] of what _dice_cert and _token make. */
static void test_layout_matches_independent_encoder(void **state)
{
    (void)state;
    struct att_device a;
    struct nacre_attest_claims c;
    uint8_t ev[ATT_EVIDENCE_BUF], cert[ATT_EVIDENCE_BUF], token[ATT_EVIDENCE_BUF];
    size_t ev_len, cert_len, token_len;
    att_device_new(&a, "att-layout", NULL, 0x54, "3.2.1", 9, 0x40, 0);

    uint64_t iats[] = {0, 23, 24, 255, 65536, 1767225600u, UINT64_MAX};
    for (size_t k = 0; k < sizeof iats / sizeof iats[0]; k++) {
        att_claims(&a, &c, nonce32, 16 + k, iats[k]);
        /* A second component with large numbers: every head width. */
        struct nacre_attest_component x = a.comp;
        snprintf(x.name, sizeof x.name, "radio-fw_2.x");
        snprintf(x.version, sizeof x.version, "10.200.65536");
        x.security_counter = k % 2 ? UINT32_MAX : 24;
        assert_int_equal(nacre_attest_claims_add_component(&c, &x), NACRE_ATTEST_OK);

        assert_int_equal(nacre_attest_evidence(a.d.p, &c, ev, sizeof ev, &ev_len), NACRE_ATTEST_OK);
        assert_int_equal(nacre_attest_dice_cert(a.d.p, cert, sizeof cert, &cert_len), NACRE_ATTEST_OK);
        assert_int_equal(nacre_attest_token(a.d.p, &c, token, sizeof token, &token_len), NACRE_ATTEST_OK);
        assert_int_equal(ev_len, 1 + cert_len + token_len);
        assert_int_equal(ev[0], 0x82);
        assert_memory_equal(ev + 1, cert, cert_len);
        assert_memory_equal(ev + 1 + cert_len, token, token_len);

        /* Token: the whole COSE_Sign1, re-made by the test encoder and
         * signed by the same (deterministic) Alias key, is the same bytes. */
        struct te w;
        te_init(&w, 0);
        te_claims(&w, &c);
        uint8_t kid[32], again[ATT_EVIDENCE_BUF];
        att_hash(kid, a.alias_pk, 32);
        struct te_sign1 opt = {NULL, 0, -8, kid, 0, 0};
        size_t again_len = te_sign1(again, sizeof again, a.d.p, NACRE_PLUTON_KEY_ALIAS, &opt, w.buf, w.len);
        assert_int_equal(again_len, token_len);
        assert_memory_equal(again, token, token_len);

        /* Certificate: likewise with the DeviceID key. */
        struct te_cert tc;
        te_cert_of(&tc, a.d.p);
        te_init(&w, 0);
        te_cert(&w, &tc);
        att_hash(kid, a.device_pk, 32);
        again_len = te_sign1(again, sizeof again, a.d.p, NACRE_PLUTON_KEY_DEVICE_ID, &opt, w.buf, w.len);
        assert_int_equal(again_len, cert_len);
        assert_memory_equal(again, cert, cert_len);

        /* First bytes, as docs/attestation.md lists them. */
        static const uint8_t head[] = {0xD2, 0x84, 0x43, 0xA1, 0x01, 0x27, 0xA1, 0x04, 0x58, 0x20};
        assert_memory_equal(token, head, sizeof head);
        assert_memory_equal(cert, head, sizeof head);
    }

    /* Determinism: the same claims give the same evidence. */
    uint8_t ev2[ATT_EVIDENCE_BUF];
    size_t ev2_len;
    assert_int_equal(nacre_attest_evidence(a.d.p, &c, ev2, sizeof ev2, &ev2_len), NACRE_ATTEST_OK);
    assert_int_equal(ev2_len, ev_len);
    assert_memory_equal(ev2, ev, ev_len);
    att_device_free(&a);
}

/* Every output size below the needed one is refused without writing past
 * the buffer (exact-size heap buffers: ASan and valgrind watch the edge). */
static void test_buffer_sizes(void **state)
{
    (void)state;
    struct att_device a;
    struct nacre_attest_claims c;
    uint8_t full[ATT_EVIDENCE_BUF];
    size_t need, got;
    att_device_new(&a, "att-bufs", NULL, 0x55, "1.0.0", 1, 0x50, 0);
    att_claims(&a, &c, nonce32, 32, 5);
    assert_int_equal(nacre_attest_evidence(a.d.p, &c, full, sizeof full, &need), NACRE_ATTEST_OK);
    for (size_t n = 0; n < need; n++) {
        uint8_t *buf = malloc(n ? n : 1);
        assert_non_null(buf);
        got = 77;
        assert_int_equal(nacre_attest_evidence(a.d.p, &c, buf, n, &got),
                         NACRE_ATTEST_ERR_BUFFER_TOO_SMALL);
        assert_int_equal(got, 0);
        free(buf);
    }
    uint8_t *exact = malloc(need);
    assert_non_null(exact);
    assert_int_equal(nacre_attest_evidence(a.d.p, &c, exact, need, &got), NACRE_ATTEST_OK);
    assert_int_equal(got, need);
    assert_memory_equal(exact, full, need);
    free(exact);

    /* Arguments. */
    assert_int_equal(nacre_attest_evidence(NULL, &c, full, sizeof full, &got), NACRE_ATTEST_ERR_ARGUMENT);
    assert_int_equal(nacre_attest_evidence(a.d.p, NULL, full, sizeof full, &got), NACRE_ATTEST_ERR_ARGUMENT);
    assert_int_equal(nacre_attest_evidence(a.d.p, &c, NULL, sizeof full, &got), NACRE_ATTEST_ERR_ARGUMENT);
    assert_int_equal(nacre_attest_evidence(a.d.p, &c, full, sizeof full, NULL), NACRE_ATTEST_ERR_ARGUMENT);
    assert_int_equal(nacre_attest_token(a.d.p, &c, full, sizeof full, NULL), NACRE_ATTEST_ERR_ARGUMENT);
    assert_int_equal(nacre_attest_dice_cert(a.d.p, NULL, 10, &got), NACRE_ATTEST_ERR_ARGUMENT);
    struct nacre_attest_claims bad = c;
    bad.nonce_len = NACRE_ATTEST_NONCE_MAX + 1;
    assert_int_equal(nacre_attest_token(a.d.p, &bad, full, sizeof full, &got), NACRE_ATTEST_ERR_ARGUMENT);
    bad = c;
    bad.component_count = NACRE_ATTEST_COMPONENTS_MAX + 1;
    assert_int_equal(nacre_attest_token(a.d.p, &bad, full, sizeof full, &got), NACRE_ATTEST_ERR_ARGUMENT);
    bad = c;
    memset(bad.components[0].name, 'x', sizeof bad.components[0].name); /* unterminated */
    assert_int_equal(nacre_attest_token(a.d.p, &bad, full, sizeof full, &got), NACRE_ATTEST_ERR_ARGUMENT);
    att_device_free(&a);
}

/* Sizes: one component (the common case) and the largest evidence. */
static void test_sizes(void **state)
{
    (void)state;
    struct att_device a;
    struct nacre_attest_claims c;
    uint8_t buf[ATT_EVIDENCE_BUF];
    size_t ev_len, token_len, cert_len;
    att_device_new(&a, "att-sizes", NULL, 0x56, "1.2.3", 5, 0x60, 0);
    att_claims(&a, &c, nonce32, 32, GOLDEN_IAT);
    assert_int_equal(nacre_attest_token(a.d.p, &c, buf, sizeof buf, &token_len), NACRE_ATTEST_OK);
    assert_int_equal(nacre_attest_dice_cert(a.d.p, buf, sizeof buf, &cert_len), NACRE_ATTEST_OK);
    assert_int_equal(nacre_attest_evidence(a.d.p, &c, buf, sizeof buf, &ev_len), NACRE_ATTEST_OK);
    printf("sizes: token %zu B, Alias certificate %zu B, evidence %zu B "
           "(1 component, 32-byte nonce, iat)\n", token_len, cert_len, ev_len);
    assert_true(token_len < 592); /* TF-M's PSA token budget */

    /* The largest: 64-byte nonce, 4 components with 32-char names and versions. */
    uint8_t big[NACRE_ATTEST_NONCE_MAX] = {0};
    assert_int_equal(nacre_attest_claims_init(&c, a.d.p, big, sizeof big, UINT64_MAX), NACRE_ATTEST_OK);
    struct nacre_attest_component x = a.comp;
    memset(x.name, 'n', NACRE_ATTEST_NAME_MAX);
    x.name[NACRE_ATTEST_NAME_MAX] = '\0';
    snprintf(x.version, sizeof x.version, "4294967295.4294967295.4294967295");
    x.security_counter = UINT32_MAX;
    for (unsigned i = 0; i < NACRE_ATTEST_COMPONENTS_MAX; i++) {
        assert_int_equal(nacre_attest_claims_add_component(&c, &x), NACRE_ATTEST_OK);
    }
    c.security_counter = c.key_epoch = UINT32_MAX;
    assert_int_equal(nacre_attest_token(a.d.p, &c, buf, sizeof buf, &token_len), NACRE_ATTEST_OK);
    assert_int_equal(nacre_attest_evidence(a.d.p, &c, buf, sizeof buf, &ev_len), NACRE_ATTEST_OK);
    printf("sizes: largest token %zu B, largest evidence %zu B (cap %u)\n", token_len, ev_len,
           NACRE_ATTEST_EVIDENCE_MAX);
    assert_true(ev_len <= NACRE_ATTEST_EVIDENCE_MAX);
    att_device_free(&a);
}

/* ---- golden files ----------------------------------------------------------------- */

static uint8_t *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        return NULL;
    }
    uint8_t *buf = malloc(ATT_EVIDENCE_BUF);
    assert_non_null(buf);
    *len = fread(buf, 1, ATT_EVIDENCE_BUF, f);
    fclose(f);
    return buf;
}

static void write_file(const char *path, const uint8_t *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, len, f), len);
    assert_int_equal(fclose(f), 0);
    printf("golden: wrote %s (%zu bytes)\n", path, len);
}

/* The golden device: fixed entropy seed, keys tag 0x61, thermostat 1.2.3
 * with security counter 5 and a 4 KiB payload of 0x33 + i. */
static void golden_device(struct att_device *a)
{
    uint8_t seed[32];
    for (unsigned i = 0; i < 32; i++) {
        seed[i] = (uint8_t)(0xA0 + i);
    }
    att_device_new(a, "att-golden", seed, 0x61, "1.2.3", 5, 0x33, 0);
}

static void check_golden(const char *name, const uint8_t *made, size_t made_len)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/golden/%s", attest_dir, name);
    const char *w = getenv("NACRE_WRITE_GOLDEN");
    if (w != NULL && strcmp(w, "1") == 0) {
        write_file(path, made, made_len);
    }
    size_t len = 0;
    uint8_t *golden = read_file(path, &len);
    if (golden == NULL) {
        fail_msg("missing golden file %s (see the top of test_evidence.c)", path);
    }
    assert_int_equal(len, made_len);
    assert_memory_equal(golden, made, len);
    free(golden);
}

static void hex_line(const char *name, const uint8_t *b, size_t n)
{
    printf("fuzz: %s ", name);
    for (size_t i = 0; i < n; i++) {
        printf("%02x", b[i]);
    }
    printf("\n");
}

/* The second component of the two-component fuzz seed (not booted: a
 * later stage's report). */
static void fuzz_radio(struct nacre_attest_component *x)
{
    memset(x, 0, sizeof *x);
    snprintf(x->name, sizeof x->name, "radio");
    snprintf(x->version, sizeof x->version, "0.9.0");
    memset(x->measurement, 0x5A, 32);
    memset(x->signer_id, 0xA5, 32);
    x->security_counter = 2;
}

static void write_seed(const char *dir, const char *name, const uint8_t *b, size_t n)
{
    char path[1024];
    uint8_t digest[32];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    write_file(path, b, n);
    att_hash(digest, b, n);
    hex_line(name, digest, 32);
}

/* Valid evidences (and a token and a certificate) for fuzz_attest. */
static void write_fuzz_seeds(struct att_device *a, const char *dir)
{
    struct nacre_attest_claims c;
    uint8_t buf[ATT_EVIDENCE_BUF];
    size_t len;
    hex_line("device_id_pk", a->device_pk, 32);
    hex_line("alias_pk", a->alias_pk, 32);
    hex_line("measurement", a->comp.measurement, 32);
    hex_line("signer_id", a->comp.signer_id, 32);
    printf("fuzz: component %s %s %u\n", a->comp.name, a->comp.version,
           (unsigned)a->comp.security_counter);

    static const struct {
        const char *name;
        uint64_t iat;
        int radio;
    } ev[] = {
        {"evidence-golden", GOLDEN_IAT, 0},
        {"evidence-no-iat", 0, 0},
        {"evidence-max-iat", UINT64_MAX, 0},
        {"evidence-two-components", GOLDEN_IAT, 1},
    };
    for (size_t i = 0; i < sizeof ev / sizeof ev[0]; i++) {
        att_claims(a, &c, nonce32, 32, ev[i].iat);
        if (ev[i].radio) {
            struct nacre_attest_component x;
            fuzz_radio(&x);
            assert_int_equal(nacre_attest_claims_add_component(&c, &x), NACRE_ATTEST_OK);
        }
        assert_int_equal(nacre_attest_evidence(a->d.p, &c, buf, sizeof buf, &len), NACRE_ATTEST_OK);
        write_seed(dir, ev[i].name, buf, len);
    }
    att_claims(a, &c, nonce32, 32, GOLDEN_IAT);
    assert_int_equal(nacre_attest_token(a->d.p, &c, buf, sizeof buf, &len), NACRE_ATTEST_OK);
    write_seed(dir, "token-golden", buf, len);
    assert_int_equal(nacre_attest_dice_cert(a->d.p, buf, sizeof buf, &len), NACRE_ATTEST_OK);
    write_seed(dir, "cert-golden", buf, len);
}

static void test_golden(void **state)
{
    (void)state;
    struct att_device a, b;
    struct nacre_attest_claims c;
    uint8_t ev[ATT_EVIDENCE_BUF], token[ATT_EVIDENCE_BUF], ev_b[ATT_EVIDENCE_BUF];
    size_t ev_len, token_len, ev_b_len;

    golden_device(&a);
    att_claims(&a, &c, nonce32, 32, GOLDEN_IAT);
    assert_int_equal(nacre_attest_evidence(a.d.p, &c, ev, sizeof ev, &ev_len), NACRE_ATTEST_OK);
    assert_int_equal(nacre_attest_token(a.d.p, &c, token, sizeof token, &token_len), NACRE_ATTEST_OK);

    /* A second device from the same seed, in another directory: same bytes. */
    golden_device(&b);
    ev_b_len = att_evidence(&b, nonce32, 32, GOLDEN_IAT, ev_b, sizeof ev_b);
    assert_int_equal(ev_b_len, ev_len);
    assert_memory_equal(ev_b, ev, ev_len);
    att_device_free(&b);

    check_golden("evidence-fixed-uds.cbor", ev, ev_len);
    check_golden("token-fixed-uds.cbor", token, token_len);

    /* The committed evidence verifies against the device's DeviceID key. */
    char path[1024];
    size_t len;
    snprintf(path, sizeof path, "%s/golden/evidence-fixed-uds.cbor", attest_dir);
    uint8_t *golden = read_file(path, &len);
    assert_non_null(golden);
    struct nacre_attest_policy pol;
    struct nacre_attest_result res;
    att_policy(&pol, &a, nonce32, 32);
    pol.min_security_counter = 5;
    assert_int_equal(nacre_attest_verify(golden, len, &pol, &res), NACRE_ATTEST_OK);
    assert_int_equal(res.claims.issued_at, GOLDEN_IAT);
    /* ... and its token alone verifies with the certified Alias key. */
    size_t cert_len, tok_len;
    att_split(golden, len, &cert_len, &tok_len);
    assert_int_equal(nacre_attest_cose_verify(golden + 1 + cert_len, tok_len, res.alias_pk, NULL, NULL),
                     NACRE_ATTEST_OK);
    free(golden);
    printf("golden: evidence %zu B, token %zu B, both match\n", ev_len, token_len);
    const char *seeds = getenv("NACRE_WRITE_FUZZ_SEEDS");
    if (seeds != NULL && seeds[0] != '\0') {
        write_fuzz_seeds(&a, seeds);
    }
    att_device_free(&a);
}

int main(int argc, char **argv)
{
    if (argc > 1) {
        attest_dir = argv[1];
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_claims_from_pluton),
        cmocka_unit_test(test_not_booted),
        cmocka_unit_test(test_round_trip_provisioned),
        cmocka_unit_test(test_round_trip_secured),
        cmocka_unit_test(test_no_clock_and_nonce_lengths),
        cmocka_unit_test(test_layout_matches_independent_encoder),
        cmocka_unit_test(test_buffer_sizes),
        cmocka_unit_test(test_sizes),
        cmocka_unit_test(test_golden),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
