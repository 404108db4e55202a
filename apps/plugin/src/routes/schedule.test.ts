import { describe, expect, it } from 'vitest';
import { outcomeOf } from './schedule.js';

describe('Schedule.List LastOutcome', () => {
  it('says "ok", "error: <message>" or null, whatever the state file calls them', () => {
    expect(outcomeOf({ lastOutcome: 'success', lastError: null })).toBe('ok');
    expect(outcomeOf({ lastOutcome: 'failure', lastError: 'pgdata: no such volume' })).toBe(
      'error: pgdata: no such volume',
    );
    expect(outcomeOf({ lastOutcome: 'failure', lastError: null })).toBe('error: unknown error');
    expect(outcomeOf({ lastOutcome: null, lastError: null })).toBe(null);
  });
});
