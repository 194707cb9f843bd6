/*
 * Every vector of test/vectors/bridge-frames.json, the same file the TypeScript tests read: CRC values,
 * COBS encodings (both ways), every message encoded byte for byte and decoded field for field, and every
 * invalid run dropped with its expected reason, through the decoder and through the streaming receiver
 * configured as the host uses it, as the bridge uses it, and direction-agnostic.
 */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "cobs.h"
#include "crc16.h"
#include "msg.h"

static bp_reason_t reason_from_name(const char *s)
{
    int r;
    for (r = 0; r < BP_REASON_COUNT; r++)
        if (s && strcmp(s, reason_name((bp_reason_t)r)) == 0)
            return (bp_reason_t)r;
    return BP_REASON_COUNT;
}

/* Feeds a whole run (delimiter included) to `rx`. Every byte but the last must be BP_RX_NEED_MORE. */
static bp_rx_status_t feed_run(bp_rx_t *rx, const uint8_t *b, size_t n, bp_msg_t *m, bp_reason_t *why)
{
    size_t i, early = 0;
    bp_rx_status_t st = BP_RX_NEED_MORE;
    *why = BP_OK;
    for (i = 0; i < n; i++) {
        st = bp_rx_push(rx, b[i], m, why);
        if (i + 1 < n && st != BP_RX_NEED_MORE)
            early++;
    }
    CHECK(early == 0, "%zu bytes of %zu reported something before the delimiter", early, n);
    return st;
}

static void check_crc(const json_t *list)
{
    size_t i, n, k;
    for (i = 0; list && i < list->n; i++) {
        const json_t *v = &list->items[i];
        unsigned char *in = hex_decode(json_str(v, "inputHex"), &n);
        unsigned expect = (unsigned)json_num(v, "crc", -1);
        uint16_t run = CRC16_INIT;
        tt_begin(json_str(v, "name"));
        CHECK(in != NULL, "bad inputHex");
        if (!in)
            continue;
        CHECK(crc16_ccitt_false(in, n) == expect, "got %04x, want %04x", crc16_ccitt_false(in, n), expect);
        for (k = 0; k < n; k++)
            run = crc16_update(run, in[k]);
        CHECK(run == expect, "byte at a time: got %04x", run);
        free(in);
    }
}

static void check_cobs(const json_t *list)
{
    size_t i;
    for (i = 0; list && i < list->n; i++) {
        const json_t *v = &list->items[i];
        const json_t *dj = json_get(v, "decodedHex");
        size_t en, dn = 0, got = 0;
        unsigned char *enc = hex_decode(json_str(v, "encodedHex"), &en);
        unsigned char *dec = dj && dj->type == JSON_STRING ? hex_decode(dj->str, &dn) : NULL;
        unsigned char *buf = malloc(en + 1);
        tt_begin(json_str(v, "name"));
        CHECK(enc && buf, "bad encodedHex");
        if (!enc || !buf) {
            free(enc);
            free(dec);
            free(buf);
            continue;
        }
        if (!dec) {
            CHECK(cobs_decode(enc, en, buf, en + 1, &got) == COBS_INVALID, "invalid encoding decoded");
        } else {
            char h1[80], h2[80];
            CHECK(cobs_decode(enc, en, buf, en + 1, &got) == COBS_OK && got == dn &&
                      (dn == 0 || memcmp(buf, dec, dn) == 0),
                  "decoded %s (%zu bytes), want %zu bytes", to_hex(buf, got, h1, sizeof h1), got, dn);
            memcpy(buf, enc, en); /* in place */
            CHECK(cobs_decode(buf, en, buf, en, &got) == COBS_OK && got == dn && (dn == 0 || memcmp(buf, dec, dn) == 0),
                  "in-place decode differs");
            if (!json_true(v, "decodeOnly")) {
                size_t cap = COBS_MAX_ENCODED(dn), off = cap - dn, r;
                unsigned char *out = malloc(cap); /* exactly the bound: ASan catches any overrun */
                unsigned char *small = malloc(cap - 1);
                r = cobs_encode(dec, dn, out, cap);
                CHECK(r == en && memcmp(out, enc, en) == 0, "encoded %s, want %s", to_hex(out, r, h1, sizeof h1),
                      to_hex(enc, en, h2, sizeof h2));
                /* In place, input at the end of the buffer, output from its start. */
                memmove(out + off, dec, dn);
                r = cobs_encode(out + off, dn, out, cap);
                CHECK(r == en && memcmp(out, enc, en) == 0, "in-place encode differs");
                CHECK(cobs_encode(dec, dn, small, cap - 1) == 0, "encoded into too small a buffer");
                free(out);
                free(small);
            }
        }
        free(enc);
        free(dec);
        free(buf);
    }
}

static void check_frames(const json_t *list)
{
    size_t i;
    for (i = 0; list && i < list->n; i++) {
        const json_t *v = &list->items[i];
        const char *direction = json_str(v, "direction");
        int to_bridge = direction && strcmp(direction, "host->bridge") == 0;
        uint8_t seq = (uint8_t)json_num(v, "seq", 0);
        size_t pn, fn;
        unsigned char *payload = hex_decode(json_str(v, "payloadHex"), &pn);
        unsigned char *frame = hex_decode(json_str(v, "frameHex"), &fn);
        bp_msg_t want, got;
        msg_store_t store;
        char why[64], h1[96], h2[96];
        tt_begin(json_str(v, "name"));
        CHECK(payload && frame, "bad hex");
        if (!payload || !frame || msg_from_json(json_get(v, "message"), seq, &want, &store) != 0) {
            CHECK(0, "cannot read the vector");
            free(payload);
            free(frame);
            continue;
        }

        if (!json_true(v, "decodeOnly")) {
            uint16_t room = (uint16_t)BP_FRAME_ROOM(pn), n;
            unsigned char *out = malloc(pn);    /* exact sizes: ASan catches any overrun */
            unsigned char *fout = malloc(room);
            unsigned char *small = malloc(room - 1u);
            n = bp_encode_payload(&want, out, (uint16_t)pn);
            CHECK(n == pn && memcmp(out, payload, pn) == 0, "payload %s, want %s", to_hex(out, n, h1, sizeof h1),
                  to_hex(payload, pn, h2, sizeof h2));
            CHECK(bp_encode_payload(&want, small, (uint16_t)(pn - 1u)) == 0, "payload into too small a buffer");
            n = bp_encode_frame(&want, fout, room);
            CHECK(n == fn && memcmp(fout, frame, fn) == 0, "frame %s, want %s", to_hex(fout, n, h1, sizeof h1),
                  to_hex(frame, fn, h2, sizeof h2));
            CHECK(bp_encode_frame(&want, small, (uint16_t)(room - 1u)) == 0, "frame into too small a buffer");
            free(out);
            free(fout);
            free(small);
        }

        {
            unsigned char *copy = malloc(pn);
            bp_reason_t r;
            memcpy(copy, payload, pn);
            r = bp_decode_payload(copy, (uint16_t)pn, BP_DIR_ANY, &got);
            CHECK(r == BP_OK && msg_equal(&got, &want, why, sizeof why), "decodePayload: %s / %s",
                  reason_name(r), why);
            memcpy(copy, payload, pn);
            r = bp_decode_payload(copy, (uint16_t)pn, to_bridge ? BP_DIR_BRIDGE_TO_HOST : BP_DIR_HOST_TO_BRIDGE,
                                  &got);
            CHECK(r == BP_UNKNOWN_TYPE, "a message of the other direction gave %s", reason_name(r));
            free(copy);
        }

        {
            static uint8_t big[BP_MAX_PAYLOAD], fw[16], eight[8];
            bp_rx_t rx;
            bp_reason_t r;
            bp_rx_status_t st;

            /* Direction-agnostic, full-size buffer: every frame decodes. */
            bp_rx_init(&rx, big, sizeof big, BP_DIR_ANY);
            st = feed_run(&rx, frame, fn, &got, &r);
            CHECK(st == BP_RX_FRAME && msg_equal(&got, &want, why, sizeof why), "receiver: %d %s / %s", (int)st,
                  reason_name(r), why);
            CHECK(rx.frames == 1 && bp_rx_pending(&rx) == 0, "accounting");

            /* As the host: bridge -> host only. */
            bp_rx_init(&rx, big, sizeof big, BP_DIR_BRIDGE_TO_HOST);
            st = feed_run(&rx, frame, fn, &got, &r);
            if (to_bridge)
                CHECK(st == BP_RX_DROP && r == BP_UNKNOWN_TYPE, "host receiver: %s", reason_name(r));
            else
                CHECK(st == BP_RX_FRAME && msg_equal(&got, &want, why, sizeof why), "host receiver: %s",
                      reason_name(r));

            /* As the bridge: host -> bridge only, 16-byte buffer. */
            bp_rx_init(&rx, fw, sizeof fw, BP_DIR_HOST_TO_BRIDGE);
            st = feed_run(&rx, frame, fn, &got, &r);
            if (to_bridge)
                CHECK(st == BP_RX_FRAME && msg_equal(&got, &want, why, sizeof why), "bridge receiver: %s / %s",
                      reason_name(r), why);
            else
                CHECK(st == BP_RX_DROP && r == BP_UNKNOWN_TYPE, "bridge receiver: %s", reason_name(r));

            /* An 8-byte buffer: what fits decodes; a bigger message is "too big for this receiver", never
             * misread. */
            bp_rx_init(&rx, eight, sizeof eight, BP_DIR_ANY);
            st = feed_run(&rx, frame, fn, &got, &r);
            if (pn <= sizeof eight)
                CHECK(st == BP_RX_FRAME && msg_equal(&got, &want, why, sizeof why), "8-byte receiver: %s",
                      reason_name(r));
            else
                CHECK((st == BP_RX_FRAME && msg_equal(&got, &want, why, sizeof why)) ||
                          (st == BP_RX_DROP && r == BP_OVERSIZE),
                      "8-byte receiver: %d %s", (int)st, reason_name(r));
        }
        msg_store_free(&store);
        free(payload);
        free(frame);
    }
}

static void check_invalid(const json_t *list)
{
    size_t i;
    for (i = 0; list && i < list->n; i++) {
        const json_t *v = &list->items[i];
        size_t fn, pn = 0;
        unsigned char *frame = hex_decode(json_str(v, "frameHex"), &fn);
        bp_reason_t expect = reason_from_name(json_str(v, "expect"));
        static uint8_t big[BP_MAX_PAYLOAD], fw[16], payload[BP_MAX_ENCODED];
        bp_rx_t rx;
        bp_msg_t m;
        bp_reason_t r, fw_expect = expect, host_expect = expect;
        bp_rx_status_t st;
        int valid_cobs;

        tt_begin(json_str(v, "name"));
        CHECK(frame && fn > 0 && frame[fn - 1] == 0 && expect != BP_REASON_COUNT, "bad vector");
        if (!frame || fn == 0) {
            free(frame);
            continue;
        }
        valid_cobs = fn - 1 <= BP_MAX_ENCODED &&
                     cobs_decode(frame, fn - 1, payload, sizeof payload, &pn) == COBS_OK;
        if (valid_cobs && pn >= 1 && (expect == BP_BAD_LENGTH || expect == BP_BAD_VALUE)) {
            /* The same run seen by one side only: a message of the other direction is an unknown type. */
            if (payload[0] < 0x80)
                fw_expect = BP_UNKNOWN_TYPE;
            else
                host_expect = BP_UNKNOWN_TYPE;
        }

        bp_rx_init(&rx, big, sizeof big, BP_DIR_ANY);
        st = feed_run(&rx, frame, fn, &m, &r);
        CHECK(st == BP_RX_DROP && r == expect, "got %d %s", (int)st, reason_name(r));
        CHECK(rx.frames == 0 && rx.dropped[expect] == 1 && bp_rx_pending(&rx) == 0, "accounting");

        bp_rx_init(&rx, big, sizeof big, BP_DIR_BRIDGE_TO_HOST);
        st = feed_run(&rx, frame, fn, &m, &r);
        CHECK(st == BP_RX_DROP && r == host_expect, "host receiver: %s, want %s", reason_name(r),
              reason_name(host_expect));

        bp_rx_init(&rx, fw, sizeof fw, BP_DIR_HOST_TO_BRIDGE);
        st = feed_run(&rx, frame, fn, &m, &r);
        CHECK(st == BP_RX_DROP && r == fw_expect, "bridge receiver: %s, want %s", reason_name(r),
              reason_name(fw_expect));

        if (valid_cobs && expect != BP_BAD_COBS) {
            r = bp_decode_payload(payload, (uint16_t)(pn > 0xFFFF ? 0xFFFF : pn), BP_DIR_ANY, &m);
            CHECK(r == expect, "decodePayload: %s", reason_name(r));
        }
        free(frame);
    }
}

void test_vectors(const json_t *vectors)
{
    check_crc(json_get(vectors, "crc"));
    check_cobs(json_get(vectors, "cobs"));
    check_frames(json_get(vectors, "frames"));
    check_invalid(json_get(vectors, "invalid"));
}
