import {
  type Assessment,
  assess,
  type JobFacts,
  type SendFacts,
  type Thresholds,
  type VolumeFacts,
} from '@buttervolume/health';
import type { VolumeName } from '@buttervolume/names';
import {
  type JobStatus,
  type JobTimer,
  jobVolumes,
  type SchedulerStatus,
  type SendStates,
  timerPeriodMs,
} from '@buttervolume/scheduler';
import type { Services } from './index.js';

/** What health needs of the scheduler: `Scheduler` has this shape. */
export interface SchedulerView {
  status(): Promise<SchedulerStatus>;
  sendStates(): Promise<SendStates>;
}

/** A volume's facts, its verdict, and the cached disk facts that go with them. */
export interface VolumeHealth {
  facts: VolumeFacts;
  assessment: Assessment;
  copyOnWrite?: boolean;
  quotaBytes?: number;
  usageBytes?: number;
}

/** Everything at once, for a scrape or `status` without a volume. */
export interface HealthReport {
  volumes: VolumeHealth[];
  schedulePaused: boolean;
  /** Every valid job with its last outcome (the metrics label failing ones by volume). */
  jobs: readonly JobStatus[];
  at: Date;
}

/** What every volume's facts are made of, read once. */
interface Sources {
  at: Date;
  summaries: ReadonlyMap<string, { count: number; newest: number | null }>;
  jobsByVolume: Map<string, JobStatus[]>;
  sendsByVolume: Map<string, SendFacts[]>;
  schedulePaused: boolean;
  jobs: readonly JobStatus[];
}

/** Docker's Gets and scrapes reuse the sources this long (a second of staleness at most). */
const SOURCES_TTL_MS = 1000;

/**
 * Puts together, from what the daemon already holds (the volume and snapshot listings it
 * caches, the scheduler's state, the quota and flag caches), each volume's health. Never
 * walks the disk: a call costs a stat of each folder and a read of schedule.csv.
 */
export class HealthService {
  // A cron timer's widest gap costs microseconds; 10,000 jobs per scrape would not.
  readonly #periods = new WeakMap<JobTimer, number | null>();
  #cached: { at: number; sources: Promise<Sources> } | undefined;
  #refreshing: Promise<Sources> | undefined;
  #scheduleProblem: string | undefined;

  constructor(
    private readonly services: Pick<
      Services,
      'volumes' | 'snapshots' | 'status' | 'context' | 'groups'
    >,
    private readonly scheduler: SchedulerView | undefined,
    private readonly now: () => Date = () => new Date(),
  ) {}

  /**
   * Every volume. `fresh` reads the scheduler's state now (a status request); otherwise a
   * report of the last second may be reused (scrapes).
   */
  async report(
    thresholds: Thresholds = {},
    options: { fresh?: boolean } = {},
  ): Promise<HealthReport> {
    const [names, sources] = await Promise.all([
      this.services.volumes.list(),
      options.fresh ? this.#read() : this.#recent(),
    ]);
    const volumes = names.map((volume) => this.#health(volume, sources, thresholds));
    return { volumes, schedulePaused: sources.schedulePaused, jobs: sources.jobs, at: sources.at };
  }

  /** One volume; reads its quota and flags afresh (NoSuchVolumeError when it is not there). */
  async volume(name: VolumeName, thresholds: Thresholds = {}): Promise<VolumeHealth> {
    const details = await this.services.volumes.get(name);
    const health = this.#health(name, await this.#read(), thresholds);
    const { copyOnWrite, quotaBytes, usageBytes } = details.status;
    return {
      ...health,
      copyOnWrite,
      ...(quotaBytes === undefined ? {} : { quotaBytes }),
      ...(usageBytes === undefined ? {} : { usageBytes }),
    };
  }

  /** One volume from the last second's sources, for Docker's Get (called on every `docker run`). */
  async brief(name: VolumeName): Promise<VolumeHealth> {
    return this.#health(name, await this.#recent(), {});
  }

  #health(volume: string, sources: Sources, thresholds: Thresholds): VolumeHealth {
    const summary = sources.summaries.get(volume);
    const facts: VolumeFacts = {
      volume,
      snapshots: summary?.count ?? 0,
      newestSnapshot: summary?.newest ?? null,
      sends: sources.sendsByVolume.get(volume) ?? [],
      jobs: (sources.jobsByVolume.get(volume) ?? []).map((job) => this.#jobFacts(job, sources.at)),
      schedulePaused: sources.schedulePaused,
      attention: this.services.context.attention.reason(volume) ?? null,
    };
    return {
      facts,
      assessment: assess(facts, this.now().getTime(), thresholds),
      ...this.services.status.cached(volume),
    };
  }

  /**
   * The last second's sources. Past that, the sources already read are answered while fresh
   * ones are read in the background (at 10,000 jobs a read costs tens of ms: no Get waits for
   * it); only the very first call waits.
   */
  #recent(): Promise<Sources> {
    const now = Date.now();
    const cached = this.#cached;
    if (cached && now - cached.at <= SOURCES_TTL_MS) return cached.sources;
    if (!this.#refreshing) {
      const sources = this.#read();
      this.#refreshing = sources;
      sources
        .then(
          () => {
            this.#cached = { at: Date.now(), sources };
          },
          () => {},
        )
        .finally(() => {
          this.#refreshing = undefined;
        });
    }
    return cached?.sources ?? this.#refreshing!;
  }

  async #read(): Promise<Sources> {
    const at = this.now();
    const [summaries, schedule, sends] = await Promise.all([
      this.services.snapshots.summaries(),
      this.#schedule(),
      this.scheduler?.sendStates(),
    ]);
    return {
      at,
      summaries,
      // A group job shows under every volume of its set (a project's as Docker last named them).
      jobsByVolume: groupMany(schedule?.jobs ?? [], (status) =>
        jobVolumes(status.job, (project) => this.services.groups.knownProjectVolumes(project)),
      ),
      sendsByVolume: groupSends(sends),
      schedulePaused: schedule?.paused ?? false,
      jobs: schedule?.jobs ?? [],
    };
  }

  /** An unreadable schedule.csv leaves health without jobs (logged once), never failing a Get. */
  async #schedule(): Promise<SchedulerStatus | undefined> {
    try {
      const status = await this.scheduler?.status();
      this.#scheduleProblem = undefined;
      return status;
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      if (this.#scheduleProblem !== message) {
        this.#scheduleProblem = message;
        this.services.context.logger.warn('health without the schedule', { error });
      }
      return undefined;
    }
  }

  #jobFacts(status: JobStatus, now: Date): JobFacts {
    const { job } = status;
    const { action } = job;
    let period = this.#periods.get(job.timer);
    if (period === undefined) {
      period = timerPeriodMs(job.timer, now);
      this.#periods.set(job.timer, period);
    }
    return {
      action: status.action,
      // A group job counts as a snapshot or replicate job of each volume of its set.
      kind:
        action.kind === 'group-snapshot'
          ? 'snapshot'
          : action.kind === 'group-replicate'
            ? 'replicate'
            : action.kind,
      hosts:
        action.kind === 'replicate' || action.kind === 'group-replicate'
          ? [action.host]
          : action.kind === 'synchronize'
            ? action.hosts
            : [],
      timer: status.timer,
      periodMs: period,
      active: status.active,
      lastRun: status.lastRun?.getTime() ?? null,
      lastOutcome: status.lastOutcome,
      lastError: status.lastError,
      failures: status.failures,
      nextRun: status.nextRun?.getTime() ?? null,
    };
  }
}

function groupMany<T>(
  items: readonly T[],
  keysOf: (item: T) => readonly string[],
): Map<string, T[]> {
  const groups = new Map<string, T[]>();
  for (const item of items) {
    for (const key of keysOf(item)) {
      const list = groups.get(key);
      if (list) list.push(item);
      else groups.set(key, [item]);
    }
  }
  return groups;
}

function groupSends(sends: SendStates | undefined): Map<string, SendFacts[]> {
  const byVolume = new Map<string, SendFacts[]>();
  for (const [key, state] of sends ?? []) {
    const [volume, host] = key.split('\u0000') as [string, string];
    const facts: SendFacts = {
      host,
      lastSuccess: state.lastSuccess ?? null,
      lastFailure: state.lastFailure ?? null,
    };
    const list = byVolume.get(volume);
    if (list) list.push(facts);
    else byVolume.set(volume, [facts]);
  }
  for (const list of byVolume.values()) list.sort((a, b) => a.host.localeCompare(b.host));
  return byVolume;
}
