/*
 * Fuzz target: nacre-service request bodies. The first byte picks the
 * parser (tenant, token, group, claim, device update, reason, nonce, attest,
 * deployment, install report, events); the rest is the JSON body as a
 * client sent it. Any input must give 0 or -1 with an error code, never a
 * crash; and what a parser accepts must satisfy the contract's rules.
 */
#include <stdlib.h>
#include <string.h>

#include "parse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(int ok)
{
    if (!ok) {
        abort();
    }
}

static union {
    struct svc_req_tenant tenant;
    struct svc_req_token token;
    struct svc_req_claim claim;
    struct svc_req_attest attest;
    struct svc_req_deployment deployment;
    struct svc_req_report report;
    struct svc_event events[SVC_EVENTS_MAX];
    char text[SVC_TEXT_MAX + 1];
    char id[65];
} out;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0) {
        return 0;
    }
    const char *body = (const char *)data + 1;
    size_t len = size - 1;
    struct svc_perr err = {0};
    size_t n = 0;
    int rc;
    switch (data[0] % 11) {
    case 0:
        rc = svc_parse_tenant(body, len, &out.tenant, &err);
        check(rc != 0 || svc_name_valid(out.tenant.name));
        break;
    case 1:
        rc = svc_parse_token(body, len, &out.token, &err);
        check(rc != 0 || strcmp(out.token.role, "admin") == 0 ||
              strcmp(out.token.role, "read-only") == 0);
        break;
    case 2:
        rc = svc_parse_group(body, len, out.text, &err);
        check(rc != 0 || svc_name_valid(out.text));
        break;
    case 3:
        rc = svc_parse_claim(body, len, &out.claim, &err);
        check(rc != 0 || out.claim.group[0] == '\0' || svc_name_valid(out.claim.group));
        break;
    case 4:
        rc = svc_parse_device_put(body, len, out.text, &err);
        break;
    case 5:
        rc = svc_parse_reason(body, len, out.text, &err);
        check(strlen(out.text) <= SVC_TEXT_MAX);
        break;
    case 6:
        rc = svc_parse_nonce(body, len, out.id, &err);
        check(rc != 0 || svc_id_valid(out.id));
        break;
    case 7:
        rc = svc_parse_attest(body, len, &out.attest, &err);
        check(rc != 0 || (out.attest.evidence_len > 0 &&
                          out.attest.evidence_len <= SVC_EVIDENCE_MAX));
        break;
    case 8:
        rc = svc_parse_deployment(body, len, &out.deployment, &err);
        if (rc == 0) {
            check(out.deployment.nwaves >= 1 && out.deployment.nwaves <= SVC_WAVES_MAX);
            for (unsigned i = 0; i < out.deployment.nwaves; i++) {
                check(out.deployment.waves[i] >= 1 && out.deployment.waves[i] <= 100);
                check(i == 0 || out.deployment.waves[i] > out.deployment.waves[i - 1]);
            }
            check(out.deployment.max_failure_rate >= 0.0 &&
                  out.deployment.max_failure_rate <= 1.0);
        }
        break;
    case 9:
        rc = svc_parse_report(body, len, &out.report, &err);
        check(rc != 0 || out.report.deployment_id > 0);
        break;
    default:
        rc = svc_parse_events(body, len, out.events, &n, &err);
        check(n <= SVC_EVENTS_MAX && (rc == 0 || n == 0));
        for (size_t i = 0; i < n; i++) {
            check(svc_event_type_name(out.events[i].type) != NULL);
            check(strlen(out.events[i].detail) <= SVC_EVENT_DETAIL_MAX);
        }
        break;
    }
    check(rc == 0 || (err.code != NULL && err.field[0] != '\0'));
    return 0;
}
