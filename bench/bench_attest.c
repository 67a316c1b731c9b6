/*
 * bench_attest.c - libattest against the raw Ed25519 work it cannot avoid.
 *
 *   token     nacre_attest_token (claims with one component, 32-byte nonce)
 *             vs crypto_sign_ed25519_detached over a message as long as the
 *             token's Sig_structure
 *   evidence  nacre_attest_evidence (Alias certificate + token: two
 *             signatures) vs two crypto_sign_ed25519_detached over messages
 *             as long as the two Sig_structures
 *   verify    nacre_attest_verify of that evidence (two Ed25519
 *             verifications, plus decoding, re-encoding, hashing and the
 *             policy checks) vs two crypto_sign_ed25519_verify_detached over
 *             messages as long as the two Sig_structures
 *
 * The raw sides are what any implementation of the same format must spend at
 * least: the ratio is the price of everything else (CBOR, COSE, claims,
 * libpluton's key handles). The target is <= 1.20.
 *
 * Method (as bench_pluton, docs/performance.md): N calibrated so that one
 * side of one round takes about ROUND_TARGET; ROUNDS rounds, each timing N
 * raw and N libattest operations back to back, the side that goes first
 * alternating; the minimum per-operation time over the rounds is kept.
 * Timing never makes the program fail; an operation error does (exit 1).
 *
 * Usage: bench_attest [--quick] [--json]
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include <nacre/attest.h>
#include <nacre/pluton.h>

#include "test_support.h"

#include "bench_harness.h"

#define TARGET_RATIO 1.20
#define EVIDENCE_BUF 2048u
/*
 * A COSE_Sign1 here is D2 84 | 43 A1 01 27 | A1 04 58 20 kid(32) | payload |
 * 58 40 sig(64); its Sig_structure is 84 | 6A "Signature1" | 43 A1 01 27 | 40 |
 * payload. So the Sig_structure is 1 + 36 + 66 - 11 - 1 = 91 bytes shorter
 * (docs/attestation.md).
 */
#define SIGN1_MINUS_TBS 91u

struct bench {
    struct nacre_test_device d;
    int have_device;
    struct nacre_attest_claims claims;
    struct nacre_attest_ref ref;
    struct nacre_attest_policy policy;
    uint8_t nonce[32];
    uint8_t device_pk[32];
    uint8_t token[EVIDENCE_BUF];
    size_t token_len;
    uint8_t cert[EVIDENCE_BUF];
    size_t cert_len;
    uint8_t evidence[EVIDENCE_BUF];
    size_t evidence_len;
    uint8_t out[EVIDENCE_BUF];

    /* raw side: two key pairs and two messages of the Sig_structure sizes */
    uint8_t pk1[32], sk1[64], pk2[32], sk2[64];
    uint8_t msg1[EVIDENCE_BUF], msg2[EVIDENCE_BUF];
    size_t msg1_len, msg2_len; /* certificate, token */
    uint8_t sig1[64], sig2[64], scratch_sig[64];
};

static struct bench g_bench;

static void bench_cleanup(struct bench *b)
{
    if (b->have_device) {
        nacre_test_device_free(&b->d);
        b->have_device = 0;
    }
    sodium_memzero(b->sk1, sizeof b->sk1);
    sodium_memzero(b->sk2, sizeof b->sk2);
}

static void die(const char *what, const char *why)
{
    fprintf(stderr, "bench_attest: %s failed%s%s\n", what, why ? ": " : "", why ? why : "");
    bench_cleanup(&g_bench);
    exit(1);
}

static void must(nacre_attest_status st, const char *what)
{
    if (st != NACRE_ATTEST_OK) {
        die(what, nacre_attest_strerror(st));
    }
}

/* ---- the operations ------------------------------------------------------------ */


static void raw_token(void *ctx)
{
    struct bench *b = ctx;
    if (crypto_sign_ed25519_detached(b->scratch_sig, NULL, b->msg2, b->msg2_len, b->sk2) != 0) {
        die("crypto_sign_ed25519_detached", NULL);
    }
}

static void attest_token(void *ctx)
{
    struct bench *b = ctx;
    size_t len;
    must(nacre_attest_token(b->d.p, &b->claims, b->out, sizeof b->out, &len), "nacre_attest_token");
}

static void raw_evidence(void *ctx)
{
    struct bench *b = ctx;
    if (crypto_sign_ed25519_detached(b->scratch_sig, NULL, b->msg1, b->msg1_len, b->sk1) != 0 ||
        crypto_sign_ed25519_detached(b->scratch_sig, NULL, b->msg2, b->msg2_len, b->sk2) != 0) {
        die("crypto_sign_ed25519_detached", NULL);
    }
}

static void attest_evidence(void *ctx)
{
    struct bench *b = ctx;
    size_t len;
    must(nacre_attest_evidence(b->d.p, &b->claims, b->out, sizeof b->out, &len),
         "nacre_attest_evidence");
}

static void raw_verify(void *ctx)
{
    struct bench *b = ctx;
    if (crypto_sign_ed25519_verify_detached(b->sig1, b->msg1, b->msg1_len, b->pk1) != 0 ||
        crypto_sign_ed25519_verify_detached(b->sig2, b->msg2, b->msg2_len, b->pk2) != 0) {
        die("crypto_sign_ed25519_verify_detached", NULL);
    }
}

static void attest_verify(void *ctx)
{
    struct bench *b = ctx;
    struct nacre_attest_result res;
    if (nacre_attest_verify(b->evidence, b->evidence_len, &b->policy, &res) != NACRE_ATTEST_OK) {
        char why[32];
        snprintf(why, sizeof why, "failures 0x%x", (unsigned)res.failures);
        die("nacre_attest_verify", why);
    }
}

/* ---- timing ----------------------------------------------------------------- */

struct result {
    const char *name;
    const char *what;
    unsigned long n;
    double raw_s;
    double attest_s;
};

static void run_pair(struct result *r, bench_op raw, bench_op attest, struct bench *b,
                     unsigned rounds, double target)
{
    const bench_op ops[2] = {raw, attest};
    double min_s[2] = {0.0, 0.0};
    r->n = bench_interleaved(ops, b, 2, min_s, rounds, target);
    r->raw_s = min_s[0];
    r->attest_s = min_s[1];
}

/* ---- setup ------------------------------------------------------------------- */

static void bench_setup(struct bench *b)
{
    static const char firmware[] = "bench_attest firmware image";
    nacre_test_device_new(&b->d, "bench-attest", NULL, 1);
    b->have_device = 1;
    nacre_test_device_boot(&b->d, firmware);
    if (nacre_pluton_key_public(b->d.p, NACRE_PLUTON_KEY_DEVICE_ID, b->device_pk) != NACRE_PLUTON_OK) {
        die("nacre_pluton_key_public", NULL);
    }

    /* One component: the firmware R0 was extended with. */
    struct nacre_attest_component comp;
    memset(&comp, 0, sizeof comp);
    snprintf(comp.name, sizeof comp.name, "thermostat");
    snprintf(comp.version, sizeof comp.version, "1.2.3");
    crypto_generichash(comp.measurement, 32, (const uint8_t *)firmware, sizeof firmware - 1, NULL, 0);
    randombytes_buf(comp.signer_id, sizeof comp.signer_id);
    comp.security_counter = 0;
    randombytes_buf(b->nonce, sizeof b->nonce);
    must(nacre_attest_claims_init(&b->claims, b->d.p, b->nonce, sizeof b->nonce, 1767225600u),
         "nacre_attest_claims_init");
    must(nacre_attest_claims_add_component(&b->claims, &comp), "nacre_attest_claims_add_component");

    memset(&b->ref, 0, sizeof b->ref);
    memcpy(b->ref.name, comp.name, sizeof b->ref.name);
    memcpy(b->ref.version, comp.version, sizeof b->ref.version);
    memcpy(b->ref.measurement, comp.measurement, 32);
    memcpy(b->ref.signer_id, comp.signer_id, 32);
    memset(&b->policy, 0, sizeof b->policy);
    b->policy.device_id_pk = b->device_pk;
    b->policy.nonce = b->nonce;
    b->policy.nonce_len = sizeof b->nonce;
    b->policy.refs = &b->ref;
    b->policy.ref_count = 1;

    must(nacre_attest_token(b->d.p, &b->claims, b->token, sizeof b->token, &b->token_len),
         "nacre_attest_token");
    must(nacre_attest_dice_cert(b->d.p, b->cert, sizeof b->cert, &b->cert_len), "nacre_attest_dice_cert");
    must(nacre_attest_evidence(b->d.p, &b->claims, b->evidence, sizeof b->evidence, &b->evidence_len),
         "nacre_attest_evidence");
    attest_verify(b); /* it must pass before it is timed */

    /* The raw side signs and verifies messages of the Sig_structure sizes. */
    if (b->cert_len <= SIGN1_MINUS_TBS || b->token_len <= SIGN1_MINUS_TBS) {
        die("sizes", "COSE_Sign1 shorter than its fixed parts");
    }
    b->msg1_len = b->cert_len - SIGN1_MINUS_TBS;
    b->msg2_len = b->token_len - SIGN1_MINUS_TBS;
    randombytes_buf(b->msg1, b->msg1_len);
    randombytes_buf(b->msg2, b->msg2_len);
    if (crypto_sign_ed25519_keypair(b->pk1, b->sk1) != 0 ||
        crypto_sign_ed25519_keypair(b->pk2, b->sk2) != 0 ||
        crypto_sign_ed25519_detached(b->sig1, NULL, b->msg1, b->msg1_len, b->sk1) != 0 ||
        crypto_sign_ed25519_detached(b->sig2, NULL, b->msg2, b->msg2_len, b->sk2) != 0) {
        die("raw key set-up", NULL);
    }
}

/* ---- output ------------------------------------------------------------------- */

static void print_table(const struct bench *b, const struct result *res, size_t count, long nproc,
                        unsigned rounds, double target, int quick)
{
    printf("libattest vs raw Ed25519 (libsodium)%s\n", quick ? " (--quick: rough figures)" : "");
    printf("machine: %ld online CPUs, libsodium %s; %u rounds of ~%.0f ms per side, "
           "min per-op time kept\n",
           nproc, sodium_version_string(), rounds, target * 1e3);
    printf("sizes: token %zu B, Alias certificate %zu B, evidence %zu B; Sig_structures %zu B "
           "(certificate) and %zu B (token)\n\n",
           b->token_len, b->cert_len, b->evidence_len, b->msg1_len, b->msg2_len);
    printf("%-9s %-46s %10s %10s %10s %10s %7s  %s\n", "op", "what", "raw us/op", "raw ops/s",
           "attest us", "attest o/s", "ratio", "target <= 1.20");
    for (size_t i = 0; i < count; i++) {
        const struct result *r = &res[i];
        double ratio = r->attest_s / r->raw_s;
        printf("%-9s %-46s %10.2f %10.0f %10.2f %10.0f %6.3fx  %s\n", r->name, r->what,
               r->raw_s * 1e6, 1.0 / r->raw_s, r->attest_s * 1e6, 1.0 / r->attest_s, ratio,
               ratio <= TARGET_RATIO ? "ok" : "MISSES TARGET");
    }
}

static void print_json(const struct bench *b, const struct result *res, size_t count, long nproc,
                       unsigned rounds, double target, int quick)
{
    printf("{\n  \"machine\": {\"nproc\": %ld, \"libsodium\": \"%s\"},\n", nproc,
           sodium_version_string());
    printf("  \"quick\": %s,\n  \"rounds\": %u,\n  \"round_target_ms\": %.1f,\n",
           quick ? "true" : "false", rounds, target * 1e3);
    printf("  \"sizes\": {\"token\": %zu, \"certificate\": %zu, \"evidence\": %zu},\n", b->token_len,
           b->cert_len, b->evidence_len);
    printf("  \"target_ratio\": %.2f,\n  \"results\": [\n", TARGET_RATIO);
    for (size_t i = 0; i < count; i++) {
        const struct result *r = &res[i];
        double ratio = r->attest_s / r->raw_s;
        printf("    {\"op\": \"%s\", \"what\": \"%s\", \"iterations_per_round\": %lu, "
               "\"raw_us\": %.4f, \"attest_us\": %.4f, \"ratio\": %.4f, \"meets_target\": %s}%s\n",
               r->name, r->what, r->n, r->raw_s * 1e6, r->attest_s * 1e6, ratio,
               ratio <= TARGET_RATIO ? "true" : "false", i + 1 < count ? "," : "");
    }
    printf("  ]\n}\n");
}

static void usage(FILE *out)
{
    fprintf(out, "usage: bench_attest [--quick] [--json]\n");
}

int main(int argc, char **argv)
{
    int quick = 0, json = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--quick") == 0) {
            quick = 1;
        } else if (strcmp(argv[i], "--json") == 0) {
            json = 1;
        } else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            usage(stdout);
            return 0;
        } else {
            usage(stderr);
            return 2;
        }
    }
    if (sodium_init() < 0) {
        fprintf(stderr, "bench_attest: sodium_init failed\n");
        return 1;
    }
    unsigned rounds = quick ? 2u : 7u;
    double target = quick ? 0.005 : 0.060;
    long nproc = sysconf(_SC_NPROCESSORS_ONLN);

    struct bench *b = &g_bench;
    bench_setup(b);

    struct result res[] = {
        {"token", "nacre_attest_token vs 1 ed25519 sign", 0, 0.0, 0.0},
        {"evidence", "nacre_attest_evidence vs 2 ed25519 signs", 0, 0.0, 0.0},
        {"verify", "nacre_attest_verify vs 2 ed25519 verifies", 0, 0.0, 0.0},
    };
    const bench_op raw_ops[] = {raw_token, raw_evidence, raw_verify};
    const bench_op attest_ops[] = {attest_token, attest_evidence, attest_verify};
    const size_t count = sizeof res / sizeof res[0];

    double t0 = bench_now();
    for (size_t i = 0; i < count; i++) {
        run_pair(&res[i], raw_ops[i], attest_ops[i], b, rounds, target);
    }
    double total = bench_now() - t0;

    if (json) {
        print_json(b, res, count, nproc, rounds, target, quick);
    } else {
        print_table(b, res, count, nproc, rounds, target, quick);
        printf("\ntotal measuring time %.1f s\n", total);
    }
    bench_cleanup(b);
    return 0;
}
