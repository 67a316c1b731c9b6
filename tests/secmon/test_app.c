/*
 * test_app.c - the small app that test_server.c launches under secmon, in
 * its sandbox. Static, unsanitized, and linked with libsecmon's client half
 * only (client.c, codec.c, strerror.c compiled in).
 *
 * What it does depends on its ComponentId (from IDENTITY), so that one
 * executable serves every case:
 *   ...0001  the normal run: ping, identity, sign, certificate, a denied
 *            connection, a brokered one (port candidates below), a log event,
 *            two malformed messages; prints what it got; exits 0
 *   ...0002  crashes with SIGSEGV (a write through NULL)
 *   ...0003  blocks for ever (secmon must stop it)
 * Every result is one line on stdout (secmon's app_stdio_fd).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <nacre/secmon.h>

#define CID_PREFIX "5ec0a000-0000-4000-8000-00000000000"
#define FIRST_PORT 43117
#define PORTS 12

static void hex(char *out, const uint8_t *in, size_t n)
{
    static const char d[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = d[in[i] >> 4];
        out[2 * i + 1] = d[in[i] & 15];
    }
    out[2 * n] = '\0';
}

static nacre_secmon_status connect_to(const char *host, uint16_t port, int *fd)
{
    uint8_t req[3 + 253];
    size_t hl = strlen(host);
    req[0] = (uint8_t)port;
    req[1] = (uint8_t)(port >> 8);
    req[2] = (uint8_t)hl;
    memcpy(req + 3, host, hl);
    return nacre_app_call(NACRE_SECMON_APP_FD, NACRE_SECMON_CALL_CONNECT, req, 3 + hl, NULL, 0, NULL, fd);
}

/* A raw message that is not a request: secmon answers MALFORMED. */
static void raw_malformed(const char *what, int pass_fd)
{
    uint8_t junk[10] = {'N', 'Q', 1, 1, 0x77, 0, 0, 0, 0, 0};
    struct iovec iov = {.iov_base = junk, .iov_len = sizeof junk};
    union {
        struct cmsghdr align;
        unsigned char buf[CMSG_SPACE(sizeof(int))];
    } control;
    struct msghdr mh;
    memset(&mh, 0, sizeof mh);
    mh.msg_iov = &iov;
    mh.msg_iovlen = 1;
    if (pass_fd) {
        /* a full-size, well-formed PING, but carrying a file descriptor */
        static uint8_t msg[NACRE_SECMON_MSG_BYTES];
        if (nacre_secmon_encode_request(msg, NACRE_SECMON_CALL_PING, 0x77, NULL, 0) != NACRE_SECMON_OK) {
            exit(3);
        }
        iov.iov_base = msg;
        iov.iov_len = sizeof msg;
        memset(&control, 0, sizeof control);
        mh.msg_control = control.buf;
        mh.msg_controllen = sizeof control.buf;
        struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(sizeof(int));
        int one = 1;
        memcpy(CMSG_DATA(c), &one, sizeof one);
    }
    uint8_t resp[NACRE_SECMON_MSG_BYTES];
    unsigned call = 0;
    uint32_t id = 0;
    nacre_secmon_status st = NACRE_SECMON_OK;
    const uint8_t *p;
    size_t n;
    if (sendmsg(NACRE_SECMON_APP_FD, &mh, MSG_NOSIGNAL) < 0 ||
        recv(NACRE_SECMON_APP_FD, resp, sizeof resp, 0) != (ssize_t)sizeof resp ||
        nacre_secmon_decode_response(resp, &call, &id, &st, &p, &n) != NACRE_SECMON_OK) {
        printf("%s io\n", what);
    } else {
        printf("%s %s id %x\n", what, st == NACRE_SECMON_ERR_MALFORMED ? "malformed" : "other", (unsigned)id);
    }
}

int main(void)
{
    const int ch = NACRE_SECMON_APP_FD;
    setvbuf(stdout, NULL, _IOLBF, 0);
    uint8_t buf[NACRE_SECMON_PAYLOAD_MAX];
    size_t n = 0;
    char text[2 * NACRE_SECMON_PAYLOAD_MAX + 1];

    nacre_secmon_status st =
        nacre_app_call(ch, NACRE_SECMON_CALL_PING, "ping!", 5, buf, sizeof buf, &n, NULL);
    printf("ping %s\n", st == NACRE_SECMON_OK && n == 5 && memcmp(buf, "ping!", 5) == 0 ? "ok" : "bad");

    st = nacre_app_call(ch, NACRE_SECMON_CALL_IDENTITY, NULL, 0, buf, sizeof buf, &n, NULL);
    if (st != NACRE_SECMON_OK || n != 133) {
        printf("identity %s\n", nacre_secmon_strerror(st));
        return 2;
    }
    char cid[38];
    memcpy(cid, buf + 96, 37);
    cid[37] = '\0';
    hex(text, buf + 64, 32);
    printf("pk %s\ncid %s\n", text, cid);
    char mode = strncmp(cid, CID_PREFIX, strlen(CID_PREFIX)) == 0 ? cid[strlen(CID_PREFIX)] : '?';

    if (mode == '2') {
        printf("crashing\n");
        /* A real fault: the kernel forces SIGSEGV even on pid 1 of a pid
         * namespace, which would ignore a raise()d one. */
        volatile int *volatile nowhere = NULL;
        *nowhere = 1;
        return 4;
    }
    if (mode == '3') {
        printf("waiting\n");
        /* secmon never writes unasked: this blocks until it ends us */
        for (;;) {
            if (recv(ch, buf, sizeof buf, 0) <= 0 && errno != EINTR) {
                break;
            }
        }
        return 5;
    }

    static const char message[] = "signed by a nacre test app";
    st = nacre_app_call(ch, NACRE_SECMON_CALL_SIGN, message, sizeof message - 1, buf, sizeof buf, &n, NULL);
    if (st == NACRE_SECMON_OK && n == 64) {
        hex(text, buf, 64);
        printf("sig %s\n", text);
    } else {
        printf("sig %s\n", nacre_secmon_strerror(st));
    }

    st = nacre_app_call(ch, NACRE_SECMON_CALL_CERTIFICATE, NULL, 0, buf, sizeof buf, &n, NULL);
    if (st == NACRE_SECMON_OK) {
        hex(text, buf, n);
        printf("cert %s\n", text);
    } else {
        printf("cert %s\n", nacre_secmon_strerror(st));
    }

    int fd = -1;
    st = connect_to("127.0.0.1", 1, &fd);
    printf("connect-denied %s\n", st == NACRE_SECMON_ERR_DENIED ? "denied" : nacre_secmon_strerror(st));
    /* The manifest allows one of these ports: the one the test listens on. */
    int port = 0;
    for (int i = 0; i < PORTS && port == 0; i++) {
        st = connect_to("127.0.0.1", (uint16_t)(FIRST_PORT + i), &fd);
        if (st == NACRE_SECMON_OK && fd >= 0) {
            port = FIRST_PORT + i;
            static const char hello[] = "hello over tcp";
            if (write(fd, hello, sizeof hello - 1) != (ssize_t)(sizeof hello - 1)) {
                port = -port;
            }
            close(fd);
        }
    }
    printf("connect-port %d\n", port);

    raw_malformed("short", 0);
    raw_malformed("with-fd", 1);

    st = nacre_app_call(ch, NACRE_SECMON_CALL_LOG_EVENT, "\x02test app done", 14, NULL, 0, NULL, NULL);
    printf("log %s\n", st == NACRE_SECMON_OK ? "ok" : nacre_secmon_strerror(st));
    printf("done\n");
    return 0;
}
