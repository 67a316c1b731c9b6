/*
 * Fuzz target: the signed-request headers of a device request as
 * nacre-service reads them (Date, Content-Digest, Client-Cert,
 * Signature-Input, Signature; docs/service-api.md), then the certificate
 * the Client-Cert carries through libnacre-ca's parser, as the service does
 * before it checks the chain. The input is the five values separated by
 * newlines.
 */
#include <stdlib.h>
#include <string.h>

#include <nacre/ca.h>

#include "parse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct svc_signed_headers headers;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 16384) {
        return 0;
    }
    char *copy = malloc(size + 1);
    if (copy == NULL) {
        return 0;
    }
    memcpy(copy, data, size);
    copy[size] = '\0';
    const char *field[5] = {NULL, NULL, NULL, NULL, NULL};
    char *p = copy;
    for (int i = 0; i < 5 && p != NULL; i++) {
        field[i] = p;
        char *nl = strchr(p, '\n');
        if (nl != NULL) {
            *nl = '\0';
            p = nl + 1;
        } else {
            p = NULL;
        }
    }
    if (svc_parse_signed_headers(field[0], field[1], field[2], field[3], field[4], &headers) == 0) {
        if (headers.cert_len == 0 || headers.cert_len > sizeof headers.cert ||
            strlen(headers.params.keyid) != NACRE_HTTPSIG_KEYID_CHARS) {
            abort();
        }
        struct nacre_ca_cert_info info;
        (void)nacre_ca_cert_info(headers.cert, headers.cert_len, &info);
    }
    free(copy);
    return 0;
}
