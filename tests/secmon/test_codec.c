/*
 * test_codec.c - the request ABI: round trips, and every malformation
 * refused with its own fault (the wire status is MALFORMED or UNKNOWN_CALL).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "secmon_priv.h"

static void fill(uint8_t *p, size_t n, uint8_t seed)
{
    for (size_t i = 0; i < n; i++) {
        p[i] = (uint8_t)(seed + 7 * i + 1);
    }
}

static void test_request_round_trip(void **state)
{
    (void)state;
    uint8_t msg[NACRE_SECMON_MSG_BYTES], payload[NACRE_SECMON_PAYLOAD_MAX];
    static const size_t lens[] = {0, 1, 64, 512, NACRE_SECMON_PAYLOAD_MAX};
    for (unsigned call = NACRE_SECMON_CALL_PING; call < NACRE_SECMON_CALL_COUNT_; call++) {
        for (size_t i = 0; i < sizeof lens / sizeof lens[0]; i++) {
            fill(payload, lens[i], (uint8_t)call);
            memset(msg, 0xA5, sizeof msg); /* stale bytes must be overwritten */
            uint32_t id = 0xDEAD0000u + call * 16 + (uint32_t)i;
            assert_int_equal(nacre_secmon_encode_request(msg, call, id, payload, lens[i]), NACRE_SECMON_OK);
            assert_memory_equal(msg, "NQ", 2);
            assert_int_equal(msg[2], NACRE_SECMON_ABI_VERSION);
            unsigned c = 0;
            uint32_t rid = 0;
            const uint8_t *p = NULL;
            size_t n = 0;
            assert_int_equal(nacre_secmon_decode_request(msg, &c, &rid, &p, &n), NACRE_SECMON_OK);
            assert_int_equal(c, call);
            assert_int_equal(rid, id);
            assert_int_equal(n, lens[i]);
            assert_ptr_equal(p, msg + NACRE_SECMON_HEADER_BYTES);
            if (n > 0) {
                assert_memory_equal(p, payload, n);
            }
        }
    }
}

static void test_response_round_trip(void **state)
{
    (void)state;
    uint8_t msg[NACRE_SECMON_MSG_BYTES], payload[NACRE_SECMON_PAYLOAD_MAX];
    fill(payload, sizeof payload, 3);
    static const nacre_secmon_status wire[] = {
        NACRE_SECMON_ERR_MALFORMED,    NACRE_SECMON_ERR_UNKNOWN_CALL, NACRE_SECMON_ERR_DENIED,
        NACRE_SECMON_ERR_RATE_LIMITED, NACRE_SECMON_ERR_QUOTA,        NACRE_SECMON_ERR_NOT_FOUND,
        NACRE_SECMON_ERR_VERIFY,       NACRE_SECMON_ERR_INTERNAL,     NACRE_SECMON_ERR_UNSUPPORTED,
        NACRE_SECMON_ERR_STATE,
    };
    for (unsigned call = NACRE_SECMON_CALL_PING; call < NACRE_SECMON_CALL_COUNT_; call++) {
        assert_int_equal(nacre_secmon_encode_response(msg, call, call, NACRE_SECMON_OK, payload, call * 60),
                         NACRE_SECMON_OK);
        unsigned c;
        uint32_t id;
        nacre_secmon_status st;
        const uint8_t *p;
        size_t n;
        assert_int_equal(nacre_secmon_decode_response(msg, &c, &id, &st, &p, &n), NACRE_SECMON_OK);
        assert_int_equal(st, NACRE_SECMON_OK);
        assert_int_equal(c, call);
        assert_int_equal(n, call * 60);
        assert_memory_equal(p, payload, n);
        for (size_t i = 0; i < sizeof wire / sizeof wire[0]; i++) {
            assert_int_equal(nacre_secmon_encode_response(msg, call, 7, wire[i], NULL, 0), NACRE_SECMON_OK);
            assert_int_equal(nacre_secmon_decode_response(msg, &c, &id, &st, &p, &n), NACRE_SECMON_OK);
            assert_int_equal(st, wire[i]);
            assert_int_equal(n, 0);
        }
    }
    /* A refusal may echo a call number the ABI lacks (UNKNOWN_CALL does). */
    unsigned c;
    uint32_t id;
    nacre_secmon_status st;
    const uint8_t *p;
    size_t n;
    assert_int_equal(nacre_secmon_encode_response(msg, 0xEE, 9, NACRE_SECMON_ERR_UNKNOWN_CALL, NULL, 0),
                     NACRE_SECMON_OK);
    assert_int_equal(nacre_secmon_decode_response(msg, &c, &id, &st, &p, &n), NACRE_SECMON_OK);
    assert_int_equal(c, 0xEE);
}

static void test_encode_misuse(void **state)
{
    (void)state;
    uint8_t msg[NACRE_SECMON_MSG_BYTES], payload[NACRE_SECMON_MSG_BYTES] = {0};
    assert_int_equal(nacre_secmon_encode_request(msg, 0, 1, NULL, 0), NACRE_SECMON_ERR_UNKNOWN_CALL);
    assert_int_equal(nacre_secmon_encode_request(msg, NACRE_SECMON_CALL_COUNT_, 1, NULL, 0),
                     NACRE_SECMON_ERR_UNKNOWN_CALL);
    assert_int_equal(
        nacre_secmon_encode_request(msg, NACRE_SECMON_CALL_PING, 1, payload, NACRE_SECMON_PAYLOAD_MAX + 1),
        NACRE_SECMON_ERR_ARGUMENT);
    assert_int_equal(nacre_secmon_encode_request(msg, NACRE_SECMON_CALL_PING, 1, NULL, 3),
                     NACRE_SECMON_ERR_ARGUMENT);
    assert_int_equal(nacre_secmon_encode_request(NULL, NACRE_SECMON_CALL_PING, 1, NULL, 0),
                     NACRE_SECMON_ERR_ARGUMENT);
    /* responses: library-only statuses never go on the wire; refusals carry no data */
    assert_int_equal(nacre_secmon_encode_response(msg, 1, 1, NACRE_SECMON_ERR_ARGUMENT, NULL, 0),
                     NACRE_SECMON_ERR_ARGUMENT);
    assert_int_equal(nacre_secmon_encode_response(msg, 1, 1, NACRE_SECMON_ERR_IO, NULL, 0),
                     NACRE_SECMON_ERR_ARGUMENT);
    assert_int_equal(nacre_secmon_encode_response(msg, 1, 1, NACRE_SECMON_ERR_DENIED, payload, 1),
                     NACRE_SECMON_ERR_ARGUMENT);
    assert_int_equal(nacre_secmon_encode_response(msg, 0x40, 1, NACRE_SECMON_OK, NULL, 0),
                     NACRE_SECMON_ERR_ARGUMENT);
}

/* A valid PING request with a 4-byte payload, then one change. */
static void base_request(uint8_t msg[NACRE_SECMON_MSG_BYTES])
{
    static const uint8_t data[4] = {1, 2, 3, 4};
    assert_int_equal(nacre_secmon_encode_request(msg, NACRE_SECMON_CALL_PING, 0x01020304, data, sizeof data),
                     NACRE_SECMON_OK);
}

static void expect_fault(const uint8_t msg[NACRE_SECMON_MSG_BYTES], nacre_secmon_status want,
                         enum secmon_fault fault)
{
    unsigned c = 0xBEEF;
    uint32_t id = 0xBEEF;
    const uint8_t *p = NULL;
    size_t n = 0xBEEF;
    enum secmon_fault f = SECMON_FAULT_NONE;
    assert_int_equal(secmon_decode_request_fault(msg, &c, &id, &p, &n, &f), want);
    assert_int_equal(f, fault);
    if (want != NACRE_SECMON_OK) {
        /* nothing is reported from a refused message */
        assert_int_equal(c, 0xBEEF);
        assert_null(p);
    }
    assert_int_equal(nacre_secmon_decode_request(msg, &c, &id, &p, &n), want);
}

static void test_malformations(void **state)
{
    (void)state;
    uint8_t msg[NACRE_SECMON_MSG_BYTES];

    base_request(msg);
    expect_fault(msg, NACRE_SECMON_OK, SECMON_FAULT_NONE);

    base_request(msg);
    msg[0] = 'X';
    expect_fault(msg, NACRE_SECMON_ERR_MALFORMED, SECMON_FAULT_MAGIC);
    base_request(msg);
    msg[0] = 'N';
    msg[1] = 'R'; /* a response is not a request */
    expect_fault(msg, NACRE_SECMON_ERR_MALFORMED, SECMON_FAULT_MAGIC);

    base_request(msg);
    msg[2] = 2;
    expect_fault(msg, NACRE_SECMON_ERR_MALFORMED, SECMON_FAULT_VERSION);
    base_request(msg);
    msg[2] = 0;
    expect_fault(msg, NACRE_SECMON_ERR_MALFORMED, SECMON_FAULT_VERSION);

    for (unsigned off = 10; off < 16; off++) {
        base_request(msg);
        msg[off] = 0x80;
        expect_fault(msg, NACRE_SECMON_ERR_MALFORMED, SECMON_FAULT_RESERVED);
    }

    base_request(msg);
    msg[8] = (uint8_t)((NACRE_SECMON_PAYLOAD_MAX + 1) & 0xFF);
    msg[9] = (uint8_t)((NACRE_SECMON_PAYLOAD_MAX + 1) >> 8);
    expect_fault(msg, NACRE_SECMON_ERR_MALFORMED, SECMON_FAULT_LENGTH);
    base_request(msg);
    msg[8] = 0xFF;
    msg[9] = 0xFF;
    expect_fault(msg, NACRE_SECMON_ERR_MALFORMED, SECMON_FAULT_LENGTH);

    /* padding: the byte right after the payload, and the last byte */
    base_request(msg);
    msg[NACRE_SECMON_HEADER_BYTES + 4] = 1;
    expect_fault(msg, NACRE_SECMON_ERR_MALFORMED, SECMON_FAULT_PADDING);
    base_request(msg);
    msg[NACRE_SECMON_MSG_BYTES - 1] = 0x10;
    expect_fault(msg, NACRE_SECMON_ERR_MALFORMED, SECMON_FAULT_PADDING);
    /* a shorter length turns payload bytes into (nonzero) padding */
    base_request(msg);
    msg[8] = 3;
    expect_fault(msg, NACRE_SECMON_ERR_MALFORMED, SECMON_FAULT_PADDING);
    /* the full length is allowed and leaves no padding */
    base_request(msg);
    memset(msg + NACRE_SECMON_HEADER_BYTES, 0x5A, NACRE_SECMON_PAYLOAD_MAX);
    msg[8] = (uint8_t)(NACRE_SECMON_PAYLOAD_MAX & 0xFF);
    msg[9] = (uint8_t)(NACRE_SECMON_PAYLOAD_MAX >> 8);
    expect_fault(msg, NACRE_SECMON_OK, SECMON_FAULT_NONE);

    static const uint8_t unknown[] = {0x00, NACRE_SECMON_CALL_COUNT_, 0x7F, 0xFF};
    for (size_t i = 0; i < sizeof unknown; i++) {
        base_request(msg);
        msg[3] = unknown[i];
        expect_fault(msg, NACRE_SECMON_ERR_UNKNOWN_CALL, SECMON_FAULT_CALL);
    }
    /* UNKNOWN_CALL only for an otherwise well-formed message */
    base_request(msg);
    msg[3] = 0x77;
    msg[2] = 9;
    expect_fault(msg, NACRE_SECMON_ERR_MALFORMED, SECMON_FAULT_VERSION);
    base_request(msg);
    msg[3] = 0x77;
    msg[NACRE_SECMON_MSG_BYTES - 1] = 1;
    expect_fault(msg, NACRE_SECMON_ERR_MALFORMED, SECMON_FAULT_PADDING);

    /* the faults have distinct names (events carry them) */
    for (int a = SECMON_FAULT_NONE; a <= SECMON_FAULT_LAYOUT; a++) {
        for (int b = a + 1; b <= SECMON_FAULT_LAYOUT; b++) {
            assert_string_not_equal(secmon_fault_name((enum secmon_fault)a),
                                    secmon_fault_name((enum secmon_fault)b));
        }
    }
}

static void test_response_malformations(void **state)
{
    (void)state;
    uint8_t msg[NACRE_SECMON_MSG_BYTES];
    unsigned c;
    uint32_t id;
    nacre_secmon_status st;
    const uint8_t *p;
    size_t n;
    static const uint8_t data[3] = {9, 8, 7};
#define RESP()                                                                                               \
    assert_int_equal(nacre_secmon_encode_response(msg, NACRE_SECMON_CALL_SIGN, 5, NACRE_SECMON_OK, data, 3), \
                     NACRE_SECMON_OK)
#define BAD()                                                                                                \
    assert_int_equal(nacre_secmon_decode_response(msg, &c, &id, &st, &p, &n), NACRE_SECMON_ERR_MALFORMED)
    RESP();
    assert_int_equal(nacre_secmon_decode_response(msg, &c, &id, &st, &p, &n), NACRE_SECMON_OK);
    RESP();
    msg[1] = 'Q';
    BAD();
    RESP();
    msg[2] = 3;
    BAD();
    RESP();
    msg[11] = 1;
    BAD();
    RESP();
    msg[9] = 0x04;
    BAD();
    RESP();
    msg[NACRE_SECMON_HEADER_BYTES + 3] = 1;
    BAD();
    RESP();
    msg[12] = NACRE_SECMON_ERR_IO; /* not a wire status */
    msg[13] = msg[14] = msg[15] = 0;
    BAD();
    RESP();
    msg[12] = 0x99; /* not a status at all */
    BAD();
    RESP();
    msg[12] = NACRE_SECMON_ERR_DENIED; /* a refusal with data */
    msg[13] = msg[14] = msg[15] = 0;
    BAD();
    RESP();
    msg[3] = 0x50; /* success for a call that does not exist */
    BAD();
#undef RESP
#undef BAD
}

static void test_names(void **state)
{
    (void)state;
    for (unsigned call = NACRE_SECMON_CALL_PING; call < NACRE_SECMON_CALL_COUNT_; call++) {
        const char *name = nacre_secmon_call_name(call);
        assert_string_not_equal(name, "unknown");
        /* every call name fits the 13 detail bytes of an event record */
        assert_true(strlen(name) <= SECMON_EVENT_RECORD_DETAIL);
    }
    assert_string_equal(nacre_secmon_call_name(0), "unknown");
    assert_string_equal(nacre_secmon_call_name(0x10), "unknown");
    for (unsigned s = 1; s <= NACRE_SECMON_ERR_STATE; s++) {
        assert_string_not_equal(nacre_secmon_strerror((nacre_secmon_status)s), "unknown status");
    }
    assert_string_equal(nacre_secmon_strerror(NACRE_SECMON_OK), "success");
    for (unsigned t = NACRE_SECMON_EVENT_REFUSED; t <= NACRE_SECMON_EVENT_SANDBOX_DEGRADED; t++) {
        assert_string_not_equal(nacre_secmon_event_type_name(t), "unknown");
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_request_round_trip),     cmocka_unit_test(test_response_round_trip),
        cmocka_unit_test(test_encode_misuse),          cmocka_unit_test(test_malformations),
        cmocka_unit_test(test_response_malformations), cmocka_unit_test(test_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
