/*
 * test_server.c - the host server end to end: start secmon on a device,
 * refuse bad images, launch the small test app (test_app.c) in its sandbox,
 * serve it, broker its connection, reap it, and read the events it left.
 * Then a crashing app and one that secmon has to stop.
 *
 * argv[1]: the test app executable. If this kernel lacks a sandbox
 * mechanism, the apps run with allow_degraded and the SANDBOX_DEGRADED
 * event is required instead.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <sodium.h>

#include <nacre/image.h>
#include <nacre/sandbox.h>
#include <nacre/secmon.h>

#include "secmon_priv.h"
#include "secmon_test.h"
#include "update_support.h"

#define CID_NORMAL "5ec0a000-0000-4000-8000-000000000001"
#define CID_CRASH "5ec0a000-0000-4000-8000-000000000002"
#define CID_HANG "5ec0a000-0000-4000-8000-000000000003"
#define FIRST_PORT 43117
#define PORTS 12
#define EVENTS_MAX 512u

static const char *g_app_path;
static uint8_t *g_exe;
static size_t g_exe_len;
static int g_degraded;
static struct nacre_secmon_event g_evs[EVENTS_MAX];

static uint8_t *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    assert_int_equal(fseek(f, 0, SEEK_END), 0);
    long n = ftell(f);
    assert_true(n > 0);
    rewind(f);
    uint8_t *buf = malloc((size_t)n + 1);
    assert_non_null(buf);
    assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    buf[n] = 0;
    *len = (size_t)n;
    return buf;
}

/* A provisioned device (root key from k) in a fresh dir, left powered off. */
static char *make_device(const struct upd_keys *k)
{
    char *tmp = nacre_test_tmpdir("secmon-server");
    size_t n = strlen(tmp) + 8;
    char *dir = malloc(n);
    assert_non_null(dir);
    snprintf(dir, n, "%s/dev", tmp);
    free(tmp);
    assert_int_equal(nacre_host_device_create(dir, NULL, NULL), NACRE_BOARD_OK);
    struct nacre_board *b = NULL;
    assert_int_equal(nacre_host_board_open(dir, &b, NULL), NACRE_BOARD_OK);
    nacre_pluton *p = sodium_malloc(sizeof *p);
    assert_non_null(p);
    assert_int_equal(nacre_pluton_init(p, b), NACRE_PLUTON_OK);
    assert_int_equal(nacre_pluton_provision(p, k->root_hash), NACRE_PLUTON_OK);
    nacre_pluton_deinit(p);
    sodium_free(p);
    nacre_host_board_close(b);
    return dir;
}

static void free_device(char *dir)
{
    char *slash = strrchr(dir, '/');
    *slash = '\0';
    nacre_test_rmtree(dir);
    free(dir);
}

/* A signed app image: package(manifest, the test app), component `name`. */
static uint8_t *make_image(const struct upd_keys *k, const char *name, const char *component, const char *cid,
                           int port, int device_auth, size_t *len)
{
    char manifest[1024];
    snprintf(manifest, sizeof manifest,
             "{\"SchemaVersion\": 1, \"Name\": \"%s\", \"ComponentId\": \"%s\", "
             "\"EntryPoint\": \"/bin/%s\", \"Capabilities\": {"
             "\"AllowedConnections\": [\"127.0.0.1:%d\"], \"DeviceAuthentication\": %s}}",
             name, cid, name, port, device_auth ? "true" : "false");
    uint8_t *pkg = NULL;
    size_t pkg_len = 0;
    assert_int_equal(nacre_app_package_build(&pkg, &pkg_len, manifest, strlen(manifest), g_exe, g_exe_len),
                     NACRE_SANDBOX_OK);
    struct nacre_image_params params;
    memset(&params, 0, sizeof params);
    params.component = component;
    params.version = (struct nacre_image_version){1, 0, 0};
    memcpy(params.signer_pk, k->root_pk, 32);
    uint8_t *image = NULL;
    assert_int_equal(nacre_image_create(&image, len, pkg, pkg_len, &params), NACRE_UPDATE_OK);
    free(pkg);
    assert_int_equal(nacre_image_sign(image, *len, k->root_seed, NULL), NACRE_UPDATE_OK);
    return image;
}

/* A TCP listener on the first free candidate port (the app tries them in order). */
static int listen_candidate(int *port)
{
    for (int i = 0; i < PORTS; i++) {
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        assert_true(fd >= 0);
        struct sockaddr_in a;
        memset(&a, 0, sizeof a);
        a.sin_family = AF_INET;
        a.sin_port = htons((uint16_t)(FIRST_PORT + i));
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        if (bind(fd, (struct sockaddr *)&a, sizeof a) == 0 && listen(fd, 4) == 0) {
            *port = FIRST_PORT + i;
            return fd;
        }
        close(fd);
    }
    fail_msg("no free port in %d..%d", FIRST_PORT, FIRST_PORT + PORTS - 1);
    return -1;
}

static nacre_secmon_status start(struct nacre_secmon **sm, const char *dir, const char *cert, int stdio_fd)
{
    struct nacre_secmon_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.device_dir = dir;
    cfg.component = NULL;
    cfg.certificate = cert;
    cfg.rate = 0;
    cfg.allow_degraded = g_degraded;
    cfg.app_stdio_fd = stdio_fd;
    return nacre_secmon_start(sm, &cfg);
}

/* Launches; with a missing sandbox mechanism, switches to degraded mode once. */
static nacre_secmon_status launch(struct nacre_secmon *sm, const uint8_t *image, size_t len, char *err,
                                  size_t err_max)
{
    return nacre_secmon_launch(sm, image, len, err, err_max);
}

static int serve_until_done(struct nacre_secmon *sm, int seconds)
{
    int running = 1;
    for (int i = 0; i < seconds * 10 && running > 0; i++) {
        running = nacre_secmon_serve(sm, 100);
    }
    return running;
}

/* Events of the device (secmon must be stopped: it holds the device). */
static size_t device_events(const char *dir)
{
    struct nacre_board *b = NULL;
    assert_int_equal(nacre_host_board_open(dir, &b, NULL), NACRE_BOARD_OK);
    size_t n = smt_events(b, g_evs, EVENTS_MAX);
    nacre_host_board_close(b);
    return n;
}

static const struct nacre_secmon_event *find_event(size_t n, unsigned type, const char *detail)
{
    for (size_t i = 0; i < n; i++) {
        if (g_evs[i].type == type && (detail == NULL || strcmp(g_evs[i].detail, detail) == 0)) {
            return &g_evs[i];
        }
    }
    return NULL;
}

static size_t count_type(size_t n, unsigned type)
{
    size_t c = 0;
    for (size_t i = 0; i < n; i++) {
        c += g_evs[i].type == type;
    }
    return c;
}

/* The value after "key " on its line in text, or NULL. */
static const char *line_value(const char *text, const char *key, char *out, size_t out_max)
{
    size_t kl = strlen(key);
    for (const char *l = text; l != NULL && *l != '\0'; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
        if (strncmp(l, key, kl) == 0 && l[kl] == ' ') {
            const char *v = l + kl + 1;
            size_t n = strcspn(v, "\n");
            if (n >= out_max) {
                n = out_max - 1;
            }
            memcpy(out, v, n);
            out[n] = '\0';
            return out;
        }
    }
    return NULL;
}

static void test_server_run(void **state)
{
    (void)state;
    struct upd_keys k;
    upd_keys_make(&k, 0x5E, 1);
    char *dir = make_device(&k);
    char out_path[512], cert_path[512];
    snprintf(out_path, sizeof out_path, "%s/../app.out", dir);
    snprintf(cert_path, sizeof cert_path, "%s/../cert.pem", dir);
    /* A (fake) DER certificate, served to apps with DeviceAuthentication. */
    static const uint8_t der[] = {0x30, 0x06, 0x02, 0x01, 0x07, 0x04, 0x01, 0x2A};
    char b64[64];
    sodium_bin2base64(b64, sizeof b64, der, sizeof der, sodium_base64_VARIANT_ORIGINAL);
    FILE *cf = fopen(cert_path, "w");
    assert_non_null(cf);
    fprintf(cf, "-----BEGIN CERTIFICATE-----\n%s\n-----END CERTIFICATE-----\n", b64);
    fclose(cf);
    int out_fd = open(out_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    assert_true(out_fd >= 0);

    int port = 0;
    int lfd = listen_candidate(&port);
    struct nacre_secmon *sm = NULL;
    assert_int_equal(start(&sm, dir, cert_path, out_fd), NACRE_SECMON_OK);
    struct nacre_secmon_core *core = nacre_secmon_core_of(sm);
    assert_non_null(core);
    uint8_t r1_before[32], r1_after[32], expect[32];
    assert_int_equal(nacre_pluton_measure_read(core->p, 1, r1_before), NACRE_PLUTON_OK);
    assert_memory_equal(r1_before, (uint8_t[32]){0}, 32);

    char err[256];
    size_t len = 0;
    /* Refused: a tampered image, and a component that is not the manifest's Name. */
    uint8_t *image = make_image(&k, "secmontest", "secmontest", CID_NORMAL, port, 1, &len);
    image[len - 1] ^= 1; /* the payload no longer matches its signed digest */
    assert_int_equal(launch(sm, image, len, err, sizeof err), NACRE_SECMON_ERR_VERIFY);
    image[len - 1] ^= 1;
    uint8_t *wrong = NULL;
    size_t wrong_len = 0;
    wrong = make_image(&k, "secmontest", "othername", CID_NORMAL, port, 1, &wrong_len);
    assert_int_equal(launch(sm, wrong, wrong_len, err, sizeof err), NACRE_SECMON_ERR_VERIFY);
    assert_non_null(strstr(err, "Name"));
    free(wrong);
    struct upd_keys stranger;
    upd_keys_make(&stranger, 0x99, 1);
    wrong = make_image(&stranger, "secmontest", "secmontest", CID_NORMAL, port, 1, &wrong_len);
    assert_int_equal(launch(sm, wrong, wrong_len, err, sizeof err), NACRE_SECMON_ERR_VERIFY);
    free(wrong);
    assert_int_equal(nacre_pluton_measure_read(core->p, 1, r1_after), NACRE_PLUTON_OK);
    assert_memory_equal(r1_after, r1_before, 32); /* nothing refused is measured */

    /* The real launch. */
    nacre_secmon_status st = launch(sm, image, len, err, sizeof err);
    assert_int_equal(st, NACRE_SECMON_OK);
    struct nacre_image_info info;
    assert_int_equal(nacre_image_parse(image, len, &info), NACRE_UPDATE_OK);
    uint8_t cat[64];
    memcpy(cat, r1_before, 32);
    memcpy(cat + 32, info.measurement, 32);
    crypto_generichash(expect, sizeof expect, cat, sizeof cat, NULL, 0);
    assert_int_equal(nacre_pluton_measure_read(core->p, 1, r1_after), NACRE_PLUTON_OK);
    assert_memory_equal(r1_after, expect, 32);
    /* the same ComponentId twice at once: refused */
    assert_int_not_equal(launch(sm, image, len, err, sizeof err), NACRE_SECMON_OK);

    assert_int_equal(serve_until_done(sm, 30), 0);
    nacre_secmon_stop(sm);
    close(out_fd);

    /* What the app saw. */
    size_t text_len = 0;
    char *text = (char *)read_file(out_path, &text_len);
    print_message("app output:\n%s", text);
    char v[256];
    assert_non_null(line_value(text, "ping", v, sizeof v));
    assert_string_equal(v, "ok");
    assert_non_null(line_value(text, "cid", v, sizeof v));
    assert_string_equal(v, CID_NORMAL);
    uint8_t pk[32], sig[64];
    assert_non_null(line_value(text, "pk", v, sizeof v));
    assert_int_equal(nacre_test_unhex(v, pk, sizeof pk), 32);
    assert_non_null(line_value(text, "sig", v, sizeof v));
    assert_int_equal(nacre_test_unhex(v, sig, sizeof sig), 64);
    static const char message[] = "signed by a nacre test app";
    assert_int_equal(
        crypto_sign_ed25519_verify_detached(sig, (const uint8_t *)message, sizeof message - 1, pk), 0);
    assert_non_null(line_value(text, "cert", v, sizeof v));
    uint8_t got_der[sizeof der];
    assert_int_equal(nacre_test_unhex(v, got_der, sizeof got_der), (long)sizeof der);
    assert_memory_equal(got_der, der, sizeof der);
    assert_non_null(line_value(text, "connect-denied", v, sizeof v));
    assert_string_equal(v, "denied");
    assert_non_null(line_value(text, "connect-port", v, sizeof v));
    assert_int_equal(atoi(v), port);
    assert_non_null(line_value(text, "short", v, sizeof v));
    assert_string_equal(v, "malformed id 77");
    assert_non_null(line_value(text, "with-fd", v, sizeof v));
    assert_string_equal(v, "malformed id 77");
    assert_non_null(line_value(text, "log", v, sizeof v));
    assert_string_equal(v, "ok");
    free(text);

    /* The brokered connection reached our listener. */
    int c = accept(lfd, NULL, NULL);
    assert_true(c >= 0);
    char tcp[64] = {0};
    assert_int_equal(read(c, tcp, sizeof tcp - 1), 14);
    assert_string_equal(tcp, "hello over tcp");
    close(c);
    close(lfd);

    /* The app key is the device's "app:" + ComponentId key: derive it again. */
    struct nacre_board *b = NULL;
    assert_int_equal(nacre_host_board_open(dir, &b, NULL), NACRE_BOARD_OK);
    nacre_pluton *p = sodium_malloc(sizeof *p);
    assert_int_equal(nacre_pluton_init(p, b), NACRE_PLUTON_OK);
    assert_int_equal(nacre_pluton_boot_complete(p), NACRE_PLUTON_OK);
    nacre_pluton_key key;
    static const char label[] = "app:" CID_NORMAL;
    assert_int_equal(nacre_pluton_key_derive(p, NACRE_PLUTON_KEY_BASE_DEVICE, label, sizeof label - 1, &key),
                     NACRE_PLUTON_OK);
    uint8_t pk2[32];
    assert_int_equal(nacre_pluton_key_public(p, key, pk2), NACRE_PLUTON_OK);
    assert_memory_equal(pk2, pk, 32);
    nacre_pluton_deinit(p);
    sodium_free(p);
    nacre_host_board_close(b);

    /* The events it left. */
    size_t n = device_events(dir);
    uint8_t app_id[8];
    secmon_app_id(app_id, CID_NORMAL);
    const struct nacre_secmon_event *ev = find_event(n, NACRE_SECMON_EVENT_VERIFY_FAILED, "no image");
    assert_non_null(ev); /* the boot stage found no firmware image */
    assert_int_equal(ev->code, NACRE_UPDATE_ERR_NO_IMAGE);
    assert_int_equal(count_type(n, NACRE_SECMON_EVENT_VERIFY_FAILED), 4);
    ev = find_event(n, NACRE_SECMON_EVENT_VERIFY_FAILED, "othername");
    assert_non_null(ev);
    assert_int_equal(ev->addr, NACRE_UPDATE_ERR_WRONG_COMPONENT);
    ev = find_event(n, NACRE_SECMON_EVENT_APP_START, NULL);
    assert_non_null(ev);
    assert_memory_equal(ev->app_id, app_id, 8);
    char hex12[13];
    for (int i = 0; i < 6; i++) {
        snprintf(hex12 + 2 * i, 3, "%02x", info.measurement[i]);
    }
    assert_string_equal(ev->detail, hex12);
    if (g_degraded) {
        assert_non_null(find_event(n, NACRE_SECMON_EVENT_SANDBOX_DEGRADED, NULL));
    } else {
        assert_null(find_event(n, NACRE_SECMON_EVENT_SANDBOX_DEGRADED, NULL));
    }
    ev = find_event(n, NACRE_SECMON_EVENT_CONNECTION_DENIED, "127.0.0.1:1");
    assert_non_null(ev);
    assert_memory_equal(ev->app_id, app_id, 8);
    /* the candidates before ours were denied too, and named */
    assert_int_equal(count_type(n, NACRE_SECMON_EVENT_CONNECTION_DENIED), 1 + (size_t)(port - FIRST_PORT));
    ev = find_event(n, NACRE_SECMON_EVENT_REFUSED, "hdr:size");
    assert_non_null(ev);
    assert_int_equal(ev->code, NACRE_SECMON_ERR_MALFORMED);
    ev = find_event(n, NACRE_SECMON_EVENT_APP_LOG, "test app done");
    assert_non_null(ev);
    assert_int_equal(ev->code, 2);
    ev = find_event(n, NACRE_SECMON_EVENT_APP_EXIT, NULL);
    assert_non_null(ev);
    assert_memory_equal(ev->app_id, app_id, 8);
    assert_int_equal(ev->code, 0);
    assert_null(find_event(n, NACRE_SECMON_EVENT_APP_CRASH, NULL));
    free(image);

    /* A crash, and an app secmon must stop, on the same device (a later boot). */
    int null_fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
    assert_int_equal(start(&sm, dir, NULL, null_fd), NACRE_SECMON_OK);
    uint8_t *crash = make_image(&k, "secmoncrash", "secmoncrash", CID_CRASH, port, 0, &len);
    assert_int_equal(launch(sm, crash, len, err, sizeof err), NACRE_SECMON_OK);
    free(crash);
    size_t hang_len = 0;
    uint8_t *hang = make_image(&k, "secmonhang", "secmonhang", CID_HANG, port, 0, &hang_len);
    assert_int_equal(launch(sm, hang, hang_len, err, sizeof err), NACRE_SECMON_OK);
    free(hang);
    /* the crashing one goes; the other keeps running */
    int running = 2;
    for (int i = 0; i < 100 && running > 1; i++) {
        running = nacre_secmon_serve(sm, 100);
    }
    assert_int_equal(running, 1);
    assert_int_equal(nacre_secmon_serve(sm, 200), 1);
    nacre_secmon_stop(sm);
    close(null_fd);
    n = device_events(dir);
    secmon_app_id(app_id, CID_CRASH);
    ev = find_event(n, NACRE_SECMON_EVENT_APP_CRASH, NULL);
    assert_non_null(ev);
    assert_memory_equal(ev->app_id, app_id, 8);
    assert_int_equal(ev->code, SIGSEGV);
    assert_string_equal(ev->detail, "SIGSEGV");
    secmon_app_id(app_id, CID_HANG);
    ev = find_event(n, NACRE_SECMON_EVENT_APP_EXIT, "stopped");
    assert_non_null(ev);
    assert_memory_equal(ev->app_id, app_id, 8);
    assert_true(ev->code == 128 + SIGKILL || ev->code == 128 + SIGTERM);
    free_device(dir);
}

/* start() refuses what it cannot use. */
static void test_server_start_refusals(void **state)
{
    (void)state;
    struct nacre_secmon *sm = NULL;
    struct nacre_secmon_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.app_stdio_fd = -1;
    assert_int_equal(nacre_secmon_start(&sm, &cfg), NACRE_SECMON_ERR_ARGUMENT);
    cfg.device_dir = "/nonexistent/nacre-device";
    assert_int_equal(nacre_secmon_start(&sm, &cfg), NACRE_SECMON_ERR_IO);
    assert_null(sm);
    struct upd_keys k;
    upd_keys_make(&k, 0x5F, 1);
    char *dir = make_device(&k);
    cfg.device_dir = dir;
    cfg.certificate = "/nonexistent/cert.pem";
    assert_int_equal(nacre_secmon_start(&sm, &cfg), NACRE_SECMON_ERR_IO);
    cfg.certificate = NULL;
    assert_int_equal(nacre_secmon_start(&sm, &cfg), NACRE_SECMON_OK);
    /* the device is in use while secmon runs */
    struct nacre_secmon *second = NULL;
    assert_int_equal(nacre_secmon_start(&second, &cfg), NACRE_SECMON_ERR_IO);
    assert_int_equal(nacre_secmon_serve(sm, 0), 0); /* no apps */
    char err[128];
    static const uint8_t junk[100] = {1, 2, 3};
    assert_int_equal(nacre_secmon_launch(sm, junk, sizeof junk, err, sizeof err), NACRE_SECMON_ERR_VERIFY);
    nacre_secmon_stop(sm);
    nacre_secmon_stop(NULL);
    free_device(dir);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: test_secmon_server TEST_APP\n");
        return 2;
    }
    g_app_path = argv[1];
    if (sodium_init() < 0) {
        return 1;
    }
    g_exe = read_file(g_app_path, &g_exe_len);
    /* A kernel without some mechanism: run degraded (and expect the event). */
    struct nacre_sandbox_report report;
    nacre_sandbox_status ps = nacre_sandbox_probe(&report);
    g_degraded = ps != NACRE_SANDBOX_OK || report.missing != 0;
    if (g_degraded) {
        print_message("sandbox degraded on this kernel (missing %#x: %s): apps run with allow_degraded\n",
                      report.missing, report.detail);
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_server_run),
        cmocka_unit_test(test_server_start_refusals),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    free(g_exe);
    return rc;
}
