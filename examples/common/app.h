/*
 * app.h - the app side of the security monitor, for the example apps.
 *
 * A Nacre app is an ordinary program that secmon launched in its sandbox.
 * It talks to secmon over one channel, inherited as file descriptor
 * NACRE_SECMON_APP_FD (3); every request goes through nacre_app_call()
 * (libsecmon's client). These wrappers build each call's payload
 * (nacre/secmon_abi.h) and decode its response, so an app reads like:
 *
 *   struct app_identity id;
 *   if (app_identity(&id) != NACRE_SECMON_OK) { ... }
 *   uint8_t sig[64];
 *   app_sign("hello", 5, sig);
 *
 * Every function returns the secmon status (NACRE_SECMON_OK on success; a
 * refusal such as NACRE_SECMON_ERR_DENIED otherwise); app_status_text()
 * turns it into words. Nothing here can name another app, a key or a file:
 * secmon knows who is calling from the channel alone.
 */
#ifndef NACRE_EXAMPLE_APP_H
#define NACRE_EXAMPLE_APP_H

#include <stddef.h>
#include <stdint.h>

#include <nacre/secmon.h>

#define APP_KEY_BYTES 32u
#define APP_SIGNATURE_BYTES 64u
#define APP_COMPONENT_ID_CHARS 37u /* a UUID and its NUL */

/* The emulated temperature sensor: I2C bus 1, address 0x48, register 0. */
#define APP_SENSOR_I2C_ID 1u
#define APP_SENSOR_I2C_ADDR 0x48u
#define APP_SENSOR_REG 0u

/* Peripheral kinds and operations of NACRE_SECMON_CALL_PERIPHERAL. */
enum {
    APP_PERIPHERAL_GPIO = 1,
    APP_PERIPHERAL_UART = 2,
    APP_PERIPHERAL_I2C = 3,
};
enum {
    APP_OP_READ = 1,
    APP_OP_WRITE = 2,
};

/* Levels of app_log() (free for the app to choose; shown in the event log). */
enum {
    APP_LOG_INFO = 1,
    APP_LOG_WARNING = 2,
    APP_LOG_ERROR = 3,
};

struct app_identity {
    uint8_t device_id[APP_KEY_BYTES];  /* BLAKE2b-256 of the DeviceID public key */
    uint8_t device_pk[APP_KEY_BYTES];  /* the DeviceID public key */
    uint8_t app_pk[APP_KEY_BYTES];     /* this app's signing key on this device */
    char component_id[APP_COMPONENT_ID_CHARS];
};

/* The channel: NACRE_SECMON_APP_FD. */
int app_channel(void);
/* "denied by the manifest", ... (nacre_secmon_strerror). */
const char *app_status_text(nacre_secmon_status st);
/* "OK", "DENIED", "MALFORMED", ...: the status's name in nacre/secmon_abi.h. */
const char *app_status_name(nacre_secmon_status st);

/* Any call, raw: payload in, response payload out (resp_len may be NULL). */
nacre_secmon_status app_call(unsigned call, const void *req, size_t req_len, void *resp,
                             size_t resp_max, size_t *resp_len);

/* PING: data (0..64 bytes) must come back unchanged. */
nacre_secmon_status app_ping(const void *data, size_t len);
/* IDENTITY: device id, DeviceID key, this app's public key, ComponentId. */
nacre_secmon_status app_identity(struct app_identity *out);
/* SIGN: Ed25519 by this app's own key over data (1..512 bytes). */
nacre_secmon_status app_sign(const void *data, size_t len, uint8_t sig[APP_SIGNATURE_BYTES]);
/* SEAL / UNSEAL: a blob only this app on this device can open. */
nacre_secmon_status app_seal(const void *data, size_t len, uint8_t *blob, size_t blob_max,
                             size_t *blob_len);
nacre_secmon_status app_unseal(const uint8_t *blob, size_t blob_len, void *out, size_t out_max,
                               size_t *out_len);
/* MutableStorage: len 1..512 bytes at offset (within the manifest's quota). */
nacre_secmon_status app_storage_read(uint32_t offset, void *buf, size_t len);
nacre_secmon_status app_storage_write(uint32_t offset, const void *data, size_t len);
/* A device monotonic counter (0..7), read-only for apps. */
nacre_secmon_status app_counter_read(uint32_t id, uint32_t *value);
/* LOG_EVENT: text (1..200 bytes, no NUL) into the security-event log. */
nacre_secmon_status app_log(unsigned level, const char *text);
/*
 * CONNECT: secmon's broker opens a TCP connection to host:port if the
 * manifest's AllowedConnections lists it; *fd receives the connected socket.
 */
nacre_secmon_status app_connect(const char *host, uint16_t port, int *fd);
/* PERIPHERAL: one operation on a granted GPIO / UART / I2C id. */
nacre_secmon_status app_peripheral(unsigned kind, unsigned id, unsigned op, uint16_t arg,
                                   const void *data, size_t len, void *out, size_t out_max,
                                   size_t *out_len);
/* The emulated temperature sensor, in hundredths of a degree Celsius. */
nacre_secmon_status app_temperature(int16_t *centi_degrees);

/* Lowercase hex of n bytes into out (2n + 1 chars). */
void app_hex(char *out, const uint8_t *in, size_t n);

#endif /* NACRE_EXAMPLE_APP_H */
