import type { VolumeFacts } from '@buttervolume/health';
import { describe, expect, it } from 'vitest';
import { DaemonMetrics } from './metrics.js';
import { endpointLabel } from './routes/handlers.js';
import type { VerdictReport } from './services/health.js';

const NOW = Date.UTC(2026, 10, 26, 12, 0, 0);

function report(): VerdictReport {
  const facts: VolumeFacts = {
    volume: 'pgdata',
    snapshots: 3,
    newestSnapshot: NOW - 600_000,
    sends: [
      {
        host: 'backup1',
        lastSuccess: { at: NOW - 600_000, bytes: 4096, incremental: true, durationMs: 50 },
        lastFailure: { at: NOW - 7200_000, error: 'refused' },
      },
    ],
    jobs: [],
    schedulePaused: false,
    attention: null,
  };
  return {
    volumes: [
      { facts, verdict: 'OK', usageBytes: 16384, quotaBytes: 1 << 30 },
      {
        facts: { ...facts, volume: 'uploads', sends: [], newestSnapshot: null, snapshots: 0 },
        verdict: 'CRIT',
      },
    ],
    schedulePaused: false,
    jobs: [],
  };
}

/** What a scraper receives: the pieces written one after the other. */
async function scrapeText(metrics: DaemonMetrics) {
  const { contentType, chunks } = await metrics.scrape();
  return { contentType, body: Buffer.concat(chunks).toString() };
}

describe('DaemonMetrics', () => {
  it('exposes per-volume facts computed at scrape time, and counts events', async () => {
    const metrics = new DaemonMetrics();
    metrics.attach({ report: async () => report(), transfers: () => 2 });
    metrics.observeOperation('send', 'ok', 1500);
    metrics.jobFinished('replicate', 'failure');
    metrics.request('/VolumeDriver.Get', 1.2);
    const { contentType, body } = await scrapeText(metrics);
    expect(contentType).toContain('text/plain');
    for (const line of [
      'buttervolume_volumes 2',
      'buttervolume_snapshots{volume="pgdata"} 3',
      'buttervolume_snapshots{volume="uploads"} 0',
      `buttervolume_newest_snapshot_timestamp_seconds{volume="pgdata"} ${(NOW - 600_000) / 1000}`,
      'buttervolume_volume_health{volume="pgdata"} 0',
      'buttervolume_volume_health{volume="uploads"} 2',
      'buttervolume_quota_used_bytes{volume="pgdata"} 16384',
      'buttervolume_quota_limit_bytes{volume="pgdata"} 1073741824',
      'buttervolume_last_send_bytes{volume="pgdata",host="backup1"} 4096',
      'buttervolume_last_send_incremental{volume="pgdata",host="backup1"} 1',
      `buttervolume_last_send_failure_timestamp_seconds{volume="pgdata",host="backup1"} ${(NOW - 7200_000) / 1000}`,
      'buttervolume_transfers_in_flight 2',
      'buttervolume_operation_duration_seconds_count{operation="send",outcome="ok"} 1',
      'buttervolume_scheduler_job_runs_total{action="replicate",outcome="failure"} 1',
      'buttervolume_request_duration_seconds_count{endpoint="/VolumeDriver.Get"} 1',
    ]) {
      expect(body).toContain(`${line}\n`);
    }
    // no newest snapshot: no sample rather than a made-up 0
    expect(body).not.toContain('buttervolume_newest_snapshot_timestamp_seconds{volume="uploads"}');
  });

  it('writes what changed since the last scrape, and forgets volumes that are gone', async () => {
    let current = report();
    const metrics = new DaemonMetrics({ reportTtlMs: 0 });
    metrics.attach({ report: async () => current, transfers: () => 0 });
    const before = (await scrapeText(metrics)).body;
    expect(before).toContain('buttervolume_snapshots{volume="pgdata"} 3\n');
    const [pgdata] = current.volumes;
    const hostile = 'we"ird\\na\nme';
    current = {
      ...current,
      volumes: [
        {
          ...pgdata!,
          facts: {
            ...pgdata!.facts,
            snapshots: 4,
            sends: [
              ...pgdata!.facts.sends,
              { host: hostile, lastSuccess: null, lastFailure: { at: NOW, error: 'x' } },
            ],
          },
          verdict: 'WARN',
        },
      ],
    };
    const after = (await scrapeText(metrics)).body;
    expect(after).toContain('buttervolume_snapshots{volume="pgdata"} 4\n');
    expect(after).not.toContain('buttervolume_snapshots{volume="pgdata"} 3\n');
    expect(after).toContain('buttervolume_volume_health{volume="pgdata"} 1\n');
    expect(after).not.toContain('volume="uploads"');
    expect(after).toContain('buttervolume_volumes 1\n');
    expect(after).toContain(
      `buttervolume_last_send_failure_timestamp_seconds{volume="pgdata",host="we\\"ird\\\\na\\nme"} ${NOW / 1000}\n`,
    );
    // Unchanged again: the same text as the scrape before.
    const again = (await scrapeText(metrics)).body;
    const perVolume = (body: string) => body.split('\n').filter((l) => l.includes('volume='));
    expect(perVolume(again)).toEqual(perVolume(after));
    // ... served from the very Buffer it was last encoded into, and encoded again once changed.
    const one = await metrics.scrape();
    const two = await metrics.scrape();
    expect(two.chunks[1]).toBe(one.chunks[1]);
    current = { ...current, schedulePaused: true };
    const three = await metrics.scrape();
    expect(three.chunks[1]).not.toBe(two.chunks[1]);
    expect(three.chunks[1]!.toString()).toContain('buttervolume_schedule_paused 1\n');
  });

  it('counts events seen before prom-client was loaded, and keeps counting after', async () => {
    const metrics = new DaemonMetrics();
    metrics.request('/VolumeDriver.Get', 1.2);
    metrics.request('/VolumeDriver.Get', 3);
    metrics.request('/VolumeDriver.List', 20);
    metrics.observeOperation('snapshot', 'error', 5);
    metrics.jobFinished('purge', 'success');
    metrics.jobFinished('purge', 'success');
    const first = (await scrapeText(metrics)).body;
    for (const line of [
      'buttervolume_request_duration_seconds_count{endpoint="/VolumeDriver.Get"} 2',
      'buttervolume_request_duration_seconds_bucket{le="0.001",endpoint="/VolumeDriver.Get"} 0',
      'buttervolume_request_duration_seconds_bucket{le="0.005",endpoint="/VolumeDriver.Get"} 2',
      'buttervolume_request_duration_seconds_sum{endpoint="/VolumeDriver.Get"} 0.0042',
      'buttervolume_request_duration_seconds_count{endpoint="/VolumeDriver.List"} 1',
      'buttervolume_operation_duration_seconds_count{operation="snapshot",outcome="error"} 1',
      'buttervolume_scheduler_job_runs_total{action="purge",outcome="success"} 2',
    ]) {
      expect(first).toContain(`${line}\n`);
    }
    metrics.request('/VolumeDriver.Get', 1);
    metrics.jobFinished('purge', 'success');
    const second = (await scrapeText(metrics)).body;
    expect(second).toContain(
      'buttervolume_request_duration_seconds_count{endpoint="/VolumeDriver.Get"} 3\n',
    );
    expect(second).toContain(
      'buttervolume_scheduler_job_runs_total{action="purge",outcome="success"} 3\n',
    );
  });

  it('has empty per-volume metrics before it is attached', async () => {
    const { body } = await scrapeText(new DaemonMetrics());
    expect(body).toContain('# TYPE buttervolume_snapshots gauge');
    expect(body).not.toContain('buttervolume_snapshots{');
  });
});

describe('endpointLabel', () => {
  it('keeps request labels to the API paths: anything else is "other"', () => {
    expect(endpointLabel('/VolumeDriver.Get')).toBe('/VolumeDriver.Get');
    expect(endpointLabel('/VolumeDriver.Snapshot.List/pgdata')).toBe('/VolumeDriver.Snapshot.List');
    expect(endpointLabel('/Buttervolume.Status/x')).toBe('/Buttervolume.Status');
    for (const path of [
      '/',
      '/nope',
      '/VolumeDriver.Get/x',
      `/${'a'.repeat(300)}`,
      '/$(touch /tmp/p)',
    ]) {
      expect(endpointLabel(path)).toBe('other');
    }
  });
});
