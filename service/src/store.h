/*
 * store.h - nacre-service storage: typed functions over the service's state.
 *
 * The API code sees only these functions and records; the implementation
 * (store_sqlite.c) keeps everything in one SQLite database (WAL,
 * synchronous=NORMAL) and uses prepared statements only.
 *
 * THREAD SAFETY: a struct store is one database connection; use one per
 * thread (svc_store() in service.h hands each thread its own). SQLite
 * serialises the writers; multi-statement writes are one transaction.
 */
#ifndef NACRE_SERVICE_STORE_H
#define NACRE_SERVICE_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "parse.h"

enum store_status {
    STORE_OK = 0,
    STORE_NOT_FOUND = 1,
    STORE_EXISTS = 2,
    STORE_ERROR = 3, /* the database failed (logged) */
};

struct store;

/*
 * The write epoch: a counter that moves after every committed change to any
 * table but events (and but last_seen, written by store_touch). A view of
 * rows cached in memory, tagged with the epoch read *before* reading them,
 * is current while store_epoch() still returns that value: the service's
 * update checks read no database rows in the steady state this way, and any
 * write (quarantine, revocation by a new certificate, group change, rollout
 * state, offers, images) invalidates every cached view at once.
 */
uint64_t store_epoch(void);
/* The same for the deployments and images tables alone (the attestation
 * reference values of a group), which attestations do not change. */
uint64_t store_catalog_epoch(void);

/* Open (creating the schema if needed) the database at path. */
enum store_status store_open(const char *path, struct store **out);
void store_close(struct store *st);

/* ---- tenants and tokens ---- */
struct st_tenant {
    int64_t id;
    char name[SVC_NAME_MAX + 1];
    uint8_t root_pk[32];
    int64_t created_at;
    int64_t devices;
};
enum store_status store_tenant_create(struct store *st, const char *name, const uint8_t root_pk[32],
                                      int64_t now, int64_t *id);
enum store_status store_tenant_get(struct store *st, int64_t id, struct st_tenant *out);
/* Every tenant, in order of creation (cb returns non-zero to stop). */
enum store_status store_tenant_list(struct store *st,
                                    int (*cb)(void *ctx, const struct st_tenant *t), void *ctx);

struct st_token {
    int64_t id;
    int64_t tenant_id; /* 0: the service admin */
    char role[16];
    char label[SVC_TEXT_MAX + 1];
    int64_t created_at;
};
enum store_status store_token_create(struct store *st, int64_t tenant_id, const char *role,
                                     const char *label, const uint8_t hash[32], int64_t now,
                                     int64_t *id);
enum store_status store_token_by_hash(struct store *st, const uint8_t hash[32], struct st_token *out);
enum store_status store_token_list(struct store *st, int64_t tenant_id,
                                   int (*cb)(void *ctx, const struct st_token *t), void *ctx);
enum store_status store_token_delete(struct store *st, int64_t tenant_id, int64_t id);
/* Whether any service-admin token exists. */
enum store_status store_has_admin(struct store *st, int *has);

/* ---- groups and devices ---- */
enum store_status store_group_create(struct store *st, int64_t tenant_id, const char *name,
                                     int64_t now);
enum store_status store_group_exists(struct store *st, int64_t tenant_id, const char *name);
enum store_status store_group_list(struct store *st, int64_t tenant_id,
                                   int (*cb)(void *ctx, const char *name, int64_t devices),
                                   void *ctx);

struct st_device {
    char device_id[65];
    int64_t tenant_id;
    uint8_t pk[32];
    char label[SVC_TEXT_MAX + 1];
    char group[SVC_NAME_MAX + 1];
    char state[24];
    char version[40];          /* "" = none */
    int64_t cert_expires;      /* 0 = none */
    uint8_t cert_hash[32];     /* SHA-256 of the DER of the one valid certificate */
    int has_cert;
    int quarantined;
    char quarantine_reason[SVC_TEXT_MAX + 1];
    int64_t last_seen;         /* 0 = never */
    int64_t last_attested;
    int64_t upd_deployment;    /* 0 = none */
    char upd_status[16];
    char upd_version[40];
};
enum store_status store_device_claim(struct store *st, const struct st_device *d);
enum store_status store_device_get(struct store *st, const char *device_id, struct st_device *out);
enum store_status store_device_list(struct store *st, int64_t tenant_id,
                                    int (*cb)(void *ctx, const struct st_device *d), void *ctx);
enum store_status store_device_set_group(struct store *st, const char *device_id, const char *group);
enum store_status store_device_quarantine(struct store *st, const char *device_id, int on,
                                          const char *reason);
enum store_status store_device_attested(struct store *st, const char *device_id,
                                        const char *version, const uint8_t cert_hash[32],
                                        int64_t expires, int64_t now);
enum store_status store_device_attest_failed(struct store *st, const char *device_id, int64_t now);
enum store_status store_device_set_update(struct store *st, const char *device_id,
                                          int64_t deployment, const char *status,
                                          const char *version);
/* Device ids of a group (any order). *ids is malloc'd, 65 chars each. */
enum store_status store_group_device_ids(struct store *st, int64_t tenant_id, const char *group,
                                         char (**ids)[65], size_t *n);
/* Flags of a device: the rules of its alerts. */
enum store_status store_device_flags(struct store *st, const char *device_id,
                                     int (*cb)(void *ctx, const char *rule), void *ctx);
/* last_seen for many devices in one transaction. */
enum store_status store_touch(struct store *st, const char (*ids)[65], const int64_t *times,
                              size_t n);

/* ---- alerts ---- */
/* Raise (tenant, device, rule) once: *raised is 1 if it is new. */
enum store_status store_alert_raise(struct store *st, int64_t tenant_id, const char *device_id,
                                    const char *rule, const char *detail, int64_t now,
                                    int *raised);
struct st_alert {
    int64_t id;
    char device_id[65];
    char rule[32];
    char detail[SVC_TEXT_MAX + 1];
    int64_t time;
};
enum store_status store_alert_list(struct store *st, int64_t tenant_id,
                                   int (*cb)(void *ctx, const struct st_alert *a), void *ctx);

/* ---- images ---- */
struct st_image {
    char image_id[65];
    char name[40];
    char version[40];
    int64_t size;
    uint8_t measurement[32];
    uint8_t signer_id[32];
    uint32_t security_counter;
    int64_t uploaded_at;
};
enum store_status store_image_create(struct store *st, int64_t tenant_id, const struct st_image *im);
enum store_status store_image_get(struct store *st, int64_t tenant_id, const char *image_id,
                                  struct st_image *out);
enum store_status store_image_list(struct store *st, int64_t tenant_id,
                                   int (*cb)(void *ctx, const struct st_image *im), void *ctx);
/* The images of every deployment to a group: the attestation reference values. */
enum store_status store_group_images(struct store *st, int64_t tenant_id, const char *group,
                                     int (*cb)(void *ctx, const struct st_image *im), void *ctx);

/* ---- deployments and their offers ---- */
struct st_deployment {
    int64_t id;
    int64_t tenant_id;
    char group[SVC_NAME_MAX + 1];
    char image_id[65];
    char version[40];
    unsigned waves[SVC_WAVES_MAX];
    unsigned nwaves;
    double max_failure_rate;
    char state[12];
    unsigned wave;
    char halt_reason[128];
    int64_t created_at;
    /* counts (filled by get and list) */
    int64_t total, offered, confirmed, failed, crashed;
};
/* Create; cancels the group's earlier deployments. Fills d->id. */
enum store_status store_deployment_create(struct store *st, struct st_deployment *d);
enum store_status store_deployment_get(struct store *st, int64_t tenant_id, int64_t id,
                                       struct st_deployment *out);
enum store_status store_deployment_list(struct store *st, int64_t tenant_id,
                                        int (*cb)(void *ctx, const struct st_deployment *d),
                                        void *ctx);
/* The group's newest deployment that is not cancelled (STORE_NOT_FOUND if none). */
enum store_status store_deployment_current(struct store *st, int64_t tenant_id, const char *group,
                                           struct st_deployment *out);
enum store_status store_deployment_set_state(struct store *st, int64_t id, const char *state,
                                             unsigned wave, const char *halt_reason);

struct st_offer {
    unsigned wave;
    char status[16];  /* "offered", or the last install report */
    int bad;
    int crashed;
};
enum store_status store_offer_get(struct store *st, int64_t deployment, const char *device_id,
                                  struct st_offer *out);
/* Offer the deployment to these devices (already offered ones are kept). */
enum store_status store_offer_add(struct store *st, int64_t deployment, const char (*ids)[65],
                                  size_t n, unsigned wave, const char *version);
enum store_status store_offer_update(struct store *st, int64_t deployment, const char *device_id,
                                     const struct st_offer *o);
/* good / bad / undecided counts of the offered devices. */
enum store_status store_offer_tally(struct store *st, int64_t deployment, int64_t *good,
                                    int64_t *bad, int64_t *undecided);

/* ---- events, crash buckets, summary ---- */
struct st_event {
    struct svc_event ev;
    char device_id[65];
    int64_t received_at;
};
/* Store a batch in one transaction; inserted[i] = 1 if event i was new. */
enum store_status store_events_insert(struct store *st, int64_t tenant_id, const char *device_id,
                                      const char *version, const struct svc_event *evs, size_t n,
                                      int64_t now, int *inserted, int64_t *accepted,
                                      int64_t *last_seq);
/* Many devices' batches (group commit): all in one transaction, or none. */
struct st_event_batch {
    int64_t tenant_id;
    const char *device_id;
    const char *version;
    const struct svc_event *evs;
    size_t n;
    int64_t now;
    int *inserted;     /* n entries, filled */
    int64_t accepted;  /* filled */
    int64_t last_seq;  /* filled; -1 none */
};
enum store_status store_events_insert_batches(struct store *st, struct st_event_batch *b,
                                              size_t n);
enum store_status store_event_list(struct store *st, int64_t tenant_id, const char *device_id,
                                   int64_t limit, int (*cb)(void *ctx, const struct st_event *e),
                                   void *ctx);
enum store_status store_event_count(struct store *st, const char *device_id, unsigned type,
                                    int64_t from, int64_t to, int64_t *count);
struct st_bucket {
    char bucket[17];
    char app[17];
    int64_t signal;
    char version[40];
    int64_t count, devices, first_seen, last_seen;
};
enum store_status store_bucket_list(struct store *st, int64_t tenant_id,
                                    int (*cb)(void *ctx, const struct st_bucket *b), void *ctx);
struct st_summary {
    int64_t devices, attested, flagged, quarantined, deployments, alerts, buckets;
};
enum store_status store_summary(struct store *st, int64_t tenant_id, struct st_summary *out);

#endif /* NACRE_SERVICE_STORE_H */
