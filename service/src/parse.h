/*
 * parse.h - nacre-service request parsing: pure functions from untrusted
 * bytes (a JSON body, a header value) to typed requests. No I/O, no global
 * state: the fuzz targets (fuzz/fuzz_service_*.c) call them directly.
 *
 * Every parser returns 0 on success, or -1 and fills *err with the API
 * error code ("malformed_json", "invalid_field", "invalid_name") and the
 * name of the offending field.
 */
#ifndef NACRE_SERVICE_PARSE_H
#define NACRE_SERVICE_PARSE_H

#include <stddef.h>
#include <stdint.h>

#include <nacre/httpsig.h>

#define SVC_NAME_MAX 40u        /* tenant and group names */
#define SVC_TEXT_MAX 200u       /* labels, reasons, details (bytes of UTF-8) */
#define SVC_WAVES_MAX 10u
#define SVC_EVENTS_MAX 256u
#define SVC_EVIDENCE_MAX 2048u  /* NACRE_ATTEST_EVIDENCE_MAX */
#define SVC_EVENT_DETAIL_MAX 64u

struct svc_perr {
    const char *code;
    char field[32];
};

/* 1..40 of [a-z0-9._-], starting with a letter or digit. */
int svc_name_valid(const char *s);
/* Exactly 2*n lowercase hex characters into n bytes. */
int svc_hex_decode(const char *hex, uint8_t *out, size_t n);
void svc_hex_encode(const uint8_t *in, size_t n, char *out);
/* A 64-lowercase-hex device / image id. */
int svc_id_valid(const char *s);

struct svc_req_tenant {
    char name[SVC_NAME_MAX + 1];
    uint8_t root_pk[32];
};
int svc_parse_tenant(const char *body, size_t len, struct svc_req_tenant *out, struct svc_perr *err);

struct svc_req_token {
    char role[16]; /* "admin" | "read-only" */
    char label[SVC_TEXT_MAX + 1];
};
int svc_parse_token(const char *body, size_t len, struct svc_req_token *out, struct svc_perr *err);

/* {"name"} */
int svc_parse_group(const char *body, size_t len, char name[SVC_NAME_MAX + 1],
                    struct svc_perr *err);

struct svc_req_claim {
    uint8_t pk[32];
    char group[SVC_NAME_MAX + 1]; /* "" = none */
    char label[SVC_TEXT_MAX + 1];
};
int svc_parse_claim(const char *body, size_t len, struct svc_req_claim *out, struct svc_perr *err);

/* PUT /v1/devices/{id}: {"group"} */
int svc_parse_device_put(const char *body, size_t len, char group[SVC_NAME_MAX + 1],
                         struct svc_perr *err);
/* {"reason"} (optional; an empty body is no reason) */
int svc_parse_reason(const char *body, size_t len, char reason[SVC_TEXT_MAX + 1],
                     struct svc_perr *err);

/* {"device_id"} */
int svc_parse_nonce(const char *body, size_t len, char device_id[65], struct svc_perr *err);

struct svc_req_attest {
    char device_id[65];
    uint8_t evidence[SVC_EVIDENCE_MAX];
    size_t evidence_len;
};
int svc_parse_attest(const char *body, size_t len, struct svc_req_attest *out, struct svc_perr *err);

struct svc_req_deployment {
    char group[SVC_NAME_MAX + 1];
    char image_id[65];
    unsigned waves[SVC_WAVES_MAX];
    unsigned nwaves;
    double max_failure_rate;
};
int svc_parse_deployment(const char *body, size_t len, struct svc_req_deployment *out,
                         struct svc_perr *err);

enum svc_install_result {
    SVC_INSTALLED = 0,
    SVC_CONFIRMED,
    SVC_REFUSED,
    SVC_REVERTED,
    SVC_FAILED,
};
const char *svc_install_result_name(enum svc_install_result r);
struct svc_req_report {
    int64_t deployment_id;
    char image_id[65];
    enum svc_install_result result;
    char detail[SVC_TEXT_MAX + 1];
};
int svc_parse_report(const char *body, size_t len, struct svc_req_report *out, struct svc_perr *err);

struct svc_event {
    int64_t seq;
    int64_t time;
    unsigned type;            /* nacre_secmon_event_type */
    char app[17];             /* 16 hex */
    int64_t code;
    uint64_t addr;
    char detail[SVC_EVENT_DETAIL_MAX + 1];
};
/* {"events": [...]} into out[0..SVC_EVENTS_MAX) */
int svc_parse_events(const char *body, size_t len, struct svc_event *out, size_t *n,
                     struct svc_perr *err);
/* The secmon name of an event type, or NULL; and back (0 = unknown). */
const char *svc_event_type_name(unsigned type);
unsigned svc_event_type_from_name(const char *name);

/*
 * Range header (RFC 9110 §14.1.2), one range only: "bytes=FIRST-[LAST]" or
 * "bytes=-SUFFIX". Returns 0 with [*first, *last] clamped to size; 1 if it
 * cannot be satisfied (416); -1 if malformed (the header is then ignored).
 */
int svc_range_parse(const char *value, uint64_t size, uint64_t *first, uint64_t *last);

/*
 * The five headers of a signed device request (docs/service-api.md), parsed
 * strictly with libnacre-httpsig: Signature-Input, Signature, Date and the
 * Client-Cert DER. Any missing (NULL) or malformed header is -1. The
 * Content-Digest value is only checked for presence here; the caller
 * compares it with the digest of the body.
 */
#define SVC_CERT_MAX 4096u /* NACRE_CA_CERT_MAX */
struct svc_signed_headers {
    struct nacre_httpsig_params params;
    uint8_t signature[64];
    uint64_t date;
    uint8_t cert[SVC_CERT_MAX];
    size_t cert_len;
};
int svc_parse_signed_headers(const char *date, const char *content_digest, const char *client_cert,
                             const char *signature_input, const char *signature,
                             struct svc_signed_headers *out);
/* The same in two steps: everything but Client-Cert (out->cert_len = 0), so
 * that a certificate already verified can be found by the hash of the
 * header's text without decoding it; then the Client-Cert DER. */
int svc_parse_signed_fields(const char *date, const char *content_digest,
                            const char *signature_input, const char *signature,
                            struct svc_signed_headers *out);
int svc_parse_client_cert(const char *client_cert, struct svc_signed_headers *out);

/*
 * The nonce claim (EAT key 10) of attestation evidence ([alias certificate,
 * token], docs/attestation.md), found without verifying anything: which
 * nonce the evidence claims, so that the service can check it is one it
 * issued and then ask nacre_attest_verify to require exactly it. 0 found,
 * -1 not found or malformed.
 */
int svc_evidence_nonce(const uint8_t *evidence, size_t len, uint8_t *nonce, size_t nonce_max,
                       size_t *nonce_len);

#endif /* NACRE_SERVICE_PARSE_H */
