import { readFile } from 'node:fs/promises';
import { writeFileAtomic } from './atomic-file.js';
import { type JobKey, jobKey } from './job.js';

/** What the runner remembers of one job, in epoch milliseconds. */
export interface JobState {
  /** When the runner first saw the job: a cron job's first run is its first cron time after this. */
  readonly firstSeen?: number;
  /** Start of the latest run, whatever its outcome. */
  readonly lastAttempt?: number;
  /** Start of the latest run that succeeded. */
  readonly lastSuccess?: number;
  readonly lastOutcome?: 'success' | 'failure';
  /** The latest failure's message, cut to a log line. */
  readonly lastError?: string;
}

export type JobStates = ReadonlyMap<JobKey, JobState>;

const VERSION = 1;
const MAX_ERROR_LENGTH = 2000;

/** The state file's path for a schedule: next to it, whether it is paused or not. */
export function defaultStatePath(schedulePath: string): string {
  return `${schedulePath}.state.json`;
}

/**
 * `<schedule>.state.json`: `{"version": 1, "jobs": [{"name", "action", "firstSeen"?,
 * "lastAttempt"?, "lastSuccess"?, "lastOutcome"?, "lastError"?}]}`, times as ISO 8601.
 * A missing file is an empty state. An unreadable one is reported and treated as empty: every
 * interval job then runs once on the first pass, which is what a fresh start does anyway.
 */
export async function loadStates(
  path: string,
): Promise<{ states: Map<JobKey, JobState>; problem?: string }> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { states: new Map() };
    return { states: new Map(), problem: `cannot read ${path}: ${(error as Error).message}` };
  }
  try {
    return { states: decode(JSON.parse(text)) };
  } catch (error) {
    return { states: new Map(), problem: `ignoring ${path}: ${(error as Error).message}` };
  }
}

export async function saveStates(path: string, states: JobStates): Promise<void> {
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
    };
  });
  await writeFileAtomic(path, `${JSON.stringify({ version: VERSION, jobs }, null, 1)}\n`);
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
      ...(outcome === 'success' || outcome === 'failure' ? { lastOutcome: outcome } : {}),
      ...(typeof error === 'string' ? { lastError: truncateError(error) } : {}),
    });
  }
  return states;
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
