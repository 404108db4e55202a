// prom-client's side of the daemon's metrics, loaded by DaemonMetrics only when metrics are
// configured or first asked for (prom-client and what it pulls in cost ~13 MB of RSS).
import { Counter, collectDefaultMetrics, Histogram, Registry } from 'prom-client';

// Snapshots take milliseconds, sends minutes to hours.
const OPERATION_BUCKETS = [0.01, 0.05, 0.1, 0.5, 1, 5, 15, 60, 300, 900, 3600, 4 * 3600];
const REQUEST_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10];

const NEWLINE = Buffer.from('\n');

/** prom-client's registry, followed by the gauges computed from the daemon's state. */
class DaemonRegistry extends Registry {
  constructor(private readonly computed: () => Promise<Buffer>) {
    super();
  }

  /**
   * The exposition text in pieces, to be written one after the other: prom-client's few
   * kilobytes encoded afresh, the computed megabytes as the Buffer they were last encoded into.
   */
  async chunks(): Promise<Buffer[]> {
    const [base, computed] = await Promise.all([super.metrics(), this.computed()]);
    return [Buffer.from(`${base}\n`), computed, NEWLINE];
  }

  override async metrics(): Promise<string> {
    return Buffer.concat(await this.chunks()).toString();
  }
}

export interface EventMetrics {
  registry: DaemonRegistry;
  operations: Histogram<'operation' | 'outcome'>;
  jobRuns: Counter<'action' | 'outcome'>;
  requests: Histogram<'endpoint'>;
}

/** Counters and histograms of events, process metrics, then `computed` (per-volume gauges). */
export function createEventMetrics(computed: () => Promise<Buffer>): EventMetrics {
  const registry = new DaemonRegistry(computed);
  const registers = [registry];
  collectDefaultMetrics({ register: registry, prefix: 'buttervolume_' });
  return {
    registry,
    operations: new Histogram({
      name: 'buttervolume_operation_duration_seconds',
      help: 'Duration of snapshot, send, sync and purge operations (requested or scheduled), by outcome',
      labelNames: ['operation', 'outcome'],
      buckets: OPERATION_BUCKETS,
      registers,
    }),
    jobRuns: new Counter({
      name: 'buttervolume_scheduler_job_runs_total',
      help: 'Scheduled job runs by action (snapshot, replicate, purge, synchronize) and outcome',
      labelNames: ['action', 'outcome'],
      registers,
    }),
    requests: new Histogram({
      name: 'buttervolume_request_duration_seconds',
      help: 'Latency of the socket API (Docker calls and ours) per endpoint',
      labelNames: ['endpoint'],
      buckets: REQUEST_BUCKETS,
      registers,
    }),
  };
}
