/*
 * manifest.c - app manifests (nacre/sandbox.h, docs/sandbox.md).
 *
 * A manifest is the whole of an app's authority: secmon grants a request
 * only if the manifest names it, and the sandbox grants nothing else. So the
 * parser is a whitelist in both directions: every key it does not know is
 * an error (a misspelt "Capabilites" must not silently grant nothing while
 * the author believes it grants something, and a key from a future schema
 * must not be ignored by an old device), every value has one type and one
 * range, and every refusal names the exact JSON path so that a developer can
 * fix it without guessing. jansson does the JSON syntax (including strict
 * UTF-8, no NUL in strings and, with JSON_REJECT_DUPLICATES, no key given
 * twice: two "SizeKB" values would otherwise be resolved by whichever the
 * parser keeps).
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include <nacre/sandbox.h>
#include "sandbox_priv.h"

/* Longest JSON path we print: "Capabilities.MutableStorage." + a key cut
 * to KEY_PRINT_MAX characters + "...". */
#define PATH_MAX_CHARS 128u
#define KEY_PRINT_MAX 40u
#define DNS_LABEL_MAX 63u
#define PERIPHERAL_ID_MAX 31
#define NAME_MAX_CHARS 32u
#define ENTRY_POINT_MAX_CHARS 128u
#define UUID_CHARS 36u

_Static_assert(sizeof(((struct nacre_app_manifest *)0)->name) == NAME_MAX_CHARS + 1, "name size");
_Static_assert(sizeof(((struct nacre_app_manifest *)0)->component_id) == UUID_CHARS + 1, "uuid size");
_Static_assert(sizeof(((struct nacre_app_manifest *)0)->entry_point) == ENTRY_POINT_MAX_CHARS + 1,
               "entry point size");
_Static_assert(NACRE_MANIFEST_PERIPHERALS_MAX <= 32, "peripheral ids fit a 32-bit mask");

void sandbox_verror(char *error, size_t error_max, const char *fmt, va_list ap)
{
    if (error == NULL || error_max == 0) {
        return;
    }
    int n = vsnprintf(error, error_max, fmt, ap);
    if (n < 0) {
        error[0] = '\0';
    }
}

void sandbox_error(char *error, size_t error_max, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    sandbox_verror(error, error_max, fmt, ap);
    va_end(ap);
}

/* Where a refusal goes. */
struct report {
    char *error;
    size_t error_max;
};

static nacre_sandbox_status refuse(const struct report *r, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* "<path>: <reason>" and ERR_MANIFEST. */
static nacre_sandbox_status refuse(const struct report *r, const char *path, const char *fmt, ...)
{
    char reason[160];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(reason, sizeof reason, fmt, ap);
    va_end(ap);
    if (n < 0) {
        reason[0] = '\0';
    }
    sandbox_error(r->error, r->error_max, "%s: %s", path, reason);
    return NACRE_SANDBOX_ERR_MANIFEST;
}

/*
 * A key as it may appear in a message: an attacker-written key may hold
 * control characters (a second "line" in a log) or be very long, so print
 * at most KEY_PRINT_MAX bytes and replace anything outside printable ASCII.
 */
static void key_printable(char *out, size_t out_max, const char *key)
{
    size_t n = 0;
    size_t i = 0;
    for (; key[i] != '\0' && i < KEY_PRINT_MAX && n + 1 < out_max; i++) {
        unsigned char c = (unsigned char)key[i];
        out[n++] = (c >= 0x20 && c < 0x7f) ? (char)c : '?';
    }
    if (key[i] != '\0' && n + 3 < out_max) {
        memcpy(out + n, "...", 3);
        n += 3;
    }
    out[n] = '\0';
}

/* parent "." key (or just key at the top level), printable. */
static void path_key(char *out, size_t out_max, const char *parent, const char *key)
{
    char k[KEY_PRINT_MAX + 4];
    key_printable(k, sizeof k, key);
    if (parent[0] == '\0') {
        snprintf(out, out_max, "%s", k);
    } else {
        snprintf(out, out_max, "%s.%s", parent, k);
    }
}

static char ascii_lower(char c)
{
    return (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
}

/* Case-insensitive equality in ASCII only: the C locale must not matter. */
static int ascii_case_equal(const char *a, const char *b)
{
    for (; *a != '\0' && *b != '\0'; a++, b++) {
        if (ascii_lower(*a) != ascii_lower(*b)) {
            return 0;
        }
    }
    return *a == *b;
}

static int is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static int is_hex_lower(char c)
{
    return is_digit(c) || (c >= 'a' && c <= 'f');
}

static int is_alnum(char c)
{
    return is_digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/* ---- scalar fields ---------------------------------------------------- */

static int name_ok(const char *s, size_t len)
{
    if (len < 1 || len > NAME_MAX_CHARS) {
        return 0;
    }
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || is_digit(c) || c == '.' || c == '_' || c == '-')) {
            return 0;
        }
    }
    return 1;
}

/* The canonical text form only (RFC 9562 section 4, lower case): one
 * spelling per UUID, so that ComponentId compares as a string everywhere
 * (secmon derives the app's keys from it). */
static int uuid_ok(const char *s, size_t len)
{
    if (len != UUID_CHARS) {
        return 0;
    }
    for (size_t i = 0; i < len; i++) {
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (s[i] != '-') {
                return 0;
            }
        } else if (!is_hex_lower(s[i])) {
            return 0;
        }
    }
    return 1;
}

/* Informational only (the executable is the package's), but it ends up in
 * logs: an absolute path of printable ASCII without spaces. */
static int entry_point_ok(const char *s, size_t len)
{
    if (len < 1 || len > ENTRY_POINT_MAX_CHARS || s[0] != '/') {
        return 0;
    }
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x21 || c > 0x7e) {
            return 0;
        }
    }
    return 1;
}

/* A string field: type, then the character rules of ok(), then copy. */
static nacre_sandbox_status take_string(const struct report *r, const char *path, json_t *v,
                                        int (*ok)(const char *, size_t), const char *rule,
                                        char *dst, size_t dst_size)
{
    if (!json_is_string(v)) {
        return refuse(r, path, "must be a string");
    }
    const char *s = json_string_value(v);
    size_t len = json_string_length(v);
    /* jansson refuses \u0000 without JSON_ALLOW_NUL, so len == strlen(s);
     * the check keeps that assumption visible. */
    if (strlen(s) != len || !ok(s, len) || len >= dst_size) {
        return refuse(r, path, "%s", rule);
    }
    memcpy(dst, s, len);
    dst[len] = '\0';
    return NACRE_SANDBOX_OK;
}

/* ---- AllowedConnections ----------------------------------------------- */

/* RFC 3986 dec-octet: 0..255 without leading zeros ("010" is octal to some
 * resolvers and decimal to others: refuse the ambiguity). */
static int ipv4_ok(const char *s, size_t len)
{
    size_t i = 0;
    for (int octet = 0; octet < 4; octet++) {
        if (octet > 0) {
            if (i >= len || s[i] != '.') {
                return 0;
            }
            i++;
        }
        size_t start = i;
        unsigned value = 0;
        while (i < len && is_digit(s[i]) && i - start < 3) {
            value = value * 10u + (unsigned)(s[i] - '0');
            i++;
        }
        size_t digits = i - start;
        if (digits == 0 || value > 255 || (digits > 1 && s[start] == '0')) {
            return 0;
        }
    }
    return i == len;
}

/* RFC 1123 host name: labels of 1..63 letters, digits and hyphens, not
 * starting or ending with a hyphen; the last label is not all digits (RFC
 * 3696 section 2, so that "1.2.3.999" is never a "name"). No trailing dot:
 * a second spelling of the same host would defeat exact matching. */
static int dns_name_ok(const char *s, size_t len)
{
    if (len < 1 || len > NACRE_MANIFEST_HOST_MAX) {
        return 0;
    }
    size_t label_start = 0;
    int label_all_digits = 1;
    for (size_t i = 0; i <= len; i++) {
        if (i == len || s[i] == '.') {
            size_t label_len = i - label_start;
            if (label_len < 1 || label_len > DNS_LABEL_MAX || s[label_start] == '-' ||
                s[i - 1] == '-') {
                return 0;
            }
            if (i == len && label_all_digits) {
                return 0;
            }
            label_start = i + 1;
            label_all_digits = 1;
            continue;
        }
        if (!(is_alnum(s[i]) || s[i] == '-')) {
            return 0;
        }
        if (!is_digit(s[i])) {
            label_all_digits = 0;
        }
    }
    return 1;
}

/* RFC 4291 section 2.2 text forms (no zone index: a link-local scope is a
 * property of this host's interfaces, not something a manifest can name). */
static int ipv6_ok(const char *s, size_t len)
{
    char buf[INET6_ADDRSTRLEN];
    unsigned char addr[16];
    if (len < 2 || len >= sizeof buf) {
        return 0;
    }
    for (size_t i = 0; i < len; i++) {
        char c = ascii_lower(s[i]);
        if (!(is_hex_lower(c) || c == ':' || c == '.')) {
            return 0;
        }
    }
    memcpy(buf, s, len);
    buf[len] = '\0';
    return inet_pton(AF_INET6, buf, addr) == 1;
}

static int all_digits_and_dots(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        if (!is_digit(s[i]) && s[i] != '.') {
            return 0;
        }
    }
    return 1;
}

/* One "host:port" entry into c; path names it in a refusal. */
static nacre_sandbox_status take_connection(const struct report *r, const char *path, json_t *v,
                                            struct nacre_manifest_connection *c)
{
    if (!json_is_string(v)) {
        return refuse(r, path, "must be a string");
    }
    const char *s = json_string_value(v);
    size_t len = json_string_length(v);
    const char *host;
    size_t host_len;
    const char *port_text;
    int bracketed = 0;
    if (len > 0 && s[0] == '[') {
        const char *close = memchr(s, ']', len);
        if (close == NULL || (size_t)(close - s) + 1 >= len || close[1] != ':') {
            return refuse(r, path, "must be host:port ([IPv6]:port for an IPv6 address)");
        }
        host = s + 1;
        host_len = (size_t)(close - host);
        port_text = close + 2;
        bracketed = 1;
    } else {
        const char *colon = NULL;
        for (size_t i = 0; i < len; i++) {
            if (s[i] == ':') {
                colon = s + i;
            }
        }
        if (colon == NULL || colon == s) {
            return refuse(r, path, "must be host:port");
        }
        host = s;
        host_len = (size_t)(colon - s);
        port_text = colon + 1;
        if (memchr(host, ':', host_len) != NULL) {
            return refuse(r, path, "an IPv6 host must be written in brackets: [addr]:port");
        }
    }

    size_t port_len = (size_t)(s + len - port_text);
    if (port_len == 0 || (port_len > 1 && port_text[0] == '0')) {
        return refuse(r, path, "port must be a decimal number 1..65535");
    }
    unsigned long port = 0;
    for (size_t i = 0; i < port_len; i++) {
        if (!is_digit(port_text[i])) {
            return refuse(r, path, "port must be a decimal number 1..65535");
        }
        if (port <= 65535ul) {
            port = port * 10ul + (unsigned long)(port_text[i] - '0');
        }
    }
    if (port < 1 || port > 65535ul) {
        return refuse(r, path, "port out of range (1..65535)");
    }

    if (host_len > NACRE_MANIFEST_HOST_MAX) {
        return refuse(r, path, "host longer than %u characters", NACRE_MANIFEST_HOST_MAX);
    }
    if (bracketed) {
        if (!ipv6_ok(host, host_len)) {
            return refuse(r, path, "host is not a valid IPv6 address");
        }
    } else if (all_digits_and_dots(host, host_len)) {
        if (!ipv4_ok(host, host_len)) {
            return refuse(r, path, "host is not a valid IPv4 address");
        }
    } else if (!dns_name_ok(host, host_len)) {
        return refuse(r, path, "host is not a valid DNS name");
    }

    memcpy(c->host, host, host_len);
    c->host[host_len] = '\0';
    c->port = (uint16_t)port;
    return NACRE_SANDBOX_OK;
}

static nacre_sandbox_status take_connections(const struct report *r, const char *path, json_t *v,
                                             struct nacre_app_manifest *out)
{
    if (!json_is_array(v)) {
        return refuse(r, path, "must be an array");
    }
    size_t n = json_array_size(v);
    if (n > NACRE_MANIFEST_CONNECTIONS_MAX) {
        return refuse(r, path, "more than %u entries", NACRE_MANIFEST_CONNECTIONS_MAX);
    }
    for (size_t i = 0; i < n; i++) {
        char item[PATH_MAX_CHARS + 8]; /* path + "[15]" */
        snprintf(item, sizeof item, "%s[%zu]", path, i);
        struct nacre_manifest_connection *c = &out->connections[i];
        nacre_sandbox_status st = take_connection(r, item, json_array_get(v, i), c);
        if (st != NACRE_SANDBOX_OK) {
            return st;
        }
        /* A duplicate is harmless to enforce but is a sign of a manifest
         * edited without care; one spelling per grant keeps reviews honest. */
        for (size_t j = 0; j < i; j++) {
            if (out->connections[j].port == c->port && ascii_case_equal(out->connections[j].host, c->host)) {
                return refuse(r, item, "duplicate of %s[%zu]", path, j);
            }
        }
        out->connection_count = (unsigned)(i + 1);
    }
    return NACRE_SANDBOX_OK;
}

/* ---- other capabilities ------------------------------------------------ */

static nacre_sandbox_status take_peripherals(const struct report *r, const char *path, json_t *v,
                                             uint32_t *mask)
{
    if (!json_is_array(v)) {
        return refuse(r, path, "must be an array");
    }
    size_t n = json_array_size(v);
    if (n > NACRE_MANIFEST_PERIPHERALS_MAX) {
        return refuse(r, path, "more than %u entries", NACRE_MANIFEST_PERIPHERALS_MAX);
    }
    for (size_t i = 0; i < n; i++) {
        char item[PATH_MAX_CHARS + 8]; /* path + "[15]" */
        snprintf(item, sizeof item, "%s[%zu]", path, i);
        json_t *e = json_array_get(v, i);
        if (!json_is_integer(e) || json_integer_value(e) < 0 ||
            json_integer_value(e) > PERIPHERAL_ID_MAX) {
            return refuse(r, item, "must be an integer 0..%d", PERIPHERAL_ID_MAX);
        }
        uint32_t bit = 1u << (unsigned)json_integer_value(e);
        if (*mask & bit) {
            return refuse(r, item, "duplicate id %lld", (long long)json_integer_value(e));
        }
        *mask |= bit;
    }
    return NACRE_SANDBOX_OK;
}

static nacre_sandbox_status take_bool(const struct report *r, const char *path, json_t *v, int *dst)
{
    if (!json_is_boolean(v)) {
        return refuse(r, path, "must be true or false");
    }
    *dst = json_is_true(v) ? 1 : 0;
    return NACRE_SANDBOX_OK;
}

static nacre_sandbox_status take_storage(const struct report *r, const char *path, json_t *v,
                                         struct nacre_app_manifest *out)
{
    if (!json_is_object(v)) {
        return refuse(r, path, "must be an object");
    }
    const char *key;
    json_t *value;
    char sub[PATH_MAX_CHARS];
    json_object_foreach(v, key, value) {
        path_key(sub, sizeof sub, path, key);
        if (strcmp(key, "SizeKB") != 0) {
            return refuse(r, sub, "unknown key");
        }
        if (!json_is_integer(value) || json_integer_value(value) < 1 ||
            json_integer_value(value) > (json_int_t)NACRE_MANIFEST_STORAGE_KB_MAX) {
            return refuse(r, sub, "must be an integer 1..%u", NACRE_MANIFEST_STORAGE_KB_MAX);
        }
        out->storage_kb = (uint32_t)json_integer_value(value);
    }
    if (out->storage_kb == 0) {
        path_key(sub, sizeof sub, path, "SizeKB");
        return refuse(r, sub, "missing");
    }
    return NACRE_SANDBOX_OK;
}

static nacre_sandbox_status take_capabilities(const struct report *r, json_t *v,
                                              struct nacre_app_manifest *out)
{
    static const char path[] = "Capabilities";
    if (!json_is_object(v)) {
        return refuse(r, path, "must be an object");
    }
    const char *key;
    json_t *value;
    json_object_foreach(v, key, value) {
        char sub[PATH_MAX_CHARS];
        path_key(sub, sizeof sub, path, key);
        nacre_sandbox_status st;
        if (strcmp(key, "AllowedConnections") == 0) {
            st = take_connections(r, sub, value, out);
        } else if (strcmp(key, "MutableStorage") == 0) {
            st = take_storage(r, sub, value, out);
        } else if (strcmp(key, "Gpio") == 0) {
            st = take_peripherals(r, sub, value, &out->gpio_mask);
        } else if (strcmp(key, "Uart") == 0) {
            st = take_peripherals(r, sub, value, &out->uart_mask);
        } else if (strcmp(key, "I2cMaster") == 0) {
            st = take_peripherals(r, sub, value, &out->i2c_mask);
        } else if (strcmp(key, "DeviceAuthentication") == 0) {
            st = take_bool(r, sub, value, &out->device_authentication);
        } else if (strcmp(key, "SoftwareUpdate") == 0) {
            st = take_bool(r, sub, value, &out->software_update);
        } else {
            st = refuse(r, sub, "unknown key");
        }
        if (st != NACRE_SANDBOX_OK) {
            return st;
        }
    }
    return NACRE_SANDBOX_OK;
}

/* ---- the document -------------------------------------------------------- */

/* A jansson syntax error as "JSON: <kind> at line L column C[: detail]". */
static nacre_sandbox_status refuse_json(const struct report *r, const json_error_t *je)
{
    const char *kind;
    int with_text = 0;
    switch (json_error_code(je)) {
    case json_error_duplicate_key:
        kind = "duplicate key";
        break;
    case json_error_end_of_input_expected:
        kind = "trailing data after the object";
        break;
    case json_error_premature_end_of_input:
        kind = "truncated";
        break;
    case json_error_invalid_utf8:
        kind = "invalid UTF-8";
        break;
    case json_error_null_character:
    case json_error_null_byte_in_key:
        kind = "NUL character";
        break;
    case json_error_numeric_overflow:
        kind = "number out of range";
        break;
    case json_error_stack_overflow:
        kind = "nested too deeply";
        break;
    case json_error_out_of_memory:
        kind = "out of memory";
        break;
    default:
        kind = "syntax error";
        with_text = 1;
        break;
    }
    char text[sizeof je->text];
    key_printable(text, sizeof text, je->text);
    sandbox_error(r->error, r->error_max, "JSON: %s at line %d column %d%s%s", kind, je->line,
                  je->column, with_text ? ": " : "", with_text ? text : "");
    return NACRE_SANDBOX_ERR_MANIFEST;
}

static nacre_sandbox_status take_document(const struct report *r, json_t *root,
                                          struct nacre_app_manifest *out)
{
    if (!json_is_object(root)) {
        sandbox_error(r->error, r->error_max, "manifest: must be a JSON object");
        return NACRE_SANDBOX_ERR_MANIFEST;
    }
    /* The schema version first: under another version every other key may
     * mean something else, so its errors would only mislead. */
    json_t *version = json_object_get(root, "SchemaVersion");
    if (version == NULL) {
        return refuse(r, "SchemaVersion", "missing");
    }
    if (!json_is_integer(version) || json_integer_value(version) != 1) {
        return refuse(r, "SchemaVersion", "must be 1");
    }

    /* Then every key in document order, so that the first error reported is
     * the first one in the file. */
    const char *key;
    json_t *value;
    json_object_foreach(root, key, value) {
        nacre_sandbox_status st = NACRE_SANDBOX_OK;
        if (strcmp(key, "SchemaVersion") == 0) {
            continue;
        } else if (strcmp(key, "Name") == 0) {
            st = take_string(r, "Name", value, name_ok, "must be 1..32 characters of [a-z0-9._-]",
                             out->name, sizeof out->name);
        } else if (strcmp(key, "ComponentId") == 0) {
            st = take_string(r, "ComponentId", value, uuid_ok,
                             "must be a lower-case UUID (8-4-4-4-12 hex digits)", out->component_id,
                             sizeof out->component_id);
        } else if (strcmp(key, "EntryPoint") == 0) {
            st = take_string(r, "EntryPoint", value, entry_point_ok,
                             "must be an absolute path of 1..128 printable ASCII characters",
                             out->entry_point, sizeof out->entry_point);
        } else if (strcmp(key, "Capabilities") == 0) {
            st = take_capabilities(r, value, out);
        } else {
            char path[PATH_MAX_CHARS];
            path_key(path, sizeof path, "", key);
            st = refuse(r, path, "unknown key");
        }
        if (st != NACRE_SANDBOX_OK) {
            return st;
        }
    }

    static const char *const required[] = {"Name", "ComponentId", "EntryPoint"};
    for (size_t i = 0; i < sizeof required / sizeof required[0]; i++) {
        if (json_object_get(root, required[i]) == NULL) {
            return refuse(r, required[i], "missing");
        }
    }
    return NACRE_SANDBOX_OK;
}

nacre_sandbox_status nacre_manifest_parse(const char *json, size_t len, struct nacre_app_manifest *out,
                                          char *error, size_t error_max)
{
    struct report r = {error, error_max};
    sandbox_error(error, error_max, "%s", "");
    if (out == NULL || (json == NULL && len > 0)) {
        sandbox_error(error, error_max, "manifest: invalid argument");
        return NACRE_SANDBOX_ERR_ARGUMENT;
    }
    /* Nothing is granted unless the whole manifest is valid. */
    memset(out, 0, sizeof *out);
    if (len > NACRE_MANIFEST_BYTES_MAX) {
        sandbox_error(error, error_max, "manifest: longer than %u bytes", NACRE_MANIFEST_BYTES_MAX);
        return NACRE_SANDBOX_ERR_MANIFEST;
    }
    json_error_t je;
    memset(&je, 0, sizeof je);
    json_t *root = json_loadb(json != NULL ? json : "", len, JSON_REJECT_DUPLICATES, &je);
    if (root == NULL) {
        return refuse_json(&r, &je);
    }
    nacre_sandbox_status st = take_document(&r, root, out);
    json_decref(root);
    if (st != NACRE_SANDBOX_OK) {
        memset(out, 0, sizeof *out);
    }
    return st;
}

int nacre_manifest_allows_connection(const struct nacre_app_manifest *m, const char *host, uint16_t port)
{
    if (m == NULL || host == NULL || port == 0) {
        return 0;
    }
    unsigned n = m->connection_count;
    if (n > NACRE_MANIFEST_CONNECTIONS_MAX) {
        return 0; /* not a struct this library filled */
    }
    for (unsigned i = 0; i < n; i++) {
        if (m->connections[i].port == port && ascii_case_equal(m->connections[i].host, host)) {
            return 1;
        }
    }
    return 0;
}
