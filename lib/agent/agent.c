/*
 * agent.c - the device agent's cycle: power on, attest, confirm, report,
 * upload events, take an update (docs/agent.md).
 */
#include "agent_priv.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>
#include <sodium.h>

#include <nacre/attest.h>
#include <nacre/board_host.h>
#include <nacre/secmon.h>

#define JSON_RESPONSE_MAX (256u * 1024u)
#define EVENTS_PER_POST 256u
#define REBOOTS_PER_CYCLE 2
#define PEM_MAX 8192u

const char *nacre_agent_strerror(nacre_agent_status status)
{
    switch (status) {
    case NACRE_AGENT_OK:
        return "success";
    case NACRE_AGENT_ERR_ARGUMENT:
        return "invalid argument";
    case NACRE_AGENT_ERR_NO_MEMORY:
        return "out of memory";
    case NACRE_AGENT_ERR_DEVICE:
        return "the device could not be opened or booted";
    case NACRE_AGENT_ERR_UNREACHABLE:
        return "service unreachable";
    case NACRE_AGENT_ERR_SERVICE:
        return "the service refused a request";
    case NACRE_AGENT_ERR_ATTESTATION:
        return "the service refused the attestation evidence";
    case NACRE_AGENT_ERR_QUARANTINED:
        return "the device is quarantined";
    case NACRE_AGENT_ERR_STATE:
        return "the agent state could not be saved";
    case NACRE_AGENT_ERR_INSTALL:
        return "the installer failed";
    case NACRE_AGENT_ERR_INTERRUPTED:
        return "download interrupted (it resumes at the next cycle)";
    case NACRE_AGENT_ERR_STOPPED:
        return "stopped";
    case NACRE_AGENT_ERR_PROTOCOL:
        return "unexpected answer from the service";
    }
    return "unknown status";
}

void nacre_agent_device_id(const uint8_t pk[32], char out[65])
{
    uint8_t h[32];
    crypto_generichash(h, sizeof h, pk, 32, NULL, 0);
    sodium_bin2hex(out, 65, h, sizeof h);
}

int nacre_agent_global_init(void)
{
    if (sodium_init() < 0) {
        return -1;
    }
    return curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK ? 0 : -1;
}

nacre_agent_status nacre_agent_new(const struct nacre_agent_config *config, nacre_agent **out)
{
    if (out == NULL) {
        return NACRE_AGENT_ERR_ARGUMENT;
    }
    *out = NULL;
    if (config == NULL || config->service_url == NULL || config->device_dir == NULL ||
        config->service_url[0] == '\0' || config->device_dir[0] == '\0') {
        return NACRE_AGENT_ERR_ARGUMENT;
    }
    struct nacre_agent *a = calloc(1, sizeof *a);
    if (a == NULL) {
        return NACRE_AGENT_ERR_NO_MEMORY;
    }
    a->cfg = *config;
    if (a->cfg.poll_seconds == 0) {
        a->cfg.poll_seconds = 60;
    }
    if (a->cfg.backoff_cap_seconds == 0) {
        a->cfg.backoff_cap_seconds = 60;
    }
    if (a->cfg.max_attempts == 0) {
        a->cfg.max_attempts = 8;
    }
    if (a->cfg.chunk_bytes == 0) {
        a->cfg.chunk_bytes = 65536;
    }
    if (a->cfg.timeout_seconds == 0) {
        a->cfg.timeout_seconds = 30;
    }
    /* The installer state holds a 64-byte aligned BLAKE2b state. */
    a->installer = aligned_alloc(64, sizeof *a->installer);
    a->curl = curl_easy_init();
    if (a->installer == NULL || a->curl == NULL) {
        nacre_agent_free(a);
        return NACRE_AGENT_ERR_NO_MEMORY;
    }
    *out = a;
    return NACRE_AGENT_OK;
}

static void power_off(struct nacre_agent *a)
{
    if (a->pluton != NULL) {
        nacre_pluton_deinit(a->pluton);
        sodium_free(a->pluton);
        a->pluton = NULL;
    }
    nacre_host_board_close(a->board);
    a->board = NULL;
    free(a->cert_der);
    a->cert_der = NULL;
    a->cert_der_len = 0;
}

void nacre_agent_free(nacre_agent *a)
{
    if (a == NULL) {
        return;
    }
    power_off(a);
    if (a->curl != NULL) {
        curl_easy_cleanup(a->curl);
    }
    free(a->installer);
    free(a);
}

/* ---- helpers ---------------------------------------------------------------------- */

static nacre_agent_status fail(struct nacre_agent *a, nacre_agent_status st, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static nacre_agent_status fail(struct nacre_agent *a, nacre_agent_status st, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(a->err, sizeof a->err, fmt, ap);
    va_end(ap);
    return st;
}

static nacre_agent_status save_state(struct nacre_agent *a)
{
    char err[300];
    if (agent_state_save(a->cfg.device_dir, &a->state, err, sizeof err) != 0) {
        return fail(a, NACRE_AGENT_ERR_STATE, "%s", err);
    }
    return NACRE_AGENT_OK;
}

static void version_str(char out[AGENT_VERSION_CHARS + 1], const struct nacre_image_version *v)
{
    snprintf(out, AGENT_VERSION_CHARS + 1, "%lu.%lu.%lu", (unsigned long)v->major,
             (unsigned long)v->minor, (unsigned long)v->patch);
}

static int is_hex64(const char *s)
{
    if (s == NULL || strlen(s) != 64) {
        return 0;
    }
    for (size_t i = 0; i < 64; i++) {
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f'))) {
            return 0;
        }
    }
    return 1;
}

/* A 4xx answer as the agent's failure, in the CLI's "code: message" form. */
static nacre_agent_status service_fail(struct nacre_agent *a, const char *what,
                                       const struct agent_http_response *r)
{
    if (r->status == 403 && strcmp(r->error_code, "quarantined") == 0) {
        return fail(a, NACRE_AGENT_ERR_QUARANTINED, "%s: quarantined: %s", what, r->error_message);
    }
    return fail(a, NACRE_AGENT_ERR_SERVICE, "%s: HTTP %ld %s: %s", what, r->status,
                r->error_code[0] != '\0' ? r->error_code : "error", r->error_message);
}

/* POST a JSON object (reference taken) and parse a JSON answer. */
static nacre_agent_status post_json(struct nacre_agent *a, const char *path, json_t *body, int sign,
                                    struct agent_http_response *resp, json_t **answer)
{
    char *text = body != NULL ? json_dumps(body, JSON_COMPACT) : NULL;
    json_decref(body);
    *answer = NULL;
    if (text == NULL) {
        return fail(a, NACRE_AGENT_ERR_NO_MEMORY, "%s: out of memory", path);
    }
    struct agent_http_request req = {
        .method = "POST", .path = path, .content_type = "application/json",
        .body = text, .body_len = strlen(text), .sign = sign,
        .max_response = JSON_RESPONSE_MAX,
    };
    nacre_agent_status st = agent_http(a, &req, resp);
    free(text);
    if (st != NACRE_AGENT_OK) {
        return st;
    }
    if (resp->status >= 200 && resp->status < 300 && resp->len > 0) {
        *answer = json_loadb((const char *)resp->body, resp->len, 0, NULL);
    } else if (resp->status >= 400 && resp->len > 0) {
        *answer = json_loadb((const char *)resp->body, resp->len, 0, NULL);
    }
    return NACRE_AGENT_OK;
}

/* ---- power ------------------------------------------------------------------------ */

/* The DER inside a PEM certificate, for the Client-Cert field. */
static int pem_to_der(const char *pem, uint8_t **der, size_t *der_len)
{
    static const char begin[] = "-----BEGIN CERTIFICATE-----";
    static const char end[] = "-----END CERTIFICATE-----";
    const char *b = strstr(pem, begin);
    const char *e = b != NULL ? strstr(b, end) : NULL;
    if (b == NULL || e == NULL) {
        return -1;
    }
    b += sizeof begin - 1;
    size_t max = (size_t)(e - b);
    uint8_t *out = malloc(max + 1);
    if (out == NULL) {
        return -1;
    }
    size_t len = 0;
    if (sodium_base642bin(out, max + 1, b, (size_t)(e - b), " \r\n\t", &len, NULL,
                          sodium_base64_VARIANT_ORIGINAL) != 0 || len == 0) {
        free(out);
        return -1;
    }
    *der = out;
    *der_len = len;
    return 0;
}

/* Load the stored certificate, if it is the one for the running Alias key. */
static void load_certificate(struct nacre_agent *a)
{
    char *pem = NULL;
    size_t len = 0;
    free(a->cert_der);
    a->cert_der = NULL;
    a->cert_der_len = 0;
    if (a->state.cert_alias[0] == '\0' || strcmp(a->state.cert_alias, a->alias_hex) != 0) {
        return;
    }
    if (agent_file_read(a->cfg.device_dir, AGENT_CERT_FILE, PEM_MAX, &pem, &len) != 0) {
        return;
    }
    if (pem_to_der(pem, &a->cert_der, &a->cert_der_len) != 0) {
        a->cert_der = NULL;
        a->cert_der_len = 0;
    }
    free(pem);
}

/*
 * Power on: open the board (a reset), nacre_pluton_init, then the boot
 * stage. full_boot runs nacre_boot_run (a real reset: trial boots counted,
 * reverts decided); otherwise nacre_boot_attach re-enters the image the last
 * boot chose without changing anything.
 */
static nacre_agent_status power_on(struct nacre_agent *a, int full_boot)
{
    const char *detail = NULL;
    nacre_board_status bst = nacre_host_board_open(a->cfg.device_dir, &a->board, &detail);
    if (bst != NACRE_BOARD_OK) {
        a->board = NULL;
        return fail(a, NACRE_AGENT_ERR_DEVICE, "opening device %s: %s%s%s", a->cfg.device_dir,
                    nacre_board_strerror(bst), detail != NULL && detail[0] ? ": " : "",
                    detail != NULL ? detail : "");
    }
    a->pluton = sodium_malloc(sizeof *a->pluton);
    if (a->pluton == NULL) {
        power_off(a);
        return fail(a, NACRE_AGENT_ERR_NO_MEMORY, "opening device: out of memory");
    }
    memset(a->pluton, 0, sizeof *a->pluton);
    nacre_pluton_status pst = nacre_pluton_init(a->pluton, a->board);
    if (pst != NACRE_PLUTON_OK) {
        sodium_free(a->pluton);
        a->pluton = NULL;
        power_off(a);
        return fail(a, NACRE_AGENT_ERR_DEVICE, "starting the root of trust: %s",
                    nacre_pluton_strerror(pst));
    }
    struct nacre_update_config ucfg = {.component = a->cfg.component, .max_trial_boots = 0};
    memset(&a->boot, 0, sizeof a->boot);
    a->booted_image = 0;
    nacre_update_status us = full_boot ? nacre_boot_run(a->pluton, a->board, &ucfg, &a->boot)
                                       : nacre_boot_attach(a->pluton, a->board, &ucfg, &a->boot);
    a->boot_status = us;
    if (us != NACRE_UPDATE_OK) {
        power_off(a);
        return fail(a, NACRE_AGENT_ERR_DEVICE, "booting: %s", nacre_update_strerror(us));
    }
    a->booted_image = 1;
    uint8_t alias[32];
    pst = nacre_pluton_key_public(a->pluton, NACRE_PLUTON_KEY_DEVICE_ID, a->device_pk);
    if (pst == NACRE_PLUTON_OK) {
        pst = nacre_pluton_key_public(a->pluton, NACRE_PLUTON_KEY_ALIAS, alias);
    }
    if (pst != NACRE_PLUTON_OK) {
        power_off(a);
        return fail(a, NACRE_AGENT_ERR_DEVICE, "reading the DICE keys: %s",
                    nacre_pluton_strerror(pst));
    }
    nacre_agent_device_id(a->device_pk, a->device_id);
    sodium_bin2hex(a->alias_hex, sizeof a->alias_hex, alias, sizeof alias);
    char err[300];
    if (agent_state_load(a->cfg.device_dir, &a->state, err, sizeof err) != 0) {
        power_off(a);
        return fail(a, NACRE_AGENT_ERR_STATE, "%s", err);
    }
    load_certificate(a);

    char version[AGENT_VERSION_CHARS + 1];
    char text[160];
    version_str(version, &a->boot.image.version);
    snprintf(text, sizeof text, "slot %s: %s %s (%s)", nacre_update_slot_name(a->boot.slot),
             a->boot.image.component, version,
             full_boot ? nacre_boot_reason_name(a->boot.reason) : "as the last boot left it");
    agent_progress(a, NACRE_AGENT_EV_BOOTED, text, full_boot, 0);
    return NACRE_AGENT_OK;
}

/* ---- attestation ---------------------------------------------------------------------- */

/* The running image as a libattest component (as 'nacre device attest' does). */
static void component_of(const struct nacre_image_info *img, struct nacre_attest_component *c)
{
    char version[AGENT_VERSION_CHARS + 1];
    memset(c, 0, sizeof *c);
    version_str(version, &img->version);
    snprintf(c->name, sizeof c->name, "%s", img->component);
    size_t n = strlen(version);
    memcpy(c->version, version, n < NACRE_ATTEST_VERSION_MAX ? n : NACRE_ATTEST_VERSION_MAX);
    memcpy(c->measurement, img->measurement, sizeof c->measurement);
    memcpy(c->signer_id, img->signer_key_id, sizeof c->signer_id);
    c->security_counter = img->security_counter;
}

/* A list of the service's failure names, "measurement, nonce". */
static void failure_list(json_t *answer, char *out, size_t n)
{
    size_t i;
    json_t *v;
    out[0] = '\0';
    json_array_foreach(json_object_get(answer, "failures"), i, v) {
        const char *s = json_string_value(v);
        if (s != NULL) {
            size_t used = strlen(out);
            snprintf(out + used, n - used, "%s%s", used > 0 ? ", " : "", s);
        }
    }
}

static nacre_agent_status attest(struct nacre_agent *a, struct nacre_agent_cycle_result *res)
{
    struct agent_http_response r;
    json_t *answer = NULL;
    nacre_agent_status st = post_json(a, "/v1/device/nonce",
                                      json_pack("{s:s}", "device_id", a->device_id), 0, &r, &answer);
    if (st != NACRE_AGENT_OK) {
        return st;
    }
    if (r.status != 200) {
        st = service_fail(a, "asking for a nonce", &r);
        json_decref(answer);
        agent_http_response_free(&r);
        return st;
    }
    agent_http_response_free(&r);
    uint8_t nonce[NACRE_ATTEST_NONCE_MAX];
    size_t nonce_len = 0;
    const char *nonce_hex = json_string_value(json_object_get(answer, "nonce"));
    if (nonce_hex == NULL ||
        sodium_hex2bin(nonce, sizeof nonce, nonce_hex, strlen(nonce_hex), NULL, &nonce_len, NULL) !=
            0 ||
        nonce_len < NACRE_ATTEST_NONCE_MIN) {
        json_decref(answer);
        return fail(a, NACRE_AGENT_ERR_PROTOCOL, "the nonce answer holds no nonce");
    }
    json_decref(answer);

    struct nacre_attest_claims claims;
    struct nacre_attest_component comp;
    uint8_t evidence[NACRE_ATTEST_EVIDENCE_MAX];
    size_t ev_len = 0;
    nacre_attest_status ast =
        nacre_attest_claims_init(&claims, a->pluton, nonce, nonce_len, (uint64_t)time(NULL));
    if (ast == NACRE_ATTEST_OK) {
        component_of(&a->boot.image, &comp);
        ast = nacre_attest_claims_add_component(&claims, &comp);
    }
    if (ast == NACRE_ATTEST_OK) {
        ast = nacre_attest_evidence(a->pluton, &claims, evidence, sizeof evidence, &ev_len);
    }
    if (ast != NACRE_ATTEST_OK) {
        return fail(a, NACRE_AGENT_ERR_DEVICE, "making evidence: %s", nacre_attest_strerror(ast));
    }
    char b64[sodium_base64_ENCODED_LEN(NACRE_ATTEST_EVIDENCE_MAX, sodium_base64_VARIANT_ORIGINAL)];
    sodium_bin2base64(b64, sizeof b64, evidence, ev_len, sodium_base64_VARIANT_ORIGINAL);

    st = post_json(a, "/v1/device/attest",
                   json_pack("{s:s, s:s}", "device_id", a->device_id, "evidence", b64), 0, &r,
                   &answer);
    if (st != NACRE_AGENT_OK) {
        return st;
    }
    if (r.status == 403 && strcmp(r.error_code, "attestation_failed") == 0) {
        char why[160];
        failure_list(answer, why, sizeof why);
        agent_progress(a, NACRE_AGENT_EV_ATTEST_FAILED, why, 0, 0);
        st = fail(a, NACRE_AGENT_ERR_ATTESTATION, "attestation refused: %s",
                  why[0] != '\0' ? why : r.error_message);
        json_decref(answer);
        agent_http_response_free(&r);
        a->state.attest_failed = 1;
        char err[300];
        if (agent_state_save(a->cfg.device_dir, &a->state, err, sizeof err) != 0) {
            return fail(a, NACRE_AGENT_ERR_STATE, "%s", err);
        }
        return st;
    }
    if (r.status != 200) {
        st = service_fail(a, "attesting", &r);
        json_decref(answer);
        agent_http_response_free(&r);
        return st;
    }
    agent_http_response_free(&r);
    const char *cert = json_string_value(json_object_get(answer, "certificate"));
    const char *ca = json_string_value(json_object_get(answer, "ca_certificate"));
    json_t *exp = json_object_get(answer, "expires_at");
    uint8_t *der = NULL;
    size_t der_len = 0;
    if (cert == NULL || ca == NULL || !json_is_integer(exp) || pem_to_der(cert, &der, &der_len) != 0) {
        json_decref(answer);
        return fail(a, NACRE_AGENT_ERR_PROTOCOL, "the attest answer holds no certificate");
    }
    char err[300];
    if (agent_file_write(a->cfg.device_dir, AGENT_CERT_FILE, cert, strlen(cert), err, sizeof err) != 0 ||
        agent_file_write(a->cfg.device_dir, AGENT_CA_FILE, ca, strlen(ca), err, sizeof err) != 0) {
        free(der);
        json_decref(answer);
        return fail(a, NACRE_AGENT_ERR_STATE, "%s", err);
    }
    free(a->cert_der);
    a->cert_der = der;
    a->cert_der_len = der_len;
    memcpy(a->state.cert_alias, a->alias_hex, sizeof a->state.cert_alias);
    a->state.cert_issued_at = (uint64_t)time(NULL);
    a->state.cert_expires_at = (uint64_t)json_integer_value(exp);
    a->state.attest_failed = 0;
    json_decref(answer);
    st = save_state(a);
    if (st != NACRE_AGENT_OK) {
        return st;
    }
    res->attested_now = 1;
    agent_progress(a, NACRE_AGENT_EV_ATTESTED, a->boot.image.component, a->state.cert_expires_at, 0);
    return NACRE_AGENT_OK;
}

/* Renew when less than a quarter of the certificate's life remains. */
static int needs_attestation(const struct nacre_agent *a)
{
    if (a->cert_der == NULL || strcmp(a->state.cert_alias, a->alias_hex) != 0 ||
        a->state.attest_failed) {
        return 1;
    }
    uint64_t now = (uint64_t)time(NULL);
    uint64_t exp = a->state.cert_expires_at;
    uint64_t got = a->state.cert_issued_at;
    uint64_t life = exp > got ? exp - got : 0;
    return now + life / 4 >= exp;
}

/*
 * A signed request; if the service no longer takes the certificate
 * (expired, revoked, unknown), attest again once and retry.
 */
static nacre_agent_status signed_request(struct nacre_agent *a,
                                         const struct agent_http_request *req,
                                         struct agent_http_response *resp,
                                         struct nacre_agent_cycle_result *res)
{
    for (int round = 0;; round++) {
        nacre_agent_status st = agent_http(a, req, resp);
        if (st != NACRE_AGENT_OK) {
            return st;
        }
        int cert_problem = resp->status == 401 &&
                           (strcmp(resp->error_code, "bad_certificate") == 0 ||
                            strcmp(resp->error_code, "certificate_expired") == 0 ||
                            strcmp(resp->error_code, "certificate_revoked") == 0);
        if (!cert_problem || round > 0) {
            return NACRE_AGENT_OK;
        }
        agent_http_response_free(resp);
        st = attest(a, res);
        if (st != NACRE_AGENT_OK) {
            return st;
        }
    }
}

static nacre_agent_status signed_post(struct nacre_agent *a, const char *path, json_t *body,
                                      struct agent_http_response *resp, json_t **answer,
                                      struct nacre_agent_cycle_result *res)
{
    char *text = json_dumps(body, JSON_COMPACT);
    json_decref(body);
    *answer = NULL;
    if (text == NULL) {
        return fail(a, NACRE_AGENT_ERR_NO_MEMORY, "%s: out of memory", path);
    }
    struct agent_http_request req = {
        .method = "POST", .path = path, .content_type = "application/json",
        .body = text, .body_len = strlen(text), .sign = 1,
        .max_response = JSON_RESPONSE_MAX,
    };
    nacre_agent_status st = signed_request(a, &req, resp, res);
    free(text);
    if (st == NACRE_AGENT_OK && resp->len > 0) {
        *answer = json_loadb((const char *)resp->body, resp->len, 0, NULL);
    }
    return st;
}

/* ---- reports ----------------------------------------------------------------------- */

static nacre_agent_status queue_report(struct nacre_agent *a, int64_t deployment,
                                       const char *image_id, const char *result,
                                       const char *detail)
{
    if (a->state.report_count == AGENT_REPORTS_MAX) {
        /* Oldest first out: the newest outcome matters most to the rollout. */
        memmove(&a->state.reports[0], &a->state.reports[1],
                (AGENT_REPORTS_MAX - 1) * sizeof a->state.reports[0]);
        a->state.report_count--;
    }
    struct agent_report *r = &a->state.reports[a->state.report_count++];
    memset(r, 0, sizeof *r);
    r->deployment_id = deployment;
    snprintf(r->image_id, sizeof r->image_id, "%s", image_id);
    snprintf(r->result, sizeof r->result, "%s", result);
    snprintf(r->detail, sizeof r->detail, "%s", detail);
    return save_state(a);
}

/* Send every queued report; each leaves the queue once the service took it. */
static nacre_agent_status flush_reports(struct nacre_agent *a, struct nacre_agent_cycle_result *res)
{
    while (a->state.report_count > 0) {
        const struct agent_report *r = &a->state.reports[0];
        struct agent_http_response resp;
        json_t *answer = NULL;
        char what[64];
        snprintf(what, sizeof what, "%s", r->result);
        nacre_agent_status st = signed_post(
            a, "/v1/device/install-report",
            json_pack("{s:I, s:s, s:s, s:s}", "deployment_id", (json_int_t)r->deployment_id,
                      "image_id", r->image_id, "result", r->result, "detail", r->detail),
            &resp, &answer, res);
        json_decref(answer);
        if (st != NACRE_AGENT_OK) {
            return st;
        }
        long code = resp.status;
        if (code >= 400 && code != 404 && code != 400) {
            st = service_fail(a, "sending an install report", &resp);
            agent_http_response_free(&resp);
            return st;
        }
        agent_http_response_free(&resp);
        /*
         * 2xx: taken. 400 / 404 (a deployment the service no longer knows,
         * say): it will never be taken, so it is dropped rather than resent
         * forever.
         */
        memmove(&a->state.reports[0], &a->state.reports[1],
                (a->state.report_count - 1) * sizeof a->state.reports[0]);
        a->state.report_count--;
        st = save_state(a);
        if (st != NACRE_AGENT_OK) {
            return st;
        }
        res->reports_sent++;
        agent_progress(a, NACRE_AGENT_EV_REPORTED, code < 300 ? what : "dropped", (uint64_t)code, 0);
    }
    return NACRE_AGENT_OK;
}

/* ---- events ----------------------------------------------------------------------- */

struct event_batch {
    uint32_t after;
    json_t *events;
    uint32_t count;
    uint32_t pending; /* events above `after` not in this batch */
};

static int collect_event(const struct nacre_secmon_event *ev, void *ctx)
{
    struct event_batch *b = ctx;
    if (ev->seq <= b->after) {
        return 0;
    }
    if (b->count >= EVENTS_PER_POST) {
        b->pending++;
        return 0;
    }
    char app[17];
    sodium_bin2hex(app, sizeof app, ev->app_id, sizeof ev->app_id);
    json_t *o = json_pack("{s:I, s:I, s:s, s:s, s:I, s:I, s:s}", "seq", (json_int_t)ev->seq,
                          "time", (json_int_t)ev->time, "type",
                          nacre_secmon_event_type_name(ev->type), "app", app, "code",
                          (json_int_t)ev->code, "addr", (json_int_t)ev->addr, "detail",
                          ev->detail);
    if (o != NULL && json_array_append_new(b->events, o) == 0) {
        b->count++;
    }
    return 0;
}

static nacre_agent_status upload_events(struct nacre_agent *a, struct nacre_agent_cycle_result *res)
{
    for (;;) {
        struct event_batch b = {.after = a->state.acked_seq, .events = json_array()};
        if (b.events == NULL) {
            return fail(a, NACRE_AGENT_ERR_NO_MEMORY, "reading events: out of memory");
        }
        nacre_secmon_status ss = nacre_secmon_event_read(a->board, collect_event, &b);
        if (ss != NACRE_SECMON_OK) {
            json_decref(b.events);
            return fail(a, NACRE_AGENT_ERR_DEVICE, "reading the event log: %s",
                        nacre_secmon_strerror(ss));
        }
        if (b.count == 0) {
            json_decref(b.events);
            return NACRE_AGENT_OK;
        }
        struct agent_http_response resp;
        json_t *answer = NULL;
        uint32_t sent = b.count;
        nacre_agent_status st = signed_post(a, "/v1/device/events",
                                            json_pack("{s:o}", "events", b.events), &resp,
                                            &answer, res);
        if (st != NACRE_AGENT_OK) {
            json_decref(answer);
            return st;
        }
        if (resp.status != 200) {
            st = service_fail(a, "uploading events", &resp);
            json_decref(answer);
            agent_http_response_free(&resp);
            return st;
        }
        agent_http_response_free(&resp);
        json_t *last = json_object_get(answer, "last_seq");
        if (!json_is_integer(last) || json_integer_value(last) < 0 ||
            json_integer_value(last) > (json_int_t)UINT32_MAX) {
            json_decref(answer);
            return fail(a, NACRE_AGENT_ERR_PROTOCOL, "the events answer holds no last_seq");
        }
        uint32_t acked = (uint32_t)json_integer_value(last);
        json_decref(answer);
        if (acked <= a->state.acked_seq) {
            /* Nothing new acknowledged: do not loop on the same batch. */
            return fail(a, NACRE_AGENT_ERR_PROTOCOL, "the service acknowledged no event");
        }
        a->state.acked_seq = acked;
        st = save_state(a);
        if (st != NACRE_AGENT_OK) {
            return st;
        }
        res->events_uploaded += sent;
        char text[48];
        snprintf(text, sizeof text, "last_seq %lu", (unsigned long)acked);
        agent_progress(a, NACRE_AGENT_EV_EVENTS, text, sent, 0);
        if (b.pending == 0) {
            return NACRE_AGENT_OK;
        }
    }
}

/* ---- updates -------------------------------------------------------------------------- */

struct offer {
    int64_t deployment_id;
    char image_id[AGENT_ID_CHARS + 1];
    char version[AGENT_VERSION_CHARS + 1];
    uint64_t size;
    char path[128];
};

/* GET /v1/device/update: 1 and *o filled if an update is offered, 0 if none. */
static nacre_agent_status get_offer(struct nacre_agent *a, struct offer *o, int *offered,
                                    struct nacre_agent_cycle_result *res)
{
    struct agent_http_response resp;
    struct agent_http_request req = {
        .method = "GET", .path = "/v1/device/update", .sign = 1,
        .max_response = JSON_RESPONSE_MAX,
    };
    *offered = 0;
    nacre_agent_status st = signed_request(a, &req, &resp, res);
    if (st != NACRE_AGENT_OK) {
        return st;
    }
    if (resp.status != 200) {
        st = service_fail(a, "asking for an update", &resp);
        agent_http_response_free(&resp);
        return st;
    }
    json_t *root = json_loadb((const char *)resp.body, resp.len, 0, NULL);
    agent_http_response_free(&resp);
    json_t *u = json_object_get(root, "update");
    if (!json_is_object(root) || u == NULL) {
        json_decref(root);
        return fail(a, NACRE_AGENT_ERR_PROTOCOL, "the update answer has no \"update\"");
    }
    if (json_is_null(u)) {
        json_decref(root);
        return NACRE_AGENT_OK;
    }
    json_t *dep = json_object_get(u, "deployment_id");
    json_t *size = json_object_get(u, "size");
    const char *img = json_string_value(json_object_get(u, "image_id"));
    const char *ver = json_string_value(json_object_get(u, "version"));
    const char *url = json_string_value(json_object_get(u, "url"));
    static const char prefix[] = "/v1/device/images/";
    if (!json_is_integer(dep) || !json_is_integer(size) || json_integer_value(size) <= 0 ||
        !is_hex64(img) || url == NULL || strncmp(url, prefix, sizeof prefix - 1) != 0 ||
        strchr(url, '?') != NULL || strlen(url) >= sizeof o->path) {
        json_decref(root);
        return fail(a, NACRE_AGENT_ERR_PROTOCOL, "malformed update offer");
    }
    memset(o, 0, sizeof *o);
    o->deployment_id = (int64_t)json_integer_value(dep);
    memcpy(o->image_id, img, AGENT_ID_CHARS);
    snprintf(o->version, sizeof o->version, "%s", ver != NULL ? ver : "?");
    o->size = (uint64_t)json_integer_value(size);
    snprintf(o->path, sizeof o->path, "%s", url);
    json_decref(root);
    *offered = 1;
    return NACRE_AGENT_OK;
}

/* A refusal by the installer (the image), as opposed to a failure (the device). */
static int is_refusal(nacre_update_status st)
{
    switch (st) {
    case NACRE_UPDATE_ERR_ARGUMENT:
    case NACRE_UPDATE_ERR_NO_ROOT_KEY:
    case NACRE_UPDATE_ERR_NO_IMAGE:
    case NACRE_UPDATE_ERR_NOT_PENDING:
    case NACRE_UPDATE_ERR_STORAGE:
    case NACRE_UPDATE_ERR_POWER_LOST:
    case NACRE_UPDATE_ERR_STATE_CORRUPT:
    case NACRE_UPDATE_ERR_PLUTON:
    case NACRE_UPDATE_ERR_INSTALL_STATE:
        return 0;
    default:
        return 1;
    }
}

/*
 * The installer refused the image: log it in the security-event log (the
 * service sees it with the next upload), report `refused` with libupdate's
 * reason, and do not take this offer again.
 */
static nacre_agent_status refused(struct nacre_agent *a, const struct offer *o,
                                  nacre_update_status why, struct nacre_agent_cycle_result *res)
{
    struct nacre_secmon_event ev;
    memset(&ev, 0, sizeof ev);
    ev.type = why == NACRE_UPDATE_ERR_ROLLBACK ? NACRE_SECMON_EVENT_ROLLBACK
                                               : NACRE_SECMON_EVENT_VERIFY_FAILED;
    ev.time = (uint64_t)time(NULL);
    ev.code = (uint32_t)why;
    snprintf(ev.detail, sizeof ev.detail, "update %.32s", o->version);
    nacre_secmon_status ss = nacre_secmon_event_append(a->board, &ev);
    res->refused = 1;
    agent_progress(a, NACRE_AGENT_EV_REFUSED, nacre_update_strerror(why), 0, 0);
    a->state.refused = 1;
    a->state.refused_deployment = o->deployment_id;
    memcpy(a->state.refused_image, o->image_id, sizeof a->state.refused_image);
    nacre_agent_status st = queue_report(a, o->deployment_id, o->image_id, "refused",
                                         nacre_update_strerror(why));
    if (st == NACRE_AGENT_OK && ss != NACRE_SECMON_OK) {
        st = fail(a, NACRE_AGENT_ERR_DEVICE, "logging the refusal: %s", nacre_secmon_strerror(ss));
    }
    return st;
}

/* "bytes FIRST-LAST/SIZE" -> FIRST; -1 if malformed. */
static int64_t content_range_first(const char *s)
{
    unsigned long long first = 0, last = 0, size = 0;
    if (sscanf(s, "bytes %llu-%llu/%llu", &first, &last, &size) != 3 || last < first) {
        return -1;
    }
    return (int64_t)first;
}

/*
 * The installer resumes whatever install into the inactive slot was cut
 * short; it is only this offer's if the slot's metadata names the same
 * measurement (the image id). Otherwise start afresh.
 */
static nacre_update_status check_resume(struct nacre_agent *a, const struct nacre_update_config *ucfg,
                                        const struct offer *o, uint32_t *offset)
{
    struct nacre_update_state s;
    nacre_update_status st = nacre_update_state_get(a->pluton, a->board, ucfg, &s);
    if (st != NACRE_UPDATE_OK) {
        return st;
    }
    uint8_t want[32];
    size_t n = 0;
    if (sodium_hex2bin(want, sizeof want, o->image_id, AGENT_ID_CHARS, NULL, &n, NULL) != 0 ||
        n != sizeof want) {
        return NACRE_UPDATE_ERR_ARGUMENT;
    }
    const struct nacre_update_slot_view *v = NULL;
    if (s.installing == NACRE_UPDATE_SLOT_A || s.installing == NACRE_UPDATE_SLOT_B) {
        v = &s.slots[s.installing == NACRE_UPDATE_SLOT_A ? 0 : 1];
    }
    if (v != NULL && v->has_image && sodium_memcmp(v->info.measurement, want, 32) == 0) {
        return NACRE_UPDATE_OK;
    }
    nacre_install_abort(a->installer);
    return nacre_install_begin(a->installer, a->pluton, a->board, ucfg, offset);
}

/* Download the offer in Range chunks straight into the installer. */
static nacre_agent_status take_update(struct nacre_agent *a, const struct offer *o,
                                      struct nacre_agent_cycle_result *res)
{
    struct nacre_update_config ucfg = {.component = a->cfg.component, .max_trial_boots = 0};
    uint32_t offset = 0;
    if (o->size > UINT32_MAX) {
        return fail(a, NACRE_AGENT_ERR_PROTOCOL, "offered image too large");
    }
    nacre_update_status us = nacre_install_begin(a->installer, a->pluton, a->board, &ucfg, &offset);
    if (us == NACRE_UPDATE_OK && offset > 0) {
        us = check_resume(a, &ucfg, o, &offset);
    }
    if (us != NACRE_UPDATE_OK) {
        return fail(a, NACRE_AGENT_ERR_INSTALL, "starting the installer: %s",
                    nacre_update_strerror(us));
    }
    if (offset > o->size) {
        offset = 0; /* cannot be this image's: begin afresh */
        nacre_install_abort(a->installer);
        us = nacre_install_begin(a->installer, a->pluton, a->board, &ucfg, &offset);
        if (us != NACRE_UPDATE_OK) {
            return fail(a, NACRE_AGENT_ERR_INSTALL, "starting the installer: %s",
                        nacre_update_strerror(us));
        }
    }
    if (offset > 0) {
        agent_progress(a, NACRE_AGENT_EV_RESUME, o->version, offset, o->size);
    }
    uint64_t pos = offset;
    unsigned chunks = 0;
    while (pos < o->size) {
        char range[64];
        uint64_t last = pos + a->cfg.chunk_bytes - 1;
        if (last >= o->size) {
            last = o->size - 1;
        }
        snprintf(range, sizeof range, "bytes=%llu-%llu", (unsigned long long)pos,
                 (unsigned long long)last);
        struct agent_http_response resp;
        struct agent_http_request req = {
            .method = "GET", .path = o->path, .range = range, .sign = 1,
            .max_response = (size_t)a->cfg.chunk_bytes + (pos == 0 ? (size_t)o->size : 0),
        };
        nacre_agent_status st = signed_request(a, &req, &resp, res);
        if (st != NACRE_AGENT_OK) {
            /* The slot keeps what it has: the next cycle resumes. */
            return st == NACRE_AGENT_ERR_UNREACHABLE ? NACRE_AGENT_ERR_INTERRUPTED : st;
        }
        const uint8_t *data = resp.body;
        size_t len = resp.len;
        if (resp.status == 206) {
            if (content_range_first(resp.content_range) != (int64_t)pos) {
                agent_http_response_free(&resp);
                return fail(a, NACRE_AGENT_ERR_PROTOCOL, "Content-Range '%s' is not byte %llu",
                            resp.content_range, (unsigned long long)pos);
            }
        } else if (resp.status == 200 && pos == 0 && len == o->size) {
            /* The whole image in one answer: fine. */
        } else if (resp.status == 200) {
            agent_http_response_free(&resp);
            return fail(a, NACRE_AGENT_ERR_PROTOCOL,
                        "the service ignored Range (200 instead of 206 at byte %llu)",
                        (unsigned long long)pos);
        } else {
            st = service_fail(a, "downloading the update", &resp);
            agent_http_response_free(&resp);
            return st;
        }
        if (len == 0 || pos + len > o->size) {
            agent_http_response_free(&resp);
            return fail(a, NACRE_AGENT_ERR_PROTOCOL, "download chunk of %zu bytes at %llu", len,
                        (unsigned long long)pos);
        }
        if (a->cfg.tamper_download && o->size - 1 >= pos && o->size - 1 < pos + len) {
            /* TEST ONLY: an on-path attacker flips the image's last byte. */
            resp.body[o->size - 1 - pos] ^= 0x01;
        }
        us = nacre_install_write(a->installer, data, len);
        agent_http_response_free(&resp);
        if (us != NACRE_UPDATE_OK) {
            if (is_refusal(us)) {
                return refused(a, o, us, res);
            }
            nacre_install_abort(a->installer);
            return fail(a, NACRE_AGENT_ERR_INSTALL, "installing: %s", nacre_update_strerror(us));
        }
        pos += len;
        chunks++;
        agent_progress(a, NACRE_AGENT_EV_DOWNLOAD, o->version, pos, o->size);
        if (a->cfg.stop_after_chunks != 0 && chunks >= a->cfg.stop_after_chunks &&
            pos < o->size) {
            return fail(a, NACRE_AGENT_ERR_INTERRUPTED,
                        "download cut after %u chunks at byte %llu (test hook)", chunks,
                        (unsigned long long)pos);
        }
    }
    struct nacre_image_info info;
    us = nacre_install_finish(a->installer, &info);
    if (us != NACRE_UPDATE_OK) {
        if (is_refusal(us)) {
            return refused(a, o, us, res);
        }
        nacre_install_abort(a->installer);
        return fail(a, NACRE_AGENT_ERR_INSTALL, "installing: %s", nacre_update_strerror(us));
    }
    /* Pending now: remember it before anything can cut us short. */
    a->state.inflight = 1;
    a->state.inflight_deployment = o->deployment_id;
    memcpy(a->state.inflight_image, o->image_id, sizeof a->state.inflight_image);
    version_str(a->state.inflight_version, &info.version);
    res->installed = 1;
    agent_progress(a, NACRE_AGENT_EV_INSTALLED, a->state.inflight_version, o->size, o->size);
    return queue_report(a, o->deployment_id, o->image_id, "installed", "");
}

/* ---- the trial ------------------------------------------------------------------------- */

/* 1 if the running image is the pending one, on its trial. */
static int running_trial(struct nacre_agent *a)
{
    struct nacre_update_state s;
    struct nacre_update_config ucfg = {.component = a->cfg.component, .max_trial_boots = 0};
    if (nacre_update_state_get(a->pluton, a->board, &ucfg, &s) != NACRE_UPDATE_OK) {
        return 0;
    }
    return s.pending != NACRE_UPDATE_SLOT_NONE && s.last_boot_trial && s.last_boot == s.pending &&
           a->boot.slot == s.pending;
}

static int running_inflight(const struct nacre_agent *a)
{
    char m[AGENT_ID_CHARS + 1];
    sodium_bin2hex(m, sizeof m, a->boot.image.measurement, 32);
    return a->state.inflight && strcmp(m, a->state.inflight_image) == 0;
}

/*
 * After a boot, settle the update in flight: reverted or rejected by the
 * boot stage -> report it; confirmed earlier but not reported -> report.
 * A trial of it stays in flight: attestation decides (confirm_trial).
 */
static nacre_agent_status settle_inflight(struct nacre_agent *a, int trial,
                                          struct nacre_agent_cycle_result *res)
{
    if (!a->state.inflight) {
        return NACRE_AGENT_OK;
    }
    if (running_inflight(a)) {
        if (trial) {
            return NACRE_AGENT_OK;
        }
        a->state.inflight = 0;
        return queue_report(a, a->state.inflight_deployment, a->state.inflight_image, "confirmed",
                            a->state.inflight_version);
    }
    struct nacre_update_state s;
    struct nacre_update_config ucfg = {.component = a->cfg.component, .max_trial_boots = 0};
    if (nacre_update_state_get(a->pluton, a->board, &ucfg, &s) == NACRE_UPDATE_OK &&
        s.pending != NACRE_UPDATE_SLOT_NONE) {
        return NACRE_AGENT_OK; /* still pending, not booted yet: the next full boot tries it */
    }
    const char *result = "reverted";
    char detail[AGENT_DETAIL_MAX];
    if (a->boot.reason == NACRE_BOOT_PENDING_REJECTED) {
        result = "failed";
        snprintf(detail, sizeof detail, "pending image rejected at boot: %s",
                 nacre_update_strerror(a->boot.rejected_why));
    } else {
        snprintf(detail, sizeof detail, "%s not confirmed after its trial boots; back to the "
                 "confirmed image", a->state.inflight_version);
        res->reverted = 1;
        agent_progress(a, NACRE_AGENT_EV_REVERTED, a->state.inflight_version, 0, 0);
    }
    a->state.inflight = 0;
    return queue_report(a, a->state.inflight_deployment, a->state.inflight_image, result, detail);
}

static nacre_agent_status confirm_trial(struct nacre_agent *a, struct nacre_agent_cycle_result *res)
{
    struct nacre_update_config ucfg = {.component = a->cfg.component, .max_trial_boots = 0};
    struct nacre_image_info info;
    nacre_update_status us = nacre_update_confirm(a->pluton, a->board, &ucfg, &info);
    if (us != NACRE_UPDATE_OK) {
        return fail(a, NACRE_AGENT_ERR_INSTALL, "confirming: %s", nacre_update_strerror(us));
    }
    char version[AGENT_VERSION_CHARS + 1];
    version_str(version, &info.version);
    res->confirmed = 1;
    agent_progress(a, NACRE_AGENT_EV_CONFIRMED, version, 0, 0);
    if (!running_inflight(a)) {
        return NACRE_AGENT_OK; /* installed by someone else: no deployment to report to */
    }
    a->state.inflight = 0;
    return queue_report(a, a->state.inflight_deployment, a->state.inflight_image, "confirmed",
                        version);
}

/* ---- one cycle ---------------------------------------------------------------------- */

static int offer_refused(const struct nacre_agent *a, const struct offer *o)
{
    return a->state.refused && a->state.refused_deployment == o->deployment_id &&
           strcmp(a->state.refused_image, o->image_id) == 0;
}

/* The offered image is the running one (its id is the measurement). */
static int offer_running(const struct nacre_agent *a, const struct offer *o)
{
    char m[AGENT_ID_CHARS + 1];
    sodium_bin2hex(m, sizeof m, a->boot.image.measurement, 32);
    return a->boot.slot != NACRE_UPDATE_SLOT_NONE && strcmp(m, o->image_id) == 0;
}

/* Events above the acknowledged seq still in the log. */
static int count_unsent(const struct nacre_secmon_event *ev, void *ctx)
{
    uint32_t *c = ctx;
    c[1] += ev->seq > c[0];
    return 0;
}

static nacre_agent_status cycle_body(struct nacre_agent *a, struct nacre_agent_cycle_result *res)
{
    int full = !a->powered_before || a->need_reboot;
    nacre_agent_status st = power_on(a, full);
    if (st != NACRE_AGENT_OK) {
        return st;
    }
    a->powered_before = 1;
    a->need_reboot = 0;
    for (int reboots = 0;; reboots++) {
        snprintf(res->device_id, sizeof res->device_id, "%s", a->device_id);
        version_str(res->version, &a->boot.image.version);
        int trial = running_trial(a);
        st = settle_inflight(a, trial, res);
        if (st != NACRE_AGENT_OK) {
            return st;
        }
        /* A trial is confirmed only on an attestation of it, made now. */
        if (needs_attestation(a) || trial) {
            st = attest(a, res);
            if (st == NACRE_AGENT_ERR_ATTESTATION && trial) {
                /* The trial image is not accepted: reset, so that its trials run out. */
                a->need_reboot = 1;
            }
            if (st != NACRE_AGENT_OK) {
                return st;
            }
        }
        res->attested = 1;
        res->cert_expires_at = a->state.cert_expires_at;
        if (trial) {
            st = confirm_trial(a, res);
            if (st != NACRE_AGENT_OK) {
                return st;
            }
        }
        st = flush_reports(a, res);
        if (st == NACRE_AGENT_OK) {
            st = upload_events(a, res);
        }
        if (st != NACRE_AGENT_OK) {
            return st;
        }
        struct offer o;
        int offered = 0;
        st = get_offer(a, &o, &offered, res);
        if (st != NACRE_AGENT_OK) {
            return st;
        }
        if (!offered || offer_refused(a, &o)) {
            if (!offered && a->state.refused) {
                a->state.refused = 0; /* the offer is gone: a new one will be tried */
                st = save_state(a);
            }
            return st;
        }
        char text[64];
        snprintf(text, sizeof text, "%s", o.version);
        agent_progress(a, NACRE_AGENT_EV_OFFER, text, o.size, 0);
        if (offer_running(a, &o) && !running_trial(a)) {
            /* The offered image already runs, confirmed (a device claimed
             * into a group whose deployment it was made with): installing it
             * again would only rewrite the other slot and spend a trial boot.
             * Tell the rollout it is in place. */
            st = queue_report(a, o.deployment_id, o.image_id, "confirmed", o.version);
            return st == NACRE_AGENT_OK ? flush_reports(a, res) : st;
        }
        if (reboots >= REBOOTS_PER_CYCLE) {
            res->update_offered = 1;
            return NACRE_AGENT_OK; /* enough for one cycle */
        }
        st = take_update(a, &o, res);
        if (st != NACRE_AGENT_OK) {
            return st;
        }
        st = flush_reports(a, res);
        if (st == NACRE_AGENT_OK) {
            st = upload_events(a, res);
        }
        if (st != NACRE_AGENT_OK || !res->installed) {
            return st; /* refused (and reported): the cycle is done */
        }
        /* Reset into the new image: its trial boot. */
        agent_progress(a, NACRE_AGENT_EV_REBOOT, o.version, 0, 0);
        power_off(a);
        st = power_on(a, 1);
        if (st != NACRE_AGENT_OK) {
            return st;
        }
    }
}

nacre_agent_status nacre_agent_cycle(nacre_agent *a, struct nacre_agent_cycle_result *res)
{
    struct nacre_agent_cycle_result dummy;
    if (res == NULL) {
        res = &dummy;
    }
    memset(res, 0, sizeof *res);
    if (a == NULL) {
        res->status = NACRE_AGENT_ERR_ARGUMENT;
        return res->status;
    }
    a->err[0] = '\0';
    nacre_agent_status st = cycle_body(a, res);
    if (st == NACRE_AGENT_OK && a->board != NULL) {
        uint32_t c[2] = {a->state.acked_seq, 0};
        nacre_secmon_status ss = nacre_secmon_event_read(a->board, count_unsent, c);
        res->idle = ss == NACRE_SECMON_OK && res->attested && !res->attested_now && !res->confirmed && !res->installed &&
                    !res->refused && !res->reverted && res->events_uploaded == 0 &&
                    res->reports_sent == 0 && !res->update_offered &&
                    a->state.report_count == 0 && c[1] == 0;
    }
    power_off(a);
    res->status = st;
    if (st != NACRE_AGENT_OK) {
        snprintf(res->detail, sizeof res->detail, "%s", a->err[0] ? a->err : nacre_agent_strerror(st));
        agent_progress(a, NACRE_AGENT_EV_ERROR, res->detail, (uint64_t)st, 0);
    }
    return st;
}

nacre_agent_status nacre_agent_run(nacre_agent *a, struct nacre_agent_cycle_result *last)
{
    struct nacre_agent_cycle_result dummy;
    if (last == NULL) {
        last = &dummy;
    }
    if (a == NULL) {
        memset(last, 0, sizeof *last);
        last->status = NACRE_AGENT_ERR_ARGUMENT;
        return last->status;
    }
    for (unsigned n = 1;; n++) {
        nacre_agent_status st = nacre_agent_cycle(a, last);
        if (st == NACRE_AGENT_ERR_STOPPED) {
            return st;
        }
        if (a->cfg.max_cycles != 0 && n >= a->cfg.max_cycles) {
            return st;
        }
        if (agent_sleep_ms(a, (uint64_t)a->cfg.poll_seconds * 1000u)) {
            return last->status;
        }
    }
}
