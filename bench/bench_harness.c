#include "bench_harness.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

double bench_now(void)
{
    struct timespec ts;
    if (clock_gettime(CLOCK_MONOTONIC, &ts) != 0) {
        perror("clock_gettime(CLOCK_MONOTONIC)");
        exit(1);
    }
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

double bench_time_per_op(bench_op op, void *ctx, unsigned long n)
{
    double t0 = bench_now();
    for (unsigned long i = 0; i < n; i++) {
        op(ctx);
    }
    return (bench_now() - t0) / (double)n;
}

unsigned long bench_calibrate(bench_op op, void *ctx, double target)
{
    const double cap = (double)(1ul << 30);
    unsigned long n = 1;
    for (;;) {
        double t0 = bench_now();
        for (unsigned long i = 0; i < n; i++) {
            op(ctx);
        }
        double elapsed = bench_now() - t0;
        if (elapsed >= target / 8.0 || n >= (1ul << 30)) {
            double per_op = elapsed / (double)n;
            double want = per_op > 0.0 ? target / per_op : cap;
            want = want < 1.0 ? 1.0 : want > cap ? cap : want;
            return (unsigned long)want;
        }
        n *= 2;
    }
}

unsigned long bench_interleaved(const bench_op *ops, void *ctx, size_t k, double *min_s,
                                unsigned rounds, double target)
{
    unsigned long n = 0;
    for (size_t s = 0; s < k; s++) {
        unsigned long ns = bench_calibrate(ops[s], ctx, target); /* also warms up */
        if (s == 0 || ns < n) {
            n = ns;
        }
    }
    for (unsigned r = 0; r < rounds; r++) {
        for (size_t i = 0; i < k; i++) {
            size_t s = (r + i) % k;
            double t = bench_time_per_op(ops[s], ctx, n);
            if (r == 0 || t < min_s[s]) {
                min_s[s] = t;
            }
        }
    }
    return n;
}
