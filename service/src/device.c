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

static void nonce_mac(uint8_t mac[16], const uint8_t device[32], const uint8_t head[16])
{
    crypto_generichash_state gs;
    crypto_generichash_init(&gs, svc.nonce_key, sizeof svc.nonce_key, 16);
    crypto_generichash_update(&gs, device, 32);
    crypto_generichash_update(&gs, head, 16);
    crypto_generichash_final(&gs, mac, 16);
}

/*
 * Stateless: nothing is stored when a nonce is issued, so no number of
 * nonce requests for a device can displace the one it is about to use.
 */
static void nonce(struct svc_req *r, struct store *st)
{
    char id[65];
    struct svc_perr perr;
    if (svc_parse_nonce(r->body, r->len, id, &perr) != 0) {
        svc_reply_parse_error(r, &perr);
        return;
    }
    uint64_t now = svc_now();
    uint8_t device[32];
    svc_hex_decode(id, device, sizeof device);
    /* Devices are never unclaimed: one found claimed is not read again. */
    if (!memtab_get(svc.claimed, device, NULL, now)) {
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
        (void)memtab_put(svc.claimed, device, NULL, now); /* a cache */
    }
    uint64_t expires = now + svc.nonce_ttl;
    uint8_t n[SVC_NONCE_BYTES];
    randombytes_buf(n, 8);
    for (int i = 0; i < 8; i++) {
        n[8 + i] = (uint8_t)(expires >> (56 - 8 * i));
    }
    nonce_mac(n + 16, device, n);
    char hex[2 * SVC_NONCE_BYTES + 1];
    svc_hex_encode(n, sizeof n, hex);
    svc_reply(r, 200, json_pack("{s:s, s:I}", "nonce", hex, "expires_at", (json_int_t)expires));
}

/* Whether n is a nonce this service issued to device and still valid:
 * 0, or the failure bit (wrong nonce / expired / already used). */
static uint32_t nonce_check(const uint8_t *n, size_t len, const char *device_id, uint64_t now)
{
    uint8_t device[32];
    uint8_t mac[16];
    if (len != SVC_NONCE_BYTES || svc_hex_decode(device_id, device, sizeof device) != 0) {
        return NACRE_ATTEST_FAIL_NONCE;
    }
    nonce_mac(mac, device, n);
    if (crypto_verify_16(mac, n + 16) != 0) {
        return NACRE_ATTEST_FAIL_NONCE; /* not ours, or another device's */
    }
    uint64_t expires = 0;
    for (int i = 0; i < 8; i++) {
        expires = (expires << 8) | n[8 + i];
    }
    if (now > expires) {
        return NACRE_ATTEST_FAIL_NONCE_EXPIRED;
    }
    if (expires > now + svc.nonce_ttl) {
        return NACRE_ATTEST_FAIL_NONCE; /* cannot be: the key is per start */
    }
    if (memtab_get(svc.nonces_used, n, NULL, now)) {
        return NACRE_ATTEST_FAIL_NONCE_REUSED;
    }
    return 0;
}

/* ---- attest ---- */

static int ref_row(void *ctx, const struct st_image *im)
{
    struct svc_refs *c = ctx;
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
 * The reference values of a group: the images of every deployment to it.
 * Kept in memory while no deployment or image changes (the catalog epoch,
 * read before the rows), so attestations, which write device rows only,
 * do not read them again.
 */
static enum store_status group_refs(struct store *st, int64_t tenant_id, const char *group,
                                    uint64_t now, struct svc_refs *refs)
{
    uint8_t key[32];
    crypto_generichash_state gs;
    crypto_generichash_init(&gs, NULL, 0, sizeof key);
    crypto_generichash_update(&gs, (const uint8_t *)&tenant_id, sizeof tenant_id);
    crypto_generichash_update(&gs, (const uint8_t *)group, strlen(group) + 1);
    crypto_generichash_final(&gs, key, sizeof key);
    uint64_t epoch = store_catalog_epoch();
    if (memtab_get(svc.refs, key, refs, now) && refs->epoch == epoch) {
        return STORE_OK;
    }
    refs->n = 0;
    enum store_status s = store_group_images(st, tenant_id, group, ref_row, refs);
    if (s == STORE_OK) {
        refs->epoch = epoch;
        (void)memtab_put(svc.refs, key, refs, now); /* a cache */
    }
    return s;
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
    struct svc_refs *refs = malloc(sizeof *refs);
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
    /* The nonce the evidence claims: one this service issued to this device,
     * unexpired and unused? libattest then requires exactly it. */
    uint8_t n[NACRE_ATTEST_NONCE_MAX];
    size_t n_len = 0;
    uint32_t nonce_fail = 0;
    if (svc_evidence_nonce(req->evidence, req->evidence_len, n, sizeof n, &n_len) != 0 ||
        n_len < NACRE_ATTEST_NONCE_MIN) {
        randombytes_buf(n, SVC_NONCE_BYTES); /* matches nothing: "nonce" failure */
        n_len = SVC_NONCE_BYTES;
        nonce_fail = NACRE_ATTEST_FAIL_NONCE;
    } else {
        nonce_fail = nonce_check(n, n_len, d.device_id, now);
    }
    refs->n = 0;
    if (d.group[0] != '\0' && group_refs(st, d.tenant_id, d.group, now, refs) != STORE_OK) {
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
        .nonce = n,
        .nonce_len = n_len,
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
    } else if ((failures & FORGERY_FAILURES) == 0) {
        /* Evidence the device signed for this nonce uses it up (garbage that
         * merely quotes a nonce does not). Atomic: of two concurrent uses,
         * one finds the other's entry. */
        int64_t until = (int64_t)(now + svc.nonce_ttl);
        int added = memtab_add(svc.nonces_used, n, &until, now);
        if (added == -2) {
            char ra[24];
            snprintf(ra, sizeof ra, "%" PRIu64, memtab_next_expiry(svc.nonces_used, now));
            svc_error(r, 503, "busy", NULL, "too many attestations in flight; retry later");
            if (r->resp != NULL) {
                MHD_add_response_header(r->resp, "Retry-After", ra);
            }
            goto out;
        }
        if (added < 0) {
            svc_internal(r);
            goto out;
        }
        if (added == 0) {
            failures |= NACRE_ATTEST_FAIL_NONCE_REUSED;
        }
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
    /* The device will send this certificate as Client-Cert: its first
     * signed request then needs no X.509 check (the key is the header text). */
    struct svc_cert c;
    memset(&c, 0, sizeof c);
    c.tenant_id = d.tenant_id;
    c.not_before = (int64_t)(now - NACRE_CA_CLOCK_SKEW_SECONDS);
    c.not_after = expires;
    memcpy(c.device_id, d.device_id, 65);
    memcpy(c.pk, res->alias_pk, 32);
    memcpy(c.der_hash, hash, 32);
    char *header = malloc(NACRE_CA_PEM_MAX);
    if (header != NULL &&
        nacre_httpsig_client_cert_format(der, der_len, header, NACRE_CA_PEM_MAX) == 0) {
        uint8_t hkey[32];
        crypto_generichash(hkey, sizeof hkey, (const uint8_t *)header, strlen(header), NULL, 0);
        (void)memtab_put(svc.certs, hkey, &c, now); /* a cache */
    }
    free(header);
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

/*
 * The device's view (service.h): from memory while no write has moved the
 * store epoch since it was read, else from the database (device, current
 * deployment, offer, image) and kept. The epoch is read before the rows, so
 * a view filled while a write commits is already stale when it is stored.
 */
static enum store_status device_view(struct store *st, const char *device_id, uint64_t now,
                                     struct svc_view *v)
{
    uint8_t key[32];
    if (svc_hex_decode(device_id, key, sizeof key) != 0) {
        return STORE_NOT_FOUND;
    }
    uint64_t epoch = store_epoch();
    if (memtab_get(svc.views, key, v, now) && v->epoch == epoch) {
        return STORE_OK;
    }
    memset(v, 0, sizeof *v);
    enum store_status s = store_device_get(st, device_id, &v->d);
    if (s != STORE_OK) {
        return s;
    }
    struct st_deployment dep;
    struct st_offer offer;
    struct st_image im;
    memset(&dep, 0, sizeof dep);
    memset(&offer, 0, sizeof offer);
    snprintf(v->update, sizeof v->update, "{\"update\":null}");
    if (offered_update(st, &v->d, &dep, &offer) == 0 && strcmp(offer.status, "offered") == 0) {
        if (store_image_get(st, v->d.tenant_id, dep.image_id, &im) != STORE_OK) {
            v->update_error = 1;
        } else {
            char url[128];
            snprintf(url, sizeof url, "/v1/device/images/%s", im.image_id);
            json_t *j = json_pack("{s:{s:I, s:s, s:s, s:I, s:s}}", "update", "deployment_id",
                                  (json_int_t)dep.id, "image_id", im.image_id, "version",
                                  im.version, "size", (json_int_t)im.size, "url", url);
            char *text = j != NULL ? json_dumps(j, JSON_COMPACT) : NULL;
            json_decref(j);
            if (text == NULL || strlen(text) >= sizeof v->update) {
                free(text);
                return STORE_ERROR;
            }
            memcpy(v->update, text, strlen(text) + 1);
            free(text);
        }
    }
    v->epoch = epoch;
    (void)memtab_put(svc.views, key, v, now); /* a cache: if full, the next request reads again */
    return STORE_OK;
}

/* Check the signed request; on success *v is the view of the device that sent it. */
static int authenticate_device(struct svc_req *r, struct store *st, struct svc_view *v)
{
    const char *date = svc_header(r, "Date");
    const char *digest = svc_header(r, "Content-Digest");
    const char *client_cert = svc_header(r, "Client-Cert");
    struct svc_signed_headers *h = &r->sig;
    if (client_cert == NULL ||
        svc_parse_signed_fields(date, digest, svc_header(r, "Signature-Input"),
                                svc_header(r, "Signature"), h) != 0) {
        return fail401(r, "bad_signature",
                       "Date, Content-Digest, Client-Cert, Signature-Input and Signature are"
                       " required and must be well formed");
    }
    const struct nacre_httpsig_params *params = &h->params;
    if (svc_has_query(r)) {
        return fail401(r, "bad_signature", "device requests take no query string");
    }
    char want[NACRE_HTTPSIG_FIELD_MAX];
    if (nacre_httpsig_content_digest(r->body, r->len, want, sizeof want) != 0 ||
        strcmp(want, digest) != 0) {
        return fail401(r, "bad_signature", "the body does not match Content-Digest");
    }
    uint64_t now = svc_now();
    /* Certificates already verified are found by the hash of the header's
     * text, before any base64 decoding: the same bytes are the same DER. */
    uint8_t hkey[32];
    crypto_generichash(hkey, sizeof hkey, (const uint8_t *)client_cert, strlen(client_cert), NULL,
                       0);
    struct svc_cert c;
    if (!memtab_get(svc.certs, hkey, &c, now)) {
        /* Not seen yet: the full X.509 check against the CA of the device's tenant. */
        if (svc_parse_client_cert(client_cert, h) != 0) {
            return fail401(r, "bad_signature",
                           "Date, Content-Digest, Client-Cert, Signature-Input and Signature are"
                           " required and must be well formed");
        }
        const uint8_t *cert = h->cert;
        size_t cert_len = h->cert_len;
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
        crypto_hash_sha256(c.der_hash, cert, cert_len);
        (void)memtab_put(svc.certs, hkey, &c, now); /* a cache */
    }
    if ((int64_t)now > c.not_after || (int64_t)now < c.not_before) {
        return fail401(r, "certificate_expired", "the certificate has expired");
    }
    enum store_status s = device_view(st, c.device_id, now, v);
    if (s == STORE_ERROR) {
        svc_internal(r);
        return -1;
    }
    const struct st_device *d = &v->d;
    if (s != STORE_OK || d->tenant_id != c.tenant_id) {
        return fail401(r, "bad_certificate", "the certificate's device is not claimed");
    }
    if (!d->quarantined && (!d->has_cert || sodium_memcmp(d->cert_hash, c.der_hash, 32) != 0)) {
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
    if (added == -2) {
        /* The replay cache is full: forgetting entries would reopen replays,
         * so refuse until its oldest generation expires. */
        char ra[24];
        snprintf(ra, sizeof ra, "%" PRIu64, memtab_next_expiry(svc.replay, now));
        svc_error(r, 503, "busy", NULL, "too many signed requests in the replay window;"
                                        " retry later");
        if (r->resp != NULL) {
            MHD_add_response_header(r->resp, "Retry-After", ra);
        }
        return -1;
    }
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

static void update_check(struct svc_req *r, const struct svc_view *v)
{
    if (v->update_error) {
        svc_internal(r);
        return;
    }
    svc_reply_text(r, 200, v->update);
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

static void events_finish(struct svc_req *r, struct store *st)
{
    struct svc_ingest *job = r->ingest;
    if (job->status != STORE_OK || st == NULL) {
        svc_internal(r); /* nothing acknowledged: the device sends them again */
        return;
    }
    for (size_t i = 0; i < job->b.n; i++) {
        if (job->inserted[i]) {
            event_threats(st, &job->d, &job->evs[i]);
        }
    }
    svc_reply(r, 200, json_pack("{s:I, s:o}", "accepted", (json_int_t)job->b.accepted,
                                "last_seq", job->b.last_seq >= 0 ? json_integer(job->b.last_seq)
                                                                 : json_null()));
}

void api_device_events_done(struct svc_req *r)
{
    events_finish(r, svc_store());
}

static void events_upload(struct svc_req *r, struct store *st, const struct st_device *d)
{
    struct svc_ingest *job = calloc(1, sizeof *job);
    size_t n = 0;
    struct svc_perr perr;
    if (job == NULL || (job->evs = malloc(SVC_EVENTS_MAX * sizeof *job->evs)) == NULL ||
        (job->inserted = calloc(SVC_EVENTS_MAX, sizeof *job->inserted)) == NULL) {
        ingest_free(job);
        svc_internal(r);
        return;
    }
    if (svc_parse_events(r->body, r->len, job->evs, &n, &perr) != 0) {
        if (strcmp(perr.field, "events") == 0 && strcmp(perr.code, "invalid_field") == 0) {
            svc_error(r, 400, "invalid_field", NULL, "invalid field: events (at most %u)",
                      SVC_EVENTS_MAX);
        } else {
            svc_reply_parse_error(r, &perr);
        }
        ingest_free(job);
        return;
    }
    job->d = *d;
    job->b.tenant_id = d->tenant_id;
    job->b.device_id = job->d.device_id;
    job->b.version = job->d.version;
    job->b.evs = job->evs;
    job->b.n = n;
    job->b.now = (int64_t)svc_now();
    job->b.inserted = job->inserted;
    job->status = STORE_ERROR;
    r->ingest = job; /* freed with r */
    if (ingest_submit(r, job) == 0) {
        return; /* suspended; the reply is api_device_events_done's */
    }
    job->status = store_events_insert_batches(st, &job->b, 1);
    job->done = 1;
    events_finish(r, st);
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
    struct svc_view *v = malloc(sizeof *v);
    if (v == NULL) {
        svc_internal(r);
        return;
    }
    if (authenticate_device(r, st, v) == 0) {
        if (strcmp(what, "update") == 0) {
            update_check(r, v);
        } else if (strcmp(what, "images") == 0) {
            download(r, st, &v->d, segs[1]);
        } else if (strcmp(what, "install-report") == 0) {
            install_report(r, st, &v->d);
        } else {
            events_upload(r, st, &v->d);
        }
    }
    free(v);
}
