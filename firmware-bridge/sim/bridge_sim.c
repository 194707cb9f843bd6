/*
 * bridge-sim: runs the bridge firmware (build/bridge.elf) in simavr with a simulated door around it.
 *
 *   bridge-sim [-v] build/bridge.elf
 *
 * The firmware's UART0 is a pseudo-terminal: once the simulation runs, the first line on stdout is
 *
 *   PTY /dev/pts/N
 *
 * and a daemon can open that path as its serial bridge. Commands, one per line on stdin, run one after the
 * other in simulated time:
 *
 *   key K [HOLD_MS]              press and release keypad key K (0-9 * #), held 80 ms by default
 *   keys KEYS [HOLD_MS [GAP_MS]] press a sequence ("246810#"): 80 ms held, 80 ms apart by default
 *   wiegand BITS [PULSE_US [INTERVAL_US]]
 *                                send a Wiegand read ("1011..."): D0 (0) or D1 (1) pulled low for 50 us,
 *                                one bit every 2000 us by default
 *   input N LEVEL                set input N (1 door contact, 2 exit button, 3 tamper) to 0 or 1
 *   wait MS                      do nothing for MS of simulated time
 *   time                         print "TIME <ms>"
 *   quit                         exit (so does the end of stdin, SIGINT and SIGTERM)
 *
 * Each command prints "DONE <command> <ms>" when its last pin change has happened. Output pins are reported
 * when they change, stamped with the simulated time in milliseconds since reset:
 *
 *   RELAY <channel> ON|OFF <ms>      LED off|green|red|amber <ms>      BEEP ON|OFF <ms>
 *
 * and "RESET <ms>" if the MCU resets (watchdog). Errors go to stderr, and to stdout as "ERROR <text>".
 *
 * Design: single-threaded. simavr's uart_pty part moves bytes on a thread of its own (raising simavr IRQs
 * from it) and links /tmp/simavr-uart0, a fixed path that parallel runs fight over; here the pty is polled
 * from simavr's own cycle timers, and when the firmware sleeps (idle, between its 1 ms ticks) the harness
 * waits in ppoll() for the pty or stdin until wall-clock time catches up with simulated time. So simulated
 * time runs at about real speed, never ahead of it, and input wakes the simulation at once.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pty.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "avr_ioport.h"
#include "avr_uart.h"
#include "sim_avr.h"
#include "sim_elf.h"
#include "sim_irq.h"

#include "pins.h"

/* pins.h names a signal by port letter and bit: PORT_CHAR(RELAY1) is 'C'. */
#define STR_(x) #x
#define STR(x) STR_(x)
#define PORT_CHAR(s) (STR(s##_PORT)[0])
#define PIN_NO(s) (s##_BIT)

typedef struct {
    char port;
    int bit;
} pin_t;

#define PIN(s) {PORT_CHAR(s), PIN_NO(s)}

static const pin_t ROWS[4] = {PIN(KEYPAD_ROW1), PIN(KEYPAD_ROW2), PIN(KEYPAD_ROW3), PIN(KEYPAD_ROW4)};
static const pin_t COLS[3] = {PIN(KEYPAD_COL1), PIN(KEYPAD_COL2), PIN(KEYPAD_COL3)};
static const pin_t INPUTS[3] = {PIN(INPUT1), PIN(INPUT2), PIN(INPUT3)};
static const pin_t WIEGAND[2] = {PIN(WIEGAND_D0), PIN(WIEGAND_D1)};
static const pin_t RELAYS[2] = {PIN(RELAY1), PIN(RELAY2)};
static const pin_t LED_GREEN_PIN = PIN(LED_GREEN);
static const pin_t LED_RED_PIN = PIN(LED_RED);
static const pin_t BEEPER_PIN = PIN(BEEPER);
static const pin_t UNUSED_PIN = PIN(UNUSED1);
static const char KEYMAP[] = "123456789*0#";

static avr_t *avr;
static int verbose;
static volatile sig_atomic_t stopping;

/* ---- output -------------------------------------------------------------------------------------- */

static double sim_ms(void)
{
    return (double)avr->cycle * 1000.0 / (double)avr->frequency;
}

static void say(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    if (fflush(stdout) != 0)
        stopping = 1; /* nobody listens any more */
}

static void logger(avr_t *a, const int level, const char *fmt, va_list ap)
{
    (void)a;
    if (verbose || level <= LOG_WARNING) {
        vfprintf(stderr, fmt, ap);
    }
}

/* ---- pins ---------------------------------------------------------------------------------------- */

static avr_irq_t *pin_irq(pin_t p)
{
    return avr_io_getirq(avr, AVR_IOCTL_IOPORT_GETIRQ(p.port), p.bit);
}

static avr_ioport_state_t port_state(char port)
{
    avr_ioport_state_t st;
    memset(&st, 0, sizeof st);
    avr_ioctl(avr, AVR_IOCTL_IOPORT_GETSTATE(port), &st);
    return st;
}

/* What the outside world drives on the firmware's input pins, per port (index: port letter - 'A'). */
static uint8_t ext_mask[4], ext_value[4];

/*
 * The PIN register of a port in data space (ATmega328P: PINB 0x23, PINC 0x26, PIND 0x29). simavr's pin IRQs
 * are filtered (raising the level a pin already has does nothing), and a reset clears the PIN registers
 * without telling the IRQs; so the harness also keeps the PIN bits of the pins it drives right itself.
 */
static uint8_t *pin_register(char port)
{
    return &avr->data[0x23 + 3 * (port - 'B')];
}

static void sync_pin_registers(void)
{
    char port;
    for (port = 'B'; port <= 'D'; port++) {
        int i = port - 'A';
        uint8_t *pin = pin_register(port);
        *pin = (uint8_t)((*pin & (uint8_t)~ext_mask[i]) | (ext_value[i] & ext_mask[i]));
    }
}

/*
 * Drives an input pin from outside. The level is also registered as the pin's "external pull" so that
 * simavr's port logic, which re-raises every pulled-up input pin whenever the firmware writes the PORT
 * register, keeps our level instead of the internal pull-up's 1.
 */
static void drive(pin_t p, int level)
{
    int i = p.port - 'A';
    uint8_t bit = (uint8_t)(1u << p.bit);
    avr_ioport_external_t e;
    ext_mask[i] |= bit;
    if (level)
        ext_value[i] |= bit;
    else
        ext_value[i] &= (uint8_t)~bit;
    memset(&e, 0, sizeof e);
    e.name = (unsigned long)p.port & 0x7F;
    e.mask = ext_mask[i];
    e.value = ext_value[i];
    avr_ioctl(avr, AVR_IOCTL_IOPORT_SET_EXTERNAL(p.port), &e);
    avr_raise_irq(pin_irq(p), (uint32_t)(level ? 1 : 0)); /* edges reach INT0/INT1 this way */
    sync_pin_registers();
}

/* An output is on when the pin is an output driven high. */
static int output_level(pin_t p)
{
    avr_ioport_state_t st = port_state(p.port);
    return ((st.ddr >> p.bit) & 1) && ((st.port >> p.bit) & 1);
}

static int pressed_key = -1; /* index in KEYMAP, or -1 */
static int relay_shown[2], led_shown, beep_shown;
static int in_update;

/*
 * Called on every write to the firmware's PORT and DDR registers: reports output changes, and plays the
 * keypad matrix: the pressed key's column reads low while (and only while) its row is driven low.
 */
static void update(void)
{
    int i, colour;
    static const char *const COLOURS[4] = {"off", "green", "red", "amber"};
    if (in_update)
        return;
    in_update = 1;
    sync_pin_registers();
    for (i = 0; i < 2; i++) {
        int on = output_level(RELAYS[i]);
        if (on != relay_shown[i]) {
            relay_shown[i] = on;
            say("RELAY %d %s %.3f\n", i + 1, on ? "ON" : "OFF", sim_ms());
        }
    }
    colour = output_level(LED_GREEN_PIN) | (output_level(LED_RED_PIN) << 1);
    if (colour != led_shown) {
        led_shown = colour;
        say("LED %s %.3f\n", COLOURS[colour], sim_ms());
    }
    i = output_level(BEEPER_PIN);
    if (i != beep_shown) {
        beep_shown = i;
        say("BEEP %s %.3f\n", i ? "ON" : "OFF", sim_ms());
    }
    for (i = 0; i < 3; i++) {
        int low = 0;
        if (pressed_key >= 0 && pressed_key % 3 == i) {
            pin_t row = ROWS[pressed_key / 3];
            avr_ioport_state_t st = port_state(row.port);
            low = ((st.ddr >> row.bit) & 1) && !((st.port >> row.bit) & 1);
        }
        if (((ext_value[COLS[i].port - 'A'] >> COLS[i].bit) & 1) != !low)
            drive(COLS[i], !low);
    }
    in_update = 0;
}

static void on_port_irq(struct avr_irq_t *irq, uint32_t value, void *param)
{
    (void)irq;
    (void)value;
    (void)param;
    update();
}

static void watch_port(char port)
{
    avr_irq_register_notify(avr_io_getirq(avr, AVR_IOCTL_IOPORT_GETIRQ(port), IOPORT_IRQ_REG_PORT), on_port_irq,
                            NULL);
    avr_irq_register_notify(avr_io_getirq(avr, AVR_IOCTL_IOPORT_GETIRQ(port), IOPORT_IRQ_DIRECTION_ALL),
                            on_port_irq, NULL);
}

static void watch_pin(pin_t p)
{
    avr_irq_register_notify(pin_irq(p), on_port_irq, NULL);
}

/* ---- the serial line ------------------------------------------------------------------------------ */

static int pty_master = -1, pty_slave = -1;
static char pty_name[128];
static uint8_t rxq[1 << 16]; /* host -> firmware bytes waiting for room in the UART */
static size_t rxq_head, rxq_tail;
static int uart_xoff;
static avr_irq_t *uart_in;
static unsigned long tx_dropped;

static void on_uart_out(struct avr_irq_t *irq, uint32_t value, void *param)
{
    uint8_t b = (uint8_t)value;
    (void)irq;
    (void)param;
    /* Non-blocking: a full pty (nobody reading for a long time) loses bytes, like a real unread line. */
    if (write(pty_master, &b, 1) != 1)
        tx_dropped++;
}

static void feed_uart(void)
{
    while (!uart_xoff && rxq_tail != rxq_head) {
        uint8_t b = rxq[rxq_tail];
        rxq_tail = (rxq_tail + 1) % sizeof rxq;
        avr_raise_irq(uart_in, b); /* may call on_xoff() before returning */
    }
}

static void on_xon(struct avr_irq_t *irq, uint32_t value, void *param)
{
    (void)irq;
    (void)value;
    (void)param;
    uart_xoff = 0;
    feed_uart();
}

static void on_xoff(struct avr_irq_t *irq, uint32_t value, void *param)
{
    (void)irq;
    (void)value;
    (void)param;
    uart_xoff = 1;
}

static void read_pty(void)
{
    uint8_t buf[512];
    ssize_t n, i;
    for (;;) {
        size_t room = (rxq_tail + sizeof rxq - rxq_head - 1) % sizeof rxq;
        if (room == 0)
            break;
        n = read(pty_master, buf, room < sizeof buf ? room : sizeof buf);
        if (n <= 0)
            break; /* EAGAIN; or EIO while no one has the slave open */
        for (i = 0; i < n; i++) {
            rxq[rxq_head] = buf[i];
            rxq_head = (rxq_head + 1) % sizeof rxq;
        }
    }
    feed_uart();
}

static int open_pty(void)
{
    struct termios tio;
    int flags;
    if (openpty(&pty_master, &pty_slave, pty_name, NULL, NULL) != 0) {
        perror("bridge-sim: openpty");
        return -1;
    }
    /* Raw, no echo: the host must not get its own bytes back. The harness keeps the slave open, so the
     * master does not report a hang-up while no host has it open. */
    if (tcgetattr(pty_slave, &tio) == 0) {
        cfmakeraw(&tio);
        tcsetattr(pty_slave, TCSANOW, &tio);
    }
    flags = fcntl(pty_master, F_GETFL);
    fcntl(pty_master, F_SETFL, flags | O_NONBLOCK);
    return 0;
}

/* ---- scripted events ---------------------------------------------------------------------------- */

enum { EV_KEY_DOWN, EV_KEY_UP, EV_PIN, EV_DONE };

typedef struct {
    avr_cycle_count_t at;
    int kind;
    int a, b;
    pin_t pin;
    char text[16];
} event_t;

#define EVENTS 8192
static event_t events[EVENTS];
static size_t ev_head, ev_tail;
static avr_cycle_count_t queue_end; /* when the last queued command ends */

static avr_cycle_count_t us_to_cycles(double us)
{
    return (avr_cycle_count_t)(us * (double)avr->frequency / 1e6);
}

static avr_cycle_count_t on_events(avr_t *a, avr_cycle_count_t when, void *param);

static void arm_events(void)
{
    if (ev_tail == ev_head)
        return;
    avr_cycle_timer_cancel(avr, on_events, NULL);
    {
        avr_cycle_count_t at = events[ev_tail].at;
        avr_cycle_timer_register(avr, at > avr->cycle ? at - avr->cycle : 1, on_events, NULL);
    }
}

static int push_event(avr_cycle_count_t at, int kind, int a, int b, pin_t pin, const char *text)
{
    event_t *e;
    if ((ev_head + 1) % EVENTS == ev_tail)
        return -1;
    e = &events[ev_head];
    e->at = at;
    e->kind = kind;
    e->a = a;
    e->b = b;
    e->pin = pin;
    snprintf(e->text, sizeof e->text, "%s", text ? text : "");
    ev_head = (ev_head + 1) % EVENTS;
    if (at > queue_end)
        queue_end = at;
    return 0;
}

static avr_cycle_count_t on_events(avr_t *a, avr_cycle_count_t when, void *param)
{
    (void)when;
    (void)param;
    while (ev_tail != ev_head && events[ev_tail].at <= a->cycle) {
        event_t *e = &events[ev_tail];
        ev_tail = (ev_tail + 1) % EVENTS;
        switch (e->kind) {
        case EV_KEY_DOWN:
            pressed_key = e->a;
            update();
            break;
        case EV_KEY_UP:
            pressed_key = -1;
            update();
            break;
        case EV_PIN:
            drive(e->pin, e->a);
            break;
        default:
            say("DONE %s %.3f\n", e->text, sim_ms());
            break;
        }
    }
    return ev_tail != ev_head ? events[ev_tail].at : 0;
}

static void error(const char *fmt, const char *arg)
{
    fprintf(stderr, "bridge-sim: ");
    fprintf(stderr, fmt, arg);
    fputc('\n', stderr);
    say("ERROR ");
    say(fmt, arg);
    say("\n");
}

static void command(char *line)
{
    char *argv[6];
    int argc = 0, ok = 0;
    char *save = NULL, *tok;
    avr_cycle_count_t t = queue_end > avr->cycle ? queue_end : avr->cycle;
    pin_t none = {'B', 0};

    for (tok = strtok_r(line, " \t\r", &save); tok && argc < 6; tok = strtok_r(NULL, " \t\r", &save))
        argv[argc++] = tok;
    if (argc == 0)
        return;

    if ((strcmp(argv[0], "key") == 0 || strcmp(argv[0], "keys") == 0) && argc >= 2) {
        double hold = argc >= 3 ? atof(argv[2]) : 80, gap = argc >= 4 ? atof(argv[3]) : 80;
        const char *k;
        ok = hold > 0 && gap >= 0;
        for (k = argv[1]; ok && *k; k++) {
            const char *at = strchr(KEYMAP, *k);
            if (!at) {
                error("no key '%s' on the keypad", argv[1]);
                return;
            }
            push_event(t, EV_KEY_DOWN, (int)(at - KEYMAP), 0, none, NULL);
            t += us_to_cycles(hold * 1000);
            push_event(t, EV_KEY_UP, 0, 0, none, NULL);
            t += us_to_cycles(gap * 1000);
        }
    } else if (strcmp(argv[0], "wiegand") == 0 && argc >= 2) {
        double pulse = argc >= 3 ? atof(argv[2]) : 50, interval = argc >= 4 ? atof(argv[3]) : 2000;
        const char *b;
        ok = pulse > 0 && interval > pulse && strspn(argv[1], "01") == strlen(argv[1]);
        for (b = argv[1]; ok && *b; b++) {
            pin_t line_pin = WIEGAND[*b == '1'];
            push_event(t, EV_PIN, 0, 0, line_pin, NULL);
            push_event(t + us_to_cycles(pulse), EV_PIN, 1, 0, line_pin, NULL);
            t += us_to_cycles(interval);
        }
    } else if (strcmp(argv[0], "input") == 0 && argc >= 3) {
        int n = atoi(argv[1]), level = atoi(argv[2]);
        ok = n >= 1 && n <= 3 && (level == 0 || level == 1);
        if (ok)
            push_event(t, EV_PIN, level, 0, INPUTS[n - 1], NULL);
    } else if (strcmp(argv[0], "wait") == 0 && argc >= 2) {
        t += us_to_cycles(atof(argv[1]) * 1000);
        ok = 1;
    } else if (strcmp(argv[0], "time") == 0) {
        say("TIME %.3f\n", sim_ms());
        return;
    } else if (strcmp(argv[0], "quit") == 0) {
        stopping = 1;
        return;
    }
    if (!ok) {
        error("bad command: %s", argv[0]);
        return;
    }
    if (push_event(t, EV_DONE, 0, 0, none, argv[0]) != 0)
        error("too many queued events (%s)", argv[0]);
    arm_events();
}

static char line_buf[4096];
static size_t line_len;

static void read_stdin(void)
{
    char buf[1024];
    ssize_t n = read(STDIN_FILENO, buf, sizeof buf), i;
    if (n == 0) {
        stopping = 1; /* the test that drives us is gone */
        return;
    }
    for (i = 0; i < n; i++) {
        if (buf[i] == '\n') {
            line_buf[line_len] = '\0';
            command(line_buf);
            line_len = 0;
        } else if (line_len + 1 < sizeof line_buf) {
            line_buf[line_len++] = buf[i];
        }
    }
}

/* ---- time -------------------------------------------------------------------------------------------- */

static int64_t mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static int64_t wall_anchor; /* wall-clock microseconds at simulated time 0 */

static void poll_io(int timeout_us)
{
    struct pollfd fds[2];
    struct timespec ts;
    fds[0].fd = STDIN_FILENO;
    fds[0].events = POLLIN;
    fds[1].fd = pty_master;
    fds[1].events = POLLIN;
    ts.tv_sec = timeout_us / 1000000;
    ts.tv_nsec = (long)(timeout_us % 1000000) * 1000;
    if (ppoll(fds, 2, &ts, NULL) <= 0)
        return;
    if (fds[0].revents & (POLLIN | POLLHUP | POLLERR))
        read_stdin();
    if (fds[1].revents & POLLIN)
        read_pty();
}

static avr_cycle_count_t last_io_tick;

/* Every simulated millisecond: move bytes and commands. */
static avr_cycle_count_t on_io_tick(avr_t *a, avr_cycle_count_t when, void *param)
{
    (void)param;
    last_io_tick = a->cycle;
    update(); /* a backstop for changes the filtered IRQs did not report */
    poll_io(0);
    return when + a->frequency / 1000;
}

/* The firmware sleeps until `how_long` cycles from now: let wall-clock time catch up, watching for input. */
static void on_sleep(avr_t *a, avr_cycle_count_t how_long)
{
    int64_t target = (int64_t)((double)(a->cycle + how_long) * 1e6 / (double)a->frequency);
    int64_t now = mono_us() - wall_anchor;
    if (target > now)
        poll_io((int)(target - now));
    else if (now - target > 500000)
        wall_anchor = mono_us() - target; /* far behind (loaded machine): do not race to catch up */
}

static void on_signal(int sig)
{
    (void)sig;
    stopping = 1;
}

int main(int argc, char **argv)
{
    elf_firmware_t fw;
    const char *path = NULL;
    int i, state;
    uint32_t flags = 0;
    unsigned long loops = 0;

    for (i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-v") == 0)
            verbose = 1;
        else
            path = argv[i];
    }
    if (!path) {
        fprintf(stderr, "usage: %s [-v] bridge.elf\n", argv[0]);
        return 2;
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    signal(SIGPIPE, SIG_IGN);
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    avr_global_logger_set(logger);

    memset(&fw, 0, sizeof fw);
    if (elf_read_firmware(path, &fw) != 0) {
        fprintf(stderr, "bridge-sim: cannot read %s\n", path);
        return 1;
    }
    if (fw.mmcu[0] == '\0')
        strcpy(fw.mmcu, "atmega328p");
    if (fw.frequency == 0)
        fw.frequency = 16000000;
    avr = avr_make_mcu_by_name(fw.mmcu);
    if (!avr) {
        fprintf(stderr, "bridge-sim: simavr does not know %s\n", fw.mmcu);
        return 1;
    }
    avr_init(avr);
    avr_load_firmware(avr, &fw);
    avr->log = verbose ? LOG_TRACE : LOG_WARNING;
    avr->sleep = on_sleep;

    if (open_pty() != 0)
        return 1;
    avr_ioctl(avr, AVR_IOCTL_UART_GET_FLAGS('0'), &flags);
    flags &= ~(uint32_t)AVR_UART_FLAG_STDIO; /* binary frames, not console lines */
    avr_ioctl(avr, AVR_IOCTL_UART_SET_FLAGS('0'), &flags);
    uart_in = avr_io_getirq(avr, AVR_IOCTL_UART_GETIRQ('0'), UART_IRQ_INPUT);
    avr_irq_register_notify(avr_io_getirq(avr, AVR_IOCTL_UART_GETIRQ('0'), UART_IRQ_OUTPUT), on_uart_out, NULL);
    avr_irq_register_notify(avr_io_getirq(avr, AVR_IOCTL_UART_GETIRQ('0'), UART_IRQ_OUT_XON), on_xon, NULL);
    avr_irq_register_notify(avr_io_getirq(avr, AVR_IOCTL_UART_GETIRQ('0'), UART_IRQ_OUT_XOFF), on_xoff, NULL);

    /* The world at rest: Wiegand lines idle high, no key pressed, contacts open (pulled up). */
    for (i = 0; i < 2; i++)
        drive(WIEGAND[i], 1);
    for (i = 0; i < 3; i++) {
        drive(COLS[i], 1);
        drive(INPUTS[i], 1);
    }
    drive(UNUSED_PIN, 1);
    watch_port('B');
    watch_port('C');
    watch_port('D');
    for (i = 0; i < 2; i++)
        watch_pin(RELAYS[i]);
    watch_pin(LED_GREEN_PIN);
    watch_pin(LED_RED_PIN);
    watch_pin(BEEPER_PIN);
    for (i = 0; i < 4; i++)
        watch_pin(ROWS[i]);

    avr_cycle_timer_register(avr, avr->frequency / 1000, on_io_tick, NULL);
    last_io_tick = avr->cycle;
    wall_anchor = mono_us();
    say("PTY %s\n", pty_name);

    while (!stopping) {
        state = avr_run(avr);
        if (state == cpu_Done || state == cpu_Crashed) {
            fprintf(stderr, "bridge-sim: the firmware stopped (%s) at %.3f ms\n",
                    state == cpu_Done ? "done" : "crashed", sim_ms());
            say("ERROR firmware %s\n", state == cpu_Done ? "stopped" : "crashed");
            return 1;
        }
        /* A reset (the watchdog) puts the PC at 0, clears the I/O registers and cancels every cycle timer:
         * say so, restore what the outside world drives, and start our timers again. The second test is a
         * backstop: no I/O tick for 5 ms. */
        if (avr->pc == 0 || ((++loops & 0xFFF) == 0 && avr->cycle - last_io_tick > 5 * (avr->frequency / 1000))) {
            if (avr->pc == 0)
                say("RESET %.3f\n", sim_ms());
            update();
            last_io_tick = avr->cycle;
            avr_cycle_timer_cancel(avr, on_io_tick, NULL);
            avr_cycle_timer_register(avr, avr->frequency / 1000, on_io_tick, NULL);
            arm_events();
        }
    }
    if (tx_dropped && verbose)
        fprintf(stderr, "bridge-sim: %lu bytes to the host dropped (pty full)\n", tx_dropped);
    close(pty_master);
    close(pty_slave);
    avr_terminate(avr);
    return 0;
}
