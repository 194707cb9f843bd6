/*
 * Debouncer for up to 16 two-state signals sampled together (the 12 keypad keys, the 3 inputs). A signal's
 * stable state changes only after its raw state has differed from it continuously for `threshold` ms; any
 * sample back at the stable state starts the count again, so contact bounce never produces a change.
 */
#ifndef BRIDGE_DEBOUNCE_H
#define BRIDGE_DEBOUNCE_H

#include <stdint.h>

#define DEBOUNCE_MAX 16u

typedef struct {
    uint16_t stable;
    uint8_t age[DEBOUNCE_MAX]; /* ms the raw state has differed from the stable one */
} debounce_t;

/** Starts with `initial` as the stable state (no change reported for it). */
void debounce_init(debounce_t *d, uint16_t initial);

/**
 * Feeds one sample of the first `count` signals taken `elapsed_ms` after the previous one. Returns a mask of
 * the signals whose stable state changed (read the new state from d->stable).
 */
uint16_t debounce_update(debounce_t *d, uint16_t raw, uint8_t count, uint8_t elapsed_ms, uint8_t threshold_ms);

#endif
