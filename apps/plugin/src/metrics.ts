// Prometheus metrics of the daemon (prom-client, one registry per daemon). Events (requests,
// operations, job runs) are counted as they happen; per-volume facts are computed at scrape
// time from the HealthService, which reads only cached state, never the disk.
import type { Verdict } from '@buttervolume/health';
import { Counter, collectDefaultMetrics, Histogram, type MetricValue, Registry } from 'prom-client';
import type { OperationObserver } from './log.js';
import type { HealthReport } from './services/health.js';

const VERDICT_VALUE: Record<Verdict, number> = { OK: 0, WARN: 1, CRIT: 2 };
// Snapshots take milliseconds, sends minutes to hours.
const OPERATION_BUCKETS = [0.01, 0.05, 0.1, 0.5, 1, 5, 15, 60, 300, 900, 3600, 4 * 3600];
const REQUEST_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10];
/** A report is reused this long: scrapes in a burst (two Prometheus servers) cost one. */
const REPORT_TTL_MS = 1000;

export interface MetricsSources {
  report(): Promise<HealthReport>;
  /** Sends in flight now. */
  transfers(): number;
}

type Sample = MetricValue<string>;

/**
 * A gauge whose samples are computed at scrape time from one shared report. At 10,000 volumes
 * these gauges hold ~50,000 samples, and prom-client formats a sample in several microseconds
 * (label objects spread, sorted and escaped one by one): over a second per scrape. So these
 * write their own lines, in the same text format, and the registry below appends them to
 * prom-client's exposition of everything else (counters, histograms, process metrics).
 */
class ComputedGauge {
  constructor(
    readonly name: string,
    private readonly help: string,
    private readonly samples: () => Promise<Sample[]>,
  ) {}

  async text(): Promise<string> {
    const lines = [
      `# HELP ${this.name} ${this.help.replace(/\\/g, '\\\\').replace(/\n/g, '\\n')}`,
      `# TYPE ${this.name} gauge`,
    ];
    for (const { labels, value } of await this.samples()) {
      let labelText = '';
      for (const key in labels) {
        labelText += `${labelText === '' ? '' : ','}${key}="${escapeLabel(String(labels[key]))}"`;
      }
      lines.push(`${this.name}${labelText === '' ? '' : `{${labelText}}`} ${valueText(value)}`);
    }
    return lines.join('\n');
  }
}

const NEEDS_ESCAPE = /[\\"\n]/;

function escapeLabel(value: string): string {
  if (!NEEDS_ESCAPE.test(value)) return value;
  return value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

function valueText(value: number): string {
  if (Number.isNaN(value)) return 'NaN';
  if (value === Number.POSITIVE_INFINITY) return '+Inf';
  if (value === Number.NEGATIVE_INFINITY) return '-Inf';
  return String(value);
}

/** prom-client's registry, followed by the computed gauges. */
class DaemonRegistry extends Registry {
  readonly computed: ComputedGauge[] = [];

  override async metrics(): Promise<string> {
    const [base, ...computed] = await Promise.all([
      super.metrics(),
      ...this.computed.map((gauge) => gauge.text()),
    ]);
    return `${base}\n${computed.join('\n\n')}\n`;
  }
}

export class DaemonMetrics {
  readonly #registry = new DaemonRegistry();
  readonly registry: Registry = this.#registry;
  readonly #operations: Histogram<'operation' | 'outcome'>;
  readonly #jobRuns: Counter<'action' | 'outcome'>;
  readonly #requests: Histogram<'endpoint'>;
  #sources: MetricsSources | undefined;
  #cached: { at: number; report: Promise<HealthReport> } | undefined;

  constructor() {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry, prefix: 'buttervolume_' });
    this.#operations = new Histogram({
      name: 'buttervolume_operation_duration_seconds',
      help: 'Duration of snapshot, send, sync and purge operations (requested or scheduled), by outcome',
      labelNames: ['operation', 'outcome'],
      buckets: OPERATION_BUCKETS,
      registers,
    });
    this.#jobRuns = new Counter({
      name: 'buttervolume_scheduler_job_runs_total',
      help: 'Scheduled job runs by action (snapshot, replicate, purge, synchronize) and outcome',
      labelNames: ['action', 'outcome'],
      registers,
    });
    this.#requests = new Histogram({
      name: 'buttervolume_request_duration_seconds',
      help: 'Latency of the socket API (Docker calls and ours) per endpoint',
      labelNames: ['endpoint'],
      buckets: REQUEST_BUCKETS,
      registers,
    });
    this.#perVolume();
  }

  /** Where per-volume facts come from; until set, those metrics are empty. */
  attach(sources: MetricsSources): void {
    this.#sources = sources;
  }

  readonly observeOperation: OperationObserver = (operation, outcome, ms) => {
    this.#operations.observe({ operation, outcome }, ms / 1000);
  };

  jobFinished(action: string, outcome: 'success' | 'failure' | 'skipped'): void {
    this.#jobRuns.inc({ action, outcome });
  }

  /** `endpoint` must come from a fixed set (the API's paths, or "other"): labels stay bounded. */
  request(endpoint: string, ms: number): void {
    this.#requests.observe({ endpoint }, ms / 1000);
  }

  /** The exposition text, and its content type. */
  async scrape(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }

  #report(): Promise<HealthReport> | undefined {
    const sources = this.#sources;
    if (!sources) return undefined;
    const now = Date.now();
    if (!this.#cached || now - this.#cached.at > REPORT_TTL_MS) {
      const report = sources.report();
      this.#cached = { at: now, report };
      report.catch(() => {
        if (this.#cached?.report === report) this.#cached = undefined;
      });
    }
    return this.#cached.report;
  }

  #perVolume(): void {
    const gauge = (
      name: string,
      help: string,
      _labels: readonly string[], // documents each gauge's label names
      samples: (report: HealthReport) => Sample[],
    ) =>
      this.#registry.computed.push(
        new ComputedGauge(name, help, async () => {
          const report = this.#report();
          return report ? samples(await report) : [];
        }),
      );
    const perVolume =
      (value: (v: HealthReport['volumes'][number]) => number | undefined) =>
      (report: HealthReport) => {
        const out: Sample[] = [];
        for (const v of report.volumes) {
          const n = value(v);
          if (n !== undefined) out.push({ labels: { volume: v.facts.volume }, value: n });
        }
        return out;
      };
    const perSend =
      (
        value: (s: HealthReport['volumes'][number]['facts']['sends'][number]) => number | undefined,
      ) =>
      (report: HealthReport) => {
        const out: Sample[] = [];
        for (const v of report.volumes) {
          for (const send of v.facts.sends) {
            const n = value(send);
            if (n !== undefined) {
              out.push({ labels: { volume: v.facts.volume, host: send.host }, value: n });
            }
          }
        }
        return out;
      };
    const seconds = (ms: number | null | undefined) => (ms == null ? undefined : ms / 1000);

    gauge('buttervolume_volumes', 'Volumes (btrfs subvolumes in VOLUMES_PATH)', [], (r) => [
      { labels: {}, value: r.volumes.length },
    ]);
    gauge(
      'buttervolume_snapshots',
      'Snapshots per volume, send markers not counted',
      ['volume'],
      perVolume((v) => v.facts.snapshots),
    );
    gauge(
      'buttervolume_newest_snapshot_timestamp_seconds',
      'Time in the name of the newest snapshot of each volume (Unix seconds)',
      ['volume'],
      perVolume((v) => seconds(v.facts.newestSnapshot)),
    );
    gauge(
      'buttervolume_volume_health',
      "Each volume's verdict: 0 OK, 1 WARN, 2 CRIT (see `buttervolume status`)",
      ['volume'],
      perVolume((v) => VERDICT_VALUE[v.assessment.verdict]),
    );
    gauge(
      'buttervolume_quota_used_bytes',
      'Space referenced by each volume (btrfs qgroup), where quotas are enabled',
      ['volume'],
      perVolume((v) => v.usageBytes),
    );
    gauge(
      'buttervolume_quota_limit_bytes',
      'Quota limit of each volume created with a size',
      ['volume'],
      perVolume((v) => v.quotaBytes),
    );
    gauge(
      'buttervolume_last_send_success_timestamp_seconds',
      'End of the last successful send of each volume to each host (Unix seconds)',
      ['volume', 'host'],
      perSend((s) => seconds(s.lastSuccess?.at)),
    );
    gauge(
      'buttervolume_last_send_bytes',
      'Bytes of the send stream of the last successful send of each volume to each host',
      ['volume', 'host'],
      perSend((s) => s.lastSuccess?.bytes),
    );
    gauge(
      'buttervolume_last_send_incremental',
      'Whether the last successful send of each volume to each host was incremental (1) or full (0)',
      ['volume', 'host'],
      perSend((s) => (s.lastSuccess ? Number(s.lastSuccess.incremental) : undefined)),
    );
    gauge(
      'buttervolume_last_send_failure_timestamp_seconds',
      'Time of the last failed send of each volume to each host (Unix seconds)',
      ['volume', 'host'],
      perSend((s) => seconds(s.lastFailure?.at)),
    );
    // Sparse: only the jobs in that state (an alert on `== 1` is the same; 10,000 zeros are not).
    gauge(
      'buttervolume_job_failing',
      'Scheduled jobs whose latest run failed (1); jobs that did not fail are absent',
      ['volume', 'action'],
      (r) =>
        r.jobs
          .filter((job) => job.lastOutcome === 'failure')
          .map((job) => ({ labels: { volume: job.name, action: job.action }, value: 1 })),
    );
    gauge(
      'buttervolume_job_paused',
      'Scheduled jobs paused on their own (1); active jobs are absent',
      ['volume', 'action'],
      (r) =>
        r.jobs
          .filter((job) => !job.active)
          .map((job) => ({ labels: { volume: job.name, action: job.action }, value: 1 })),
    );
    gauge('buttervolume_schedule_paused', 'Whether the whole schedule is paused', [], (r) => [
      { labels: {}, value: r.schedulePaused ? 1 : 0 },
    ]);
    this.#registry.computed.push(
      new ComputedGauge('buttervolume_transfers_in_flight', 'Sends running now', async () => [
        { labels: {}, value: this.#sources?.transfers() ?? 0 },
      ]),
    );
  }
}
