import { describe, expect, it } from 'vitest';
import { timed } from './timing.js';

describe('timed', () => {
  it('returns the value and a non-negative duration', async () => {
    const { value, ms } = await timed(async () => 42);
    expect(value).toBe(42);
    expect(ms).toBeGreaterThanOrEqual(0);
  });
});
