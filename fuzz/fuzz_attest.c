/*
 * Fuzz target: nacre_attest_verify and nacre_attest_cose_verify on arbitrary
 * bytes. Evidence comes from the network, from a device that may be
 * anything but honest.
 *
 * The policy below is that of the seed corpus (corpus/attest/): evidence
 * from the golden device of tests/attest (fixed entropy seed, image
 * "thermostat" 1.2.3 with security counter 5), nonce 00 01 .. 1f, and two
 * reference values (the thermostat image and a "radio" 0.9.0 component), so
 * mutations of the seeds get past the structure into the signature, claim
 * and policy checks. The seeds are written by
 * NACRE_WRITE_FUZZ_SEEDS=fuzz/corpus/attest test_attest_evidence tests/attest,
 * which also prints the constants below.
 *
 * The target aborts if verify passes for any input that is not
 * byte-identical to one of the four valid seed evidences (their BLAKE2b-256
 * digests are below): there is exactly one valid encoding and the
 * signatures bind it, so no mutation may pass. It also aborts if the status
 * and the failure bits disagree, if decoded claims are out of range, or if
 * cose_verify hands out a payload outside its input. Reads outside the input
 * are caught by ASan (the input is an exactly-sized heap buffer).
 */
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include <nacre/attest.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char device_id_pk_hex[] = "a213b5573fc57186afa1fbbee00797ba69854d712587dd3c1f6704537addd7a6";
static const char alias_pk_hex[] = "d81274a15ee59bfbe7a40a0f195ae20d74c8b77934cae6db7ab067f61c048f69";
static const char measurement_hex[] = "4b1c45bea1b0263b3441079a9669e64decdc1530a63abb085bf4daafae0aae0b";
static const char signer_id_hex[] = "7ffc350884b9664283e3c215e23a1b64ba94bc4a3ef292783239f07350b15f93";

/* BLAKE2b-256 of the valid evidences: evidence-golden, -no-iat, -max-iat,
 * -two-components. */
static const char *const valid_hex[] = {
    "8bfa261f51b6ca5c04dc95ff03d7b2549622fdf6da24e3693d810afccebb4d10",
    "139ef2b80d46ba5df862c6ae96ddb6208e4b06ba92371d636e153166fe1bd02a",
    "db161647e697007991eee0a7451ef33f773a8e60d9243803478920c1f43dd09e",
    "6c3fc97dac4032371d6295ec003ed8abb40e8e8f47467da55da02dabfd454af0",
};
#define VALID_COUNT (sizeof valid_hex / sizeof valid_hex[0])

static uint8_t device_id_pk[32], alias_pk[32];
static uint8_t valid[VALID_COUNT][32];
static uint8_t nonce[32];
static struct nacre_attest_ref refs[2];
static int ready;

static void unhex(uint8_t *out, size_t n, const char *hex)
{
    size_t len = 0;
    if (sodium_hex2bin(out, n, hex, strlen(hex), NULL, &len, NULL) != 0 || len != n) {
        abort();
    }
}

static void setup(void)
{
    if (sodium_init() < 0) {
        abort();
    }
    unhex(device_id_pk, 32, device_id_pk_hex);
    unhex(alias_pk, 32, alias_pk_hex);
    for (size_t i = 0; i < VALID_COUNT; i++) {
        unhex(valid[i], 32, valid_hex[i]);
    }
    for (unsigned i = 0; i < sizeof nonce; i++) {
        nonce[i] = (uint8_t)i;
    }
    memset(refs, 0, sizeof refs);
    strcpy(refs[0].name, "thermostat");
    strcpy(refs[0].version, "1.2.3");
    unhex(refs[0].measurement, 32, measurement_hex);
    unhex(refs[0].signer_id, 32, signer_id_hex);
    refs[0].security_counter = 5;
    strcpy(refs[1].name, "radio");
    strcpy(refs[1].version, "0.9.0");
    memset(refs[1].measurement, 0x5A, 32);
    memset(refs[1].signer_id, 0xA5, 32);
    refs[1].security_counter = 2;
    ready = 1;
}

static int is_seed(const uint8_t *data, size_t size)
{
    uint8_t d[32];
    crypto_generichash(d, sizeof d, data, size, NULL, 0);
    for (size_t i = 0; i < VALID_COUNT; i++) {
        if (memcmp(d, valid[i], 32) == 0) {
            return 1;
        }
    }
    return 0;
}

static void check_cose(const uint8_t *data, size_t size, const uint8_t pk[32])
{
    const uint8_t *payload = NULL;
    size_t payload_len = 0;
    nacre_attest_status st = nacre_attest_cose_verify(data, size, pk, &payload, &payload_len);
    if (st == NACRE_ATTEST_OK) {
        if (payload == NULL || payload < data || payload_len > size ||
            (size_t)(payload - data) > size - payload_len) {
            abort(); /* a payload outside the message */
        }
    } else if (payload != NULL || payload_len != 0) {
        abort(); /* a refusal must not hand out a payload */
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!ready) {
        setup();
    }
    struct nacre_attest_policy policy;
    struct nacre_attest_result result;
    memset(&policy, 0, sizeof policy);
    policy.device_id_pk = device_id_pk;
    policy.nonce = nonce;
    policy.nonce_len = sizeof nonce;
    policy.refs = refs;
    policy.ref_count = 2;
    policy.min_security_counter = 5;

    nacre_attest_status st = nacre_attest_verify(data, size, &policy, &result);
    if (st == NACRE_ATTEST_OK) {
        if (result.failures != 0 || !result.claims_valid || !is_seed(data, size)) {
            abort(); /* passed something that is not a seed's exact bytes */
        }
    } else if (st != NACRE_ATTEST_ERR_REFUSED || result.failures == 0) {
        abort(); /* a refusal without a reason, or another status */
    }
    if (result.claims_valid) {
        const struct nacre_attest_claims *c = &result.claims;
        if (c->nonce_len < NACRE_ATTEST_NONCE_MIN || c->nonce_len > NACRE_ATTEST_NONCE_MAX ||
            c->component_count > NACRE_ATTEST_COMPONENTS_MAX || c->lifecycle > 2) {
            abort();
        }
        for (unsigned i = 0; i < c->component_count; i++) {
            if (memchr(c->components[i].name, '\0', sizeof c->components[i].name) == NULL ||
                memchr(c->components[i].version, '\0', sizeof c->components[i].version) == NULL ||
                c->components[i].name[0] == '\0') {
                abort();
            }
        }
    }

    check_cose(data, size, alias_pk);
    check_cose(data, size, device_id_pk);
    return 0;
}
