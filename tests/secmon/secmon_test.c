#include "secmon_test.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

struct nacre_host_geometry smt_geometry(uint32_t sector, uint32_t ring_sectors, uint32_t storage_sectors)
{
    struct nacre_host_geometry g;
    nacre_host_geometry_default(&g);
    g.sector_size = sector;
    g.write_size = 8;
    g.area_sectors[NACRE_FLASH_AREA_COUNTERS] = 2; /* pluton needs sector >= 320 bytes */
    g.area_sectors[NACRE_FLASH_AREA_BOOT_STATE] = 2;
    g.area_sectors[NACRE_FLASH_AREA_SLOT_A] = 64;
    g.area_sectors[NACRE_FLASH_AREA_SLOT_B] = 64;
    g.area_sectors[NACRE_FLASH_AREA_EVENT_LOG] = ring_sectors;
    g.area_sectors[NACRE_FLASH_AREA_STORAGE] = storage_sectors;
    return g;
}

void smt_device(struct nacre_test_device *d, const char *tag, const struct nacre_host_geometry *g)
{
    uint8_t seed[32];
    crypto_generichash(seed, sizeof seed, (const uint8_t *)tag, strlen(tag), NULL, 0);
    nacre_test_device_new_geometry(d, tag, seed, 1, g);
    nacre_test_device_boot(d, "fw-1");
}

void smt_reboot(struct nacre_test_device *d, const char *firmware)
{
    assert_int_equal(nacre_test_device_reset(d), NACRE_PLUTON_OK);
    nacre_test_device_boot(d, firmware);
}

struct nacre_secmon_core *smt_core(struct nacre_test_device *d, unsigned rate)
{
    struct nacre_secmon_core *core = malloc(nacre_secmon_core_size());
    assert_non_null(core);
    assert_int_equal(nacre_secmon_core_init(core, d->p, d->board, rate), NACRE_SECMON_OK);
    return core;
}

void smt_core_free(struct nacre_secmon_core *core)
{
    nacre_secmon_core_deinit(core);
    free(core);
}

struct nacre_secmon_caps smt_caps(const char *component_id)
{
    struct nacre_secmon_caps c;
    memset(&c, 0, sizeof c);
    snprintf(c.component_id, sizeof c.component_id, "%s", component_id);
    return c;
}

static uint32_t next_id = 100;

nacre_secmon_status smt_call(struct nacre_secmon_core *core, unsigned app, uint64_t now, unsigned call,
                             const void *req, size_t req_len, uint8_t *out, size_t *out_len, int *out_fd)
{
    uint8_t msg[NACRE_SECMON_MSG_BYTES], resp[NACRE_SECMON_MSG_BYTES];
    uint32_t id = next_id++;
    assert_int_equal(nacre_secmon_encode_request(msg, call, id, req, req_len), NACRE_SECMON_OK);
    int fd = -1;
    nacre_secmon_core_handle(core, app, now, msg, resp, &fd);
    unsigned rcall = 0;
    uint32_t rid = 0;
    nacre_secmon_status status;
    const uint8_t *payload;
    size_t len;
    assert_int_equal(nacre_secmon_decode_response(resp, &rcall, &rid, &status, &payload, &len),
                     NACRE_SECMON_OK);
    assert_int_equal(rcall, call);
    assert_int_equal(rid, id);
    if (out != NULL) {
        memcpy(out, payload, len);
    }
    if (out_len != NULL) {
        *out_len = len;
    }
    if (out_fd != NULL) {
        *out_fd = fd;
    } else {
        assert_int_equal(fd, -1);
    }
    return status;
}

nacre_secmon_status smt_raw(struct nacre_secmon_core *core, unsigned app, uint64_t now,
                            const uint8_t msg[NACRE_SECMON_MSG_BYTES])
{
    uint8_t resp[NACRE_SECMON_MSG_BYTES];
    int fd = -1;
    nacre_secmon_core_handle(core, app, now, msg, resp, &fd);
    assert_int_equal(fd, -1);
    unsigned rcall = 0;
    uint32_t rid = 0;
    nacre_secmon_status status;
    const uint8_t *payload;
    size_t len;
    assert_int_equal(nacre_secmon_decode_response(resp, &rcall, &rid, &status, &payload, &len),
                     NACRE_SECMON_OK);
    /* call and id are echoed from the raw bytes */
    assert_int_equal(rcall, msg[3]);
    assert_int_equal(rid, (uint32_t)msg[4] | ((uint32_t)msg[5] << 8) | ((uint32_t)msg[6] << 16) |
                              ((uint32_t)msg[7] << 24));
    if (status != NACRE_SECMON_OK) {
        assert_int_equal(len, 0);
    }
    return status;
}

long smt_cut_stride(void)
{
    const char *e = getenv("NACRE_CUT_STRIDE");
    long k = e != NULL ? strtol(e, NULL, 10) : 1;
    return k > 0 ? k : 1;
}

struct collect {
    struct nacre_secmon_event *evs;
    size_t n, max;
};

static int collect_cb(const struct nacre_secmon_event *ev, void *ctx)
{
    struct collect *c = ctx;
    if (c->n < c->max) {
        c->evs[c->n++] = *ev;
    }
    return 0;
}

size_t smt_events(struct nacre_board *board, struct nacre_secmon_event *evs, size_t max)
{
    struct collect c = {evs, 0, max};
    assert_int_equal(nacre_secmon_event_read(board, collect_cb, &c), NACRE_SECMON_OK);
    return c.n;
}
