/*
 * ca.c - a tenant certificate authority: X.509 v3 with Ed25519 (RFC 8410).
 *
 * OpenSSL builds, signs, parses and verifies the certificates; the CA key is
 * read and written with libnacre-keyfile. The CA's seed lives in a
 * sodium_malloc'd buffer and in the EVP_PKEY made from it for one signature;
 * both are wiped (sodium_free, EVP_PKEY_free) before any function returns.
 */
#include <nacre/ca.h>
#include <nacre/keyfile.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>

#include <sodium.h>

static const char CA_KEY_FILE[] = "ca-key.pem";
static const char CA_CERT_FILE[] = "ca-cert.pem";
static const char CA_CN_SUFFIX[] = " Nacre tenant CA";
static const char DEVICE_URI_PREFIX[] = "urn:nacre:device:";

/* 9999-12-31T23:59:59Z: the last second X.509 can express. */
#define TIME_MAX_SECONDS 253402300799ull
#define SERIAL_BYTES 16u

/* ---- small helpers ------------------------------------------------------------ */

static nacre_ca_status status_from_errno(int err)
{
    switch (err) {
    case ENOENT:
    case ENOTDIR:
        return NACRE_CA_ERR_NOT_FOUND;
    case EACCES:
    case EPERM:
    case EROFS:
        return NACRE_CA_ERR_PERMISSION;
    case ENOMEM:
        return NACRE_CA_ERR_NO_MEMORY;
    case EEXIST:
        return NACRE_CA_ERR_EXISTS;
    default:
        return NACRE_CA_ERR_IO;
    }
}

static nacre_ca_status status_from_keyfile(nacre_keyfile_status st)
{
    switch (st) {
    case NACRE_KEYFILE_OK:
        return NACRE_CA_OK;
    case NACRE_KEYFILE_ERR_NOT_FOUND:
        return NACRE_CA_ERR_NOT_FOUND;
    case NACRE_KEYFILE_ERR_PERMISSION:
        return NACRE_CA_ERR_PERMISSION;
    case NACRE_KEYFILE_ERR_IO:
        return NACRE_CA_ERR_IO;
    case NACRE_KEYFILE_ERR_EXISTS:
        return NACRE_CA_ERR_EXISTS;
    case NACRE_KEYFILE_ERR_NO_MEMORY:
        return NACRE_CA_ERR_NO_MEMORY;
    case NACRE_KEYFILE_ERR_CRYPTO:
        return NACRE_CA_ERR_CRYPTO;
    default:
        return NACRE_CA_ERR_CA_KEY; /* not a usable Ed25519 private key */
    }
}

/* dir + "/" + name into a malloc'd string, or NULL. */
static char *join(const char *dir, const char *name)
{
    size_t a = strlen(dir);
    size_t b = strlen(name);
    char *p = malloc(a + b + 2);
    if (p == NULL) {
        return NULL;
    }
    memcpy(p, dir, a);
    p[a] = '/';
    memcpy(p + a + 1, name, b + 1);
    return p;
}

static int tenant_ok(const char *tenant)
{
    size_t n = strlen(tenant);
    if (n < 1 || n > NACRE_CA_TENANT_MAX || tenant[0] == ' ' || tenant[n - 1] == ' ') {
        return 0;
    }
    for (size_t i = 0; i < n; i++) {
        char c = tenant[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == ' ' || c == '.' || c == '_' || c == '-')) {
            return 0;
        }
    }
    return 1;
}

static int device_id_ok(const char *id)
{
    if (strlen(id) != NACRE_CA_DEVICE_ID_CHARS) {
        return 0;
    }
    for (size_t i = 0; i < NACRE_CA_DEVICE_ID_CHARS; i++) {
        char c = id[i];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) {
            return 0;
        }
    }
    return 1;
}

/* Days since 1970-01-01 of a proleptic Gregorian date (month 1..12). */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (int64_t)(m > 2 ? m - 3 : m + 9) + 2) / 5 + (int64_t)d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

/* An ASN1_TIME as seconds since the epoch (0 before 1970). */
static int time_to_epoch(const ASN1_TIME *t, uint64_t *out)
{
    struct tm tm;
    memset(&tm, 0, sizeof tm);
    if (t == NULL || ASN1_TIME_to_tm(t, &tm) != 1) {
        return -1;
    }
    int64_t days = days_from_civil((int64_t)tm.tm_year + 1900, (unsigned)tm.tm_mon + 1u,
                                   (unsigned)tm.tm_mday);
    int64_t s = days * 86400 + tm.tm_hour * 3600 + tm.tm_min * 60 + tm.tm_sec;
    *out = s > 0 ? (uint64_t)s : 0u;
    return 0;
}

/* ---- files ---------------------------------------------------------------------- */

nacre_ca_status nacre_ca_read_file(const char *path, uint8_t *buf, size_t buf_max, size_t *len)
{
    if (len != NULL) {
        *len = 0;
    }
    if (path == NULL || buf == NULL || len == NULL || buf_max < 2) {
        return NACRE_CA_ERR_ARGUMENT;
    }
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0) {
        return status_from_errno(errno);
    }
    struct stat sb;
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        int err = errno;
        close(fd);
        return err != 0 ? status_from_errno(err) : NACRE_CA_ERR_IO;
    }
    size_t cap = buf_max - 1u; /* room for the NUL */
    size_t limit = cap < NACRE_CA_CERT_MAX ? cap : NACRE_CA_CERT_MAX;
    size_t n = 0;
    nacre_ca_status st = NACRE_CA_OK;
    for (;;) {
        uint8_t extra;
        uint8_t *dst = n < limit ? buf + n : &extra;
        size_t want = n < limit ? limit - n : 1u;
        ssize_t r = read(fd, dst, want);
        if (r < 0) {
            if (errno == EINTR) {
                continue;
            }
            st = status_from_errno(errno);
            break;
        }
        if (r == 0) {
            break;
        }
        if (n >= limit) {
            st = NACRE_CA_ERR_TOO_LARGE;
            break;
        }
        n += (size_t)r;
    }
    close(fd);
    if (st != NACRE_CA_OK) {
        memset(buf, 0, n);
        return st;
    }
    buf[n] = 0;
    *len = n;
    return NACRE_CA_OK;
}

static nacre_ca_status write_all(int fd, const char *data, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, data, len);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            return status_from_errno(errno);
        }
        data += n;
        len -= (size_t)n;
    }
    return NACRE_CA_OK;
}

/*
 * Write a NEW file: through a temporary file in the same directory, synced,
 * then link(2)ed into place, which fails if path exists (never replaced).
 */
static nacre_ca_status write_new_file(const char *path, const char *data, size_t len,
                                      mode_t mode)
{
    static const char suffix[] = ".tmp-XXXXXX";
    size_t plen = strlen(path);
    char *tmp = malloc(plen + sizeof suffix);
    if (tmp == NULL) {
        return NACRE_CA_ERR_NO_MEMORY;
    }
    memcpy(tmp, path, plen);
    memcpy(tmp + plen, suffix, sizeof suffix);
    int fd = mkstemp(tmp);
    if (fd < 0) {
        nacre_ca_status st = status_from_errno(errno);
        free(tmp);
        return st;
    }
    nacre_ca_status st = NACRE_CA_OK;
    if (fchmod(fd, mode) != 0) {
        st = status_from_errno(errno);
    }
    if (st == NACRE_CA_OK) {
        st = write_all(fd, data, len);
    }
    if (st == NACRE_CA_OK && fsync(fd) != 0) {
        st = status_from_errno(errno);
    }
    if (close(fd) != 0 && st == NACRE_CA_OK) {
        st = status_from_errno(errno);
    }
    if (st == NACRE_CA_OK && link(tmp, path) != 0) {
        st = status_from_errno(errno);
    }
    (void)unlink(tmp);
    free(tmp);
    return st;
}

/* ---- parsing -------------------------------------------------------------------- */

/* PEM if the text holds "-----BEGIN", else DER (exactly one certificate). */
static nacre_ca_status parse_cert(const uint8_t *in, size_t len, X509 **out)
{
    *out = NULL;
    if (len == 0) {
        return NACRE_CA_ERR_MALFORMED;
    }
    if (len > NACRE_CA_CERT_MAX) {
        return NACRE_CA_ERR_TOO_LARGE;
    }
    static const char begin[] = "-----BEGIN";
    int pem = 0;
    for (size_t i = 0; i + sizeof begin - 1 <= len; i++) {
        if (memcmp(in + i, begin, sizeof begin - 1) == 0) {
            pem = 1;
            break;
        }
    }
    X509 *x = NULL;
    if (pem) {
        BIO *bio = BIO_new_mem_buf(in, (int)len);
        if (bio == NULL) {
            return NACRE_CA_ERR_NO_MEMORY;
        }
        x = PEM_read_bio_X509(bio, NULL, NULL, NULL);
        BIO_free(bio);
    } else {
        const unsigned char *p = in;
        x = d2i_X509(NULL, &p, (long)len);
        if (x != NULL && p != in + len) {
            X509_free(x); /* trailing bytes */
            x = NULL;
        }
    }
    if (x == NULL) {
        return NACRE_CA_ERR_MALFORMED;
    }
    *out = x;
    return NACRE_CA_OK;
}

/* The first entry of nid in name as UTF-8 into out[out_max] ("" if none). */
static void name_entry(const X509_NAME *name, int nid, char *out, size_t out_max)
{
    out[0] = '\0';
    if (name == NULL) {
        return;
    }
    int idx = X509_NAME_get_index_by_NID(name, nid, -1);
    if (idx < 0) {
        return;
    }
    const X509_NAME_ENTRY *e = X509_NAME_get_entry(name, idx);
    unsigned char *utf8 = NULL;
    int n = ASN1_STRING_to_UTF8(&utf8, X509_NAME_ENTRY_get_data(e));
    if (n < 0) {
        return;
    }
    size_t len = (size_t)n < out_max - 1 ? (size_t)n : out_max - 1;
    memcpy(out, utf8, len);
    out[len] = '\0';
    if (memchr(out, '\0', len) != NULL) {
        out[0] = '\0'; /* embedded NUL: treat as absent */
    }
    OPENSSL_free(utf8);
}

static int raw_ed25519(X509 *x, uint8_t pk[NACRE_CA_PUBLICKEY_BYTES])
{
    EVP_PKEY *key = X509_get0_pubkey(x);
    size_t n = NACRE_CA_PUBLICKEY_BYTES;
    if (key == NULL || EVP_PKEY_get_id(key) != EVP_PKEY_ED25519) {
        return -1;
    }
    if (EVP_PKEY_get_raw_public_key(key, pk, &n) != 1 || n != NACRE_CA_PUBLICKEY_BYTES) {
        return -1;
    }
    return 0;
}

static int is_ca(X509 *x)
{
    return (X509_get_extension_flags(x) & EXFLAG_CA) != 0;
}

nacre_ca_status nacre_ca_cert_info(const uint8_t *cert, size_t cert_len,
                                   struct nacre_ca_cert_info *info)
{
    if (info == NULL) {
        return NACRE_CA_ERR_ARGUMENT;
    }
    memset(info, 0, sizeof *info);
    if (cert == NULL) {
        return NACRE_CA_ERR_ARGUMENT;
    }
    X509 *x = NULL;
    ERR_set_mark();
    nacre_ca_status st = parse_cert(cert, cert_len, &x);
    if (st == NACRE_CA_OK) {
        name_entry(X509_get_subject_name(x), NID_commonName, info->subject_cn,
                   sizeof info->subject_cn);
        name_entry(X509_get_subject_name(x), NID_organizationName, info->subject_o,
                   sizeof info->subject_o);
        name_entry(X509_get_issuer_name(x), NID_commonName, info->issuer_cn,
                   sizeof info->issuer_cn);
        BIGNUM *bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(x), NULL);
        char *hex = bn != NULL ? BN_bn2hex(bn) : NULL;
        if (hex != NULL && strlen(hex) < sizeof info->serial) {
            for (size_t i = 0; hex[i] != '\0'; i++) {
                char c = hex[i];
                info->serial[i] = (char)(c >= 'A' && c <= 'F' ? c - 'A' + 'a' : c);
            }
        }
        OPENSSL_free(hex);
        BN_free(bn);
        if (time_to_epoch(X509_get0_notBefore(x), &info->not_before) != 0 ||
            time_to_epoch(X509_get0_notAfter(x), &info->not_after) != 0) {
            st = NACRE_CA_ERR_MALFORMED;
        }
        info->is_ca = is_ca(x);
        info->ed25519 = raw_ed25519(x, info->public_key) == 0;
        if (!info->ed25519) {
            memset(info->public_key, 0, sizeof info->public_key);
        }
    }
    X509_free(x);
    ERR_pop_to_mark();
    if (st != NACRE_CA_OK) {
        memset(info, 0, sizeof *info);
    }
    return st;
}

nacre_ca_status nacre_ca_cert_der(const uint8_t *cert, size_t cert_len, uint8_t *der,
                                  size_t der_max, size_t *der_len)
{
    if (der_len != NULL) {
        *der_len = 0;
    }
    if (cert == NULL || der == NULL || der_len == NULL) {
        return NACRE_CA_ERR_ARGUMENT;
    }
    X509 *x = NULL;
    ERR_set_mark();
    nacre_ca_status st = parse_cert(cert, cert_len, &x);
    if (st == NACRE_CA_OK) {
        int n = i2d_X509(x, NULL);
        unsigned char *p = der;
        if (n <= 0) {
            st = NACRE_CA_ERR_MALFORMED;
        } else if ((size_t)n > der_max) {
            st = NACRE_CA_ERR_TOO_LARGE;
        } else if (i2d_X509(x, &p) != n) {
            st = NACRE_CA_ERR_CRYPTO;
        } else {
            *der_len = (size_t)n;
        }
    }
    X509_free(x);
    ERR_pop_to_mark();
    return st;
}

nacre_ca_status nacre_ca_device_id(const uint8_t device_id_pk[NACRE_CA_PUBLICKEY_BYTES],
                                   char out[NACRE_CA_DEVICE_ID_CHARS + 1])
{
    if (out == NULL) {
        return NACRE_CA_ERR_ARGUMENT;
    }
    out[0] = '\0';
    if (device_id_pk == NULL) {
        return NACRE_CA_ERR_ARGUMENT;
    }
    uint8_t h[32];
    if (sodium_init() < 0 || crypto_generichash(h, sizeof h, device_id_pk,
                                                NACRE_CA_PUBLICKEY_BYTES, NULL, 0) != 0) {
        return NACRE_CA_ERR_CRYPTO;
    }
    sodium_bin2hex(out, NACRE_CA_DEVICE_ID_CHARS + 1, h, sizeof h);
    return NACRE_CA_OK;
}

/* ---- building certificates --------------------------------------------------------- */

struct cert_spec {
    X509 *issuer;              /* NULL: self-signed */
    EVP_PKEY *subject_pk;      /* the key being certified */
    const uint8_t *subject_raw; /* or its 32 raw Ed25519 bytes (faster: no encoder) */
    EVP_PKEY *signer;          /* the CA key */
    const char *o;
    const char *cn;
    uint64_t not_before;
    uint64_t not_after;
    int ca;
    const char *device_id;     /* end entity: the SAN URI's device id */
};

static int add_ext(X509 *x, X509V3_CTX *ctx, int nid, const char *value)
{
    X509_EXTENSION *ext = X509V3_EXT_nconf_nid(NULL, ctx, nid, value);
    if (ext == NULL) {
        return -1;
    }
    int ok = X509_add_ext(x, ext, -1);
    X509_EXTENSION_free(ext);
    return ok == 1 ? 0 : -1;
}

static int random_serial(X509 *x)
{
    unsigned char b[SERIAL_BYTES];
    if (RAND_bytes(b, sizeof b) != 1) {
        return -1;
    }
    /* Positive (top bit clear) and always 16 octets (next bit set). */
    b[0] = (unsigned char)((b[0] & 0x7Fu) | 0x40u);
    BIGNUM *bn = BN_bin2bn(b, sizeof b, NULL);
    ASN1_INTEGER *serial = bn != NULL ? BN_to_ASN1_INTEGER(bn, NULL) : NULL;
    int ok = serial != NULL && X509_set_serialNumber(x, serial) == 1;
    ASN1_INTEGER_free(serial);
    BN_free(bn);
    return ok ? 0 : -1;
}

static int set_name(X509_NAME *name, const char *o, const char *cn)
{
    if (X509_NAME_add_entry_by_NID(name, NID_organizationName, MBSTRING_UTF8,
                                   (const unsigned char *)o, -1, -1, 0) != 1) {
        return -1;
    }
    if (X509_NAME_add_entry_by_NID(name, NID_commonName, MBSTRING_UTF8,
                                   (const unsigned char *)cn, -1, -1, 0) != 1) {
        return -1;
    }
    return 0;
}

static X509 *build_cert(const struct cert_spec *s)
{
    X509 *x = X509_new();
    X509_NAME *subject = X509_NAME_new();
    int ok = x != NULL && subject != NULL;
    ok = ok && X509_set_version(x, X509_VERSION_3) == 1;
    ok = ok && random_serial(x) == 0;
    ok = ok && set_name(subject, s->o, s->cn) == 0;
    ok = ok && X509_set_subject_name(x, subject) == 1;
    ok = ok && X509_set_issuer_name(x, s->issuer != NULL ? X509_get_subject_name(s->issuer)
                                                         : subject) == 1;
    ok = ok && ASN1_TIME_set(X509_getm_notBefore(x), (time_t)s->not_before) != NULL;
    ok = ok && ASN1_TIME_set(X509_getm_notAfter(x), (time_t)s->not_after) != NULL;
    if (s->subject_raw != NULL) {
        /* The SubjectPublicKeyInfo straight from the raw key: X509_set_pubkey
         * goes through OpenSSL 3's encoders and costs ~50x more. */
        unsigned char *key = ok ? OPENSSL_memdup(s->subject_raw, NACRE_CA_PUBLICKEY_BYTES) : NULL;
        ok = key != NULL &&
             X509_PUBKEY_set0_param(X509_get_X509_PUBKEY(x), OBJ_nid2obj(NID_ED25519),
                                    V_ASN1_UNDEF, NULL, key, NACRE_CA_PUBLICKEY_BYTES) == 1;
        if (!ok) {
            OPENSSL_free(key);
        }
    } else {
        ok = ok && X509_set_pubkey(x, s->subject_pk) == 1;
    }
    if (ok) {
        X509V3_CTX ctx;
        X509V3_set_ctx(&ctx, s->issuer != NULL ? s->issuer : x, x, NULL, NULL, 0);
        if (s->ca) {
            ok = add_ext(x, &ctx, NID_basic_constraints, "critical,CA:TRUE") == 0 &&
                 add_ext(x, &ctx, NID_key_usage, "critical,keyCertSign,cRLSign") == 0 &&
                 add_ext(x, &ctx, NID_subject_key_identifier, "hash") == 0 &&
                 add_ext(x, &ctx, NID_authority_key_identifier, "keyid:always") == 0;
        } else {
            char san[sizeof DEVICE_URI_PREFIX + NACRE_CA_DEVICE_ID_CHARS + 8];
            snprintf(san, sizeof san, "URI:%s%s", DEVICE_URI_PREFIX, s->device_id);
            ok = add_ext(x, &ctx, NID_basic_constraints, "critical,CA:FALSE") == 0 &&
                 add_ext(x, &ctx, NID_key_usage, "critical,digitalSignature") == 0 &&
                 add_ext(x, &ctx, NID_ext_key_usage, "clientAuth,serverAuth") == 0 &&
                 add_ext(x, &ctx, NID_subject_alt_name, san) == 0 &&
                 add_ext(x, &ctx, NID_subject_key_identifier, "hash") == 0 &&
                 add_ext(x, &ctx, NID_authority_key_identifier, "keyid:always") == 0;
        }
    }
    /* Ed25519 is "pure": no separate digest. */
    ok = ok && X509_sign(x, s->signer, NULL) > 0;
    X509_NAME_free(subject);
    if (!ok) {
        X509_free(x);
        return NULL;
    }
    return x;
}

static nacre_ca_status cert_to_pem(X509 *x, char *out, size_t out_max, size_t *out_len)
{
    BIO *bio = BIO_new(BIO_s_mem());
    if (bio == NULL) {
        return NACRE_CA_ERR_NO_MEMORY;
    }
    nacre_ca_status st = NACRE_CA_OK;
    char *data = NULL;
    long n = 0;
    if (PEM_write_bio_X509(bio, x) != 1 || (n = BIO_get_mem_data(bio, &data)) <= 0) {
        st = NACRE_CA_ERR_CRYPTO;
    } else if ((size_t)n >= out_max) {
        st = NACRE_CA_ERR_TOO_LARGE;
    } else {
        memcpy(out, data, (size_t)n);
        out[n] = '\0';
        if (out_len != NULL) {
            *out_len = (size_t)n;
        }
    }
    BIO_free(bio);
    return st;
}

/* ---- init ------------------------------------------------------------------------- */

nacre_ca_status nacre_ca_init(const char *dir, const char *tenant, uint64_t now)
{
    if (dir == NULL || dir[0] == '\0' || tenant == NULL || !tenant_ok(tenant) ||
        now > TIME_MAX_SECONDS - NACRE_CA_ROOT_CERT_SECONDS) {
        return NACRE_CA_ERR_ARGUMENT;
    }
    if (sodium_init() < 0) {
        return NACRE_CA_ERR_CRYPTO;
    }
    if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
        return status_from_errno(errno);
    }
    struct stat sb;
    if (stat(dir, &sb) != 0) {
        return status_from_errno(errno);
    }
    if (!S_ISDIR(sb.st_mode)) {
        return NACRE_CA_ERR_IO;
    }
    char *key_path = join(dir, CA_KEY_FILE);
    char *cert_path = join(dir, CA_CERT_FILE);
    uint8_t *seed = sodium_malloc(NACRE_KEYFILE_SEED_BYTES);
    if (key_path == NULL || cert_path == NULL || seed == NULL) {
        free(key_path);
        free(cert_path);
        if (seed != NULL) {
            sodium_free(seed);
        }
        return NACRE_CA_ERR_NO_MEMORY;
    }
    nacre_ca_status st = NACRE_CA_OK;
    if (lstat(key_path, &sb) == 0 || lstat(cert_path, &sb) == 0) {
        st = NACRE_CA_ERR_EXISTS;
    }

    uint8_t pk[NACRE_KEYFILE_PUBLICKEY_BYTES];
    char cn[NACRE_CA_TENANT_MAX + sizeof CA_CN_SUFFIX];
    char pem[NACRE_CA_PEM_MAX];
    size_t pem_len = 0;
    EVP_PKEY *sk = NULL;
    EVP_PKEY *pub = NULL;
    X509 *x = NULL;
    ERR_set_mark();
    if (st == NACRE_CA_OK) {
        st = status_from_keyfile(nacre_keyfile_keypair(pk, seed));
    }
    if (st == NACRE_CA_OK) {
        sk = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, seed, NACRE_KEYFILE_SEED_BYTES);
        pub = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, pk, sizeof pk);
        snprintf(cn, sizeof cn, "%s%s", tenant, CA_CN_SUFFIX);
        struct cert_spec spec = {
            .issuer = NULL,
            .subject_pk = pub,
            .signer = sk,
            .o = tenant,
            .cn = cn,
            .not_before = now > NACRE_CA_CLOCK_SKEW_SECONDS ? now - NACRE_CA_CLOCK_SKEW_SECONDS : 0,
            .not_after = now + NACRE_CA_ROOT_CERT_SECONDS,
            .ca = 1,
            .device_id = NULL,
        };
        x = sk != NULL && pub != NULL ? build_cert(&spec) : NULL;
        st = x != NULL ? cert_to_pem(x, pem, sizeof pem, &pem_len) : NACRE_CA_ERR_CRYPTO;
    }
    EVP_PKEY_free(sk); /* wipes the key */
    EVP_PKEY_free(pub);
    X509_free(x);
    ERR_pop_to_mark();

    if (st == NACRE_CA_OK) {
        st = status_from_keyfile(nacre_keyfile_write_private(key_path, seed, 0));
    }
    if (st == NACRE_CA_OK) {
        st = write_new_file(cert_path, pem, pem_len, 0644);
        if (st != NACRE_CA_OK) {
            (void)unlink(key_path); /* no key without its certificate */
        }
    }
    sodium_free(seed); /* wipes */
    free(key_path);
    free(cert_path);
    return st;
}

/* ---- issue ------------------------------------------------------------------------- */

/* Read and parse dir/ca-cert.pem. */
static nacre_ca_status load_ca_cert(const char *dir, X509 **out)
{
    *out = NULL;
    char *path = join(dir, CA_CERT_FILE);
    uint8_t *buf = malloc(NACRE_CA_CERT_MAX + 1u);
    nacre_ca_status st = NACRE_CA_ERR_NO_MEMORY;
    size_t len = 0;
    if (path != NULL && buf != NULL) {
        st = nacre_ca_read_file(path, buf, NACRE_CA_CERT_MAX + 1u, &len);
    }
    if (st == NACRE_CA_OK) {
        st = parse_cert(buf, len, out);
    }
    free(buf);
    free(path);
    return st;
}

/* A CA loaded once: its certificate, validity, tenant and signing key. */
struct nacre_ca_issuer {
    X509 *ca;
    EVP_PKEY *sk;
    char tenant[65];
    uint64_t ca_from;
    uint64_t ca_until;
};

void nacre_ca_issuer_free(nacre_ca_issuer *issuer)
{
    if (issuer == NULL) {
        return;
    }
    EVP_PKEY_free(issuer->sk); /* wipes the CA key */
    X509_free(issuer->ca);
    free(issuer);
}

nacre_ca_status nacre_ca_issuer_open(const char *ca_dir, nacre_ca_issuer **out)
{
    if (out != NULL) {
        *out = NULL;
    }
    if (ca_dir == NULL || out == NULL) {
        return NACRE_CA_ERR_ARGUMENT;
    }
    if (sodium_init() < 0) {
        return NACRE_CA_ERR_CRYPTO;
    }
    nacre_ca_issuer *is = calloc(1, sizeof *is);
    uint8_t ca_pk[NACRE_CA_PUBLICKEY_BYTES];
    uint8_t derived[NACRE_CA_PUBLICKEY_BYTES];
    uint8_t *seed = sodium_malloc(NACRE_KEYFILE_SEED_BYTES);
    char *key_path = join(ca_dir, CA_KEY_FILE);
    if (is == NULL || seed == NULL || key_path == NULL) {
        if (seed != NULL) {
            sodium_free(seed);
        }
        free(key_path);
        free(is);
        return NACRE_CA_ERR_NO_MEMORY;
    }

    ERR_set_mark();
    nacre_ca_status st = load_ca_cert(ca_dir, &is->ca);
    if (st == NACRE_CA_OK && (!is_ca(is->ca) || raw_ed25519(is->ca, ca_pk) != 0)) {
        st = NACRE_CA_ERR_NOT_A_CA;
    }
    if (st == NACRE_CA_OK) {
        name_entry(X509_get_subject_name(is->ca), NID_organizationName, is->tenant,
                   sizeof is->tenant);
        if (!tenant_ok(is->tenant)) {
            st = NACRE_CA_ERR_NOT_A_CA;
        }
    }
    if (st == NACRE_CA_OK && (time_to_epoch(X509_get0_notBefore(is->ca), &is->ca_from) != 0 ||
                              time_to_epoch(X509_get0_notAfter(is->ca), &is->ca_until) != 0)) {
        st = NACRE_CA_ERR_MALFORMED;
    }
    if (st == NACRE_CA_OK) {
        st = status_from_keyfile(nacre_keyfile_read_private(key_path, seed));
    }
    if (st == NACRE_CA_OK) {
        st = status_from_keyfile(nacre_keyfile_seed_to_public(derived, seed));
        if (st == NACRE_CA_OK && sodium_memcmp(derived, ca_pk, sizeof ca_pk) != 0) {
            st = NACRE_CA_ERR_CA_KEY; /* ca-key.pem is not the key of ca-cert.pem */
        }
    }
    if (st == NACRE_CA_OK) {
        is->sk = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, seed,
                                              NACRE_KEYFILE_SEED_BYTES);
        if (is->sk == NULL) {
            st = NACRE_CA_ERR_CRYPTO;
        }
    }
    sodium_free(seed); /* wipes; is->sk holds the only other copy */
    ERR_pop_to_mark();
    free(key_path);
    if (st != NACRE_CA_OK) {
        nacre_ca_issuer_free(is);
        return st;
    }
    *out = is;
    return NACRE_CA_OK;
}

nacre_ca_status nacre_ca_issuer_issue(const nacre_ca_issuer *issuer,
                                      const uint8_t device_pk[NACRE_CA_PUBLICKEY_BYTES],
                                      const char *device_id, uint64_t now, char *pem,
                                      size_t pem_max, size_t *pem_len, uint8_t *der,
                                      size_t der_max, size_t *der_len)
{
    if (pem_len != NULL) {
        *pem_len = 0;
    }
    if (der_len != NULL) {
        *der_len = 0;
    }
    if (pem != NULL && pem_max > 0) {
        pem[0] = '\0';
    }
    if (issuer == NULL || device_pk == NULL || device_id == NULL || pem == NULL ||
        pem_max == 0 || !device_id_ok(device_id) || (der != NULL && der_len == NULL) ||
        now > TIME_MAX_SECONDS - NACRE_CA_DEVICE_CERT_SECONDS) {
        return NACRE_CA_ERR_ARGUMENT;
    }
    if (now < issuer->ca_from) {
        return NACRE_CA_ERR_NOT_YET_VALID;
    }
    if (now > issuer->ca_until) {
        return NACRE_CA_ERR_EXPIRED;
    }
    ERR_set_mark();
    X509 *x = NULL;
    nacre_ca_status st = NACRE_CA_OK;
    EVP_PKEY *pub = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, device_pk,
                                                NACRE_CA_PUBLICKEY_BYTES);
    if (pub == NULL) {
        st = NACRE_CA_ERR_ARGUMENT; /* not a usable Ed25519 public key */
    }
    if (st == NACRE_CA_OK) {
        struct cert_spec spec = {
            .issuer = issuer->ca,
            .subject_pk = pub,
            .subject_raw = device_pk,
            .signer = issuer->sk,
            .o = issuer->tenant,
            .cn = device_id,
            .not_before = now > NACRE_CA_CLOCK_SKEW_SECONDS ? now - NACRE_CA_CLOCK_SKEW_SECONDS : 0,
            .not_after = now + NACRE_CA_DEVICE_CERT_SECONDS,
            .ca = 0,
            .device_id = device_id,
        };
        x = build_cert(&spec);
        st = x != NULL ? cert_to_pem(x, pem, pem_max, pem_len) : NACRE_CA_ERR_CRYPTO;
    }
    if (st == NACRE_CA_OK && der != NULL) {
        int n = i2d_X509(x, NULL);
        unsigned char *p = der;
        if (n <= 0) {
            st = NACRE_CA_ERR_CRYPTO;
        } else if ((size_t)n > der_max) {
            st = NACRE_CA_ERR_TOO_LARGE;
        } else if (i2d_X509(x, &p) != n) {
            st = NACRE_CA_ERR_CRYPTO;
        } else {
            *der_len = (size_t)n;
        }
    }
    EVP_PKEY_free(pub);
    X509_free(x);
    ERR_pop_to_mark();
    if (st != NACRE_CA_OK) {
        pem[0] = '\0';
        if (pem_len != NULL) {
            *pem_len = 0;
        }
        if (der_len != NULL) {
            *der_len = 0;
        }
    }
    return st;
}

nacre_ca_status nacre_ca_issue(const char *ca_dir, const uint8_t device_pk[NACRE_CA_PUBLICKEY_BYTES],
                               const char *device_id, uint64_t now, char *pem, size_t pem_max,
                               size_t *pem_len)
{
    if (pem_len != NULL) {
        *pem_len = 0;
    }
    if (pem != NULL && pem_max > 0) {
        pem[0] = '\0';
    }
    if (ca_dir == NULL || device_pk == NULL || device_id == NULL || pem == NULL ||
        pem_max == 0 || !device_id_ok(device_id) ||
        now > TIME_MAX_SECONDS - NACRE_CA_DEVICE_CERT_SECONDS) {
        return NACRE_CA_ERR_ARGUMENT;
    }
    nacre_ca_issuer *is = NULL;
    nacre_ca_status st = nacre_ca_issuer_open(ca_dir, &is);
    if (st == NACRE_CA_OK) {
        st = nacre_ca_issuer_issue(is, device_pk, device_id, now, pem, pem_max, pem_len, NULL, 0,
                                   NULL);
    }
    nacre_ca_issuer_free(is);
    return st;
}

/* ---- check ------------------------------------------------------------------------- */

static nacre_ca_status status_from_verify(int err)
{
    switch (err) {
    case X509_V_ERR_CERT_HAS_EXPIRED:
        return NACRE_CA_ERR_EXPIRED;
    case X509_V_ERR_CERT_NOT_YET_VALID:
        return NACRE_CA_ERR_NOT_YET_VALID;
    case X509_V_ERR_ERROR_IN_CERT_NOT_BEFORE_FIELD:
    case X509_V_ERR_ERROR_IN_CERT_NOT_AFTER_FIELD:
    case X509_V_ERR_UNABLE_TO_DECODE_ISSUER_PUBLIC_KEY:
        return NACRE_CA_ERR_MALFORMED;
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
    case X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE:
    case X509_V_ERR_CERT_SIGNATURE_FAILURE:
    case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
    case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
    case X509_V_ERR_CERT_UNTRUSTED:
    case X509_V_ERR_CERT_REJECTED:
    case X509_V_ERR_AKID_SKID_MISMATCH:
    case X509_V_ERR_AKID_ISSUER_SERIAL_MISMATCH:
    case X509_V_ERR_SUBJECT_ISSUER_MISMATCH:
        return NACRE_CA_ERR_WRONG_CA;
    case X509_V_ERR_INVALID_CA:
        return NACRE_CA_ERR_NOT_A_CA;
    default:
        return NACRE_CA_ERR_PROFILE;
    }
}

/* The chain: cert issued by ca (the only trust anchor), valid at now. */
static nacre_ca_status verify_chain(X509 *ca, X509 *cert, uint64_t now)
{
    X509_STORE *store = X509_STORE_new();
    X509_STORE_CTX *ctx = X509_STORE_CTX_new();
    nacre_ca_status st = NACRE_CA_OK;
    if (store == NULL || ctx == NULL || X509_STORE_add_cert(store, ca) != 1 ||
        X509_STORE_CTX_init(ctx, store, cert, NULL) != 1) {
        st = NACRE_CA_ERR_NO_MEMORY;
    } else {
        X509_VERIFY_PARAM *param = X509_STORE_CTX_get0_param(ctx);
        X509_VERIFY_PARAM_set_time(param, (time_t)now);
        X509_VERIFY_PARAM_set_flags(param, X509_V_FLAG_X509_STRICT);
        X509_VERIFY_PARAM_set_depth(param, 1); /* CA -> device, nothing between */
        if (X509_verify_cert(ctx) != 1) {
            st = status_from_verify(X509_STORE_CTX_get_error(ctx));
        }
    }
    X509_STORE_CTX_free(ctx);
    X509_STORE_free(store);
    return st;
}

/* The SAN holds exactly one URI, urn:nacre:device:<id>; 0 if so. */
static int san_matches(X509 *x, const char *id)
{
    GENERAL_NAMES *names = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
    if (names == NULL) {
        return -1;
    }
    char want[sizeof DEVICE_URI_PREFIX + NACRE_CA_DEVICE_ID_CHARS];
    snprintf(want, sizeof want, "%s%s", DEVICE_URI_PREFIX, id);
    int uris = 0;
    int match = 0;
    for (int i = 0; i < sk_GENERAL_NAME_num(names); i++) {
        const GENERAL_NAME *gn = sk_GENERAL_NAME_value(names, i);
        if (gn->type != GEN_URI) {
            continue;
        }
        uris++;
        const ASN1_IA5STRING *s = gn->d.uniformResourceIdentifier;
        if ((size_t)ASN1_STRING_length(s) == strlen(want) &&
            memcmp(ASN1_STRING_get0_data(s), want, strlen(want)) == 0) {
            match = 1;
        }
    }
    GENERAL_NAMES_free(names);
    return uris == 1 && match ? 0 : -1;
}

/* The Nacre device profile, on a certificate whose chain verified. */
static nacre_ca_status check_profile(X509 *ca, X509 *x, char id[NACRE_CA_DEVICE_ID_CHARS + 1])
{
    uint32_t flags = X509_get_extension_flags(x);
    if ((flags & EXFLAG_INVALID) != 0 || is_ca(x)) {
        return NACRE_CA_ERR_PROFILE;
    }
    if ((flags & EXFLAG_KUSAGE) == 0 || (X509_get_key_usage(x) & KU_DIGITAL_SIGNATURE) == 0) {
        return NACRE_CA_ERR_PROFILE;
    }
    uint32_t xku = X509_get_extended_key_usage(x);
    if ((flags & EXFLAG_XKUSAGE) == 0 || (xku & XKU_SSL_CLIENT) == 0 ||
        (xku & XKU_SSL_SERVER) == 0) {
        return NACRE_CA_ERR_PROFILE;
    }
    char cn[65];
    char o[65];
    char ca_o[65];
    name_entry(X509_get_subject_name(x), NID_commonName, cn, sizeof cn);
    name_entry(X509_get_subject_name(x), NID_organizationName, o, sizeof o);
    name_entry(X509_get_subject_name(ca), NID_organizationName, ca_o, sizeof ca_o);
    if (!device_id_ok(cn) || o[0] == '\0' || strcmp(o, ca_o) != 0 || san_matches(x, cn) != 0) {
        return NACRE_CA_ERR_PROFILE;
    }
    memcpy(id, cn, NACRE_CA_DEVICE_ID_CHARS + 1);
    return NACRE_CA_OK;
}

nacre_ca_status nacre_ca_check(const uint8_t *ca_cert, size_t ca_cert_len, const uint8_t *cert,
                               size_t cert_len, uint64_t now, uint8_t pk[NACRE_CA_PUBLICKEY_BYTES],
                               char device_id[NACRE_CA_DEVICE_ID_CHARS + 1])
{
    if (device_id != NULL) {
        device_id[0] = '\0';
    }
    if (pk == NULL) {
        return NACRE_CA_ERR_ARGUMENT;
    }
    memset(pk, 0, NACRE_CA_PUBLICKEY_BYTES);
    if (ca_cert == NULL || cert == NULL || now > TIME_MAX_SECONDS) {
        return NACRE_CA_ERR_ARGUMENT;
    }
    X509 *ca = NULL;
    X509 *x = NULL;
    char id[NACRE_CA_DEVICE_ID_CHARS + 1];
    ERR_set_mark();
    nacre_ca_status st = parse_cert(ca_cert, ca_cert_len, &ca);
    if (st == NACRE_CA_OK && !is_ca(ca)) {
        st = NACRE_CA_ERR_NOT_A_CA;
    }
    if (st == NACRE_CA_OK) {
        st = parse_cert(cert, cert_len, &x);
    }
    if (st == NACRE_CA_OK) {
        st = verify_chain(ca, x, now);
    }
    if (st == NACRE_CA_OK && raw_ed25519(x, pk) != 0) {
        st = NACRE_CA_ERR_KEY_TYPE;
    }
    if (st == NACRE_CA_OK) {
        st = check_profile(ca, x, id);
    }
    X509_free(x);
    X509_free(ca);
    ERR_pop_to_mark();
    if (st != NACRE_CA_OK) {
        memset(pk, 0, NACRE_CA_PUBLICKEY_BYTES);
        return st;
    }
    if (device_id != NULL) {
        memcpy(device_id, id, sizeof id);
    }
    return NACRE_CA_OK;
}

const char *nacre_ca_strerror(nacre_ca_status status)
{
    switch (status) {
    case NACRE_CA_OK:
        return "success";
    case NACRE_CA_ERR_ARGUMENT:
        return "invalid argument";
    case NACRE_CA_ERR_NOT_FOUND:
        return "no such file or directory";
    case NACRE_CA_ERR_PERMISSION:
        return "permission denied";
    case NACRE_CA_ERR_IO:
        return "I/O error";
    case NACRE_CA_ERR_EXISTS:
        return "a CA already exists there";
    case NACRE_CA_ERR_CA_KEY:
        return "CA key unusable or not the key of the CA certificate";
    case NACRE_CA_ERR_MALFORMED:
        return "not a well-formed X.509 certificate";
    case NACRE_CA_ERR_WRONG_CA:
        return "not issued by this CA (another tenant?)";
    case NACRE_CA_ERR_EXPIRED:
        return "certificate expired";
    case NACRE_CA_ERR_NOT_YET_VALID:
        return "certificate not yet valid";
    case NACRE_CA_ERR_KEY_TYPE:
        return "the certified key is not Ed25519";
    case NACRE_CA_ERR_PROFILE:
        return "not a Nacre device certificate";
    case NACRE_CA_ERR_NOT_A_CA:
        return "not a CA certificate";
    case NACRE_CA_ERR_TOO_LARGE:
        return "certificate too large";
    case NACRE_CA_ERR_CRYPTO:
        return "cryptographic library failure";
    case NACRE_CA_ERR_NO_MEMORY:
        return "out of memory";
    }
    return "unknown error";
}
