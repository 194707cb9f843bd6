/*
 * Pin map of the bridge on an ATmega328P (Arduino Uno / Nano numbering in brackets). The one place the pins
 * are defined: hal_avr.c drives them and the simulator harness (sim/bridge_sim.c) pokes them, both from
 * this file, so they cannot disagree. Wiring guide: docs/firmware-bridge.md.
 *
 * Each signal is NAME_PORT (the port letter B, C or D) and NAME_BIT (0..7).
 *
 *   PD0 [D0]  RXD      from the host (USB serial)       PB0 [D8]  input 1: door contact (pull-up)
 *   PD1 [D1]  TXD      to the host                      PB1 [D9]  input 2: exit button (pull-up)
 *   PD2 [D2]  INT0     Wiegand D0 (pull-up)             PB2 [D10] keypad column 1 (pull-up)
 *   PD3 [D3]  INT1     Wiegand D1 (pull-up)             PB3 [D11] keypad column 2 (pull-up)
 *   PD4 [D4]  keypad row 1 (1 2 3)                      PB4 [D12] keypad column 3 (pull-up)
 *   PD5 [D5]  keypad row 2 (4 5 6)                      PB5 [D13] beeper (active high)
 *   PD6 [D6]  keypad row 3 (7 8 9)                      PC0 [A0]  relay 1 (active high)
 *   PD7 [D7]  keypad row 4 (* 0 #)                      PC1 [A1]  relay 2 (active high)
 *                                                       PC2 [A2]  LED green (active high)
 *                                                       PC3 [A3]  LED red (active high); both = amber
 *                                                       PC4 [A4]  input 3: tamper (pull-up)
 *                                                       PC5 [A5]  unused (pull-up)
 *
 * Keypad columns 2 and 3 sit on the ISP pins MOSI (PB3) and MISO (PB4): with no key pressed they are plain
 * pulled-up inputs that cannot disturb in-system programming. The beeper, an output, takes SCK (PB5, D13),
 * whose on-board LED would load a pulled-up input on a Nano. The door contact, closed most of the time,
 * stays off the ISP pins.
 */
#ifndef BRIDGE_PINS_H
#define BRIDGE_PINS_H

#define WIEGAND_D0_PORT D
#define WIEGAND_D0_BIT 2 /* INT0 */
#define WIEGAND_D1_PORT D
#define WIEGAND_D1_BIT 3 /* INT1 */

/* Rows are driven low one at a time (the others are high impedance, so two keys pressed in one column
 * cannot short two outputs); columns are read with pull-ups: low = the key at (row, column) is closed. */
#define KEYPAD_ROW1_PORT D
#define KEYPAD_ROW1_BIT 4
#define KEYPAD_ROW2_PORT D
#define KEYPAD_ROW2_BIT 5
#define KEYPAD_ROW3_PORT D
#define KEYPAD_ROW3_BIT 6
#define KEYPAD_ROW4_PORT D
#define KEYPAD_ROW4_BIT 7
#define KEYPAD_COL1_PORT B
#define KEYPAD_COL1_BIT 2
#define KEYPAD_COL2_PORT B
#define KEYPAD_COL2_BIT 3
#define KEYPAD_COL3_PORT B
#define KEYPAD_COL3_BIT 4

/* Inputs, reported as their electrical level (1 = high = open contact with the pull-up). */
#define INPUT1_PORT B /* door contact */
#define INPUT1_BIT 0
#define INPUT2_PORT B /* exit button */
#define INPUT2_BIT 1
#define INPUT3_PORT C /* tamper */
#define INPUT3_BIT 4

/* Outputs, active high, through a driver: a pin that floats (reset, bootloader) must mean "off". */
#define RELAY1_PORT C
#define RELAY1_BIT 0
#define RELAY2_PORT C
#define RELAY2_BIT 1
#define LED_GREEN_PORT C
#define LED_GREEN_BIT 2
#define LED_RED_PORT C
#define LED_RED_BIT 3
#define BEEPER_PORT B
#define BEEPER_BIT 5

#define UNUSED1_PORT C
#define UNUSED1_BIT 5

#endif
