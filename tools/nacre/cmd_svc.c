/*
 * cmd_svc.c - nacre svc ...: the operator side of nacre-service
 * (docs/service-api.md): tenants, tokens, images, groups, devices,
 * deployments, failures, alerts, events. Bearer-token requests through
 * libcurl; human tables by default, the service's own JSON with --json.
 */
#include "cli.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <sodium.h>

#define SVC_DEFAULT_URL "http://127.0.0.1:8443"
#define SVC_RESPONSE_MAX ((size_t)32u * 1024u * 1024u)
#define SVC_IMAGE_MAX ((size_t)16u * 1024u * 1024u)
#define SVC_TOKEN_MAX 512u

/* ---- HTTP -------------------------------------------------------------------- */

struct svc_buf {
    char *data;
    size_t len;
    size_t cap;
};

static size_t svc_on_body(char *data, size_t size, size_t n, void *ctx)
{
    struct svc_buf *b = ctx;
    size_t len = size * n;
    if (b->len + len > SVC_RESPONSE_MAX) {
        return 0;
    }
    if (b->len + len + 1 > b->cap) {
        size_t want = b->cap == 0 ? 4096 : b->cap;
        while (want < b->len + len + 1) {
            want *= 2;
        }
        char *p = realloc(b->data, want);
        if (p == NULL) {
            return 0;
        }
        b->data = p;
        b->cap = want;
    }
    memcpy(b->data + b->len, data, len);
    b->len += len;
    b->data[b->len] = '\0';
    return len;
}

int cli_svc_request(const struct cli_svc *s, const char *method, const char *path, json_t *body,
                    const uint8_t *raw, size_t raw_len, json_t **out, long *status, int quiet)
{
    char url[2048];
    char auth[SVC_TOKEN_MAX + 32];
    char errbuf[CURL_ERROR_SIZE] = "";
    struct svc_buf buf = {NULL, 0, 0};
    struct curl_slist *headers = NULL;
    char *text = NULL;
    long code = 0;
    int rc = CLI_FAIL;

    *out = NULL;
    if (status != NULL) {
        *status = 0;
    }
    if (body != NULL) {
        text = json_dumps(body, JSON_COMPACT);
        json_decref(body);
        if (text == NULL) {
            return cli_fail("%s: out of memory", s->what);
        }
    }
    CURL *c = curl_easy_init();
    int n = snprintf(url, sizeof url, "%s%s", s->url, path);
    if (c == NULL || n < 0 || (size_t)n >= sizeof url) {
        free(text);
        if (c != NULL) {
            curl_easy_cleanup(c);
        }
        return cli_fail("%s: cannot build the request", s->what);
    }
    struct curl_slist *h = curl_slist_append(NULL, "Accept: application/json");
    headers = h;
    if (h != NULL && s->token != NULL && s->token[0] != '\0') {
        snprintf(auth, sizeof auth, "Authorization: Bearer %s", s->token);
        h = curl_slist_append(headers, auth);
        headers = h != NULL ? h : headers;
    }
    if (h != NULL && text != NULL) {
        h = curl_slist_append(headers, "Content-Type: application/json");
        headers = h != NULL ? h : headers;
    } else if (h != NULL && raw != NULL) {
        h = curl_slist_append(headers, "Content-Type: application/octet-stream");
        headers = h != NULL ? h : headers;
    }
    if (h != NULL) {
        h = curl_slist_append(headers, "Expect:");
        headers = h != NULL ? h : headers;
    }
    sodium_memzero(auth, sizeof auth);
    if (h == NULL) {
        rc = cli_fail("%s: out of memory", s->what);
        goto out;
    }
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 60L);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 5L);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, svc_on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &buf);
    if (strcmp(method, "POST") == 0 || strcmp(method, "PUT") == 0) {
        const void *data = text != NULL ? (const void *)text : (const void *)raw;
        size_t len = text != NULL ? strlen(text) : raw_len;
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, data != NULL ? data : "");
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)(data != NULL ? len : 0));
        if (strcmp(method, "PUT") == 0) {
            curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, "PUT");
        }
    } else if (strcmp(method, "GET") != 0) {
        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    }
    CURLcode cc = curl_easy_perform(c);
    if (cc != CURLE_OK) {
        rc = cli_fail("%s: cannot reach %s: %s", s->what, s->url,
                      errbuf[0] != '\0' ? errbuf : curl_easy_strerror(cc));
        goto out;
    }
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
    if (status != NULL) {
        *status = code;
    }
    json_t *root = buf.len > 0 ? json_loadb(buf.data, buf.len, 0, NULL) : NULL;
    if (code >= 200 && code < 300) {
        *out = root;
        rc = CLI_OK;
        goto out;
    }
    if (!quiet) {
        json_t *e = json_object_get(root, "error");
        const char *ecode = json_string_value(json_object_get(e, "code"));
        const char *msg = json_string_value(json_object_get(e, "message"));
        if (ecode != NULL) {
            cli_fail("%s: %s: %s", s->what, ecode, msg != NULL ? msg : "");
        } else {
            cli_fail("%s: HTTP %ld", s->what, code);
        }
    }
    *out = root; /* the error body, for callers that look */
    rc = CLI_FAIL;
out:
    curl_slist_free_all(headers);
    curl_easy_cleanup(c);
    free(buf.data);
    free(text);
    return rc;
}

/* ---- options ------------------------------------------------------------------- */

/* Option bits a subcommand accepts besides --service, --token, --token-file, --json. */
enum {
    O_ROOT_PUB = 1u << 0,
    O_ROLE = 1u << 1,
    O_LABEL = 1u << 2,
    O_GROUP = 1u << 3,
    O_IMAGE = 1u << 4,
    O_WAVES = 1u << 5,
    O_MAX_FAIL = 1u << 6,
    O_PUBKEY = 1u << 7,
    O_DEVICE = 1u << 8,
    O_REASON = 1u << 9,
    O_LIMIT = 1u << 10,
    O_OUT = 1u << 11,
};

struct svc_opts {
    struct cli_svc svc;
    char what[64];
    int json;
    const char *root_pub, *role, *label, *group, *image, *waves, *max_fail, *pubkey, *device,
        *reason, *limit, *out;
    char **args;
    int nargs;
    char token_buf[SVC_TOKEN_MAX + 1];
};

struct svc_sub;
typedef int (*svc_fn)(struct svc_opts *o, const struct svc_sub *sub);

struct svc_sub {
    const char *group;
    const char *name;   /* NULL: the group takes no subcommand */
    const char *synopsis;
    unsigned opts;
    int nargs;          /* positional arguments required */
    svc_fn run;
};

static const char svc_usage[] =
    "usage: nacre svc RESOURCE ACTION [ARGS] [--service URL] [--token T | --token-file F]\n"
    "                 [--json]\n"
    "\n"
    "Operate a fleet through nacre-service (docs/service-api.md).\n"
    "\n"
    "  tenant create NAME --root-pub ROOT.pub.pem   (service admin token)\n"
    "  tenant list                                  (service admin token)\n"
    "  token create --role admin|read-only [--label TEXT]\n"
    "  token list\n"
    "  token revoke ID\n"
    "  ca [--out CA.pem]                            the tenant CA certificate\n"
    "  image upload IMG\n"
    "  image list\n"
    "  group create NAME\n"
    "  group list\n"
    "  devices claim (--pubkey HEX | --device DIR) --group G [--label TEXT]\n"
    "  devices list\n"
    "  devices show ID\n"
    "  devices quarantine ID --reason TEXT\n"
    "  devices release ID\n"
    "  devices set-group ID GROUP\n"
    "  deploy create --group G --image ID|IMG [--waves 10,50,100]\n"
    "                [--max-failure-rate 0.25]\n"
    "  deploy list\n"
    "  deploy show ID\n"
    "  deploy halt ID\n"
    "  deploy resume ID\n"
    "  failures                                     crash buckets\n"
    "  alerts                                       threat alerts\n"
    "  events [--device ID] [--limit N]             uploaded security events\n"
    "  summary                                      fleet counts\n"
    "\n"
    "  --service URL     the service (default: $NACRE_SERVICE, else " SVC_DEFAULT_URL ")\n"
    "  --token T         bearer token (default: $NACRE_TOKEN)\n"
    "  --token-file F    read the token from F (e.g. DATA/admin.token)\n"
    "  --json            print the service's JSON instead of a table\n"
    "  -h, --help        show this help ('nacre svc RESOURCE --help' too)\n"
    "\n"
    "A device id is 64 hex (BLAKE2b-256 of the DeviceID key); a device DIR is\n"
    "accepted wherever --device is, and its key read as 'nacre device pubkey'\n"
    "does. --image takes an image id (64 hex) or a signed image file, whose\n"
    "measurement is the id.\n"
    "\n"
    "exit status: 0 success, 1 failure or HTTP error (one line on stderr:\n"
    "\"nacre: svc RESOURCE ACTION: <service error code>: <message>\"), 2 usage error\n";

/* ---- tables ---------------------------------------------------------------------- */

enum col_kind { COL_STR, COL_INT, COL_TIME, COL_LIST, COL_BOOL, COL_SHORT, COL_UPDATE, COL_RATE };

struct col {
    const char *key;
    const char *title;
    enum col_kind kind;
};

static void cell(char *out, size_t n, json_t *v, enum col_kind kind)
{
    if (v == NULL || json_is_null(v)) {
        snprintf(out, n, "-");
        return;
    }
    switch (kind) {
    case COL_INT:
        if (json_is_integer(v)) {
            snprintf(out, n, "%lld", (long long)json_integer_value(v));
            return;
        }
        break;
    case COL_RATE:
        if (json_is_number(v)) {
            snprintf(out, n, "%.2f", json_number_value(v));
            return;
        }
        break;
    case COL_TIME:
        if (json_is_integer(v)) {
            char t[CLI_TIME_CHARS];
            cli_time_str(t, (uint64_t)json_integer_value(v));
            snprintf(out, n, "%s", t);
            return;
        }
        break;
    case COL_BOOL:
        snprintf(out, n, "%s", json_is_true(v) ? "yes" : "no");
        return;
    case COL_LIST: {
        size_t i;
        json_t *e;
        out[0] = '\0';
        json_array_foreach(v, i, e) {
            char one[128];
            cell(one, sizeof one, e, json_is_integer(e) ? COL_INT : COL_STR);
            size_t used = strlen(out);
            snprintf(out + used, n - used, "%s%s", i > 0 ? "," : "", one);
        }
        if (out[0] == '\0') {
            snprintf(out, n, "-");
        }
        return;
    }
    case COL_SHORT:
        if (json_is_string(v)) {
            const char *s = json_string_value(v);
            snprintf(out, n, "%.12s", s);
            return;
        }
        break;
    case COL_UPDATE:
        if (json_is_object(v)) {
            const char *st = json_string_value(json_object_get(v, "status"));
            const char *ver = json_string_value(json_object_get(v, "version"));
            snprintf(out, n, "%s %s", ver != NULL ? ver : "?", st != NULL ? st : "offered");
            return;
        }
        break;
    case COL_STR:
        break;
    }
    if (json_is_string(v)) {
        snprintf(out, n, "%s", json_string_value(v));
    } else if (json_is_integer(v)) {
        snprintf(out, n, "%lld", (long long)json_integer_value(v));
    } else {
        char *d = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
        snprintf(out, n, "%s", d != NULL ? d : "?");
        free(d);
    }
}

/* A table of rows (an array of objects), columns sized to their contents. */
static void print_table(json_t *rows, const struct col *cols, size_t ncols)
{
    size_t nrows = json_array_size(rows);
    size_t width[16] = {0};
    char text[256];
    for (size_t c = 0; c < ncols && c < 16; c++) {
        width[c] = strlen(cols[c].title);
        for (size_t r = 0; r < nrows; r++) {
            cell(text, sizeof text, json_object_get(json_array_get(rows, r), cols[c].key),
                 cols[c].kind);
            size_t l = strlen(text);
            width[c] = l > width[c] ? l : width[c];
        }
    }
    for (size_t c = 0; c < ncols; c++) {
        printf("%-*s%s", c + 1 < ncols ? (int)width[c] : 0, cols[c].title,
               c + 1 < ncols ? "  " : "\n");
    }
    for (size_t r = 0; r < nrows; r++) {
        for (size_t c = 0; c < ncols; c++) {
            cell(text, sizeof text, json_object_get(json_array_get(rows, r), cols[c].key),
                 cols[c].kind);
            printf("%-*s%s", c + 1 < ncols ? (int)width[c] : 0, text, c + 1 < ncols ? "  " : "\n");
        }
    }
    if (nrows == 0) {
        printf("(none)\n");
    }
}

/* One object as "key: value" lines. */
static void print_object(json_t *obj, const struct col *cols, size_t ncols)
{
    char text[512];
    for (size_t c = 0; c < ncols; c++) {
        cell(text, sizeof text, json_object_get(obj, cols[c].key), cols[c].kind);
        cli_kv(cols[c].title, "%s", text);
    }
}

#define NCOLS(a) (sizeof(a) / sizeof((a)[0]))

static const struct col device_cols[] = {
    {"device_id", "DEVICE", COL_SHORT},
    {"label", "LABEL", COL_STR},
    {"group", "GROUP", COL_STR},
    {"state", "STATE", COL_STR},
    {"version", "VERSION", COL_STR},
    {"certificate_expires_at", "CERT EXPIRES", COL_TIME},
    {"update", "UPDATE", COL_UPDATE},
    {"flags", "FLAGS", COL_LIST},
};
static const struct col device_detail[] = {
    {"device_id", "device", COL_STR},
    {"label", "label", COL_STR},
    {"group", "group", COL_STR},
    {"state", "state", COL_STR},
    {"version", "version", COL_STR},
    {"certificate_expires_at", "certificate expires", COL_TIME},
    {"flags", "flags", COL_LIST},
    {"quarantined", "quarantined", COL_BOOL},
    {"quarantine_reason", "quarantine reason", COL_STR},
    {"last_seen", "last seen", COL_TIME},
    {"last_attested", "last attested", COL_TIME},
    {"update", "update", COL_UPDATE},
};
static const struct col deploy_cols[] = {
    {"id", "ID", COL_INT},
    {"group", "GROUP", COL_STR},
    {"version", "VERSION", COL_STR},
    {"state", "STATE", COL_STR},
    {"wave", "WAVE", COL_INT},
    {"waves", "WAVES", COL_LIST},
    {"max_failure_rate", "MAX FAIL", COL_RATE},
    {"halt_reason", "HALT REASON", COL_STR},
};
static const struct col image_cols[] = {
    {"image_id", "IMAGE", COL_SHORT},
    {"name", "NAME", COL_STR},
    {"version", "VERSION", COL_STR},
    {"security_counter", "COUNTER", COL_INT},
    {"size", "SIZE", COL_INT},
    {"uploaded_at", "UPLOADED", COL_TIME},
};

/* ---- the subcommands ------------------------------------------------------------- */

/* Print the answer: JSON as the service sent it, or the caller's table. */
static int answer_json(json_t *root)
{
    return cli_print_json(root != NULL ? root : json_object());
}

static int request(struct svc_opts *o, const char *method, const char *path, json_t *body,
                   json_t **out)
{
    return cli_svc_request(&o->svc, method, path, body, NULL, 0, out, NULL, 0);
}

/* GET a list and show it as a table. */
static int list(struct svc_opts *o, const char *path, const char *key, const struct col *cols,
                size_t ncols)
{
    json_t *root = NULL;
    int rc = request(o, "GET", path, NULL, &root);
    if (rc != CLI_OK) {
        json_decref(root);
        return rc;
    }
    if (o->json) {
        return answer_json(root);
    }
    print_table(json_object_get(root, key), cols, ncols);
    json_decref(root);
    return CLI_OK;
}

static int show(struct svc_opts *o, const char *method, const char *path, json_t *body,
                const struct col *cols, size_t ncols)
{
    json_t *root = NULL;
    int rc = request(o, method, path, body, &root);
    if (rc != CLI_OK) {
        json_decref(root);
        return rc;
    }
    if (o->json) {
        return answer_json(root);
    }
    print_object(root, cols, ncols);
    json_decref(root);
    return CLI_OK;
}

/* A device id argument: 64 hex, or a device directory. */
static int device_id_arg(struct svc_opts *o, const char *arg, char id[65]);

static int name_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 40) {
        return 0;
    }
    for (size_t i = 0; i < n; i++) {
        char ch = s[i];
        int ok = (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
                 (i > 0 && (ch == '.' || ch == '_' || ch == '-'));
        if (!ok) {
            return 0;
        }
    }
    return 1;
}

static int run_tenant_create(struct svc_opts *o, const struct svc_sub *sub)
{
    (void)sub;
    if (o->root_pub == NULL) {
        return cli_usage_error("svc", "tenant create needs --root-pub ROOT.pub.pem");
    }
    uint8_t pk[32];
    int rc = cli_read_pub("reading root public key", o->root_pub, pk);
    if (rc != CLI_OK) {
        return rc;
    }
    char hex[65];
    cli_hex32(hex, pk);
    json_t *root = NULL;
    rc = request(o, "POST", "/v1/tenants",
                 json_pack("{s:s, s:s}", "name", o->args[0], "root_public_key", hex), &root);
    if (rc != CLI_OK) {
        json_decref(root);
        return rc;
    }
    if (o->json) {
        return answer_json(root);
    }
    cli_kv("tenant", "%s", json_string_value(json_object_get(root, "name")));
    cli_kv("admin token", "%s", json_string_value(json_object_get(root, "admin_token")));
    printf("(the token is shown once: keep it)\n");
    json_decref(root);
    return CLI_OK;
}

static int run_tenant_list(struct svc_opts *o, const struct svc_sub *sub)
{
    (void)sub;
    static const struct col cols[] = {
        {"name", "TENANT", COL_STR}, {"devices", "DEVICES", COL_INT},
        {"created_at", "CREATED", COL_TIME},
    };
    return list(o, "/v1/tenants", "tenants", cols, NCOLS(cols));
}

static int run_token_create(struct svc_opts *o, const struct svc_sub *sub)
{
    (void)sub;
    if (o->role == NULL || (strcmp(o->role, "admin") != 0 && strcmp(o->role, "read-only") != 0)) {
        return cli_usage_error("svc", "token create needs --role admin|read-only");
    }
    json_t *root = NULL;
    int rc = request(o, "POST", "/v1/tokens",
                     json_pack("{s:s, s:s}", "role", o->role, "label",
                               o->label != NULL ? o->label : ""),
                     &root);
    if (rc != CLI_OK) {
        json_decref(root);
        return rc;
    }
    if (o->json) {
        return answer_json(root);
    }
    char idtxt[64];
    cell(idtxt, sizeof idtxt, json_object_get(root, "id"), COL_STR);
    cli_kv("id", "%s", idtxt);
    cli_kv("role", "%s", json_string_value(json_object_get(root, "role")));
    cli_kv("token", "%s", json_string_value(json_object_get(root, "token")));
    printf("(the token is shown once: keep it)\n");
    json_decref(root);
    return CLI_OK;
}

static int run_token_list(struct svc_opts *o, const struct svc_sub *sub)
{
    (void)sub;
    static const struct col cols[] = {
        {"id", "ID", COL_STR}, {"role", "ROLE", COL_STR}, {"label", "LABEL", COL_STR},
        {"created_at", "CREATED", COL_TIME},
    };
    return list(o, "/v1/tokens", "tokens", cols, NCOLS(cols));
}

/* Path segments are ids or names: no '/', '?', '#', '%' or spaces. */
static int segment_ok(const char *s)
{
    return s[0] != '\0' && strlen(s) <= 128 && strpbrk(s, "/?#% \t\r\n") == NULL;
}

static int run_token_revoke(struct svc_opts *o, const struct svc_sub *sub)
{
    (void)sub;
    char path[256];
    if (!segment_ok(o->args[0])) {
        return cli_usage_error("svc", "bad token id '%s'", o->args[0]);
    }
    snprintf(path, sizeof path, "/v1/tokens/%s", o->args[0]);
    json_t *root = NULL;
    int rc = request(o, "DELETE", path, NULL, &root);
    json_decref(root);
    if (rc == CLI_OK && !o->json) {
        printf("revoked token %s\n", o->args[0]);
    } else if (rc == CLI_OK) {
        return answer_json(json_pack("{s:s}", "revoked", o->args[0]));
    }
    return rc;
}

static int run_ca(struct svc_opts *o, const struct svc_sub *sub)
{
    (void)sub;
    json_t *root = NULL;
    int rc = request(o, "GET", "/v1/ca", NULL, &root);
    if (rc != CLI_OK) {
        json_decref(root);
        return rc;
    }
    const char *pem = json_string_value(json_object_get(root, "ca_certificate"));
    if (o->out != NULL) {
        if (pem == NULL) {
            json_decref(root);
            return cli_fail("%s: the answer holds no ca_certificate", o->what);
        }
        rc = cli_write_file("writing the CA certificate", o->out, pem, strlen(pem), 0644);
        if (rc != CLI_OK) {
            json_decref(root);
            return rc;
        }
    }
    if (o->json) {
        return answer_json(root);
    }
    if (o->out == NULL && pem != NULL) {
        fputs(pem, stdout);
    } else if (o->out != NULL) {
        printf("wrote %s\n", o->out);
    }
    json_decref(root);
    return CLI_OK;
}

static int run_image_upload(struct svc_opts *o, const struct svc_sub *sub)
{
    (void)sub;
    uint8_t *img = NULL;
    size_t len = 0;
    int rc = cli_read_file("reading image", o->args[0], SVC_IMAGE_MAX, 0, &img, &len);
    if (rc != CLI_OK) {
        return rc;
    }
    json_t *root = NULL;
    rc = cli_svc_request(&o->svc, "POST", "/v1/images", NULL, img, len, &root, NULL, 0);
    cli_free_file(img, len, 0);
    if (rc != CLI_OK) {
        json_decref(root);
        return rc;
    }
    if (o->json) {
        return answer_json(root);
    }
    print_object(root, (const struct col[]){{"image_id", "image", COL_STR},
                                           {"name", "component", COL_STR},
                                           {"version", "version", COL_STR},
                                           {"security_counter", "security counter", COL_INT},
                                           {"size", "size", COL_INT}},
                 5);
    json_decref(root);
    return CLI_OK;
}

static int run_image_list(struct svc_opts *o, const struct svc_sub *sub)
{
    (void)sub;
    return list(o, "/v1/images", "images", image_cols, NCOLS(image_cols));
}

static int run_group_create(struct svc_opts *o, const struct svc_sub *sub)
{
    (void)sub;
    json_t *root = NULL;
    int rc = request(o, "POST", "/v1/groups", json_pack("{s:s}", "name", o->args[0]), &root);
    if (rc != CLI_OK) {
        json_decref(root);
        return rc;
    }
    if (o->json) {
        return answer_json(root);
    }
    printf("created group %s\n", o->args[0]);
    json_decref(root);
    return CLI_OK;
}

static int run_group_list(struct svc_opts *o, const struct svc_sub *sub)
{
    (void)sub;
    static const struct col cols[] = {{"name", "GROUP", COL_STR}, {"devices", "DEVICES", COL_INT}};
    return list(o, "/v1/groups", "groups", cols, NCOLS(cols));
}

/* The DeviceID public key of a host device, as 'nacre device pubkey' reads it. */
int cli_device_id_key(const char *dir, uint8_t pk[32])
{
    struct cli_device dev;
    int rc = cli_device_boot(&dev, dir, NULL);
    if (rc != CLI_OK) {
        return rc;
    }
    nacre_pluton_status st = nacre_pluton_key_public(dev.pluton, NACRE_PLUTON_KEY_DEVICE_ID, pk);
    if (st != NACRE_PLUTON_OK) {
        rc = cli_pluton_fail(&dev, "reading the DeviceID key", st);
    }
    cli_device_close(&dev);
    return rc;
}

static int device_id_arg(struct svc_opts *o, const char *arg, char id[65])
{
    uint8_t raw[32];
    size_t n = 0;
    (void)o;
    if (strlen(arg) == 64 && cli_parse_hex(arg, raw, sizeof raw, &n) == 0 && n == 32) {
        for (size_t i = 0; i < 64; i++) {
            id[i] = (char)((arg[i] >= 'A' && arg[i] <= 'F') ? arg[i] - 'A' + 'a' : arg[i]);
        }
        id[64] = '\0';
        return CLI_OK;
    }
    if (cli_path_exists(arg)) {
        uint8_t pk[32];
        uint8_t h[32];
        int rc = cli_device_id_key(arg, pk);
        if (rc != CLI_OK) {
            return rc;
        }
        crypto_generichash(h, sizeof h, pk, sizeof pk, NULL, 0);
        cli_hex32(id, h);
        return CLI_OK;
    }
    return cli_usage_error("svc", "'%s' is neither a device id (64 hex) nor a device directory",
                           arg);
}

static int run_devices_claim(struct svc_opts *o, const struct svc_sub *sub)
{
    (void)sub;
    uint8_t pk[32];
    size_t n = 0;
    if ((o->pubkey == NULL) == (o->device == NULL)) {
        return cli_usage_error("svc", "devices claim needs --pubkey HEX or --device DIR");
    }
    if (o->group == NULL) {
        return cli_usage_error("svc", "devices claim needs --group G");
    }
    if (o->pubkey != NULL) {
        if (cli_parse_hex(o->pubkey, pk, sizeof pk, &n) != 0 || n != 32) {
            return cli_usage_error("svc", "--pubkey needs 32 bytes in hex (64 digits)");
        }
    } else {
        int rc = cli_device_id_key(o->device, pk);
        if (rc != CLI_OK) {
            return rc;
        }
    }
    char hex[65];
    cli_hex32(hex, pk);
    json_t *body = json_pack("{s:s, s:s}", "device_id_public_key", hex, "group", o->group);
    if (body != NULL && o->label != NULL) {
        json_object_set_new(body, "label", json_string(o->label));
    }
    return show(o, "POST", "/v1/devices", body, device_detail, NCOLS(device_detail));
}

static int run_devices_list(struct svc_opts *o, const struct svc_sub *sub)
{
    (void)sub;
    return list(o, "/v1/devices", "devices", device_cols, NCOLS(device_cols));
}

/* "/v1/devices/ID[SUFFIX]" */
static int device_path(struct svc_opts *o, const char *suffix, char *path, size_t n)
{
    char id[65];
    int rc = device_id_arg(o, o->args[0], id);
    if (rc == CLI_OK) {
        snprintf(path, n, "/v1/devices/%s%s", id, suffix);
    }
    return rc;
}

static int run_devices_show(struct svc_opts *o, const struct svc_sub *sub)
{
    char path[160];
    int rc = device_path(o, "", path, sizeof path);
    (void)sub;
    return rc != CLI_OK ? rc : show(o, "GET", path, NULL, device_detail, NCOLS(device_detail));
}

static int run_devices_quarantine(struct svc_opts *o, const struct svc_sub *sub)
{
    char path[160];
    (void)sub;
    if (o->reason == NULL) {
        return cli_usage_error("svc", "devices quarantine needs --reason TEXT");
    }
    int rc = device_path(o, "/quarantine", path, sizeof path);
    return rc != CLI_OK ? rc
                        : show(o, "POST", path, json_pack("{s:s}", "reason", o->reason),
                               device_detail, NCOLS(device_detail));
}

static int run_devices_release(struct svc_opts *o, const struct svc_sub *sub)
{
    char path[160];
    (void)sub;
    int rc = device_path(o, "/release", path, sizeof path);
    return rc != CLI_OK ? rc
                        : show(o, "POST", path, json_object(), device_detail,
                               NCOLS(device_detail));
}

static int run_devices_set_group(struct svc_opts *o, const struct svc_sub *sub)
{
    char path[160];
    (void)sub;
    int rc = device_path(o, "", path, sizeof path);
    return rc != CLI_OK ? rc
                        : show(o, "PUT", path, json_pack("{s:s}", "group", o->args[1]),
                               device_detail, NCOLS(device_detail));
}

/* --image: 64 hex, or an image file whose measurement is the id. */
static int image_id_arg(const char *arg, char id[65])
{
    uint8_t raw[32];
    size_t n = 0;
    if (strlen(arg) == 64 && cli_parse_hex(arg, raw, sizeof raw, &n) == 0 && n == 32) {
        cli_hex32(id, raw);
        return CLI_OK;
    }
    uint8_t *img = NULL;
    size_t len = 0;
    int rc = cli_read_file("reading image", arg, SVC_IMAGE_MAX, 0, &img, &len);
    if (rc != CLI_OK) {
        return rc;
    }
    struct nacre_image_info info;
    nacre_update_status st = nacre_image_parse(img, len, &info);
    cli_free_file(img, len, 0);
    if (st != NACRE_UPDATE_OK) {
        return cli_fail("reading image %s: %s", arg, nacre_update_strerror(st));
    }
    cli_hex32(id, info.measurement);
    return CLI_OK;
}

static int run_deploy_create(struct svc_opts *o, const struct svc_sub *sub)
{
    (void)sub;
    if (o->group == NULL || o->image == NULL) {
        return cli_usage_error("svc", "deploy create needs --group G and --image ID|IMG");
    }
    char id[65];
    int rc = image_id_arg(o->image, id);
    if (rc != CLI_OK) {
        return rc;
    }
    json_t *waves = json_array();
    const char *w = o->waves != NULL ? o->waves : "100";
    char buf[256];
    snprintf(buf, sizeof buf, "%s", w);
    for (char *save = NULL, *t = strtok_r(buf, ",", &save); t != NULL;
         t = strtok_r(NULL, ",", &save)) {
        uint32_t pct = 0;
        if (cli_parse_u32(t, &pct) != 0 || pct == 0 || pct > 100) {
            json_decref(waves);
            return cli_usage_error("svc", "--waves needs percentages 1..100 like 10,50,100, "
                                   "not '%s'", w);
        }
        json_array_append_new(waves, json_integer(pct));
    }
    double rate = 0.25;
    if (o->max_fail != NULL) {
        char *end = NULL;
        rate = strtod(o->max_fail, &end);
        if (end == o->max_fail || *end != '\0' || !(rate >= 0.0 && rate <= 1.0)) {
            json_decref(waves);
            return cli_usage_error("svc", "--max-failure-rate needs 0..1, not '%s'", o->max_fail);
        }
    }
    json_t *body = json_pack("{s:s, s:s, s:o, s:f}", "group", o->group, "image_id", id, "waves",
                             waves, "max_failure_rate", rate);
    return show(o, "POST", "/v1/deployments", body, deploy_cols, NCOLS(deploy_cols));
}

static int run_deploy_list(struct svc_opts *o, const struct svc_sub *sub)
{
    (void)sub;
    return list(o, "/v1/deployments", "deployments", deploy_cols, NCOLS(deploy_cols));
}

static int deploy_id_path(struct svc_opts *o, const char *suffix, char *path, size_t n)
{
    uint64_t id = 0;
    if (cli_parse_u64(o->args[0], &id) != 0) {
        return cli_usage_error("svc", "a deployment id is a number, not '%s'", o->args[0]);
    }
    snprintf(path, n, "/v1/deployments/%llu%s", (unsigned long long)id, suffix);
    return CLI_OK;
}

/* A deployment, with its device counts. */
static int show_deployment(struct svc_opts *o, const char *method, const char *path)
{
    json_t *root = NULL;
    int rc = request(o, method, path, strcmp(method, "POST") == 0 ? json_object() : NULL, &root);
    if (rc != CLI_OK) {
        json_decref(root);
        return rc;
    }
    if (o->json) {
        return answer_json(root);
    }
    print_object(root, deploy_cols, NCOLS(deploy_cols));
    json_t *d = json_object_get(root, "devices");
    if (json_is_object(d)) {
        cli_kv("devices", "total %lld, offered %lld, confirmed %lld, failed %lld, crashed %lld",
               (long long)json_integer_value(json_object_get(d, "total")),
               (long long)json_integer_value(json_object_get(d, "offered")),
               (long long)json_integer_value(json_object_get(d, "confirmed")),
               (long long)json_integer_value(json_object_get(d, "failed")),
               (long long)json_integer_value(json_object_get(d, "crashed")));
    }
    json_decref(root);
    return CLI_OK;
}

static int run_deploy_show(struct svc_opts *o, const struct svc_sub *sub)
{
    char path[96];
    (void)sub;
    int rc = deploy_id_path(o, "", path, sizeof path);
    return rc != CLI_OK ? rc : show_deployment(o, "GET", path);
}

static int run_deploy_halt(struct svc_opts *o, const struct svc_sub *sub)
{
    char path[96];
    (void)sub;
    int rc = deploy_id_path(o, "/halt", path, sizeof path);
    return rc != CLI_OK ? rc : show_deployment(o, "POST", path);
}

static int run_deploy_resume(struct svc_opts *o, const struct svc_sub *sub)
{
    char path[96];
    (void)sub;
    int rc = deploy_id_path(o, "/resume", path, sizeof path);
    return rc != CLI_OK ? rc : show_deployment(o, "POST", path);
}

static int run_failures(struct svc_opts *o, const struct svc_sub *sub)
{
    (void)sub;
    static const struct col cols[] = {
        {"bucket", "BUCKET", COL_SHORT}, {"app", "APP", COL_STR},
        {"signal", "SIGNAL", COL_STR},   {"version", "VERSION", COL_STR},
        {"count", "COUNT", COL_INT},     {"devices", "DEVICES", COL_INT},
        {"last_seen", "LAST SEEN", COL_TIME},
    };
    return list(o, "/v1/failures", "buckets", cols, NCOLS(cols));
}

static int run_alerts(struct svc_opts *o, const struct svc_sub *sub)
{
    (void)sub;
    static const struct col cols[] = {
        {"id", "ID", COL_INT},       {"device_id", "DEVICE", COL_SHORT},
        {"rule", "RULE", COL_STR},   {"time", "TIME", COL_TIME},
        {"detail", "DETAIL", COL_STR},
    };
    return list(o, "/v1/alerts", "alerts", cols, NCOLS(cols));
}

static int run_events(struct svc_opts *o, const struct svc_sub *sub)
{
    (void)sub;
    static const struct col cols[] = {
        {"device_id", "DEVICE", COL_SHORT}, {"seq", "SEQ", COL_INT},
        {"time", "TIME", COL_TIME},         {"type", "TYPE", COL_STR},
        {"app", "APP", COL_STR},            {"code", "CODE", COL_INT},
        {"detail", "DETAIL", COL_STR},
    };
    char path[256] = "/v1/events";
    char id[65];
    uint32_t limit = 0;
    size_t used = strlen(path);
    const char *sep = "?";
    if (o->device != NULL) {
        int rc = device_id_arg(o, o->device, id);
        if (rc != CLI_OK) {
            return rc;
        }
        used += (size_t)snprintf(path + used, sizeof path - used, "%sdevice=%s", sep, id);
        sep = "&";
    }
    if (o->limit != NULL) {
        if (cli_parse_u32(o->limit, &limit) != 0 || limit == 0) {
            return cli_usage_error("svc", "--limit needs a number > 0, not '%s'", o->limit);
        }
        snprintf(path + used, sizeof path - used, "%slimit=%lu", sep, (unsigned long)limit);
    }
    return list(o, path, "events", cols, NCOLS(cols));
}

static int run_summary(struct svc_opts *o, const struct svc_sub *sub)
{
    (void)sub;
    static const struct col cols[] = {
        {"devices", "devices", COL_INT},         {"attested", "attested", COL_INT},
        {"flagged", "flagged", COL_INT},         {"quarantined", "quarantined", COL_INT},
        {"deployments", "deployments", COL_INT}, {"alerts", "alerts", COL_INT},
        {"buckets", "failure buckets", COL_INT},
    };
    return show(o, "GET", "/v1/summary", NULL, cols, NCOLS(cols));
}

static const struct svc_sub subs[] = {
    {"tenant", "create", "tenant create NAME --root-pub ROOT.pub.pem", O_ROOT_PUB, 1,
     run_tenant_create},
    {"tenant", "list", "tenant list", 0, 0, run_tenant_list},
    {"token", "create", "token create --role admin|read-only [--label TEXT]", O_ROLE | O_LABEL, 0,
     run_token_create},
    {"token", "list", "token list", 0, 0, run_token_list},
    {"token", "revoke", "token revoke ID", 0, 1, run_token_revoke},
    {"ca", NULL, "ca [--out CA.pem]", O_OUT, 0, run_ca},
    {"image", "upload", "image upload IMG", 0, 1, run_image_upload},
    {"image", "list", "image list", 0, 0, run_image_list},
    {"group", "create", "group create NAME", 0, 1, run_group_create},
    {"group", "list", "group list", 0, 0, run_group_list},
    {"devices", "claim", "devices claim (--pubkey HEX | --device DIR) --group G [--label TEXT]",
     O_PUBKEY | O_DEVICE | O_GROUP | O_LABEL, 0, run_devices_claim},
    {"devices", "list", "devices list", 0, 0, run_devices_list},
    {"devices", "show", "devices show ID|DIR", 0, 1, run_devices_show},
    {"devices", "quarantine", "devices quarantine ID|DIR --reason TEXT", O_REASON, 1,
     run_devices_quarantine},
    {"devices", "release", "devices release ID|DIR", 0, 1, run_devices_release},
    {"devices", "set-group", "devices set-group ID|DIR GROUP", 0, 2, run_devices_set_group},
    {"deploy", "create",
     "deploy create --group G --image ID|IMG [--waves 10,50,100] [--max-failure-rate 0.25]",
     O_GROUP | O_IMAGE | O_WAVES | O_MAX_FAIL, 0, run_deploy_create},
    {"deploy", "list", "deploy list", 0, 0, run_deploy_list},
    {"deploy", "show", "deploy show ID", 0, 1, run_deploy_show},
    {"deploy", "halt", "deploy halt ID", 0, 1, run_deploy_halt},
    {"deploy", "resume", "deploy resume ID", 0, 1, run_deploy_resume},
    {"failures", NULL, "failures", 0, 0, run_failures},
    {"alerts", NULL, "alerts", 0, 0, run_alerts},
    {"events", NULL, "events [--device ID|DIR] [--limit N]", O_DEVICE | O_LIMIT, 0, run_events},
    {"summary", NULL, "summary", 0, 0, run_summary},
};
#define SUB_COUNT (sizeof subs / sizeof subs[0])

/* Help of one resource: its subcommands' synopses. */
static int resource_help(const char *group)
{
    printf("usage:\n");
    for (size_t i = 0; i < SUB_COUNT; i++) {
        if (strcmp(subs[i].group, group) == 0) {
            printf("  nacre svc %s\n", subs[i].synopsis);
        }
    }
    printf("\ncommon options: --service URL, --token T | --token-file F, --json, --help\n"
           "(see 'nacre svc --help')\n");
    return CLI_OK;
}

static int is_help(const char *s)
{
    return strcmp(s, "-h") == 0 || strcmp(s, "--help") == 0;
}

/* Read the token file (first line, whitespace trimmed). */
static int read_token_file(struct svc_opts *o, const char *path)
{
    uint8_t *data = NULL;
    size_t len = 0;
    int rc = cli_read_file("reading token file", path, SVC_TOKEN_MAX, 1, &data, &len);
    if (rc != CLI_OK) {
        return rc;
    }
    size_t n = 0;
    while (n < len && data[n] != '\n' && data[n] != '\r' && data[n] != ' ' && data[n] != '\t') {
        n++;
    }
    memcpy(o->token_buf, data, n);
    o->token_buf[n] = '\0';
    cli_free_file(data, len, 1);
    if (n == 0) {
        return cli_fail("reading token file %s: empty", path);
    }
    o->svc.token = o->token_buf;
    return CLI_OK;
}

static int run_svc(int argc, char **argv)
{
    if (argc < 2) {
        return cli_usage_error("svc", "missing resource (tenant, token, ca, image, group, "
                               "devices, deploy, failures, alerts, events, summary)");
    }
    if (is_help(argv[1])) {
        fputs(svc_usage, stdout);
        return CLI_OK;
    }
    const char *group = argv[1];
    const struct svc_sub *sub = NULL;
    int known_group = 0;
    int skip = 2;
    for (size_t i = 0; i < SUB_COUNT; i++) {
        if (strcmp(subs[i].group, group) != 0) {
            continue;
        }
        known_group = 1;
        if (subs[i].name == NULL) {
            sub = &subs[i];
            break;
        }
        if (argc > 2 && strcmp(subs[i].name, argv[2]) == 0) {
            sub = &subs[i];
            skip = 3;
            break;
        }
    }
    if (!known_group) {
        return cli_usage_error("svc", "unknown resource '%s'", group);
    }
    if (sub == NULL) {
        if (argc > 2 && is_help(argv[2])) {
            return resource_help(group);
        }
        if (argc == 2) {
            return cli_usage_error("svc", "%s: missing action", group);
        }
        return cli_usage_error("svc", "%s: unknown action '%s'", group, argv[2]);
    }

    enum {
        OPT_SERVICE = 256, OPT_TOKEN, OPT_TOKEN_FILE, OPT_JSON, OPT_ROOT_PUB, OPT_ROLE, OPT_LABEL,
        OPT_GROUP, OPT_IMAGE, OPT_WAVES, OPT_MAX_FAIL, OPT_PUBKEY, OPT_DEVICE, OPT_REASON,
        OPT_LIMIT, OPT_OUT,
    };
    static const struct option opts[] = {
        {"service", required_argument, NULL, OPT_SERVICE},
        {"token", required_argument, NULL, OPT_TOKEN},
        {"token-file", required_argument, NULL, OPT_TOKEN_FILE},
        {"json", no_argument, NULL, OPT_JSON},
        {"root-pub", required_argument, NULL, OPT_ROOT_PUB},
        {"role", required_argument, NULL, OPT_ROLE},
        {"label", required_argument, NULL, OPT_LABEL},
        {"group", required_argument, NULL, OPT_GROUP},
        {"image", required_argument, NULL, OPT_IMAGE},
        {"waves", required_argument, NULL, OPT_WAVES},
        {"max-failure-rate", required_argument, NULL, OPT_MAX_FAIL},
        {"pubkey", required_argument, NULL, OPT_PUBKEY},
        {"device", required_argument, NULL, OPT_DEVICE},
        {"reason", required_argument, NULL, OPT_REASON},
        {"limit", required_argument, NULL, OPT_LIMIT},
        {"out", required_argument, NULL, OPT_OUT},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    static const unsigned bit_of[] = {
        [OPT_ROOT_PUB - OPT_ROOT_PUB] = O_ROOT_PUB, [OPT_ROLE - OPT_ROOT_PUB] = O_ROLE,
        [OPT_LABEL - OPT_ROOT_PUB] = O_LABEL,       [OPT_GROUP - OPT_ROOT_PUB] = O_GROUP,
        [OPT_IMAGE - OPT_ROOT_PUB] = O_IMAGE,       [OPT_WAVES - OPT_ROOT_PUB] = O_WAVES,
        [OPT_MAX_FAIL - OPT_ROOT_PUB] = O_MAX_FAIL, [OPT_PUBKEY - OPT_ROOT_PUB] = O_PUBKEY,
        [OPT_DEVICE - OPT_ROOT_PUB] = O_DEVICE,     [OPT_REASON - OPT_ROOT_PUB] = O_REASON,
        [OPT_LIMIT - OPT_ROOT_PUB] = O_LIMIT,       [OPT_OUT - OPT_ROOT_PUB] = O_OUT,
    };
    struct svc_opts o;
    const char *token_file = NULL;
    memset(&o, 0, sizeof o);
    snprintf(o.what, sizeof o.what, "svc %s%s%s", sub->group, sub->name != NULL ? " " : "",
             sub->name != NULL ? sub->name : "");
    o.svc.what = o.what;
    o.svc.url = getenv("NACRE_SERVICE");
    o.svc.token = getenv("NACRE_TOKEN");
    int c;
    int li = -1;
    int sub_argc = argc - (skip - 1);
    char **sub_argv = argv + (skip - 1);
    cli_getopt_reset();
    while ((c = getopt_long(sub_argc, sub_argv, ":h", opts, &li)) != -1) {
        if (c >= OPT_ROOT_PUB && c <= OPT_OUT && !(sub->opts & bit_of[c - OPT_ROOT_PUB])) {
            return cli_usage_error("svc", "%s does not take --%s", o.what + 4,
                                   li >= 0 ? opts[li].name : "this option");
        }
        switch (c) {
        case OPT_SERVICE: o.svc.url = optarg; break;
        case OPT_TOKEN: o.svc.token = optarg; break;
        case OPT_TOKEN_FILE: token_file = optarg; break;
        case OPT_JSON: o.json = 1; break;
        case OPT_ROOT_PUB: o.root_pub = optarg; break;
        case OPT_ROLE: o.role = optarg; break;
        case OPT_LABEL: o.label = optarg; break;
        case OPT_GROUP: o.group = optarg; break;
        case OPT_IMAGE: o.image = optarg; break;
        case OPT_WAVES: o.waves = optarg; break;
        case OPT_MAX_FAIL: o.max_fail = optarg; break;
        case OPT_PUBKEY: o.pubkey = optarg; break;
        case OPT_DEVICE: o.device = optarg; break;
        case OPT_REASON: o.reason = optarg; break;
        case OPT_LIMIT: o.limit = optarg; break;
        case OPT_OUT: o.out = optarg; break;
        case 'h':
            return resource_help(sub->group);
        default:
            return cli_bad_option("svc", c, sub_argv);
        }
    }
    o.args = sub_argv + optind;
    o.nargs = sub_argc - optind;
    if (o.nargs < sub->nargs) {
        return cli_usage_error("svc", "usage: nacre svc %s", sub->synopsis);
    }
    if (o.nargs > sub->nargs) {
        return cli_usage_error("svc", "%s: unexpected argument '%s'", o.what + 4,
                               o.args[sub->nargs]);
    }
    if ((strcmp(sub->group, "tenant") == 0 || strcmp(sub->group, "group") == 0) &&
        sub->nargs == 1 && !name_ok(o.args[0])) {
        return cli_usage_error("svc", "a name is 1..40 of [a-z0-9._-], starting with a letter "
                               "or digit, not '%s'", o.args[0]);
    }
    if (o.svc.url == NULL || o.svc.url[0] == '\0') {
        o.svc.url = SVC_DEFAULT_URL;
    }
    if (token_file != NULL) {
        int rc = read_token_file(&o, token_file);
        if (rc != CLI_OK) {
            return rc;
        }
    }
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        return cli_fail("%s: libcurl failed to initialise", o.what);
    }
    int rc = sub->run(&o, sub);
    sodium_memzero(o.token_buf, sizeof o.token_buf);
    curl_global_cleanup();
    return rc;
}

const struct cli_command cli_cmd_svc = {
    .name = "svc",
    .summary = "operate a fleet through nacre-service (tenants, devices, deployments, ...)",
    .usage = svc_usage,
    .run = run_svc,
};
