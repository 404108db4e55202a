import {
  type Assessment,
  assess,
  type JobFacts,
  type SendFacts,
  type Thresholds,
  type Verdict,
  type VolumeFacts,
  verdictUntil,
} from '@buttervolume/health';
import type { VolumeName } from '@buttervolume/names';
import {
  type JobStatus,
  type JobTimer,
  jobVolumes,
  type SchedulerStatus,
  type SendState,
  type SendStates,
  timerPeriodMs,
} from '@buttervolume/scheduler';
import type { Services } from './index.js';

/** What health needs of the scheduler: `Scheduler` has this shape. */
export interface SchedulerView {
  status(): Promise<SchedulerStatus>;
  sendStates(): Promise<SendStates>;
  /** Moves whenever a send is recorded (Scheduler has it). */
  readonly sendsVersion?: number;
}

/** A volume's facts, its verdict, and the cached disk facts that go with them. */
export interface VolumeHealth {
  facts: VolumeFacts;
  assessment: Assessment;
  copyOnWrite?: boolean;
  /** The btrfs compression property (`zstd`, `lzo`, `zlib`…), `none` when unset. */
  compression?: string;
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

/** A volume's facts and verdict without explanations: what a scrape writes. */
export interface VolumeVerdict {
  facts: VolumeFacts;
  verdict: Verdict;
  quotaBytes?: number;
  usageBytes?: number;
}

/** Every volume's verdict, for a scrape. */
export interface VerdictReport {
  volumes: readonly VolumeVerdict[];
  schedulePaused: boolean;
  jobs: readonly JobStatus[];
}

/** Volumes a scrape looks at between two turns of the event loop (Docker's calls go between). */
const SCRAPE_CHUNK = 500;

/** What every volume's facts are made of, read once. */
interface Sources {
  at: Date;
  summaries: ReadonlyMap<string, { count: number; newest: number | null }>;
  jobsByVolume: Map<string, JobStatus[]>;
  sendsByVolume: ReadonlyMap<string, readonly SendFacts[]>;
  schedulePaused: boolean;
  jobs: readonly JobStatus[];
  /** Each volume's jobs as health facts, made on first use (many reports share one Sources). */
  jobFacts: Map<string, readonly JobFacts[]>;
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
  /** The last verdicts() answer, per volume (see verdicts()). */
  #verdicts:
    | {
        entries: Map<string, CachedVerdict>;
        report: VerdictReport;
        inputs: VerdictInputs;
        /** The earliest time a verdict of `report` may age. */
        until: number;
      }
    | undefined;
  /** The last #read's inputs and answer (reused by #recent while the inputs are the same). */
  #lastRead:
    | {
        summaries: Sources['summaries'];
        schedule: SchedulerStatus | undefined;
        sendsVersion: number | undefined;
        groupJobs: boolean;
        sources: Sources;
      }
    | undefined;
  /** Each volume's latest jobs facts, reused by later sources while unchanged. */
  readonly #jobFactsByVolume = new Map<string, readonly JobFacts[]>();
  /** JobFacts of a JobStatus: the scheduler keeps a job's status object while it is unchanged. */
  readonly #jobFactsOf = new WeakMap<JobStatus, JobFacts>();
  readonly #sendFactsOf = new WeakMap<SendState, SendFacts>();
  #sendsByVolume: ReadonlyMap<string, readonly SendFacts[]> = new Map();

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

  /**
   * Every volume's verdict from the last second's sources, without explanations, a chunk of
   * volumes at a time so that Docker's calls are answered in between (a scrape at 10,000
   * volumes). A volume whose facts did not change keeps its entry (the same object) until its
   * verdict may age; when no entry changed, the volumes array is the last one too.
   */
  async verdicts(): Promise<VerdictReport> {
    const [names, sources] = await Promise.all([this.services.volumes.list(), this.#recent()]);
    const now = this.now().getTime();
    const previous = this.#verdicts;
    const inputs: VerdictInputs = {
      names,
      sources,
      attention: this.services.context.attention.version,
      quota: this.services.status.quotaVersion,
    };
    // Nothing changed and no verdict aged: not even a look at each volume.
    if (previous !== undefined && sameInputs(previous.inputs, inputs) && now <= previous.until) {
      return previous.report;
    }
    const entries = new Map<string, CachedVerdict>();
    let until = Number.POSITIVE_INFINITY;
    const volumes: VolumeVerdict[] = [];
    let same = previous !== undefined && previous.report.volumes.length === names.length;
    for (let i = 0; i < names.length; i++) {
      if (i % SCRAPE_CHUNK === SCRAPE_CHUNK - 1) await new Promise(setImmediate);
      const name = names[i] as string;
      const cached = this.#verdictOf(name, sources, now, previous?.entries.get(name));
      entries.set(name, cached);
      volumes.push(cached.entry);
      if (cached.until < until) until = cached.until;
      if (same && previous!.report.volumes[i] !== cached.entry) same = false;
    }
    const report: VerdictReport = {
      volumes: same ? previous!.report.volumes : volumes,
      schedulePaused: sources.schedulePaused,
      jobs: sources.jobs,
    };
    this.#verdicts = { entries, report, inputs, until };
    return report;
  }

  /** A volume's verdict entry: the cached one while its inputs are the same and it holds. */
  #verdictOf(
    name: string,
    sources: Sources,
    now: number,
    cached: CachedVerdict | undefined,
  ): CachedVerdict {
    const facts = this.#facts(name, sources);
    const { quotaBytes, usageBytes } = this.services.status.cached(name);
    if (
      cached !== undefined &&
      now <= cached.until &&
      sameFacts(cached.entry.facts, facts) &&
      cached.entry.quotaBytes === quotaBytes &&
      cached.entry.usageBytes === usageBytes
    ) {
      return cached;
    }
    const { verdict, until } = verdictUntil(facts, now);
    const entry: VolumeVerdict = { facts, verdict };
    if (quotaBytes !== undefined) entry.quotaBytes = quotaBytes;
    if (usageBytes !== undefined) entry.usageBytes = usageBytes;
    return { entry, until };
  }

  /** One volume; reads its quota and flags afresh (NoSuchVolumeError when it is not there). */
  async volume(name: VolumeName, thresholds: Thresholds = {}): Promise<VolumeHealth> {
    const details = await this.services.volumes.get(name);
    const health = this.#health(name, await this.#read(), thresholds);
    const { copyOnWrite, compression, quotaBytes, usageBytes } = details.status;
    return {
      ...health,
      copyOnWrite,
      compression: compression ?? 'none',
      ...(quotaBytes === undefined ? {} : { quotaBytes }),
      ...(usageBytes === undefined ? {} : { usageBytes }),
    };
  }

  /** One volume from the last second's sources, for Docker's Get (called on every `docker run`). */
  async brief(name: VolumeName): Promise<VolumeHealth> {
    return this.#health(name, await this.#recent(), {});
  }

  #health(volume: string, sources: Sources, thresholds: Thresholds): VolumeHealth {
    const facts = this.#facts(volume, sources);
    return {
      facts,
      assessment: assess(facts, this.now().getTime(), thresholds),
      ...this.services.status.cached(volume),
    };
  }

  #facts(volume: string, sources: Sources): VolumeFacts {
    const summary = sources.summaries.get(volume);
    return {
      volume,
      snapshots: summary?.count ?? 0,
      newestSnapshot: summary?.newest ?? null,
      sends: sources.sendsByVolume.get(volume) ?? NO_SENDS,
      jobs: this.#jobsOf(volume, sources),
      schedulePaused: sources.schedulePaused,
      attention: this.services.context.attention.reason(volume) ?? null,
    };
  }

  /**
   * A volume's jobs as health facts. Made on first use for each sources (many reports share
   * one); the array of the sources before is kept while it holds the same facts, so that a
   * scrape sees by identity which volumes' jobs changed.
   */
  #jobsOf(volume: string, sources: Sources): readonly JobFacts[] {
    const statuses = sources.jobsByVolume.get(volume);
    // Most volumes have no job: no entry for them (10,000 Gets would fill the map for nothing).
    if (statuses === undefined || statuses.length === 0) {
      this.#jobFactsByVolume.delete(volume);
      return NO_JOBS;
    }
    let jobs = sources.jobFacts.get(volume);
    if (jobs === undefined) {
      jobs = statuses.map((job) => this.#jobFacts(job, sources.at));
      const before = this.#jobFactsByVolume.get(volume);
      if (before !== undefined && sameItems(before, jobs)) jobs = before;
      this.#jobFactsByVolume.set(volume, jobs);
      sources.jobFacts.set(volume, jobs);
    }
    return jobs;
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
      const sources = this.#read(true);
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

  /**
   * What every volume's facts are made of. With `reuse`, the sources of the last read when
   * nothing they come from changed (the same listing summaries, scheduler status and sends):
   * the scrape after then sees by identity that no volume changed.
   */
  async #read(reuse = false): Promise<Sources> {
    const at = this.now();
    const [summaries, schedule, sends] = await Promise.all([
      this.services.snapshots.summaries(),
      this.#schedule(),
      this.scheduler?.sendStates(),
    ]);
    const sendsVersion = this.scheduler?.sendsVersion;
    const last = this.#lastRead;
    if (
      reuse &&
      last !== undefined &&
      last.summaries === summaries &&
      last.schedule === schedule &&
      sendsVersion !== undefined &&
      last.sendsVersion === sendsVersion &&
      // A group job's volumes are the project's as Docker names them now.
      !last.groupJobs
    ) {
      return last.sources;
    }
    const sources: Sources = {
      at,
      summaries,
      // A group job shows under every volume of its set (a project's as Docker last named them).
      jobsByVolume: groupMany(schedule?.jobs ?? [], (status) =>
        jobVolumes(status.job, (project) => this.services.groups.knownProjectVolumes(project)),
      ),
      sendsByVolume: this.#groupSends(sends),
      schedulePaused: schedule?.paused ?? false,
      jobs: schedule?.jobs ?? [],
      jobFacts: new Map(),
    };
    const groupJobs = (schedule?.jobs ?? []).some((status) =>
      status.job.action.kind.startsWith('group-'),
    );
    this.#lastRead = { summaries, schedule, sendsVersion, groupJobs, sources };
    return sources;
  }

  /**
   * Sends by volume, sorted by host. A send's facts stay the same object while the scheduler
   * holds the same state for it (it replaces the state when a send ends), and a volume keeps
   * its array of the read before while it holds the same facts.
   */
  #groupSends(sends: SendStates | undefined): Map<string, readonly SendFacts[]> {
    const byVolume = new Map<string, SendFacts[]>();
    for (const [key, state] of sends ?? []) {
      let facts = this.#sendFactsOf.get(state);
      if (facts === undefined) {
        const host = key.slice(key.indexOf('\u0000') + 1);
        facts = {
          host,
          lastSuccess: state.lastSuccess ?? null,
          lastFailure: state.lastFailure ?? null,
        };
        this.#sendFactsOf.set(state, facts);
      }
      const volume = key.slice(0, key.indexOf('\u0000'));
      const list = byVolume.get(volume);
      if (list) list.push(facts);
      else byVolume.set(volume, [facts]);
    }
    const before = this.#sendsByVolume;
    const grouped = new Map<string, readonly SendFacts[]>();
    for (const [volume, list] of byVolume) {
      list.sort((a, b) => a.host.localeCompare(b.host));
      const previous = before.get(volume);
      grouped.set(volume, previous !== undefined && sameItems(previous, list) ? previous : list);
    }
    this.#sendsByVolume = grouped;
    return grouped;
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
    let facts = this.#jobFactsOf.get(status);
    if (facts === undefined) {
      facts = this.#newJobFacts(status, now);
      this.#jobFactsOf.set(status, facts);
    }
    return facts;
  }

  #newJobFacts(status: JobStatus, now: Date): JobFacts {
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

const NO_SENDS: readonly SendFacts[] = [];
const NO_JOBS: readonly JobFacts[] = [];

/** What verdicts() answered from: when all are the same objects and versions, so is the answer. */
interface VerdictInputs {
  names: readonly string[];
  sources: Sources;
  attention: number;
  quota: number;
}

function sameInputs(a: VerdictInputs, b: VerdictInputs): boolean {
  return (
    a.names === b.names &&
    a.sources === b.sources &&
    a.attention === b.attention &&
    a.quota === b.quota
  );
}

/** A volume's verdict entry, and until when its verdict holds (verdictUntil). */
interface CachedVerdict {
  entry: VolumeVerdict;
  until: number;
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

/** The same facts: equal counts and times, the same job and send arrays (kept while unchanged). */
function sameFacts(a: VolumeFacts, b: VolumeFacts): boolean {
  return (
    a.snapshots === b.snapshots &&
    a.newestSnapshot === b.newestSnapshot &&
    a.jobs === b.jobs &&
    a.sends === b.sends &&
    a.attention === b.attention &&
    a.schedulePaused === b.schedulePaused
  );
}

function sameItems<T>(a: readonly T[], b: readonly T[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
