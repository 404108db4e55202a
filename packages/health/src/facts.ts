// What the daemon knows of one volume, as plain data: times are epoch milliseconds.

export type Verdict = 'OK' | 'WARN' | 'CRIT';

export type JobKind = 'snapshot' | 'replicate' | 'purge' | 'synchronize';

export interface JobFacts {
  /** The Action column, e.g. `replicate:backup1`. */
  readonly action: string;
  readonly kind: JobKind;
  /** replicate: its host; synchronize: its hosts; otherwise none. */
  readonly hosts: readonly string[];
  /** The Timer column: minutes or a cron expression. */
  readonly timer: string;
  /** The widest gap between two runs; null when unknown (a cron that never matches again). */
  readonly periodMs: number | null;
  /** False when the job is paused on its own. */
  readonly active: boolean;
  readonly lastRun: number | null;
  /** `skipped: unchanged`: the volume was found unchanged at lastRun, so nothing new was due. */
  readonly lastOutcome: 'success' | 'failure' | 'skipped: unchanged' | null;
  readonly lastError: string | null;
  /** Failed runs in a row since the latest success. */
  readonly failures: number;
  readonly nextRun: number | null;
}

export interface SendFacts {
  readonly host: string;
  readonly lastSuccess: {
    readonly at: number;
    readonly bytes: number;
    readonly incremental: boolean;
    readonly durationMs: number;
  } | null;
  readonly lastFailure: { readonly at: number; readonly error: string } | null;
}

export interface VolumeFacts {
  readonly volume: string;
  /** Snapshots, send markers not counted. */
  readonly snapshots: number;
  /** Time in the newest snapshot's name; null without snapshots. */
  readonly newestSnapshot: number | null;
  readonly sends: readonly SendFacts[];
  readonly jobs: readonly JobFacts[];
  /** The whole schedule is paused (schedule.csv.disabled). */
  readonly schedulePaused: boolean;
  /** Why the daemon could not finish something on this volume (an interrupted restore). */
  readonly attention: string | null;
}

/** Ages past `warnMs` give WARN, past `critMs` CRIT. */
export interface Limits {
  readonly warnMs: number;
  readonly critMs: number;
}

/** Explicit limits; without them, each volume's come from its schedule. */
export interface Thresholds {
  /** Age of the newest snapshot. */
  readonly snapshot?: Limits;
  /** Age of the last successful send, per host. */
  readonly send?: Limits;
}
