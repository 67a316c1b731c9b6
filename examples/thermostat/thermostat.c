/*
 * thermostat - a Nacre app with a few capabilities (see app_manifest.json):
 *
 *   I2cMaster [1]          reads the emulated temperature sensor (0x48, reg 0)
 *   MutableStorage 4 KB    keeps a reading counter and the last value
 *   AllowedConnections     one server; secmon's broker connects, the app gets
 *                          the socket (it has no network of its own)
 *
 * It takes one reading, stores it, sends "reading <n> <centi-degrees>\n" to
 * the server, then tries a connection its manifest does not list and shows
 * that secmon denied it.
 *
 * Where the server is can only be decided when the app is deployed: the
 * manifest is signed with the app, and the app cannot read its manifest. So
 * configure.py writes the manifest AND this block of the executable, from
 * the same host:port, before packaging; the signature then covers both.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "app.h"

#define APP_NAME "thermostat"

/* "NACRE-THERMOSTAT-CONFIG:" then "SERVER DENIED\0..." (host:port each). */
#define CONFIG_MARKER "NACRE-THERMOSTAT-CONFIG:"
#define CONFIG_BYTES 160
static volatile const char config_block[CONFIG_BYTES] =
    CONFIG_MARKER "127.0.0.1:8080 127.0.0.1:8081";

/* Storage record at offset 0: "TH01", readings u32, last value i32 (LE). */
#define RECORD_MAGIC "TH01"
#define RECORD_BYTES 12u

struct endpoint {
    char host[64];
    uint16_t port;
};

static int parse_endpoint(const char *text, struct endpoint *ep)
{
    const char *colon = strrchr(text, ':');
    if (colon == NULL || colon == text || (size_t)(colon - text) >= sizeof ep->host) {
        return -1;
    }
    char *end = NULL;
    errno = 0;
    unsigned long port = strtoul(colon + 1, &end, 10);
    if (errno != 0 || end == colon + 1 || *end != '\0' || port == 0 || port > 65535) {
        return -1;
    }
    memcpy(ep->host, text, (size_t)(colon - text));
    ep->host[colon - text] = '\0';
    ep->port = (uint16_t)port;
    return 0;
}

/* The two endpoints of the configuration block. */
static int read_config(struct endpoint *server, struct endpoint *denied)
{
    char text[CONFIG_BYTES + 1];
    for (size_t i = 0; i < CONFIG_BYTES; i++) {
        text[i] = config_block[i];
    }
    text[CONFIG_BYTES] = '\0';
    char *rest = text + sizeof CONFIG_MARKER - 1;
    char *space = strchr(rest, ' ');
    if (space == NULL) {
        return -1;
    }
    *space = '\0';
    if (parse_endpoint(rest, server) != 0 || parse_endpoint(space + 1, denied) != 0) {
        return -1;
    }
    return 0;
}

static void put_u32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++) {
        p[i] = (uint8_t)(v >> (8 * i));
    }
}

static uint32_t get_u32(const uint8_t *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) |
           ((uint32_t)p[3] << 24);
}

static int fail(const char *what, nacre_secmon_status st)
{
    printf("%s: %s failed: %s\n", APP_NAME, what, app_status_text(st));
    return 1;
}

/* Send all of line on fd, waiting at most a few seconds. */
static int send_line(int fd, const char *line)
{
    size_t len = strlen(line);
    size_t off = 0;
    while (off < len) {
        struct pollfd pfd = {.fd = fd, .events = POLLOUT};
        if (poll(&pfd, 1, 5000) <= 0) {
            return -1;
        }
        ssize_t n = send(fd, line + off, len - off, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            return -1;
        }
        off += (size_t)n;
    }
    return 0;
}

int main(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0);

    struct endpoint server, denied;
    if (read_config(&server, &denied) != 0) {
        printf("%s: the configuration block is malformed (see configure.py)\n", APP_NAME);
        return 1;
    }

    struct app_identity id;
    nacre_secmon_status st = app_identity(&id);
    if (st != NACRE_SECMON_OK) {
        return fail("identity", st);
    }
    printf("%s: component %s\n", APP_NAME, id.component_id);

    /* 1. The sensor. */
    int16_t centi = 0;
    st = app_temperature(&centi);
    if (st != NACRE_SECMON_OK) {
        return fail("reading the temperature sensor", st);
    }
    int whole = centi / 100;
    int frac = abs(centi % 100);
    printf("%s: temperature %s%d.%02d C\n", APP_NAME, centi < 0 && whole == 0 ? "-" : "", whole,
           frac);

    /* 2. The reading counter and the last value, in MutableStorage. */
    uint8_t rec[RECORD_BYTES];
    uint32_t readings = 0;
    st = app_storage_read(0, rec, sizeof rec);
    if (st == NACRE_SECMON_OK && memcmp(rec, RECORD_MAGIC, 4) == 0) {
        readings = get_u32(rec + 4);
        int32_t last = (int32_t)get_u32(rec + 8);
        printf("%s: storage holds %lu earlier reading(s), the last %ld\n", APP_NAME,
               (unsigned long)readings, (long)last);
    } else if (st == NACRE_SECMON_OK || st == NACRE_SECMON_ERR_NOT_FOUND) {
        printf("%s: storage is empty: first reading\n", APP_NAME);
    } else {
        return fail("reading storage", st);
    }
    readings++;
    memcpy(rec, RECORD_MAGIC, 4);
    put_u32(rec + 4, readings);
    put_u32(rec + 8, (uint32_t)(int32_t)centi);
    st = app_storage_write(0, rec, sizeof rec);
    if (st != NACRE_SECMON_OK) {
        return fail("writing storage", st);
    }
    printf("%s: stored reading %lu\n", APP_NAME, (unsigned long)readings);

    /* 3. The server named in the manifest: secmon connects, we get the socket. */
    int fd = -1;
    st = app_connect(server.host, server.port, &fd);
    if (st != NACRE_SECMON_OK) {
        printf("%s: connecting to %s:%u: %s\n", APP_NAME, server.host, server.port,
               app_status_text(st));
        return 1;
    }
    char line[64];
    snprintf(line, sizeof line, "reading %lu %d\n", (unsigned long)readings, (int)centi);
    int rc = send_line(fd, line);
    close(fd);
    if (rc != 0) {
        printf("%s: sending to %s:%u failed\n", APP_NAME, server.host, server.port);
        return 1;
    }
    line[strlen(line) - 1] = '\0';
    printf("%s: sent \"%s\" to %s:%u\n", APP_NAME, line, server.host, server.port);

    /* 4. A connection the manifest does not list: secmon must refuse it. */
    st = app_connect(denied.host, denied.port, &fd);
    if (st == NACRE_SECMON_OK) {
        close(fd);
        printf("%s: connection to %s:%u was NOT denied\n", APP_NAME, denied.host, denied.port);
        return 1;
    }
    printf("%s: connection to %s:%u denied (%s)\n", APP_NAME, denied.host, denied.port,
           app_status_name(st));

    snprintf(line, sizeof line, "thermostat: reading %lu = %d", (unsigned long)readings,
             (int)centi);
    st = app_log(APP_LOG_INFO, line);
    if (st != NACRE_SECMON_OK) {
        return fail("log", st);
    }
    return 0;
}
