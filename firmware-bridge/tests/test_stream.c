/*
 * Streams and buffers corrupted on purpose: every frame of the vectors with garbage between them, every
 * single-bit flip, every truncation, inserted and deleted bytes, random byte soup, and random messages
 * round-tripped. The receiver must drop and count what is bad, never accept a corrupted frame, resynchronise
 * at the next 0x00, and (under ASan/UBSan) never touch memory it does not own.
 */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "cobs.h"
#include "msg.h"

static uint32_t rng = 0x2545F491u;

static uint32_t rnd(void)
{
    /* xorshift32: deterministic, so a failure reproduces */
    rng ^= rng << 13;
    rng ^= rng >> 17;
    rng ^= rng << 5;
    return rng;
}

typedef struct {
    unsigned char *frame;
    size_t n;
    bp_msg_t msg;
    msg_store_t store;
    int to_bridge;
} vec_frame_t;

static size_t load_frames(const json_t *list, vec_frame_t **out)
{
    size_t i, k = 0;
    vec_frame_t *v = calloc(list ? list->n + 1 : 1, sizeof *v);
    for (i = 0; list && i < list->n; i++) {
        const json_t *j = &list->items[i];
        const char *dir = json_str(j, "direction");
        v[k].frame = hex_decode(json_str(j, "frameHex"), &v[k].n);
        v[k].to_bridge = dir && strcmp(dir, "host->bridge") == 0;
        if (v[k].frame && msg_from_json(json_get(j, "message"), (uint8_t)json_num(j, "seq", 0), &v[k].msg,
                                        &v[k].store) == 0)
            k++;
        else
            free(v[k].frame);
    }
    *out = v;
    return k;
}

static void free_frames(vec_frame_t *v, size_t n)
{
    size_t i;
    for (i = 0; i < n; i++) {
        free(v[i].frame);
        msg_store_free(&v[i].store);
    }
    free(v);
}

typedef struct {
    unsigned char *b;
    size_t n, cap;
} bytes_t;

static void put(bytes_t *s, unsigned char c)
{
    if (s->n == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 4096;
        s->b = realloc(s->b, s->cap);
    }
    s->b[s->n++] = c;
}

static void put_all(bytes_t *s, const unsigned char *b, size_t n)
{
    size_t i;
    for (i = 0; i < n; i++)
        put(s, b[i]);
}

/* Feeds `n` bytes; counts what came out. */
typedef struct {
    size_t frames, drops, skips, zeros;
} tally_t;

static void feed(bp_rx_t *rx, const unsigned char *b, size_t n, tally_t *t)
{
    size_t i;
    for (i = 0; i < n; i++) {
        bp_msg_t m;
        bp_reason_t why;
        bp_rx_status_t st = bp_rx_push(rx, b[i], &m, &why);
        if (b[i] == 0)
            t->zeros++;
        if (st == BP_RX_FRAME)
            t->frames++;
        else if (st == BP_RX_DROP)
            t->drops++;
        else if (st == BP_RX_SKIP)
            t->skips++;
    }
}

static void garbage_between_frames(vec_frame_t *v, size_t nv)
{
    static uint8_t buf[BP_MAX_PAYLOAD];
    bytes_t s = {0, 0, 0};
    size_t i, k, garbage = 0, got = 0, pos;
    bp_rx_t rx;
    char why[64];

    tt_begin("stream: every vector frame, with garbage runs and extra delimiters between them");
    put(&s, 0x00);
    for (i = 0; i < nv; i++) {
        uint32_t r = rnd() % 4;
        if (r == 0) { /* a short run of noise */
            size_t len = 1 + rnd() % 40;
            for (k = 0; k < len; k++)
                put(&s, (unsigned char)(1 + rnd() % 255));
            put(&s, 0x00);
            garbage++;
        } else if (r == 1) { /* a long one, past BP_MAX_ENCODED */
            size_t len = 1030 + rnd() % 1200;
            for (k = 0; k < len; k++)
                put(&s, (unsigned char)(1 + rnd() % 255));
            put(&s, 0x00);
            garbage++;
        } else if (r == 2) {
            put(&s, 0x00); /* extra delimiters: ignored */
            put(&s, 0x00);
        }
        put_all(&s, v[i].frame, v[i].n);
    }

    bp_rx_init(&rx, buf, sizeof buf, BP_DIR_ANY);
    pos = 0;
    for (k = 0; k < s.n; k++) {
        bp_msg_t m;
        bp_reason_t r;
        bp_rx_status_t st = bp_rx_push(&rx, s.b[k], &m, &r);
        if (st == BP_RX_FRAME) {
            CHECK(pos < nv && msg_equal(&m, &v[pos].msg, why, sizeof why), "frame %zu out of order: %s", pos,
                  why);
            pos++;
            got++;
        }
    }
    CHECK(got == nv, "decoded %zu of %zu frames", got, nv);
    {
        uint32_t drops = 0;
        int r;
        for (r = 0; r < BP_REASON_COUNT; r++)
            drops += rx.dropped[r];
        CHECK(drops == garbage, "%u runs dropped, %zu garbage runs sent", drops, garbage);
    }
    free(s.b);
}

/* Every corruption of frame `f` given by `mutate` must be dropped, and the intact frame after it decoded. */
static void expect_dropped_then_ok(const unsigned char *bad, size_t bad_n, const vec_frame_t *f, size_t *accepted)
{
    static uint8_t buf[BP_MAX_PAYLOAD];
    bp_rx_t rx;
    size_t k;
    char why[64];
    bp_msg_t m;
    bp_reason_t r;
    bp_rx_status_t st = BP_RX_NEED_MORE;

    bp_rx_init(&rx, buf, sizeof buf, BP_DIR_ANY);
    for (k = 0; k < bad_n; k++)
        if (bp_rx_push(&rx, bad[k], &m, &r) == BP_RX_FRAME)
            (*accepted)++;
    if (bp_rx_push(&rx, 0x00, &m, &r) == BP_RX_FRAME) /* end the corrupted run whatever happened to it */
        (*accepted)++;
    for (k = 0; k < f->n; k++)
        st = bp_rx_push(&rx, f->frame[k], &m, &r);
    CHECK(st == BP_RX_FRAME && msg_equal(&m, &f->msg, why, sizeof why), "no resync after corruption: %s", why);
}

static void corruptions(vec_frame_t *v, size_t nv)
{
    size_t i, j, accepted, cases;
    unsigned char *tmp = malloc(4096);

    tt_begin("corrupt: every single-bit flip of every frame is dropped, the next frame decodes");
    accepted = cases = 0;
    for (i = 0; i < nv; i++) {
        size_t body = v[i].n - 1; /* without the delimiter */
        int bit;
        for (j = 0; j < body; j++) {
            for (bit = 0; bit < 8; bit++) {
                memcpy(tmp, v[i].frame, body);
                tmp[j] ^= (unsigned char)(1u << bit);
                expect_dropped_then_ok(tmp, body, &v[i], &accepted);
                cases++;
            }
        }
    }
    CHECK(accepted == 0, "%zu of %zu bit flips accepted as a frame", accepted, cases);

    tt_begin("corrupt: every truncation of every frame is dropped");
    accepted = 0;
    for (i = 0; i < nv; i++)
        for (j = 1; j + 1 < v[i].n; j++)
            expect_dropped_then_ok(v[i].frame, j, &v[i], &accepted);
    CHECK(accepted == 0, "%zu truncations accepted", accepted);

    tt_begin("corrupt: a byte deleted or inserted anywhere in a frame is dropped");
    accepted = 0;
    for (i = 0; i < nv; i++) {
        size_t body = v[i].n - 1;
        if (body + 2 > 4096)
            continue;
        for (j = 0; j < body; j++) {
            memcpy(tmp, v[i].frame, j);
            memcpy(tmp + j, v[i].frame + j + 1, body - j - 1);
            expect_dropped_then_ok(tmp, body - 1, &v[i], &accepted);
            memcpy(tmp, v[i].frame, j);
            tmp[j] = (unsigned char)(1 + rnd() % 255);
            memcpy(tmp + j + 1, v[i].frame + j, body - j);
            expect_dropped_then_ok(tmp, body + 1, &v[i], &accepted);
        }
    }
    CHECK(accepted == 0, "%zu insertions/deletions accepted", accepted);

    tt_begin("corrupt: a frame cut short by a sender reboot merges with the next one; both are dropped, the "
             "one after decodes");
    accepted = 0;
    for (i = 0; i + 2 < nv; i++) {
        static uint8_t buf[BP_MAX_PAYLOAD];
        bp_rx_t rx;
        bp_msg_t m;
        bp_reason_t r;
        bp_rx_status_t st = BP_RX_NEED_MORE;
        size_t cut = 1 + rnd() % (v[i].n - 2), k; /* never the whole frame: its delimiter is lost */
        char why[64];
        bp_rx_init(&rx, buf, sizeof buf, BP_DIR_ANY);
        for (k = 0; k < cut; k++)
            accepted += bp_rx_push(&rx, v[i].frame[k], &m, &r) == BP_RX_FRAME;
        for (k = 0; k < v[i + 1].n; k++) /* no lead-in: the next frame runs on */
            accepted += bp_rx_push(&rx, v[i + 1].frame[k], &m, &r) == BP_RX_FRAME;
        CHECK(rx.dropped[BP_BAD_COBS] + rx.dropped[BP_BAD_CRC] + rx.dropped[BP_OVERSIZE] + rx.dropped[BP_TOO_SHORT] +
                      rx.dropped[BP_UNKNOWN_TYPE] + rx.dropped[BP_BAD_LENGTH] + rx.dropped[BP_BAD_VALUE] ==
                  1,
              "the merged run was not dropped once");
        for (k = 0; k < v[i + 2].n; k++)
            st = bp_rx_push(&rx, v[i + 2].frame[k], &m, &r);
        CHECK(st == BP_RX_FRAME && msg_equal(&m, &v[i + 2].msg, why, sizeof why), "no resync: %s", why);
        /* With the sender's lead-in 0x00 after the reboot, only the partial run is lost. */
        expect_dropped_then_ok(v[i].frame, cut, &v[i + 1], &accepted);
    }
    CHECK(accepted == 0, "%zu partial frames accepted", accepted);
    free(tmp);
}

static void soup(void)
{
    static uint8_t big[BP_MAX_PAYLOAD], small[16];
    size_t n = 400000, i, after_last_zero = 0;
    unsigned char *b = malloc(n);
    bp_rx_t rx_any, rx_fw;
    tally_t ta = {0, 0, 0, 0}, tf = {0, 0, 0, 0};
    uint32_t sum_any = 0, sum_fw = 0;
    int r;

    tt_begin("fuzz: 400000 random bytes through the host-size and the bridge-size receivers");
    for (i = 0; i < n; i++) {
        uint32_t x = rnd();
        b[i] = (x % 24 == 0) ? 0x00 : (unsigned char)(x >> 8);
        after_last_zero = b[i] == 0 ? 0 : after_last_zero + 1;
    }
    bp_rx_init(&rx_any, big, sizeof big, BP_DIR_ANY);
    bp_rx_init(&rx_fw, small, sizeof small, BP_DIR_HOST_TO_BRIDGE);
    feed(&rx_any, b, n, &ta);
    feed(&rx_fw, b, n, &tf);
    for (r = 0; r < BP_REASON_COUNT; r++) {
        sum_any += rx_any.dropped[r];
        sum_fw += rx_fw.dropped[r];
    }
    /* Accounting: every delimiter ends exactly one run (a frame, a drop) or an empty one (a skip). */
    CHECK(ta.frames + ta.drops + ta.skips == ta.zeros, "host-size receiver lost a run");
    CHECK(tf.frames + tf.drops + tf.skips == tf.zeros, "bridge-size receiver lost a run");
    CHECK(ta.drops == sum_any && tf.drops == sum_fw, "drop counters");
    CHECK(bp_rx_pending(&rx_any) == after_last_zero && bp_rx_pending(&rx_fw) == after_last_zero, "pending");
    free(b);
}

static void round_trips(void)
{
    static uint8_t frame[BP_FRAME_ROOM(BP_MAX_PAYLOAD)], rxbuf[BP_MAX_PAYLOAD], bytes[BP_MAX_BODY];
    static const uint8_t types[] = {BP_HELLO, BP_KEY, BP_WIEGAND, BP_SCAN,  BP_FRAME, BP_INPUT,
                                    BP_HEARTBEAT, BP_ACK, BP_RELAY, BP_LED, BP_BEEP, BP_PING};
    bp_rx_t rx;
    int i, bad = 0;
    char why[64];

    tt_begin("round trip: 3000 random valid messages encode, stream and decode to themselves");
    bp_rx_init(&rx, rxbuf, sizeof rxbuf, BP_DIR_ANY);
    for (i = 0; i < 3000; i++) {
        bp_msg_t m, got;
        uint16_t n, k, len;
        bp_reason_t r;
        bp_rx_status_t st = BP_RX_NEED_MORE;
        memset(&m, 0, sizeof m);
        m.type = types[rnd() % sizeof types];
        m.seq = (uint8_t)rnd();
        for (k = 0; k < sizeof bytes; k++)
            bytes[k] = (uint8_t)(0x20 + rnd() % 0x5F); /* printable ASCII: valid UTF-8 */
        switch (m.type) {
        case BP_HELLO:
            m.u.hello.protocol = (uint8_t)rnd();
            m.u.hello.firmware = bytes;
            m.u.hello.firmware_len = (uint16_t)(rnd() % 40);
            break;
        case BP_KEY:
            m.u.key.key = (uint8_t)"0123456789*#"[rnd() % 12];
            break;
        case BP_WIEGAND:
            m.u.wiegand.bit_count = (uint8_t)(1 + rnd() % 255);
            for (k = 0; k < 32; k++)
                bytes[k] = (uint8_t)rnd();
            len = (uint16_t)((m.u.wiegand.bit_count + 7u) / 8u);
            bytes[len - 1] &= (uint8_t)(0xFF00u >> (((m.u.wiegand.bit_count - 1u) & 7u) + 1u));
            m.u.wiegand.data = bytes;
            break;
        case BP_SCAN:
            m.u.scan.text = bytes;
            m.u.scan.len = (uint16_t)(1 + rnd() % BP_MAX_BODY);
            break;
        case BP_FRAME:
            for (k = 0; k < sizeof bytes; k++)
                bytes[k] = (uint8_t)(rnd() % 4 ? rnd() : 0); /* plenty of zeros for COBS */
            m.u.frame.chunk_count = (uint16_t)(1 + rnd() % 0xFFFF);
            m.u.frame.chunk_index = (uint16_t)(rnd() % m.u.frame.chunk_count);
            m.u.frame.frame_id = (uint16_t)rnd();
            m.u.frame.width = (uint16_t)rnd();
            m.u.frame.height = (uint16_t)rnd();
            m.u.frame.pixels = bytes;
            m.u.frame.pixel_count = (uint16_t)(rnd() % (BP_MAX_BODY - BP_FRAME_HEADER + 1));
            break;
        case BP_INPUT:
            m.u.input.input = (uint8_t)rnd();
            m.u.input.level = (uint8_t)(rnd() & 1);
            break;
        case BP_HEARTBEAT:
            m.u.heartbeat.uptime_ms = rnd();
            break;
        case BP_ACK:
            m.u.ack.seq = (uint8_t)rnd();
            break;
        case BP_RELAY:
            m.u.relay.channel = (uint8_t)rnd();
            m.u.relay.ms = (uint16_t)rnd();
            break;
        case BP_LED:
            m.u.led.colour = (uint8_t)(rnd() % 4);
            m.u.led.ms = (uint16_t)rnd();
            break;
        case BP_BEEP:
            m.u.beep.pattern = (uint8_t)(1 + rnd() % 4);
            break;
        default:
            break;
        }
        n = bp_encode_frame(&m, frame, sizeof frame);
        if (n == 0) {
            bad++;
            continue;
        }
        for (k = 0; k < n; k++)
            st = bp_rx_push(&rx, frame[k], &got, &r);
        if (st != BP_RX_FRAME || !msg_equal(&got, &m, why, sizeof why))
            bad++;
    }
    CHECK(bad == 0, "%d messages did not survive the round trip", bad);
}

void test_stream(const json_t *vectors)
{
    vec_frame_t *v;
    size_t nv = load_frames(json_get(vectors, "frames"), &v);
    CHECK(nv >= 12, "only %zu frame vectors", nv);
    garbage_between_frames(v, nv);
    corruptions(v, nv);
    soup();
    round_trips();
    free_frames(v, nv);
}
