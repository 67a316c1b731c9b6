/*
 * test_manifest.c - nacre_manifest_parse and nacre_manifest_allows_connection:
 * a full valid manifest, minimal ones, and one malformed manifest per rule,
 * each refused with the exact JSON path and reason the docs promise.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <nacre/sandbox.h>

#define UUID "7a2b1c9e-3f4d-4e5a-9b6c-0d1e2f3a4b5c"
#define HDR "\"SchemaVersion\": 1, \"Name\": \"app\", \"ComponentId\": \"" UUID "\", \"EntryPoint\": \"/bin/app\""
#define DOC(extra) "{" HDR extra "}"
#define CAPS(x) DOC(", \"Capabilities\": {" x "}")
#define CONNS(x) CAPS("\"AllowedConnections\": [" x "]")

static const char full_manifest[] =
    "{ \"SchemaVersion\": 1,\n"
    "  \"Name\": \"thermostat\",\n"
    "  \"ComponentId\": \"" UUID "\",\n"
    "  \"EntryPoint\": \"/bin/thermostat\",\n"
    "  \"Capabilities\": {\n"
    "    \"AllowedConnections\": [\"127.0.0.1:8080\", \"localhost:9000\", \"[::1]:443\",\n"
    "                           \"Telemetry.Example.COM:65535\", \"[2001:DB8::1]:1\"],\n"
    "    \"MutableStorage\": { \"SizeKB\": 8 },\n"
    "    \"Gpio\": [1, 2, 31], \"Uart\": [0], \"I2cMaster\": [1],\n"
    "    \"DeviceAuthentication\": true,\n"
    "    \"SoftwareUpdate\": false } }\n";

static nacre_sandbox_status parse(const char *json, struct nacre_app_manifest *m, char *error, size_t max)
{
    return nacre_manifest_parse(json, strlen(json), m, error, max);
}

static void test_full_manifest(void **state)
{
    (void)state;
    struct nacre_app_manifest m;
    char error[256] = "stale";
    assert_int_equal(parse(full_manifest, &m, error, sizeof error), NACRE_SANDBOX_OK);
    assert_string_equal(error, "");
    assert_string_equal(m.name, "thermostat");
    assert_string_equal(m.component_id, UUID);
    assert_string_equal(m.entry_point, "/bin/thermostat");
    assert_int_equal(m.connection_count, 5);
    assert_string_equal(m.connections[0].host, "127.0.0.1");
    assert_int_equal(m.connections[0].port, 8080);
    assert_string_equal(m.connections[1].host, "localhost");
    assert_int_equal(m.connections[1].port, 9000);
    /* IPv6 literals are stored without their brackets. */
    assert_string_equal(m.connections[2].host, "::1");
    assert_int_equal(m.connections[2].port, 443);
    assert_string_equal(m.connections[3].host, "Telemetry.Example.COM");
    assert_int_equal(m.connections[3].port, 65535);
    assert_string_equal(m.connections[4].host, "2001:DB8::1");
    assert_int_equal(m.storage_kb, 8);
    assert_int_equal(m.gpio_mask, (1u << 1) | (1u << 2) | (1u << 31));
    assert_int_equal(m.uart_mask, 1u);
    assert_int_equal(m.i2c_mask, 1u << 1);
    assert_int_equal(m.device_authentication, 1);
    assert_int_equal(m.software_update, 0);
}

/* Nothing is granted by default. */
static void test_minimal_manifest(void **state)
{
    (void)state;
    struct nacre_app_manifest m;
    memset(&m, 0xa5, sizeof m);
    char error[128];
    assert_int_equal(parse(DOC(""), &m, error, sizeof error), NACRE_SANDBOX_OK);
    assert_string_equal(m.name, "app");
    assert_int_equal(m.connection_count, 0);
    assert_int_equal(m.storage_kb, 0);
    assert_int_equal(m.gpio_mask | m.uart_mask | m.i2c_mask, 0);
    assert_int_equal(m.device_authentication, 0);
    assert_int_equal(m.software_update, 0);

    memset(&m, 0xa5, sizeof m);
    assert_int_equal(parse(CAPS("\"AllowedConnections\": [], \"Gpio\": [], \"DeviceAuthentication\": false"),
                           &m, error, sizeof error),
                     NACRE_SANDBOX_OK);
    assert_int_equal(m.connection_count, 0);
    assert_int_equal(m.gpio_mask, 0);
    assert_int_equal(m.device_authentication, 0);
    assert_int_equal(m.storage_kb, 0);

    /* Key order does not matter; limits are inclusive. */
    static const char reordered[] =
        "{\"Capabilities\": {\"MutableStorage\": {\"SizeKB\": 64}, \"Gpio\": [0]}, \"EntryPoint\": \"/a\","
        " \"ComponentId\": \"" UUID "\", \"Name\": \"0123456789abcdef0123456789abcd._\", \"SchemaVersion\": 1}";
    assert_int_equal(parse(reordered, &m, error, sizeof error), NACRE_SANDBOX_OK);
    assert_int_equal(m.storage_kb, 64);
    assert_int_equal(m.gpio_mask, 1);
    assert_string_equal(m.name, "0123456789abcdef0123456789abcd._");
}

struct bad_case {
    const char *json;
    const char *prefix; /* the error must start with this */
};

static const struct bad_case bad_cases[] = {
    /* JSON itself */
    {"", "JSON: "},
    {"not json", "JSON: syntax error at line 1"},
    {"[1, 2]", "manifest: must be a JSON object"},
    {"\"just a string\"", "JSON: syntax error"},
    {DOC("") " trailing", "JSON: trailing data after the object"},
    {DOC("") "{}", "JSON: trailing data after the object"},
    {"{" HDR ", \"Name\": \"other\"}", "JSON: duplicate key"},
    {CAPS("\"Gpio\": [1], \"Gpio\": [2]"), "JSON: duplicate key"},
    {CAPS("\"MutableStorage\": {\"SizeKB\": 1, \"SizeKB\": 64}"), "JSON: duplicate key"},
    {"{" HDR, "JSON: truncated"},
    {"{\"Name\": \"a\xff\"}", "JSON: invalid UTF-8"},
    {"{\"Name\": \"a\\u0000b\"}", "JSON: NUL character"},
    {"{\"SchemaVersion\": 123456789012345678901234567890}", "JSON: number out of range"},
    /* top level */
    {"{}", "SchemaVersion: missing"},
    {"{\"SchemaVersion\": 2}", "SchemaVersion: must be 1"},
    {"{\"SchemaVersion\": \"1\"}", "SchemaVersion: must be 1"},
    {"{\"SchemaVersion\": 1.0}", "SchemaVersion: must be 1"},
    {"{\"SchemaVersion\": true}", "SchemaVersion: must be 1"},
    {"{\"SchemaVersion\": 1, \"ComponentId\": \"" UUID "\", \"EntryPoint\": \"/a\"}", "Name: missing"},
    {"{\"SchemaVersion\": 1, \"Name\": \"a\", \"EntryPoint\": \"/a\"}", "ComponentId: missing"},
    {"{\"SchemaVersion\": 1, \"Name\": \"a\", \"ComponentId\": \"" UUID "\"}", "EntryPoint: missing"},
    {DOC(", \"Foo\": 1"), "Foo: unknown key"},
    {DOC(", \"capabilities\": {}"), "capabilities: unknown key"},
    {DOC(", \"Capabilites\": {}"), "Capabilites: unknown key"},
    {"{\"SchemaVersion\": 1, \"\\u0001\\n\": 0}", "??: unknown key"},
    /* Name */
    {"{\"SchemaVersion\": 1, \"Name\": 5}", "Name: must be a string"},
    {"{\"SchemaVersion\": 1, \"Name\": null}", "Name: must be a string"},
    {"{\"SchemaVersion\": 1, \"Name\": \"\"}", "Name: must be 1..32 characters of [a-z0-9._-]"},
    {"{\"SchemaVersion\": 1, \"Name\": \"Thermostat\"}", "Name: must be 1..32 characters of [a-z0-9._-]"},
    {"{\"SchemaVersion\": 1, \"Name\": \"a b\"}", "Name: must be 1..32 characters of [a-z0-9._-]"},
    {"{\"SchemaVersion\": 1, \"Name\": \"a/b\"}", "Name: must be 1..32 characters of [a-z0-9._-]"},
    {"{\"SchemaVersion\": 1, \"Name\": \"0123456789abcdef0123456789abcdef0\"}",
     "Name: must be 1..32 characters of [a-z0-9._-]"},
    {"{\"SchemaVersion\": 1, \"Name\": \"caf\xc3\xa9\"}", "Name: must be 1..32 characters of [a-z0-9._-]"},
    /* ComponentId */
    {"{\"SchemaVersion\": 1, \"ComponentId\": 7}", "ComponentId: must be a string"},
    {"{\"SchemaVersion\": 1, \"ComponentId\": \"7A2B1C9E-3F4D-4E5A-9B6C-0D1E2F3A4B5C\"}",
     "ComponentId: must be a lower-case UUID (8-4-4-4-12 hex digits)"},
    {"{\"SchemaVersion\": 1, \"ComponentId\": \"7a2b1c9e3f4d4e5a9b6c0d1e2f3a4b5c\"}",
     "ComponentId: must be a lower-case UUID"},
    {"{\"SchemaVersion\": 1, \"ComponentId\": \"7a2b1c9e-3f4d-4e5a-9b6c-0d1e2f3a4b5g\"}",
     "ComponentId: must be a lower-case UUID"},
    {"{\"SchemaVersion\": 1, \"ComponentId\": \"{7a2b1c9e-3f4d-4e5a-9b6c-0d1e2f3a4b5c}\"}",
     "ComponentId: must be a lower-case UUID"},
    {"{\"SchemaVersion\": 1, \"ComponentId\": \"7a2b1c9e-3f4d-4e5a-9b6c0-d1e2f3a4b5c\"}",
     "ComponentId: must be a lower-case UUID"},
    {"{\"SchemaVersion\": 1, \"ComponentId\": \"7a2b1c9e-3f4d-4e5a-9b6c-0d1e2f3a4b5\"}",
     "ComponentId: must be a lower-case UUID"},
    /* EntryPoint */
    {"{\"SchemaVersion\": 1, \"EntryPoint\": []}", "EntryPoint: must be a string"},
    {"{\"SchemaVersion\": 1, \"EntryPoint\": \"bin/app\"}",
     "EntryPoint: must be an absolute path of 1..128 printable ASCII characters"},
    {"{\"SchemaVersion\": 1, \"EntryPoint\": \"\"}", "EntryPoint: must be an absolute path"},
    {"{\"SchemaVersion\": 1, \"EntryPoint\": \"/bin/my app\"}", "EntryPoint: must be an absolute path"},
    {"{\"SchemaVersion\": 1, \"EntryPoint\": \"/bin/\\t\"}", "EntryPoint: must be an absolute path"},
    /* Capabilities */
    {DOC(", \"Capabilities\": []"), "Capabilities: must be an object"},
    {DOC(", \"Capabilities\": null"), "Capabilities: must be an object"},
    {CAPS("\"Foo\": true"), "Capabilities.Foo: unknown key"},
    {CAPS("\"gpio\": [1]"), "Capabilities.gpio: unknown key"},
    {CAPS("\"Gpio\": [1], \"Network\": true"), "Capabilities.Network: unknown key"},
    /* MutableStorage */
    {CAPS("\"MutableStorage\": 8"), "Capabilities.MutableStorage: must be an object"},
    {CAPS("\"MutableStorage\": {}"), "Capabilities.MutableStorage.SizeKB: missing"},
    {CAPS("\"MutableStorage\": {\"SizeKB\": 0}"), "Capabilities.MutableStorage.SizeKB: must be an integer 1..64"},
    {CAPS("\"MutableStorage\": {\"SizeKB\": 65}"), "Capabilities.MutableStorage.SizeKB: must be an integer 1..64"},
    {CAPS("\"MutableStorage\": {\"SizeKB\": -1}"), "Capabilities.MutableStorage.SizeKB: must be an integer 1..64"},
    {CAPS("\"MutableStorage\": {\"SizeKB\": \"8\"}"), "Capabilities.MutableStorage.SizeKB: must be an integer 1..64"},
    {CAPS("\"MutableStorage\": {\"SizeKB\": 8.0}"), "Capabilities.MutableStorage.SizeKB: must be an integer 1..64"},
    {CAPS("\"MutableStorage\": {\"SizeKB\": 8, \"Path\": \"/x\"}"), "Capabilities.MutableStorage.Path: unknown key"},
    {CAPS("\"MutableStorage\": {\"sizekb\": 8}"), "Capabilities.MutableStorage.sizekb: unknown key"},
    /* peripherals */
    {CAPS("\"Gpio\": \"1\""), "Capabilities.Gpio: must be an array"},
    {CAPS("\"Gpio\": 1"), "Capabilities.Gpio: must be an array"},
    {CAPS("\"Gpio\": [32]"), "Capabilities.Gpio[0]: must be an integer 0..31"},
    {CAPS("\"Gpio\": [0, -1]"), "Capabilities.Gpio[1]: must be an integer 0..31"},
    {CAPS("\"Gpio\": [1, 2, 1]"), "Capabilities.Gpio[2]: duplicate id 1"},
    {CAPS("\"Gpio\": [0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16]"), "Capabilities.Gpio: more than 16 entries"},
    {CAPS("\"Uart\": [true]"), "Capabilities.Uart[0]: must be an integer 0..31"},
    {CAPS("\"Uart\": [[0]]"), "Capabilities.Uart[0]: must be an integer 0..31"},
    {CAPS("\"I2cMaster\": [1.0]"), "Capabilities.I2cMaster[0]: must be an integer 0..31"},
    {CAPS("\"I2cMaster\": {\"0\": 1}"), "Capabilities.I2cMaster: must be an array"},
    /* booleans */
    {CAPS("\"DeviceAuthentication\": 1"), "Capabilities.DeviceAuthentication: must be true or false"},
    {CAPS("\"DeviceAuthentication\": null"), "Capabilities.DeviceAuthentication: must be true or false"},
    {CAPS("\"SoftwareUpdate\": \"true\""), "Capabilities.SoftwareUpdate: must be true or false"},
    /* AllowedConnections */
    {CAPS("\"AllowedConnections\": \"localhost:80\""), "Capabilities.AllowedConnections: must be an array"},
    {CONNS("1"), "Capabilities.AllowedConnections[0]: must be a string"},
    {CONNS("\"localhost\""), "Capabilities.AllowedConnections[0]: must be host:port"},
    {CONNS("\":80\""), "Capabilities.AllowedConnections[0]: must be host:port"},
    {CONNS("\"localhost:0\""), "Capabilities.AllowedConnections[0]: port out of range (1..65535)"},
    {CONNS("\"localhost:65536\""), "Capabilities.AllowedConnections[0]: port out of range"},
    {CONNS("\"localhost:99999999999999999999\""), "Capabilities.AllowedConnections[0]: port out of range"},
    {CONNS("\"a.example:1\", \"b.example:2\", \"localhost:http\""),
     "Capabilities.AllowedConnections[2]: port must be a decimal number 1..65535"},
    {CONNS("\"localhost:080\""), "Capabilities.AllowedConnections[0]: port must be a decimal number"},
    {CONNS("\"localhost:\""), "Capabilities.AllowedConnections[0]: port must be a decimal number"},
    {CONNS("\"localhost:+80\""), "Capabilities.AllowedConnections[0]: port must be a decimal number"},
    {CONNS("\"localhost:80 \""), "Capabilities.AllowedConnections[0]: port must be a decimal number"},
    {CONNS("\"-bad.example:80\""), "Capabilities.AllowedConnections[0]: host is not a valid DNS name"},
    {CONNS("\"bad-.example:80\""), "Capabilities.AllowedConnections[0]: host is not a valid DNS name"},
    {CONNS("\"a..b:80\""), "Capabilities.AllowedConnections[0]: host is not a valid DNS name"},
    {CONNS("\"under_score.example:80\""), "Capabilities.AllowedConnections[0]: host is not a valid DNS name"},
    {CONNS("\"example.com.:80\""), "Capabilities.AllowedConnections[0]: host is not a valid DNS name"},
    {CONNS("\"host.123:80\""), "Capabilities.AllowedConnections[0]: host is not a valid DNS name"},
    {CONNS("\"sp ace:80\""), "Capabilities.AllowedConnections[0]: host is not a valid DNS name"},
    {CONNS("\"0123456789012345678901234567890123456789012345678901234567890123.example:80\""),
     "Capabilities.AllowedConnections[0]: host is not a valid DNS name"},
    {CONNS("\"256.1.1.1:80\""), "Capabilities.AllowedConnections[0]: host is not a valid IPv4 address"},
    {CONNS("\"1.2.3:80\""), "Capabilities.AllowedConnections[0]: host is not a valid IPv4 address"},
    {CONNS("\"01.2.3.4:80\""), "Capabilities.AllowedConnections[0]: host is not a valid IPv4 address"},
    {CONNS("\"1.2.3.4.5:80\""), "Capabilities.AllowedConnections[0]: host is not a valid IPv4 address"},
    {CONNS("\"[::g]:80\""), "Capabilities.AllowedConnections[0]: host is not a valid IPv6 address"},
    {CONNS("\"[fe80::1%eth0]:80\""), "Capabilities.AllowedConnections[0]: host is not a valid IPv6 address"},
    {CONNS("\"[1:2:3:4:5:6:7:8:9]:80\""), "Capabilities.AllowedConnections[0]: host is not a valid IPv6 address"},
    {CONNS("\"[]:80\""), "Capabilities.AllowedConnections[0]: host is not a valid IPv6 address"},
    {CONNS("\"[localhost]:80\""), "Capabilities.AllowedConnections[0]: host is not a valid IPv6 address"},
    {CONNS("\"::1:80\""), "Capabilities.AllowedConnections[0]: an IPv6 host must be written in brackets"},
    {CONNS("\"[::1]80\""), "Capabilities.AllowedConnections[0]: must be host:port ([IPv6]:port"},
    {CONNS("\"[::1\""), "Capabilities.AllowedConnections[0]: must be host:port"},
    {CONNS("\"a.example:1\", \"A.EXAMPLE:1\""),
     "Capabilities.AllowedConnections[1]: duplicate of Capabilities.AllowedConnections[0]"},
    {CONNS("\"a:1\",\"a:2\",\"a:3\",\"a:4\",\"a:5\",\"a:6\",\"a:7\",\"a:8\",\"a:9\",\"a:10\",\"a:11\",\"a:12\","
           "\"a:13\",\"a:14\",\"a:15\",\"a:16\",\"a:17\""),
     "Capabilities.AllowedConnections: more than 16 entries"},
};

static void expect_refusal(const char *json, size_t len, const char *prefix)
{
    struct nacre_app_manifest m;
    memset(&m, 0xa5, sizeof m);
    char error[256] = "";
    nacre_sandbox_status st = nacre_manifest_parse(json, len, &m, error, sizeof error);
    if (st != NACRE_SANDBOX_ERR_MANIFEST || strncmp(error, prefix, strlen(prefix)) != 0) {
        print_error("manifest: %.200s\n  status %d, error \"%s\"\n  expected status %d, prefix \"%s\"\n",
                    json, st, error, NACRE_SANDBOX_ERR_MANIFEST, prefix);
        fail();
    }
    /* One line, and nothing granted. */
    assert_null(strchr(error, '\n'));
    static const struct nacre_app_manifest zero;
    assert_memory_equal(&m, &zero, sizeof m);
}

static void test_malformed(void **state)
{
    (void)state;
    size_t n = sizeof bad_cases / sizeof bad_cases[0];
    assert_true(n >= 40);
    for (size_t i = 0; i < n; i++) {
        expect_refusal(bad_cases[i].json, strlen(bad_cases[i].json), bad_cases[i].prefix);
    }
}

/* Cases that need bytes a C string literal table cannot hold. */
static void test_malformed_generated(void **state)
{
    (void)state;
    /* Longer than NACRE_MANIFEST_BYTES_MAX, even if valid JSON. */
    size_t big = NACRE_MANIFEST_BYTES_MAX + 1;
    char *doc = malloc(big + 1);
    if (doc == NULL) {
        fail();
        return;
    }
    memset(doc, ' ', big);
    memcpy(doc, DOC(""), strlen(DOC("")));
    doc[big] = '\0';
    expect_refusal(doc, big, "manifest: longer than 16384 bytes");
    /* Exactly the maximum is fine. */
    struct nacre_app_manifest m;
    char error[128];
    assert_int_equal(nacre_manifest_parse(doc, NACRE_MANIFEST_BYTES_MAX, &m, error, sizeof error),
                     NACRE_SANDBOX_OK);

    /* A NUL byte inside the input (outside any string). */
    static const char with_nul[] = "{\"SchemaVersion\": 1}\0";
    expect_refusal(with_nul, sizeof with_nul - 1, "JSON: ");

    /* Nested too deeply for the parser. */
    size_t depth = 3000;
    memcpy(doc, "{\"x\":", 5);
    memset(doc + 5, '[', depth);
    expect_refusal(doc, 5 + depth, "JSON: nested too deeply");

    /* A host of 254 characters (the limit is 253). */
    char host[300];
    memset(host, 'a', sizeof host);
    for (size_t i = 50; i < 254; i += 51) {
        host[i] = '.';
    }
    host[254] = '\0';
    snprintf(doc, big, CONNS("\"%s:80\""), host);
    expect_refusal(doc, strlen(doc), "Capabilities.AllowedConnections[0]: host longer than 253 characters");
    /* 253 is fine. */
    host[253] = '\0';
    snprintf(doc, big, CONNS("\"%s:80\""), host);
    assert_int_equal(nacre_manifest_parse(doc, strlen(doc), &m, error, sizeof error), NACRE_SANDBOX_OK);
    assert_int_equal(strlen(m.connections[0].host), 253);

    /* A long unknown key is cut in the message. */
    char key[200];
    memset(key, 'k', sizeof key - 1);
    key[sizeof key - 1] = '\0';
    snprintf(doc, big, "{\"SchemaVersion\": 1, \"%s\": 1}", key);
    expect_refusal(doc, strlen(doc), "kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk...: unknown key");
    free(doc);
}

static void test_error_buffer(void **state)
{
    (void)state;
    struct nacre_app_manifest m;
    char small[8];
    assert_int_equal(parse("{}", &m, small, sizeof small), NACRE_SANDBOX_ERR_MANIFEST);
    assert_string_equal(small, "SchemaV"); /* truncated, terminated */
    assert_int_equal(parse("{}", &m, NULL, 0), NACRE_SANDBOX_ERR_MANIFEST);
    assert_int_equal(parse(DOC(""), &m, NULL, 0), NACRE_SANDBOX_OK);
    char error[64];
    assert_int_equal(nacre_manifest_parse("{}", 2, NULL, error, sizeof error), NACRE_SANDBOX_ERR_ARGUMENT);
    assert_int_equal(nacre_manifest_parse(NULL, 5, &m, error, sizeof error), NACRE_SANDBOX_ERR_ARGUMENT);
    assert_int_equal(nacre_manifest_parse(NULL, 0, &m, error, sizeof error), NACRE_SANDBOX_ERR_MANIFEST);
}

static void test_allows_connection(void **state)
{
    (void)state;
    struct nacre_app_manifest m;
    char error[128];
    assert_int_equal(parse(full_manifest, &m, error, sizeof error), NACRE_SANDBOX_OK);
    assert_true(nacre_manifest_allows_connection(&m, "127.0.0.1", 8080));
    assert_true(nacre_manifest_allows_connection(&m, "localhost", 9000));
    assert_true(nacre_manifest_allows_connection(&m, "LOCALHOST", 9000));
    assert_true(nacre_manifest_allows_connection(&m, "telemetry.example.com", 65535));
    assert_true(nacre_manifest_allows_connection(&m, "::1", 443));
    assert_true(nacre_manifest_allows_connection(&m, "2001:db8::1", 1));
    /* Exact: port, host, no prefix / suffix / subdomain, no other spelling. */
    assert_false(nacre_manifest_allows_connection(&m, "localhost", 9001));
    assert_false(nacre_manifest_allows_connection(&m, "localhost", 8080));
    assert_false(nacre_manifest_allows_connection(&m, "127.0.0.1", 9000));
    assert_false(nacre_manifest_allows_connection(&m, "127.0.0.2", 8080));
    assert_false(nacre_manifest_allows_connection(&m, "localhost.", 9000));
    assert_false(nacre_manifest_allows_connection(&m, "localhos", 9000));
    assert_false(nacre_manifest_allows_connection(&m, "xlocalhost", 9000));
    assert_false(nacre_manifest_allows_connection(&m, "a.telemetry.example.com", 65535));
    assert_false(nacre_manifest_allows_connection(&m, "[::1]", 443));
    assert_false(nacre_manifest_allows_connection(&m, "0:0:0:0:0:0:0:1", 443));
    assert_false(nacre_manifest_allows_connection(&m, "", 9000));
    assert_false(nacre_manifest_allows_connection(&m, "localhost", 0));
    assert_false(nacre_manifest_allows_connection(&m, NULL, 9000));
    assert_false(nacre_manifest_allows_connection(NULL, "localhost", 9000));

    /* No AllowedConnections: nothing. */
    assert_int_equal(parse(DOC(""), &m, error, sizeof error), NACRE_SANDBOX_OK);
    assert_false(nacre_manifest_allows_connection(&m, "localhost", 9000));
    /* A struct the library did not fill is not trusted. */
    m.connection_count = NACRE_MANIFEST_CONNECTIONS_MAX + 1;
    assert_false(nacre_manifest_allows_connection(&m, "localhost", 9000));
}

static void test_strerror(void **state)
{
    (void)state;
    for (int st = NACRE_SANDBOX_OK; st <= NACRE_SANDBOX_ERR_SYSTEM; st++) {
        const char *s = nacre_sandbox_strerror((nacre_sandbox_status)st);
        assert_non_null(s);
        assert_string_not_equal(s, "unknown status");
    }
    assert_string_equal(nacre_sandbox_strerror((nacre_sandbox_status)99), "unknown status");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_full_manifest),
        cmocka_unit_test(test_minimal_manifest),
        cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_malformed_generated),
        cmocka_unit_test(test_error_buffer),
        cmocka_unit_test(test_allows_connection),
        cmocka_unit_test(test_strerror),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
