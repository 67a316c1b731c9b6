/*
 * d2d_server - the responder of the device-to-device example.
 *
 *   d2d_server DIR --cert CERT.pem --ca CA-CERT.pem [--port N] [--message TEXT]
 *              [--now SECONDS]
 *
 * Boots the host device in DIR, listens on 127.0.0.1 ONLY (port N, or a free
 * port when N is 0 or absent: the line "listening on 127.0.0.1:PORT" says
 * which), accepts one connection, runs the nacre-d2d handshake as the
 * responder, prints the peer's device id, then receives one message
 * encrypted under the session key and answers with TEXT.
 * Exit status 0 only if all of that succeeded.
 */
#include "d2d_common.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <sodium.h>

static const char prog[] = "d2d_server";

/* A listening socket on 127.0.0.1:port (0 = any free port); -1 on error. */
static int listen_loopback(const char *port_text, unsigned *port_out)
{
    char *end = NULL;
    unsigned long port = strtoul(port_text, &end, 10);
    if (end == port_text || *end != '\0' || port > 65535) {
        fprintf(stderr, "%s: --port needs 0..65535, not '%s'\n", prog, port_text);
        return -1;
    }
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        perror("d2d_server: socket");
        return -1;
    }
    int one = 1;
    (void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in addr;
    memset(&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    addr.sin_port = htons((uint16_t)port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK); /* never INADDR_ANY */
    socklen_t alen = sizeof addr;
    if (bind(fd, (struct sockaddr *)&addr, sizeof addr) != 0 || listen(fd, 1) != 0 ||
        getsockname(fd, (struct sockaddr *)&addr, &alen) != 0) {
        perror("d2d_server: bind 127.0.0.1");
        close(fd);
        return -1;
    }
    *port_out = ntohs(addr.sin_port);
    return fd;
}

static int serve(const struct d2d_options *o, struct d2d_device *dev, int lfd)
{
    struct pollfd pfd = {.fd = lfd, .events = POLLIN, .revents = 0};
    int ready = poll(&pfd, 1, D2D_TIMEOUT_SECONDS * 1000);
    if (ready <= 0) {
        fprintf(stderr, "%s: no connection within %d s\n", prog, D2D_TIMEOUT_SECONDS);
        return 1;
    }
    int fd = accept(lfd, NULL, NULL);
    if (fd < 0 || d2d_set_timeouts(fd) != 0) {
        perror("d2d_server: accept");
        if (fd >= 0) {
            close(fd);
        }
        return 1;
    }
    struct nacre_d2d_identity me;
    struct nacre_d2d_transport t;
    struct nacre_d2d_session s;
    d2d_identity(dev, o->now, &me);
    nacre_d2d_transport_fd(&t, fd);
    nacre_d2d_status st = nacre_d2d_respond(&me, &t, &s);
    if (st != NACRE_D2D_OK) {
        fprintf(stderr, "%s: handshake refused: %s\n", prog, nacre_d2d_strerror(st));
        close(fd);
        return 1;
    }
    printf("%s: authenticated peer device %s\n", prog, s.peer_id);
    fflush(stdout);
    char text[D2D_APP_MAX + 1];
    int rc = d2d_recv_text(fd, s.rx, text, sizeof text);
    if (rc != 0) {
        fprintf(stderr, "%s: %s\n", prog,
                rc == -2 ? "message does not decrypt under the session key"
                         : "connection closed before the message");
    } else {
        printf("%s: received (decrypted): %s\n", prog, text);
        rc = d2d_send_text(fd, s.tx, o->message);
        if (rc != 0) {
            fprintf(stderr, "%s: sending the reply failed\n", prog);
        }
    }
    nacre_d2d_session_wipe(&s);
    close(fd);
    return rc == 0 ? 0 : 1;
}

int main(int argc, char **argv)
{
    struct d2d_options o;
    struct d2d_device dev;
    if (sodium_init() < 0 || d2d_parse_args(prog, 1, argc, argv, &o) != 0) {
        return 2;
    }
    if (d2d_device_open(prog, &o, &dev) != 0) {
        return 1;
    }
    unsigned port = 0;
    int lfd = listen_loopback(o.listen_port, &port);
    if (lfd < 0) {
        d2d_device_close(&dev);
        return 1;
    }
    printf("%s: listening on 127.0.0.1:%u\n", prog, port);
    fflush(stdout);
    int rc = serve(&o, &dev, lfd);
    close(lfd);
    d2d_device_close(&dev);
    return rc;
}
