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

#endif
