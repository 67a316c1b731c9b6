/*
 * d2d.c - device-to-device mutual authentication: certified Alias keys sign
 * a transcript that holds fresh X25519 keys and nonces (docs/d2d.md).
 *
 * Wire format (all lengths big-endian):
 *
 *   frame  = length u16 || body                     (length <= NACRE_D2D_MESSAGE_MAX)
 *   header = "ND2D" || version u8 (1) || type u8
 *   m1     = header(1) || kx_pk[32] || nonce[32] || cert_len u16 || cert DER
 *   m2     = header(2) || kx_pk[32] || nonce[32] || cert_len u16 || cert DER || sig[64]
 *   m3     = header(3) || sig[64]
 *
 * Transcript: BLAKE2b-256 over TRANSCRIPT_LABEL and then every frame byte in
 * order (length prefixes included). A signature covers the transcript up to
 * (not including) the signature itself, then the role label:
 *   sig_B = Ed25519_AliasB(BLAKE2b-256(label || F1 || F2 minus sig || "responder"))
 *   sig_A = Ed25519_AliasA(BLAKE2b-256(label || F1 || F2 || F3 minus sig || "initiator"))
 *   TH    = BLAKE2b-256(label || F1 || F2 || F3)
 * Session keys: crypto_kx gives (k_i2r, k_r2i); each is bound to TH as
 *   key = BLAKE2b-256(key = k, msg = "nacre-d2d-v1 i2r" (or "r2i") || TH)
 */
#include <nacre/d2d.h>

#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <unistd.h>

#include <sodium.h>

static const uint8_t MAGIC[4] = {'N', 'D', '2', 'D'};
static const char TRANSCRIPT_LABEL[] = "nacre-d2d-v1 transcript";
static const char ROLE_RESPONDER[] = "responder";
static const char ROLE_INITIATOR[] = "initiator";
static const char KEY_I2R[] = "nacre-d2d-v1 i2r";
static const char KEY_R2I[] = "nacre-d2d-v1 r2i";

enum {
    TYPE_M1 = 1,
    TYPE_M2 = 2,
    TYPE_M3 = 3,
    HEADER_BYTES = 6,
    PREFIX_BYTES = 2,
    SIG_BYTES = 64,
    KX_BYTES = 32,
    HELLO_FIXED = HEADER_BYTES + KX_BYTES + NACRE_D2D_NONCE_BYTES + 2, /* m1 / m2 before cert */
    M3_BYTES = HEADER_BYTES + SIG_BYTES,
};

_Static_assert(HELLO_FIXED + NACRE_D2D_CERT_MAX + SIG_BYTES <= NACRE_D2D_MESSAGE_MAX,
               "m2 fits a message");
_Static_assert(crypto_kx_PUBLICKEYBYTES == KX_BYTES, "X25519 public key size");
_Static_assert(crypto_kx_SESSIONKEYBYTES == NACRE_D2D_KEY_BYTES, "session key size");

/* Everything one handshake holds; wiped before return. */
struct hs {
    const struct nacre_d2d_identity *me;
    const struct nacre_d2d_transport *t;
    int initiator;
    uint8_t own_der[NACRE_D2D_CERT_MAX];
    size_t own_der_len;
    uint8_t kx_pk[KX_BYTES];
    uint8_t kx_sk[crypto_kx_SECRETKEYBYTES];
    uint8_t nonce[NACRE_D2D_NONCE_BYTES];
    crypto_generichash_state th; /* the transcript so far */
    /* the peer's hello */
    uint8_t peer_kx[KX_BYTES];
    uint8_t peer_nonce[NACRE_D2D_NONCE_BYTES];
    uint8_t peer_pk[32];
    char peer_id[NACRE_CA_DEVICE_ID_CHARS + 1];
    /* crypto_kx keys, before they are bound to the transcript */
    uint8_t raw_rx[crypto_kx_SESSIONKEYBYTES];
    uint8_t raw_tx[crypto_kx_SESSIONKEYBYTES];
    /* one frame being built or received */
    uint8_t frame[PREFIX_BYTES + NACRE_D2D_MESSAGE_MAX];
    size_t frame_len;
};

/* ---- transport ------------------------------------------------------------------ */

static int fd_send(void *ctx, const uint8_t *buf, size_t len)
{
    int fd = (int)(intptr_t)ctx;
    while (len > 0) {
        ssize_t n = send(fd, buf, len, MSG_NOSIGNAL);
        if (n < 0 && errno == ENOTSOCK) {
            n = write(fd, buf, len);
        }
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            return -1;
        }
        buf += n;
        len -= (size_t)n;
    }
    return 0;
}

static int fd_recv(void *ctx, uint8_t *buf, size_t len)
{
    int fd = (int)(intptr_t)ctx;
    while (len > 0) {
        ssize_t n = read(fd, buf, len);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            return -1;
        }
        if (n == 0) {
            return -1; /* closed before the whole message arrived */
        }
        buf += n;
        len -= (size_t)n;
    }
    return 0;
}

void nacre_d2d_transport_fd(struct nacre_d2d_transport *transport, int fd)
{
    if (transport == NULL) {
        return;
    }
    transport->send = fd_send;
    transport->recv = fd_recv;
    transport->ctx = (void *)(intptr_t)fd;
}

/* ---- small helpers ---------------------------------------------------------------- */

static void put16(uint8_t *p, size_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

static size_t get16(const uint8_t *p)
{
    return ((size_t)p[0] << 8) | p[1];
}

static void header(uint8_t *p, uint8_t type)
{
    memcpy(p, MAGIC, sizeof MAGIC);
    p[4] = NACRE_D2D_PROTOCOL_VERSION;
    p[5] = type;
}

/* BLAKE2b-256 of (a copy of) the transcript so far, then extra bytes. */
static void transcript_peek(const crypto_generichash_state *th, const void *extra,
                            size_t extra_len, const char *role, uint8_t out[32])
{
    crypto_generichash_state copy = *th;
    if (extra_len > 0) {
        crypto_generichash_update(&copy, extra, extra_len);
    }
    crypto_generichash_update(&copy, (const uint8_t *)role, strlen(role));
    crypto_generichash_final(&copy, out, 32);
    sodium_memzero(&copy, sizeof copy);
}

static nacre_d2d_status send_frame(struct hs *h)
{
    if (h->t->send(h->t->ctx, h->frame, h->frame_len) != 0) {
        return NACRE_D2D_ERR_TRANSPORT;
    }
    return NACRE_D2D_OK;
}

/* Receive one frame into h->frame; the length is checked before the body is read. */
static nacre_d2d_status recv_frame(struct hs *h)
{
    h->frame_len = 0;
    if (h->t->recv(h->t->ctx, h->frame, PREFIX_BYTES) != 0) {
        return NACRE_D2D_ERR_TRANSPORT;
    }
    size_t len = get16(h->frame);
    if (len > NACRE_D2D_MESSAGE_MAX) {
        return NACRE_D2D_ERR_TOO_LARGE;
    }
    if (len < HEADER_BYTES) {
        return NACRE_D2D_ERR_MALFORMED;
    }
    if (h->t->recv(h->t->ctx, h->frame + PREFIX_BYTES, len) != 0) {
        return NACRE_D2D_ERR_TRANSPORT;
    }
    h->frame_len = PREFIX_BYTES + len;
    return NACRE_D2D_OK;
}

static nacre_d2d_status check_header(const struct hs *h, uint8_t type)
{
    const uint8_t *b = h->frame + PREFIX_BYTES;
    if (memcmp(b, MAGIC, sizeof MAGIC) != 0) {
        return NACRE_D2D_ERR_MALFORMED;
    }
    if (b[4] != NACRE_D2D_PROTOCOL_VERSION) {
        return NACRE_D2D_ERR_VERSION;
    }
    if (b[5] != type) {
        return NACRE_D2D_ERR_MALFORMED;
    }
    return NACRE_D2D_OK;
}

static nacre_d2d_status peer_cert_status(nacre_ca_status st)
{
    switch (st) {
    case NACRE_CA_OK:
        return NACRE_D2D_OK;
    case NACRE_CA_ERR_WRONG_CA:
        return NACRE_D2D_ERR_PEER_WRONG_CA;
    case NACRE_CA_ERR_EXPIRED:
    case NACRE_CA_ERR_NOT_YET_VALID:
        return NACRE_D2D_ERR_PEER_EXPIRED;
    case NACRE_CA_ERR_NO_MEMORY:
        return NACRE_D2D_ERR_NO_MEMORY;
    case NACRE_CA_ERR_CRYPTO:
        return NACRE_D2D_ERR_CRYPTO;
    case NACRE_CA_ERR_NOT_A_CA:
        return NACRE_D2D_ERR_ARGUMENT; /* our CA certificate is not a CA */
    default:
        return NACRE_D2D_ERR_PEER_CERT;
    }
}

/* ---- the two halves of a hello (m1 / m2) ------------------------------------------------ */

/* Build our hello (m1 or m2 without the signature) into h->frame. */
static void build_hello(struct hs *h, uint8_t type)
{
    uint8_t *b = h->frame + PREFIX_BYTES;
    size_t len = HELLO_FIXED + h->own_der_len + (type == TYPE_M2 ? SIG_BYTES : 0);
    put16(h->frame, len);
    header(b, type);
    memcpy(b + HEADER_BYTES, h->kx_pk, KX_BYTES);
    memcpy(b + HEADER_BYTES + KX_BYTES, h->nonce, NACRE_D2D_NONCE_BYTES);
    put16(b + HEADER_BYTES + KX_BYTES + NACRE_D2D_NONCE_BYTES, h->own_der_len);
    memcpy(b + HELLO_FIXED, h->own_der, h->own_der_len);
    h->frame_len = PREFIX_BYTES + len;
}

/*
 * Parse the peer's hello in h->frame and check its certificate.
 * *signed_len receives the frame bytes before the signature (m2), or all (m1).
 */
static nacre_d2d_status parse_hello(struct hs *h, uint8_t type, size_t *signed_len)
{
    nacre_d2d_status st = check_header(h, type);
    if (st != NACRE_D2D_OK) {
        return st;
    }
    const uint8_t *b = h->frame + PREFIX_BYTES;
    size_t len = h->frame_len - PREFIX_BYTES;
    size_t sig = type == TYPE_M2 ? SIG_BYTES : 0;
    if (len < HELLO_FIXED + sig) {
        return NACRE_D2D_ERR_MALFORMED;
    }
    size_t cert_len = get16(b + HEADER_BYTES + KX_BYTES + NACRE_D2D_NONCE_BYTES);
    if (cert_len > NACRE_D2D_CERT_MAX) {
        return NACRE_D2D_ERR_TOO_LARGE;
    }
    if (cert_len == 0 || HELLO_FIXED + cert_len + sig != len) {
        return NACRE_D2D_ERR_MALFORMED;
    }
    memcpy(h->peer_kx, b + HEADER_BYTES, KX_BYTES);
    memcpy(h->peer_nonce, b + HEADER_BYTES + KX_BYTES, NACRE_D2D_NONCE_BYTES);
    /* The peer must send DER: a PEM text is refused as malformed. */
    if (b[HELLO_FIXED] != 0x30) {
        return NACRE_D2D_ERR_PEER_CERT;
    }
    nacre_ca_status cst = nacre_ca_check(h->me->ca_cert, h->me->ca_cert_len, b + HELLO_FIXED,
                                         cert_len, h->me->now, h->peer_pk, h->peer_id);
    st = peer_cert_status(cst);
    if (st != NACRE_D2D_OK) {
        return st;
    }
    *signed_len = h->frame_len - sig;
    return NACRE_D2D_OK;
}

/* ---- setup and finish ----------------------------------------------------------------- */

/* Our certificate: valid under our CA now, and for our current Alias key. */
static nacre_d2d_status setup(struct hs *h)
{
    const struct nacre_d2d_identity *me = h->me;
    if (me->pluton == NULL || me->cert == NULL || me->ca_cert == NULL || h->t->send == NULL ||
        h->t->recv == NULL) {
        return NACRE_D2D_ERR_ARGUMENT;
    }
    if (sodium_init() < 0) {
        return NACRE_D2D_ERR_CRYPTO;
    }
    uint8_t cert_pk[32];
    uint8_t alias_pk[32];
    nacre_ca_status cst = nacre_ca_check(me->ca_cert, me->ca_cert_len, me->cert, me->cert_len,
                                         me->now, cert_pk, NULL);
    if (cst == NACRE_CA_ERR_NOT_A_CA) {
        return NACRE_D2D_ERR_ARGUMENT;
    }
    if (cst != NACRE_CA_OK) {
        return NACRE_D2D_ERR_OWN_CERT;
    }
    nacre_pluton_status pst = nacre_pluton_key_public(me->pluton, NACRE_PLUTON_KEY_ALIAS, alias_pk);
    if (pst != NACRE_PLUTON_OK) {
        return NACRE_D2D_ERR_PLUTON;
    }
    if (sodium_memcmp(cert_pk, alias_pk, sizeof alias_pk) != 0) {
        return NACRE_D2D_ERR_OWN_CERT; /* a certificate for other firmware, or another device */
    }
    cst = nacre_ca_cert_der(me->cert, me->cert_len, h->own_der, sizeof h->own_der,
                            &h->own_der_len);
    if (cst == NACRE_CA_ERR_TOO_LARGE) {
        return NACRE_D2D_ERR_TOO_LARGE;
    }
    if (cst != NACRE_CA_OK) {
        return NACRE_D2D_ERR_OWN_CERT;
    }
    if (crypto_kx_keypair(h->kx_pk, h->kx_sk) != 0) {
        return NACRE_D2D_ERR_CRYPTO;
    }
    randombytes_buf(h->nonce, sizeof h->nonce);
    crypto_generichash_init(&h->th, NULL, 0, 32);
    crypto_generichash_update(&h->th, (const uint8_t *)TRANSCRIPT_LABEL,
                              sizeof TRANSCRIPT_LABEL - 1);
    return NACRE_D2D_OK;
}

/* Ed25519 by our Alias key over H(transcript || extra || role). */
static nacre_d2d_status sign_transcript(struct hs *h, const uint8_t *extra, size_t extra_len,
                                        const char *role, uint8_t sig[SIG_BYTES])
{
    uint8_t digest[32];
    transcript_peek(&h->th, extra, extra_len, role, digest);
    nacre_pluton_status pst =
        nacre_pluton_sign(h->me->pluton, NACRE_PLUTON_KEY_ALIAS, sig, digest, sizeof digest);
    return pst == NACRE_PLUTON_OK ? NACRE_D2D_OK : NACRE_D2D_ERR_PLUTON;
}

static nacre_d2d_status verify_transcript(struct hs *h, const uint8_t *extra, size_t extra_len,
                                          const char *role, const uint8_t sig[SIG_BYTES])
{
    uint8_t digest[32];
    transcript_peek(&h->th, extra, extra_len, role, digest);
    nacre_pluton_status pst = nacre_pluton_verify(sig, digest, sizeof digest, h->peer_pk);
    return pst == NACRE_PLUTON_OK ? NACRE_D2D_OK : NACRE_D2D_ERR_SIGNATURE;
}

/*
 * X25519 with the peer's key, as soon as it is known: a degenerate key
 * (all-zero shared secret) is refused before we sign anything for it.
 */
static nacre_d2d_status key_exchange(struct hs *h)
{
    int rc = h->initiator ? crypto_kx_client_session_keys(h->raw_rx, h->raw_tx, h->kx_pk,
                                                          h->kx_sk, h->peer_kx)
                          : crypto_kx_server_session_keys(h->raw_rx, h->raw_tx, h->kx_pk,
                                                          h->kx_sk, h->peer_kx);
    sodium_memzero(h->kx_sk, sizeof h->kx_sk); /* not needed any more */
    return rc == 0 ? NACRE_D2D_OK : NACRE_D2D_ERR_CRYPTO;
}

/* Bind the crypto_kx keys to the transcript hash; fill the session. */
static nacre_d2d_status finish(struct hs *h, struct nacre_d2d_session *out)
{
    uint8_t th[32];
    crypto_generichash_final(&h->th, th, sizeof th);
    /* initiator: tx is i2r; responder: rx is i2r. */
    const uint8_t *i2r = h->initiator ? h->raw_tx : h->raw_rx;
    const uint8_t *r2i = h->initiator ? h->raw_rx : h->raw_tx;
    uint8_t k_i2r[32];
    uint8_t k_r2i[32];
    crypto_generichash_state s;
    crypto_generichash_init(&s, i2r, crypto_kx_SESSIONKEYBYTES, sizeof k_i2r);
    crypto_generichash_update(&s, (const uint8_t *)KEY_I2R, sizeof KEY_I2R - 1);
    crypto_generichash_update(&s, th, sizeof th);
    crypto_generichash_final(&s, k_i2r, sizeof k_i2r);
    crypto_generichash_init(&s, r2i, crypto_kx_SESSIONKEYBYTES, sizeof k_r2i);
    crypto_generichash_update(&s, (const uint8_t *)KEY_R2I, sizeof KEY_R2I - 1);
    crypto_generichash_update(&s, th, sizeof th);
    crypto_generichash_final(&s, k_r2i, sizeof k_r2i);
    sodium_memzero(&s, sizeof s);

    memcpy(out->tx, h->initiator ? k_i2r : k_r2i, NACRE_D2D_KEY_BYTES);
    memcpy(out->rx, h->initiator ? k_r2i : k_i2r, NACRE_D2D_KEY_BYTES);
    memcpy(out->transcript_hash, th, sizeof th);
    memcpy(out->peer_pk, h->peer_pk, sizeof out->peer_pk);
    memcpy(out->peer_id, h->peer_id, sizeof out->peer_id);
    out->initiator = h->initiator;
    sodium_memzero(k_i2r, sizeof k_i2r);
    sodium_memzero(k_r2i, sizeof k_r2i);
    return NACRE_D2D_OK;
}

/* ---- the two roles ------------------------------------------------------------------- */

static nacre_d2d_status initiate(struct hs *h, struct nacre_d2d_session *out)
{
    nacre_d2d_status st = setup(h);
    if (st != NACRE_D2D_OK) {
        return st;
    }
    /* m1 */
    build_hello(h, TYPE_M1);
    crypto_generichash_update(&h->th, h->frame, h->frame_len);
    st = send_frame(h);
    if (st != NACRE_D2D_OK) {
        return st;
    }
    /* m2: the responder's certificate, then its signature over the transcript */
    st = recv_frame(h);
    size_t signed_len = 0;
    if (st == NACRE_D2D_OK) {
        st = parse_hello(h, TYPE_M2, &signed_len);
    }
    if (st == NACRE_D2D_OK) {
        st = verify_transcript(h, h->frame, signed_len, ROLE_RESPONDER, h->frame + signed_len);
    }
    if (st == NACRE_D2D_OK) {
        st = key_exchange(h);
    }
    if (st != NACRE_D2D_OK) {
        return st;
    }
    crypto_generichash_update(&h->th, h->frame, h->frame_len);
    /* m3 */
    put16(h->frame, M3_BYTES);
    header(h->frame + PREFIX_BYTES, TYPE_M3);
    st = sign_transcript(h, h->frame, PREFIX_BYTES + HEADER_BYTES, ROLE_INITIATOR,
                         h->frame + PREFIX_BYTES + HEADER_BYTES);
    if (st != NACRE_D2D_OK) {
        return st;
    }
    h->frame_len = PREFIX_BYTES + M3_BYTES;
    crypto_generichash_update(&h->th, h->frame, h->frame_len);
    st = send_frame(h);
    if (st != NACRE_D2D_OK) {
        return st;
    }
    return finish(h, out);
}

static nacre_d2d_status respond(struct hs *h, struct nacre_d2d_session *out)
{
    nacre_d2d_status st = setup(h);
    if (st != NACRE_D2D_OK) {
        return st;
    }
    /* m1 */
    st = recv_frame(h);
    size_t signed_len = 0;
    if (st == NACRE_D2D_OK) {
        st = parse_hello(h, TYPE_M1, &signed_len);
    }
    if (st == NACRE_D2D_OK) {
        st = key_exchange(h);
    }
    if (st != NACRE_D2D_OK) {
        return st;
    }
    crypto_generichash_update(&h->th, h->frame, h->frame_len);
    /* m2 */
    build_hello(h, TYPE_M2);
    size_t sig_at = h->frame_len - SIG_BYTES;
    st = sign_transcript(h, h->frame, sig_at, ROLE_RESPONDER, h->frame + sig_at);
    if (st != NACRE_D2D_OK) {
        return st;
    }
    crypto_generichash_update(&h->th, h->frame, h->frame_len);
    st = send_frame(h);
    if (st != NACRE_D2D_OK) {
        return st;
    }
    /* m3 */
    st = recv_frame(h);
    if (st == NACRE_D2D_OK) {
        st = check_header(h, TYPE_M3);
    }
    if (st == NACRE_D2D_OK && h->frame_len != PREFIX_BYTES + M3_BYTES) {
        st = NACRE_D2D_ERR_MALFORMED;
    }
    if (st == NACRE_D2D_OK) {
        st = verify_transcript(h, h->frame, PREFIX_BYTES + HEADER_BYTES, ROLE_INITIATOR,
                               h->frame + PREFIX_BYTES + HEADER_BYTES);
    }
    if (st != NACRE_D2D_OK) {
        return st;
    }
    crypto_generichash_update(&h->th, h->frame, h->frame_len);
    return finish(h, out);
}

static nacre_d2d_status run(const struct nacre_d2d_identity *me,
                            const struct nacre_d2d_transport *transport,
                            struct nacre_d2d_session *out, int initiator)
{
    if (out == NULL) {
        return NACRE_D2D_ERR_ARGUMENT;
    }
    sodium_memzero(out, sizeof *out);
    if (me == NULL || transport == NULL) {
        return NACRE_D2D_ERR_ARGUMENT;
    }
    /* About 4 KiB: in guarded memory, like every other secret holder. */
    struct hs *h = sodium_malloc(sizeof *h);
    if (h == NULL) {
        return NACRE_D2D_ERR_NO_MEMORY;
    }
    memset(h, 0, sizeof *h);
    h->me = me;
    h->t = transport;
    h->initiator = initiator;
    nacre_d2d_status st = initiator ? initiate(h, out) : respond(h, out);
    sodium_free(h); /* wipes the X25519 secret key, nonces, transcript state */
    if (st != NACRE_D2D_OK) {
        sodium_memzero(out, sizeof *out);
    }
    return st;
}

nacre_d2d_status nacre_d2d_initiate(const struct nacre_d2d_identity *me,
                                    const struct nacre_d2d_transport *transport,
                                    struct nacre_d2d_session *out)
{
    return run(me, transport, out, 1);
}

nacre_d2d_status nacre_d2d_respond(const struct nacre_d2d_identity *me,
                                   const struct nacre_d2d_transport *transport,
                                   struct nacre_d2d_session *out)
{
    return run(me, transport, out, 0);
}

void nacre_d2d_session_wipe(struct nacre_d2d_session *session)
{
    if (session != NULL) {
        sodium_memzero(session, sizeof *session);
    }
}

const char *nacre_d2d_strerror(nacre_d2d_status status)
{
    switch (status) {
    case NACRE_D2D_OK:
        return "success";
    case NACRE_D2D_ERR_ARGUMENT:
        return "invalid argument";
    case NACRE_D2D_ERR_TRANSPORT:
        return "connection failed or closed by the peer";
    case NACRE_D2D_ERR_TOO_LARGE:
        return "message too large";
    case NACRE_D2D_ERR_MALFORMED:
        return "malformed message";
    case NACRE_D2D_ERR_VERSION:
        return "unsupported protocol version";
    case NACRE_D2D_ERR_PEER_WRONG_CA:
        return "peer certificate not issued by our tenant CA";
    case NACRE_D2D_ERR_PEER_EXPIRED:
        return "peer certificate expired or not yet valid";
    case NACRE_D2D_ERR_PEER_CERT:
        return "peer certificate is not a valid device certificate";
    case NACRE_D2D_ERR_SIGNATURE:
        return "peer signature over the handshake does not verify";
    case NACRE_D2D_ERR_OWN_CERT:
        return "our certificate is invalid now or not for our Alias key";
    case NACRE_D2D_ERR_PLUTON:
        return "root of trust refused";
    case NACRE_D2D_ERR_CRYPTO:
        return "key exchange failed";
    case NACRE_D2D_ERR_NO_MEMORY:
        return "out of memory";
    }
    return "unknown error";
}
