/*
 * bench_secmon.c - request round trips through a real process boundary.
 *
 * The parent is secmon: a core on a fresh host device and a minimal serving
 * loop (blocking recv, nacre_secmon_core_handle, send) on one end of a
 * SOCK_SEQPACKET socketpair. A forked child is the app: it calls through
 * nacre_app_call on the other end, as a sandboxed app does, and times each
 * call's round trip with clock_gettime(CLOCK_MONOTONIC):
 *
 *   ping   PING with an empty payload: the cost of the boundary itself
 *          (two context switches, two 1 KiB copies, the codec, the rate
 *          limiter) - target p50 <= 15 us
 *   sign   SIGN of a 64-byte message with the app's key - target
 *          p50 <= 1.3x the raw signature
 *   raw    crypto_sign_ed25519_detached of the same 64 bytes, timed one by
 *          one in the same child, interleaved with the other two
 *
 * The three are run in interleaved blocks (ping, sign, raw, ping, ...) so
 * that frequency changes and noise hit all of them alike; p50 and p99 are
 * over every call. The raw signature's per-op time is also measured with
 * the shared harness (bench_harness.h: minimum over rounds) for comparison
 * with bench_pluton.
 *
 * Both processes are pinned to one CPU by default (the first one this
 * process may use): the app and secmon then hand the CPU to each other as
 * they would on a single-core device, and the figures do not depend on how
 * fast an idle CPU wakes up (on a 2-vCPU VM a cross-CPU wake-up costs
 * anything from 2 to 30 us each way, depending on the host's load).
 * --no-pin measures the unpinned case too; docs/performance.md has both.
 *
 * Timing never makes this program fail (a missed target prints "MISSES
 * TARGET"); it fails only if a call fails or a signature does not verify.
 *
 * Usage: bench_secmon [--quick] [--json] [--no-pin]
 */
#define _GNU_SOURCE /* sched_setaffinity, CPU_* */
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include <nacre/board_host.h>
#include <nacre/pluton.h>
#include <nacre/secmon.h>

#include "test_support.h"

#include "bench_harness.h"

#define MSG_BYTES 64u
#define BLOCK 250u
#define TARGET_PING_US 15.0
#define TARGET_SIGN_RATIO 1.3

enum { OP_PING, OP_SIGN, OP_RAW, OP_COUNT };
static const char *const op_names[OP_COUNT] = {"ping", "sign", "raw"};

/* Results the child writes for the parent (shared anonymous mapping). */
struct shared {
    int error; /* 0: all calls succeeded */
    char why[128];
    unsigned long n; /* calls per op; then OP_COUNT x n doubles (seconds per call) */
};

static size_t shared_size(unsigned long n)
{
    return sizeof(struct shared) + (size_t)OP_COUNT * n * sizeof(double);
}

static double *samples(struct shared *sh, int op)
{
    return (double *)(sh + 1) + (size_t)op * sh->n;
}

/* ---- the app (child) ------------------------------------------------------ */

static int child_fail(struct shared *sh, const char *what, nacre_secmon_status s)
{
    sh->error = 1;
    snprintf(sh->why, sizeof sh->why, "%s: %s", what, nacre_secmon_strerror(s));
    return 1;
}

static int run_app(int channel, struct shared *sh)
{
    uint8_t msg[MSG_BYTES], sig[64], ident[NACRE_SECMON_PAYLOAD_MAX];
    uint8_t raw_pk[32], raw_sk[64];
    size_t n = 0;
    randombytes_buf(msg, sizeof msg);
    crypto_sign_ed25519_keypair(raw_pk, raw_sk);

    /* The app's public key, and one checked signature. */
    nacre_secmon_status s =
        nacre_app_call(channel, NACRE_SECMON_CALL_IDENTITY, NULL, 0, ident, sizeof ident, &n, NULL);
    if (s != NACRE_SECMON_OK || n != 133) {
        return child_fail(sh, "identity", s);
    }
    s = nacre_app_call(channel, NACRE_SECMON_CALL_SIGN, msg, sizeof msg, sig, sizeof sig, &n, NULL);
    if (s != NACRE_SECMON_OK || n != 64 ||
        crypto_sign_ed25519_verify_detached(sig, msg, sizeof msg, ident + 64) != 0) {
        return child_fail(sh, "sign (verified with the IDENTITY app key)", s);
    }
    /* warm-up */
    for (unsigned i = 0; i < 200; i++) {
        s = nacre_app_call(channel, NACRE_SECMON_CALL_PING, NULL, 0, NULL, 0, NULL, NULL);
        if (s != NACRE_SECMON_OK) {
            return child_fail(sh, "ping", s);
        }
    }
    unsigned long done[OP_COUNT] = {0, 0, 0};
    while (done[OP_PING] < sh->n) {
        for (int op = 0; op < OP_COUNT; op++) {
            double *out = samples(sh, op);
            for (unsigned i = 0; i < BLOCK && done[op] < sh->n; i++) {
                double t0 = bench_now();
                if (op == OP_PING) {
                    s = nacre_app_call(channel, NACRE_SECMON_CALL_PING, NULL, 0, NULL, 0, NULL, NULL);
                } else if (op == OP_SIGN) {
                    s = nacre_app_call(channel, NACRE_SECMON_CALL_SIGN, msg, sizeof msg, sig, sizeof sig, &n,
                                       NULL);
                } else {
                    s = crypto_sign_ed25519_detached(sig, NULL, msg, sizeof msg, raw_sk) == 0
                            ? NACRE_SECMON_OK
                            : NACRE_SECMON_ERR_INTERNAL;
                }
                double t1 = bench_now();
                if (s != NACRE_SECMON_OK) {
                    return child_fail(sh, op_names[op], s);
                }
                out[done[op]++] = t1 - t0;
            }
        }
    }
    sodium_memzero(raw_sk, sizeof raw_sk);
    return 0;
}

/* ---- secmon (parent) -------------------------------------------------------- */

static void serve(struct nacre_secmon_core *core, unsigned app, int channel)
{
    uint8_t req[NACRE_SECMON_MSG_BYTES], resp[NACRE_SECMON_MSG_BYTES];
    for (;;) {
        ssize_t n = recv(channel, req, sizeof req, 0);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            return; /* the app closed its end */
        }
        int fd = -1;
        if (n != (ssize_t)sizeof req) {
            memset(req, 0, sizeof req); /* refused as malformed */
        }
        nacre_secmon_core_handle(core, app, (uint64_t)time(NULL), req, resp, &fd);
        if (fd >= 0) {
            close(fd);
        }
        if (send(channel, resp, sizeof resp, MSG_NOSIGNAL) != (ssize_t)sizeof resp) {
            return;
        }
    }
}

/* ---- statistics and output ----------------------------------------------------- */

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y ? 1 : 0;
}

static double percentile(const double *sorted, unsigned long n, double q)
{
    unsigned long i = (unsigned long)(q * (double)(n - 1) + 0.5);
    return sorted[i < n ? i : n - 1];
}

/* The same work without the process boundary: the core called directly. */
struct in_process {
    struct nacre_secmon_core *core;
    unsigned app;
    uint8_t ping_req[NACRE_SECMON_MSG_BYTES], sign_req[NACRE_SECMON_MSG_BYTES], resp[NACRE_SECMON_MSG_BYTES];
    uint8_t msg[MSG_BYTES], sig[64], sk[64];
};

static void raw_sign_op(void *ctx)
{
    struct in_process *h = ctx;
    if (crypto_sign_ed25519_detached(h->sig, NULL, h->msg, sizeof h->msg, h->sk) != 0) {
        fprintf(stderr, "bench_secmon: crypto_sign_ed25519_detached failed\n");
        exit(1);
    }
}

static void core_op(struct in_process *h, const uint8_t *req)
{
    int fd = -1;
    nacre_secmon_core_handle(h->core, h->app, 1700000000u, req, h->resp, &fd);
    /* status at bytes 12..15 */
    if (h->resp[12] != 0xD1 || h->resp[13] != 0xA5 || h->resp[14] != 0x5A || h->resp[15] != 0x2E) {
        fprintf(stderr, "bench_secmon: the core refused a request\n");
        exit(1);
    }
}

static void core_ping_op(void *ctx)
{
    struct in_process *h = ctx;
    core_op(h, h->ping_req);
}

static void core_sign_op(void *ctx)
{
    struct in_process *h = ctx;
    core_op(h, h->sign_req);
}

static void usage(FILE *out)
{
    fprintf(out, "usage: bench_secmon [--quick] [--json] [--no-pin]\n");
}

/* Pins this process (and the children it forks later) to its first allowed CPU; -1 if it cannot. */
static int pin_one_cpu(void)
{
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) != 0) {
        return -1;
    }
    for (int cpu = 0; cpu < CPU_SETSIZE; cpu++) {
        if (CPU_ISSET(cpu, &set)) {
            cpu_set_t one;
            CPU_ZERO(&one);
            CPU_SET(cpu, &one);
            return sched_setaffinity(0, sizeof one, &one) == 0 ? cpu : -1;
        }
    }
    return -1;
}

int main(int argc, char **argv)
{
    int quick = 0, json = 0, pin = 1;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--quick") == 0) {
            quick = 1;
        } else if (strcmp(argv[i], "--no-pin") == 0) {
            pin = 0;
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
        fprintf(stderr, "bench_secmon: sodium_init failed\n");
        return 1;
    }
    const unsigned long n = quick ? 1000ul : 30000ul;
    int cpu = pin ? pin_one_cpu() : -1;

    struct shared *sh = mmap(NULL, shared_size(n), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (sh == MAP_FAILED) {
        perror("mmap");
        return 1;
    }
    sh->n = n;
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0) {
        perror("socketpair");
        return 1;
    }
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        perror("fork");
        return 1;
    }
    if (pid == 0) {
        /* The app, forked before secmon has a device or a core: it holds
         * nothing but its end of the channel (its first request waits in
         * the socket until secmon serves). */
        close(sv[0]);
        int rc = run_app(sv[1], sh);
        close(sv[1]);
        _exit(rc);
    }
    close(sv[1]);

    /* secmon: the device and the core (rate limit out of the way). */
    struct nacre_test_device d;
    nacre_test_device_new(&d, "bench-secmon", NULL, 1);
    nacre_test_device_boot(&d, "bench-firmware");
    struct nacre_secmon_core *core = malloc(nacre_secmon_core_size());
    struct nacre_secmon_caps caps;
    memset(&caps, 0, sizeof caps);
    strcpy(caps.component_id, "b3ec0000-0000-4000-8000-00000000b3ec");
    unsigned app = 0;
    int rc = 0;
    if (core == NULL || nacre_secmon_core_init(core, d.p, d.board, 1000000000u) != NACRE_SECMON_OK ||
        nacre_secmon_core_add_app(core, &caps, &app) != NACRE_SECMON_OK) {
        fprintf(stderr, "bench_secmon: core set-up failed\n");
        rc = 1;
    } else {
        serve(core, app, sv[0]);
    }
    close(sv[0]);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    if (rc == 0 && (!WIFEXITED(status) || WEXITSTATUS(status) != 0 || sh->error)) {
        if (sh->error) {
            fprintf(stderr, "bench_secmon: the app failed: %s\n", sh->why);
        } else if (WIFSIGNALED(status)) {
            fprintf(stderr, "bench_secmon: the app was killed by signal %d\n", WTERMSIG(status));
        } else {
            fprintf(stderr, "bench_secmon: the app exited with %d\n", WEXITSTATUS(status));
        }
        rc = 1;
    }
    if (rc != 0) {
        munmap(sh, shared_size(n));
        if (core != NULL) {
            nacre_secmon_core_deinit(core);
            free(core);
        }
        nacre_test_device_free(&d);
        return rc;
    }

    /* With the shared harness (min per op over rounds): the raw signature,
     * and the core called in-process, to tell the boundary's cost from the
     * core's. */
    static struct in_process h;
    uint8_t pk[32];
    h.core = core;
    h.app = app;
    randombytes_buf(h.msg, sizeof h.msg);
    crypto_sign_ed25519_keypair(pk, h.sk);
    if (nacre_secmon_encode_request(h.ping_req, NACRE_SECMON_CALL_PING, 1, NULL, 0) != NACRE_SECMON_OK ||
        nacre_secmon_encode_request(h.sign_req, NACRE_SECMON_CALL_SIGN, 2, h.msg, sizeof h.msg) !=
            NACRE_SECMON_OK) {
        fprintf(stderr, "bench_secmon: encode failed\n");
        return 1;
    }
    bench_op ops[3] = {raw_sign_op, core_sign_op, core_ping_op};
    double mins[3] = {0.0, 0.0, 0.0};
    (void)bench_interleaved(ops, &h, 3, mins, quick ? 2u : 7u, quick ? 0.005 : 0.060);
    double raw_min = mins[0];
    sodium_memzero(h.sk, sizeof h.sk);

    double p50[OP_COUNT], p99[OP_COUNT];
    for (int op = 0; op < OP_COUNT; op++) {
        double *s = samples(sh, op);
        qsort(s, n, sizeof *s, cmp_double);
        p50[op] = percentile(s, n, 0.50) * 1e6;
        p99[op] = percentile(s, n, 0.99) * 1e6;
    }
    double ratio = p50[OP_SIGN] / p50[OP_RAW];
    long nproc = sysconf(_SC_NPROCESSORS_ONLN);
    int ping_ok = p50[OP_PING] <= TARGET_PING_US, sign_ok = ratio <= TARGET_SIGN_RATIO;
    if (json) {
        printf("{\n  \"machine\": {\"nproc\": %ld, \"libsodium\": \"%s\"},\n  \"quick\": %s,\n  \"calls\": "
               "%lu,\n",
               nproc, sodium_version_string(), quick ? "true" : "false", n);
        printf("  \"pinned_cpu\": %d,\n", cpu);
        printf("  \"ping_us\": {\"p50\": %.3f, \"p99\": %.3f, \"target_p50\": %.1f, \"meets_target\": %s},\n",
               p50[OP_PING], p99[OP_PING], TARGET_PING_US, ping_ok ? "true" : "false");
        printf("  \"sign_us\": {\"p50\": %.3f, \"p99\": %.3f},\n", p50[OP_SIGN], p99[OP_SIGN]);
        printf("  \"raw_sign_us\": {\"p50\": %.3f, \"p99\": %.3f, \"harness_min\": %.3f},\n", p50[OP_RAW],
               p99[OP_RAW], raw_min * 1e6);
        printf("  \"in_process_us\": {\"core_ping\": %.3f, \"core_sign\": %.3f},\n", mins[2] * 1e6,
               mins[1] * 1e6);
        printf("  \"sign_ratio_p50\": %.4f,\n  \"target_ratio\": %.2f,\n  \"meets_ratio_target\": %s\n}\n",
               ratio, TARGET_SIGN_RATIO, sign_ok ? "true" : "false");
    } else {
        printf("secmon round trips: fork()ed app <-> core over SOCK_SEQPACKET%s\n",
               quick ? " (--quick: rough figures)" : "");
        printf("machine: %ld online CPUs, libsodium %s; %lu calls of each, interleaved in blocks of %u\n",
               nproc, sodium_version_string(), n, BLOCK);
        if (cpu >= 0) {
            printf("app and secmon pinned to CPU %d (--no-pin: let them float)\n\n", cpu);
        } else {
            printf("app and secmon not pinned\n\n");
        }
        printf("%-34s %9s %9s  %s\n", "op", "p50 us", "p99 us", "target");
        printf("%-34s %9.2f %9.2f  p50 <= %.0f us: %s\n", "ping (empty) through secmon", p50[OP_PING],
               p99[OP_PING], TARGET_PING_US, ping_ok ? "ok" : "MISSES TARGET");
        printf("%-34s %9.2f %9.2f  p50 <= %.1fx raw: %.3fx %s\n", "sign (64 B) through secmon", p50[OP_SIGN],
               p99[OP_SIGN], TARGET_SIGN_RATIO, ratio, sign_ok ? "ok" : "MISSES TARGET");
        printf("%-34s %9.2f %9.2f  (harness min %.2f us/op)\n", "raw crypto_sign_ed25519_detached",
               p50[OP_RAW], p99[OP_RAW], raw_min * 1e6);
        printf("\nin-process, no boundary (harness min per op): core ping %.2f us, core sign %.2f us (%.3fx "
               "raw)\n",
               mins[2] * 1e6, mins[1] * 1e6, mins[1] / raw_min);
    }
    munmap(sh, shared_size(n));
    nacre_secmon_core_deinit(core);
    free(core);
    nacre_test_device_free(&d);
    return 0;
}
