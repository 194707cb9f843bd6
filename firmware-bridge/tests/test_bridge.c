/*
 * The bridge application (bridge.c) on a fake board: a fake clock, a UART whose output is decoded with the
 * host's rules, relays/LED/beeper that log their changes with the time, a keypad matrix and inputs the
 * tests press and bounce.
 */
#include <stdlib.h>
#include <string.h>

#include "bridge.h"
#include "check.h"
#include "cobs.h"
#include "crc16.h"
#include "msg.h"

#define LOG_MAX 512

typedef struct {
    uint32_t t;
    uint8_t what; /* 'R' relay, 'L' LED, 'B' beeper */
    uint8_t index, value;
} change_t;

typedef struct {
    uint32_t now;
    uint8_t in[65536];
    size_t in_len, in_pos;
    uint8_t out[262144];
    size_t out_len, out_pos;
    uint8_t relay[BRIDGE_RELAYS], led, beeper;
    change_t log[LOG_MAX];
    int nlog;
    int key_row[2], key_col[2]; /* up to two keys held; -1 = none */
    uint32_t key_bounce_until;   /* keys read as flickering until then */
    uint8_t inputs;
    uint8_t input_glitch_mask;   /* these inputs read inverted while now < glitch_until */
    uint32_t glitch_until;
    int irq_depth, irq_max;
    uint32_t kicks, polls;
} fake_t;

static fake_t F;
static bridge_t B;

static void log_change(uint8_t what, uint8_t index, uint8_t value)
{
    if (F.nlog < LOG_MAX) {
        change_t c;
        c.t = F.now;
        c.what = what;
        c.index = index;
        c.value = value;
        F.log[F.nlog++] = c;
    }
}

static uint32_t f_millis(void *ctx)
{
    (void)ctx;
    return F.now;
}

static int16_t f_uart_read(void *ctx)
{
    (void)ctx;
    return F.in_pos < F.in_len ? F.in[F.in_pos++] : -1;
}

static void f_uart_write(void *ctx, const uint8_t *data, uint16_t len)
{
    (void)ctx;
    CHECK(F.irq_depth == 0, "uart_write with interrupts masked");
    CHECK(F.out_len + len <= sizeof F.out, "fake UART full");
    if (F.out_len + len <= sizeof F.out) {
        memcpy(F.out + F.out_len, data, len);
        F.out_len += len;
    }
}

static void f_relay_write(void *ctx, uint8_t index, uint8_t on)
{
    (void)ctx;
    CHECK(index < BRIDGE_RELAYS, "relay %u", index);
    if (index < BRIDGE_RELAYS) {
        F.relay[index] = on;
        log_change('R', index, on);
    }
}

static void f_led_write(void *ctx, uint8_t colour)
{
    (void)ctx;
    F.led = colour;
    log_change('L', 0, colour);
}

static void f_beeper_write(void *ctx, uint8_t on)
{
    (void)ctx;
    F.beeper = on;
    log_change('B', 0, on);
}

static uint8_t f_scan_row(void *ctx, uint8_t row)
{
    uint8_t cols = 0;
    int k;
    (void)ctx;
    for (k = 0; k < 2; k++)
        if (F.key_row[k] == row && F.key_col[k] >= 0)
            cols |= (uint8_t)(1u << F.key_col[k]);
    if (F.now < F.key_bounce_until && (F.now & 1u))
        cols = 0; /* contact bounce: open every other millisecond */
    return cols;
}

static uint8_t f_inputs_read(void *ctx)
{
    (void)ctx;
    return F.now < F.glitch_until ? (uint8_t)(F.inputs ^ F.input_glitch_mask) : F.inputs;
}

static uint8_t f_irq_save(void *ctx)
{
    (void)ctx;
    F.irq_depth++;
    if (F.irq_depth > F.irq_max)
        F.irq_max = F.irq_depth;
    return 0x80;
}

static void f_irq_restore(void *ctx, uint8_t saved)
{
    (void)ctx;
    CHECK(saved == 0x80, "irq_restore given %02x", saved);
    F.irq_depth--;
}

static void f_kick(void *ctx)
{
    (void)ctx;
    F.kicks++;
}

static const bridge_hal_t HAL = {
    .ctx = &F,
    .millis = f_millis,
    .uart_read = f_uart_read,
    .uart_write = f_uart_write,
    .relay_write = f_relay_write,
    .led_write = f_led_write,
    .beeper_write = f_beeper_write,
    .keypad_scan_row = f_scan_row,
    .inputs_read = f_inputs_read,
    .irq_save = f_irq_save,
    .irq_restore = f_irq_restore,
    .watchdog_kick = f_kick,
};

/* Boots a fresh bridge at `now` with input levels `inputs`, and drops the boot frames. */
static void boot(uint32_t now, uint8_t inputs)
{
    memset(&F, 0, sizeof F);
    F.now = now;
    F.inputs = inputs;
    F.key_row[0] = F.key_row[1] = F.key_col[0] = F.key_col[1] = -1;
    bridge_init(&B, &HAL);
}

static void poll_once(void)
{
    F.polls++;
    bridge_poll(&B);
}

/* Advances the clock one millisecond at a time, polling once per millisecond. */
static void advance(uint32_t ms)
{
    while (ms--) {
        F.now++;
        poll_once();
    }
}

/* The bridge's new output, decoded as the host would (bridge -> host): every run must be a valid frame. */
typedef struct {
    uint8_t payload[64];
    bp_msg_t m;
} rec_t;

static int collect(rec_t *recs, int max)
{
    int n = 0;
    while (F.out_pos < F.out_len && n < max) {
        size_t end = F.out_pos, len;
        while (end < F.out_len && F.out[end] != 0)
            end++;
        if (end == F.out_len)
            break; /* no delimiter yet */
        if (end > F.out_pos) {
            rec_t tmp;
            bp_reason_t r = BP_BAD_COBS;
            if (cobs_decode(F.out + F.out_pos, end - F.out_pos, tmp.payload, sizeof tmp.payload, &len) == COBS_OK)
                r = bp_decode_payload(tmp.payload, (uint16_t)len, BP_DIR_BRIDGE_TO_HOST, &tmp.m);
            CHECK(r == BP_OK, "the bridge sent a frame the host drops: %s", reason_name(r));
            if (r == BP_OK) {
                recs[n] = tmp;
                /* re-point into the copy */
                if (tmp.m.type == BP_HELLO)
                    recs[n].m.u.hello.firmware = recs[n].payload + 3;
                if (tmp.m.type == BP_WIEGAND)
                    recs[n].m.u.wiegand.data = recs[n].payload + 3;
                n++;
            }
        }
        F.out_pos = end + 1;
    }
    return n;
}

static int count_type(const rec_t *r, int n, uint8_t type)
{
    int i, c = 0;
    for (i = 0; i < n; i++)
        c += r[i].m.type == type;
    return c;
}

/* 1 when the output since the last collect holds an ACK of `seq`. */
static int acked(uint8_t seq)
{
    rec_t r[64];
    int n = collect(r, 64), i;
    for (i = 0; i < n; i++)
        if (r[i].m.type == BP_ACK && r[i].m.u.ack.seq == seq)
            return 1;
    return 0;
}

static void host_raw(const uint8_t *b, size_t n)
{
    CHECK(F.in_len + n <= sizeof F.in, "fake host input full");
    if (F.in_len + n <= sizeof F.in) {
        memcpy(F.in + F.in_len, b, n);
        F.in_len += n;
    }
}

static void host_send(const bp_msg_t *m)
{
    uint8_t frame[64];
    uint16_t n = bp_encode_frame(m, frame, sizeof frame);
    CHECK(n > 0, "test bug: cannot encode");
    host_raw(frame, n);
}

static void host_relay(uint8_t seq, uint8_t channel, uint16_t ms)
{
    bp_msg_t m;
    m.type = BP_RELAY;
    m.seq = seq;
    m.u.relay.channel = channel;
    m.u.relay.ms = ms;
    host_send(&m);
}

static void host_led(uint8_t seq, uint8_t colour, uint16_t ms)
{
    bp_msg_t m;
    m.type = BP_LED;
    m.seq = seq;
    m.u.led.colour = colour;
    m.u.led.ms = ms;
    host_send(&m);
}

static void host_beep(uint8_t seq, uint8_t pattern)
{
    bp_msg_t m;
    m.type = BP_BEEP;
    m.seq = seq;
    m.u.beep.pattern = pattern;
    host_send(&m);
}

static void host_ping(uint8_t seq)
{
    bp_msg_t m;
    m.type = BP_PING;
    m.seq = seq;
    host_send(&m);
}

/* A payload with a correct CRC but any content, COBS-framed: for frames the encoder would refuse. */
static void host_payload(const uint8_t *p, size_t n)
{
    uint8_t buf[64], frame[80];
    size_t enc;
    uint16_t crc;
    memcpy(buf, p, n);
    crc = crc16_ccitt_false(buf, n);
    buf[n] = (uint8_t)(crc >> 8);
    buf[n + 1] = (uint8_t)crc;
    enc = cobs_encode(buf, n + 2, frame, sizeof frame - 1);
    frame[enc] = 0;
    host_raw(frame, enc + 1);
}

/* Time of the n-th change of `what` (index) to `value` in the log, or -1. */
static long change_at(uint8_t what, uint8_t index, uint8_t value, int nth)
{
    int i;
    for (i = 0; i < F.nlog; i++)
        if (F.log[i].what == what && F.log[i].index == index && F.log[i].value == value && nth-- == 0)
            return (long)F.log[i].t;
    return -1;
}

static void test_boot(void)
{
    rec_t r[16];
    int n;
    tt_begin("bridge: boot sends a lead-in 0x00, HELLO seq 0, then every input's level; outputs off");
    boot(0, 0x05);
    CHECK(F.out_len > 0 && F.out[0] == 0x00, "no lead-in 0x00");
    n = collect(r, 16);
    CHECK(n == 4, "%d boot frames", n);
    if (n == 4) {
        CHECK(r[0].m.type == BP_HELLO && r[0].m.seq == 0 && r[0].m.u.hello.protocol == 1, "HELLO");
        CHECK(r[0].m.u.hello.firmware_len == strlen(BRIDGE_FIRMWARE) &&
                  memcmp(r[0].m.u.hello.firmware, BRIDGE_FIRMWARE, strlen(BRIDGE_FIRMWARE)) == 0,
              "firmware text");
        CHECK(r[1].m.type == BP_INPUT && r[1].m.seq == 1 && r[1].m.u.input.input == 1 && r[1].m.u.input.level == 1,
              "INPUT 1");
        CHECK(r[2].m.type == BP_INPUT && r[2].m.seq == 2 && r[2].m.u.input.input == 2 && r[2].m.u.input.level == 0,
              "INPUT 2");
        CHECK(r[3].m.type == BP_INPUT && r[3].m.seq == 3 && r[3].m.u.input.input == 3 && r[3].m.u.input.level == 1,
              "INPUT 3");
    }
    CHECK(change_at('R', 0, 0, 0) == 0 && change_at('R', 1, 0, 0) == 0, "relays not driven off at boot");
    CHECK(F.led == BP_LED_OFF && F.beeper == 0, "LED/beeper not off");
}

static void test_heartbeat(void)
{
    rec_t r[64];
    int n, i, hb = 0;
    tt_begin("bridge: HEARTBEAT every 1000 ms with the uptime, seq counting on; watchdog kicked every pass");
    boot(0, 0x07);
    collect(r, 64);
    advance(3500);
    n = collect(r, 64);
    for (i = 0; i < n; i++) {
        if (r[i].m.type != BP_HEARTBEAT)
            continue;
        hb++;
        CHECK(r[i].m.u.heartbeat.uptime_ms == (uint32_t)hb * 1000u, "heartbeat %d at %u", hb,
              r[i].m.u.heartbeat.uptime_ms);
        CHECK(r[i].m.seq == (uint8_t)(3 + hb), "heartbeat seq %u", r[i].m.seq);
    }
    CHECK(hb == 3 && n == 3, "%d heartbeats, %d frames", hb, n);
    CHECK(F.kicks == F.polls, "watchdog kicked %u times in %u passes", F.kicks, F.polls);
    CHECK(F.irq_depth == 0 && F.irq_max == 1, "interrupt masking unbalanced");
}

static void test_relay(void)
{
    tt_begin("bridge: RELAY pulses for ms, timed here; ACKed by seq; ms 0 releases at once");
    boot(100, 0x07);
    host_relay(10, 1, 3000);
    poll_once();
    CHECK(F.relay[0] == 1 && F.relay[1] == 0, "relay 1 not on");
    CHECK(acked(10), "no ACK of seq 10");
    advance(2999);
    CHECK(F.relay[0] == 1, "relay 1 off early");
    advance(1);
    CHECK(F.relay[0] == 0 && change_at('R', 0, 0, 1) == 3100, "relay 1 off at %ld, want 3100",
          change_at('R', 0, 0, 1));
    host_relay(11, 2, 5000);
    poll_once();
    CHECK(F.relay[1] == 1, "relay 2 not on");
    advance(10);
    host_relay(12, 2, 0);
    poll_once();
    CHECK(F.relay[1] == 0 && acked(12), "ms 0 did not release relay 2");

    tt_begin("bridge: a RELAY while energised restarts the pulse with the new length");
    host_relay(13, 1, 2000);
    poll_once();
    advance(1500);
    host_relay(14, 1, 1000);
    poll_once();
    advance(999);
    CHECK(F.relay[0] == 1, "restarted pulse ended early");
    advance(1);
    CHECK(F.relay[0] == 0, "restarted pulse did not end");

    tt_begin("bridge: a repeated seq is ACKed again but not carried out again");
    boot(0, 0x07);
    host_relay(7, 1, 2000);
    poll_once();
    advance(1000);
    host_relay(7, 1, 2000); /* a retry after a lost ACK */
    poll_once();
    CHECK(acked(7), "retry not ACKed");
    CHECK(B.counters.duplicates == 1, "duplicates %u", B.counters.duplicates);
    advance(1000);
    CHECK(F.relay[0] == 0 && change_at('R', 0, 0, 1) == 2000, "the retry restarted the pulse (off at %ld)",
          change_at('R', 0, 0, 1));
    CHECK(change_at('R', 0, 1, 1) == -1, "relay switched on twice");

    tt_begin("bridge: unknown relay channels are ACKed, counted and ignored");
    host_relay(8, 0, 1000);
    host_relay(9, BRIDGE_RELAYS + 1, 1000);
    poll_once();
    CHECK(acked(9), "no ACK");
    CHECK(B.counters.bad_channel == 2 && F.relay[0] == 0 && F.relay[1] == 0, "bad channel counted %u",
          B.counters.bad_channel);
}

static void test_pulse_cap(void)
{
    uint32_t t;
    uint8_t seq = 1;
    tt_begin("bridge: a pulse is capped at BRIDGE_RELAY_MAX_MS, even with the host alive");
    boot(0, 0x07);
    host_relay(seq++, 1, 65535);
    poll_once();
    for (t = 1; t <= BRIDGE_RELAY_MAX_MS + 2000; t++) {
        if (t % 1000 == 0)
            host_ping(seq++);
        advance(1);
    }
    CHECK(change_at('R', 0, 0, 1) == (long)BRIDGE_RELAY_MAX_MS, "pulse ended at %ld", change_at('R', 0, 0, 1));
    CHECK(B.counters.host_timeouts == 0, "host timed out while pinging");
}

static void test_host_silence(void)
{
    rec_t r[64];
    tt_begin("bridge: host silent 5 s -> relays off and LED amber until it speaks again");
    boot(0, 0x07);
    advance(100);
    host_relay(1, 1, 20000);
    poll_once();
    CHECK(F.relay[0] == 1, "relay not on");
    advance(BRIDGE_HOST_TIMEOUT_MS - 1);
    CHECK(F.relay[0] == 1 && F.led == BP_LED_OFF, "timed out early");
    advance(1);
    CHECK(F.relay[0] == 0 && F.led == BP_LED_AMBER, "relay %u LED %u after 5 s of silence", F.relay[0], F.led);
    CHECK(B.counters.host_timeouts == 1, "timeouts %u", B.counters.host_timeouts);
    advance(3000);
    CHECK(F.led == BP_LED_AMBER, "amber did not stay");
    collect(r, 64);
    host_ping(1); /* same seq as the last command before the silence: a restarted host, not a retry */
    poll_once();
    CHECK(acked(1) && B.counters.duplicates == 0, "seq 1 taken for a retry after the silence");
    CHECK(F.led == BP_LED_OFF, "LED still amber with the host back");

    tt_begin("bridge: no host at all after boot -> amber after 5 s");
    boot(0, 0x07);
    advance(BRIDGE_HOST_TIMEOUT_MS);
    CHECK(F.led == BP_LED_AMBER, "not amber");
}

static void test_led_beep(void)
{
    tt_begin("bridge: LED shows a colour for ms; ms 0 = off now");
    boot(0, 0x07);
    host_led(1, BP_LED_GREEN, 500);
    poll_once();
    CHECK(F.led == BP_LED_GREEN && acked(1), "not green");
    advance(499);
    CHECK(F.led == BP_LED_GREEN, "green ended early");
    advance(1);
    CHECK(F.led == BP_LED_OFF, "green did not end");
    host_led(2, BP_LED_RED, 5000);
    poll_once();
    CHECK(F.led == BP_LED_RED, "not red");
    host_led(3, BP_LED_AMBER, 0);
    poll_once();
    CHECK(F.led == BP_LED_OFF, "LED amber with ms 0 did not turn it off");
    host_led(4, BP_LED_AMBER, 100);
    poll_once();
    host_led(5, BP_LED_OFF, 0);
    poll_once();
    CHECK(F.led == BP_LED_OFF, "LED off did not turn it off");

    tt_begin("bridge: BEEP patterns (deny = three 100 ms beeps), a new BEEP replaces the one playing");
    boot(1000, 0x07);
    host_beep(1, BP_BEEP_DENY);
    poll_once();
    advance(1000);
    CHECK(change_at('B', 0, 1, 0) == 1000 && change_at('B', 0, 0, 1) == 1100 && change_at('B', 0, 1, 1) == 1200 &&
              change_at('B', 0, 0, 2) == 1300 && change_at('B', 0, 1, 2) == 1400 &&
              change_at('B', 0, 0, 3) == 1500 && change_at('B', 0, 1, 3) == -1,
          "deny pattern wrong");
    host_beep(2, BP_BEEP_ALARM);
    poll_once();
    advance(100);
    host_beep(3, BP_BEEP_KEY_CLICK);
    poll_once();
    advance(29);
    CHECK(F.beeper == 1, "click ended early");
    advance(1);
    CHECK(F.beeper == 0, "click did not end");
    advance(3000);
    CHECK(F.beeper == 0, "the replaced alarm came back");
}

static void test_bad_frames(void)
{
    static const uint8_t key_from_host[] = {BP_KEY, 5, '1'};
    static const uint8_t led_colour_4[] = {BP_LED, 6, 4, 0, 100};
    static const uint8_t relay_short[] = {BP_RELAY, 7, 1, 0};
    uint8_t frame[32], big[2000];
    uint16_t n;
    bp_msg_t m;
    size_t i;

    tt_begin("bridge: bad host frames are dropped (no ACK, no action) and counted by reason");
    boot(0, 0x07);
    m.type = BP_RELAY;
    m.seq = 1;
    m.u.relay.channel = 1;
    m.u.relay.ms = 1000;
    n = bp_encode_frame(&m, frame, sizeof frame);
    frame[n - 2] ^= 0x01; /* CRC */
    host_raw(frame, n);
    host_payload(key_from_host, sizeof key_from_host);
    host_payload(led_colour_4, sizeof led_colour_4);
    host_payload(relay_short, sizeof relay_short);
    for (i = 0; i < sizeof big; i++)
        big[i] = (uint8_t)(1 + i % 255);
    host_raw(big, sizeof big);
    host_raw((const uint8_t *)"\0", 1);
    advance(50);
    CHECK(!acked(1) && !acked(5) && !acked(6) && !acked(7), "a bad frame was ACKed");
    CHECK(F.relay[0] == 0 && F.led == BP_LED_OFF, "a bad frame was carried out");
    CHECK(B.rx.dropped[BP_BAD_CRC] == 1 && B.rx.dropped[BP_UNKNOWN_TYPE] == 1 && B.rx.dropped[BP_BAD_VALUE] == 1 &&
              B.rx.dropped[BP_BAD_LENGTH] == 1 && B.rx.dropped[BP_OVERSIZE] == 1,
          "drop counters");
    host_ping(9);
    advance(1);
    CHECK(acked(9), "no ACK after the bad frames");

    tt_begin("bridge: commands between bursts of line noise are all carried out and ACKed");
    {
        uint32_t seed = 7;
        int k, acks = 0, drops_before = 0, r;
        rec_t recs[64];
        boot(0, 0x07);
        collect(recs, 64);
        for (k = 0; k < 100; k++) {
            size_t len = (size_t)(k * 37 % 300);
            for (i = 0; i < len; i++) {
                seed = seed * 1103515245u + 12345u;
                big[i] = (uint8_t)(seed >> 16);
            }
            host_raw(big, len);
            host_raw((const uint8_t *)"\0", 1); /* the sender's lead-in: ends the noise */
            if (k % 2)
                host_ping((uint8_t)k);
            else
                host_beep((uint8_t)k, BP_BEEP_KEY_CLICK);
        }
        for (k = 0; k < 2000 && F.in_pos < F.in_len; k++)
            advance(1);
        advance(10);
        for (;;) {
            int n2 = collect(recs, 64), j;
            if (n2 == 0)
                break;
            for (j = 0; j < n2; j++)
                acks += recs[j].m.type == BP_ACK;
        }
        for (r = 0; r < BP_REASON_COUNT; r++)
            drops_before += (int)B.rx.dropped[r];
        CHECK(acks == 100, "%d of 100 commands ACKed", acks);
        CHECK(drops_before > 0, "no noise was dropped");
    }
}

static void press(int row, int col, uint32_t hold, uint32_t bounce)
{
    F.key_row[0] = row;
    F.key_col[0] = col;
    F.key_bounce_until = F.now + bounce;
    advance(hold);
    F.key_row[0] = F.key_col[0] = -1;
    F.key_bounce_until = F.now + bounce;
    advance(60);
}

static void test_keypad(void)
{
    rec_t r[64];
    int n, i, k;
    char keys[32];
    tt_begin("bridge: a bouncing key press gives exactly one KEY frame, sent after the debounce time");
    boot(0, 0x07);
    collect(r, 64);
    press(1, 1, 150, 8); /* '5' */
    n = collect(r, 64);
    CHECK(n == 1 && r[0].m.type == BP_KEY && r[0].m.u.key.key == '5', "%d frames", n);

    tt_begin("bridge: every key of the 3x4 matrix maps to its KEY, in order");
    for (i = 0; i < 12; i++)
        press(i / 3, i % 3, 40, 3);
    n = collect(r, 64);
    for (i = 0, k = 0; i < n && k < 31; i++)
        if (r[i].m.type != BP_HEARTBEAT)
            keys[k++] = r[i].m.type == BP_KEY ? (char)r[i].m.u.key.key : '?';
    keys[k] = '\0';
    CHECK(strcmp(keys, "123456789*0#") == 0, "keys %s", keys);

    tt_begin("bridge: a key closed for less than the debounce time sends nothing; two keys send two");
    press(0, 0, BRIDGE_KEY_DEBOUNCE_MS - 5, 0);
    n = collect(r, 64);
    CHECK(count_type(r, n, BP_KEY) == 0, "a short glitch was a key");
    F.key_row[0] = 3;
    F.key_col[0] = 2;
    F.key_row[1] = 0;
    F.key_col[1] = 1;
    advance(100);
    F.key_row[0] = F.key_row[1] = F.key_col[0] = F.key_col[1] = -1;
    advance(100);
    n = collect(r, 64);
    CHECK(count_type(r, n, BP_KEY) == 2, "%d KEY frames", count_type(r, n, BP_KEY));
}

static void test_inputs(void)
{
    rec_t r[64];
    int n;
    tt_begin("bridge: an input change sends one INPUT after the debounce; a shorter glitch sends nothing");
    boot(0, 0x07);
    collect(r, 64);
    F.inputs = 0x06; /* door contact closed: input 1 low */
    F.input_glitch_mask = 0x01;
    F.glitch_until = F.now + 10; /* bouncing for 10 ms */
    advance(100);
    n = collect(r, 64);
    CHECK(n == 1 && r[0].m.type == BP_INPUT && r[0].m.u.input.input == 1 && r[0].m.u.input.level == 0,
          "%d frames", n);
    F.input_glitch_mask = 0x02;
    F.glitch_until = F.now + BRIDGE_INPUT_DEBOUNCE_MS - 5;
    advance(100);
    n = collect(r, 64);
    CHECK(count_type(r, n, BP_INPUT) == 0, "a glitch was reported");
    F.inputs = 0x02; /* tamper opened too */
    advance(100);
    n = collect(r, 64);
    CHECK(n == 1 && r[0].m.u.input.input == 3 && r[0].m.u.input.level == 0, "tamper");
}

static void test_wiegand_frame(void)
{
    rec_t r[8];
    const char *card = "10111101100010001110101110";
    const char *c;
    int n;
    tt_begin("bridge: a Wiegand read becomes one WIEGAND frame with the raw bits, 25 ms after the last bit");
    boot(0, 0x07);
    collect(r, 8);
    advance(10);
    for (c = card; *c; c++) {
        wiegand_bit(&B.wiegand, (uint8_t)(*c == '1'), F.now); /* what the INT0/INT1 handlers do */
        advance(2);
    }
    advance(BRIDGE_WIEGAND_GAP_MS - 3); /* last bit was 2 ms ago */
    CHECK(collect(r, 8) == 0, "sent before 25 ms of silence");
    advance(1);
    n = collect(r, 8);
    CHECK(n == 1 && r[0].m.type == BP_WIEGAND && r[0].m.u.wiegand.bit_count == 26, "%d frames", n);
    if (n == 1)
        CHECK(memcmp(r[0].m.u.wiegand.data, "\xBD\x88\xEB\x80", 4) == 0, "data");
}

static void test_seq_wrap(void)
{
    rec_t r[64];
    int k, bad = 0, n, j;
    uint8_t expect;
    tt_begin("bridge: the bridge's seq wraps 255 -> 0");
    boot(0, 0x07);
    collect(r, 64);
    expect = 4;
    for (k = 0; k < 300; k++) {
        host_ping((uint8_t)k);
        poll_once();
        n = collect(r, 64);
        for (j = 0; j < n; j++) {
            bad += r[j].m.seq != expect;
            expect = (uint8_t)(expect + 1u);
        }
    }
    CHECK(bad == 0, "%d frames out of sequence", bad);
}

void test_bridge(void)
{
    test_boot();
    test_heartbeat();
    test_relay();
    test_pulse_cap();
    test_host_silence();
    test_led_beep();
    test_bad_frames();
    test_keypad();
    test_inputs();
    test_wiegand_frame();
    test_seq_wrap();
}
