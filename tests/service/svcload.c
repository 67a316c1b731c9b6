/*
 * svcload.c - a small load generator for nacre-service (not a test: a tool
 * to measure the hot paths on loopback; the benchmark proper lives in bench/).
 *
 *   svcload update DEVICE_DIR CERT.pem PORT REQUESTS THREADS
 *   svcload attest DEVICE_DIR DEVICE_ID PORT REQUESTS THREADS
 *
 * update: signs REQUESTS update checks first (Alias key inside libpluton,
 * each with its own nonce), then THREADS keep-alive connections send them;
 * prints requests/s and latency percentiles. attest: each request is the
 * full exchange (nonce, evidence made inside libpluton, attest with
 * certificate issue); the client's evidence signing is not timed.
 */
#define _GNU_SOURCE /* strcasestr */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include <nacre/attest.h>
#include <nacre/board_host.h>
#include <nacre/ca.h>
#include <nacre/httpsig.h>
#include <nacre/pluton.h>
#include <nacre/update.h>

static int port;
static char **reqs;
static size_t nreqs;
static size_t next_req;
static double *lat;
static size_t nlat;
static size_t errors;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static nacre_pluton *pl;
static struct nacre_boot_result boot;
static const char *device_id;
static int mode_attest;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int connect_to(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/* Send one request, read one response; returns the status, body in buf. */
static int roundtrip(int fd, const char *req, char *buf, size_t max)
{
    size_t len = strlen(req);
    if (write(fd, req, len) != (ssize_t)len) {
        return -1;
    }
    size_t got = 0;
    while (got < max - 1) {
        ssize_t n = read(fd, buf + got, max - 1 - got);
        if (n <= 0) {
            return -1;
        }
        got += (size_t)n;
        buf[got] = '\0';
        char *end = strstr(buf, "\r\n\r\n");
        if (end != NULL) {
            char *cl = strcasestr(buf, "Content-Length:");
            size_t body = cl != NULL ? (size_t)atol(cl + 15) : 0;
            size_t need = (size_t)(end + 4 - buf) + body;
            while (got < need && got < max - 1) {
                n = read(fd, buf + got, max - 1 - got);
                if (n <= 0) {
                    return -1;
                }
                got += (size_t)n;
            }
            buf[got] = '\0';
            return atoi(buf + 9);
        }
    }
    return -1;
}

static void record(double t, int ok)
{
    pthread_mutex_lock(&lock);
    if (ok) {
        lat[nlat++] = t;
    } else {
        errors++;
    }
    pthread_mutex_unlock(&lock);
}

static int attest_once(int fd, char *buf, size_t max)
{
    char req[8192];
    char nbody[128];
    int nlen = snprintf(nbody, sizeof nbody, "{\"device_id\":\"%s\"}", device_id);
    snprintf(req, sizeof req,
             "POST /v1/device/nonce HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
             "Content-Length: %d\r\n\r\n%s",
             nlen, nbody);
    if (roundtrip(fd, req, buf, max) != 200) {
        return -1;
    }
    char *n = strstr(buf, "\"nonce\":\"");
    uint8_t nonce[32];
    if (n == NULL || sodium_hex2bin(nonce, 32, n + 9, 64, NULL, NULL, NULL) != 0) {
        return -1;
    }
    struct nacre_attest_claims claims;
    struct nacre_attest_component c;
    memset(&c, 0, sizeof c);
    snprintf(c.name, sizeof c.name, "%s", boot.image.component);
    snprintf(c.version, sizeof c.version, "%u.%u.%u", boot.image.version.major,
             boot.image.version.minor, boot.image.version.patch);
    memcpy(c.measurement, boot.image.measurement, 32);
    memcpy(c.signer_id, boot.image.signer_key_id, 32);
    c.security_counter = boot.image.security_counter;
    uint8_t ev[NACRE_ATTEST_EVIDENCE_MAX];
    size_t ev_len = 0;
    pthread_mutex_lock(&lock); /* one pluton */
    int ok = nacre_attest_claims_init(&claims, pl, nonce, 32, (uint64_t)time(NULL)) ==
                 NACRE_ATTEST_OK &&
             nacre_attest_claims_add_component(&claims, &c) == NACRE_ATTEST_OK &&
             nacre_attest_evidence(pl, &claims, ev, sizeof ev, &ev_len) == NACRE_ATTEST_OK;
    pthread_mutex_unlock(&lock);
    if (!ok) {
        return -1;
    }
    char b64[4096];
    sodium_bin2base64(b64, sizeof b64, ev, ev_len, sodium_base64_VARIANT_ORIGINAL);
    char body[4400];
    int blen = snprintf(body, sizeof body, "{\"device_id\":\"%s\",\"evidence\":\"%s\"}", device_id,
                        b64);
    snprintf(req, sizeof req,
             "POST /v1/device/attest HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
             "Content-Length: %d\r\n\r\n%s",
             blen, body);
    double t0 = now_s();
    int st = roundtrip(fd, req, buf, max);
    record(now_s() - t0, st == 200);
    return st == 200 ? 0 : -1;
}

static void *worker(void *arg)
{
    (void)arg;
    char *buf = malloc(65536);
    int fd = connect_to();
    for (;;) {
        pthread_mutex_lock(&lock);
        size_t i = next_req < nreqs ? next_req++ : nreqs;
        pthread_mutex_unlock(&lock);
        if (i >= nreqs) {
            break;
        }
        if (fd < 0) {
            fd = connect_to();
        }
        if (mode_attest) {
            if (attest_once(fd, buf, 65536) != 0) {
                close(fd);
                fd = -1;
            }
            continue;
        }
        double t0 = now_s();
        int st = roundtrip(fd, reqs[i], buf, 65536);
        record(now_s() - t0, st == 200);
        if (st < 0) {
            close(fd);
            fd = -1;
        }
    }
    if (fd >= 0) {
        close(fd);
    }
    free(buf);
    return NULL;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a;
    double y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    if (argc != 7 || sodium_init() < 0) {
        fprintf(stderr, "usage: svcload update|attest DEVICE_DIR CERT.pem|DEVICE_ID PORT N T\n");
        return 2;
    }
    mode_attest = strcmp(argv[1], "attest") == 0;
    port = atoi(argv[4]);
    nreqs = (size_t)atol(argv[5]);
    int threads = atoi(argv[6]);
    struct nacre_board *board = NULL;
    const char *detail = NULL;
    pl = sodium_malloc(sizeof *pl);
    if (nacre_host_board_open(argv[2], &board, &detail) != NACRE_BOARD_OK ||
        nacre_pluton_init(pl, board) != NACRE_PLUTON_OK ||
        nacre_boot_attach(pl, board, NULL, &boot) != NACRE_UPDATE_OK) {
        fprintf(stderr, "svcload: cannot open the device\n");
        return 1;
    }
    lat = calloc(nreqs, sizeof *lat);
    if (mode_attest) {
        device_id = argv[3];
    } else {
        FILE *f = fopen(argv[3], "rb");
        char pem[8192];
        size_t pem_len = f != NULL ? fread(pem, 1, sizeof pem, f) : 0;
        if (f != NULL) {
            fclose(f);
        }
        uint8_t der[4096];
        size_t der_len = 0;
        uint8_t id_pk[32];
        char id[65];
        if (nacre_ca_cert_der((uint8_t *)pem, pem_len, der, sizeof der, &der_len) != NACRE_CA_OK ||
            nacre_pluton_key_public(pl, NACRE_PLUTON_KEY_DEVICE_ID, id_pk) != NACRE_PLUTON_OK ||
            nacre_ca_device_id(id_pk, id) != NACRE_CA_OK) {
            fprintf(stderr, "svcload: bad certificate\n");
            return 1;
        }
        char cc[8192];
        char digest[256];
        char date[40];
        nacre_httpsig_client_cert_format(der, der_len, cc, sizeof cc);
        nacre_httpsig_content_digest("", 0, digest, sizeof digest);
        uint64_t t = (uint64_t)time(NULL);
        nacre_httpsig_date_format(t, date);
        reqs = calloc(nreqs, sizeof *reqs);
        for (size_t i = 0; i < nreqs; i++) {
            struct nacre_httpsig_params params;
            memset(&params, 0, sizeof params);
            params.created = t;
            memcpy(params.keyid, id, 65);
            nacre_httpsig_nonce(params.nonce);
            char input[256];
            char base[1024];
            char sigs[256];
            size_t base_len = 0;
            uint8_t sig[64];
            nacre_httpsig_input_format(&params, input, sizeof input);
            nacre_httpsig_base("GET", "/v1/device/update", date, digest, &params, base,
                               sizeof base, &base_len);
            if (nacre_pluton_sign(pl, NACRE_PLUTON_KEY_ALIAS, sig, base, base_len) !=
                NACRE_PLUTON_OK) {
                return 1;
            }
            nacre_httpsig_signature_format(sig, sigs, sizeof sigs);
            size_t n = strlen(cc) + 1024;
            reqs[i] = malloc(n);
            snprintf(reqs[i], n,
                     "GET /v1/device/update HTTP/1.1\r\nHost: x\r\nDate: %s\r\n"
                     "Content-Digest: %s\r\nClient-Cert: %s\r\nSignature-Input: %s\r\n"
                     "Signature: %s\r\n\r\n",
                     date, digest, cc, input, sigs);
        }
    }
    pthread_t *th = calloc((size_t)threads, sizeof *th);
    double t0 = now_s();
    for (int i = 0; i < threads; i++) {
        pthread_create(&th[i], NULL, worker, NULL);
    }
    for (int i = 0; i < threads; i++) {
        pthread_join(th[i], NULL);
    }
    double el = now_s() - t0;
    qsort(lat, nlat, sizeof *lat, cmp);
    printf("%s: %zu ok, %zu errors in %.2f s: %.0f/s; latency p50 %.2f ms, p99 %.2f ms\n",
           argv[1], nlat, errors, el, (double)nlat / el, nlat ? lat[nlat / 2] * 1e3 : 0.0,
           nlat ? lat[nlat * 99 / 100] * 1e3 : 0.0);
    return errors == 0 ? 0 : 1;
}
