/**
 * One door as a pure state machine: relay pulses for grants and the exit button, and the door contact
 * telling opened / closed / forced / held open. Transitions return effects; the app carries them out.
 *
 * A door opened while it is not unlocked (nor within `graceMs` of the relay releasing: people pull the
 * handle just as the strike drops) is forced. A door open for longer than `heldOpenMs` raises one
 * held-open event and the alarm, which stops when the door closes.
 */
export interface DoorTiming {
  readonly pulseMs: number;
  readonly heldOpenMs: number;
  readonly graceMs: number;
}

export interface DoorState {
  /** null when the door has no contact sensor or its level is not known yet. */
  readonly open: boolean | null;
  /** The relay is (or was last) unlocked until this time (ms); 0 when never. */
  readonly unlockedUntil: number;
  /** When the current opening began, or null when closed. */
  readonly openedAt: number | null;
  readonly forced: boolean;
  readonly heldAlarm: boolean;
}

export const INITIAL_DOOR: DoorState = {
  open: null,
  unlockedUntil: 0,
  openedAt: null,
  forced: false,
  heldAlarm: false,
};

export type DoorInput =
  | { readonly kind: 'grant'; readonly now: number }
  | { readonly kind: 'exit'; readonly now: number }
  | { readonly kind: 'contact'; readonly open: boolean; readonly now: number }
  | { readonly kind: 'tick'; readonly now: number };

export type DoorEventType =
  'door.opened' | 'door.closed' | 'door.forced' | 'door.held_open' | 'door.exit' | 'door.remote_unlock';

export type DoorEffect =
  | { readonly kind: 'pulse'; readonly ms: number }
  | { readonly kind: 'event'; readonly type: DoorEventType; readonly openMs?: number }
  | { readonly kind: 'alarm'; readonly on: boolean }
  /** Call again with a tick at this time (held-open check). */
  | { readonly kind: 'wake'; readonly at: number };

export interface DoorStep {
  readonly state: DoorState;
  readonly effects: readonly DoorEffect[];
}

function unlock(state: DoorState, now: number, timing: DoorTiming): DoorState {
  return { ...state, unlockedUntil: Math.max(state.unlockedUntil, now + timing.pulseMs) };
}

export function doorStep(state: DoorState, input: DoorInput, timing: DoorTiming): DoorStep {
  switch (input.kind) {
    case 'grant':
      return { state: unlock(state, input.now, timing), effects: [{ kind: 'pulse', ms: timing.pulseMs }] };
    case 'exit':
      return {
        state: unlock(state, input.now, timing),
        effects: [
          { kind: 'pulse', ms: timing.pulseMs },
          { kind: 'event', type: 'door.exit' },
        ],
      };
    case 'contact': {
      if (input.open === state.open) return { state, effects: [] }; // a repeated level is not a change
      if (input.open) {
        if (state.open === null && state.unlockedUntil === 0) {
          // First reading at start-up: the door is already open; that is a state, not an event.
          return {
            state: { ...state, open: true, openedAt: input.now },
            effects: [{ kind: 'wake', at: input.now + timing.heldOpenMs }],
          };
        }
        // unlockedUntil 0 means never unlocked (monotonic time can be small right after boot).
        const authorised = state.unlockedUntil > 0 && input.now < state.unlockedUntil + timing.graceMs;
        const next: DoorState = {
          ...state,
          open: true,
          openedAt: input.now,
          forced: !authorised,
          heldAlarm: false,
        };
        const effects: DoorEffect[] = authorised
          ? [{ kind: 'event', type: 'door.opened' }]
          : [
              { kind: 'event', type: 'door.forced' },
              { kind: 'alarm', on: true },
            ];
        effects.push({ kind: 'wake', at: input.now + timing.heldOpenMs });
        return { state: next, effects };
      }
      const effects: DoorEffect[] = [];
      if (state.open === true && state.openedAt !== null) {
        effects.push({ kind: 'event', type: 'door.closed', openMs: input.now - state.openedAt });
      }
      if (state.heldAlarm || state.forced) effects.push({ kind: 'alarm', on: false });
      return { state: { ...state, open: false, openedAt: null, forced: false, heldAlarm: false }, effects };
    }
    case 'tick': {
      if (state.open !== true || state.openedAt === null || state.heldAlarm) return { state, effects: [] };
      if (input.now - state.openedAt < timing.heldOpenMs) {
        return { state, effects: [{ kind: 'wake', at: state.openedAt + timing.heldOpenMs }] };
      }
      return {
        state: { ...state, heldAlarm: true },
        effects: [
          { kind: 'event', type: 'door.held_open', openMs: input.now - state.openedAt },
          ...(state.forced ? [] : [{ kind: 'alarm', on: true } as const]),
        ],
      };
    }
  }
}
