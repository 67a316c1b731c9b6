/*
 * test_ca.c - libnacre-ca: a tenant CA, device certificates, checks.
 *
 * Every certificate the CA issues is also verified here by OpenSSL on its
 * own (a fresh X509_STORE, strict mode, both TLS purposes), so the profile is
 * what the rest of the world accepts, not only what nacre_ca_check likes.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <cmocka.h>

#include <openssl/bio.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>

#include <sodium.h>

#include <nacre/ca.h>

#include "test_support.h"

#define DAY 86400u

struct fixture {
    char *root;     /* temp dir */
    char ca1[512];  /* tenant "acme" */
    char ca2[512];  /* tenant "globex" */
    char ca3[512];  /* another CA that also calls itself "acme" */
    uint64_t now;
    uint64_t ca_time; /* when the three CAs were made */
    uint8_t alias_pk[32];
    uint8_t device_id_pk[32];
    char device_id[NACRE_CA_DEVICE_ID_CHARS + 1];
    char pem[NACRE_CA_PEM_MAX];
    size_t pem_len;
    uint8_t ca1_cert[NACRE_CA_CERT_MAX + 1];
    size_t ca1_cert_len;
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof *f);
    assert_non_null(f);
    assert_true(sodium_init() >= 0);
    f->root = nacre_test_tmpdir("ca");
    snprintf(f->ca1, sizeof f->ca1, "%s/ca1", f->root);
    snprintf(f->ca2, sizeof f->ca2, "%s/ca2", f->root);
    snprintf(f->ca3, sizeof f->ca3, "%s/ca3", f->root);
    f->now = (uint64_t)time(NULL);
    f->ca_time = f->now - 10 * DAY;
    assert_int_equal(nacre_ca_init(f->ca1, "acme", f->ca_time), NACRE_CA_OK);
    assert_int_equal(nacre_ca_init(f->ca2, "globex", f->ca_time), NACRE_CA_OK);
    assert_int_equal(nacre_ca_init(f->ca3, "acme", f->ca_time), NACRE_CA_OK);

    uint8_t sk[crypto_sign_SECRETKEYBYTES];
    crypto_sign_keypair(f->alias_pk, sk);
    crypto_sign_keypair(f->device_id_pk, sk);
    sodium_memzero(sk, sizeof sk);
    assert_int_equal(nacre_ca_device_id(f->device_id_pk, f->device_id), NACRE_CA_OK);
    assert_int_equal(nacre_ca_issue(f->ca1, f->alias_pk, f->device_id, f->now, f->pem,
                                    sizeof f->pem, &f->pem_len),
                     NACRE_CA_OK);
    char path[1400];
    snprintf(path, sizeof path, "%s/ca-cert.pem", f->ca1);
    assert_int_equal(nacre_ca_read_file(path, f->ca1_cert, sizeof f->ca1_cert, &f->ca1_cert_len),
                     NACRE_CA_OK);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    nacre_test_rmtree(f->root);
    free(f->root);
    free(f);
    return 0;
}

static X509 *pem_to_x509(const char *pem, size_t len)
{
    BIO *bio = BIO_new_mem_buf(pem, (int)len);
    assert_non_null(bio);
    X509 *x = PEM_read_bio_X509(bio, NULL, NULL, NULL);
    BIO_free(bio);
    return x;
}

static X509 *load_ca(const char *dir)
{
    char path[1400];
    uint8_t buf[NACRE_CA_CERT_MAX + 1];
    size_t len = 0;
    snprintf(path, sizeof path, "%s/ca-cert.pem", dir);
    assert_int_equal(nacre_ca_read_file(path, buf, sizeof buf, &len), NACRE_CA_OK);
    X509 *x = pem_to_x509((const char *)buf, len);
    assert_non_null(x);
    return x;
}

/* OpenSSL on its own: X509_verify_cert, strict, at `at`, for purpose. */
static int openssl_verify(X509 *ca, X509 *cert, uint64_t at, int purpose)
{
    X509_STORE *store = X509_STORE_new();
    X509_STORE_CTX *ctx = X509_STORE_CTX_new();
    assert_non_null(store);
    assert_non_null(ctx);
    assert_int_equal(X509_STORE_add_cert(store, ca), 1);
    assert_int_equal(X509_STORE_CTX_init(ctx, store, cert, NULL), 1);
    X509_VERIFY_PARAM *param = X509_STORE_CTX_get0_param(ctx);
    X509_VERIFY_PARAM_set_time(param, (time_t)at);
    X509_VERIFY_PARAM_set_flags(param, X509_V_FLAG_X509_STRICT);
    X509_VERIFY_PARAM_set_purpose(param, purpose);
    int ok = X509_verify_cert(ctx);
    int err = X509_STORE_CTX_get_error(ctx);
    X509_STORE_CTX_free(ctx);
    X509_STORE_free(store);
    return ok == 1 ? X509_V_OK : (err != X509_V_OK ? err : -1);
}

/* ---- the CA ------------------------------------------------------------------------ */

static void test_init_files(void **state)
{
    struct fixture *f = *state;
    char path[1400];
    struct stat sb;
    snprintf(path, sizeof path, "%s/ca-key.pem", f->ca1);
    assert_int_equal(stat(path, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0600);
    snprintf(path, sizeof path, "%s/ca-cert.pem", f->ca1);
    assert_int_equal(stat(path, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0644);

    struct nacre_ca_cert_info info;
    assert_int_equal(nacre_ca_cert_info(f->ca1_cert, f->ca1_cert_len, &info), NACRE_CA_OK);
    assert_string_equal(info.subject_cn, "acme Nacre tenant CA");
    assert_string_equal(info.subject_o, "acme");
    assert_string_equal(info.issuer_cn, "acme Nacre tenant CA");
    assert_true(info.is_ca);
    assert_true(info.ed25519);
    assert_int_equal(strlen(info.serial), 32); /* 16 octets, top bits 01 */
    assert_true(info.not_before == f->ca_time - 60);
    assert_true(info.not_after == f->ca_time + NACRE_CA_ROOT_CERT_SECONDS);

    /* Self-signed, a CA, verifiable as its own anchor. */
    X509 *ca = load_ca(f->ca1);
    assert_int_equal(X509_check_ca(ca), 1);
    assert_int_equal(X509_get_key_usage(ca) & (KU_KEY_CERT_SIGN | KU_CRL_SIGN),
                     KU_KEY_CERT_SIGN | KU_CRL_SIGN);
    assert_non_null(X509_get0_subject_key_id(ca));
    assert_int_equal(openssl_verify(ca, ca, f->now, X509_PURPOSE_ANY), X509_V_OK);
    X509_free(ca);
}

static void test_init_refuses_overwrite(void **state)
{
    struct fixture *f = *state;
    uint8_t before[NACRE_CA_CERT_MAX + 1];
    size_t len = 0;
    char path[1400];
    snprintf(path, sizeof path, "%s/ca-cert.pem", f->ca1);
    assert_int_equal(nacre_ca_read_file(path, before, sizeof before, &len), NACRE_CA_OK);
    assert_int_equal(nacre_ca_init(f->ca1, "acme", f->now), NACRE_CA_ERR_EXISTS);
    assert_int_equal(nacre_ca_init(f->ca1, "other", f->now), NACRE_CA_ERR_EXISTS);
    uint8_t after[NACRE_CA_CERT_MAX + 1];
    size_t len2 = 0;
    assert_int_equal(nacre_ca_read_file(path, after, sizeof after, &len2), NACRE_CA_OK);
    assert_int_equal(len, len2);
    assert_memory_equal(before, after, len);

    /* A lone key file blocks it too. */
    char dir[600];
    snprintf(dir, sizeof dir, "%s/half", f->root);
    assert_int_equal(mkdir(dir, 0700), 0);
    snprintf(path, sizeof path, "%s/ca-key.pem", dir);
    FILE *fp = fopen(path, "w");
    assert_non_null(fp);
    fclose(fp);
    assert_int_equal(nacre_ca_init(dir, "acme", f->now), NACRE_CA_ERR_EXISTS);
}

static void test_init_bad_arguments(void **state)
{
    struct fixture *f = *state;
    char dir[600];
    snprintf(dir, sizeof dir, "%s/bad", f->root);
    assert_int_equal(nacre_ca_init(dir, "", f->now), NACRE_CA_ERR_ARGUMENT);
    assert_int_equal(nacre_ca_init(dir, " acme", f->now), NACRE_CA_ERR_ARGUMENT);
    assert_int_equal(nacre_ca_init(dir, "acme/../x", f->now), NACRE_CA_ERR_ARGUMENT);
    assert_int_equal(nacre_ca_init(dir, "a-name-that-is-far-too-long-for-a-tenant-x", f->now),
                     NACRE_CA_ERR_ARGUMENT);
    assert_int_equal(nacre_ca_init(NULL, "acme", f->now), NACRE_CA_ERR_ARGUMENT);
    assert_int_equal(nacre_ca_init(dir, NULL, f->now), NACRE_CA_ERR_ARGUMENT);
    struct stat sb;
    assert_int_not_equal(stat(dir, &sb), 0); /* nothing created */
}

/* ---- issuing ------------------------------------------------------------------------- */

static void test_issue_profile(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(strlen(f->pem), f->pem_len);
    assert_non_null(strstr(f->pem, "-----BEGIN CERTIFICATE-----"));

    struct nacre_ca_cert_info info;
    assert_int_equal(nacre_ca_cert_info((const uint8_t *)f->pem, f->pem_len, &info),
                     NACRE_CA_OK);
    assert_string_equal(info.subject_cn, f->device_id);
    assert_string_equal(info.subject_o, "acme");
    assert_string_equal(info.issuer_cn, "acme Nacre tenant CA");
    assert_false(info.is_ca);
    assert_true(info.ed25519);
    assert_memory_equal(info.public_key, f->alias_pk, 32);
    assert_true(info.not_after == f->now + DAY);
    assert_true(info.not_before == f->now - NACRE_CA_CLOCK_SKEW_SECONDS);
    assert_int_equal(strlen(info.serial), 32);

    X509 *x = pem_to_x509(f->pem, f->pem_len);
    assert_non_null(x);
    assert_int_equal(X509_get_version(x), X509_VERSION_3);
    assert_int_equal(X509_get_signature_nid(x), NID_ED25519);
    assert_int_equal(X509_check_ca(x), 0);
    assert_int_equal(X509_get_key_usage(x), KU_DIGITAL_SIGNATURE);
    assert_int_equal(X509_get_extended_key_usage(x), XKU_SSL_CLIENT | XKU_SSL_SERVER);
    assert_non_null(X509_get0_subject_key_id(x));
    X509 *ca = load_ca(f->ca1);
    /* AKI = the CA's SKI */
    const ASN1_OCTET_STRING *aki = X509_get0_authority_key_id(x);
    assert_non_null(aki);
    assert_int_equal(ASN1_OCTET_STRING_cmp(aki, X509_get0_subject_key_id(ca)), 0);
    /* critical: basicConstraints, keyUsage */
    int idx = X509_get_ext_by_NID(x, NID_basic_constraints, -1);
    assert_true(idx >= 0);
    assert_int_equal(X509_EXTENSION_get_critical(X509_get_ext(x, idx)), 1);
    idx = X509_get_ext_by_NID(x, NID_key_usage, -1);
    assert_true(idx >= 0);
    assert_int_equal(X509_EXTENSION_get_critical(X509_get_ext(x, idx)), 1);
    /* SAN */
    GENERAL_NAMES *names = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
    assert_non_null(names);
    assert_int_equal(sk_GENERAL_NAME_num(names), 1);
    const GENERAL_NAME *gn = sk_GENERAL_NAME_value(names, 0);
    assert_int_equal(gn->type, GEN_URI);
    char want[128];
    snprintf(want, sizeof want, "urn:nacre:device:%s", f->device_id);
    assert_int_equal(ASN1_STRING_length(gn->d.uniformResourceIdentifier), strlen(want));
    assert_memory_equal(ASN1_STRING_get0_data(gn->d.uniformResourceIdentifier), want,
                        strlen(want));
    GENERAL_NAMES_free(names);

    /* OpenSSL alone accepts it for TLS client and server, now and 23 h from now. */
    assert_int_equal(openssl_verify(ca, x, f->now, X509_PURPOSE_SSL_CLIENT), X509_V_OK);
    assert_int_equal(openssl_verify(ca, x, f->now, X509_PURPOSE_SSL_SERVER), X509_V_OK);
    assert_int_equal(openssl_verify(ca, x, f->now + 23 * 3600, X509_PURPOSE_SSL_CLIENT),
                     X509_V_OK);
    assert_int_equal(openssl_verify(ca, x, f->now + DAY + 1, X509_PURPOSE_SSL_CLIENT),
                     X509_V_ERR_CERT_HAS_EXPIRED);
    X509 *other = load_ca(f->ca2);
    assert_int_equal(openssl_verify(other, x, f->now, X509_PURPOSE_SSL_CLIENT),
                     X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY);
    X509_free(other);
    X509_free(ca);
    X509_free(x);
}

static void test_issue_serials_differ(void **state)
{
    struct fixture *f = *state;
    char pem2[NACRE_CA_PEM_MAX];
    assert_int_equal(nacre_ca_issue(f->ca1, f->alias_pk, f->device_id, f->now, pem2, sizeof pem2,
                                    NULL),
                     NACRE_CA_OK);
    struct nacre_ca_cert_info a, b;
    assert_int_equal(nacre_ca_cert_info((const uint8_t *)f->pem, f->pem_len, &a), NACRE_CA_OK);
    assert_int_equal(nacre_ca_cert_info((const uint8_t *)pem2, strlen(pem2), &b), NACRE_CA_OK);
    assert_string_not_equal(a.serial, b.serial);
}

static void test_issue_bad_arguments(void **state)
{
    struct fixture *f = *state;
    char pem[NACRE_CA_PEM_MAX];
    char id[NACRE_CA_DEVICE_ID_CHARS + 1];
    memcpy(id, f->device_id, sizeof id);
    id[3] = 'A'; /* uppercase */
    assert_int_equal(nacre_ca_issue(f->ca1, f->alias_pk, id, f->now, pem, sizeof pem, NULL),
                     NACRE_CA_ERR_ARGUMENT);
    assert_int_equal(nacre_ca_issue(f->ca1, f->alias_pk, "abcd", f->now, pem, sizeof pem, NULL),
                     NACRE_CA_ERR_ARGUMENT);
    assert_int_equal(nacre_ca_issue(f->ca1, NULL, f->device_id, f->now, pem, sizeof pem, NULL),
                     NACRE_CA_ERR_ARGUMENT);
    /* A buffer too small: refused, nothing half-written. */
    char small[100];
    assert_int_equal(nacre_ca_issue(f->ca1, f->alias_pk, f->device_id, f->now, small,
                                    sizeof small, NULL),
                     NACRE_CA_ERR_TOO_LARGE);
    assert_int_equal(small[0], '\0');
    /* No CA there. */
    char dir[600];
    snprintf(dir, sizeof dir, "%s/nothing", f->root);
    assert_int_equal(nacre_ca_issue(dir, f->alias_pk, f->device_id, f->now, pem, sizeof pem,
                                    NULL),
                     NACRE_CA_ERR_NOT_FOUND);
}

static void copy_file(const char *from, const char *to)
{
    uint8_t buf[NACRE_CA_CERT_MAX + 1];
    size_t len = 0;
    assert_int_equal(nacre_ca_read_file(from, buf, sizeof buf, &len), NACRE_CA_OK);
    FILE *fp = fopen(to, "wb");
    assert_non_null(fp);
    assert_int_equal(fwrite(buf, 1, len, fp), len);
    fclose(fp);
}

static void test_issue_key_mismatch(void **state)
{
    struct fixture *f = *state;
    char dir[600], from[1400], to[1400];
    snprintf(dir, sizeof dir, "%s/mixed", f->root);
    assert_int_equal(mkdir(dir, 0700), 0);
    snprintf(from, sizeof from, "%s/ca-cert.pem", f->ca1);
    snprintf(to, sizeof to, "%s/ca-cert.pem", dir);
    copy_file(from, to);
    snprintf(from, sizeof from, "%s/ca-key.pem", f->ca3);
    snprintf(to, sizeof to, "%s/ca-key.pem", dir);
    copy_file(from, to);
    char pem[NACRE_CA_PEM_MAX];
    assert_int_equal(nacre_ca_issue(dir, f->alias_pk, f->device_id, f->now, pem, sizeof pem,
                                    NULL),
                     NACRE_CA_ERR_CA_KEY);
}

static void test_issue_ca_expired(void **state)
{
    struct fixture *f = *state;
    char dir[600];
    snprintf(dir, sizeof dir, "%s/old", f->root);
    uint64_t long_ago = f->now - NACRE_CA_ROOT_CERT_SECONDS - DAY;
    assert_int_equal(nacre_ca_init(dir, "acme", long_ago), NACRE_CA_OK);
    char pem[NACRE_CA_PEM_MAX];
    assert_int_equal(nacre_ca_issue(dir, f->alias_pk, f->device_id, f->now, pem, sizeof pem,
                                    NULL),
                     NACRE_CA_ERR_EXPIRED);
    assert_int_equal(nacre_ca_issue(dir, f->alias_pk, f->device_id, long_ago - DAY, pem,
                                    sizeof pem, NULL),
                     NACRE_CA_ERR_NOT_YET_VALID);
    assert_int_equal(nacre_ca_issue(dir, f->alias_pk, f->device_id, long_ago + DAY, pem,
                                    sizeof pem, NULL),
                     NACRE_CA_OK);
}

/* ---- checking ------------------------------------------------------------------------- */

static nacre_ca_status check(struct fixture *f, const void *cert, size_t len, uint64_t at,
                             uint8_t pk[32], char id[NACRE_CA_DEVICE_ID_CHARS + 1])
{
    return nacre_ca_check(f->ca1_cert, f->ca1_cert_len, cert, len, at, pk, id);
}

static void test_check_accepts(void **state)
{
    struct fixture *f = *state;
    uint8_t pk[32];
    char id[NACRE_CA_DEVICE_ID_CHARS + 1];
    assert_int_equal(check(f, f->pem, f->pem_len, f->now, pk, id), NACRE_CA_OK);
    assert_memory_equal(pk, f->alias_pk, 32);
    assert_string_equal(id, f->device_id);
    /* The window is [notBefore, notAfter): OpenSSL counts the notAfter second as expired. */
    assert_int_equal(check(f, f->pem, f->pem_len, f->now + DAY - 1, pk, NULL), NACRE_CA_OK);
    assert_int_equal(check(f, f->pem, f->pem_len, f->now - 60, pk, NULL), NACRE_CA_OK);
    /* DER works too, for both. */
    uint8_t der[NACRE_CA_CERT_MAX];
    size_t der_len = 0;
    uint8_t ca_der[NACRE_CA_CERT_MAX];
    size_t ca_der_len = 0;
    assert_int_equal(nacre_ca_cert_der((const uint8_t *)f->pem, f->pem_len, der, sizeof der,
                                       &der_len),
                     NACRE_CA_OK);
    assert_int_equal(der[0], 0x30);
    assert_true(der_len < 1024);
    assert_int_equal(nacre_ca_cert_der(f->ca1_cert, f->ca1_cert_len, ca_der, sizeof ca_der,
                                       &ca_der_len),
                     NACRE_CA_OK);
    assert_int_equal(nacre_ca_check(ca_der, ca_der_len, der, der_len, f->now, pk, id),
                     NACRE_CA_OK);
    assert_string_equal(id, f->device_id);
    uint8_t tiny[16];
    assert_int_equal(nacre_ca_cert_der(der, der_len, tiny, sizeof tiny, &der_len),
                     NACRE_CA_ERR_TOO_LARGE);
}

static void test_check_other_tenant(void **state)
{
    struct fixture *f = *state;
    char pem[NACRE_CA_PEM_MAX];
    size_t len = 0;
    uint8_t pk[32];
    char id[NACRE_CA_DEVICE_ID_CHARS + 1];
    /* Another tenant's CA. */
    assert_int_equal(nacre_ca_issue(f->ca2, f->alias_pk, f->device_id, f->now, pem, sizeof pem,
                                    &len),
                     NACRE_CA_OK);
    assert_int_equal(check(f, pem, len, f->now, pk, id), NACRE_CA_ERR_WRONG_CA);
    assert_int_equal(id[0], '\0');
    uint8_t zero[32] = {0};
    assert_memory_equal(pk, zero, 32);
    /* ... even when it is expired as well: the CA is checked first. */
    assert_int_equal(check(f, pem, len, f->now + 3 * DAY, pk, id), NACRE_CA_ERR_WRONG_CA);
    /* A CA with the same name but another key. */
    assert_int_equal(nacre_ca_issue(f->ca3, f->alias_pk, f->device_id, f->now, pem, sizeof pem,
                                    &len),
                     NACRE_CA_OK);
    assert_int_equal(check(f, pem, len, f->now, pk, id), NACRE_CA_ERR_WRONG_CA);
}

static void test_check_expired(void **state)
{
    struct fixture *f = *state;
    uint8_t pk[32];
    assert_int_equal(check(f, f->pem, f->pem_len, f->now + DAY, pk, NULL),
                     NACRE_CA_ERR_EXPIRED);
    assert_int_equal(check(f, f->pem, f->pem_len, f->now + 30 * DAY, pk, NULL),
                     NACRE_CA_ERR_EXPIRED);
    assert_int_equal(check(f, f->pem, f->pem_len, f->now - 61, pk, NULL),
                     NACRE_CA_ERR_NOT_YET_VALID);
    /* Issued yesterday: expired now. */
    char pem[NACRE_CA_PEM_MAX];
    size_t len = 0;
    assert_int_equal(nacre_ca_issue(f->ca1, f->alias_pk, f->device_id, f->now - DAY - 120, pem,
                                    sizeof pem, &len),
                     NACRE_CA_OK);
    assert_int_equal(check(f, pem, len, f->now, pk, NULL), NACRE_CA_ERR_EXPIRED);
}

static void test_check_malformed(void **state)
{
    struct fixture *f = *state;
    uint8_t pk[32];
    char id[NACRE_CA_DEVICE_ID_CHARS + 1];
    assert_int_equal(check(f, "", 0, f->now, pk, id), NACRE_CA_ERR_MALFORMED);
    assert_int_equal(check(f, "hello", 5, f->now, pk, id), NACRE_CA_ERR_MALFORMED);
    /* Truncated PEM. */
    assert_int_equal(check(f, f->pem, f->pem_len / 2, f->now, pk, id), NACRE_CA_ERR_MALFORMED);
    /* Truncated DER and DER with a trailing byte. */
    uint8_t der[NACRE_CA_CERT_MAX + 1];
    size_t der_len = 0;
    assert_int_equal(nacre_ca_cert_der((const uint8_t *)f->pem, f->pem_len, der, sizeof der,
                                       &der_len),
                     NACRE_CA_OK);
    for (size_t cut = 0; cut < der_len; cut += 37) {
        assert_int_equal(check(f, der, cut, f->now, pk, id), NACRE_CA_ERR_MALFORMED);
    }
    der[der_len] = 0;
    assert_int_equal(check(f, der, der_len + 1, f->now, pk, id), NACRE_CA_ERR_MALFORMED);
    /* A flipped bit inside the signed part breaks the signature: not from this CA. */
    der[der_len / 2] ^= 0x01;
    nacre_ca_status st = check(f, der, der_len, f->now, pk, id);
    assert_int_not_equal(st, NACRE_CA_OK);
    /* Too large. */
    static uint8_t big[NACRE_CA_CERT_MAX + 10];
    memset(big, 'A', sizeof big);
    assert_int_equal(check(f, big, sizeof big, f->now, pk, id), NACRE_CA_ERR_TOO_LARGE);
    /* The trust anchor is checked too. */
    assert_int_equal(nacre_ca_check((const uint8_t *)f->pem, f->pem_len, (const uint8_t *)f->pem,
                                    f->pem_len, f->now, pk, id),
                     NACRE_CA_ERR_NOT_A_CA);
    assert_int_equal(nacre_ca_check((const uint8_t *)"x", 1, (const uint8_t *)f->pem, f->pem_len,
                                    f->now, pk, id),
                     NACRE_CA_ERR_MALFORMED);
}

/*
 * A certificate signed by CA1's key but built here: an EC key, or no EKU,
 * to see the checks after the chain.
 */
static char *forge(struct fixture *f, EVP_PKEY *subject, int with_eku, const char *cn)
{
    char path[1400];
    snprintf(path, sizeof path, "%s/ca-key.pem", f->ca1);
    FILE *fp = fopen(path, "r");
    assert_non_null(fp);
    EVP_PKEY *ca_key = PEM_read_PrivateKey(fp, NULL, NULL, NULL);
    fclose(fp);
    assert_non_null(ca_key);
    X509 *ca = load_ca(f->ca1);
    X509 *x = X509_new();
    assert_non_null(x);
    assert_int_equal(X509_set_version(x, X509_VERSION_3), 1);
    ASN1_INTEGER_set(X509_get_serialNumber(x), 4242);
    X509_NAME *name = X509_NAME_new();
    X509_NAME_add_entry_by_NID(name, NID_organizationName, MBSTRING_UTF8,
                               (const unsigned char *)"acme", -1, -1, 0);
    X509_NAME_add_entry_by_NID(name, NID_commonName, MBSTRING_UTF8, (const unsigned char *)cn,
                               -1, -1, 0);
    X509_set_subject_name(x, name);
    X509_NAME_free(name);
    X509_set_issuer_name(x, X509_get_subject_name(ca));
    ASN1_TIME_set(X509_getm_notBefore(x), (time_t)(f->now - 60));
    ASN1_TIME_set(X509_getm_notAfter(x), (time_t)(f->now + DAY));
    X509_set_pubkey(x, subject);
    X509V3_CTX ctx;
    X509V3_set_ctx(&ctx, ca, x, NULL, NULL, 0);
    char san[128];
    snprintf(san, sizeof san, "URI:urn:nacre:device:%s", cn);
    const char *exts[][2] = {
        {"basicConstraints", "critical,CA:FALSE"},
        {"keyUsage", "critical,digitalSignature"},
        {"extendedKeyUsage", with_eku ? "clientAuth,serverAuth" : NULL},
        {"subjectAltName", san},
        {"subjectKeyIdentifier", "hash"},
        {"authorityKeyIdentifier", "keyid:always"},
    };
    for (size_t i = 0; i < sizeof exts / sizeof exts[0]; i++) {
        if (exts[i][1] == NULL) {
            continue;
        }
        X509_EXTENSION *e = X509V3_EXT_nconf(NULL, &ctx, exts[i][0], exts[i][1]);
        assert_non_null(e);
        X509_add_ext(x, e, -1);
        X509_EXTENSION_free(e);
    }
    assert_true(X509_sign(x, ca_key, NULL) > 0);
    BIO *bio = BIO_new(BIO_s_mem());
    PEM_write_bio_X509(bio, x);
    char *data = NULL;
    long n = BIO_get_mem_data(bio, &data);
    char *out = calloc(1, (size_t)n + 1);
    assert_non_null(out);
    memcpy(out, data, (size_t)n);
    BIO_free(bio);
    X509_free(x);
    X509_free(ca);
    EVP_PKEY_free(ca_key);
    return out;
}

static void test_check_key_type_and_profile(void **state)
{
    struct fixture *f = *state;
    uint8_t pk[32];
    char id[NACRE_CA_DEVICE_ID_CHARS + 1];

    EVP_PKEY *ec = EVP_EC_gen("P-256");
    assert_non_null(ec);
    char *pem = forge(f, ec, 1, f->device_id);
    assert_int_equal(check(f, pem, strlen(pem), f->now, pk, id), NACRE_CA_ERR_KEY_TYPE);
    free(pem);
    EVP_PKEY_free(ec);

    EVP_PKEY *ed = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, f->alias_pk, 32);
    assert_non_null(ed);
    /* The same profile, built here: accepted (the forge helper is faithful). */
    pem = forge(f, ed, 1, f->device_id);
    assert_int_equal(check(f, pem, strlen(pem), f->now, pk, id), NACRE_CA_OK);
    free(pem);
    /* No extendedKeyUsage: not a device certificate. */
    pem = forge(f, ed, 0, f->device_id);
    assert_int_equal(check(f, pem, strlen(pem), f->now, pk, id), NACRE_CA_ERR_PROFILE);
    free(pem);
    /* A common name that is not a device id. */
    pem = forge(f, ed, 1, "www.example.com");
    assert_int_equal(check(f, pem, strlen(pem), f->now, pk, id), NACRE_CA_ERR_PROFILE);
    free(pem);
    EVP_PKEY_free(ed);

    /* The CA certificate itself is not a device certificate. */
    assert_int_equal(check(f, f->ca1_cert, f->ca1_cert_len, f->now, pk, id),
                     NACRE_CA_ERR_PROFILE);
}

static void test_strerror(void **state)
{
    (void)state;
    for (int s = 0; s <= NACRE_CA_ERR_NO_MEMORY; s++) {
        const char *m = nacre_ca_strerror((nacre_ca_status)s);
        assert_non_null(m);
        assert_string_not_equal(m, "unknown error");
        for (int t = 0; t < s; t++) {
            assert_string_not_equal(m, nacre_ca_strerror((nacre_ca_status)t));
        }
    }
    assert_string_equal(nacre_ca_strerror((nacre_ca_status)999), "unknown error");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_init_files, setup, teardown),
        cmocka_unit_test_setup_teardown(test_init_refuses_overwrite, setup, teardown),
        cmocka_unit_test_setup_teardown(test_init_bad_arguments, setup, teardown),
        cmocka_unit_test_setup_teardown(test_issue_profile, setup, teardown),
        cmocka_unit_test_setup_teardown(test_issue_serials_differ, setup, teardown),
        cmocka_unit_test_setup_teardown(test_issue_bad_arguments, setup, teardown),
        cmocka_unit_test_setup_teardown(test_issue_key_mismatch, setup, teardown),
        cmocka_unit_test_setup_teardown(test_issue_ca_expired, setup, teardown),
        cmocka_unit_test_setup_teardown(test_check_accepts, setup, teardown),
        cmocka_unit_test_setup_teardown(test_check_other_tenant, setup, teardown),
        cmocka_unit_test_setup_teardown(test_check_expired, setup, teardown),
        cmocka_unit_test_setup_teardown(test_check_malformed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_check_key_type_and_profile, setup, teardown),
        cmocka_unit_test(test_strerror),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
