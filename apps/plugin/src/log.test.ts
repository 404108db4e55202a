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
});
