/* Minimal test harness: CHECK counts and reports, never aborts, so one run shows every failure. */
#ifndef TEST_CHECK_H
#define TEST_CHECK_H

#include <stdio.h>

#include "frame.h"
#include "json.h"

extern int tt_cases;    /* test cases run: one per behaviour test and one per vector */
extern int tt_checks;   /* individual checks */
extern int tt_failures; /* failed checks */
extern const char *tt_case;

#define CHECK(cond, ...)                                                                                     \
    do {                                                                                                     \
        tt_checks++;                                                                                         \
        if (!(cond)) {                                                                                       \
            tt_failures++;                                                                                   \
            fprintf(stderr, "FAIL %s:%d [%s] %s: ", __FILE__, __LINE__, tt_case, #cond);                     \
            fprintf(stderr, __VA_ARGS__);                                                                    \
            fputc('\n', stderr);                                                                             \
        }                                                                                                    \
    } while (0)

/** Starts a named test case (for the failure messages and the count). */
void tt_begin(const char *name);

/** "bad_crc" and so on, as in the vectors and docs/serial-protocol.md; "ok" for BP_OK. */
const char *reason_name(bp_reason_t r);

/** Suites. */
void test_vectors(const json_t *vectors);
void test_stream(const json_t *vectors);
void test_units(void);
void test_bridge(void);

#endif
