/*
 * test_package.c - the app package format: build/parse round trip, and
 * refusal of every malformation of every field (magic, both lengths, the
 * manifest's text, the executable's ELF magic, truncation, trailing bytes,
 * lengths that would wrap).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <nacre/sandbox.h>

static const char manifest[] = "{\"SchemaVersion\": 1, \"Name\": \"caf\xc3\xa9 \xf0\x9f\x98\x80\"}";
static const uint8_t exe[] = {0x7f, 'E', 'L', 'F', 2, 1, 1, 0, 0xde, 0xad, 0xbe, 0xef};

static void put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

/* A package assembled by hand (not by the builder under test). */
static uint8_t *assemble(const void *m, size_t m_len, const void *e, size_t e_len, size_t *len)
{
    *len = 12 + m_len + e_len;
    uint8_t *p = malloc(*len);
    assert_non_null(p);
    memcpy(p, "NAPP", 4);
    put32(p + 4, (uint32_t)m_len);
    memcpy(p + 8, m, m_len);
    put32(p + 8 + m_len, (uint32_t)e_len);
    memcpy(p + 12 + m_len, e, e_len);
    return p;
}

static nacre_sandbox_status parse(const uint8_t *p, size_t len)
{
    const char *m = (const char *)"x";
    const uint8_t *e = (const uint8_t *)"x";
    size_t m_len = 99;
    size_t e_len = 99;
    nacre_sandbox_status st = nacre_app_package_parse(p, len, &m, &m_len, &e, &e_len);
    if (st != NACRE_SANDBOX_OK) {
        /* A refusal hands out nothing. */
        assert_null(m);
        assert_null(e);
        assert_int_equal(m_len, 0);
        assert_int_equal(e_len, 0);
    }
    return st;
}

static void test_round_trip(void **state)
{
    (void)state;
    uint8_t *pkg;
    size_t len;
    assert_int_equal(nacre_app_package_build(&pkg, &len, manifest, strlen(manifest), exe, sizeof exe),
                     NACRE_SANDBOX_OK);
    assert_int_equal(len, 12 + strlen(manifest) + sizeof exe);
    size_t hand_len;
    uint8_t *hand = assemble(manifest, strlen(manifest), exe, sizeof exe, &hand_len);
    assert_int_equal(hand_len, len);
    assert_memory_equal(hand, pkg, len);
    free(hand);

    const char *m;
    const uint8_t *e;
    size_t m_len, e_len;
    assert_int_equal(nacre_app_package_parse(pkg, len, &m, &m_len, &e, &e_len), NACRE_SANDBOX_OK);
    /* No copies: pointers into the payload. */
    assert_ptr_equal(m, (const char *)pkg + 8);
    assert_ptr_equal(e, pkg + 12 + strlen(manifest));
    assert_int_equal(m_len, strlen(manifest));
    assert_memory_equal(m, manifest, m_len);
    assert_int_equal(e_len, sizeof exe);
    assert_memory_equal(e, exe, e_len);

    /* Every truncation is refused, and so is every extra byte. */
    for (size_t cut = 0; cut < len; cut++) {
        assert_int_equal(parse(pkg, cut), NACRE_SANDBOX_ERR_PACKAGE);
    }
    uint8_t *longer = malloc(len + 1);
    assert_non_null(longer);
    memcpy(longer, pkg, len);
    longer[len] = 0;
    assert_int_equal(parse(longer, len + 1), NACRE_SANDBOX_ERR_PACKAGE);
    free(longer);
    free(pkg);
}

static void test_bad_magic(void **state)
{
    (void)state;
    size_t len;
    uint8_t *p = assemble(manifest, strlen(manifest), exe, sizeof exe, &len);
    assert_int_equal(parse(p, len), NACRE_SANDBOX_OK);
    for (size_t i = 0; i < 4; i++) {
        for (unsigned bit = 0; bit < 8; bit++) {
            p[i] ^= (uint8_t)(1u << bit);
            assert_int_equal(parse(p, len), NACRE_SANDBOX_ERR_PACKAGE);
            p[i] ^= (uint8_t)(1u << bit);
        }
    }
    memcpy(p, "napp", 4);
    assert_int_equal(parse(p, len), NACRE_SANDBOX_ERR_PACKAGE);
    free(p);
}

static void test_bad_lengths(void **state)
{
    (void)state;
    size_t len;
    size_t m_len = strlen(manifest);
    uint8_t *p = assemble(manifest, m_len, exe, sizeof exe, &len);
    static const uint32_t deltas[] = {1, 2, 4, 0x100, 0x10000, 0x1000000, 0x80000000u};
    /* Manifest length: any other value misplaces the executable length. */
    for (size_t i = 0; i < sizeof deltas / sizeof deltas[0]; i++) {
        put32(p + 4, (uint32_t)m_len + deltas[i]);
        assert_int_equal(parse(p, len), NACRE_SANDBOX_ERR_PACKAGE);
        if (deltas[i] <= m_len) {
            put32(p + 4, (uint32_t)(m_len - deltas[i]));
            assert_int_equal(parse(p, len), NACRE_SANDBOX_ERR_PACKAGE);
        }
    }
    put32(p + 4, 0xffffffffu);
    assert_int_equal(parse(p, len), NACRE_SANDBOX_ERR_PACKAGE);
    put32(p + 4, (uint32_t)(len - 8)); /* all of the rest: no room for the exe length */
    assert_int_equal(parse(p, len), NACRE_SANDBOX_ERR_PACKAGE);
    put32(p + 4, (uint32_t)(len - 12)); /* room for an empty exe that is then missing */
    assert_int_equal(parse(p, len), NACRE_SANDBOX_ERR_PACKAGE);
    put32(p + 4, (uint32_t)m_len);
    assert_int_equal(parse(p, len), NACRE_SANDBOX_OK);

    /* Executable length: exact or nothing. */
    uint8_t *e_field = p + 8 + m_len;
    for (size_t i = 0; i < sizeof deltas / sizeof deltas[0]; i++) {
        put32(e_field, (uint32_t)sizeof exe + deltas[i]);
        assert_int_equal(parse(p, len), NACRE_SANDBOX_ERR_PACKAGE);
        if (deltas[i] <= sizeof exe) {
            put32(e_field, (uint32_t)sizeof exe - deltas[i]);
            assert_int_equal(parse(p, len), NACRE_SANDBOX_ERR_PACKAGE);
        }
    }
    put32(e_field, 0xffffffffu);
    assert_int_equal(parse(p, len), NACRE_SANDBOX_ERR_PACKAGE);
    put32(e_field, 0);
    assert_int_equal(parse(p, len), NACRE_SANDBOX_ERR_PACKAGE);
    free(p);

    /* Lengths that would wrap a 32-bit sum. */
    uint8_t wrap[16] = {'N', 'A', 'P', 'P'};
    put32(wrap + 4, 0xfffffff8u);
    put32(wrap + 8, 0);
    assert_int_equal(parse(wrap, sizeof wrap), NACRE_SANDBOX_ERR_PACKAGE);
    put32(wrap + 4, 0);
    put32(wrap + 8, 0xfffffffcu);
    assert_int_equal(parse(wrap, sizeof wrap), NACRE_SANDBOX_ERR_PACKAGE);
    /* Too short for the framing at all. */
    for (size_t n = 0; n < 12; n++) {
        assert_int_equal(parse(wrap, n), NACRE_SANDBOX_ERR_PACKAGE);
    }
}

static void test_bad_manifest_text(void **state)
{
    (void)state;
    static const struct {
        const char *bytes;
        size_t len;
        const char *why;
    } bad[] = {
        {"", 0, "empty"},
        {"{\"a\":\0}", 7, "NUL"},
        {"\0", 1, "only NUL"},
        {"{\xc0\x80}", 4, "overlong NUL"},
        {"{\xc1\xbf}", 4, "overlong two-byte"},
        {"{\xe0\x80\xaf}", 5, "overlong three-byte"},
        {"{\xf0\x80\x80\xaf}", 6, "overlong four-byte"},
        {"{\xed\xa0\x80}", 5, "surrogate"},
        {"{\xf4\x90\x80\x80}", 6, "above U+10FFFF"},
        {"{\xf5\x80\x80\x80}", 6, "0xf5 lead"},
        {"{\xff}", 3, "0xff"},
        {"{\x80}", 3, "lone continuation"},
        {"{\xc3}", 3, "missing continuation"},
        {"{\xe2\x82}", 4, "short three-byte"},
        {"{\xe2\x82\x28}", 5, "bad continuation"},
        {"{\xf0\x9f\x98", 4, "cut at the end"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        size_t len;
        uint8_t *p = assemble(bad[i].bytes, bad[i].len, exe, sizeof exe, &len);
        if (parse(p, len) != NACRE_SANDBOX_ERR_PACKAGE) {
            print_error("manifest text accepted: %s\n", bad[i].why);
            fail();
        }
        uint8_t *out = NULL;
        size_t out_len = 0;
        assert_int_equal(nacre_app_package_build(&out, &out_len, bad[i].bytes, bad[i].len, exe, sizeof exe),
                         NACRE_SANDBOX_ERR_PACKAGE);
        assert_null(out);
        free(p);
    }
    /* Good UTF-8 at the edges: U+007F, U+0080, U+07FF, U+0800, U+FFFF, U+10000, U+10FFFF. */
    static const char edges[] = "\x7f\xc2\x80\xdf\xbf\xe0\xa0\x80\xef\xbf\xbf\xf0\x90\x80\x80\xf4\x8f\xbf\xbf";
    size_t len;
    uint8_t *p = assemble(edges, sizeof edges - 1, exe, sizeof exe, &len);
    assert_int_equal(parse(p, len), NACRE_SANDBOX_OK);
    free(p);

    /* The manifest length limit. */
    char *big = malloc(NACRE_MANIFEST_BYTES_MAX + 1);
    assert_non_null(big);
    memset(big, ' ', NACRE_MANIFEST_BYTES_MAX + 1);
    p = assemble(big, NACRE_MANIFEST_BYTES_MAX, exe, sizeof exe, &len);
    assert_int_equal(parse(p, len), NACRE_SANDBOX_OK);
    free(p);
    p = assemble(big, NACRE_MANIFEST_BYTES_MAX + 1, exe, sizeof exe, &len);
    assert_int_equal(parse(p, len), NACRE_SANDBOX_ERR_PACKAGE);
    free(p);
    uint8_t *out;
    size_t out_len;
    assert_int_equal(nacre_app_package_build(&out, &out_len, big, NACRE_MANIFEST_BYTES_MAX + 1, exe, sizeof exe),
                     NACRE_SANDBOX_ERR_PACKAGE);
    free(big);
}

static void test_bad_executable(void **state)
{
    (void)state;
    static const uint8_t not_elf[][5] = {
        {0x7e, 'E', 'L', 'F', 0}, {0x7f, 'e', 'L', 'F', 0}, {0x7f, 'E', 'L', 'G', 0}, {'#', '!', '/', 'b', 0},
    };
    for (size_t i = 0; i < sizeof not_elf / sizeof not_elf[0]; i++) {
        size_t len;
        uint8_t *p = assemble(manifest, strlen(manifest), not_elf[i], sizeof not_elf[i], &len);
        assert_int_equal(parse(p, len), NACRE_SANDBOX_ERR_PACKAGE);
        free(p);
    }
    /* Shorter than the magic, including empty. */
    for (size_t n = 0; n < 4; n++) {
        size_t len;
        uint8_t *p = assemble(manifest, strlen(manifest), exe, n, &len);
        assert_int_equal(parse(p, len), NACRE_SANDBOX_ERR_PACKAGE);
        free(p);
        uint8_t *out;
        size_t out_len;
        assert_int_equal(nacre_app_package_build(&out, &out_len, manifest, strlen(manifest), exe, n),
                         NACRE_SANDBOX_ERR_PACKAGE);
    }
    /* The magic alone is enough for the framing (the kernel judges the rest). */
    size_t len;
    uint8_t *p = assemble(manifest, strlen(manifest), exe, 4, &len);
    assert_int_equal(parse(p, len), NACRE_SANDBOX_OK);
    free(p);
}

static void test_arguments(void **state)
{
    (void)state;
    const char *m;
    const uint8_t *e;
    size_t m_len, e_len;
    uint8_t buf[16] = {0};
    assert_int_equal(nacre_app_package_parse(buf, sizeof buf, NULL, &m_len, &e, &e_len), NACRE_SANDBOX_ERR_ARGUMENT);
    assert_int_equal(nacre_app_package_parse(buf, sizeof buf, &m, NULL, &e, &e_len), NACRE_SANDBOX_ERR_ARGUMENT);
    assert_int_equal(nacre_app_package_parse(buf, sizeof buf, &m, &m_len, NULL, &e_len), NACRE_SANDBOX_ERR_ARGUMENT);
    assert_int_equal(nacre_app_package_parse(buf, sizeof buf, &m, &m_len, &e, NULL), NACRE_SANDBOX_ERR_ARGUMENT);
    assert_int_equal(nacre_app_package_parse(NULL, 12, &m, &m_len, &e, &e_len), NACRE_SANDBOX_ERR_ARGUMENT);
    assert_int_equal(nacre_app_package_parse(NULL, 0, &m, &m_len, &e, &e_len), NACRE_SANDBOX_ERR_PACKAGE);
    uint8_t *out;
    size_t out_len;
    assert_int_equal(nacre_app_package_build(NULL, &out_len, manifest, 1, exe, sizeof exe), NACRE_SANDBOX_ERR_ARGUMENT);
    assert_int_equal(nacre_app_package_build(&out, NULL, manifest, 1, exe, sizeof exe), NACRE_SANDBOX_ERR_ARGUMENT);
    assert_int_equal(nacre_app_package_build(&out, &out_len, NULL, 1, exe, sizeof exe), NACRE_SANDBOX_ERR_ARGUMENT);
    assert_null(out);
    assert_int_equal(nacre_app_package_build(&out, &out_len, manifest, 1, NULL, 4), NACRE_SANDBOX_ERR_ARGUMENT);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_bad_magic),
        cmocka_unit_test(test_bad_lengths),
        cmocka_unit_test(test_bad_manifest_text),
        cmocka_unit_test(test_bad_executable),
        cmocka_unit_test(test_arguments),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
