/**
 * Node fires a timer whose delay exceeds 2^31-1 ms (24.8 days) after 1 ms instead, with only a
 * warning. A long TIMER or JOB_TIMEOUT would then run a pass, or abort a job, at once and
 * forever. This timer waits in steps no longer than that limit until the whole delay is over.
 */
export const MAX_TIMER_DELAY_MS = 2 ** 31 - 1;

export interface LongTimeout {
  clear(): void;
}

/** `setTimeout(fn, delayMs)` for any finite delay; never keeps the process alive (unref). */
export function setLongTimeout(fn: () => void, delayMs: number): LongTimeout {
  if (!Number.isFinite(delayMs) || delayMs < 0) {
    throw new RangeError(`timer delay must be a finite number of ms >= 0, got ${delayMs}`);
  }
  let remaining = delayMs;
  let handle: NodeJS.Timeout;
  const arm = () => {
    const step = Math.min(remaining, MAX_TIMER_DELAY_MS);
    remaining -= step;
    handle = setTimeout(() => (remaining > 0 ? arm() : fn()), step);
    handle.unref();
  };
  arm();
  return { clear: () => clearTimeout(handle) };
}
