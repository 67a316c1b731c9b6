/*
 * client.c - the app side of a channel: one request, one response.
 *
 * The channel is a SOCK_SEQPACKET socket: message boundaries are kept, so
 * one send is one request and one recvmsg is one response. A CONNECT
 * response carries a socket as SCM_RIGHTS; any other fd that arrives is
 * closed, never leaked. Responses are decoded as strictly as requests and
 * must echo the request id and call.
 */
#define _GNU_SOURCE /* MSG_CMSG_CLOEXEC */
#include <errno.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <unistd.h>

#include "secmon_priv.h"

#define FDS_MAX 4 /* room to receive (and close) a few unexpected fds */

static atomic_uint_fast32_t next_request_id = 1;

/* Closes every fd in the control data except the first, which goes to *fd. */
static void take_fds(struct msghdr *mh, int *fd)
{
    *fd = -1;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(mh); c != NULL; c = CMSG_NXTHDR(mh, c)) {
        if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) {
            continue;
        }
        size_t n = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        for (size_t i = 0; i < n; i++) {
            int v;
            memcpy(&v, CMSG_DATA(c) + i * sizeof(int), sizeof v);
            if (*fd < 0) {
                *fd = v;
            } else {
                (void)close(v);
            }
        }
    }
}

nacre_secmon_status nacre_app_call(int channel, unsigned call, const void *req, size_t req_len, void *resp,
                                   size_t resp_max, size_t *resp_len, int *passed_fd)
{
    uint8_t msg[NACRE_SECMON_MSG_BYTES];
    if (passed_fd != NULL) {
        *passed_fd = -1;
    }
    if (resp_len != NULL) {
        *resp_len = 0;
    }
    if (channel < 0 || (resp == NULL && resp_max > 0)) {
        return NACRE_SECMON_ERR_ARGUMENT;
    }
    uint32_t id = (uint32_t)atomic_fetch_add(&next_request_id, 1);
    nacre_secmon_status s = nacre_secmon_encode_request(msg, call, id, req, req_len);
    if (s != NACRE_SECMON_OK) {
        return s;
    }
    ssize_t n;
    do {
        n = send(channel, msg, sizeof msg, MSG_NOSIGNAL);
    } while (n < 0 && errno == EINTR);
    if (n != (ssize_t)sizeof msg) {
        return NACRE_SECMON_ERR_IO;
    }

    union {
        struct cmsghdr align;
        unsigned char buf[CMSG_SPACE(FDS_MAX * sizeof(int))];
    } control;
    struct iovec iov = {.iov_base = msg, .iov_len = sizeof msg};
    struct msghdr mh;
    memset(&mh, 0, sizeof mh);
    memset(&control, 0, sizeof control);
    mh.msg_iov = &iov;
    mh.msg_iovlen = 1;
    mh.msg_control = control.buf;
    mh.msg_controllen = sizeof control.buf;
    do {
        n = recvmsg(channel, &mh, MSG_CMSG_CLOEXEC);
    } while (n < 0 && errno == EINTR);
    int fd = -1;
    if (n >= 0) {
        take_fds(&mh, &fd);
    }
    unsigned rcall = 0;
    uint32_t rid = 0;
    nacre_secmon_status status = NACRE_SECMON_ERR_IO;
    const uint8_t *payload = NULL;
    size_t len = 0;
    if (n != (ssize_t)sizeof msg || (mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) != 0 ||
        nacre_secmon_decode_response(msg, &rcall, &rid, &status, &payload, &len) != NACRE_SECMON_OK ||
        rid != id || rcall != call) {
        status = NACRE_SECMON_ERR_IO; /* not an answer to this request */
    } else if (status == NACRE_SECMON_OK && len > resp_max) {
        status = NACRE_SECMON_ERR_ARGUMENT;
    } else if (status == NACRE_SECMON_OK) {
        if (len > 0) {
            memcpy(resp, payload, len);
        }
        if (resp_len != NULL) {
            *resp_len = len;
        }
        if (passed_fd != NULL) {
            *passed_fd = fd;
            fd = -1;
        }
    }
    if (fd >= 0) {
        (void)close(fd);
    }
    return status;
}
