/*
 * cmd_app.c - sandboxed apps on a host device:
 *   nacre app package | inspect     app packages and signed app images
 *                                   (libsandbox manifests and packages)
 *   nacre device run | events       libsecmon's host server running apps,
 *                                   and its persistent security-event log
 */
#define _GNU_SOURCE /* sigabbrev_np */
#include "cli.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include <nacre/board_host.h>
#include <nacre/sandbox.h>
#include <nacre/secmon.h>

static const char package_name[] = "app package";
static const char app_inspect_name[] = "app inspect";
static const char run_name[] = "device run";
static const char events_name[] = "device events";

/* Largest executable, package or app image these commands read. */
#define APP_FILE_MAX ((size_t)64u * 1024u * 1024u)
/* device run: default and largest --seconds. */
#define RUN_DEFAULT_SECONDS 10u
#define RUN_MAX_SECONDS 86400u
#define RUN_MAX_STAGGER_MS 600000u
/* Longest line of app output kept whole; longer lines are split. */
#define RUN_LINE_MAX 1024u
/* Lines of output per app kept for --json. */
#define RUN_JSON_LINES_MAX 2000u
#define APP_ID_BYTES 8u

/* ---- apps: manifest, package, image ------------------------------------------------ */

/* The app id secmon records in events: BLAKE2b-256(ComponentId), first 8 bytes. */
static void app_id_of(uint8_t out[APP_ID_BYTES], const char *component_id)
{
    uint8_t h[32];
    crypto_generichash(h, sizeof h, (const unsigned char *)component_id, strlen(component_id),
                       NULL, 0);
    memcpy(out, h, APP_ID_BYTES);
}

static void hex_str(char *out, const uint8_t *in, size_t n)
{
    sodium_bin2hex(out, 2 * n + 1, in, n);
}

/* "0,3" for bits 0 and 3. */
static void mask_str(char *out, size_t out_len, uint32_t mask)
{
    size_t pos = 0;
    out[0] = '\0';
    for (unsigned i = 0; i < 32; i++) {
        if ((mask & (1u << i)) == 0) {
            continue;
        }
        int n = snprintf(out + pos, out_len - pos, "%s%u", pos > 0 ? "," : "", i);
        if (n < 0 || (size_t)n >= out_len - pos) {
            break;
        }
        pos += (size_t)n;
    }
}

static json_t *mask_json(uint32_t mask)
{
    json_t *arr = json_array();
    for (unsigned i = 0; arr != NULL && i < 32; i++) {
        if ((mask & (1u << i)) != 0) {
            json_array_append_new(arr, json_integer(i));
        }
    }
    return arr;
}

/* The capabilities as one line: "none" or "AllowedConnections a:1 b:2; MutableStorage 4 KB; ...". */
static void caps_line(char *out, size_t out_len, const struct nacre_app_manifest *m)
{
    size_t pos = 0;
    char list[128];
    out[0] = '\0';
#define CAPS_ADD(...)                                                                  \
    do {                                                                               \
        int n_ = snprintf(out + pos, out_len - pos, "%s", pos > 0 ? "; " : "");        \
        if (n_ >= 0 && (size_t)n_ < out_len - pos) {                                   \
            pos += (size_t)n_;                                                         \
        }                                                                              \
        n_ = snprintf(out + pos, out_len - pos, __VA_ARGS__);                          \
        if (n_ >= 0 && (size_t)n_ < out_len - pos) {                                   \
            pos += (size_t)n_;                                                         \
        }                                                                              \
    } while (0)
    if (m->connection_count > 0) {
        CAPS_ADD("AllowedConnections");
        for (unsigned i = 0; i < m->connection_count && i < NACRE_MANIFEST_CONNECTIONS_MAX; i++) {
            int n = snprintf(out + pos, out_len - pos, " %s:%u", m->connections[i].host,
                             m->connections[i].port);
            if (n >= 0 && (size_t)n < out_len - pos) {
                pos += (size_t)n;
            }
        }
    }
    if (m->storage_kb > 0) {
        CAPS_ADD("MutableStorage %lu KB", (unsigned long)m->storage_kb);
    }
    if (m->gpio_mask != 0) {
        mask_str(list, sizeof list, m->gpio_mask);
        CAPS_ADD("Gpio %s", list);
    }
    if (m->uart_mask != 0) {
        mask_str(list, sizeof list, m->uart_mask);
        CAPS_ADD("Uart %s", list);
    }
    if (m->i2c_mask != 0) {
        mask_str(list, sizeof list, m->i2c_mask);
        CAPS_ADD("I2cMaster %s", list);
    }
    if (m->device_authentication) {
        CAPS_ADD("DeviceAuthentication");
    }
    if (m->software_update) {
        CAPS_ADD("SoftwareUpdate");
    }
#undef CAPS_ADD
    if (pos == 0) {
        snprintf(out, out_len, "none");
    }
}

static json_t *caps_json(const struct nacre_app_manifest *m)
{
    json_t *obj = json_object();
    json_t *conns = json_array();
    if (obj == NULL || conns == NULL) {
        json_decref(obj);
        json_decref(conns);
        return NULL;
    }
    for (unsigned i = 0; i < m->connection_count && i < NACRE_MANIFEST_CONNECTIONS_MAX; i++) {
        char hp[NACRE_MANIFEST_HOST_MAX + 8];
        snprintf(hp, sizeof hp, "%s:%u", m->connections[i].host, m->connections[i].port);
        json_array_append_new(conns, json_string(hp));
    }
    json_object_set_new(obj, "allowed_connections", conns);
    json_object_set_new(obj, "mutable_storage_kb", json_integer((json_int_t)m->storage_kb));
    json_object_set_new(obj, "gpio", mask_json(m->gpio_mask));
    json_object_set_new(obj, "uart", mask_json(m->uart_mask));
    json_object_set_new(obj, "i2c_master", mask_json(m->i2c_mask));
    json_object_set_new(obj, "device_authentication", json_boolean(m->device_authentication));
    json_object_set_new(obj, "software_update", json_boolean(m->software_update));
    return obj;
}

/* name, component_id, app_id, entry_point, capabilities. */
static json_t *manifest_json(const struct nacre_app_manifest *m)
{
    uint8_t id[APP_ID_BYTES];
    json_t *obj = json_object();
    if (obj == NULL) {
        return NULL;
    }
    app_id_of(id, m->component_id);
    json_object_set_new(obj, "name", json_string(m->name));
    json_object_set_new(obj, "component_id", json_string(m->component_id));
    json_object_set_new(obj, "app_id", cli_json_hex(id, sizeof id));
    json_object_set_new(obj, "entry_point", json_string(m->entry_point));
    json_object_set_new(obj, "capabilities", caps_json(m));
    return obj;
}

static void print_manifest(const struct nacre_app_manifest *m)
{
    uint8_t id[APP_ID_BYTES];
    char hex[2 * APP_ID_BYTES + 1];
    char caps[1024];
    app_id_of(id, m->component_id);
    hex_str(hex, id, sizeof id);
    cli_kv("name", "%s", m->name);
    cli_kv("component id", "%s", m->component_id);
    cli_kv("app id", "%s", hex);
    cli_kv("entry point", "%s", m->entry_point);
    caps_line(caps, sizeof caps, m);
    cli_kv("capabilities", "%s", caps);
}

/* An app image (or a bare package) split into its parts; pointers into buf. */
struct app_file {
    uint8_t *buf;
    size_t len;
    int is_image;                  /* a signed image around a package */
    struct nacre_image_info info;  /* is_image */
    const uint8_t *package;
    size_t package_len;
    const char *manifest_text;
    size_t manifest_len;
    const uint8_t *exe;
    size_t exe_len;
    struct nacre_app_manifest manifest;
};

static void app_file_free(struct app_file *f)
{
    if (f->buf != NULL) {
        cli_free_file(f->buf, f->len, 0);
    }
    memset(f, 0, sizeof *f);
}

/*
 * Read path and split it. On failure, *why says what is wrong (the message
 * is NOT printed) and the file stays loaded for what was parsed. Returns
 * CLI_OK, or CLI_FAIL (and a message printed) if the file cannot be read.
 */
static int app_file_load(const char *path, struct app_file *f, char *why, size_t why_max, int *ok)
{
    memset(f, 0, sizeof *f);
    *ok = 0;
    why[0] = '\0';
    int rc = cli_read_file("reading app", path, APP_FILE_MAX, 0, &f->buf, &f->len);
    if (rc != CLI_OK) {
        return rc;
    }
    if (f->len >= 4 && memcmp(f->buf, "NIMG", 4) == 0) {
        nacre_update_status us = nacre_image_parse(f->buf, f->len, &f->info);
        if (us != NACRE_UPDATE_OK) {
            snprintf(why, why_max, "not a well-formed image: %s", nacre_update_strerror(us));
            return CLI_OK;
        }
        if (f->len < f->info.image_size) {
            snprintf(why, why_max, "truncated image (%zu bytes, the header says %lu)", f->len,
                     (unsigned long)f->info.image_size);
            return CLI_OK;
        }
        f->is_image = 1;
        f->package = f->buf + f->info.payload_offset;
        f->package_len = f->info.payload_size;
    } else {
        f->package = f->buf;
        f->package_len = f->len;
    }
    nacre_sandbox_status ss = nacre_app_package_parse(f->package, f->package_len,
                                                      &f->manifest_text, &f->manifest_len,
                                                      &f->exe, &f->exe_len);
    if (ss != NACRE_SANDBOX_OK) {
        snprintf(why, why_max, "%s does not hold an app package: %s",
                 f->is_image ? "its payload" : "it", nacre_sandbox_strerror(ss));
        return CLI_OK;
    }
    char err[256] = "";
    ss = nacre_manifest_parse(f->manifest_text, f->manifest_len, &f->manifest, err, sizeof err);
    if (ss != NACRE_SANDBOX_OK) {
        snprintf(why, why_max, "manifest: %s", err[0] != '\0' ? err : nacre_sandbox_strerror(ss));
        return CLI_OK;
    }
    *ok = 1;
    return CLI_OK;
}

/* ---- app package ---------------------------------------------------------------------- */

static const char package_usage[] =
    "usage: nacre app package --manifest MANIFEST.json --exe EXECUTABLE --out PKG [--json]\n"
    "\n"
    "Check an app manifest and build an app package: \"NAPP\", the manifest and\n"
    "the executable (docs/apps.md). The package is the payload of a signed app\n"
    "image, made with 'nacre image sign' like any other image, e.g.\n"
    "\n"
    "  nacre image sign --key KEY.pem --component NAME --version 1.0.0 --counter 1 \\\n"
    "                   PKG APP.img\n"
    "\n"
    "where NAME is the manifest's Name: secmon refuses an app image whose\n"
    "component is not the Name of the manifest inside it.\n"
    "\n"
    "The manifest is checked exactly as secmon will check it: unknown keys,\n"
    "wrong types and out-of-range values are refused with the JSON path of\n"
    "the problem (\"Capabilities.MutableStorage.SizeKB: must be 1..64\").\n"
    "The executable must be an ELF program; it runs in the sandbox with only a\n"
    "read-only view of the system libraries, so link it statically (the\n"
    "examples do).\n"
    "\n"
    "  --manifest FILE  the app manifest (JSON, at most 16384 bytes)\n"
    "  --exe FILE       the app's executable\n"
    "  --out PKG        the package to write (replaced if it exists)\n"
    "  --json           print JSON instead of text\n"
    "  -h, --help       show this help\n"
    "\n"
    "exit status: 0 written, 1 failure (a refused manifest included), 2 usage error\n";

static int run_package(int argc, char **argv)
{
    enum { OPT_MANIFEST = 256, OPT_EXE, OPT_OUT, OPT_JSON };
    static const struct option opts[] = {
        {"manifest", required_argument, NULL, OPT_MANIFEST},
        {"exe", required_argument, NULL, OPT_EXE},
        {"out", required_argument, NULL, OPT_OUT},
        {"json", no_argument, NULL, OPT_JSON},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *manifest_path = NULL;
    const char *exe_path = NULL;
    const char *out = NULL;
    int json = 0;
    int c;

    cli_getopt_reset();
    while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        switch (c) {
        case OPT_MANIFEST:
            manifest_path = optarg;
            break;
        case OPT_EXE:
            exe_path = optarg;
            break;
        case OPT_OUT:
            out = optarg;
            break;
        case OPT_JSON:
            json = 1;
            break;
        case 'h':
            return cli_print_usage(&cli_cmd_app_package);
        default:
            return cli_bad_option(package_name, c, argv);
        }
    }
    if (optind < argc) {
        return cli_usage_error(package_name, "unexpected argument '%s'", argv[optind]);
    }
    if (manifest_path == NULL) {
        return cli_usage_error(package_name, "missing --manifest MANIFEST.json");
    }
    if (exe_path == NULL) {
        return cli_usage_error(package_name, "missing --exe EXECUTABLE");
    }
    if (out == NULL) {
        return cli_usage_error(package_name, "missing --out PKG");
    }

    uint8_t *mtext = NULL;
    size_t mlen = 0;
    int rc = cli_read_file("reading manifest", manifest_path, NACRE_MANIFEST_BYTES_MAX, 0, &mtext,
                           &mlen);
    if (rc != CLI_OK) {
        return rc;
    }
    struct nacre_app_manifest m;
    char err[256] = "";
    nacre_sandbox_status ss = nacre_manifest_parse((const char *)mtext, mlen, &m, err, sizeof err);
    if (ss != NACRE_SANDBOX_OK) {
        cli_free_file(mtext, mlen, 0);
        return cli_fail("manifest %s refused: %s", manifest_path,
                        err[0] != '\0' ? err : nacre_sandbox_strerror(ss));
    }

    uint8_t *exe = NULL;
    size_t exe_len = 0;
    rc = cli_read_file("reading executable", exe_path, APP_FILE_MAX, 0, &exe, &exe_len);
    if (rc != CLI_OK) {
        cli_free_file(mtext, mlen, 0);
        return rc;
    }
    if (exe_len < 4 || memcmp(exe, "\x7f" "ELF", 4) != 0) {
        cli_free_file(mtext, mlen, 0);
        cli_free_file(exe, exe_len, 0);
        return cli_fail("executable %s: not an ELF program", exe_path);
    }

    uint8_t *pkg = NULL;
    size_t pkg_len = 0;
    ss = nacre_app_package_build(&pkg, &pkg_len, (const char *)mtext, mlen, exe, exe_len);
    if (ss != NACRE_SANDBOX_OK) {
        rc = cli_fail("building the package: %s", nacre_sandbox_strerror(ss));
    } else {
        rc = cli_write_file("writing package", out, pkg, pkg_len, 0644);
    }
    if (rc == CLI_OK) {
        uint8_t digest[32];
        crypto_generichash(digest, sizeof digest, exe, exe_len, NULL, 0);
        if (json) {
            json_t *root = json_object();
            json_t *mj = manifest_json(&m);
            if (root != NULL && mj != NULL) {
                json_object_set_new(root, "package", json_string(out));
                json_object_set_new(root, "size", json_integer((json_int_t)pkg_len));
                json_object_set_new(root, "manifest_size", json_integer((json_int_t)mlen));
                json_object_set_new(root, "executable_size", json_integer((json_int_t)exe_len));
                json_object_set_new(root, "executable_digest", cli_json_hex(digest, 32));
                json_object_set_new(root, "app", mj);
                mj = NULL;
            }
            json_decref(mj);
            rc = cli_print_json(root);
        } else {
            char hex[65];
            cli_kv("package", "%s", out);
            cli_kv("size", "%zu bytes (manifest %zu, executable %zu)", pkg_len, mlen, exe_len);
            cli_hex32(hex, digest);
            cli_kv("executable", "%s (BLAKE2b-256 %s)", exe_path, hex);
            print_manifest(&m);
            printf("next: nacre image sign --key KEY.pem --component %s --version X.Y.Z "
                   "--counter N %s APP.img\n",
                   m.name, out);
        }
    }
    free(pkg);
    cli_free_file(mtext, mlen, 0);
    cli_free_file(exe, exe_len, 0);
    return rc;
}

const struct cli_command cli_cmd_app_package = {
    .name = package_name,
    .summary = "check an app manifest and build an app package (then: image sign)",
    .usage = package_usage,
    .run = run_package,
};

/* ---- app inspect ------------------------------------------------------------------------ */

static const char app_inspect_usage[] =
    "usage: nacre app inspect APP [--json]\n"
    "\n"
    "Show a signed app image (or a bare app package): the image summary\n"
    "(component, version, security counter, sizes, measurement, signer) and\n"
    "the app inside it: its manifest (name, ComponentId, the app id that\n"
    "'nacre device events' shows, entry point, capabilities) and its\n"
    "executable's size and BLAKE2b-256 digest. NOTHING IS VERIFIED: a device\n"
    "checks the signature when it runs the app ('nacre device run'); 'nacre\n"
    "image verify' checks it on the host.\n"
    "\n"
    "  --json      print JSON instead of text (adds the manifest as written)\n"
    "  -h, --help  show this help\n"
    "\n"
    "exit status: 0 shown, 1 failure (not an app image or package), 2 usage error\n";

static int run_app_inspect(int argc, char **argv)
{
    enum { OPT_JSON = 256 };
    static const struct option opts[] = {
        {"json", no_argument, NULL, OPT_JSON},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int json = 0;
    int c;

    cli_getopt_reset();
    while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        switch (c) {
        case OPT_JSON:
            json = 1;
            break;
        case 'h':
            return cli_print_usage(&cli_cmd_app_inspect);
        default:
            return cli_bad_option(app_inspect_name, c, argv);
        }
    }
    if (optind >= argc) {
        return cli_usage_error(app_inspect_name, "missing app image APP");
    }
    if (argc - optind > 1) {
        return cli_usage_error(app_inspect_name, "unexpected argument '%s'", argv[optind + 1]);
    }
    const char *path = argv[optind];

    struct app_file f;
    char why[512];
    int ok = 0;
    int rc = app_file_load(path, &f, why, sizeof why, &ok);
    if (rc != CLI_OK) {
        return rc;
    }
    if (!ok) {
        app_file_free(&f);
        return cli_fail("inspecting %s: %s", path, why);
    }
    uint8_t digest[32];
    crypto_generichash(digest, sizeof digest, f.exe, f.exe_len, NULL, 0);
    if (json) {
        json_t *root = json_object();
        json_t *app = manifest_json(&f.manifest);
        json_t *raw = json_loadb(f.manifest_text, f.manifest_len, 0, NULL);
        json_t *image = f.is_image ? cli_json_image(&f.info) : json_null();
        if (root == NULL || app == NULL || raw == NULL || image == NULL) {
            json_decref(root);
            json_decref(app);
            json_decref(raw);
            json_decref(image);
            app_file_free(&f);
            return cli_fail("building JSON output: out of memory");
        }
        json_object_set_new(root, "file", json_string(path));
        json_object_set_new(root, "image", image);
        json_object_set_new(root, "app", app);
        json_object_set_new(root, "manifest", raw);
        json_object_set_new(root, "executable_size", json_integer((json_int_t)f.exe_len));
        json_object_set_new(root, "executable_digest", cli_json_hex(digest, 32));
        rc = cli_print_json(root);
    } else {
        char hex[65];
        if (f.is_image) {
            char version[CLI_VERSION_CHARS];
            cli_version_str(version, &f.info.version);
            cli_kv("image", "%s", path);
            cli_kv("component", "%s", f.info.component);
            cli_kv("version", "%s", version);
            cli_kv("counter", "%lu", (unsigned long)f.info.security_counter);
            cli_kv("size", "%lu bytes (metadata %lu, package %lu)",
                   (unsigned long)f.info.image_size, (unsigned long)f.info.payload_offset,
                   (unsigned long)f.info.payload_size);
            cli_hex32(hex, f.info.measurement);
            cli_kv("measurement", "%s", hex);
            cli_hex32(hex, f.info.signer_key_id);
            cli_kv("signer key id", "%s", hex);
            cli_kv("signed", "%s", f.info.has_signature ? "yes" : "no");
        } else {
            cli_kv("package", "%s (not signed: an app package, not an image)", path);
        }
        print_manifest(&f.manifest);
        cli_hex32(hex, digest);
        cli_kv("executable", "%zu bytes, BLAKE2b-256 %s", f.exe_len, hex);
        if (f.is_image && strcmp(f.info.component, f.manifest.name) != 0) {
            cli_kv("warning", "the image component '%s' is not the manifest Name '%s': "
                   "secmon will refuse it", f.info.component, f.manifest.name);
        }
    }
    app_file_free(&f);
    return rc;
}

const struct cli_command cli_cmd_app_inspect = {
    .name = app_inspect_name,
    .summary = "show an app image: image summary, manifest, executable",
    .usage = app_inspect_usage,
    .run = run_app_inspect,
};

/* ---- events: reading and showing ---------------------------------------------------------- */

struct event_list {
    struct nacre_secmon_event *ev;
    size_t count, cap;
    uint32_t since;     /* keep seq > since */
    uint32_t max_seq;   /* highest seq seen (all events) */
    int oom;
};

static int collect_event(const struct nacre_secmon_event *ev, void *ctx)
{
    struct event_list *l = ctx;
    if (ev->seq > l->max_seq) {
        l->max_seq = ev->seq;
    }
    if (ev->seq <= l->since) {
        return 0;
    }
    if (l->count == l->cap) {
        size_t cap = l->cap == 0 ? 64 : l->cap * 2;
        struct nacre_secmon_event *n = realloc(l->ev, cap * sizeof *n);
        if (n == NULL) {
            l->oom = 1;
            return 1;
        }
        l->ev = n;
        l->cap = cap;
    }
    l->ev[l->count++] = *ev;
    return 0;
}

/*
 * Read the event log of the device in dir (the board only: no boot). On
 * error prints the message and returns CLI_FAIL.
 */
static int read_events(const char *dir, struct event_list *l)
{
    struct nacre_board *board = NULL;
    const char *detail = NULL;
    nacre_board_status bst = nacre_host_board_open(dir, &board, &detail);
    if (bst != NACRE_BOARD_OK) {
        return cli_board_fail("opening device", bst, detail);
    }
    nacre_secmon_status st = nacre_secmon_event_read(board, collect_event, l);
    const char *bdetail = nacre_host_board_detail(board);
    int rc = CLI_OK;
    if (l->oom) {
        rc = cli_fail("reading the event log: out of memory");
    } else if (st != NACRE_SECMON_OK) {
        if (bdetail != NULL && bdetail[0] != '\0') {
            rc = cli_fail("reading the event log: %s (%s)", nacre_secmon_strerror(st), bdetail);
        } else {
            rc = cli_fail("reading the event log: %s", nacre_secmon_strerror(st));
        }
    }
    nacre_host_board_close(board);
    return rc;
}

/* "SIGSEGV" (or "signal 77"). */
static void signal_str(char *out, size_t out_len, uint32_t sig)
{
    const char *abbrev = sig < 128 ? sigabbrev_np((int)sig) : NULL;
    if (abbrev != NULL) {
        snprintf(out, out_len, "SIG%s", abbrev);
    } else {
        snprintf(out, out_len, "signal %lu", (unsigned long)sig);
    }
}

/* The event's code in words: a status, a signal, an exit status, or the number. */
static void event_code_str(char *out, size_t out_len, const struct nacre_secmon_event *ev)
{
    const char *name = nacre_secmon_status_name((nacre_secmon_status)ev->code);
    switch (ev->type) {
    case NACRE_SECMON_EVENT_APP_CRASH:
        signal_str(out, out_len, ev->code);
        return;
    case NACRE_SECMON_EVENT_APP_EXIT:
        if (strcmp(ev->detail, "stopped") == 0 && ev->code > 128 && ev->code < 256) {
            /* secmon ended it when it stopped: 128 + the signal */
            char sig[32];
            signal_str(sig, sizeof sig, ev->code - 128);
            snprintf(out, out_len, "stopped %s", sig);
        } else if (ev->code == UINT32_MAX) {
            snprintf(out, out_len, "unknown");
        } else {
            snprintf(out, out_len, "exit %lu", (unsigned long)ev->code);
        }
        return;
    case NACRE_SECMON_EVENT_REFUSED:
    case NACRE_SECMON_EVENT_CONNECTION_DENIED:
    case NACRE_SECMON_EVENT_VERIFY_FAILED:
    case NACRE_SECMON_EVENT_ROLLBACK:
        if (name != NULL) {
            snprintf(out, out_len, "%s", name);
            return;
        }
        break;
    default:
        break;
    }
    snprintf(out, out_len, "%lu", (unsigned long)ev->code);
}

/*
 * What the event names. A CONNECTION_DENIED event stores "host:port" in a
 * 13-byte detail (so the port is often cut) and the port in addr: the
 * target is rebuilt from both.
 */
static void event_detail_str(char *out, size_t out_len, const struct nacre_secmon_event *ev)
{
    if (ev->type == NACRE_SECMON_EVENT_CONNECTION_DENIED && ev->addr <= 0xFFFFu) {
        char port[8];
        snprintf(port, sizeof port, "%u", (unsigned)ev->addr);
        const char *colon = strrchr(ev->detail, ':');
        if (colon != NULL && strncmp(colon + 1, port, strlen(colon + 1)) == 0) {
            snprintf(out, out_len, "%.*s:%s", (int)(colon - ev->detail), ev->detail, port);
        } else {
            /* the host itself was cut */
            snprintf(out, out_len, "%s...:%s", ev->detail, port);
        }
        return;
    }
    if ((ev->type == NACRE_SECMON_EVENT_VERIFY_FAILED || ev->type == NACRE_SECMON_EVENT_ROLLBACK) &&
        ev->code == NACRE_SECMON_ERR_VERIFY && ev->addr >= NACRE_UPDATE_ERR_BAD_TLV &&
        ev->addr <= NACRE_UPDATE_ERR_INSTALL_STATE) {
        /* An app image refused at launch: addr is libupdate's reason. (Below
         * BAD_TLV it may as well be libsandbox's status for a bad package or
         * manifest inside a valid image: the numbers overlap, so no text.) */
        snprintf(out, out_len, "%s (%s)", ev->detail,
                 nacre_update_strerror((nacre_update_status)ev->addr));
        return;
    }
    snprintf(out, out_len, "%s", ev->detail);
}

static int app_id_zero(const uint8_t id[APP_ID_BYTES])
{
    uint8_t acc = 0;
    for (size_t i = 0; i < APP_ID_BYTES; i++) {
        acc |= id[i];
    }
    return acc == 0;
}

static json_t *event_json(const struct nacre_secmon_event *ev)
{
    char code[48];
    json_t *obj = json_object();
    if (obj == NULL) {
        return NULL;
    }
    event_code_str(code, sizeof code, ev);
    json_object_set_new(obj, "seq", json_integer((json_int_t)ev->seq));
    json_object_set_new(obj, "time", json_integer((json_int_t)ev->time));
    json_object_set_new(obj, "type", json_string(nacre_secmon_event_type_name(ev->type)));
    json_object_set_new(obj, "type_code", json_integer(ev->type));
    json_object_set_new(obj, "app_id", app_id_zero(ev->app_id)
                                           ? json_null()
                                           : cli_json_hex(ev->app_id, APP_ID_BYTES));
    json_object_set_new(obj, "code", json_integer((json_int_t)ev->code));
    json_object_set_new(obj, "code_text", json_string(code));
    json_object_set_new(obj, "addr", json_integer((json_int_t)ev->addr));
    json_object_set_new(obj, "detail", json_string(ev->detail));
    if (ev->type == NACRE_SECMON_EVENT_CONNECTION_DENIED) {
        char target[NACRE_SECMON_EVENT_DETAIL_MAX + 16];
        event_detail_str(target, sizeof target, ev);
        json_object_set_new(obj, "target", json_string(target));
    }
    return obj;
}

static void print_event_header(void)
{
    printf("%5s  %-23s  %-17s  %-16s  %-12s  %s\n", "seq", "time", "event", "app", "code",
           "detail");
}

static void print_event(const struct nacre_secmon_event *ev)
{
    char when[CLI_TIME_CHARS];
    char app[2 * APP_ID_BYTES + 1];
    char code[48];
    char detail[NACRE_SECMON_EVENT_DETAIL_MAX + 16];
    if (ev->time == 0) {
        snprintf(when, sizeof when, "-");
    } else {
        cli_time_str(when, ev->time);
    }
    if (app_id_zero(ev->app_id)) {
        snprintf(app, sizeof app, "secmon");
    } else {
        hex_str(app, ev->app_id, APP_ID_BYTES);
    }
    event_code_str(code, sizeof code, ev);
    event_detail_str(detail, sizeof detail, ev);
    printf("%5lu  %-23s  %-17s  %-16s  %-12s  %s", (unsigned long)ev->seq, when,
           nacre_secmon_event_type_name(ev->type), app, code, detail);
    if (ev->type == NACRE_SECMON_EVENT_APP_CRASH && ev->addr != 0) {
        printf(" (fault address 0x%llx)", (unsigned long long)ev->addr);
    }
    putchar('\n');
}

/* ---- device events -------------------------------------------------------------------- */

static const char events_usage[] =
    "usage: nacre device events DIR [--since SEQ] [--json]\n"
    "\n"
    "Show the device's persistent security-event log, oldest first: what\n"
    "secmon recorded while it ran apps ('nacre device run'). Each event has a\n"
    "sequence number (increasing for the life of the device), a time, a type,\n"
    "the app (first 8 bytes of BLAKE2b-256 of its ComponentId, as 'nacre app\n"
    "inspect' shows; \"secmon\" for secmon itself), a code and a short detail:\n"
    "\n"
    "  refused            a request refused; code = the status (DENIED, MALFORMED,\n"
    "                     UNKNOWN_CALL, RATE_LIMITED, ...), detail = the call\n"
    "  connection_denied  CONNECT to a host:port outside AllowedConnections\n"
    "  verify_failed      an app image (or sealed blob) failed verification\n"
    "  rollback           an app image below the device's security counter\n"
    "  app_start          an app launched; detail = its measurement (prefix)\n"
    "  app_exit           an app exited; code = its exit status\n"
    "  app_crash          an app killed by a signal; code = the signal\n"
    "  app_log            an app's LOG_EVENT; detail = its text (prefix)\n"
    "  sandbox_degraded   an app ran without a sandbox mechanism (--degrade)\n"
    "\n"
    "The log is a ring in the device's flash: the oldest events make room for\n"
    "new ones, and a record torn by a power cut is skipped. Details are stored\n"
    "truncated to 13 bytes. The device is only read (no boot).\n"
    "\n"
    "  --since SEQ  only events after sequence number SEQ\n"
    "  --json       print JSON instead of text\n"
    "  -h, --help   show this help\n"
    "\n"
    "exit status: 0 shown, 1 failure, 2 usage error\n";

static int run_events(int argc, char **argv)
{
    enum { OPT_SINCE = 256, OPT_JSON };
    static const struct option opts[] = {
        {"since", required_argument, NULL, OPT_SINCE},
        {"json", no_argument, NULL, OPT_JSON},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *since = NULL;
    int json = 0;
    int c;

    cli_getopt_reset();
    while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        switch (c) {
        case OPT_SINCE:
            since = optarg;
            break;
        case OPT_JSON:
            json = 1;
            break;
        case 'h':
            return cli_print_usage(&cli_cmd_device_events);
        default:
            return cli_bad_option(events_name, c, argv);
        }
    }
    if (optind >= argc) {
        return cli_usage_error(events_name, "missing device directory DIR");
    }
    if (argc - optind > 1) {
        return cli_usage_error(events_name, "unexpected argument '%s'", argv[optind + 1]);
    }
    const char *dir = argv[optind];
    if (dir[0] == '\0') {
        return cli_usage_error(events_name, "DIR must not be empty");
    }
    struct event_list l;
    memset(&l, 0, sizeof l);
    if (since != NULL && cli_parse_u32(since, &l.since) != 0) {
        return cli_usage_error(events_name, "--since needs a sequence number, not '%s'", since);
    }
    int rc = read_events(dir, &l);
    if (rc != CLI_OK) {
        free(l.ev);
        return rc;
    }
    if (json) {
        json_t *root = json_object();
        json_t *arr = json_array();
        for (size_t i = 0; arr != NULL && i < l.count; i++) {
            json_array_append_new(arr, event_json(&l.ev[i]));
        }
        if (root != NULL && arr != NULL) {
            json_object_set_new(root, "device", json_string(dir));
            json_object_set_new(root, "last_seq", json_integer((json_int_t)l.max_seq));
            json_object_set_new(root, "events", arr);
            arr = NULL;
        }
        json_decref(arr);
        rc = cli_print_json(root);
    } else if (l.count == 0) {
        printf("no events%s\n", since != NULL ? " after that sequence number" : "");
    } else {
        print_event_header();
        for (size_t i = 0; i < l.count; i++) {
            print_event(&l.ev[i]);
        }
    }
    free(l.ev);
    return rc;
}

const struct cli_command cli_cmd_device_events = {
    .name = events_name,
    .summary = "show the device's security-event log",
    .usage = events_usage,
    .run = run_events,
};

/* ---- device run -------------------------------------------------------------------------- */

static const char run_usage[] =
    "usage: nacre device run DIR --app APP.img [--app APP.img]... [--seconds N]\n"
    "                        [--stagger MS] [--cert CERT] [--degrade] [--json]\n"
    "\n"
    "Run signed apps on the device in DIR under the security monitor (libsecmon's\n"
    "host server, docs/apps.md): boot the device, then for each --app, in the\n"
    "order given, verify the image against the device's root key (its component\n"
    "must be the manifest's Name), measure it into pluton R1 and launch it in its\n"
    "sandbox with its own channel to secmon; serve the apps' requests until every\n"
    "app has exited, N seconds have passed, or SIGINT / SIGTERM arrives; then stop\n"
    "whatever still runs and power the device off.\n"
    "\n"
    "Each app's standard output and error go to this terminal, line by line,\n"
    "prefixed \"[NAME] \" (each app has its own pipe). Then a summary: how each app\n"
    "ended (exit status or signal), from the device's event log ('nacre device\n"
    "events' shows the rest: refusals, denied connections, ...).\n"
    "\n"
    "  --app APP.img  an app image (nacre app package + nacre image sign); up to 8\n"
    "  --seconds N    stop after N seconds (default 10; 1..86400)\n"
    "  --stagger MS   launch each app MS milliseconds after the previous one,\n"
    "                 serving the ones already running meanwhile (default 0)\n"
    "  --cert CERT    the device certificate (PEM or DER) served to apps with\n"
    "                 DeviceAuthentication (e.g. from 'nacre ca issue')\n"
    "  --degrade      run an app even if the kernel refuses a sandbox mechanism\n"
    "                 (the gap is logged as sandbox_degraded); without it such an\n"
    "                 app is refused. NOT for production.\n"
    "  --json         print JSON instead of text: the apps with their output lines\n"
    "                 and how they ended, and the events of this run\n"
    "  -h, --help     show this help\n"
    "\n"
    "An app that is refused (bad signature, wrong key, malformed package or\n"
    "manifest, sandbox unavailable) gets one line on standard error,\n"
    "\"nacre: device run: APP.img refused: <reason>\", and the others still run.\n"
    "\n"
    "exit status: 0 every app launched (whatever their own exit status),\n"
    "1 an app was refused or secmon failed, 2 usage error\n";

#define RUN_APPS_MAX NACRE_SECMON_APPS_MAX

enum run_state {
    APP_PENDING = 0, /* not launched yet */
    APP_REFUSED,
    APP_LAUNCHED,
};

struct run_app {
    const char *path;
    char label[40];          /* output prefix: the manifest Name, or the file name */
    int named;               /* the manifest parsed: app_id is valid */
    char component_id[40];
    uint8_t app_id[APP_ID_BYTES];
    enum run_state state;
    char error[512];
    struct app_file file;
    int out_fd;              /* read end of its output pipe, or -1 */
    char line[RUN_LINE_MAX + 1];
    size_t line_len;
    json_t *lines;           /* --json */
    /* from the event log */
    int exited, crashed, stopped; /* stopped: still running at the end, ended by secmon */
    uint32_t exit_status, signal;
    uint64_t fault_addr;
};

struct run_ctx {
    const char *dir;
    struct run_app apps[RUN_APPS_MAX];
    size_t count;
    int json;
};

static volatile sig_atomic_t run_signal;

static void on_run_signal(int sig)
{
    run_signal = sig;
}

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void emit_line(struct run_ctx *ctx, struct run_app *a, const char *text, size_t len)
{
    if (ctx->json) {
        if (a->lines != NULL && json_array_size(a->lines) < RUN_JSON_LINES_MAX) {
            json_t *s = json_stringn(text, len);
            if (s == NULL) {
                /* Not UTF-8: keep the ASCII, mark the rest. */
                char ascii[RUN_LINE_MAX + 1];
                for (size_t i = 0; i < len && i < RUN_LINE_MAX; i++) {
                    ascii[i] = (unsigned char)text[i] < 0x80 ? text[i] : '?';
                }
                s = json_stringn(ascii, len < RUN_LINE_MAX ? len : RUN_LINE_MAX);
            }
            json_array_append_new(a->lines, s);
        }
        return;
    }
    printf("[%s] %.*s\n", a->label, (int)len, text);
    fflush(stdout);
}

/* Read what app a wrote (non-blocking); complete lines are shown. At eof, the rest too. */
static void drain_app(struct run_ctx *ctx, struct run_app *a, int final)
{
    while (a->out_fd >= 0) {
        char buf[4096];
        ssize_t n = read(a->out_fd, buf, sizeof buf);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK)) {
                close(a->out_fd);
                a->out_fd = -1;
                final = 1;
            }
            break;
        }
        for (ssize_t i = 0; i < n; i++) {
            char ch = buf[i];
            if (ch == '\n' || a->line_len == RUN_LINE_MAX) {
                emit_line(ctx, a, a->line, a->line_len);
                a->line_len = 0;
                if (ch == '\n') {
                    continue;
                }
            }
            /* Control characters other than tab are shown as '?'. */
            a->line[a->line_len++] = (ch == '\t' || (unsigned char)ch >= 0x20) ? ch : '?';
        }
    }
    if (final && a->line_len > 0) {
        emit_line(ctx, a, a->line, a->line_len);
        a->line_len = 0;
    }
}

static void drain_all(struct run_ctx *ctx, int final)
{
    for (size_t i = 0; i < ctx->count; i++) {
        drain_app(ctx, &ctx->apps[i], final);
    }
}

/* Wait up to ms for output from any app (used between launches and after stop). */
static void wait_output(struct run_ctx *ctx, int ms)
{
    struct pollfd pfd[RUN_APPS_MAX];
    nfds_t n = 0;
    for (size_t i = 0; i < ctx->count; i++) {
        if (ctx->apps[i].out_fd >= 0) {
            pfd[n].fd = ctx->apps[i].out_fd;
            pfd[n].events = POLLIN;
            n++;
        }
    }
    if (n > 0) {
        (void)poll(pfd, n, ms);
    }
}

/* The label and app id of each app, from its image (secmon checks it again). */
static int prepare_apps(struct run_ctx *ctx)
{
    for (size_t i = 0; i < ctx->count; i++) {
        struct run_app *a = &ctx->apps[i];
        char why[512];
        int ok = 0;
        a->out_fd = -1;
        int rc = app_file_load(a->path, &a->file, why, sizeof why, &ok);
        if (rc != CLI_OK) {
            return rc;
        }
        if (ok) {
            a->named = 1;
            snprintf(a->label, sizeof a->label, "%s", a->file.manifest.name);
            snprintf(a->component_id, sizeof a->component_id, "%s",
                     a->file.manifest.component_id);
            app_id_of(a->app_id, a->component_id);
        } else {
            const char *base = strrchr(a->path, '/');
            snprintf(a->label, sizeof a->label, "%s", base != NULL ? base + 1 : a->path);
        }
        if (ctx->json) {
            a->lines = json_array();
            if (a->lines == NULL) {
                return cli_fail("out of memory");
            }
        }
    }
    return CLI_OK;
}

/* App a is refused: one line on stderr now, its reason in the summary. */
static void refuse_app(struct run_app *a, const char *fmt, ...) CLI_PRINTF(2, 3);

static void refuse_app(struct run_app *a, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(a->error, sizeof a->error, fmt, ap);
    va_end(ap);
    a->state = APP_REFUSED;
    cli_fail("%s: %s refused: %s", run_name, a->path, a->error);
}

/*
 * Launch app a with its own output pipe. Secmon hands each app the fd
 * cfg.app_stdio_fd (stdio_slot) when it launches it, so that fd number
 * points at this app's pipe for the duration of the launch, and at
 * /dev/null (null_fd) otherwise: then the app is its pipe's only writer,
 * and the pipe ends when the app does.
 */
static void launch_app(struct nacre_secmon *sm, int stdio_slot, int null_fd, struct run_app *a)
{
    int p[2];
    if (pipe2(p, O_CLOEXEC) != 0) {
        refuse_app(a, "cannot create its output pipe: %s", strerror(errno));
        return;
    }
    if (dup3(p[1], stdio_slot, O_CLOEXEC) < 0) {
        int err = errno;
        close(p[0]);
        close(p[1]);
        refuse_app(a, "cannot set up its output: %s", strerror(err));
        return;
    }
    close(p[1]);
    char err[512] = "";
    nacre_secmon_status st = nacre_secmon_launch(sm, a->file.buf, a->file.len, err, sizeof err);
    /* Both fds are open: this cannot fail. */
    (void)dup3(null_fd, stdio_slot, O_CLOEXEC);
    if (st != NACRE_SECMON_OK) {
        close(p[0]);
        refuse_app(a, "%s", err[0] != '\0' ? err : nacre_secmon_strerror(st));
        return;
    }
    a->state = APP_LAUNCHED;
    int fl = fcntl(p[0], F_GETFL);
    if (fl >= 0) {
        (void)fcntl(p[0], F_SETFL, fl | O_NONBLOCK);
    }
    a->out_fd = p[0];
}

/* How each app ended, from this run's events. */
static void apply_events(struct run_ctx *ctx, const struct event_list *l)
{
    for (size_t e = 0; e < l->count; e++) {
        const struct nacre_secmon_event *ev = &l->ev[e];
        for (size_t i = 0; i < ctx->count; i++) {
            struct run_app *a = &ctx->apps[i];
            if (a->state != APP_LAUNCHED || !a->named ||
                memcmp(a->app_id, ev->app_id, APP_ID_BYTES) != 0) {
                continue;
            }
            if (ev->type == NACRE_SECMON_EVENT_APP_EXIT && strcmp(ev->detail, "stopped") == 0 &&
                ev->code > 128 && ev->code < 256) {
                a->stopped = 1;
                a->signal = ev->code - 128;
            } else if (ev->type == NACRE_SECMON_EVENT_APP_EXIT) {
                a->exited = 1;
                a->exit_status = ev->code;
            } else if (ev->type == NACRE_SECMON_EVENT_APP_CRASH) {
                a->crashed = 1;
                a->signal = ev->code;
                a->fault_addr = ev->addr;
            }
        }
    }
}

static const char *ended_word(const struct run_app *a)
{
    if (a->state == APP_REFUSED) {
        return "refused";
    }
    if (a->state == APP_PENDING) {
        return "not launched";
    }
    if (a->exited) {
        return "exited";
    }
    if (a->crashed) {
        return "killed";
    }
    if (a->stopped) {
        return "stopped";
    }
    return "unknown";
}

static void print_summary(const struct run_ctx *ctx, const char *why, uint64_t elapsed)
{
    if (why[0] != '\0') {
        printf("%s after %llu.%01llu s\n", why, (unsigned long long)(elapsed / 1000),
               (unsigned long long)(elapsed % 1000 / 100));
    } else {
        printf("no app ran\n");
    }
    for (size_t i = 0; i < ctx->count; i++) {
        const struct run_app *a = &ctx->apps[i];
        char how[600];
        if (a->state == APP_REFUSED) {
            snprintf(how, sizeof how, "refused: %s", a->error);
        } else if (a->state == APP_PENDING) {
            snprintf(how, sizeof how, "not launched (the run ended first)");
        } else if (a->exited) {
            snprintf(how, sizeof how, "exited %lu", (unsigned long)a->exit_status);
        } else if (a->crashed) {
            char sig[32];
            signal_str(sig, sizeof sig, a->signal);
            if (a->fault_addr != 0) {
                snprintf(how, sizeof how, "killed by %s (fault address 0x%llx)", sig,
                         (unsigned long long)a->fault_addr);
            } else {
                snprintf(how, sizeof how, "killed by %s", sig);
            }
        } else if (a->stopped) {
            char sig[32];
            signal_str(sig, sizeof sig, a->signal);
            snprintf(how, sizeof how, "still running at the end: stopped (%s)", sig);
        } else {
            snprintf(how, sizeof how, "ended (no exit event recorded)");
        }
        /* A refused image is named by its file: its manifest may claim anything. */
        const char *base = strrchr(a->path, '/');
        printf("  %-16s %s\n", a->state == APP_REFUSED ? (base != NULL ? base + 1 : a->path) : a->label,
               how);
    }
}

static json_t *summary_json(struct run_ctx *ctx, const char *ended, int sig, uint64_t elapsed,
                            const struct event_list *l)
{
    json_t *root = json_object();
    json_t *apps = json_array();
    json_t *events = json_array();
    if (root == NULL || apps == NULL || events == NULL) {
        json_decref(root);
        json_decref(apps);
        json_decref(events);
        return NULL;
    }
    for (size_t i = 0; i < ctx->count; i++) {
        struct run_app *a = &ctx->apps[i];
        json_t *o = json_object();
        if (o == NULL) {
            continue;
        }
        json_object_set_new(o, "image", json_string(a->path));
        json_object_set_new(o, "name", a->named ? json_string(a->label) : json_null());
        json_object_set_new(o, "component_id",
                            a->named ? json_string(a->component_id) : json_null());
        json_object_set_new(o, "app_id",
                            a->named ? cli_json_hex(a->app_id, APP_ID_BYTES) : json_null());
        json_object_set_new(o, "state", json_string(ended_word(a)));
        json_object_set_new(o, "error", a->state == APP_REFUSED ? json_string(a->error)
                                                                : json_null());
        json_object_set_new(o, "exit_status", a->exited ? json_integer(a->exit_status)
                                                        : json_null());
        if (a->crashed || a->stopped) {
            char sig_name[32];
            signal_str(sig_name, sizeof sig_name, a->signal);
            json_object_set_new(o, "signal", json_string(sig_name));
        } else {
            json_object_set_new(o, "signal", json_null());
        }
        json_object_set_new(o, "output", a->lines != NULL ? a->lines : json_array());
        a->lines = NULL;
        json_array_append_new(apps, o);
    }
    for (size_t e = 0; e < l->count; e++) {
        json_array_append_new(events, event_json(&l->ev[e]));
    }
    json_object_set_new(root, "device", json_string(ctx->dir));
    json_object_set_new(root, "ended", json_string(ended));
    if (sig != 0) {
        char sig_name[32];
        signal_str(sig_name, sizeof sig_name, (uint32_t)sig);
        json_object_set_new(root, "signal", json_string(sig_name));
    } else {
        json_object_set_new(root, "signal", json_null());
    }
    json_object_set_new(root, "elapsed_ms", json_integer((json_int_t)elapsed));
    json_object_set_new(root, "apps", apps);
    json_object_set_new(root, "events", events);
    return root;
}

static int run_run(int argc, char **argv)
{
    enum { OPT_APP = 256, OPT_SECONDS, OPT_STAGGER, OPT_CERT, OPT_DEGRADE, OPT_JSON };
    static const struct option opts[] = {
        {"app", required_argument, NULL, OPT_APP},
        {"seconds", required_argument, NULL, OPT_SECONDS},
        {"stagger", required_argument, NULL, OPT_STAGGER},
        {"cert", required_argument, NULL, OPT_CERT},
        {"degrade", no_argument, NULL, OPT_DEGRADE},
        {"json", no_argument, NULL, OPT_JSON},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    static struct run_ctx ctx;
    const char *seconds_arg = NULL;
    const char *stagger_arg = NULL;
    const char *cert = NULL;
    int degrade = 0;
    uint32_t seconds = RUN_DEFAULT_SECONDS;
    uint32_t stagger = 0;
    int c;

    memset(&ctx, 0, sizeof ctx);
    cli_getopt_reset();
    while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        switch (c) {
        case OPT_APP:
            if (ctx.count == RUN_APPS_MAX) {
                return cli_usage_error(run_name, "at most %u apps", RUN_APPS_MAX);
            }
            ctx.apps[ctx.count++].path = optarg;
            break;
        case OPT_SECONDS:
            seconds_arg = optarg;
            break;
        case OPT_STAGGER:
            stagger_arg = optarg;
            break;
        case OPT_CERT:
            cert = optarg;
            break;
        case OPT_DEGRADE:
            degrade = 1;
            break;
        case OPT_JSON:
            ctx.json = 1;
            break;
        case 'h':
            return cli_print_usage(&cli_cmd_device_run);
        default:
            return cli_bad_option(run_name, c, argv);
        }
    }
    if (optind >= argc) {
        return cli_usage_error(run_name, "missing device directory DIR");
    }
    if (argc - optind > 1) {
        return cli_usage_error(run_name, "unexpected argument '%s'", argv[optind + 1]);
    }
    ctx.dir = argv[optind];
    if (ctx.dir[0] == '\0') {
        return cli_usage_error(run_name, "DIR must not be empty");
    }
    if (ctx.count == 0) {
        return cli_usage_error(run_name, "missing --app APP.img");
    }
    if (seconds_arg != NULL && (cli_parse_u32(seconds_arg, &seconds) != 0 || seconds == 0 ||
                                seconds > RUN_MAX_SECONDS)) {
        return cli_usage_error(run_name, "--seconds needs 1..%u, not '%s'", RUN_MAX_SECONDS,
                               seconds_arg);
    }
    if (stagger_arg != NULL &&
        (cli_parse_u32(stagger_arg, &stagger) != 0 || stagger > RUN_MAX_STAGGER_MS)) {
        return cli_usage_error(run_name, "--stagger needs 0..%u milliseconds, not '%s'",
                               RUN_MAX_STAGGER_MS, stagger_arg);
    }

    int rc = prepare_apps(&ctx);
    /* The events before this run: the summary reads the ones after. */
    struct event_list before;
    memset(&before, 0, sizeof before);
    before.since = UINT32_MAX;
    if (rc == CLI_OK) {
        rc = read_events(ctx.dir, &before);
    }
    int stdio_slot = -1;
    int null_fd = -1;
    if (rc == CLI_OK) {
        null_fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
        stdio_slot = null_fd >= 0 ? fcntl(null_fd, F_DUPFD_CLOEXEC, 3) : -1;
        if (stdio_slot < 0) {
            rc = cli_fail("opening /dev/null: %s", strerror(errno));
        }
    }
    struct nacre_secmon *sm = NULL;
    if (rc == CLI_OK) {
        struct nacre_secmon_config cfg;
        memset(&cfg, 0, sizeof cfg);
        cfg.device_dir = ctx.dir;
        cfg.component = NULL;
        cfg.certificate = cert;
        cfg.rate = 0;
        cfg.allow_degraded = degrade;
        cfg.app_stdio_fd = stdio_slot;
        nacre_secmon_status st = nacre_secmon_start(&sm, &cfg);
        if (st != NACRE_SECMON_OK) {
            sm = NULL;
            rc = cli_fail("%s: starting secmon on %s: %s", run_name, ctx.dir,
                          nacre_secmon_strerror(st));
        }
    }
    if (rc != CLI_OK) {
        if (stdio_slot >= 0) {
            close(stdio_slot);
        }
        if (null_fd >= 0) {
            close(null_fd);
        }
        for (size_t i = 0; i < ctx.count; i++) {
            app_file_free(&ctx.apps[i].file);
            json_decref(ctx.apps[i].lines);
        }
        free(before.ev);
        return rc;
    }

    struct sigaction sa, old_int, old_term;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_run_signal;
    sigemptyset(&sa.sa_mask);
    run_signal = 0;
    sigaction(SIGINT, &sa, &old_int);
    sigaction(SIGTERM, &sa, &old_term);

    if (!ctx.json) {
        printf("device %s: running %zu app%s for up to %lu s\n", ctx.dir, ctx.count,
               ctx.count == 1 ? "" : "s", (unsigned long)seconds);
        fflush(stdout);
    }
    const uint64_t start = now_ms();
    const uint64_t deadline = start + (uint64_t)seconds * 1000u;
    uint64_t next_launch = start;
    size_t launched = 0;
    const char *ended = "exited";
    int refused = 0;
    int serve_failed = 0;
    for (;;) {
        if (run_signal != 0) {
            ended = "signal";
            break;
        }
        uint64_t now = now_ms();
        if (now >= deadline) {
            ended = "timeout";
            break;
        }
        while (launched < ctx.count && now >= next_launch) {
            struct run_app *a = &ctx.apps[launched++];
            launch_app(sm, stdio_slot, null_fd, a);
            if (a->state == APP_REFUSED) {
                refused = 1;
            } else if (!ctx.json) {
                printf("launched %s (%s)\n", a->label, a->path);
                fflush(stdout);
            }
            next_launch = now_ms() + stagger;
            now = now_ms();
        }
        uint64_t wait = deadline - now;
        if (launched < ctx.count && next_launch - now < wait) {
            wait = next_launch > now ? next_launch - now : 0;
        }
        if (wait > 50) {
            wait = 50;
        }
        int running = nacre_secmon_serve(sm, (int)wait);
        drain_all(&ctx, 0);
        if (running < 0) {
            serve_failed = 1;
            ended = "secmon failure";
            break;
        }
        if (running == 0 && launched == ctx.count) {
            ended = "exited";
            break;
        }
    }
    int sig = (int)run_signal;
    nacre_secmon_stop(sm);
    /* What the apps wrote before they ended: every writer is gone now. */
    for (int i = 0; i < 20; i++) {
        drain_all(&ctx, 0);
        int open_pipes = 0;
        for (size_t k = 0; k < ctx.count; k++) {
            open_pipes += ctx.apps[k].out_fd >= 0;
        }
        if (open_pipes == 0) {
            break;
        }
        wait_output(&ctx, 50);
    }
    drain_all(&ctx, 1);
    for (size_t k = 0; k < ctx.count; k++) {
        if (ctx.apps[k].out_fd >= 0) {
            close(ctx.apps[k].out_fd);
            ctx.apps[k].out_fd = -1;
        }
    }
    close(stdio_slot);
    close(null_fd);
    uint64_t elapsed = now_ms() - start;
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGTERM, &old_term, NULL);

    struct event_list after;
    memset(&after, 0, sizeof after);
    after.since = before.max_seq;
    rc = read_events(ctx.dir, &after);
    if (rc == CLI_OK) {
        apply_events(&ctx, &after);
        if (ctx.json) {
            rc = cli_print_json(summary_json(&ctx, ended, sig, elapsed, &after));
        } else {
            char why[64];
            if (strcmp(ended, "signal") == 0) {
                char sname[32];
                signal_str(sname, sizeof sname, (uint32_t)sig);
                snprintf(why, sizeof why, "stopped by %s", sname);
            } else if (strcmp(ended, "timeout") == 0) {
                snprintf(why, sizeof why, "stopped: %lu s passed", (unsigned long)seconds);
            } else if (serve_failed) {
                snprintf(why, sizeof why, "stopped: secmon failed");
            } else {
                int any = 0;
                for (size_t i = 0; i < ctx.count; i++) {
                    any |= ctx.apps[i].state == APP_LAUNCHED;
                }
                snprintf(why, sizeof why, "%s", any ? "every app exited" : "");
            }
            print_summary(&ctx, why, elapsed);
        }
    }
    for (size_t i = 0; i < ctx.count; i++) {
        app_file_free(&ctx.apps[i].file);
        json_decref(ctx.apps[i].lines);
    }
    free(before.ev);
    free(after.ev);
    if (rc != CLI_OK) {
        return rc;
    }
    if (serve_failed) {
        return cli_fail("%s: serving the apps failed", run_name);
    }
    if (refused) {
        return CLI_FAIL;
    }
    return CLI_OK;
}

const struct cli_command cli_cmd_device_run = {
    .name = run_name,
    .summary = "run signed apps in their sandboxes under the security monitor",
    .usage = run_usage,
    .run = run_run,
};
