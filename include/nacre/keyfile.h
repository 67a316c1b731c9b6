/*
 * nacre/keyfile.h - Ed25519 keys in PEM files (host only, OpenSSL-backed).
 *
 * Private keys are PKCS#8 ("-----BEGIN PRIVATE KEY-----"), public keys are
 * SubjectPublicKeyInfo ("-----BEGIN PUBLIC KEY-----"): the formats that
 * `openssl genpkey -algorithm ed25519` and `openssl pkey -pubout` produce and
 * that `openssl pkey` reads. Encrypted private keys are not supported.
 *
 * In memory a private key is its 32-byte Ed25519 seed (RFC 8032), the same
 * value libsodium's crypto_sign_seed_keypair() and
 * nacre_pluton_key_import_ed25519() take; a public key is the 32-byte raw key.
 *
 * Every function wipes the secret material it handled (file contents, DER,
 * intermediate buffers) before returning, on success and on error. The caller
 * owns the seed buffers it passes and should wipe them (sodium_memzero).
 *
 * Return values: every function returns nacre_keyfile_status; NACRE_KEYFILE_OK
 * (0) is success. On error, outputs are zeroed.
 *
 * THREAD SAFETY: the functions keep no state and may be called from any thread.
 */
#ifndef NACRE_KEYFILE_H
#define NACRE_KEYFILE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/** Status codes. Values are pinned; retired codes are never reused. */
typedef enum nacre_keyfile_status {
    NACRE_KEYFILE_OK = 0,                /**< success */
    NACRE_KEYFILE_ERR_ARGUMENT = 1,      /**< NULL pointer or bad flag */
    NACRE_KEYFILE_ERR_NOT_FOUND = 2,     /**< the file does not exist */
    NACRE_KEYFILE_ERR_PERMISSION = 3,    /**< the file or its directory is not accessible */
    NACRE_KEYFILE_ERR_IO = 4,            /**< any other read / write / rename failure */
    NACRE_KEYFILE_ERR_NOT_PEM = 5,       /**< no PEM block in the input */
    NACRE_KEYFILE_ERR_MALFORMED = 6,     /**< PEM or DER damaged */
    NACRE_KEYFILE_ERR_NOT_ED25519 = 7,   /**< a key, but RSA, EC, X25519, ... */
    NACRE_KEYFILE_ERR_ENCRYPTED = 8,     /**< password-protected private key */
    NACRE_KEYFILE_ERR_NOT_PRIVATE = 9,   /**< a public key where a private key is needed */
    NACRE_KEYFILE_ERR_EXISTS = 10,       /**< refusing to overwrite without NACRE_KEYFILE_FORCE */
    NACRE_KEYFILE_ERR_TOO_LARGE = 11,    /**< input larger than NACRE_KEYFILE_MAX_BYTES */
    NACRE_KEYFILE_ERR_UNSUPPORTED = 12,  /**< PEM of another kind (certificate, OpenSSH key, ...) */
    NACRE_KEYFILE_ERR_CRYPTO = 13,       /**< OpenSSL or libsodium failed */
    NACRE_KEYFILE_ERR_NO_MEMORY = 14,    /**< allocation failed */
} nacre_keyfile_status;

#define NACRE_KEYFILE_SEED_BYTES 32u      /**< Ed25519 seed (the private key) */
#define NACRE_KEYFILE_PUBLICKEY_BYTES 32u /**< raw Ed25519 public key */
#define NACRE_KEYFILE_HASH_BYTES 32u      /**< BLAKE2b-256 root-key hash */
/** Key files larger than this are refused (NACRE_KEYFILE_ERR_TOO_LARGE). */
#define NACRE_KEYFILE_MAX_BYTES (64u * 1024u)

/** Flag for the write functions: replace an existing file. */
#define NACRE_KEYFILE_FORCE 1u

/* ---- keys in memory --------------------------------------------------- */

/** \brief New random key pair (libsodium's CSPRNG). */
nacre_keyfile_status nacre_keyfile_keypair(uint8_t pk[NACRE_KEYFILE_PUBLICKEY_BYTES],
                                           uint8_t seed[NACRE_KEYFILE_SEED_BYTES]);

/** \brief The public key of a seed. */
nacre_keyfile_status nacre_keyfile_seed_to_public(uint8_t pk[NACRE_KEYFILE_PUBLICKEY_BYTES],
                                                  const uint8_t seed[NACRE_KEYFILE_SEED_BYTES]);

/**
 * \brief Root-key hash as programmed in OTP: BLAKE2b-256 (unkeyed) of the
 * 32-byte raw public key.
 */
nacre_keyfile_status nacre_keyfile_root_key_hash(const uint8_t pk[NACRE_KEYFILE_PUBLICKEY_BYTES],
                                                 uint8_t out[NACRE_KEYFILE_HASH_BYTES]);

/* ---- PEM text in memory ----------------------------------------------- */

/**
 * \brief Parse a PKCS#8 Ed25519 private key in PEM.
 * Leading text and "... PARAMETERS" blocks are skipped; the first key block
 * decides. \retval NACRE_KEYFILE_ERR_NOT_PRIVATE  it is a public key
 */
nacre_keyfile_status nacre_keyfile_parse_private(const char *pem, size_t pem_len,
                                                 uint8_t seed[NACRE_KEYFILE_SEED_BYTES]);

/**
 * \brief Parse an Ed25519 public key in PEM: an SPKI public key, or a PKCS#8
 * private key whose public half is derived.
 */
nacre_keyfile_status nacre_keyfile_parse_public(const char *pem, size_t pem_len,
                                                uint8_t pk[NACRE_KEYFILE_PUBLICKEY_BYTES]);

/* ---- files ------------------------------------------------------------- */

/** \brief Read a PKCS#8 Ed25519 private key file (see nacre_keyfile_parse_private). */
nacre_keyfile_status nacre_keyfile_read_private(const char *path,
                                                uint8_t seed[NACRE_KEYFILE_SEED_BYTES]);

/** \brief Read a public key file, SPKI or private (see nacre_keyfile_parse_public). */
nacre_keyfile_status nacre_keyfile_read_public(const char *path,
                                               uint8_t pk[NACRE_KEYFILE_PUBLICKEY_BYTES]);

/**
 * \brief Write a private key as PKCS#8 PEM, mode 0600.
 * The key is written to a temporary file in the same directory, synced, then
 * moved into place, so path holds either nothing / its old content or the
 * complete new key.
 * \param flags 0, or NACRE_KEYFILE_FORCE to replace an existing file.
 * \retval NACRE_KEYFILE_ERR_EXISTS  path exists and flags lacks NACRE_KEYFILE_FORCE
 */
nacre_keyfile_status nacre_keyfile_write_private(const char *path,
                                                 const uint8_t seed[NACRE_KEYFILE_SEED_BYTES],
                                                 unsigned flags);

/** \brief Write a public key as SPKI PEM, mode 0644; otherwise as write_private. */
nacre_keyfile_status nacre_keyfile_write_public(const char *path,
                                                const uint8_t pk[NACRE_KEYFILE_PUBLICKEY_BYTES],
                                                unsigned flags);

/** \brief One-line description of a status, e.g. "not an Ed25519 key". Never NULL. */
const char *nacre_keyfile_strerror(nacre_keyfile_status status);

#ifdef __cplusplus
}
#endif

#endif /* NACRE_KEYFILE_H */
