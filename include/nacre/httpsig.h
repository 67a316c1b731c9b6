/*
 * nacre/httpsig.h - libnacre-httpsig: HTTP Message Signatures (RFC 9421)
 * with Ed25519, the Content-Digest field (RFC 9530) and HTTP dates, in the
 * one profile Nacre devices use to sign their requests to nacre-service:
 *
 *   Signature-Input: nacre=("@method" "@path" "date" "content-digest");
 *                    created=N;keyid="<64 hex>";alg="ed25519";nonce="<32 hex>"
 *   Signature:       nacre=:<base64 of 64 bytes>:
 *
 * Both sides use this library: the device agent builds the signature base
 * and has libpluton sign it; the service parses the fields strictly (any
 * other label, component list, parameter order or extra parameter is
 * refused) and rebuilds the same base. docs/service-api.md shows the bytes.
 *
 * The signature base builder is generic (any list of component names and
 * values) so that it can be checked against RFC 9421's own examples.
 *
 * Portable: libsodium only (SHA-256, base64, Ed25519); no allocation.
 * Every function returns 0 on success and -1 on any malformed input or a
 * buffer that is too small.
 */
#ifndef NACRE_HTTPSIG_H
#define NACRE_HTTPSIG_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define NACRE_HTTPSIG_KEYID_CHARS 64u  /**< a device id: 64 lowercase hex */
#define NACRE_HTTPSIG_NONCE_CHARS 32u  /**< 16 random bytes as lowercase hex */
#define NACRE_HTTPSIG_BASE_MAX 1024u   /**< the profile's signature base always fits */
#define NACRE_HTTPSIG_FIELD_MAX 256u   /**< Signature-Input / Signature / Content-Digest values fit */
#define NACRE_HTTPSIG_DATE_CHARS 29u   /**< "Sun, 06 Nov 1994 08:49:37 GMT" */

/** The signature parameters of the Nacre profile. */
struct nacre_httpsig_params {
    uint64_t created;                                 /**< seconds since the epoch */
    char keyid[NACRE_HTTPSIG_KEYID_CHARS + 1];        /**< the signer's device id */
    char nonce[NACRE_HTTPSIG_NONCE_CHARS + 1];        /**< single use, lowercase hex */
};

/** One covered component for the generic base builder. */
struct nacre_httpsig_component {
    const char *name;   /**< e.g. "@method", "date" (lowercase, as it appears in quotes) */
    const char *value;  /**< the component value, already canonical (no CR / LF) */
};

/**
 * \brief RFC 9421 §2.5 signature base for any components: one line
 * `"name": value` per component, then `"@signature-params": PARAMS`, joined
 * by "\n" with no trailing newline. `params` is the serialised inner list
 * with its parameters, exactly as it appears after "label=" in
 * Signature-Input. NUL-terminates out; *out_len excludes the NUL.
 */
int nacre_httpsig_base_generic(const struct nacre_httpsig_component *components, size_t count,
                               const char *params, char *out, size_t out_max, size_t *out_len);

/** \brief The Nacre profile's Signature-Input value, "nacre=(...)...". */
int nacre_httpsig_input_format(const struct nacre_httpsig_params *params, char *out,
                               size_t out_max);

/**
 * \brief Parse a Signature-Input value strictly: label "nacre", exactly the
 * profile's four components in order, parameters created, keyid, alg
 * ("ed25519"), nonce in that order and nothing else.
 */
int nacre_httpsig_input_parse(const char *value, struct nacre_httpsig_params *params);

/** \brief The profile's signature base for one request. */
int nacre_httpsig_base(const char *method, const char *path, const char *date,
                       const char *content_digest, const struct nacre_httpsig_params *params,
                       char *out, size_t out_max, size_t *out_len);

/** \brief "nacre=:BASE64:" for a 64-byte signature. */
int nacre_httpsig_signature_format(const uint8_t signature[64], char *out, size_t out_max);
/** \brief Parse "nacre=:BASE64:" into 64 bytes (strict base64, exact length). */
int nacre_httpsig_signature_parse(const char *value, uint8_t signature[64]);

/**
 * \brief Verify a request: rebuild the base from the fields and check the
 * Ed25519 signature with public_key. 0 = valid.
 */
int nacre_httpsig_verify(const char *method, const char *path, const char *date,
                         const char *content_digest, const struct nacre_httpsig_params *params,
                         const uint8_t signature[64], const uint8_t public_key[32]);

/** \brief RFC 9530 Content-Digest value "sha-256=:BASE64:" of a body. */
int nacre_httpsig_content_digest(const void *body, size_t len, char *out, size_t out_max);

/** \brief IMF-fixdate (RFC 9110 §5.6.7) of a time, e.g. for the Date field. */
int nacre_httpsig_date_format(uint64_t t, char out[NACRE_HTTPSIG_DATE_CHARS + 1]);
/** \brief Parse an IMF-fixdate strictly (obsolete formats refused). */
int nacre_httpsig_date_parse(const char *value, uint64_t *t);

/** \brief A fresh random nonce (16 bytes from libsodium) as 32 hex. */
void nacre_httpsig_nonce(char out[NACRE_HTTPSIG_NONCE_CHARS + 1]);

/**
 * \brief RFC 9440 Client-Cert value ":BASE64(DER):" of a DER certificate,
 * and its parser (strict; *der_len receives the size).
 */
int nacre_httpsig_client_cert_format(const uint8_t *der, size_t der_len, char *out,
                                     size_t out_max);
int nacre_httpsig_client_cert_parse(const char *value, uint8_t *der, size_t der_max,
                                    size_t *der_len);

#ifdef __cplusplus
}
#endif

#endif /* NACRE_HTTPSIG_H */
