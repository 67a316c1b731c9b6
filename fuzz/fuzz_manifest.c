/*
 * Fuzz target: app manifests and app packages (libsandbox), both fed the
 * same bytes, as secmon receives them inside a signed image.
 *
 * Any input must give a status, never a crash. Beyond that:
 *   - the error text is always one NUL-terminated line, empty on success;
 *   - a refused manifest grants nothing (the struct is all zero);
 *   - an accepted manifest has every field NUL-terminated and within its
 *     limits, every AllowedConnections entry matches itself (in any case)
 *     and not the neighbouring port, and it re-serializes to JSON that parses
 *     back to the identical struct (the parser keeps nothing it cannot
 *     express);
 *   - an accepted package's pieces lie inside the input and add up to it
 *     exactly, and the builder reproduces the same bytes.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nacre/sandbox.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(int ok)
{
    if (!ok) {
        abort();
    }
}

/* A field that must be a C string inside its array, of length lo..hi. */
static size_t field_len(const char *s, size_t array_size, size_t lo, size_t hi)
{
    const char *end = memchr(s, '\0', array_size);
    check(end != NULL);
    size_t n = (size_t)(end - s);
    check(n >= lo && n <= hi);
    return n;
}

/* Append s as a JSON string (only '"' and '\\' can occur besides
 * printable ASCII in an accepted field). */
static void put_json_string(char *out, size_t max, size_t *at, const char *s)
{
    check(*at + 1 < max);
    out[(*at)++] = '"';
    for (; *s != '\0'; s++) {
        check(*at + 3 < max);
        if (*s == '"' || *s == '\\') {
            out[(*at)++] = '\\';
        }
        out[(*at)++] = *s;
    }
    out[(*at)++] = '"';
    out[*at] = '\0';
}

static void put(char *out, size_t max, size_t *at, const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static void put(char *out, size_t max, size_t *at, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(out + *at, max - *at, fmt, ap);
    va_end(ap);
    check(n >= 0 && (size_t)n < max - *at);
    *at += (size_t)n;
}

static void put_ids(char *out, size_t max, size_t *at, const char *key, uint32_t mask)
{
    put(out, max, at, ", \"%s\": [", key);
    const char *sep = "";
    for (unsigned id = 0; id < 32; id++) {
        if (mask & (1u << id)) {
            put(out, max, at, "%s%u", sep, id);
            sep = ", ";
        }
    }
    put(out, max, at, "]");
}

static void check_accepted(const struct nacre_app_manifest *m)
{
    size_t name_len = field_len(m->name, sizeof m->name, 1, 32);
    for (size_t i = 0; i < name_len; i++) {
        char c = m->name[i];
        check((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-');
    }
    field_len(m->component_id, sizeof m->component_id, 36, 36);
    check(field_len(m->entry_point, sizeof m->entry_point, 1, 128) > 0 && m->entry_point[0] == '/');
    check(m->connection_count <= NACRE_MANIFEST_CONNECTIONS_MAX);
    for (unsigned i = 0; i < m->connection_count; i++) {
        const struct nacre_manifest_connection *c = &m->connections[i];
        size_t n = field_len(c->host, sizeof c->host, 1, NACRE_MANIFEST_HOST_MAX);
        check(c->port != 0);
        check(nacre_manifest_allows_connection(m, c->host, c->port));
        char upper[NACRE_MANIFEST_HOST_MAX + 1];
        for (size_t k = 0; k <= n; k++) {
            char ch = c->host[k];
            upper[k] = (ch >= 'a' && ch <= 'z') ? (char)(ch - 'a' + 'A') : ch;
        }
        check(nacre_manifest_allows_connection(m, upper, c->port));
        uint16_t other = (uint16_t)(c->port == 65535 ? 1 : c->port + 1);
        int listed = 0;
        for (unsigned j = 0; j < m->connection_count; j++) {
            listed |= m->connections[j].port == other;
        }
        if (!listed) {
            check(!nacre_manifest_allows_connection(m, c->host, other));
        }
    }
    for (unsigned i = m->connection_count; i < NACRE_MANIFEST_CONNECTIONS_MAX; i++) {
        check(m->connections[i].host[0] == '\0' && m->connections[i].port == 0);
    }
    check(m->storage_kb <= NACRE_MANIFEST_STORAGE_KB_MAX);
    check(m->device_authentication == 0 || m->device_authentication == 1);
    check(m->software_update == 0 || m->software_update == 1);

    /* Re-serialize and parse again: the same struct. */
    static char json[NACRE_MANIFEST_BYTES_MAX];
    size_t at = 0;
    put(json, sizeof json, &at, "{\"SchemaVersion\": 1, \"Name\": ");
    put_json_string(json, sizeof json, &at, m->name);
    put(json, sizeof json, &at, ", \"ComponentId\": ");
    put_json_string(json, sizeof json, &at, m->component_id);
    put(json, sizeof json, &at, ", \"EntryPoint\": ");
    put_json_string(json, sizeof json, &at, m->entry_point);
    put(json, sizeof json, &at, ", \"Capabilities\": {\"AllowedConnections\": [");
    for (unsigned i = 0; i < m->connection_count; i++) {
        const struct nacre_manifest_connection *c = &m->connections[i];
        int v6 = strchr(c->host, ':') != NULL;
        put(json, sizeof json, &at, "%s\"%s%s%s:%u\"", i ? ", " : "", v6 ? "[" : "", c->host, v6 ? "]" : "",
            (unsigned)c->port);
    }
    put(json, sizeof json, &at, "]");
    if (m->storage_kb != 0) {
        put(json, sizeof json, &at, ", \"MutableStorage\": {\"SizeKB\": %u}", (unsigned)m->storage_kb);
    }
    put_ids(json, sizeof json, &at, "Gpio", m->gpio_mask);
    put_ids(json, sizeof json, &at, "Uart", m->uart_mask);
    put_ids(json, sizeof json, &at, "I2cMaster", m->i2c_mask);
    put(json, sizeof json, &at, ", \"DeviceAuthentication\": %s, \"SoftwareUpdate\": %s}}",
        m->device_authentication ? "true" : "false", m->software_update ? "true" : "false");
    struct nacre_app_manifest again;
    char error[256];
    if (nacre_manifest_parse(json, at, &again, error, sizeof error) != NACRE_SANDBOX_OK) {
        fprintf(stderr, "re-serialized manifest refused: %s\n%s\n", error, json);
        abort();
    }
    check(memcmp(&again, m, sizeof again) == 0);
}

static void fuzz_manifest(const uint8_t *data, size_t size)
{
    struct nacre_app_manifest m;
    char error[256];
    memset(error, 'x', sizeof error);
    nacre_sandbox_status st = nacre_manifest_parse((const char *)data, size, &m, error, sizeof error);
    check(memchr(error, '\0', sizeof error) != NULL);
    check(strchr(error, '\n') == NULL);
    if (st == NACRE_SANDBOX_OK) {
        check(error[0] == '\0');
        check_accepted(&m);
        return;
    }
    check(st == NACRE_SANDBOX_ERR_MANIFEST);
    check(error[0] != '\0');
    static const struct nacre_app_manifest zero;
    check(memcmp(&m, &zero, sizeof m) == 0);
}

static void fuzz_package(const uint8_t *data, size_t size)
{
    const char *manifest = (const char *)"";
    const uint8_t *exe = data;
    size_t m_len = 1;
    size_t e_len = 1;
    nacre_sandbox_status st = nacre_app_package_parse(data, size, &manifest, &m_len, &exe, &e_len);
    if (st != NACRE_SANDBOX_OK) {
        check(st == NACRE_SANDBOX_ERR_PACKAGE || (data == NULL && st == NACRE_SANDBOX_ERR_ARGUMENT));
        check(manifest == NULL && exe == NULL && m_len == 0 && e_len == 0);
        return;
    }
    check((const uint8_t *)manifest == data + 8);
    check(exe == data + 12 + m_len);
    check(12 + m_len + e_len == size);
    check(m_len >= 1 && m_len <= NACRE_MANIFEST_BYTES_MAX);
    check(memchr(manifest, '\0', m_len) == NULL);
    check(e_len >= 4 && memcmp(exe, "\x7f" "ELF", 4) == 0);
    uint8_t *rebuilt = NULL;
    size_t rebuilt_len = 0;
    check(nacre_app_package_build(&rebuilt, &rebuilt_len, manifest, m_len, exe, e_len) == NACRE_SANDBOX_OK);
    check(rebuilt_len == size && memcmp(rebuilt, data, size) == 0);
    free(rebuilt);
    /* The manifest inside goes through the manifest checks as well. */
    fuzz_manifest((const uint8_t *)manifest, m_len);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_manifest(data, size);
    fuzz_package(data, size);
    return 0;
}
