import { describe, expect, it } from 'vitest';
import { outcomeOf } from './schedule.js';

describe('Schedule.List LastOutcome', () => {
  it('says "ok", "error" with LastError, or null, whatever the state file calls them', () => {
    expect(outcomeOf({ lastOutcome: 'success', lastError: null })).toEqual({
      LastOutcome: 'ok',
      LastError: null,
    });
    expect(outcomeOf({ lastOutcome: 'failure', lastError: 'pgdata: no such volume' })).toEqual({
      LastOutcome: 'error',
      LastError: 'pgdata: no such volume',
    });
    expect(outcomeOf({ lastOutcome: 'failure', lastError: null })).toEqual({
      LastOutcome: 'error',
      LastError: 'unknown error',
    });
    expect(outcomeOf({ lastOutcome: null, lastError: null })).toEqual({
      LastOutcome: null,
      LastError: null,
    });
  });
});
