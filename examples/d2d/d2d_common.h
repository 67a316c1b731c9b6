/*
 * d2d_common.h - what the two example programs share: a booted host device
 * with its certificate, the encrypted application message, and options.
 */
#ifndef D2D_COMMON_H
#define D2D_COMMON_H

#include <stddef.h>
#include <stdint.h>

#include <nacre/board.h>
#include <nacre/ca.h>
#include <nacre/d2d.h>
#include <nacre/pluton.h>

/* How long either program waits for the other, in seconds. */
#define D2D_TIMEOUT_SECONDS 20
/* Largest application message. */
#define D2D_APP_MAX 1024u

struct d2d_device {
    struct nacre_board *board;
    nacre_pluton *pluton; /* sodium_malloc'd */
    uint8_t cert[NACRE_CA_CERT_MAX + 1];
    size_t cert_len;
    uint8_t ca_cert[NACRE_CA_CERT_MAX + 1];
    size_t ca_cert_len;
};

struct d2d_options {
    const char *dir;
    const char *cert;
    const char *ca;
    const char *message;
    const char *connect_port; /* client */
    const char *listen_port;  /* server */
    uint64_t now;
};

/* Parse DIR --cert CERT.pem --ca CA-CERT.pem [--port N] [--message TEXT] [--now S]. */
int d2d_parse_args(const char *prog, int server, int argc, char **argv, struct d2d_options *o);
/* Open and boot the device (re-enter the image its last boot chose), read the files. */
int d2d_device_open(const char *prog, const struct d2d_options *o, struct d2d_device *dev);
void d2d_device_close(struct d2d_device *dev);
/* Fill a d2d identity from an open device. */
void d2d_identity(const struct d2d_device *dev, uint64_t now, struct nacre_d2d_identity *id);
/* Receive / timeouts on a socket. */
int d2d_set_timeouts(int fd);
/* One message: u16 length || 24-byte nonce || crypto_secretbox_easy(text). */
int d2d_send_text(int fd, const uint8_t key[32], const char *text);
int d2d_recv_text(int fd, const uint8_t key[32], char *out, size_t out_max);

#endif /* D2D_COMMON_H */
