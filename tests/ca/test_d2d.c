/*
 * test_d2d.c - libnacre-d2d: two host devices in one process, each in its
 * own thread, run the handshake over a socketpair.
 *
 * Checked: both sides derive the same keys and learn the right peer id;
 * refused: another tenant's certificate, an expired one, a replayed m2 or m3
 * from an earlier session, a flipped byte anywhere in any message, a
 * signature by a key other than the certificate's, our own certificate when
 * it is not for our Alias key. A fake responder written from docs/d2d.md
 * (not from d2d.c) checks the wire format.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include <sodium.h>

#include <nacre/ca.h>
#include <nacre/d2d.h>
#include <nacre/pluton.h>

#include "test_support.h"

#define DAY 86400u
#define MAX_SENDS 4

struct cert {
    char pem[NACRE_CA_PEM_MAX];
    size_t len;
};

struct fixture {
    char *root;
    char ca1_dir[512];
    char ca2_dir[512];
    uint8_t ca1[NACRE_CA_CERT_MAX + 1];
    size_t ca1_len;
    uint8_t ca2[NACRE_CA_CERT_MAX + 1];
    size_t ca2_len;
    uint64_t now;
    struct nacre_test_device a, b, c;
    char id_a[NACRE_CA_DEVICE_ID_CHARS + 1];
    char id_b[NACRE_CA_DEVICE_ID_CHARS + 1];
    char id_c[NACRE_CA_DEVICE_ID_CHARS + 1];
    struct cert cert_a;     /* CA1, now */
    struct cert cert_b;     /* CA1, now */
    struct cert cert_b_ca2; /* CA2 (another tenant), now */
    struct cert cert_b_old; /* CA1, issued two days ago */
    struct cert cert_c;     /* CA1, now */
};

/* ---- fixture --------------------------------------------------------------------- */

static void read_ca(const char *dir, uint8_t *buf, size_t *len)
{
    char path[1400];
    snprintf(path, sizeof path, "%s/ca-cert.pem", dir);
    assert_int_equal(nacre_ca_read_file(path, buf, NACRE_CA_CERT_MAX + 1, len), NACRE_CA_OK);
}

static void device(struct nacre_test_device *d, const char *tag, char id[NACRE_CA_DEVICE_ID_CHARS + 1])
{
    nacre_test_device_new(d, tag, NULL, 1);
    nacre_test_device_boot(d, "thermostat firmware 1.0");
    uint8_t pk[32];
    assert_int_equal(nacre_pluton_key_public(d->p, NACRE_PLUTON_KEY_DEVICE_ID, pk),
                     NACRE_PLUTON_OK);
    assert_int_equal(nacre_ca_device_id(pk, id), NACRE_CA_OK);
}

static void issue(const char *ca_dir, struct nacre_test_device *d, const char *id, uint64_t at,
                  struct cert *out)
{
    uint8_t alias[32];
    assert_int_equal(nacre_pluton_key_public(d->p, NACRE_PLUTON_KEY_ALIAS, alias),
                     NACRE_PLUTON_OK);
    assert_int_equal(nacre_ca_issue(ca_dir, alias, id, at, out->pem, sizeof out->pem, &out->len),
                     NACRE_CA_OK);
}

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof *f);
    assert_non_null(f);
    assert_true(sodium_init() >= 0);
    f->root = nacre_test_tmpdir("d2d");
    snprintf(f->ca1_dir, sizeof f->ca1_dir, "%s/ca1", f->root);
    snprintf(f->ca2_dir, sizeof f->ca2_dir, "%s/ca2", f->root);
    f->now = (uint64_t)time(NULL);
    assert_int_equal(nacre_ca_init(f->ca1_dir, "acme", f->now - 10 * DAY), NACRE_CA_OK);
    assert_int_equal(nacre_ca_init(f->ca2_dir, "globex", f->now - 10 * DAY), NACRE_CA_OK);
    read_ca(f->ca1_dir, f->ca1, &f->ca1_len);
    read_ca(f->ca2_dir, f->ca2, &f->ca2_len);
    device(&f->a, "d2d-a", f->id_a);
    device(&f->b, "d2d-b", f->id_b);
    device(&f->c, "d2d-c", f->id_c);
    issue(f->ca1_dir, &f->a, f->id_a, f->now, &f->cert_a);
    issue(f->ca1_dir, &f->b, f->id_b, f->now, &f->cert_b);
    issue(f->ca2_dir, &f->b, f->id_b, f->now, &f->cert_b_ca2);
    issue(f->ca1_dir, &f->b, f->id_b, f->now - 2 * DAY, &f->cert_b_old);
    issue(f->ca1_dir, &f->c, f->id_c, f->now, &f->cert_c);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    nacre_test_device_free(&f->a);
    nacre_test_device_free(&f->b);
    nacre_test_device_free(&f->c);
    nacre_test_rmtree(f->root);
    free(f->root);
    free(f);
    return 0;
}

static void identity(struct nacre_d2d_identity *id, struct nacre_test_device *d,
                     const struct cert *cert, const uint8_t *ca, size_t ca_len, uint64_t now)
{
    id->pluton = d->p;
    id->cert = (const uint8_t *)cert->pem;
    id->cert_len = cert->len;
    id->ca_cert = ca;
    id->ca_cert_len = ca_len;
    id->now = now;
}

/* ---- a transport that records, and can flip one byte of one message ------------------- */

struct wire {
    int fd;
    int sends;                  /* frames sent so far */
    int tamper_send;            /* 1-based send to tamper, 0 = none */
    size_t tamper_at;           /* byte of that frame to flip */
    uint8_t tamper_xor;
    int set_length;             /* tamper_send: overwrite the length prefix instead */
    uint16_t new_length;
    uint8_t rec[MAX_SENDS][2 + NACRE_D2D_MESSAGE_MAX];
    size_t rec_len[MAX_SENDS];
};

static int write_all(int fd, const uint8_t *p, size_t len)
{
    while (len > 0) {
        ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            return -1;
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

static int read_all(int fd, uint8_t *p, size_t len)
{
    while (len > 0) {
        ssize_t n = read(fd, p, len);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            return -1;
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

static int wire_send(void *ctx, const uint8_t *buf, size_t len)
{
    struct wire *w = ctx;
    uint8_t copy[2 + NACRE_D2D_MESSAGE_MAX];
    if (len > sizeof copy) {
        return -1;
    }
    memcpy(copy, buf, len);
    w->sends++;
    if (w->sends <= MAX_SENDS) {
        memcpy(w->rec[w->sends - 1], buf, len);
        w->rec_len[w->sends - 1] = len;
    }
    if (w->sends == w->tamper_send) {
        if (w->set_length) {
            copy[0] = (uint8_t)(w->new_length >> 8);
            copy[1] = (uint8_t)w->new_length;
        } else if (w->tamper_at < len) {
            copy[w->tamper_at] ^= w->tamper_xor;
        }
    }
    return write_all(w->fd, copy, len);
}

static int wire_recv(void *ctx, uint8_t *buf, size_t len)
{
    struct wire *w = ctx;
    return read_all(w->fd, buf, len);
}

struct side {
    struct nacre_d2d_identity id;
    struct wire wire;
    int initiator;
    nacre_d2d_status st;
    struct nacre_d2d_session s;
};

static void *side_main(void *arg)
{
    struct side *sd = arg;
    struct nacre_d2d_transport t = {.send = wire_send, .recv = wire_recv, .ctx = &sd->wire};
    sd->st = sd->initiator ? nacre_d2d_initiate(&sd->id, &t, &sd->s)
                           : nacre_d2d_respond(&sd->id, &t, &sd->s);
    /* A refusal is a closed connection for the peer. */
    shutdown(sd->wire.fd, SHUT_RDWR);
    return NULL;
}

static void pair(int fds[2])
{
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
    struct timeval tv = {.tv_sec = 20, .tv_usec = 0};
    for (int i = 0; i < 2; i++) {
        assert_int_equal(setsockopt(fds[i], SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv), 0);
    }
}

/* Run initiator and responder in two threads until both return. */
static void run(struct side *ini, struct side *res)
{
    int fds[2];
    pair(fds);
    ini->initiator = 1;
    res->initiator = 0;
    ini->wire.fd = fds[0];
    res->wire.fd = fds[1];
    ini->wire.sends = 0;
    res->wire.sends = 0;
    pthread_t ti, tr;
    assert_int_equal(pthread_create(&ti, NULL, side_main, ini), 0);
    assert_int_equal(pthread_create(&tr, NULL, side_main, res), 0);
    assert_int_equal(pthread_join(ti, NULL), 0);
    assert_int_equal(pthread_join(tr, NULL), 0);
    close(fds[0]);
    close(fds[1]);
}

static void sides(struct fixture *f, struct side *a, struct side *b)
{
    memset(a, 0, sizeof *a);
    memset(b, 0, sizeof *b);
    identity(&a->id, &f->a, &f->cert_a, f->ca1, f->ca1_len, f->now);
    identity(&b->id, &f->b, &f->cert_b, f->ca1, f->ca1_len, f->now);
}

/* ---- the handshake works ------------------------------------------------------------- */

static void test_same_keys_and_ids(void **state)
{
    struct fixture *f = *state;
    static struct side a, b;
    sides(f, &a, &b);
    run(&a, &b);
    assert_int_equal(a.st, NACRE_D2D_OK);
    assert_int_equal(b.st, NACRE_D2D_OK);
    assert_memory_equal(a.s.tx, b.s.rx, NACRE_D2D_KEY_BYTES);
    assert_memory_equal(a.s.rx, b.s.tx, NACRE_D2D_KEY_BYTES);
    assert_memory_not_equal(a.s.tx, a.s.rx, NACRE_D2D_KEY_BYTES);
    assert_memory_equal(a.s.transcript_hash, b.s.transcript_hash, 32);
    assert_string_equal(a.s.peer_id, f->id_b);
    assert_string_equal(b.s.peer_id, f->id_a);
    assert_true(a.s.initiator);
    assert_false(b.s.initiator);
    uint8_t alias[32];
    assert_int_equal(nacre_pluton_key_public(f->b.p, NACRE_PLUTON_KEY_ALIAS, alias),
                     NACRE_PLUTON_OK);
    assert_memory_equal(a.s.peer_pk, alias, 32);
    /* Three frames: m1 and m3 from the initiator, m2 from the responder. */
    assert_int_equal(a.wire.sends, 2);
    assert_int_equal(b.wire.sends, 1);

    /* The keys really work: a secretbox from A opens at B. */
    uint8_t nonce[crypto_secretbox_NONCEBYTES] = {0};
    uint8_t box[crypto_secretbox_MACBYTES + 5];
    uint8_t out[5];
    crypto_secretbox_easy(box, (const uint8_t *)"hello", 5, nonce, a.s.tx);
    assert_int_equal(crypto_secretbox_open_easy(out, box, sizeof box, nonce, b.s.rx), 0);
    assert_memory_equal(out, "hello", 5);

    /* A second session: fresh keys. */
    uint8_t old_tx[32];
    memcpy(old_tx, a.s.tx, sizeof old_tx);
    sides(f, &a, &b);
    run(&a, &b);
    assert_int_equal(a.st, NACRE_D2D_OK);
    assert_int_equal(b.st, NACRE_D2D_OK);
    assert_memory_not_equal(a.s.tx, old_tx, 32);
    assert_memory_equal(a.s.tx, b.s.rx, 32);

    nacre_d2d_session_wipe(&a.s);
    uint8_t zero[32] = {0};
    assert_memory_equal(a.s.tx, zero, 32);
}

static void test_der_identity(void **state)
{
    struct fixture *f = *state;
    static struct side a, b;
    uint8_t der[NACRE_CA_CERT_MAX];
    size_t der_len = 0;
    assert_int_equal(nacre_ca_cert_der((const uint8_t *)f->cert_a.pem, f->cert_a.len, der,
                                       sizeof der, &der_len),
                     NACRE_CA_OK);
    sides(f, &a, &b);
    a.id.cert = der;
    a.id.cert_len = der_len;
    run(&a, &b);
    assert_int_equal(a.st, NACRE_D2D_OK);
    assert_int_equal(b.st, NACRE_D2D_OK);
    assert_string_equal(b.s.peer_id, f->id_a);
}

/* ---- certificates ------------------------------------------------------------------ */

static void test_other_tenant(void **state)
{
    struct fixture *f = *state;
    static struct side a, b;
    /* B is certified by another tenant's CA (and trusts that one). */
    sides(f, &a, &b);
    identity(&b.id, &f->b, &f->cert_b_ca2, f->ca2, f->ca2_len, f->now);
    run(&a, &b);
    assert_int_equal(b.st, NACRE_D2D_ERR_PEER_WRONG_CA);
    assert_int_equal(a.st, NACRE_D2D_ERR_TRANSPORT);
    /* And the other way round: B initiates. */
    sides(f, &a, &b);
    identity(&b.id, &f->b, &f->cert_b_ca2, f->ca2, f->ca2_len, f->now);
    run(&b, &a);
    assert_int_equal(a.st, NACRE_D2D_ERR_PEER_WRONG_CA);
    assert_int_equal(b.st, NACRE_D2D_ERR_TRANSPORT);
    assert_string_equal(a.s.peer_id, "");
}

static void test_expired(void **state)
{
    struct fixture *f = *state;
    static struct side a, b;
    /* B's clock is two days behind: its old certificate is valid for B... */
    sides(f, &a, &b);
    identity(&b.id, &f->b, &f->cert_b_old, f->ca1, f->ca1_len, f->now - 2 * DAY + 3600);
    run(&b, &a);
    /* ... but A refuses it. */
    assert_int_equal(a.st, NACRE_D2D_ERR_PEER_EXPIRED);
    assert_int_not_equal(b.st, NACRE_D2D_OK);
    /* With the right clock B itself refuses to use its expired certificate. */
    sides(f, &a, &b);
    identity(&b.id, &f->b, &f->cert_b_old, f->ca1, f->ca1_len, f->now);
    run(&a, &b);
    assert_int_equal(b.st, NACRE_D2D_ERR_OWN_CERT);
    assert_int_equal(a.st, NACRE_D2D_ERR_TRANSPORT);
    /* Everything 25 hours later: both certificates have expired. */
    sides(f, &a, &b);
    a.id.now = b.id.now = f->now + DAY + 3600;
    run(&a, &b);
    assert_int_equal(a.st, NACRE_D2D_ERR_OWN_CERT);
    assert_int_equal(b.st, NACRE_D2D_ERR_OWN_CERT);
}

static void test_own_cert_must_match_alias(void **state)
{
    struct fixture *f = *state;
    static struct side a, b;
    /* A presents B's certificate: A cannot sign for it, and refuses to try. */
    sides(f, &a, &b);
    identity(&a.id, &f->a, &f->cert_b, f->ca1, f->ca1_len, f->now);
    run(&a, &b);
    assert_int_equal(a.st, NACRE_D2D_ERR_OWN_CERT);
    assert_int_equal(b.st, NACRE_D2D_ERR_TRANSPORT);
    /* A CA certificate that is not a CA: an argument error. */
    sides(f, &a, &b);
    a.id.ca_cert = (const uint8_t *)f->cert_b.pem;
    a.id.ca_cert_len = f->cert_b.len;
    run(&a, &b);
    assert_int_equal(a.st, NACRE_D2D_ERR_ARGUMENT);
}

/* ---- a fake responder written from docs/d2d.md ------------------------------------------- */

static const char LABEL[] = "nacre-d2d-v1 transcript";

static size_t read_frame(int fd, uint8_t *frame)
{
    if (read_all(fd, frame, 2) != 0) {
        return 0;
    }
    size_t len = ((size_t)frame[0] << 8) | frame[1];
    if (len > NACRE_D2D_MESSAGE_MAX || read_all(fd, frame + 2, len) != 0) {
        return 0;
    }
    return 2 + len;
}

/* H(label || parts... || role) */
static void th(uint8_t out[32], const uint8_t *p1, size_t n1, const uint8_t *p2, size_t n2,
               const uint8_t *p3, size_t n3, const char *role)
{
    crypto_generichash_state s;
    crypto_generichash_init(&s, NULL, 0, 32);
    crypto_generichash_update(&s, (const uint8_t *)LABEL, strlen(LABEL));
    crypto_generichash_update(&s, p1, n1);
    crypto_generichash_update(&s, p2, n2);
    if (p3 != NULL) {
        crypto_generichash_update(&s, p3, n3);
    }
    crypto_generichash_update(&s, (const uint8_t *)role, strlen(role));
    crypto_generichash_final(&s, out, 32);
}

/*
 * Answer an initiator on fd: read m1, send an m2 carrying cert, signed by
 * signer's Alias key. Returns 1 if a valid m3 (by initiator_pk) came back.
 */
static int fake_responder(int fd, const struct cert *cert, nacre_pluton *signer,
                          const uint8_t initiator_pk[32])
{
    uint8_t f1[2 + NACRE_D2D_MESSAGE_MAX];
    uint8_t f2[2 + NACRE_D2D_MESSAGE_MAX];
    uint8_t f3[2 + NACRE_D2D_MESSAGE_MAX];
    size_t n1 = read_frame(fd, f1);
    assert_true(n1 > 2 + 6 + 64 + 2);
    assert_memory_equal(f1 + 2, "ND2D\x01\x01", 6);

    uint8_t der[NACRE_CA_CERT_MAX];
    size_t der_len = 0;
    assert_int_equal(nacre_ca_cert_der((const uint8_t *)cert->pem, cert->len, der, sizeof der,
                                       &der_len),
                     NACRE_CA_OK);
    uint8_t kx_pk[32], kx_sk[32], nonce[32];
    crypto_kx_keypair(kx_pk, kx_sk);
    randombytes_buf(nonce, sizeof nonce);
    size_t body = 6 + 32 + 32 + 2 + der_len + 64;
    size_t n2 = 2 + body;
    f2[0] = (uint8_t)(body >> 8);
    f2[1] = (uint8_t)body;
    memcpy(f2 + 2, "ND2D\x01\x02", 6);
    memcpy(f2 + 8, kx_pk, 32);
    memcpy(f2 + 40, nonce, 32);
    f2[72] = (uint8_t)(der_len >> 8);
    f2[73] = (uint8_t)der_len;
    memcpy(f2 + 74, der, der_len);
    uint8_t h[32];
    th(h, f1, n1, f2, n2 - 64, NULL, 0, "responder");
    assert_int_equal(nacre_pluton_sign(signer, NACRE_PLUTON_KEY_ALIAS, f2 + n2 - 64, h, sizeof h),
                     NACRE_PLUTON_OK);
    if (write_all(fd, f2, n2) != 0) {
        return 0;
    }
    size_t n3 = read_frame(fd, f3);
    if (n3 == 0) {
        return 0;
    }
    assert_int_equal(n3, 2 + 6 + 64);
    assert_memory_equal(f3 + 2, "ND2D\x01\x03", 6);
    th(h, f1, n1, f2, n2, f3, 8, "initiator");
    return nacre_pluton_verify(f3 + 8, h, sizeof h, initiator_pk) == NACRE_PLUTON_OK;
}

static void run_against_fake(struct side *ini, const struct cert *cert, nacre_pluton *signer,
                             const uint8_t initiator_pk[32], int *m3_ok)
{
    int fds[2];
    pair(fds);
    ini->initiator = 1;
    ini->wire.fd = fds[0];
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, side_main, ini), 0);
    *m3_ok = fake_responder(fds[1], cert, signer, initiator_pk);
    assert_int_equal(pthread_join(t, NULL), 0);
    close(fds[0]);
    close(fds[1]);
}

static void test_wire_format_and_wrong_signer(void **state)
{
    struct fixture *f = *state;
    static struct side a, unused;
    uint8_t alias_a[32];
    int m3_ok = 0;
    assert_int_equal(nacre_pluton_key_public(f->a.p, NACRE_PLUTON_KEY_ALIAS, alias_a),
                     NACRE_PLUTON_OK);

    /* The fake, with B's certificate and B's key, is a valid responder. */
    sides(f, &a, &unused);
    run_against_fake(&a, &f->cert_b, f->b.p, alias_a, &m3_ok);
    assert_int_equal(a.st, NACRE_D2D_OK);
    assert_string_equal(a.s.peer_id, f->id_b);
    assert_true(m3_ok);

    /* B's certificate, but the signature is by C's Alias key (also certified). */
    sides(f, &a, &unused);
    run_against_fake(&a, &f->cert_b, f->c.p, alias_a, &m3_ok);
    assert_int_equal(a.st, NACRE_D2D_ERR_SIGNATURE);
    assert_false(m3_ok);

    /* Another tenant's certificate, properly signed: refused for the CA. */
    sides(f, &a, &unused);
    run_against_fake(&a, &f->cert_b_ca2, f->b.p, alias_a, &m3_ok);
    assert_int_equal(a.st, NACRE_D2D_ERR_PEER_WRONG_CA);
    assert_false(m3_ok);
}

/* ---- replay -------------------------------------------------------------------------- */

static void test_replayed_m2(void **state)
{
    struct fixture *f = *state;
    static struct side a, b;
    sides(f, &a, &b);
    run(&a, &b);
    assert_int_equal(a.st, NACRE_D2D_OK);
    uint8_t m2[2 + NACRE_D2D_MESSAGE_MAX];
    size_t m2_len = b.wire.rec_len[0];
    memcpy(m2, b.wire.rec[0], m2_len);

    /* A new session: the attacker answers A's fresh m1 with the recorded m2. */
    sides(f, &a, &b);
    int fds[2];
    pair(fds);
    a.initiator = 1;
    a.wire.fd = fds[0];
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, side_main, &a), 0);
    uint8_t m1[2 + NACRE_D2D_MESSAGE_MAX];
    assert_true(read_frame(fds[1], m1) > 0);
    assert_int_equal(write_all(fds[1], m2, m2_len), 0);
    assert_int_equal(pthread_join(t, NULL), 0);
    close(fds[0]);
    close(fds[1]);
    assert_int_equal(a.st, NACRE_D2D_ERR_SIGNATURE);
}

static void test_replayed_m3(void **state)
{
    struct fixture *f = *state;
    static struct side a, b;
    sides(f, &a, &b);
    run(&a, &b);
    assert_int_equal(b.st, NACRE_D2D_OK);
    static uint8_t m1[2 + NACRE_D2D_MESSAGE_MAX];
    static uint8_t m3[2 + NACRE_D2D_MESSAGE_MAX];
    size_t m1_len = a.wire.rec_len[0];
    size_t m3_len = a.wire.rec_len[1];
    memcpy(m1, a.wire.rec[0], m1_len);
    memcpy(m3, a.wire.rec[1], m3_len);

    /* A new session with B: the attacker replays A's whole side of the old one. */
    sides(f, &a, &b);
    int fds[2];
    pair(fds);
    b.initiator = 0;
    b.wire.fd = fds[1];
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, side_main, &b), 0);
    assert_int_equal(write_all(fds[0], m1, m1_len), 0);
    uint8_t m2[2 + NACRE_D2D_MESSAGE_MAX];
    assert_true(read_frame(fds[0], m2) > 0); /* B's fresh m2 */
    assert_int_equal(write_all(fds[0], m3, m3_len), 0);
    assert_int_equal(pthread_join(t, NULL), 0);
    close(fds[0]);
    close(fds[1]);
    assert_int_equal(b.st, NACRE_D2D_ERR_SIGNATURE);
    assert_string_equal(b.s.peer_id, "");
}

static void test_degenerate_kx_key(void **state)
{
    struct fixture *f = *state;
    static struct side a, b;
    sides(f, &a, &b);
    run(&a, &b);
    assert_int_equal(a.st, NACRE_D2D_OK);
    static uint8_t m1[2 + NACRE_D2D_MESSAGE_MAX];
    size_t m1_len = a.wire.rec_len[0];
    memcpy(m1, a.wire.rec[0], m1_len);
    memset(m1 + 2 + 6, 0, 32); /* X25519 public key 0: a zero shared secret */

    sides(f, &a, &b);
    int fds[2];
    pair(fds);
    b.initiator = 0;
    b.wire.fd = fds[1];
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, side_main, &b), 0);
    assert_int_equal(write_all(fds[0], m1, m1_len), 0);
    assert_int_equal(pthread_join(t, NULL), 0);
    uint8_t m2[2 + NACRE_D2D_MESSAGE_MAX];
    assert_int_equal(read_frame(fds[0], m2), 0); /* nothing was signed or sent */
    close(fds[0]);
    close(fds[1]);
    assert_int_equal(b.st, NACRE_D2D_ERR_CRYPTO);
    assert_int_equal(b.wire.sends, 0);
}

/* ---- tampering ------------------------------------------------------------------------- */

/*
 * Flip one byte of message m (1, 2 or 3) at offset `at` of its frame.
 * m1 and m3 are the initiator's sends 1 and 2; m2 the responder's send 1.
 */
static void tampered(struct fixture *f, int m, size_t at, uint8_t x, struct side *a,
                     struct side *b)
{
    sides(f, a, b);
    struct wire *w = m == 2 ? &b->wire : &a->wire;
    w->tamper_send = m == 3 ? 2 : 1;
    w->tamper_at = at;
    w->tamper_xor = x;
    run(a, b);
}

static void test_tampered_every_message(void **state)
{
    struct fixture *f = *state;
    static struct side a, b;
    /* The frame sizes, from a clean run. */
    sides(f, &a, &b);
    run(&a, &b);
    assert_int_equal(a.st, NACRE_D2D_OK);
    size_t len[4] = {0, a.wire.rec_len[0], b.wire.rec_len[0], a.wire.rec_len[1]};
    assert_int_equal(len[3], 2 + 6 + 64);

    int runs = 0;
    for (int m = 1; m <= 3; m++) {
        /* Every byte after the length prefix, in steps (all of the header and signature). */
        for (size_t at = 2; at < len[m]; at++) {
            int dense = at < 8 + 2 || at + 64 >= len[m] || (m != 3 && at < 2 + 6 + 64 + 2);
            if (!dense && at % 9 != 0) {
                continue;
            }
            tampered(f, m, at, (uint8_t)(1u << (at % 8)), &a, &b);
            runs++;
            /* Never a session on both sides; the receiver of m3 always refuses. */
            assert_int_not_equal(b.st, NACRE_D2D_OK);
            if (m != 3) {
                assert_int_not_equal(a.st, NACRE_D2D_OK);
            }
        }
    }
    assert_true(runs > 200);

    /* Specific answers. */
    tampered(f, 1, 2 + 4, 0x02, &a, &b); /* version 1 -> 3 */
    assert_int_equal(b.st, NACRE_D2D_ERR_VERSION);
    tampered(f, 1, 2 + 5, 0x03, &a, &b); /* type 1 -> 2 */
    assert_int_equal(b.st, NACRE_D2D_ERR_MALFORMED);
    tampered(f, 1, 2 + 0, 0x20, &a, &b); /* magic */
    assert_int_equal(b.st, NACRE_D2D_ERR_MALFORMED);
    tampered(f, 1, 2 + 6 + 3, 0x01, &a, &b); /* A's kx key: B cannot tell, A's check fails */
    assert_int_equal(a.st, NACRE_D2D_ERR_SIGNATURE);
    tampered(f, 1, 2 + 6 + 32 + 3, 0x01, &a, &b); /* A's nonce */
    assert_int_equal(a.st, NACRE_D2D_ERR_SIGNATURE);
    tampered(f, 2, len[2] - 10, 0x01, &a, &b); /* B's signature */
    assert_int_equal(a.st, NACRE_D2D_ERR_SIGNATURE);
    tampered(f, 2, 2 + 6 + 40, 0x01, &a, &b); /* B's nonce */
    assert_int_equal(a.st, NACRE_D2D_ERR_SIGNATURE);
    tampered(f, 3, len[3] - 1, 0x80, &a, &b); /* A's signature */
    assert_int_equal(b.st, NACRE_D2D_ERR_SIGNATURE);
    assert_int_equal(a.st, NACRE_D2D_OK); /* the initiator had finished (docs/d2d.md) */

    /* Length prefixes: an oversized one is refused before reading. */
    sides(f, &a, &b);
    a.wire.tamper_send = 1;
    a.wire.set_length = 1;
    a.wire.new_length = 0xFFFF;
    run(&a, &b);
    assert_int_equal(b.st, NACRE_D2D_ERR_TOO_LARGE);
    assert_int_equal(a.st, NACRE_D2D_ERR_TRANSPORT);
    sides(f, &a, &b);
    a.wire.tamper_send = 1;
    a.wire.set_length = 1;
    a.wire.new_length = (uint16_t)(len[1] - 2 - 1);
    run(&a, &b);
    assert_int_equal(b.st, NACRE_D2D_ERR_MALFORMED);
    assert_int_not_equal(a.st, NACRE_D2D_OK);
}

static void test_strerror(void **state)
{
    (void)state;
    assert_string_equal(nacre_d2d_strerror(NACRE_D2D_OK), "success");
    for (int s = 1; s <= NACRE_D2D_ERR_NO_MEMORY; s++) {
        const char *m = nacre_d2d_strerror((nacre_d2d_status)s);
        assert_string_not_equal(m, "unknown error");
        assert_string_not_equal(m, "success");
    }
    assert_string_equal(nacre_d2d_strerror((nacre_d2d_status)0), "unknown error");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_same_keys_and_ids, setup, teardown),
        cmocka_unit_test_setup_teardown(test_der_identity, setup, teardown),
        cmocka_unit_test_setup_teardown(test_other_tenant, setup, teardown),
        cmocka_unit_test_setup_teardown(test_expired, setup, teardown),
        cmocka_unit_test_setup_teardown(test_own_cert_must_match_alias, setup, teardown),
        cmocka_unit_test_setup_teardown(test_wire_format_and_wrong_signer, setup, teardown),
        cmocka_unit_test_setup_teardown(test_replayed_m2, setup, teardown),
        cmocka_unit_test_setup_teardown(test_replayed_m3, setup, teardown),
        cmocka_unit_test_setup_teardown(test_degenerate_kx_key, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tampered_every_message, setup, teardown),
        cmocka_unit_test(test_strerror),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
