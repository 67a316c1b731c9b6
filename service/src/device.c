/*
 * device.c - the device API: attestation nonces and certificates, the
 * signed-request check (RFC 9421 / 9440 / 9530 via libnacre-httpsig), update
 * checks, image downloads with Range, install reports and event uploads.
 */
#include "service.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <microhttpd.h>
#include <sodium.h>

#include <nacre/attest.h>
#include <nacre/ca.h>
#include <nacre/httpsig.h>
#include <nacre/secmon.h>

int api_image_path(int64_t tenant_id, const char *image_id, char *out, size_t max);


/* ---- nonce ---- */

static void nonce(struct svc_req *r, struct store *st)
{
    char id[65];
    struct svc_perr perr;
    if (svc_parse_nonce(r->body, r->len, id, &perr) != 0) {
        svc_reply_parse_error(r, &perr);
        return;
    }
    struct st_device d;
    enum store_status s = store_device_get(st, id, &d);
    if (s != STORE_OK) {
        if (s == STORE_NOT_FOUND) {
            svc_error(r, 404, "not_found", NULL, "device %s is not claimed", id);
        } else {
            svc_internal(r);
        }
        return;
    }
    uint64_t now = svc_now();
    struct svc_nonce n;
    randombytes_buf(n.nonce, sizeof n.nonce);
    n.expires = (int64_t)(now + SVC_NONCE_TTL);
    n.used = 0;
    uint8_t key[32];
    svc_hex_decode(id, key, sizeof key);
    /* One outstanding nonce per device: a new one replaces the last. */
    if (memtab_put(svc.nonces, key, &n, now) != 0) {
        svc_internal(r);
        return;
    }
    char hex[65];
    svc_hex_encode(n.nonce, 32, hex);
    svc_reply(r, 200, json_pack("{s:s, s:I}", "nonce", hex, "expires_at", (json_int_t)n.expires));
}

/* ---- attest ---- */

struct refs_ctx {
    struct nacre_attest_ref refs[64];
    size_t n;
};

static int ref_row(void *ctx, const struct st_image *im)
{
    struct refs_ctx *c = ctx;
    if (c->n == sizeof c->refs / sizeof c->refs[0]) {
        return 1;
    }
    struct nacre_attest_ref *ref = &c->refs[c->n++];
    memset(ref, 0, sizeof *ref);
    size_t nl = strnlen(im->name, sizeof ref->name - 1);
    size_t vl = strnlen(im->version, sizeof ref->version - 1);
    memcpy(ref->name, im->name, nl);
    memcpy(ref->version, im->version, vl);
    memcpy(ref->measurement, im->measurement, 32);
    memcpy(ref->signer_id, im->signer_id, 32);
    ref->security_counter = im->security_counter;
    return 0;
}

/*
 * Failures that prove nothing about the device: anyone can post garbage for
 * a known device id, and anyone who saw evidence go by can replay it. Only
 * evidence that the device signed for this very nonce (none of these bits)
 * and that still fails makes the device attestation_failed.
 */
#define FORGERY_FAILURES                                                                          \
    (NACRE_ATTEST_FAIL_FORMAT | NACRE_ATTEST_FAIL_ALGORITHM | NACRE_ATTEST_FAIL_UNKNOWN_DEVICE |  \
     NACRE_ATTEST_FAIL_CHAIN | NACRE_ATTEST_FAIL_SIGNATURE | NACRE_ATTEST_FAIL_BINDING |          \
     NACRE_ATTEST_FAIL_NONCE | NACRE_ATTEST_FAIL_NONCE_REUSED | NACRE_ATTEST_FAIL_NONCE_EXPIRED)

static void attest(struct svc_req *r, struct store *st)
{
    struct svc_req_attest *req = malloc(sizeof *req);
    struct nacre_attest_result *res = malloc(sizeof *res);
    struct refs_ctx *refs = malloc(sizeof *refs);
    if (req == NULL || res == NULL || refs == NULL) {
        svc_internal(r);
        goto out;
    }
    struct svc_perr perr;
    if (svc_parse_attest(r->body, r->len, req, &perr) != 0) {
        svc_reply_parse_error(r, &perr);
        goto out;
    }
    struct st_device d;
    enum store_status s = store_device_get(st, req->device_id, &d);
    if (s != STORE_OK) {
        if (s == STORE_NOT_FOUND) {
            svc_error(r, 404, "not_found", NULL, "device %s is not claimed", req->device_id);
        } else {
            svc_internal(r);
        }
        goto out;
    }
    if (d.quarantined) {
        svc_error(r, 403, "quarantined", NULL, "device %s is quarantined", d.device_id);
        goto out;
    }
    uint64_t now = svc_now();
    /* Consume the device's nonce (single use) and hand it to libattest. */
    uint8_t key[32];
    svc_hex_decode(d.device_id, key, sizeof key);
    struct svc_nonce n;
    uint32_t nonce_fail = 0;
    if (!memtab_get(svc.nonces, key, &n, now)) {
        randombytes_buf(n.nonce, sizeof n.nonce); /* matches nothing: "nonce" failure */
        nonce_fail = NACRE_ATTEST_FAIL_NONCE;
    } else {
        if (n.used) {
            nonce_fail = NACRE_ATTEST_FAIL_NONCE_REUSED;
        } else if ((int64_t)now > n.expires) {
            nonce_fail = NACRE_ATTEST_FAIL_NONCE_EXPIRED;
        }
        struct svc_nonce used = n;
        used.used = 1;
        memtab_put(svc.nonces, key, &used, now);
    }
    refs->n = 0;
    if (d.group[0] != '\0' && store_group_images(st, d.tenant_id, d.group, ref_row, refs) !=
                                  STORE_OK) {
        svc_internal(r);
        goto out;
    }
    if (refs->n == 0) {
        /* Nothing deployed to its group: no reference value can match. */
        memset(&refs->refs[0], 0, sizeof refs->refs[0]);
        refs->n = 1;
    }
    struct nacre_attest_policy policy = {
        .device_id_pk = d.pk,
        .nonce = n.nonce,
        .nonce_len = sizeof n.nonce,
        .nonce_store = NULL,
        .now = now,
        .refs = refs->refs,
        .ref_count = refs->n,
        .min_security_counter = 0,
        .require_secured = 0,
    };
    nacre_attest_status as = nacre_attest_verify(req->evidence, req->evidence_len, &policy, res);
    uint32_t failures = as == NACRE_ATTEST_OK ? 0 : res->failures;
    if (as != NACRE_ATTEST_OK && failures == 0) {
        failures = NACRE_ATTEST_FAIL_FORMAT;
    }
    if (nonce_fail != 0) {
        failures = (failures & ~(uint32_t)NACRE_ATTEST_FAIL_NONCE) | nonce_fail;
    }
    if (failures != 0) {
        json_t *names = json_array();
        for (unsigned b = 0; b < 32; b++) {
            if (failures & (1u << b)) {
                json_array_append_new(names, json_string(nacre_attest_failure_name(1u << b)));
            }
        }
        /* Only evidence that really comes from this device changes its state:
         * anyone can post garbage for a known device id. */
        if ((failures & FORGERY_FAILURES) == 0) {
            char detail[128];
            snprintf(detail, sizeof detail, "evidence failed verification (%s)",
                     nacre_attest_failure_name(failures & (~failures + 1u)));
            store_device_attest_failed(st, d.device_id, (int64_t)now);
            threat_raise(st, d.tenant_id, d.device_id, "attestation_mismatch", detail);
            rollout_mark_bad(st, &d, 0);
        }
        svc_error(r, 403, "attestation_failed", json_pack("{s:o}", "failures", names),
                  "the evidence failed verification");
        goto out;
    }
    const struct svc_tenant_ca *ca = svc_tenant_ca(d.tenant_id);
    char pem[NACRE_CA_PEM_MAX];
    uint8_t der[NACRE_CA_CERT_MAX];
    size_t der_len = 0;
    if (ca == NULL || nacre_ca_issuer_issue(ca->issuer, res->alias_pk, d.device_id, now, pem,
                                            sizeof pem, NULL, der, sizeof der, &der_len) !=
                          NACRE_CA_OK) {
        svc_internal(r);
        goto out;
    }
    uint8_t hash[32];
    crypto_hash_sha256(hash, der, der_len);
    int64_t expires = (int64_t)(now + NACRE_CA_DEVICE_CERT_SECONDS);
    const char *version = res->claims.component_count > 0 ? res->claims.components[0].version : "";
    /* Storing the new certificate's hash revokes every earlier one. */
    if (store_device_attested(st, d.device_id, version, hash, expires, (int64_t)now) != STORE_OK) {
        svc_internal(r);
        goto out;
    }
    struct svc_cert c;
    memset(&c, 0, sizeof c);
    c.tenant_id = d.tenant_id;
    c.not_before = (int64_t)(now - NACRE_CA_CLOCK_SKEW_SECONDS);
    c.not_after = expires;
    memcpy(c.device_id, d.device_id, 65);
    memcpy(c.pk, res->alias_pk, 32);
    memtab_put(svc.certs, hash, &c, now);
    svc_reply(r, 200, json_pack("{s:s, s:s, s:I}", "certificate", pem, "ca_certificate",
                                ca->ca_pem, "expires_at", (json_int_t)expires));
out:
    if (req != NULL) {
        sodium_memzero(req, sizeof *req);
    }
    free(req);
    free(res);
    free(refs);
}

/* ---- signed requests ---- */

static int fail401(struct svc_req *r, const char *code, const char *msg)
{
    svc_error(r, 401, code, NULL, "%s", msg);
    return -1;
}

static int64_t absdiff(int64_t a, int64_t b)
{
    return a > b ? a - b : b - a;
}

/* Check the signed request; on success *d is the device that sent it. */
static int authenticate_device(struct svc_req *r, struct store *st, struct st_device *d)
{
    const char *date = svc_header(r, "Date");
    const char *digest = svc_header(r, "Content-Digest");
    struct svc_signed_headers *h = &r->sig;
    if (svc_parse_signed_headers(date, digest, svc_header(r, "Client-Cert"),
                                 svc_header(r, "Signature-Input"), svc_header(r, "Signature"),
                                 h) != 0) {
        return fail401(r, "bad_signature",
                       "Date, Content-Digest, Client-Cert, Signature-Input and Signature are"
                       " required and must be well formed");
    }
    const struct nacre_httpsig_params *params = &h->params;
    const uint8_t *cert = h->cert;
    size_t cert_len = h->cert_len;
    if (svc_has_query(r)) {
        return fail401(r, "bad_signature", "device requests take no query string");
    }
    char want[NACRE_HTTPSIG_FIELD_MAX];
    if (nacre_httpsig_content_digest(r->body, r->len, want, sizeof want) != 0 ||
        strcmp(want, digest) != 0) {
        return fail401(r, "bad_signature", "the body does not match Content-Digest");
    }
    uint64_t now = svc_now();
    uint8_t hash[32];
    crypto_hash_sha256(hash, cert, cert_len);
    struct svc_cert c;
    if (!memtab_get(svc.certs, hash, &c, now)) {
        /* Not seen yet: the full X.509 check against the CA of the device's tenant. */
        struct nacre_ca_cert_info info;
        if (nacre_ca_cert_info(cert, cert_len, &info) != NACRE_CA_OK ||
            !svc_id_valid(info.subject_cn)) {
            return fail401(r, "bad_certificate", "not a Nacre device certificate");
        }
        struct st_device owner;
        enum store_status s = store_device_get(st, info.subject_cn, &owner);
        if (s == STORE_ERROR) {
            svc_internal(r);
            return -1;
        }
        const struct svc_tenant_ca *ca = s == STORE_OK ? svc_tenant_ca(owner.tenant_id) : NULL;
        if (ca == NULL) {
            return fail401(r, "bad_certificate", "the certificate's device is not claimed");
        }
        memset(&c, 0, sizeof c);
        nacre_ca_status cs = nacre_ca_check(ca->ca_der, ca->ca_der_len, cert, cert_len, now, c.pk,
                                            c.device_id);
        if (cs == NACRE_CA_ERR_EXPIRED || cs == NACRE_CA_ERR_NOT_YET_VALID) {
            return fail401(r, "certificate_expired", "the certificate has expired");
        }
        if (cs != NACRE_CA_OK || strcmp(c.device_id, owner.device_id) != 0) {
            return fail401(r, "bad_certificate",
                           "not a device certificate of the tenant that claimed the device");
        }
        c.tenant_id = owner.tenant_id;
        c.not_before = (int64_t)info.not_before;
        c.not_after = (int64_t)info.not_after;
        memtab_put(svc.certs, hash, &c, now);
    }
    if ((int64_t)now > c.not_after || (int64_t)now < c.not_before) {
        return fail401(r, "certificate_expired", "the certificate has expired");
    }
    enum store_status s = store_device_get(st, c.device_id, d);
    if (s == STORE_ERROR) {
        svc_internal(r);
        return -1;
    }
    if (s != STORE_OK || d->tenant_id != c.tenant_id) {
        return fail401(r, "bad_certificate", "the certificate's device is not claimed");
    }
    if (!d->quarantined && (!d->has_cert || sodium_memcmp(d->cert_hash, hash, 32) != 0)) {
        return fail401(r, "certificate_revoked", "the certificate has been revoked");
    }
    if (strcmp(params->keyid, c.device_id) != 0) {
        return fail401(r, "bad_signature", "keyid is not the certificate's device id");
    }
    if (absdiff((int64_t)params->created, (int64_t)now) > SVC_SKEW_SECONDS ||
        absdiff((int64_t)h->date, (int64_t)now) > SVC_SKEW_SECONDS ||
        params->created < svc.started_at) {
        return fail401(r, "stale_request", "created or Date is too far from the service's clock");
    }
    if (nacre_httpsig_verify(r->method, r->path, date, digest, params, h->signature, c.pk) != 0) {
        return fail401(r, "bad_signature", "the signature does not verify");
    }
    uint8_t rkey[32];
    crypto_generichash_state gs;
    crypto_generichash_init(&gs, NULL, 0, sizeof rkey);
    crypto_generichash_update(&gs, (const uint8_t *)params->keyid, strlen(params->keyid));
    crypto_generichash_update(&gs, (const uint8_t *)"/", 1);
    crypto_generichash_update(&gs, (const uint8_t *)params->nonce, strlen(params->nonce));
    crypto_generichash_final(&gs, rkey, sizeof rkey);
    int added = memtab_add(svc.replay, rkey, NULL, now);
    if (added < 0) {
        svc_internal(r);
        return -1;
    }
    if (added == 0) {
        return fail401(r, "replayed", "this request was already received");
    }
    if (d->quarantined) {
        svc_error(r, 403, "quarantined", NULL, "the device is quarantined");
        return -1;
    }
    svc_touch(d->device_id, (int64_t)now);
    return 0;
}

/* ---- update check and download ---- */

/* The deployment offering an update to d now (0), or 1 if none. */
static int offered_update(struct store *st, const struct st_device *d, struct st_deployment *dep,
                          struct st_offer *offer)
{
    if (rollout_current_offer(st, d, dep, offer) != 0) {
        return 1;
    }
    if (strcmp(dep->state, "rolling") != 0 && strcmp(dep->state, "done") != 0) {
        return 1; /* halted: offers nothing until resumed */
    }
    return 0;
}

static void update_check(struct svc_req *r, struct store *st, const struct st_device *d)
{
    struct st_deployment dep;
    struct st_offer offer;
    memset(&dep, 0, sizeof dep);
    memset(&offer, 0, sizeof offer);
    int offered = offered_update(st, d, &dep, &offer) == 0 && strcmp(offer.status, "offered") == 0;
    if (!offered) {
        svc_reply(r, 200, json_pack("{s:n}", "update"));
        return;
    }
    struct st_image im;
    if (store_image_get(st, d->tenant_id, dep.image_id, &im) != STORE_OK) {
        svc_internal(r);
        return;
    }
    char url[128];
    snprintf(url, sizeof url, "/v1/device/images/%s", im.image_id);
    svc_reply(r, 200, json_pack("{s:{s:I, s:s, s:s, s:I, s:s}}", "update", "deployment_id",
                                (json_int_t)dep.id, "image_id", im.image_id, "version",
                                im.version, "size", (json_int_t)im.size, "url", url));
}

static void download(struct svc_req *r, struct store *st, const struct st_device *d,
                     const char *image_id)
{
    struct st_deployment dep;
    struct st_offer offer;
    struct st_image im;
    if (!svc_id_valid(image_id) || offered_update(st, d, &dep, &offer) != 0 ||
        strcmp(dep.image_id, image_id) != 0 ||
        store_image_get(st, d->tenant_id, image_id, &im) != STORE_OK) {
        svc_error(r, 404, "not_found", NULL, "no such image for this device");
        return;
    }
    char path[4096];
    int fd = -1;
    struct stat sb;
    if (api_image_path(d->tenant_id, image_id, path, sizeof path) != 0 ||
        (fd = open(path, O_RDONLY | O_CLOEXEC)) < 0 || fstat(fd, &sb) != 0) {
        if (fd >= 0) {
            close(fd);
        }
        svc_internal(r);
        return;
    }
    uint64_t size = (uint64_t)sb.st_size;
    uint64_t first = 0;
    uint64_t last = size > 0 ? size - 1 : 0;
    unsigned status = 200;
    const char *range = svc_header(r, "Range");
    if (range != NULL) {
        int rc = svc_range_parse(range, size, &first, &last);
        if (rc == 1) {
            close(fd);
            char cr[64];
            snprintf(cr, sizeof cr, "bytes */%" PRIu64, size);
            svc_error(r, 416, "range_not_satisfiable", NULL, "the image has %" PRIu64 " bytes",
                      size);
            if (r->resp != NULL) {
                MHD_add_response_header(r->resp, "Content-Range", cr);
            }
            return;
        }
        if (rc == 0) {
            status = 206;
        } else {
            first = 0;
        }
    }
    uint64_t len = size == 0 ? 0 : last - first + 1;
    r->resp = MHD_create_response_from_fd_at_offset64(len, fd, first);
    if (r->resp == NULL) {
        close(fd);
        svc_internal(r);
        return;
    }
    MHD_add_response_header(r->resp, "Content-Type", "application/octet-stream");
    MHD_add_response_header(r->resp, "Accept-Ranges", "bytes");
    MHD_add_response_header(r->resp, "Content-Security-Policy", "default-src 'self'");
    if (status == 206) {
        char cr[96];
        snprintf(cr, sizeof cr, "bytes %" PRIu64 "-%" PRIu64 "/%" PRIu64, first, last, size);
        MHD_add_response_header(r->resp, "Content-Range", cr);
    }
    r->status = status;
}

static int mentions_downgrade(const char *s)
{
    static const char *const words[] = {"downgrade", "rollback", "roll back", "older"};
    for (size_t i = 0; i < sizeof words / sizeof words[0]; i++) {
        size_t wl = strlen(words[i]);
        for (const char *p = s; *p != '\0'; p++) {
            if (strncasecmp(p, words[i], wl) == 0) {
                return 1;
            }
        }
    }
    return 0;
}

static void install_report(struct svc_req *r, struct store *st, const struct st_device *d)
{
    struct svc_req_report req;
    struct svc_perr perr;
    if (svc_parse_report(r->body, r->len, &req, &perr) != 0) {
        svc_reply_parse_error(r, &perr);
        return;
    }
    struct st_deployment dep;
    struct st_offer offer;
    pthread_mutex_lock(&svc.rollout_lock);
    enum store_status s = store_deployment_get(st, d->tenant_id, req.deployment_id, &dep);
    if (s == STORE_OK && strcmp(dep.image_id, req.image_id) != 0) {
        s = STORE_NOT_FOUND;
    }
    if (s == STORE_OK) {
        s = store_offer_get(st, dep.id, d->device_id, &offer);
    }
    if (s == STORE_OK) {
        const char *result = svc_install_result_name(req.result);
        snprintf(offer.status, sizeof offer.status, "%s", result);
        if (req.result == SVC_FAILED || req.result == SVC_REFUSED || req.result == SVC_REVERTED) {
            offer.bad = 1;
        }
        s = store_offer_update(st, dep.id, d->device_id, &offer);
        if (s == STORE_OK) {
            s = store_device_set_update(st, d->device_id, dep.id, result, dep.version);
        }
        if (s == STORE_OK && strcmp(dep.state, "rolling") == 0) {
            rollout_evaluate(st, d->tenant_id, dep.id);
        }
    }
    pthread_mutex_unlock(&svc.rollout_lock);
    if (s == STORE_NOT_FOUND) {
        svc_error(r, 404, "not_found", NULL, "no such deployment offered to this device");
        return;
    }
    if (s != STORE_OK) {
        svc_internal(r);
        return;
    }
    if (req.result == SVC_REFUSED) {
        char detail[SVC_TEXT_MAX + 64];
        snprintf(detail, sizeof detail, "install of %s refused: %s", dep.version, req.detail);
        threat_raise(st, d->tenant_id, d->device_id, "image_refused", detail);
        if (mentions_downgrade(req.detail)) {
            threat_raise(st, d->tenant_id, d->device_id, "rollback_attempt", detail);
        }
    }
    svc_reply(r, 200, json_object());
}

/* ---- events ---- */

static void event_threats(struct store *st, const struct st_device *d, const struct svc_event *e)
{
    char detail[SVC_EVENT_DETAIL_MAX + 64];
    int64_t count = 0;
    switch (e->type) {
    case NACRE_SECMON_EVENT_ROLLBACK:
        snprintf(detail, sizeof detail, "rollback event %" PRId64 ": %s", e->seq, e->detail);
        threat_raise(st, d->tenant_id, d->device_id, "rollback_attempt", detail);
        break;
    case NACRE_SECMON_EVENT_VERIFY_FAILED:
        snprintf(detail, sizeof detail, "verify_failed event %" PRId64 ": %s", e->seq, e->detail);
        threat_raise(st, d->tenant_id, d->device_id, "image_refused", detail);
        break;
    case NACRE_SECMON_EVENT_CONNECTION_DENIED:
        snprintf(detail, sizeof detail, "connection denied: %s", e->detail);
        threat_raise(st, d->tenant_id, d->device_id, "connection_outside_manifest", detail);
        break;
    case NACRE_SECMON_EVENT_REFUSED:
        if (store_event_count(st, d->device_id, NACRE_SECMON_EVENT_REFUSED, 0, INT64_MAX, &count) ==
                STORE_OK &&
            count >= 3) {
            snprintf(detail, sizeof detail, "%" PRId64 " refused requests", count);
            threat_raise(st, d->tenant_id, d->device_id, "capability_violations", detail);
        }
        break;
    case NACRE_SECMON_EVENT_APP_CRASH: {
        /* 3 crashes within any 600 s window (device time) that holds this one. */
        int64_t lo = e->time >= 600 ? e->time - 600 : 0;
        for (int64_t start = lo; start <= e->time; start += 60) {
            if (store_event_count(st, d->device_id, NACRE_SECMON_EVENT_APP_CRASH, start,
                                  start + 600, &count) == STORE_OK &&
                count >= 3) {
                snprintf(detail, sizeof detail, "%" PRId64 " app crashes within 600 s", count);
                threat_raise(st, d->tenant_id, d->device_id, "crash_loop", detail);
                break;
            }
        }
        rollout_mark_bad(st, d, 1);
        break;
    }
    default:
        break;
    }
}

static void events_upload(struct svc_req *r, struct store *st, const struct st_device *d)
{
    struct svc_event *evs = malloc(SVC_EVENTS_MAX * sizeof *evs);
    int *inserted = calloc(SVC_EVENTS_MAX, sizeof *inserted);
    size_t n = 0;
    struct svc_perr perr;
    if (evs == NULL || inserted == NULL) {
        svc_internal(r);
    } else if (svc_parse_events(r->body, r->len, evs, &n, &perr) != 0) {
        if (strcmp(perr.field, "events") == 0 && strcmp(perr.code, "invalid_field") == 0) {
            svc_error(r, 400, "invalid_field", NULL, "invalid field: events (at most %u)",
                      SVC_EVENTS_MAX);
        } else {
            svc_reply_parse_error(r, &perr);
        }
    } else {
        int64_t accepted = 0;
        int64_t last_seq = -1;
        if (store_events_insert(st, d->tenant_id, d->device_id, d->version, evs, n,
                                (int64_t)svc_now(), inserted, &accepted, &last_seq) != STORE_OK) {
            svc_internal(r); /* nothing acknowledged: the device sends them again */
        } else {
            for (size_t i = 0; i < n; i++) {
                if (inserted[i]) {
                    event_threats(st, d, &evs[i]);
                }
            }
            svc_reply(r, 200, json_pack("{s:I, s:o}", "accepted", (json_int_t)accepted,
                                        "last_seq", last_seq >= 0 ? json_integer(last_seq)
                                                                  : json_null()));
        }
    }
    free(evs);
    free(inserted);
}

void api_device(struct svc_req *r, char **segs, size_t n)
{
    struct store *st = svc_store();
    if (st == NULL) {
        svc_internal(r);
        return;
    }
    const char *what = n >= 1 ? segs[0] : "";
    int post = strcmp(r->method, "POST") == 0;
    int get = strcmp(r->method, "GET") == 0 || strcmp(r->method, "HEAD") == 0;
    int known_post = n == 1 && (strcmp(what, "nonce") == 0 || strcmp(what, "attest") == 0 ||
                                strcmp(what, "install-report") == 0 ||
                                strcmp(what, "events") == 0);
    int known_get = (n == 1 && strcmp(what, "update") == 0) ||
                    (n == 2 && strcmp(what, "images") == 0);
    if (!known_post && !known_get) {
        svc_error(r, 404, "not_found", NULL, "no such resource");
        return;
    }
    if ((known_post && !post) || (known_get && !get)) {
        svc_error(r, 405, "method_not_allowed", NULL, "method %s not allowed here", r->method);
        return;
    }
    if (strcmp(what, "nonce") == 0) {
        nonce(r, st);
        return;
    }
    if (strcmp(what, "attest") == 0) {
        attest(r, st);
        return;
    }
    struct st_device d;
    if (authenticate_device(r, st, &d) != 0) {
        return;
    }
    if (strcmp(what, "update") == 0) {
        update_check(r, st, &d);
    } else if (strcmp(what, "images") == 0) {
        download(r, st, &d, segs[1]);
    } else if (strcmp(what, "install-report") == 0) {
        install_report(r, st, &d);
    } else {
        events_upload(r, st, &d);
    }
}
