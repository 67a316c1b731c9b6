/*
 * main.c - nacre-service: command line, data directory, start and stop.
 *
 *   nacre-service --data DIR --listen 127.0.0.1:PORT [--tls-cert C --tls-key K]
 *
 * Exit status: 0 after a clean stop (SIGTERM / SIGINT), 1 on a runtime
 * failure (database, port in use, ...), 2 on a usage error.
 */
#include "service.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include <nacre/secmon.h>

int http_run(const struct sockaddr_in *addr, const char *tls_cert, const char *tls_key,
             volatile sig_atomic_t *stop);

static const char USAGE[] =
    "usage: nacre-service --data DIR --listen ADDR:PORT [--tls-cert CERT --tls-key KEY]\n"
    "\n"
    "The Nacre reference cloud security service (docs/service.md, docs/service-api.md):\n"
    "attests devices and issues their certificates, serves staged updates, collects\n"
    "failure reports and raises threat alerts, and serves the dashboard at /.\n"
    "\n"
    "  --data DIR          state directory (created): nacre.db, admin.token, tenants/\n"
    "  --listen ADDR:PORT  IPv4 address and port to listen on, e.g. 127.0.0.1:8443\n"
    "                      (port 0: any free port; the chosen one is printed)\n"
    "  --tls-cert CERT     serve HTTPS with this PEM certificate (with --tls-key)\n"
    "  --tls-key KEY       the PEM private key of --tls-cert\n"
    "  --nonce-ttl S       attestation nonces expire after S seconds (1-3600; 60)\n"
    "  --replay-max N      signed requests remembered against replay, at most N\n"
    "                      (48 bytes each; 4194304); when full: 503\n"
    "  --nonces-used-max N used attestation nonces remembered until they expire\n"
    "                      (1048576); when full: 503\n"
    "  -h, --help          show this help\n"
    "\n"
    "On first start DIR/admin.token (mode 0600) holds the service-admin token.\n"
    "SIGTERM or SIGINT stops the service cleanly; a restart keeps all state.\n"
    "Exit status: 0 clean stop, 1 runtime failure, 2 usage error.\n";

static volatile sig_atomic_t stop_flag;

static void on_signal(int sig)
{
    (void)sig;
    stop_flag = 1;
}

static int usage_error(const char *msg, const char *arg)
{
    fprintf(stderr, "nacre-service: %s%s%s\nsee 'nacre-service --help'\n", msg,
            arg != NULL ? ": " : "", arg != NULL ? arg : "");
    return 2;
}

static int parse_count(const char *s, unsigned long long *out)
{
    char *end = NULL;
    if (s[0] < '0' || s[0] > '9') {
        return -1;
    }
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno != 0 || *end != '\0' || v > ((unsigned long long)1 << 40)) {
        return -1;
    }
    *out = v;
    return 0;
}

static int parse_listen(const char *s, struct sockaddr_in *out)
{
    char host[64];
    const char *colon = strrchr(s, ':');
    if (colon == NULL || (size_t)(colon - s) >= sizeof host || colon[1] == '\0') {
        return -1;
    }
    memcpy(host, s, (size_t)(colon - s));
    host[colon - s] = '\0';
    char *end = NULL;
    errno = 0;
    unsigned long port = strtoul(colon + 1, &end, 10);
    if (errno != 0 || *end != '\0' || port > 65535 || colon[1] == '-' || colon[1] == '+') {
        return -1;
    }
    memset(out, 0, sizeof *out);
    out->sin_family = AF_INET;
    out->sin_port = htons((uint16_t)port);
    if (inet_pton(AF_INET, host, &out->sin_addr) != 1) {
        return -1;
    }
    return 0;
}

static char *path_join(const char *a, const char *b)
{
    size_t n = strlen(a) + strlen(b) + 2;
    char *p = malloc(n);
    if (p != NULL) {
        snprintf(p, n, "%s/%s", a, b);
    }
    return p;
}

/* First start: a service-admin token in DIR/admin.token (0600). */
static int ensure_admin_token(struct store *st)
{
    int has = 0;
    if (store_has_admin(st, &has) != STORE_OK) {
        return -1;
    }
    if (has) {
        return 0;
    }
    uint8_t raw[32];
    char token[4 + 44];
    uint8_t hash[32];
    randombytes_buf(raw, sizeof raw);
    memcpy(token, "nst_", 4);
    sodium_bin2base64(token + 4, sizeof token - 4, raw, sizeof raw,
                      sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    sodium_memzero(raw, sizeof raw);
    crypto_hash_sha256(hash, (const uint8_t *)token, strlen(token));
    char *path = path_join(svc.data_dir, "admin.token");
    char *tmp = path_join(svc.data_dir, "admin.token.tmp");
    int rc = -1;
    int fd = -1;
    if (path != NULL && tmp != NULL) {
        unlink(tmp);
        fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    }
    if (fd >= 0) {
        size_t n = strlen(token);
        token[n] = '\n';
        if (write(fd, token, n + 1) == (ssize_t)(n + 1) && fsync(fd) == 0 && close(fd) == 0) {
            fd = -1;
            /* The token is in the file before the database knows it. */
            if (rename(tmp, path) == 0 &&
                store_token_create(st, 0, "service-admin", "admin.token", hash, (int64_t)svc_now(),
                                   NULL) == STORE_OK) {
                rc = 0;
            }
        }
        if (fd >= 0) {
            close(fd);
        }
    }
    if (rc != 0) {
        fprintf(stderr, "nacre-service: cannot write %s/admin.token: %s\n", svc.data_dir,
                strerror(errno));
    }
    sodium_memzero(token, sizeof token);
    free(path);
    free(tmp);
    return rc;
}

int main(int argc, char **argv)
{
    const char *data = NULL;
    const char *listen_arg = NULL;
    const char *tls_cert = NULL;
    const char *tls_key = NULL;
    const char *ttl_arg = NULL;
    const char *replay_arg = NULL;
    const char *used_arg = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            fputs(USAGE, stdout);
            return 0;
        }
        const char **slot = NULL;
        if (strcmp(a, "--data") == 0) {
            slot = &data;
        } else if (strcmp(a, "--listen") == 0) {
            slot = &listen_arg;
        } else if (strcmp(a, "--tls-cert") == 0) {
            slot = &tls_cert;
        } else if (strcmp(a, "--tls-key") == 0) {
            slot = &tls_key;
        } else if (strcmp(a, "--nonce-ttl") == 0) {
            slot = &ttl_arg;
        } else if (strcmp(a, "--replay-max") == 0) {
            slot = &replay_arg;
        } else if (strcmp(a, "--nonces-used-max") == 0) {
            slot = &used_arg;
        } else {
            return usage_error("unknown argument", a);
        }
        if (i + 1 >= argc) {
            return usage_error("missing value for", a);
        }
        *slot = argv[++i];
    }
    if (data == NULL) {
        return usage_error("--data DIR is required", NULL);
    }
    if (listen_arg == NULL) {
        return usage_error("--listen ADDR:PORT is required", NULL);
    }
    if ((tls_cert == NULL) != (tls_key == NULL)) {
        return usage_error("--tls-cert and --tls-key go together", NULL);
    }
    unsigned long long ttl = SVC_NONCE_TTL;
    unsigned long long replay_max = SVC_REPLAY_MAX;
    unsigned long long used_max = SVC_NONCES_USED_MAX;
    if ((ttl_arg != NULL && (parse_count(ttl_arg, &ttl) != 0 || ttl < 1 || ttl > 3600)) ||
        (replay_arg != NULL && (parse_count(replay_arg, &replay_max) != 0 || replay_max < 1)) ||
        (used_arg != NULL && (parse_count(used_arg, &used_max) != 0 || used_max < 1))) {
        return usage_error("--nonce-ttl takes 1-3600 seconds, --replay-max and"
                           " --nonces-used-max a positive count", NULL);
    }
    svc.nonce_ttl = (uint64_t)ttl;
    struct sockaddr_in addr;
    if (parse_listen(listen_arg, &addr) != 0) {
        return usage_error("--listen wants an IPv4 ADDR:PORT such as 127.0.0.1:8443, not",
                           listen_arg);
    }
    if (sodium_init() < 0) {
        fprintf(stderr, "nacre-service: libsodium failed to initialise\n");
        return 1;
    }
    if (mkdir(data, 0700) != 0 && errno != EEXIST) {
        fprintf(stderr, "nacre-service: cannot create %s: %s\n", data, strerror(errno));
        return 1;
    }
    struct stat sb;
    if (stat(data, &sb) != 0 || !S_ISDIR(sb.st_mode)) {
        fprintf(stderr, "nacre-service: %s is not a directory\n", data);
        return 1;
    }
    svc.data_dir = strdup(data);
    svc.db_path = path_join(data, "nacre.db");
    char *tenants = path_join(data, "tenants");
    if (svc.data_dir == NULL || svc.db_path == NULL || tenants == NULL) {
        fprintf(stderr, "nacre-service: out of memory\n");
        return 1;
    }
    if (mkdir(tenants, 0700) != 0 && errno != EEXIST) {
        fprintf(stderr, "nacre-service: cannot create %s: %s\n", tenants, strerror(errno));
        free(tenants);
        return 1;
    }
    free(tenants);
    umask(077); /* the database holds token hashes and device keys */
    svc.started_at = svc_now();
    pthread_mutex_init(&svc.lock, NULL);
    pthread_mutex_init(&svc.rollout_lock, NULL);
    randombytes_buf(svc.nonce_key, sizeof svc.nonce_key);
    /* A used nonce is kept at least nonce_ttl seconds: until it expires. */
    svc.nonces_used = memtab_new(sizeof(int64_t), svc.nonce_ttl, 16, svc.started_at);
    svc.replay = memtab_new(0, SVC_REPLAY_WINDOW, 20, svc.started_at);
    svc.certs = memtab_new(sizeof(struct svc_cert), 3600, 16, svc.started_at);
    svc.views = memtab_new(sizeof(struct svc_view), 600, 16, svc.started_at);
    svc.refs = memtab_new(sizeof(struct svc_refs), 600, 10, svc.started_at);
    svc.claimed = memtab_new(0, 600, 16, svc.started_at);
    svc.seen = memtab_new(sizeof(int64_t), 60, 16, svc.started_at);
    if (svc.nonces_used == NULL || svc.replay == NULL || svc.certs == NULL || svc.views == NULL ||
        svc.refs == NULL || svc.claimed == NULL || svc.seen == NULL) {
        fprintf(stderr, "nacre-service: out of memory\n");
        return 1;
    }
    memtab_set_max(svc.nonces_used, (size_t)used_max);
    memtab_set_max(svc.replay, (size_t)replay_max);
    memtab_set_max(svc.views, (size_t)1 << 20); /* a cache: when full, views are not kept */
    memtab_set_max(svc.refs, 1024);             /* ~9 KiB each */
    memtab_set_max(svc.claimed, (size_t)1 << 20);

    struct store *st = svc_store();
    if (st == NULL) {
        fprintf(stderr, "nacre-service: cannot open the database %s\n", svc.db_path);
        return 1;
    }
    if (ensure_admin_token(st) != 0) {
        svc_close_stores();
        return 1;
    }

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    int rc = http_run(&addr, tls_cert, tls_key, &stop_flag);

    svc_flush_touches();
    svc_close_stores();
    svc_free_cas();
    memtab_free(svc.nonces_used);
    memtab_free(svc.replay);
    memtab_free(svc.certs);
    memtab_free(svc.views);
    memtab_free(svc.refs);
    memtab_free(svc.claimed);
    sodium_memzero(svc.nonce_key, sizeof svc.nonce_key);
    memtab_free(svc.seen);
    free(svc.touch_ids);
    free(svc.touch_times);
    free(svc.data_dir);
    free(svc.db_path);
    if (rc == 0) {
        fprintf(stderr, "nacre-service: stopped\n");
    }
    return rc;
}
