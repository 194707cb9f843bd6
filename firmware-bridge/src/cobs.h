/*
 * Consistent Overhead Byte Stuffing (Cheshire & Baker, IEEE/ACM ToN 7(2), 1999), canonical form as in
 * docs/serial-protocol.md: a final full 254-byte run ends with its 0xFF block, with no empty 0x01 block after
 * it (the decoder accepts that extra block anyway).
 *
 * The decoder is a byte-at-a-time state machine so that the bridge can decode a frame as it arrives
 * without storing the encoded bytes (see frame.c, bp_rx_push).
 */
#ifndef BRIDGE_COBS_H
#define BRIDGE_COBS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/** Upper bound of the encoding of `n` bytes (1029 for the 1024-byte maximum payload). */
#define COBS_MAX_ENCODED(n) ((n) + (n) / 254u + 1u)

/** Streaming decoder state; zero-initialise (or cobs_dec_init) before the first byte of a run. */
typedef struct {
    uint8_t code;      /* code byte of the current block; 0 = no block started yet */
    uint8_t remaining; /* data bytes still expected in the current block */
} cobs_dec_t;

void cobs_dec_init(cobs_dec_t *d);

/**
 * Feeds one encoded byte, which must not be 0x00 (0x00 is the frame delimiter, handled by the caller).
 * Returns the decoded byte it yields (0..255), or -1 when it yields none (a code byte).
 */
int16_t cobs_dec_step(cobs_dec_t *d, uint8_t in);

/** True when the bytes fed so far are a complete, valid encoding (at least one block, none cut short). */
bool cobs_dec_complete(const cobs_dec_t *d);

/**
 * Encodes `n` bytes of `src` into `dst` (room for `cap` bytes). Returns the encoded length, or 0 when
 * `cap` < COBS_MAX_ENCODED(n). `dst` may overlap `src` when dst <= src - (1 + n / 254): the encoder never
 * writes a byte it has not read yet, which lets bp_encode_frame encode in place.
 */
size_t cobs_encode(const uint8_t *src, size_t n, uint8_t *dst, size_t cap);

typedef enum { COBS_OK = 0, COBS_INVALID, COBS_NO_ROOM } cobs_result_t;

/**
 * Decodes `n` encoded bytes (no delimiter) into `dst`. COBS_INVALID: empty input, a 0x00 byte, or a code
 * byte that points past the end. COBS_NO_ROOM: the result would exceed `cap`. `dst` may equal `src`.
 */
cobs_result_t cobs_decode(const uint8_t *src, size_t n, uint8_t *dst, size_t cap, size_t *out_len);

#endif
