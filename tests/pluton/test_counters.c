/*
 * Monotonic counters: semantics, persistence, and the power-cut proof.
 *
 * The proof replays a fixed script of increments and advances (enough to
 * compact the journal many times) and cuts power at every persistent write
 * in turn, then in random multi-cut runs. After each cut the device is reset
 * and every counter must read its last acknowledged value, or, for the one
 * operation in flight, the new value: never less.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "test_support.h"

#define FLASH_FILE_HEADER 128 /* flash.bin: header, then the counters area (docs/boards.md) */
#define SCRIPT_OPS 160
#define N NACRE_PLUTON_COUNTER_COUNT

static struct nacre_host_geometry small_geometry(uint32_t sector, uint32_t write)
{
    struct nacre_host_geometry g;
    nacre_host_geometry_default(&g);
    g.sector_size = sector;
    g.write_size = write;
    for (unsigned i = 0; i < NACRE_FLASH_AREA_COUNT; i++) {
        g.area_sectors[i] = 1;
    }
    g.area_sectors[NACRE_FLASH_AREA_COUNTERS] = 2;
    return g;
}

static void test_semantics(void **state)
{
    (void)state;
    struct nacre_test_device d;
    uint32_t v = 99;
    nacre_test_device_new(&d, "ctr-sem", NULL, 1);

    for (unsigned id = 0; id < N; id++) {
        assert_int_equal(nacre_pluton_counter_read(d.p, id, &v), NACRE_PLUTON_OK);
        assert_int_equal(v, 0);
    }
    assert_int_equal(nacre_pluton_counter_increment(d.p, 2, &v), NACRE_PLUTON_OK);
    assert_int_equal(v, 1);
    assert_int_equal(nacre_pluton_counter_increment(d.p, 2, NULL), NACRE_PLUTON_OK);
    assert_int_equal(nacre_pluton_counter_advance(d.p, 5, 10), NACRE_PLUTON_OK);
    assert_int_equal(nacre_pluton_counter_advance(d.p, 5, 10), NACRE_PLUTON_OK);
    assert_int_equal(nacre_pluton_counter_advance(d.p, 5, 9), NACRE_PLUTON_ERR_COUNTER_ROLLBACK);
    assert_int_equal(nacre_pluton_counter_advance(d.p, 5, 0), NACRE_PLUTON_ERR_COUNTER_ROLLBACK);
    assert_int_equal(nacre_pluton_counter_read(d.p, N, &v), NACRE_PLUTON_ERR_ARGUMENT);
    assert_int_equal(nacre_pluton_counter_increment(d.p, N, &v), NACRE_PLUTON_ERR_ARGUMENT);
    assert_int_equal(nacre_pluton_counter_read(d.p, 0, NULL), NACRE_PLUTON_ERR_ARGUMENT);

    /* Persisted: a reset (no boot needed) reads them back. */
    assert_int_equal(nacre_test_device_reset(&d), NACRE_PLUTON_OK);
    assert_int_equal(nacre_pluton_counter_read(d.p, 2, &v), NACRE_PLUTON_OK);
    assert_int_equal(v, 2);
    assert_int_equal(nacre_pluton_counter_read(d.p, 5, &v), NACRE_PLUTON_OK);
    assert_int_equal(v, 10);

    /* The top of the range: no wrap-around. */
    assert_int_equal(nacre_pluton_counter_advance(d.p, 7, UINT32_MAX), NACRE_PLUTON_OK);
    assert_int_equal(nacre_pluton_counter_increment(d.p, 7, &v), NACRE_PLUTON_ERR_COUNTER_OVERFLOW);
    assert_int_equal(nacre_test_device_reset(&d), NACRE_PLUTON_OK);
    assert_int_equal(nacre_pluton_counter_read(d.p, 7, &v), NACRE_PLUTON_OK);
    assert_int_equal(v, UINT32_MAX);
    nacre_test_device_free(&d);
}

static void test_many_increments_across_compactions(void **state)
{
    (void)state;
    struct nacre_test_device d;
    struct nacre_host_geometry g = small_geometry(512, 8);
    uint32_t expect[N] = {0}, v;
    nacre_test_device_new_geometry(&d, "ctr-many", NULL, 1, &g);
    for (unsigned i = 0; i < 1000; i++) {
        unsigned id = (i * 7u) % N;
        assert_int_equal(nacre_pluton_counter_increment(d.p, id, &v), NACRE_PLUTON_OK);
        assert_int_equal(v, ++expect[id]);
    }
    assert_int_equal(nacre_test_device_reset(&d), NACRE_PLUTON_OK);
    for (unsigned id = 0; id < N; id++) {
        assert_int_equal(nacre_pluton_counter_read(d.p, id, &v), NACRE_PLUTON_OK);
        assert_int_equal(v, expect[id]);
    }
    nacre_test_device_free(&d);
}

/* Operation i of the script: which counter, and increment or advance by 3. */
static unsigned op_id(unsigned i)
{
    return (i * 5u + i / 9u) % N;
}

static int op_is_advance(unsigned i)
{
    return i % 4u == 3u;
}

static nacre_pluton_status run_op(struct nacre_test_device *d, unsigned i, const uint32_t *model,
                                  uint32_t *attempted)
{
    unsigned id = op_id(i);
    *attempted = op_is_advance(i) ? model[id] + 3u : model[id] + 1u;
    if (op_is_advance(i)) {
        return nacre_pluton_counter_advance(d->p, id, *attempted);
    }
    uint32_t v = 0;
    nacre_pluton_status s = nacre_pluton_counter_increment(d->p, id, &v);
    if (s == NACRE_PLUTON_OK) {
        assert_int_equal(v, *attempted);
    }
    return s;
}

/*
 * After a cut during op i: reset and check each counter against the model.
 * The in-flight counter may hold either value; the model adopts what is read.
 */
static void check_after_cut(struct nacre_test_device *d, unsigned i, uint32_t attempted,
                            uint32_t *model)
{
    assert_int_equal(nacre_test_device_reset(d), NACRE_PLUTON_OK);
    for (unsigned id = 0; id < N; id++) {
        uint32_t v;
        assert_int_equal(nacre_pluton_counter_read(d->p, id, &v), NACRE_PLUTON_OK);
        if (id == op_id(i) && v == attempted) {
            model[id] = v;
        }
        if (v != model[id]) {
            fail_msg("cut during op %u: counter %u reads %u, expected %u (or %u)", i, id, v,
                     model[id], attempted);
        }
    }
}

/* Cut at every persistent write in turn; returns the number of cut points. */
static int cut_at_every_write(const struct nacre_host_geometry *g, const char *tag)
{
    static const uint8_t seed[32] = {7};
    int cuts = 0;
    for (long n = 0;; n++) {
        struct nacre_test_device d;
        uint32_t model[N] = {0}, attempted = 0;
        nacre_test_device_new_geometry(&d, tag, seed, 1, g);
        assert_int_equal(nacre_test_device_reset(&d), NACRE_PLUTON_OK);
        nacre_host_board_set_power_cut(d.board, n);
        unsigned i = 0;
        int cut = 0;
        for (; i < SCRIPT_OPS; i++) {
            nacre_pluton_status s = run_op(&d, i, model, &attempted);
            if (s == NACRE_PLUTON_ERR_POWER_LOST) {
                cut = 1;
                break;
            }
            assert_int_equal(s, NACRE_PLUTON_OK);
            model[op_id(i)] = attempted;
        }
        if (!cut) {
            nacre_test_device_free(&d);
            break;
        }
        cuts++;
        check_after_cut(&d, i, attempted, model);
        /* The journal keeps working after the cut: finish the script. */
        for (i = i + 1; i < SCRIPT_OPS; i++) {
            assert_int_equal(run_op(&d, i, model, &attempted), NACRE_PLUTON_OK);
            model[op_id(i)] = attempted;
        }
        assert_int_equal(nacre_test_device_reset(&d), NACRE_PLUTON_OK);
        for (unsigned id = 0; id < N; id++) {
            uint32_t v;
            assert_int_equal(nacre_pluton_counter_read(d.p, id, &v), NACRE_PLUTON_OK);
            assert_int_equal(v, model[id]);
        }
        nacre_test_device_free(&d);
    }
    return cuts;
}

static void test_power_cut_at_every_write(void **state)
{
    (void)state;
    struct nacre_host_geometry g1 = small_geometry(512, 8);   /* 32-byte records */
    struct nacre_host_geometry g2 = small_geometry(1024, 64); /* 64-byte records */
    int a = cut_at_every_write(&g1, "ctr-cut8");
    int b = cut_at_every_write(&g2, "ctr-cut64");
    print_message("counters: %d + %d power-cut points over %d operations each; "
                  "no counter ever went backwards\n", a, b, SCRIPT_OPS);
    /* More writes than operations means compactions were cut too. */
    assert_true(a > SCRIPT_OPS && b > SCRIPT_OPS);
}

static void test_random_multi_cut(void **state)
{
    (void)state;
    struct nacre_host_geometry g = small_geometry(512, 8);
    uint64_t rng = 0x9E3779B97F4A7C15ull;
    int total_cuts = 0;
    for (int run = 0; run < 25; run++) {
        struct nacre_test_device d;
        uint32_t model[N] = {0}, attempted = 0;
        nacre_test_device_new_geometry(&d, "ctr-rand", NULL, 1, &g);
        unsigned i = 0;
        while (i < SCRIPT_OPS) {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            nacre_host_board_set_power_cut(d.board, (long)(rng % 24));
            for (; i < SCRIPT_OPS; i++) {
                nacre_pluton_status s = run_op(&d, i, model, &attempted);
                if (s == NACRE_PLUTON_ERR_POWER_LOST) {
                    break;
                }
                assert_int_equal(s, NACRE_PLUTON_OK);
                model[op_id(i)] = attempted;
            }
            if (i < SCRIPT_OPS) {
                total_cuts++;
                check_after_cut(&d, i, attempted, model);
                i++;
            }
        }
        nacre_test_device_free(&d);
    }
    print_message("counters: %d random cuts in 25 multi-cut runs; invariants held\n", total_cuts);
    assert_true(total_cuts > 25);
}

static void patch_flash(const char *dir, long offset, const void *bytes, size_t len)
{
    char path[512];
    snprintf(path, sizeof path, "%s/flash.bin", dir);
    FILE *f = fopen(path, "r+b");
    assert_non_null(f);
    assert_int_equal(fseek(f, FLASH_FILE_HEADER + offset, SEEK_SET), 0);
    assert_int_equal(fwrite(bytes, 1, len, f), len);
    assert_int_equal(fclose(f), 0);
}

static void test_damaged_journal(void **state)
{
    (void)state;
    struct nacre_test_device d;
    struct nacre_host_geometry g = small_geometry(512, 8);
    uint32_t v;
    nacre_test_device_new_geometry(&d, "ctr-dmg", NULL, 1, &g);
    for (int i = 0; i < 5; i++) {
        assert_int_equal(nacre_pluton_counter_increment(d.p, 1, NULL), NACRE_PLUTON_OK);
    }
    nacre_host_board_close(d.board);
    d.board = NULL;

    /* A damaged record is ignored: the value falls back to an older valid record.
     * Record slot 5 holds the value 5; raise its low byte to 99 without a MAC. */
    static const uint8_t big = 99;
    patch_flash(d.dir, 5 * 32 + 8, &big, 1);
    assert_int_equal(nacre_test_device_reset(&d), NACRE_PLUTON_OK);
    assert_int_equal(nacre_pluton_counter_read(d.p, 1, &v), NACRE_PLUTON_OK);
    assert_int_equal(v, 4);
    nacre_host_board_close(d.board);
    d.board = NULL;

    /* A forged record in a free slot (no valid MAC) cannot raise anything. */
    static const uint8_t forged[32] = {'N', 'C', 'R', 'C', 1, 0, 0, 0, 0xE8, 0x03, 0, 0, 1, 0, 0, 0};
    patch_flash(d.dir, 6 * 32, forged, sizeof forged);
    assert_int_equal(nacre_test_device_reset(&d), NACRE_PLUTON_OK);
    assert_int_equal(nacre_pluton_counter_read(d.p, 1, &v), NACRE_PLUTON_OK);
    assert_int_equal(v, 4);
    nacre_host_board_close(d.board);
    d.board = NULL;

    /* No valid header anywhere: refuse, rather than read every counter as 0. */
    static const uint8_t zeros[4] = {0};
    patch_flash(d.dir, 0, zeros, 4);
    patch_flash(d.dir, 512, zeros, 4);
    assert_int_equal(nacre_test_device_reset(&d), NACRE_PLUTON_OK);
    assert_int_equal(nacre_pluton_counter_read(d.p, 1, &v), NACRE_PLUTON_ERR_STORAGE_CORRUPT);
    assert_int_equal(nacre_pluton_counter_increment(d.p, 1, &v), NACRE_PLUTON_ERR_STORAGE_CORRUPT);
    nacre_test_device_free(&d);
}

static void test_journal_bound_to_device(void **state)
{
    (void)state;
    /* Records are MACed with a key derived from this device's UDS: copying
     * one device's counter area onto another yields no valid header there. */
    struct nacre_test_device a, b;
    struct nacre_host_geometry g = small_geometry(512, 8);
    uint32_t v;
    nacre_test_device_new_geometry(&a, "ctr-bind-a", NULL, 1, &g);
    nacre_test_device_new_geometry(&b, "ctr-bind-b", NULL, 1, &g);
    assert_int_equal(nacre_pluton_counter_advance(a.p, 0, 50), NACRE_PLUTON_OK);
    nacre_host_board_close(a.board);
    a.board = NULL;
    nacre_host_board_close(b.board);
    b.board = NULL;

    char src[512], dst[512];
    snprintf(src, sizeof src, "%s/flash.bin", a.dir);
    snprintf(dst, sizeof dst, "%s/flash.bin", b.dir);
    FILE *in = fopen(src, "rb");
    FILE *out = fopen(dst, "r+b");
    assert_non_null(in);
    assert_non_null(out);
    uint8_t buf[1024];
    assert_int_equal(fseek(in, FLASH_FILE_HEADER, SEEK_SET), 0);
    assert_int_equal(fseek(out, FLASH_FILE_HEADER, SEEK_SET), 0);
    assert_int_equal(fread(buf, 1, sizeof buf, in), sizeof buf);
    assert_int_equal(fwrite(buf, 1, sizeof buf, out), sizeof buf);
    fclose(in);
    assert_int_equal(fclose(out), 0);

    assert_int_equal(nacre_test_device_reset(&b), NACRE_PLUTON_OK);
    assert_int_equal(nacre_pluton_counter_read(b.p, 0, &v), NACRE_PLUTON_ERR_STORAGE_CORRUPT);
    nacre_test_device_free(&a);
    nacre_test_device_free(&b);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_semantics),
    cmocka_unit_test(test_many_increments_across_compactions),
    cmocka_unit_test(test_power_cut_at_every_write),
    cmocka_unit_test(test_random_multi_cut),
    cmocka_unit_test(test_damaged_journal),
    cmocka_unit_test(test_journal_bound_to_device),
};

int main(void)
{
    return cmocka_run_group_tests(tests, NULL, NULL);
}
