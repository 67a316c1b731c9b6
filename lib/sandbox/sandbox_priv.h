/*
 * sandbox_priv.h - libsandbox internals shared by manifest.c, package.c and
 * spawn.c. Not installed.
 */
#ifndef NACRE_SANDBOX_PRIV_H
#define NACRE_SANDBOX_PRIV_H

#include <stdarg.h>
#include <stddef.h>

#include <nacre/sandbox.h>

/*
 * Write a one-line message into error[error_max] (if error is not NULL and
 * error_max > 0). Always NUL-terminates; truncates silently, because a
 * caller's short buffer must never turn a refusal into a crash.
 */
void sandbox_error(char *error, size_t error_max, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void sandbox_verror(char *error, size_t error_max, const char *fmt, va_list ap)
    __attribute__((format(printf, 3, 0)));

#endif /* NACRE_SANDBOX_PRIV_H */
