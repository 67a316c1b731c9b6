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

#include <nacre/attest.h>
#include <nacre/ca.h>

#include "memtab.h"
#include "parse.h"
#include "store.h"

#define SVC_JSON_MAX ((size_t)64 * 1024)
#define SVC_IMAGE_MAX ((size_t)16 * 1024 * 1024)
#define SVC_CONNECTIONS_MAX 64u
#define SVC_TIMEOUT_SECONDS 10u
#define SVC_NONCE_TTL 60u /* default of --nonce-ttl */
#define SVC_REPLAY_WINDOW 600u
#define SVC_SKEW_SECONDS 300u
#define SVC_DISCARD_MAX ((size_t)1024 * 1024) /* then the connection is closed */

/*
 * Attestation nonces are stateless (docs/service-api.md): 32 bytes =
 * random (8) || expiry (8, seconds since the epoch, big-endian) || the first
 * 16 bytes of BLAKE2b keyed with svc.nonce_key over (device id (32 bytes) ||
 * random || expiry). Issuing one stores nothing; a nonce that passed
 * attestation is kept in svc.nonces_used until it expires.
 */
#define SVC_NONCE_BYTES 32u
#define SVC_NONCES_USED_MAX ((size_t)1 << 20) /* then attestation answers 503 */
/* Accepted (keyid, nonce) pairs of signed requests kept at once; then 503. */
#define SVC_REPLAY_MAX ((size_t)1 << 22)

/* memtab values */
struct svc_cert {
    int64_t tenant_id;
    int64_t not_before;
    int64_t not_after;
    char device_id[72];
    uint8_t pk[32];
    uint8_t der_hash[32]; /* SHA-256 of the DER: what the device row says is current */
};

/*
 * A device's view for signed requests: its row and what GET /v1/device/update
 * answers, tagged with the store_epoch() read before the rows were; current
 * only while the epoch has not moved (store.h).
 */
#define SVC_UPDATE_REPLY_MAX 512u
struct svc_view {
    uint64_t epoch;
    struct st_device d;
    int update_error;                    /* the offered image's row is missing */
    char update[SVC_UPDATE_REPLY_MAX];   /* the update check's JSON reply */
};

struct svc_tenant_ca {
    int64_t tenant_id;
    char name[SVC_NAME_MAX + 1];
    nacre_ca_issuer *issuer;
    char *ca_pem;
    uint8_t ca_der[NACRE_CA_CERT_MAX];
    size_t ca_der_len;
};

/* A group's attestation reference values, tagged with store_catalog_epoch(). */
#define SVC_REFS_MAX 64u
struct svc_refs {
    uint64_t epoch;
    size_t n;
    struct nacre_attest_ref refs[SVC_REFS_MAX];
};

struct svc {
    char *data_dir;
    char *db_path;
    uint64_t started_at;
    uint8_t nonce_key[32];  /* per start: nonces issued before a restart fail */
    uint64_t nonce_ttl;     /* --nonce-ttl, SVC_NONCE_TTL by default */
    struct memtab *nonces_used; /* attestation nonces used, until they expire */
    struct memtab *replay;  /* BLAKE2b(keyid "/" nonce) -> nothing; capped */
    struct memtab *certs;   /* BLAKE2b(Client-Cert header text) -> struct svc_cert */
    struct memtab *views;   /* device id -> struct svc_view */
    struct memtab *claimed; /* device ids known to be claimed (nonce requests) */
    struct memtab *refs;    /* BLAKE2b(tenant id, group) -> struct svc_refs */
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

/* An event upload waiting for its group commit (ingest.c). */
struct svc_ingest {
    struct st_device d;           /* the sender (threat rules run after the commit) */
    struct svc_event *evs;
    int *inserted;
    struct st_event_batch b;      /* points into d, evs, inserted */
    enum store_status status;     /* set by the committer */
    int done;
    struct MHD_Connection *conn;
    struct svc_ingest *next;
};

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
    struct svc_ingest *ingest; /* an event upload in (or past) its group commit */
    int suspended; /* waiting for the group commit: reply when resumed */
    /* the reply */
    unsigned status;
    struct MHD_Response *resp;
};

/* Reply with a JSON value (stolen). */
void svc_reply(struct svc_req *r, unsigned status, json_t *body);
/* Reply with JSON text (copied). */
void svc_reply_text(struct svc_req *r, unsigned status, const char *json);
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

/* ---- group commit of events (ingest.c) ---- */
int ingest_start(void);
/* Queue job and suspend r's connection (0); -1: not now (stopping), commit it yourself. */
int ingest_submit(struct svc_req *r, struct svc_ingest *job);
/* Commit and resume everything queued; later uploads commit on their own. */
void ingest_stop(void);
void ingest_free(struct svc_ingest *job);

/* ---- handlers ---- */
/* The reply to an event upload whose commit is done (the handler's second call). */
void api_device_events_done(struct svc_req *r);
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
