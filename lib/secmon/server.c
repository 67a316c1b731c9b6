/*
 * server.c - the host security monitor: a process that owns the device.
 *
 * Lifecycle (docs/secmon.md):
 *   start   open the host board, pluton power-on, the boot stage
 *           (nacre_boot_run; a device with no image yet completes its DICE
 *           boot with R0 = 0 and says so in the event log), then the core;
 *   launch  verify the signed app image against the device's root key,
 *           parse its package and manifest, require that the image's
 *           component is the manifest's Name, extend pluton R1 with the
 *           image measurement, register the app with the core and spawn it
 *           in its sandbox holding one end of a fresh SOCK_SEQPACKET pair;
 *   serve   poll every channel; one message per recvmsg; the core answers;
 *           a CONNECT answer carries a socket (SCM_RIGHTS), which is closed
 *           here once sent; exited apps are reaped and logged;
 *   stop    SIGTERM, a grace period, SIGKILL, reap, close, wipe.
 * The server is single-threaded: one app's request is handled at a time
 * and every channel gets at most one request per poll round.
 */
#define _GNU_SOURCE /* SCM_RIGHTS helpers, MSG_CMSG_CLOEXEC, SOCK_CLOEXEC */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include <nacre/board_host.h>
#include <nacre/image.h>
#include <nacre/sandbox.h>
#include <nacre/update.h>

#include "secmon_priv.h"

#define STOP_GRACE_MS 500
#define HUP_GRACE_MS 1000 /* an app whose channel closed gets this long to exit */
#define POLL_SLICE_MS 100 /* reap at least this often */
#define CONNECT_TIMEOUT_MS 2000
#define CERT_FILE_MAX 65536
#define MEASUREMENT_REGISTER 1u /* pluton R1: the apps launched since boot */

struct server_app {
    int used;
    pid_t pid;
    int fd;                             /* secmon's end of the channel, or -1 once closed */
    unsigned core_app;                  /* the channel's identity in the core */
    int64_t hup_ms;                     /* when the channel closed (0: open) */
    struct nacre_app_manifest manifest; /* the connection policy points here */
};

struct nacre_secmon {
    struct nacre_board *board;
    nacre_pluton *p; /* sodium_malloc'd: holds secrets */
    struct nacre_secmon_core *core;
    char component[NACRE_IMAGE_COMPONENT_MAX + 1];
    int has_component;
    int allow_degraded;
    int stdio_fd;
    struct server_app apps[NACRE_SECMON_APPS_MAX];
};

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static uint64_t wall_now(void)
{
    time_t t = time(NULL);
    return t < 0 ? 0 : (uint64_t)t;
}

static void sleep_ms(int ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

static void set_error(char *error, size_t error_max, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void set_error(char *error, size_t error_max, const char *fmt, ...)
{
    if (error == NULL || error_max == 0) {
        return;
    }
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(error, error_max, fmt, ap);
    va_end(ap);
}

static void log_event(struct nacre_secmon *sm, unsigned app, unsigned type, uint32_t code, uint64_t addr,
                      const char *detail)
{
    nacre_secmon_core_log(sm->core, app, wall_now(), type, code, addr, detail);
}

/* ---- the broker ---------------------------------------------------------------- */

static int is_loopback(const struct sockaddr *sa)
{
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)(const void *)sa;
        return (ntohl(in->sin_addr.s_addr) >> 24) == 127u;
    }
    if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)(const void *)sa;
        return IN6_IS_ADDR_LOOPBACK(&in6->sin6_addr);
    }
    return 0;
}

/* A blocking TCP connect with a timeout; -1 and errno on failure. */
static int connect_timeout(const struct addrinfo *ai)
{
    int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) {
        return -1;
    }
    if (connect(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
        if (errno != EINPROGRESS) {
            int e = errno;
            close(fd);
            errno = e;
            return -1;
        }
        struct pollfd pfd = {.fd = fd, .events = POLLOUT};
        int r;
        do {
            r = poll(&pfd, 1, CONNECT_TIMEOUT_MS);
        } while (r < 0 && errno == EINTR);
        int err = 0;
        socklen_t len = sizeof err;
        if (r <= 0 || getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0 || err != 0) {
            close(fd);
            errno = r == 0 ? ETIMEDOUT : err != 0 ? err : EIO;
            return -1;
        }
    }
    /* The app gets an ordinary blocking socket. */
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0 || fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/*
 * CONNECT, after the core checked the app's AllowedConnections. Secmon never
 * asks DNS (a lookup could stall every app's requests): the host must be a
 * numeric address, or "localhost", whose results are kept only if they are
 * loopback addresses. The socket is connected here, in secmon's network
 * namespace; the app's own namespace has no network at all.
 */
static nacre_secmon_status broker_connect(void *ctx, unsigned app, const char *host, uint16_t port, int *fd)
{
    (void)ctx;
    (void)app;
    char service[8];
    snprintf(service, sizeof service, "%u", (unsigned)port);
    struct addrinfo hints, *res = NULL;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV;
    int loopback_only = 0;
    int r = getaddrinfo(host, service, &hints, &res);
    if (r == EAI_NONAME && strcasecmp(host, "localhost") == 0) {
        hints.ai_flags = AI_NUMERICSERV;
        loopback_only = 1;
        r = getaddrinfo(host, service, &hints, &res);
    } else if (r == EAI_NONAME) {
        return NACRE_SECMON_ERR_UNSUPPORTED; /* a name secmon would have to resolve */
    }
    if (r != 0) {
        return NACRE_SECMON_ERR_NOT_FOUND;
    }
    nacre_secmon_status s = NACRE_SECMON_ERR_NOT_FOUND; /* nothing listening */
    for (const struct addrinfo *ai = res; ai != NULL; ai = ai->ai_next) {
        if (loopback_only && !is_loopback(ai->ai_addr)) {
            continue;
        }
        int c = connect_timeout(ai);
        if (c >= 0) {
            *fd = c;
            s = NACRE_SECMON_OK;
            break;
        }
    }
    freeaddrinfo(res);
    return s;
}

static int manifest_allows(const void *policy, const char *host, uint16_t port)
{
    return nacre_manifest_allows_connection(policy, host, port);
}

/* ---- start ------------------------------------------------------------------------ */

/* Reads a certificate file: DER as is, or the first PEM block decoded. */
static nacre_secmon_status read_certificate(const char *path, uint8_t *der, size_t *der_len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        return NACRE_SECMON_ERR_IO;
    }
    char *buf = malloc(CERT_FILE_MAX + 1);
    if (buf == NULL) {
        close(fd);
        return NACRE_SECMON_ERR_INTERNAL;
    }
    size_t n = 0;
    for (;;) {
        ssize_t r = read(fd, buf + n, CERT_FILE_MAX - n);
        if (r < 0 && errno == EINTR) {
            continue;
        }
        if (r < 0) {
            free(buf);
            close(fd);
            return NACRE_SECMON_ERR_IO;
        }
        if (r == 0 || n + (size_t)r == CERT_FILE_MAX) {
            n += (size_t)r;
            break;
        }
        n += (size_t)r;
    }
    close(fd);
    buf[n] = '\0';
    nacre_secmon_status s = NACRE_SECMON_OK;
    static const char begin[] = "-----BEGIN CERTIFICATE-----";
    static const char end[] = "-----END CERTIFICATE-----";
    char *b = strstr(buf, begin);
    if (b != NULL) {
        b += sizeof begin - 1;
        char *e = strstr(b, end);
        size_t out = 0;
        if (e == NULL ||
            sodium_base642bin(der, SECMON_CERT_MAX, b, (size_t)(e - b), " \t\r\n", &out, NULL,
                              sodium_base64_VARIANT_ORIGINAL) != 0 ||
            out == 0) {
            s = NACRE_SECMON_ERR_ARGUMENT;
        } else {
            *der_len = out;
        }
    } else if (n == 0 || n > SECMON_CERT_MAX) {
        s = NACRE_SECMON_ERR_ARGUMENT;
    } else {
        memcpy(der, buf, n);
        *der_len = n;
    }
    free(buf);
    return s;
}

struct nacre_secmon_core *nacre_secmon_core_of(struct nacre_secmon *sm)
{
    return sm == NULL ? NULL : sm->core;
}

static void server_free(struct nacre_secmon *sm)
{
    if (sm->core != NULL) {
        nacre_secmon_core_deinit(sm->core);
        free(sm->core);
    }
    if (sm->p != NULL) {
        nacre_pluton_deinit(sm->p);
        sodium_free(sm->p);
    }
    nacre_host_board_close(sm->board);
    sodium_memzero(sm, sizeof *sm);
    free(sm);
}

nacre_secmon_status nacre_secmon_start(struct nacre_secmon **out, const struct nacre_secmon_config *cfg)
{
    if (out == NULL || cfg == NULL || cfg->device_dir == NULL) {
        return NACRE_SECMON_ERR_ARGUMENT;
    }
    *out = NULL;
    if (cfg->component != NULL && strlen(cfg->component) > NACRE_IMAGE_COMPONENT_MAX) {
        return NACRE_SECMON_ERR_ARGUMENT;
    }
    if (sodium_init() < 0) {
        return NACRE_SECMON_ERR_INTERNAL;
    }
    struct nacre_secmon *sm = calloc(1, sizeof *sm);
    if (sm == NULL) {
        return NACRE_SECMON_ERR_INTERNAL;
    }
    sm->allow_degraded = cfg->allow_degraded;
    sm->stdio_fd = cfg->app_stdio_fd;
    for (unsigned i = 0; i < NACRE_SECMON_APPS_MAX; i++) {
        sm->apps[i].fd = -1;
    }
    if (cfg->component != NULL) {
        memcpy(sm->component, cfg->component, strlen(cfg->component) + 1);
        sm->has_component = 1;
    }

    uint8_t *cert = NULL;
    size_t cert_len = 0;
    nacre_secmon_status s = NACRE_SECMON_OK;
    if (cfg->certificate != NULL) {
        cert = malloc(SECMON_CERT_MAX);
        s = cert == NULL ? NACRE_SECMON_ERR_INTERNAL : read_certificate(cfg->certificate, cert, &cert_len);
        if (s != NACRE_SECMON_OK) {
            free(cert);
            server_free(sm);
            return s;
        }
    }

    if (nacre_host_board_open(cfg->device_dir, &sm->board, NULL) != NACRE_BOARD_OK) {
        free(cert);
        server_free(sm);
        return NACRE_SECMON_ERR_IO;
    }
    sm->p = sodium_malloc(sizeof *sm->p);
    if (sm->p == NULL || nacre_pluton_init(sm->p, sm->board) != NACRE_PLUTON_OK) {
        if (sm->p != NULL) {
            sodium_free(sm->p);
            sm->p = NULL;
        }
        free(cert);
        server_free(sm);
        return NACRE_SECMON_ERR_INTERNAL;
    }

    /* The boot stage: choose, verify and measure the firmware into R0. */
    struct nacre_update_config ucfg;
    memset(&ucfg, 0, sizeof ucfg);
    ucfg.component = sm->has_component ? sm->component : NULL;
    struct nacre_boot_result br;
    memset(&br, 0, sizeof br);
    nacre_update_status us = nacre_boot_run(sm->p, sm->board, &ucfg, &br);
    int no_image = 0;
    if (us == NACRE_UPDATE_ERR_NO_IMAGE || us == NACRE_UPDATE_ERR_NO_ROOT_KEY) {
        /* Nothing to measure (a development device): boot with R0 = 0. */
        no_image = 1;
        if (nacre_pluton_boot_complete(sm->p) != NACRE_PLUTON_OK) {
            us = NACRE_UPDATE_ERR_PLUTON;
            no_image = 0;
        }
    }
    if (us != NACRE_UPDATE_OK && !no_image) {
        free(cert);
        server_free(sm);
        return NACRE_SECMON_ERR_INTERNAL;
    }

    sm->core = malloc(nacre_secmon_core_size());
    if (sm->core == NULL) {
        free(cert);
        server_free(sm);
        return NACRE_SECMON_ERR_INTERNAL;
    }
    s = nacre_secmon_core_init(sm->core, sm->p, sm->board, cfg->rate == 0 ? SECMON_DEFAULT_RATE : cfg->rate);
    if (s != NACRE_SECMON_OK) {
        free(sm->core);
        sm->core = NULL;
        free(cert);
        server_free(sm);
        return s;
    }
    secmon_core_set_broker(sm->core, broker_connect, sm);
    secmon_core_set_update_component(sm->core, sm->has_component ? sm->component : NULL);
    if (cert != NULL) {
        s = secmon_core_set_certificate(sm->core, cert, cert_len);
        sodium_memzero(cert, SECMON_CERT_MAX);
        free(cert);
        if (s != NACRE_SECMON_OK) {
            server_free(sm);
            return s;
        }
    }
    if (no_image) {
        log_event(sm, NACRE_SECMON_APPS_MAX, NACRE_SECMON_EVENT_VERIFY_FAILED, (uint32_t)us,
                  (uint64_t)br.rejected_why, us == NACRE_UPDATE_ERR_NO_IMAGE ? "no image" : "no root key");
    }
    *out = sm;
    return NACRE_SECMON_OK;
}

/* ---- launch ----------------------------------------------------------------------- */

static nacre_secmon_status launch_refused(struct nacre_secmon *sm, nacre_secmon_status s, unsigned type,
                                          uint64_t addr, const char *detail)
{
    log_event(sm, NACRE_SECMON_APPS_MAX, type, (uint32_t)s, addr, detail);
    return s;
}

static void hex6(char out[13], const uint8_t *b)
{
    static const char digits[] = "0123456789abcdef";
    for (unsigned i = 0; i < 6; i++) {
        out[2 * i] = digits[b[i] >> 4];
        out[2 * i + 1] = digits[b[i] & 15u];
    }
    out[12] = '\0';
}

nacre_secmon_status nacre_secmon_launch(struct nacre_secmon *sm, const uint8_t *image, size_t image_len,
                                        char *error, size_t error_max)
{
    set_error(error, error_max, "ok");
    if (sm == NULL || image == NULL || image_len == 0) {
        set_error(error, error_max, "invalid argument");
        return NACRE_SECMON_ERR_ARGUMENT;
    }
    const char *verify = "launch";

    /* 1. The image, verified in full against the device's root key. The
     * component is checked against the manifest below (it is only known once
     * the package is parsed), so the policy takes any component here. */
    uint8_t root[NACRE_PLUTON_DIGEST_BYTES];
    if (nacre_pluton_root_key_hash(sm->p, root) != NACRE_PLUTON_OK) {
        set_error(error, error_max, "the device has no root-key hash: it cannot verify app images");
        return launch_refused(sm, NACRE_SECMON_ERR_VERIFY, NACRE_SECMON_EVENT_VERIFY_FAILED,
                              NACRE_UPDATE_ERR_NO_ROOT_KEY, "no root key");
    }
    struct nacre_image_info info;
    memset(&info, 0, sizeof info);
    nacre_update_status us = nacre_image_parse(image, image_len, &info);
    if (us != NACRE_UPDATE_OK) {
        set_error(error, error_max, "image: %s", nacre_update_strerror(us));
        return launch_refused(sm, NACRE_SECMON_ERR_VERIFY, NACRE_SECMON_EVENT_VERIFY_FAILED, us, verify);
    }
    uint32_t epoch = 0;
    if (nacre_pluton_counter_read(sm->p, NACRE_UPDATE_COUNTER_KEY_EPOCH, &epoch) != NACRE_PLUTON_OK) {
        set_error(error, error_max, "cannot read the key epoch counter");
        return launch_refused(sm, NACRE_SECMON_ERR_INTERNAL, NACRE_SECMON_EVENT_REFUSED, 0, verify);
    }
    struct nacre_image_policy policy;
    memset(&policy, 0, sizeof policy);
    policy.root_key_hash = root;
    policy.min_key_epoch = epoch; /* a revoked signing key signs no app either */
    policy.component = NULL;
    us = nacre_image_verify(image, image_len, &policy, &info);
    if (us != NACRE_UPDATE_OK) {
        set_error(error, error_max, "image %s: %s", info.component, nacre_update_strerror(us));
        return launch_refused(sm, NACRE_SECMON_ERR_VERIFY, NACRE_SECMON_EVENT_VERIFY_FAILED, us,
                              info.component[0] != '\0' ? info.component : verify);
    }

    /* 2. The package and its manifest (pointers into the verified bytes). */
    const uint8_t *payload = image + info.payload_offset;
    const char *manifest_json = NULL;
    const uint8_t *exe = NULL;
    size_t manifest_len = 0, exe_len = 0;
    nacre_sandbox_status ss =
        nacre_app_package_parse(payload, info.payload_size, &manifest_json, &manifest_len, &exe, &exe_len);
    if (ss != NACRE_SANDBOX_OK) {
        set_error(error, error_max, "package: %s", nacre_sandbox_strerror(ss));
        return launch_refused(sm, NACRE_SECMON_ERR_VERIFY, NACRE_SECMON_EVENT_VERIFY_FAILED, 0, "package");
    }
    unsigned slot = NACRE_SECMON_APPS_MAX;
    for (unsigned i = 0; i < NACRE_SECMON_APPS_MAX; i++) {
        if (!sm->apps[i].used) {
            slot = i;
            break;
        }
    }
    if (slot == NACRE_SECMON_APPS_MAX) {
        set_error(error, error_max, "%u apps are running already", NACRE_SECMON_APPS_MAX);
        return launch_refused(sm, NACRE_SECMON_ERR_QUOTA, NACRE_SECMON_EVENT_REFUSED, 0, info.component);
    }
    struct server_app *sa = &sm->apps[slot];
    memset(sa, 0, sizeof *sa);
    sa->fd = -1;
    char why[160];
    ss = nacre_manifest_parse(manifest_json, manifest_len, &sa->manifest, why, sizeof why);
    if (ss != NACRE_SANDBOX_OK) {
        set_error(error, error_max, "manifest: %s", why);
        return launch_refused(sm, NACRE_SECMON_ERR_VERIFY, NACRE_SECMON_EVENT_VERIFY_FAILED, 0, "manifest");
    }
    /* An image component is at most 32 characters of [a-z0-9._-]; a
     * ComponentId is a 36-character UUID and cannot be one, so the signed
     * component must be the manifest's Name. */
    if (strcmp(info.component, sa->manifest.name) != 0) {
        set_error(error, error_max, "image component \"%s\" is not the manifest Name \"%s\"", info.component,
                  sa->manifest.name);
        return launch_refused(sm, NACRE_SECMON_ERR_VERIFY, NACRE_SECMON_EVENT_VERIFY_FAILED,
                              NACRE_UPDATE_ERR_WRONG_COMPONENT, info.component);
    }

    /* 3. The app's capabilities in the core: its identity is this slot. */
    struct nacre_secmon_caps caps;
    memset(&caps, 0, sizeof caps);
    snprintf(caps.component_id, sizeof caps.component_id, "%s", sa->manifest.component_id);
    caps.storage_bytes = sa->manifest.storage_kb * 1024u;
    caps.device_authentication = sa->manifest.device_authentication;
    caps.software_update = sa->manifest.software_update;
    caps.gpio_mask = sa->manifest.gpio_mask;
    caps.uart_mask = sa->manifest.uart_mask;
    caps.i2c_mask = sa->manifest.i2c_mask;
    caps.allows_connection = manifest_allows;
    caps.connection_policy = &sa->manifest;
    unsigned core_app = 0;
    nacre_secmon_status s = nacre_secmon_core_add_app(sm->core, &caps, &core_app);
    if (s != NACRE_SECMON_OK) {
        set_error(error, error_max, "%s: %s", sa->manifest.component_id,
                  s == NACRE_SECMON_ERR_QUOTA      ? "no room (apps or storage)"
                  : s == NACRE_SECMON_ERR_ARGUMENT ? "already running"
                                                   : nacre_secmon_strerror(s));
        return launch_refused(sm, s, NACRE_SECMON_EVENT_REFUSED, 0, info.component);
    }

    /* 4. Measure before it runs: R1 accumulates every app launched since boot. */
    if (nacre_pluton_measure_extend(sm->p, MEASUREMENT_REGISTER, info.measurement) != NACRE_PLUTON_OK) {
        secmon_core_remove_app(sm->core, core_app);
        set_error(error, error_max, "cannot extend R1");
        return launch_refused(sm, NACRE_SECMON_ERR_INTERNAL, NACRE_SECMON_EVENT_REFUSED, 0, info.component);
    }

    /* 5. The channel and the sandbox. */
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0) {
        secmon_core_remove_app(sm->core, core_app);
        set_error(error, error_max, "socketpair: %s", strerror(errno));
        return launch_refused(sm, NACRE_SECMON_ERR_INTERNAL, NACRE_SECMON_EVENT_REFUSED, 0, info.component);
    }
    struct nacre_sandbox_options opts;
    memset(&opts, 0, sizeof opts);
    opts.allow_degraded = sm->allow_degraded;
    opts.stdio_fd = sm->stdio_fd;
    struct nacre_sandbox_report report;
    memset(&report, 0, sizeof report);
    pid_t pid = -1;
    ss = nacre_sandbox_spawn(&sa->manifest, exe, exe_len, sv[1], &opts, &pid, &report, why, sizeof why);
    close(sv[1]);
    if (ss != NACRE_SANDBOX_OK) {
        close(sv[0]);
        secmon_core_remove_app(sm->core, core_app);
        set_error(error, error_max, "sandbox: %s: %s", nacre_sandbox_strerror(ss), why);
        return launch_refused(sm,
                              ss == NACRE_SANDBOX_ERR_UNSUPPORTED ? NACRE_SECMON_ERR_UNSUPPORTED
                                                                  : NACRE_SECMON_ERR_INTERNAL,
                              NACRE_SECMON_EVENT_REFUSED, report.missing, info.component);
    }
    sa->used = 1;
    sa->pid = pid;
    sa->fd = sv[0];
    sa->core_app = core_app;
    char hex[13];
    hex6(hex, info.measurement);
    log_event(sm, core_app, NACRE_SECMON_EVENT_APP_START, (uint32_t)pid, 0, hex);
    if (report.missing != 0) {
        log_event(sm, core_app, NACRE_SECMON_EVENT_SANDBOX_DEGRADED, report.missing, report.applied,
                  report.detail);
    }
    return NACRE_SECMON_OK;
}

/* ---- serve ------------------------------------------------------------------------ */

/* Forgets an app whose process is gone. */
static void app_release(struct nacre_secmon *sm, struct server_app *sa)
{
    if (sa->fd >= 0) {
        close(sa->fd);
    }
    secmon_core_remove_app(sm->core, sa->core_app);
    memset(sa, 0, sizeof *sa);
    sa->fd = -1;
}

/* "SIGSEGV": short enough for an event record's 13 detail bytes. */
static void signal_name(char out[16], int sig)
{
    static const struct {
        int sig;
        const char *name;
    } names[] = {
        {SIGSEGV, "SIGSEGV"}, {SIGBUS, "SIGBUS"},   {SIGILL, "SIGILL"},   {SIGFPE, "SIGFPE"},
        {SIGABRT, "SIGABRT"}, {SIGSYS, "SIGSYS"},   {SIGKILL, "SIGKILL"}, {SIGTERM, "SIGTERM"},
        {SIGTRAP, "SIGTRAP"}, {SIGXCPU, "SIGXCPU"}, {SIGXFSZ, "SIGXFSZ"}, {SIGPIPE, "SIGPIPE"},
        {SIGINT, "SIGINT"},   {SIGHUP, "SIGHUP"},   {SIGQUIT, "SIGQUIT"}, {SIGALRM, "SIGALRM"},
        {SIGUSR1, "SIGUSR1"}, {SIGUSR2, "SIGUSR2"},
    };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        if (names[i].sig == sig) {
            snprintf(out, 16, "%s", names[i].name);
            return;
        }
    }
    snprintf(out, 16, "signal %d", sig);
}

static void log_status(struct nacre_secmon *sm, struct server_app *sa, int status, int stopping)
{
    if (WIFSIGNALED(status) && !stopping) {
        /* The fault address would need ptrace or the app's own handler;
         * neither is cheap, so addr stays 0 (docs/secmon.md). */
        char name[16];
        signal_name(name, WTERMSIG(status));
        log_event(sm, sa->core_app, NACRE_SECMON_EVENT_APP_CRASH, (uint32_t)WTERMSIG(status), 0, name);
    } else if (WIFSIGNALED(status)) {
        log_event(sm, sa->core_app, NACRE_SECMON_EVENT_APP_EXIT, 128u + (uint32_t)WTERMSIG(status), 0,
                  "stopped");
    } else {
        log_event(sm, sa->core_app, NACRE_SECMON_EVENT_APP_EXIT, (uint32_t)WEXITSTATUS(status), 0, "exit");
    }
}

/* Reaps app processes that ended; kills those whose channel closed long ago. */
static void reap(struct nacre_secmon *sm)
{
    for (unsigned i = 0; i < NACRE_SECMON_APPS_MAX; i++) {
        struct server_app *sa = &sm->apps[i];
        if (!sa->used) {
            continue;
        }
        int status = 0;
        pid_t r = waitpid(sa->pid, &status, WNOHANG);
        if (r == sa->pid) {
            log_status(sm, sa, status, 0);
            app_release(sm, sa);
            continue;
        }
        if (r < 0 && errno == ECHILD) {
            /* Not (or no longer) our child to wait for: it is gone. */
            log_event(sm, sa->core_app, NACRE_SECMON_EVENT_APP_EXIT, UINT32_MAX, 0, "unknown");
            app_release(sm, sa);
            continue;
        }
        if (sa->fd < 0 && sa->hup_ms != 0 && mono_ms() - sa->hup_ms >= HUP_GRACE_MS) {
            /* A closed channel ends the app. */
            (void)kill(sa->pid, SIGKILL);
            sa->hup_ms = mono_ms(); /* reaped (and logged) on a later pass */
        }
    }
}

static void channel_closed(struct server_app *sa)
{
    if (sa->fd >= 0) {
        close(sa->fd);
        sa->fd = -1;
    }
    if (sa->hup_ms == 0) {
        sa->hup_ms = mono_ms();
        if (sa->hup_ms == 0) {
            sa->hup_ms = 1;
        }
    }
}

/* Sends one response, with fd as SCM_RIGHTS if >= 0. */
static ssize_t send_response(int channel, const uint8_t *resp, int fd)
{
    struct iovec iov = {.iov_base = (void *)(uintptr_t)resp, .iov_len = NACRE_SECMON_MSG_BYTES};
    union {
        struct cmsghdr align;
        unsigned char buf[CMSG_SPACE(sizeof(int))];
    } control;
    struct msghdr mh;
    memset(&mh, 0, sizeof mh);
    memset(&control, 0, sizeof control);
    mh.msg_iov = &iov;
    mh.msg_iovlen = 1;
    if (fd >= 0) {
        mh.msg_control = control.buf;
        mh.msg_controllen = sizeof control.buf;
        struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(sizeof(int));
        memcpy(CMSG_DATA(c), &fd, sizeof fd);
    }
    ssize_t n;
    do {
        /* MSG_NOSIGNAL: an app that went away must not kill secmon with
         * SIGPIPE. MSG_DONTWAIT: nor stall it by not reading. */
        n = sendmsg(channel, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
    } while (n < 0 && errno == EINTR);
    return n;
}

/* Handles at most one message from app sa. */
static void serve_one(struct nacre_secmon *sm, struct server_app *sa, short revents)
{
    uint8_t req[NACRE_SECMON_MSG_BYTES];
    uint8_t resp[NACRE_SECMON_MSG_BYTES];
    struct iovec iov = {.iov_base = req, .iov_len = sizeof req};
    struct msghdr mh;
    memset(&mh, 0, sizeof mh);
    mh.msg_iov = &iov;
    mh.msg_iovlen = 1;
    /* No control buffer: fds an app tries to pass are discarded by the
     * kernel (MSG_CTRUNC), never received. */
    ssize_t n;
    do {
        n = recvmsg(sa->fd, &mh, MSG_DONTWAIT);
    } while (n < 0 && errno == EINTR);
    if (n < 0) {
        if (errno != EAGAIN && errno != EWOULDBLOCK) {
            channel_closed(sa);
        }
        return;
    }
    if (n == 0 && (revents & (POLLHUP | POLLERR)) != 0) {
        channel_closed(sa);
        return;
    }
    int fd = -1;
    uint64_t now = wall_now();
    if (n != (ssize_t)sizeof req || (mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) != 0) {
        secmon_core_refuse_size(sm->core, sa->core_app, now, req, (size_t)n, resp);
    } else {
        nacre_secmon_core_handle(sm->core, sa->core_app, now, req, resp, &fd);
    }
    n = send_response(sa->fd, resp, fd);
    if (fd >= 0) {
        close(fd); /* the app has its own copy now (or never will) */
    }
    if (n != (ssize_t)sizeof resp) {
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            /* The app does not read its answers: drop this one. */
            nacre_secmon_core_log(sm->core, sa->core_app, now, NACRE_SECMON_EVENT_REFUSED,
                                  NACRE_SECMON_ERR_IO, req[3], "send");
        } else {
            channel_closed(sa);
        }
    }
}

int nacre_secmon_serve(struct nacre_secmon *sm, int timeout_ms)
{
    if (sm == NULL) {
        return -1;
    }
    int64_t deadline = mono_ms() + (timeout_ms > 0 ? timeout_ms : 0);
    for (;;) {
        reap(sm);
        struct pollfd pfd[NACRE_SECMON_APPS_MAX];
        struct server_app *who[NACRE_SECMON_APPS_MAX];
        nfds_t k = 0;
        int running = 0, closing = 0;
        for (unsigned i = 0; i < NACRE_SECMON_APPS_MAX; i++) {
            struct server_app *sa = &sm->apps[i];
            if (!sa->used) {
                continue;
            }
            running++;
            if (sa->fd >= 0) {
                pfd[k].fd = sa->fd;
                pfd[k].events = POLLIN;
                pfd[k].revents = 0;
                who[k++] = sa;
            } else {
                closing++;
            }
        }
        int64_t left = deadline - mono_ms();
        if (running == 0) {
            return 0;
        }
        if (left < 0) {
            left = 0; /* one last non-blocking pass */
        }
        int wait = left > POLL_SLICE_MS ? POLL_SLICE_MS : (int)left;
        if (closing > 0 && wait > 10) {
            wait = 10; /* reap promptly an app whose channel just closed */
        }
        int r = poll(pfd, k, wait);
        if (r < 0 && errno != EINTR) {
            return -1; /* cannot wait for the channels: a secmon failure */
        }
        for (nfds_t i = 0; r > 0 && i < k; i++) {
            if (pfd[i].revents & POLLIN) {
                serve_one(sm, who[i], pfd[i].revents);
            } else if (pfd[i].revents & (POLLHUP | POLLERR | POLLNVAL)) {
                channel_closed(who[i]);
            }
        }
        if (left == 0) {
            reap(sm);
            int still = 0;
            for (unsigned i = 0; i < NACRE_SECMON_APPS_MAX; i++) {
                still += sm->apps[i].used ? 1 : 0;
            }
            return still;
        }
    }
}

/* ---- stop ---------------------------------------------------------------------------- */

void nacre_secmon_stop(struct nacre_secmon *sm)
{
    if (sm == NULL) {
        return;
    }
    int any = 0;
    for (unsigned i = 0; i < NACRE_SECMON_APPS_MAX; i++) {
        if (sm->apps[i].used) {
            (void)kill(sm->apps[i].pid, SIGTERM);
            any = 1;
        }
    }
    /* The grace period: an app that handles SIGTERM may finish its work.
     * (An app is init of its pid namespace: without a handler, SIGTERM from
     * here is ignored and only SIGKILL ends it.) */
    int64_t until = mono_ms() + STOP_GRACE_MS;
    while (any) {
        any = 0;
        for (unsigned i = 0; i < NACRE_SECMON_APPS_MAX; i++) {
            struct server_app *sa = &sm->apps[i];
            if (!sa->used) {
                continue;
            }
            int status = 0;
            pid_t r = waitpid(sa->pid, &status, WNOHANG);
            if (r == sa->pid) {
                log_status(sm, sa, status, 1);
                app_release(sm, sa);
            } else if (r < 0) {
                app_release(sm, sa);
            } else {
                any = 1;
            }
        }
        if (any && mono_ms() >= until) {
            break;
        }
        if (any) {
            sleep_ms(10);
        }
    }
    for (unsigned i = 0; i < NACRE_SECMON_APPS_MAX; i++) {
        struct server_app *sa = &sm->apps[i];
        if (!sa->used) {
            continue;
        }
        (void)kill(sa->pid, SIGKILL);
        int status = 0;
        pid_t r;
        do {
            r = waitpid(sa->pid, &status, 0);
        } while (r < 0 && errno == EINTR);
        if (r == sa->pid) {
            log_status(sm, sa, status, 1);
        }
        app_release(sm, sa);
    }
    server_free(sm);
}
