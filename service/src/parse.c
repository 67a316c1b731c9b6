/*
 * parse.c - request parsing for nacre-service (pure functions; see parse.h).
 *
 * JSON goes through jansson with JSON_REJECT_DUPLICATES; strings holding a
 * NUL (\u0000) are refused, since the rest of the service (and SQLite's
 * text columns) would silently cut them.
 */
#include "parse.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <sodium.h>

#include <nacre/secmon.h>

static int fail(struct svc_perr *err, const char *code, const char *field)
{
    err->code = code;
    snprintf(err->field, sizeof err->field, "%s", field);
    return -1;
}

int svc_name_valid(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > SVC_NAME_MAX) {
        return 0;
    }
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        int alnum = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
        if (!alnum && (i == 0 || (c != '.' && c != '_' && c != '-'))) {
            return 0;
        }
    }
    return 1;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    return -1;
}

int svc_hex_decode(const char *hex, uint8_t *out, size_t n)
{
    if (strlen(hex) != 2 * n) {
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        int hi = hexval(hex[2 * i]);
        int lo = hexval(hex[2 * i + 1]);
        if (hi < 0 || lo < 0) {
            return -1;
        }
        out[i] = (uint8_t)(hi << 4 | lo);
    }
    return 0;
}

void svc_hex_encode(const uint8_t *in, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[in[i] >> 4];
        out[2 * i + 1] = digits[in[i] & 15];
    }
    out[2 * n] = '\0';
}

int svc_id_valid(const char *s)
{
    uint8_t b[32];
    return svc_hex_decode(s, b, sizeof b) == 0;
}

/* ---- JSON helpers ---- */

static json_t *load_object(const char *body, size_t len, struct svc_perr *err)
{
    json_error_t jerr;
    json_t *root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
    if (root == NULL || !json_is_object(root)) {
        json_decref(root);
        fail(err, "malformed_json", "body");
        return NULL;
    }
    return root;
}

/* A string field: 0 ok, 1 absent (if optional), -1 error. max counts bytes. */
static int get_string(json_t *obj, const char *key, int required, char *out, size_t max,
                      struct svc_perr *err)
{
    json_t *v = json_object_get(obj, key);
    out[0] = '\0';
    if (v == NULL || json_is_null(v)) {
        if (required) {
            return fail(err, "invalid_field", key);
        }
        return 1;
    }
    if (!json_is_string(v)) {
        return fail(err, "invalid_field", key);
    }
    size_t n = json_string_length(v);
    const char *s = json_string_value(v);
    if (n > max || memchr(s, '\0', n) != NULL) {
        return fail(err, "invalid_field", key);
    }
    memcpy(out, s, n);
    out[n] = '\0';
    return 0;
}

static int get_name(json_t *obj, const char *key, int required, char out[SVC_NAME_MAX + 1],
                    struct svc_perr *err)
{
    char tmp[SVC_TEXT_MAX + 1];
    int rc = get_string(obj, key, required, tmp, SVC_TEXT_MAX, err);
    if (rc != 0) {
        if (rc < 0 && strcmp(err->code, "invalid_field") == 0 &&
            json_is_string(json_object_get(obj, key))) {
            err->code = "invalid_name";
        }
        return rc;
    }
    if (!svc_name_valid(tmp)) {
        return fail(err, "invalid_name", key);
    }
    memcpy(out, tmp, strlen(tmp) + 1);
    return 0;
}

static int get_id(json_t *obj, const char *key, char out[65], struct svc_perr *err)
{
    if (get_string(obj, key, 1, out, 64, err) != 0 || !svc_id_valid(out)) {
        out[0] = '\0';
        return fail(err, "invalid_field", key);
    }
    return 0;
}

static int get_int(json_t *obj, const char *key, int required, int64_t min, int64_t max,
                   int64_t *out, struct svc_perr *err)
{
    json_t *v = json_object_get(obj, key);
    if (v == NULL || json_is_null(v)) {
        if (required) {
            return fail(err, "invalid_field", key);
        }
        return 1;
    }
    if (!json_is_integer(v)) {
        return fail(err, "invalid_field", key);
    }
    json_int_t i = json_integer_value(v);
    if (i < min || i > max) {
        return fail(err, "invalid_field", key);
    }
    *out = (int64_t)i;
    return 0;
}

/* ---- request bodies ---- */

int svc_parse_tenant(const char *body, size_t len, struct svc_req_tenant *out, struct svc_perr *err)
{
    memset(out, 0, sizeof *out);
    json_t *o = load_object(body, len, err);
    if (o == NULL) {
        return -1;
    }
    char hex[65];
    int rc = get_name(o, "name", 1, out->name, err);
    if (rc == 0 && (get_string(o, "root_public_key", 1, hex, 64, err) != 0 ||
                    svc_hex_decode(hex, out->root_pk, 32) != 0)) {
        rc = fail(err, "invalid_field", "root_public_key");
    }
    json_decref(o);
    return rc;
}

int svc_parse_token(const char *body, size_t len, struct svc_req_token *out, struct svc_perr *err)
{
    memset(out, 0, sizeof *out);
    json_t *o = load_object(body, len, err);
    if (o == NULL) {
        return -1;
    }
    int rc = get_string(o, "role", 1, out->role, sizeof out->role - 1, err);
    if (rc == 0 && strcmp(out->role, "admin") != 0 && strcmp(out->role, "read-only") != 0) {
        rc = fail(err, "invalid_field", "role");
    }
    if (rc == 0 && get_string(o, "label", 0, out->label, SVC_TEXT_MAX, err) < 0) {
        rc = -1;
    }
    json_decref(o);
    return rc;
}

int svc_parse_group(const char *body, size_t len, char name[SVC_NAME_MAX + 1], struct svc_perr *err)
{
    name[0] = '\0';
    json_t *o = load_object(body, len, err);
    if (o == NULL) {
        return -1;
    }
    int rc = get_name(o, "name", 1, name, err);
    json_decref(o);
    return rc;
}

int svc_parse_claim(const char *body, size_t len, struct svc_req_claim *out, struct svc_perr *err)
{
    memset(out, 0, sizeof *out);
    json_t *o = load_object(body, len, err);
    if (o == NULL) {
        return -1;
    }
    char hex[65];
    int rc = 0;
    if (get_string(o, "device_id_public_key", 1, hex, 64, err) != 0 ||
        svc_hex_decode(hex, out->pk, 32) != 0) {
        rc = fail(err, "invalid_field", "device_id_public_key");
    }
    if (rc == 0 && get_name(o, "group", 0, out->group, err) < 0) {
        rc = -1;
    }
    if (rc == 0 && get_string(o, "label", 0, out->label, SVC_TEXT_MAX, err) < 0) {
        rc = -1;
    }
    json_decref(o);
    return rc;
}

int svc_parse_device_put(const char *body, size_t len, char group[SVC_NAME_MAX + 1],
                         struct svc_perr *err)
{
    group[0] = '\0';
    json_t *o = load_object(body, len, err);
    if (o == NULL) {
        return -1;
    }
    int rc = get_name(o, "group", 1, group, err);
    json_decref(o);
    return rc;
}

int svc_parse_reason(const char *body, size_t len, char reason[SVC_TEXT_MAX + 1],
                     struct svc_perr *err)
{
    reason[0] = '\0';
    if (len == 0) {
        return 0;
    }
    json_t *o = load_object(body, len, err);
    if (o == NULL) {
        return -1;
    }
    int rc = get_string(o, "reason", 0, reason, SVC_TEXT_MAX, err) < 0 ? -1 : 0;
    json_decref(o);
    return rc;
}

int svc_parse_nonce(const char *body, size_t len, char device_id[65], struct svc_perr *err)
{
    device_id[0] = '\0';
    json_t *o = load_object(body, len, err);
    if (o == NULL) {
        return -1;
    }
    int rc = get_id(o, "device_id", device_id, err);
    json_decref(o);
    return rc;
}

int svc_parse_attest(const char *body, size_t len, struct svc_req_attest *out, struct svc_perr *err)
{
    memset(out->device_id, 0, sizeof out->device_id);
    out->evidence_len = 0;
    json_t *o = load_object(body, len, err);
    if (o == NULL) {
        return -1;
    }
    int rc = get_id(o, "device_id", out->device_id, err);
    json_t *ev = json_object_get(o, "evidence");
    if (rc == 0) {
        size_t bin_len = 0;
        if (!json_is_string(ev) || json_string_length(ev) == 0 ||
            json_string_length(ev) > 4 * ((SVC_EVIDENCE_MAX + 2) / 3) ||
            sodium_base642bin(out->evidence, sizeof out->evidence, json_string_value(ev),
                              json_string_length(ev), NULL, &bin_len, NULL,
                              sodium_base64_VARIANT_ORIGINAL) != 0 ||
            bin_len == 0) {
            rc = fail(err, "invalid_field", "evidence");
        } else {
            out->evidence_len = bin_len;
        }
    }
    json_decref(o);
    return rc;
}

int svc_parse_deployment(const char *body, size_t len, struct svc_req_deployment *out,
                         struct svc_perr *err)
{
    memset(out, 0, sizeof *out);
    json_t *o = load_object(body, len, err);
    if (o == NULL) {
        return -1;
    }
    int rc = get_name(o, "group", 1, out->group, err);
    if (rc == 0) {
        rc = get_id(o, "image_id", out->image_id, err);
    }
    if (rc == 0) {
        json_t *w = json_object_get(o, "waves");
        if (w == NULL || json_is_null(w)) {
            out->waves[0] = 100;
            out->nwaves = 1;
        } else if (!json_is_array(w) || json_array_size(w) == 0 ||
                   json_array_size(w) > SVC_WAVES_MAX) {
            rc = fail(err, "invalid_field", "waves");
        } else {
            for (size_t i = 0; i < json_array_size(w) && rc == 0; i++) {
                json_t *e = json_array_get(w, i);
                json_int_t p = json_is_integer(e) ? json_integer_value(e) : -1;
                if (p < 1 || p > 100 || (i > 0 && (unsigned)p <= out->waves[i - 1])) {
                    rc = fail(err, "invalid_field", "waves");
                } else {
                    out->waves[out->nwaves++] = (unsigned)p;
                }
            }
        }
    }
    if (rc == 0) {
        json_t *r = json_object_get(o, "max_failure_rate");
        if (r == NULL || json_is_null(r)) {
            out->max_failure_rate = 0.25;
        } else if (!json_is_number(r) || !(json_number_value(r) >= 0.0) ||
                   json_number_value(r) > 1.0) {
            rc = fail(err, "invalid_field", "max_failure_rate");
        } else {
            out->max_failure_rate = json_number_value(r);
        }
    }
    json_decref(o);
    return rc;
}

static const char *const install_results[] = {"installed", "confirmed", "refused", "reverted",
                                              "failed"};

const char *svc_install_result_name(enum svc_install_result r)
{
    return (unsigned)r < sizeof install_results / sizeof install_results[0] ? install_results[r]
                                                                            : "unknown";
}

int svc_parse_report(const char *body, size_t len, struct svc_req_report *out, struct svc_perr *err)
{
    memset(out, 0, sizeof *out);
    json_t *o = load_object(body, len, err);
    if (o == NULL) {
        return -1;
    }
    char result[16];
    int rc = get_int(o, "deployment_id", 1, 1, INT64_MAX, &out->deployment_id, err);
    if (rc == 0) {
        rc = get_id(o, "image_id", out->image_id, err);
    }
    if (rc == 0) {
        rc = get_string(o, "result", 1, result, sizeof result - 1, err);
    }
    if (rc == 0) {
        rc = fail(err, "invalid_field", "result");
        for (unsigned i = 0; i < sizeof install_results / sizeof install_results[0]; i++) {
            if (strcmp(result, install_results[i]) == 0) {
                out->result = (enum svc_install_result)i;
                rc = 0;
            }
        }
    }
    if (rc == 0 && get_string(o, "detail", 0, out->detail, SVC_TEXT_MAX, err) < 0) {
        rc = -1;
    }
    json_decref(o);
    return rc;
}

const char *svc_event_type_name(unsigned type)
{
    if (type < NACRE_SECMON_EVENT_REFUSED || type > NACRE_SECMON_EVENT_SANDBOX_DEGRADED) {
        return NULL;
    }
    return nacre_secmon_event_type_name(type);
}

unsigned svc_event_type_from_name(const char *name)
{
    for (unsigned t = NACRE_SECMON_EVENT_REFUSED; t <= NACRE_SECMON_EVENT_SANDBOX_DEGRADED; t++) {
        if (strcmp(name, nacre_secmon_event_type_name(t)) == 0) {
            return t;
        }
    }
    return 0;
}

int svc_parse_events(const char *body, size_t len, struct svc_event *out, size_t *n,
                     struct svc_perr *err)
{
    *n = 0;
    json_t *o = load_object(body, len, err);
    if (o == NULL) {
        return -1;
    }
    json_t *arr = json_object_get(o, "events");
    int rc = 0;
    if (!json_is_array(arr) || json_array_size(arr) > SVC_EVENTS_MAX) {
        rc = fail(err, "invalid_field", "events");
    }
    for (size_t i = 0; rc == 0 && i < json_array_size(arr); i++) {
        json_t *e = json_array_get(arr, i);
        struct svc_event *ev = &out[i];
        memset(ev, 0, sizeof *ev);
        char type[24];
        int64_t addr = 0;
        if (!json_is_object(e)) {
            rc = fail(err, "invalid_field", "events");
        } else if (get_int(e, "seq", 1, 0, INT64_MAX, &ev->seq, err) != 0 ||
                   get_int(e, "time", 1, 0, INT64_MAX, &ev->time, err) != 0 ||
                   get_string(e, "type", 1, type, sizeof type - 1, err) != 0) {
            rc = -1;
        } else if ((ev->type = svc_event_type_from_name(type)) == 0) {
            rc = fail(err, "invalid_field", "type");
        } else if (get_string(e, "app", 0, ev->app, 16, err) < 0) {
            rc = -1;
        } else if (ev->app[0] != '\0' && (strlen(ev->app) != 16 ||
                                          strspn(ev->app, "0123456789abcdef") != 16)) {
            rc = fail(err, "invalid_field", "app");
        } else if (get_int(e, "code", 0, INT32_MIN, UINT32_MAX, &ev->code, err) < 0 ||
                   get_int(e, "addr", 0, 0, INT64_MAX, &addr, err) < 0 ||
                   get_string(e, "detail", 0, ev->detail, SVC_EVENT_DETAIL_MAX, err) < 0) {
            rc = -1;
        } else {
            ev->addr = (uint64_t)addr;
            (*n)++;
        }
    }
    if (rc != 0) {
        *n = 0;
    }
    json_decref(o);
    return rc;
}

/* ---- Range ---- */

static int parse_u64(const char *s, size_t n, uint64_t *out)
{
    if (n == 0 || n > 19) {
        return -1;
    }
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') {
            return -1;
        }
        v = v * 10u + (uint64_t)(s[i] - '0');
    }
    *out = v;
    return 0;
}

int svc_range_parse(const char *value, uint64_t size, uint64_t *first, uint64_t *last)
{
    static const char prefix[] = "bytes=";
    if (strncmp(value, prefix, sizeof prefix - 1) != 0) {
        return -1;
    }
    const char *spec = value + sizeof prefix - 1;
    const char *dash = strchr(spec, '-');
    if (dash == NULL || strchr(spec, ',') != NULL) {
        return -1; /* no dash, or a multi-range request: serve the whole image */
    }
    size_t a_len = (size_t)(dash - spec);
    size_t b_len = strlen(dash + 1);
    uint64_t a = 0;
    uint64_t b = 0;
    if (a_len == 0) {
        /* suffix: the last b bytes */
        if (parse_u64(dash + 1, b_len, &b) != 0) {
            return -1;
        }
        if (b == 0 || size == 0) {
            return 1;
        }
        *first = b >= size ? 0 : size - b;
        *last = size - 1;
        return 0;
    }
    if (parse_u64(spec, a_len, &a) != 0) {
        return -1;
    }
    if (b_len == 0) {
        b = UINT64_MAX;
    } else if (parse_u64(dash + 1, b_len, &b) != 0 || b < a) {
        return -1;
    }
    if (a >= size) {
        return 1;
    }
    *first = a;
    *last = b >= size ? size - 1 : b;
    return 0;
}

int svc_parse_signed_fields(const char *date, const char *content_digest,
                            const char *signature_input, const char *signature,
                            struct svc_signed_headers *out)
{
    out->cert_len = 0;
    if (date == NULL || content_digest == NULL || signature_input == NULL || signature == NULL ||
        nacre_httpsig_input_parse(signature_input, &out->params) != 0 ||
        nacre_httpsig_signature_parse(signature, out->signature) != 0 ||
        nacre_httpsig_date_parse(date, &out->date) != 0) {
        return -1;
    }
    return 0;
}

int svc_parse_client_cert(const char *client_cert, struct svc_signed_headers *out)
{
    out->cert_len = 0;
    if (client_cert == NULL ||
        nacre_httpsig_client_cert_parse(client_cert, out->cert, sizeof out->cert,
                                        &out->cert_len) != 0 ||
        out->cert_len == 0) {
        out->cert_len = 0;
        return -1;
    }
    return 0;
}

int svc_parse_signed_headers(const char *date, const char *content_digest, const char *client_cert,
                             const char *signature_input, const char *signature,
                             struct svc_signed_headers *out)
{
    if (client_cert == NULL ||
        svc_parse_signed_fields(date, content_digest, signature_input, signature, out) != 0 ||
        svc_parse_client_cert(client_cert, out) != 0) {
        out->cert_len = 0;
        return -1;
    }
    return 0;
}

/* ---- the nonce claim of attestation evidence ---- */

struct cbor_in {
    const uint8_t *p;
    const uint8_t *end;
};

/* One head: major type and argument. Indefinite lengths are refused. */
static int cbor_head(struct cbor_in *in, unsigned *major, uint64_t *arg)
{
    if (in->p >= in->end) {
        return -1;
    }
    uint8_t ib = *in->p++;
    unsigned ai = ib & 0x1fu;
    *major = ib >> 5;
    if (ai < 24) {
        *arg = ai;
        return 0;
    }
    if (ai > 27) {
        return -1;
    }
    size_t n = (size_t)1 << (ai - 24);
    if ((size_t)(in->end - in->p) < n) {
        return -1;
    }
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        v = (v << 8) | *in->p++;
    }
    *arg = v;
    return 0;
}

static int cbor_skip(struct cbor_in *in, unsigned depth)
{
    unsigned major;
    uint64_t arg;
    if (depth > 16 || cbor_head(in, &major, &arg) != 0) {
        return -1;
    }
    switch (major) {
    case 2:
    case 3:
        if (arg > (uint64_t)(in->end - in->p)) {
            return -1;
        }
        in->p += arg;
        return 0;
    case 4:
    case 5:
        /* every item is at least one byte: a count beyond the input is bad */
        if (arg > (uint64_t)(in->end - in->p)) {
            return -1;
        }
        for (uint64_t i = 0; i < (major == 5 ? 2 * arg : arg); i++) {
            if (cbor_skip(in, depth + 1) != 0) {
                return -1;
            }
        }
        return 0;
    case 6:
        return cbor_skip(in, depth + 1);
    default:
        return 0; /* integers, simple values, floats: the head was all */
    }
}

int svc_evidence_nonce(const uint8_t *evidence, size_t len, uint8_t *nonce, size_t nonce_max,
                       size_t *nonce_len)
{
    struct cbor_in in = {evidence, evidence + len};
    unsigned major;
    uint64_t arg;
    *nonce_len = 0;
    /* [alias certificate, token] */
    if (cbor_head(&in, &major, &arg) != 0 || major != 4 || arg != 2 || cbor_skip(&in, 0) != 0 ||
        cbor_head(&in, &major, &arg) != 0) {
        return -1;
    }
    if (major == 6) { /* the COSE_Sign1 tag */
        if (cbor_head(&in, &major, &arg) != 0) {
            return -1;
        }
    }
    /* COSE_Sign1: [protected, unprotected, payload, signature] */
    if (major != 4 || arg != 4 || cbor_skip(&in, 0) != 0 || cbor_skip(&in, 0) != 0 ||
        cbor_head(&in, &major, &arg) != 0 || major != 2 || arg > (uint64_t)(in.end - in.p)) {
        return -1;
    }
    struct cbor_in claims = {in.p, in.p + arg};
    uint64_t pairs;
    if (cbor_head(&claims, &major, &pairs) != 0 || major != 5) {
        return -1;
    }
    for (uint64_t i = 0; i < pairs; i++) {
        if (cbor_head(&claims, &major, &arg) != 0) {
            return -1;
        }
        if (major == 0 && arg == 10) { /* EAT nonce */
            if (cbor_head(&claims, &major, &arg) != 0 || major != 2 || arg == 0 || arg > nonce_max ||
                arg > (uint64_t)(claims.end - claims.p)) {
                return -1;
            }
            memcpy(nonce, claims.p, (size_t)arg);
            *nonce_len = (size_t)arg;
            return 0;
        }
        if ((major != 0 && major != 1) || cbor_skip(&claims, 0) != 0) {
            return -1;
        }
    }
    return -1;
}
