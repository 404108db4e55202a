import { describe, expect, it } from 'vitest';
import { shortErr } from './app.js';

describe('shortErr', () => {
  it('passes a normal message through', () => {
    expect(shortErr('no such volume: v1')).toBe('no such volume: v1');
  });

  it('cuts a peer-sized one to what Docker can show, pointing at the log', () => {
    const cut = shortErr(`send failed\n${'Load key '.repeat(10_000)}`);
    expect(cut.length).toBeLessThanOrEqual(2000);
    expect(cut.startsWith('send failed\n')).toBe(true);
    expect(cut).toMatch(/the daemon log has the full text\)$/);
  });
});
