/*
 * http.c - nacre-service on libmicrohttpd: the listening socket and one
 * worker daemon per CPU (each its own epoll thread; the main thread accepts
 * and hands each connection to the least busy worker), connection limits
 * and timeouts, request bodies and
 * their limits, routing, JSON replies, the embedded dashboard, and the
 * per-thread database connections, tenant CA cache and last_seen queue.
 */
#define _GNU_SOURCE /* accept4 */
#include "service.h"

#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <microhttpd.h>
#include <sodium.h>

#include "dashboard_files.h"

#if MHD_VERSION < 0x00097002
typedef int MHD_Result_t;
#else
typedef enum MHD_Result MHD_Result_t;
#endif

struct svc svc;

static const char CSP[] = "default-src 'self'";

uint64_t svc_now(void)
{
    return (uint64_t)time(NULL);
}

/* ---- per-thread database connections ---- */

static _Thread_local struct store *tls_store;

struct store *svc_store(void)
{
    if (tls_store != NULL) {
        return tls_store;
    }
    struct store *st = NULL;
    if (store_open(svc.db_path, &st) != STORE_OK) {
        return NULL;
    }
    pthread_mutex_lock(&svc.lock);
    struct store **grown = realloc(svc.stores, (svc.nstores + 1) * sizeof *grown);
    if (grown == NULL) {
        pthread_mutex_unlock(&svc.lock);
        store_close(st);
        return NULL;
    }
    svc.stores = grown;
    svc.stores[svc.nstores++] = st;
    pthread_mutex_unlock(&svc.lock);
    tls_store = st;
    return st;
}

void svc_close_stores(void)
{
    pthread_mutex_lock(&svc.lock);
    for (size_t i = 0; i < svc.nstores; i++) {
        store_close(svc.stores[i]);
    }
    free(svc.stores);
    svc.stores = NULL;
    svc.nstores = 0;
    tls_store = NULL;
    pthread_mutex_unlock(&svc.lock);
}

/* ---- tenant CAs ---- */

static char *ca_dir(const char *name)
{
    size_t n = strlen(svc.data_dir) + strlen(name) + 32;
    char *p = malloc(n);
    if (p != NULL) {
        snprintf(p, n, "%s/tenants/%s/ca", svc.data_dir, name);
    }
    return p;
}

int svc_tenant_ca_init(const char *name, uint64_t now)
{
    size_t n = strlen(svc.data_dir) + strlen(name) + 32;
    char *parent = malloc(n);
    char *dir = ca_dir(name);
    int rc = -1;
    if (parent != NULL && dir != NULL) {
        snprintf(parent, n, "%s/tenants/%s", svc.data_dir, name);
        if (mkdir(parent, 0700) == 0 || errno == EEXIST) {
            nacre_ca_status st = nacre_ca_init(dir, name, now);
            /* A CA left by a crash between init and the database commit is reused. */
            rc = st == NACRE_CA_OK || st == NACRE_CA_ERR_EXISTS ? 0 : -1;
            if (rc != 0) {
                fprintf(stderr, "nacre-service: tenant %s: CA: %s\n", name, nacre_ca_strerror(st));
            }
        }
    }
    free(parent);
    free(dir);
    return rc;
}

const struct svc_tenant_ca *svc_tenant_ca(int64_t tenant_id)
{
    pthread_mutex_lock(&svc.lock);
    for (size_t i = 0; i < svc.ncas; i++) {
        if (svc.cas[i].tenant_id == tenant_id) {
            const struct svc_tenant_ca *ca = &svc.cas[i];
            pthread_mutex_unlock(&svc.lock);
            return ca;
        }
    }
    pthread_mutex_unlock(&svc.lock);

    struct store *st = svc_store();
    struct st_tenant t;
    if (st == NULL || store_tenant_get(st, tenant_id, &t) != STORE_OK) {
        return NULL;
    }
    char *dir = ca_dir(t.name);
    size_t pathn = dir != NULL ? strlen(dir) + 16 : 0;
    char *cert_path = dir != NULL ? malloc(pathn) : NULL;
    struct svc_tenant_ca ca;
    memset(&ca, 0, sizeof ca);
    ca.tenant_id = tenant_id;
    snprintf(ca.name, sizeof ca.name, "%s", t.name);
    uint8_t *pem = malloc(NACRE_CA_CERT_MAX + 1u);
    size_t pem_len = 0;
    int ok = dir != NULL && cert_path != NULL && pem != NULL;
    if (ok) {
        snprintf(cert_path, pathn, "%s/ca-cert.pem", dir);
        ok = nacre_ca_issuer_open(dir, &ca.issuer) == NACRE_CA_OK &&
             nacre_ca_read_file(cert_path, pem, NACRE_CA_CERT_MAX + 1u, &pem_len) == NACRE_CA_OK &&
             nacre_ca_cert_der(pem, pem_len, ca.ca_der, sizeof ca.ca_der, &ca.ca_der_len) ==
                 NACRE_CA_OK;
    }
    free(dir);
    free(cert_path);
    if (!ok) {
        fprintf(stderr, "nacre-service: tenant %s: cannot load its CA\n", t.name);
        nacre_ca_issuer_free(ca.issuer);
        free(pem);
        return NULL;
    }
    ca.ca_pem = (char *)pem;

    pthread_mutex_lock(&svc.lock);
    for (size_t i = 0; i < svc.ncas; i++) { /* another thread was quicker */
        if (svc.cas[i].tenant_id == tenant_id) {
            const struct svc_tenant_ca *found = &svc.cas[i];
            pthread_mutex_unlock(&svc.lock);
            nacre_ca_issuer_free(ca.issuer);
            free(ca.ca_pem);
            return found;
        }
    }
    /* The table only grows, in fixed blocks, so pointers handed out stay valid. */
    if (svc.cas == NULL) {
        svc.cas = calloc(4096, sizeof *svc.cas);
    }
    const struct svc_tenant_ca *out = NULL;
    if (svc.cas != NULL && svc.ncas < 4096) {
        svc.cas[svc.ncas] = ca;
        out = &svc.cas[svc.ncas++];
    }
    pthread_mutex_unlock(&svc.lock);
    if (out == NULL) {
        nacre_ca_issuer_free(ca.issuer);
        free(ca.ca_pem);
    }
    return out;
}

void svc_free_cas(void)
{
    for (size_t i = 0; i < svc.ncas; i++) {
        nacre_ca_issuer_free(svc.cas[i].issuer);
        free(svc.cas[i].ca_pem);
    }
    free(svc.cas);
    svc.cas = NULL;
    svc.ncas = 0;
}

/* ---- last_seen, batched ---- */

#define TOUCH_MAX 4096u
#define TOUCH_EVERY 10 /* seconds between two queued updates of one device */

void svc_touch(const char *device_id, int64_t now)
{
    uint8_t key[32];
    int64_t last = 0;
    if (svc_hex_decode(device_id, key, sizeof key) != 0) {
        return;
    }
    if (memtab_get(svc.seen, key, &last, (uint64_t)now) && now - last < TOUCH_EVERY) {
        return;
    }
    memtab_put(svc.seen, key, &now, (uint64_t)now);
    int full = 0;
    pthread_mutex_lock(&svc.lock);
    if (svc.touch_ids == NULL) {
        svc.touch_ids = calloc(TOUCH_MAX, sizeof *svc.touch_ids);
        svc.touch_times = calloc(TOUCH_MAX, sizeof *svc.touch_times);
    }
    if (svc.touch_ids != NULL && svc.touch_times != NULL && svc.ntouch < TOUCH_MAX) {
        memcpy(svc.touch_ids[svc.ntouch], device_id, 65);
        svc.touch_times[svc.ntouch++] = now;
        full = svc.ntouch == TOUCH_MAX;
    }
    pthread_mutex_unlock(&svc.lock);
    if (full) {
        svc_flush_touches();
    }
}

void svc_flush_touches(void)
{
    static pthread_mutex_t flush_lock = PTHREAD_MUTEX_INITIALIZER;
    pthread_mutex_lock(&flush_lock);
    char(*ids)[65] = NULL;
    int64_t *times = NULL;
    size_t n = 0;
    pthread_mutex_lock(&svc.lock);
    if (svc.ntouch > 0) {
        ids = svc.touch_ids;
        times = svc.touch_times;
        n = svc.ntouch;
        svc.touch_ids = NULL;
        svc.touch_times = NULL;
        svc.ntouch = 0;
    }
    pthread_mutex_unlock(&svc.lock);
    if (n > 0) {
        struct store *st = svc_store();
        if (st != NULL) {
            store_touch(st, (const char(*)[65])ids, times, n);
        }
    }
    free(ids);
    free(times);
    pthread_mutex_unlock(&flush_lock);
}

/* ---- replies ---- */

static void add_common_headers(struct MHD_Response *resp)
{
    MHD_add_response_header(resp, "Content-Security-Policy", CSP);
    MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
    MHD_add_response_header(resp, "Cache-Control", "no-store");
}

void svc_reply(struct svc_req *r, unsigned status, json_t *body)
{
    char *text = body != NULL ? json_dumps(body, JSON_COMPACT) : NULL;
    json_decref(body);
    if (r->resp != NULL) {
        MHD_destroy_response(r->resp);
        r->resp = NULL;
    }
    if (status == MHD_HTTP_NO_CONTENT) {
        free(text);
        r->resp = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
    } else {
        if (text == NULL) {
            status = MHD_HTTP_INTERNAL_SERVER_ERROR;
            text = strdup("{\"error\":{\"code\":\"internal\",\"message\":\"internal error\"}}");
            if (text == NULL) {
                r->resp = NULL;
                r->status = status;
                return;
            }
        }
        r->resp = MHD_create_response_from_buffer(strlen(text), text, MHD_RESPMEM_MUST_FREE);
        if (r->resp != NULL) {
            MHD_add_response_header(r->resp, "Content-Type", "application/json");
        } else {
            free(text);
        }
    }
    if (r->resp != NULL) {
        add_common_headers(r->resp);
    }
    r->status = status;
}

void svc_reply_text(struct svc_req *r, unsigned status, const char *json)
{
    if (r->resp != NULL) {
        MHD_destroy_response(r->resp);
    }
    r->resp = MHD_create_response_from_buffer(strlen(json), (void *)json, MHD_RESPMEM_MUST_COPY);
    if (r->resp != NULL) {
        MHD_add_response_header(r->resp, "Content-Type", "application/json");
        add_common_headers(r->resp);
    }
    r->status = status;
}

void svc_error(struct svc_req *r, unsigned status, const char *code, json_t *extra,
               const char *fmt, ...)
{
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    json_t *body = extra != NULL ? extra : json_object();
    json_object_set_new(body, "error", json_pack("{s:s, s:s}", "code", code, "message", msg));
    svc_reply(r, status, body);
}

void svc_reply_parse_error(struct svc_req *r, const struct svc_perr *err)
{
    if (strcmp(err->code, "malformed_json") == 0) {
        svc_error(r, 400, "malformed_json", NULL, "the body is not a JSON object");
    } else if (strcmp(err->code, "invalid_name") == 0) {
        svc_error(r, 400, "invalid_name", NULL,
                  "%s: 1-40 characters of [a-z0-9._-], starting with a letter or digit",
                  err->field);
    } else {
        svc_error(r, 400, "invalid_field", NULL, "invalid or missing field: %s", err->field);
    }
}

void svc_internal(struct svc_req *r)
{
    svc_error(r, 500, "internal", NULL, "internal error");
}

const char *svc_header(struct svc_req *r, const char *name)
{
    return MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, name);
}

const char *svc_query(struct svc_req *r, const char *name)
{
    return MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, name);
}

static MHD_Result_t count_arg(void *cls, enum MHD_ValueKind kind, const char *key,
                              const char *value)
{
    (void)kind;
    (void)key;
    (void)value;
    (*(int *)cls)++;
    return MHD_YES;
}

int svc_has_query(struct svc_req *r)
{
    int n = 0;
    MHD_get_connection_values(r->conn, MHD_GET_ARGUMENT_KIND, count_arg, &n);
    return n > 0;
}

/* ---- routing ---- */

static void serve_dashboard(struct svc_req *r)
{
    const char *name = r->path + 1;
    if (name[0] == '\0') {
        name = "index.html";
    }
    for (size_t i = 0; i < dashboard_file_count; i++) {
        if (strcmp(dashboard_files[i].name, name) == 0) {
            r->resp = MHD_create_response_from_buffer(dashboard_files[i].len,
                                                      (void *)dashboard_files[i].data,
                                                      MHD_RESPMEM_PERSISTENT);
            if (r->resp != NULL) {
                MHD_add_response_header(r->resp, "Content-Type", dashboard_files[i].type);
                add_common_headers(r->resp);
            }
            r->status = 200;
            return;
        }
    }
    svc_error(r, 404, "not_found", NULL, "no such page");
}

#define SEGS_MAX 8

static void route(struct svc_req *r)
{
    if (strncmp(r->path, "/v1/", 4) != 0) {
        if (strcmp(r->method, "GET") != 0 && strcmp(r->method, "HEAD") != 0) {
            svc_error(r, 405, "method_not_allowed", NULL, "method not allowed");
            return;
        }
        serve_dashboard(r);
        return;
    }
    char buf[512];
    size_t plen = strlen(r->path);
    if (plen >= sizeof buf) {
        svc_error(r, 404, "not_found", NULL, "no such resource");
        return;
    }
    memcpy(buf, r->path + 4, plen - 3);
    char *segs[SEGS_MAX];
    size_t n = 0;
    char *p = buf;
    while (1) {
        char *slash = strchr(p, '/');
        if (slash != NULL) {
            *slash = '\0';
        }
        if (p[0] == '\0' || n == SEGS_MAX) {
            svc_error(r, 404, "not_found", NULL, "no such resource");
            return;
        }
        segs[n++] = p;
        if (slash == NULL) {
            break;
        }
        p = slash + 1;
    }
    if (strcmp(segs[0], "device") == 0) {
        api_device(r, segs + 1, n - 1);
    } else {
        api_operator(r, segs, n);
    }
}

static int is_image_upload(const char *method, const char *url)
{
    return strcmp(method, "POST") == 0 && strcmp(url, "/v1/images") == 0;
}

static void reply_too_large(struct svc_req *r)
{
    svc_error(r, 413, "too_large", NULL, "the body is larger than %zu bytes", r->limit);
}

static MHD_Result_t queue(struct svc_req *r)
{
    if (r->resp == NULL) {
        return MHD_NO;
    }
    MHD_Result_t ret = MHD_queue_response(r->conn, r->status, r->resp);
    MHD_destroy_response(r->resp);
    r->resp = NULL;
    return ret;
}

static MHD_Result_t handler(void *cls, struct MHD_Connection *conn, const char *url,
                            const char *method, const char *version, const char *upload_data,
                            size_t *upload_data_size, void **con_cls)
{
    (void)cls;
    (void)version;
    struct svc_req *r = *con_cls;
    if (r == NULL) {
        r = calloc(1, sizeof *r);
        if (r == NULL) {
            return MHD_NO;
        }
        r->conn = conn;
        r->method = method;
        r->path = url;
        r->octet = is_image_upload(method, url);
        r->limit = r->octet ? SVC_IMAGE_MAX : SVC_JSON_MAX;
        *con_cls = r;
        const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Content-Length");
        if (cl != NULL) {
            char *end = NULL;
            errno = 0;
            unsigned long long n = strtoull(cl, &end, 10);
            if (errno != 0 || end == cl || n > r->limit) {
                /* Refuse before reading the body; MHD then closes the connection. */
                r->too_large = 1;
                reply_too_large(r);
                return queue(r);
            }
        }
        return MHD_YES;
    }
    if (*upload_data_size > 0) {
        size_t n = *upload_data_size;
        *upload_data_size = 0;
        if (r->too_large) {
            /* Discarding a body without Content-Length that went over the limit;
             * the 413 goes out at its end. A body that goes on and on is cut. */
            r->discarded += n;
            return r->discarded > r->limit + SVC_DISCARD_MAX ? MHD_NO : MHD_YES;
        }
        if (n > r->limit - r->len) {
            r->too_large = 1;
            free(r->body);
            r->body = NULL;
            r->cap = 0;
            r->discarded = r->len + n;
            r->len = 0;
            return MHD_YES;
        }
        if (r->len + n + 1 > r->cap) {
            size_t cap = r->cap ? r->cap : 1024;
            while (cap < r->len + n + 1) {
                cap *= 2;
            }
            char *grown = realloc(r->body, cap);
            if (grown == NULL) {
                return MHD_NO;
            }
            r->body = grown;
            r->cap = cap;
        }
        memcpy(r->body + r->len, upload_data, n);
        r->len += n;
        r->body[r->len] = '\0';
        return MHD_YES;
    }
    if (r->suspended) {
        /* Resumed after the group commit of its events (only then). */
        r->suspended = 0;
        api_device_events_done(r);
        if (r->resp == NULL) {
            svc_internal(r);
        }
        return queue(r);
    }
    if (r->too_large) {
        if (r->resp == NULL && r->status == 0) {
            reply_too_large(r);
            return queue(r);
        }
        return MHD_YES;
    }
    if (r->body == NULL) {
        r->body = strdup("");
        if (r->body == NULL) {
            return MHD_NO;
        }
    }
    route(r);
    if (r->suspended) {
        /* Suspended until its events are committed; the committer may have
         * resumed it already, and the reply goes out on the next call. */
        return MHD_YES;
    }
    if (r->resp == NULL) {
        svc_internal(r);
    }
    return queue(r);
}

static void completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                      enum MHD_RequestTerminationCode toe)
{
    (void)cls;
    (void)conn;
    (void)toe;
    struct svc_req *r = *con_cls;
    if (r != NULL) {
        if (r->resp != NULL) {
            MHD_destroy_response(r->resp);
        }
        ingest_free(r->ingest);
        free(r->body);
        free(r);
        *con_cls = NULL;
    }
}

static void log_mhd(void *cls, const char *fmt, va_list ap)
{
    (void)cls;
    (void)fmt;
    (void)ap;
    /* libmicrohttpd's messages are about clients (timeouts, resets): not ours to print. */
}

static char *read_text_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        return NULL;
    }
    size_t cap = 1 << 16;
    char *buf = malloc(cap + 1);
    size_t n = buf != NULL ? fread(buf, 1, cap, f) : 0;
    int bad = buf == NULL || ferror(f) || !feof(f);
    fclose(f);
    if (bad) {
        free(buf);
        return NULL;
    }
    buf[n] = '\0';
    return buf;
}

int http_run(const struct sockaddr_in *addr, const char *tls_cert, const char *tls_key,
             volatile sig_atomic_t *stop);

/*
 * Connections are accepted here, by the main thread, and handed to the
 * worker daemon (one per CPU, each its own epoll thread) that has the
 * fewest. libmicrohttpd's own thread pool lets every worker accept from the
 * shared listening socket, and a worker accepts up to 10 connections per
 * wake-up: connections that open at once all landed on one worker, which
 * then served them alone while the other CPU idled (bench_service --burst).
 */
#define WORKERS_MAX 64u

/*
 * A worker's connections, counted here: libmicrohttpd's own count
 * (MHD_DAEMON_INFO_CURRENT_CONNECTIONS) only moves once the worker thread
 * has taken a connection in, so connections accepted in one burst would all
 * see 0 and go to the same worker. `handed` counts connections given to the
 * worker that it has not started yet, `live` those it serves.
 */
struct worker_load {
    _Atomic unsigned handed;
    _Atomic unsigned live;
};
static struct worker_load loads[WORKERS_MAX];

static void notify_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
                              enum MHD_ConnectionNotificationCode code)
{
    struct worker_load *w = cls;
    (void)conn;
    (void)socket_context;
    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
        w->live++;
        if (w->handed > 0) {
            w->handed--;
        }
    } else if (code == MHD_CONNECTION_NOTIFY_CLOSED && w->live > 0) {
        w->live--;
    }
}

static struct MHD_Daemon *start_worker(unsigned flags, struct worker_load *w, const char *cert,
                                       const char *key)
{
    if (cert != NULL) {
        return MHD_start_daemon(flags, 0, NULL, NULL, handler, NULL,
                                MHD_OPTION_CONNECTION_LIMIT, SVC_CONNECTIONS_MAX,
                                MHD_OPTION_CONNECTION_TIMEOUT, SVC_TIMEOUT_SECONDS,
                                MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)64 * 1024,
                                MHD_OPTION_NOTIFY_COMPLETED, completed, NULL,
                                MHD_OPTION_NOTIFY_CONNECTION, notify_connection, w,
                                MHD_OPTION_EXTERNAL_LOGGER, log_mhd, NULL,
                                MHD_OPTION_HTTPS_MEM_CERT, cert,
                                MHD_OPTION_HTTPS_MEM_KEY, key,
                                MHD_OPTION_END);
    }
    return MHD_start_daemon(flags, 0, NULL, NULL, handler, NULL,
                            MHD_OPTION_CONNECTION_LIMIT, SVC_CONNECTIONS_MAX,
                            MHD_OPTION_CONNECTION_TIMEOUT, SVC_TIMEOUT_SECONDS,
                            MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)64 * 1024,
                            MHD_OPTION_NOTIFY_COMPLETED, completed, NULL,
                            MHD_OPTION_NOTIFY_CONNECTION, notify_connection, w,
                            MHD_OPTION_EXTERNAL_LOGGER, log_mhd, NULL,
                            MHD_OPTION_END);
}

/* Accept every pending connection; each goes to the least busy worker. */
static void accept_pending(int lfd, struct MHD_Daemon **workers, unsigned n)
{
    for (;;) {
        struct sockaddr_in peer;
        socklen_t plen = sizeof peer;
        int fd = accept4(lfd, (struct sockaddr *)&peer, &plen, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            return; /* EAGAIN: none left; anything else: the client went away */
        }
        unsigned best = 0;
        unsigned best_n = UINT32_MAX;
        unsigned total = 0;
        for (unsigned i = 0; i < n; i++) {
            unsigned c = loads[i].handed + loads[i].live;
            total += c;
            if (c < best_n) {
                best_n = c;
                best = i;
            }
        }
        if (total >= SVC_CONNECTIONS_MAX) {
            close(fd); /* the service-wide connection limit */
            continue;
        }
        loads[best].handed++;
        /* On failure libmicrohttpd closes fd itself. */
        if (MHD_add_connection(workers[best], fd, (const struct sockaddr *)&peer, plen) !=
            MHD_YES) {
            loads[best].handed--;
        }
    }
}

int http_run(const struct sockaddr_in *addr, const char *tls_cert, const char *tls_key,
             volatile sig_atomic_t *stop)
{
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    unsigned threads = cpus > 0 && cpus < (long)WORKERS_MAX ? (unsigned)cpus : 2u;
    unsigned flags = MHD_USE_EPOLL_INTERNAL_THREAD | MHD_USE_ERROR_LOG | MHD_USE_ITC |
                     MHD_USE_NO_LISTEN_SOCKET | MHD_ALLOW_SUSPEND_RESUME;
    char *cert = NULL;
    char *key = NULL;
    if (tls_cert != NULL) {
        if (MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES) {
            fprintf(stderr, "nacre-service: this libmicrohttpd has no TLS support\n");
            return 1;
        }
        cert = read_text_file(tls_cert);
        key = read_text_file(tls_key);
        if (cert == NULL || key == NULL) {
            fprintf(stderr, "nacre-service: cannot read %s\n", cert == NULL ? tls_cert : tls_key);
            free(cert);
            free(key);
            return 1;
        }
        flags |= MHD_USE_TLS;
    }
    char host[INET_ADDRSTRLEN] = "?";
    inet_ntop(AF_INET, &addr->sin_addr, host, sizeof host);
    int one = 1;
    int lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (lfd < 0 || setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
        bind(lfd, (const struct sockaddr *)addr, sizeof *addr) != 0 ||
        listen(lfd, (int)SVC_CONNECTIONS_MAX * 2) != 0) {
        fprintf(stderr, "nacre-service: cannot listen on %s:%u (in use, or not an address of"
                        " this host)\n", host, (unsigned)ntohs(addr->sin_port));
        if (lfd >= 0) {
            close(lfd);
        }
        free(cert);
        free(key);
        return 1;
    }
    struct sockaddr_in bound;
    socklen_t blen = sizeof bound;
    unsigned port = getsockname(lfd, (struct sockaddr *)&bound, &blen) == 0
                        ? ntohs(bound.sin_port)
                        : ntohs(addr->sin_port);
    struct MHD_Daemon *workers[WORKERS_MAX];
    unsigned nworkers = 0;
    for (; nworkers < threads; nworkers++) {
        workers[nworkers] = start_worker(flags, &loads[nworkers], cert, key);
        if (workers[nworkers] == NULL) {
            break;
        }
    }
    if (nworkers < threads) {
        fprintf(stderr, "nacre-service: cannot start the HTTP workers\n");
        for (unsigned i = 0; i < nworkers; i++) {
            MHD_stop_daemon(workers[i]);
        }
        close(lfd);
        free(cert);
        free(key);
        return 1;
    }
    if (ingest_start() != 0) {
        fprintf(stderr, "nacre-service: cannot start the event committer\n");
        for (unsigned i = 0; i < nworkers; i++) {
            MHD_stop_daemon(workers[i]);
        }
        close(lfd);
        free(cert);
        free(key);
        return 1;
    }
    printf("nacre-service: listening on %s://%s:%u (%u threads)\n", cert != NULL ? "https" : "http",
           host, port, threads);
    fflush(stdout);

    struct timespec last_flush;
    clock_gettime(CLOCK_MONOTONIC, &last_flush);
    while (!*stop) {
        struct pollfd pfd = {.fd = lfd, .events = POLLIN, .revents = 0};
        if (poll(&pfd, 1, 100) > 0 && (pfd.revents & POLLIN) != 0) {
            accept_pending(lfd, workers, nworkers);
        }
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        if (ts.tv_sec - last_flush.tv_sec >= 2) {
            svc_flush_touches();
            last_flush = ts;
        }
    }
    /* Stop accepting, commit the queued events and resume their connections
     * (libmicrohttpd must not stop with connections suspended), finish the
     * requests in flight, then close the database. */
    close(lfd);
    ingest_stop();
    for (unsigned i = 0; i < nworkers; i++) {
        MHD_stop_daemon(workers[i]);
    }
    free(cert);
    free(key);
    return 0;
}
