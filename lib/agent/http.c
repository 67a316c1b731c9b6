/*
 * http.c - the agent's HTTP client: libcurl, RFC 9421 request signatures
 * made with the Alias key inside libpluton, and the backoff that keeps a
 * fleet from hammering a service that is down.
 */
#include "agent_priv.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <jansson.h>
#include <sodium.h>

#include <nacre/httpsig.h>

void agent_progress(const struct nacre_agent *a, nacre_agent_event ev, const char *text,
                    uint64_t value, uint64_t total)
{
    if (a->cfg.progress == NULL) {
        return;
    }
    struct nacre_agent_progress p = {
        .event = ev,
        .device_dir = a->cfg.device_dir,
        .device_id = a->device_id,
        .text = text != NULL ? text : "",
        .value = value,
        .total = total,
    };
    a->cfg.progress(&p, a->cfg.progress_ctx);
}

int agent_sleep_ms(const struct nacre_agent *a, uint64_t ms)
{
    /* Steps of 50 ms so that a stop request is seen quickly. */
    while (ms > 0) {
        if (a->cfg.stop != NULL && *a->cfg.stop) {
            return 1;
        }
        uint64_t step = ms < 50 ? ms : 50;
        struct timespec ts = {.tv_sec = 0, .tv_nsec = (long)(step * 1000000u)};
        while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
        }
        ms -= step;
    }
    return a->cfg.stop != NULL && *a->cfg.stop;
}

void agent_http_response_free(struct agent_http_response *r)
{
    free(r->body);
    memset(r, 0, sizeof *r);
}

struct sink {
    struct agent_http_response *resp;
    size_t cap;   /* allocated */
    size_t max;   /* refuse beyond */
};

static size_t on_body(char *data, size_t size, size_t n, void *ctx)
{
    struct sink *s = ctx;
    size_t len = size * n;
    if (s->resp->len + len > s->max) {
        s->resp->truncated = 1;
        return 0; /* abort the transfer */
    }
    if (s->resp->len + len + 1 > s->cap) {
        size_t want = s->cap == 0 ? 4096 : s->cap;
        while (want < s->resp->len + len + 1) {
            want *= 2;
        }
        uint8_t *p = realloc(s->resp->body, want);
        if (p == NULL) {
            return 0;
        }
        s->resp->body = p;
        s->cap = want;
    }
    memcpy(s->resp->body + s->resp->len, data, len);
    s->resp->len += len;
    s->resp->body[s->resp->len] = '\0';
    return len;
}

static size_t on_header(char *data, size_t size, size_t n, void *ctx)
{
    struct agent_http_response *r = ctx;
    size_t len = size * n;
    static const char name[] = "content-range:";
    if (len > sizeof name - 1 && strncasecmp(data, name, sizeof name - 1) == 0) {
        size_t i = sizeof name - 1;
        while (i < len && (data[i] == ' ' || data[i] == '\t')) {
            i++;
        }
        size_t j = len;
        while (j > i && (data[j - 1] == '\r' || data[j - 1] == '\n' || data[j - 1] == ' ')) {
            j--;
        }
        size_t m = j - i < sizeof r->content_range - 1 ? j - i : sizeof r->content_range - 1;
        memcpy(r->content_range, data + i, m);
        r->content_range[m] = '\0';
    }
    return len;
}

/* {"error": {"code", "message"}} into the response, if the body holds it. */
static void parse_error(struct agent_http_response *r)
{
    if (r->body == NULL) {
        return;
    }
    json_t *root = json_loadb((const char *)r->body, r->len, 0, NULL);
    json_t *e = json_object_get(root, "error");
    const char *code = json_string_value(json_object_get(e, "code"));
    const char *msg = json_string_value(json_object_get(e, "message"));
    snprintf(r->error_code, sizeof r->error_code, "%s", code != NULL ? code : "");
    snprintf(r->error_message, sizeof r->error_message, "%s", msg != NULL ? msg : "");
    json_decref(root);
}

/* Add "Name: value" to a curl header list; 0 or -1. */
static int add_header(struct curl_slist **list, const char *name, const char *value)
{
    char line[NACRE_HTTPSIG_FIELD_MAX + 4096];
    int n = snprintf(line, sizeof line, "%s: %s", name, value);
    if (n < 0 || (size_t)n >= sizeof line) {
        return -1;
    }
    struct curl_slist *l = curl_slist_append(*list, line);
    if (l == NULL) {
        return -1;
    }
    *list = l;
    return 0;
}

/*
 * The five signature headers of docs/service-api.md. The signature base is
 * signed inside libpluton with the Alias key, the key the certificate names.
 */
static int sign_headers(struct nacre_agent *a, const struct agent_http_request *req,
                        struct curl_slist **list)
{
    struct nacre_httpsig_params params;
    char date[NACRE_HTTPSIG_DATE_CHARS + 1];
    char digest[NACRE_HTTPSIG_FIELD_MAX];
    char input[NACRE_HTTPSIG_FIELD_MAX];
    char sigfield[NACRE_HTTPSIG_FIELD_MAX];
    char base[NACRE_HTTPSIG_BASE_MAX];
    char client_cert[4096];
    uint8_t sig[NACRE_PLUTON_SIGNATURE_BYTES];
    size_t base_len = 0;
    uint64_t now = (uint64_t)time(NULL);

    if (a->cert_der == NULL || a->pluton == NULL) {
        return -1;
    }
    memset(&params, 0, sizeof params);
    params.created = now;
    memcpy(params.keyid, a->device_id, sizeof params.keyid);
    nacre_httpsig_nonce(params.nonce);
    if (nacre_httpsig_date_format(now, date) != 0 ||
        nacre_httpsig_content_digest(req->body != NULL ? req->body : "", req->body_len, digest,
                                     sizeof digest) != 0 ||
        nacre_httpsig_input_format(&params, input, sizeof input) != 0 ||
        nacre_httpsig_base(req->method, req->path, date, digest, &params, base, sizeof base,
                           &base_len) != 0 ||
        nacre_httpsig_client_cert_format(a->cert_der, a->cert_der_len, client_cert,
                                         sizeof client_cert) != 0) {
        return -1;
    }
    if (nacre_pluton_sign(a->pluton, NACRE_PLUTON_KEY_ALIAS, sig, base, base_len) !=
            NACRE_PLUTON_OK ||
        nacre_httpsig_signature_format(sig, sigfield, sizeof sigfield) != 0) {
        return -1;
    }
    if (add_header(list, "Date", date) != 0 || add_header(list, "Content-Digest", digest) != 0 ||
        add_header(list, "Client-Cert", client_cert) != 0 ||
        add_header(list, "Signature-Input", input) != 0 ||
        add_header(list, "Signature", sigfield) != 0) {
        return -1;
    }
    return 0;
}

/* One attempt. -1: could not even build the request (no memory, signing failed). */
static int attempt(struct nacre_agent *a, const struct agent_http_request *req,
                   struct agent_http_response *resp)
{
    char url[2048];
    struct curl_slist *headers = NULL;
    struct sink sink = {.resp = resp, .cap = 0, .max = req->max_response};
    CURL *c = a->curl;
    int n = snprintf(url, sizeof url, "%s%s", a->cfg.service_url, req->path);
    if (n < 0 || (size_t)n >= sizeof url) {
        return -1;
    }
    memset(resp, 0, sizeof *resp);
    curl_easy_reset(c);
    if (add_header(&headers, "Accept", "application/json") != 0 ||
        add_header(&headers, "Expect", "") != 0) {
        curl_slist_free_all(headers);
        return -1;
    }
    if (req->content_type != NULL && add_header(&headers, "Content-Type", req->content_type) != 0) {
        curl_slist_free_all(headers);
        return -1;
    }
    if (req->range != NULL && add_header(&headers, "Range", req->range) != 0) {
        curl_slist_free_all(headers);
        return -1;
    }
    if (req->sign && sign_headers(a, req, &headers) != 0) {
        curl_slist_free_all(headers);
        return -1;
    }
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    /* A device must know it talks to its own service: never skip TLS
     * verification; a private service CA is given with service_ca. */
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L);
    if (a->cfg.service_ca != NULL) {
        curl_easy_setopt(c, CURLOPT_CAINFO, a->cfg.service_ca);
    }
    curl_easy_setopt(c, CURLOPT_TIMEOUT, (long)a->cfg.timeout_seconds);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 5L);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, resp->transport);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &sink);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, resp);
    if (strcmp(req->method, "POST") == 0) {
        curl_easy_setopt(c, CURLOPT_POST, 1L);
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, req->body != NULL ? req->body : "");
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->body_len);
    } else if (strcmp(req->method, "GET") != 0) {
        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, req->method);
    }
    CURLcode cc = curl_easy_perform(c);
    curl_slist_free_all(headers);
    if (cc != CURLE_OK) {
        if (resp->transport[0] == '\0') {
            snprintf(resp->transport, sizeof resp->transport, "%s", curl_easy_strerror(cc));
        }
        if (resp->truncated) {
            snprintf(resp->transport, sizeof resp->transport, "answer larger than %zu bytes",
                     req->max_response);
        }
        resp->status = 0;
        return 0;
    }
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &resp->status);
    if (resp->status >= 400) {
        parse_error(resp);
    }
    return 0;
}

nacre_agent_status agent_http(struct nacre_agent *a, const struct agent_http_request *req,
                              struct agent_http_response *resp)
{
    unsigned attempts = a->cfg.max_attempts;
    uint64_t delay_ms = 1000; /* 1 s, doubling to the cap */
    uint64_t cap_ms = (uint64_t)a->cfg.backoff_cap_seconds * 1000u;
    for (unsigned i = 1;; i++) {
        if (attempt(a, req, resp) != 0) {
            agent_http_response_free(resp);
            snprintf(a->err, sizeof a->err, "%s %s: cannot build the request", req->method,
                     req->path);
            return NACRE_AGENT_ERR_NO_MEMORY;
        }
        if (resp->status != 0 && resp->status < 500) {
            return NACRE_AGENT_OK;
        }
        if (resp->truncated) {
            /* Asking again would get the same oversized answer. */
            snprintf(a->err, sizeof a->err, "%s %s: %.150s", req->method, req->path,
                     resp->transport);
            agent_http_response_free(resp);
            return NACRE_AGENT_ERR_PROTOCOL;
        }
        char why[300];
        if (resp->status == 0) {
            snprintf(why, sizeof why, "%s %s: %s", req->method, req->path, resp->transport);
        } else {
            snprintf(why, sizeof why, "%s %s: HTTP %ld %s", req->method, req->path, resp->status,
                     resp->error_code);
        }
        snprintf(a->err, sizeof a->err, "service unreachable: %.170s", why);
        agent_http_response_free(resp);
        if (i >= attempts) {
            return NACRE_AGENT_ERR_UNREACHABLE;
        }
        /*
         * Equal jitter: wait between half the delay and the whole of it, so
         * that a fleet cut off at the same moment does not come back in step.
         */
        uint64_t d = delay_ms < cap_ms ? delay_ms : cap_ms;
        uint64_t wait = d / 2 + randombytes_uniform((uint32_t)(d / 2 + 1));
        agent_progress(a, NACRE_AGENT_EV_BACKOFF, why, wait, i);
        if (agent_sleep_ms(a, wait)) {
            snprintf(a->err, sizeof a->err, "stopped");
            return NACRE_AGENT_ERR_STOPPED;
        }
        if (delay_ms < cap_ms) {
            delay_ms *= 2;
        }
    }
}
