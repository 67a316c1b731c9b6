/*
 * devreq.c - test helper: sign one device request the way the device agent
 * does (docs/service-api.md, "Devices: HTTP Message Signatures") and print
 * its five headers as one JSON object, for test_service.py to send.
 *
 *   devreq DEVICE_DIR CERT.pem METHOD PATH [BODY_FILE]
 *          [--created N] [--date N] [--nonce HEX32] [--keyid HEX64]
 *   devreq --ca-init DIR TENANT NOW
 *
 * The host device is opened like the nacre CLI does (board, pluton, boot
 * attach) and the signature base is signed with the Alias key inside
 * libpluton; libnacre-httpsig builds every field. --created / --date /
 * --nonce / --keyid override the honest values, to make stale, replayed or
 * mislabelled requests.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include <nacre/board_host.h>
#include <nacre/ca.h>
#include <nacre/httpsig.h>
#include <nacre/pluton.h>
#include <nacre/update.h>

static int die(const char *msg)
{
    fprintf(stderr, "devreq: %s\n", msg);
    return 1;
}

static unsigned char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        return NULL;
    }
    size_t cap = 1 << 20;
    unsigned char *buf = malloc(cap);
    *len = buf != NULL ? fread(buf, 1, cap, f) : 0;
    fclose(f);
    return buf;
}

int main(int argc, char **argv)
{
    /* devreq --ca-init DIR TENANT NOW: a tenant CA made in the past (for
     * expired certificates: the service reuses a CA it finds at tenant creation). */
    if (argc == 5 && strcmp(argv[1], "--ca-init") == 0) {
        return nacre_ca_init(argv[2], argv[3], (uint64_t)atoll(argv[4])) == NACRE_CA_OK
                   ? 0
                   : die("nacre_ca_init failed");
    }
    if (argc < 5) {
        return die("usage: devreq DEVICE_DIR CERT.pem METHOD PATH [BODY_FILE] [--created N]"
                   " [--date N] [--nonce HEX] [--keyid HEX]");
    }
    const char *dir = argv[1];
    const char *cert_path = argv[2];
    const char *method = argv[3];
    const char *path = argv[4];
    const char *body_path = NULL;
    long long created = -1;
    long long date = -1;
    const char *nonce = NULL;
    const char *keyid = NULL;
    for (int i = 5; i < argc; i++) {
        if (strcmp(argv[i], "--created") == 0 && i + 1 < argc) {
            created = atoll(argv[++i]);
        } else if (strcmp(argv[i], "--date") == 0 && i + 1 < argc) {
            date = atoll(argv[++i]);
        } else if (strcmp(argv[i], "--nonce") == 0 && i + 1 < argc) {
            nonce = argv[++i];
        } else if (strcmp(argv[i], "--keyid") == 0 && i + 1 < argc) {
            keyid = argv[++i];
        } else if (body_path == NULL && argv[i][0] != '-') {
            body_path = argv[i];
        } else {
            return die("bad argument");
        }
    }
    if (sodium_init() < 0) {
        return die("libsodium");
    }
    size_t body_len = 0;
    unsigned char *body = body_path != NULL ? read_file(body_path, &body_len) : NULL;
    if (body_path != NULL && body == NULL) {
        return die("cannot read the body");
    }
    size_t pem_len = 0;
    unsigned char *pem = read_file(cert_path, &pem_len);
    uint8_t der[NACRE_CA_CERT_MAX];
    size_t der_len = 0;
    if (pem == NULL || nacre_ca_cert_der(pem, pem_len, der, sizeof der, &der_len) != NACRE_CA_OK) {
        return die("cannot read the certificate");
    }
    free(pem);

    struct nacre_board *board = NULL;
    const char *detail = NULL;
    if (nacre_host_board_open(dir, &board, &detail) != NACRE_BOARD_OK) {
        return die("cannot open the device");
    }
    nacre_pluton *p = sodium_malloc(sizeof *p);
    if (p == NULL) {
        return die("out of memory");
    }
    memset(p, 0, sizeof *p);
    if (nacre_pluton_init(p, board) != NACRE_PLUTON_OK) {
        return die("pluton init failed");
    }
    struct nacre_boot_result running;
    if (nacre_boot_attach(p, board, NULL, &running) != NACRE_UPDATE_OK &&
        nacre_pluton_boot_complete(p) != NACRE_PLUTON_OK) {
        return die("boot failed");
    }
    uint8_t id_pk[32];
    char device_id[NACRE_CA_DEVICE_ID_CHARS + 1];
    if (nacre_pluton_key_public(p, NACRE_PLUTON_KEY_DEVICE_ID, id_pk) != NACRE_PLUTON_OK ||
        nacre_ca_device_id(id_pk, device_id) != NACRE_CA_OK) {
        return die("no DeviceID key");
    }

    uint64_t now = (uint64_t)time(NULL);
    struct nacre_httpsig_params params;
    memset(&params, 0, sizeof params);
    params.created = created >= 0 ? (uint64_t)created : now;
    snprintf(params.keyid, sizeof params.keyid, "%s", keyid != NULL ? keyid : device_id);
    if (nonce != NULL) {
        snprintf(params.nonce, sizeof params.nonce, "%s", nonce);
    } else {
        nacre_httpsig_nonce(params.nonce);
    }
    char date_s[NACRE_HTTPSIG_DATE_CHARS + 1];
    char digest[NACRE_HTTPSIG_FIELD_MAX];
    char input[NACRE_HTTPSIG_FIELD_MAX];
    char sig_s[NACRE_HTTPSIG_FIELD_MAX];
    char base[NACRE_HTTPSIG_BASE_MAX];
    char cc[2 * NACRE_CA_CERT_MAX];
    size_t base_len = 0;
    uint8_t sig[64];
    if (nacre_httpsig_date_format(date >= 0 ? (uint64_t)date : now, date_s) != 0 ||
        nacre_httpsig_content_digest(body != NULL ? body : (const unsigned char *)"", body_len,
                                     digest, sizeof digest) != 0 ||
        nacre_httpsig_input_format(&params, input, sizeof input) != 0 ||
        nacre_httpsig_base(method, path, date_s, digest, &params, base, sizeof base, &base_len) !=
            0 ||
        nacre_pluton_sign(p, NACRE_PLUTON_KEY_ALIAS, sig, base, base_len) != NACRE_PLUTON_OK ||
        nacre_httpsig_signature_format(sig, sig_s, sizeof sig_s) != 0 ||
        nacre_httpsig_client_cert_format(der, der_len, cc, sizeof cc) != 0) {
        return die("signing failed");
    }
    printf("{\"Date\": \"%s\", \"Content-Digest\": \"%s\", \"Client-Cert\": \"%s\","
           " \"Signature-Input\": \"",
           date_s, digest, cc);
    for (const char *c = input; *c != '\0'; c++) {
        if (*c == '"' || *c == '\\') {
            putchar('\\');
        }
        putchar(*c);
    }
    printf("\", \"Signature\": \"%s\"}\n", sig_s);
    nacre_pluton_deinit(p);
    sodium_free(p);
    nacre_host_board_close(board);
    free(body);
    return 0;
}
