/*
 * state.c - the slot state journal: which slot is confirmed, which pending,
 * trial boots, the last boot, and install progress.
 *
 * NACRE_FLASH_AREA_BOOT_STATE's first two sectors hold 64-byte records
 * (or write_size if larger), appended to the next erased slot:
 *
 *   0  "NUSR"           4    magic
 *   4  version (1)      1
 *   5  confirmed        1    slot: 0 none, 1 A, 2 B
 *   6  pending          1
 *   7  trial boots      1
 *   8  seq              4    LE, +1 per record
 *  12  last boot        1    slot
 *  13  last boot trial  1    0 / 1
 *  14  installing       1    slot
 *  15  0                1
 *  16  install progress 4    LE, bytes safely in flash
 *  20  0                4
 *  24  install id      16    first 16 bytes of the image measurement
 *  40  0                8
 *  48  check           16    BLAKE2b-128 of bytes 0..47
 *
 * The valid record with the highest seq, in either sector, is the state.
 * Reset safety: a record is one write; a torn record fails its check and the
 * previous record stays the state. When the active sector is full, the other
 * sector is erased and the current state is written there as the first
 * record (seq + 1): until that write completes the old sector still holds
 * the latest valid record, and afterwards the new one is newer. An empty
 * journal (a new device, or a first record torn) is the state "nothing
 * installed". Records are not secret and are not what makes an image
 * trusted: every boot re-verifies signatures and counters.
 */
#include <string.h>

#include "update_priv.h"
#include "nacre_le.h"

#define JOURNAL_SECTORS 2u
#define RECORD_MIN_BYTES 64u
#define RECORD_CHECK_OFFSET 48u
#define RECORD_VERSION 1u

static const uint8_t record_magic[4] = {'N', 'U', 'S', 'R'};

static void record_check(uint8_t out[16], const uint8_t *rec)
{
    crypto_generichash_blake2b(out, 16, rec, RECORD_CHECK_OFFSET, NULL, 0);
}

static void record_encode(uint8_t *buf, uint32_t size, const struct journal_record *r)
{
    memset(buf, 0, RECORD_CHECK_OFFSET);
    memcpy(buf, record_magic, 4);
    buf[4] = RECORD_VERSION;
    buf[5] = r->confirmed;
    buf[6] = r->pending;
    buf[7] = r->trial_boots;
    le32_put(buf + 8, r->seq);
    buf[12] = r->last_boot;
    buf[13] = r->last_boot_trial;
    buf[14] = r->installing;
    le32_put(buf + 16, r->install_progress);
    memcpy(buf + 24, r->install_id, sizeof r->install_id);
    record_check(buf + RECORD_CHECK_OFFSET, buf);
    memset(buf + RECORD_MIN_BYTES, NACRE_BOARD_FLASH_ERASED, size - RECORD_MIN_BYTES);
}

static int slot_ok(uint8_t v)
{
    return v <= NACRE_UPDATE_SLOT_B;
}

/* Decodes a record slot; 0 if it is not a valid record. */
static int record_decode(const uint8_t *buf, struct journal_record *r)
{
    uint8_t check[16];
    static const uint8_t zero[8] = {0};
    if (memcmp(buf, record_magic, 4) != 0 || buf[4] != RECORD_VERSION) {
        return 0;
    }
    record_check(check, buf);
    if (memcmp(check, buf + RECORD_CHECK_OFFSET, sizeof check) != 0) {
        return 0;
    }
    if (!slot_ok(buf[5]) || !slot_ok(buf[6]) || !slot_ok(buf[12]) || buf[13] > 1 ||
        !slot_ok(buf[14]) || buf[15] != 0 || le32_get(buf + 20) != 0 || memcmp(buf + 40, zero, 8) != 0) {
        return 0;
    }
    r->confirmed = buf[5];
    r->pending = buf[6];
    r->trial_boots = buf[7];
    r->seq = le32_get(buf + 8);
    r->last_boot = buf[12];
    r->last_boot_trial = buf[13];
    r->installing = buf[14];
    r->install_progress = le32_get(buf + 16);
    memcpy(r->install_id, buf + 24, sizeof r->install_id);
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

static uint32_t record_size(const struct journal *j)
{
    return j->sector_size / j->slots_per_sector;
}

nacre_update_status journal_load(struct nacre_board *board, struct journal *j)
{
    struct nacre_flash_area area;
    uint8_t buf[256];
    memset(j, 0, sizeof *j);
    nacre_board_status b = nacre_board_flash_area(board, NACRE_FLASH_AREA_BOOT_STATE, &area);
    if (b != NACRE_BOARD_OK) {
        return update_from_board(b);
    }
    uint32_t rs = area.write_size < RECORD_MIN_BYTES ? RECORD_MIN_BYTES : area.write_size;
    if (area.sector_size == 0 || area.size / area.sector_size < JOURNAL_SECTORS || rs > sizeof buf ||
        rs % area.write_size != 0 || area.sector_size % rs != 0 || area.sector_size / rs < 2) {
        return NACRE_UPDATE_ERR_STATE_CORRUPT;
    }
    j->sector_size = area.sector_size;
    j->slots_per_sector = area.sector_size / rs;

    int found = 0;
    uint32_t used[JOURNAL_SECTORS] = {0, 0};
    for (unsigned sec = 0; sec < JOURNAL_SECTORS; sec++) {
        for (uint32_t slot = 0; slot < j->slots_per_sector; slot++) {
            b = nacre_board_flash_read(board, NACRE_FLASH_AREA_BOOT_STATE,
                                       sec * area.sector_size + slot * rs, buf, rs);
            if (b != NACRE_BOARD_OK) {
                return update_from_board(b);
            }
            if (all_erased(buf, rs)) {
                continue;
            }
            used[sec] = slot + 1;
            struct journal_record r;
            if (record_decode(buf, &r) && (!found || r.seq > j->cur.seq)) {
                j->cur = r;
                j->active = (uint8_t)sec;
                found = 1;
            }
        }
    }
    if (!found) {
        /* Nothing valid yet: append after whatever a torn first write left. */
        j->active = used[0] <= used[1] ? 0 : 1;
    }
    j->next_slot = used[j->active];
    return NACRE_UPDATE_OK;
}

static nacre_update_status write_record(struct nacre_board *board, const struct journal *j,
                                        unsigned sector, uint32_t slot,
                                        const struct journal_record *r)
{
    uint8_t buf[256];
    uint32_t rs = record_size(j);
    record_encode(buf, rs, r);
    return update_from_board(nacre_board_flash_write(board, NACRE_FLASH_AREA_BOOT_STATE,
                                                     sector * j->sector_size + slot * rs, buf, rs));
}

nacre_update_status journal_commit(struct nacre_board *board, struct journal *j,
                                   struct journal_record next)
{
    if (j->cur.seq == UINT32_MAX) {
        return NACRE_UPDATE_ERR_STATE_CORRUPT;
    }
    next.seq = j->cur.seq + 1;
    nacre_update_status s;
    if (j->next_slot >= j->slots_per_sector) {
        /* Compact: the new record opens the other sector. Until it is
         * written, the full sector still holds the latest record. */
        unsigned target = 1u - j->active;
        s = update_from_board(nacre_board_flash_erase(board, NACRE_FLASH_AREA_BOOT_STATE,
                                                      target * j->sector_size, j->sector_size));
        if (s != NACRE_UPDATE_OK) {
            return s;
        }
        j->active = (uint8_t)target;
        j->next_slot = 0;
    }
    /* The slot is used up even if the write tears: never write it twice. */
    s = write_record(board, j, j->active, j->next_slot++, &next);
    if (s == NACRE_UPDATE_OK) {
        j->cur = next;
    }
    return s;
}
