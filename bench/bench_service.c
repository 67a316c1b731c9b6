/*
 * bench_service.c - nacre-service under a bounded load on loopback, against
 * the raw primitives measured in the same run (docs/performance.md,
 * "Service").
 *
 * The program starts a real nacre-service process (a temporary --data dir,
 * a free 127.0.0.1 port), sets up a tenant, a group, a root-signed image, a
 * deployment of that image to the group, and D host devices (libpluton on
 * the host board, R0 extended with the image's measurement as the boot stage
 * does) claimed into the group. Then it times three phases, each bounded by
 * a request count AND a time limit, with one load generator: a single
 * thread, epoll, C keep-alive connections (opened 5 ms apart), one request
 * in flight per connection; a request's latency is from its first byte
 * written to its last response byte read.
 *
 *   attestation  POST /v1/device/nonce then POST /v1/device/attest with real
 *                evidence (libattest, signed inside libpluton by the device's
 *                DeviceID and Alias keys) for a certificate. Rounds of D
 *                devices: D nonces (timed), D evidences made by the client
 *                (NOT timed: device work), D attests (timed). Rate =
 *                attestations / (nonce time + attest time); latency = nonce
 *                latency + attest latency of the same device.
 *   update       GET /v1/device/update signed per RFC 9421 with the device's
 *                Alias key (libpluton + libnacre-httpsig) and the certificate
 *                of its last attestation. Signatures are single use, so all
 *                requests are signed before the timed window.
 *   events       POST /v1/device/events, one app_log event per request, signed
 *                the same way beforehand (each ingest is one commit).
 *
 * and, in the same run, the baselines:
 *
 *   verify       crypto_sign_ed25519_verify_detached (64-byte message), one
 *                thread, minimum over rounds (bench_harness): what one
 *                request signature check costs at least.
 *   mhd          a trivial libmicrohttpd handler started in this process with
 *                the service's threading mode, answering 200 {"update": null}
 *                to the very bytes of the update phase's requests,
 *                under the same load generator and connection count: the HTTP
 *                stack and the load generator alone.
 *
 * For each phase it prints the rate, p50 / p99 latency, the service's CPU
 * time per request (from /proc/PID/stat; per thread from /proc/PID/task),
 * the rate that CPU time allows with every CPU ("cpu bound"), the rate as a
 * fraction of the trivial handler's, and the 1-minute load average: the
 * machine's CPUs are shared by client, server and whatever else runs.
 * Timing never fails the program; a request that does not get its expected
 * status does (exit 1).
 *
 * Usage: bench_service --service PATH [--quick] [--json] [--connections C]
 *                      [--devices D] [--seconds S] [--perf PREFIX] [--burst] [--keep]
 *        bench_service --baseline-only [--quick]
 *   --burst        open the connections all at once instead of 5 ms apart
 *   --baseline-only  only the two baselines (no service)
 *   --perf PREFIX  record each service phase with `perf record --call-graph
 *                  dwarf` into PREFIX-PHASE.data (perf must be installed)
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <microhttpd.h>
#include <sodium.h>

#include <nacre/attest.h>
#include <nacre/httpsig.h>
#include <nacre/image.h>
#include <nacre/pluton.h>

#include "test_support.h"

#include "bench_harness.h"

/* ---- configuration -------------------------------------------------------- */

struct config {
    const char *service;
    int quick;
    int json;
    int keep;
    unsigned conns;
    unsigned devices;
    double seconds;          /* time bound of each timed phase */
    size_t attest_max;       /* count bounds */
    size_t update_max;
    size_t event_max;
    const char *perf_prefix;
    int baseline_only;       /* no service: the two baselines alone */
    useconds_t stagger_us;   /* between opening two connections (0: --burst) */
};

/* The service's libmicrohttpd mode, mirrored by the baseline: keep in step
 * with http_run() in service/src/http.c (epoll, an internal thread pool of
 * one thread per online CPU, at most 64 connections). */
#define BASELINE_MHD_FLAGS (MHD_USE_EPOLL_INTERNAL_THREAD | MHD_USE_ERROR_LOG)

static const char tenant_name[] = "bench";
static const char group_name[] = "fleet";
static const char firmware_name[] = "firmware";
static const char firmware_version[] = "2.0.0";

/* ---- errors and cleanup --------------------------------------------------- */

struct service_proc {
    pid_t pid;
    char *root;   /* temporary directory: data/, service.log */
    char *data;
    char log[512];
    unsigned port;
};

static struct service_proc g_svc;
static int g_keep;

struct bdev;
static struct bdev *g_devs; /* freed by die() too: each is a temporary directory */
static unsigned g_ndevs;

static void stop_service(void);
static void free_devices(void);

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void die(const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "bench_service: ");
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\n");
    if (g_svc.log[0] != '\0') {
        fprintf(stderr, "bench_service: service log: %s\n", g_svc.log);
        g_keep = 1;
    }
    stop_service();
    free_devices();
    exit(1);
}

static void *xmalloc(size_t n)
{
    void *p = malloc(n == 0 ? 1 : n);
    if (p == NULL) {
        die("out of memory (%zu bytes)", n);
    }
    return p;
}

static char *xstrdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *p = xmalloc(n);
    memcpy(p, s, n);
    return p;
}

/* ---- the load generator --------------------------------------------------- */

/* One prepared request: the complete bytes on the wire. */
struct lg_req {
    char *buf;
    size_t len;
};

struct lg_res {
    int status;
    double latency; /* seconds */
    char *body;     /* NUL-terminated, if kept */
    size_t body_len;
};

struct lg_conn {
    int fd;
    int busy;
    size_t req;     /* index of the request in flight */
    size_t sent;
    double t0;
    char *rbuf;
    size_t rlen, rcap;
};

struct loadgen {
    unsigned port;
    unsigned n;
    struct lg_conn *c;
    int ep;
    unsigned long reconnects;
};

static int lg_connect(unsigned port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        die("socket: %s", strerror(errno));
    }
    int one = 1;
    (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0 && errno != EINPROGRESS) {
        die("connect 127.0.0.1:%u: %s", port, strerror(errno));
    }
    return fd;
}

static void lg_open_conn(struct loadgen *lg, unsigned i)
{
    struct lg_conn *c = &lg->c[i];
    c->fd = lg_connect(lg->port);
    struct epoll_event ev;
    memset(&ev, 0, sizeof ev);
    /* Edge-triggered: reads and writes always run until EAGAIN. */
    ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
    ev.data.u32 = i;
    if (epoll_ctl(lg->ep, EPOLL_CTL_ADD, c->fd, &ev) != 0) {
        die("epoll_ctl: %s", strerror(errno));
    }
    c->busy = 0;
    c->rlen = 0;
}

/*
 * Opens n connections, stagger_us apart: devices do not connect in the same
 * microsecond, and libmicrohttpd's thread pool hands a burst of connections
 * to whichever worker wakes first (--burst shows it: one worker then serves
 * every connection).
 */
static void lg_init(struct loadgen *lg, unsigned port, unsigned n, useconds_t stagger_us)
{
    memset(lg, 0, sizeof *lg);
    lg->port = port;
    lg->n = n;
    lg->c = xmalloc(n * sizeof *lg->c);
    memset(lg->c, 0, n * sizeof *lg->c);
    lg->ep = epoll_create1(EPOLL_CLOEXEC);
    if (lg->ep < 0) {
        die("epoll_create1: %s", strerror(errno));
    }
    for (unsigned i = 0; i < n; i++) {
        lg->c[i].rcap = 16384;
        lg->c[i].rbuf = xmalloc(lg->c[i].rcap + 1);
        lg_open_conn(lg, i);
        if (stagger_us > 0 && i + 1 < n) {
            usleep(stagger_us);
        }
    }
}

static void lg_close_conn(struct loadgen *lg, unsigned i)
{
    (void)epoll_ctl(lg->ep, EPOLL_CTL_DEL, lg->c[i].fd, NULL);
    close(lg->c[i].fd);
    lg->c[i].fd = -1;
}

static void lg_free(struct loadgen *lg)
{
    for (unsigned i = 0; i < lg->n; i++) {
        if (lg->c[i].fd >= 0) {
            lg_close_conn(lg, i);
        }
        free(lg->c[i].rbuf);
    }
    free(lg->c);
    close(lg->ep);
}

static int ci_prefix(const char *s, const char *end, const char *word)
{
    size_t n = strlen(word);
    return (size_t)(end - s) >= n && strncasecmp(s, word, n) == 0;
}

/*
 * Is the response in buf complete? 1 yes (sets *status, *body_off,
 * *body_len, *close_after), 0 not yet. Content-Length or chunked bodies; a
 * 204 / 304 has none. Anything malformed dies: the service must speak
 * HTTP/1.1 correctly.
 */
static int http_complete(const char *buf, size_t len, int *status, size_t *body_off,
                         size_t *body_len, int *close_after, char *chunk_out)
{
    const char *hend = NULL;
    for (size_t i = 3; i < len; i++) {
        if (buf[i] == '\n' && buf[i - 1] == '\r' && buf[i - 2] == '\n' && buf[i - 3] == '\r') {
            hend = buf + i + 1;
            break;
        }
    }
    if (hend == NULL) {
        return 0;
    }
    if (len < 12 || strncmp(buf, "HTTP/1.1 ", 9) != 0) {
        die("malformed HTTP response: %.40s", buf);
    }
    *status = atoi(buf + 9);
    long clen = -1;
    int chunked = 0;
    *close_after = 0;
    const char *p = strchr(buf, '\n') + 1;
    while (p < hend - 2) {
        const char *eol = memchr(p, '\n', (size_t)(hend - p));
        if (ci_prefix(p, eol, "content-length:")) {
            clen = strtol(p + 15, NULL, 10);
        } else if (ci_prefix(p, eol, "transfer-encoding:")) {
            chunked = 1;
        } else if (ci_prefix(p, eol, "connection:")) {
            const char *v = p + 11;
            while (*v == ' ') {
                v++;
            }
            if (ci_prefix(v, eol, "close")) {
                *close_after = 1;
            }
        }
        p = eol + 1;
    }
    size_t hlen = (size_t)(hend - buf);
    *body_off = hlen;
    if (*status == 204 || *status == 304 || (*status >= 100 && *status < 200)) {
        *body_len = 0;
        return 1;
    }
    if (!chunked) {
        if (clen < 0) {
            die("response without Content-Length (status %d)", *status);
        }
        if (len - hlen < (size_t)clen) {
            return 0;
        }
        *body_len = (size_t)clen;
        return 1;
    }
    /* chunked: walk the chunks; the decoded body goes to chunk_out (if any) */
    size_t pos = hlen, out = 0;
    for (;;) {
        const char *nl = memchr(buf + pos, '\n', len - pos);
        if (nl == NULL) {
            return 0;
        }
        size_t sz = (size_t)strtoul(buf + pos, NULL, 16);
        size_t data = (size_t)(nl - buf) + 1;
        if (len < data + sz + 2) {
            return 0;
        }
        if (chunk_out != NULL) {
            memcpy(chunk_out + out, buf + data, sz);
        }
        out += sz;
        pos = data + sz + 2;
        if (sz == 0) {
            /* no trailers expected: the final CRLF was consumed above */
            *body_len = out;
            *body_off = (size_t)-1; /* decoded into chunk_out */
            return 1;
        }
    }
}

static void lg_send(struct lg_conn *c, const struct lg_req *r)
{
    while (c->sent < r->len) {
        ssize_t w = send(c->fd, r->buf + c->sent, r->len - c->sent, MSG_NOSIGNAL);
        if (w < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOTCONN) {
                return; /* EPOLLOUT resumes */
            }
            die("send: %s", strerror(errno));
        }
        c->sent += (size_t)w;
    }
}

/*
 * Runs reqs[0..n) over the connections, at most `limit` seconds for issuing
 * (the requests in flight then finish). Fills res[i] for every completed
 * request (body kept if keep). Returns the number completed, which is a
 * prefix of reqs; *elapsed is from the first send to the last response.
 */
static size_t lg_run(struct loadgen *lg, const struct lg_req *reqs, size_t n, double limit,
                     int keep, struct lg_res *res, double *elapsed)
{
    size_t next = 0, done = 0, inflight = 0;
    double t_start = bench_now();
    double t_last = t_start;
    double last_progress = t_start;
    int stop = 0;

    for (unsigned i = 0; i < lg->n && next < n; i++) {
        struct lg_conn *c = &lg->c[i];
        c->busy = 1;
        c->req = next++;
        c->sent = 0;
        c->rlen = 0;
        c->t0 = bench_now();
        lg_send(c, &reqs[c->req]);
        inflight++;
    }
    struct epoll_event evs[64];
    while (inflight > 0) {
        int k = epoll_wait(lg->ep, evs, 64, 1000);
        if (k < 0) {
            if (errno == EINTR) {
                continue;
            }
            die("epoll_wait: %s", strerror(errno));
        }
        double now = bench_now();
        if (k == 0 && now - last_progress > 30.0) {
            die("no response for 30 s (%zu requests in flight)", inflight);
        }
        if (!stop && now - t_start >= limit) {
            stop = 1;
        }
        for (int e = 0; e < k; e++) {
            unsigned i = evs[e].data.u32;
            struct lg_conn *c = &lg->c[i];
            if (!c->busy) {
                if (evs[e].events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) {
                    /* idle connection closed by the server: reopen */
                    lg_close_conn(lg, i);
                    lg_open_conn(lg, i);
                    lg->reconnects++;
                }
                continue;
            }
            if (c->sent < reqs[c->req].len && (evs[e].events & EPOLLOUT)) {
                lg_send(c, &reqs[c->req]);
            }
            if (!(evs[e].events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))) {
                continue;
            }
            int eof = 0;
            for (;;) {
                if (c->rlen == c->rcap) {
                    c->rcap *= 2;
                    char *nb = realloc(c->rbuf, c->rcap + 1);
                    if (nb == NULL) {
                        die("out of memory");
                    }
                    c->rbuf = nb;
                }
                ssize_t r = recv(c->fd, c->rbuf + c->rlen, c->rcap - c->rlen, 0);
                if (r > 0) {
                    c->rlen += (size_t)r;
                    continue;
                }
                if (r == 0) {
                    eof = 1;
                } else if (errno != EAGAIN && errno != EWOULDBLOCK) {
                    eof = 1;
                }
                break;
            }
            c->rbuf[c->rlen] = '\0';
            int status = 0, close_after = 0;
            size_t boff = 0, blen = 0;
            if (!http_complete(c->rbuf, c->rlen, &status, &boff, &blen, &close_after, NULL)) {
                if (eof) {
                    die("connection closed mid-response (request %zu, %zu bytes read): %.60s",
                        c->req, c->rlen, c->rbuf);
                }
                continue;
            }
            double t1 = bench_now();
            struct lg_res *out = &res[c->req];
            out->status = status;
            out->latency = t1 - c->t0;
            out->body = NULL;
            out->body_len = blen;
            if (keep) {
                out->body = xmalloc(blen + 1);
                if (boff == (size_t)-1) {
                    int s2, c2;
                    size_t o2, l2;
                    (void)http_complete(c->rbuf, c->rlen, &s2, &o2, &l2, &c2, out->body);
                } else {
                    memcpy(out->body, c->rbuf + boff, blen);
                }
                out->body[blen] = '\0';
            }
            done++;
            inflight--;
            t_last = t1;
            last_progress = t1;
            c->busy = 0;
            c->rlen = 0;
            if (close_after || eof) {
                lg_close_conn(lg, i);
                lg_open_conn(lg, i);
                lg->reconnects++;
            }
            if (!stop && next < n) {
                c->busy = 1;
                c->req = next++;
                c->sent = 0;
                c->t0 = bench_now();
                lg_send(c, &reqs[c->req]);
                inflight++;
            }
        }
    }
    *elapsed = t_last - t_start;
    return done;
}

/* One request on a loadgen, for the setup calls. */
static struct lg_res lg_one(struct loadgen *lg, const struct lg_req *req)
{
    struct lg_res r;
    double el;
    memset(&r, 0, sizeof r);
    struct loadgen one = *lg;
    one.n = 1; /* the first connection only */
    if (lg_run(&one, req, 1, 60.0, 1, &r, &el) != 1) {
        die("setup request got no response");
    }
    lg->reconnects = one.reconnects;
    return r;
}

/* ---- building requests ---------------------------------------------------- */

static struct lg_req build_req(unsigned port, const char *method, const char *path,
                               const char *extra_headers, const char *ctype, const void *body,
                               size_t body_len)
{
    size_t hcap = 512 + strlen(path) + (extra_headers ? strlen(extra_headers) : 0);
    struct lg_req r;
    r.buf = xmalloc(hcap + body_len);
    int n;
    if (body != NULL) {
        n = snprintf(r.buf, hcap,
                     "%s %s HTTP/1.1\r\nHost: 127.0.0.1:%u\r\n%sContent-Type: %s\r\n"
                     "Content-Length: %zu\r\n\r\n",
                     method, path, port, extra_headers ? extra_headers : "", ctype, body_len);
    } else {
        n = snprintf(r.buf, hcap, "%s %s HTTP/1.1\r\nHost: 127.0.0.1:%u\r\n%s\r\n", method, path,
                     port, extra_headers ? extra_headers : "");
    }
    if (n < 0 || (size_t)n >= hcap) {
        die("request too long");
    }
    if (body_len > 0) {
        memcpy(r.buf + n, body, body_len);
    }
    r.len = (size_t)n + body_len;
    return r;
}

static struct lg_req bearer_req(unsigned port, const char *method, const char *path,
                                const char *token, const char *json_body)
{
    char hdr[256];
    snprintf(hdr, sizeof hdr, "Authorization: Bearer %s\r\n", token);
    return build_req(port, method, path, hdr, "application/json", json_body,
                     json_body ? strlen(json_body) : 0);
}

/* A setup call that must answer `want`; returns the parsed JSON (or NULL for 204). */
static json_t *api_call(struct loadgen *lg, const char *method, const char *path,
                        const char *token, const char *json_body, int want)
{
    struct lg_req q = token ? bearer_req(lg->port, method, path, token, json_body)
                            : build_req(lg->port, method, path, NULL, "application/json",
                                        json_body, json_body ? strlen(json_body) : 0);
    struct lg_res r = lg_one(lg, &q);
    free(q.buf);
    if (r.status != want) {
        die("%s %s: HTTP %d, expected %d: %s", method, path, r.status, want, r.body);
    }
    json_t *j = NULL;
    if (r.body_len > 0) {
        json_error_t err;
        j = json_loadb(r.body, r.body_len, 0, &err);
        if (j == NULL) {
            die("%s %s: not JSON: %s", method, path, err.text);
        }
    }
    free(r.body);
    return j;
}

static const char *jstr(json_t *o, const char *key, const char *what)
{
    const char *s = json_string_value(json_object_get(o, key));
    if (s == NULL) {
        die("%s: no string \"%s\" in the response", what, key);
    }
    return s;
}

static void hex32(char out[65], const uint8_t in[32])
{
    sodium_bin2hex(out, 65, in, 32);
}

/* ---- the service process -------------------------------------------------- */

static unsigned free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a;
    socklen_t alen = sizeof a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) != 0 ||
        getsockname(fd, (struct sockaddr *)&a, &alen) != 0) {
        die("finding a free port: %s", strerror(errno));
    }
    close(fd);
    return ntohs(a.sin_port);
}

static int port_open(unsigned port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int ok = fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof a) == 0;
    if (fd >= 0) {
        close(fd);
    }
    return ok;
}

static void start_service(const char *exe)
{
    g_svc.root = nacre_test_tmpdir("bench-service");
    size_t n = strlen(g_svc.root) + 16;
    g_svc.data = xmalloc(n);
    snprintf(g_svc.data, n, "%s/data", g_svc.root);
    snprintf(g_svc.log, sizeof g_svc.log, "%s/service.log", g_svc.root);
    if (mkdir(g_svc.data, 0700) != 0) {
        die("mkdir %s: %s", g_svc.data, strerror(errno));
    }
    for (int attempt = 0; attempt < 5; attempt++) {
        g_svc.port = free_port();
        char listen[32];
        snprintf(listen, sizeof listen, "127.0.0.1:%u", g_svc.port);
        pid_t pid = fork();
        if (pid < 0) {
            die("fork: %s", strerror(errno));
        }
        if (pid == 0) {
            int fd = open(g_svc.log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
            if (fd >= 0) {
                dup2(fd, 1);
                dup2(fd, 2);
            }
            execl(exe, exe, "--data", g_svc.data, "--listen", listen, (char *)NULL);
            fprintf(stderr, "exec %s: %s\n", exe, strerror(errno));
            _exit(127);
        }
        g_svc.pid = pid;
        for (int i = 0; i < 200; i++) { /* up to 10 s */
            int st;
            if (waitpid(pid, &st, WNOHANG) == pid) {
                g_svc.pid = 0;
                break; /* exited: maybe the port was taken; try another */
            }
            if (port_open(g_svc.port)) {
                return;
            }
            usleep(50000);
        }
        if (g_svc.pid != 0) {
            die("nacre-service did not listen on %s within 10 s", listen);
        }
    }
    die("nacre-service did not start (5 attempts)");
}

static void stop_service(void)
{
    if (g_svc.pid > 0) {
        kill(g_svc.pid, SIGTERM);
        int st;
        for (int i = 0; i < 100; i++) { /* 5 s, then SIGKILL */
            if (waitpid(g_svc.pid, &st, WNOHANG) == g_svc.pid) {
                g_svc.pid = 0;
                break;
            }
            usleep(50000);
        }
        if (g_svc.pid > 0) {
            kill(g_svc.pid, SIGKILL);
            (void)waitpid(g_svc.pid, &st, 0);
            g_svc.pid = 0;
        }
    }
    if (g_svc.root != NULL) {
        if (g_keep) {
            fprintf(stderr, "bench_service: kept %s\n", g_svc.root);
        } else {
            nacre_test_rmtree(g_svc.root);
        }
        free(g_svc.root);
        free(g_svc.data);
        g_svc.root = NULL;
        g_svc.data = NULL;
    }
}

/* utime + stime of a process, seconds. */
static double proc_cpu(pid_t pid)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        return 0.0;
    }
    char buf[2048];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    const char *p = strrchr(buf, ')'); /* after the command name */
    if (p == NULL) {
        return 0.0;
    }
    unsigned long ut = 0, stt = 0;
    /* fields 3.. after ")": state ppid pgrp session tty tpgid flags minflt cminflt majflt
     * cmajflt utime stime */
    if (sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &stt) != 2) {
        return 0.0;
    }
    return (double)(ut + stt) / (double)sysconf(_SC_CLK_TCK);
}

/* CPU seconds of each thread of a process; returns how many (at most max). */
struct tcpu {
    int tid;
    double cpu;
};

static size_t task_cpus(pid_t pid, struct tcpu *out, size_t max)
{
    char dir[64];
    snprintf(dir, sizeof dir, "/proc/%d/task", (int)pid);
    DIR *d = opendir(dir);
    size_t n = 0;
    if (d == NULL) {
        return 0;
    }
    struct dirent *e;
    while ((e = readdir(d)) != NULL && n < max) {
        if (e->d_name[0] < '0' || e->d_name[0] > '9') {
            continue;
        }
        char path[320];
        snprintf(path, sizeof path, "/proc/%d/task/%.255s/stat", (int)pid, e->d_name);
        FILE *f = fopen(path, "r");
        if (f == NULL) {
            continue;
        }
        char buf[1024];
        size_t k = fread(buf, 1, sizeof buf - 1, f);
        fclose(f);
        buf[k] = '\0';
        const char *p = strrchr(buf, ')');
        unsigned long ut = 0, stt = 0;
        if (p != NULL &&
            sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &stt) == 2) {
            out[n].tid = atoi(e->d_name);
            out[n].cpu = (double)(ut + stt) / (double)sysconf(_SC_CLK_TCK);
            n++;
        }
    }
    closedir(d);
    return n;
}

#define TASKS_MAX 64

struct thread_snap {
    struct tcpu t[TASKS_MAX];
    size_t n;
};

/* The two largest per-thread CPU deltas between two snapshots. */
static void busiest_threads(const struct thread_snap *a, const struct thread_snap *b,
                            double top[2])
{
    top[0] = top[1] = 0.0;
    for (size_t i = 0; i < b->n; i++) {
        double before = 0.0;
        for (size_t j = 0; j < a->n; j++) {
            if (a->t[j].tid == b->t[i].tid) {
                before = a->t[j].cpu;
            }
        }
        double d = b->t[i].cpu - before;
        if (d > top[0]) {
            top[1] = top[0];
            top[0] = d;
        } else if (d > top[1]) {
            top[1] = d;
        }
    }
}

static double self_cpu(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec * 1e-6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec * 1e-6;
}

/* The 1-minute load average: the machine is shared, and says so. */
static double loadavg1(void)
{
    double l = 0.0;
    FILE *f = fopen("/proc/loadavg", "r");
    if (f != NULL) {
        if (fscanf(f, "%lf", &l) != 1) {
            l = 0.0;
        }
        fclose(f);
    }
    return l;
}

/* perf record of the service during one phase (--perf PREFIX). */
static pid_t perf_start(const char *prefix, const char *phase)
{
    if (prefix == NULL || g_svc.pid <= 0) {
        return 0;
    }
    char out[512], pid[16];
    snprintf(out, sizeof out, "%s-%s.data", prefix, phase);
    snprintf(pid, sizeof pid, "%d", (int)g_svc.pid);
    pid_t p = fork();
    if (p == 0) {
        int fd = open("/dev/null", O_WRONLY);
        if (fd >= 0) {
            dup2(fd, 1);
        }
        execlp("perf", "perf", "record", "--call-graph", "dwarf,16384", "-q", "-F", "499", "-p",
               pid, "-o", out, (char *)NULL);
        _exit(127);
    }
    usleep(300000); /* let perf attach */
    return p;
}

static void perf_stop(pid_t p)
{
    if (p > 0) {
        int st;
        kill(p, SIGINT);
        (void)waitpid(p, &st, 0);
    }
}

/* ---- devices -------------------------------------------------------------- */

struct bdev {
    struct nacre_test_device d;
    char id[65];                /* device id: hex BLAKE2b-256(DeviceID pk) */
    uint8_t device_pk[32];
    char client_cert[2048];     /* Client-Cert value from the last certificate */
    uint64_t event_seq;
};

struct image {
    uint8_t *bytes;
    size_t len;
    struct nacre_image_info info;
    char id[65];
};

static void make_image(struct image *img, const uint8_t root_seed[32], const uint8_t root_pk[32])
{
    static uint8_t payload[8192];
    randombytes_buf(payload, sizeof payload);
    struct nacre_image_params prm;
    memset(&prm, 0, sizeof prm);
    prm.component = firmware_name;
    if (nacre_image_version_parse(firmware_version, &prm.version) != NACRE_UPDATE_OK) {
        die("version");
    }
    prm.security_counter = 0;
    memcpy(prm.signer_pk, root_pk, 32);
    if (nacre_image_create(&img->bytes, &img->len, payload, sizeof payload, &prm) !=
            NACRE_UPDATE_OK ||
        nacre_image_sign(img->bytes, img->len, root_seed, NULL) != NACRE_UPDATE_OK) {
        die("building the image");
    }
    uint8_t root_hash[32];
    nacre_image_key_id(root_hash, root_pk);
    struct nacre_image_policy pol;
    memset(&pol, 0, sizeof pol);
    pol.root_key_hash = root_hash;
    if (nacre_image_verify(img->bytes, img->len, &pol, &img->info) != NACRE_UPDATE_OK) {
        die("the image does not verify");
    }
    hex32(img->id, img->info.measurement);
}

static void device_new(struct bdev *b, unsigned i, const struct image *img)
{
    (void)i;
    memset(b, 0, sizeof *b);
    nacre_test_device_new(&b->d, "bench-service-dev", NULL, 1);
    /* What the boot stage does after verifying the image: R0 <- its measurement. */
    if (nacre_pluton_measure_extend(b->d.p, NACRE_PLUTON_BOOT_REGISTER, img->info.measurement) !=
            NACRE_PLUTON_OK ||
        nacre_pluton_boot_complete(b->d.p) != NACRE_PLUTON_OK ||
        nacre_pluton_key_public(b->d.p, NACRE_PLUTON_KEY_DEVICE_ID, b->device_pk) !=
            NACRE_PLUTON_OK) {
        die("booting a host device");
    }
    uint8_t h[32];
    crypto_generichash(h, sizeof h, b->device_pk, sizeof b->device_pk, NULL, 0);
    hex32(b->id, h);
}

static void device_free(struct bdev *b)
{
    /* nacre_test_device_free removes DIR/dev; the temp dir holding it too */
    char *parent = xstrdup(b->d.dir);
    char *slash = strrchr(parent, '/');
    if (slash != NULL) {
        *slash = '\0';
    }
    nacre_test_device_free(&b->d);
    (void)rmdir(parent);
    free(parent);
}

static void free_devices(void)
{
    for (unsigned i = 0; i < g_ndevs; i++) {
        device_free(&g_devs[i]);
    }
    free(g_devs);
    g_devs = NULL;
    g_ndevs = 0;
}

/* Evidence for a nonce, as JSON body of POST /v1/device/attest. */
static char *attest_body(struct bdev *b, const struct image *img, const char *nonce_hex)
{
    uint8_t nonce[64];
    size_t nonce_len = 0;
    if (sodium_hex2bin(nonce, sizeof nonce, nonce_hex, strlen(nonce_hex), NULL, &nonce_len,
                       NULL) != 0 ||
        nonce_len < NACRE_ATTEST_NONCE_MIN) {
        die("bad nonce from the service: %s", nonce_hex);
    }
    struct nacre_attest_claims claims;
    struct nacre_attest_component comp;
    memset(&comp, 0, sizeof comp);
    snprintf(comp.name, sizeof comp.name, "%s", img->info.component);
    snprintf(comp.version, sizeof comp.version, "%u.%u.%u", img->info.version.major,
             img->info.version.minor, img->info.version.patch);
    memcpy(comp.measurement, img->info.measurement, 32);
    memcpy(comp.signer_id, img->info.signer_key_id, 32);
    comp.security_counter = img->info.security_counter;
    uint8_t ev[NACRE_ATTEST_EVIDENCE_MAX];
    size_t ev_len = 0;
    if (nacre_attest_claims_init(&claims, b->d.p, nonce, nonce_len, (uint64_t)time(NULL)) !=
            NACRE_ATTEST_OK ||
        nacre_attest_claims_add_component(&claims, &comp) != NACRE_ATTEST_OK ||
        nacre_attest_evidence(b->d.p, &claims, ev, sizeof ev, &ev_len) != NACRE_ATTEST_OK) {
        die("producing evidence");
    }
    size_t b64 = sodium_base64_ENCODED_LEN(ev_len, sodium_base64_VARIANT_ORIGINAL);
    char *body = xmalloc(b64 + 200);
    int n = snprintf(body, 200, "{\"device_id\": \"%s\", \"evidence\": \"", b->id);
    sodium_bin2base64(body + n, b64, ev, ev_len, sodium_base64_VARIANT_ORIGINAL);
    strcat(body, "\"}");
    return body;
}

/* The Client-Cert value of a PEM certificate. */
static void set_client_cert(struct bdev *b, const char *pem)
{
    const char *begin = strstr(pem, "-----BEGIN CERTIFICATE-----");
    const char *end = begin ? strstr(begin, "-----END CERTIFICATE-----") : NULL;
    if (end == NULL) {
        die("no PEM certificate in the attest response");
    }
    begin += strlen("-----BEGIN CERTIFICATE-----");
    uint8_t der[4096];
    size_t der_len = 0;
    if (sodium_base642bin(der, sizeof der, begin, (size_t)(end - begin), "\r\n", &der_len, NULL,
                          sodium_base64_VARIANT_ORIGINAL) != 0 ||
        nacre_httpsig_client_cert_format(der, der_len, b->client_cert, sizeof b->client_cert) !=
            0) {
        die("decoding the device certificate");
    }
}

/* A device request signed with the Alias key (docs/service-api.md). */
static struct lg_req signed_req(struct bdev *b, unsigned port, const char *method,
                                const char *path, const char *body, uint64_t now)
{
    size_t body_len = body ? strlen(body) : 0;
    char digest[NACRE_HTTPSIG_FIELD_MAX], input[NACRE_HTTPSIG_FIELD_MAX];
    char sigval[NACRE_HTTPSIG_FIELD_MAX], date[NACRE_HTTPSIG_DATE_CHARS + 1];
    char base[NACRE_HTTPSIG_BASE_MAX];
    size_t base_len = 0;
    struct nacre_httpsig_params prm;
    memset(&prm, 0, sizeof prm);
    prm.created = now;
    memcpy(prm.keyid, b->id, sizeof prm.keyid);
    nacre_httpsig_nonce(prm.nonce);
    uint8_t sig[64];
    if (nacre_httpsig_content_digest(body ? body : "", body_len, digest, sizeof digest) != 0 ||
        nacre_httpsig_date_format(now, date) != 0 ||
        nacre_httpsig_base(method, path, date, digest, &prm, base, sizeof base, &base_len) != 0 ||
        nacre_pluton_sign(b->d.p, NACRE_PLUTON_KEY_ALIAS, sig, base, base_len) !=
            NACRE_PLUTON_OK ||
        nacre_httpsig_signature_format(sig, sigval, sizeof sigval) != 0 ||
        nacre_httpsig_input_format(&prm, input, sizeof input) != 0) {
        die("signing a request");
    }
    char hdr[4096];
    int n = snprintf(hdr, sizeof hdr,
                     "Date: %s\r\nContent-Digest: %s\r\nClient-Cert: %s\r\n"
                     "Signature-Input: %s\r\nSignature: %s\r\n",
                     date, digest, b->client_cert, input, sigval);
    if (n < 0 || (size_t)n >= sizeof hdr) {
        die("signed headers too long");
    }
    if (body == NULL) {
        return build_req(port, method, path, hdr, NULL, NULL, 0);
    }
    return build_req(port, method, path, hdr, "application/json", body, body_len);
}

/* ---- statistics ----------------------------------------------------------- */

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double percentile(double *v, size_t n, double q)
{
    if (n == 0) {
        return 0.0;
    }
    qsort(v, n, sizeof *v, cmp_double);
    size_t i = (size_t)(q * (double)(n - 1) + 0.5);
    return v[i < n ? i : n - 1];
}

struct phase {
    const char *name;
    const char *what;
    size_t count;         /* completed requests (or attestations) */
    double seconds;       /* timed */
    double rate;          /* per second */
    double p50, p99;      /* seconds */
    double server_cpu;    /* seconds of service CPU during the phase (0 if in-process) */
    double client_cpu;    /* seconds of this process's CPU */
    double threads[2];    /* CPU seconds of the service's two busiest threads */
    double target_rate;   /* 0: none */
};

static void phase_stats(struct phase *ph, const struct lg_res *res, size_t n, double seconds)
{
    double *lat = xmalloc(n * sizeof *lat);
    for (size_t i = 0; i < n; i++) {
        lat[i] = res[i].latency;
    }
    ph->count = n;
    ph->seconds = seconds;
    ph->rate = seconds > 0 ? (double)n / seconds : 0.0;
    ph->p50 = percentile(lat, n, 0.50);
    ph->p99 = percentile(lat, n, 0.99);
    free(lat);
}

static void check_all(const char *phase, const struct lg_res *res, size_t n, int want)
{
    for (size_t i = 0; i < n; i++) {
        if (res[i].status != want) {
            die("%s: request %zu got HTTP %d, expected %d%s%s", phase, i, res[i].status, want,
                res[i].body ? ": " : "", res[i].body ? res[i].body : "");
        }
    }
}

static void free_reqs(struct lg_req *q, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(q[i].buf);
    }
    free(q);
}

static void free_bodies(struct lg_res *r, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(r[i].body);
        r[i].body = NULL;
    }
}

/* ---- the signed phases ---------------------------------------------------- */

enum signed_kind { KIND_UPDATE, KIND_EVENT };

static struct lg_req make_signed(enum signed_kind kind, struct bdev *b, unsigned port)
{
    uint64_t now = (uint64_t)time(NULL);
    if (kind == KIND_UPDATE) {
        return signed_req(b, port, "GET", "/v1/device/update", NULL, now);
    }
    char body[512];
    snprintf(body, sizeof body,
             "{\"events\": [{\"seq\": %llu, \"time\": %llu, \"type\": \"app_log\", "
             "\"app\": \"00112233445566ff\", \"code\": 0, \"addr\": 0, "
             "\"detail\": \"bench event\"}]}",
             (unsigned long long)++b->event_seq, (unsigned long long)now);
    return signed_req(b, port, "POST", "/v1/device/events", body, now);
}

/*
 * A signed phase: signatures are single use, so every request is made
 * before the timed window. A short untimed warm-up run first estimates the
 * rate, so that about 1.5x what the time bound needs is signed (at most
 * max): signing 200,000 requests would take the client longer than the
 * phase. If keep_reqs, the timed requests are handed back (re-sent to the
 * trivial baseline).
 */
static void run_signed_phase(struct phase *ph, struct loadgen *lg, enum signed_kind kind,
                             struct bdev *devs, unsigned nd, const struct config *cfg, size_t max,
                             const char *perf_name, struct lg_req **keep_reqs, size_t *keep_n)
{
    size_t warm = cfg->quick ? 20 : 2000;
    struct lg_req *q = xmalloc(warm * sizeof *q);
    struct lg_res *r = xmalloc(warm * sizeof *r);
    for (size_t i = 0; i < warm; i++) {
        q[i] = make_signed(kind, &devs[i % nd], lg->port);
    }
    double el;
    size_t got = lg_run(lg, q, warm, cfg->seconds, 0, r, &el);
    check_all(ph->name, r, got, 200);
    free_reqs(q, warm);
    free(r);
    double est = el > 0 ? (double)got / el : 1000.0;
    size_t n = (size_t)(est * cfg->seconds * 1.5);
    n = n < 1000 ? 1000 : n;
    n = n > max ? max : n;

    q = xmalloc(n * sizeof *q);
    r = xmalloc(n * sizeof *r);
    for (size_t i = 0; i < n; i++) {
        q[i] = make_signed(kind, &devs[i % nd], lg->port);
    }
    struct thread_snap ts0, ts1;
    ts0.n = task_cpus(g_svc.pid, ts0.t, TASKS_MAX);
    double cpu0 = proc_cpu(g_svc.pid), ccpu0 = self_cpu();
    pid_t perf = perf_start(cfg->perf_prefix, perf_name);
    got = lg_run(lg, q, n, cfg->seconds, 0, r, &el);
    perf_stop(perf);
    ts1.n = task_cpus(g_svc.pid, ts1.t, TASKS_MAX);
    busiest_threads(&ts0, &ts1, ph->threads);
    ph->server_cpu = proc_cpu(g_svc.pid) - cpu0;
    ph->client_cpu = self_cpu() - ccpu0;
    check_all(ph->name, r, got, 200);
    phase_stats(ph, r, got, el);
    free(r);
    if (keep_reqs != NULL) {
        *keep_reqs = q;
        *keep_n = n;
    } else {
        free_reqs(q, n);
    }
}

/* ---- the trivial libmicrohttpd baseline ----------------------------------- */

static enum MHD_Result trivial_handler(void *cls, struct MHD_Connection *conn, const char *url,
                                       const char *method, const char *version,
                                       const char *upload_data, size_t *upload_data_size,
                                       void **req_cls)
{
    struct MHD_Response *resp = cls;
    (void)url;
    (void)method;
    (void)version;
    (void)upload_data;
    if (*req_cls == NULL) { /* first call: headers only */
        *req_cls = conn;
        return MHD_YES;
    }
    if (*upload_data_size != 0) {
        *upload_data_size = 0;
        return MHD_YES;
    }
    return MHD_queue_response(conn, MHD_HTTP_OK, resp);
}

static struct MHD_Daemon *start_trivial(unsigned *port, struct MHD_Response **resp)
{
    static const char body[] = "{\"update\": null}";
    *resp = MHD_create_response_from_buffer(sizeof body - 1, (void *)body, MHD_RESPMEM_PERSISTENT);
    if (*resp == NULL ||
        MHD_add_response_header(*resp, "Content-Type", "application/json") != MHD_YES) {
        die("MHD_create_response_from_buffer");
    }
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    unsigned threads = cpus > 0 && cpus < 64 ? (unsigned)cpus : 2u;
    struct MHD_Daemon *d = NULL;
    for (int attempt = 0; attempt < 5 && d == NULL; attempt++) {
        *port = free_port();
        struct sockaddr_in a;
        memset(&a, 0, sizeof a);
        a.sin_family = AF_INET;
        a.sin_port = htons((uint16_t)*port);
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        d = MHD_start_daemon(BASELINE_MHD_FLAGS, (uint16_t)*port, NULL, NULL, trivial_handler,
                             *resp, MHD_OPTION_SOCK_ADDR, (const struct sockaddr *)&a,
                             MHD_OPTION_THREAD_POOL_SIZE, threads, MHD_OPTION_CONNECTION_LIMIT,
                             64u, MHD_OPTION_CONNECTION_TIMEOUT, 10u,
                             MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)64 * 1024,
                             MHD_OPTION_END);
    }
    if (d == NULL) {
        die("MHD_start_daemon (baseline)");
    }
    return d;
}

/* ---- the verify baseline -------------------------------------------------- */

struct verify_ctx {
    uint8_t pk[32], sk[64], msg[64], sig[64];
};

static void op_verify(void *ctx)
{
    struct verify_ctx *v = ctx;
    if (crypto_sign_ed25519_verify_detached(v->sig, v->msg, sizeof v->msg, v->pk) != 0) {
        die("crypto_sign_ed25519_verify_detached");
    }
}

/* Seconds per crypto_sign_ed25519_verify_detached of 64 bytes (harness minimum). */
static double verify_baseline(const struct config *cfg)
{
    struct verify_ctx vc;
    crypto_sign_ed25519_keypair(vc.pk, vc.sk);
    randombytes_buf(vc.msg, sizeof vc.msg);
    crypto_sign_ed25519_detached(vc.sig, NULL, vc.msg, sizeof vc.msg, vc.sk);
    sodium_memzero(vc.sk, sizeof vc.sk);
    bench_op vop[1] = {op_verify};
    double s = 0.0;
    bench_interleaved(vop, &vc, 1, &s, cfg->quick ? 2 : 5, cfg->quick ? 0.01 : 0.05);
    return s;
}

/* ---- main ----------------------------------------------------------------- */

static void usage(void)
{
    fprintf(stderr,
            "usage: bench_service --service PATH [--quick] [--json] [--connections C]\n"
            "                     [--devices D] [--seconds S] [--perf PREFIX] [--burst] [--keep]\n"
            "                     | --baseline-only [--quick]\n");
    exit(2);
}

static unsigned long parse_ul(const char *s, unsigned long lo, unsigned long hi)
{
    char *end = NULL;
    errno = 0;
    unsigned long v = strtoul(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v < lo || v > hi) {
        usage();
    }
    return v;
}

static void parse_args(struct config *cfg, int argc, char **argv)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->conns = 8;
    cfg->devices = 32;
    cfg->seconds = 5.0;
    int burst = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--quick") == 0) {
            cfg->quick = 1;
        } else if (strcmp(a, "--json") == 0) {
            cfg->json = 1;
        } else if (strcmp(a, "--baseline-only") == 0) {
            cfg->baseline_only = 1;
        } else if (strcmp(a, "--burst") == 0) {
            burst = 1;
        } else if (strcmp(a, "--keep") == 0) {
            cfg->keep = 1;
        } else if (strcmp(a, "--service") == 0 && v) {
            cfg->service = v;
            i++;
        } else if (strcmp(a, "--connections") == 0 && v) {
            cfg->conns = (unsigned)parse_ul(v, 1, 60); /* the service takes 64 */
            i++;
        } else if (strcmp(a, "--devices") == 0 && v) {
            cfg->devices = (unsigned)parse_ul(v, 1, 1000);
            i++;
        } else if (strcmp(a, "--seconds") == 0 && v) {
            cfg->seconds = (double)parse_ul(v, 1, 60);
            i++;
        } else if (strcmp(a, "--perf") == 0 && v) {
            cfg->perf_prefix = v;
            i++;
        } else {
            usage();
        }
    }
    cfg->stagger_us = burst ? 0 : 5000;
    if (cfg->service == NULL && !cfg->baseline_only) {
        usage();
    }
    if (cfg->quick) {
        cfg->devices = cfg->devices < 4 ? cfg->devices : 4;
        cfg->seconds = 1.0;
        cfg->attest_max = 40;
        cfg->update_max = 400;
        cfg->event_max = 200;
    } else {
        cfg->attest_max = 30000;  /* 5,000/s x 5 s, with room */
        cfg->update_max = 200000; /* 30,000/s x 5 s, with room */
        cfg->event_max = 60000;
    }
}

/* The rate the service's own CPU time allows with every CPU to itself. */
static double cpu_bound(const struct phase *ph, long ncpu)
{
    return ph->server_cpu > 0 ? (double)ncpu * (double)ph->count / ph->server_cpu : 0.0;
}

static void print_phase_text(const struct phase *ph, double base_rate, long ncpu)
{
    char cpu[32] = "-";
    if (ph->server_cpu > 0 && ph->count > 0) {
        snprintf(cpu, sizeof cpu, "%.1f", ph->server_cpu / (double)ph->count * 1e6);
    }
    char ratio[32] = "-";
    if (base_rate > 0) {
        snprintf(ratio, sizeof ratio, "%.3fx", ph->rate / base_rate);
    }
    char target[48] = "";
    if (ph->target_rate > 0) {
        int ok = ph->rate >= ph->target_rate && ph->p99 < 0.020;
        snprintf(target, sizeof target, ">= %.0f/s, p99 < 20 ms: %s", ph->target_rate,
                 ok ? "ok" : "MISSES TARGET");
    }
    printf("%-12s %9.0f /s %9.2f ms %9.2f ms %10s %9.0f/s %10s  %s\n", ph->name, ph->rate,
           ph->p50 * 1e3, ph->p99 * 1e3, cpu, cpu_bound(ph, ncpu), ratio, target);
}

static void print_phase_json(const struct phase *ph, double base_rate, long ncpu, int last)
{
    printf("    {\"name\": \"%s\", \"what\": \"%s\", \"count\": %zu, \"seconds\": %.4f, "
           "\"rate\": %.1f, \"p50_ms\": %.3f, \"p99_ms\": %.3f, \"server_cpu_us_per_op\": %.2f, "
           "\"cpu_bound_rate\": %.1f, \"client_cpu_s\": %.3f, \"busiest_threads_cpu_s\": "
           "[%.3f, %.3f], \"ratio_to_mhd\": %.4f, \"target_rate\": %.0f}%s\n",
           ph->name, ph->what, ph->count, ph->seconds, ph->rate, ph->p50 * 1e3, ph->p99 * 1e3,
           ph->count > 0 ? ph->server_cpu / (double)ph->count * 1e6 : 0.0, cpu_bound(ph, ncpu),
           ph->client_cpu, ph->threads[0], ph->threads[1],
           base_rate > 0 ? ph->rate / base_rate : 0.0, ph->target_rate, last ? "" : ",");
}

/* --baseline-only: the trivial handler under unsigned GETs of the same size. */
static int baseline_only(const struct config *cfg, double verify_s)
{
    unsigned port;
    struct MHD_Response *resp;
    struct MHD_Daemon *d = start_trivial(&port, &resp);
    size_t n = cfg->quick ? 2000 : 400000;
    struct lg_req *q = xmalloc(n * sizeof *q);
    struct lg_res *r = xmalloc(n * sizeof *r);
    char pad[1100];
    memset(pad, 'a', sizeof pad - 1);
    pad[sizeof pad - 1] = '\0';
    char hdr[1200];
    snprintf(hdr, sizeof hdr, "X-Pad: %s\r\n", pad); /* as long as a signed request */
    for (size_t i = 0; i < n; i++) {
        q[i] = build_req(port, "GET", "/v1/device/update", hdr, NULL, NULL, 0);
    }
    struct loadgen lm;
    lg_init(&lm, port, cfg->conns, cfg->stagger_us);
    double el, c0 = self_cpu();
    size_t got = lg_run(&lm, q, n, cfg->seconds, 0, r, &el);
    double cpu = self_cpu() - c0;
    check_all("mhd", r, got, 200);
    struct phase ph;
    memset(&ph, 0, sizeof ph);
    phase_stats(&ph, r, got, el);
    printf("verify %.2f us/op = %.0f /s; trivial MHD: %zu in %.2f s = %.0f /s, p50 %.3f ms, "
           "p99 %.3f ms, process CPU %.2f s, reconnects %lu\n",
           verify_s * 1e6, 1.0 / verify_s, got, el, ph.rate, ph.p50 * 1e3, ph.p99 * 1e3, cpu,
           lm.reconnects);
    lg_free(&lm);
    free_reqs(q, n);
    free(r);
    MHD_stop_daemon(d);
    MHD_destroy_response(resp);
    return 0;
}

int main(int argc, char **argv)
{
    struct config cfg;
    parse_args(&cfg, argc, argv);
    g_keep = cfg.keep;
    if (sodium_init() < 0) {
        die("sodium_init");
    }
    signal(SIGPIPE, SIG_IGN);

    /* ---- raw baseline: Ed25519 verify (again at the end; the minimum is kept) ---- */
    double load0 = loadavg1();
    double verify_s = verify_baseline(&cfg);

    if (cfg.baseline_only) {
        return baseline_only(&cfg, verify_s);
    }

    /* ---- the service and its fleet ---- */
    start_service(cfg.service);
    struct loadgen lg;
    lg_init(&lg, g_svc.port, cfg.conns, cfg.stagger_us);

    char admin_path[600], admin_token[128];
    snprintf(admin_path, sizeof admin_path, "%s/admin.token", g_svc.data);
    FILE *f = fopen(admin_path, "r");
    if (f == NULL || fgets(admin_token, sizeof admin_token, f) == NULL) {
        die("reading %s", admin_path);
    }
    fclose(f);
    admin_token[strcspn(admin_token, "\r\n")] = '\0';

    uint8_t root_pk[32], root_sk[64], root_seed[32];
    randombytes_buf(root_seed, sizeof root_seed);
    crypto_sign_ed25519_seed_keypair(root_pk, root_sk, root_seed);
    sodium_memzero(root_sk, sizeof root_sk);
    char root_hex[65], body[1024];
    hex32(root_hex, root_pk);
    snprintf(body, sizeof body, "{\"name\": \"%s\", \"root_public_key\": \"%s\"}", tenant_name,
             root_hex);
    json_t *j = api_call(&lg, "POST", "/v1/tenants", admin_token, body, 201);
    char *token = xstrdup(jstr(j, "admin_token", "POST /v1/tenants"));
    json_decref(j);
    snprintf(body, sizeof body, "{\"name\": \"%s\"}", group_name);
    json_decref(api_call(&lg, "POST", "/v1/groups", token, body, 201));

    struct image img;
    make_image(&img, root_seed, root_pk);
    sodium_memzero(root_seed, sizeof root_seed);
    {
        char hdr[256];
        snprintf(hdr, sizeof hdr, "Authorization: Bearer %s\r\n", token);
        struct lg_req q = build_req(lg.port, "POST", "/v1/images", hdr,
                                    "application/octet-stream", img.bytes, img.len);
        struct lg_res r = lg_one(&lg, &q);
        free(q.buf);
        if (r.status != 201 || strstr(r.body, img.id) == NULL) {
            die("POST /v1/images: HTTP %d: %s", r.status, r.body);
        }
        free(r.body);
    }

    unsigned nd = cfg.devices;
    struct bdev *devs = xmalloc(nd * sizeof *devs);
    g_devs = devs;
    for (unsigned i = 0; i < nd; i++) {
        device_new(&devs[i], i, &img);
        g_ndevs = i + 1;
        char pk_hex[65];
        hex32(pk_hex, devs[i].device_pk);
        snprintf(body, sizeof body,
                 "{\"device_id_public_key\": \"%s\", \"group\": \"%s\", \"label\": \"bench-%u\"}",
                 pk_hex, group_name, i);
        json_decref(api_call(&lg, "POST", "/v1/devices", token, body, 201));
    }

    /* After the claims: a deployment offers its waves to the devices the group
     * has when it is created. */
    snprintf(body, sizeof body,
             "{\"group\": \"%s\", \"image_id\": \"%s\", \"waves\": [100], "
             "\"max_failure_rate\": 1.0}",
             group_name, img.id);
    json_decref(api_call(&lg, "POST", "/v1/deployments", token, body, 201));

    struct phase phases[4];
    memset(phases, 0, sizeof phases);

    /* ---- phase 1: attestations, in rounds of nd devices ---- */
    struct phase *pa = &phases[0];
    pa->name = "attestation";
    pa->what = "POST /v1/device/nonce + POST /v1/device/attest (evidence made untimed)";
    pa->target_rate = 5000;
    {
        size_t cap = cfg.attest_max;
        double *lat = xmalloc(cap * sizeof *lat);
        size_t total = 0;
        double timed = 0.0;
        struct lg_req *nq = xmalloc(nd * sizeof *nq);
        struct lg_req *aq = xmalloc(nd * sizeof *aq);
        struct lg_res *nr = xmalloc(nd * sizeof *nr);
        struct lg_res *ar = xmalloc(nd * sizeof *ar);
        for (unsigned i = 0; i < nd; i++) {
            snprintf(body, sizeof body, "{\"device_id\": \"%s\"}", devs[i].id);
            nq[i] = build_req(lg.port, "POST", "/v1/device/nonce", NULL, "application/json", body,
                              strlen(body));
        }
        struct thread_snap ts0, ts1;
        ts0.n = task_cpus(g_svc.pid, ts0.t, TASKS_MAX);
        double cpu0 = proc_cpu(g_svc.pid), ccpu0 = self_cpu();
        pid_t perf = perf_start(cfg.perf_prefix, "attest");
        while (total < cap && timed < cfg.seconds) {
            size_t batch = nd < cap - total ? nd : cap - total;
            double t1, t2;
            size_t got = lg_run(&lg, nq, batch, 1e9, 1, nr, &t1);
            check_all("nonce", nr, got, 200);
            for (size_t i = 0; i < got; i++) { /* the devices' work: not timed */
                json_error_t err;
                json_t *nj = json_loadb(nr[i].body, nr[i].body_len, 0, &err);
                if (nj == NULL) {
                    die("nonce: not JSON");
                }
                char *eb = attest_body(&devs[i], &img, jstr(nj, "nonce", "nonce"));
                json_decref(nj);
                aq[i] = build_req(lg.port, "POST", "/v1/device/attest", NULL, "application/json",
                                  eb, strlen(eb));
                free(eb);
            }
            free_bodies(nr, got);
            size_t got2 = lg_run(&lg, aq, got, 1e9, 1, ar, &t2);
            check_all("attest", ar, got2, 200);
            for (size_t i = 0; i < got2; i++) {
                json_error_t err;
                json_t *aj = json_loadb(ar[i].body, ar[i].body_len, 0, &err);
                if (aj == NULL) {
                    die("attest: not JSON");
                }
                set_client_cert(&devs[i], jstr(aj, "certificate", "attest"));
                json_decref(aj);
                lat[total + i] = nr[i].latency + ar[i].latency;
                free(aq[i].buf);
            }
            free_bodies(ar, got2);
            total += got2;
            timed += t1 + t2;
        }
        perf_stop(perf);
        ts1.n = task_cpus(g_svc.pid, ts1.t, TASKS_MAX);
        busiest_threads(&ts0, &ts1, pa->threads);
        pa->server_cpu = proc_cpu(g_svc.pid) - cpu0;
        pa->client_cpu = self_cpu() - ccpu0;
        pa->count = total;
        pa->seconds = timed;
        pa->rate = timed > 0 ? (double)total / timed : 0.0;
        pa->p50 = percentile(lat, total, 0.50);
        pa->p99 = percentile(lat, total, 0.99);
        free(lat);
        free_reqs(nq, nd);
        free(aq);
        free(nr);
        free(ar);
    }

    /* ---- phase 2: update checks, signed beforehand ---- */
    struct phase *pu = &phases[1];
    pu->name = "update-check";
    pu->what = "GET /v1/device/update, RFC 9421 signed (signed untimed)";
    pu->target_rate = 30000;
    size_t nu = 0;
    struct lg_req *uq = NULL;
    struct lg_res *ur = NULL;
    {
        /* the first response must be a real offer: the bench would otherwise time errors */
        struct lg_req q0 = make_signed(KIND_UPDATE, &devs[0], lg.port);
        struct lg_res r0 = lg_one(&lg, &q0);
        free(q0.buf);
        if (r0.status != 200 || strstr(r0.body, img.id) == NULL) {
            die("GET /v1/device/update: HTTP %d: %s", r0.status, r0.body);
        }
        free(r0.body);
        run_signed_phase(pu, &lg, KIND_UPDATE, devs, nd, &cfg, cfg.update_max, "update",
                         &uq, &nu);
    }

    /* ---- phase 3: event ingests ---- */
    struct phase *pe = &phases[2];
    pe->name = "event-ingest";
    pe->what = "POST /v1/device/events, 1 app_log event each, RFC 9421 signed (untimed)";
    run_signed_phase(pe, &lg, KIND_EVENT, devs, nd, &cfg, cfg.event_max, "events", NULL, NULL);
    ur = xmalloc(nu * sizeof *ur);
    unsigned long reconnects = lg.reconnects;
    lg_free(&lg);

    /* ---- baseline: a trivial MHD handler, the update phase's bytes ---- */
    struct phase *pm = &phases[3];
    pm->name = "mhd-trivial";
    pm->what = "trivial libmicrohttpd handler in-process, same requests as update-check";
    {
        unsigned port;
        struct MHD_Response *resp;
        struct MHD_Daemon *d = start_trivial(&port, &resp);
        struct loadgen lm;
        lg_init(&lm, port, cfg.conns, cfg.stagger_us);
        double ccpu0 = self_cpu();
        double el;
        size_t got = lg_run(&lm, uq, nu, cfg.seconds, 0, ur, &el);
        pm->client_cpu = self_cpu() - ccpu0; /* client + server: one process */
        check_all("mhd", ur, got, 200);
        phase_stats(pm, ur, got, el);
        lg_free(&lm);
        MHD_stop_daemon(d);
        MHD_destroy_response(resp);
    }
    free_reqs(uq, nu);
    free(ur);

    stop_service();
    double v2 = verify_baseline(&cfg);
    verify_s = v2 < verify_s ? v2 : verify_s;
    double load1 = loadavg1();
    free_devices();
    free(img.bytes);
    free(token);

    /* ---- report ---- */
    double verify_rate = 1.0 / verify_s;
    double mhd_rate = pm->rate;
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    if (cfg.json) {
        printf("{\n  \"benchmark\": \"service\",\n  \"quick\": %s,\n  \"cpus\": %ld,\n"
               "  \"connections\": %u,\n  \"devices\": %u,\n  \"seconds_per_phase\": %.1f,\n"
               "  \"reconnects\": %lu,\n  \"loadavg_start\": %.2f,\n  \"loadavg_end\": %.2f,\n",
               cfg.quick ? "true" : "false", ncpu, cfg.conns, nd, cfg.seconds, reconnects, load0,
               load1);
        printf("  \"baseline_verify\": {\"us_per_op\": %.3f, \"rate\": %.1f},\n", verify_s * 1e6,
               verify_rate);
        printf("  \"phases\": [\n");
        for (int i = 0; i < 4; i++) {
            print_phase_json(&phases[i], mhd_rate, ncpu, i == 3);
        }
        printf("  ]\n}\n");
        return 0;
    }
    printf("nacre-service on 127.0.0.1, %ld CPUs shared by client and server, %u keep-alive "
           "connections, %u devices, <= %.0f s per phase%s\n",
           ncpu, cfg.conns, nd, cfg.seconds,
           cfg.quick ? " (--quick: figures too rough to quote)" : "");
    printf("load average %.2f at the start, %.2f at the end (other processes count too)\n", load0,
           load1);
    printf("baseline: crypto_sign_ed25519_verify_detached %.2f us/op = %.0f /s (one thread)\n",
           verify_s * 1e6, verify_rate);
    printf("baseline: trivial libmicrohttpd handler, same requests and load: %.0f /s, "
           "p50 %.2f ms, p99 %.2f ms\n\n",
           mhd_rate, pm->p50 * 1e3, pm->p99 * 1e3);
    printf("%-12s %12s %12s %12s %10s %11s %10s  %s\n", "metric", "rate", "p50", "p99",
           "svc us/op", "cpu bound", "vs mhd", "target");
    for (int i = 0; i < 3; i++) {
        print_phase_text(&phases[i], mhd_rate, ncpu);
    }
    printf("(svc us/op: the service's CPU time per operation, from /proc; cpu bound: %ld CPUs /\n"
           " svc us/op, the rate if the service had every CPU and the client cost nothing)\n",
           ncpu);
    printf("\n");
    for (int i = 0; i < 3; i++) {
        const struct phase *ph = &phases[i];
        printf("%-12s %zu in %.2f s; service CPU %.2f s (%.0f%% of one CPU; busiest threads "
               "%.2f s + %.2f s), client CPU %.2f s; %.1f Ed25519 verifies' worth per op\n",
               ph->name, ph->count, ph->seconds, ph->server_cpu,
               ph->seconds > 0 ? 100.0 * ph->server_cpu / ph->seconds : 0.0, ph->threads[0],
               ph->threads[1], ph->client_cpu,
               ph->count > 0 ? ph->server_cpu / (double)ph->count / verify_s : 0.0);
    }
    if (reconnects > 0) {
        printf("(the server closed %lu keep-alive connections; they were reopened)\n", reconnects);
    }
    return 0;
}
