import { link, mkdir, readFile, unlink, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { removeStaleTemps, syncDirectory, writeFileAtomic } from '@buttervolume/files';
import { CSV_EOL, type CsvRecord, formatCsvRow, parseCsv } from './csv.js';
import {
  InvalidJobError,
  JobNotFoundError,
  SchedulePausedError,
  ScheduleStoreError,
} from './errors.js';
import {
  formatActive,
  formatTimer,
  type Job,
  type JobKey,
  jobKey,
  parseJob,
  type RawJob,
} from './job.js';

/** A row that does not run, kept in the file untouched and reported. */
export interface ScheduleProblem {
  readonly line: number;
  readonly raw: string;
  readonly reason: string;
  /** Name and Action as read, when the row could be split into fields at all. */
  readonly name?: string;
  readonly action?: string;
  readonly timer?: string;
  readonly activeText?: string;
}

/** What schedule.csv (or schedule.csv.disabled) says, read once. */
export interface Schedule {
  /** True when the whole schedule is paused: the file is `<schedule>.disabled`. */
  readonly paused: boolean;
  /** Valid jobs in file order, each key once (a later row with the same key wins, as in 3.x). */
  readonly jobs: readonly Job[];
  /** Rows that do not run. */
  readonly problems: readonly ScheduleProblem[];
}

interface Row {
  readonly record: CsvRecord;
  /** Set when this row was changed or added: written instead of the record's text. */
  readonly replacement?: string;
  readonly raw?: RawJob;
  readonly job?: Job;
  readonly error?: string;
}

/**
 * 3.x's schedule.csv: no header, one `Name,Action,Timer,Active` row per job, (Name, Action) the
 * key. Rows we do not change are written back byte for byte (unreadable ones included: a
 * user's line is never dropped); changed and new rows are written as Python's csv module
 * writes them. Every write replaces the file atomically. Changes made through one store are
 * serialised; the daemon owns the file, so no lock between processes is needed.
 */
export class ScheduleStore {
  readonly path: string;
  readonly disabledPath: string;
  #queue: Promise<unknown> = Promise.resolve();
  /** The last text read() parsed, and what it said. */
  #lastRead: { paused: boolean; text: string; schedule: Schedule } | undefined;

  constructor(path: string) {
    this.path = path;
    this.disabledPath = `${path}.disabled`;
  }

  /**
   * Removes what a killed daemon's writes left beside the schedule (temp files never renamed
   * into place, its state file's included) and answers their names. Call once at start.
   */
  removeLeftovers(): Promise<string[]> {
    return this.#serialised(() => removeStaleTemps(this.path));
  }

  async read(): Promise<Schedule> {
    const { paused, text } = await this.#readText();
    // Health reads the schedule every second (10,000 rows at most): an unchanged text is the
    // same schedule, not parsed again.
    const last = this.#lastRead;
    if (last !== undefined && last.paused === paused && last.text === text) return last.schedule;
    const schedule = summarise(paused, parseCsv(text).map(toRow));
    this.#lastRead = { paused, text, schedule };
    return schedule;
  }

  /** Adds a job or replaces the one with the same (Name, Action); it is active afterwards. */
  upsert(job: Job): Promise<void> {
    return this.#change((rows) => {
      const text = formatJobRow(job, true);
      const index = rows.findIndex((row) => sameKey(row, job.volume, job.actionText));
      if (index < 0) return [...rows, added(text)];
      // 3.x kept a replaced job where it was; duplicates of it go, as 3.x's dict dropped them.
      return rows.flatMap((row, i) =>
        i === index
          ? [{ ...row, replacement: text }]
          : sameKey(row, job.volume, job.actionText)
            ? []
            : [row],
      );
    });
  }

  /** Removes every row with this (Name, Action); returns whether there was one. */
  async remove(name: string, action: string): Promise<boolean> {
    let found = false;
    await this.#change((rows) => {
      const kept = rows.filter((row) => !sameKey(row, name, action));
      found = kept.length !== rows.length;
      return found ? kept : undefined;
    });
    return found;
  }

  /** Pauses (false) or resumes (true) one job. */
  setActive(name: string, action: string, active: boolean): Promise<void> {
    return this.#change((rows) => {
      const key = jobKey(name, action);
      const index = rows.findLastIndex((row) => row.job?.key === key);
      if (index < 0) throw new JobNotFoundError(name, action);
      const job = rows[index]!.job!;
      if (job.active === active) return undefined;
      return rows.map((row, i) =>
        i === index ? { ...row, replacement: formatJobRow(job, active) } : row,
      );
    });
  }

  /** Pauses every job at once: the file becomes `<schedule>.disabled`, as in 3.x. */
  pause(): Promise<void> {
    return this.#serialised(async () => {
      if (await moveWithoutOverwrite(this.path, this.disabledPath, 'pause')) return;
      // 3.x did nothing without a schedule, so "pause" did not hold for jobs added after it; an
      // empty disabled file makes the pause stick until resume.
      await this.#createEmptyDisabled();
    });
  }

  /** Undoes pause(). */
  resume(): Promise<void> {
    return this.#serialised(async () => {
      await moveWithoutOverwrite(this.disabledPath, this.path, 'resume');
    });
  }

  async #createEmptyDisabled(): Promise<void> {
    try {
      await mkdir(dirname(this.disabledPath), { recursive: true });
      await writeFile(this.disabledPath, '', { flag: 'wx' });
      await syncDirectory(dirname(this.disabledPath));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'EEXIST') return;
      throw new ScheduleStoreError(
        'pause',
        this.disabledPath,
        'Check that the daemon may write there.',
        {
          cause: error,
        },
      );
    }
  }

  async #load(): Promise<{ paused: boolean; rows: Row[] }> {
    const { paused, text } = await this.#readText();
    return { paused, rows: parseCsv(text).map(toRow) };
  }

  async #readText(): Promise<{ paused: boolean; text: string }> {
    const disabled = await readIfExists(this.disabledPath);
    // Paused wins when both files exist: doing nothing is the safe reading of a conflict.
    const text = disabled ?? (await readIfExists(this.path)) ?? '';
    return { paused: disabled !== undefined, text };
  }

  #change(edit: (rows: readonly Row[]) => readonly Row[] | undefined): Promise<void> {
    return this.#serialised(async () => {
      const { paused, rows } = await this.#load();
      if (paused) throw new SchedulePausedError(this.disabledPath);
      const edited = edit(rows);
      if (edited === undefined) return;
      await this.#write(serialise(edited));
    });
  }

  async #write(text: string): Promise<void> {
    try {
      await mkdir(dirname(this.path), { recursive: true });
      await writeFileAtomic(this.path, text);
    } catch (error) {
      throw new ScheduleStoreError(
        'write',
        this.path,
        'Check that the directory exists, is writable by the daemon and has free space.',
        { cause: error },
      );
    }
  }

  #serialised<T>(task: () => Promise<T>): Promise<T> {
    const result = this.#queue.then(task, task);
    this.#queue = result.catch(() => undefined);
    return result;
  }
}

// The runner re-reads the schedule at every pass; a row's meaning depends only on its text, so
// unchanged rows keep their parsed Job (and its compiled cron pattern) from pass to pass.
const parsedRows = new Map<string, Omit<Row, 'record'>>();
const MAX_PARSED_ROWS = 50_000;

function toRow(record: CsvRecord): Row {
  let parsed = parsedRows.get(record.raw);
  if (parsed === undefined) {
    parsed = parseRow(record);
    if (parsedRows.size >= MAX_PARSED_ROWS) parsedRows.clear();
    parsedRows.set(record.raw, parsed);
  }
  return { record, ...parsed };
}

function parseRow(record: CsvRecord): Omit<Row, 'record'> {
  if (!Array.isArray(record.fields)) {
    return { error: (record.fields as { error: string }).error };
  }
  const fields = record.fields as readonly string[];
  if (fields.length === 0) return {};
  const raw = rawJobOf(fields);
  if (raw === undefined) {
    return { error: `expected 4 fields Name,Action,Timer,Active, found ${fields.length}` };
  }
  try {
    return { raw, job: parseJob(raw) };
  } catch (error) {
    if (!(error instanceof InvalidJobError)) throw error;
    return { raw, error: error.message };
  }
}

/**
 * The fields of a row as a job. A synchronize action holds commas; Python's writer quotes it,
 * but a hand-written `vol,synchronize:h1,h2,60,True` is the form COMPAT shows, so an unquoted
 * one is read back by taking Timer and Active from the right. A calendar purge policy
 * (`purge:daily=7,weekly=4`, recognised by its `=`, which no 3.x pattern has) is read the same way.
 */
function rawJobOf(fields: readonly string[]): RawJob | undefined {
  const [name, action] = fields;
  const n = fields.length;
  const commas =
    action?.startsWith('synchronize:') || (action?.startsWith('purge:') && action.includes('='));
  if (commas && n >= 4) {
    const hasActive = n > 4 || isActiveText(fields[3]!);
    const end = hasActive ? n - 2 : n - 1;
    const raw = {
      Name: name,
      Action: fields.slice(1, end).join(','),
      Timer: fields[end],
    };
    return hasActive ? { ...raw, Active: fields[n - 1] } : raw;
  }
  if (n === 3) return { Name: name, Action: action, Timer: fields[2] };
  if (n === 4) return { Name: name, Action: action, Timer: fields[2], Active: fields[3] };
  return undefined;
}

function isActiveText(text: string): boolean {
  return text === '' || /^(true|false)$/i.test(text);
}

function sameKey(row: Row, name: string, action: string): boolean {
  return row.raw?.Name === name && row.raw.Action === action;
}

function summarise(paused: boolean, rows: readonly Row[]): Schedule {
  const byKey = new Map<JobKey, number>();
  rows.forEach((row, index) => {
    if (row.job) byKey.set(row.job.key, index);
  });
  const jobs: Job[] = [];
  const problems: ScheduleProblem[] = [];
  rows.forEach((row, index) => {
    const { record } = row;
    if (row.job && byKey.get(row.job.key) === index) jobs.push(row.job);
    else if (row.job) {
      const winner = rows[byKey.get(row.job.key)!]!.record.line;
      problems.push(problemOf(row, `the same job is defined again on line ${winner}, which wins`));
    } else if (row.error !== undefined) problems.push(problemOf(row, row.error));
    else if (record.raw.length > 0 && row.raw === undefined) {
      problems.push(problemOf(row, 'unreadable row'));
    }
  });
  return { paused, jobs, problems };
}

function problemOf(row: Row, reason: string): ScheduleProblem {
  const { raw } = row;
  const text = (value: unknown) => (typeof value === 'string' ? value : undefined);
  return {
    line: row.record.line,
    raw: row.record.raw,
    reason,
    ...optional('name', text(raw?.Name)),
    ...optional('action', text(raw?.Action)),
    ...optional('timer', text(raw?.Timer)),
    ...optional('activeText', text(raw?.Active)),
  };
}

function optional<K extends string, V>(key: K, value: V | undefined): { [P in K]?: V } {
  return (value === undefined ? {} : { [key]: value }) as { [P in K]?: V };
}

function formatJobRow(job: Job, active: boolean): string {
  return formatCsvRow([job.volume, job.actionText, formatTimer(job.timer), formatActive(active)]);
}

function added(text: string): Row {
  return { record: { line: 0, raw: text, eol: CSV_EOL, fields: [] }, replacement: text };
}

function serialise(rows: readonly Row[]): string {
  let out = '';
  rows.forEach((row, index) => {
    const text = row.replacement ?? row.record.raw;
    const eol = row.replacement === undefined ? row.record.eol : CSV_EOL;
    // A last line without a newline needs one once something follows it.
    out += text + (eol === '' && index < rows.length - 1 ? CSV_EOL : eol);
  });
  return out;
}

async function readIfExists(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new ScheduleStoreError('read', path, 'Check that the daemon may read it.', {
      cause: error,
    });
  }
}

/**
 * Renames without ever replacing an existing file (3.x's rename would overwrite a
 * `.disabled` file left from before): link then unlink. Returns false when there is nothing to move.
 */
async function moveWithoutOverwrite(from: string, to: string, operation: string): Promise<boolean> {
  try {
    await link(from, to);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return false;
    if (code === 'EEXIST') {
      throw new ScheduleStoreError(
        operation,
        from,
        `${to} already exists: merge or remove one of the two files by hand, then retry.`,
        { cause: error },
      );
    }
    throw new ScheduleStoreError(operation, from, 'Check the permissions of its directory.', {
      cause: error,
    });
  }
  await unlink(from);
  await syncDirectory(dirname(to));
  return true;
}
