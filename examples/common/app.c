/*
 * app.c - the example apps' wrappers around nacre_app_call (see app.h).
 */
#include "app.h"

#include <string.h>
#include <unistd.h>

static void put_u16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

static void put_u32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

static uint32_t get_u32(const uint8_t *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) |
           ((uint32_t)p[3] << 24);
}

int app_channel(void)
{
    return NACRE_SECMON_APP_FD;
}

const char *app_status_text(nacre_secmon_status st)
{
    return nacre_secmon_strerror(st);
}

const char *app_status_name(nacre_secmon_status st)
{
    const char *name = nacre_secmon_status_name(st);
    return name != NULL ? name : "UNKNOWN_STATUS";
}

void app_hex(char *out, const uint8_t *in, size_t n)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[in[i] >> 4];
        out[2 * i + 1] = digits[in[i] & 15];
    }
    out[2 * n] = '\0';
}

nacre_secmon_status app_call(unsigned call, const void *req, size_t req_len, void *resp,
                             size_t resp_max, size_t *resp_len)
{
    size_t got = 0;
    int fd = -1;
    nacre_secmon_status st =
        nacre_app_call(app_channel(), call, req, req_len, resp, resp_max, &got, &fd);
    if (fd >= 0) {
        /* Only CONNECT passes a descriptor back (see app_connect). */
        close(fd);
    }
    if (resp_len != NULL) {
        *resp_len = got;
    }
    return st;
}

nacre_secmon_status app_ping(const void *data, size_t len)
{
    uint8_t echo[64];
    size_t got = 0;
    if (len > sizeof echo) {
        return NACRE_SECMON_ERR_ARGUMENT;
    }
    nacre_secmon_status st = app_call(NACRE_SECMON_CALL_PING, data, len, echo, sizeof echo, &got);
    if (st == NACRE_SECMON_OK && (got != len || (len > 0 && memcmp(echo, data, len) != 0))) {
        return NACRE_SECMON_ERR_IO;
    }
    return st;
}

nacre_secmon_status app_identity(struct app_identity *out)
{
    uint8_t resp[32 + 32 + 32 + 37];
    size_t got = 0;
    memset(out, 0, sizeof *out);
    nacre_secmon_status st = app_call(NACRE_SECMON_CALL_IDENTITY, NULL, 0, resp, sizeof resp, &got);
    if (st != NACRE_SECMON_OK) {
        return st;
    }
    if (got != sizeof resp) {
        return NACRE_SECMON_ERR_IO;
    }
    memcpy(out->device_id, resp, 32);
    memcpy(out->device_pk, resp + 32, 32);
    memcpy(out->app_pk, resp + 64, 32);
    memcpy(out->component_id, resp + 96, 37);
    out->component_id[APP_COMPONENT_ID_CHARS - 1] = '\0';
    return st;
}

nacre_secmon_status app_sign(const void *data, size_t len, uint8_t sig[APP_SIGNATURE_BYTES])
{
    size_t got = 0;
    nacre_secmon_status st =
        app_call(NACRE_SECMON_CALL_SIGN, data, len, sig, APP_SIGNATURE_BYTES, &got);
    if (st == NACRE_SECMON_OK && got != APP_SIGNATURE_BYTES) {
        return NACRE_SECMON_ERR_IO;
    }
    return st;
}

nacre_secmon_status app_seal(const void *data, size_t len, uint8_t *blob, size_t blob_max,
                             size_t *blob_len)
{
    return app_call(NACRE_SECMON_CALL_SEAL, data, len, blob, blob_max, blob_len);
}

nacre_secmon_status app_unseal(const uint8_t *blob, size_t blob_len, void *out, size_t out_max,
                               size_t *out_len)
{
    return app_call(NACRE_SECMON_CALL_UNSEAL, blob, blob_len, out, out_max, out_len);
}

nacre_secmon_status app_storage_read(uint32_t offset, void *buf, size_t len)
{
    uint8_t req[8];
    size_t got = 0;
    if (len == 0 || len > NACRE_SECMON_DATA_MAX) {
        return NACRE_SECMON_ERR_ARGUMENT;
    }
    put_u32(req, offset);
    put_u32(req + 4, (uint32_t)len);
    nacre_secmon_status st = app_call(NACRE_SECMON_CALL_STORAGE_READ, req, sizeof req, buf, len, &got);
    if (st == NACRE_SECMON_OK && got != len) {
        return NACRE_SECMON_ERR_IO;
    }
    return st;
}

nacre_secmon_status app_storage_write(uint32_t offset, const void *data, size_t len)
{
    uint8_t req[4 + NACRE_SECMON_DATA_MAX];
    if (len == 0 || len > NACRE_SECMON_DATA_MAX) {
        return NACRE_SECMON_ERR_ARGUMENT;
    }
    put_u32(req, offset);
    memcpy(req + 4, data, len);
    return app_call(NACRE_SECMON_CALL_STORAGE_WRITE, req, 4 + len, NULL, 0, NULL);
}

nacre_secmon_status app_counter_read(uint32_t id, uint32_t *value)
{
    uint8_t req[4];
    uint8_t resp[4];
    size_t got = 0;
    put_u32(req, id);
    nacre_secmon_status st =
        app_call(NACRE_SECMON_CALL_COUNTER_READ, req, sizeof req, resp, sizeof resp, &got);
    if (st != NACRE_SECMON_OK) {
        return st;
    }
    if (got != sizeof resp) {
        return NACRE_SECMON_ERR_IO;
    }
    *value = get_u32(resp);
    return st;
}

nacre_secmon_status app_log(unsigned level, const char *text)
{
    uint8_t req[1 + 200];
    size_t n = strlen(text);
    if (n == 0 || n > 200 || level > 255) {
        return NACRE_SECMON_ERR_ARGUMENT;
    }
    req[0] = (uint8_t)level;
    memcpy(req + 1, text, n);
    return app_call(NACRE_SECMON_CALL_LOG_EVENT, req, 1 + n, NULL, 0, NULL);
}

nacre_secmon_status app_connect(const char *host, uint16_t port, int *fd)
{
    uint8_t req[3 + 253];
    size_t n = strlen(host);
    *fd = -1;
    if (n == 0 || n > 253) {
        return NACRE_SECMON_ERR_ARGUMENT;
    }
    put_u16(req, port);
    req[2] = (uint8_t)n;
    memcpy(req + 3, host, n);
    int passed = -1;
    nacre_secmon_status st = nacre_app_call(app_channel(), NACRE_SECMON_CALL_CONNECT, req, 3 + n,
                                            NULL, 0, NULL, &passed);
    if (st != NACRE_SECMON_OK) {
        if (passed >= 0) {
            close(passed);
        }
        return st;
    }
    if (passed < 0) {
        return NACRE_SECMON_ERR_IO;
    }
    *fd = passed;
    return st;
}

nacre_secmon_status app_peripheral(unsigned kind, unsigned id, unsigned op, uint16_t arg,
                                   const void *data, size_t len, void *out, size_t out_max,
                                   size_t *out_len)
{
    uint8_t req[5 + 64];
    if (kind > 255 || id > 255 || op > 255 || len > 64) {
        return NACRE_SECMON_ERR_ARGUMENT;
    }
    req[0] = (uint8_t)kind;
    req[1] = (uint8_t)id;
    req[2] = (uint8_t)op;
    put_u16(req + 3, arg);
    if (len > 0) {
        memcpy(req + 5, data, len);
    }
    return app_call(NACRE_SECMON_CALL_PERIPHERAL, req, 5 + len, out, out_max, out_len);
}

nacre_secmon_status app_temperature(int16_t *centi_degrees)
{
    uint8_t reg = APP_SENSOR_REG;
    uint8_t resp[2];
    size_t got = 0;
    nacre_secmon_status st = app_peripheral(APP_PERIPHERAL_I2C, APP_SENSOR_I2C_ID, APP_OP_READ,
                                            APP_SENSOR_I2C_ADDR, &reg, 1, resp, sizeof resp, &got);
    if (st != NACRE_SECMON_OK) {
        return st;
    }
    if (got != sizeof resp) {
        return NACRE_SECMON_ERR_IO;
    }
    *centi_degrees = (int16_t)(uint16_t)(resp[0] | (resp[1] << 8));
    return st;
}
