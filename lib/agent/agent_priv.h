/*
 * agent_priv.h - libnacre-agent internals: the agent object, the signed
 * HTTP client (http.c) and the state file (state.c).
 */
#ifndef NACRE_AGENT_PRIV_H
#define NACRE_AGENT_PRIV_H

#include <stddef.h>
#include <stdint.h>

#include <curl/curl.h>

#include <nacre/agent.h>
#include <nacre/board.h>
#include <nacre/pluton.h>
#include <nacre/update.h>

/* ---- the state file (agent-state.json) ------------------------------------ */

#define AGENT_STATE_FILE "agent-state.json"
#define AGENT_CERT_FILE "agent-cert.pem"
#define AGENT_CA_FILE "agent-ca.pem"
#define AGENT_STATE_VERSION 1
#define AGENT_REPORTS_MAX 16u
#define AGENT_ID_CHARS 64u       /* image ids and device ids: 64 lowercase hex */
#define AGENT_VERSION_CHARS 35u  /* "4294967295.4294967295.4294967295" */
#define AGENT_DETAIL_MAX 160u

/* An install report waiting for the service to take it. */
struct agent_report {
    int64_t deployment_id;
    char image_id[AGENT_ID_CHARS + 1];
    char result[16];             /* installed | confirmed | refused | reverted | failed */
    char detail[AGENT_DETAIL_MAX];
};

struct agent_state {
    uint32_t acked_seq;          /* the service acknowledged every event up to here */
    /* The update installed and awaiting its trial outcome. */
    int inflight;
    int64_t inflight_deployment;
    char inflight_image[AGENT_ID_CHARS + 1];
    char inflight_version[AGENT_VERSION_CHARS + 1];
    /* An offer this device refused: not tried again while it is offered. */
    int refused;
    int64_t refused_deployment;
    char refused_image[AGENT_ID_CHARS + 1];
    /* The certificate in agent-cert.pem: which Alias key, when. */
    char cert_alias[AGENT_ID_CHARS + 1]; /* "" = no certificate */
    uint64_t cert_issued_at;
    uint64_t cert_expires_at;
    /* The last attestation was refused: attest again at the next chance, so
       that the service learns when the device is healthy again (a revert). */
    int attest_failed;
    size_t report_count;
    struct agent_report reports[AGENT_REPORTS_MAX];
};

/* Load DIR/agent-state.json; a missing file is a fresh state. 0 or -1 (why in err). */
int agent_state_load(const char *dir, struct agent_state *st, char *err, size_t err_len);
/* Write it through a temporary file, fsync and rename(2), then fsync DIR. */
int agent_state_save(const char *dir, const struct agent_state *st, char *err, size_t err_len);
/* Atomic replace of DIR/name with data (mode 0600). */
int agent_file_write(const char *dir, const char *name, const void *data, size_t len,
                     char *err, size_t err_len);
/* Read DIR/name (at most max bytes) into a malloc'd NUL-terminated buffer. */
int agent_file_read(const char *dir, const char *name, size_t max, char **out, size_t *len);

/* ---- the agent ---------------------------------------------------------------------- */

struct nacre_agent {
    struct nacre_agent_config cfg;
    CURL *curl;
    /* power */
    struct nacre_board *board;
    nacre_pluton *pluton;        /* sodium_malloc'd: holds secrets */
    int powered_before;          /* a first nacre_boot_run was done by this agent */
    int need_reboot;             /* the next power-on runs the boot stage again */
    struct nacre_boot_result boot;
    nacre_update_status boot_status;
    int booted_image;            /* boot is valid: an image runs */
    uint8_t device_pk[32];
    char device_id[AGENT_ID_CHARS + 1];
    char alias_hex[AGENT_ID_CHARS + 1];
    /* the certificate, as DER for Client-Cert */
    uint8_t *cert_der;
    size_t cert_der_len;
    struct agent_state state;
    nacre_installer *installer;  /* aligned_alloc(64) */
    char err[200];               /* detail of the last failure */
};

/* ---- HTTP (http.c) ------------------------------------------------------------------- */

struct agent_http_request {
    const char *method;          /* "GET" / "POST" */
    const char *path;            /* "/v1/..." */
    const char *content_type;    /* NULL: no body */
    const void *body;
    size_t body_len;
    const char *range;           /* "bytes=0-65535" or NULL */
    int sign;                    /* RFC 9421 signature with the Alias key */
    size_t max_response;         /* body cap */
};

struct agent_http_response {
    long status;                 /* 0: no HTTP answer (transport error) */
    uint8_t *body;
    size_t len;
    int truncated;
    char content_range[96];
    char error_code[48];         /* from {"error": {...}} on >= 400 */
    char error_message[200];
    char transport[CURL_ERROR_SIZE];
};

void agent_http_response_free(struct agent_http_response *r);
/*
 * Send a request; retry with exponential backoff and jitter while the
 * service is unreachable or answers 5xx (cfg.max_attempts tries in all).
 * Returns OK with an HTTP answer in resp (any status < 500),
 * ERR_UNREACHABLE, ERR_STOPPED or ERR_NO_MEMORY.
 */
nacre_agent_status agent_http(struct nacre_agent *a, const struct agent_http_request *req,
                              struct agent_http_response *resp);
/* Sleep ms milliseconds in small steps; 1 if *stop was set. */
int agent_sleep_ms(const struct nacre_agent *a, uint64_t ms);
/* Report progress. */
void agent_progress(const struct nacre_agent *a, nacre_agent_event ev, const char *text,
                    uint64_t value, uint64_t total);

#endif /* NACRE_AGENT_PRIV_H */
