/* tap — a tiny Test Anything Protocol emitter for the unit tests.
 *
 * A test case is a run of CHECK()s closed by tap_case("description"): the
 * case prints "ok N - description" if every check since the previous case
 * held, else "not ok N - description", after a "# file:line: ..." line for
 * each failed check. tap_done() prints the plan last ("1..N", allowed by
 * TAP and by automake's tap-driver.sh) and returns the exit status: 1 if
 * any case failed. A case that fails because of a known bug outside the
 * test is closed with tap_case_todo(): TAP counts it as an expected
 * failure, and as an unexpected pass (a failure of the suite) once the bug
 * is fixed, so that the TODO is removed. */
#ifndef SANDCELL_TAP_H
#define SANDCELL_TAP_H

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int tap_cases;        /* cases reported so far */
static int tap_failed_cases; /* of which "not ok" (not counting TODO) */
static int tap_failed_checks; /* failed checks in the current case */

static inline void tap_diag(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static inline void tap_diag(const char *fmt, ...)
{
    va_list ap;
    fputs("# ", stdout);
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    fputc('\n', stdout);
    fflush(stdout);
}

/* Records the outcome of one check; returns |ok| so callers can bail out. */
static inline int tap_check(int ok, const char *file, int line, const char *what)
{
    if (!ok) {
        tap_failed_checks++;
        tap_diag("%s:%d: check failed: %s", file, line, what);
    }
    return ok;
}

static inline void tap_vcase(const char *directive, const char *fmt, va_list ap)
{
    int ok = tap_failed_checks == 0;
    tap_cases++;
    printf("%s %d - ", ok ? "ok" : "not ok", tap_cases);
    vprintf(fmt, ap);
    if (directive)
        printf(" # %s", directive);
    fputc('\n', stdout);
    fflush(stdout);
    if (!ok && !directive)
        tap_failed_cases++;
    tap_failed_checks = 0;
}

/* Closes the current case. */
static inline void tap_case(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static inline void tap_case(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    tap_vcase(NULL, fmt, ap);
    va_end(ap);
}

/* Closes the current case as a known failure, |why| naming the bug. */
static inline void tap_case_todo(const char *why, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static inline void tap_case_todo(const char *why, const char *fmt, ...)
{
    char directive[512];
    snprintf(directive, sizeof directive, "TODO %s", why);
    va_list ap;
    va_start(ap, fmt);
    tap_vcase(directive, fmt, ap);
    va_end(ap);
}

/* Prints the plan; returns the process exit status. */
static inline int tap_done(void)
{
    if (tap_failed_checks) {
        /* Checks after the last case must not pass unnoticed. */
        tap_case("checks after the last case");
    }
    printf("1..%d\n", tap_cases);
    fflush(stdout);
    return tap_failed_cases ? EXIT_FAILURE : EXIT_SUCCESS;
}

/* Aborts the whole program: for a failure that leaves nothing to test. */
#define TAP_BAIL(...)                                                               \
    do {                                                                            \
        printf("Bail out! ");                                                       \
        printf(__VA_ARGS__);                                                        \
        printf("\n");                                                               \
        exit(EXIT_FAILURE);                                                         \
    } while (0)

/* Each CHECK evaluates to whether it held. */
#define CHECK(cond) tap_check(!!(cond), __FILE__, __LINE__, #cond)

#define CHECK_INT(a, b)                                                             \
    ({                                                                              \
        long long tap_a_ = (long long)(a), tap_b_ = (long long)(b);                 \
        int tap_ok_ = tap_check(tap_a_ == tap_b_, __FILE__, __LINE__, #a " == " #b); \
        if (!tap_ok_)                                                               \
            tap_diag("    %lld != %lld", tap_a_, tap_b_);                            \
        tap_ok_;                                                                    \
    })

#define CHECK_STR(a, b)                                                             \
    ({                                                                              \
        const char *tap_a_ = (a), *tap_b_ = (b);                                    \
        int tap_ok_ = tap_check(tap_a_ && tap_b_ && strcmp(tap_a_, tap_b_) == 0,    \
                                __FILE__, __LINE__, #a " equals " #b);              \
        if (!tap_ok_)                                                               \
            tap_diag("    \"%s\" != \"%s\"", tap_a_ ? tap_a_ : "(null)",            \
                     tap_b_ ? tap_b_ : "(null)");                                   \
        tap_ok_;                                                                    \
    })

#endif
