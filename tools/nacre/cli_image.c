/*
 * cli_image.c - what the image and update commands share: versions, the
 * JSON and one-line forms of an image, libupdate failures.
 */
#include "cli.h"

#include <stdio.h>
#include <string.h>

#include <nacre/board_host.h>

void cli_version_str(char out[CLI_VERSION_CHARS], const struct nacre_image_version *v)
{
    snprintf(out, CLI_VERSION_CHARS, "%lu.%lu.%lu", (unsigned long)v->major,
             (unsigned long)v->minor, (unsigned long)v->patch);
}

void cli_image_line(char *out, size_t out_len, const struct nacre_image_info *info)
{
    char version[CLI_VERSION_CHARS];
    cli_version_str(version, &info->version);
    snprintf(out, out_len, "%s %s, security counter %lu", info->component, version,
             (unsigned long)info->security_counter);
}

json_t *cli_json_image(const struct nacre_image_info *info)
{
    char version[CLI_VERSION_CHARS];
    json_t *obj = json_object();
    json_t *deps = json_array();
    if (obj == NULL || deps == NULL) {
        json_decref(obj);
        json_decref(deps);
        return NULL;
    }
    cli_version_str(version, &info->version);
    json_object_set_new(obj, "component", json_string(info->component));
    json_object_set_new(obj, "version", json_string(version));
    json_object_set_new(obj, "security_counter", json_integer((json_int_t)info->security_counter));
    json_object_set_new(obj, "image_size", json_integer((json_int_t)info->image_size));
    json_object_set_new(obj, "payload_offset", json_integer((json_int_t)info->payload_offset));
    json_object_set_new(obj, "payload_size", json_integer((json_int_t)info->payload_size));
    json_object_set_new(obj, "payload_digest", cli_json_hex(info->payload_digest, 32));
    json_object_set_new(obj, "signer_key_id", cli_json_hex(info->signer_key_id, 32));
    json_object_set_new(obj, "measurement", cli_json_hex(info->measurement, 32));
    json_object_set_new(obj, "signed", json_boolean(info->has_signature));
    for (unsigned i = 0; i < info->dependency_count && i < NACRE_IMAGE_DEPENDENCY_MAX; i++) {
        json_t *d = json_object();
        if (d == NULL) {
            continue;
        }
        cli_version_str(version, &info->dependencies[i].min_version);
        json_object_set_new(d, "component", json_string(info->dependencies[i].component));
        json_object_set_new(d, "min_version", json_string(version));
        json_array_append_new(deps, d);
    }
    json_object_set_new(obj, "dependencies", deps);
    return obj;
}

int cli_update_fail(const struct cli_device *dev, const char *what, nacre_update_status st)
{
    /* Storage trouble is the board's to explain (power cut, I/O, ...). */
    const char *detail = "";
    if (dev != NULL && dev->board != NULL &&
        (st == NACRE_UPDATE_ERR_STORAGE || st == NACRE_UPDATE_ERR_POWER_LOST)) {
        detail = nacre_host_board_detail(dev->board);
    }
    if (detail[0] != '\0') {
        return cli_fail("%s: %s (%s)", what, nacre_update_strerror(st), detail);
    }
    return cli_fail("%s: %s", what, nacre_update_strerror(st));
}

int cli_component_ok(const char *name)
{
    size_t n = strlen(name);
    if (n < 1 || n > NACRE_IMAGE_COMPONENT_MAX) {
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
              c == '-')) {
            return -1;
        }
    }
    return 0;
}
