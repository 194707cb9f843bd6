/* Unit tests: UTF-8 validation, encoder refusals, the Wiegand collector and the debouncer. */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "config.h"
#include "debounce.h"
#include "wiegand.h"

static void utf8(void)
{
    static const struct {
        const char *bytes;
        int valid;
    } cases[] = {
        {"", 1},
        {"abc", 1},
        {"\xC3\xA9", 1},         /* e acute */
        {"\xE2\x82\xAC", 1},     /* euro sign */
        {"\xF0\x9F\x9A\xAA", 1}, /* door emoji */
        {"\xF4\x8F\xBF\xBF", 1}, /* U+10FFFF */
        {"\xEF\xBB\xBF" "BOM", 1},
        {"\xC0\xAF", 0},         /* overlong */
        {"\xC1\xBF", 0},         /* overlong */
        {"\xE0\x80\xAF", 0},     /* overlong */
        {"\xF0\x8F\xBF\xBF", 0}, /* overlong */
        {"\xED\xA0\x80", 0},     /* surrogate */
        {"\xED\xBF\xBF", 0},     /* surrogate */
        {"\xF4\x90\x80\x80", 0}, /* above U+10FFFF */
        {"\xF5\x80\x80\x80", 0},
        {"\xFF", 0},
        {"\x80", 0},             /* lone continuation */
        {"\xC3", 0},             /* cut short */
        {"\xE2\x82", 0},         /* cut short */
        {"\xC3\x28", 0},         /* bad continuation */
        {"\xE2\x28\xAC", 0},
    };
    size_t i;
    tt_begin("utf8: well-formed text accepted, overlong / surrogate / out of range / cut short refused");
    for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        size_t n = strlen(cases[i].bytes);
        unsigned char *copy = malloc(n + 1); /* exact: a read past the end is caught */
        memcpy(copy, cases[i].bytes, n);
        CHECK(bp_utf8_valid(copy, (uint16_t)n) == (cases[i].valid != 0), "case %zu", i);
        free(copy);
    }
}

static void encoder_refusals(void)
{
    uint8_t data[4] = {0xBD, 0x88, 0xEB, 0x81}; /* 26 bits with a padding bit set */
    uint8_t *out = malloc(64);
    bp_msg_t m;

    tt_begin("encode: out-of-range fields are refused, like the host's RangeError");
    memset(&m, 0, sizeof m);
    m.type = BP_WIEGAND;
    m.u.wiegand.bit_count = 26;
    m.u.wiegand.data = data;
    CHECK(bp_encode_frame(&m, out, 64) == 0, "non-zero WIEGAND padding sent");
    data[3] = 0x80;
    CHECK(bp_encode_frame(&m, out, 64) != 0, "valid WIEGAND refused");
    m.u.wiegand.bit_count = 0;
    CHECK(bp_encode_frame(&m, out, 64) == 0, "WIEGAND of 0 bits sent");
    m.type = BP_KEY;
    m.u.key.key = 'A';
    CHECK(bp_encode_frame(&m, out, 64) == 0, "KEY A sent");
    m.type = BP_LED;
    m.u.led.colour = 4;
    CHECK(bp_encode_frame(&m, out, 64) == 0, "LED colour 4 sent");
    m.type = BP_BEEP;
    m.u.beep.pattern = 0;
    CHECK(bp_encode_frame(&m, out, 64) == 0, "BEEP 0 sent");
    m.u.beep.pattern = 5;
    CHECK(bp_encode_frame(&m, out, 64) == 0, "BEEP 5 sent");
    m.type = BP_INPUT;
    m.u.input.level = 2;
    CHECK(bp_encode_frame(&m, out, 64) == 0, "INPUT level 2 sent");
    m.type = BP_SCAN;
    m.u.scan.text = (const uint8_t *)"";
    m.u.scan.len = 0;
    CHECK(bp_encode_frame(&m, out, 64) == 0, "empty SCAN sent");
    m.u.scan.text = (const uint8_t *)"a\xFF";
    m.u.scan.len = 2;
    CHECK(bp_encode_frame(&m, out, 64) == 0, "invalid UTF-8 sent");
    m.type = BP_HELLO;
    m.u.hello.firmware = (const uint8_t *)"\xC0\xAF";
    m.u.hello.firmware_len = 2;
    CHECK(bp_encode_frame(&m, out, 64) == 0, "invalid UTF-8 HELLO sent");
    m.type = BP_FRAME;
    memset(&m.u.frame, 0, sizeof m.u.frame);
    m.u.frame.chunk_count = 2;
    m.u.frame.chunk_index = 2;
    CHECK(bp_encode_frame(&m, out, 64) == 0, "FRAME chunk 2 of 2 sent");
    m.type = 0x09;
    CHECK(bp_encode_frame(&m, out, 64) == 0, "unknown type sent");
    free(out);
}

static void send_bits(wiegand_t *w, const char *bits, uint32_t *t, uint32_t spacing)
{
    for (; *bits; bits++) {
        wiegand_bit(w, (uint8_t)(*bits == '1'), *t);
        *t += spacing;
    }
}

static void wiegand(void)
{
    wiegand_t w;
    uint8_t data[WIEGAND_MAX_BYTES];
    uint32_t t = 1000, last;
    int i;
    /* H10301, facility 123, card 4567: the vector "WIEGAND 26-bit H10301" (bd 88 eb 80). */
    const char *card = "10111101100010001110101110";

    tt_begin("wiegand: bits MSB first, a read ends after 25 ms of silence, padding 0");
    wiegand_init(&w);
    send_bits(&w, card, &t, 2);
    last = t - 2;
    CHECK(wiegand_poll(&w, last + BRIDGE_WIEGAND_GAP_MS - 1, data) == 0, "read ended before the gap");
    CHECK(wiegand_poll(&w, last + BRIDGE_WIEGAND_GAP_MS, data) == 26, "read not ended after the gap");
    CHECK(data[0] == 0xBD && data[1] == 0x88 && data[2] == 0xEB && data[3] == 0x80, "data %02x%02x%02x%02x",
          data[0], data[1], data[2], data[3]);
    CHECK(wiegand_poll(&w, last + 1000, data) == 0, "a read reported twice");

    tt_begin("wiegand: 4-bit keypad burst, 1-bit noise and 255 bits are all sent raw");
    t = 5000;
    send_bits(&w, "0101", &t, 2);
    CHECK(wiegand_poll(&w, t + 30, data) == 4 && data[0] == 0x50, "4-bit burst: %02x", data[0]);
    t += 100;
    send_bits(&w, "1", &t, 2);
    CHECK(wiegand_poll(&w, t + 30, data) == 1 && data[0] == 0x80, "1 bit");
    t += 100;
    for (i = 0; i < 255; i++) {
        wiegand_bit(&w, 1, t);
        t += 1;
    }
    CHECK(wiegand_poll(&w, t + 30, data) == 255 && data[31] == 0xFE && data[0] == 0xFF, "255 bits");

    tt_begin("wiegand: more than 255 bits is dropped and counted");
    t += 100;
    for (i = 0; i < 300; i++)
        wiegand_bit(&w, (uint8_t)(i & 1), t++);
    CHECK(wiegand_poll(&w, t + 30, data) == 0 && w.overflows == 1, "overflow");
    t += 100;
    send_bits(&w, "11", &t, 2);
    CHECK(wiegand_poll(&w, t + 30, data) == 2 && data[0] == 0xC0, "collector not reset after an overflow");

    tt_begin("wiegand: a read never collected is counted lost, the next starts clean");
    t += 100;
    send_bits(&w, "111", &t, 2);
    t += 50; /* the main loop stalled: nobody polled */
    send_bits(&w, "0", &t, 2);
    CHECK(w.lost == 1, "lost %u", w.lost);
    CHECK(wiegand_poll(&w, t + 30, data) == 1 && data[0] == 0x00, "the new read has stale bits");

    tt_begin("wiegand: a bit stamped after the main loop read the clock does not end the read early");
    t += 100;
    wiegand_bit(&w, 1, t + 1); /* interrupt stamped t + 1, poll's clock still says t */
    CHECK(wiegand_poll(&w, t, data) == 0, "ended at a negative gap");
    CHECK(wiegand_poll(&w, t + 1 + BRIDGE_WIEGAND_GAP_MS, data) == 1, "never ended");

    tt_begin("wiegand: the gap is measured across the 2^32 ms wrap");
    t = 0xFFFFFFF0u;
    send_bits(&w, "1", &t, 2);
    CHECK(wiegand_poll(&w, 0x00000008u, data) == 0, "read ended 24 ms after the last bit");
    CHECK(wiegand_poll(&w, 0x00000009u, data) == 1, "read not ended across the wrap");
}

static void debounce(void)
{
    debounce_t d;
    int ms, changes = 0, when = -1;

    tt_begin("debounce: bounce then steady changes once, threshold ms after the bouncing stops");
    debounce_init(&d, 0);
    for (ms = 1; ms <= 100; ms++) {
        uint16_t raw = ms < 10 ? (uint16_t)(ms & 1) : 1u;
        if (debounce_update(&d, raw, 1, 1, 20)) {
            changes++;
            when = ms;
        }
    }
    CHECK(changes == 1 && d.stable == 1, "changes %d", changes);
    CHECK(when >= 9 + 19 && when <= 10 + 20, "changed at %d ms", when);

    tt_begin("debounce: a glitch shorter than the threshold changes nothing");
    debounce_init(&d, 5);
    changes = 0;
    for (ms = 1; ms <= 100; ms++) {
        uint16_t raw = (ms >= 40 && ms < 55) ? 4u : 5u; /* bit 0 low for 15 ms */
        changes += debounce_update(&d, raw, 3, 1, 20) != 0;
    }
    CHECK(changes == 0 && d.stable == 5, "changes %d, stable %u", changes, d.stable);

    tt_begin("debounce: a long gap between samples counts in full, saturating");
    debounce_init(&d, 0);
    CHECK(debounce_update(&d, 1, 1, 255, 30) == 1 && d.stable == 1, "no change after 255 ms");
    CHECK(debounce_update(&d, 0, 1, 0, 30) == 0, "changed in 0 ms");
}

void test_units(void)
{
    utf8();
    encoder_refusals();
    wiegand();
    debounce();
}
