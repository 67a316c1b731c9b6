/*
 * d2d_client - the initiator of the device-to-device example.
 *
 *   d2d_client DIR --cert CERT.pem --ca CA-CERT.pem --port N [--message TEXT]
 *              [--now SECONDS]
 *
 * Boots the host device in DIR, connects to 127.0.0.1:N, runs the nacre-d2d
 * handshake as the initiator, prints the peer's device id, sends TEXT
 * encrypted under the session key and prints the decrypted answer.
 * Exit status 0 only if all of that succeeded.
 */
#include "d2d_common.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <sodium.h>

static const char prog[] = "d2d_client";

static int connect_loopback(const char *port_text)
{
    char *end = NULL;
    unsigned long port = strtoul(port_text, &end, 10);
    if (end == port_text || *end != '\0' || port == 0 || port > 65535) {
        fprintf(stderr, "%s: --port needs 1..65535, not '%s'\n", prog, port_text);
        return -1;
    }
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        perror("d2d_client: socket");
        return -1;
    }
    struct sockaddr_in addr;
    memset(&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    addr.sin_port = htons((uint16_t)port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (d2d_set_timeouts(fd) != 0 || connect(fd, (struct sockaddr *)&addr, sizeof addr) != 0) {
        perror("d2d_client: connect 127.0.0.1");
        close(fd);
        return -1;
    }
    return fd;
}

int main(int argc, char **argv)
{
    struct d2d_options o;
    struct d2d_device dev;
    if (sodium_init() < 0 || d2d_parse_args(prog, 0, argc, argv, &o) != 0) {
        return 2;
    }
    if (d2d_device_open(prog, &o, &dev) != 0) {
        return 1;
    }
    int fd = connect_loopback(o.connect_port);
    if (fd < 0) {
        d2d_device_close(&dev);
        return 1;
    }
    struct nacre_d2d_identity me;
    struct nacre_d2d_transport t;
    struct nacre_d2d_session s;
    d2d_identity(&dev, o.now, &me);
    nacre_d2d_transport_fd(&t, fd);
    nacre_d2d_status st = nacre_d2d_initiate(&me, &t, &s);
    int rc = 1;
    if (st != NACRE_D2D_OK) {
        fprintf(stderr, "%s: handshake refused: %s\n", prog, nacre_d2d_strerror(st));
    } else {
        printf("%s: authenticated peer device %s\n", prog, s.peer_id);
        char text[D2D_APP_MAX + 1];
        if (d2d_send_text(fd, s.tx, o.message) != 0) {
            fprintf(stderr, "%s: sending the message failed\n", prog);
        } else {
            int r = d2d_recv_text(fd, s.rx, text, sizeof text);
            if (r == 0) {
                printf("%s: received (decrypted): %s\n", prog, text);
                rc = 0;
            } else {
                fprintf(stderr, "%s: %s\n", prog,
                        r == -2 ? "reply does not decrypt under the session key"
                                : "the server closed the connection (it refused us?)");
            }
        }
    }
    nacre_d2d_session_wipe(&s);
    close(fd);
    d2d_device_close(&dev);
    return rc;
}
