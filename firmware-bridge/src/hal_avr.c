/*
 * bridge_hal_t for the ATmega328P at 16 MHz (F_CPU): UART0 at 115200 baud with U2X, a 1 ms tick from
 * timer 0, Wiegand D0/D1 on INT0/INT1, keypad/inputs/outputs from pins.h, the watchdog at 250 ms.
 */
#include "hal_avr.h"

#include <avr/interrupt.h>
#include <avr/io.h>
#include <avr/sleep.h>
#include <avr/wdt.h>
#include <util/delay.h>

#include "frame.h"
#include "pins.h"

#ifndef BAUD
#define BAUD 115200UL
#endif

/* pins.h names a signal by its port letter and bit: PORT_OF(RELAY1) is PORTC, BIT_OF(RELAY1) _BV(0). */
#define CAT_(a, b) a##b
#define CAT(a, b) CAT_(a, b)
#define PORT_OF(s) CAT(PORT, s##_PORT)
#define DDR_OF(s) CAT(DDR, s##_PORT)
#define PIN_OF(s) CAT(PIN, s##_PORT)
#define BIT_OF(s) ((uint8_t)_BV(s##_BIT))
/* Output low: the port bit first, so the pin never drives high on its way to being an output. */
#define OUT_LOW(s)                                                                                           \
    do {                                                                                                     \
        PORT_OF(s) &= (uint8_t)~BIT_OF(s);                                                                   \
        DDR_OF(s) |= BIT_OF(s);                                                                              \
    } while (0)
#define OUT_SET(s, on)                                                                                       \
    do {                                                                                                     \
        if (on)                                                                                              \
            PORT_OF(s) |= BIT_OF(s);                                                                         \
        else                                                                                                 \
            PORT_OF(s) &= (uint8_t)~BIT_OF(s);                                                               \
    } while (0)
/* Input with pull-up: high impedance first, then the pull-up. */
#define IN_PULLUP(s)                                                                                         \
    do {                                                                                                     \
        DDR_OF(s) &= (uint8_t)~BIT_OF(s);                                                                    \
        PORT_OF(s) |= BIT_OF(s);                                                                             \
    } while (0)
#define IS_HIGH(s) ((PIN_OF(s) & BIT_OF(s)) != 0)

#define RX_RING 64u  /* power of two */
#define TX_RING 128u /* power of two; holds the boot burst (lead-in, HELLO, inputs) */

static volatile uint32_t g_ms;
static wiegand_t *volatile g_wiegand;
static volatile uint8_t rx_ring[RX_RING];
static volatile uint8_t rx_head, rx_tail;
static volatile uint8_t tx_ring[TX_RING];
static volatile uint8_t tx_head, tx_tail;
static volatile uint16_t rx_overruns;
/* Why the MCU last reset (MCUSR), kept for a debugger: it is cleared below, before C start-up. */
uint8_t hal_avr_reset_cause __attribute__((section(".noinit")));

/*
 * Fail-secure first: runs from .init3, after the stack is set up and before .data/.bss are initialised or
 * anything else of ours runs. During the reset itself and the bootloader the relay pins float; the driver's
 * pull-down holds the relays off then (docs/firmware-bridge.md, wiring). Then the watchdog: after a
 * watchdog reset it stays enabled at its shortest period and would reset us again during start-up.
 */
void hal_avr_early(void) __attribute__((naked, used, section(".init3")));
void hal_avr_early(void)
{
    OUT_LOW(RELAY1);
    OUT_LOW(RELAY2);
    hal_avr_reset_cause = MCUSR;
    MCUSR = 0;
    wdt_disable();
}

ISR(TIMER0_COMPA_vect)
{
    g_ms++;
}

ISR(INT0_vect)
{
    wiegand_t *w = g_wiegand;
    if (w)
        wiegand_bit(w, 0, g_ms);
}

ISR(INT1_vect)
{
    wiegand_t *w = g_wiegand;
    if (w)
        wiegand_bit(w, 1, g_ms);
}

ISR(USART_RX_vect)
{
    uint8_t c = UDR0;
    uint8_t next = (uint8_t)((rx_head + 1u) & (RX_RING - 1u));
    if (next == rx_tail) {
        /* Full: the byte is lost, so its frame fails its CRC and is dropped and counted by the core. */
        rx_overruns++;
        return;
    }
    rx_ring[rx_head] = c;
    rx_head = next;
}

ISR(USART_UDRE_vect)
{
    if (tx_head == tx_tail) {
        UCSR0B &= (uint8_t)~_BV(UDRIE0);
        return;
    }
    UDR0 = tx_ring[tx_tail];
    tx_tail = (uint8_t)((tx_tail + 1u) & (TX_RING - 1u));
}

static uint32_t millis(void *ctx)
{
    uint8_t sreg = SREG;
    uint32_t ms;
    (void)ctx;
    cli();
    ms = g_ms;
    SREG = sreg;
    return ms;
}

static int16_t uart_read(void *ctx)
{
    uint8_t c;
    (void)ctx;
    if (rx_head == rx_tail)
        return -1;
    c = rx_ring[rx_tail];
    rx_tail = (uint8_t)((rx_tail + 1u) & (RX_RING - 1u));
    return c;
}

static void uart_write(void *ctx, const uint8_t *data, uint16_t len)
{
    (void)ctx;
    while (len--) {
        uint8_t next = (uint8_t)((tx_head + 1u) & (TX_RING - 1u));
        while (next == tx_tail) {
            /* Full: at 115200 baud a byte leaves every 87 us. With interrupts off (never expected) nothing
             * would drain the queue, so send the oldest byte by polling. */
            if (!(SREG & _BV(SREG_I)) && (UCSR0A & _BV(UDRE0))) {
                UDR0 = tx_ring[tx_tail];
                tx_tail = (uint8_t)((tx_tail + 1u) & (TX_RING - 1u));
            }
        }
        tx_ring[tx_head] = *data++;
        tx_head = next;
        {
            uint8_t sreg = SREG;
            cli();
            UCSR0B |= _BV(UDRIE0);
            SREG = sreg;
        }
    }
}

static void relay_write(void *ctx, uint8_t index, uint8_t on)
{
    (void)ctx;
    if (index == 0)
        OUT_SET(RELAY1, on);
    else if (index == 1)
        OUT_SET(RELAY2, on);
}

static void led_write(void *ctx, uint8_t colour)
{
    uint8_t green = colour == BP_LED_GREEN || colour == BP_LED_AMBER;
    uint8_t red = colour == BP_LED_RED || colour == BP_LED_AMBER;
    (void)ctx;
    if (&PORT_OF(LED_GREEN) == &PORT_OF(LED_RED)) {
        /* Both in one write (folded at compile time), so amber never passes through green or red. */
        uint8_t v = (uint8_t)(PORT_OF(LED_GREEN) & (uint8_t)~(BIT_OF(LED_GREEN) | BIT_OF(LED_RED)));
        if (green)
            v |= BIT_OF(LED_GREEN);
        if (red)
            v |= BIT_OF(LED_RED);
        PORT_OF(LED_GREEN) = v;
    } else {
        OUT_SET(LED_GREEN, green);
        OUT_SET(LED_RED, red);
    }
}

static void beeper_write(void *ctx, uint8_t on)
{
    (void)ctx;
    OUT_SET(BEEPER, on);
}

static void row_drive(uint8_t row, uint8_t active)
{
    switch (row) {
    case 0:
        if (active)
            OUT_LOW(KEYPAD_ROW1);
        else
            IN_PULLUP(KEYPAD_ROW1);
        break;
    case 1:
        if (active)
            OUT_LOW(KEYPAD_ROW2);
        else
            IN_PULLUP(KEYPAD_ROW2);
        break;
    case 2:
        if (active)
            OUT_LOW(KEYPAD_ROW3);
        else
            IN_PULLUP(KEYPAD_ROW3);
        break;
    default:
        if (active)
            OUT_LOW(KEYPAD_ROW4);
        else
            IN_PULLUP(KEYPAD_ROW4);
        break;
    }
}

static uint8_t keypad_scan_row(void *ctx, uint8_t row)
{
    uint8_t cols = 0;
    (void)ctx;
    row_drive(row, 1);
    _delay_us(10); /* let the column lines settle through the pull-ups and the keypad's wiring */
    if (!IS_HIGH(KEYPAD_COL1))
        cols |= 1u;
    if (!IS_HIGH(KEYPAD_COL2))
        cols |= 2u;
    if (!IS_HIGH(KEYPAD_COL3))
        cols |= 4u;
    row_drive(row, 0);
    return cols;
}

static uint8_t inputs_read(void *ctx)
{
    uint8_t v = 0;
    (void)ctx;
    if (IS_HIGH(INPUT1))
        v |= 1u;
    if (IS_HIGH(INPUT2))
        v |= 2u;
    if (IS_HIGH(INPUT3))
        v |= 4u;
    return v;
}

static uint8_t irq_save(void *ctx)
{
    uint8_t sreg = SREG;
    (void)ctx;
    cli();
    return sreg;
}

static void irq_restore(void *ctx, uint8_t saved)
{
    (void)ctx;
    SREG = saved;
}

static void watchdog_kick(void *ctx)
{
    (void)ctx;
    wdt_reset();
}

const bridge_hal_t hal_avr = {
    .ctx = 0,
    .millis = millis,
    .uart_read = uart_read,
    .uart_write = uart_write,
    .relay_write = relay_write,
    .led_write = led_write,
    .beeper_write = beeper_write,
    .keypad_scan_row = keypad_scan_row,
    .inputs_read = inputs_read,
    .irq_save = irq_save,
    .irq_restore = irq_restore,
    .watchdog_kick = watchdog_kick,
};

void hal_avr_init(wiegand_t *w)
{
    g_wiegand = w;

    OUT_LOW(RELAY1);
    OUT_LOW(RELAY2);
    OUT_LOW(LED_GREEN);
    OUT_LOW(LED_RED);
    OUT_LOW(BEEPER);
    IN_PULLUP(KEYPAD_ROW1);
    IN_PULLUP(KEYPAD_ROW2);
    IN_PULLUP(KEYPAD_ROW3);
    IN_PULLUP(KEYPAD_ROW4);
    IN_PULLUP(KEYPAD_COL1);
    IN_PULLUP(KEYPAD_COL2);
    IN_PULLUP(KEYPAD_COL3);
    IN_PULLUP(INPUT1);
    IN_PULLUP(INPUT2);
    IN_PULLUP(INPUT3);
    IN_PULLUP(WIEGAND_D0);
    IN_PULLUP(WIEGAND_D1);
    IN_PULLUP(UNUSED1);

    /* Timer 0, CTC, clk/64: 250 kHz, compare match every 250 counts = 1 ms. */
    TCCR0A = _BV(WGM01);
    TCCR0B = _BV(CS01) | _BV(CS00);
    OCR0A = (uint8_t)(F_CPU / 64u / 1000u - 1u);
    TIMSK0 = _BV(OCIE0A);

    /* UART0 8N1. U2X: UBRR 16 gives 117647 baud (+2.1 %), where the normal mode's UBRR 8 is -3.5 % off. */
    UCSR0A = _BV(U2X0);
    UBRR0 = (uint16_t)((F_CPU + 4u * BAUD) / (8u * BAUD) - 1u);
    UCSR0C = _BV(UCSZ01) | _BV(UCSZ00);
    UCSR0B = _BV(RXEN0) | _BV(TXEN0) | _BV(RXCIE0);

    /* Wiegand: a falling edge on D0 (INT0) is a 0 bit, on D1 (INT1) a 1 bit; enabled by hal_avr_start(). */
    EICRA = _BV(ISC01) | _BV(ISC11);

    wdt_enable(WDTO_250MS);
    sei();
}

void hal_avr_start(void)
{
    EIFR = _BV(INTF0) | _BV(INTF1); /* forget edges seen while the pull-ups came up */
    EIMSK = _BV(INT0) | _BV(INT1);
}

void hal_avr_idle(void)
{
    set_sleep_mode(SLEEP_MODE_IDLE);
    cli();
    if (rx_head == rx_tail) {
        sleep_enable();
        sei(); /* the instruction after SEI runs before any interrupt: no wake-up is lost */
        sleep_cpu();
        sleep_disable();
    }
    sei();
}
