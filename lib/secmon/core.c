/*
 * core.c - request handling: capabilities, per-app keys, sealing, storage
 * quotas, rate limits, emulated peripherals, the update stream, and the
 * security-event log. Portable: no OS calls, no allocation, bounded stack.
 *
 * The app is named by the transport (the channel secmon created), never by
 * the request. Every request is checked in the same order:
 *   1. the rate limit (before decoding, so garbage costs tokens too);
 *   2. the codec (magic, version, zero fields, length, padding, call);
 *   3. the call's exact payload layout;
 *   4. the app's capability;
 *   5. the work.
 * Every refusal becomes an event (RATE_LIMITED at most once per second per
 * app, so that a flood cannot rewrite the ring by itself).
 *
 * Mutable storage (NACRE_FLASH_AREA_STORAGE), docs/secmon.md:
 *   sectors 0 and 1  the page table journal (one active, the other spare)
 *   sectors 2..      data sectors; one app page = one sector
 * The journal's slot 0 holds a header (generation); slots 1.. hold records
 * "app key, up to 3 x (page -> data sector)" of that generation. The table
 * is the active sector's records replayed in slot order.
 * A write copies each touched page into a free (unreferenced) data sector
 * with the new bytes merged in, then commits all of them with ONE record.
 * Until that record is whole, the table still points at the old sectors; a
 * torn record fails its check. So after a power cut a write reads back
 * either entirely old or entirely new. When the active journal sector is
 * full, the other one is erased, the whole table is rewritten there, and its
 * header is written last: a torn compaction leaves the old sector active.
 */
#include <string.h>

#include <sodium.h>

#include "nacre_le.h"
#include "secmon_priv.h"

#define APP_LABEL_PREFIX "app:"
#define PING_MAX 64u
#define LOG_TEXT_MAX 200u
#define CONNECT_HOST_MAX 253u
#define PERIPHERAL_DATA_MAX 64u
#define UPDATE_CHUNK_MAX 1000u
#define IDENTITY_BYTES (32u + 32u + 32u + 37u)

#define STORAGE_JOURNAL_SECTORS 2u
#define STORAGE_RECORD_MIN 64u
#define STORAGE_RECORD_MAX 256u
#define STORAGE_CHECK_OFFSET 48u
#define STORAGE_VERSION 1u
/* Free data sectors a write may need at once (a 512-byte write spans at
 * most 3 pages of the smallest sector, 256 bytes). */
#define STORAGE_SPARE 3u

#define PERIPHERAL_GPIO 1u
#define PERIPHERAL_UART 2u
#define PERIPHERAL_I2C 3u
#define PERIPHERAL_READ 1u
#define PERIPHERAL_WRITE 2u
#define SENSOR_BUS 1u
#define SENSOR_ADDR 0x48u

static const uint8_t storage_header_magic[4] = {'N', 'S', 'T', 'H'};
static const uint8_t storage_record_magic[4] = {'N', 'S', 'T', 'R'};

/* One request being handled. */
struct request {
    struct nacre_secmon_core *core;
    unsigned app;
    uint64_t now;
    unsigned call;
    const uint8_t *in;
    size_t in_len;
    uint8_t *out; /* the response payload, in place */
    size_t out_len;
    int *out_fd;
    /* how a refusal is logged (defaults: REFUSED, addr = call, detail = call name) */
    uint8_t ev_type;
    uint64_t ev_addr;
    char ev_detail[NACRE_SECMON_EVENT_DETAIL_MAX + 1];
};

static nacre_secmon_status from_board(nacre_board_status b)
{
    return b == NACRE_BOARD_OK ? NACRE_SECMON_OK : NACRE_SECMON_ERR_INTERNAL;
}

static nacre_installer *installer_of(struct nacre_secmon_core *core)
{
    /* The installer's state needs 64-byte alignment (a BLAKE2b state); the
     * core itself only needs malloc alignment, so align inside it. */
    uintptr_t a = (uintptr_t)core->installer;
    a = (a + 63u) & ~(uintptr_t)63u;
    return (nacre_installer *)a;
}

uint8_t *secmon_core_request_buffer(struct nacre_secmon_core *core)
{
    return core != NULL ? core->req_copy : NULL;
}

void *secmon_core_idle_installer(struct nacre_secmon_core *core)
{
    return core != NULL && core->initialized && core->update_app < 0 ? (void *)installer_of(core) : NULL;
}

void secmon_app_id(uint8_t out[SECMON_APP_KEY_BYTES], const char *component_id)
{
    uint8_t h[32];
    crypto_generichash_blake2b(h, sizeof h, (const uint8_t *)component_id, strlen(component_id), NULL, 0);
    memcpy(out, h, SECMON_APP_KEY_BYTES);
}

static void set_detail(char dst[NACRE_SECMON_EVENT_DETAIL_MAX + 1], const char *src)
{
    size_t n = 0;
    if (src != NULL) {
        while (n < NACRE_SECMON_EVENT_DETAIL_MAX && src[n] != '\0') {
            n++;
        }
        memcpy(dst, src, n);
    }
    dst[n] = '\0';
}

/* ---- event log ------------------------------------------------------------- */

static void core_log_event(struct nacre_secmon_core *core, unsigned app, uint64_t now, unsigned type,
                           uint32_t code, uint64_t addr, const char *detail)
{
    struct nacre_secmon_event ev;
    memset(&ev, 0, sizeof ev);
    ev.time = now;
    ev.type = (uint8_t)type;
    if (app < NACRE_SECMON_APPS_MAX && core->apps[app].active) {
        memcpy(ev.app_id, core->apps[app].app_id, sizeof ev.app_id);
    }
    ev.code = code;
    ev.addr = addr;
    set_detail(ev.detail, detail);
    if (secmon_evlog_append(core->board, &core->evlog, &ev, NULL) != NACRE_SECMON_OK) {
        core->events_lost++;
    }
}

void nacre_secmon_core_log(struct nacre_secmon_core *core, unsigned app, uint64_t now, unsigned type,
                           uint32_t code, uint64_t addr, const char *detail)
{
    if (core == NULL || !core->initialized || type == 0 || type > 0xFFu) {
        return;
    }
    core_log_event(core, app, now, type, code, addr, detail);
}

/* ---- storage: geometry, journal, table ---------------------------------------- */

static void storage_check(uint8_t out[16], const uint8_t *slot)
{
    crypto_generichash_blake2b(out, 16, slot, STORAGE_CHECK_OFFSET, NULL, 0);
}

static int erased(const uint8_t *buf, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        if (buf[i] != NACRE_BOARD_FLASH_ERASED) {
            return 0;
        }
    }
    return 1;
}

static int zero(const uint8_t *buf, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        if (buf[i] != 0) {
            return 0;
        }
    }
    return 1;
}

static uint32_t slot_offset(const struct secmon_storage *st, uint32_t sector, uint32_t slot)
{
    return sector * st->sector_size + slot * st->record_size;
}

static uint32_t data_offset(const struct secmon_storage *st, uint32_t phys)
{
    return (STORAGE_JOURNAL_SECTORS + phys) * st->sector_size;
}

static int header_valid(const uint8_t *buf, uint32_t *generation)
{
    uint8_t check[16];
    if (memcmp(buf, storage_header_magic, 4) != 0 || buf[4] != STORAGE_VERSION || !zero(buf + 5, 3) ||
        !zero(buf + 12, STORAGE_CHECK_OFFSET - 12)) {
        return 0;
    }
    storage_check(check, buf);
    if (memcmp(check, buf + STORAGE_CHECK_OFFSET, 16) != 0) {
        return 0;
    }
    *generation = le32_get(buf + 8);
    return *generation != 0;
}

static struct secmon_map_entry *map_find(struct secmon_storage *st, const uint8_t *key, uint16_t page)
{
    for (uint32_t i = 0; i < st->count; i++) {
        if (st->map[i].page == page && memcmp(st->map[i].app_key, key, SECMON_APP_KEY_BYTES) == 0) {
            return &st->map[i];
        }
    }
    return NULL;
}

static int map_set(struct secmon_storage *st, const uint8_t *key, uint16_t page, uint16_t phys)
{
    struct secmon_map_entry *e = map_find(st, key, page);
    if (e == NULL) {
        if (st->count >= SECMON_STORAGE_MAP_MAX) {
            return 0;
        }
        e = &st->map[st->count++];
        memcpy(e->app_key, key, SECMON_APP_KEY_BYTES);
        e->page = page;
    }
    e->phys = phys;
    return 1;
}

static int phys_used(const struct secmon_storage *st, uint16_t phys)
{
    for (uint32_t i = 0; i < st->count; i++) {
        if (st->map[i].phys == phys) {
            return 1;
        }
    }
    return 0;
}

static uint32_t mapped_pages(const struct secmon_storage *st, const uint8_t *key)
{
    uint32_t n = 0;
    for (uint32_t i = 0; i < st->count; i++) {
        if (memcmp(st->map[i].app_key, key, SECMON_APP_KEY_BYTES) == 0) {
            n++;
        }
    }
    return n;
}

/* Applies a record to the table; 0 if it is not a valid record of generation. */
static int record_apply(struct secmon_storage *st, const uint8_t *buf, uint32_t generation)
{
    uint8_t check[16];
    if (memcmp(buf, storage_record_magic, 4) != 0 || le32_get(buf + 4) != generation) {
        return 0;
    }
    storage_check(check, buf);
    if (memcmp(check, buf + STORAGE_CHECK_OFFSET, 16) != 0) {
        return 0;
    }
    unsigned n = buf[16];
    if (n < 1 || n > SECMON_STORAGE_MAP_PER_RECORD || !zero(buf + 17, 3) ||
        !zero(buf + 20 + 4 * n, STORAGE_CHECK_OFFSET - 20 - 4 * n)) {
        return 0;
    }
    for (unsigned i = 0; i < n; i++) {
        if (le16_get(buf + 22 + 4 * i) >= st->data_sectors) {
            return 0;
        }
    }
    for (unsigned i = 0; i < n; i++) {
        if (!map_set(st, buf + 8, le16_get(buf + 20 + 4 * i), le16_get(buf + 22 + 4 * i))) {
            return 0;
        }
    }
    return 1;
}

static nacre_secmon_status storage_load(struct nacre_board *board, struct secmon_storage *st)
{
    uint8_t buf[STORAGE_RECORD_MAX];
    struct nacre_flash_area area;
    memset(st, 0, sizeof *st);
    st->loaded = 1;
    nacre_board_status b = nacre_board_flash_area(board, NACRE_FLASH_AREA_STORAGE, &area);
    if (b != NACRE_BOARD_OK) {
        st->loaded = 0;
        return from_board(b);
    }
    uint32_t rs = area.write_size < STORAGE_RECORD_MIN ? STORAGE_RECORD_MIN : area.write_size;
    if (area.sector_size == 0 || area.write_size == 0 || rs > STORAGE_RECORD_MAX ||
        rs % area.write_size != 0 || area.sector_size % rs != 0 ||
        area.size / area.sector_size < STORAGE_JOURNAL_SECTORS + 1u || area.sector_size / rs < 2) {
        return NACRE_SECMON_OK; /* usable = 0: no app gets storage on this device */
    }
    st->record_size = rs;
    st->sector_size = area.sector_size;
    st->journal_slots = area.sector_size / rs - 1u;
    uint32_t data = area.size / area.sector_size - STORAGE_JOURNAL_SECTORS;
    /* A compaction rewrites the whole table (at most one record per
     * mapping) and must leave a slot free: cap the data sectors to that. */
    if (data > SECMON_STORAGE_MAP_MAX) {
        data = SECMON_STORAGE_MAP_MAX;
    }
    if (st->journal_slots < 2u) {
        return NACRE_SECMON_OK;
    }
    if (data > st->journal_slots - 1u) {
        data = st->journal_slots - 1u;
    }
    if (data < STORAGE_SPARE + 1u) {
        return NACRE_SECMON_OK;
    }
    st->data_sectors = data;

    uint32_t gen[STORAGE_JOURNAL_SECTORS] = {0, 0};
    for (uint32_t sec = 0; sec < STORAGE_JOURNAL_SECTORS; sec++) {
        b = nacre_board_flash_read(board, NACRE_FLASH_AREA_STORAGE, slot_offset(st, sec, 0), buf, rs);
        if (b != NACRE_BOARD_OK) {
            st->loaded = 0;
            return from_board(b);
        }
        if (!header_valid(buf, &gen[sec])) {
            gen[sec] = 0;
        }
    }
    st->usable = 1;
    if (gen[0] == 0 && gen[1] == 0) {
        return NACRE_SECMON_OK; /* unformatted: an empty table */
    }
    st->active = gen[1] > gen[0] ? 1u : 0u;
    st->generation = gen[st->active];
    st->next_slot = 1;
    for (uint32_t slot = 1; slot <= st->journal_slots; slot++) {
        b = nacre_board_flash_read(board, NACRE_FLASH_AREA_STORAGE, slot_offset(st, st->active, slot), buf,
                                   rs);
        if (b != NACRE_BOARD_OK) {
            st->loaded = 0;
            return from_board(b);
        }
        if (erased(buf, rs)) {
            continue;
        }
        st->next_slot = slot + 1;
        (void)record_apply(st, buf, st->generation); /* torn or foreign: ignored */
    }
    return NACRE_SECMON_OK;
}

static void record_build(const struct secmon_storage *st, uint8_t *buf, const uint8_t *magic,
                         uint32_t generation, const uint8_t *key, unsigned n, const uint16_t *pages,
                         const uint16_t *phys)
{
    memset(buf, 0, STORAGE_CHECK_OFFSET);
    memcpy(buf, magic, 4);
    if (key == NULL) {
        /* header */
        buf[4] = STORAGE_VERSION;
        le32_put(buf + 8, generation);
    } else {
        le32_put(buf + 4, generation);
        memcpy(buf + 8, key, SECMON_APP_KEY_BYTES);
        buf[16] = (uint8_t)n;
        for (unsigned i = 0; i < n; i++) {
            le16_put(buf + 20 + 4 * i, pages[i]);
            le16_put(buf + 22 + 4 * i, phys[i]);
        }
    }
    storage_check(buf + STORAGE_CHECK_OFFSET, buf);
    memset(buf + STORAGE_RECORD_MIN, NACRE_BOARD_FLASH_ERASED, st->record_size - STORAGE_RECORD_MIN);
}

static nacre_secmon_status slot_write(struct nacre_board *board, const struct secmon_storage *st,
                                      uint32_t sector, uint32_t slot, const uint8_t *buf)
{
    return from_board(nacre_board_flash_write(board, NACRE_FLASH_AREA_STORAGE, slot_offset(st, sector, slot),
                                              buf, st->record_size));
}

/* Writes the whole table into the spare journal sector, header last. */
static nacre_secmon_status storage_compact(struct nacre_board *board, struct secmon_storage *st)
{
    uint8_t buf[STORAGE_RECORD_MAX];
    uint32_t target = st->generation == 0 ? 0u : 1u - st->active;
    uint32_t generation = st->generation + 1u;
    if (generation == 0) {
        return NACRE_SECMON_ERR_INTERNAL;
    }
    nacre_secmon_status s = from_board(
        nacre_board_flash_erase(board, NACRE_FLASH_AREA_STORAGE, target * st->sector_size, st->sector_size));
    if (s != NACRE_SECMON_OK) {
        return s;
    }
    uint32_t slot = 1;
    uint8_t done[SECMON_STORAGE_MAP_MAX];
    memset(done, 0, sizeof done);
    for (uint32_t i = 0; i < st->count; i++) {
        if (done[i]) {
            continue;
        }
        /* One record per app and up to three of its pages. */
        uint16_t pages[SECMON_STORAGE_MAP_PER_RECORD], phys[SECMON_STORAGE_MAP_PER_RECORD];
        unsigned n = 0;
        for (uint32_t j = i; j < st->count && n < SECMON_STORAGE_MAP_PER_RECORD; j++) {
            if (!done[j] && memcmp(st->map[j].app_key, st->map[i].app_key, SECMON_APP_KEY_BYTES) == 0) {
                pages[n] = st->map[j].page;
                phys[n] = st->map[j].phys;
                n++;
                done[j] = 1;
            }
        }
        if (slot > st->journal_slots) {
            return NACRE_SECMON_ERR_INTERNAL; /* cannot happen: data sectors are capped */
        }
        record_build(st, buf, storage_record_magic, generation, st->map[i].app_key, n, pages, phys);
        s = slot_write(board, st, target, slot++, buf);
        if (s != NACRE_SECMON_OK) {
            return s;
        }
    }
    record_build(st, buf, storage_header_magic, generation, NULL, 0, NULL, NULL);
    s = slot_write(board, st, target, 0, buf);
    if (s != NACRE_SECMON_OK) {
        return s;
    }
    st->active = target;
    st->generation = generation;
    st->next_slot = slot;
    return NACRE_SECMON_OK;
}

/* Commits "key: pages[i] -> phys[i]" with one record. */
static nacre_secmon_status storage_commit(struct nacre_board *board, struct secmon_storage *st,
                                          const uint8_t *key, unsigned n, const uint16_t *pages,
                                          const uint16_t *phys)
{
    uint8_t buf[STORAGE_RECORD_MAX];
    nacre_secmon_status s;
    if (st->generation == 0 || st->next_slot > st->journal_slots) {
        s = storage_compact(board, st);
        if (s != NACRE_SECMON_OK) {
            st->loaded = 0; /* re-read the journal after the reset */
            return s;
        }
    }
    record_build(st, buf, storage_record_magic, st->generation, key, n, pages, phys);
    /* The slot is used up even if the write tears. */
    s = slot_write(board, st, st->active, st->next_slot++, buf);
    if (s != NACRE_SECMON_OK) {
        st->loaded = 0;
        return s;
    }
    for (unsigned i = 0; i < n; i++) {
        if (!map_set(st, key, pages[i], phys[i])) {
            st->loaded = 0;
            return NACRE_SECMON_ERR_INTERNAL;
        }
    }
    return NACRE_SECMON_OK;
}

static nacre_secmon_status storage_ready(struct nacre_secmon_core *core)
{
    struct secmon_storage *st = &core->storage;
    if (!st->loaded) {
        nacre_secmon_status s = storage_load(core->board, st);
        if (s != NACRE_SECMON_OK) {
            return s;
        }
    }
    return st->usable ? NACRE_SECMON_OK : NACRE_SECMON_ERR_INTERNAL;
}

/* Pages an app may hold: its quota, or more if an older manifest gave it more. */
static uint32_t app_pages_committed(const struct secmon_storage *st, const struct secmon_app *a)
{
    uint32_t mapped = mapped_pages(st, a->app_id);
    return a->storage_pages > mapped ? a->storage_pages : mapped;
}

/* 1 if a new app with key/pages fits next to everything already committed. */
static int storage_reserve_ok(struct nacre_secmon_core *core, const uint8_t *key, uint32_t pages)
{
    struct secmon_storage *st = &core->storage;
    uint32_t total = STORAGE_SPARE;
    uint32_t mine = mapped_pages(st, key);
    total += pages > mine ? pages : mine;
    for (unsigned i = 0; i < NACRE_SECMON_APPS_MAX; i++) {
        if (core->apps[i].active) {
            total += app_pages_committed(st, &core->apps[i]);
        }
    }
    /* Pages of apps not running now stay theirs. */
    for (uint32_t i = 0; i < st->count; i++) {
        int owned = memcmp(st->map[i].app_key, key, SECMON_APP_KEY_BYTES) == 0;
        for (unsigned a = 0; a < NACRE_SECMON_APPS_MAX && !owned; a++) {
            owned = core->apps[a].active &&
                    memcmp(st->map[i].app_key, core->apps[a].app_id, SECMON_APP_KEY_BYTES) == 0;
        }
        total += owned ? 0u : 1u;
    }
    return total <= st->data_sectors;
}

static nacre_secmon_status storage_write(struct nacre_secmon_core *core, const struct secmon_app *a,
                                         uint32_t offset, const uint8_t *data, size_t len)
{
    struct secmon_storage *st = &core->storage;
    nacre_secmon_status s = storage_ready(core);
    if (s != NACRE_SECMON_OK) {
        return s;
    }
    uint32_t first = offset / st->sector_size;
    uint32_t last = (uint32_t)((offset + len - 1u) / st->sector_size);
    unsigned n = last - first + 1u;
    if (n > SECMON_STORAGE_MAP_PER_RECORD || last > 0xFFFFu) {
        return NACRE_SECMON_ERR_INTERNAL;
    }
    uint16_t pages[SECMON_STORAGE_MAP_PER_RECORD], phys[SECMON_STORAGE_MAP_PER_RECORD];
    unsigned got = 0;
    for (uint32_t cand = 0; cand < st->data_sectors && got < n; cand++) {
        if (!phys_used(st, (uint16_t)cand)) {
            phys[got++] = (uint16_t)cand;
        }
    }
    if (got < n) {
        return NACRE_SECMON_ERR_QUOTA; /* the device's storage is full */
    }
    size_t chunk = st->sector_size < sizeof core->scratch ? st->sector_size : sizeof core->scratch;
    for (unsigned i = 0; i < n; i++) {
        pages[i] = (uint16_t)(first + i);
        const struct secmon_map_entry *old = map_find(st, a->app_id, pages[i]);
        s = from_board(nacre_board_flash_erase(core->board, NACRE_FLASH_AREA_STORAGE,
                                               data_offset(st, phys[i]), st->sector_size));
        if (s != NACRE_SECMON_OK) {
            st->loaded = 0;
            return s;
        }
        uint32_t page_base = pages[i] * st->sector_size;
        for (uint32_t at = 0; at < st->sector_size; at += (uint32_t)chunk) {
            if (old != NULL) {
                s = from_board(nacre_board_flash_read(core->board, NACRE_FLASH_AREA_STORAGE,
                                                      data_offset(st, old->phys) + at, core->scratch, chunk));
                if (s != NACRE_SECMON_OK) {
                    st->loaded = 0;
                    return s;
                }
            } else {
                memset(core->scratch, 0, chunk);
            }
            /* Overlay the part of [offset, offset+len) inside this chunk. */
            uint32_t c0 = page_base + at, c1 = c0 + (uint32_t)chunk;
            uint32_t w0 = offset > c0 ? offset : c0;
            uint32_t w1 = (uint32_t)(offset + len) < c1 ? (uint32_t)(offset + len) : c1;
            if (w0 < w1) {
                memcpy(core->scratch + (w0 - c0), data + (w0 - offset), w1 - w0);
            }
            s = from_board(nacre_board_flash_write(core->board, NACRE_FLASH_AREA_STORAGE,
                                                   data_offset(st, phys[i]) + at, core->scratch, chunk));
            if (s != NACRE_SECMON_OK) {
                st->loaded = 0;
                return s;
            }
        }
    }
    return storage_commit(core->board, st, a->app_id, n, pages, phys);
}

static nacre_secmon_status storage_read(struct nacre_secmon_core *core, const struct secmon_app *a,
                                        uint32_t offset, uint8_t *out, size_t len)
{
    struct secmon_storage *st = &core->storage;
    nacre_secmon_status s = storage_ready(core);
    if (s != NACRE_SECMON_OK) {
        return s;
    }
    if (mapped_pages(st, a->app_id) == 0) {
        return NACRE_SECMON_ERR_NOT_FOUND; /* this app never stored anything */
    }
    size_t done = 0;
    while (done < len) {
        uint32_t at = offset + (uint32_t)done;
        uint32_t page = at / st->sector_size, in_page = at % st->sector_size;
        size_t n = st->sector_size - in_page;
        if (n > len - done) {
            n = len - done;
        }
        const struct secmon_map_entry *e = page <= 0xFFFFu ? map_find(st, a->app_id, (uint16_t)page) : NULL;
        if (e == NULL) {
            memset(out + done, 0, n); /* never written: reads as zero */
        } else {
            s = from_board(nacre_board_flash_read(core->board, NACRE_FLASH_AREA_STORAGE,
                                                  data_offset(st, e->phys) + in_page, out + done, n));
            if (s != NACRE_SECMON_OK) {
                return s;
            }
        }
        done += n;
    }
    return NACRE_SECMON_OK;
}

/* ---- init, apps ------------------------------------------------------------------ */

size_t nacre_secmon_core_size(void)
{
    return sizeof(struct nacre_secmon_core);
}

nacre_secmon_status nacre_secmon_core_init(struct nacre_secmon_core *core, nacre_pluton *p,
                                           struct nacre_board *board, unsigned rate)
{
    if (core == NULL || p == NULL || board == NULL) {
        return NACRE_SECMON_ERR_ARGUMENT;
    }
    memset(core, 0, sizeof *core);
    if (!nacre_pluton_booted(p)) {
        return NACRE_SECMON_ERR_STATE; /* app keys need the boot stage's DICE derivation */
    }
    core->p = p;
    core->board = board;
    core->rate = rate == 0 ? SECMON_DEFAULT_RATE : rate;
    core->update_app = -1;
    nacre_secmon_status s = secmon_evlog_load(board, &core->evlog);
    if (s != NACRE_SECMON_OK) {
        return s; /* no usable event ring: refusals could not be recorded */
    }
    s = storage_load(board, &core->storage);
    if (s != NACRE_SECMON_OK) {
        return s;
    }
    core->initialized = 1;
    return NACRE_SECMON_OK;
}

static int component_id_ok(const char *id)
{
    size_t n = 0;
    while (n <= NACRE_SECMON_COMPONENT_ID_MAX && id[n] != '\0') {
        if ((unsigned char)id[n] < 0x21u || (unsigned char)id[n] > 0x7Eu) {
            return 0;
        }
        n++;
    }
    return n >= 1 && n <= NACRE_SECMON_COMPONENT_ID_MAX;
}

nacre_secmon_status nacre_secmon_core_add_app(struct nacre_secmon_core *core,
                                              const struct nacre_secmon_caps *caps, unsigned *app)
{
    if (core == NULL || !core->initialized || caps == NULL || app == NULL ||
        !component_id_ok(caps->component_id)) {
        return NACRE_SECMON_ERR_ARGUMENT;
    }
    unsigned slot = NACRE_SECMON_APPS_MAX;
    for (unsigned i = 0; i < NACRE_SECMON_APPS_MAX; i++) {
        if (core->apps[i].active) {
            /* One channel per ComponentId: two would share keys and storage. */
            if (strcmp(core->apps[i].caps.component_id, caps->component_id) == 0) {
                return NACRE_SECMON_ERR_ARGUMENT;
            }
        } else if (slot == NACRE_SECMON_APPS_MAX) {
            slot = i;
        }
    }
    if (slot == NACRE_SECMON_APPS_MAX) {
        return NACRE_SECMON_ERR_QUOTA; /* NACRE_SECMON_APPS_MAX apps already */
    }
    struct secmon_app a;
    memset(&a, 0, sizeof a);
    a.caps = *caps;
    a.caps.component_id[NACRE_SECMON_COMPONENT_ID_MAX] = '\0';
    secmon_app_id(a.app_id, a.caps.component_id);
    size_t cid_len = strlen(a.caps.component_id);
    memcpy(a.context, APP_LABEL_PREFIX, sizeof APP_LABEL_PREFIX - 1);
    memcpy(a.context + sizeof APP_LABEL_PREFIX - 1, a.caps.component_id, cid_len);
    a.context_len = sizeof APP_LABEL_PREFIX - 1 + cid_len;

    if (a.caps.storage_bytes > 0) {
        nacre_secmon_status s = storage_ready(core);
        if (s != NACRE_SECMON_OK) {
            return NACRE_SECMON_ERR_QUOTA; /* this device has no storage area to give */
        }
        a.storage_pages = (a.caps.storage_bytes + core->storage.sector_size - 1u) / core->storage.sector_size;
        if (!storage_reserve_ok(core, a.app_id, a.storage_pages)) {
            return NACRE_SECMON_ERR_QUOTA;
        }
    }
    /* The same label on the same device always gives the same key: stable
     * across firmware updates (BASE_DEVICE), unrelated between apps. */
    if (nacre_pluton_key_derive(core->p, NACRE_PLUTON_KEY_BASE_DEVICE, a.context, a.context_len, &a.key) !=
        NACRE_PLUTON_OK) {
        return NACRE_SECMON_ERR_INTERNAL;
    }
    a.tokens = core->rate;
    a.bucket_time = UINT64_MAX; /* starts at the first request */
    a.active = 1;
    core->apps[slot] = a;
    *app = slot;
    return NACRE_SECMON_OK;
}

void secmon_core_remove_app(struct nacre_secmon_core *core, unsigned app)
{
    if (core == NULL || app >= NACRE_SECMON_APPS_MAX || !core->apps[app].active) {
        return;
    }
    if (core->update_app == (int)app) {
        nacre_install_abort(installer_of(core));
        core->update_app = -1;
    }
    if (nacre_pluton_key_destroy(core->p, core->apps[app].key) != NACRE_PLUTON_OK) {
        /* already gone (pluton reset): nothing left to wipe there */
    }
    sodium_memzero(&core->apps[app], sizeof core->apps[app]);
}

void secmon_core_set_broker(struct nacre_secmon_core *core, secmon_broker_fn fn, void *ctx)
{
    if (core != NULL) {
        core->broker = fn;
        core->broker_ctx = ctx;
    }
}

nacre_secmon_status secmon_core_set_certificate(struct nacre_secmon_core *core, const uint8_t *der,
                                                size_t len)
{
    if (core == NULL || len > SECMON_CERT_MAX || (der == NULL && len > 0)) {
        return NACRE_SECMON_ERR_ARGUMENT;
    }
    memset(core->cert, 0, sizeof core->cert);
    if (len > 0) {
        memcpy(core->cert, der, len);
    }
    core->cert_len = len;
    return NACRE_SECMON_OK;
}

void secmon_core_set_update_component(struct nacre_secmon_core *core, const char *component)
{
    if (core != NULL) {
        core->update_component = component;
    }
}

void nacre_secmon_core_deinit(struct nacre_secmon_core *core)
{
    if (core == NULL) {
        return;
    }
    if (core->initialized) {
        for (unsigned i = 0; i < NACRE_SECMON_APPS_MAX; i++) {
            secmon_core_remove_app(core, i);
        }
        if (core->update_app >= 0) {
            nacre_install_abort(installer_of(core));
        }
    }
    sodium_memzero(core, sizeof *core);
}

/* ---- rate limit ------------------------------------------------------------------- */

/* Takes a token; 0 if the bucket is empty. */
static int rate_take(struct nacre_secmon_core *core, struct secmon_app *a, uint64_t now)
{
    if (a->bucket_time == UINT64_MAX || now < a->bucket_time) {
        a->bucket_time = now; /* first request, or the clock went back: no refill */
    } else if (now > a->bucket_time) {
        /* `now` counts whole seconds: a second refills rate tokens, which is
         * the whole bucket (burst = rate). */
        a->tokens = core->rate;
        a->bucket_time = now;
    }
    if (a->tokens == 0) {
        return 0;
    }
    a->tokens--;
    return 1;
}

/* ---- call handlers ------------------------------------------------------------------ */

static int utf8_text_ok(const uint8_t *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        uint8_t c = s[i];
        if (c == 0) {
            return 0;
        }
        if (c < 0x80u) {
            i++;
            continue;
        }
        size_t k;
        uint32_t cp;
        if (c >= 0xC2u && c <= 0xDFu) {
            k = 1;
            cp = c & 0x1Fu;
        } else if (c >= 0xE0u && c <= 0xEFu) {
            k = 2;
            cp = c & 0x0Fu;
        } else if (c >= 0xF0u && c <= 0xF4u) {
            k = 3;
            cp = c & 0x07u;
        } else {
            return 0;
        }
        if (i + k >= n) {
            return 0; /* the sequence runs past the end */
        }
        for (size_t j = 1; j <= k; j++) {
            if ((s[i + j] & 0xC0u) != 0x80u) {
                return 0;
            }
            cp = (cp << 6) | (s[i + j] & 0x3Fu);
        }
        /* overlong forms, surrogates, beyond U+10FFFF */
        if ((k == 2 && cp < 0x800u) || (k == 3 && cp < 0x10000u) || cp > 0x10FFFFu ||
            (cp >= 0xD800u && cp <= 0xDFFFu)) {
            return 0;
        }
        i += k + 1;
    }
    return 1;
}

static nacre_secmon_status call_ping(struct request *r)
{
    if (r->in_len > PING_MAX) {
        return NACRE_SECMON_ERR_MALFORMED;
    }
    memcpy(r->out, r->in, r->in_len);
    r->out_len = r->in_len;
    return NACRE_SECMON_OK;
}

static nacre_secmon_status call_identity(struct request *r)
{
    const struct secmon_app *a = &r->core->apps[r->app];
    if (r->in_len != 0) {
        return NACRE_SECMON_ERR_MALFORMED;
    }
    uint8_t *o = r->out;
    if (nacre_pluton_key_public(r->core->p, NACRE_PLUTON_KEY_DEVICE_ID, o + 32) != NACRE_PLUTON_OK ||
        nacre_pluton_key_public(r->core->p, a->key, o + 64) != NACRE_PLUTON_OK) {
        return NACRE_SECMON_ERR_INTERNAL;
    }
    crypto_generichash_blake2b(o, 32, o + 32, 32, NULL, 0);
    memset(o + 96, 0, 37);
    memcpy(o + 96, a->caps.component_id, strlen(a->caps.component_id));
    r->out_len = IDENTITY_BYTES;
    return NACRE_SECMON_OK;
}

static nacre_secmon_status call_sign(struct request *r)
{
    if (r->in_len < 1 || r->in_len > NACRE_SECMON_DATA_MAX) {
        return NACRE_SECMON_ERR_MALFORMED;
    }
    if (nacre_pluton_sign(r->core->p, r->core->apps[r->app].key, r->out, r->in, r->in_len) !=
        NACRE_PLUTON_OK) {
        return NACRE_SECMON_ERR_INTERNAL;
    }
    r->out_len = NACRE_PLUTON_SIGNATURE_BYTES;
    return NACRE_SECMON_OK;
}

static nacre_secmon_status call_certificate(struct request *r)
{
    if (r->in_len != 0) {
        return NACRE_SECMON_ERR_MALFORMED;
    }
    if (!r->core->apps[r->app].caps.device_authentication) {
        return NACRE_SECMON_ERR_DENIED;
    }
    if (r->core->cert_len == 0) {
        return NACRE_SECMON_ERR_NOT_FOUND;
    }
    memcpy(r->out, r->core->cert, r->core->cert_len);
    r->out_len = r->core->cert_len;
    return NACRE_SECMON_OK;
}

static nacre_secmon_status call_seal(struct request *r)
{
    const struct secmon_app *a = &r->core->apps[r->app];
    if (r->in_len > NACRE_SECMON_DATA_MAX) {
        return NACRE_SECMON_ERR_MALFORMED;
    }
    size_t n = 0;
    /* Bound to the device and to "app:" + ComponentId, not to registers:
     * the app's data must survive firmware updates and other apps' launches. */
    if (nacre_pluton_seal(r->core->p, r->out, NACRE_SECMON_PAYLOAD_MAX, &n, r->in, r->in_len, a->context,
                          a->context_len, 0) != NACRE_PLUTON_OK) {
        return NACRE_SECMON_ERR_INTERNAL;
    }
    r->out_len = n;
    return NACRE_SECMON_OK;
}

static nacre_secmon_status call_unseal(struct request *r)
{
    const struct secmon_app *a = &r->core->apps[r->app];
    if (r->in_len < NACRE_PLUTON_SEAL_OVERHEAD ||
        r->in_len > NACRE_SECMON_DATA_MAX + NACRE_PLUTON_SEAL_OVERHEAD) {
        return NACRE_SECMON_ERR_MALFORMED;
    }
    size_t n = 0;
    nacre_pluton_status ps = nacre_pluton_unseal(r->core->p, r->out, NACRE_SECMON_DATA_MAX, &n, r->in,
                                                 r->in_len, a->context, a->context_len);
    if (ps == NACRE_PLUTON_OK) {
        r->out_len = n;
        return NACRE_SECMON_OK;
    }
    memset(r->out, 0, NACRE_SECMON_DATA_MAX);
    if (ps == NACRE_PLUTON_ERR_SEAL_FORMAT || ps == NACRE_PLUTON_ERR_SEAL_WRONG_DEVICE ||
        ps == NACRE_PLUTON_ERR_SEAL_MEASUREMENT || ps == NACRE_PLUTON_ERR_SEAL_AUTH ||
        ps == NACRE_PLUTON_ERR_BUFFER_TOO_SMALL) {
        r->ev_type = NACRE_SECMON_EVENT_VERIFY_FAILED;
        r->ev_addr = (uint64_t)ps;
        return NACRE_SECMON_ERR_VERIFY;
    }
    return NACRE_SECMON_ERR_INTERNAL;
}

static nacre_secmon_status call_storage_write(struct request *r)
{
    const struct secmon_app *a = &r->core->apps[r->app];
    if (r->in_len < 5 || r->in_len > 4 + NACRE_SECMON_DATA_MAX) {
        return NACRE_SECMON_ERR_MALFORMED;
    }
    if (a->caps.storage_bytes == 0) {
        return NACRE_SECMON_ERR_DENIED;
    }
    uint64_t offset = le32_get(r->in);
    size_t len = r->in_len - 4;
    if (offset + len > a->caps.storage_bytes) {
        return NACRE_SECMON_ERR_QUOTA;
    }
    return storage_write(r->core, a, (uint32_t)offset, r->in + 4, len);
}

static nacre_secmon_status call_storage_read(struct request *r)
{
    const struct secmon_app *a = &r->core->apps[r->app];
    if (r->in_len != 8) {
        return NACRE_SECMON_ERR_MALFORMED;
    }
    uint64_t offset = le32_get(r->in);
    uint32_t len = le32_get(r->in + 4);
    if (len < 1 || len > NACRE_SECMON_DATA_MAX) {
        return NACRE_SECMON_ERR_MALFORMED;
    }
    if (a->caps.storage_bytes == 0) {
        return NACRE_SECMON_ERR_DENIED;
    }
    if (offset + len > a->caps.storage_bytes) {
        return NACRE_SECMON_ERR_QUOTA;
    }
    nacre_secmon_status s = storage_read(r->core, a, (uint32_t)offset, r->out, len);
    if (s == NACRE_SECMON_OK) {
        r->out_len = len;
    } else {
        memset(r->out, 0, len);
    }
    return s;
}

static nacre_secmon_status call_counter_read(struct request *r)
{
    if (r->in_len != 4) {
        return NACRE_SECMON_ERR_MALFORMED;
    }
    uint32_t id = le32_get(r->in);
    if (id >= NACRE_PLUTON_COUNTER_COUNT) {
        return NACRE_SECMON_ERR_MALFORMED;
    }
    uint32_t v = 0;
    if (nacre_pluton_counter_read(r->core->p, id, &v) != NACRE_PLUTON_OK) {
        return NACRE_SECMON_ERR_INTERNAL;
    }
    le32_put(r->out, v);
    r->out_len = 4;
    return NACRE_SECMON_OK;
}

static nacre_secmon_status call_log_event(struct request *r)
{
    if (r->in_len < 2 || r->in_len > 1 + LOG_TEXT_MAX || !utf8_text_ok(r->in + 1, r->in_len - 1)) {
        return NACRE_SECMON_ERR_MALFORMED;
    }
    /* The stored detail is cut at a character boundary, never inside one. */
    char detail[NACRE_SECMON_EVENT_DETAIL_MAX + 1];
    size_t n = r->in_len - 1;
    if (n > SECMON_EVENT_RECORD_DETAIL) {
        n = SECMON_EVENT_RECORD_DETAIL;
        while (n > 0 && (r->in[1 + n] & 0xC0u) == 0x80u) {
            n--;
        }
    }
    memcpy(detail, r->in + 1, n);
    detail[n] = '\0';
    struct nacre_secmon_core *core = r->core;
    uint32_t lost = core->events_lost;
    core_log_event(core, r->app, r->now, NACRE_SECMON_EVENT_APP_LOG, r->in[0], 0, detail);
    return core->events_lost == lost ? NACRE_SECMON_OK : NACRE_SECMON_ERR_INTERNAL;
}

static nacre_secmon_status call_connect(struct request *r)
{
    const struct secmon_app *a = &r->core->apps[r->app];
    char host[CONNECT_HOST_MAX + 1];
    if (r->in_len < 4) {
        return NACRE_SECMON_ERR_MALFORMED;
    }
    uint16_t port = le16_get(r->in);
    size_t hl = r->in[2];
    if (port == 0 || hl < 1 || hl > CONNECT_HOST_MAX || r->in_len != 3 + hl) {
        return NACRE_SECMON_ERR_MALFORMED;
    }
    for (size_t i = 0; i < hl; i++) {
        if (r->in[3 + i] < 0x21u || r->in[3 + i] > 0x7Eu) {
            return NACRE_SECMON_ERR_MALFORMED;
        }
    }
    memcpy(host, r->in + 3, hl);
    host[hl] = '\0';
    if (a->caps.allows_connection == NULL ||
        a->caps.allows_connection(a->caps.connection_policy, host, port) != 1) {
        char text[CONNECT_HOST_MAX + 8];
        size_t n = hl;
        memcpy(text, host, n);
        text[n++] = ':';
        /* port in decimal */
        char digits[6];
        size_t d = 0;
        uint16_t v = port;
        do {
            digits[d++] = (char)('0' + v % 10u);
            v /= 10u;
        } while (v != 0);
        while (d > 0) {
            text[n++] = digits[--d];
        }
        text[n] = '\0';
        r->ev_type = NACRE_SECMON_EVENT_CONNECTION_DENIED;
        r->ev_addr = port;
        set_detail(r->ev_detail, text);
        return NACRE_SECMON_ERR_DENIED;
    }
    if (r->core->broker == NULL) {
        return NACRE_SECMON_ERR_UNSUPPORTED; /* no network on this board */
    }
    int fd = -1;
    nacre_secmon_status s = r->core->broker(r->core->broker_ctx, r->app, host, port, &fd);
    if (s == NACRE_SECMON_OK) {
        if (fd < 0) {
            return NACRE_SECMON_ERR_INTERNAL;
        }
        *r->out_fd = fd;
    } else if (!secmon_status_on_wire((uint32_t)s) || s == NACRE_SECMON_OK) {
        s = NACRE_SECMON_ERR_INTERNAL;
    }
    return s;
}

/* The emulated sensor: a slow triangle between 21.00 and 23.00 C, 400 s period. */
static int16_t sensor_centi(uint64_t now)
{
    uint32_t t = (uint32_t)(now % 400u);
    return (int16_t)(t < 200u ? 2100 + (int)t : 2500 - (int)t);
}

static nacre_secmon_status call_peripheral(struct request *r)
{
    struct nacre_secmon_core *core = r->core;
    const struct secmon_app *a = &core->apps[r->app];
    if (r->in_len < 5 || r->in_len > 5 + PERIPHERAL_DATA_MAX) {
        return NACRE_SECMON_ERR_MALFORMED;
    }
    unsigned kind = r->in[0], id = r->in[1], op = r->in[2];
    uint16_t arg = le16_get(r->in + 3);
    const uint8_t *data = r->in + 5;
    size_t dlen = r->in_len - 5;
    if ((kind != PERIPHERAL_GPIO && kind != PERIPHERAL_UART && kind != PERIPHERAL_I2C) ||
        (op != PERIPHERAL_READ && op != PERIPHERAL_WRITE)) {
        return NACRE_SECMON_ERR_MALFORMED;
    }
    /* Per-kind layout first, then the grant. */
    if (kind == PERIPHERAL_GPIO) {
        if (dlen != 0 || (op == PERIPHERAL_READ && arg != 0) || (op == PERIPHERAL_WRITE && arg > 1)) {
            return NACRE_SECMON_ERR_MALFORMED;
        }
    } else if (kind == PERIPHERAL_UART) {
        if ((op == PERIPHERAL_WRITE && (arg != 0 || dlen < 1)) ||
            (op == PERIPHERAL_READ && (dlen != 0 || arg < 1 || arg > PERIPHERAL_DATA_MAX))) {
            return NACRE_SECMON_ERR_MALFORMED;
        }
    } else {
        if (arg > 0x7Fu || dlen < 1 || (op == PERIPHERAL_READ && dlen != 1)) {
            return NACRE_SECMON_ERR_MALFORMED;
        }
    }
    uint32_t mask = kind == PERIPHERAL_GPIO   ? a->caps.gpio_mask
                    : kind == PERIPHERAL_UART ? a->caps.uart_mask
                                              : a->caps.i2c_mask;
    if (id > 31u || (mask & (1u << id)) == 0) {
        return NACRE_SECMON_ERR_DENIED;
    }
    if (kind == PERIPHERAL_GPIO) {
        if (op == PERIPHERAL_READ) {
            r->out[0] = (uint8_t)((core->gpio >> id) & 1u);
            r->out_len = 1;
        } else if (arg) {
            core->gpio |= 1u << id;
        } else {
            core->gpio &= ~(1u << id);
        }
        return NACRE_SECMON_OK;
    }
    if (kind == PERIPHERAL_UART) {
#if SECMON_UART_COUNT > 0
        if (id >= SECMON_UART_COUNT) {
            return NACRE_SECMON_ERR_NOT_FOUND; /* the emulated board has 8 UARTs */
        }
#else
        return NACRE_SECMON_ERR_NOT_FOUND; /* a board built with no emulated UART */
#endif
        /* A loopback FIFO: what is written is read back; overrun drops new bytes. */
        uint8_t *buf = core->uart[id].buf;
        uint32_t *head = &core->uart[id].head, *fill = &core->uart[id].len;
        if (op == PERIPHERAL_WRITE) {
            for (size_t i = 0; i < dlen && *fill < SECMON_UART_BUFFER; i++) {
                buf[(*head + *fill) % SECMON_UART_BUFFER] = data[i];
                (*fill)++;
            }
        } else {
            size_t n = arg < *fill ? arg : *fill;
            for (size_t i = 0; i < n; i++) {
                r->out[i] = buf[*head];
                *head = (*head + 1u) % SECMON_UART_BUFFER;
            }
            *fill -= (uint32_t)n;
            r->out_len = n;
        }
        return NACRE_SECMON_OK;
    }
    /* I2C: arg = 7-bit address; data[0] = register. Only the sensor answers. */
    if (id != SENSOR_BUS || arg != SENSOR_ADDR) {
        return NACRE_SECMON_ERR_NOT_FOUND; /* no device acknowledges that address */
    }
    if (op == PERIPHERAL_WRITE) {
        return NACRE_SECMON_OK; /* configuration writes are accepted and ignored */
    }
    if (data[0] != 0) {
        return NACRE_SECMON_ERR_NOT_FOUND;
    }
    le16_put(r->out, (uint16_t)sensor_centi(r->now));
    r->out_len = 2;
    return NACRE_SECMON_OK;
}

/* Maps an installer status; verification failures get their own event. */
static nacre_secmon_status update_result(struct request *r, nacre_update_status us)
{
    switch (us) {
    case NACRE_UPDATE_OK:
        return NACRE_SECMON_OK;
    case NACRE_UPDATE_ERR_INSTALL_STATE:
        return NACRE_SECMON_ERR_STATE;
    case NACRE_UPDATE_ERR_ROLLBACK:
        r->ev_type = NACRE_SECMON_EVENT_ROLLBACK;
        r->ev_addr = (uint64_t)us;
        return NACRE_SECMON_ERR_VERIFY;
    case NACRE_UPDATE_ERR_STORAGE:
    case NACRE_UPDATE_ERR_POWER_LOST:
    case NACRE_UPDATE_ERR_STATE_CORRUPT:
    case NACRE_UPDATE_ERR_PLUTON:
    case NACRE_UPDATE_ERR_ARGUMENT:
        return NACRE_SECMON_ERR_INTERNAL;
    default:
        /* format, signature, signer, revocation, component, size, digest,
         * dependency, no root key: the image is not acceptable */
        r->ev_type = NACRE_SECMON_EVENT_VERIFY_FAILED;
        r->ev_addr = (uint64_t)us;
        return NACRE_SECMON_ERR_VERIFY;
    }
}

static nacre_secmon_status call_update(struct request *r)
{
    struct nacre_secmon_core *core = r->core;
    const struct secmon_app *a = &core->apps[r->app];
    nacre_installer *in = installer_of(core);
    if ((r->call == NACRE_SECMON_CALL_UPDATE_WRITE && (r->in_len < 1 || r->in_len > UPDATE_CHUNK_MAX)) ||
        (r->call != NACRE_SECMON_CALL_UPDATE_WRITE && r->in_len != 0)) {
        return NACRE_SECMON_ERR_MALFORMED;
    }
    if (!a->caps.software_update) {
        return NACRE_SECMON_ERR_DENIED;
    }
    if (r->call == NACRE_SECMON_CALL_UPDATE_BEGIN) {
        if (core->update_app >= 0 && core->update_app != (int)r->app) {
            return NACRE_SECMON_ERR_STATE; /* another app's update is in progress */
        }
        if (core->update_app >= 0) {
            nacre_install_abort(in); /* the same app starts over */
            core->update_app = -1;
        }
        struct nacre_update_config cfg;
        memset(&cfg, 0, sizeof cfg);
        cfg.component = core->update_component;
        uint32_t resume = 0;
        nacre_secmon_status s =
            update_result(r, nacre_install_begin(in, core->p, core->board, &cfg, &resume));
        if (s == NACRE_SECMON_OK) {
            core->update_app = (int)r->app;
            le32_put(r->out, resume);
            r->out_len = 4;
        }
        return s;
    }
    if (core->update_app != (int)r->app) {
        return NACRE_SECMON_ERR_STATE; /* no UPDATE_BEGIN from this app */
    }
    if (r->call == NACRE_SECMON_CALL_UPDATE_WRITE) {
        nacre_update_status us = nacre_install_write(in, r->in, r->in_len);
        if (us != NACRE_UPDATE_OK) {
            core->update_app = -1; /* the installer refused and finished */
        }
        return update_result(r, us);
    }
    struct nacre_image_info info;
    memset(&info, 0, sizeof info);
    nacre_update_status us = nacre_install_finish(in, &info);
    core->update_app = -1;
    nacre_secmon_status s = update_result(r, us);
    if (s == NACRE_SECMON_OK) {
        le32_put(r->out, info.version.major);
        le32_put(r->out + 4, info.version.minor);
        le32_put(r->out + 8, info.version.patch);
        r->out_len = 12;
    }
    return s;
}

static nacre_secmon_status dispatch(struct request *r)
{
    switch (r->call) {
    case NACRE_SECMON_CALL_PING:
        return call_ping(r);
    case NACRE_SECMON_CALL_IDENTITY:
        return call_identity(r);
    case NACRE_SECMON_CALL_SIGN:
        return call_sign(r);
    case NACRE_SECMON_CALL_CERTIFICATE:
        return call_certificate(r);
    case NACRE_SECMON_CALL_SEAL:
        return call_seal(r);
    case NACRE_SECMON_CALL_UNSEAL:
        return call_unseal(r);
    case NACRE_SECMON_CALL_STORAGE_WRITE:
        return call_storage_write(r);
    case NACRE_SECMON_CALL_STORAGE_READ:
        return call_storage_read(r);
    case NACRE_SECMON_CALL_COUNTER_READ:
        return call_counter_read(r);
    case NACRE_SECMON_CALL_LOG_EVENT:
        return call_log_event(r);
    case NACRE_SECMON_CALL_CONNECT:
        return call_connect(r);
    case NACRE_SECMON_CALL_PERIPHERAL:
        return call_peripheral(r);
    case NACRE_SECMON_CALL_UPDATE_BEGIN:
    case NACRE_SECMON_CALL_UPDATE_WRITE:
    case NACRE_SECMON_CALL_UPDATE_FINISH:
        return call_update(r);
    default:
        return NACRE_SECMON_ERR_UNKNOWN_CALL; /* the codec already refused these */
    }
}

/* ---- the entry point ------------------------------------------------------------------ */

/* A refusal's response: no data, the call and id echoed from the raw bytes. */
static void respond_error(uint8_t resp[NACRE_SECMON_MSG_BYTES], unsigned call, uint32_t id,
                          nacre_secmon_status status)
{
    if (nacre_secmon_encode_response(resp, call, id, status, NULL, 0) != NACRE_SECMON_OK &&
        nacre_secmon_encode_response(resp, call & 0xFFu, id, NACRE_SECMON_ERR_INTERNAL, NULL, 0) !=
            NACRE_SECMON_OK) {
        /* cannot happen: every refusal status is a wire status, any call byte echoes */
        memset(resp, 0, NACRE_SECMON_MSG_BYTES);
    }
}

/* Takes a token for app, or answers RATE_LIMITED (logged at most once a
 * second) and returns 0. */
static int rate_gate(struct nacre_secmon_core *core, unsigned app, uint64_t now, unsigned raw_call,
                     uint32_t raw_id, uint8_t resp[NACRE_SECMON_MSG_BYTES])
{
    struct secmon_app *a = &core->apps[app];
    if (rate_take(core, a, now)) {
        return 1;
    }
    if (!a->rate_logged || a->rate_log_time != now) {
        /* addr: refusals not logged since the last RATE_LIMITED event */
        core_log_event(core, app, now, NACRE_SECMON_EVENT_REFUSED, NACRE_SECMON_ERR_RATE_LIMITED,
                       a->rate_suppressed, nacre_secmon_call_name(raw_call));
        a->rate_logged = 1;
        a->rate_log_time = now;
        a->rate_suppressed = 0;
    } else if (a->rate_suppressed < UINT32_MAX) {
        a->rate_suppressed++;
    }
    respond_error(resp, raw_call, raw_id, NACRE_SECMON_ERR_RATE_LIMITED);
    return 0;
}

void secmon_core_refuse_size(struct nacre_secmon_core *core, unsigned app, uint64_t now, const uint8_t *raw,
                             size_t raw_len, uint8_t resp[NACRE_SECMON_MSG_BYTES])
{
    unsigned raw_call = raw != NULL && raw_len > 3 ? raw[3] : 0;
    uint32_t raw_id = raw != NULL && raw_len >= 8 ? le32_get(raw + 4) : 0;
    if (core == NULL || !core->initialized || app >= NACRE_SECMON_APPS_MAX || !core->apps[app].active) {
        respond_error(resp, raw_call, raw_id, NACRE_SECMON_ERR_INTERNAL);
        return;
    }
    if (!rate_gate(core, app, now, raw_call, raw_id, resp)) {
        return;
    }
    char detail[NACRE_SECMON_EVENT_DETAIL_MAX + 1] = "hdr:";
    memcpy(detail + 4, secmon_fault_name(SECMON_FAULT_SIZE),
           strlen(secmon_fault_name(SECMON_FAULT_SIZE)) + 1);
    core_log_event(core, app, now, NACRE_SECMON_EVENT_REFUSED, NACRE_SECMON_ERR_MALFORMED, raw_call, detail);
    respond_error(resp, raw_call, raw_id, NACRE_SECMON_ERR_MALFORMED);
}

void nacre_secmon_core_handle(struct nacre_secmon_core *core, unsigned app, uint64_t now,
                              const uint8_t req[NACRE_SECMON_MSG_BYTES], uint8_t resp[NACRE_SECMON_MSG_BYTES],
                              int *out_fd)
{
    int ignored_fd = -1;
    if (out_fd == NULL) {
        out_fd = &ignored_fd;
    }
    *out_fd = -1;
    if (resp == NULL) {
        return;
    }
    if (core == NULL || !core->initialized || req == NULL) {
        respond_error(resp, 0, 0, NACRE_SECMON_ERR_INTERNAL);
        return;
    }
    uintptr_t rq = (uintptr_t)req, rs = (uintptr_t)resp;
    if (rq < rs + NACRE_SECMON_MSG_BYTES && rs < rq + NACRE_SECMON_MSG_BYTES) {
        /* One buffer for both: the handlers read the request while they
         * write the response, so work from a copy. */
        memmove(core->req_copy, req, NACRE_SECMON_MSG_BYTES);
        req = core->req_copy;
    }
    unsigned raw_call = req[3];
    uint32_t raw_id = le32_get(req + 4);
    if (app >= NACRE_SECMON_APPS_MAX || !core->apps[app].active) {
        /* The transport named no app: its bug, not the sender's. */
        core_log_event(core, NACRE_SECMON_APPS_MAX, now, NACRE_SECMON_EVENT_REFUSED,
                       NACRE_SECMON_ERR_INTERNAL, raw_call, "no such app");
        respond_error(resp, raw_call, raw_id, NACRE_SECMON_ERR_INTERNAL);
        return;
    }
    if (!rate_gate(core, app, now, raw_call, raw_id, resp)) {
        return;
    }

    struct request r;
    memset(&r, 0, sizeof r);
    enum secmon_fault fault = SECMON_FAULT_NONE;
    uint32_t id = 0;
    nacre_secmon_status s = secmon_decode_request_fault(req, &r.call, &id, &r.in, &r.in_len, &fault);
    if (s != NACRE_SECMON_OK) {
        char detail[NACRE_SECMON_EVENT_DETAIL_MAX + 1] = "hdr:";
        if (s == NACRE_SECMON_ERR_UNKNOWN_CALL) {
            set_detail(detail, "unknown call");
        } else {
            size_t k = strlen(secmon_fault_name(fault));
            memcpy(detail + 4, secmon_fault_name(fault), k + 1);
        }
        core_log_event(core, app, now, NACRE_SECMON_EVENT_REFUSED, (uint32_t)s, raw_call, detail);
        respond_error(resp, raw_call, raw_id, s);
        return;
    }
    r.core = core;
    r.app = app;
    r.now = now;
    r.out = resp + NACRE_SECMON_HEADER_BYTES;
    r.out_fd = out_fd;
    r.ev_type = NACRE_SECMON_EVENT_REFUSED;
    r.ev_addr = r.call;
    set_detail(r.ev_detail, nacre_secmon_call_name(r.call));

    s = dispatch(&r);
    if (s == NACRE_SECMON_OK && r.out_len <= NACRE_SECMON_PAYLOAD_MAX &&
        nacre_secmon_encode_response(resp, r.call, id, s, r.out, r.out_len) == NACRE_SECMON_OK) {
        return;
    }
    if (s == NACRE_SECMON_OK) {
        s = NACRE_SECMON_ERR_INTERNAL;
    }
    if (*out_fd >= 0) {
        /* never hand out a socket with a refusal; the transport closes nothing else */
        *out_fd = -1;
    }
    /* "Nothing there" (storage never written, no certificate, no device at
     * that I2C address) is an answer, not a refusal: keep the security log
     * for what an attacker or a bug would do. */
    if (s != NACRE_SECMON_ERR_NOT_FOUND) {
        core_log_event(core, app, now, r.ev_type, (uint32_t)s, r.ev_addr, r.ev_detail);
    }
    sodium_memzero(resp + NACRE_SECMON_HEADER_BYTES, NACRE_SECMON_PAYLOAD_MAX);
    respond_error(resp, r.call, id, s);
}
