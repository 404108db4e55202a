import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { MAX_TIMER_DELAY_MS, setLongTimeout } from './long-timeout.js';

beforeEach(() => {
  vi.useFakeTimers();
});
afterEach(() => {
  vi.useRealTimers();
});

describe('setLongTimeout', () => {
  it('waits past Node’s 24.8-day limit instead of firing after 1 ms', () => {
    const fired = vi.fn();
    const delay = 2 * MAX_TIMER_DELAY_MS + 5_000; // JOB_TIMEOUT=100,000 min is 2.8x the limit
    setLongTimeout(fired, delay);
    vi.advanceTimersByTime(1_000);
    expect(fired).not.toHaveBeenCalled();
    vi.advanceTimersByTime(delay - 1_001);
    expect(fired).not.toHaveBeenCalled();
    vi.advanceTimersByTime(1);
    expect(fired).toHaveBeenCalledTimes(1);
    vi.advanceTimersByTime(10 * MAX_TIMER_DELAY_MS);
    expect(fired).toHaveBeenCalledTimes(1);
  });

  it('short delays behave like setTimeout, and clear() stops it in any step', () => {
    const short = vi.fn();
    setLongTimeout(short, 50);
    vi.advanceTimersByTime(50);
    expect(short).toHaveBeenCalledTimes(1);
    const cleared = vi.fn();
    const timer = setLongTimeout(cleared, MAX_TIMER_DELAY_MS + 10);
    vi.advanceTimersByTime(MAX_TIMER_DELAY_MS + 1);
    timer.clear();
    vi.advanceTimersByTime(MAX_TIMER_DELAY_MS);
    expect(cleared).not.toHaveBeenCalled();
  });

  it('refuses a delay it cannot honour', () => {
    for (const bad of [Number.NaN, Number.POSITIVE_INFINITY, -1]) {
      expect(() => setLongTimeout(() => {}, bad)).toThrow(RangeError);
    }
  });
});
