import { describe, expect, it } from 'vitest';
import { InvalidJobError } from './errors.js';
import { parseScheduleRequest } from './request.js';

const refusedField = (body: unknown) => {
  try {
    parseScheduleRequest(body);
  } catch (error) {
    if (error instanceof InvalidJobError) return error.field;
    throw error;
  }
  throw new Error(`accepted ${JSON.stringify(body)}`);
};

describe('parseScheduleRequest (the route’s and the CLI’s one parser)', () => {
  it('reads zero minutes in any spelling as removal, as 3.x’s int(Timer) did', () => {
    for (const Timer of [0, '0', '00', '000', ' 0 ', 'delete']) {
      expect(parseScheduleRequest({ Name: 'data', Action: 'snapshot', Timer })).toEqual({
        kind: 'remove',
        name: 'data',
        action: 'snapshot',
      });
    }
  });

  it('makes a job of minutes or a cron expression, the parsed job itself', () => {
    for (const [Timer, timer] of [
      [60, { kind: 'interval', minutes: 60 }],
      ['60', { kind: 'interval', minutes: 60 }],
      [' 060 ', { kind: 'interval', minutes: 60 }],
      ['30  2 * * 1-5', { kind: 'cron', expression: '30 2 * * 1-5' }],
    ] as const) {
      const command = parseScheduleRequest({ Name: 'data', Action: 'purge:4h:1d', Timer });
      if (command.kind !== 'set') throw new Error(`not a job: ${command.kind}`);
      expect(command.job.timer).toMatchObject(timer);
      expect(command.job.action).toMatchObject({ kind: 'purge', pattern: { text: '4h:1d' } });
    }
  });

  it('lets delete, pause and resume name any existing row, but checks new jobs', () => {
    for (const Timer of [0, '0', 'delete', 'pause', 'resume']) {
      const command = parseScheduleRequest({ Name: 'bad name', Action: 'explode', Timer });
      expect(command).toMatchObject({ name: 'bad name', action: 'explode' });
    }
    expect(refusedField({ Name: 'bad name', Action: 'snapshot', Timer: 60 })).toBe('Name');
    expect(refusedField({ Name: '', Action: 'snapshot', Timer: 'delete' })).toBe('Name');
    expect(refusedField({ Name: 'data', Action: 5, Timer: 'pause' })).toBe('Action');
  });

  it('checks the action words and host names', () => {
    for (const Action of [
      'snapshot',
      'purge:4h:1w:1y',
      'replicate:backup-1',
      'synchronize:h1,h2',
    ]) {
      expect(parseScheduleRequest({ Name: 'data', Action, Timer: 60 }).kind).toBe('set');
    }
    for (const Action of [
      '',
      'snap',
      'purge:',
      'purge:1h;rm',
      'replicate:-rf',
      'replicate:$(touch /tmp/p)',
      'synchronize:h1,,h2',
      'rm:x',
      3,
    ]) {
      expect(refusedField({ Name: 'data', Action, Timer: 60 })).toBe('Action');
    }
  });

  it.each([
    -1,
    1.5,
    Number.NaN,
    '1.5',
    '-5',
    'soon',
    '',
    '* * *',
    '30 2 * * * *',
    '30 2 * * $(x)',
    null,
    [],
    {},
  ])('refuses the timer %j', (Timer) => {
    expect(refusedField({ Name: 'data', Action: 'snapshot', Timer })).toBe('Timer');
  });

  it.each([null, [], 'text', 42])('refuses %j as a body', (body) => {
    expect(refusedField(body)).toBe('row');
  });
});
