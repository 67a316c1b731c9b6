/*
 * The verifier's nonce store: single use, expiry, reuse of slots, full
 * store, and its use by nacre_attest_verify (only authentic evidence uses a
 * nonce up).
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

#define N NACRE_ATTEST_NONCE_BYTES

static struct nacre_attest_nonce_store store; /* 2.6 KB: static */

static void test_issue_consume_once(void **state)
{
    (void)state;
    uint8_t a[N], b[N];
    nacre_attest_nonce_store_init(&store, 60);
    assert_int_equal(nacre_attest_nonce_issue(&store, 1000, a), NACRE_ATTEST_OK);
    assert_int_equal(nacre_attest_nonce_issue(&store, 1000, b), NACRE_ATTEST_OK);
    assert_memory_not_equal(a, b, N);
    assert_int_equal(nacre_attest_nonce_consume(&store, a, N, 1059), NACRE_ATTEST_OK);
    assert_int_equal(nacre_attest_nonce_consume(&store, a, N, 1059), NACRE_ATTEST_ERR_NONCE_REUSED);
    assert_int_equal(nacre_attest_nonce_consume(&store, a, N, 5000), NACRE_ATTEST_ERR_NONCE_REUSED);
    /* b: valid until 1000 + 60, exclusive. */
    assert_int_equal(nacre_attest_nonce_consume(&store, b, N, 1060), NACRE_ATTEST_ERR_NONCE_EXPIRED);
    assert_int_equal(nacre_attest_nonce_consume(&store, b, N, 1060), NACRE_ATTEST_ERR_NONCE_EXPIRED);

    /* Never issued; wrong length; one bit off; all zero (a free slot's bytes). */
    uint8_t c[N];
    randombytes_buf(c, N);
    assert_int_equal(nacre_attest_nonce_consume(&store, c, N, 1000), NACRE_ATTEST_ERR_NONCE_UNKNOWN);
    assert_int_equal(nacre_attest_nonce_consume(&store, a, N - 1, 1000), NACRE_ATTEST_ERR_NONCE_UNKNOWN);
    assert_int_equal(nacre_attest_nonce_issue(&store, 2000, c), NACRE_ATTEST_OK);
    c[N - 1] ^= 1;
    assert_int_equal(nacre_attest_nonce_consume(&store, c, N, 2000), NACRE_ATTEST_ERR_NONCE_UNKNOWN);
    c[N - 1] ^= 1;
    uint8_t zero[N] = {0};
    assert_int_equal(nacre_attest_nonce_consume(&store, zero, N, 2000), NACRE_ATTEST_ERR_NONCE_UNKNOWN);
    assert_int_equal(nacre_attest_nonce_consume(&store, c, N, 2000), NACRE_ATTEST_OK);

    assert_int_equal(nacre_attest_nonce_issue(NULL, 0, a), NACRE_ATTEST_ERR_ARGUMENT);
    assert_int_equal(nacre_attest_nonce_issue(&store, 0, NULL), NACRE_ATTEST_ERR_ARGUMENT);
    assert_int_equal(nacre_attest_nonce_consume(NULL, a, N, 0), NACRE_ATTEST_ERR_ARGUMENT);
    assert_int_equal(nacre_attest_nonce_consume(&store, NULL, N, 0), NACRE_ATTEST_ERR_ARGUMENT);
    nacre_attest_nonce_store_init(NULL, 1); /* harmless */
}

static void test_full_and_reuse_of_slots(void **state)
{
    (void)state;
    static uint8_t issued[NACRE_ATTEST_NONCE_SLOTS][N];
    uint8_t extra[N];
    nacre_attest_nonce_store_init(&store, 100);
    for (unsigned i = 0; i < NACRE_ATTEST_NONCE_SLOTS; i++) {
        assert_int_equal(nacre_attest_nonce_issue(&store, 10, issued[i]), NACRE_ATTEST_OK);
    }
    /* Every slot live: full. */
    assert_int_equal(nacre_attest_nonce_issue(&store, 50, extra), NACRE_ATTEST_ERR_NONCE_STORE_FULL);

    /* A used slot is taken when nothing better is free... */
    assert_int_equal(nacre_attest_nonce_consume(&store, issued[7], N, 50), NACRE_ATTEST_OK);
    assert_int_equal(nacre_attest_nonce_issue(&store, 50, extra), NACRE_ATTEST_OK);
    assert_int_equal(nacre_attest_nonce_issue(&store, 50, extra), NACRE_ATTEST_ERR_NONCE_STORE_FULL);
    /* ... and the nonce that was in it is now simply unknown (still refused). */
    assert_int_equal(nacre_attest_nonce_consume(&store, issued[7], N, 50), NACRE_ATTEST_ERR_NONCE_UNKNOWN);
    /* The others are intact. */
    assert_int_equal(nacre_attest_nonce_consume(&store, issued[8], N, 50), NACRE_ATTEST_OK);

    /* At 110 the first batch has expired (issued at 10, ttl 100) but the
     * nonce issued at 50 is live until 150: 63 free slots. */
    for (unsigned i = 0; i + 1 < NACRE_ATTEST_NONCE_SLOTS; i++) {
        assert_int_equal(nacre_attest_nonce_issue(&store, 110, issued[i]), NACRE_ATTEST_OK);
    }
    assert_int_equal(nacre_attest_nonce_issue(&store, 110, extra), NACRE_ATTEST_ERR_NONCE_STORE_FULL);
    assert_int_equal(nacre_attest_nonce_consume(&store, extra, N, 149), NACRE_ATTEST_OK);
    /* Once everything has expired, every slot can be issued again. */
    for (unsigned i = 0; i < NACRE_ATTEST_NONCE_SLOTS; i++) {
        assert_int_equal(nacre_attest_nonce_issue(&store, 300, issued[i]), NACRE_ATTEST_OK);
    }
    assert_int_equal(nacre_attest_nonce_issue(&store, 300, extra), NACRE_ATTEST_ERR_NONCE_STORE_FULL);
    for (unsigned i = 0; i < NACRE_ATTEST_NONCE_SLOTS; i++) {
        assert_int_equal(nacre_attest_nonce_consume(&store, issued[i], N, 399), NACRE_ATTEST_OK);
    }
}

/* Expired slots are preferred over used ones (keeps "reused" reports). */
static void test_prefers_expired_over_used(void **state)
{
    (void)state;
    static uint8_t issued[NACRE_ATTEST_NONCE_SLOTS][N];
    uint8_t fresh[N];
    nacre_attest_nonce_store_init(&store, 10);
    for (unsigned i = 0; i < NACRE_ATTEST_NONCE_SLOTS; i++) {
        /* Slot 0 issued at 0 (expires at 10), the rest at 100. */
        assert_int_equal(nacre_attest_nonce_issue(&store, i == 0 ? 0 : 100, issued[i]), NACRE_ATTEST_OK);
    }
    assert_int_equal(nacre_attest_nonce_consume(&store, issued[1], N, 100), NACRE_ATTEST_OK);
    assert_int_equal(nacre_attest_nonce_issue(&store, 100, fresh), NACRE_ATTEST_OK); /* takes slot 0 */
    assert_int_equal(nacre_attest_nonce_consume(&store, issued[1], N, 100), NACRE_ATTEST_ERR_NONCE_REUSED);
    assert_int_equal(nacre_attest_nonce_consume(&store, issued[0], N, 100), NACRE_ATTEST_ERR_NONCE_UNKNOWN);
}

/* ttl 0 is taken as 1 second; a clock near the end never wraps. */
static void test_ttl_edges(void **state)
{
    (void)state;
    uint8_t a[N];
    nacre_attest_nonce_store_init(&store, 0);
    assert_int_equal(store.ttl, 1);
    assert_int_equal(nacre_attest_nonce_issue(&store, 0, a), NACRE_ATTEST_OK);
    assert_int_equal(nacre_attest_nonce_consume(&store, a, N, 0), NACRE_ATTEST_OK);
    nacre_attest_nonce_store_init(&store, UINT64_MAX);
    assert_int_equal(nacre_attest_nonce_issue(&store, UINT64_MAX - 5, a), NACRE_ATTEST_OK);
    assert_int_equal(nacre_attest_nonce_consume(&store, a, N, UINT64_MAX - 1), NACRE_ATTEST_OK);
}

/* The store through nacre_attest_verify. */
static void test_verify_with_store(void **state)
{
    (void)state;
    struct att_device a;
    struct nacre_attest_policy pol;
    struct nacre_attest_result res;
    uint8_t nonce[N], ev[ATT_EVIDENCE_BUF];
    att_device_new(&a, "att-nstore", NULL, 0x58, "1.0.0", 1, 0x21, 0);
    nacre_attest_nonce_store_init(&store, 30);
    att_policy(&pol, &a, NULL, 0);
    pol.nonce_store = &store;

    assert_int_equal(nacre_attest_nonce_issue(&store, 100, nonce), NACRE_ATTEST_OK);
    size_t len = att_evidence(&a, nonce, N, 100, ev, sizeof ev);

    /* Garbage with the right nonce does not burn it: a tampered token. */
    uint8_t bad[ATT_EVIDENCE_BUF];
    memcpy(bad, ev, len);
    bad[len - 1] ^= 1; /* last signature byte */
    pol.now = 110;
    assert_int_equal(nacre_attest_verify(bad, len, &pol, &res), NACRE_ATTEST_ERR_REFUSED);
    assert_int_equal(res.failures, NACRE_ATTEST_FAIL_SIGNATURE);

    nacre_attest_status st = nacre_attest_verify(ev, len, &pol, &res);
    if (st != NACRE_ATTEST_OK) {
        print_error("failures 0x%x\n", (unsigned)res.failures);
    }
    assert_int_equal(st, NACRE_ATTEST_OK);
    assert_int_equal(nacre_attest_verify(ev, len, &pol, &res), NACRE_ATTEST_ERR_REFUSED);
    assert_int_equal(res.failures, NACRE_ATTEST_FAIL_NONCE_REUSED);

    /* Expired. */
    assert_int_equal(nacre_attest_nonce_issue(&store, 200, nonce), NACRE_ATTEST_OK);
    len = att_evidence(&a, nonce, N, 200, ev, sizeof ev);
    pol.now = 230;
    assert_int_equal(nacre_attest_verify(ev, len, &pol, &res), NACRE_ATTEST_ERR_REFUSED);
    assert_int_equal(res.failures, NACRE_ATTEST_FAIL_NONCE_EXPIRED);

    /* Never issued (and a nonce of another length). */
    randombytes_buf(nonce, N);
    len = att_evidence(&a, nonce, N, 200, ev, sizeof ev);
    pol.now = 201;
    assert_int_equal(nacre_attest_verify(ev, len, &pol, &res), NACRE_ATTEST_ERR_REFUSED);
    assert_int_equal(res.failures, NACRE_ATTEST_FAIL_NONCE);
    len = att_evidence(&a, nonce, 16, 200, ev, sizeof ev);
    assert_int_equal(nacre_attest_verify(ev, len, &pol, &res), NACRE_ATTEST_ERR_REFUSED);
    assert_int_equal(res.failures, NACRE_ATTEST_FAIL_NONCE);

    /* Both an expected nonce and a store: both must agree. */
    assert_int_equal(nacre_attest_nonce_issue(&store, 300, nonce), NACRE_ATTEST_OK);
    len = att_evidence(&a, nonce, N, 300, ev, sizeof ev);
    pol.now = 301;
    uint8_t other[N];
    memcpy(other, nonce, N);
    other[0] ^= 1;
    pol.nonce = other;
    pol.nonce_len = N;
    assert_int_equal(nacre_attest_verify(ev, len, &pol, &res), NACRE_ATTEST_ERR_REFUSED);
    assert_int_equal(res.failures, NACRE_ATTEST_FAIL_NONCE);
    /* Authentic evidence used the nonce up although it was refused. */
    pol.nonce = nonce;
    assert_int_equal(nacre_attest_verify(ev, len, &pol, &res), NACRE_ATTEST_ERR_REFUSED);
    assert_int_equal(res.failures, NACRE_ATTEST_FAIL_NONCE_REUSED);
    assert_int_equal(nacre_attest_nonce_issue(&store, 400, nonce), NACRE_ATTEST_OK);
    len = att_evidence(&a, nonce, N, 400, ev, sizeof ev);
    pol.now = 401;
    assert_int_equal(nacre_attest_verify(ev, len, &pol, &res), NACRE_ATTEST_OK);
    assert_int_equal(nacre_attest_verify(ev, len, &pol, &res), NACRE_ATTEST_ERR_REFUSED);
    assert_int_equal(res.failures, NACRE_ATTEST_FAIL_NONCE_REUSED);
    att_device_free(&a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_issue_consume_once),
        cmocka_unit_test(test_full_and_reuse_of_slots),
        cmocka_unit_test(test_prefers_expired_over_used),
        cmocka_unit_test(test_ttl_edges),
        cmocka_unit_test(test_verify_with_store),
    };
    if (sodium_init() < 0) {
        return 1;
    }
    return cmocka_run_group_tests(tests, NULL, NULL);
}
