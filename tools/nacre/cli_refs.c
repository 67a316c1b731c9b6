/*
 * cli_refs.c - reference values files: what the build says a good component
 * is, for attestation verifiers (docs/cli.md, "Reference values").
 *
 *   {"version": 1,
 *    "components": [{"name": "app", "version": "1.0.0",
 *                    "measurement": "<64 hex>", "signer_id": "<64 hex>",
 *                    "security_counter": 1}, ...]}
 */
#include "cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

/* Largest reference values file read. */
#define REFS_FILE_MAX ((size_t)1024u * 1024u)

json_t *cli_refs_new(void)
{
    json_t *root = json_object();
    json_t *components = json_array();
    if (root == NULL || components == NULL ||
        json_object_set_new(root, "version", json_integer(CLI_REFS_VERSION)) != 0 ||
        json_object_set_new(root, "components", components) != 0) {
        json_decref(root);
        return NULL;
    }
    return root;
}

int cli_refs_add(json_t *refs, const struct nacre_image_info *info)
{
    json_t *components = json_object_get(refs, "components");
    char want[65];
    char version[CLI_VERSION_CHARS];
    size_t i;
    json_t *c;
    cli_hex32(want, info->measurement);
    json_array_foreach(components, i, c)
    {
        const char *m = json_string_value(json_object_get(c, "measurement"));
        if (m != NULL && strcmp(m, want) == 0) {
            return CLI_OK; /* the same image twice */
        }
    }
    if (json_array_size(components) >= CLI_REFS_MAX) {
        return cli_fail("reference values: at most %u components", CLI_REFS_MAX);
    }
    cli_version_str(version, &info->version);
    json_t *obj = json_object();
    if (obj == NULL) {
        return cli_fail("building reference values: out of memory");
    }
    json_object_set_new(obj, "name", json_string(info->component));
    json_object_set_new(obj, "version", json_string(version));
    json_object_set_new(obj, "measurement", cli_json_hex(info->measurement, 32));
    json_object_set_new(obj, "signer_id", cli_json_hex(info->signer_key_id, 32));
    json_object_set_new(obj, "security_counter", json_integer((json_int_t)info->security_counter));
    if (json_array_append_new(components, obj) != 0) {
        return cli_fail("building reference values: out of memory");
    }
    return CLI_OK;
}

int cli_refs_write(const char *path, json_t *refs)
{
    char *text = json_dumps(refs, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    if (text == NULL) {
        return cli_fail("writing %s: out of memory", path);
    }
    size_t n = strlen(text);
    char *with_nl = malloc(n + 2);
    if (with_nl == NULL) {
        free(text);
        return cli_fail("writing %s: out of memory", path);
    }
    memcpy(with_nl, text, n);
    with_nl[n] = '\n';
    free(text);
    int rc = cli_write_file("writing reference values", path, with_nl, n + 1, 0644);
    free(with_nl);
    return rc;
}

/* 64 hex characters into 32 bytes; 0 on success. */
static int hex32(const char *s, uint8_t out[32])
{
    size_t bin_len = 0;
    const char *end = NULL;
    if (s == NULL || strlen(s) != 64) {
        return -1;
    }
    if (sodium_hex2bin(out, 32, s, 64, NULL, &bin_len, &end) != 0 || bin_len != 32 ||
        end != s + 64) {
        return -1;
    }
    return 0;
}

static int ref_from_json(const char *path, size_t idx, json_t *c, struct nacre_attest_ref *r)
{
    const char *name = json_string_value(json_object_get(c, "name"));
    const char *version = json_string_value(json_object_get(c, "version"));
    const char *measurement = json_string_value(json_object_get(c, "measurement"));
    const char *signer = json_string_value(json_object_get(c, "signer_id"));
    json_t *counter = json_object_get(c, "security_counter");
    struct nacre_image_version v;
    memset(r, 0, sizeof *r);
    if (!json_is_object(c)) {
        return cli_fail("reading reference values %s: component %zu is not an object", path, idx);
    }
    if (name == NULL || cli_component_ok(name) != 0 || strlen(name) > NACRE_ATTEST_NAME_MAX) {
        return cli_fail("reading reference values %s: component %zu: \"name\" must be 1..%u "
                        "of [a-z0-9._-]", path, idx, NACRE_IMAGE_COMPONENT_MAX);
    }
    if (version == NULL || strlen(version) > NACRE_ATTEST_VERSION_MAX ||
        nacre_image_version_parse(version, &v) != NACRE_UPDATE_OK) {
        return cli_fail("reading reference values %s: component %zu: \"version\" must be X.Y.Z",
                        path, idx);
    }
    if (hex32(measurement, r->measurement) != 0) {
        return cli_fail("reading reference values %s: component %zu: \"measurement\" must be "
                        "64 hex digits", path, idx);
    }
    if (hex32(signer, r->signer_id) != 0) {
        return cli_fail("reading reference values %s: component %zu: \"signer_id\" must be "
                        "64 hex digits", path, idx);
    }
    if (!json_is_integer(counter) || json_integer_value(counter) < 0 ||
        json_integer_value(counter) > (json_int_t)UINT32_MAX) {
        return cli_fail("reading reference values %s: component %zu: \"security_counter\" "
                        "must be 0..4294967295", path, idx);
    }
    snprintf(r->name, sizeof r->name, "%s", name);
    snprintf(r->version, sizeof r->version, "%s", version);
    r->security_counter = (uint32_t)json_integer_value(counter);
    return CLI_OK;
}

int cli_refs_read(const char *path, struct nacre_attest_ref **refs, size_t *count)
{
    uint8_t *data = NULL;
    size_t len = 0;
    *refs = NULL;
    *count = 0;
    int rc = cli_read_file("reading reference values", path, REFS_FILE_MAX, 0, &data, &len);
    if (rc != CLI_OK) {
        return rc;
    }
    json_error_t err;
    json_t *root = json_loadb((const char *)data, len, JSON_REJECT_DUPLICATES, &err);
    cli_free_file(data, len, 0);
    if (root == NULL) {
        return cli_fail("reading reference values %s: line %d: %s", path, err.line, err.text);
    }
    json_t *version = json_object_get(root, "version");
    json_t *components = json_object_get(root, "components");
    if (!json_is_object(root) || !json_is_integer(version) ||
        json_integer_value(version) != CLI_REFS_VERSION) {
        json_decref(root);
        return cli_fail("reading reference values %s: not a version %d reference values file",
                        path, CLI_REFS_VERSION);
    }
    size_t n = json_array_size(components);
    if (!json_is_array(components) || n == 0 || n > CLI_REFS_MAX) {
        json_decref(root);
        return cli_fail("reading reference values %s: \"components\" must list 1..%u components",
                        path, CLI_REFS_MAX);
    }
    struct nacre_attest_ref *out = calloc(n, sizeof *out);
    if (out == NULL) {
        json_decref(root);
        return cli_fail("reading reference values %s: out of memory", path);
    }
    for (size_t i = 0; i < n && rc == CLI_OK; i++) {
        rc = ref_from_json(path, i, json_array_get(components, i), &out[i]);
    }
    json_decref(root);
    if (rc != CLI_OK) {
        free(out);
        return rc;
    }
    *refs = out;
    *count = n;
    return CLI_OK;
}
