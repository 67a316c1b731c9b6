/*
 * store_sqlite.c - the SQLite implementation of store.h.
 *
 * One database file; WAL with synchronous=NORMAL: a commit is in the WAL
 * before sqlite3_step returns, so it survives the process being killed
 * (kill -9); only a power cut may lose the last commits. Every statement is
 * prepared once per connection from the constant table below and bound with
 * values: no SQL is ever built from strings.
 */
#include "store.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>
#include <sqlite3.h>

#include <nacre/secmon.h>

static const char SCHEMA[] =
    "CREATE TABLE IF NOT EXISTS tenants(id INTEGER PRIMARY KEY, name TEXT UNIQUE NOT NULL,"
    " root_pk BLOB NOT NULL, created_at INTEGER NOT NULL);"
    "CREATE TABLE IF NOT EXISTS tokens(id INTEGER PRIMARY KEY, tenant_id INTEGER NOT NULL,"
    " role TEXT NOT NULL, label TEXT NOT NULL, hash BLOB UNIQUE NOT NULL,"
    " created_at INTEGER NOT NULL);"
    "CREATE TABLE IF NOT EXISTS groups(tenant_id INTEGER NOT NULL, name TEXT NOT NULL,"
    " created_at INTEGER NOT NULL, PRIMARY KEY(tenant_id, name));"
    "CREATE TABLE IF NOT EXISTS devices(device_id TEXT PRIMARY KEY, tenant_id INTEGER NOT NULL,"
    " pk BLOB NOT NULL, label TEXT NOT NULL, grp TEXT NOT NULL, state TEXT NOT NULL,"
    " version TEXT NOT NULL DEFAULT '', cert_expires INTEGER NOT NULL DEFAULT 0,"
    " cert_hash BLOB, quarantined INTEGER NOT NULL DEFAULT 0,"
    " quarantine_reason TEXT NOT NULL DEFAULT '', last_seen INTEGER NOT NULL DEFAULT 0,"
    " last_attested INTEGER NOT NULL DEFAULT 0, upd_deployment INTEGER NOT NULL DEFAULT 0,"
    " upd_status TEXT NOT NULL DEFAULT '', upd_version TEXT NOT NULL DEFAULT '',"
    " created_at INTEGER NOT NULL);"
    "CREATE INDEX IF NOT EXISTS devices_tenant ON devices(tenant_id, grp);"
    "CREATE TABLE IF NOT EXISTS alerts(id INTEGER PRIMARY KEY, tenant_id INTEGER NOT NULL,"
    " device_id TEXT NOT NULL, rule TEXT NOT NULL, detail TEXT NOT NULL, time INTEGER NOT NULL,"
    " UNIQUE(device_id, rule));"
    "CREATE INDEX IF NOT EXISTS alerts_tenant ON alerts(tenant_id);"
    "CREATE TABLE IF NOT EXISTS images(tenant_id INTEGER NOT NULL, image_id TEXT NOT NULL,"
    " name TEXT NOT NULL, version TEXT NOT NULL, size INTEGER NOT NULL,"
    " measurement BLOB NOT NULL, signer_id BLOB NOT NULL, security_counter INTEGER NOT NULL,"
    " uploaded_at INTEGER NOT NULL, PRIMARY KEY(tenant_id, image_id));"
    "CREATE TABLE IF NOT EXISTS deployments(id INTEGER PRIMARY KEY, tenant_id INTEGER NOT NULL,"
    " grp TEXT NOT NULL, image_id TEXT NOT NULL, version TEXT NOT NULL, waves BLOB NOT NULL,"
    " max_failure_rate REAL NOT NULL, state TEXT NOT NULL, wave INTEGER NOT NULL,"
    " halt_reason TEXT NOT NULL DEFAULT '', created_at INTEGER NOT NULL);"
    "CREATE INDEX IF NOT EXISTS deployments_group ON deployments(tenant_id, grp);"
    "CREATE TABLE IF NOT EXISTS offers(deployment_id INTEGER NOT NULL, device_id TEXT NOT NULL,"
    " wave INTEGER NOT NULL, status TEXT NOT NULL, bad INTEGER NOT NULL DEFAULT 0,"
    " crashed INTEGER NOT NULL DEFAULT 0, PRIMARY KEY(deployment_id, device_id));"
    "CREATE TABLE IF NOT EXISTS events(device_id TEXT NOT NULL, seq INTEGER NOT NULL,"
    " tenant_id INTEGER NOT NULL, time INTEGER NOT NULL, type INTEGER NOT NULL,"
    " app TEXT NOT NULL, code INTEGER NOT NULL, addr INTEGER NOT NULL, detail TEXT NOT NULL,"
    " version TEXT NOT NULL, received_at INTEGER NOT NULL, PRIMARY KEY(device_id, seq));"
    "CREATE INDEX IF NOT EXISTS events_tenant ON events(tenant_id, type);"
    "CREATE INDEX IF NOT EXISTS events_received ON events(tenant_id, received_at);";

enum {
    Q_BEGIN,
    Q_COMMIT,
    Q_ROLLBACK,
    Q_TENANT_INSERT,
    Q_TENANT_GET,
    Q_TENANT_LIST,
    Q_TOKEN_INSERT,
    Q_TOKEN_BY_HASH,
    Q_TOKEN_LIST,
    Q_TOKEN_DELETE,
    Q_HAS_ADMIN,
    Q_GROUP_INSERT,
    Q_GROUP_EXISTS,
    Q_GROUP_LIST,
    Q_DEVICE_INSERT,
    Q_DEVICE_GET,
    Q_DEVICE_LIST,
    Q_DEVICE_SET_GROUP,
    Q_DEVICE_QUARANTINE,
    Q_DEVICE_ATTESTED,
    Q_DEVICE_ATTEST_FAILED,
    Q_DEVICE_SET_UPDATE,
    Q_GROUP_DEVICE_IDS,
    Q_DEVICE_FLAGS,
    Q_DEVICE_TOUCH,
    Q_ALERT_INSERT,
    Q_ALERT_LIST,
    Q_IMAGE_INSERT,
    Q_IMAGE_GET,
    Q_IMAGE_LIST,
    Q_GROUP_IMAGES,
    Q_DEPLOY_CANCEL,
    Q_DEPLOY_INSERT,
    Q_DEPLOY_GET,
    Q_DEPLOY_LIST,
    Q_DEPLOY_CURRENT,
    Q_DEPLOY_SET_STATE,
    Q_DEPLOY_COUNTS,
    Q_GROUP_COUNT,
    Q_OFFER_GET,
    Q_OFFER_INSERT,
    Q_OFFER_UPDATE,
    Q_OFFER_TALLY,
    Q_EVENT_INSERT,
    Q_EVENT_MAXSEQ,
    Q_EVENT_LIST,
    Q_EVENT_LIST_DEVICE,
    Q_EVENT_COUNT,
    Q_BUCKET_LIST,
    Q_SUMMARY,
    Q_COUNT
};

static const char *const SQL[Q_COUNT] = {
    [Q_BEGIN] = "BEGIN IMMEDIATE",
    [Q_COMMIT] = "COMMIT",
    [Q_ROLLBACK] = "ROLLBACK",
    [Q_TENANT_INSERT] = "INSERT INTO tenants(name, root_pk, created_at) VALUES(?1, ?2, ?3)",
    [Q_TENANT_GET] = "SELECT id, name, root_pk, created_at,"
                     " (SELECT COUNT(*) FROM devices d WHERE d.tenant_id = t.id)"
                     " FROM tenants t WHERE id = ?1",
    [Q_TENANT_LIST] = "SELECT id, name, root_pk, created_at,"
                      " (SELECT COUNT(*) FROM devices d WHERE d.tenant_id = t.id)"
                      " FROM tenants t ORDER BY id",
    [Q_TOKEN_INSERT] = "INSERT INTO tokens(tenant_id, role, label, hash, created_at)"
                       " VALUES(?1, ?2, ?3, ?4, ?5)",
    [Q_TOKEN_BY_HASH] = "SELECT id, tenant_id, role, label, created_at FROM tokens WHERE hash = ?1",
    [Q_TOKEN_LIST] = "SELECT id, tenant_id, role, label, created_at FROM tokens"
                     " WHERE tenant_id = ?1 ORDER BY id",
    [Q_TOKEN_DELETE] = "DELETE FROM tokens WHERE tenant_id = ?1 AND id = ?2",
    [Q_HAS_ADMIN] = "SELECT COUNT(*) FROM tokens WHERE tenant_id = 0 AND role = 'service-admin'",
    [Q_GROUP_INSERT] = "INSERT INTO groups(tenant_id, name, created_at) VALUES(?1, ?2, ?3)",
    [Q_GROUP_EXISTS] = "SELECT 1 FROM groups WHERE tenant_id = ?1 AND name = ?2",
    [Q_GROUP_LIST] = "SELECT g.name, (SELECT COUNT(*) FROM devices d WHERE d.tenant_id ="
                     " g.tenant_id AND d.grp = g.name) FROM groups g WHERE g.tenant_id = ?1"
                     " ORDER BY g.name",
    [Q_DEVICE_INSERT] = "INSERT INTO devices(device_id, tenant_id, pk, label, grp, state, created_at)"
                        " VALUES(?1, ?2, ?3, ?4, ?5, 'claimed', ?6)",
    [Q_DEVICE_GET] = "SELECT device_id, tenant_id, pk, label, grp, state, version, cert_expires,"
                     " cert_hash, quarantined, quarantine_reason, last_seen, last_attested,"
                     " upd_deployment, upd_status, upd_version FROM devices WHERE device_id = ?1",
    [Q_DEVICE_LIST] = "SELECT device_id, tenant_id, pk, label, grp, state, version, cert_expires,"
                      " cert_hash, quarantined, quarantine_reason, last_seen, last_attested,"
                      " upd_deployment, upd_status, upd_version FROM devices WHERE tenant_id = ?1"
                      " ORDER BY created_at, device_id",
    [Q_DEVICE_SET_GROUP] = "UPDATE devices SET grp = ?2 WHERE device_id = ?1",
    [Q_DEVICE_QUARANTINE] = "UPDATE devices SET quarantined = ?2, quarantine_reason = ?3,"
                            " cert_hash = CASE WHEN ?2 THEN NULL ELSE cert_hash END,"
                            " cert_expires = CASE WHEN ?2 THEN 0 ELSE cert_expires END,"
                            " state = CASE WHEN ?2 THEN 'quarantined' WHEN state = 'quarantined'"
                            " THEN 'claimed' ELSE state END WHERE device_id = ?1",
    [Q_DEVICE_ATTESTED] = "UPDATE devices SET state = 'attested', version = ?2, cert_hash = ?3,"
                          " cert_expires = ?4, last_attested = ?5, last_seen = ?5"
                          " WHERE device_id = ?1",
    [Q_DEVICE_ATTEST_FAILED] = "UPDATE devices SET state = 'attestation_failed', last_seen = ?2"
                               " WHERE device_id = ?1",
    [Q_DEVICE_SET_UPDATE] = "UPDATE devices SET upd_deployment = ?2, upd_status = ?3,"
                            " upd_version = ?4 WHERE device_id = ?1",
    [Q_GROUP_DEVICE_IDS] = "SELECT device_id FROM devices WHERE tenant_id = ?1 AND grp = ?2",
    [Q_DEVICE_FLAGS] = "SELECT rule FROM alerts WHERE device_id = ?1 ORDER BY id",
    [Q_DEVICE_TOUCH] = "UPDATE devices SET last_seen = MAX(last_seen, ?2) WHERE device_id = ?1",
    [Q_ALERT_INSERT] = "INSERT OR IGNORE INTO alerts(tenant_id, device_id, rule, detail, time)"
                       " VALUES(?1, ?2, ?3, ?4, ?5)",
    [Q_ALERT_LIST] = "SELECT id, device_id, rule, detail, time FROM alerts WHERE tenant_id = ?1"
                     " ORDER BY id DESC",
    [Q_IMAGE_INSERT] = "INSERT INTO images(tenant_id, image_id, name, version, size, measurement,"
                       " signer_id, security_counter, uploaded_at)"
                       " VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    [Q_IMAGE_GET] = "SELECT image_id, name, version, size, measurement, signer_id,"
                    " security_counter, uploaded_at FROM images WHERE tenant_id = ?1"
                    " AND image_id = ?2",
    [Q_IMAGE_LIST] = "SELECT image_id, name, version, size, measurement, signer_id,"
                     " security_counter, uploaded_at FROM images WHERE tenant_id = ?1"
                     " ORDER BY uploaded_at, image_id",
    [Q_GROUP_IMAGES] = "SELECT DISTINCT i.image_id, i.name, i.version, i.size, i.measurement,"
                       " i.signer_id, i.security_counter, i.uploaded_at FROM images i"
                       " JOIN deployments d ON d.tenant_id = i.tenant_id AND d.image_id ="
                       " i.image_id WHERE d.tenant_id = ?1 AND d.grp = ?2",
    [Q_DEPLOY_CANCEL] = "UPDATE deployments SET state = 'cancelled' WHERE tenant_id = ?1"
                        " AND grp = ?2 AND state != 'cancelled'",
    [Q_DEPLOY_INSERT] = "INSERT INTO deployments(tenant_id, grp, image_id, version, waves,"
                        " max_failure_rate, state, wave, created_at)"
                        " VALUES(?1, ?2, ?3, ?4, ?5, ?6, 'rolling', 0, ?7)",
    [Q_DEPLOY_GET] = "SELECT id, tenant_id, grp, image_id, version, waves, max_failure_rate,"
                     " state, wave, halt_reason, created_at FROM deployments"
                     " WHERE tenant_id = ?1 AND id = ?2",
    [Q_DEPLOY_LIST] = "SELECT id, tenant_id, grp, image_id, version, waves, max_failure_rate,"
                      " state, wave, halt_reason, created_at FROM deployments"
                      " WHERE tenant_id = ?1 ORDER BY id",
    [Q_DEPLOY_CURRENT] = "SELECT id, tenant_id, grp, image_id, version, waves, max_failure_rate,"
                         " state, wave, halt_reason, created_at FROM deployments"
                         " WHERE tenant_id = ?1 AND grp = ?2 AND state != 'cancelled'"
                         " ORDER BY id DESC LIMIT 1",
    [Q_DEPLOY_SET_STATE] = "UPDATE deployments SET state = ?2, wave = ?3, halt_reason = ?4"
                           " WHERE id = ?1",
    [Q_DEPLOY_COUNTS] = "SELECT COUNT(*), COALESCE(SUM(status = 'confirmed' AND bad = 0), 0),"
                        " COALESCE(SUM(bad), 0), COALESCE(SUM(crashed), 0) FROM offers"
                        " WHERE deployment_id = ?1",
    [Q_GROUP_COUNT] = "SELECT COUNT(*) FROM devices WHERE tenant_id = ?1 AND grp = ?2",
    [Q_OFFER_GET] = "SELECT wave, status, bad, crashed FROM offers WHERE deployment_id = ?1"
                    " AND device_id = ?2",
    [Q_OFFER_INSERT] = "INSERT OR IGNORE INTO offers(deployment_id, device_id, wave, status)"
                       " VALUES(?1, ?2, ?3, 'offered')",
    [Q_OFFER_UPDATE] = "UPDATE offers SET status = ?3, bad = ?4, crashed = ?5"
                       " WHERE deployment_id = ?1 AND device_id = ?2",
    [Q_OFFER_TALLY] = "SELECT COALESCE(SUM(status = 'confirmed' AND bad = 0), 0),"
                      " COALESCE(SUM(bad), 0), COALESCE(SUM(status != 'confirmed' AND bad = 0), 0)"
                      " FROM offers WHERE deployment_id = ?1",
    [Q_EVENT_INSERT] = "INSERT OR IGNORE INTO events(device_id, seq, tenant_id, time, type, app,"
                       " code, addr, detail, version, received_at)"
                       " VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
    [Q_EVENT_MAXSEQ] = "SELECT COALESCE(MAX(seq), -1) FROM events WHERE device_id = ?1",
    [Q_EVENT_LIST] = "SELECT device_id, seq, time, type, app, code, addr, detail, received_at"
                     " FROM events WHERE tenant_id = ?1 ORDER BY received_at DESC, seq DESC"
                     " LIMIT ?2",
    [Q_EVENT_LIST_DEVICE] = "SELECT device_id, seq, time, type, app, code, addr, detail,"
                            " received_at FROM events WHERE device_id = ?3 AND tenant_id = ?1"
                            " ORDER BY seq DESC LIMIT ?2",
    [Q_EVENT_COUNT] = "SELECT COUNT(*) FROM events WHERE device_id = ?1 AND type = ?2"
                      " AND time >= ?3 AND time <= ?4",
    [Q_BUCKET_LIST] = "SELECT app, code, version, COUNT(*), COUNT(DISTINCT device_id), MIN(time),"
                      " MAX(time) FROM events WHERE tenant_id = ?1 AND type = ?2"
                      " GROUP BY app, code, version ORDER BY COUNT(*) DESC, app, code, version",
    [Q_SUMMARY] = "SELECT (SELECT COUNT(*) FROM devices WHERE tenant_id = ?1),"
                  " (SELECT COUNT(*) FROM devices WHERE tenant_id = ?1 AND state = 'attested'),"
                  " (SELECT COUNT(DISTINCT device_id) FROM alerts WHERE tenant_id = ?1),"
                  " (SELECT COUNT(*) FROM devices WHERE tenant_id = ?1 AND quarantined = 1),"
                  " (SELECT COUNT(*) FROM deployments WHERE tenant_id = ?1),"
                  " (SELECT COUNT(*) FROM alerts WHERE tenant_id = ?1),"
                  " (SELECT COUNT(*) FROM (SELECT 1 FROM events WHERE tenant_id = ?1 AND type = ?2"
                  " GROUP BY app, code, version))",
};

struct store {
    sqlite3 *db;
    sqlite3_stmt *q[Q_COUNT];
    int dirty;    /* a row that store_epoch covers changed in the open transaction */
    int dirty_catalog; /* a deployments or images row (store_catalog_epoch) */
    int touching; /* store_touch: last_seen only */
};

/*
 * The write epoch (store.h). The update hook sees every row a statement of
 * this connection inserts, updates or deletes (every table has a rowid);
 * the epoch moves once that change is committed — after COMMIT, or after an
 * autocommit statement — so a reader that saw the old epoch can only have
 * cached rows that the new epoch disowns.
 */
static _Atomic uint64_t write_epoch = 1;
static _Atomic uint64_t catalog_epoch = 1;

uint64_t store_epoch(void)
{
    return write_epoch;
}

uint64_t store_catalog_epoch(void)
{
    return catalog_epoch;
}

static void row_changed(void *ctx, int op, const char *dbname, const char *table,
                        sqlite3_int64 rowid)
{
    struct store *st = ctx;
    (void)op;
    (void)dbname;
    (void)rowid;
    /* Events and last_seen are never part of a cached view (store.h). */
    if (!st->touching && strcmp(table, "events") != 0) {
        st->dirty = 1;
    }
    if (strcmp(table, "deployments") == 0 || strcmp(table, "images") == 0) {
        st->dirty_catalog = 1;
    }
}

static void log_db(struct store *st, const char *what)
{
    fprintf(stderr, "nacre-service: database: %s: %s\n", what, sqlite3_errmsg(st->db));
}

/* The prepared statement for q, reset and unbound. */
static sqlite3_stmt *Q(struct store *st, int q)
{
    if (st->q[q] == NULL) {
        if (sqlite3_prepare_v3(st->db, SQL[q], -1, SQLITE_PREPARE_PERSISTENT, &st->q[q], NULL) !=
            SQLITE_OK) {
            log_db(st, "prepare");
            return NULL;
        }
    }
    sqlite3_reset(st->q[q]);
    sqlite3_clear_bindings(st->q[q]);
    return st->q[q];
}

static void bind_text(sqlite3_stmt *s, int i, const char *v)
{
    sqlite3_bind_text(s, i, v, -1, SQLITE_TRANSIENT);
}

static void col_text(sqlite3_stmt *s, int i, char *out, size_t max)
{
    const unsigned char *t = sqlite3_column_text(s, i);
    snprintf(out, max, "%s", t != NULL ? (const char *)t : "");
}

static void col_blob(sqlite3_stmt *s, int i, uint8_t *out, size_t n, int *present)
{
    const void *b = sqlite3_column_blob(s, i);
    int ok = b != NULL && (size_t)sqlite3_column_bytes(s, i) == n;
    if (ok) {
        memcpy(out, b, n);
    } else {
        memset(out, 0, n);
    }
    if (present != NULL) {
        *present = ok;
    }
}

/* Run a statement that returns no rows. */
static enum store_status exec_write(struct store *st, sqlite3_stmt *s)
{
    if (s == NULL) {
        return STORE_ERROR;
    }
    int rc = sqlite3_step(s);
    sqlite3_reset(s);
    if ((st->dirty || st->dirty_catalog) && sqlite3_get_autocommit(st->db)) {
        /* committed (or rolled back): cached views are stale */
        if (st->dirty_catalog) {
            st->dirty_catalog = 0;
            catalog_epoch++;
        }
        if (st->dirty) {
            st->dirty = 0;
            write_epoch++;
        }
    }
    if (rc == SQLITE_DONE) {
        return STORE_OK;
    }
    if (rc == SQLITE_CONSTRAINT) {
        return STORE_EXISTS;
    }
    log_db(st, "write");
    return STORE_ERROR;
}

static enum store_status begin(struct store *st)
{
    return exec_write(st, Q(st, Q_BEGIN));
}

static enum store_status end(struct store *st, enum store_status status)
{
    if (status == STORE_OK) {
        status = exec_write(st, Q(st, Q_COMMIT));
        if (status == STORE_OK) {
            return STORE_OK;
        }
    }
    exec_write(st, Q(st, Q_ROLLBACK));
    return status;
}

enum store_status store_open(const char *path, struct store **out)
{
    *out = NULL;
    struct store *st = calloc(1, sizeof *st);
    if (st == NULL) {
        return STORE_ERROR;
    }
    if (sqlite3_open_v2(path, &st->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
                                           SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK) {
        if (st->db != NULL) {
            log_db(st, "open");
        }
        store_close(st);
        return STORE_ERROR;
    }
    sqlite3_busy_timeout(st->db, 10000);
    sqlite3_update_hook(st->db, row_changed, st);
    if (sqlite3_exec(st->db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"
                             " PRAGMA foreign_keys=OFF;", NULL, NULL, NULL) != SQLITE_OK ||
        sqlite3_exec(st->db, SCHEMA, NULL, NULL, NULL) != SQLITE_OK) {
        log_db(st, "schema");
        store_close(st);
        return STORE_ERROR;
    }
    *out = st;
    return STORE_OK;
}

void store_close(struct store *st)
{
    if (st == NULL) {
        return;
    }
    for (int i = 0; i < Q_COUNT; i++) {
        sqlite3_finalize(st->q[i]);
    }
    sqlite3_close(st->db);
    free(st);
}

/* ---- tenants and tokens ---- */

enum store_status store_tenant_create(struct store *st, const char *name, const uint8_t root_pk[32],
                                      int64_t now, int64_t *id)
{
    sqlite3_stmt *s = Q(st, Q_TENANT_INSERT);
    if (s == NULL) {
        return STORE_ERROR;
    }
    bind_text(s, 1, name);
    sqlite3_bind_blob(s, 2, root_pk, 32, SQLITE_TRANSIENT);
    sqlite3_bind_int64(s, 3, now);
    enum store_status r = exec_write(st, s);
    if (r == STORE_OK) {
        *id = sqlite3_last_insert_rowid(st->db);
    }
    return r;
}

static void row_tenant(sqlite3_stmt *s, struct st_tenant *t)
{
    t->id = sqlite3_column_int64(s, 0);
    col_text(s, 1, t->name, sizeof t->name);
    col_blob(s, 2, t->root_pk, 32, NULL);
    t->created_at = sqlite3_column_int64(s, 3);
    t->devices = sqlite3_column_int64(s, 4);
}

/* Step through the rows of s; row() converts, cb consumes. */
#define FOR_ROWS(st, s, decl, convert, cb, ctx)                                                   \
    do {                                                                                        \
        int rc_;                                                                                \
        while ((rc_ = sqlite3_step(s)) == SQLITE_ROW) {                                         \
            decl;                                                                               \
            convert;                                                                            \
            if (cb(ctx, &row_) != 0) {                                                          \
                break;                                                                          \
            }                                                                                   \
        }                                                                                       \
        sqlite3_reset(s);                                                                       \
        if (rc_ != SQLITE_ROW && rc_ != SQLITE_DONE) {                                          \
            log_db(st, "read");                                                                 \
            return STORE_ERROR;                                                                 \
        }                                                                                       \
        return STORE_OK;                                                                        \
    } while (0)

/* Read one row (STORE_NOT_FOUND if none). */
static enum store_status one_row(struct store *st, sqlite3_stmt *s)
{
    if (s == NULL) {
        return STORE_ERROR;
    }
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        return STORE_OK;
    }
    sqlite3_reset(s);
    if (rc == SQLITE_DONE) {
        return STORE_NOT_FOUND;
    }
    log_db(st, "read");
    return STORE_ERROR;
}

enum store_status store_tenant_get(struct store *st, int64_t id, struct st_tenant *out)
{
    sqlite3_stmt *s = Q(st, Q_TENANT_GET);
    if (s != NULL) {
        sqlite3_bind_int64(s, 1, id);
    }
    enum store_status r = one_row(st, s);
    if (r == STORE_OK) {
        row_tenant(s, out);
        sqlite3_reset(s);
    }
    return r;
}

enum store_status store_tenant_list(struct store *st,
                                    int (*cb)(void *ctx, const struct st_tenant *t), void *ctx)
{
    sqlite3_stmt *s = Q(st, Q_TENANT_LIST);
    if (s == NULL) {
        return STORE_ERROR;
    }
    FOR_ROWS(st, s, struct st_tenant row_, row_tenant(s, &row_), cb, ctx);
}

static void row_token(sqlite3_stmt *s, struct st_token *t)
{
    t->id = sqlite3_column_int64(s, 0);
    t->tenant_id = sqlite3_column_int64(s, 1);
    col_text(s, 2, t->role, sizeof t->role);
    col_text(s, 3, t->label, sizeof t->label);
    t->created_at = sqlite3_column_int64(s, 4);
}

enum store_status store_token_create(struct store *st, int64_t tenant_id, const char *role,
                                     const char *label, const uint8_t hash[32], int64_t now,
                                     int64_t *id)
{
    sqlite3_stmt *s = Q(st, Q_TOKEN_INSERT);
    if (s == NULL) {
        return STORE_ERROR;
    }
    sqlite3_bind_int64(s, 1, tenant_id);
    bind_text(s, 2, role);
    bind_text(s, 3, label);
    sqlite3_bind_blob(s, 4, hash, 32, SQLITE_TRANSIENT);
    sqlite3_bind_int64(s, 5, now);
    enum store_status r = exec_write(st, s);
    if (r == STORE_OK && id != NULL) {
        *id = sqlite3_last_insert_rowid(st->db);
    }
    return r;
}

enum store_status store_token_by_hash(struct store *st, const uint8_t hash[32], struct st_token *out)
{
    sqlite3_stmt *s = Q(st, Q_TOKEN_BY_HASH);
    if (s != NULL) {
        sqlite3_bind_blob(s, 1, hash, 32, SQLITE_TRANSIENT);
    }
    enum store_status r = one_row(st, s);
    if (r == STORE_OK) {
        row_token(s, out);
        sqlite3_reset(s);
    }
    return r;
}

enum store_status store_token_list(struct store *st, int64_t tenant_id,
                                   int (*cb)(void *ctx, const struct st_token *t), void *ctx)
{
    sqlite3_stmt *s = Q(st, Q_TOKEN_LIST);
    if (s == NULL) {
        return STORE_ERROR;
    }
    sqlite3_bind_int64(s, 1, tenant_id);
    FOR_ROWS(st, s, struct st_token row_, row_token(s, &row_), cb, ctx);
}

enum store_status store_token_delete(struct store *st, int64_t tenant_id, int64_t id)
{
    sqlite3_stmt *s = Q(st, Q_TOKEN_DELETE);
    if (s == NULL) {
        return STORE_ERROR;
    }
    sqlite3_bind_int64(s, 1, tenant_id);
    sqlite3_bind_int64(s, 2, id);
    enum store_status r = exec_write(st, s);
    if (r == STORE_OK && sqlite3_changes(st->db) == 0) {
        r = STORE_NOT_FOUND;
    }
    return r;
}

static enum store_status count_query(struct store *st, sqlite3_stmt *s, int64_t *out)
{
    enum store_status r = one_row(st, s);
    if (r == STORE_OK) {
        *out = sqlite3_column_int64(s, 0);
        sqlite3_reset(s);
    }
    return r;
}

enum store_status store_has_admin(struct store *st, int *has)
{
    int64_t n = 0;
    enum store_status r = count_query(st, Q(st, Q_HAS_ADMIN), &n);
    *has = n > 0;
    return r;
}

/* ---- groups and devices ---- */

enum store_status store_group_create(struct store *st, int64_t tenant_id, const char *name,
                                     int64_t now)
{
    sqlite3_stmt *s = Q(st, Q_GROUP_INSERT);
    if (s == NULL) {
        return STORE_ERROR;
    }
    sqlite3_bind_int64(s, 1, tenant_id);
    bind_text(s, 2, name);
    sqlite3_bind_int64(s, 3, now);
    return exec_write(st, s);
}

enum store_status store_group_exists(struct store *st, int64_t tenant_id, const char *name)
{
    sqlite3_stmt *s = Q(st, Q_GROUP_EXISTS);
    if (s != NULL) {
        sqlite3_bind_int64(s, 1, tenant_id);
        bind_text(s, 2, name);
    }
    enum store_status r = one_row(st, s);
    if (r == STORE_OK) {
        sqlite3_reset(s);
    }
    return r;
}

struct group_row {
    char name[SVC_NAME_MAX + 1];
    int64_t devices;
};

enum store_status store_group_list(struct store *st, int64_t tenant_id,
                                   int (*cb)(void *ctx, const char *name, int64_t devices),
                                   void *ctx)
{
    sqlite3_stmt *s = Q(st, Q_GROUP_LIST);
    if (s == NULL) {
        return STORE_ERROR;
    }
    sqlite3_bind_int64(s, 1, tenant_id);
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        struct group_row g;
        col_text(s, 0, g.name, sizeof g.name);
        g.devices = sqlite3_column_int64(s, 1);
        if (cb(ctx, g.name, g.devices) != 0) {
            break;
        }
    }
    sqlite3_reset(s);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? STORE_OK : STORE_ERROR;
}

static void row_device(sqlite3_stmt *s, struct st_device *d)
{
    col_text(s, 0, d->device_id, sizeof d->device_id);
    d->tenant_id = sqlite3_column_int64(s, 1);
    col_blob(s, 2, d->pk, 32, NULL);
    col_text(s, 3, d->label, sizeof d->label);
    col_text(s, 4, d->group, sizeof d->group);
    col_text(s, 5, d->state, sizeof d->state);
    col_text(s, 6, d->version, sizeof d->version);
    d->cert_expires = sqlite3_column_int64(s, 7);
    col_blob(s, 8, d->cert_hash, 32, &d->has_cert);
    d->quarantined = sqlite3_column_int(s, 9);
    col_text(s, 10, d->quarantine_reason, sizeof d->quarantine_reason);
    d->last_seen = sqlite3_column_int64(s, 11);
    d->last_attested = sqlite3_column_int64(s, 12);
    d->upd_deployment = sqlite3_column_int64(s, 13);
    col_text(s, 14, d->upd_status, sizeof d->upd_status);
    col_text(s, 15, d->upd_version, sizeof d->upd_version);
}

enum store_status store_device_claim(struct store *st, const struct st_device *d)
{
    sqlite3_stmt *s = Q(st, Q_DEVICE_INSERT);
    if (s == NULL) {
        return STORE_ERROR;
    }
    bind_text(s, 1, d->device_id);
    sqlite3_bind_int64(s, 2, d->tenant_id);
    sqlite3_bind_blob(s, 3, d->pk, 32, SQLITE_TRANSIENT);
    bind_text(s, 4, d->label);
    bind_text(s, 5, d->group);
    sqlite3_bind_int64(s, 6, d->last_seen);
    return exec_write(st, s);
}

enum store_status store_device_get(struct store *st, const char *device_id, struct st_device *out)
{
    sqlite3_stmt *s = Q(st, Q_DEVICE_GET);
    if (s != NULL) {
        bind_text(s, 1, device_id);
    }
    enum store_status r = one_row(st, s);
    if (r == STORE_OK) {
        row_device(s, out);
        sqlite3_reset(s);
    }
    return r;
}

enum store_status store_device_list(struct store *st, int64_t tenant_id,
                                    int (*cb)(void *ctx, const struct st_device *d), void *ctx)
{
    sqlite3_stmt *s = Q(st, Q_DEVICE_LIST);
    if (s == NULL) {
        return STORE_ERROR;
    }
    sqlite3_bind_int64(s, 1, tenant_id);
    FOR_ROWS(st, s, struct st_device row_, row_device(s, &row_), cb, ctx);
}

enum store_status store_device_set_group(struct store *st, const char *device_id, const char *group)
{
    sqlite3_stmt *s = Q(st, Q_DEVICE_SET_GROUP);
    if (s == NULL) {
        return STORE_ERROR;
    }
    bind_text(s, 1, device_id);
    bind_text(s, 2, group);
    return exec_write(st, s);
}

enum store_status store_device_quarantine(struct store *st, const char *device_id, int on,
                                          const char *reason)
{
    sqlite3_stmt *s = Q(st, Q_DEVICE_QUARANTINE);
    if (s == NULL) {
        return STORE_ERROR;
    }
    bind_text(s, 1, device_id);
    sqlite3_bind_int(s, 2, on ? 1 : 0);
    bind_text(s, 3, reason);
    return exec_write(st, s);
}

enum store_status store_device_attested(struct store *st, const char *device_id,
                                        const char *version, const uint8_t cert_hash[32],
                                        int64_t expires, int64_t now)
{
    sqlite3_stmt *s = Q(st, Q_DEVICE_ATTESTED);
    if (s == NULL) {
        return STORE_ERROR;
    }
    bind_text(s, 1, device_id);
    bind_text(s, 2, version);
    sqlite3_bind_blob(s, 3, cert_hash, 32, SQLITE_TRANSIENT);
    sqlite3_bind_int64(s, 4, expires);
    sqlite3_bind_int64(s, 5, now);
    return exec_write(st, s);
}

enum store_status store_device_attest_failed(struct store *st, const char *device_id, int64_t now)
{
    sqlite3_stmt *s = Q(st, Q_DEVICE_ATTEST_FAILED);
    if (s == NULL) {
        return STORE_ERROR;
    }
    bind_text(s, 1, device_id);
    sqlite3_bind_int64(s, 2, now);
    return exec_write(st, s);
}

enum store_status store_device_set_update(struct store *st, const char *device_id,
                                          int64_t deployment, const char *status,
                                          const char *version)
{
    sqlite3_stmt *s = Q(st, Q_DEVICE_SET_UPDATE);
    if (s == NULL) {
        return STORE_ERROR;
    }
    bind_text(s, 1, device_id);
    sqlite3_bind_int64(s, 2, deployment);
    bind_text(s, 3, status);
    bind_text(s, 4, version);
    return exec_write(st, s);
}

enum store_status store_group_device_ids(struct store *st, int64_t tenant_id, const char *group,
                                         char (**ids)[65], size_t *n)
{
    *ids = NULL;
    *n = 0;
    sqlite3_stmt *s = Q(st, Q_GROUP_DEVICE_IDS);
    if (s == NULL) {
        return STORE_ERROR;
    }
    sqlite3_bind_int64(s, 1, tenant_id);
    bind_text(s, 2, group);
    size_t cap = 0;
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        if (*n == cap) {
            cap = cap ? cap * 2 : 64;
            char(*grown)[65] = realloc(*ids, cap * sizeof **ids);
            if (grown == NULL) {
                rc = SQLITE_NOMEM;
                break;
            }
            *ids = grown;
        }
        col_text(s, 0, (*ids)[*n], 65);
        (*n)++;
    }
    sqlite3_reset(s);
    if (rc != SQLITE_DONE) {
        free(*ids);
        *ids = NULL;
        *n = 0;
        return STORE_ERROR;
    }
    return STORE_OK;
}

enum store_status store_device_flags(struct store *st, const char *device_id,
                                     int (*cb)(void *ctx, const char *rule), void *ctx)
{
    sqlite3_stmt *s = Q(st, Q_DEVICE_FLAGS);
    if (s == NULL) {
        return STORE_ERROR;
    }
    bind_text(s, 1, device_id);
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        char rule[32];
        col_text(s, 0, rule, sizeof rule);
        if (cb(ctx, rule) != 0) {
            break;
        }
    }
    sqlite3_reset(s);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? STORE_OK : STORE_ERROR;
}

enum store_status store_touch(struct store *st, const char (*ids)[65], const int64_t *times,
                              size_t n)
{
    st->touching = 1;
    enum store_status r = begin(st);
    if (r != STORE_OK) {
        st->touching = 0;
        return r;
    }
    for (size_t i = 0; i < n && r == STORE_OK; i++) {
        sqlite3_stmt *s = Q(st, Q_DEVICE_TOUCH);
        if (s == NULL) {
            r = STORE_ERROR;
            break;
        }
        bind_text(s, 1, ids[i]);
        sqlite3_bind_int64(s, 2, times[i]);
        r = exec_write(st, s);
    }
    r = end(st, r);
    st->touching = 0;
    return r;
}

/* ---- alerts ---- */

enum store_status store_alert_raise(struct store *st, int64_t tenant_id, const char *device_id,
                                    const char *rule, const char *detail, int64_t now,
                                    int *raised)
{
    *raised = 0;
    sqlite3_stmt *s = Q(st, Q_ALERT_INSERT);
    if (s == NULL) {
        return STORE_ERROR;
    }
    sqlite3_bind_int64(s, 1, tenant_id);
    bind_text(s, 2, device_id);
    bind_text(s, 3, rule);
    bind_text(s, 4, detail);
    sqlite3_bind_int64(s, 5, now);
    enum store_status r = exec_write(st, s);
    if (r == STORE_OK) {
        *raised = sqlite3_changes(st->db) > 0;
    }
    return r;
}

static void row_alert(sqlite3_stmt *s, struct st_alert *a)
{
    a->id = sqlite3_column_int64(s, 0);
    col_text(s, 1, a->device_id, sizeof a->device_id);
    col_text(s, 2, a->rule, sizeof a->rule);
    col_text(s, 3, a->detail, sizeof a->detail);
    a->time = sqlite3_column_int64(s, 4);
}

enum store_status store_alert_list(struct store *st, int64_t tenant_id,
                                   int (*cb)(void *ctx, const struct st_alert *a), void *ctx)
{
    sqlite3_stmt *s = Q(st, Q_ALERT_LIST);
    if (s == NULL) {
        return STORE_ERROR;
    }
    sqlite3_bind_int64(s, 1, tenant_id);
    FOR_ROWS(st, s, struct st_alert row_, row_alert(s, &row_), cb, ctx);
}

/* ---- images ---- */

static void row_image(sqlite3_stmt *s, struct st_image *im)
{
    col_text(s, 0, im->image_id, sizeof im->image_id);
    col_text(s, 1, im->name, sizeof im->name);
    col_text(s, 2, im->version, sizeof im->version);
    im->size = sqlite3_column_int64(s, 3);
    col_blob(s, 4, im->measurement, 32, NULL);
    col_blob(s, 5, im->signer_id, 32, NULL);
    im->security_counter = (uint32_t)sqlite3_column_int64(s, 6);
    im->uploaded_at = sqlite3_column_int64(s, 7);
}

enum store_status store_image_create(struct store *st, int64_t tenant_id, const struct st_image *im)
{
    sqlite3_stmt *s = Q(st, Q_IMAGE_INSERT);
    if (s == NULL) {
        return STORE_ERROR;
    }
    sqlite3_bind_int64(s, 1, tenant_id);
    bind_text(s, 2, im->image_id);
    bind_text(s, 3, im->name);
    bind_text(s, 4, im->version);
    sqlite3_bind_int64(s, 5, im->size);
    sqlite3_bind_blob(s, 6, im->measurement, 32, SQLITE_TRANSIENT);
    sqlite3_bind_blob(s, 7, im->signer_id, 32, SQLITE_TRANSIENT);
    sqlite3_bind_int64(s, 8, im->security_counter);
    sqlite3_bind_int64(s, 9, im->uploaded_at);
    return exec_write(st, s);
}

enum store_status store_image_get(struct store *st, int64_t tenant_id, const char *image_id,
                                  struct st_image *out)
{
    sqlite3_stmt *s = Q(st, Q_IMAGE_GET);
    if (s != NULL) {
        sqlite3_bind_int64(s, 1, tenant_id);
        bind_text(s, 2, image_id);
    }
    enum store_status r = one_row(st, s);
    if (r == STORE_OK) {
        row_image(s, out);
        sqlite3_reset(s);
    }
    return r;
}

enum store_status store_image_list(struct store *st, int64_t tenant_id,
                                   int (*cb)(void *ctx, const struct st_image *im), void *ctx)
{
    sqlite3_stmt *s = Q(st, Q_IMAGE_LIST);
    if (s == NULL) {
        return STORE_ERROR;
    }
    sqlite3_bind_int64(s, 1, tenant_id);
    FOR_ROWS(st, s, struct st_image row_, row_image(s, &row_), cb, ctx);
}

enum store_status store_group_images(struct store *st, int64_t tenant_id, const char *group,
                                     int (*cb)(void *ctx, const struct st_image *im), void *ctx)
{
    sqlite3_stmt *s = Q(st, Q_GROUP_IMAGES);
    if (s == NULL) {
        return STORE_ERROR;
    }
    sqlite3_bind_int64(s, 1, tenant_id);
    bind_text(s, 2, group);
    FOR_ROWS(st, s, struct st_image row_, row_image(s, &row_), cb, ctx);
}

/* ---- deployments ---- */

static void row_deployment(sqlite3_stmt *s, struct st_deployment *d)
{
    memset(d, 0, sizeof *d);
    d->id = sqlite3_column_int64(s, 0);
    d->tenant_id = sqlite3_column_int64(s, 1);
    col_text(s, 2, d->group, sizeof d->group);
    col_text(s, 3, d->image_id, sizeof d->image_id);
    col_text(s, 4, d->version, sizeof d->version);
    const uint8_t *w = sqlite3_column_blob(s, 5);
    int wn = sqlite3_column_bytes(s, 5);
    for (int i = 0; w != NULL && i < wn && (unsigned)i < SVC_WAVES_MAX; i++) {
        d->waves[d->nwaves++] = w[i];
    }
    d->max_failure_rate = sqlite3_column_double(s, 6);
    col_text(s, 7, d->state, sizeof d->state);
    d->wave = (unsigned)sqlite3_column_int(s, 8);
    col_text(s, 9, d->halt_reason, sizeof d->halt_reason);
    d->created_at = sqlite3_column_int64(s, 10);
}

static enum store_status deployment_counts(struct store *st, struct st_deployment *d)
{
    sqlite3_stmt *s = Q(st, Q_GROUP_COUNT);
    if (s != NULL) {
        sqlite3_bind_int64(s, 1, d->tenant_id);
        bind_text(s, 2, d->group);
    }
    enum store_status r = count_query(st, s, &d->total);
    if (r != STORE_OK) {
        return r;
    }
    s = Q(st, Q_DEPLOY_COUNTS);
    if (s != NULL) {
        sqlite3_bind_int64(s, 1, d->id);
    }
    r = one_row(st, s);
    if (r == STORE_OK) {
        d->offered = sqlite3_column_int64(s, 0);
        d->confirmed = sqlite3_column_int64(s, 1);
        d->failed = sqlite3_column_int64(s, 2);
        d->crashed = sqlite3_column_int64(s, 3);
        sqlite3_reset(s);
    }
    return r;
}

enum store_status store_deployment_create(struct store *st, struct st_deployment *d)
{
    enum store_status r = begin(st);
    if (r != STORE_OK) {
        return r;
    }
    sqlite3_stmt *s = Q(st, Q_DEPLOY_CANCEL);
    if (s == NULL) {
        return end(st, STORE_ERROR);
    }
    sqlite3_bind_int64(s, 1, d->tenant_id);
    bind_text(s, 2, d->group);
    r = exec_write(st, s);
    if (r == STORE_OK) {
        uint8_t waves[SVC_WAVES_MAX];
        for (unsigned i = 0; i < d->nwaves; i++) {
            waves[i] = (uint8_t)d->waves[i];
        }
        s = Q(st, Q_DEPLOY_INSERT);
        if (s == NULL) {
            return end(st, STORE_ERROR);
        }
        sqlite3_bind_int64(s, 1, d->tenant_id);
        bind_text(s, 2, d->group);
        bind_text(s, 3, d->image_id);
        bind_text(s, 4, d->version);
        sqlite3_bind_blob(s, 5, waves, (int)d->nwaves, SQLITE_TRANSIENT);
        sqlite3_bind_double(s, 6, d->max_failure_rate);
        sqlite3_bind_int64(s, 7, d->created_at);
        r = exec_write(st, s);
        d->id = sqlite3_last_insert_rowid(st->db);
    }
    return end(st, r);
}

enum store_status store_deployment_get(struct store *st, int64_t tenant_id, int64_t id,
                                       struct st_deployment *out)
{
    sqlite3_stmt *s = Q(st, Q_DEPLOY_GET);
    if (s != NULL) {
        sqlite3_bind_int64(s, 1, tenant_id);
        sqlite3_bind_int64(s, 2, id);
    }
    enum store_status r = one_row(st, s);
    if (r == STORE_OK) {
        row_deployment(s, out);
        sqlite3_reset(s);
        r = deployment_counts(st, out);
    }
    return r;
}

enum store_status store_deployment_list(struct store *st, int64_t tenant_id,
                                        int (*cb)(void *ctx, const struct st_deployment *d),
                                        void *ctx)
{
    /* Collect first: the counts need other statements. */
    sqlite3_stmt *s = Q(st, Q_DEPLOY_LIST);
    if (s == NULL) {
        return STORE_ERROR;
    }
    sqlite3_bind_int64(s, 1, tenant_id);
    struct st_deployment *all = NULL;
    size_t n = 0;
    size_t cap = 0;
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        if (n == cap) {
            cap = cap ? cap * 2 : 16;
            struct st_deployment *grown = realloc(all, cap * sizeof *all);
            if (grown == NULL) {
                rc = SQLITE_NOMEM;
                break;
            }
            all = grown;
        }
        row_deployment(s, &all[n++]);
    }
    sqlite3_reset(s);
    enum store_status r = rc == SQLITE_DONE ? STORE_OK : STORE_ERROR;
    for (size_t i = 0; i < n && r == STORE_OK; i++) {
        r = deployment_counts(st, &all[i]);
        if (r == STORE_OK && cb(ctx, &all[i]) != 0) {
            break;
        }
    }
    free(all);
    return r;
}

enum store_status store_deployment_current(struct store *st, int64_t tenant_id, const char *group,
                                           struct st_deployment *out)
{
    sqlite3_stmt *s = Q(st, Q_DEPLOY_CURRENT);
    if (s != NULL) {
        sqlite3_bind_int64(s, 1, tenant_id);
        bind_text(s, 2, group);
    }
    enum store_status r = one_row(st, s);
    if (r == STORE_OK) {
        row_deployment(s, out);
        sqlite3_reset(s);
    }
    return r;
}

enum store_status store_deployment_set_state(struct store *st, int64_t id, const char *state,
                                             unsigned wave, const char *halt_reason)
{
    sqlite3_stmt *s = Q(st, Q_DEPLOY_SET_STATE);
    if (s == NULL) {
        return STORE_ERROR;
    }
    sqlite3_bind_int64(s, 1, id);
    bind_text(s, 2, state);
    sqlite3_bind_int(s, 3, (int)wave);
    bind_text(s, 4, halt_reason);
    return exec_write(st, s);
}

enum store_status store_offer_get(struct store *st, int64_t deployment, const char *device_id,
                                  struct st_offer *out)
{
    sqlite3_stmt *s = Q(st, Q_OFFER_GET);
    if (s != NULL) {
        sqlite3_bind_int64(s, 1, deployment);
        bind_text(s, 2, device_id);
    }
    enum store_status r = one_row(st, s);
    if (r == STORE_OK) {
        out->wave = (unsigned)sqlite3_column_int(s, 0);
        col_text(s, 1, out->status, sizeof out->status);
        out->bad = sqlite3_column_int(s, 2);
        out->crashed = sqlite3_column_int(s, 3);
        sqlite3_reset(s);
    }
    return r;
}

enum store_status store_offer_add(struct store *st, int64_t deployment, const char (*ids)[65],
                                  size_t n, unsigned wave, const char *version)
{
    enum store_status r = begin(st);
    for (size_t i = 0; i < n && r == STORE_OK; i++) {
        sqlite3_stmt *s = Q(st, Q_OFFER_INSERT);
        if (s == NULL) {
            r = STORE_ERROR;
            break;
        }
        sqlite3_bind_int64(s, 1, deployment);
        bind_text(s, 2, ids[i]);
        sqlite3_bind_int(s, 3, (int)wave);
        r = exec_write(st, s);
        if (r == STORE_OK && sqlite3_changes(st->db) > 0) {
            r = store_device_set_update(st, ids[i], deployment, "offered", version);
        }
    }
    if (r == STORE_NOT_FOUND || r == STORE_EXISTS) {
        r = STORE_ERROR;
    }
    return end(st, r);
}

enum store_status store_offer_update(struct store *st, int64_t deployment, const char *device_id,
                                     const struct st_offer *o)
{
    sqlite3_stmt *s = Q(st, Q_OFFER_UPDATE);
    if (s == NULL) {
        return STORE_ERROR;
    }
    sqlite3_bind_int64(s, 1, deployment);
    bind_text(s, 2, device_id);
    bind_text(s, 3, o->status);
    sqlite3_bind_int(s, 4, o->bad);
    sqlite3_bind_int(s, 5, o->crashed);
    return exec_write(st, s);
}

enum store_status store_offer_tally(struct store *st, int64_t deployment, int64_t *good,
                                    int64_t *bad, int64_t *undecided)
{
    sqlite3_stmt *s = Q(st, Q_OFFER_TALLY);
    if (s != NULL) {
        sqlite3_bind_int64(s, 1, deployment);
    }
    enum store_status r = one_row(st, s);
    if (r == STORE_OK) {
        *good = sqlite3_column_int64(s, 0);
        *bad = sqlite3_column_int64(s, 1);
        *undecided = sqlite3_column_int64(s, 2);
        sqlite3_reset(s);
    }
    return r;
}

/* ---- events ---- */

/* One device's batch inside the caller's transaction. */
static enum store_status events_insert_one(struct store *st, struct st_event_batch *b)
{
    enum store_status r = STORE_OK;
    b->accepted = 0;
    b->last_seq = -1;
    for (size_t i = 0; i < b->n && r == STORE_OK; i++) {
        sqlite3_stmt *s = Q(st, Q_EVENT_INSERT);
        if (s == NULL) {
            r = STORE_ERROR;
            break;
        }
        const struct svc_event *e = &b->evs[i];
        bind_text(s, 1, b->device_id);
        sqlite3_bind_int64(s, 2, e->seq);
        sqlite3_bind_int64(s, 3, b->tenant_id);
        sqlite3_bind_int64(s, 4, e->time);
        sqlite3_bind_int(s, 5, (int)e->type);
        bind_text(s, 6, e->app);
        sqlite3_bind_int64(s, 7, e->code);
        sqlite3_bind_int64(s, 8, (int64_t)e->addr);
        bind_text(s, 9, e->detail);
        bind_text(s, 10, b->version);
        sqlite3_bind_int64(s, 11, b->now);
        r = exec_write(st, s);
        b->inserted[i] = r == STORE_OK && sqlite3_changes(st->db) > 0;
        b->accepted += b->inserted[i];
    }
    if (r == STORE_OK) {
        sqlite3_stmt *s = Q(st, Q_EVENT_MAXSEQ);
        if (s != NULL) {
            bind_text(s, 1, b->device_id);
        }
        r = count_query(st, s, &b->last_seq);
    }
    if (r == STORE_EXISTS || r == STORE_NOT_FOUND) {
        r = STORE_ERROR;
    }
    return r;
}

enum store_status store_events_insert_batches(struct store *st, struct st_event_batch *b,
                                              size_t n)
{
    enum store_status r = begin(st);
    for (size_t i = 0; i < n && r == STORE_OK; i++) {
        r = events_insert_one(st, &b[i]);
    }
    r = end(st, r);
    if (r != STORE_OK) {
        for (size_t i = 0; i < n; i++) {
            b[i].accepted = 0;
            b[i].last_seq = -1;
            memset(b[i].inserted, 0, b[i].n * sizeof *b[i].inserted);
        }
    }
    return r;
}

enum store_status store_events_insert(struct store *st, int64_t tenant_id, const char *device_id,
                                      const char *version, const struct svc_event *evs, size_t n,
                                      int64_t now, int *inserted, int64_t *accepted,
                                      int64_t *last_seq)
{
    struct st_event_batch b = {.tenant_id = tenant_id, .device_id = device_id,
                               .version = version, .evs = evs, .n = n, .now = now,
                               .inserted = inserted};
    enum store_status r = store_events_insert_batches(st, &b, 1);
    *accepted = b.accepted;
    *last_seq = r == STORE_OK ? b.last_seq : -1;
    return r;
}

static void row_event(sqlite3_stmt *s, struct st_event *e)
{
    memset(e, 0, sizeof *e);
    col_text(s, 0, e->device_id, sizeof e->device_id);
    e->ev.seq = sqlite3_column_int64(s, 1);
    e->ev.time = sqlite3_column_int64(s, 2);
    e->ev.type = (unsigned)sqlite3_column_int(s, 3);
    col_text(s, 4, e->ev.app, sizeof e->ev.app);
    e->ev.code = sqlite3_column_int64(s, 5);
    e->ev.addr = (uint64_t)sqlite3_column_int64(s, 6);
    col_text(s, 7, e->ev.detail, sizeof e->ev.detail);
    e->received_at = sqlite3_column_int64(s, 8);
}

enum store_status store_event_list(struct store *st, int64_t tenant_id, const char *device_id,
                                   int64_t limit, int (*cb)(void *ctx, const struct st_event *e),
                                   void *ctx)
{
    sqlite3_stmt *s = Q(st, device_id != NULL ? Q_EVENT_LIST_DEVICE : Q_EVENT_LIST);
    if (s == NULL) {
        return STORE_ERROR;
    }
    sqlite3_bind_int64(s, 1, tenant_id);
    sqlite3_bind_int64(s, 2, limit);
    if (device_id != NULL) {
        bind_text(s, 3, device_id);
    }
    FOR_ROWS(st, s, struct st_event row_, row_event(s, &row_), cb, ctx);
}

enum store_status store_event_count(struct store *st, const char *device_id, unsigned type,
                                    int64_t from, int64_t to, int64_t *count)
{
    sqlite3_stmt *s = Q(st, Q_EVENT_COUNT);
    if (s != NULL) {
        bind_text(s, 1, device_id);
        sqlite3_bind_int(s, 2, (int)type);
        sqlite3_bind_int64(s, 3, from);
        sqlite3_bind_int64(s, 4, to);
    }
    return count_query(st, s, count);
}

static void row_bucket(sqlite3_stmt *s, struct st_bucket *b)
{
    memset(b, 0, sizeof *b);
    col_text(s, 0, b->app, sizeof b->app);
    b->signal = sqlite3_column_int64(s, 1);
    col_text(s, 2, b->version, sizeof b->version);
    b->count = sqlite3_column_int64(s, 3);
    b->devices = sqlite3_column_int64(s, 4);
    b->first_seen = sqlite3_column_int64(s, 5);
    b->last_seen = sqlite3_column_int64(s, 6);
    /* The bucket id: BLAKE2b-64 of "app/signal/version", stable across restarts. */
    char key[128];
    int n = snprintf(key, sizeof key, "%s/%lld/%s", b->app, (long long)b->signal, b->version);
    uint8_t h[8];
    crypto_generichash(h, sizeof h, (const uint8_t *)key, (size_t)n, NULL, 0);
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < sizeof h; i++) {
        b->bucket[2 * i] = digits[h[i] >> 4];
        b->bucket[2 * i + 1] = digits[h[i] & 15];
    }
    b->bucket[16] = '\0';
}

enum store_status store_bucket_list(struct store *st, int64_t tenant_id,
                                    int (*cb)(void *ctx, const struct st_bucket *b), void *ctx)
{
    sqlite3_stmt *s = Q(st, Q_BUCKET_LIST);
    if (s == NULL) {
        return STORE_ERROR;
    }
    sqlite3_bind_int64(s, 1, tenant_id);
    sqlite3_bind_int(s, 2, NACRE_SECMON_EVENT_APP_CRASH);
    FOR_ROWS(st, s, struct st_bucket row_, row_bucket(s, &row_), cb, ctx);
}

enum store_status store_summary(struct store *st, int64_t tenant_id, struct st_summary *out)
{
    sqlite3_stmt *s = Q(st, Q_SUMMARY);
    if (s != NULL) {
        sqlite3_bind_int64(s, 1, tenant_id);
        sqlite3_bind_int(s, 2, NACRE_SECMON_EVENT_APP_CRASH);
    }
    enum store_status r = one_row(st, s);
    if (r == STORE_OK) {
        out->devices = sqlite3_column_int64(s, 0);
        out->attested = sqlite3_column_int64(s, 1);
        out->flagged = sqlite3_column_int64(s, 2);
        out->quarantined = sqlite3_column_int64(s, 3);
        out->deployments = sqlite3_column_int64(s, 4);
        out->alerts = sqlite3_column_int64(s, 5);
        out->buckets = sqlite3_column_int64(s, 6);
        sqlite3_reset(s);
    }
    return r;
}
