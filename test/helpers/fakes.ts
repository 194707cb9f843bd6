/** Test doubles for the app's ports: a clock that moves when told, recording relays, logs and inputs. */
import type {
  Clock,
  CredentialSource,
  FeedbackSignal,
  InputHandler,
  Logger,
  RelayLine,
  Timer,
} from '../../src/ports/io.js';

/** Wall and monotonic time move together, only when the test calls advance(). */
export class FakeClock implements Clock {
  private timers: { at: number; fn: () => void; live: boolean }[] = [];
  private mono = 1_000_000;
  constructor(public time: number) {}
  now(): number {
    return this.time;
  }
  monotonic(): number {
    return this.mono;
  }
  after(ms: number, fn: () => void): Timer {
    const timer = { at: this.mono + ms, fn, live: true };
    this.timers.push(timer);
    return { cancel: () => void (timer.live = false) };
  }
  /** Moves time forward, firing due timers in order (timers they set that fall due fire too). */
  advance(ms: number): void {
    const end = this.mono + ms;
    for (;;) {
      const next = this.timers.filter((x) => x.live && x.at <= end).sort((a, b) => a.at - b.at)[0];
      if (next === undefined) break;
      this.time += next.at - this.mono;
      this.mono = next.at;
      next.live = false;
      next.fn();
    }
    this.time += end - this.mono;
    this.mono = end;
    this.timers = this.timers.filter((x) => x.live);
  }
  get pendingTimers(): number {
    return this.timers.filter((x) => x.live).length;
  }
}

export class RecordingLine implements RelayLine {
  states: boolean[] = [];
  closed = false;
  set(on: boolean): void {
    this.states.push(on);
  }
  close(): void {
    this.closed = true;
  }
}

export interface LogLine {
  level: string;
  obj: object;
  msg?: string | undefined;
}

export function recordingLogger(): Logger & { lines: LogLine[] } {
  const lines: LogLine[] = [];
  const at = (level: string) => (obj: object, msg?: string) => void lines.push({ level, obj, msg });
  return { lines, info: at('info'), warn: at('warn'), error: at('error'), debug: at('debug') };
}

/** An input the test drives by hand; records the feedback it is given. */
export class FakeSource implements CredentialSource {
  handler: InputHandler | undefined;
  feedbacks: FeedbackSignal[] = [];
  stopped = false;
  constructor(readonly name = 'fake') {}
  start(handler: InputHandler): void {
    this.handler = handler;
  }
  feedback(signal: FeedbackSignal): void {
    this.feedbacks.push(signal);
  }
  stop(): Promise<void> {
    this.stopped = true;
    return Promise.resolve();
  }
  /** Types keys one by one. */
  type(keys: string): void {
    for (const k of keys) this.handler?.key(k);
  }
}
