#include "wiegand.h"

#include "config.h"

static void clear(wiegand_t *w)
{
    uint8_t i;
    for (i = 0; i < WIEGAND_MAX_BYTES; i++)
        w->data[i] = 0;
    w->count = 0;
    w->overflow = 0;
}

void wiegand_init(wiegand_t *w)
{
    clear(w);
    w->last_ms = 0;
    w->lost = 0;
    w->overflows = 0;
}

/* Signed difference: `now` may be a little older than `last` when the interrupt stamped a bit between the
 * main loop reading the clock and masking interrupts; that must read as "no time passed", not as 49 days. */
static int32_t since(uint32_t now, uint32_t then)
{
    return (int32_t)(now - then);
}

void wiegand_bit(wiegand_t *w, uint8_t bit, uint32_t now_ms)
{
    uint8_t n = w->count;
    if ((n != 0 || w->overflow) && since(now_ms, w->last_ms) >= (int32_t)BRIDGE_WIEGAND_GAP_MS) {
        /* The previous read ended but the main loop never collected it: count it as lost, start afresh. */
        w->lost++;
        clear(w);
        n = 0;
    }
    if (n >= WIEGAND_MAX_BITS) {
        w->overflow = 1;
    } else {
        if (bit)
            w->data[n >> 3] = (uint8_t)(w->data[n >> 3] | (0x80u >> (n & 7u)));
        w->count = (uint8_t)(n + 1u);
    }
    w->last_ms = now_ms;
}

uint8_t wiegand_poll(wiegand_t *w, uint32_t now_ms, uint8_t *data)
{
    uint8_t n = w->count, i;
    if (n == 0 && !w->overflow)
        return 0;
    if (since(now_ms, w->last_ms) < (int32_t)BRIDGE_WIEGAND_GAP_MS)
        return 0;
    if (w->overflow) {
        w->overflows++;
        n = 0;
    } else {
        for (i = 0; i < (uint8_t)((n + 7u) / 8u); i++)
            data[i] = w->data[i];
    }
    clear(w);
    return n;
}
