import { InvalidJobError } from './errors.js';
import { type Job, parseJob } from './job.js';
import type { ScheduleStore } from './store.js';

/** What a `POST /VolumeDriver.Schedule` body asks for. */
export type ScheduleCommand =
  | { readonly kind: 'set'; readonly job: Job }
  | {
      readonly kind: 'remove' | 'pause' | 'resume';
      readonly name: string;
      readonly action: string;
    };

const MAX_FIELD_LENGTH = 4096;

/**
 * `{Name, Action, Timer}` as 3.x's endpoint reads it: Timer minutes (or, ours, a cron
 * expression) adds or replaces the job; zero minutes (`0`, `"0"`, `"00"`: 3.x took
 * `int(Timer)`) or `"delete"` removes it; `"pause"` and `"resume"` pause or resume it. 3.x
 * ignored anything else without a word; we refuse it. Remove, pause and resume only compare
 * text with the file's rows, so they accept any Name and Action (a row 3.x let in with a
 * hostile name can still be deleted). The one parser of schedule requests: the daemon's route
 * and the CLI both call it.
 */
export function parseScheduleRequest(body: unknown): ScheduleCommand {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new InvalidJobError('row', body, 'the request body must be a JSON object');
  }
  const { Name, Action, Timer } = body as Record<string, unknown>;
  const command = rowCommand(Timer);
  if (command !== undefined) return { kind: command, ...rowKey(Name, Action) };
  // A request's timer may come padded (a shell argument, a hand-written body); a row may not.
  const timer = typeof Timer === 'string' ? Timer.trim() : Timer;
  return { kind: 'set', job: parseJob({ Name, Action, Timer: timer, Active: true }) };
}

/** The commands on an existing row a Timer names; undefined for a timer (or nonsense). */
function rowCommand(timer: unknown): 'remove' | 'pause' | 'resume' | undefined {
  if (timer === 0) return 'remove';
  if (typeof timer !== 'string') return undefined;
  const text = timer.trim();
  if (text === 'delete' || /^0+$/.test(text)) return 'remove';
  if (text === 'pause' || text === 'resume') return text;
  return undefined;
}

function rowKey(name: unknown, action: unknown): { name: string; action: string } {
  return { name: text('Name', name), action: text('Action', action) };
}

function text(field: 'Name' | 'Action', value: unknown): string {
  if (typeof value !== 'string' || value.length === 0 || value.length > MAX_FIELD_LENGTH) {
    throw new InvalidJobError(field, value, `must be text of 1 to ${MAX_FIELD_LENGTH} characters`);
  }
  return value;
}

/** Carries out a command; removing a job that is not there is not an error, as in 3.x. */
export async function applyScheduleCommand(
  store: ScheduleStore,
  command: ScheduleCommand,
): Promise<void> {
  switch (command.kind) {
    case 'set':
      return store.upsert(command.job);
    case 'remove':
      await store.remove(command.name, command.action);
      return;
    case 'pause':
    case 'resume':
      return store.setActive(command.name, command.action, command.kind === 'resume');
  }
}
