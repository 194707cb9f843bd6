#include "cobs.h"

void cobs_dec_init(cobs_dec_t *d)
{
    d->code = 0;
    d->remaining = 0;
}

int16_t cobs_dec_step(cobs_dec_t *d, uint8_t in)
{
    if (d->remaining == 0) {
        /* A code byte. The previous block, if any, stood for its data followed by a 0x00 unless it was a
         * full 0xFF block; that 0x00 is emitted only now, because the last block of a run has none. */
        int16_t out = (d->code != 0 && d->code != 0xFF) ? 0 : -1;
        d->code = in;
        d->remaining = (uint8_t)(in - 1u);
        return out;
    }
    d->remaining--;
    return in;
}

bool cobs_dec_complete(const cobs_dec_t *d)
{
    return d->code != 0 && d->remaining == 0;
}

size_t cobs_encode(const uint8_t *src, size_t n, uint8_t *dst, size_t cap)
{
    size_t code_at = 0; /* where the current block's code byte goes, written once the block ends */
    size_t out = 1;
    uint8_t code = 1;
    size_t i;

    if (cap < COBS_MAX_ENCODED(n))
        return 0;
    for (i = 0; i < n; i++) {
        uint8_t b = src[i];
        if (b == 0) {
            dst[code_at] = code;
            code_at = out++;
            code = 1;
        } else {
            dst[out++] = b;
            code++;
            /* A full block; start another only if data follows (canonical form: no trailing 0x01). */
            if (code == 0xFF && i + 1 < n) {
                dst[code_at] = code;
                code_at = out++;
                code = 1;
            }
        }
    }
    dst[code_at] = code;
    return out;
}

cobs_result_t cobs_decode(const uint8_t *src, size_t n, uint8_t *dst, size_t cap, size_t *out_len)
{
    cobs_dec_t d;
    size_t out = 0;
    size_t i;

    cobs_dec_init(&d);
    for (i = 0; i < n; i++) {
        int16_t b;
        if (src[i] == 0)
            return COBS_INVALID;
        b = cobs_dec_step(&d, src[i]);
        if (b >= 0) {
            if (out >= cap)
                return COBS_NO_ROOM;
            dst[out++] = (uint8_t)b;
        }
    }
    if (!cobs_dec_complete(&d))
        return COBS_INVALID;
    *out_len = out;
    return COBS_OK;
}
