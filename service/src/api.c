/*
 * api.c - the operator API: bearer tokens and roles, tenants, tokens, the
 * CA, groups, devices, images, deployments, events, failures, alerts and
 * the summary. A resource of another tenant is always 404.
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

#include <sodium.h>

#include <nacre/ca.h>
#include <nacre/image.h>

struct who {
    int64_t tenant_id; /* 0: service admin */
    int admin;         /* role admin (or service-admin) */
    int service_admin;
};

static int is_get(const struct svc_req *r)
{
    return strcmp(r->method, "GET") == 0 || strcmp(r->method, "HEAD") == 0;
}

static int method_is(const struct svc_req *r, const char *m)
{
    return strcmp(r->method, m) == 0 || (strcmp(m, "GET") == 0 && is_get(r));
}

static void not_allowed(struct svc_req *r)
{
    svc_error(r, 405, "method_not_allowed", NULL, "method %s not allowed here", r->method);
}

static int authenticate(struct svc_req *r, struct store *st, struct who *who)
{
    const char *h = svc_header(r, "Authorization");
    static const char bearer[] = "Bearer ";
    if (h == NULL || strncmp(h, bearer, sizeof bearer - 1) != 0) {
        svc_error(r, 401, "unauthenticated", NULL, "an Authorization: Bearer token is required");
        return -1;
    }
    const char *tok = h + sizeof bearer - 1;
    size_t n = strlen(tok);
    struct st_token t;
    uint8_t hash[32];
    crypto_hash_sha256(hash, (const uint8_t *)tok, n);
    enum store_status s = n == 47 && strncmp(tok, "nst_", 4) == 0
                              ? store_token_by_hash(st, hash, &t)
                              : STORE_NOT_FOUND;
    if (s == STORE_ERROR) {
        svc_internal(r);
        return -1;
    }
    if (s != STORE_OK) {
        svc_error(r, 401, "unauthenticated", NULL, "unknown token");
        return -1;
    }
    who->tenant_id = t.tenant_id;
    who->service_admin = strcmp(t.role, "service-admin") == 0;
    who->admin = who->service_admin || strcmp(t.role, "admin") == 0;
    return 0;
}

/* Inside a tenant: a tenant token, admin for anything but GET. */
static int tenant_access(struct svc_req *r, const struct who *who)
{
    if (who->service_admin) {
        svc_error(r, 403, "forbidden", NULL, "the service-admin token can only manage tenants");
        return -1;
    }
    if (!is_get(r) && !who->admin) {
        svc_error(r, 403, "forbidden", NULL, "a read-only token cannot change anything");
        return -1;
    }
    return 0;
}

static json_t *str_or_null(const char *s)
{
    return s != NULL && s[0] != '\0' ? json_string(s) : json_null();
}

static json_t *int_or_null(int64_t v)
{
    return v != 0 ? json_integer(v) : json_null();
}

static int new_token(char out[48], uint8_t hash[32])
{
    uint8_t raw[32];
    randombytes_buf(raw, sizeof raw);
    memcpy(out, "nst_", 4);
    sodium_bin2base64(out + 4, 44, raw, sizeof raw, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    sodium_memzero(raw, sizeof raw);
    crypto_hash_sha256(hash, (const uint8_t *)out, strlen(out));
    return 0;
}

/* ---- tenants ---- */

static int tenant_row(void *ctx, const struct st_tenant *t)
{
    json_array_append_new(ctx, json_pack("{s:s, s:I, s:I}", "name", t->name, "created_at",
                                         (json_int_t)t->created_at, "devices",
                                         (json_int_t)t->devices));
    return 0;
}

static void tenants(struct svc_req *r, struct store *st, const struct who *who)
{
    if (!who->service_admin) {
        svc_error(r, 403, "forbidden", NULL, "only the service-admin token manages tenants");
        return;
    }
    if (is_get(r)) {
        json_t *arr = json_array();
        if (store_tenant_list(st, tenant_row, arr) != STORE_OK) {
            json_decref(arr);
            svc_internal(r);
            return;
        }
        svc_reply(r, 200, json_pack("{s:o}", "tenants", arr));
        return;
    }
    if (!method_is(r, "POST")) {
        not_allowed(r);
        return;
    }
    struct svc_req_tenant req;
    struct svc_perr perr;
    if (svc_parse_tenant(r->body, r->len, &req, &perr) != 0) {
        svc_reply_parse_error(r, &perr);
        return;
    }
    uint64_t now = svc_now();
    int64_t id = 0;
    /* The CA first: a tenant row never exists without its CA. */
    if (svc_tenant_ca_init(req.name, now) != 0) {
        svc_internal(r);
        return;
    }
    enum store_status s = store_tenant_create(st, req.name, req.root_pk, (int64_t)now, &id);
    if (s == STORE_EXISTS) {
        svc_error(r, 409, "exists", NULL, "tenant %s exists", req.name);
        return;
    }
    char token[48];
    uint8_t hash[32];
    new_token(token, hash);
    if (s != STORE_OK ||
        store_token_create(st, id, "admin", "initial admin", hash, (int64_t)now, NULL) != STORE_OK) {
        svc_internal(r);
        return;
    }
    const struct svc_tenant_ca *ca = svc_tenant_ca(id);
    if (ca == NULL) {
        svc_internal(r);
        return;
    }
    svc_reply(r, 201, json_pack("{s:s, s:s, s:s}", "name", req.name, "admin_token", token,
                                "ca_certificate", ca->ca_pem));
    sodium_memzero(token, sizeof token);
}

/* ---- tokens ---- */

static int token_row(void *ctx, const struct st_token *t)
{
    json_array_append_new(ctx, json_pack("{s:I, s:s, s:s, s:I}", "id", (json_int_t)t->id, "role",
                                         t->role, "label", t->label, "created_at",
                                         (json_int_t)t->created_at));
    return 0;
}

static void tokens(struct svc_req *r, struct store *st, const struct who *who, char **segs,
                   size_t n)
{
    if (tenant_access(r, who) != 0) {
        return;
    }
    if (!who->admin) {
        svc_error(r, 403, "forbidden", NULL, "only an admin token manages tokens");
        return;
    }
    if (n == 2) {
        if (!method_is(r, "DELETE")) {
            not_allowed(r);
            return;
        }
        char *end = NULL;
        errno = 0;
        long long id = strtoll(segs[1], &end, 10);
        enum store_status s = STORE_NOT_FOUND;
        if (errno == 0 && *end == '\0' && id > 0) {
            s = store_token_delete(st, who->tenant_id, id);
        }
        if (s == STORE_OK) {
            svc_reply(r, 204, NULL);
        } else if (s == STORE_NOT_FOUND) {
            svc_error(r, 404, "not_found", NULL, "no such token");
        } else {
            svc_internal(r);
        }
        return;
    }
    if (is_get(r)) {
        json_t *arr = json_array();
        if (store_token_list(st, who->tenant_id, token_row, arr) != STORE_OK) {
            json_decref(arr);
            svc_internal(r);
            return;
        }
        svc_reply(r, 200, json_pack("{s:o}", "tokens", arr));
        return;
    }
    if (!method_is(r, "POST")) {
        not_allowed(r);
        return;
    }
    struct svc_req_token req;
    struct svc_perr perr;
    if (svc_parse_token(r->body, r->len, &req, &perr) != 0) {
        svc_reply_parse_error(r, &perr);
        return;
    }
    char token[48];
    uint8_t hash[32];
    int64_t id = 0;
    new_token(token, hash);
    if (store_token_create(st, who->tenant_id, req.role, req.label, hash, (int64_t)svc_now(),
                           &id) != STORE_OK) {
        svc_internal(r);
        return;
    }
    svc_reply(r, 201, json_pack("{s:I, s:s, s:s, s:s}", "id", (json_int_t)id, "token", token,
                                "role", req.role, "label", req.label));
    sodium_memzero(token, sizeof token);
}

/* ---- groups ---- */

static int group_row(void *ctx, const char *name, int64_t devices)
{
    json_array_append_new(ctx, json_pack("{s:s, s:I}", "name", name, "devices",
                                         (json_int_t)devices));
    return 0;
}

static void groups(struct svc_req *r, struct store *st, const struct who *who)
{
    if (is_get(r)) {
        json_t *arr = json_array();
        if (store_group_list(st, who->tenant_id, group_row, arr) != STORE_OK) {
            json_decref(arr);
            svc_internal(r);
            return;
        }
        svc_reply(r, 200, json_pack("{s:o}", "groups", arr));
        return;
    }
    if (!method_is(r, "POST")) {
        not_allowed(r);
        return;
    }
    char name[SVC_NAME_MAX + 1];
    struct svc_perr perr;
    if (svc_parse_group(r->body, r->len, name, &perr) != 0) {
        svc_reply_parse_error(r, &perr);
        return;
    }
    enum store_status s = store_group_create(st, who->tenant_id, name, (int64_t)svc_now());
    if (s == STORE_EXISTS) {
        svc_error(r, 409, "exists", NULL, "group %s exists", name);
    } else if (s != STORE_OK) {
        svc_internal(r);
    } else {
        svc_reply(r, 201, json_pack("{s:s}", "name", name));
    }
}

/* ---- devices ---- */

static int flag_row(void *ctx, const char *rule)
{
    json_array_append_new(ctx, json_string(rule));
    return 0;
}

json_t *api_device_json(struct store *st, const struct st_device *d)
{
    json_t *flags = json_array();
    store_device_flags(st, d->device_id, flag_row, flags);
    json_t *update = json_null();
    if (d->upd_deployment != 0) {
        update = json_pack("{s:I, s:s, s:s}", "deployment_id", (json_int_t)d->upd_deployment,
                           "status", d->upd_status, "version", d->upd_version);
    }
    return json_pack("{s:s, s:s, s:o, s:s, s:o, s:o, s:o, s:b, s:o, s:o, s:o, s:o}",
                     "device_id", d->device_id, "label", d->label, "group", str_or_null(d->group),
                     "state", d->state, "version", str_or_null(d->version),
                     "certificate_expires_at", int_or_null(d->cert_expires), "flags", flags,
                     "quarantined", d->quarantined,
                     "quarantine_reason", d->quarantined ? str_or_null(d->quarantine_reason)
                                                         : json_null(),
                     "last_seen", int_or_null(d->last_seen),
                     "last_attested", int_or_null(d->last_attested), "update", update);
}

struct list_ctx {
    struct store *st;
    json_t *arr;
};

static int device_row(void *ctx, const struct st_device *d)
{
    struct list_ctx *c = ctx;
    json_array_append_new(c->arr, api_device_json(c->st, d));
    return 0;
}

/* The device of this tenant, or a 404 reply. */
static int tenant_device(struct svc_req *r, struct store *st, const struct who *who,
                         const char *id, struct st_device *d)
{
    enum store_status s = svc_id_valid(id) ? store_device_get(st, id, d) : STORE_NOT_FOUND;
    if (s == STORE_ERROR) {
        svc_internal(r);
        return -1;
    }
    if (s != STORE_OK || d->tenant_id != who->tenant_id) {
        svc_error(r, 404, "not_found", NULL, "no such device");
        return -1;
    }
    return 0;
}

static void reply_device(struct svc_req *r, struct store *st, const char *id, unsigned status)
{
    struct st_device d;
    if (store_device_get(st, id, &d) != STORE_OK) {
        svc_internal(r);
        return;
    }
    svc_reply(r, status, api_device_json(st, &d));
}

static int group_check(struct svc_req *r, struct store *st, const struct who *who,
                       const char *group)
{
    enum store_status s = store_group_exists(st, who->tenant_id, group);
    if (s == STORE_NOT_FOUND) {
        svc_error(r, 404, "not_found", NULL, "no group %s", group);
        return -1;
    }
    if (s != STORE_OK) {
        svc_internal(r);
        return -1;
    }
    return 0;
}

static void devices(struct svc_req *r, struct store *st, const struct who *who, char **segs,
                    size_t n)
{
    struct svc_perr perr;
    if (n == 1) {
        if (is_get(r)) {
            struct list_ctx c = {st, json_array()};
            if (store_device_list(st, who->tenant_id, device_row, &c) != STORE_OK) {
                json_decref(c.arr);
                svc_internal(r);
                return;
            }
            svc_reply(r, 200, json_pack("{s:o}", "devices", c.arr));
            return;
        }
        if (!method_is(r, "POST")) {
            not_allowed(r);
            return;
        }
        struct svc_req_claim req;
        if (svc_parse_claim(r->body, r->len, &req, &perr) != 0) {
            svc_reply_parse_error(r, &perr);
            return;
        }
        if (req.group[0] != '\0' && group_check(r, st, who, req.group) != 0) {
            return;
        }
        struct st_device d;
        memset(&d, 0, sizeof d);
        if (nacre_ca_device_id(req.pk, d.device_id) != NACRE_CA_OK) {
            svc_internal(r);
            return;
        }
        d.tenant_id = who->tenant_id;
        memcpy(d.pk, req.pk, 32);
        snprintf(d.label, sizeof d.label, "%s", req.label);
        snprintf(d.group, sizeof d.group, "%s", req.group);
        d.last_seen = (int64_t)svc_now(); /* claim time */
        enum store_status s = store_device_claim(st, &d);
        if (s == STORE_EXISTS) {
            svc_error(r, 409, "exists", NULL, "device %s is already claimed", d.device_id);
            return;
        }
        if (s != STORE_OK) {
            svc_internal(r);
            return;
        }
        rollout_group_changed(st, d.tenant_id, d.group);
        reply_device(r, st, d.device_id, 201);
        return;
    }
    struct st_device d;
    if (n > 3 || tenant_device(r, st, who, segs[1], &d) != 0) {
        if (n > 3) {
            svc_error(r, 404, "not_found", NULL, "no such resource");
        }
        return;
    }
    if (n == 2) {
        if (is_get(r)) {
            svc_reply(r, 200, api_device_json(st, &d));
            return;
        }
        if (!method_is(r, "PUT")) {
            not_allowed(r);
            return;
        }
        char group[SVC_NAME_MAX + 1];
        if (svc_parse_device_put(r->body, r->len, group, &perr) != 0) {
            svc_reply_parse_error(r, &perr);
            return;
        }
        if (group_check(r, st, who, group) != 0) {
            return;
        }
        if (store_device_set_group(st, d.device_id, group) != STORE_OK) {
            svc_internal(r);
            return;
        }
        rollout_group_changed(st, d.tenant_id, group);
        reply_device(r, st, d.device_id, 200);
        return;
    }
    int quarantine = strcmp(segs[2], "quarantine") == 0;
    if (!quarantine && strcmp(segs[2], "release") != 0) {
        svc_error(r, 404, "not_found", NULL, "no such resource");
        return;
    }
    if (!method_is(r, "POST")) {
        not_allowed(r);
        return;
    }
    char reason[SVC_TEXT_MAX + 1] = "";
    if (quarantine && svc_parse_reason(r->body, r->len, reason, &perr) != 0) {
        svc_reply_parse_error(r, &perr);
        return;
    }
    if (!quarantine && !d.quarantined) {
        reply_device(r, st, d.device_id, 200);
        return;
    }
    if (store_device_quarantine(st, d.device_id, quarantine, reason) != STORE_OK) {
        svc_internal(r);
        return;
    }
    fprintf(stderr, "nacre-service: device %s %s\n", d.device_id,
            quarantine ? "quarantined" : "released");
    reply_device(r, st, d.device_id, 200);
}

/* ---- images ---- */

static json_t *image_json(const struct st_image *im)
{
    char m[65];
    char s[65];
    svc_hex_encode(im->measurement, 32, m);
    svc_hex_encode(im->signer_id, 32, s);
    return json_pack("{s:s, s:s, s:s, s:I, s:s, s:s, s:I, s:I}", "image_id", im->image_id, "name",
                     im->name, "version", im->version, "size", (json_int_t)im->size,
                     "measurement", m, "signer_id", s, "security_counter",
                     (json_int_t)im->security_counter, "uploaded_at",
                     (json_int_t)im->uploaded_at);
}

static int image_row(void *ctx, const struct st_image *im)
{
    json_array_append_new(ctx, image_json(im));
    return 0;
}

/* DIR/tenants/NAME/images/ID.img */
int api_image_path(int64_t tenant_id, const char *image_id, char *out, size_t max);
int api_image_path(int64_t tenant_id, const char *image_id, char *out, size_t max)
{
    const struct svc_tenant_ca *ca = svc_tenant_ca(tenant_id);
    if (ca == NULL) {
        return -1;
    }
    int n = snprintf(out, max, "%s/tenants/%s/images/%s.img", svc.data_dir, ca->name, image_id);
    return n > 0 && (size_t)n < max ? 0 : -1;
}

static int write_image_file(int64_t tenant_id, const char *image_id, const char *data, size_t len)
{
    char path[4096];
    char tmp[4096 + 8];
    if (api_image_path(tenant_id, image_id, path, sizeof path) != 0) {
        return -1;
    }
    char *dir = strdup(path);
    if (dir == NULL) {
        return -1;
    }
    *strrchr(dir, '/') = '\0';
    int mk = mkdir(dir, 0700);
    free(dir);
    if (mk != 0 && errno != EEXIST) {
        return -1;
    }
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) {
        return -1;
    }
    size_t off = 0;
    while (off < len) {
        ssize_t w = write(fd, data + off, len - off);
        if (w <= 0) {
            close(fd);
            unlink(tmp);
            return -1;
        }
        off += (size_t)w;
    }
    if (fsync(fd) != 0 || close(fd) != 0 || rename(tmp, path) != 0) {
        unlink(tmp);
        return -1;
    }
    return 0;
}

static void images(struct svc_req *r, struct store *st, const struct who *who, size_t n)
{
    if (n != 1) {
        svc_error(r, 404, "not_found", NULL, "no such resource");
        return;
    }
    if (is_get(r)) {
        json_t *arr = json_array();
        if (store_image_list(st, who->tenant_id, image_row, arr) != STORE_OK) {
            json_decref(arr);
            svc_internal(r);
            return;
        }
        svc_reply(r, 200, json_pack("{s:o}", "images", arr));
        return;
    }
    if (!method_is(r, "POST")) {
        not_allowed(r);
        return;
    }
    struct st_tenant t;
    if (store_tenant_get(st, who->tenant_id, &t) != STORE_OK) {
        svc_internal(r);
        return;
    }
    uint8_t root_hash[32];
    nacre_image_key_id(root_hash, t.root_pk);
    struct nacre_image_policy policy = {
        .root_key_hash = root_hash,
        .min_security_counter = 0,
        .min_key_epoch = 0,
        .component = NULL,
        .max_image_size = 0,
    };
    struct nacre_image_info info;
    nacre_update_status us = nacre_image_verify((const uint8_t *)r->body, r->len, &policy, &info);
    if (us != NACRE_UPDATE_OK || info.image_size != r->len) {
        svc_error(r, 400, "bad_image", NULL, "%s",
                  us != NACRE_UPDATE_OK ? nacre_update_strerror(us)
                                        : "trailing bytes after the payload");
        return;
    }
    struct st_image im;
    memset(&im, 0, sizeof im);
    svc_hex_encode(info.measurement, 32, im.image_id);
    snprintf(im.name, sizeof im.name, "%s", info.component);
    snprintf(im.version, sizeof im.version, "%" PRIu32 ".%" PRIu32 ".%" PRIu32,
             info.version.major, info.version.minor, info.version.patch);
    im.size = (int64_t)r->len;
    memcpy(im.measurement, info.measurement, 32);
    memcpy(im.signer_id, info.signer_key_id, 32);
    im.security_counter = info.security_counter;
    im.uploaded_at = (int64_t)svc_now();
    struct st_image existing;
    enum store_status s = store_image_get(st, who->tenant_id, im.image_id, &existing);
    if (s == STORE_OK) {
        svc_error(r, 409, "exists", NULL, "image %s exists", im.image_id);
        return;
    }
    /* The file first, then the row: a row always has its file. */
    if (s != STORE_NOT_FOUND || write_image_file(who->tenant_id, im.image_id, r->body, r->len) != 0) {
        svc_internal(r);
        return;
    }
    s = store_image_create(st, who->tenant_id, &im);
    if (s == STORE_EXISTS) {
        svc_error(r, 409, "exists", NULL, "image %s exists", im.image_id);
    } else if (s != STORE_OK) {
        svc_internal(r);
    } else {
        svc_reply(r, 201, image_json(&im));
    }
}

/* ---- deployments ---- */

static json_t *deployment_json(const struct st_deployment *d)
{
    json_t *waves = json_array();
    for (unsigned i = 0; i < d->nwaves; i++) {
        json_array_append_new(waves, json_integer(d->waves[i]));
    }
    return json_pack("{s:I, s:s, s:s, s:s, s:o, s:f, s:s, s:i, s:o, s:{s:I, s:I, s:I, s:I, s:I},"
                     " s:I}",
                     "id", (json_int_t)d->id, "group", d->group, "image_id", d->image_id,
                     "version", d->version, "waves", waves, "max_failure_rate",
                     d->max_failure_rate, "state", d->state, "wave", (int)d->wave, "halt_reason",
                     str_or_null(d->halt_reason), "devices", "total", (json_int_t)d->total,
                     "offered", (json_int_t)d->offered, "confirmed", (json_int_t)d->confirmed,
                     "failed", (json_int_t)d->failed, "crashed", (json_int_t)d->crashed,
                     "created_at", (json_int_t)d->created_at);
}

static int deployment_row(void *ctx, const struct st_deployment *d)
{
    json_array_append_new(ctx, deployment_json(d));
    return 0;
}

static void reply_deployment(struct svc_req *r, struct store *st, int64_t tenant_id, int64_t id,
                             unsigned status)
{
    struct st_deployment d;
    if (store_deployment_get(st, tenant_id, id, &d) != STORE_OK) {
        svc_internal(r);
        return;
    }
    svc_reply(r, status, deployment_json(&d));
}

static void deployments(struct svc_req *r, struct store *st, const struct who *who, char **segs,
                        size_t n)
{
    if (n == 1) {
        if (is_get(r)) {
            json_t *arr = json_array();
            if (store_deployment_list(st, who->tenant_id, deployment_row, arr) != STORE_OK) {
                json_decref(arr);
                svc_internal(r);
                return;
            }
            svc_reply(r, 200, json_pack("{s:o}", "deployments", arr));
            return;
        }
        if (!method_is(r, "POST")) {
            not_allowed(r);
            return;
        }
        struct svc_req_deployment req;
        struct svc_perr perr;
        if (svc_parse_deployment(r->body, r->len, &req, &perr) != 0) {
            svc_reply_parse_error(r, &perr);
            return;
        }
        if (group_check(r, st, who, req.group) != 0) {
            return;
        }
        struct st_image im;
        enum store_status s = store_image_get(st, who->tenant_id, req.image_id, &im);
        if (s != STORE_OK) {
            if (s == STORE_NOT_FOUND) {
                svc_error(r, 404, "not_found", NULL, "no image %s", req.image_id);
            } else {
                svc_internal(r);
            }
            return;
        }
        struct st_deployment d;
        memset(&d, 0, sizeof d);
        d.tenant_id = who->tenant_id;
        snprintf(d.group, sizeof d.group, "%s", req.group);
        snprintf(d.image_id, sizeof d.image_id, "%s", req.image_id);
        snprintf(d.version, sizeof d.version, "%s", im.version);
        memcpy(d.waves, req.waves, sizeof d.waves);
        d.nwaves = req.nwaves;
        d.max_failure_rate = req.max_failure_rate;
        d.created_at = (int64_t)svc_now();
        pthread_mutex_lock(&svc.rollout_lock);
        s = store_deployment_create(st, &d);
        if (s == STORE_OK) {
            rollout_evaluate(st, who->tenant_id, d.id);
        }
        pthread_mutex_unlock(&svc.rollout_lock);
        if (s != STORE_OK) {
            svc_internal(r);
            return;
        }
        reply_deployment(r, st, who->tenant_id, d.id, 201);
        return;
    }
    char *end = NULL;
    errno = 0;
    long long id = strtoll(segs[1], &end, 10);
    struct st_deployment d;
    enum store_status s = STORE_NOT_FOUND;
    if (errno == 0 && *end == '\0' && id > 0 && n <= 3) {
        s = store_deployment_get(st, who->tenant_id, id, &d);
    }
    if (s != STORE_OK) {
        if (s == STORE_NOT_FOUND) {
            svc_error(r, 404, "not_found", NULL, "no such deployment");
        } else {
            svc_internal(r);
        }
        return;
    }
    if (n == 2) {
        if (!is_get(r)) {
            not_allowed(r);
            return;
        }
        svc_reply(r, 200, deployment_json(&d));
        return;
    }
    int halt = strcmp(segs[2], "halt") == 0;
    if (!halt && strcmp(segs[2], "resume") != 0) {
        svc_error(r, 404, "not_found", NULL, "no such resource");
        return;
    }
    if (!method_is(r, "POST")) {
        not_allowed(r);
        return;
    }
    pthread_mutex_lock(&svc.rollout_lock);
    s = store_deployment_get(st, who->tenant_id, id, &d); /* under the lock */
    int conflict = s == STORE_OK && (strcmp(d.state, "cancelled") == 0 ||
                                     strcmp(d.state, "done") == 0);
    if (s == STORE_OK && !conflict) {
        if (halt && strcmp(d.state, "rolling") == 0) {
            s = store_deployment_set_state(st, d.id, "halted", d.wave, "halted by an operator");
        } else if (!halt && strcmp(d.state, "halted") == 0) {
            s = store_deployment_set_state(st, d.id, "rolling", d.wave, "");
            if (s == STORE_OK) {
                rollout_evaluate(st, who->tenant_id, d.id);
            }
        }
    }
    pthread_mutex_unlock(&svc.rollout_lock);
    if (conflict) {
        svc_error(r, 409, "conflict", NULL, "deployment %lld is %s", id, d.state);
    } else if (s != STORE_OK) {
        svc_internal(r);
    } else {
        reply_deployment(r, st, who->tenant_id, d.id, 200);
    }
}

/* ---- events, failures, alerts, summary ---- */

static int event_row(void *ctx, const struct st_event *e)
{
    const char *type = svc_event_type_name(e->ev.type);
    json_array_append_new(ctx, json_pack("{s:s, s:I, s:I, s:s, s:s, s:I, s:I, s:s, s:I}",
                                         "device_id", e->device_id, "seq", (json_int_t)e->ev.seq,
                                         "time", (json_int_t)e->ev.time, "type",
                                         type != NULL ? type : "unknown", "app", e->ev.app,
                                         "code", (json_int_t)e->ev.code, "addr",
                                         (json_int_t)e->ev.addr, "detail", e->ev.detail,
                                         "received_at", (json_int_t)e->received_at));
    return 0;
}

static void events(struct svc_req *r, struct store *st, const struct who *who)
{
    const char *device = svc_query(r, "device");
    const char *limit_s = svc_query(r, "limit");
    long long limit = 100;
    if (limit_s != NULL) {
        char *end = NULL;
        errno = 0;
        limit = strtoll(limit_s, &end, 10);
        if (errno != 0 || *end != '\0' || limit < 1 || limit > 1000) {
            svc_error(r, 400, "invalid_field", NULL, "invalid field: limit (1..1000)");
            return;
        }
    }
    if (device != NULL) {
        struct st_device d;
        if (tenant_device(r, st, who, device, &d) != 0) {
            return;
        }
    }
    json_t *arr = json_array();
    if (store_event_list(st, who->tenant_id, device, limit, event_row, arr) != STORE_OK) {
        json_decref(arr);
        svc_internal(r);
        return;
    }
    svc_reply(r, 200, json_pack("{s:o}", "events", arr));
}

static int bucket_row(void *ctx, const struct st_bucket *b)
{
    json_array_append_new(ctx, json_pack("{s:s, s:s, s:I, s:o, s:I, s:I, s:I, s:I}", "bucket",
                                         b->bucket, "app", b->app, "signal", (json_int_t)b->signal,
                                         "version", str_or_null(b->version), "count",
                                         (json_int_t)b->count, "devices", (json_int_t)b->devices,
                                         "first_seen", (json_int_t)b->first_seen, "last_seen",
                                         (json_int_t)b->last_seen));
    return 0;
}

static int alert_row(void *ctx, const struct st_alert *a)
{
    json_array_append_new(ctx, json_pack("{s:I, s:s, s:s, s:s, s:I}", "id", (json_int_t)a->id,
                                         "device_id", a->device_id, "rule", a->rule, "detail",
                                         a->detail, "time", (json_int_t)a->time));
    return 0;
}

void api_operator(struct svc_req *r, char **segs, size_t n)
{
    struct store *st = svc_store();
    if (st == NULL) {
        svc_internal(r);
        return;
    }
    static const char *const known[] = {"tenants", "tokens", "ca", "groups", "devices", "images",
                                        "deployments", "events", "failures", "alerts", "summary"};
    int found = 0;
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++) {
        found |= strcmp(segs[0], known[i]) == 0;
    }
    if (!found) {
        svc_error(r, 404, "not_found", NULL, "no such resource");
        return;
    }
    struct who who;
    if (authenticate(r, st, &who) != 0) {
        return;
    }
    const char *what = segs[0];
    if (strcmp(what, "tenants") == 0 && n == 1) {
        tenants(r, st, &who);
        return;
    }
    if (tenant_access(r, &who) != 0) {
        return;
    }
    int multi = strcmp(what, "tokens") == 0 || strcmp(what, "devices") == 0 ||
                strcmp(what, "deployments") == 0;
    if (n > 1 && !multi) {
        svc_error(r, 404, "not_found", NULL, "no such resource");
        return;
    }
    if (strcmp(what, "tokens") == 0 && n > 2) {
        svc_error(r, 404, "not_found", NULL, "no such resource");
    } else if (strcmp(what, "tokens") == 0) {
        tokens(r, st, &who, segs, n);
    } else if (strcmp(what, "devices") == 0) {
        devices(r, st, &who, segs, n);
    } else if (strcmp(what, "deployments") == 0) {
        deployments(r, st, &who, segs, n);
    } else if (strcmp(what, "groups") == 0) {
        groups(r, st, &who);
    } else if (strcmp(what, "images") == 0) {
        images(r, st, &who, n);
    } else if (!is_get(r)) {
        not_allowed(r);
    } else if (strcmp(what, "ca") == 0) {
        const struct svc_tenant_ca *ca = svc_tenant_ca(who.tenant_id);
        if (ca == NULL) {
            svc_internal(r);
        } else {
            svc_reply(r, 200, json_pack("{s:s}", "ca_certificate", ca->ca_pem));
        }
    } else if (strcmp(what, "events") == 0) {
        events(r, st, &who);
    } else if (strcmp(what, "failures") == 0) {
        json_t *arr = json_array();
        if (store_bucket_list(st, who.tenant_id, bucket_row, arr) != STORE_OK) {
            json_decref(arr);
            svc_internal(r);
        } else {
            svc_reply(r, 200, json_pack("{s:o}", "buckets", arr));
        }
    } else if (strcmp(what, "alerts") == 0) {
        json_t *arr = json_array();
        if (store_alert_list(st, who.tenant_id, alert_row, arr) != STORE_OK) {
            json_decref(arr);
            svc_internal(r);
        } else {
            svc_reply(r, 200, json_pack("{s:o}", "alerts", arr));
        }
    } else {
        struct st_summary s;
        if (store_summary(st, who.tenant_id, &s) != STORE_OK) {
            svc_internal(r);
        } else {
            svc_reply(r, 200, json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I}", "devices",
                                        (json_int_t)s.devices, "attested", (json_int_t)s.attested,
                                        "flagged", (json_int_t)s.flagged, "quarantined",
                                        (json_int_t)s.quarantined, "deployments",
                                        (json_int_t)s.deployments, "alerts", (json_int_t)s.alerts,
                                        "buckets", (json_int_t)s.buckets));
        }
    }
}
