import { readFile } from 'node:fs/promises';
import { writeFileAtomic } from '@buttervolume/files';
import { type JobKey, jobKey } from './job.js';

/** What the runner remembers of one job, in epoch milliseconds. */
export interface JobState {
  /** When the runner first saw the job: a cron job's first run is its first cron time after this. */
  readonly firstSeen?: number;
  /** Start of the latest run, whatever its outcome. */
  readonly lastAttempt?: number;
  /** Start of the latest run that succeeded. */
  readonly lastSuccess?: number;
  readonly lastOutcome?: RunOutcome;
  /** The latest failure's message, cut to a log line. */
  readonly lastError?: string;
  /** Failed runs in a row since the latest success (0 or absent after a success). */
  readonly failures?: number;
}

export type JobStates = ReadonlyMap<JobKey, JobState>;

/** Why a run did nothing on purpose: the volume had not changed since its newest snapshot. */
export type SkipReason = 'unchanged';

/** How a run ended; a skipped run counts as a success (the volume is as protected as it was). */
export type RunOutcome = 'success' | 'failure' | `skipped: ${SkipReason}`;

const RUN_OUTCOMES: readonly unknown[] = ['success', 'failure', 'skipped: unchanged'];

export function isRunOutcome(value: unknown): value is RunOutcome {
  return RUN_OUTCOMES.includes(value);
}

/** What the daemon remembers of sends of one volume to one host, in epoch milliseconds. */
export interface SendState {
  readonly lastSuccess?: {
    readonly at: number;
    readonly bytes: number;
    readonly incremental: boolean;
    readonly durationMs: number;
  };
  readonly lastFailure?: { readonly at: number; readonly error: string };
}

/** Keyed by sendKey(volume, host). */
export type SendStates = ReadonlyMap<SendKey, SendState>;
export type SendKey = string & { readonly __brand: 'SendKey' };

export function sendKey(volume: string, host: string): SendKey {
  return `${volume}\u0000${host}` as SendKey;
}

/** Everything the state file holds. */
export interface SchedulerState {
  jobs: Map<JobKey, JobState>;
  sends: Map<SendKey, SendState>;
}

const VERSION = 1;
const MAX_ERROR_LENGTH = 2000;

/** The state file's path for a schedule: next to it, whether it is paused or not. */
export function defaultStatePath(schedulePath: string): string {
  return `${schedulePath}.state.json`;
}

/**
 * `<schedule>.state.json`: `{"version": 1, "jobs": [{"name", "action", "firstSeen"?,
 * "lastAttempt"?, "lastSuccess"?, "lastOutcome"?, "lastError"?, "failures"?}], "sends":
 * [{"volume", "host", "lastSuccess"?: {"at", "bytes", "incremental", "durationMs"},
 * "lastFailure"?: {"at", "error"}}]}`, times as ISO 8601 (`sends` is optional, so an older
 * daemon still reads the file). A missing file is an empty state. An unreadable one is reported
 * and treated as empty: every interval job then runs once on the first pass, which is what a
 * fresh start does anyway.
 */
export async function loadStates(path: string): Promise<SchedulerState & { problem?: string }> {
  const empty = () => ({ jobs: new Map(), sends: new Map() });
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return empty();
    return { ...empty(), problem: `cannot read ${path}: ${(error as Error).message}` };
  }
  try {
    const data: unknown = JSON.parse(text);
    return { jobs: decode(data), sends: decodeSends(data) };
  } catch (error) {
    return { ...empty(), problem: `ignoring ${path}: ${(error as Error).message}` };
  }
}

export async function saveStates(
  path: string,
  states: JobStates,
  sendStates: SendStates = new Map(),
): Promise<void> {
  const jobs = [...states].map(([key, state]) => {
    const [name, action] = key.split('\u0000') as [string, string];
    return {
      name,
      action,
      ...iso('firstSeen', state.firstSeen),
      ...iso('lastAttempt', state.lastAttempt),
      ...iso('lastSuccess', state.lastSuccess),
      ...(state.lastOutcome ? { lastOutcome: state.lastOutcome } : {}),
      ...(state.lastError !== undefined ? { lastError: state.lastError } : {}),
      ...(state.failures ? { failures: state.failures } : {}),
    };
  });
  const sends = [...sendStates].map(([key, state]) => {
    const [volume, host] = key.split('\u0000') as [string, string];
    const { lastSuccess: ok, lastFailure: failed } = state;
    return {
      volume,
      host,
      ...(ok ? { lastSuccess: { ...ok, at: new Date(ok.at).toISOString() } } : {}),
      ...(failed ? { lastFailure: { ...failed, at: new Date(failed.at).toISOString() } } : {}),
    };
  });
  await writeFileAtomic(path, `${JSON.stringify({ version: VERSION, jobs, sends }, null, 1)}\n`);
}

export function truncateError(message: string): string {
  return message.length > MAX_ERROR_LENGTH ? `${message.slice(0, MAX_ERROR_LENGTH)}…` : message;
}

function iso(key: string, time: number | undefined): Record<string, string> {
  return time === undefined ? {} : { [key]: new Date(time).toISOString() };
}

function decode(data: unknown): Map<JobKey, JobState> {
  if (!isRecord(data) || data.version !== VERSION || !Array.isArray(data.jobs)) {
    throw new Error(`not a version ${VERSION} state file`);
  }
  const states = new Map<JobKey, JobState>();
  for (const entry of data.jobs) {
    if (!isRecord(entry) || typeof entry.name !== 'string' || typeof entry.action !== 'string') {
      throw new Error('a job entry lacks its name or action');
    }
    const outcome = entry.lastOutcome;
    const error = entry.lastError;
    states.set(jobKey(entry.name, entry.action), {
      ...time('firstSeen', entry.firstSeen),
      ...time('lastAttempt', entry.lastAttempt),
      ...time('lastSuccess', entry.lastSuccess),
      ...(isRunOutcome(outcome) ? { lastOutcome: outcome } : {}),
      ...(typeof error === 'string' ? { lastError: truncateError(error) } : {}),
      ...(isCount(entry.failures) ? { failures: entry.failures } : {}),
    });
  }
  return states;
}

function decodeSends(data: unknown): Map<SendKey, SendState> {
  const sends = new Map<SendKey, SendState>();
  const list = isRecord(data) ? data.sends : undefined;
  if (list === undefined) return sends;
  if (!Array.isArray(list)) throw new Error('sends is not a list');
  for (const entry of list) {
    if (!isRecord(entry) || typeof entry.volume !== 'string' || typeof entry.host !== 'string') {
      throw new Error('a send entry lacks its volume or host');
    }
    const { lastSuccess: ok, lastFailure: failed } = entry;
    const state: { -readonly [K in keyof SendState]: SendState[K] } = {};
    if (isRecord(ok)) {
      state.lastSuccess = {
        at: requiredTime(ok.at),
        bytes: isCount(ok.bytes) ? ok.bytes : 0,
        incremental: ok.incremental === true,
        durationMs: isCount(ok.durationMs) ? ok.durationMs : 0,
      };
    }
    if (isRecord(failed)) {
      state.lastFailure = {
        at: requiredTime(failed.at),
        error: typeof failed.error === 'string' ? truncateError(failed.error) : '',
      };
    }
    sends.set(sendKey(entry.volume, entry.host), state);
  }
  return sends;
}

function isCount(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
}

function requiredTime(value: unknown): number {
  return time('at', value ?? null).at!;
}

function time(key: string, value: unknown): Record<string, number> {
  if (value === undefined) return {};
  const ms = typeof value === 'string' ? Date.parse(value) : Number.NaN;
  if (Number.isNaN(ms)) throw new Error(`${key} is not an ISO 8601 time: ${String(value)}`);
  return { [key]: ms };
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
