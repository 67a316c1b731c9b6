/* Helpers shared by the C test programs. */
#ifndef NACRE_TEST_SUPPORT_H
#define NACRE_TEST_SUPPORT_H

#include <stddef.h>
#include <stdint.h>

/* A fresh empty directory under $TMPDIR (or /tmp); the path is malloc'd. */
char *nacre_test_tmpdir(const char *tag);
/* Remove a directory tree made by nacre_test_tmpdir (best effort). */
void nacre_test_rmtree(const char *path);
/* Decode hex into out; returns number of bytes, or -1 on bad input / overflow. */
long nacre_test_unhex(const char *hex, uint8_t *out, size_t out_max);
/* Path of a file in tests/vectors (from $NACRE_TEST_VECTORS); malloc'd. */
char *nacre_test_vector_path(const char *name);


/* ---- a host device under test ---------------------------------------- */
#include <nacre/board_host.h>
#include <nacre/pluton.h>

struct nacre_test_device {
    char *dir;
    struct nacre_board *board;
    nacre_pluton *p; /* sodium_malloc'd */
    uint8_t seed[32];
    int seeded;
};

/*
 * Create a blank host device in a fresh temp dir and power it on.
 * seed: 32-byte deterministic entropy seed (the UDS follows from it), or NULL
 * for real entropy. If provision is non-zero, provision it (no root hash).
 * Aborts the test on any failure.
 */
void nacre_test_device_new(struct nacre_test_device *d, const char *tag, const uint8_t *seed,
                           int provision);
/* The same with a given flash geometry (NULL = default). */
void nacre_test_device_new_geometry(struct nacre_test_device *d, const char *tag, const uint8_t *seed,
                                    int provision, const struct nacre_host_geometry *geometry);
/* Power-cycle: close and reopen the board, init pluton (no measure, no boot). */
nacre_pluton_status nacre_test_device_reset(struct nacre_test_device *d);
/* Extend R0 with firmware (if not NULL) and complete boot. Aborts on failure. */
void nacre_test_device_boot(struct nacre_test_device *d, const char *firmware);
/* Power off and delete. */
void nacre_test_device_free(struct nacre_test_device *d);

#endif /* NACRE_TEST_SUPPORT_H */
