import { describe, expect, it } from 'vitest';
import { createLogger, logged } from './log.js';

describe('logger', () => {
  it('writes one JSON line per event at or above its level', () => {
    const lines: string[] = [];
    const logger = createLogger({
      level: 'WARNING',
      write: (l) => lines.push(l),
      now: () => new Date(0),
    });
    logger.info('hidden');
    logger.warn('shown', { volume: 'v1' });
    expect(lines).toHaveLength(1);
    expect(JSON.parse(lines[0]!)).toEqual({
      time: '1970-01-01T00:00:00.000Z',
      level: 'WARNING',
      msg: 'shown',
      volume: 'v1',
    });
  });

  it('logs an operation with its duration and outcome, errors included', async () => {
    const lines: string[] = [];
    const logger = createLogger({ level: 'DEBUG', write: (l) => lines.push(l) });
    await logged(logger, 'snapshot', { volume: 'v1' }, async () => 1);
    const failure = Object.assign(new Error('boom'), { code: 'X' });
    await expect(logged(logger, 'remove', {}, async () => Promise.reject(failure))).rejects.toThrow(
      'boom',
    );
    const [ok, bad] = lines.map((l) => JSON.parse(l));
    expect(ok).toMatchObject({ msg: 'snapshot', outcome: 'ok', level: 'INFO', volume: 'v1' });
    expect(typeof ok.ms).toBe('number');
    expect(bad).toMatchObject({
      msg: 'remove',
      outcome: 'error',
      error: { code: 'X', message: 'boom' },
    });
  });

  it("keeps an error's stack and its cause chain (a cycle or a deep chain is cut)", () => {
    const lines: string[] = [];
    const logger = createLogger({ level: 'DEBUG', write: (l) => lines.push(l) });
    const root = Object.assign(new Error('ENOSPC: no space left on device'), { code: 'ENOSPC' });
    const wrapped = new Error('could not write schedule.csv', { cause: root });
    logger.error('cannot save', { error: wrapped });
    const logged_ = JSON.parse(lines[0]!);
    expect(logged_.error.message).toBe('could not write schedule.csv');
    expect(logged_.error.stack).toMatch(/could not write schedule\.csv\n\s+at /);
    expect(logged_.error.cause).toMatchObject({
      name: 'Error',
      code: 'ENOSPC',
      message: 'ENOSPC: no space left on device',
    });
    expect(logged_.error.cause.stack).toMatch(/\n\s+at /);

    const a = new Error('a');
    const b = new Error('b', { cause: a });
    (a as { cause?: unknown }).cause = b; // a cycle
    logger.error('loop', { error: a });
    const cut = JSON.stringify(JSON.parse(lines[1]!));
    expect(cut).toMatch(/cause chain cut at 5/);

    logger.error('many', { error: new AggregateError([new Error('x'), 'y'], 'both failed') });
    expect(JSON.parse(lines[2]!).error.errors).toEqual([
      expect.objectContaining({ message: 'x', stack: expect.any(String) }),
      'y',
    ]);
  });
});
