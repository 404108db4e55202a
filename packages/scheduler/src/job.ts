import { HostName, InvalidNameError, ProjectName, VolumeName } from '@buttervolume/names';
import { parsePolicy, type RetentionPolicy } from '@buttervolume/retention';
import { Cron } from 'croner';
import { InvalidJobError } from './errors.js';

/** What a job does to its volume. */
export type JobAction =
  // skipUnchanged (`snapshot:skip-unchanged`): no new snapshot while btrfs says the volume
  // has not changed since its newest one.
  | { readonly kind: 'snapshot'; readonly skipUnchanged?: boolean }
  // skipUnchanged: nothing taken or sent while the volume is unchanged since the snapshot the
  // host holds; hostPurge: that policy applied to the host's copies after each send.
  | {
      readonly kind: 'replicate';
      readonly host: HostName;
      readonly skipUnchanged?: boolean;
      readonly hostPurge?: RetentionPolicy;
    }
  | { readonly kind: 'purge'; readonly pattern: RetentionPolicy }
  | { readonly kind: 'synchronize'; readonly hosts: readonly HostName[] }
  // Ours: snapshots of the job's volume and other volumes at one instant (hooks, pause), and
  // the same followed by a send of each snapshot of the set.
  | { readonly kind: 'group-snapshot'; readonly members: GroupMembers }
  | { readonly kind: 'group-replicate'; readonly members: GroupMembers; readonly host: HostName };

/**
 * Who else is in a group job's set besides the Name column's volume: more volumes
 * (`uploads,cache`) or a compose project (`project=shop`).
 */
export type GroupMembers =
  | { readonly kind: 'volumes'; readonly volumes: readonly VolumeName[] }
  | { readonly kind: 'project'; readonly project: ProjectName };

/** When a job runs: every N minutes (3.x), or at the times of a 5-field cron expression (ours). */
export type JobTimer =
  | { readonly kind: 'interval'; readonly minutes: number }
  | { readonly kind: 'cron'; readonly expression: string; readonly cron: Cron };

/** (Name, Action) identifies a job, as in 3.x: one timer per action per volume. */
export type JobKey = string & { readonly __brand: 'JobKey' };

export interface Job {
  readonly key: JobKey;
  readonly volume: VolumeName;
  readonly action: JobAction;
  /** The Action column as 3.x writes it, e.g. `replicate:backup-1`. */
  readonly actionText: string;
  readonly timer: JobTimer;
  /** False when paused on its own (`Active` column `False`). */
  readonly active: boolean;
}

/** A row of schedule.csv or a request body, before validation. */
export interface RawJob {
  readonly Name: unknown;
  readonly Action: unknown;
  readonly Timer: unknown;
  readonly Active?: unknown;
}

/** A month of minutes is a common timer; a century is a typo, and dates stay exact. */
export const MAX_TIMER_MINUTES = 100 * 525_600;
/** Longer than any real action (a purge pattern is at most 512, hosts 253 each). */
const MAX_ACTION_LENGTH = 4096;
const MAX_SYNC_HOSTS = 64;

export function jobKey(volume: string, actionText: string): JobKey {
  // A NUL never appears in either field of a valid row, so keys cannot collide.
  return `${volume}\u0000${actionText}` as JobKey;
}

/** Turns a schedule row or request into a Job, or throws InvalidJobError naming the field. */
export function parseJob(raw: RawJob): Job {
  const volume = parseVolume(raw.Name);
  const { action, actionText } = parseAction(raw.Action);
  const timer = parseTimer(raw.Timer);
  const active = parseActive(raw.Active);
  return { key: jobKey(volume, actionText), volume, action, actionText, timer, active };
}

function parseVolume(raw: unknown): VolumeName {
  try {
    return VolumeName.parse(raw);
  } catch (error) {
    throw new InvalidJobError('Name', raw, reasonOf(error), { cause: error });
  }
}

export function parseAction(raw: unknown): { action: JobAction; actionText: string } {
  if (typeof raw !== 'string') throw new InvalidJobError('Action', raw, 'must be text');
  if (raw.length > MAX_ACTION_LENGTH) {
    throw new InvalidJobError('Action', raw, `longer than ${MAX_ACTION_LENGTH} characters`);
  }
  const colon = raw.indexOf(':');
  const kind = colon < 0 ? raw : raw.slice(0, colon);
  const argument = colon < 0 ? undefined : raw.slice(colon + 1);
  const action = actionOf(raw, kind, argument);
  return { action, actionText: formatAction(action) };
}

function actionOf(raw: string, kind: string, argument: string | undefined): JobAction {
  switch (kind) {
    case 'snapshot':
      if (argument === undefined) return { kind };
      if (argument === SKIP_UNCHANGED) return { kind, skipUnchanged: true };
      throw new InvalidJobError('Action', raw, `use snapshot or snapshot:${SKIP_UNCHANGED}`);
    case 'replicate':
      return parseReplicate(raw, required(raw, argument, REPLICATE_USAGE));
    case 'purge': {
      const text = required(
        raw,
        argument,
        'purge:<pattern> or purge:<calendar policy>, e.g. purge:4h:1d:2w:2y or purge:daily=7,weekly=4',
      );
      try {
        return { kind, pattern: parsePolicy(text) };
      } catch (error) {
        throw new InvalidJobError('Action', raw, reasonOf(error), { cause: error });
      }
    }
    case 'synchronize': {
      const text = required(raw, argument, 'synchronize:<host>[,<host>...]');
      if (text.split(',').length > MAX_SYNC_HOSTS) {
        throw new InvalidJobError('Action', raw, `more than ${MAX_SYNC_HOSTS} hosts`);
      }
      try {
        return { kind, hosts: HostName.parseList(text) };
      } catch (error) {
        throw new InvalidJobError('Action', raw, reasonOf(error), { cause: error });
      }
    }
    case 'group-snapshot':
      return {
        kind,
        members: parseMembers(raw, required(raw, argument, GROUP_SNAPSHOT_USAGE)),
      };
    case 'group-replicate': {
      // Members hold no ':' (volume and project names cannot); the host may (IPv6).
      const text = required(raw, argument, GROUP_REPLICATE_USAGE);
      const colon = text.indexOf(':');
      if (colon <= 0 || colon === text.length - 1) {
        throw new InvalidJobError('Action', raw, `missing argument: use ${GROUP_REPLICATE_USAGE}`);
      }
      return {
        kind,
        members: parseMembers(raw, text.slice(0, colon)),
        host: parseHost(raw, text.slice(colon + 1)),
      };
    }
    default:
      throw new InvalidJobError(
        'Action',
        raw,
        `unknown action (use snapshot[:${SKIP_UNCHANGED}], ${REPLICATE_USAGE}, purge:<pattern>, synchronize:<host>[,<host>...], ${GROUP_SNAPSHOT_USAGE} or ${GROUP_REPLICATE_USAGE})`,
      );
  }
}

const SKIP_UNCHANGED = 'skip-unchanged';
const HOST_PURGE = 'purge=';
const REPLICATE_USAGE = `replicate:<host>[,${SKIP_UNCHANGED}][,${HOST_PURGE}<policy>]`;

/**
 * `<host>[,skip-unchanged][,purge=<policy>]`: a host has no ',', so options start at the first
 * one; the policy comes last since a calendar policy holds commas itself.
 */
function parseReplicate(raw: string, text: string): JobAction {
  const [host = '', ...rest] = text.split(',');
  let options = rest.join(',');
  const action: {
    kind: 'replicate';
    host: HostName;
    skipUnchanged?: boolean;
    hostPurge?: RetentionPolicy;
  } = { kind: 'replicate', host: parseHost(raw, host) };
  if (rest.length === 0) return action;
  if (options === SKIP_UNCHANGED || options.startsWith(`${SKIP_UNCHANGED},`)) {
    action.skipUnchanged = true;
    options = options.slice(SKIP_UNCHANGED.length + 1);
    if (options === '') return action;
  }
  if (!options.startsWith(HOST_PURGE)) {
    throw new InvalidJobError('Action', raw, `unknown replicate option: use ${REPLICATE_USAGE}`);
  }
  try {
    action.hostPurge = parsePolicy(options.slice(HOST_PURGE.length));
  } catch (error) {
    throw new InvalidJobError('Action', raw, reasonOf(error), { cause: error });
  }
  return action;
}

const GROUP_SNAPSHOT_USAGE =
  'group-snapshot:<volume>[,<volume>...] or group-snapshot:project=<name>';
const GROUP_REPLICATE_USAGE =
  'group-replicate:<volume>[,<volume>...]:<host> or group-replicate:project=<name>:<host>';
const MAX_GROUP_VOLUMES = 64;

function parseMembers(raw: string, text: string): GroupMembers {
  try {
    if (text.startsWith('project=')) {
      return { kind: 'project', project: ProjectName.parse(text.slice('project='.length)) };
    }
    const list = text.split(',');
    if (list.length > MAX_GROUP_VOLUMES) {
      throw new InvalidJobError('Action', raw, `more than ${MAX_GROUP_VOLUMES} volumes`);
    }
    return { kind: 'volumes', volumes: list.map((v) => VolumeName.parse(v)) };
  } catch (error) {
    if (error instanceof InvalidJobError) throw error;
    throw new InvalidJobError('Action', raw, reasonOf(error), { cause: error });
  }
}

/**
 * The volumes a job protects: its Name column's volume, and for a group job every other
 * member. A project's volumes are only known from Docker: `projectVolumes` answers them (as
 * last seen), or nothing.
 */
export function jobVolumes(
  job: Pick<Job, 'volume' | 'action'>,
  projectVolumes: (project: ProjectName) => readonly VolumeName[] = () => [],
): VolumeName[] {
  const { action } = job;
  if (action.kind !== 'group-snapshot' && action.kind !== 'group-replicate') return [job.volume];
  const members =
    action.members.kind === 'project'
      ? projectVolumes(action.members.project)
      : action.members.volumes;
  return [...new Set([job.volume, ...members])];
}

function formatMembers(members: GroupMembers): string {
  return members.kind === 'project' ? `project=${members.project}` : members.volumes.join(',');
}

function required(raw: string, argument: string | undefined, usage: string): string {
  if (argument === undefined || argument.length === 0) {
    throw new InvalidJobError('Action', raw, `missing argument: use ${usage}`);
  }
  return argument;
}

function parseHost(raw: string, host: string): HostName {
  try {
    return HostName.parse(host);
  } catch (error) {
    throw new InvalidJobError('Action', raw, reasonOf(error), { cause: error });
  }
}

/** The Action column for a job: the same text 3.x reads and writes. */
export function formatAction(action: JobAction): string {
  switch (action.kind) {
    case 'snapshot':
      return action.skipUnchanged ? `snapshot:${SKIP_UNCHANGED}` : 'snapshot';
    case 'replicate':
      return [
        `replicate:${action.host}`,
        ...(action.skipUnchanged ? [SKIP_UNCHANGED] : []),
        ...(action.hostPurge ? [`${HOST_PURGE}${action.hostPurge.text}`] : []),
      ].join(',');
    case 'purge':
      return `purge:${action.pattern.text}`;
    case 'synchronize':
      return `synchronize:${action.hosts.join(',')}`;
    case 'group-snapshot':
      return `group-snapshot:${formatMembers(action.members)}`;
    case 'group-replicate':
      return `group-replicate:${formatMembers(action.members)}:${action.host}`;
  }
}

/**
 * Minutes (a positive whole number, as a JSON number or digits) or a 5-field cron expression.
 * Zero, "delete", "pause" and "resume" are commands of the Schedule endpoint, not timers.
 */
export function parseTimer(raw: unknown): JobTimer {
  if (typeof raw === 'number') {
    if (!Number.isInteger(raw) || raw < 1 || raw > MAX_TIMER_MINUTES) {
      throw new InvalidJobError('Timer', raw, timerRule());
    }
    return { kind: 'interval', minutes: raw };
  }
  if (typeof raw !== 'string') throw new InvalidJobError('Timer', raw, timerRule());
  if (/^[0-9]+$/.test(raw)) {
    const minutes = raw.length > 12 ? Number.POSITIVE_INFINITY : Number(raw);
    if (minutes < 1 || minutes > MAX_TIMER_MINUTES) {
      throw new InvalidJobError('Timer', raw, timerRule());
    }
    return { kind: 'interval', minutes };
  }
  return parseCron(raw);
}

function parseCron(raw: string): JobTimer {
  const fields = raw.trim().split(/\s+/);
  // Only 5 fields: seconds would make "every second" jobs possible, and a cron line is what
  // people copy from crontab(5).
  if (raw.length > 200 || fields.length !== 5) {
    throw new InvalidJobError('Timer', raw, timerRule());
  }
  const expression = fields.join(' ');
  try {
    const cron = compiledCron(expression);
    if (cron.nextRun(new Date(0)) === null) {
      throw new InvalidJobError('Timer', raw, 'this cron expression never matches');
    }
    return { kind: 'cron', expression, cron };
  } catch (error) {
    if (error instanceof InvalidJobError) throw error;
    throw new InvalidJobError('Timer', raw, `${timerRule()} (${reasonOf(error)})`, {
      cause: error,
    });
  }
}

// A compiled pattern holds tables for every field, years included (tens of kB); a thousand
// volumes backed up "at 02:30" share one. Without a callback a Cron never fires, it only answers.
const cronCache = new Map<string, Cron>();
const MAX_CACHED_CRONS = 1000;

function compiledCron(expression: string): Cron {
  let cron = cronCache.get(expression);
  if (cron === undefined) {
    cron = new Cron(expression, { mode: '5-part', paused: true });
    if (cronCache.size >= MAX_CACHED_CRONS) cronCache.clear();
    cronCache.set(expression, cron);
  }
  return cron;
}

function timerRule(): string {
  return (
    `use a whole number of minutes from 1 to ${MAX_TIMER_MINUTES}, or a 5-field cron ` +
    'expression such as "30 2 * * *" (every day at 02:30 local time)'
  );
}

/** The Timer column for a job. */
export function formatTimer(timer: JobTimer): string {
  return timer.kind === 'interval' ? String(timer.minutes) : timer.expression;
}

/**
 * 3.x wrote Python's `True`/`False`, wrote nothing for rows from before the column existed, and
 * ran every row whose value was not exactly `False`. We keep missing = active, accept either
 * case, and refuse anything else rather than guess.
 */
function parseActive(raw: unknown): boolean {
  if (raw === undefined || raw === '' || raw === true) return true;
  if (raw === false) return false;
  if (typeof raw === 'string') {
    const lower = raw.toLowerCase();
    if (lower === 'true') return true;
    if (lower === 'false') return false;
  }
  throw new InvalidJobError('Active', raw, 'use True or False');
}

export function formatActive(active: boolean): 'True' | 'False' {
  return active ? 'True' : 'False';
}

function reasonOf(error: unknown): string {
  if (error instanceof InvalidNameError) return error.message;
  return error instanceof Error ? error.message : String(error);
}
