/* Test helpers: messages from the vectors' JSON form, comparison, hex. */
#ifndef TEST_MSG_H
#define TEST_MSG_H

#include <stddef.h>
#include <stdint.h>

#include "frame.h"
#include "json.h"

/** Holds the byte arrays a message built from JSON points to. */
typedef struct {
    unsigned char *bytes;
} msg_store_t;

/** Builds `m` from a vector's `message` object; returns 0 on success. Free with msg_store_free. */
int msg_from_json(const json_t *jm, uint8_t seq, bp_msg_t *m, msg_store_t *store);
void msg_store_free(msg_store_t *store);

/** 1 when both messages are the same (type, seq, fields, bytes); otherwise 0 and a reason in `why`. */
int msg_equal(const bp_msg_t *a, const bp_msg_t *b, char *why, size_t why_len);

/** Type code of a vector's type name ("relay" -> 0x81), or 0. */
uint8_t type_code(const char *name);

/** Hex of `n` bytes into `out` (2n + 1 bytes), for messages. */
const char *to_hex(const uint8_t *b, size_t n, char *out, size_t out_len);

#endif
