/*
 * test_eventlog.c - the security-event ring: contents, truncation, wrap-around,
 * persistence, and power cuts at every write.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "secmon_priv.h"
#include "secmon_test.h"

#define SECTOR 512u
#define RING_SECTORS 3u
#define PER_SECTOR (SECTOR / SECMON_EVENT_RECORD_BYTES)
#define KEEP ((RING_SECTORS - 1u) * PER_SECTOR) /* the ring's guarantee */
#define EVENTS_MAX 256u

/* The event of the k-th append (k >= 1): code = k identifies it. */
static struct nacre_secmon_event make_event(uint32_t k)
{
    struct nacre_secmon_event ev;
    memset(&ev, 0, sizeof ev);
    ev.seq = 0xFFFFFFFFu; /* ignored: the ring assigns seqs */
    ev.time = 1700000000u + k;
    ev.type = (uint8_t)(1u + k % 9u);
    for (unsigned i = 0; i < sizeof ev.app_id; i++) {
        ev.app_id[i] = (uint8_t)(k * 31u + i);
    }
    ev.code = k;
    ev.addr = (uint64_t)k * 0x100000001ull;
    snprintf(ev.detail, sizeof ev.detail, "ev%u/%s", (unsigned)k, "a detail longer than thirteen bytes");
    return ev;
}

/* The stored form of make_event(k): detail cut to the record's 13 bytes. */
static void expect_stored(const struct nacre_secmon_event *got, uint32_t k)
{
    struct nacre_secmon_event want = make_event(k);
    assert_int_equal(got->time, want.time);
    assert_int_equal(got->type, want.type);
    assert_memory_equal(got->app_id, want.app_id, sizeof want.app_id);
    assert_int_equal(got->code, want.code);
    assert_int_equal(got->addr, want.addr);
    want.detail[SECMON_EVENT_RECORD_DETAIL] = '\0';
    assert_string_equal(got->detail, want.detail);
}

static void ring_device(struct nacre_test_device *d, const char *tag)
{
    struct nacre_host_geometry g = smt_geometry(SECTOR, RING_SECTORS, 4);
    nacre_test_device_new_geometry(d, tag, NULL, 0, &g);
}

static void reset_board(struct nacre_test_device *d)
{
    nacre_host_board_close(d->board);
    d->board = NULL;
    assert_int_equal(nacre_host_board_open(d->dir, &d->board, NULL), NACRE_BOARD_OK);
}

static void test_contents_and_truncation(void **state)
{
    (void)state;
    struct nacre_test_device d;
    ring_device(&d, "evlog-basic");
    struct nacre_secmon_event evs[EVENTS_MAX];
    assert_int_equal(smt_events(d.board, evs, EVENTS_MAX), 0);
    for (uint32_t k = 1; k <= 5; k++) {
        struct nacre_secmon_event ev = make_event(k);
        assert_int_equal(nacre_secmon_event_append(d.board, &ev), NACRE_SECMON_OK);
    }
    /* a short detail is stored whole; an empty one too */
    struct nacre_secmon_event ev = make_event(6);
    strcpy(ev.detail, "short");
    assert_int_equal(nacre_secmon_event_append(d.board, &ev), NACRE_SECMON_OK);
    ev = make_event(7);
    ev.detail[0] = '\0';
    assert_int_equal(nacre_secmon_event_append(d.board, &ev), NACRE_SECMON_OK);
    /* type 0 is not an event */
    ev.type = 0;
    assert_int_equal(nacre_secmon_event_append(d.board, &ev), NACRE_SECMON_ERR_ARGUMENT);

    reset_board(&d);
    size_t n = smt_events(d.board, evs, EVENTS_MAX);
    assert_int_equal(n, 7);
    for (uint32_t i = 0; i < 5; i++) {
        assert_int_equal(evs[i].seq, i + 1);
        expect_stored(&evs[i], i + 1);
    }
    assert_string_equal(evs[5].detail, "short");
    assert_string_equal(evs[6].detail, "");
    assert_int_equal(evs[6].seq, 7);
    nacre_test_device_free(&d);
}

static int stop_after_two(const struct nacre_secmon_event *ev, void *ctx)
{
    (void)ev;
    return ++*(int *)ctx == 2;
}

static void test_wrap_around(void **state)
{
    (void)state;
    struct nacre_test_device d;
    ring_device(&d, "evlog-wrap");
    struct nacre_secmon_event evs[EVENTS_MAX];
    const uint32_t total = 10 * PER_SECTOR * RING_SECTORS + 3; /* wraps ten times */
    for (uint32_t k = 1; k <= total; k++) {
        struct nacre_secmon_event ev = make_event(k);
        assert_int_equal(nacre_secmon_event_append(d.board, &ev), NACRE_SECMON_OK);
        if (k % 17 == 0) {
            reset_board(&d); /* the head is found again after a reset */
        }
        size_t n = smt_events(d.board, evs, EVENTS_MAX);
        assert_true(n >= (k < KEEP ? k : KEEP));
        assert_true(n <= PER_SECTOR * RING_SECTORS);
        /* the newest n events, in order, consecutive */
        for (size_t i = 0; i < n; i++) {
            assert_int_equal(evs[i].seq, k - n + 1 + i);
            expect_stored(&evs[i], (uint32_t)(k - n + 1 + i));
        }
    }
    /* the callback can stop the walk */
    int seen = 0;
    assert_int_equal(nacre_secmon_event_read(d.board, stop_after_two, &seen), NACRE_SECMON_OK);
    assert_int_equal(seen, 2);
    nacre_test_device_free(&d);
}

/*
 * After a power cut, with acked[] the appends acknowledged so far (by code):
 * every record read is one of them, stored exactly; seqs strictly increase;
 * what survives is a suffix of the acknowledged appends (no holes), holding
 * at least `keep` of them.
 */
static void check_ring(struct nacre_board *board, const uint32_t *acked, size_t n_acked, size_t keep)
{
    static struct nacre_secmon_event evs[EVENTS_MAX];
    size_t n = smt_events(board, evs, EVENTS_MAX);
    assert_true(n <= n_acked);
    assert_true(n >= (keep < n_acked ? keep : n_acked));
    for (size_t i = 0; i < n; i++) {
        if (i > 0) {
            assert_true(evs[i].seq > evs[i - 1].seq);
        }
        /* the i-th survivor is the (n_acked - n + i)-th acknowledged append */
        assert_int_equal(evs[i].code, acked[n_acked - n + i]);
        expect_stored(&evs[i], evs[i].code);
    }
}

static void test_power_cut_every_write(void **state)
{
    (void)state;
    const uint32_t appends = 8 * PER_SECTOR + 5; /* several wraps */
    /* Count the writes of a clean run. */
    struct nacre_test_device d;
    ring_device(&d, "evlog-count");
    uint64_t w0 = nacre_host_board_write_count(d.board);
    for (uint32_t k = 1; k <= appends; k++) {
        struct nacre_secmon_event ev = make_event(k);
        assert_int_equal(nacre_secmon_event_append(d.board, &ev), NACRE_SECMON_OK);
    }
    long writes = (long)(nacre_host_board_write_count(d.board) - w0);
    nacre_test_device_free(&d);

    uint32_t acked[EVENTS_MAX];
    long cuts = 0;
    for (long cut = 0; cut < writes; cut += smt_cut_stride()) {
        ring_device(&d, "evlog-cut");
        nacre_host_board_set_power_cut(d.board, cut);
        size_t n_acked = 0;
        uint32_t k;
        for (k = 1; k <= appends; k++) {
            struct nacre_secmon_event ev = make_event(k);
            if (nacre_secmon_event_append(d.board, &ev) != NACRE_SECMON_OK) {
                break;
            }
            acked[n_acked++] = k;
        }
        assert_true(k <= appends); /* the cut happened */
        assert_true(nacre_host_board_power_lost(d.board));
        cuts++;
        reset_board(&d);
        check_ring(d.board, acked, n_acked, KEEP);
        /* The ring goes on after the reset: seqs keep increasing. */
        for (uint32_t j = 0; j < 2 * PER_SECTOR; j++) {
            struct nacre_secmon_event ev = make_event(1000 + j);
            assert_int_equal(nacre_secmon_event_append(d.board, &ev), NACRE_SECMON_OK);
            acked[n_acked++] = 1000 + j;
        }
        /* the torn slot may sit among them: one fewer guaranteed */
        check_ring(d.board, acked, n_acked, KEEP - 1);
        nacre_test_device_free(&d);
    }
    print_message("event ring: power cut at each of %ld writes (%u appends, %u sectors of %u records)\n",
                  cuts, (unsigned)appends, RING_SECTORS, (unsigned)PER_SECTOR);
    assert_int_equal(cuts, (writes + smt_cut_stride() - 1) / smt_cut_stride());
}

/* Many cuts in one device's life: cut, reset, append, cut again. */
static void test_power_cut_random_walk(void **state)
{
    (void)state;
    struct nacre_test_device d;
    ring_device(&d, "evlog-walk");
    static uint32_t acked[4096];
    size_t n_acked = 0;
    uint32_t k = 1;
    uint32_t rng = 12345;
    for (unsigned round = 0; round < 300; round++) {
        rng = rng * 1103515245u + 12345u;
        nacre_host_board_set_power_cut(d.board, (long)((rng >> 16) % 12u));
        for (;;) {
            struct nacre_secmon_event ev = make_event(k);
            nacre_secmon_status s = nacre_secmon_event_append(d.board, &ev);
            k++;
            if (s != NACRE_SECMON_OK) {
                break;
            }
            assert_true(n_acked < sizeof acked / sizeof acked[0]);
            acked[n_acked++] = k - 1;
        }
        reset_board(&d);
        /* Torn slots from earlier rounds may sit in the ring; the newest
         * acknowledged event is always there and nothing is out of place. */
        check_ring(d.board, acked, n_acked, n_acked > 0 ? 1 : 0);
    }
    nacre_test_device_free(&d);
}

static void test_bad_geometry(void **state)
{
    (void)state;
    struct nacre_test_device d;
    struct nacre_host_geometry g = smt_geometry(SECTOR, 1, 4); /* one sector: no ring */
    nacre_test_device_new_geometry(&d, "evlog-geo", NULL, 0, &g);
    struct nacre_secmon_event ev = make_event(1);
    assert_int_equal(nacre_secmon_event_append(d.board, &ev), NACRE_SECMON_ERR_INTERNAL);
    nacre_test_device_free(&d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_contents_and_truncation),
        cmocka_unit_test(test_wrap_around),
        cmocka_unit_test(test_power_cut_every_write),
        cmocka_unit_test(test_power_cut_random_walk),
        cmocka_unit_test(test_bad_geometry),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
