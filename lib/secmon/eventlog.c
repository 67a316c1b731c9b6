/*
 * eventlog.c - the persistent security-event ring in NACRE_FLASH_AREA_EVENT_LOG.
 *
 * The area (at least 2 sectors) is cut into 64-byte record slots (or one
 * write unit per slot, if the write size is larger). A record, all integers
 * little-endian:
 *
 *   0  magic "NE"       2
 *   2  type             1   nacre_secmon_event_type, never 0
 *   3  seq              4   1, 2, 3, ... one per record ever appended
 *   7  time             8   seconds since the epoch
 *  15  app id           8
 *  23  code             4
 *  27  addr             8
 *  35  detail          13   truncated, NUL-padded (all zero after the first NUL)
 *  48  check           16   BLAKE2b-128 of bytes 0..47
 *
 * A 64-byte record has room for 13 detail bytes, not NACRE_SECMON_EVENT_DETAIL_MAX
 * (40): a longer detail is truncated when stored (docs/secmon.md).
 *
 * Appending writes the next never-written slot of the head sector. When the
 * head sector is full, the next sector in ring order - the one holding the
 * oldest records - is erased and becomes the head. Reading walks the ring
 * from the sector after the head, which is the oldest, to the head, and
 * reports valid records whose seq is above the last one reported.
 *
 * Reset safety:
 *  - One record is one flash write, and the check is its last field: a torn
 *    write leaves a slot that fails its check and is ignored. The slot
 *    counts as used (it is not erased), so it is never written twice.
 *  - The head is found again after a reset as the sector holding the highest
 *    valid seq; its first never-written slot is the next one. Seqs continue
 *    from that highest seq, so they strictly increase across resets.
 *  - An erase only ever hits the sector after the head. If it is torn, the
 *    head is still the full sector that holds the highest seq, so the next
 *    append erases the same sector again: only the oldest sector (whose
 *    records were being recycled anyway) is lost. Any of its records that
 *    survive a torn erase are older than every other record and are still
 *    genuine.
 * So the ring always holds at least the last (sectors - 1) * slots_per_sector
 * acknowledged events, in seq order, and never a record nobody appended.
 */
#include <string.h>

#include <sodium.h>

#include "nacre_le.h"
#include "secmon_priv.h"

#define RECORD_CHECK_OFFSET 48u
#define RECORD_MAX_BYTES 256u
#define RING_MIN_SECTORS 2u

#define R_TYPE 2u
#define R_SEQ 3u
#define R_TIME 7u
#define R_APP 15u
#define R_CODE 23u
#define R_ADDR 27u
#define R_DETAIL 35u

_Static_assert(R_DETAIL + SECMON_EVENT_RECORD_DETAIL == RECORD_CHECK_OFFSET, "record layout");
_Static_assert(RECORD_CHECK_OFFSET + 16u == SECMON_EVENT_RECORD_BYTES, "record size");

static const uint8_t record_magic[2] = {'N', 'E'};

static nacre_secmon_status from_board(nacre_board_status b)
{
    return b == NACRE_BOARD_OK ? NACRE_SECMON_OK : NACRE_SECMON_ERR_INTERNAL;
}

static void record_check(uint8_t out[16], const uint8_t *rec)
{
    crypto_generichash_blake2b(out, 16, rec, RECORD_CHECK_OFFSET, NULL, 0);
}

static void le64_put(uint8_t *p, uint64_t v)
{
    le32_put(p, (uint32_t)v);
    le32_put(p + 4, (uint32_t)(v >> 32));
}

static uint64_t le64_get(const uint8_t *p)
{
    return (uint64_t)le32_get(p) | ((uint64_t)le32_get(p + 4) << 32);
}

static void record_encode(uint8_t *buf, uint32_t size, const struct nacre_secmon_event *ev, uint32_t seq)
{
    memset(buf, 0, RECORD_CHECK_OFFSET);
    memcpy(buf, record_magic, sizeof record_magic);
    buf[R_TYPE] = ev->type;
    le32_put(buf + R_SEQ, seq);
    le64_put(buf + R_TIME, ev->time);
    memcpy(buf + R_APP, ev->app_id, sizeof ev->app_id);
    le32_put(buf + R_CODE, ev->code);
    le64_put(buf + R_ADDR, ev->addr);
    size_t n = 0;
    while (n < SECMON_EVENT_RECORD_DETAIL && n < sizeof ev->detail && ev->detail[n] != '\0') {
        n++;
    }
    memcpy(buf + R_DETAIL, ev->detail, n);
    record_check(buf + RECORD_CHECK_OFFSET, buf);
    /* Bytes past the record in a larger write unit stay as erased flash. */
    memset(buf + SECMON_EVENT_RECORD_BYTES, NACRE_BOARD_FLASH_ERASED, size - SECMON_EVENT_RECORD_BYTES);
}

/* 1 and *ev filled if buf holds a valid record. */
static int record_decode(const uint8_t *buf, struct nacre_secmon_event *ev)
{
    uint8_t check[16];
    if (memcmp(buf, record_magic, sizeof record_magic) != 0 || buf[R_TYPE] == 0) {
        return 0;
    }
    record_check(check, buf);
    if (memcmp(check, buf + RECORD_CHECK_OFFSET, sizeof check) != 0) {
        return 0;
    }
    uint32_t seq = le32_get(buf + R_SEQ);
    if (seq == 0) {
        return 0;
    }
    /* The detail is NUL-padded: once a NUL, only NULs. */
    size_t n = 0;
    while (n < SECMON_EVENT_RECORD_DETAIL && buf[R_DETAIL + n] != 0) {
        n++;
    }
    for (size_t i = n; i < SECMON_EVENT_RECORD_DETAIL; i++) {
        if (buf[R_DETAIL + i] != 0) {
            return 0;
        }
    }
    memset(ev, 0, sizeof *ev);
    ev->seq = seq;
    ev->time = le64_get(buf + R_TIME);
    ev->type = buf[R_TYPE];
    memcpy(ev->app_id, buf + R_APP, sizeof ev->app_id);
    ev->code = le32_get(buf + R_CODE);
    ev->addr = le64_get(buf + R_ADDR);
    memcpy(ev->detail, buf + R_DETAIL, n);
    ev->detail[n] = '\0';
    return 1;
}

static int all_erased(const uint8_t *buf, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        if (buf[i] != NACRE_BOARD_FLASH_ERASED) {
            return 0;
        }
    }
    return 1;
}

static nacre_secmon_status ring_geometry(struct nacre_board *board, struct secmon_evlog *log)
{
    struct nacre_flash_area area;
    nacre_board_status b = nacre_board_flash_area(board, NACRE_FLASH_AREA_EVENT_LOG, &area);
    if (b != NACRE_BOARD_OK) {
        return from_board(b);
    }
    uint32_t rs = area.write_size < SECMON_EVENT_RECORD_BYTES ? SECMON_EVENT_RECORD_BYTES : area.write_size;
    if (area.sector_size == 0 || area.write_size == 0 || rs > RECORD_MAX_BYTES || rs % area.write_size != 0 ||
        area.sector_size % rs != 0 || area.sector_size / rs < 2 ||
        area.size / area.sector_size < RING_MIN_SECTORS) {
        return NACRE_SECMON_ERR_INTERNAL;
    }
    log->record_size = rs;
    log->sector_size = area.sector_size;
    log->sectors = area.size / area.sector_size;
    log->slots_per_sector = area.sector_size / rs;
    return NACRE_SECMON_OK;
}

static nacre_secmon_status read_slot(struct nacre_board *board, const struct secmon_evlog *log,
                                     uint32_t sector, uint32_t slot, uint8_t *buf)
{
    return from_board(nacre_board_flash_read(board, NACRE_FLASH_AREA_EVENT_LOG,
                                             sector * log->sector_size + slot * log->record_size, buf,
                                             log->record_size));
}

nacre_secmon_status secmon_evlog_load(struct nacre_board *board, struct secmon_evlog *log)
{
    uint8_t buf[RECORD_MAX_BYTES];
    struct nacre_secmon_event ev;
    memset(log, 0, sizeof *log);
    if (board == NULL) {
        return NACRE_SECMON_ERR_ARGUMENT;
    }
    nacre_secmon_status s = ring_geometry(board, log);
    if (s != NACRE_SECMON_OK) {
        return s;
    }
    uint32_t best_seq = 0, head = 0, head_used = 0, used0 = 0;
    for (uint32_t sec = 0; sec < log->sectors; sec++) {
        uint32_t used = 0, max_seq = 0;
        for (uint32_t slot = 0; slot < log->slots_per_sector; slot++) {
            s = read_slot(board, log, sec, slot, buf);
            if (s != NACRE_SECMON_OK) {
                return s;
            }
            if (all_erased(buf, log->record_size)) {
                continue;
            }
            used = slot + 1;
            if (record_decode(buf, &ev) && ev.seq > max_seq) {
                max_seq = ev.seq;
            }
        }
        if (sec == 0) {
            used0 = used;
        }
        if (max_seq > best_seq) {
            best_seq = max_seq;
            head = sec;
            head_used = used;
        }
    }
    if (best_seq == 0) {
        /* Nothing valid yet: start in sector 0, after anything a torn first
         * write left there. */
        head = 0;
        head_used = used0;
    }
    log->head_sector = head;
    log->next_slot = head_used;
    log->next_seq = best_seq + 1;
    log->loaded = 1;
    return NACRE_SECMON_OK;
}

nacre_secmon_status secmon_evlog_append(struct nacre_board *board, struct secmon_evlog *log,
                                        const struct nacre_secmon_event *ev, uint32_t *seq)
{
    uint8_t buf[RECORD_MAX_BYTES];
    if (board == NULL || log == NULL || ev == NULL || ev->type == 0) {
        return NACRE_SECMON_ERR_ARGUMENT;
    }
    nacre_secmon_status s;
    if (!log->loaded) {
        s = secmon_evlog_load(board, log);
        if (s != NACRE_SECMON_OK) {
            return s;
        }
    }
    if (log->next_seq == 0 || log->next_seq == UINT32_MAX) {
        return NACRE_SECMON_ERR_INTERNAL; /* 4 billion events: the ring's seq space is used up */
    }
    if (log->next_slot >= log->slots_per_sector) {
        uint32_t target = (log->head_sector + 1) % log->sectors;
        s = from_board(nacre_board_flash_erase(board, NACRE_FLASH_AREA_EVENT_LOG, target * log->sector_size,
                                               log->sector_size));
        if (s != NACRE_SECMON_OK) {
            /* Rescan after the reset: the erase may be partial. */
            log->loaded = 0;
            return s;
        }
        log->head_sector = target;
        log->next_slot = 0;
    }
    uint32_t this_seq = log->next_seq;
    record_encode(buf, log->record_size, ev, this_seq);
    /* The slot and the seq are used up even if the write tears. */
    uint32_t slot = log->next_slot++;
    log->next_seq++;
    s = from_board(nacre_board_flash_write(board, NACRE_FLASH_AREA_EVENT_LOG,
                                           log->head_sector * log->sector_size + slot * log->record_size, buf,
                                           log->record_size));
    if (s == NACRE_SECMON_OK && seq != NULL) {
        *seq = this_seq;
    }
    return s;
}

nacre_secmon_status nacre_secmon_event_append(struct nacre_board *board, const struct nacre_secmon_event *ev)
{
    struct secmon_evlog log;
    memset(&log, 0, sizeof log);
    return secmon_evlog_append(board, &log, ev, NULL);
}

nacre_secmon_status nacre_secmon_event_read(struct nacre_board *board,
                                            int (*cb)(const struct nacre_secmon_event *ev, void *ctx),
                                            void *ctx)
{
    uint8_t buf[RECORD_MAX_BYTES];
    struct secmon_evlog log;
    struct nacre_secmon_event ev;
    if (board == NULL || cb == NULL) {
        return NACRE_SECMON_ERR_ARGUMENT;
    }
    nacre_secmon_status s = secmon_evlog_load(board, &log);
    if (s != NACRE_SECMON_OK) {
        return s;
    }
    uint32_t last = 0;
    for (uint32_t i = 1; i <= log.sectors; i++) {
        uint32_t sec = (log.head_sector + i) % log.sectors;
        for (uint32_t slot = 0; slot < log.slots_per_sector; slot++) {
            s = read_slot(board, &log, sec, slot, buf);
            if (s != NACRE_SECMON_OK) {
                return s;
            }
            if (!record_decode(buf, &ev) || ev.seq <= last) {
                continue;
            }
            last = ev.seq;
            if (cb(&ev, ctx) != 0) {
                return NACRE_SECMON_OK;
            }
        }
    }
    return NACRE_SECMON_OK;
}
