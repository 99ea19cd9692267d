/* Minimal test harness for facematch's C unit tests (ctest runs each test_*.c as one executable).
 * CHECK() records a failure and goes on; REQUIRE() stops the test function. Exit 0 = pass, 1 = fail, 77 = skip. */
#ifndef FM_TEST_H
#define FM_TEST_H

#include "facematch.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int t_failures = 0;
static int t_checks = 0;

#define CHECK(cond)                                                                                              \
    do {                                                                                                         \
        t_checks++;                                                                                              \
        if (!(cond)) {                                                                                           \
            t_failures++;                                                                                        \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond);                             \
        }                                                                                                        \
    } while (0)
#define CHECK_MSG(cond, ...)                                                                                     \
    do {                                                                                                         \
        t_checks++;                                                                                              \
        if (!(cond)) {                                                                                           \
            t_failures++;                                                                                        \
            fprintf(stderr, "%s:%d: CHECK failed: %s: ", __FILE__, __LINE__, #cond);                             \
            fprintf(stderr, __VA_ARGS__);                                                                        \
            fputc('\n', stderr);                                                                                 \
        }                                                                                                        \
    } while (0)
#define REQUIRE(cond)                                                                                            \
    do {                                                                                                         \
        t_checks++;                                                                                              \
        if (!(cond)) {                                                                                           \
            t_failures++;                                                                                        \
            fprintf(stderr, "%s:%d: REQUIRE failed: %s\n", __FILE__, __LINE__, #cond);                           \
            return;                                                                                              \
        }                                                                                                        \
    } while (0)
#define CHECK_STATUS(expr, expected)                                                                             \
    do {                                                                                                         \
        fm_status st_ = (expr);                                                                                  \
        t_checks++;                                                                                              \
        if (st_ != (expected)) {                                                                                 \
            t_failures++;                                                                                        \
            fprintf(stderr, "%s:%d: %s returned %s, expected %s\n", __FILE__, __LINE__, #expr,                   \
                    fm_status_name(st_), fm_status_name(expected));                                              \
        }                                                                                                        \
    } while (0)
#define CHECK_NEAR(a, b, tol) CHECK_MSG(fabs((double)(a) - (double)(b)) <= (tol), "%g vs %g (tol %g)", \
                                        (double)(a), (double)(b), (double)(tol))

#define RUN(fn)                                                                                                  \
    do {                                                                                                         \
        int before_ = t_failures;                                                                                \
        fn();                                                                                                    \
        fprintf(stderr, "%s %s\n", t_failures == before_ ? "ok  " : "FAIL", #fn);                               \
    } while (0)

static inline int test_finish(void)
{
    fprintf(stderr, "%d checks, %d failed\n", t_checks, t_failures);
    return t_failures ? 1 : 0;
}

/* ../shared/data (or $FM_DATA_DIR), or NULL when absent (tests then skip, saying why). */
static inline const char *test_data_dir(void)
{
    const char *d = getenv("FM_DATA_DIR");
    static char buf[4096];
    if (!d || !*d) {
        snprintf(buf, sizeof buf, "%s/../shared/data", FM_SOURCE_DIR);
        d = buf;
    }
    char probe[4200];
    snprintf(probe, sizeof probe, "%s/README.md", d);
    FILE *f = fopen(probe, "rb");
    if (!f)
        return NULL;
    fclose(f);
    return d;
}

#define TEST_SKIP_CODE 77
#define SKIP_ALL(...)                                                                                            \
    do {                                                                                                         \
        fprintf(stderr, "SKIP: ");                                                                               \
        fprintf(stderr, __VA_ARGS__);                                                                            \
        fputc('\n', stderr);                                                                                     \
        return TEST_SKIP_CODE;                                                                                   \
    } while (0)

#endif
