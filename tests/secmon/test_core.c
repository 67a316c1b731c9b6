/*
 * test_core.c - the request core on a host device: capabilities per call,
 * identity and per-app keys, sealing between apps, storage (quota,
 * persistence, power cuts), rate limits, the events refusals leave, the
 * emulated peripherals, and the update stream.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <sodium.h>

#include "secmon_priv.h"
#include "secmon_test.h"
#include "update_support.h"

#define NOW 1700000000u
#define CID_A "11111111-1111-4111-8111-111111111111"
#define CID_B "22222222-2222-4222-8222-222222222222"
#define CID_C "33333333-3333-4333-8333-333333333333"
#define RATE_HIGH 1000000u
#define EVENTS_MAX 512u

static struct nacre_secmon_event g_evs[EVENTS_MAX];

/* ---- a connection policy and a broker for the tests ------------------------- */

static int allow_loopback_9(const void *policy, const char *host, uint16_t port)
{
    (void)policy;
    return strcmp(host, "127.0.0.1") == 0 && port == 9;
}

static int broker_calls;

static nacre_secmon_status test_broker(void *ctx, unsigned app, const char *host, uint16_t port, int *fd)
{
    (void)ctx;
    (void)app;
    (void)host;
    (void)port;
    int p[2];
    assert_int_equal(pipe(p), 0);
    close(p[1]);
    broker_calls++;
    *fd = p[0];
    return NACRE_SECMON_OK;
}

static struct nacre_secmon_caps caps_all(const char *cid)
{
    struct nacre_secmon_caps c = smt_caps(cid);
    c.storage_bytes = 4096;
    c.device_authentication = 1;
    c.software_update = 1;
    c.gpio_mask = 1u << 3;
    c.uart_mask = 1u << 0;
    c.i2c_mask = 1u << 1;
    c.allows_connection = allow_loopback_9;
    return c;
}

static void app_id_of(uint8_t out[8], const char *cid)
{
    secmon_app_id(out, cid);
}

static size_t count_events(struct nacre_board *board, unsigned type, uint32_t code)
{
    size_t n = smt_events(board, g_evs, EVENTS_MAX), c = 0;
    for (size_t i = 0; i < n; i++) {
        if (g_evs[i].type == type && g_evs[i].code == code) {
            c++;
        }
    }
    return c;
}

/* The newest event. */
static struct nacre_secmon_event last_event(struct nacre_board *board)
{
    size_t n = smt_events(board, g_evs, EVENTS_MAX);
    assert_true(n > 0);
    return g_evs[n - 1];
}

/* ---- capabilities ------------------------------------------------------------------ */

struct gated {
    unsigned call;
    uint8_t req[16];
    size_t len;
};

static void test_capabilities(void **state)
{
    (void)state;
    struct nacre_test_device d;
    smt_device(&d, "core-caps", NULL);
    struct nacre_secmon_core *core = smt_core(&d, RATE_HIGH);
    static const uint8_t cert[] = {0x30, 0x03, 0x02, 0x01, 0x07};
    assert_int_equal(secmon_core_set_certificate(core, cert, sizeof cert), NACRE_SECMON_OK);
    secmon_core_set_broker(core, test_broker, NULL);

    unsigned none, all;
    struct nacre_secmon_caps cn = smt_caps(CID_A), ca = caps_all(CID_B);
    assert_int_equal(nacre_secmon_core_add_app(core, &cn, &none), NACRE_SECMON_OK);
    assert_int_equal(nacre_secmon_core_add_app(core, &ca, &all), NACRE_SECMON_OK);
    assert_int_not_equal(none, all);

    /* Each gated call: DENIED without the capability, not DENIED with it. */
    static const struct gated gated[] = {
        {NACRE_SECMON_CALL_CERTIFICATE, {0}, 0},
        {NACRE_SECMON_CALL_STORAGE_WRITE, {0, 0, 0, 0, 'x'}, 5},
        {NACRE_SECMON_CALL_STORAGE_READ, {0, 0, 0, 0, 1, 0, 0, 0}, 8},
        {NACRE_SECMON_CALL_CONNECT, {9, 0, 9, '1', '2', '7', '.', '0', '.', '0', '.', '1'}, 12},
        {NACRE_SECMON_CALL_PERIPHERAL, {1, 3, 2, 1, 0}, 5},       /* GPIO 3 write 1 */
        {NACRE_SECMON_CALL_PERIPHERAL, {2, 0, 2, 0, 0, 'h'}, 6},  /* UART 0 write */
        {NACRE_SECMON_CALL_PERIPHERAL, {3, 1, 1, 0x48, 0, 0}, 6}, /* I2C 1 read sensor */
        {NACRE_SECMON_CALL_UPDATE_BEGIN, {0}, 0},
        {NACRE_SECMON_CALL_UPDATE_WRITE, {1}, 1},
        {NACRE_SECMON_CALL_UPDATE_FINISH, {0}, 0},
    };
    for (size_t i = 0; i < sizeof gated / sizeof gated[0]; i++) {
        int fd = -1;
        assert_int_equal(
            smt_call(core, none, NOW, gated[i].call, gated[i].req, gated[i].len, NULL, NULL, &fd),
            NACRE_SECMON_ERR_DENIED);
        assert_int_equal(fd, -1);
        uint8_t out[NACRE_SECMON_PAYLOAD_MAX];
        nacre_secmon_status s =
            smt_call(core, all, NOW, gated[i].call, gated[i].req, gated[i].len, out, NULL, &fd);
        assert_int_not_equal(s, NACRE_SECMON_ERR_DENIED);
        if (fd >= 0) {
            close(fd);
        }
    }
    /* the granted ones that must work here */
    size_t n = 0;
    uint8_t out[NACRE_SECMON_PAYLOAD_MAX];
    assert_int_equal(smt_call(core, all, NOW, NACRE_SECMON_CALL_CERTIFICATE, NULL, 0, out, &n, NULL),
                     NACRE_SECMON_OK);
    assert_int_equal(n, sizeof cert);
    assert_memory_equal(out, cert, sizeof cert);
    int fd = -1;
    broker_calls = 0;
    assert_int_equal(
        smt_call(core, all, NOW, NACRE_SECMON_CALL_CONNECT, gated[3].req, gated[3].len, NULL, NULL, &fd),
        NACRE_SECMON_OK);
    assert_true(fd >= 0);
    close(fd);
    assert_int_equal(broker_calls, 1);
    /* a host:port outside the policy: DENIED, CONNECTION_DENIED naming it, no broker call */
    static const uint8_t other[] = {80, 0, 9, '1', '2', '7', '.', '0', '.', '0', '.', '2'};
    assert_int_equal(
        smt_call(core, all, NOW, NACRE_SECMON_CALL_CONNECT, other, sizeof other, NULL, NULL, &fd),
        NACRE_SECMON_ERR_DENIED);
    assert_int_equal(fd, -1);
    assert_int_equal(broker_calls, 1);
    struct nacre_secmon_event ev = last_event(d.board);
    assert_int_equal(ev.type, NACRE_SECMON_EVENT_CONNECTION_DENIED);
    assert_int_equal(ev.code, NACRE_SECMON_ERR_DENIED);
    assert_int_equal(ev.addr, 80);
    assert_string_equal(ev.detail, "127.0.0.2:80"); /* 12 bytes: fits the record */
    /* without a broker (a board with no network): UNSUPPORTED */
    secmon_core_set_broker(core, NULL, NULL);
    assert_int_equal(
        smt_call(core, all, NOW, NACRE_SECMON_CALL_CONNECT, gated[3].req, gated[3].len, NULL, NULL, &fd),
        NACRE_SECMON_ERR_UNSUPPORTED);
    /* no certificate set: NOT_FOUND */
    assert_int_equal(secmon_core_set_certificate(core, NULL, 0), NACRE_SECMON_OK);
    assert_int_equal(smt_call(core, all, NOW, NACRE_SECMON_CALL_CERTIFICATE, NULL, 0, NULL, NULL, NULL),
                     NACRE_SECMON_ERR_NOT_FOUND);

    /* Calls every app has. */
    static const uint8_t ping[3] = {1, 2, 3};
    assert_int_equal(smt_call(core, none, NOW, NACRE_SECMON_CALL_PING, ping, 3, out, &n, NULL),
                     NACRE_SECMON_OK);
    assert_int_equal(n, 3);
    assert_memory_equal(out, ping, 3);
    assert_int_equal(smt_call(core, none, NOW, NACRE_SECMON_CALL_IDENTITY, NULL, 0, out, &n, NULL),
                     NACRE_SECMON_OK);
    assert_int_equal(smt_call(core, none, NOW, NACRE_SECMON_CALL_SIGN, ping, 3, out, &n, NULL),
                     NACRE_SECMON_OK);
    assert_int_equal(smt_call(core, none, NOW, NACRE_SECMON_CALL_SEAL, ping, 3, out, &n, NULL),
                     NACRE_SECMON_OK);
    assert_int_equal(smt_call(core, none, NOW, NACRE_SECMON_CALL_UNSEAL, out, n, out, &n, NULL),
                     NACRE_SECMON_OK);
    static const uint8_t counter0[4] = {0};
    assert_int_equal(smt_call(core, none, NOW, NACRE_SECMON_CALL_COUNTER_READ, counter0, 4, out, &n, NULL),
                     NACRE_SECMON_OK);
    assert_int_equal(n, 4);
    static const uint8_t text[] = {6, 'h', 'i'};
    assert_int_equal(smt_call(core, none, NOW, NACRE_SECMON_CALL_LOG_EVENT, text, 3, NULL, NULL, NULL),
                     NACRE_SECMON_OK);
    ev = last_event(d.board);
    assert_int_equal(ev.type, NACRE_SECMON_EVENT_APP_LOG);
    assert_int_equal(ev.code, 6);
    assert_string_equal(ev.detail, "hi");

    /* duplicates and too many apps */
    unsigned x;
    assert_int_equal(nacre_secmon_core_add_app(core, &cn, &x), NACRE_SECMON_ERR_ARGUMENT);
    struct nacre_secmon_caps bad = smt_caps("");
    assert_int_equal(nacre_secmon_core_add_app(core, &bad, &x), NACRE_SECMON_ERR_ARGUMENT);
    for (unsigned i = 2; i < NACRE_SECMON_APPS_MAX; i++) {
        char cid[40];
        snprintf(cid, sizeof cid, "app-%u", i);
        struct nacre_secmon_caps c = smt_caps(cid);
        assert_int_equal(nacre_secmon_core_add_app(core, &c, &x), NACRE_SECMON_OK);
    }
    struct nacre_secmon_caps c9 = smt_caps("one-too-many");
    assert_int_equal(nacre_secmon_core_add_app(core, &c9, &x), NACRE_SECMON_ERR_QUOTA);
    /* an index whose app is gone answers nothing useful */
    secmon_core_remove_app(core, none);
    assert_int_equal(smt_call(core, none, NOW, NACRE_SECMON_CALL_PING, NULL, 0, NULL, NULL, NULL),
                     NACRE_SECMON_ERR_INTERNAL);
    assert_int_equal(nacre_secmon_core_add_app(core, &c9, &x), NACRE_SECMON_OK);
    assert_int_equal(x, none); /* the slot is reused */
    smt_core_free(core);
    nacre_test_device_free(&d);
}

/* ---- identity, keys, sealing ------------------------------------------------------------ */

struct identity {
    uint8_t device_id[32], device_pk[32], app_pk[32];
    char cid[37];
};

static struct identity get_identity(struct nacre_secmon_core *core, unsigned app)
{
    uint8_t out[NACRE_SECMON_PAYLOAD_MAX];
    size_t n = 0;
    assert_int_equal(smt_call(core, app, NOW, NACRE_SECMON_CALL_IDENTITY, NULL, 0, out, &n, NULL),
                     NACRE_SECMON_OK);
    assert_int_equal(n, 133);
    struct identity id;
    memcpy(id.device_id, out, 32);
    memcpy(id.device_pk, out + 32, 32);
    memcpy(id.app_pk, out + 64, 32);
    memcpy(id.cid, out + 96, 37);
    /* NUL-padded */
    size_t len = strnlen(id.cid, 37);
    assert_true(len < 37);
    for (size_t i = len; i < 37; i++) {
        assert_int_equal(id.cid[i], 0);
    }
    return id;
}

static void test_identity_and_keys(void **state)
{
    (void)state;
    struct nacre_test_device d;
    smt_device(&d, "core-identity", NULL);
    struct nacre_secmon_core *core = smt_core(&d, RATE_HIGH);
    unsigned a, b;
    struct nacre_secmon_caps ca = smt_caps(CID_A), cb = smt_caps(CID_B);
    assert_int_equal(nacre_secmon_core_add_app(core, &ca, &a), NACRE_SECMON_OK);
    assert_int_equal(nacre_secmon_core_add_app(core, &cb, &b), NACRE_SECMON_OK);
    struct identity ia = get_identity(core, a), ib = get_identity(core, b);
    assert_string_equal(ia.cid, CID_A);
    assert_string_equal(ib.cid, CID_B);
    /* same device, different app keys */
    assert_memory_equal(ia.device_id, ib.device_id, 32);
    assert_memory_equal(ia.device_pk, ib.device_pk, 32);
    assert_memory_not_equal(ia.app_pk, ib.app_pk, 32);
    uint8_t pk[32], h[32];
    assert_int_equal(nacre_pluton_key_public(d.p, NACRE_PLUTON_KEY_DEVICE_ID, pk), NACRE_PLUTON_OK);
    assert_memory_equal(pk, ia.device_pk, 32);
    crypto_generichash(h, sizeof h, pk, sizeof pk, NULL, 0);
    assert_memory_equal(h, ia.device_id, 32);
    /* the app key is neither DICE key */
    assert_memory_not_equal(ia.app_pk, ia.device_pk, 32);
    assert_int_equal(nacre_pluton_key_public(d.p, NACRE_PLUTON_KEY_ALIAS, pk), NACRE_PLUTON_OK);
    assert_memory_not_equal(ia.app_pk, pk, 32);

    /* SIGN: verifies with the app pk from IDENTITY, not with the other app's */
    uint8_t msg[512], sig[NACRE_SECMON_PAYLOAD_MAX];
    for (size_t i = 0; i < sizeof msg; i++) {
        msg[i] = (uint8_t)i;
    }
    size_t n = 0;
    assert_int_equal(smt_call(core, a, NOW, NACRE_SECMON_CALL_SIGN, msg, sizeof msg, sig, &n, NULL),
                     NACRE_SECMON_OK);
    assert_int_equal(n, 64);
    assert_int_equal(crypto_sign_ed25519_verify_detached(sig, msg, sizeof msg, ia.app_pk), 0);
    assert_int_not_equal(crypto_sign_ed25519_verify_detached(sig, msg, sizeof msg, ib.app_pk), 0);
    assert_int_equal(smt_call(core, a, NOW, NACRE_SECMON_CALL_SIGN, msg, 0, NULL, NULL, NULL),
                     NACRE_SECMON_ERR_MALFORMED);
    uint8_t big[513] = {0};
    assert_int_equal(smt_call(core, a, NOW, NACRE_SECMON_CALL_SIGN, big, sizeof big, NULL, NULL, NULL),
                     NACRE_SECMON_ERR_MALFORMED);

    /* One buffer for request and response works too. */
    uint8_t inplace[NACRE_SECMON_MSG_BYTES];
    assert_int_equal(nacre_secmon_encode_request(inplace, NACRE_SECMON_CALL_SIGN, 77, msg, 100),
                     NACRE_SECMON_OK);
    nacre_secmon_core_handle(core, a, NOW, inplace, inplace, NULL);
    unsigned rc;
    uint32_t rid;
    nacre_secmon_status rs;
    const uint8_t *rp;
    size_t rl;
    assert_int_equal(nacre_secmon_decode_response(inplace, &rc, &rid, &rs, &rp, &rl), NACRE_SECMON_OK);
    assert_int_equal(rs, NACRE_SECMON_OK);
    assert_int_equal(rid, 77);
    assert_int_equal(rl, 64);
    assert_int_equal(crypto_sign_ed25519_verify_detached(rp, msg, 100, ia.app_pk), 0);

    /* Device-bound: the same app key after a firmware update (R0 changes). */
    smt_core_free(core);
    smt_reboot(&d, "fw-2");
    core = smt_core(&d, RATE_HIGH);
    assert_int_equal(nacre_secmon_core_add_app(core, &cb, &b), NACRE_SECMON_OK); /* other order */
    assert_int_equal(nacre_secmon_core_add_app(core, &ca, &a), NACRE_SECMON_OK);
    struct identity ia2 = get_identity(core, a);
    assert_memory_equal(ia2.app_pk, ia.app_pk, 32);
    assert_int_equal(nacre_pluton_key_public(d.p, NACRE_PLUTON_KEY_ALIAS, pk), NACRE_PLUTON_OK);

    /* Sealing: A's blob opens for A only, after a reboot too. */
    static const uint8_t secret[] = "the app's secret";
    uint8_t blob[NACRE_SECMON_PAYLOAD_MAX], out[NACRE_SECMON_PAYLOAD_MAX];
    size_t blob_len = 0;
    assert_int_equal(
        smt_call(core, a, NOW, NACRE_SECMON_CALL_SEAL, secret, sizeof secret, blob, &blob_len, NULL),
        NACRE_SECMON_OK);
    assert_int_equal(blob_len, sizeof secret + NACRE_PLUTON_SEAL_OVERHEAD);
    assert_int_equal(smt_call(core, b, NOW, NACRE_SECMON_CALL_UNSEAL, blob, blob_len, out, &n, NULL),
                     NACRE_SECMON_ERR_VERIFY);
    struct nacre_secmon_event ev = last_event(d.board);
    assert_int_equal(ev.type, NACRE_SECMON_EVENT_VERIFY_FAILED);
    assert_int_equal(ev.code, NACRE_SECMON_ERR_VERIFY);
    assert_string_equal(ev.detail, "unseal");
    uint8_t idb[8];
    app_id_of(idb, CID_B);
    assert_memory_equal(ev.app_id, idb, 8);
    assert_int_equal(smt_call(core, a, NOW, NACRE_SECMON_CALL_UNSEAL, blob, blob_len, out, &n, NULL),
                     NACRE_SECMON_OK);
    assert_int_equal(n, sizeof secret);
    assert_memory_equal(out, secret, sizeof secret);
    /* a tampered blob, and a blob of impossible size */
    blob[blob_len - 1] ^= 1;
    assert_int_equal(smt_call(core, a, NOW, NACRE_SECMON_CALL_UNSEAL, blob, blob_len, out, &n, NULL),
                     NACRE_SECMON_ERR_VERIFY);
    assert_int_equal(smt_call(core, a, NOW, NACRE_SECMON_CALL_UNSEAL, blob, 10, out, &n, NULL),
                     NACRE_SECMON_ERR_MALFORMED);
    /* the largest seal fits a response */
    assert_int_equal(smt_call(core, a, NOW, NACRE_SECMON_CALL_SEAL, msg, 512, blob, &blob_len, NULL),
                     NACRE_SECMON_OK);
    assert_int_equal(smt_call(core, a, NOW, NACRE_SECMON_CALL_UNSEAL, blob, blob_len, out, &n, NULL),
                     NACRE_SECMON_OK);
    assert_int_equal(n, 512);
    assert_memory_equal(out, msg, 512);
    /* empty plaintext */
    assert_int_equal(smt_call(core, a, NOW, NACRE_SECMON_CALL_SEAL, NULL, 0, blob, &blob_len, NULL),
                     NACRE_SECMON_OK);
    assert_int_equal(smt_call(core, a, NOW, NACRE_SECMON_CALL_UNSEAL, blob, blob_len, out, &n, NULL),
                     NACRE_SECMON_OK);
    assert_int_equal(n, 0);

    smt_core_free(core);
    nacre_test_device_free(&d);
}

/* ---- storage --------------------------------------------------------------------------- */

static nacre_secmon_status st_write(struct nacre_secmon_core *core, unsigned app, uint32_t off,
                                    const uint8_t *data, size_t len)
{
    uint8_t req[4 + 512];
    req[0] = (uint8_t)off;
    req[1] = (uint8_t)(off >> 8);
    req[2] = (uint8_t)(off >> 16);
    req[3] = (uint8_t)(off >> 24);
    memcpy(req + 4, data, len);
    return smt_call(core, app, NOW, NACRE_SECMON_CALL_STORAGE_WRITE, req, 4 + len, NULL, NULL, NULL);
}

static nacre_secmon_status st_read(struct nacre_secmon_core *core, unsigned app, uint32_t off, uint8_t *out,
                                   uint32_t len)
{
    uint8_t req[8];
    for (int i = 0; i < 4; i++) {
        req[i] = (uint8_t)(off >> (8 * i));
        req[4 + i] = (uint8_t)(len >> (8 * i));
    }
    size_t n = 0;
    nacre_secmon_status s = smt_call(core, app, NOW, NACRE_SECMON_CALL_STORAGE_READ, req, 8, out, &n, NULL);
    if (s == NACRE_SECMON_OK) {
        assert_int_equal(n, len);
    }
    return s;
}

/* Checks app's whole storage against model (quota bytes). */
static void st_expect(struct nacre_secmon_core *core, unsigned app, const uint8_t *model, uint32_t quota)
{
    uint8_t out[512];
    for (uint32_t off = 0; off < quota; off += 512) {
        uint32_t n = quota - off < 512 ? quota - off : 512;
        assert_int_equal(st_read(core, app, off, out, n), NACRE_SECMON_OK);
        assert_memory_equal(out, model + off, n);
    }
}

static void test_storage_quota_and_persistence(void **state)
{
    (void)state;
    struct nacre_test_device d;
    struct nacre_host_geometry g = smt_geometry(1024, 4, 12); /* 10 data sectors of 1 KiB */
    smt_device(&d, "core-storage", &g);
    struct nacre_secmon_core *core = smt_core(&d, RATE_HIGH);
    struct nacre_secmon_caps ca = smt_caps(CID_A), cb = smt_caps(CID_B), cc = smt_caps(CID_C);
    ca.storage_bytes = 1536; /* 2 pages */
    cb.storage_bytes = 1024; /* 1 page */
    cc.storage_bytes = 6000; /* 6 pages: 2 + 1 + 6 + 3 spare > 10 */
    unsigned a, b, c;
    assert_int_equal(nacre_secmon_core_add_app(core, &ca, &a), NACRE_SECMON_OK);
    assert_int_equal(nacre_secmon_core_add_app(core, &cb, &b), NACRE_SECMON_OK);
    assert_int_equal(nacre_secmon_core_add_app(core, &cc, &c), NACRE_SECMON_ERR_QUOTA);

    uint8_t out[512], data[512];
    /* nothing stored yet: an answer, not a security event */
    assert_int_equal(st_read(core, a, 0, out, 16), NACRE_SECMON_ERR_NOT_FOUND);
    assert_int_equal(count_events(d.board, NACRE_SECMON_EVENT_REFUSED, NACRE_SECMON_ERR_NOT_FOUND), 0);
    /* quota: the last byte is fine, one past it is not */
    memset(data, 0xAB, sizeof data);
    assert_int_equal(st_write(core, a, 1535, data, 1), NACRE_SECMON_OK);
    assert_int_equal(st_write(core, a, 1535, data, 2), NACRE_SECMON_ERR_QUOTA);
    assert_int_equal(st_write(core, a, 0xFFFFFFFFu, data, 1), NACRE_SECMON_ERR_QUOTA);
    assert_int_equal(st_read(core, a, 1530, out, 7), NACRE_SECMON_ERR_QUOTA);
    assert_int_equal(count_events(d.board, NACRE_SECMON_EVENT_REFUSED, NACRE_SECMON_ERR_QUOTA), 3);
    assert_int_equal(st_read(core, a, 1530, out, 6), NACRE_SECMON_OK);
    static const uint8_t tail[6] = {0, 0, 0, 0, 0, 0xAB};
    assert_memory_equal(out, tail, 6);
    /* malformed layouts */
    assert_int_equal(smt_call(core, a, NOW, NACRE_SECMON_CALL_STORAGE_WRITE, data, 4, NULL, NULL, NULL),
                     NACRE_SECMON_ERR_MALFORMED);
    assert_int_equal(st_read(core, a, 0, out, 0), NACRE_SECMON_ERR_MALFORMED);

    /* a model of each app's storage; many writes, crossing pages, compactions */
    static uint8_t model_a[1536], model_b[1024];
    memset(model_a, 0, sizeof model_a);
    model_a[1535] = 0xAB;
    memset(model_b, 0, sizeof model_b);
    uint32_t rng = 7;
    for (int i = 0; i < 120; i++) {
        rng = rng * 1103515245u + 12345u;
        int to_a = (rng >> 8) & 1;
        uint32_t quota = to_a ? 1536u : 1024u;
        uint32_t len = 1 + (rng >> 12) % 512u;
        uint32_t off = (rng >> 4) % (quota - len + 1);
        for (uint32_t j = 0; j < len; j++) {
            data[j] = (uint8_t)(i * 7 + j);
        }
        assert_int_equal(st_write(core, to_a ? a : b, off, data, len), NACRE_SECMON_OK);
        memcpy((to_a ? model_a : model_b) + off, data, len);
    }
    st_expect(core, a, model_a, sizeof model_a);
    st_expect(core, b, model_b, sizeof model_b);

    /* persistence across a reset (and a firmware change) */
    smt_core_free(core);
    smt_reboot(&d, "fw-2");
    core = smt_core(&d, RATE_HIGH);
    assert_int_equal(nacre_secmon_core_add_app(core, &cb, &b), NACRE_SECMON_OK);
    assert_int_equal(nacre_secmon_core_add_app(core, &ca, &a), NACRE_SECMON_OK);
    st_expect(core, a, model_a, sizeof model_a);
    st_expect(core, b, model_b, sizeof model_b);
    /* an app with no MutableStorage is denied, and sees nothing of others' */
    unsigned none;
    struct nacre_secmon_caps cn = smt_caps("no-storage");
    assert_int_equal(nacre_secmon_core_add_app(core, &cn, &none), NACRE_SECMON_OK);
    assert_int_equal(st_read(core, none, 0, out, 1), NACRE_SECMON_ERR_DENIED);
    assert_int_equal(st_write(core, none, 0, data, 1), NACRE_SECMON_ERR_DENIED);
    smt_core_free(core);
    nacre_test_device_free(&d);
}

/*
 * Power cut at every flash write of a sequence of storage writes (pages
 * copied, journal records, compactions): after each cut and reset, every
 * app's storage reads exactly as before the interrupted write or exactly
 * as after it - never a mix - and the remaining writes then succeed.
 */
#define PC_WRITES 14
#define PC_QUOTA 1536u

struct pc_write {
    uint32_t off, len;
    uint8_t seed;
};

static void pc_data(uint8_t *out, const struct pc_write *w)
{
    for (uint32_t j = 0; j < w->len; j++) {
        out[j] = (uint8_t)(w->seed + j * 13u);
    }
}

static void pc_setup(struct nacre_test_device *d, struct nacre_secmon_core **core, unsigned *app, int fresh)
{
    struct nacre_host_geometry g = smt_geometry(512, 3, 8); /* 6 data sectors; journal of 7 slots */
    if (fresh) {
        smt_device(d, "core-storage-cut", &g);
    } else {
        smt_reboot(d, "fw-1");
    }
    *core = smt_core(d, RATE_HIGH);
    struct nacre_secmon_caps c = smt_caps(CID_A);
    c.storage_bytes = PC_QUOTA;
    assert_int_equal(nacre_secmon_core_add_app(*core, &c, app), NACRE_SECMON_OK);
}

static void test_storage_power_cut(void **state)
{
    (void)state;
    static const struct pc_write seq[PC_WRITES] = {
        {0, 100, 1},    {500, 40, 2}, {1000, 512, 3}, {10, 5, 4},     {511, 2, 5},
        {1023, 512, 6}, {0, 512, 7},  {300, 400, 8},  {1200, 336, 9}, {5, 1, 10},
        {700, 512, 11}, {0, 1, 12},   {1535, 1, 13},  {256, 512, 14},
    };
    /* models[i] = the storage after the first i writes */
    static uint8_t models[PC_WRITES + 1][PC_QUOTA];
    memset(models[0], 0, PC_QUOTA);
    uint8_t data[512];
    for (int i = 0; i < PC_WRITES; i++) {
        memcpy(models[i + 1], models[i], PC_QUOTA);
        pc_data(data, &seq[i]);
        memcpy(models[i + 1] + seq[i].off, data, seq[i].len);
    }

    /* count the writes of a clean run */
    struct nacre_test_device d;
    struct nacre_secmon_core *core;
    unsigned app;
    pc_setup(&d, &core, &app, 1);
    uint64_t w0 = nacre_host_board_write_count(d.board);
    for (int i = 0; i < PC_WRITES; i++) {
        pc_data(data, &seq[i]);
        assert_int_equal(st_write(core, app, seq[i].off, data, seq[i].len), NACRE_SECMON_OK);
    }
    st_expect(core, app, models[PC_WRITES], PC_QUOTA);
    long writes = (long)(nacre_host_board_write_count(d.board) - w0);
    smt_core_free(core);
    nacre_test_device_free(&d);

    long old_seen = 0, new_seen = 0;
    uint8_t out[512];
    long points = 0;
    for (long cut = 0; cut < writes; cut += smt_cut_stride()) {
        points++;
        pc_setup(&d, &core, &app, 1);
        nacre_host_board_set_power_cut(d.board, cut);
        int i;
        for (i = 0; i < PC_WRITES; i++) {
            pc_data(data, &seq[i]);
            if (st_write(core, app, seq[i].off, data, seq[i].len) != NACRE_SECMON_OK) {
                break;
            }
        }
        assert_true(i < PC_WRITES);
        smt_core_free(core);
        pc_setup(&d, &core, &app, 0);
        /* read everything back: all old or all new */
        static uint8_t now_bytes[PC_QUOTA];
        nacre_secmon_status s = NACRE_SECMON_OK;
        for (uint32_t off = 0; off < PC_QUOTA && s == NACRE_SECMON_OK; off += 512) {
            s = st_read(core, app, off, out, 512);
            memcpy(now_bytes + off, out, 512);
        }
        if (s == NACRE_SECMON_ERR_NOT_FOUND) {
            assert_int_equal(i, 0); /* the first write never committed */
            memset(now_bytes, 0, PC_QUOTA);
        } else {
            assert_int_equal(s, NACRE_SECMON_OK);
        }
        int is_old = memcmp(now_bytes, models[i], PC_QUOTA) == 0;
        int is_new = memcmp(now_bytes, models[i + 1], PC_QUOTA) == 0;
        assert_true(is_old || is_new);
        old_seen += is_old && !is_new;
        new_seen += is_new && !is_old;
        /* the rest of the writes go through */
        for (int j = is_new ? i + 1 : i; j < PC_WRITES; j++) {
            pc_data(data, &seq[j]);
            assert_int_equal(st_write(core, app, seq[j].off, data, seq[j].len), NACRE_SECMON_OK);
        }
        st_expect(core, app, models[PC_WRITES], PC_QUOTA);
        smt_core_free(core);
        nacre_test_device_free(&d);
    }
    print_message("storage: power cut at %ld of the %ld writes of %d storage writes: %ld old, %ld new\n",
                  points, writes, PC_WRITES, old_seen, new_seen);
    /* The commit record is each storage write's last flash write, so a cut
     * inside one always leaves the old bytes; "new" needs the cut after it. */
    assert_int_equal(old_seen + new_seen, points);
    assert_true(old_seen > 0);
}

/* ---- rate limit ------------------------------------------------------------------------- */

static void test_rate_limit(void **state)
{
    (void)state;
    struct nacre_test_device d;
    smt_device(&d, "core-rate", NULL);
    struct nacre_secmon_core *core = smt_core(&d, 5);
    unsigned a, b;
    struct nacre_secmon_caps ca = smt_caps(CID_A), cb = smt_caps(CID_B);
    assert_int_equal(nacre_secmon_core_add_app(core, &ca, &a), NACRE_SECMON_OK);
    assert_int_equal(nacre_secmon_core_add_app(core, &cb, &b), NACRE_SECMON_OK);
    /* burst of 5, then refusals for the rest of that second */
    for (int i = 0; i < 5; i++) {
        assert_int_equal(smt_call(core, a, NOW, NACRE_SECMON_CALL_PING, NULL, 0, NULL, NULL, NULL),
                         NACRE_SECMON_OK);
    }
    for (int i = 0; i < 40; i++) {
        assert_int_equal(smt_call(core, a, NOW, NACRE_SECMON_CALL_PING, NULL, 0, NULL, NULL, NULL),
                         NACRE_SECMON_ERR_RATE_LIMITED);
    }
    /* garbage costs tokens too, and is refused as rate limited, not decoded */
    uint8_t junk[NACRE_SECMON_MSG_BYTES];
    memset(junk, 0x33, sizeof junk);
    assert_int_equal(smt_raw(core, a, NOW, junk), NACRE_SECMON_ERR_RATE_LIMITED);
    /* the other app is not affected */
    assert_int_equal(smt_call(core, b, NOW, NACRE_SECMON_CALL_PING, NULL, 0, NULL, NULL, NULL),
                     NACRE_SECMON_OK);
    /* 41 refusals, one event */
    assert_int_equal(count_events(d.board, NACRE_SECMON_EVENT_REFUSED, NACRE_SECMON_ERR_RATE_LIMITED), 1);
    struct nacre_secmon_event ev = last_event(d.board);
    uint8_t ida[8];
    app_id_of(ida, CID_A);
    assert_memory_equal(ev.app_id, ida, 8);
    assert_string_equal(ev.detail, "ping");
    assert_int_equal(ev.time, NOW);
    /* the next second: the bucket is full again */
    for (int i = 0; i < 5; i++) {
        assert_int_equal(smt_call(core, a, NOW + 1, NACRE_SECMON_CALL_PING, NULL, 0, NULL, NULL, NULL),
                         NACRE_SECMON_OK);
    }
    assert_int_equal(smt_call(core, a, NOW + 1, NACRE_SECMON_CALL_SIGN, "x", 1, NULL, NULL, NULL),
                     NACRE_SECMON_ERR_RATE_LIMITED);
    assert_int_equal(count_events(d.board, NACRE_SECMON_EVENT_REFUSED, NACRE_SECMON_ERR_RATE_LIMITED), 2);
    ev = last_event(d.board);
    assert_int_equal(ev.addr, 40); /* refusals not logged since the previous event */
    assert_string_equal(ev.detail, "sign");
    /* a flood over ten seconds leaves ten events, not thousands */
    for (uint64_t t = NOW + 2; t < NOW + 12; t++) {
        for (int i = 0; i < 300; i++) {
            (void)smt_call(core, a, t, NACRE_SECMON_CALL_PING, NULL, 0, NULL, NULL, NULL);
        }
    }
    assert_int_equal(count_events(d.board, NACRE_SECMON_EVENT_REFUSED, NACRE_SECMON_ERR_RATE_LIMITED), 12);
    smt_core_free(core);
    nacre_test_device_free(&d);
}

/* ---- refusals and their events; garbage ------------------------------------------------ */

static void test_refusal_events(void **state)
{
    (void)state;
    struct nacre_test_device d;
    smt_device(&d, "core-events", NULL);
    struct nacre_secmon_core *core = smt_core(&d, RATE_HIGH);
    unsigned a, b;
    struct nacre_secmon_caps ca = smt_caps(CID_A), cb = caps_all(CID_B);
    assert_int_equal(nacre_secmon_core_add_app(core, &ca, &a), NACRE_SECMON_OK);
    assert_int_equal(nacre_secmon_core_add_app(core, &cb, &b), NACRE_SECMON_OK);
    uint8_t ida[8];
    app_id_of(ida, CID_A);

    struct expect {
        uint8_t type;
        uint32_t code;
        uint64_t addr;
        const char *detail;
    };
    uint8_t msg[NACRE_SECMON_MSG_BYTES];
    assert_int_equal(nacre_secmon_encode_request(msg, NACRE_SECMON_CALL_PING, 1, NULL, 0), NACRE_SECMON_OK);
    msg[0] = 'Z';
    assert_int_equal(smt_raw(core, a, NOW, msg), NACRE_SECMON_ERR_MALFORMED);
    assert_int_equal(nacre_secmon_encode_request(msg, NACRE_SECMON_CALL_PING, 2, NULL, 0), NACRE_SECMON_OK);
    msg[2] = 7;
    assert_int_equal(smt_raw(core, a, NOW, msg), NACRE_SECMON_ERR_MALFORMED);
    assert_int_equal(nacre_secmon_encode_request(msg, NACRE_SECMON_CALL_PING, 3, NULL, 0), NACRE_SECMON_OK);
    msg[14] = 1;
    assert_int_equal(smt_raw(core, a, NOW, msg), NACRE_SECMON_ERR_MALFORMED);
    assert_int_equal(nacre_secmon_encode_request(msg, NACRE_SECMON_CALL_PING, 4, NULL, 0), NACRE_SECMON_OK);
    msg[8] = 0xF1;
    msg[9] = 0x03;
    assert_int_equal(smt_raw(core, a, NOW, msg), NACRE_SECMON_ERR_MALFORMED);
    assert_int_equal(nacre_secmon_encode_request(msg, NACRE_SECMON_CALL_PING, 5, NULL, 0), NACRE_SECMON_OK);
    msg[700] = 1;
    assert_int_equal(smt_raw(core, a, NOW, msg), NACRE_SECMON_ERR_MALFORMED);
    assert_int_equal(nacre_secmon_encode_request(msg, NACRE_SECMON_CALL_PING, 6, NULL, 0), NACRE_SECMON_OK);
    msg[3] = 0x42;
    assert_int_equal(smt_raw(core, a, NOW, msg), NACRE_SECMON_ERR_UNKNOWN_CALL);
    static const uint8_t big_ping[65] = {0};
    assert_int_equal(smt_call(core, a, NOW, NACRE_SECMON_CALL_PING, big_ping, 65, NULL, NULL, NULL),
                     NACRE_SECMON_ERR_MALFORMED);
    assert_int_equal(smt_call(core, a, NOW, NACRE_SECMON_CALL_CERTIFICATE, NULL, 0, NULL, NULL, NULL),
                     NACRE_SECMON_ERR_DENIED);
    static const uint8_t bad_utf8[] = {1, 'o', 'k', 0xC0, 0x80};
    assert_int_equal(
        smt_call(core, a, NOW, NACRE_SECMON_CALL_LOG_EVENT, bad_utf8, sizeof bad_utf8, NULL, NULL, NULL),
        NACRE_SECMON_ERR_MALFORMED);
    static const uint8_t counter9[4] = {9, 0, 0, 0};
    assert_int_equal(smt_call(core, a, NOW, NACRE_SECMON_CALL_COUNTER_READ, counter9, 4, NULL, NULL, NULL),
                     NACRE_SECMON_ERR_MALFORMED);

    const struct expect want[] = {
        {NACRE_SECMON_EVENT_REFUSED, NACRE_SECMON_ERR_MALFORMED, NACRE_SECMON_CALL_PING, "hdr:magic"},
        {NACRE_SECMON_EVENT_REFUSED, NACRE_SECMON_ERR_MALFORMED, NACRE_SECMON_CALL_PING, "hdr:version"},
        {NACRE_SECMON_EVENT_REFUSED, NACRE_SECMON_ERR_MALFORMED, NACRE_SECMON_CALL_PING, "hdr:reserved"},
        {NACRE_SECMON_EVENT_REFUSED, NACRE_SECMON_ERR_MALFORMED, NACRE_SECMON_CALL_PING, "hdr:length"},
        {NACRE_SECMON_EVENT_REFUSED, NACRE_SECMON_ERR_MALFORMED, NACRE_SECMON_CALL_PING, "hdr:padding"},
        {NACRE_SECMON_EVENT_REFUSED, NACRE_SECMON_ERR_UNKNOWN_CALL, 0x42, "unknown call"},
        {NACRE_SECMON_EVENT_REFUSED, NACRE_SECMON_ERR_MALFORMED, NACRE_SECMON_CALL_PING, "ping"},
        {NACRE_SECMON_EVENT_REFUSED, NACRE_SECMON_ERR_DENIED, NACRE_SECMON_CALL_CERTIFICATE, "certificate"},
        {NACRE_SECMON_EVENT_REFUSED, NACRE_SECMON_ERR_MALFORMED, NACRE_SECMON_CALL_LOG_EVENT, "log_event"},
        {NACRE_SECMON_EVENT_REFUSED, NACRE_SECMON_ERR_MALFORMED, NACRE_SECMON_CALL_COUNTER_READ,
         "counter_read"},
    };
    size_t n = smt_events(d.board, g_evs, EVENTS_MAX);
    assert_int_equal(n, sizeof want / sizeof want[0]);
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(g_evs[i].type, want[i].type);
        assert_int_equal(g_evs[i].code, want[i].code);
        assert_int_equal(g_evs[i].addr, want[i].addr);
        assert_string_equal(g_evs[i].detail, want[i].detail);
        assert_memory_equal(g_evs[i].app_id, ida, 8);
        assert_int_equal(g_evs[i].time, NOW);
    }

    /* Garbage from A never crashes the core nor touches B. */
    uint32_t rng = 99;
    for (int i = 0; i < 3000; i++) {
        for (size_t j = 0; j < sizeof msg; j++) {
            rng = rng * 1103515245u + 12345u;
            msg[j] = (uint8_t)(rng >> 16);
        }
        if (i % 3 == 0) {
            /* a valid header around random payloads reaches the call handlers */
            unsigned call = 1 + (unsigned)(i / 3) % (NACRE_SECMON_CALL_COUNT_ - 1);
            size_t len = (rng >> 8) % (NACRE_SECMON_PAYLOAD_MAX + 1);
            uint8_t payload[NACRE_SECMON_PAYLOAD_MAX];
            memcpy(payload, msg + 16, len);
            assert_int_equal(nacre_secmon_encode_request(msg, call, (uint32_t)i, payload, len),
                             NACRE_SECMON_OK);
        }
        (void)smt_raw(core, a, NOW + 10, msg);
    }
    uint8_t out[NACRE_SECMON_PAYLOAD_MAX];
    size_t out_len;
    static const uint8_t hello[5] = {'h', 'e', 'l', 'l', 'o'};
    assert_int_equal(smt_call(core, b, NOW + 10, NACRE_SECMON_CALL_PING, hello, 5, out, &out_len, NULL),
                     NACRE_SECMON_OK);
    assert_memory_equal(out, hello, 5);
    assert_int_equal(smt_call(core, a, NOW + 10, NACRE_SECMON_CALL_PING, hello, 5, out, &out_len, NULL),
                     NACRE_SECMON_OK);
    smt_core_free(core);
    nacre_test_device_free(&d);
}

/* ---- peripherals -------------------------------------------------------------------------- */

static nacre_secmon_status periph(struct nacre_secmon_core *core, unsigned app, uint64_t now, uint8_t kind,
                                  uint8_t id, uint8_t op, uint16_t arg, const void *data, size_t dlen,
                                  uint8_t *out, size_t *out_len)
{
    uint8_t req[5 + 64];
    req[0] = kind;
    req[1] = id;
    req[2] = op;
    req[3] = (uint8_t)arg;
    req[4] = (uint8_t)(arg >> 8);
    if (dlen > 0) {
        memcpy(req + 5, data, dlen);
    }
    return smt_call(core, app, now, NACRE_SECMON_CALL_PERIPHERAL, req, 5 + dlen, out, out_len, NULL);
}

static void test_peripherals(void **state)
{
    (void)state;
    struct nacre_test_device d;
    smt_device(&d, "core-periph", NULL);
    struct nacre_secmon_core *core = smt_core(&d, RATE_HIGH);
    unsigned a;
    struct nacre_secmon_caps ca = caps_all(CID_A);
    assert_int_equal(nacre_secmon_core_add_app(core, &ca, &a), NACRE_SECMON_OK);
    uint8_t out[64];
    size_t n;
    /* GPIO 3 */
    assert_int_equal(periph(core, a, NOW, 1, 3, 1, 0, NULL, 0, out, &n), NACRE_SECMON_OK);
    assert_int_equal(n, 1);
    assert_int_equal(out[0], 0);
    assert_int_equal(periph(core, a, NOW, 1, 3, 2, 1, NULL, 0, out, &n), NACRE_SECMON_OK);
    assert_int_equal(periph(core, a, NOW, 1, 3, 1, 0, NULL, 0, out, &n), NACRE_SECMON_OK);
    assert_int_equal(out[0], 1);
    assert_int_equal(periph(core, a, NOW, 1, 3, 2, 2, NULL, 0, out, &n), NACRE_SECMON_ERR_MALFORMED);
    assert_int_equal(periph(core, a, NOW, 1, 4, 1, 0, NULL, 0, out, &n), NACRE_SECMON_ERR_DENIED);
    assert_int_equal(periph(core, a, NOW, 1, 200, 1, 0, NULL, 0, out, &n), NACRE_SECMON_ERR_DENIED);
    /* UART 0: loopback */
    assert_int_equal(periph(core, a, NOW, 2, 0, 2, 0, "hello", 5, out, &n), NACRE_SECMON_OK);
    assert_int_equal(periph(core, a, NOW, 2, 0, 2, 0, " world", 6, out, &n), NACRE_SECMON_OK);
    assert_int_equal(periph(core, a, NOW, 2, 0, 1, 7, NULL, 0, out, &n), NACRE_SECMON_OK);
    assert_int_equal(n, 7);
    assert_memory_equal(out, "hello w", 7);
    assert_int_equal(periph(core, a, NOW, 2, 0, 1, 64, NULL, 0, out, &n), NACRE_SECMON_OK);
    assert_int_equal(n, 4);
    assert_memory_equal(out, "orld", 4);
    assert_int_equal(periph(core, a, NOW, 2, 0, 1, 64, NULL, 0, out, &n), NACRE_SECMON_OK);
    assert_int_equal(n, 0);
    assert_int_equal(periph(core, a, NOW, 2, 1, 1, 1, NULL, 0, out, &n), NACRE_SECMON_ERR_DENIED);
    /* I2C bus 1, sensor at 0x48: centi-degrees, slowly varying */
    int16_t prev = 0;
    for (uint64_t t = 0; t < 800; t += 10) {
        assert_int_equal(periph(core, a, NOW + t, 3, 1, 1, 0x48, "\0", 1, out, &n), NACRE_SECMON_OK);
        assert_int_equal(n, 2);
        int16_t v = (int16_t)(out[0] | (out[1] << 8));
        assert_true(v >= 2100 && v <= 2300);
        if (t > 0) {
            assert_true(abs(v - prev) <= 10);
        }
        prev = v;
    }
    assert_int_equal(periph(core, a, NOW, 3, 1, 1, 0x49, "\0", 1, out, &n), NACRE_SECMON_ERR_NOT_FOUND);
    assert_int_equal(periph(core, a, NOW, 3, 1, 1, 0x48, "\1", 1, out, &n), NACRE_SECMON_ERR_NOT_FOUND);
    assert_int_equal(periph(core, a, NOW, 3, 1, 2, 0x48, "\1\2", 2, out, &n), NACRE_SECMON_OK);
    assert_int_equal(periph(core, a, NOW, 3, 2, 1, 0x48, "\0", 1, out, &n), NACRE_SECMON_ERR_DENIED);
    /* bad kinds and ops */
    assert_int_equal(periph(core, a, NOW, 4, 1, 1, 0, NULL, 0, out, &n), NACRE_SECMON_ERR_MALFORMED);
    assert_int_equal(periph(core, a, NOW, 1, 3, 3, 0, NULL, 0, out, &n), NACRE_SECMON_ERR_MALFORMED);
    smt_core_free(core);
    nacre_test_device_free(&d);
}

/* ---- the update stream ------------------------------------------------------------------ */

static void test_update_stream(void **state)
{
    (void)state;
    struct upd_keys k;
    upd_keys_make(&k, 0x31, 1);
    struct nacre_test_device d;
    upd_device(&d, "core-update", &k, NULL);
    nacre_test_device_boot(&d, NULL);
    struct nacre_secmon_core *core = smt_core(&d, RATE_HIGH);
    secmon_core_set_update_component(core, "fw");
    unsigned a, b;
    struct nacre_secmon_caps ca = caps_all(CID_A), cb = caps_all(CID_B);
    assert_int_equal(nacre_secmon_core_add_app(core, &ca, &a), NACRE_SECMON_OK);
    assert_int_equal(nacre_secmon_core_add_app(core, &cb, &b), NACRE_SECMON_OK);

    size_t len = 0;
    uint8_t *image = upd_image(&len, &k, 1, "fw", "1.2.3", 1, 5000, 9);
    uint8_t out[64];
    size_t n;
    /* out of order */
    assert_int_equal(smt_call(core, a, NOW, NACRE_SECMON_CALL_UPDATE_WRITE, image, 10, NULL, NULL, NULL),
                     NACRE_SECMON_ERR_STATE);
    assert_int_equal(smt_call(core, a, NOW, NACRE_SECMON_CALL_UPDATE_BEGIN, NULL, 0, out, &n, NULL),
                     NACRE_SECMON_OK);
    assert_int_equal(n, 4);
    assert_memory_equal(out, "\0\0\0\0", 4);
    /* one stream at a time */
    assert_int_equal(smt_call(core, b, NOW, NACRE_SECMON_CALL_UPDATE_BEGIN, NULL, 0, out, &n, NULL),
                     NACRE_SECMON_ERR_STATE);
    assert_int_equal(smt_call(core, b, NOW, NACRE_SECMON_CALL_UPDATE_WRITE, image, 10, NULL, NULL, NULL),
                     NACRE_SECMON_ERR_STATE);
    for (size_t off = 0; off < len; off += 1000) {
        size_t c = len - off < 1000 ? len - off : 1000;
        assert_int_equal(
            smt_call(core, a, NOW, NACRE_SECMON_CALL_UPDATE_WRITE, image + off, c, NULL, NULL, NULL),
            NACRE_SECMON_OK);
    }
    assert_int_equal(smt_call(core, a, NOW, NACRE_SECMON_CALL_UPDATE_FINISH, NULL, 0, out, &n, NULL),
                     NACRE_SECMON_OK);
    assert_int_equal(n, 12);
    static const uint8_t ver[12] = {1, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0};
    assert_memory_equal(out, ver, 12);
    free(image);

    /* a badly signed image: VERIFY and a VERIFY_FAILED event */
    struct upd_keys other;
    upd_keys_make(&other, 0x77, 1);
    image = upd_image(&len, &other, 0, "fw", "1.2.4", 1, 3000, 1);
    assert_int_equal(smt_call(core, b, NOW, NACRE_SECMON_CALL_UPDATE_BEGIN, NULL, 0, out, &n, NULL),
                     NACRE_SECMON_OK);
    nacre_secmon_status s = NACRE_SECMON_OK;
    for (size_t off = 0; off < len && s == NACRE_SECMON_OK; off += 1000) {
        size_t c = len - off < 1000 ? len - off : 1000;
        s = smt_call(core, b, NOW, NACRE_SECMON_CALL_UPDATE_WRITE, image + off, c, NULL, NULL, NULL);
    }
    assert_int_equal(s, NACRE_SECMON_ERR_VERIFY);
    struct nacre_secmon_event ev = last_event(d.board);
    assert_int_equal(ev.type, NACRE_SECMON_EVENT_VERIFY_FAILED);
    assert_int_equal(ev.addr, NACRE_UPDATE_ERR_UNKNOWN_KEY);
    assert_string_equal(ev.detail, "update_write");
    /* the stream is over */
    assert_int_equal(smt_call(core, b, NOW, NACRE_SECMON_CALL_UPDATE_FINISH, NULL, 0, out, &n, NULL),
                     NACRE_SECMON_ERR_STATE);
    free(image);
    smt_core_free(core);
    nacre_test_device_free(&d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_capabilities),
        cmocka_unit_test(test_identity_and_keys),
        cmocka_unit_test(test_storage_quota_and_persistence),
        cmocka_unit_test(test_storage_power_cut),
        cmocka_unit_test(test_rate_limit),
        cmocka_unit_test(test_refusal_events),
        cmocka_unit_test(test_peripherals),
        cmocka_unit_test(test_update_stream),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
