/*
 * d2d_common.c - shared by d2d_server and d2d_client: boot a host device the
 * way the nacre tool does, read the certificates, and move one encrypted
 * application message in each direction.
 */
#include "d2d_common.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include <nacre/board_host.h>
#include <nacre/update.h>

static int parse_u64(const char *s, uint64_t *out)
{
    uint64_t v = 0;
    if (s == NULL || *s == '\0') {
        return -1;
    }
    for (const char *p = s; *p != '\0'; p++) {
        if (*p < '0' || *p > '9' || v > (UINT64_MAX - 9u) / 10u) {
            return -1;
        }
        v = v * 10u + (uint64_t)(*p - '0');
    }
    *out = v;
    return 0;
}

int d2d_parse_args(const char *prog, int server, int argc, char **argv, struct d2d_options *o)
{
    enum { OPT_CERT = 256, OPT_CA, OPT_PORT, OPT_MESSAGE, OPT_NOW };
    static const struct option opts[] = {
        {"cert", required_argument, NULL, OPT_CERT},
        {"ca", required_argument, NULL, OPT_CA},
        {"port", required_argument, NULL, OPT_PORT},
        {"message", required_argument, NULL, OPT_MESSAGE},
        {"now", required_argument, NULL, OPT_NOW},
        {NULL, 0, NULL, 0},
    };
    const char *now = NULL;
    const char *port = NULL;
    int c;
    memset(o, 0, sizeof *o);
    o->message = server ? "hello from the server" : "hello from the client";
    opterr = 0;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case OPT_CERT:
            o->cert = optarg;
            break;
        case OPT_CA:
            o->ca = optarg;
            break;
        case OPT_PORT:
            port = optarg;
            break;
        case OPT_MESSAGE:
            o->message = optarg;
            break;
        case OPT_NOW:
            now = optarg;
            break;
        default:
            fprintf(stderr, "%s: bad option '%s'\n", prog, argv[optind - 1]);
            return -1;
        }
    }
    if (argc - optind != 1 || o->cert == NULL || o->ca == NULL || (!server && port == NULL)) {
        fprintf(stderr,
                "usage: %s DIR --cert CERT.pem --ca CA-CERT.pem %s [--message TEXT] "
                "[--now SECONDS]\n",
                prog, server ? "[--port N]" : "--port N");
        return -1;
    }
    o->dir = argv[optind];
    if (server) {
        o->listen_port = port != NULL ? port : "0";
    } else {
        o->connect_port = port;
    }
    if (now != NULL) {
        if (parse_u64(now, &o->now) != 0) {
            fprintf(stderr, "%s: --now needs seconds since the epoch, not '%s'\n", prog, now);
            return -1;
        }
    } else {
        o->now = (uint64_t)time(NULL);
    }
    if (strlen(o->message) > D2D_APP_MAX) {
        fprintf(stderr, "%s: --message is longer than %u bytes\n", prog, D2D_APP_MAX);
        return -1;
    }
    return 0;
}

void d2d_device_close(struct d2d_device *dev)
{
    if (dev->pluton != NULL) {
        nacre_pluton_deinit(dev->pluton);
        sodium_free(dev->pluton);
        dev->pluton = NULL;
    }
    nacre_host_board_close(dev->board);
    dev->board = NULL;
}

static int read_cert(const char *prog, const char *path, uint8_t *buf, size_t *len)
{
    nacre_ca_status st = nacre_ca_read_file(path, buf, NACRE_CA_CERT_MAX + 1u, len);
    if (st != NACRE_CA_OK) {
        fprintf(stderr, "%s: reading %s: %s\n", prog, path, nacre_ca_strerror(st));
        return -1;
    }
    return 0;
}

int d2d_device_open(const char *prog, const struct d2d_options *o, struct d2d_device *dev)
{
    memset(dev, 0, sizeof *dev);
    if (read_cert(prog, o->cert, dev->cert, &dev->cert_len) != 0 ||
        read_cert(prog, o->ca, dev->ca_cert, &dev->ca_cert_len) != 0) {
        return -1;
    }
    const char *detail = NULL;
    nacre_board_status bst = nacre_host_board_open(o->dir, &dev->board, &detail);
    if (bst != NACRE_BOARD_OK) {
        fprintf(stderr, "%s: opening device %s: %s%s%s\n", prog, o->dir,
                nacre_board_strerror(bst), detail != NULL ? ": " : "",
                detail != NULL ? detail : "");
        dev->board = NULL;
        return -1;
    }
    dev->pluton = sodium_malloc(sizeof *dev->pluton);
    if (dev->pluton == NULL) {
        fprintf(stderr, "%s: out of memory\n", prog);
        d2d_device_close(dev);
        return -1;
    }
    memset(dev->pluton, 0, sizeof *dev->pluton);
    nacre_pluton_status pst = nacre_pluton_init(dev->pluton, dev->board);
    if (pst != NACRE_PLUTON_OK) {
        fprintf(stderr, "%s: starting the root of trust: %s\n", prog, nacre_pluton_strerror(pst));
        d2d_device_close(dev);
        return -1;
    }
    /* Re-enter the image the last boot chose (R0 = its measurement), as `nacre` does. */
    struct nacre_boot_result boot;
    nacre_update_status ust = nacre_boot_attach(dev->pluton, dev->board, NULL, &boot);
    if (ust == NACRE_UPDATE_OK) {
        char line[96];
        snprintf(line, sizeof line, "%s %lu.%lu.%lu", boot.image.component,
                 (unsigned long)boot.image.version.major, (unsigned long)boot.image.version.minor,
                 (unsigned long)boot.image.version.patch);
        printf("%s: device %s runs %s\n", prog, o->dir, line);
    } else if (ust == NACRE_UPDATE_ERR_NO_IMAGE || ust == NACRE_UPDATE_ERR_NO_ROOT_KEY) {
        pst = nacre_pluton_boot_complete(dev->pluton);
        if (pst != NACRE_PLUTON_OK) {
            fprintf(stderr, "%s: booting: %s\n", prog, nacre_pluton_strerror(pst));
            d2d_device_close(dev);
            return -1;
        }
        printf("%s: device %s runs no image (R0 zero)\n", prog, o->dir);
    } else {
        fprintf(stderr, "%s: booting: %s\n", prog, nacre_update_strerror(ust));
        d2d_device_close(dev);
        return -1;
    }
    return 0;
}

void d2d_identity(const struct d2d_device *dev, uint64_t now, struct nacre_d2d_identity *id)
{
    id->pluton = dev->pluton;
    id->cert = dev->cert;
    id->cert_len = dev->cert_len;
    id->ca_cert = dev->ca_cert;
    id->ca_cert_len = dev->ca_cert_len;
    id->now = now;
}

int d2d_set_timeouts(int fd)
{
    struct timeval tv = {.tv_sec = D2D_TIMEOUT_SECONDS, .tv_usec = 0};
    if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) != 0 ||
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv) != 0) {
        return -1;
    }
    return 0;
}

static int write_all(int fd, const uint8_t *p, size_t len)
{
    while (len > 0) {
        ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
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
        ssize_t n = recv(fd, p, len, 0);
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

enum {
    BOX_OVERHEAD = crypto_secretbox_NONCEBYTES + crypto_secretbox_MACBYTES,
};

int d2d_send_text(int fd, const uint8_t key[32], const char *text)
{
    size_t len = strlen(text);
    uint8_t buf[2 + BOX_OVERHEAD + D2D_APP_MAX];
    if (len > D2D_APP_MAX) {
        return -1;
    }
    size_t body = BOX_OVERHEAD + len;
    buf[0] = (uint8_t)(body >> 8);
    buf[1] = (uint8_t)body;
    uint8_t *nonce = buf + 2;
    randombytes_buf(nonce, crypto_secretbox_NONCEBYTES);
    crypto_secretbox_easy(nonce + crypto_secretbox_NONCEBYTES, (const uint8_t *)text, len, nonce,
                          key);
    return write_all(fd, buf, 2 + body);
}

int d2d_recv_text(int fd, const uint8_t key[32], char *out, size_t out_max)
{
    uint8_t buf[BOX_OVERHEAD + D2D_APP_MAX];
    uint8_t pre[2];
    if (read_all(fd, pre, sizeof pre) != 0) {
        return -1;
    }
    size_t body = ((size_t)pre[0] << 8) | pre[1];
    if (body < BOX_OVERHEAD || body > sizeof buf || body - BOX_OVERHEAD >= out_max) {
        return -1;
    }
    if (read_all(fd, buf, body) != 0) {
        return -1;
    }
    size_t len = body - BOX_OVERHEAD;
    if (crypto_secretbox_open_easy((uint8_t *)out, buf + crypto_secretbox_NONCEBYTES,
                                   body - crypto_secretbox_NONCEBYTES, buf, key) != 0) {
        return -2; /* forged, or another key */
    }
    out[len] = '\0';
    return 0;
}
