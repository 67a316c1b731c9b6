/*
 * service.h - nacre-service internals shared by its modules.
 *
 *   main.c      command line, data directory, signals, start / stop
 *   http.c      libmicrohttpd glue: bodies, limits, routing, replies, dashboard
 *   api.c       the operator API (bearer tokens) and tenant bookkeeping
 *   device.c    the device API: nonce, attest, signed requests, updates, events
 *   rollout.c   staged rollouts and threat rules
 *   parse.c     pure request parsers (fuzzed)
 *   memtab.c    in-memory tables with expiry (nonces, replay cache, cert cache)
 *   store_*.c   storage (store.h); SQLite
 */
#ifndef NACRE_SERVICE_H
#define NACRE_SERVICE_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include <nacre/ca.h>

#include "memtab.h"
#include "parse.h"
#include "store.h"

#define SVC_JSON_MAX ((size_t)64 * 1024)
#define SVC_IMAGE_MAX ((size_t)16 * 1024 * 1024)
#define SVC_CONNECTIONS_MAX 64u
#define SVC_TIMEOUT_SECONDS 10u
#define SVC_NONCE_TTL 60u
#define SVC_REPLAY_WINDOW 600u
#define SVC_SKEW_SECONDS 300u
#define SVC_DISCARD_MAX ((size_t)1024 * 1024) /* then the connection is closed */

/* memtab values */
struct svc_nonce {
    uint8_t nonce[32];
    int64_t expires;
    int64_t used;
};

struct svc_cert {
    int64_t tenant_id;
    int64_t not_before;
    int64_t not_after;
    char device_id[72];
    uint8_t pk[32];
};

struct svc_tenant_ca {
    int64_t tenant_id;
    char name[SVC_NAME_MAX + 1];
    nacre_ca_issuer *issuer;
    char *ca_pem;
    uint8_t ca_der[NACRE_CA_CERT_MAX];
    size_t ca_der_len;
};

struct svc {
    char *data_dir;
    char *db_path;
    uint64_t started_at;
    struct memtab *nonces;  /* device id -> struct svc_nonce */
    struct memtab *replay;  /* BLAKE2b(keyid "/" nonce) -> nothing */
    struct memtab *certs;   /* SHA-256(DER) -> struct svc_cert */
    struct memtab *seen;    /* device id -> last time queued for last_seen */
    pthread_mutex_t lock;   /* tenant CA table, store list, touch queue */
    pthread_mutex_t rollout_lock;
    struct svc_tenant_ca *cas;
    size_t ncas;
    struct store **stores;  /* every per-thread connection, closed at exit */
    size_t nstores;
    char (*touch_ids)[65];
    int64_t *touch_times;
    size_t ntouch;
};

extern struct svc svc;

/* The calling thread's database connection (opened on first use); NULL on failure. */
struct store *svc_store(void);
void svc_close_stores(void);
/* The tenant's CA (loaded once), or NULL. */
const struct svc_tenant_ca *svc_tenant_ca(int64_t tenant_id);
/* Create DIR/tenants/NAME/ca. */
int svc_tenant_ca_init(const char *name, uint64_t now);
void svc_free_cas(void);
uint64_t svc_now(void);
/* Queue a last_seen update; svc_flush_touches writes the queue. */
void svc_touch(const char *device_id, int64_t now);
void svc_flush_touches(void);

/* ---- requests and replies (http.c) ---- */
struct MHD_Connection;
struct MHD_Response;

struct svc_req {
    struct MHD_Connection *conn;
    const char *method;
    const char *path;
    char *body;
    size_t len;
    size_t cap;
    size_t limit;
    int too_large;
    size_t discarded; /* bytes of an oversized body thrown away */
    int octet; /* the route takes application/octet-stream */
    struct svc_signed_headers sig; /* a device request's parsed signature headers */
    /* the reply */
    unsigned status;
    struct MHD_Response *resp;
};

/* Reply with a JSON value (stolen). */
void svc_reply(struct svc_req *r, unsigned status, json_t *body);
/* Reply with {"error": {...}}; extra (stolen, may be NULL) adds fields to the top level. */
void svc_error(struct svc_req *r, unsigned status, const char *code, json_t *extra,
               const char *fmt, ...)
#if defined(__GNUC__) || defined(__clang__)
    __attribute__((format(printf, 5, 6)))
#endif
    ;
void svc_reply_parse_error(struct svc_req *r, const struct svc_perr *err);
void svc_internal(struct svc_req *r);
const char *svc_header(struct svc_req *r, const char *name);
const char *svc_query(struct svc_req *r, const char *name);
int svc_has_query(struct svc_req *r);

/* ---- handlers ---- */
/* Operator API; segs are the path segments after "v1". */
void api_operator(struct svc_req *r, char **segs, size_t nsegs);
/* Device API: segs after "v1", "device". */
void api_device(struct svc_req *r, char **segs, size_t nsegs);

/* ---- rollouts and threats (rollout.c) ---- */
/* Offer the open wave of a deployment and advance / halt it as its devices report. */
void rollout_evaluate(struct store *st, int64_t tenant_id, int64_t deployment_id);
/* A device's current deployment offer changed to `bad` (attestation failed, crash). */
void rollout_mark_bad(struct store *st, const struct st_device *d, int crashed_only);
/** A device joined `group` (claim, group change): rank it into a rolling deployment. */
void rollout_group_changed(struct store *st, int64_t tenant_id, const char *group);
/* Raise an alert (once per device and rule) and log it. */
void threat_raise(struct store *st, int64_t tenant_id, const char *device_id, const char *rule,
                  const char *detail);
/* The device's current offer, if any (0 found). */
int rollout_current_offer(struct store *st, const struct st_device *d, struct st_deployment *dep,
                          struct st_offer *offer);

/* Device JSON (api.c), used by the device API too. */
json_t *api_device_json(struct store *st, const struct st_device *d);

#endif /* NACRE_SERVICE_H */
