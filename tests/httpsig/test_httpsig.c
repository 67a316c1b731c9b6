/*
 * test_httpsig.c - libnacre-httpsig against RFC 9421 B.2.6 (Ed25519),
 * RFC 9530's Content-Digest example and RFC 9110's date example, then the
 * strictness of the profile parser.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include <nacre/httpsig.h>

/* RFC 9421 Appendix B.1.4 test-key-ed25519: the 32-byte seed of its PKCS#8. */
static const char rfc_seed_b64[] = "n4Ni-HpISpVObnQMW0wOhCKROaIKqKtW_2ZYb2p9KcU";

static const char rfc_base[] =
    "\"date\": Tue, 20 Apr 2021 02:07:55 GMT\n"
    "\"@method\": POST\n"
    "\"@path\": /foo\n"
    "\"@authority\": example.com\n"
    "\"content-type\": application/json\n"
    "\"content-length\": 18\n"
    "\"@signature-params\": (\"date\" \"@method\" \"@path\" \"@authority\" \"content-type\" "
    "\"content-length\");created=1618884473;keyid=\"test-key-ed25519\"";

static const char rfc_sig_b64[] =
    "wqcAqbmYJ2ji2glfAMaRy4gruYYnx2nEFN2HN6jrnDnQCK1u02Gb04v9EDgwUPiu4A0w6vuQv5lIp5WPpBKRCw==";

static void test_rfc9421_b26(void **state)
{
    (void)state;
    const struct nacre_httpsig_component c[] = {
        {"date", "Tue, 20 Apr 2021 02:07:55 GMT"}, {"@method", "POST"},
        {"@path", "/foo"}, {"@authority", "example.com"},
        {"content-type", "application/json"}, {"content-length", "18"},
    };
    char base[NACRE_HTTPSIG_BASE_MAX];
    size_t len = 0;
    assert_int_equal(nacre_httpsig_base_generic(
                         c, 6,
                         "(\"date\" \"@method\" \"@path\" \"@authority\" \"content-type\" "
                         "\"content-length\");created=1618884473;keyid=\"test-key-ed25519\"",
                         base, sizeof base, &len),
                     0);
    assert_string_equal(base, rfc_base);
    assert_int_equal(len, strlen(rfc_base));

    uint8_t seed[32], pk[32], sk[64], sig[64], want[64];
    size_t n = 0;
    assert_int_equal(sodium_base642bin(seed, sizeof seed, rfc_seed_b64, strlen(rfc_seed_b64), NULL,
                                       &n, NULL, sodium_base64_VARIANT_URLSAFE_NO_PADDING),
                     0);
    assert_int_equal(n, 32);
    crypto_sign_seed_keypair(pk, sk, seed);
    crypto_sign_detached(sig, NULL, (const uint8_t *)base, len, sk);
    assert_int_equal(sodium_base642bin(want, sizeof want, rfc_sig_b64, strlen(rfc_sig_b64), NULL,
                                       &n, NULL, sodium_base64_VARIANT_ORIGINAL),
                     0);
    assert_memory_equal(sig, want, 64);
    /* A too-small buffer is refused, never truncated. */
    assert_int_equal(nacre_httpsig_base_generic(c, 6, "()", base, 40, &len), -1);
    /* A line break in a value would forge a component line. */
    const struct nacre_httpsig_component bad[] = {{"date", "x\n\"@path\": /admin"}};
    assert_int_equal(nacre_httpsig_base_generic(bad, 1, "()", base, sizeof base, &len), -1);
}

static void test_content_digest_rfc9530(void **state)
{
    (void)state;
    char d[NACRE_HTTPSIG_FIELD_MAX];
    const char body[] = "{\"hello\": \"world\"}";
    assert_int_equal(nacre_httpsig_content_digest(body, strlen(body), d, sizeof d), 0);
    assert_string_equal(d, "sha-256=:X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE=:");
    assert_int_equal(nacre_httpsig_content_digest(NULL, 0, d, sizeof d), 0);
    assert_string_equal(d, "sha-256=:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=:");
}

static void test_dates(void **state)
{
    (void)state;
    char s[NACRE_HTTPSIG_DATE_CHARS + 1];
    uint64_t t = 0;
    /* RFC 9110 §5.6.7's example. */
    assert_int_equal(nacre_httpsig_date_format(784111777u, s), 0);
    assert_string_equal(s, "Sun, 06 Nov 1994 08:49:37 GMT");
    assert_int_equal(nacre_httpsig_date_parse("Sun, 06 Nov 1994 08:49:37 GMT", &t), 0);
    assert_int_equal(t, 784111777u);
    assert_int_equal(nacre_httpsig_date_parse("Tue, 20 Apr 2021 02:07:55 GMT", &t), 0);
    assert_int_equal(t, 1618884475u);
    assert_int_equal(nacre_httpsig_date_parse("Thu, 29 Feb 2024 00:00:00 GMT", &t), 0);
    const char *bad[] = {
        "Mon, 06 Nov 1994 08:49:37 GMT",  /* wrong weekday */
        "Sun, 31 Feb 1994 08:49:37 GMT",  /* no such day */
        "Sunday, 06-Nov-94 08:49:37 GMT", /* obsolete RFC 850 form */
        "Sun Nov  6 08:49:37 1994",       /* asctime */
        "Sun, 06 Nov 1994 24:00:00 GMT",
        "Sun, 06 Nov 1994 08:49:37 UTC",
        "",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(nacre_httpsig_date_parse(bad[i], &t), -1);
    }
    /* Every day over 130 years round-trips. */
    for (uint64_t x = 0; x < 130ull * 366 * 86400; x += 86400 + 3677) {
        assert_int_equal(nacre_httpsig_date_format(x, s), 0);
        assert_int_equal(nacre_httpsig_date_parse(s, &t), 0);
        assert_int_equal(t, x);
    }
}

static const char keyid[] = "3f2a000000000000000000000000000000000000000000000000000000000001";

static void test_profile_sign_verify(void **state)
{
    (void)state;
    uint8_t pk[32], sk[64], sig[64], parsed_sig[64];
    crypto_sign_keypair(pk, sk);
    struct nacre_httpsig_params p = {.created = 1795255200u}, q;
    memcpy(p.keyid, keyid, sizeof keyid);
    nacre_httpsig_nonce(p.nonce);
    assert_int_equal(strlen(p.nonce), 32);

    char input[NACRE_HTTPSIG_FIELD_MAX], digest[NACRE_HTTPSIG_FIELD_MAX], sigf[NACRE_HTTPSIG_FIELD_MAX];
    char date[NACRE_HTTPSIG_DATE_CHARS + 1], base[NACRE_HTTPSIG_BASE_MAX];
    size_t len = 0;
    assert_int_equal(nacre_httpsig_input_format(&p, input, sizeof input), 0);
    assert_int_equal(nacre_httpsig_input_parse(input, &q), 0);
    assert_int_equal(q.created, p.created);
    assert_string_equal(q.keyid, p.keyid);
    assert_string_equal(q.nonce, p.nonce);
    assert_int_equal(nacre_httpsig_date_format(p.created, date), 0);
    assert_int_equal(nacre_httpsig_content_digest("{}", 2, digest, sizeof digest), 0);
    assert_int_equal(nacre_httpsig_base("POST", "/v1/device/events", date, digest, &p, base, sizeof base, &len), 0);
    crypto_sign_detached(sig, NULL, (const uint8_t *)base, len, sk);
    assert_int_equal(nacre_httpsig_signature_format(sig, sigf, sizeof sigf), 0);
    assert_int_equal(nacre_httpsig_signature_parse(sigf, parsed_sig), 0);
    assert_int_equal(nacre_httpsig_verify("POST", "/v1/device/events", date, digest, &q, parsed_sig, pk), 0);
    /* Each covered component matters. */
    assert_int_equal(nacre_httpsig_verify("GET", "/v1/device/events", date, digest, &q, parsed_sig, pk), -1);
    assert_int_equal(nacre_httpsig_verify("POST", "/v1/device/update", date, digest, &q, parsed_sig, pk), -1);
    assert_int_equal(nacre_httpsig_verify("POST", "/v1/device/events", "Sun, 06 Nov 1994 08:49:37 GMT", digest, &q, parsed_sig, pk), -1);
    char other_digest[NACRE_HTTPSIG_FIELD_MAX];
    assert_int_equal(nacre_httpsig_content_digest("[]", 2, other_digest, sizeof other_digest), 0);
    assert_int_equal(nacre_httpsig_verify("POST", "/v1/device/events", date, other_digest, &q, parsed_sig, pk), -1);
    q.created++;
    assert_int_equal(nacre_httpsig_verify("POST", "/v1/device/events", date, digest, &q, parsed_sig, pk), -1);
    q.created--;
    q.nonce[0] = q.nonce[0] == 'a' ? 'b' : 'a';
    assert_int_equal(nacre_httpsig_verify("POST", "/v1/device/events", date, digest, &q, parsed_sig, pk), -1);
}

static void test_profile_parser_is_strict(void **state)
{
    (void)state;
    struct nacre_httpsig_params q;
    const char *good = "nacre=(\"@method\" \"@path\" \"date\" \"content-digest\");created=1795255200;"
                       "keyid=\"3f2a000000000000000000000000000000000000000000000000000000000001\";"
                       "alg=\"ed25519\";nonce=\"00112233445566778899aabbccddeeff\"";
    assert_int_equal(nacre_httpsig_input_parse(good, &q), 0);
    const char *bad[] = {
        /* another label */
        "sig1=(\"@method\" \"@path\" \"date\" \"content-digest\");created=1;keyid=\"3f2a000000000000000000000000000000000000000000000000000000000001\";alg=\"ed25519\";nonce=\"00112233445566778899aabbccddeeff\"",
        /* a component dropped */
        "nacre=(\"@method\" \"@path\" \"date\");created=1;keyid=\"3f2a000000000000000000000000000000000000000000000000000000000001\";alg=\"ed25519\";nonce=\"00112233445566778899aabbccddeeff\"",
        /* another algorithm */
        "nacre=(\"@method\" \"@path\" \"date\" \"content-digest\");created=1;keyid=\"3f2a000000000000000000000000000000000000000000000000000000000001\";alg=\"hmac-sha256\";nonce=\"00112233445566778899aabbccddeeff\"",
        /* uppercase hex keyid */
        "nacre=(\"@method\" \"@path\" \"date\" \"content-digest\");created=1;keyid=\"3F2A000000000000000000000000000000000000000000000000000000000001\";alg=\"ed25519\";nonce=\"00112233445566778899aabbccddeeff\"",
        /* short nonce */
        "nacre=(\"@method\" \"@path\" \"date\" \"content-digest\");created=1;keyid=\"3f2a000000000000000000000000000000000000000000000000000000000001\";alg=\"ed25519\";nonce=\"0011\"",
        /* trailing parameter */
        "nacre=(\"@method\" \"@path\" \"date\" \"content-digest\");created=1;keyid=\"3f2a000000000000000000000000000000000000000000000000000000000001\";alg=\"ed25519\";nonce=\"00112233445566778899aabbccddeeff\";expires=2",
        /* leading zero, negative, huge created */
        "nacre=(\"@method\" \"@path\" \"date\" \"content-digest\");created=01;keyid=\"3f2a000000000000000000000000000000000000000000000000000000000001\";alg=\"ed25519\";nonce=\"00112233445566778899aabbccddeeff\"",
        "nacre=(\"@method\" \"@path\" \"date\" \"content-digest\");created=-1;keyid=\"3f2a000000000000000000000000000000000000000000000000000000000001\";alg=\"ed25519\";nonce=\"00112233445566778899aabbccddeeff\"",
        "nacre=(\"@method\" \"@path\" \"date\" \"content-digest\");created=9999999999999999;keyid=\"3f2a000000000000000000000000000000000000000000000000000000000001\";alg=\"ed25519\";nonce=\"00112233445566778899aabbccddeeff\"",
        "",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(nacre_httpsig_input_parse(bad[i], &q), -1);
    }
    uint8_t sig[64], der[16];
    size_t n = 0;
    assert_int_equal(nacre_httpsig_signature_parse("nacre=:AAAA:", sig), -1);            /* short */
    assert_int_equal(nacre_httpsig_signature_parse("sig1=:AAAA:", sig), -1);
    assert_int_equal(nacre_httpsig_client_cert_parse(":AQID:", der, sizeof der, &n), 0);
    assert_int_equal(n, 3);
    assert_int_equal(nacre_httpsig_client_cert_parse(":AQID", der, sizeof der, &n), -1);
    assert_int_equal(nacre_httpsig_client_cert_parse(":AQ!D:", der, sizeof der, &n), -1);
    assert_int_equal(nacre_httpsig_client_cert_parse("::", der, sizeof der, &n), -1);
}

int main(void)
{
    if (sodium_init() < 0) {
        return 1;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rfc9421_b26),
        cmocka_unit_test(test_content_digest_rfc9530),
        cmocka_unit_test(test_dates),
        cmocka_unit_test(test_profile_sign_verify),
        cmocka_unit_test(test_profile_parser_is_strict),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
