import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { JobTimeoutError, SchedulerStoppedError } from './errors.js';
import type { Job } from './job.js';
import {
  type JobExecutor,
  Scheduler,
  type SchedulerLogger,
  type SchedulerOptions,
} from './runner.js';
import { sendKey } from './state.js';
import { ScheduleStore } from './store.js';

const MIN = 60_000;
const T0 = Date.UTC(2026, 10, 24, 19, 0, 0);

let dir: string;
let store: ScheduleStore;
const schedulers: Scheduler[] = [];

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'bv-runner-'));
  store = new ScheduleStore(join(dir, 'schedule.csv'));
});
afterEach(async () => {
  await Promise.all(schedulers.splice(0).map((s) => s.stop({ graceMs: 100 })));
  await rm(dir, { recursive: true, force: true });
});

interface LogEntry {
  level: string;
  message: string;
  fields: Record<string, unknown>;
}

function memoryLogger(): SchedulerLogger & { entries: LogEntry[] } {
  const entries: LogEntry[] = [];
  const at =
    (level: string) =>
    (message: string, fields: Record<string, unknown> = {}) => {
      entries.push({ level, message, fields });
    };
  return { entries, debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
}

/** A clock the test moves by hand. */
function manualClock(start = T0) {
  let now = start;
  return {
    clock: () => new Date(now),
    advance: (ms: number) => {
      now += ms;
    },
  };
}

function scheduler(
  execute: JobExecutor,
  options: Partial<Omit<SchedulerOptions, 'execute' | 'store'>> = {},
): Scheduler {
  const s = new Scheduler({ store, execute, timerSeconds: 60, logger: memoryLogger(), ...options });
  schedulers.push(s);
  return s;
}

const schedule = (rows: string[]) => writeFile(store.path, rows.map((r) => `${r}\r\n`).join(''));
const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
const label = (job: Job) => `${job.volume}:${job.actionText}`;

/** Never settles until its signal aborts, then rejects with the signal's reason. */
const hang = (signal: AbortSignal) =>
  new Promise<void>((_, reject) => {
    signal.addEventListener('abort', () => reject(signal.reason), { once: true });
  });

describe('Scheduler', () => {
  it('really runs jobs, again and again, on its own timer (3.x never ran any)', async () => {
    await schedule(['vol1,snapshot,1,True', 'vol2,purge:1h:1d,2,True']);
    // One simulated minute every 40 ms of real time, so a 1-minute job is due every 40 ms.
    const real0 = Date.now();
    const clock = () => new Date(T0 + ((Date.now() - real0) * MIN) / 40);
    const runs: string[] = [];
    const s = scheduler(
      async (job) => {
        runs.push(label(job));
      },
      { timerSeconds: 0.02, clock },
    );
    s.start();
    await sleep(1000);
    await s.stop({ graceMs: 100 });
    const count = (l: string) => runs.filter((r) => r === l).length;
    expect(count('vol1:snapshot')).toBeGreaterThanOrEqual(8);
    expect(count('vol2:purge:1h:1d')).toBeGreaterThanOrEqual(4);
    expect(count('vol1:snapshot')).toBeGreaterThan(count('vol2:purge:1h:1d'));
    // 1000 ms is 25 simulated minutes: never more runs than periods (+ the first pass)
    expect(count('vol1:snapshot')).toBeLessThanOrEqual(27);
  });

  it('never runs two jobs of one volume at once, and runs both', async () => {
    await schedule([
      'vol1,snapshot,60,True',
      'vol1,purge:1h:1d,60,True',
      'vol1,replicate:h1,60,True',
    ]);
    let active = 0;
    let most = 0;
    const ran: string[] = [];
    const s = scheduler(
      async (job) => {
        active += 1;
        most = Math.max(most, active);
        await sleep(20);
        ran.push(job.actionText);
        active -= 1;
      },
      { concurrency: 4 },
    );
    await s.tick();
    expect(most).toBe(1);
    expect(ran).toEqual(['snapshot', 'purge:1h:1d', 'replicate:h1']);
  });

  it('runs different volumes in parallel up to the concurrency limit', async () => {
    await schedule(Array.from({ length: 10 }, (_, i) => `vol${i},snapshot,60,True`));
    let active = 0;
    let most = 0;
    const s = scheduler(
      async () => {
        active += 1;
        most = Math.max(most, active);
        await sleep(20);
        active -= 1;
      },
      { concurrency: 3 },
    );
    const { started } = await s.tick();
    expect(started).toHaveLength(10);
    expect(most).toBe(3);
  });

  it('logs a failing job with its identity, records it, and runs the others', async () => {
    await schedule(['vol1,replicate:h1,60,True', 'vol2,snapshot,60,True', 'vol3,snapshot,60,True']);
    const logger = memoryLogger();
    const { clock, advance } = manualClock();
    const ran: string[] = [];
    const s = scheduler(
      async (job) => {
        if (job.volume === 'vol1') throw new Error('ssh: connect to host h1 port 1122: refused');
        ran.push(job.volume);
      },
      { logger, clock },
    );
    await s.tick();
    expect(ran.sort()).toEqual(['vol2', 'vol3']);
    const failure = logger.entries.find((e) => e.message === 'scheduled job failed');
    expect(failure?.fields).toMatchObject({ volume: 'vol1', action: 'replicate:h1', timer: '60' });
    const status = await s.status();
    expect(status.jobs[0]).toMatchObject({
      name: 'vol1',
      lastOutcome: 'failure',
      lastError: 'ssh: connect to host h1 port 1122: refused',
      lastRun: new Date(T0),
      lastSuccess: null,
      nextRun: new Date(T0 + 60 * MIN),
    });
    // no hot loop: the failed job waits for its next period like the others
    advance(59 * MIN);
    expect((await s.tick()).started).toEqual([]);
    advance(MIN);
    expect((await s.tick()).started.map((j) => j.volume).sort()).toEqual(
      ['vol2', 'vol3'].concat('vol1').sort(),
    );
  });

  it('records "skipped: unchanged" as a successful run that waits for its next period', async () => {
    await schedule(['vol1,snapshot:skip-unchanged,60,True']);
    const { clock, advance } = manualClock();
    const outcomes: string[] = [];
    const logger = memoryLogger();
    const s = scheduler(async () => ({ skipped: 'unchanged' as const }), {
      clock,
      logger,
      onJobFinished: (_job, outcome) => outcomes.push(outcome),
    });
    await s.tick();
    expect((await s.status()).jobs[0]).toMatchObject({
      action: 'snapshot:skip-unchanged',
      lastOutcome: 'skipped: unchanged',
      lastSuccess: new Date(T0),
      failures: 0,
      nextRun: new Date(T0 + 60 * MIN),
    });
    expect(outcomes).toEqual(['skipped']);
    expect(logger.entries.find((e) => e.message === 'scheduled job skipped')?.fields).toMatchObject(
      { volume: 'vol1', outcome: 'skipped: unchanged' },
    );
    advance(30 * MIN);
    expect((await s.tick()).started).toEqual([]);
    // Survives a restart: the state file keeps the outcome.
    const again = scheduler(async () => {}, { clock });
    expect((await again.status()).jobs[0]?.lastOutcome).toBe('skipped: unchanged');
  });

  it('aborts a hung job at its timeout and records the failure', async () => {
    await schedule(['vol1,snapshot,60,True']);
    let reason: unknown;
    const s = scheduler(
      async (_job, signal) => {
        try {
          await hang(signal);
        } catch (error) {
          reason = error;
          throw error;
        }
      },
      { jobTimeoutMs: 50 },
    );
    const began = Date.now();
    await s.tick();
    expect(Date.now() - began).toBeLessThan(2000);
    expect(reason).toBeInstanceOf(JobTimeoutError);
    const [job] = (await s.status()).jobs;
    expect(job?.lastOutcome).toBe('failure');
    expect(job?.lastError).toMatch(/did not finish within 50 ms/);
  });

  it('a JOB_TIMEOUT past Node’s 24.8-day timer limit does not abort jobs at once', async () => {
    await schedule(['vol1,snapshot,60,True']);
    let aborted = false;
    // 100,000 minutes: Node would clamp a plain setTimeout of this to 1 ms.
    const s = scheduler(
      async (_job, signal) => {
        await sleep(60);
        aborted = signal.aborted;
      },
      { jobTimeoutMs: 100_000 * MIN },
    );
    await s.tick();
    expect(aborted).toBe(false);
    expect((await s.status()).jobs[0]?.lastOutcome).toBe('success');
  });

  it('a TIMER past Node’s 24.8-day timer limit makes one pass, not one every millisecond', async () => {
    let passes = 0;
    const counting = {
      path: store.path,
      read: () => {
        passes++;
        return store.read();
      },
    };
    const s = new Scheduler({
      store: counting,
      execute: async () => {},
      timerSeconds: 3_000_000,
      logger: memoryLogger(),
    });
    schedulers.push(s);
    s.start();
    // The next pass is 34 days away: however long this waits, only the first one may run.
    await sleep(200);
    expect(passes).toBe(1);
  });

  it('counts a job that returns after its timeout fired as failed', async () => {
    await schedule(['vol1,snapshot,60,True']);
    const s = scheduler(() => sleep(80), { jobTimeoutMs: 20 });
    await s.tick();
    expect((await s.status()).jobs[0]?.lastOutcome).toBe('failure');
  });

  it('does not let a slow job hold up the passes for other volumes', async () => {
    await schedule(['slow1,replicate:h1,1,True', 'slow1,snapshot,1,True', 'fast1,snapshot,1,True']);
    const real0 = Date.now();
    const clock = () => new Date(T0 + ((Date.now() - real0) * MIN) / 40);
    const ran: string[] = [];
    const s = scheduler(
      async (job, signal) => {
        if (job.actionText.startsWith('replicate')) await hang(signal);
        ran.push(label(job));
      },
      { timerSeconds: 0.02, clock, concurrency: 2 },
    );
    s.start();
    // Wait for the passes rather than a fixed time: a loaded machine runs fewer per second.
    for (let i = 0; i < 500 && ran.filter((r) => r === 'fast1:snapshot').length < 5; i++) {
      await sleep(20);
    }
    const status = await s.status();
    await s.stop({ graceMs: 50 });
    expect(ran.filter((r) => r === 'fast1:snapshot').length).toBeGreaterThanOrEqual(5);
    // the same volume's snapshot waits behind its replication instead of overlapping it
    expect(ran).not.toContain('slow1:snapshot');
    expect(status.jobs.find((j) => j.action === 'replicate:h1')?.running).toBe(true);
  });

  it('stops gracefully: lets short jobs finish, aborts the hung one after the grace', async () => {
    await schedule(['vol1,snapshot,60,True', 'vol2,replicate:h1,60,True']);
    const outcomes: Record<string, unknown> = {};
    let started = 0;
    const s = scheduler(async (job, signal) => {
      started++;
      if (job.volume === 'vol1') {
        await sleep(50);
        outcomes.vol1 = 'done';
        return;
      }
      try {
        await hang(signal);
      } catch (error) {
        outcomes.vol2 = error;
        throw error;
      }
    });
    const ticking = s.tick();
    // Stop only once both jobs run: the test is about what stop does to running jobs.
    for (let i = 0; i < 500 && started < 2; i++) await sleep(5);
    const began = Date.now();
    await s.stop({ graceMs: 200 });
    const took = Date.now() - began;
    await ticking;
    expect(outcomes.vol1).toBe('done');
    expect(outcomes.vol2).toBeInstanceOf(SchedulerStoppedError);
    expect(took).toBeGreaterThanOrEqual(190);
    expect(took).toBeLessThan(2000);
    // after stop nothing starts
    expect((await s.tick()).started).toEqual([]);
    const state = JSON.parse(await readFile(`${store.path}.state.json`, 'utf8'));
    expect(
      state.jobs.map((j: { name: string; lastOutcome: string }) => [j.name, j.lastOutcome]),
    ).toEqual([
      ['vol1', 'success'],
      ['vol2', 'failure'],
    ]);
  });

  it('persists last runs: a restart re-runs nothing within its interval', async () => {
    await schedule(['vol1,snapshot,60,True', 'vol2,snapshot,30,True']);
    const { clock, advance } = manualClock();
    const ran: string[] = [];
    const execute: JobExecutor = async (job) => {
      ran.push(job.volume);
    };
    const first = scheduler(execute, { clock });
    await first.tick();
    await first.stop({ graceMs: 100 });
    expect(ran).toEqual(['vol1', 'vol2']);
    const state = JSON.parse(await readFile(`${store.path}.state.json`, 'utf8'));
    expect(state).toMatchObject({
      version: 1,
      jobs: [
        {
          name: 'vol1',
          action: 'snapshot',
          lastSuccess: new Date(T0).toISOString(),
          lastOutcome: 'success',
        },
        { name: 'vol2', action: 'snapshot', lastAttempt: new Date(T0).toISOString() },
      ],
    });
    advance(29 * MIN);
    const second = scheduler(execute, { clock });
    expect((await second.tick()).started).toEqual([]);
    // down for 10 hours: each runs once, not once per missed period
    advance(10 * 60 * MIN);
    const third = scheduler(execute, { clock });
    await third.tick();
    await third.tick();
    expect(ran.slice(2).sort()).toEqual(['vol1', 'vol2']);
  });

  it('logs job.failed with a running count, then job.recovered once it works again', async () => {
    await schedule(['vol1,replicate:h1,60,True']);
    const logger = memoryLogger();
    const { clock, advance } = manualClock();
    let fail = true;
    const finished: string[] = [];
    const s = scheduler(
      async () => {
        if (fail) throw new Error('host h1 unreachable');
      },
      { logger, clock, onJobFinished: (job, outcome) => finished.push(`${job.volume}:${outcome}`) },
    );
    await s.tick();
    advance(60 * MIN);
    await s.tick();
    const failed = logger.entries.filter((e) => e.fields.event === 'job.failed');
    expect(failed.map((e) => e.fields.failures)).toEqual([1, 2]);
    expect(failed[1]?.fields).toMatchObject({ volume: 'vol1', action: 'replicate:h1' });
    expect((await s.status()).jobs[0]?.failures).toBe(2);
    fail = false;
    advance(60 * MIN);
    await s.tick();
    const recovered = logger.entries.filter((e) => e.fields.event === 'job.recovered');
    expect(recovered).toHaveLength(1);
    expect(recovered[0]?.fields).toMatchObject({
      volume: 'vol1',
      action: 'replicate:h1',
      failures: 2,
      lastError: 'host h1 unreachable',
    });
    expect((await s.status()).jobs[0]?.failures).toBe(0);
    // a second success is not another recovery
    advance(60 * MIN);
    await s.tick();
    expect(logger.entries.filter((e) => e.fields.event === 'job.recovered')).toHaveLength(1);
    expect(finished).toEqual(['vol1:failure', 'vol1:failure', 'vol1:success', 'vol1:success']);
  });

  it('keeps last-send facts in the state file, across a restart, next to the jobs', async () => {
    await schedule(['vol1,snapshot,60,True']);
    const { clock, advance } = manualClock();
    const first = scheduler(async () => {}, { clock });
    await first.tick();
    await first.recordSend('vol1', 'backup1', {
      ok: true,
      bytes: 4096,
      incremental: true,
      durationMs: 12.4,
    });
    advance(MIN);
    await first.recordSend('vol1', 'backup1', { ok: false, error: 'ssh: refused' });
    await first.recordSend('vol2', '10.0.0.2', { ok: false, error: 'x'.repeat(5000) });
    await first.stop({ graceMs: 100 });
    const file = JSON.parse(await readFile(`${store.path}.state.json`, 'utf8'));
    expect(file.jobs).toHaveLength(1);
    expect(file.sends[0]).toEqual({
      volume: 'vol1',
      host: 'backup1',
      lastSuccess: {
        at: new Date(T0).toISOString(),
        bytes: 4096,
        incremental: true,
        durationMs: 12,
      },
      lastFailure: { at: new Date(T0 + MIN).toISOString(), error: 'ssh: refused' },
    });
    const second = scheduler(async () => {}, { clock });
    const sends = await second.sendStates();
    expect(sends.get(sendKey('vol1', 'backup1'))).toEqual({
      lastSuccess: { at: T0, bytes: 4096, incremental: true, durationMs: 12 },
      lastFailure: { at: T0 + MIN, error: 'ssh: refused' },
    });
    expect(sends.get(sendKey('vol2', '10.0.0.2'))?.lastFailure?.error.length).toBeLessThan(2100);
    // the jobs' memory survived the send records: nothing is due again within the hour
    expect((await second.tick()).started).toEqual([]);
  });

  it('reads a state file without sends (older daemons), and refuses malformed ones whole', async () => {
    await schedule(['vol1,snapshot,60,True']);
    const path = `${store.path}.state.json`;
    await writeFile(path, JSON.stringify({ version: 1, jobs: [] }));
    expect((await scheduler(async () => {}).sendStates()).size).toBe(0);
    for (const sends of [
      'nope',
      [{ volume: 'v' }],
      [{ volume: 'v', host: 'h', lastSuccess: { at: 'soon' } }],
    ]) {
      await writeFile(path, JSON.stringify({ version: 1, jobs: [], sends }));
      const logger = memoryLogger();
      const s = scheduler(async () => {}, { logger });
      expect((await s.sendStates()).size).toBe(0);
      expect(logger.entries.some((e) => e.message.startsWith('scheduler state unreadable'))).toBe(
        true,
      );
    }
  });

  it('starts from scratch on a corrupt state file, saying so', async () => {
    await schedule(['vol1,snapshot,60,True']);
    await writeFile(`${store.path}.state.json`, '{"version": 1, "jobs": [{"name": 3}');
    const logger = memoryLogger();
    const s = scheduler(async () => {}, { logger });
    expect((await s.tick()).started).toHaveLength(1);
    expect(logger.entries.some((e) => e.message.startsWith('scheduler state unreadable'))).toBe(
      true,
    );
    expect(JSON.parse(await readFile(`${store.path}.state.json`, 'utf8')).jobs).toHaveLength(1);
  });

  it('runs nothing while globally paused or for a paused job', async () => {
    await schedule(['vol1,snapshot,60,False', 'vol2,snapshot,60,True']);
    const ran: string[] = [];
    const s = scheduler(async (job) => {
      ran.push(job.volume);
    });
    await store.pause();
    expect((await s.tick()).started).toEqual([]);
    const paused = await s.status();
    expect(paused.paused).toBe(true);
    expect(paused.jobs.every((j) => j.nextRun === null)).toBe(true);
    await store.resume();
    await s.tick();
    expect(ran).toEqual(['vol2']);
  });

  it('answers status() with the same objects while nothing changed, fresh ones for what did', async () => {
    await schedule(['vol1,snapshot,60,True', 'vol2,snapshot,60,True']);
    const time = manualClock();
    const s = scheduler(async () => {}, { clock: time.clock });
    // Never run: the next run is "now", worked out again at each call.
    const first = await s.status();
    time.advance(MIN);
    const unrun = await s.status();
    expect(unrun.jobs[0]?.nextRun?.getTime()).toBe(T0 + MIN);
    expect(unrun.jobs).not.toBe(first.jobs);
    await s.tick();
    const ran = await s.status();
    expect(ran.jobs[0]?.lastRun?.getTime()).toBe(T0 + MIN);
    time.advance(MIN);
    const later = await s.status();
    expect(later.jobs).toBe(ran.jobs);
    expect(later.jobs[1]?.nextRun?.getTime()).toBe(T0 + 61 * MIN);
    // A change to one job's row: that job's status is new, the other's is kept.
    await schedule(['vol1,snapshot,60,True', 'vol2,snapshot,30,True']);
    const changed = await s.status();
    expect(changed.jobs).not.toBe(later.jobs);
    expect(changed.jobs[0]).toBe(later.jobs[0]);
    expect(changed.jobs[1]?.timer).toBe('30');
    expect(changed.jobs[1]?.nextRun?.getTime()).toBe(T0 + 31 * MIN);
    await store.pause();
    expect((await s.status()).jobs.every((j) => j.nextRun === null)).toBe(true);
    const version = s.sendsVersion;
    await s.recordSend('vol1', 'h1', { ok: false, error: 'refused' });
    expect(s.sendsVersion).toBe(version + 1);
  });

  it('reports a bad row once, not at every pass, and runs the good ones', async () => {
    await schedule(['../x,snapshot,60,True', 'vol1,snapshot,1,True']);
    const logger = memoryLogger();
    const { clock, advance } = manualClock();
    const s = scheduler(async () => {}, { logger, clock });
    await s.tick();
    advance(MIN);
    await s.tick();
    const warnings = logger.entries.filter((e) => e.message === 'schedule row skipped');
    expect(warnings).toHaveLength(1);
    expect(warnings[0]?.fields).toMatchObject({ line: 1, row: '../x,snapshot,60,True' });
    expect((await s.status()).jobs[0]?.lastRun).toEqual(new Date(T0 + MIN));
  });

  it("waits for a cron job's time instead of running it when first seen", async () => {
    const { clock, advance } = manualClock(new Date(2026, 0, 1, 14, 0).getTime());
    await schedule(['vol1,snapshot,30 2 * * *,True']);
    const s = scheduler(async () => {}, { clock });
    expect((await s.tick()).started).toEqual([]);
    expect((await s.status()).jobs[0]?.nextRun).toEqual(new Date(2026, 0, 2, 2, 30));
    advance(12.5 * 60 * MIN);
    expect((await s.tick()).started).toHaveLength(1);
  });
});
