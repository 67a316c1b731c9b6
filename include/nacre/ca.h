/*
 * nacre/ca.h - libnacre-ca: a tenant certificate authority (host only,
 * OpenSSL-backed).
 *
 * A tenant (the company that owns a fleet of devices) runs one CA. After a
 * device has proven with attestation evidence what it is and what it runs,
 * the CA issues a short-lived X.509 certificate for the device's ALIAS key
 * (the firmware-bound DICE key that signs the evidence): the key that
 * attests is the key whose certificate authenticates requests. Devices of
 * the same tenant then authenticate each other with these certificates
 * (libnacre-d2d), and a service trusts them with nothing but the CA
 * certificate. docs/certificates.md gives the profile field by field.
 *
 *   DIR/ca-key.pem    the CA's Ed25519 private key, PKCS#8 PEM, mode 0600
 *   DIR/ca-cert.pem   the CA's self-signed X.509 v3 certificate, PEM, 0644
 *
 * Certificates are RFC 5280 X.509 v3 with Ed25519 keys and signatures
 * (RFC 8410); `openssl verify -CAfile DIR/ca-cert.pem CERT.pem` accepts the
 * ones nacre_ca_issue() makes, and nacre_ca_check() verifies them with
 * OpenSSL's X509_verify_cert() at a time the caller gives.
 *
 * The device id, the subject's common name, is the lowercase hex of the
 * 32-byte DeviceID key id, BLAKE2b-256(DeviceID public key): the UEID of the
 * attestation token without its 0x01 type byte (a 66-character UEID would
 * not fit X.520's 64-character commonName).
 *
 * Times are seconds since the Unix epoch (uint64_t). Secrets (the CA key)
 * are read with libnacre-keyfile, loaded into OpenSSL only to sign, and
 * wiped before every function returns.
 *
 * Return values: every function returns nacre_ca_status; NACRE_CA_OK (0) is
 * success, as in libnacre-keyfile (a host tool library, not device code).
 *
 * THREAD SAFETY: the functions keep no state and may be called from any
 * thread (two nacre_ca_init() on one DIR race: one of them gets ERR_EXISTS).
 */
#ifndef NACRE_CA_H
#define NACRE_CA_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/** Status codes. Values are pinned; retired codes are never reused. */
typedef enum nacre_ca_status {
    NACRE_CA_OK = 0,                 /**< success */
    NACRE_CA_ERR_ARGUMENT = 1,       /**< NULL pointer, bad tenant name or device id */
    NACRE_CA_ERR_NOT_FOUND = 2,      /**< a file or the CA directory does not exist */
    NACRE_CA_ERR_PERMISSION = 3,     /**< a file or directory is not accessible */
    NACRE_CA_ERR_IO = 4,             /**< any other read / write failure */
    NACRE_CA_ERR_EXISTS = 5,         /**< nacre_ca_init: DIR already holds a CA */
    NACRE_CA_ERR_CA_KEY = 6,         /**< ca-key.pem unreadable, or not the key of ca-cert.pem */
    NACRE_CA_ERR_MALFORMED = 7,      /**< not a well-formed X.509 certificate (PEM or DER) */
    NACRE_CA_ERR_WRONG_CA = 8,       /**< not issued by this CA (another tenant, bad signature) */
    NACRE_CA_ERR_EXPIRED = 9,        /**< certificate (or the CA) expired at `now` */
    NACRE_CA_ERR_NOT_YET_VALID = 10, /**< certificate (or the CA) not yet valid at `now` */
    NACRE_CA_ERR_KEY_TYPE = 11,      /**< the certified key is not Ed25519 */
    NACRE_CA_ERR_PROFILE = 12,       /**< valid X.509, but not a Nacre device certificate
                                          (a CA, no clientAuth/serverAuth, no device id, ...) */
    NACRE_CA_ERR_NOT_A_CA = 13,      /**< the trust anchor given is not a CA certificate */
    NACRE_CA_ERR_TOO_LARGE = 14,     /**< input larger than NACRE_CA_CERT_MAX / buffer too small */
    NACRE_CA_ERR_CRYPTO = 15,        /**< OpenSSL or libsodium failed */
    NACRE_CA_ERR_NO_MEMORY = 16,     /**< allocation failed */
} nacre_ca_status;

/** Largest certificate (PEM or DER) accepted anywhere; real ones are < 1 KiB. */
#define NACRE_CA_CERT_MAX 4096u
/** Buffer size that always holds an issued certificate in PEM. */
#define NACRE_CA_PEM_MAX NACRE_CA_CERT_MAX
/** Device id: lowercase hex of the 32-byte DeviceID key id. */
#define NACRE_CA_DEVICE_ID_CHARS 64u
/** Tenant names: 1..NACRE_CA_TENANT_MAX of [A-Za-z0-9 ._-], not starting with a space. */
#define NACRE_CA_TENANT_MAX 40u
#define NACRE_CA_PUBLICKEY_BYTES 32u

/** Lifetime of a device certificate: 24 hours after `now`. */
#define NACRE_CA_DEVICE_CERT_SECONDS (24u * 60u * 60u)
/** notBefore of a device certificate lies this far before `now` (clock skew). */
#define NACRE_CA_CLOCK_SKEW_SECONDS 60u
/** Lifetime of the CA certificate: 10 years (3652 days). */
#define NACRE_CA_ROOT_CERT_SECONDS (3652u * 24u * 60u * 60u)

/**
 * \brief Create a tenant CA in dir (created, mode 0700, if missing): a fresh
 * Ed25519 key in dir/ca-key.pem and a self-signed certificate in
 * dir/ca-cert.pem — subject O=<tenant>, CN=<tenant> Nacre tenant CA;
 * basicConstraints CA:TRUE (critical), keyUsage keyCertSign|cRLSign
 * (critical), subject and authority key identifiers; valid from now - 60 s
 * for NACRE_CA_ROOT_CERT_SECONDS; random positive 128-bit serial.
 * \param now  seconds since the epoch
 * \retval NACRE_CA_ERR_EXISTS  ca-key.pem or ca-cert.pem already exists (nothing is touched)
 */
nacre_ca_status nacre_ca_init(const char *dir, const char *tenant, uint64_t now);

/**
 * \brief Issue a device certificate for device_pk (a 32-byte Ed25519 Alias
 * public key) with the CA in ca_dir: subject O=<tenant>, CN=<device_id>;
 * valid from now - NACRE_CA_CLOCK_SKEW_SECONDS to now +
 * NACRE_CA_DEVICE_CERT_SECONDS; basicConstraints CA:FALSE (critical),
 * keyUsage digitalSignature (critical), extendedKeyUsage clientAuth +
 * serverAuth, subjectAltName URI:urn:nacre:device:<device_id>, subject and
 * authority key identifiers; random positive 128-bit serial. The CA key must
 * match the CA certificate, and the CA must be valid at now.
 *
 * THE CALLER decides that device_pk deserves it (nacre_attest_verify first).
 *
 * \param device_id  NACRE_CA_DEVICE_ID_CHARS lowercase hex characters
 * \param pem        receives the certificate in PEM, NUL-terminated
 * \param pem_max    size of pem (NACRE_CA_PEM_MAX always suffices)
 * \param pem_len    receives the length without the NUL; may be NULL
 */
nacre_ca_status nacre_ca_issue(const char *ca_dir, const uint8_t device_pk[NACRE_CA_PUBLICKEY_BYTES],
                               const char *device_id, uint64_t now, char *pem, size_t pem_max,
                               size_t *pem_len);

/**
 * A CA loaded once for many certificates (a service issuing thousands per
 * second): nacre_ca_issuer_open() reads and checks dir/ca-cert.pem and
 * dir/ca-key.pem exactly as nacre_ca_issue() does; nacre_ca_issuer_issue()
 * then issues the same certificates as nacre_ca_issue() without touching the
 * file system.
 *
 * WARNING: the issuer keeps the CA private key in memory (inside an OpenSSL
 * EVP_PKEY) until nacre_ca_issuer_free(), which wipes it. Use it only in a
 * process whose memory is as protected as the key file.
 *
 * THREAD SAFETY: nacre_ca_issuer_issue() may run on one issuer from many
 * threads at once; open and free must not race with it.
 */
typedef struct nacre_ca_issuer nacre_ca_issuer;

/** \brief Load the CA in ca_dir. *out is NULL on error. */
nacre_ca_status nacre_ca_issuer_open(const char *ca_dir, nacre_ca_issuer **out);

/**
 * \brief nacre_ca_issue() with a loaded CA. If der is not NULL it also
 * receives the certificate in DER (*der_len its size; NACRE_CA_CERT_MAX
 * always suffices).
 */
nacre_ca_status nacre_ca_issuer_issue(const nacre_ca_issuer *issuer,
                                      const uint8_t device_pk[NACRE_CA_PUBLICKEY_BYTES],
                                      const char *device_id, uint64_t now, char *pem,
                                      size_t pem_max, size_t *pem_len, uint8_t *der,
                                      size_t der_max, size_t *der_len);

/** \brief Wipe and free an issuer (NULL is fine). */
void nacre_ca_issuer_free(nacre_ca_issuer *issuer);

/**
 * \brief Check a device certificate against a tenant CA certificate at time
 * now: the chain (X509_verify_cert with a store holding only the CA, at
 * `now`), an Ed25519 key, and the Nacre device profile (not a CA,
 * digitalSignature, clientAuth and serverAuth, a device-id common name and
 * the matching urn:nacre:device: URI). Both certificates may be PEM or DER.
 * Checks run in that order, so a certificate of another tenant is
 * ERR_WRONG_CA even if it is also expired.
 * \param pk         receives the certified public key (zeroed on error)
 * \param device_id  receives the device id, NUL-terminated (empty on error); may be NULL
 */
nacre_ca_status nacre_ca_check(const uint8_t *ca_cert, size_t ca_cert_len, const uint8_t *cert,
                               size_t cert_len, uint64_t now, uint8_t pk[NACRE_CA_PUBLICKEY_BYTES],
                               char device_id[NACRE_CA_DEVICE_ID_CHARS + 1]);

/** What a certificate says about itself (nothing verified). */
struct nacre_ca_cert_info {
    char subject_cn[65];      /**< commonName ("" if none) */
    char subject_o[65];       /**< organizationName: the tenant ("" if none) */
    char issuer_cn[65];
    char serial[41];          /**< lowercase hex, no leading zeros */
    uint64_t not_before;      /**< seconds since the epoch */
    uint64_t not_after;
    int is_ca;                /**< basicConstraints CA:TRUE */
    int ed25519;              /**< the key is Ed25519; then public_key holds it */
    uint8_t public_key[NACRE_CA_PUBLICKEY_BYTES];
};

/** \brief Parse a certificate (PEM or DER) and describe it; verifies nothing. */
nacre_ca_status nacre_ca_cert_info(const uint8_t *cert, size_t cert_len,
                                   struct nacre_ca_cert_info *info);

/**
 * \brief The DER of a certificate given in PEM or DER (re-encoded, so the
 * output is what OpenSSL parsed).
 * \retval NACRE_CA_ERR_TOO_LARGE  der_max too small
 */
nacre_ca_status nacre_ca_cert_der(const uint8_t *cert, size_t cert_len, uint8_t *der,
                                  size_t der_max, size_t *der_len);

/**
 * \brief Read a certificate file (at most NACRE_CA_CERT_MAX bytes) into buf
 * (buf_max >= NACRE_CA_CERT_MAX + 1 is always enough; the content is
 * NUL-terminated). Checks nothing about the content.
 */
nacre_ca_status nacre_ca_read_file(const char *path, uint8_t *buf, size_t buf_max, size_t *len);

/**
 * \brief The device id for a DeviceID public key: lowercase hex of
 * BLAKE2b-256(pk), NUL-terminated.
 */
nacre_ca_status nacre_ca_device_id(const uint8_t device_id_pk[NACRE_CA_PUBLICKEY_BYTES],
                                   char out[NACRE_CA_DEVICE_ID_CHARS + 1]);

/** \brief One-line description of a status, e.g. "certificate expired". Never NULL. */
const char *nacre_ca_strerror(nacre_ca_status status);

#ifdef __cplusplus
}
#endif

#endif /* NACRE_CA_H */
