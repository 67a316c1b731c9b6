/*
 * counters.c - monotonic counters as an append-only journal in flash.
 *
 * The counter area's first two sectors each hold a header slot and then
 * record slots (layout in docs/pluton.md):
 *
 *   header: "NCSH" | version u32 | seq u32 | 0 u32 | MAC[16]
 *   record: "NCRC" | id u32      | value u32 | seq u32 | MAC[16]
 *
 * MAC = keyed BLAKE2b-128(counter key, first 16 bytes). All integers are
 * little-endian. A record counts only if its MAC verifies and its seq equals
 * the seq in its sector's valid header.
 *
 * Reset safety:
 *  - A counter's value is the MAXIMUM over every valid record in both
 *    sectors, so writing a new record can only raise it, and a torn record
 *    (MAC fails) is simply ignored: the value stays at the old one.
 *  - Records go to the next erased slot; a torn slot is never reused.
 *  - When the active sector is full, the other sector is erased, every
 *    non-zero counter is copied into it, and its header is written LAST.
 *    Until that header verifies, the old sector stays active and complete;
 *    afterwards both hold values no higher than the truth, so the maximum
 *    is unchanged at every instant.
 * So under a power cut at any write the counter reads either the old or the
 * new value, never less (tests/pluton/test_counters.c cuts at every write).
 */
#include <string.h>

#include "pluton_priv.h"

#define COUNTER_SECTORS 2u
#define SLOT_MIN_BYTES 32u
#define SLOT_MAC_OFFSET 16u
#define FORMAT_VERSION 1u

static const uint8_t header_magic[4] = {'N', 'C', 'S', 'H'};
static const uint8_t record_magic[4] = {'N', 'C', 'R', 'C'};

static void slot_mac(const struct pluton_state *st, uint8_t mac[16], const uint8_t *slot)
{
    crypto_generichash_blake2b(mac, 16, slot, SLOT_MAC_OFFSET, st->counter_key,
                               sizeof st->counter_key);
}

/* Builds a header (magic = header_magic) or record slot in buf (record_size bytes). */
static void slot_build(const struct pluton_state *st, uint8_t *buf, const uint8_t magic[4],
                       uint32_t a, uint32_t b, uint32_t c)
{
    memset(buf, NACRE_BOARD_FLASH_ERASED, st->counters.record_size);
    memcpy(buf, magic, 4);
    le32_put(buf + 4, a);
    le32_put(buf + 8, b);
    le32_put(buf + 12, c);
    slot_mac(st, buf + SLOT_MAC_OFFSET, buf);
}

static int slot_valid(const struct pluton_state *st, const uint8_t *buf, const uint8_t magic[4])
{
    uint8_t mac[16];
    if (memcmp(buf, magic, 4) != 0) {
        return 0;
    }
    slot_mac(st, mac, buf);
    return crypto_verify_16(mac, buf + SLOT_MAC_OFFSET) == 0;
}

static uint32_t slot_offset(const struct pluton_state *st, unsigned sector, uint32_t slot)
{
    return sector * st->counters.sector_size + slot * st->counters.record_size;
}

static nacre_pluton_status slot_write(struct pluton_state *st, unsigned sector, uint32_t slot,
                                      const uint8_t *buf)
{
    return pluton_from_board(nacre_board_flash_write(st->board, NACRE_FLASH_AREA_COUNTERS,
                                                     slot_offset(st, sector, slot), buf,
                                                     st->counters.record_size));
}

/* Derives the slot geometry from the board's area description. */
static nacre_pluton_status counters_geometry(struct pluton_state *st)
{
    struct nacre_flash_area area;
    nacre_board_status b = nacre_board_flash_area(st->board, NACRE_FLASH_AREA_COUNTERS, &area);
    if (b != NACRE_BOARD_OK) {
        return pluton_from_board(b);
    }
    if (area.sector_size == 0 || area.write_size == 0 ||
        area.size / area.sector_size < COUNTER_SECTORS) {
        return NACRE_PLUTON_ERR_STORAGE_CORRUPT;
    }
    uint32_t rs = area.write_size < SLOT_MIN_BYTES ? SLOT_MIN_BYTES : area.write_size;
    if (rs % area.write_size != 0 || rs > 256) {
        return NACRE_PLUTON_ERR_STORAGE_CORRUPT;
    }
    /* One header, every counter once after compaction, and room to grow. */
    if (area.sector_size / rs < NACRE_PLUTON_COUNTER_COUNT + 2u) {
        return NACRE_PLUTON_ERR_STORAGE_CORRUPT;
    }
    st->counters.record_size = rs;
    st->counters.sector_size = area.sector_size;
    st->counters.slots_per_sector = area.sector_size / rs;
    return NACRE_PLUTON_OK;
}

nacre_pluton_status counters_format(struct pluton_state *st)
{
    uint8_t buf[256];
    nacre_pluton_status s = counters_geometry(st);
    if (s != NACRE_PLUTON_OK) {
        return s;
    }
    s = pluton_from_board(nacre_board_flash_erase(st->board, NACRE_FLASH_AREA_COUNTERS, 0,
                                                  (size_t)COUNTER_SECTORS * st->counters.sector_size));
    if (s != NACRE_PLUTON_OK) {
        return s;
    }
    slot_build(st, buf, header_magic, FORMAT_VERSION, 1, 0);
    s = slot_write(st, 0, 0, buf);
    if (s == NACRE_PLUTON_OK) {
        memset(st->counters.values, 0, sizeof st->counters.values);
        st->counters.active = 0;
        st->counters.active_seq = 1;
        st->counters.next_slot = 1;
        st->counters.loaded = 1;
    }
    return s;
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

static nacre_pluton_status counters_load(struct pluton_state *st)
{
    uint8_t buf[256];
    uint32_t seq[COUNTER_SECTORS] = {0, 0};
    int valid[COUNTER_SECTORS] = {0, 0};
    uint32_t used[COUNTER_SECTORS] = {1, 1};
    uint32_t values[NACRE_PLUTON_COUNTER_COUNT] = {0};

    if (st->counters.loaded) {
        return NACRE_PLUTON_OK;
    }
    nacre_pluton_status s = counters_geometry(st);
    if (s != NACRE_PLUTON_OK) {
        return s;
    }
    const uint32_t rs = st->counters.record_size;

    for (unsigned sec = 0; sec < COUNTER_SECTORS; sec++) {
        nacre_board_status b = nacre_board_flash_read(st->board, NACRE_FLASH_AREA_COUNTERS,
                                                      slot_offset(st, sec, 0), buf, rs);
        if (b != NACRE_BOARD_OK) {
            return pluton_from_board(b);
        }
        if (!slot_valid(st, buf, header_magic) || le32_get(buf + 4) != FORMAT_VERSION) {
            continue;
        }
        valid[sec] = 1;
        seq[sec] = le32_get(buf + 8);
        for (uint32_t slot = 1; slot < st->counters.slots_per_sector; slot++) {
            b = nacre_board_flash_read(st->board, NACRE_FLASH_AREA_COUNTERS,
                                       slot_offset(st, sec, slot), buf, rs);
            if (b != NACRE_BOARD_OK) {
                return pluton_from_board(b);
            }
            if (all_erased(buf, rs)) {
                continue;
            }
            used[sec] = slot + 1;
            if (!slot_valid(st, buf, record_magic) || le32_get(buf + 12) != seq[sec]) {
                continue; /* torn or stale: ignored, never reused */
            }
            uint32_t id = le32_get(buf + 4);
            uint32_t value = le32_get(buf + 8);
            if (id < NACRE_PLUTON_COUNTER_COUNT && value > values[id]) {
                values[id] = value;
            }
        }
    }
    sodium_memzero(buf, sizeof buf);
    /* Provisioning formats the area: no valid header means it was damaged. */
    if (!valid[0] && !valid[1]) {
        return NACRE_PLUTON_ERR_STORAGE_CORRUPT;
    }
    unsigned active = (!valid[0] || (valid[1] && seq[1] > seq[0])) ? 1u : 0u;
    st->counters.active = (uint8_t)active;
    st->counters.active_seq = seq[active];
    st->counters.next_slot = used[active];
    memcpy(st->counters.values, values, sizeof values);
    st->counters.loaded = 1;
    return NACRE_PLUTON_OK;
}

/* Moves every counter into the other sector; its header is the commit. */
static nacre_pluton_status counters_compact(struct pluton_state *st)
{
    uint8_t buf[256];
    unsigned target = 1u - st->counters.active;
    if (st->counters.active_seq == UINT32_MAX) {
        return NACRE_PLUTON_ERR_STORAGE_CORRUPT;
    }
    uint32_t new_seq = st->counters.active_seq + 1;
    nacre_pluton_status s = pluton_from_board(nacre_board_flash_erase(
        st->board, NACRE_FLASH_AREA_COUNTERS, slot_offset(st, target, 0), st->counters.sector_size));
    uint32_t slot = 1;
    for (unsigned id = 0; s == NACRE_PLUTON_OK && id < NACRE_PLUTON_COUNTER_COUNT; id++) {
        if (st->counters.values[id] != 0) {
            slot_build(st, buf, record_magic, id, st->counters.values[id], new_seq);
            s = slot_write(st, target, slot++, buf);
        }
    }
    if (s == NACRE_PLUTON_OK) {
        slot_build(st, buf, header_magic, FORMAT_VERSION, new_seq, 0);
        s = slot_write(st, target, 0, buf);
    }
    if (s == NACRE_PLUTON_OK) {
        st->counters.active = (uint8_t)target;
        st->counters.active_seq = new_seq;
        st->counters.next_slot = slot;
    }
    return s;
}

static nacre_pluton_status counters_append(struct pluton_state *st, unsigned id, uint32_t value)
{
    uint8_t buf[256];
    nacre_pluton_status s = NACRE_PLUTON_OK;
    if (st->counters.next_slot >= st->counters.slots_per_sector) {
        s = counters_compact(st);
        if (s != NACRE_PLUTON_OK) {
            return s;
        }
    }
    slot_build(st, buf, record_magic, id, value, st->counters.active_seq);
    /* The slot is consumed even if the write tears: it is no longer erased. */
    s = slot_write(st, st->counters.active, st->counters.next_slot++, buf);
    if (s == NACRE_PLUTON_OK) {
        st->counters.values[id] = value;
    }
    return s;
}

static nacre_pluton_status counters_open(nacre_pluton *p, unsigned id, struct pluton_state **out)
{
    nacre_pluton_status s = pluton_get(p, out);
    if (s != NACRE_PLUTON_OK) {
        return s;
    }
    if (id >= NACRE_PLUTON_COUNTER_COUNT) {
        return NACRE_PLUTON_ERR_ARGUMENT;
    }
    s = pluton_require_provisioned(*out);
    if (s == NACRE_PLUTON_OK) {
        s = counters_load(*out);
    }
    return s;
}

nacre_pluton_status nacre_pluton_counter_read(nacre_pluton *p, unsigned id, uint32_t *value)
{
    struct pluton_state *st;
    if (value == NULL) {
        return NACRE_PLUTON_ERR_ARGUMENT;
    }
    nacre_pluton_status s = counters_open(p, id, &st);
    if (s == NACRE_PLUTON_OK) {
        *value = st->counters.values[id];
    }
    return s;
}

nacre_pluton_status nacre_pluton_counter_increment(nacre_pluton *p, unsigned id, uint32_t *new_value)
{
    struct pluton_state *st;
    nacre_pluton_status s = counters_open(p, id, &st);
    if (s != NACRE_PLUTON_OK) {
        return s;
    }
    if (st->counters.values[id] == UINT32_MAX) {
        return NACRE_PLUTON_ERR_COUNTER_OVERFLOW;
    }
    s = counters_append(st, id, st->counters.values[id] + 1);
    if (s == NACRE_PLUTON_OK && new_value != NULL) {
        *new_value = st->counters.values[id];
    }
    return s;
}

nacre_pluton_status nacre_pluton_counter_advance(nacre_pluton *p, unsigned id, uint32_t value)
{
    struct pluton_state *st;
    nacre_pluton_status s = counters_open(p, id, &st);
    if (s != NACRE_PLUTON_OK) {
        return s;
    }
    if (value < st->counters.values[id]) {
        return NACRE_PLUTON_ERR_COUNTER_ROLLBACK;
    }
    if (value == st->counters.values[id]) {
        return NACRE_PLUTON_OK;
    }
    return counters_append(st, id, value);
}
