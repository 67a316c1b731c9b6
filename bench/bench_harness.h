/*
 * bench_harness.h - the timing method shared by Nacre's benchmark programs
 * (docs/performance.md): N is calibrated so that one side of a round takes
 * about `target` seconds; each round times N calls of every side back to
 * back, the side that goes first rotating from round to round; each side
 * keeps its MINIMUM per-call time over the rounds (noise only ever adds time).
 */
#ifndef NACRE_BENCH_HARNESS_H
#define NACRE_BENCH_HARNESS_H

#include <stddef.h>

typedef void (*bench_op)(void *ctx);

#define BENCH_MAX_SIDES 4

/* CLOCK_MONOTONIC in seconds. */
double bench_now(void);

/* Seconds per call over n back-to-back calls. */
double bench_time_per_op(bench_op op, void *ctx, unsigned long n);

/* Calls needed for one side of a round to take about `target` seconds. */
unsigned long bench_calibrate(bench_op op, void *ctx, double target);

/*
 * Times k (<= BENCH_MAX_SIDES) operations in the same rounds, N set by the
 * slowest; min_s[i] receives side i's minimum seconds per call. Returns N.
 */
unsigned long bench_interleaved(const bench_op *ops, void *ctx, size_t k, double *min_s,
                                unsigned rounds, double target);

#endif
