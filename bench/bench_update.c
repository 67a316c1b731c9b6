/*
 * bench_update.c - libupdate against the raw libsodium work it does.
 *
 * Each row of the operation table pairs a libupdate call with the bare
 * libsodium call(s) doing the same cryptographic work, timed in the same
 * process:
 *
 *   verify-1M    nacre_image_verify, 1 MiB payload, root-signed
 *                vs crypto_generichash (BLAKE2b-256) over the payload
 *                   + one crypto_sign_ed25519_verify_detached over the tbs
 *   verify-16M   the same with a 16 MiB payload
 *   verify-1M-c  nacre_image_verify, 1 MiB, signed by a certified key
 *                vs the same + a second Ed25519 verify (the certificate)
 *   check        nacre_image_check (metadata only, root-signed)
 *                vs one crypto_sign_ed25519_verify_detached over the tbs:
 *                the fixed per-image cost, which the rows above dilute
 *
 * Beyond the raw work, nacre_image_verify parses the metadata, hashes the
 * ~200 to-be-signed bytes for the measurement and one or two public keys for
 * their ids; the target is that this stays within 5%: ratio <= 1.05.
 *
 * A second table times the hash primitives alone over 16 MiB (BLAKE2b-256,
 * SHA-256, SHA-512 from libsodium), the figures behind the choice of
 * BLAKE2b-256 for the payload digest (docs/image-format.md).
 *
 * Method (as bench_pluton, docs/performance.md): N is calibrated so that one
 * side of one round takes about ROUND_TARGET; ROUNDS rounds each time N
 * operations of every side back to back, the side that goes first rotating
 * by round; each side keeps its MINIMUM per-operation time over the rounds.
 * Timing never makes this program fail: it exits 1 only if an operation
 * returns an error.
 *
 * To add a row (e.g. installer throughput): write a raw and a libupdate
 * function taking a `void *` context, and add them to `pairs[]` in main().
 *
 * Usage: bench_update [--quick] [--json]
 *   --quick  fewer, shorter rounds (CI smoke test; figures are rough)
 *   --json   print the results as one JSON object instead of the tables
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include <malloc.h>

#include <nacre/image.h>
#include <nacre/update.h>

#include "bench_harness.h"
#include "test_support.h"

#define TARGET_RATIO 1.05
#define MIB (1024u * 1024u)

/* One signed image in memory, and what the raw side needs to redo its work. */
struct image_case {
    uint8_t *image;
    size_t len;
    struct nacre_image_policy policy;
    /* raw side: pointers into image */
    const uint8_t *payload;
    size_t payload_len;
    const uint8_t *tbs;
    size_t tbs_len;
    const uint8_t *sig;
    const uint8_t *signer_pk;
    const uint8_t *cert; /* NULL if root-signed */
    size_t payload_offset;
    uint8_t expected_digest[crypto_generichash_BYTES];
};

struct bench {
    uint8_t root_seed[32], root_pk[32], root_hash[32];
    uint8_t signer_seed[32], signer_pk[32];
    uint8_t cert[NACRE_KEYCERT_BYTES];
    struct image_case v1m, v16m, v1m_cert;
    uint8_t *hash_buf; /* for the primitive table */
    size_t hash_len;
};

static struct bench g_bench;

static void bench_cleanup(struct bench *b)
{
    struct image_case *cases[] = {&b->v1m, &b->v16m, &b->v1m_cert};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        free(cases[i]->image);
        cases[i]->image = NULL;
    }
    free(b->hash_buf);
    b->hash_buf = NULL;
    sodium_memzero(b->root_seed, sizeof b->root_seed);
    sodium_memzero(b->signer_seed, sizeof b->signer_seed);
}

static void die_update(const char *what, nacre_update_status st)
{
    fprintf(stderr, "bench_update: %s failed: %s\n", what, nacre_update_strerror(st));
    bench_cleanup(&g_bench);
    exit(1);
}

static void die(const char *what)
{
    fprintf(stderr, "bench_update: %s failed\n", what);
    bench_cleanup(&g_bench);
    exit(1);
}

static void must(nacre_update_status st, const char *what)
{
    if (st != NACRE_UPDATE_OK) {
        die_update(what, st);
    }
}

/* ---- the operations (each returns normally or exits) ------------------------- */


static void raw_verify(void *ctx)
{
    const struct image_case *c = ctx;
    uint8_t digest[crypto_generichash_BYTES];
    if (c->cert != NULL &&
        crypto_sign_ed25519_verify_detached(c->cert + 80, c->cert, 80, c->cert + 16) != 0) {
        die("crypto_sign_ed25519_verify_detached (certificate)");
    }
    if (crypto_sign_ed25519_verify_detached(c->sig, c->tbs, c->tbs_len, c->signer_pk) != 0) {
        die("crypto_sign_ed25519_verify_detached");
    }
    if (crypto_generichash(digest, sizeof digest, c->payload, c->payload_len, NULL, 0) != 0 ||
        memcmp(digest, c->expected_digest, sizeof digest) != 0) {
        die("crypto_generichash");
    }
}

static void nacre_verify(void *ctx)
{
    struct image_case *c = ctx;
    struct nacre_image_info info;
    nacre_update_status st = nacre_image_verify(c->image, c->len, &c->policy, &info);
    if (st != NACRE_UPDATE_OK) {
        die_update("nacre_image_verify", st);
    }
}

static void raw_check(void *ctx)
{
    const struct image_case *c = ctx;
    if (crypto_sign_ed25519_verify_detached(c->sig, c->tbs, c->tbs_len, c->signer_pk) != 0) {
        die("crypto_sign_ed25519_verify_detached");
    }
}

static void nacre_check(void *ctx)
{
    struct image_case *c = ctx;
    struct nacre_image_info info;
    nacre_update_status st = nacre_image_check(c->image, c->payload_offset, &c->policy, &info);
    if (st != NACRE_UPDATE_OK) {
        die_update("nacre_image_check", st);
    }
}

static void hash_blake2b(void *ctx)
{
    const struct bench *b = ctx;
    uint8_t out[32];
    if (crypto_generichash(out, sizeof out, b->hash_buf, b->hash_len, NULL, 0) != 0) {
        die("crypto_generichash");
    }
}

static void hash_sha256(void *ctx)
{
    const struct bench *b = ctx;
    uint8_t out[crypto_hash_sha256_BYTES];
    if (crypto_hash_sha256(out, b->hash_buf, b->hash_len) != 0) {
        die("crypto_hash_sha256");
    }
}

static void hash_sha512(void *ctx)
{
    const struct bench *b = ctx;
    uint8_t out[crypto_hash_sha512_BYTES];
    if (crypto_hash_sha512(out, b->hash_buf, b->hash_len) != 0) {
        die("crypto_hash_sha512");
    }
}

/* ---- timing ------------------------------------------------------------------ */

/* ---- the tables ---------------------------------------------------------------- */

struct pair {
    const char *name;
    const char *what;
    bench_op raw;
    bench_op nacre;
    void *ctx;
    size_t bytes; /* payload bytes per operation, for MiB/s */
    double max_ratio; /* target: nacre time / raw time at most this */
    /* results */
    unsigned long n;
    double raw_s;   /* min seconds per op */
    double nacre_s; /* min seconds per op */
};

struct prim {
    const char *name;
    bench_op op;
    double s;
};

/* ---- setup ---------------------------------------------------------------------- */

static void make_image(struct bench *b, struct image_case *c, size_t payload_len, int use_cert)
{
    struct nacre_image_params params;
    memset(&params, 0, sizeof params);
    params.component = "bench";
    params.version = (struct nacre_image_version){1, 0, 0};
    params.security_counter = 1;
    memcpy(params.signer_pk, use_cert ? b->signer_pk : b->root_pk, 32);
    uint8_t *payload = malloc(payload_len);
    if (payload == NULL) {
        die("malloc");
    }
    randombytes_buf(payload, payload_len);
    nacre_update_status st = nacre_image_create(&c->image, &c->len, payload, payload_len, &params);
    free(payload);
    must(st, "nacre_image_create");
    must(nacre_image_sign(c->image, c->len, use_cert ? b->signer_seed : b->root_seed,
                          use_cert ? b->cert : NULL),
         "nacre_image_sign");

    memset(&c->policy, 0, sizeof c->policy);
    c->policy.root_key_hash = b->root_hash;
    struct nacre_image_info info;
    must(nacre_image_verify(c->image, c->len, &c->policy, &info), "nacre_image_verify");

    /* The raw side's inputs, located by the documented layout. */
    must(nacre_image_tbs(c->image, c->len, &c->tbs, &c->tbs_len), "nacre_image_tbs");
    c->payload = c->image + info.payload_offset;
    c->payload_offset = info.payload_offset;
    c->payload_len = info.payload_size;
    c->sig = c->image + c->tbs_len + 4;
    c->signer_pk = use_cert ? b->signer_pk : b->root_pk;
    c->cert = use_cert ? c->image + c->tbs_len + 4 + NACRE_IMAGE_SIGNATURE_BYTES + 4 : NULL;
    memcpy(c->expected_digest, info.payload_digest, sizeof c->expected_digest);
    if (c->cert != NULL && memcmp(c->cert, b->cert, NACRE_KEYCERT_BYTES) != 0) {
        die("certificate location");
    }
    raw_verify(c); /* the raw side accepts the same image */
}

static void bench_setup(struct bench *b)
{
    randombytes_buf(b->root_seed, sizeof b->root_seed);
    randombytes_buf(b->signer_seed, sizeof b->signer_seed);
    uint8_t sk[crypto_sign_ed25519_SECRETKEYBYTES];
    if (crypto_sign_ed25519_seed_keypair(b->root_pk, sk, b->root_seed) != 0 ||
        crypto_sign_ed25519_seed_keypair(b->signer_pk, sk, b->signer_seed) != 0) {
        sodium_memzero(sk, sizeof sk);
        die("crypto_sign_ed25519_seed_keypair");
    }
    sodium_memzero(sk, sizeof sk);
    nacre_image_key_id(b->root_hash, b->root_pk);
    must(nacre_keycert_create(b->cert, b->root_seed, b->signer_pk, 1), "nacre_keycert_create");

    make_image(b, &b->v1m, 1 * MIB, 0);
    make_image(b, &b->v16m, 16 * MIB, 0);
    make_image(b, &b->v1m_cert, 1 * MIB, 1);

    b->hash_len = 16 * MIB;
    b->hash_buf = malloc(b->hash_len);
    if (b->hash_buf == NULL) {
        die("malloc");
    }
    randombytes_buf(b->hash_buf, b->hash_len);
}

/* ---- the streaming installer on a host device -------------------------------------
 * Raw side: what any installer must do with the same bytes on the same flash:
 * erase the sectors, program the image in the same chunks, BLAKE2b the bytes.
 * libupdate side: nacre_install_begin / write (same chunks) / finish, which
 * also verifies the metadata, records progress in the journal and commits.
 */
#define INSTALL_CHUNK 4096u

struct install_case {
    struct nacre_test_device dev;
    const struct image_case *img;
    size_t heap_delta; /* bytes allocated on the heap during one install */
};

static struct install_case g_install;
static nacre_installer g_installer;

static void raw_install(void *ctx)
{
    struct install_case *c = ctx;
    struct nacre_flash_area area;
    if (nacre_board_flash_area(c->dev.board, NACRE_FLASH_AREA_SLOT_A, &area) != NACRE_BOARD_OK) {
        die("flash_area");
    }
    size_t len = c->img->len;
    size_t span = (len + area.sector_size - 1) / area.sector_size * area.sector_size;
    if (nacre_board_flash_erase(c->dev.board, NACRE_FLASH_AREA_SLOT_A, 0, span) != NACRE_BOARD_OK) {
        die("flash_erase");
    }
    crypto_generichash_blake2b_state h;
    uint8_t digest[32];
    crypto_generichash_blake2b_init(&h, NULL, 0, sizeof digest);
    for (size_t off = 0; off < len; off += INSTALL_CHUNK) {
        size_t n = len - off < INSTALL_CHUNK ? len - off : INSTALL_CHUNK;
        size_t aligned = (n + area.write_size - 1) / area.write_size * area.write_size;
        /* The last chunk may need padding to the write unit, as the installer pads it. */
        static uint8_t pad[INSTALL_CHUNK];
        const uint8_t *src = c->img->image + off;
        if (aligned != n) {
            memset(pad, 0xFF, aligned);
            memcpy(pad, src, n);
            src = pad;
        }
        if (nacre_board_flash_write(c->dev.board, NACRE_FLASH_AREA_SLOT_A, (uint32_t)off, src,
                                    aligned) != NACRE_BOARD_OK) {
            die("flash_write");
        }
        crypto_generichash_blake2b_update(&h, c->img->image + off, n);
    }
    crypto_generichash_blake2b_final(&h, digest, sizeof digest);
}

static void nacre_install(void *ctx)
{
    struct install_case *c = ctx;
    uint32_t from = 0;
    static const struct nacre_update_config cfg = {"bench", 0};
    must(nacre_install_begin(&g_installer, c->dev.p, c->dev.board, &cfg, &from), "nacre_install_begin");
    for (size_t off = from; off < c->img->len; off += INSTALL_CHUNK) {
        size_t n = c->img->len - off < INSTALL_CHUNK ? c->img->len - off : INSTALL_CHUNK;
        must(nacre_install_write(&g_installer, c->img->image + off, n), "nacre_install_write");
    }
    must(nacre_install_finish(&g_installer, NULL), "nacre_install_finish");
}

/* A host device whose slots hold the 1 MiB image, provisioned with the bench root key. */
static void install_setup(struct bench *b)
{
    struct nacre_host_geometry g;
    nacre_host_geometry_default(&g);
    g.area_sectors[NACRE_FLASH_AREA_SLOT_A] = 288; /* 1.125 MiB */
    g.area_sectors[NACRE_FLASH_AREA_SLOT_B] = 288;
    nacre_test_device_new_geometry(&g_install.dev, "bench-install", NULL, 0, &g);
    if (nacre_pluton_provision(g_install.dev.p, b->root_hash) != NACRE_PLUTON_OK) {
        die("provision");
    }
    g_install.img = &b->v1m;
    /* Heap used by one install: the installer must not allocate. */
    struct mallinfo2 before = mallinfo2();
    nacre_install(&g_install);
    struct mallinfo2 after = mallinfo2();
    g_install.heap_delta = after.uordblks > before.uordblks ? after.uordblks - before.uordblks : 0;
}

/* ---- output ------------------------------------------------------------------- */

/* MiB/s of `bytes` per operation (0 for rows that process no payload). */
static double mib_s(size_t bytes, double s)
{
    return (double)bytes / (double)MIB / s;
}

static void print_table(const struct pair *pairs, size_t np, const struct prim *prims, size_t nprim,
                        size_t prim_bytes, long nproc, unsigned rounds, double target, int quick)
{
    printf("libupdate vs raw libsodium%s\n", quick ? " (--quick: rough figures)" : "");
    printf("machine: %ld online CPUs, libsodium %s; %u rounds of ~%.0f ms per side, "
           "min per-op time kept\n\n",
           nproc, sodium_version_string(), rounds, target * 1e3);
    printf("%-12s %-46s %10s %10s %10s %11s %7s  %s\n", "op", "what", "raw us/op", "raw MiB/s",
           "nacre us", "nacre MiB/s", "ratio", "target");
    for (size_t i = 0; i < np; i++) {
        const struct pair *r = &pairs[i];
        double ratio = r->nacre_s / r->raw_s;
        char raw_rate[32] = "-", nacre_rate[32] = "-";
        if (r->bytes > 0) {
            snprintf(raw_rate, sizeof raw_rate, "%.0f", mib_s(r->bytes, r->raw_s));
            snprintf(nacre_rate, sizeof nacre_rate, "%.0f", mib_s(r->bytes, r->nacre_s));
        }
        printf("%-12s %-46s %10.1f %10s %10.1f %11s %6.3fx  <= %.2f %s\n", r->name, r->what,
               r->raw_s * 1e6, raw_rate, r->nacre_s * 1e6, nacre_rate, ratio, r->max_ratio,
               ratio <= r->max_ratio ? "ok" : "MISSES TARGET");
    }
    printf("\nhash primitives over %zu MiB (libsodium)\n", prim_bytes / MIB);
    printf("%-12s %10s %9s %12s\n", "hash", "ms/op", "MiB/s", "vs blake2b");
    for (size_t i = 0; i < nprim; i++) {
        printf("%-12s %10.3f %9.0f %11.2fx\n", prims[i].name, prims[i].s * 1e3,
               mib_s(prim_bytes, prims[i].s), prims[i].s / prims[0].s);
    }
}

static void print_json(const struct pair *pairs, size_t np, const struct prim *prims, size_t nprim,
                       size_t prim_bytes, long nproc, unsigned rounds, double target, int quick)
{
    printf("{\n  \"machine\": {\"nproc\": %ld, \"libsodium\": \"%s\"},\n", nproc,
           sodium_version_string());
    printf("  \"quick\": %s,\n  \"rounds\": %u,\n  \"round_target_ms\": %.1f,\n",
           quick ? "true" : "false", rounds, target * 1e3);
    printf("  \"results\": [\n");
    for (size_t i = 0; i < np; i++) {
        const struct pair *r = &pairs[i];
        double ratio = r->nacre_s / r->raw_s;
        printf("    {\"op\": \"%s\", \"what\": \"%s\", \"bytes\": %zu, \"iterations_per_round\": %lu, "
               "\"raw_us\": %.2f, \"raw_mib_per_s\": %.1f, \"nacre_us\": %.2f, "
               "\"nacre_mib_per_s\": %.1f, \"ratio\": %.4f, \"max_ratio\": %.2f, "
               "\"meets_target\": %s}%s\n",
               r->name, r->what, r->bytes, r->n, r->raw_s * 1e6, mib_s(r->bytes, r->raw_s),
               r->nacre_s * 1e6, mib_s(r->bytes, r->nacre_s), ratio, r->max_ratio,
               ratio <= r->max_ratio ? "true" : "false", i + 1 < np ? "," : "");
    }
    printf("  ],\n  \"hashes\": {\"bytes\": %zu, \"results\": [\n", prim_bytes);
    for (size_t i = 0; i < nprim; i++) {
        printf("    {\"hash\": \"%s\", \"ms\": %.4f, \"mib_per_s\": %.1f}%s\n", prims[i].name,
               prims[i].s * 1e3, mib_s(prim_bytes, prims[i].s), i + 1 < nprim ? "," : "");
    }
    printf("  ]}\n}\n");
}

static void usage(FILE *out)
{
    fprintf(out, "usage: bench_update [--quick] [--json]\n");
}

int main(int argc, char **argv)
{
    int quick = 0;
    int json = 0;
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
        fprintf(stderr, "bench_update: sodium_init failed\n");
        return 1;
    }

    unsigned rounds = quick ? 2u : 7u;
    double target = quick ? 0.005 : 0.060; /* seconds per side per round */
    long nproc = sysconf(_SC_NPROCESSORS_ONLN);

    struct bench *b = &g_bench;
    bench_setup(b);
    install_setup(b);

    struct pair pairs[] = {
        {"verify-1M", "nacre_image_verify vs blake2b + ed25519_verify", raw_verify, nacre_verify,
         &b->v1m, 1 * MIB, TARGET_RATIO, 0, 0.0, 0.0},
        {"verify-16M", "nacre_image_verify vs blake2b + ed25519_verify", raw_verify, nacre_verify,
         &b->v16m, 16 * MIB, TARGET_RATIO, 0, 0.0, 0.0},
        {"verify-1M-c", "certified key: vs blake2b + 2 x ed25519_verify", raw_verify, nacre_verify,
         &b->v1m_cert, 1 * MIB, TARGET_RATIO, 0, 0.0, 0.0},
        {"check", "nacre_image_check (metadata) vs ed25519_verify", raw_check, nacre_check, &b->v1m,
         0, TARGET_RATIO, 0, 0.0, 0.0},
        /* Throughput >= 0.8x of raw means time <= 1.25x. */
        {"install-1M", "streaming install vs erase + write + blake2b", raw_install, nacre_install,
         &g_install, 1 * MIB, 1.25, 0, 0.0, 0.0},
    };
    struct prim prims[] = {
        {"blake2b-256", hash_blake2b, 0.0},
        {"sha256", hash_sha256, 0.0},
        {"sha512", hash_sha512, 0.0},
    };
    const size_t np = sizeof pairs / sizeof pairs[0];
    const size_t nprim = sizeof prims / sizeof prims[0];

    double t0 = bench_now();
    for (size_t i = 0; i < np; i++) {
        bench_op ops[2] = {pairs[i].raw, pairs[i].nacre};
        double min_s[2] = {0.0, 0.0};
        pairs[i].n = bench_interleaved(ops, pairs[i].ctx, 2, min_s, rounds, target);
        pairs[i].raw_s = min_s[0];
        pairs[i].nacre_s = min_s[1];
    }
    bench_op hops[BENCH_MAX_SIDES];
    double hmin[BENCH_MAX_SIDES] = {0.0};
    for (size_t i = 0; i < nprim; i++) {
        hops[i] = prims[i].op;
    }
    (void)bench_interleaved(hops, b, nprim, hmin, rounds, target);
    for (size_t i = 0; i < nprim; i++) {
        prims[i].s = hmin[i];
    }
    double total = bench_now() - t0;
    size_t prim_bytes = b->hash_len;
    size_t heap_delta = g_install.heap_delta;
    nacre_test_device_free(&g_install.dev);
    bench_cleanup(b);

    if (json) {
        print_json(pairs, np, prims, nprim, prim_bytes, nproc, rounds, target, quick);
    } else {
        print_table(pairs, np, prims, nprim, prim_bytes, nproc, rounds, target, quick);
        printf("\ninstaller memory: state %zu bytes (nacre_installer, static) + the caller's "
               "chunk (%u bytes here); heap allocated during a 1 MiB install: %zu bytes\n",
               sizeof(nacre_installer), INSTALL_CHUNK, heap_delta);
        printf("\ntotal measuring time %.1f s\n", total);
    }
    return 0;
}
