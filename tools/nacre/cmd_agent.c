/*
 * cmd_agent.c - nacre agent run: the device agent (libnacre-agent) on a
 * host device, talking to nacre-service.
 */
#include "cli.h"

#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>

#include <nacre/agent.h>

static const char agent_name[] = "agent run";

static const char agent_usage[] =
    "usage: nacre agent run --device DIR --service URL [--once] [--cycles N]\n"
    "                       [--poll SECONDS] [--json]\n"
    "\n"
    "Run the device agent (docs/agent.md) for the host device in DIR: power on\n"
    "and boot, attest to nacre-service (POST /v1/device/nonce, /v1/device/attest)\n"
    "and keep the certificate in DIR/agent-cert.pem, confirm a trial update once\n"
    "the service accepted its attestation, send install reports and the\n"
    "security-event log, and take an offered update: download it in Range\n"
    "chunks into the installer (resumable), reboot into its trial, and go on.\n"
    "Every request after attestation is signed with the Alias key inside the\n"
    "root of trust (RFC 9421). The device is closed between cycles, so\n"
    "'nacre device run' can use it meanwhile.\n"
    "\n"
    "  --device DIR          the host device\n"
    "  --service URL         nacre-service (default: $NACRE_SERVICE, else\n"
    "                        http://127.0.0.1:8443)\n"
    "  --once                one cycle, then exit (same as --cycles 1)\n"
    "  --cycles N            N cycles, then exit (default: until SIGINT / SIGTERM)\n"
    "  --poll SECONDS        pause between cycles (default 60)\n"
    "  --backoff-cap SECONDS largest wait while the service is unreachable or\n"
    "                        answers 5xx: 1 s doubling up to this, with jitter\n"
    "                        (default 60)\n"
    "  --max-attempts N      tries per request before the cycle gives up (default 8)\n"
    "  --chunk BYTES         bytes per Range request of a download (default 65536)\n"
    "  --component NAME      the component this device runs (default: any)\n"
    "  --service-ca CA.pem   https: the CA the service's TLS certificate must chain\n"
    "                        to (default: the system's trust store; the certificate\n"
    "                        and host name are always verified)\n"
    "  --json                one JSON object per line: progress events, then a\n"
    "                        \"cycle\" object per cycle\n"
    "  -h, --help            show this help\n"
    "\n"
    "testing hooks (FOR TESTS ONLY):\n"
    "  --tamper-download     flip one byte of every downloaded image, as an on-path\n"
    "                        attacker would: the installer refuses it, the agent\n"
    "                        logs VERIFY_FAILED and reports 'refused'\n"
    "  --stop-after-chunks N cut every download after N chunks (a lost\n"
    "                        connection): the next run resumes it\n"
    "\n"
    "exit status: 0 the last cycle succeeded, 1 it failed (one line on stderr),\n"
    "2 usage error\n";

static volatile int stop_flag;

static void on_signal(int sig)
{
    (void)sig;
    stop_flag = 1;
}

static const char *event_name(nacre_agent_event ev)
{
    switch (ev) {
    case NACRE_AGENT_EV_BOOTED: return "booted";
    case NACRE_AGENT_EV_ATTESTED: return "attested";
    case NACRE_AGENT_EV_ATTEST_FAILED: return "attestation_failed";
    case NACRE_AGENT_EV_CONFIRMED: return "confirmed";
    case NACRE_AGENT_EV_REPORTED: return "reported";
    case NACRE_AGENT_EV_EVENTS: return "events";
    case NACRE_AGENT_EV_OFFER: return "offer";
    case NACRE_AGENT_EV_DOWNLOAD: return "download";
    case NACRE_AGENT_EV_RESUME: return "resume";
    case NACRE_AGENT_EV_INSTALLED: return "installed";
    case NACRE_AGENT_EV_REFUSED: return "refused";
    case NACRE_AGENT_EV_REBOOT: return "reboot";
    case NACRE_AGENT_EV_BACKOFF: return "backoff";
    case NACRE_AGENT_EV_ERROR: return "error";
    case NACRE_AGENT_EV_REVERTED: return "reverted";
    }
    return "unknown";
}

static void on_progress(const struct nacre_agent_progress *p, void *ctx)
{
    const int *json = ctx;
    if (*json) {
        json_t *o = json_pack("{s:s, s:s, s:s, s:I, s:I}", "event", event_name(p->event),
                              "device_id", p->device_id, "text", p->text, "value",
                              (json_int_t)p->value, "total", (json_int_t)p->total);
        char *s = o != NULL ? json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
        if (s != NULL) {
            printf("%s\n", s);
        }
        free(s);
        json_decref(o);
        fflush(stdout);
        return;
    }
    char t[CLI_TIME_CHARS];
    switch (p->event) {
    case NACRE_AGENT_EV_ATTESTED:
        cli_time_str(t, p->value);
        printf("agent: attested: certificate valid until %s\n", t);
        break;
    case NACRE_AGENT_EV_DOWNLOAD:
        printf("agent: download: %llu / %llu bytes\n", (unsigned long long)p->value,
               (unsigned long long)p->total);
        break;
    case NACRE_AGENT_EV_RESUME:
        printf("agent: resume: %s at byte %llu of %llu\n", p->text, (unsigned long long)p->value,
               (unsigned long long)p->total);
        break;
    case NACRE_AGENT_EV_BACKOFF:
        printf("agent: backoff: %s; retrying in %llu ms (attempt %llu)\n", p->text,
               (unsigned long long)p->value, (unsigned long long)p->total);
        break;
    case NACRE_AGENT_EV_EVENTS:
        printf("agent: events: %llu uploaded (%s)\n", (unsigned long long)p->value, p->text);
        break;
    case NACRE_AGENT_EV_OFFER:
        printf("agent: offer: %s (%llu bytes)\n", p->text, (unsigned long long)p->value);
        break;
    default:
        printf("agent: %s%s%s\n", event_name(p->event), p->text[0] ? ": " : "", p->text);
        break;
    }
    fflush(stdout);
}

static void print_cycle(unsigned n, const struct nacre_agent_cycle_result *r, int json)
{
    if (json) {
        json_t *o = json_pack(
            "{s:I, s:s, s:s, s:s, s:b, s:I, s:b, s:b, s:b, s:b, s:b, s:I, s:I, s:b, s:b, s:s}",
            "cycle", (json_int_t)n, "status",
            r->status == NACRE_AGENT_OK ? "ok" : nacre_agent_strerror(r->status), "device_id",
            r->device_id, "version", r->version, "attested", r->attested, "cert_expires_at",
            (json_int_t)r->cert_expires_at, "attested_now", r->attested_now, "confirmed",
            r->confirmed, "installed", r->installed, "refused", r->refused, "reverted",
            r->reverted, "events_uploaded", (json_int_t)r->events_uploaded, "reports_sent",
            (json_int_t)r->reports_sent, "update_offered", r->update_offered, "idle", r->idle,
            "detail", r->detail);
        char *s = o != NULL ? json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
        if (s != NULL) {
            printf("%s\n", s);
        }
        free(s);
        json_decref(o);
    } else if (r->status == NACRE_AGENT_OK) {
        printf("agent: cycle %u: %s, running %s%s\n", n,
               r->idle ? "idle" : "done", r->version[0] ? r->version : "nothing",
               r->attested ? ", attested" : "");
    } else {
        printf("agent: cycle %u failed: %s\n", n, r->detail);
    }
    fflush(stdout);
}

static int run_agent(int argc, char **argv)
{
    enum {
        OPT_DEVICE = 256, OPT_SERVICE, OPT_ONCE, OPT_CYCLES, OPT_POLL, OPT_JSON, OPT_CAP,
        OPT_ATTEMPTS, OPT_CHUNK, OPT_COMPONENT, OPT_TAMPER, OPT_STOP_AFTER, OPT_SERVICE_CA,
    };
    static const struct option opts[] = {
        {"device", required_argument, NULL, OPT_DEVICE},
        {"service", required_argument, NULL, OPT_SERVICE},
        {"once", no_argument, NULL, OPT_ONCE},
        {"cycles", required_argument, NULL, OPT_CYCLES},
        {"poll", required_argument, NULL, OPT_POLL},
        {"json", no_argument, NULL, OPT_JSON},
        {"backoff-cap", required_argument, NULL, OPT_CAP},
        {"max-attempts", required_argument, NULL, OPT_ATTEMPTS},
        {"chunk", required_argument, NULL, OPT_CHUNK},
        {"component", required_argument, NULL, OPT_COMPONENT},
        {"service-ca", required_argument, NULL, OPT_SERVICE_CA},
        {"tamper-download", no_argument, NULL, OPT_TAMPER},
        {"stop-after-chunks", required_argument, NULL, OPT_STOP_AFTER},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct nacre_agent_config cfg;
    uint32_t cycles = 0, poll = 60, cap = 60, attempts = 8, chunk = 65536, stop_after = 0;
    int json = 0;
    int c;
    memset(&cfg, 0, sizeof cfg);
    cfg.service_url = getenv("NACRE_SERVICE");

    cli_getopt_reset();
    while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        uint32_t *target = NULL;
        const char *what = NULL;
        switch (c) {
        case OPT_DEVICE: cfg.device_dir = optarg; break;
        case OPT_SERVICE: cfg.service_url = optarg; break;
        case OPT_ONCE: cycles = 1; break;
        case OPT_JSON: json = 1; break;
        case OPT_COMPONENT: cfg.component = optarg; break;
        case OPT_SERVICE_CA: cfg.service_ca = optarg; break;
        case OPT_TAMPER: cfg.tamper_download = 1; break;
        case OPT_CYCLES: target = &cycles; what = "--cycles"; break;
        case OPT_POLL: target = &poll; what = "--poll"; break;
        case OPT_CAP: target = &cap; what = "--backoff-cap"; break;
        case OPT_ATTEMPTS: target = &attempts; what = "--max-attempts"; break;
        case OPT_CHUNK: target = &chunk; what = "--chunk"; break;
        case OPT_STOP_AFTER: target = &stop_after; what = "--stop-after-chunks"; break;
        case 'h':
            return cli_print_usage(&cli_cmd_agent_run);
        default:
            return cli_bad_option(agent_name, c, argv);
        }
        if (target != NULL && (cli_parse_u32(optarg, target) != 0 || *target > 86400u * 365u ||
                               (*target == 0 && target != &poll && target != &stop_after))) {
            return cli_usage_error(agent_name, "%s needs a positive number, not '%s'", what,
                                   optarg);
        }
    }
    if (optind < argc) {
        return cli_usage_error(agent_name, "unexpected argument '%s'", argv[optind]);
    }
    if (cfg.device_dir == NULL || cfg.device_dir[0] == '\0') {
        return cli_usage_error(agent_name, "--device DIR is required");
    }
    if (cfg.service_url == NULL || cfg.service_url[0] == '\0') {
        cfg.service_url = "http://127.0.0.1:8443";
    }
    if (cfg.component != NULL && cli_component_ok(cfg.component) != 0) {
        return cli_usage_error(agent_name, "--component must be 1..%u of [a-z0-9._-]",
                               NACRE_IMAGE_COMPONENT_MAX);
    }
    if (chunk > 16u * 1024u * 1024u) {
        return cli_usage_error(agent_name, "--chunk is at most 16777216 bytes");
    }
    cfg.max_cycles = cycles;
    cfg.poll_seconds = poll == 0 ? 1 : poll;
    cfg.backoff_cap_seconds = cap;
    cfg.max_attempts = attempts;
    cfg.chunk_bytes = chunk;
    cfg.stop_after_chunks = stop_after;
    cfg.progress = on_progress;
    cfg.progress_ctx = &json;
    cfg.stop = &stop_flag;

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);

    if (nacre_agent_global_init() != 0) {
        return cli_fail("%s: libcurl failed to initialise", agent_name);
    }
    nacre_agent *agent = NULL;
    nacre_agent_status st = nacre_agent_new(&cfg, &agent);
    if (st != NACRE_AGENT_OK) {
        return cli_fail("%s: %s", agent_name, nacre_agent_strerror(st));
    }
    struct nacre_agent_cycle_result r;
    memset(&r, 0, sizeof r);
    for (unsigned n = 1;; n++) {
        st = nacre_agent_cycle(agent, &r);
        print_cycle(n, &r, json);
        if (st == NACRE_AGENT_ERR_STOPPED || stop_flag) {
            break;
        }
        if (cycles != 0 && n >= cycles) {
            break;
        }
        /* Pause between cycles, a stop request ends it at once. */
        for (uint32_t ms = 0; ms < cfg.poll_seconds * 1000u && !stop_flag; ms += 50) {
            struct timespec ts = {0, 50 * 1000000L};
            nanosleep(&ts, NULL);
        }
        if (stop_flag) {
            break;
        }
    }
    nacre_agent_free(agent);
    curl_global_cleanup();
    if (stop_flag && cycles == 0) {
        return CLI_OK; /* run until stopped: a stop is the normal end */
    }
    if (st != NACRE_AGENT_OK) {
        return cli_fail("%s: %s", agent_name, r.detail);
    }
    return CLI_OK;
}

const struct cli_command cli_cmd_agent_run = {
    .name = agent_name,
    .summary = "run the device agent: attest, report, take signed updates",
    .usage = agent_usage,
    .run = run_agent,
};
