/*
 * The bridge frame codec: docs/serial-protocol.md is the contract and test/vectors/bridge-frames.json the
 * normative bytes, shared with the host's TypeScript codec (src/protocol/bridge.ts).
 *
 *   frame   = COBS(payload) 0x00
 *   payload = type u8 | seq u8 | body (0..1020 bytes) | crc u16      (big-endian, CRC-16/CCITT-FALSE)
 *
 * The codec knows every message of both directions, so that the host tests can check it against all the
 * vectors; the bridge's receiver is built with BP_DIR_HOST_TO_BRIDGE and a small buffer, and decodes the
 * frames it cannot use (bridge -> host types, a payload larger than its buffer) far enough to give the same
 * drop reason as the host would.
 */
#ifndef BRIDGE_FRAME_H
#define BRIDGE_FRAME_H

#include <stdbool.h>
#include <stdint.h>

#include "cobs.h"

#define BP_PROTOCOL_VERSION 1u
#define BP_MAX_PAYLOAD 1024u                          /* type + seq + body + crc */
#define BP_MIN_PAYLOAD 4u                             /* an empty body */
#define BP_MAX_BODY (BP_MAX_PAYLOAD - BP_MIN_PAYLOAD) /* 1020 */
#define BP_MAX_ENCODED 1029u                          /* COBS_MAX_ENCODED(BP_MAX_PAYLOAD) */
#define BP_FRAME_HEADER 10u                           /* FRAME: five u16 before the pixels */
/** Room bp_encode_frame needs for a payload of `n` bytes: its COBS encoding and the delimiter. */
#define BP_FRAME_ROOM(n) (COBS_MAX_ENCODED(n) + 1u)

/** Type codes; the high bit is the direction (set: host -> bridge). */
enum {
    BP_HELLO = 0x01,
    BP_KEY = 0x02,
    BP_WIEGAND = 0x03,
    BP_SCAN = 0x04,
    BP_FRAME = 0x05,
    BP_INPUT = 0x06,
    BP_HEARTBEAT = 0x07,
    BP_ACK = 0x08,
    BP_RELAY = 0x81,
    BP_LED = 0x82,
    BP_BEEP = 0x83,
    BP_PING = 0x84
};

enum { BP_LED_OFF = 0, BP_LED_GREEN = 1, BP_LED_RED = 2, BP_LED_AMBER = 3 };
enum { BP_BEEP_ACCEPT = 1, BP_BEEP_DENY = 2, BP_BEEP_KEY_CLICK = 3, BP_BEEP_ALARM = 4 };

/** Which messages a decoder accepts; the others are dropped as BP_UNKNOWN_TYPE. */
typedef enum {
    BP_DIR_ANY = 0,
    BP_DIR_BRIDGE_TO_HOST = 1, /* what the host accepts */
    BP_DIR_HOST_TO_BRIDGE = 2  /* what the bridge accepts: a TX/RX loop is counted, not obeyed */
} bp_dir_t;

/** Why a run was dropped, in the order the checks run (docs/serial-protocol.md, "Discard rules"). */
typedef enum {
    BP_OK = 0,
    BP_OVERSIZE,
    BP_BAD_COBS,
    BP_TOO_SHORT,
    BP_BAD_CRC,
    BP_UNKNOWN_TYPE,
    BP_BAD_LENGTH,
    BP_BAD_VALUE,
    BP_REASON_COUNT
} bp_reason_t;

/**
 * One message. Byte strings point into the buffer that was decoded (or that the caller owns when
 * encoding); nothing is copied.
 */
typedef struct {
    uint8_t type;
    uint8_t seq;
    union {
        struct {
            uint8_t protocol;
            uint16_t firmware_len;
            const uint8_t *firmware; /* UTF-8 */
        } hello;
        struct {
            uint8_t key; /* ASCII: 0-9 * # */
        } key;
        struct {
            uint8_t bit_count;   /* 1..255 */
            const uint8_t *data; /* ceil(bit_count / 8) bytes; first bit received = MSB of data[0] */
        } wiegand;
        struct {
            uint16_t len;
            const uint8_t *text; /* UTF-8 */
        } scan;
        struct {
            uint16_t frame_id, chunk_index, chunk_count, width, height;
            uint16_t pixel_count;
            const uint8_t *pixels;
        } frame;
        struct {
            uint8_t input, level;
        } input;
        struct {
            uint32_t uptime_ms;
        } heartbeat;
        struct {
            uint8_t seq; /* the host frame acknowledged */
        } ack;
        struct {
            uint8_t channel;
            uint16_t ms;
        } relay;
        struct {
            uint8_t colour;
            uint16_t ms;
        } led;
        struct {
            uint8_t pattern;
        } beep;
    } u;
} bp_msg_t;

/** True for a type code of the catalogue. */
bool bp_type_known(uint8_t type);

/** True when `len` bytes are well-formed UTF-8 (no overlong forms, surrogates or code points > U+10FFFF). */
bool bp_utf8_valid(const uint8_t *s, uint16_t len);

/**
 * Writes the payload of `m` (type | seq | body | crc) to `out`. Returns its length, or 0 when a field is
 * outside its values (like the host encoder's RangeError: non-zero WIEGAND padding, a KEY that is no key,
 * invalid UTF-8...) or `cap` is too small.
 */
uint16_t bp_encode_payload(const bp_msg_t *m, uint8_t *out, uint16_t cap);

/**
 * Writes the frame of `m` (COBS(payload), then the 0x00 delimiter) to `out`, needing BP_FRAME_ROOM(payload)
 * bytes of room: the payload is built at the end of `out` and encoded in place, so no second buffer is
 * needed. Returns the frame length, or 0 like bp_encode_payload.
 */
uint16_t bp_encode_frame(const bp_msg_t *m, uint8_t *out, uint16_t cap);

/**
 * Decodes one payload (already COBS-decoded). Checks in the contract's order: oversize, too short, CRC,
 * type (and direction), body length, values. WIEGAND padding bits are cleared in `payload`, as the host
 * does, so that a card always gives the same bytes. `out` points into `payload`.
 */
bp_reason_t bp_decode_payload(uint8_t *payload, uint16_t len, bp_dir_t dir, bp_msg_t *out);

/** What one received byte did. */
typedef enum {
    BP_RX_NEED_MORE = 0, /* part of a run; nothing to report yet */
    BP_RX_SKIP,          /* a delimiter that ended an empty run: ignored silently (a resync idiom) */
    BP_RX_FRAME,         /* a delimiter that ended a valid frame: *msg holds it */
    BP_RX_DROP           /* a delimiter that ended a run which is dropped: *why says why */
} bp_rx_status_t;

/**
 * Streaming receiver. Bytes are COBS-decoded and checksummed as they arrive; only the first `cap` decoded
 * bytes are stored. A run longer than BP_MAX_ENCODED is counted, not stored, until its delimiter. So the
 * bridge needs 16 bytes of buffer, not 1029, and still classifies every run like the host.
 */
typedef struct {
    uint8_t *buf;
    uint16_t cap;
    uint8_t dir;
    cobs_dec_t cobs;
    uint32_t run_len;  /* encoded bytes since the last delimiter (saturates) */
    uint16_t dec_len;  /* decoded bytes of this run (<= BP_MAX_ENCODED) */
    uint16_t crc;      /* CRC of the decoded bytes but the last two */
    uint8_t tail[2];   /* the last two decoded bytes: the CRC field once the run ends */
    uint32_t frames;   /* valid frames */
    uint32_t dropped[BP_REASON_COUNT]; /* dropped runs by reason (index BP_OK unused) */
} bp_rx_t;

/** `cap` must be at least BP_MIN_PAYLOAD. A payload longer than `cap` can still be classified (see above). */
void bp_rx_init(bp_rx_t *rx, uint8_t *buf, uint16_t cap, bp_dir_t dir);

/** Feeds one byte. On BP_RX_FRAME `*msg` points into the receiver's buffer, valid until the next push. */
bp_rx_status_t bp_rx_push(bp_rx_t *rx, uint8_t byte, bp_msg_t *msg, bp_reason_t *why);

/** Bytes received since the last delimiter. */
uint32_t bp_rx_pending(const bp_rx_t *rx);

#endif
