/*
 * cmd_fleet.c - nacre fleet run: a fleet of host devices, each with its own
 * device agent in a thread, against nacre-service. For demos and tests: it
 * makes the devices (provision, install + boot + confirm the first image),
 * claims them, and runs the agents until the fleet is settled.
 */
#include "cli.h"

#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <sodium.h>

#include <nacre/agent.h>
#include <nacre/board_host.h>

static const char fleet_name[] = "fleet run";

#define FLEET_MAX 256u

static const char fleet_usage[] =
    "usage: nacre fleet run --service URL --devices N --dir DIR --token T --group G\n"
    "                       --root-pub ROOT.pub.pem --image V1.img [--timeout S]\n"
    "                       [--poll S] [--tamper-device K] [--json]\n"
    "\n"
    "Run a fleet of N host devices against nacre-service:\n"
    "  1. make DIR/dev-1 .. DIR/dev-N that do not exist yet: provision each\n"
    "     with the root-key hash of ROOT.pub.pem (as 'nacre device provision\n"
    "     --root-pub'), then install, boot and confirm V1.img (as 'nacre device\n"
    "     install / boot / confirm');\n"
    "  2. claim them with the service into group G, labelled dev-K (devices\n"
    "     already claimed are skipped);\n"
    "  3. run the N device agents concurrently (one thread each) until every\n"
    "     device is attested with no update to take and nothing left to report\n"
    "     or upload, or until --timeout;\n"
    "  4. print each device's state as the service sees it.\n"
    "\n"
    "The service must already hold the tenant, the group and a deployment whose\n"
    "image the devices run (or attestation fails): see 'nacre svc'.\n"
    "\n"
    "  --service URL       nacre-service (default: $NACRE_SERVICE, else\n"
    "                      http://127.0.0.1:8443)\n"
    "  --token T           an admin token of the tenant (default: $NACRE_TOKEN)\n"
    "  --token-file F      read the token from F\n"
    "  --devices N         fleet size, 1..256\n"
    "  --dir DIR           where the device directories live\n"
    "  --group G           the group to claim the devices into\n"
    "  --root-pub PUB.pem  the image-signing root public key\n"
    "  --image V1.img      the first image every new device runs\n"
    "  --timeout S         give up after S seconds (default 120)\n"
    "  --poll S            pause of a settled agent between cycles (default 1)\n"
    "  --tamper-device K   device K's agent tampers with its downloads (FOR DEMOS\n"
    "                      AND TESTS: the image is refused and reported)\n"
    "  --json              print the result as JSON\n"
    "  -h, --help          show this help\n"
    "\n"
    "Progress goes to standard error: a bar on a terminal, lines otherwise.\n"
    "\n"
    "exit status: 0 every device ended attested, 1 otherwise or failure,\n"
    "2 usage error\n";

struct fleet;

struct member {
    struct fleet *fleet;
    unsigned index;              /* 1-based */
    char dir[4096];
    char label[16];
    char device_id[65];
    nacre_agent *agent;
    pthread_t thread;
    int started;
    /* under fleet->lock */
    int idle;                    /* its last cycle was idle ... */
    uint64_t began;              /* ... and began when activity had this value */
    int attested;
    int failed_last;
    char version[36];
    char last[200];
    unsigned cycles;
};

struct fleet {
    pthread_mutex_t lock;
    uint64_t activity;           /* bumped after every cycle that did (or failed to do) work */
    volatile int stop;
    unsigned poll_seconds;
    struct member *members;
    unsigned count;
    int lines;                   /* plain progress lines (stderr is no terminal) */
};

/* ---- making the devices ------------------------------------------------------------ */

static int member_exists(const char *dir)
{
    char path[4096 + 16];
    struct stat sb;
    snprintf(path, sizeof path, "%s/flash.bin", dir);
    return stat(path, &sb) == 0;
}

static int dev_fail_board(const char *dir, const char *what, nacre_board_status st, const char *d)
{
    return cli_fail("%s: %s %s: %s%s%s", fleet_name, what, dir, nacre_board_strerror(st),
                    d != NULL && d[0] ? ": " : "", d != NULL ? d : "");
}

/* Power on (no boot): board + pluton. */
static int power_on(const char *dir, struct nacre_board **b, nacre_pluton **p)
{
    const char *detail = NULL;
    nacre_board_status bst = nacre_host_board_open(dir, b, &detail);
    if (bst != NACRE_BOARD_OK) {
        return dev_fail_board(dir, "opening", bst, detail);
    }
    *p = sodium_malloc(sizeof **p);
    if (*p == NULL) {
        nacre_host_board_close(*b);
        return cli_fail("%s: out of memory", fleet_name);
    }
    memset(*p, 0, sizeof **p);
    nacre_pluton_status st = nacre_pluton_init(*p, *b);
    if (st != NACRE_PLUTON_OK) {
        sodium_free(*p);
        nacre_host_board_close(*b);
        return cli_fail("%s: starting the root of trust of %s: %s", fleet_name, dir,
                        nacre_pluton_strerror(st));
    }
    return CLI_OK;
}

static void power_off(struct nacre_board *b, nacre_pluton *p)
{
    nacre_pluton_deinit(p);
    sodium_free(p);
    nacre_host_board_close(b);
}

static nacre_installer fleet_installer;

/*
 * A new device: provision (UDS, root-key hash), reset, install the image,
 * reset, boot it (trial) and confirm it: the three power cycles of
 * 'device provision', 'device install', 'device boot' + 'device confirm'.
 */
static int make_device(const char *dir, const uint8_t root_hash[32], const uint8_t *img,
                       size_t img_len)
{
    struct nacre_board *b = NULL;
    nacre_pluton *p = NULL;
    const char *detail = NULL;
    nacre_board_status bst = nacre_host_device_create(dir, NULL, &detail);
    if (bst != NACRE_BOARD_OK) {
        return dev_fail_board(dir, "creating", bst, detail);
    }
    int rc = power_on(dir, &b, &p);
    if (rc != CLI_OK) {
        return rc;
    }
    nacre_pluton_status pst = nacre_pluton_provision(p, root_hash);
    power_off(b, p);
    if (pst != NACRE_PLUTON_OK) {
        return cli_fail("%s: provisioning %s: %s", fleet_name, dir, nacre_pluton_strerror(pst));
    }

    rc = power_on(dir, &b, &p);
    if (rc != CLI_OK) {
        return rc;
    }
    uint32_t from = 0;
    nacre_update_status us = nacre_install_begin(&fleet_installer, p, b, NULL, &from);
    for (size_t off = 0; us == NACRE_UPDATE_OK && off < img_len; off += 4096) {
        size_t n = img_len - off < 4096 ? img_len - off : 4096;
        us = nacre_install_write(&fleet_installer, img + off, n);
    }
    if (us == NACRE_UPDATE_OK) {
        us = nacre_install_finish(&fleet_installer, NULL);
    }
    power_off(b, p);
    if (us != NACRE_UPDATE_OK) {
        return cli_fail("%s: installing the image on %s: %s", fleet_name, dir,
                        nacre_update_strerror(us));
    }

    rc = power_on(dir, &b, &p);
    if (rc != CLI_OK) {
        return rc;
    }
    struct nacre_boot_result r;
    us = nacre_boot_run(p, b, NULL, &r);
    if (us == NACRE_UPDATE_OK) {
        us = nacre_update_confirm(p, b, NULL, NULL);
    }
    power_off(b, p);
    if (us != NACRE_UPDATE_OK) {
        return cli_fail("%s: booting and confirming the image on %s: %s", fleet_name, dir,
                        nacre_update_strerror(us));
    }
    return CLI_OK;
}

/* ---- the agents ------------------------------------------------------------------- */

static void sleep_ms(struct fleet *f, unsigned ms)
{
    for (unsigned t = 0; t < ms && !f->stop; t += 50) {
        struct timespec ts = {0, 50 * 1000000L};
        nanosleep(&ts, NULL);
    }
}

static void *member_thread(void *arg)
{
    struct member *m = arg;
    struct fleet *f = m->fleet;
    while (!f->stop) {
        pthread_mutex_lock(&f->lock);
        uint64_t began = f->activity;
        pthread_mutex_unlock(&f->lock);

        struct nacre_agent_cycle_result r;
        nacre_agent_status st = nacre_agent_cycle(m->agent, &r);

        pthread_mutex_lock(&f->lock);
        m->cycles++;
        m->attested = st == NACRE_AGENT_OK ? r.attested : m->attested;
        if (r.version[0] != '\0') {
            snprintf(m->version, sizeof m->version, "%s", r.version);
        }
        if (r.device_id[0] != '\0') {
            memcpy(m->device_id, r.device_id, sizeof m->device_id);
        }
        m->failed_last = st != NACRE_AGENT_OK;
        int idle = st == NACRE_AGENT_OK && r.idle;
        if (!idle) {
            f->activity++;
        }
        m->idle = idle;
        m->began = began;
        char now[200];
        if (st != NACRE_AGENT_OK) {
            snprintf(now, sizeof now, "error: %.180s", r.detail);
        } else {
            snprintf(now, sizeof now, "%s %s%s%s%s%s", r.attested ? "attested" : "not attested",
                     r.version, r.installed ? ", installed" : "", r.confirmed ? ", confirmed" : "",
                     r.refused ? ", refused an update" : "", idle ? "" : " (busy)");
        }
        if (f->lines && strcmp(now, m->last) != 0) {
            fprintf(stderr, "fleet: %s: %s\n", m->label, now);
        }
        snprintf(m->last, sizeof m->last, "%s", now);
        pthread_mutex_unlock(&f->lock);

        if (st == NACRE_AGENT_ERR_STOPPED) {
            break;
        }
        sleep_ms(f, idle ? f->poll_seconds * 1000u : (st == NACRE_AGENT_OK ? 100u : 1000u));
    }
    return NULL;
}

/* Settled: every member's last cycle was idle and began after the last activity. */
static int all_settled(struct fleet *f, unsigned *settled, unsigned *attested)
{
    *settled = 0;
    *attested = 0;
    for (unsigned i = 0; i < f->count; i++) {
        struct member *m = &f->members[i];
        /* Any work done since its idle cycle began (a confirm can open a wave) voids it. */
        *settled += m->idle && m->began == f->activity;
        *attested += m->attested;
    }
    return *settled == f->count;
}

static volatile int fleet_interrupted;

static void on_signal(int sig)
{
    (void)sig;
    fleet_interrupted = 1;
}

/* ---- the summary ------------------------------------------------------------------ */

static json_t *find_device(json_t *devices, const char *id)
{
    size_t i;
    json_t *d;
    json_array_foreach(devices, i, d) {
        const char *x = json_string_value(json_object_get(d, "device_id"));
        if (x != NULL && strcmp(x, id) == 0) {
            return d;
        }
    }
    return NULL;
}

static void flags_str(json_t *flags, char *out, size_t n)
{
    size_t i;
    json_t *v;
    out[0] = '\0';
    json_array_foreach(flags, i, v) {
        size_t used = strlen(out);
        snprintf(out + used, n - used, "%s%s", i > 0 ? "," : "", json_string_value(v));
    }
    if (out[0] == '\0') {
        snprintf(out, n, "-");
    }
}

static int summary(struct fleet *f, const struct cli_svc *svc, int json, double elapsed,
                   int timed_out)
{
    json_t *root = NULL;
    int rc = cli_svc_request(svc, "GET", "/v1/devices", NULL, NULL, 0, &root, NULL, 0);
    if (rc != CLI_OK) {
        json_decref(root);
        return rc;
    }
    json_t *devices = json_object_get(root, "devices");
    int all = 1;
    json_t *out = json_array();
    if (!json) {
        printf("%-8s  %-12s  %-18s  %-8s  %-23s  %s\n", "DEVICE", "ID", "STATE", "VERSION",
               "CERT EXPIRES", "FLAGS");
    }
    for (unsigned i = 0; i < f->count; i++) {
        struct member *m = &f->members[i];
        json_t *d = find_device(devices, m->device_id);
        const char *state = json_string_value(json_object_get(d, "state"));
        const char *version = json_string_value(json_object_get(d, "version"));
        json_t *exp = json_object_get(d, "certificate_expires_at");
        if (state == NULL || strcmp(state, "attested") != 0) {
            all = 0;
        }
        if (json) {
            json_t *o = d != NULL ? json_deep_copy(d) : json_object();
            json_object_set_new(o, "name", json_string(m->label));
            json_object_set_new(o, "dir", json_string(m->dir));
            json_object_set_new(o, "cycles", json_integer(m->cycles));
            json_array_append_new(out, o);
            continue;
        }
        char t[CLI_TIME_CHARS] = "-";
        char flags[256];
        if (json_is_integer(exp)) {
            cli_time_str(t, (uint64_t)json_integer_value(exp));
        }
        flags_str(json_object_get(d, "flags"), flags, sizeof flags);
        printf("%-8s  %.12s  %-18s  %-8s  %-23s  %s\n", m->label, m->device_id,
               state != NULL ? state : "unknown", version != NULL ? version : "-", t, flags);
    }
    json_decref(root);
    if (json) {
        json_t *res = json_pack("{s:o, s:b, s:b, s:f}", "devices", out, "all_attested", all,
                                "timed_out", timed_out, "elapsed_seconds", elapsed);
        rc = cli_print_json(res);
    } else {
        json_decref(out);
        printf("%u device%s, %s in %.1f s%s\n", f->count, f->count == 1 ? "" : "s",
               all ? "all attested" : "NOT all attested", elapsed,
               timed_out ? " (timed out before the fleet settled)" : "");
    }
    if (rc != CLI_OK) {
        return rc;
    }
    return all ? CLI_OK : CLI_FAIL;
}

/* ---- the command ------------------------------------------------------------------ */

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int run_fleet(int argc, char **argv)
{
    enum {
        OPT_SERVICE = 256, OPT_DEVICES, OPT_DIR, OPT_TOKEN, OPT_TOKEN_FILE, OPT_GROUP,
        OPT_ROOT_PUB, OPT_IMAGE, OPT_TIMEOUT, OPT_POLL, OPT_TAMPER, OPT_JSON,
    };
    static const struct option opts[] = {
        {"service", required_argument, NULL, OPT_SERVICE},
        {"devices", required_argument, NULL, OPT_DEVICES},
        {"dir", required_argument, NULL, OPT_DIR},
        {"token", required_argument, NULL, OPT_TOKEN},
        {"token-file", required_argument, NULL, OPT_TOKEN_FILE},
        {"group", required_argument, NULL, OPT_GROUP},
        {"root-pub", required_argument, NULL, OPT_ROOT_PUB},
        {"image", required_argument, NULL, OPT_IMAGE},
        {"timeout", required_argument, NULL, OPT_TIMEOUT},
        {"poll", required_argument, NULL, OPT_POLL},
        {"tamper-device", required_argument, NULL, OPT_TAMPER},
        {"json", no_argument, NULL, OPT_JSON},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *dir = NULL, *group = NULL, *root_pub = NULL, *image = NULL, *token_file = NULL;
    uint32_t count = 0, timeout = 120, poll = 1, tamper = 0;
    int json = 0;
    int c;
    int li = -1;
    struct cli_svc svc = {getenv("NACRE_SERVICE"), getenv("NACRE_TOKEN"), "fleet run"};

    cli_getopt_reset();
    while ((c = getopt_long(argc, argv, ":h", opts, &li)) != -1) {
        uint32_t *target = NULL;
        switch (c) {
        case OPT_SERVICE: svc.url = optarg; break;
        case OPT_DIR: dir = optarg; break;
        case OPT_TOKEN: svc.token = optarg; break;
        case OPT_TOKEN_FILE: token_file = optarg; break;
        case OPT_GROUP: group = optarg; break;
        case OPT_ROOT_PUB: root_pub = optarg; break;
        case OPT_IMAGE: image = optarg; break;
        case OPT_JSON: json = 1; break;
        case OPT_DEVICES: target = &count; break;
        case OPT_TIMEOUT: target = &timeout; break;
        case OPT_POLL: target = &poll; break;
        case OPT_TAMPER: target = &tamper; break;
        case 'h':
            return cli_print_usage(&cli_cmd_fleet_run);
        default:
            return cli_bad_option(fleet_name, c, argv);
        }
        if (target != NULL && (cli_parse_u32(optarg, target) != 0 || *target == 0)) {
            return cli_usage_error(fleet_name, "--%s needs a positive number, not '%s'",
                                   li >= 0 ? opts[li].name : "this option", optarg);
        }
    }
    if (optind < argc) {
        return cli_usage_error(fleet_name, "unexpected argument '%s'", argv[optind]);
    }
    if (count == 0 || count > FLEET_MAX) {
        return cli_usage_error(fleet_name, "--devices N (1..%u) is required", FLEET_MAX);
    }
    if (dir == NULL || group == NULL || root_pub == NULL || image == NULL) {
        return cli_usage_error(fleet_name, "--dir, --group, --root-pub and --image are required");
    }
    if (tamper > count) {
        return cli_usage_error(fleet_name, "--tamper-device K needs 1..%u", (unsigned)count);
    }
    if (svc.url == NULL || svc.url[0] == '\0') {
        svc.url = "http://127.0.0.1:8443";
    }
    char token_buf[512];
    if (token_file != NULL) {
        uint8_t *data = NULL;
        size_t len = 0;
        int rc = cli_read_file("reading token file", token_file, sizeof token_buf - 1, 1, &data,
                               &len);
        if (rc != CLI_OK) {
            return rc;
        }
        size_t n = 0;
        while (n < len && data[n] > ' ') {
            n++;
        }
        memcpy(token_buf, data, n);
        token_buf[n] = '\0';
        cli_free_file(data, len, 1);
        svc.token = token_buf;
    }
    if (svc.token == NULL || svc.token[0] == '\0') {
        return cli_usage_error(fleet_name, "--token T (or $NACRE_TOKEN, --token-file) is required");
    }

    /* The inputs first: a bad key or image touches nothing. */
    uint8_t root_pk[32], root_hash[32];
    int rc = cli_read_pub("reading root public key", root_pub, root_pk);
    if (rc != CLI_OK) {
        return rc;
    }
    if (nacre_keyfile_root_key_hash(root_pk, root_hash) != NACRE_KEYFILE_OK) {
        return cli_fail("%s: hashing the root key", fleet_name);
    }
    uint8_t *img = NULL;
    size_t img_len = 0;
    rc = cli_read_file("reading image", image, CLI_IMAGE_MAX, 0, &img, &img_len);
    if (rc != CLI_OK) {
        return rc;
    }
    if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
        cli_free_file(img, img_len, 0);
        return cli_fail("%s: creating %s: %s", fleet_name, dir, strerror(errno));
    }
    if (nacre_agent_global_init() != 0) {
        cli_free_file(img, img_len, 0);
        return cli_fail("%s: libcurl failed to initialise", fleet_name);
    }

    struct fleet f;
    memset(&f, 0, sizeof f);
    pthread_mutex_init(&f.lock, NULL);
    f.count = count;
    f.poll_seconds = poll;
    f.lines = !isatty(STDERR_FILENO);
    f.members = calloc(count, sizeof *f.members);
    if (f.members == NULL) {
        cli_free_file(img, img_len, 0);
        return cli_fail("%s: out of memory", fleet_name);
    }
    double t0 = now_s();
    unsigned made = 0, claimed = 0;
    for (unsigned i = 0; i < count && rc == CLI_OK; i++) {
        struct member *m = &f.members[i];
        m->fleet = &f;
        m->index = i + 1;
        snprintf(m->label, sizeof m->label, "dev-%u", i + 1);
        snprintf(m->dir, sizeof m->dir, "%s/%s", dir, m->label);
        if (!member_exists(m->dir)) {
            rc = make_device(m->dir, root_hash, img, img_len);
            made++;
        }
        uint8_t pk[32];
        if (rc == CLI_OK) {
            rc = cli_device_id_key(m->dir, pk);
        }
        if (rc != CLI_OK) {
            break;
        }
        nacre_agent_device_id(pk, m->device_id);
        char hex[65];
        cli_hex32(hex, pk);
        json_t *ans = NULL;
        long status = 0;
        struct cli_svc claim = svc;
        claim.what = "fleet run: claiming";
        rc = cli_svc_request(&claim, "POST", "/v1/devices",
                             json_pack("{s:s, s:s, s:s}", "device_id_public_key", hex, "group",
                                       group, "label", m->label),
                             NULL, 0, &ans, &status, 1);
        json_t *err = json_object_get(ans, "error");
        const char *code = json_string_value(json_object_get(err, "code"));
        if (rc != CLI_OK && status == 409) {
            rc = CLI_OK; /* already claimed */
        } else if (rc != CLI_OK) {
            const char *msg = json_string_value(json_object_get(err, "message"));
            rc = status == 0 ? cli_fail("%s: claiming %s: cannot reach %s", fleet_name, m->label,
                                        svc.url)
                             : cli_fail("%s: claiming %s: %s: %s", fleet_name, m->label,
                                        code != NULL ? code : "error", msg != NULL ? msg : "");
        } else {
            claimed++;
        }
        json_decref(ans);
    }
    cli_free_file(img, img_len, 0);
    if (rc != CLI_OK) {
        free(f.members);
        return rc;
    }
    if (f.lines) {
        fprintf(stderr, "fleet: %u devices (%u new, %u newly claimed) in %.1f s\n", count, made,
                claimed, now_s() - t0);
    }

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);

    for (unsigned i = 0; i < count && rc == CLI_OK; i++) {
        struct member *m = &f.members[i];
        struct nacre_agent_config cfg;
        memset(&cfg, 0, sizeof cfg);
        cfg.service_url = svc.url;
        cfg.device_dir = m->dir;
        cfg.poll_seconds = poll;
        cfg.backoff_cap_seconds = 8;
        cfg.max_attempts = 6;
        cfg.chunk_bytes = 65536;
        cfg.stop = &f.stop;
        cfg.tamper_download = tamper == m->index;
        if (nacre_agent_new(&cfg, &m->agent) != NACRE_AGENT_OK ||
            pthread_create(&m->thread, NULL, member_thread, m) != 0) {
            rc = cli_fail("%s: starting the agent of %s", fleet_name, m->label);
            break;
        }
        m->started = 1;
    }

    int timed_out = 0;
    double start = now_s();
    while (rc == CLI_OK) {
        unsigned settled = 0, attested = 0;
        pthread_mutex_lock(&f.lock);
        int done = all_settled(&f, &settled, &attested);
        pthread_mutex_unlock(&f.lock);
        double el = now_s() - start;
        if (!f.lines) {
            unsigned width = 30, fill = settled * width / count;
            char bar[32];
            for (unsigned k = 0; k < width; k++) {
                bar[k] = k < fill ? '#' : '.';
            }
            bar[width] = '\0';
            fprintf(stderr, "\r[%s] %u/%u settled, %u attested, %.0f s ", bar, settled, count,
                    attested, el);
        }
        if (done || fleet_interrupted) {
            break;
        }
        if (el >= (double)timeout) {
            timed_out = 1;
            break;
        }
        struct timespec ts = {0, 200 * 1000000L};
        nanosleep(&ts, NULL);
    }
    if (!f.lines) {
        fputs("\n", stderr);
    }
    f.stop = 1;
    for (unsigned i = 0; i < count; i++) {
        if (f.members[i].started) {
            pthread_join(f.members[i].thread, NULL);
        }
        nacre_agent_free(f.members[i].agent);
    }
    double elapsed = now_s() - t0;
    if (rc == CLI_OK) {
        if (timed_out && f.lines) {
            fprintf(stderr, "fleet: timed out after %u s\n", (unsigned)timeout);
        }
        rc = summary(&f, &svc, json, elapsed, timed_out);
    }
    pthread_mutex_destroy(&f.lock);
    free(f.members);
    sodium_memzero(token_buf, sizeof token_buf);
    curl_global_cleanup();
    return rc;
}

const struct cli_command cli_cmd_fleet_run = {
    .name = fleet_name,
    .summary = "run a fleet of host devices with their agents against nacre-service",
    .usage = fleet_usage,
    .run = run_fleet,
};
