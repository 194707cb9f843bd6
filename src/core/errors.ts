/**
 * One error class for the whole daemon, with a code grouped by area, so callers branch on codes and
 * users read a message that says what was found and what was expected.
 */
export const ErrorCode = {
  ConfigInvalid: 'config.invalid',
  ConfigUnreadable: 'config.unreadable',
  UsageInvalid: 'usage.invalid',
  SnapshotInvalid: 'snapshot.invalid',
  SnapshotUnreadable: 'snapshot.unreadable',
  StoreUnavailable: 'store.unavailable',
  StoreKeyInvalid: 'store.key_invalid',
  PassNotFound: 'store.pass_not_found',
  GpioUnavailable: 'device.gpio_unavailable',
  DeviceUnavailable: 'device.unavailable',
} as const;
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

export class DoorpassError extends Error {
  override readonly name = 'DoorpassError';
  constructor(
    readonly code: ErrorCode,
    message: string,
    /** Extra lines (e.g. one per config problem) shown after the message. */
    readonly details: readonly string[] = [],
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

export function isDoorpassError(e: unknown, code?: ErrorCode): e is DoorpassError {
  return e instanceof DoorpassError && (code === undefined || e.code === code);
}
