/*
 * state.c - the agent's state file, DIR/agent-state.json.
 *
 * Every change is written to a temporary file in DIR, fsync'd, renamed over
 * the old file and the directory fsync'd: after a crash or power cut the
 * file is the old state or the new one, never a mix. The order of the
 * agent's steps makes either safe (docs/agent.md): an event acknowledged
 * but not yet recorded is sent again and the service skips it (same seq); a
 * report queued but not yet recorded is re-derived from the slots at the
 * next boot.
 */
#include "agent_priv.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#define STATE_FILE_MAX (64u * 1024u)

int agent_file_read(const char *dir, const char *name, size_t max, char **out, size_t *len)
{
    char path[4096];
    int n = snprintf(path, sizeof path, "%s/%s", dir, name);
    *out = NULL;
    *len = 0;
    if (n < 0 || (size_t)n >= sizeof path) {
        errno = ENAMETOOLONG;
        return -1;
    }
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        return -1;
    }
    char *buf = malloc(max + 1);
    if (buf == NULL) {
        fclose(f);
        errno = ENOMEM;
        return -1;
    }
    size_t got = fread(buf, 1, max + 1, f);
    int bad = ferror(f) || got > max;
    fclose(f);
    if (bad) {
        free(buf);
        errno = EFBIG;
        return -1;
    }
    buf[got] = '\0';
    *out = buf;
    *len = got;
    return 0;
}

int agent_file_write(const char *dir, const char *name, const void *data, size_t len, char *err,
                     size_t err_len)
{
    char path[4096];
    char tmp[4096 + 32];
    int n = snprintf(path, sizeof path, "%s/%s", dir, name);
    int m = snprintf(tmp, sizeof tmp, "%s/.%s.tmp", dir, name);
    if (n < 0 || (size_t)n >= sizeof path || m < 0 || (size_t)m >= sizeof tmp) {
        snprintf(err, err_len, "writing %s/%s: path too long", dir, name);
        return -1;
    }
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0) {
        snprintf(err, err_len, "writing %s: %s", tmp, strerror(errno));
        return -1;
    }
    const uint8_t *p = data;
    size_t done = 0;
    int e = 0;
    while (done < len) {
        ssize_t w = write(fd, p + done, len - done);
        if (w < 0 && errno == EINTR) {
            continue;
        }
        if (w < 0) {
            e = errno;
            break;
        }
        done += (size_t)w;
    }
    if (e == 0 && fsync(fd) != 0) {
        e = errno;
    }
    if (close(fd) != 0 && e == 0) {
        e = errno;
    }
    if (e == 0 && rename(tmp, path) != 0) {
        e = errno;
    }
    if (e != 0) {
        unlink(tmp);
        snprintf(err, err_len, "writing %s: %s", path, strerror(e));
        return -1;
    }
    /* The rename itself must reach the disk. */
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        (void)fsync(dfd);
        close(dfd);
    }
    return 0;
}

static void copy_str(char *out, size_t max, json_t *v)
{
    const char *s = json_string_value(v);
    snprintf(out, max, "%s", s != NULL ? s : "");
}

static int64_t get_int(json_t *obj, const char *key)
{
    json_t *v = json_object_get(obj, key);
    return json_is_integer(v) ? (int64_t)json_integer_value(v) : 0;
}

int agent_state_load(const char *dir, struct agent_state *st, char *err, size_t err_len)
{
    char *text = NULL;
    size_t len = 0;
    memset(st, 0, sizeof *st);
    if (agent_file_read(dir, AGENT_STATE_FILE, STATE_FILE_MAX, &text, &len) != 0) {
        if (errno == ENOENT) {
            return 0; /* a device that never ran the agent */
        }
        snprintf(err, err_len, "reading %s/%s: %s", dir, AGENT_STATE_FILE, strerror(errno));
        return -1;
    }
    json_error_t jerr;
    json_t *root = json_loadb(text, len, 0, &jerr);
    free(text);
    if (!json_is_object(root) || get_int(root, "version") != AGENT_STATE_VERSION) {
        json_decref(root);
        snprintf(err, err_len, "%s/%s: not an agent state file of version %d", dir,
                 AGENT_STATE_FILE, AGENT_STATE_VERSION);
        return -1;
    }
    int64_t seq = get_int(root, "acked_seq");
    st->acked_seq = seq > 0 && seq <= (int64_t)UINT32_MAX ? (uint32_t)seq : 0;
    json_t *inf = json_object_get(root, "inflight");
    if (json_is_object(inf)) {
        st->inflight = 1;
        st->inflight_deployment = get_int(inf, "deployment_id");
        copy_str(st->inflight_image, sizeof st->inflight_image, json_object_get(inf, "image_id"));
        copy_str(st->inflight_version, sizeof st->inflight_version,
                 json_object_get(inf, "version"));
    }
    json_t *ref = json_object_get(root, "refused");
    if (json_is_object(ref)) {
        st->refused = 1;
        st->refused_deployment = get_int(ref, "deployment_id");
        copy_str(st->refused_image, sizeof st->refused_image, json_object_get(ref, "image_id"));
    }
    json_t *cert = json_object_get(root, "certificate");
    if (json_is_object(cert)) {
        copy_str(st->cert_alias, sizeof st->cert_alias, json_object_get(cert, "alias_key"));
        st->cert_issued_at = (uint64_t)get_int(cert, "received_at");
        st->cert_expires_at = (uint64_t)get_int(cert, "expires_at");
    }
    st->attest_failed = json_is_true(json_object_get(root, "attestation_failed"));
    json_t *reps = json_object_get(root, "reports");
    size_t i;
    json_t *r;
    json_array_foreach(reps, i, r) {
        if (st->report_count >= AGENT_REPORTS_MAX) {
            break;
        }
        struct agent_report *out = &st->reports[st->report_count++];
        out->deployment_id = get_int(r, "deployment_id");
        copy_str(out->image_id, sizeof out->image_id, json_object_get(r, "image_id"));
        copy_str(out->result, sizeof out->result, json_object_get(r, "result"));
        copy_str(out->detail, sizeof out->detail, json_object_get(r, "detail"));
    }
    json_decref(root);
    return 0;
}

int agent_state_save(const char *dir, const struct agent_state *st, char *err, size_t err_len)
{
    json_t *root = json_object();
    json_t *reps = json_array();
    if (root == NULL || reps == NULL) {
        json_decref(root);
        json_decref(reps);
        snprintf(err, err_len, "writing the agent state: out of memory");
        return -1;
    }
    json_object_set_new(root, "version", json_integer(AGENT_STATE_VERSION));
    json_object_set_new(root, "acked_seq", json_integer((json_int_t)st->acked_seq));
    if (st->inflight) {
        json_object_set_new(root, "inflight",
                            json_pack("{s:I, s:s, s:s}", "deployment_id",
                                      (json_int_t)st->inflight_deployment, "image_id",
                                      st->inflight_image, "version", st->inflight_version));
    } else {
        json_object_set_new(root, "inflight", json_null());
    }
    if (st->refused) {
        json_object_set_new(root, "refused",
                            json_pack("{s:I, s:s}", "deployment_id",
                                      (json_int_t)st->refused_deployment, "image_id",
                                      st->refused_image));
    } else {
        json_object_set_new(root, "refused", json_null());
    }
    if (st->cert_alias[0] != '\0') {
        json_object_set_new(root, "certificate",
                            json_pack("{s:s, s:I, s:I}", "alias_key", st->cert_alias,
                                      "received_at", (json_int_t)st->cert_issued_at,
                                      "expires_at", (json_int_t)st->cert_expires_at));
    } else {
        json_object_set_new(root, "certificate", json_null());
    }
    for (size_t i = 0; i < st->report_count; i++) {
        const struct agent_report *r = &st->reports[i];
        json_array_append_new(reps, json_pack("{s:I, s:s, s:s, s:s}", "deployment_id",
                                              (json_int_t)r->deployment_id, "image_id",
                                              r->image_id, "result", r->result, "detail",
                                              r->detail));
    }
    json_object_set_new(root, "attestation_failed", json_boolean(st->attest_failed));
    json_object_set_new(root, "reports", reps);
    char *text = json_dumps(root, JSON_INDENT(2) | JSON_SORT_KEYS);
    json_decref(root);
    if (text == NULL) {
        snprintf(err, err_len, "writing the agent state: out of memory");
        return -1;
    }
    size_t len = strlen(text);
    int rc = agent_file_write(dir, AGENT_STATE_FILE, text, len, err, err_len);
    free(text);
    return rc;
}
