// Prometheus metrics of the daemon (prom-client, one registry per daemon). Events (requests,
// operations, job runs) are counted as they happen; per-volume facts are computed at scrape
// time from the HealthService, which reads only cached state, never the disk.
import type { Verdict } from '@buttervolume/health';
import type { MetricValue } from 'prom-client';
import type { OperationObserver } from './log.js';
import type { EventMetrics } from './metrics-registry.js';
import type { VerdictReport } from './services/health.js';

const VERDICT_VALUE: Record<Verdict, number> = { OK: 0, WARN: 1, CRIT: 2 };
/** A report is reused this long: scrapes in a burst (two Prometheus servers) cost one. */
const REPORT_TTL_MS = 1000;

export interface MetricsSources {
  /** Every volume's facts and verdict (HealthService.verdicts). */
  report(): Promise<VerdictReport>;
  /** Sends in flight now. */
  transfers(): number;
}

type Sample = MetricValue<string>;

type VolumeEntry = VerdictReport['volumes'][number];
type SendEntry = VolumeEntry['facts']['sends'][number];

/** A gauge with a sample per volume, or per (volume, host) send; no sample where undefined. */
interface VolumeGauge {
  name: string;
  help: string;
  per: 'volume' | 'send';
  value: (volume: VolumeEntry, send: SendEntry) => number | undefined;
}

/** The lines last written for one volume (or one of its send hosts), reused while unchanged. */
interface LabelLines {
  label: string;
  values: (number | undefined)[];
  lines: (string | undefined)[];
  hosts?: Map<string, LabelLines>;
  /** The health entry `out` was written from. */
  source?: VolumeEntry;
  /** This volume's lines, per gauge. */
  out: string[][];
}

/**
 * The per-volume gauges. At 10,000 volumes they hold ~60,000 samples, and prom-client formats a
 * sample in several microseconds (label objects spread, sorted and escaped one by one): over a
 * second per scrape. So they write their own lines, in the same text format, after
 * prom-client's exposition of everything else (counters, histograms, process metrics). Each
 * volume keeps its label text and its last line per gauge, reused while the value is the same;
 * a gauge whose lines are all the ones of the previous scrape reuses its text as a whole.
 */
class VolumeGauges {
  readonly #texts: { lines: string[]; text: string }[];
  #entries = new Map<string, LabelLines>();
  #volumes: readonly VolumeEntry[] | undefined;

  constructor(private readonly gauges: readonly VolumeGauge[]) {
    this.#texts = gauges.map((gauge) => ({ lines: [], text: header(gauge.name, gauge.help) }));
  }

  /** One text per gauge, in the order given. */
  async texts(volumes: readonly VolumeEntry[]): Promise<string[]> {
    // Health answers the same array when no volume's entry changed: so are the texts.
    if (volumes === this.#volumes) return this.#texts.map((t) => t.text);
    const gauges = this.gauges;
    const lines: string[][] = gauges.map(() => []);
    const entries = new Map<string, LabelLines>();
    for (let i = 0; i < volumes.length; i++) {
      if (i % SCRAPE_CHUNK === SCRAPE_CHUNK - 1) await new Promise(setImmediate);
      const volume = volumes[i] as VolumeEntry;
      const name = volume.facts.volume;
      const entry = this.#entries.get(name) ?? labelLines(`{volume="${escapeLabel(name)}"}`);
      entries.set(name, entry);
      // An entry health kept (the same object) has the lines it had.
      if (entry.source !== volume) this.#write(entry, volume);
      for (let g = 0; g < gauges.length; g++) {
        for (const line of entry.out[g]!) lines[g]!.push(line);
      }
    }
    this.#entries = entries;
    this.#volumes = volumes;
    return gauges.map((gauge, g) => {
      const previous = this.#texts[g]!;
      const fresh = lines[g]!;
      if (!sameLines(previous.lines, fresh)) {
        const head = header(gauge.name, gauge.help);
        this.#texts[g] = {
          lines: fresh,
          text: fresh.length === 0 ? head : `${head}\n${fresh.join('\n')}`,
        };
      }
      return this.#texts[g]!.text;
    });
  }

  /** The volume's lines of each gauge, reusing those whose value did not change. */
  #write(entry: LabelLines, volume: VolumeEntry): void {
    const gauges = this.gauges;
    entry.source = volume;
    entry.out = gauges.map(() => []);
    for (let g = 0; g < gauges.length; g++) {
      const gauge = gauges[g] as VolumeGauge;
      if (gauge.per === 'volume') {
        const line = lineOf(entry, g, gauge, gauge.value(volume, NO_SEND));
        if (line !== undefined) entry.out[g]!.push(line);
        continue;
      }
      for (const send of volume.facts.sends) {
        entry.hosts ??= new Map();
        let host = entry.hosts.get(send.host);
        if (host === undefined) {
          host = labelLines(`${entry.label.slice(0, -1)},host="${escapeLabel(send.host)}"}`);
          entry.hosts.set(send.host, host);
        }
        const line = lineOf(host, g, gauge, gauge.value(volume, send));
        if (line !== undefined) entry.out[g]!.push(line);
      }
    }
  }
}

const SCRAPE_CHUNK = 500;
const NO_SEND: SendEntry = { host: '', lastSuccess: null, lastFailure: null };

function labelLines(label: string): LabelLines {
  return { label, values: [], lines: [], out: [] };
}

function lineOf(
  entry: LabelLines,
  g: number,
  gauge: VolumeGauge,
  value: number | undefined,
): string | undefined {
  if (value === undefined) return undefined;
  if (entry.values[g] !== value || entry.lines[g] === undefined) {
    entry.values[g] = value;
    entry.lines[g] = `${gauge.name}${entry.label} ${valueText(value)}`;
  }
  return entry.lines[g];
}

function sameLines(a: readonly string[], b: readonly string[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function header(name: string, help: string): string {
  return `# HELP ${name} ${help.replace(/\\/g, '\\\\').replace(/\n/g, '\\n')}\n# TYPE ${name} gauge`;
}

/** A gauge with a few samples (totals, failing jobs), computed at scrape time. */
class ComputedGauge {
  #last: { from: unknown; text: string } | undefined;

  constructor(
    readonly name: string,
    private readonly help: string,
    private readonly samples: (report: VerdictReport | undefined) => Sample[],
    /** What the samples are made from: while it is the same object, so is the text. */
    private readonly from?: (report: VerdictReport | undefined) => unknown,
  ) {}

  text(report: VerdictReport | undefined): string {
    if (this.from === undefined) return this.#write(report);
    const from = this.from(report);
    let last = this.#last;
    if (last === undefined || last.from !== from || from === undefined) {
      last = { from, text: this.#write(report) };
      this.#last = last;
    }
    return last.text;
  }

  #write(report: VerdictReport | undefined): string {
    const lines = [header(this.name, this.help)];
    for (const { labels, value } of this.samples(report)) {
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

/** Events seen before prom-client is loaded, by metric and labels: replayed once it is. */
type Pending = Map<string, { labels: Record<string, string>; values: number[] }>;
/** Past this many buffered events prom-client is loaded even if nobody asked for metrics. */
const MAX_PENDING = 100_000;

export class DaemonMetrics {
  #events: EventMetrics | undefined;
  #loading: Promise<EventMetrics> | undefined;
  readonly #pending = {
    operations: new Map() as Pending,
    jobRuns: new Map() as Pending,
    requests: new Map() as Pending,
    count: 0,
  };
  #computed: () => Promise<Buffer> = async () => Buffer.alloc(0);
  #sources: MetricsSources | undefined;
  #cached: { at: number; report: Promise<VerdictReport> } | undefined;

  readonly #reportTtlMs: number;

  constructor(options: { reportTtlMs?: number } = {}) {
    this.#reportTtlMs = options.reportTtlMs ?? REPORT_TTL_MS;
    this.#perVolume();
  }

  /**
   * Loads prom-client (once). Until then events are counted in a buffer: a daemon nobody
   * scrapes does not carry the library. The daemon calls this at start when METRICS_ADDRESS is
   * set; a scrape calls it otherwise.
   */
  load(): Promise<EventMetrics> {
    this.#loading ??= import('./metrics-registry.js').then(({ createEventMetrics }) => {
      const events = createEventMetrics(() => this.#computed());
      const { operations, jobRuns, requests } = this.#pending;
      replay(operations, (labels, value) => events.operations.observe(labels, value));
      replay(jobRuns, (labels, value) => events.jobRuns.inc(labels, value));
      replay(requests, (labels, value) => events.requests.observe(labels, value));
      this.#pending.count = 0;
      this.#events = events;
      return events;
    });
    return this.#loading;
  }

  /** Where per-volume facts come from; until set, those metrics are empty. */
  attach(sources: MetricsSources): void {
    this.#sources = sources;
  }

  readonly observeOperation: OperationObserver = (operation, outcome, ms) => {
    if (this.#events) this.#events.operations.observe({ operation, outcome }, ms / 1000);
    else
      this.#buffer(
        this.#pending.operations,
        `${operation}\u0000${outcome}`,
        { operation, outcome },
        ms / 1000,
      );
  };

  jobFinished(action: string, outcome: 'success' | 'failure' | 'skipped'): void {
    if (this.#events) this.#events.jobRuns.inc({ action, outcome });
    else this.#buffer(this.#pending.jobRuns, `${action}\u0000${outcome}`, { action, outcome }, 1);
  }

  /** `endpoint` must come from a fixed set (the API's paths, or "other"): labels stay bounded. */
  request(endpoint: string, ms: number): void {
    if (this.#events) this.#events.requests.observe({ endpoint }, ms / 1000);
    else this.#buffer(this.#pending.requests, endpoint, { endpoint }, ms / 1000);
  }

  /**
   * The exposition text as UTF-8 pieces to write in order, and its content type. The per-volume
   * piece is the same Buffer from one scrape to the next until something in it changes.
   */
  async scrape(): Promise<{ contentType: string; chunks: Buffer[] }> {
    const { registry } = this.#events ?? (await this.load());
    return { contentType: registry.contentType, chunks: await registry.chunks() };
  }

  #buffer(pending: Pending, key: string, labels: Record<string, string>, value: number): void {
    const entry = pending.get(key);
    if (entry) entry.values.push(value);
    else pending.set(key, { labels, values: [value] });
    if (++this.#pending.count >= MAX_PENDING) {
      this.load().catch(() => {
        // Loading failed (a broken install): the next scrape reports it; stop buffering more.
        this.#pending.count = 0;
        pending.clear();
      });
    }
  }

  #report(): Promise<VerdictReport> | undefined {
    const sources = this.#sources;
    if (!sources) return undefined;
    const now = Date.now();
    if (!this.#cached || now - this.#cached.at >= this.#reportTtlMs) {
      const report = sources.report();
      this.#cached = { at: now, report };
      // The failure reaches the scrape awaiting it; here it only drops the cached promise.
      report.catch(() => {
        if (this.#cached?.report === report) this.#cached = undefined;
      });
    }
    return this.#cached.report;
  }

  #perVolume(): void {
    const seconds = (ms: number | null | undefined) => (ms == null ? undefined : ms / 1000);
    const volumeGauges = new VolumeGauges([
      {
        name: 'buttervolume_snapshots',
        help: 'Snapshots per volume, send markers not counted',
        per: 'volume',
        value: (v) => v.facts.snapshots,
      },
      {
        name: 'buttervolume_newest_snapshot_timestamp_seconds',
        help: 'Time in the name of the newest snapshot of each volume (Unix seconds)',
        per: 'volume',
        value: (v) => seconds(v.facts.newestSnapshot),
      },
      {
        name: 'buttervolume_volume_health',
        help: "Each volume's verdict: 0 OK, 1 WARN, 2 CRIT (see `buttervolume status`)",
        per: 'volume',
        value: (v) => VERDICT_VALUE[v.verdict],
      },
      {
        name: 'buttervolume_quota_used_bytes',
        help: 'Space referenced by each volume (btrfs qgroup), where quotas are enabled',
        per: 'volume',
        value: (v) => v.usageBytes,
      },
      {
        name: 'buttervolume_quota_limit_bytes',
        help: 'Quota limit of each volume created with a size',
        per: 'volume',
        value: (v) => v.quotaBytes,
      },
      {
        name: 'buttervolume_last_send_success_timestamp_seconds',
        help: 'End of the last successful send of each volume to each host (Unix seconds)',
        per: 'send',
        value: (_, s) => seconds(s.lastSuccess?.at),
      },
      {
        name: 'buttervolume_last_send_bytes',
        help: 'Bytes of the send stream of the last successful send of each volume to each host',
        per: 'send',
        value: (_, s) => s.lastSuccess?.bytes,
      },
      {
        name: 'buttervolume_last_send_incremental',
        help: 'Whether the last successful send of each volume to each host was incremental (1) or full (0)',
        per: 'send',
        value: (_, s) => (s.lastSuccess ? Number(s.lastSuccess.incremental) : undefined),
      },
      {
        name: 'buttervolume_last_send_failure_timestamp_seconds',
        help: 'Time of the last failed send of each volume to each host (Unix seconds)',
        per: 'send',
        value: (_, s) => seconds(s.lastFailure?.at),
      },
    ]);
    const volumes = new ComputedGauge(
      'buttervolume_volumes',
      'Volumes (btrfs subvolumes in VOLUMES_PATH)',
      (r) => [{ labels: {}, value: r?.volumes.length ?? 0 }],
    );
    const after = [
      // Sparse: only the jobs in that state (an alert on `== 1` is the same; 10,000 zeros are not).
      new ComputedGauge(
        'buttervolume_job_failing',
        'Scheduled jobs whose latest run failed (1); jobs that did not fail are absent',
        (r) =>
          (r?.jobs ?? [])
            .filter((job) => job.lastOutcome === 'failure')
            .map((job) => ({ labels: { volume: job.name, action: job.action }, value: 1 })),
        (r) => r?.jobs,
      ),
      new ComputedGauge(
        'buttervolume_job_paused',
        'Scheduled jobs paused on their own (1); active jobs are absent',
        (r) =>
          (r?.jobs ?? [])
            .filter((job) => !job.active)
            .map((job) => ({ labels: { volume: job.name, action: job.action }, value: 1 })),
        (r) => r?.jobs,
      ),
      new ComputedGauge(
        'buttervolume_schedule_paused',
        'Whether the whole schedule is paused',
        (r) => [{ labels: {}, value: r?.schedulePaused ? 1 : 0 }],
      ),
      new ComputedGauge('buttervolume_transfers_in_flight', 'Sends running now', () => [
        { labels: {}, value: this.#sources?.transfers() ?? 0 },
      ]),
    ];
    let joined: { parts: string[]; body: Buffer } | undefined;
    this.#computed = async () => {
      const report = await this.#report();
      const parts = [
        volumes.text(report),
        ...(await volumeGauges.texts(report?.volumes ?? [])),
        ...after.map((gauge) => gauge.text(report)),
      ];
      // Megabytes at 10,000 volumes: joined and encoded again only when a part changed.
      if (joined === undefined || !sameLines(joined.parts, parts)) {
        joined = { parts, body: Buffer.from(parts.join('\n\n')) };
      }
      return joined.body;
    };
  }
}

function replay(pending: Pending, apply: (labels: Record<string, string>, value: number) => void) {
  for (const { labels, values } of pending.values())
    for (const value of values) apply(labels, value);
  pending.clear();
}
