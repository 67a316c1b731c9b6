/*
 * nacre/d2d.h - libnacre-d2d: device-to-device mutual authentication
 * (host / Linux-class devices).
 *
 * Two devices holding certificates from the same tenant CA (nacre/ca.h),
 * each for the device's ALIAS key, agree a pair of session keys. The
 * protocol (byte layouts and a message diagram in docs/d2d.md):
 *
 *   m1  initiator -> responder  version, kx public key A, nonce A, certificate A
 *   m2  responder -> initiator  kx public key B, nonce B, certificate B,
 *                               Sign_AliasB(H(transcript so far || "responder"))
 *   m3  initiator -> responder  Sign_AliasA(H(transcript so far || "initiator"))
 *
 * Each side checks the peer's certificate with nacre_ca_check() (same tenant
 * CA, valid at `now`, the Nacre device profile) and that the certified key
 * verifies the peer's signature over the transcript, which holds both fresh
 * X25519 public keys and both 32-byte nonces: a recorded m2 or m3 of another
 * session does not verify. Signatures are made inside libpluton with
 * NACRE_PLUTON_KEY_ALIAS; the library refuses to run with a certificate
 * that is not for this device's current Alias key (after a firmware update
 * the Alias key changes: get a new certificate).
 *
 * The X25519 exchange is libsodium's crypto_kx with fresh key pairs; its
 * session keys are then bound to the whole transcript (BLAKE2b-256 keyed
 * with the crypto_kx key over a label and the transcript hash), so both
 * sides hold the same keys only if they saw the same three messages.
 *
 * Messages go over a caller-supplied transport: send / receive callbacks, or
 * a connected file descriptor (nacre_d2d_transport_fd). Every message is
 * length-prefixed and at most NACRE_D2D_MESSAGE_MAX bytes; a larger length
 * is refused before anything is read. The functions block in the
 * transport's calls; set timeouts on it (e.g. SO_RCVTIMEO).
 *
 * A refusal is not announced to the peer: the refusing side returns and the
 * caller closes the transport, so the peer sees ERR_TRANSPORT. In
 * particular the initiator has finished after sending m3; if the responder
 * refuses m3 the initiator learns it when the connection closes or its first
 * message is not answered.
 *
 * Return values follow libpluton: success is NACRE_D2D_OK, a many-bit value;
 * compare with ==. Every function wipes the ephemeral secrets it made
 * (X25519 secret key, shared keys before binding, hash states).
 *
 * THREAD SAFETY: a handshake uses its identity's pluton instance, which one
 * thread at a time may use. Two handshakes on two devices may run at once.
 */
#ifndef NACRE_D2D_H
#define NACRE_D2D_H

#include <stddef.h>
#include <stdint.h>

#include <nacre/ca.h>
#include <nacre/pluton.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__) || defined(__clang__)
#define NACRE_D2D_WUR __attribute__((warn_unused_result))
#else
#define NACRE_D2D_WUR
#endif

/** Status codes. Values are pinned; retired codes are never reused. */
typedef enum nacre_d2d_status {
    NACRE_D2D_OK = 0x6D2D4B95,           /**< success (many-bit value) */
    NACRE_D2D_ERR_ARGUMENT = 1,          /**< NULL pointer, missing callback */
    NACRE_D2D_ERR_TRANSPORT = 2,         /**< send / receive failed, or the peer closed */
    NACRE_D2D_ERR_TOO_LARGE = 3,         /**< a message or certificate over the limits */
    NACRE_D2D_ERR_MALFORMED = 4,         /**< bad framing, magic, type or inner length */
    NACRE_D2D_ERR_VERSION = 5,           /**< the peer speaks another protocol version */
    NACRE_D2D_ERR_PEER_WRONG_CA = 6,     /**< peer certificate not issued by our tenant CA */
    NACRE_D2D_ERR_PEER_EXPIRED = 7,      /**< peer certificate expired or not yet valid */
    NACRE_D2D_ERR_PEER_CERT = 8,         /**< peer certificate malformed, not Ed25519, not a device's */
    NACRE_D2D_ERR_SIGNATURE = 9,         /**< the peer's transcript signature does not verify
                                              with its certificate's key (tampered, replayed,
                                              or signed by another key) */
    NACRE_D2D_ERR_OWN_CERT = 10,         /**< our certificate is not valid under our CA at now,
                                              or is not for this device's Alias key */
    NACRE_D2D_ERR_PLUTON = 11,           /**< the root of trust refused (not booted, ...) */
    NACRE_D2D_ERR_CRYPTO = 12,           /**< key exchange failed (degenerate peer kx key) */
    NACRE_D2D_ERR_NO_MEMORY = 13,        /**< allocation failed */
} nacre_d2d_status;

#define NACRE_D2D_PROTOCOL_VERSION 1u
#define NACRE_D2D_NONCE_BYTES 32u
#define NACRE_D2D_KEY_BYTES 32u
/** A certificate (DER) on the wire is at most this large. */
#define NACRE_D2D_CERT_MAX 1024u
/** A message (body, without its 2-byte length prefix) is at most this large. */
#define NACRE_D2D_MESSAGE_MAX 2048u

/** Who we are. */
struct nacre_d2d_identity {
    nacre_pluton *pluton;         /**< booted; signs with NACRE_PLUTON_KEY_ALIAS */
    const uint8_t *cert;          /**< our certificate (PEM or DER), for our Alias key */
    size_t cert_len;
    const uint8_t *ca_cert;       /**< the tenant CA certificate (PEM or DER) */
    size_t ca_cert_len;
    uint64_t now;                 /**< seconds since the epoch: certificates must be valid then */
};

/**
 * How messages travel. send writes all len bytes, recv reads exactly len
 * bytes; both return 0 on success and -1 on any failure (including the peer
 * closing the connection).
 */
struct nacre_d2d_transport {
    int (*send)(void *ctx, const uint8_t *buf, size_t len);
    int (*recv)(void *ctx, uint8_t *buf, size_t len);
    void *ctx;
};

/** The result of a handshake. Wipe it with nacre_d2d_session_wipe(). */
struct nacre_d2d_session {
    uint8_t tx[NACRE_D2D_KEY_BYTES];   /**< key for what we send */
    uint8_t rx[NACRE_D2D_KEY_BYTES];   /**< key for what we receive (the peer's tx) */
    uint8_t transcript_hash[32];       /**< BLAKE2b-256 of the three messages (same on both sides) */
    uint8_t peer_pk[32];               /**< the peer's certified Alias public key */
    char peer_id[NACRE_CA_DEVICE_ID_CHARS + 1]; /**< the peer's device id (its certificate CN) */
    int initiator;                     /**< 1 if we sent m1 */
};

/** \brief Run the handshake as the initiator (the side that connected). */
NACRE_D2D_WUR nacre_d2d_status nacre_d2d_initiate(const struct nacre_d2d_identity *me,
                                                  const struct nacre_d2d_transport *transport,
                                                  struct nacre_d2d_session *out);

/** \brief Run the handshake as the responder (the side that accepted). */
NACRE_D2D_WUR nacre_d2d_status nacre_d2d_respond(const struct nacre_d2d_identity *me,
                                                 const struct nacre_d2d_transport *transport,
                                                 struct nacre_d2d_session *out);

/**
 * \brief A transport over a connected socket or pipe fd (not owned: the
 * caller closes it). Retries on EINTR; no SIGPIPE on sockets.
 */
void nacre_d2d_transport_fd(struct nacre_d2d_transport *transport, int fd);

/** \brief Wipe a session (keys included). */
void nacre_d2d_session_wipe(struct nacre_d2d_session *session);

/** \brief One-line description of a status. Never NULL. */
const char *nacre_d2d_strerror(nacre_d2d_status status);

#ifdef __cplusplus
}
#endif

#endif /* NACRE_D2D_H */
