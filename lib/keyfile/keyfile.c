/*
 * keyfile.c - Ed25519 keys in PEM files (PKCS#8 private, SPKI public).
 *
 * OpenSSL does the ASN.1 and PEM work; libsodium derives public keys and the
 * root-key hash. Secret material only ever lives in buffers this file wipes
 * (OPENSSL_cleanse / sodium_memzero) or in OpenSSL objects whose free
 * functions wipe them (EVP_PKEY, PKCS8_PRIV_KEY_INFO, secure-flag PEM buffers).
 */
#include <nacre/keyfile.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <sodium.h>

/* PKCS#8 of an Ed25519 key is 48 bytes and its SPKI 44; leave room. */
#define DER_MAX 128u
/* Base64 of DER_MAX, with a newline every 64 characters, plus the armour. */
#define PEM_MAX 512u
#define PEM_LINE 64u

static const char PEM_PRIVATE[] = "PRIVATE KEY";
static const char PEM_PUBLIC[] = "PUBLIC KEY";

static nacre_keyfile_status sodium_ready(void)
{
    return sodium_init() < 0 ? NACRE_KEYFILE_ERR_CRYPTO : NACRE_KEYFILE_OK;
}

static nacre_keyfile_status status_from_errno(int err)
{
    switch (err) {
    case ENOENT:
    case ENOTDIR:
        return NACRE_KEYFILE_ERR_NOT_FOUND;
    case EACCES:
    case EPERM:
        return NACRE_KEYFILE_ERR_PERMISSION;
    case ENOMEM:
        return NACRE_KEYFILE_ERR_NO_MEMORY;
    default:
        return NACRE_KEYFILE_ERR_IO;
    }
}

/* ---- keys in memory --------------------------------------------------- */

nacre_keyfile_status nacre_keyfile_seed_to_public(uint8_t pk[NACRE_KEYFILE_PUBLICKEY_BYTES],
                                                  const uint8_t seed[NACRE_KEYFILE_SEED_BYTES])
{
    if (pk == NULL) {
        return NACRE_KEYFILE_ERR_ARGUMENT;
    }
    if (seed == NULL) {
        sodium_memzero(pk, NACRE_KEYFILE_PUBLICKEY_BYTES);
        return NACRE_KEYFILE_ERR_ARGUMENT;
    }
    nacre_keyfile_status st = sodium_ready();
    if (st != NACRE_KEYFILE_OK) {
        sodium_memzero(pk, NACRE_KEYFILE_PUBLICKEY_BYTES);
        return st;
    }
    unsigned char sk[crypto_sign_SECRETKEYBYTES];
    int rc = crypto_sign_seed_keypair(pk, sk, seed);
    sodium_memzero(sk, sizeof sk);
    if (rc != 0) {
        sodium_memzero(pk, NACRE_KEYFILE_PUBLICKEY_BYTES);
        return NACRE_KEYFILE_ERR_CRYPTO;
    }
    return NACRE_KEYFILE_OK;
}

nacre_keyfile_status nacre_keyfile_keypair(uint8_t pk[NACRE_KEYFILE_PUBLICKEY_BYTES],
                                           uint8_t seed[NACRE_KEYFILE_SEED_BYTES])
{
    if (pk == NULL || seed == NULL) {
        return NACRE_KEYFILE_ERR_ARGUMENT;
    }
    nacre_keyfile_status st = sodium_ready();
    if (st != NACRE_KEYFILE_OK) {
        sodium_memzero(pk, NACRE_KEYFILE_PUBLICKEY_BYTES);
        sodium_memzero(seed, NACRE_KEYFILE_SEED_BYTES);
        return st;
    }
    randombytes_buf(seed, NACRE_KEYFILE_SEED_BYTES);
    st = nacre_keyfile_seed_to_public(pk, seed);
    if (st != NACRE_KEYFILE_OK) {
        sodium_memzero(seed, NACRE_KEYFILE_SEED_BYTES);
    }
    return st;
}

nacre_keyfile_status nacre_keyfile_root_key_hash(const uint8_t pk[NACRE_KEYFILE_PUBLICKEY_BYTES],
                                                 uint8_t out[NACRE_KEYFILE_HASH_BYTES])
{
    if (out == NULL) {
        return NACRE_KEYFILE_ERR_ARGUMENT;
    }
    if (pk == NULL) {
        sodium_memzero(out, NACRE_KEYFILE_HASH_BYTES);
        return NACRE_KEYFILE_ERR_ARGUMENT;
    }
    nacre_keyfile_status st = sodium_ready();
    if (st == NACRE_KEYFILE_OK &&
        crypto_generichash(out, NACRE_KEYFILE_HASH_BYTES, pk, NACRE_KEYFILE_PUBLICKEY_BYTES,
                           NULL, 0) != 0) {
        st = NACRE_KEYFILE_ERR_CRYPTO;
    }
    if (st != NACRE_KEYFILE_OK) {
        sodium_memzero(out, NACRE_KEYFILE_HASH_BYTES);
    }
    return st;
}

/* ---- PEM parsing ------------------------------------------------------- */

enum want { WANT_PRIVATE, WANT_PUBLIC };

/* What a PEM label tells us before any decoding. */
enum pem_kind {
    KIND_PKCS8,       /* "PRIVATE KEY" */
    KIND_SPKI,        /* "PUBLIC KEY" */
    KIND_ENCRYPTED,   /* "ENCRYPTED PRIVATE KEY" */
    KIND_OTHER_KEY,   /* "RSA PRIVATE KEY", "EC PRIVATE KEY", ... */
    KIND_PARAMETERS,  /* "EC PARAMETERS", ...: skipped */
    KIND_UNKNOWN,     /* certificates, OpenSSH keys, ...: skipped */
};

static int ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s);
    size_t m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

static enum pem_kind classify(const char *name)
{
    static const char *const other_keys[] = {
        "RSA PRIVATE KEY", "EC PRIVATE KEY", "DSA PRIVATE KEY",
        "RSA PUBLIC KEY",  "DSA PUBLIC KEY", "DH PRIVATE KEY",
    };
    if (strcmp(name, PEM_PRIVATE) == 0) {
        return KIND_PKCS8;
    }
    if (strcmp(name, PEM_PUBLIC) == 0) {
        return KIND_SPKI;
    }
    if (strcmp(name, "ENCRYPTED PRIVATE KEY") == 0) {
        return KIND_ENCRYPTED;
    }
    for (size_t i = 0; i < sizeof other_keys / sizeof other_keys[0]; i++) {
        if (strcmp(name, other_keys[i]) == 0) {
            return KIND_OTHER_KEY;
        }
    }
    if (ends_with(name, " PARAMETERS")) {
        return KIND_PARAMETERS;
    }
    return KIND_UNKNOWN;
}

static void pem_block_free(char *name, char *header, unsigned char *data, long len)
{
    if (name != NULL) {
        OPENSSL_secure_clear_free(name, strlen(name));
    }
    if (header != NULL) {
        OPENSSL_secure_clear_free(header, strlen(header));
    }
    if (data != NULL) {
        OPENSSL_secure_clear_free(data, len > 0 ? (size_t)len : 0);
    }
}

/* PKCS#8 DER -> 32-byte seed. */
static nacre_keyfile_status decode_pkcs8(const unsigned char *der, long len,
                                         uint8_t seed[NACRE_KEYFILE_SEED_BYTES])
{
    const unsigned char *p = der;
    PKCS8_PRIV_KEY_INFO *p8 = d2i_PKCS8_PRIV_KEY_INFO(NULL, &p, len);
    if (p8 == NULL) {
        return NACRE_KEYFILE_ERR_MALFORMED;
    }
    nacre_keyfile_status st = NACRE_KEYFILE_OK;
    EVP_PKEY *pkey = NULL;
    const ASN1_OBJECT *alg = NULL;
    if (p != der + len) {
        st = NACRE_KEYFILE_ERR_MALFORMED; /* trailing bytes after the key */
    } else if (PKCS8_pkey_get0(&alg, NULL, NULL, NULL, p8) != 1 || alg == NULL) {
        st = NACRE_KEYFILE_ERR_MALFORMED;
    } else if (OBJ_obj2nid(alg) != NID_ED25519) {
        st = NACRE_KEYFILE_ERR_NOT_ED25519;
    } else if ((pkey = EVP_PKCS82PKEY(p8)) == NULL) {
        st = NACRE_KEYFILE_ERR_MALFORMED;
    } else {
        size_t n = NACRE_KEYFILE_SEED_BYTES;
        if (EVP_PKEY_get_raw_private_key(pkey, seed, &n) != 1 || n != NACRE_KEYFILE_SEED_BYTES) {
            st = NACRE_KEYFILE_ERR_MALFORMED;
        }
    }
    EVP_PKEY_free(pkey);
    PKCS8_PRIV_KEY_INFO_free(p8);
    return st;
}

/* SPKI DER -> 32-byte raw public key. */
static nacre_keyfile_status decode_spki(const unsigned char *der, long len,
                                        uint8_t pk[NACRE_KEYFILE_PUBLICKEY_BYTES])
{
    const unsigned char *p = der;
    X509_PUBKEY *xpk = d2i_X509_PUBKEY(NULL, &p, len);
    if (xpk == NULL) {
        return NACRE_KEYFILE_ERR_MALFORMED;
    }
    nacre_keyfile_status st = NACRE_KEYFILE_OK;
    ASN1_OBJECT *alg = NULL;
    EVP_PKEY *pkey = NULL;
    if (p != der + len) {
        st = NACRE_KEYFILE_ERR_MALFORMED;
    } else if (X509_PUBKEY_get0_param(&alg, NULL, NULL, NULL, xpk) != 1 || alg == NULL) {
        st = NACRE_KEYFILE_ERR_MALFORMED;
    } else if (OBJ_obj2nid(alg) != NID_ED25519) {
        st = NACRE_KEYFILE_ERR_NOT_ED25519;
    } else if ((pkey = X509_PUBKEY_get0(xpk)) == NULL) {
        st = NACRE_KEYFILE_ERR_MALFORMED;
    } else {
        size_t n = NACRE_KEYFILE_PUBLICKEY_BYTES;
        if (EVP_PKEY_get_raw_public_key(pkey, pk, &n) != 1 ||
            n != NACRE_KEYFILE_PUBLICKEY_BYTES) {
            st = NACRE_KEYFILE_ERR_MALFORMED;
        }
    }
    /* pkey is owned by xpk (get0). */
    X509_PUBKEY_free(xpk);
    return st;
}

static nacre_keyfile_status parse_pem(const char *pem, size_t pem_len, enum want want,
                                      uint8_t out[32])
{
    if (pem_len > NACRE_KEYFILE_MAX_BYTES) {
        return NACRE_KEYFILE_ERR_TOO_LARGE;
    }
    nacre_keyfile_status st = NACRE_KEYFILE_ERR_NOT_PEM;
    uint8_t seed[NACRE_KEYFILE_SEED_BYTES];
    /* Keep whatever we push on OpenSSL's error queue private to this call. */
    ERR_set_mark();
    BIO *bio = BIO_new_mem_buf(pem, (int)pem_len);
    if (bio == NULL) {
        ERR_pop_to_mark();
        return NACRE_KEYFILE_ERR_NO_MEMORY;
    }
    int blocks = 0;
    for (;;) {
        char *name = NULL;
        char *header = NULL;
        unsigned char *data = NULL;
        long len = 0;
        if (PEM_read_bio_ex(bio, &name, &header, &data, &len,
                            PEM_FLAG_SECURE | PEM_FLAG_EAY_COMPATIBLE) != 1) {
            unsigned long e = ERR_peek_last_error();
            if (ERR_GET_LIB(e) == ERR_LIB_PEM && ERR_GET_REASON(e) == PEM_R_NO_START_LINE) {
                /* End of input: nothing usable was found. */
                st = blocks == 0 ? NACRE_KEYFILE_ERR_NOT_PEM : NACRE_KEYFILE_ERR_UNSUPPORTED;
            } else {
                st = NACRE_KEYFILE_ERR_MALFORMED;
            }
            pem_block_free(name, header, data, len);
            break;
        }
        blocks++;
        enum pem_kind kind = classify(name);
        int header_encrypted = header != NULL && strstr(header, "ENCRYPTED") != NULL;
        int done = 1;
        switch (kind) {
        case KIND_PKCS8:
            if (header_encrypted) {
                st = NACRE_KEYFILE_ERR_ENCRYPTED;
            } else if (want == WANT_PRIVATE) {
                st = decode_pkcs8(data, len, out);
            } else {
                st = decode_pkcs8(data, len, seed);
                if (st == NACRE_KEYFILE_OK) {
                    st = nacre_keyfile_seed_to_public(out, seed);
                }
            }
            break;
        case KIND_SPKI:
            st = decode_spki(data, len, out);
            if (st == NACRE_KEYFILE_OK && want == WANT_PRIVATE) {
                st = NACRE_KEYFILE_ERR_NOT_PRIVATE; /* an Ed25519 key, but the public half */
            }
            break;
        case KIND_ENCRYPTED:
            st = NACRE_KEYFILE_ERR_ENCRYPTED;
            break;
        case KIND_OTHER_KEY:
            st = NACRE_KEYFILE_ERR_NOT_ED25519;
            break;
        case KIND_PARAMETERS:
        case KIND_UNKNOWN:
            done = 0;
            break;
        }
        pem_block_free(name, header, data, len);
        if (done) {
            break;
        }
    }
    BIO_free(bio);
    ERR_pop_to_mark();
    sodium_memzero(seed, sizeof seed);
    if (st != NACRE_KEYFILE_OK) {
        sodium_memzero(out, 32);
    }
    return st;
}

nacre_keyfile_status nacre_keyfile_parse_private(const char *pem, size_t pem_len,
                                                 uint8_t seed[NACRE_KEYFILE_SEED_BYTES])
{
    if (seed == NULL) {
        return NACRE_KEYFILE_ERR_ARGUMENT;
    }
    if (pem == NULL) {
        sodium_memzero(seed, NACRE_KEYFILE_SEED_BYTES);
        return NACRE_KEYFILE_ERR_ARGUMENT;
    }
    return parse_pem(pem, pem_len, WANT_PRIVATE, seed);
}

nacre_keyfile_status nacre_keyfile_parse_public(const char *pem, size_t pem_len,
                                                uint8_t pk[NACRE_KEYFILE_PUBLICKEY_BYTES])
{
    if (pk == NULL) {
        return NACRE_KEYFILE_ERR_ARGUMENT;
    }
    if (pem == NULL) {
        sodium_memzero(pk, NACRE_KEYFILE_PUBLICKEY_BYTES);
        return NACRE_KEYFILE_ERR_ARGUMENT;
    }
    return parse_pem(pem, pem_len, WANT_PUBLIC, pk);
}

/* ---- reading files ------------------------------------------------------ */

/*
 * Read at most NACRE_KEYFILE_MAX_BYTES of path into a malloc'd buffer of
 * NACRE_KEYFILE_MAX_BYTES + 1 bytes. The caller wipes and frees it.
 */
static nacre_keyfile_status read_whole(const char *path, char **out, size_t *out_len)
{
    *out = NULL;
    *out_len = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0) {
        return status_from_errno(errno);
    }
    struct stat sb;
    if (fstat(fd, &sb) != 0) {
        int err = errno;
        close(fd);
        return status_from_errno(err);
    }
    if (!S_ISREG(sb.st_mode)) {
        close(fd);
        return NACRE_KEYFILE_ERR_IO;
    }
    if (sb.st_size > (off_t)NACRE_KEYFILE_MAX_BYTES) {
        close(fd);
        return NACRE_KEYFILE_ERR_TOO_LARGE;
    }
    size_t cap = NACRE_KEYFILE_MAX_BYTES + 1u;
    char *buf = malloc(cap);
    if (buf == NULL) {
        close(fd);
        return NACRE_KEYFILE_ERR_NO_MEMORY;
    }
    size_t len = 0;
    nacre_keyfile_status st = NACRE_KEYFILE_OK;
    for (;;) {
        if (len == cap) {
            st = NACRE_KEYFILE_ERR_TOO_LARGE; /* the file grew while we read it */
            break;
        }
        ssize_t n = read(fd, buf + len, cap - len);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            st = status_from_errno(errno);
            break;
        }
        if (n == 0) {
            break;
        }
        len += (size_t)n;
    }
    close(fd);
    if (st == NACRE_KEYFILE_OK && len > NACRE_KEYFILE_MAX_BYTES) {
        st = NACRE_KEYFILE_ERR_TOO_LARGE;
    }
    if (st != NACRE_KEYFILE_OK) {
        OPENSSL_cleanse(buf, cap);
        free(buf);
        return st;
    }
    *out = buf;
    *out_len = len;
    return NACRE_KEYFILE_OK;
}

static nacre_keyfile_status read_key(const char *path, enum want want, uint8_t out[32])
{
    if (out == NULL) {
        return NACRE_KEYFILE_ERR_ARGUMENT;
    }
    sodium_memzero(out, 32);
    if (path == NULL) {
        return NACRE_KEYFILE_ERR_ARGUMENT;
    }
    char *buf = NULL;
    size_t len = 0;
    nacre_keyfile_status st = read_whole(path, &buf, &len);
    if (st != NACRE_KEYFILE_OK) {
        return st;
    }
    st = parse_pem(buf, len, want, out);
    OPENSSL_cleanse(buf, NACRE_KEYFILE_MAX_BYTES + 1u);
    free(buf);
    return st;
}

nacre_keyfile_status nacre_keyfile_read_private(const char *path,
                                                uint8_t seed[NACRE_KEYFILE_SEED_BYTES])
{
    return read_key(path, WANT_PRIVATE, seed);
}

nacre_keyfile_status nacre_keyfile_read_public(const char *path,
                                               uint8_t pk[NACRE_KEYFILE_PUBLICKEY_BYTES])
{
    return read_key(path, WANT_PUBLIC, pk);
}

/* ---- writing files ------------------------------------------------------ */

/* Armour der as PEM into out (NUL-terminated); returns the length or 0. */
static size_t pem_armour(char out[PEM_MAX], const char *label, const unsigned char *der,
                         size_t der_len)
{
    unsigned char b64[(DER_MAX + 2u) / 3u * 4u + 1u];
    if (der_len > DER_MAX) {
        return 0;
    }
    int b64_len = EVP_EncodeBlock(b64, der, (int)der_len);
    if (b64_len <= 0) {
        return 0;
    }
    size_t pos = 0;
    int n = snprintf(out, PEM_MAX, "-----BEGIN %s-----\n", label);
    if (n < 0 || (size_t)n >= PEM_MAX) {
        OPENSSL_cleanse(b64, sizeof b64);
        return 0;
    }
    pos = (size_t)n;
    for (size_t i = 0; i < (size_t)b64_len; i += PEM_LINE) {
        size_t chunk = (size_t)b64_len - i < PEM_LINE ? (size_t)b64_len - i : PEM_LINE;
        if (pos + chunk + 1u >= PEM_MAX) {
            OPENSSL_cleanse(b64, sizeof b64);
            OPENSSL_cleanse(out, PEM_MAX);
            return 0;
        }
        memcpy(out + pos, b64 + i, chunk);
        pos += chunk;
        out[pos++] = '\n';
    }
    OPENSSL_cleanse(b64, sizeof b64);
    n = snprintf(out + pos, PEM_MAX - pos, "-----END %s-----\n", label);
    if (n < 0 || (size_t)n >= PEM_MAX - pos) {
        OPENSSL_cleanse(out, PEM_MAX);
        return 0;
    }
    return pos + (size_t)n;
}

static void sync_parent_dir(const char *path)
{
    const char *slash = strrchr(path, '/');
    char *dir = NULL;
    if (slash == NULL) {
        dir = strdup(".");
    } else if (slash == path) {
        dir = strdup("/");
    } else {
        dir = strndup(path, (size_t)(slash - path));
    }
    if (dir == NULL) {
        return;
    }
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        (void)fsync(fd); /* best effort: the data itself is already synced */
        close(fd);
    }
    free(dir);
}

static nacre_keyfile_status write_all(int fd, const char *data, size_t len)
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
    return NACRE_KEYFILE_OK;
}

/*
 * Write data to path through a temporary file in the same directory.
 * Without NACRE_KEYFILE_FORCE the final step is link(2), which fails if path
 * exists, so an existing file is never replaced even by a racing writer.
 */
static nacre_keyfile_status write_atomic(const char *path, const char *data, size_t len,
                                         mode_t mode, unsigned flags)
{
    struct stat sb;
    int force = (flags & NACRE_KEYFILE_FORCE) != 0;
    if (!force) {
        if (lstat(path, &sb) == 0) {
            return NACRE_KEYFILE_ERR_EXISTS;
        }
        if (errno != ENOENT) {
            return status_from_errno(errno);
        }
    }
    static const char suffix[] = ".tmp-XXXXXX";
    size_t plen = strlen(path);
    char *tmp = malloc(plen + sizeof suffix);
    if (tmp == NULL) {
        return NACRE_KEYFILE_ERR_NO_MEMORY;
    }
    memcpy(tmp, path, plen);
    memcpy(tmp + plen, suffix, sizeof suffix);
    int fd = mkstemp(tmp); /* created with mode 0600 */
    if (fd < 0) {
        nacre_keyfile_status st = status_from_errno(errno);
        free(tmp);
        return st;
    }
    nacre_keyfile_status st = NACRE_KEYFILE_OK;
    if (fchmod(fd, mode) != 0) {
        st = status_from_errno(errno);
    }
    if (st == NACRE_KEYFILE_OK) {
        st = write_all(fd, data, len);
    }
    if (st == NACRE_KEYFILE_OK && fsync(fd) != 0) {
        st = status_from_errno(errno);
    }
    if (close(fd) != 0 && st == NACRE_KEYFILE_OK) {
        st = status_from_errno(errno);
    }
    int tmp_exists = 1;
    if (st == NACRE_KEYFILE_OK) {
        if (force) {
            if (rename(tmp, path) != 0) {
                st = status_from_errno(errno);
            } else {
                tmp_exists = 0;
            }
        } else if (link(tmp, path) != 0) {
            int err = errno;
            if (err == EEXIST) {
                st = NACRE_KEYFILE_ERR_EXISTS;
            } else if (err == EPERM || err == ENOTSUP || err == EOPNOTSUPP || err == ENOSYS ||
                       err == EMLINK) {
                /* No hard links here: fall back to rename, checked above. */
                if (rename(tmp, path) != 0) {
                    st = status_from_errno(errno);
                } else {
                    tmp_exists = 0;
                }
            } else {
                st = status_from_errno(err);
            }
        }
    }
    if (tmp_exists) {
        (void)unlink(tmp); /* on error, or the spare name after link() */
    }
    free(tmp);
    if (st == NACRE_KEYFILE_OK) {
        sync_parent_dir(path);
    }
    return st;
}

nacre_keyfile_status nacre_keyfile_write_private(const char *path,
                                                 const uint8_t seed[NACRE_KEYFILE_SEED_BYTES],
                                                 unsigned flags)
{
    if (path == NULL || seed == NULL || (flags & ~NACRE_KEYFILE_FORCE) != 0) {
        return NACRE_KEYFILE_ERR_ARGUMENT;
    }
    unsigned char der[DER_MAX];
    char pem[PEM_MAX];
    size_t pem_len = 0;
    nacre_keyfile_status st = NACRE_KEYFILE_OK;

    ERR_set_mark();
    EVP_PKEY *pkey = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, seed,
                                                  NACRE_KEYFILE_SEED_BYTES);
    PKCS8_PRIV_KEY_INFO *p8 = pkey != NULL ? EVP_PKEY2PKCS8(pkey) : NULL;
    if (p8 == NULL) {
        st = NACRE_KEYFILE_ERR_CRYPTO;
    } else {
        int n = i2d_PKCS8_PRIV_KEY_INFO(p8, NULL);
        unsigned char *p = der;
        if (n <= 0 || (size_t)n > sizeof der || i2d_PKCS8_PRIV_KEY_INFO(p8, &p) != n) {
            st = NACRE_KEYFILE_ERR_CRYPTO;
        } else if ((pem_len = pem_armour(pem, PEM_PRIVATE, der, (size_t)n)) == 0) {
            st = NACRE_KEYFILE_ERR_CRYPTO;
        }
    }
    PKCS8_PRIV_KEY_INFO_free(p8);
    EVP_PKEY_free(pkey);
    ERR_pop_to_mark();
    OPENSSL_cleanse(der, sizeof der);

    if (st == NACRE_KEYFILE_OK) {
        st = write_atomic(path, pem, pem_len, 0600, flags);
    }
    OPENSSL_cleanse(pem, sizeof pem);
    return st;
}

nacre_keyfile_status nacre_keyfile_write_public(const char *path,
                                                const uint8_t pk[NACRE_KEYFILE_PUBLICKEY_BYTES],
                                                unsigned flags)
{
    if (path == NULL || pk == NULL || (flags & ~NACRE_KEYFILE_FORCE) != 0) {
        return NACRE_KEYFILE_ERR_ARGUMENT;
    }
    unsigned char der[DER_MAX];
    char pem[PEM_MAX];
    size_t pem_len = 0;
    nacre_keyfile_status st = NACRE_KEYFILE_OK;

    ERR_set_mark();
    EVP_PKEY *pkey = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, pk,
                                                 NACRE_KEYFILE_PUBLICKEY_BYTES);
    if (pkey == NULL) {
        st = NACRE_KEYFILE_ERR_CRYPTO;
    } else {
        int n = i2d_PUBKEY(pkey, NULL);
        unsigned char *p = der;
        if (n <= 0 || (size_t)n > sizeof der || i2d_PUBKEY(pkey, &p) != n) {
            st = NACRE_KEYFILE_ERR_CRYPTO;
        } else if ((pem_len = pem_armour(pem, PEM_PUBLIC, der, (size_t)n)) == 0) {
            st = NACRE_KEYFILE_ERR_CRYPTO;
        }
    }
    EVP_PKEY_free(pkey);
    ERR_pop_to_mark();

    if (st == NACRE_KEYFILE_OK) {
        st = write_atomic(path, pem, pem_len, 0644, flags);
    }
    return st;
}

const char *nacre_keyfile_strerror(nacre_keyfile_status status)
{
    switch (status) {
    case NACRE_KEYFILE_OK:
        return "success";
    case NACRE_KEYFILE_ERR_ARGUMENT:
        return "invalid argument";
    case NACRE_KEYFILE_ERR_NOT_FOUND:
        return "no such file or directory";
    case NACRE_KEYFILE_ERR_PERMISSION:
        return "permission denied";
    case NACRE_KEYFILE_ERR_IO:
        return "I/O error";
    case NACRE_KEYFILE_ERR_NOT_PEM:
        return "not a PEM file";
    case NACRE_KEYFILE_ERR_MALFORMED:
        return "malformed key";
    case NACRE_KEYFILE_ERR_NOT_ED25519:
        return "not an Ed25519 key";
    case NACRE_KEYFILE_ERR_ENCRYPTED:
        return "encrypted private keys are not supported";
    case NACRE_KEYFILE_ERR_NOT_PRIVATE:
        return "a public key, not a private key";
    case NACRE_KEYFILE_ERR_EXISTS:
        return "file already exists";
    case NACRE_KEYFILE_ERR_TOO_LARGE:
        return "file too large for a key";
    case NACRE_KEYFILE_ERR_UNSUPPORTED:
        return "no PRIVATE KEY or PUBLIC KEY block in the PEM file";
    case NACRE_KEYFILE_ERR_CRYPTO:
        return "cryptographic library failure";
    case NACRE_KEYFILE_ERR_NO_MEMORY:
        return "out of memory";
    }
    return "unknown error";
}
