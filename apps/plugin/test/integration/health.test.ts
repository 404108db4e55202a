import { writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  createHostB,
  freeLoopbackPort,
  type HostB,
  type PrometheusServer,
  requireRealEnvironment,
  startPrometheus,
  until,
} from '@buttervolume/test-utils';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Daemon, DaemonStartError, silentLogger, startDaemon } from '../../src/index.js';
import {
  type Caller,
  createFixture,
  type Fixture,
  overSocket,
  spawnDaemon,
  suffix,
} from './helpers.js';

async function get(url: string, init: RequestInit = {}) {
  const res = await fetch(url, init);
  return { status: res.status, type: res.headers.get('content-type'), text: await res.text() };
}

describe('status, metrics and Prometheus, with a real send to host B', () => {
  let fx: Fixture;
  let b: HostB;
  let daemon: Daemon | undefined;
  let prometheus: PrometheusServer | undefined;
  let call: Caller;
  let metricsUrl: string;
  let sentBytes = 0;
  const volume = `hv${suffix()}`;

  const start = async () => {
    const port = await freeLoopbackPort();
    daemon = await startDaemon(
      { ...fx.config, metricsAddress: { host: '127.0.0.1', port } },
      {
        logger: silentLogger,
        ssh: { ...b.ssh, connectTimeoutSec: 3 },
        scheduling: { timerSeconds: 3600 },
      },
    );
    call = overSocket(daemon.socketPath);
    metricsUrl = `http://${daemon.metricsAddress}`;
  };

  beforeAll(async () => {
    requireRealEnvironment(['btrfs', 'ssh', 'sshd', 'ip', 'nsenter', 'prometheus']);
    fx = await createFixture(400);
    b = await createHostB({ paths: [fx.fs.mountPoint], sizeMiB: 300 });
    await b.exec(['mkdir', '--', fx.volumesPath, fx.snapshotsPath]);
    await start();
  });

  afterAll(async () => {
    await prometheus?.stop();
    await daemon?.close();
    await b?.cleanup();
    await fx?.cleanup();
  });

  it('reports a scheduled volume with no run yet, and a send to B with its bytes', async () => {
    expect((await call('/VolumeDriver.Create', { Name: volume })).json.Err).toBe('');
    await writeFile(join(fx.volumesPath, volume, 'data'), 'x'.repeat(100_000));
    // Passes an hour apart: the job added now does not run during the test.
    expect(
      (
        await call('/VolumeDriver.Schedule', {
          Name: volume,
          Action: `replicate:${b.address}`,
          Timer: 600,
        })
      ).json.Err,
    ).toBe('');
    const snap = await call('/VolumeDriver.Snapshot', { Name: volume });
    const sent = await call('/VolumeDriver.Snapshot.Send', {
      Name: snap.json.Snapshot,
      Host: b.address,
    });
    expect(sent.json.Err).toBe('');
    sentBytes = sent.json.Bytes as number;
    expect(sentBytes).toBeGreaterThan(100_000);

    const { json } = await call(`/Buttervolume.Status/${volume}`, undefined, 'GET');
    expect(json.Err).toBe('');
    const [entry] = json.Volumes as Record<string, unknown>[];
    expect(entry).toMatchObject({
      Name: volume,
      Snapshots: 1,
      CopyOnWrite: true,
      Compression: 'none',
      Attention: null,
      SchedulePaused: false,
      Sends: [
        {
          Host: b.address,
          LastSuccess: { Bytes: sentBytes, Incremental: false },
          LastFailure: null,
        },
      ],
      Jobs: [{ Action: `replicate:${b.address}`, Kind: 'replicate', PeriodSeconds: 36000 }],
    });
    expect(entry).toMatchObject({ Verdict: 'OK', Problems: [] });
    expect(entry?.Reason).toMatch(
      new RegExp(`^newest snapshot \\d+s old; sent to ${b.address} \\d+s ago$`),
    );
  });

  it("keeps each unchanged volume's scrape entry, and renews the one a snapshot changed", async () => {
    // Volumes of their own: the tests after this one count the snapshots of `volume`.
    const [other, changed] = [`hw${suffix()}`, `hx${suffix()}`];
    for (const Name of [other, changed]) {
      expect((await call('/VolumeDriver.Create', { Name })).json.Err).toBe('');
    }
    const health = daemon!.health;
    const entryOf = (report: Awaited<ReturnType<typeof health.verdicts>>, name: string) =>
      report.volumes.find((v) => v.facts.volume === name);
    // Once its facts are in (quota usage comes in the background), nothing changes: the next
    // call answers the same entries in the same array (a scrape then reuses its text whole).
    let last: Awaited<ReturnType<typeof health.verdicts>> | undefined;
    const before = await until(
      'two calls in a row with the same entries',
      async () => {
        const report = await health.verdicts();
        const settled = report.volumes === last?.volumes && entryOf(report, changed);
        last = report;
        return settled ? report : undefined;
      },
      10_000,
    );
    const count = entryOf(before, changed)!.facts.snapshots;
    expect((await call('/VolumeDriver.Snapshot', { Name: changed })).json.Err).toBe('');
    const after = await until(
      'the snapshot in the verdicts',
      async () => {
        const report = await health.verdicts();
        return entryOf(report, changed)!.facts.snapshots === count + 1 ? report : undefined;
      },
      10_000,
    );
    expect(entryOf(after, other)).toBe(entryOf(before, other));
    expect(entryOf(after, changed)).not.toBe(entryOf(before, changed));
    expect((await get(`${metricsUrl}/metrics`)).text).toContain(
      `buttervolume_snapshots{volume="${changed}"} ${count + 1}\n`,
    );
    for (const Name of [other, changed]) {
      expect((await call('/VolumeDriver.Remove', { Name })).json.Err).toBe('');
    }
  });

  it('shows compression next to copy-on-write in Status', async () => {
    const Opts = { compression: 'zstd' };
    expect((await call('/VolumeDriver.Create', { Name: 'zstd1', Opts })).json.Err).toBe('');
    const { json } = await call('/Buttervolume.Status/zstd1', undefined, 'GET');
    expect(json.Volumes).toMatchObject([{ Name: 'zstd1', CopyOnWrite: true, Compression: 'zstd' }]);
    // Every volume's, once read: the listing answers from the cache.
    const all = (await call('/Buttervolume.Status', undefined, 'GET')).json.Volumes as {
      Name: string;
      Compression?: string;
    }[];
    expect(all.find((v) => v.Name === 'zstd1')?.Compression).toBe('zstd');
    expect((await call('/VolumeDriver.Remove', { Name: 'zstd1' })).json.Err).toBe('');
  });

  it('shows the health in short in Get (what docker volume inspect prints)', async () => {
    const { json } = await call('/VolumeDriver.Get', { Name: volume });
    const status = (json.Volume as { Status: Record<string, unknown> }).Status;
    expect(status).toMatchObject({ Snapshots: 1, Health: 'OK' });
    expect(Object.keys(status.LastSend as object)).toEqual([b.address]);
    expect(Date.parse(status.NewestSnapshot as string)).toBeGreaterThan(Date.now() - 600_000);
  });

  it('answers an unknown or hostile volume in Status with an Err, and nothing else', async () => {
    for (const name of [
      'nope',
      '..',
      '-rf',
      encodeURIComponent('$(touch /tmp/p)'),
      'a'.repeat(300),
    ]) {
      const { json } = await call(`/Buttervolume.Status/${name}`, undefined, 'GET');
      expect(json.Err).not.toBe('');
    }
  });

  it('serves the metrics on the socket and on METRICS_ADDRESS, and nothing else there', async () => {
    const socketText = await new Promise<string>((resolve, reject) => {
      const req = request({ socketPath: daemon!.socketPath, path: '/metrics' }, (res) => {
        let text = '';
        res.on('data', (chunk: Buffer) => {
          text += chunk.toString();
        });
        res.on('end', () => resolve(text));
      });
      req.on('error', reject);
      req.end();
    });
    const tcp = await get(`${metricsUrl}/metrics`);
    expect(tcp.status).toBe(200);
    expect(tcp.type).toContain('text/plain');
    for (const text of [socketText, tcp.text]) {
      expect(text).toContain(
        `buttervolume_last_send_bytes{volume="${volume}",host="${b.address}"} ${sentBytes}`,
      );
      expect(text).toContain(`buttervolume_snapshots{volume="${volume}"} 1`);
      expect(text).toMatch(
        /buttervolume_operation_duration_seconds_count\{operation="send",outcome="ok"\} 1/,
      );
      expect(text).toContain(
        'buttervolume_request_duration_seconds_bucket{le="0.001",endpoint="/VolumeDriver.Create"}',
      );
    }
    for (const path of [
      '/',
      '/VolumeDriver.List',
      '/Plugin.Activate',
      '/Buttervolume.Status',
      '/metrics/../VolumeDriver.List',
      '/metricsx',
      '/metrics/',
    ]) {
      expect((await get(`${metricsUrl}${path}`)).status, path).toBe(404);
      expect((await get(`${metricsUrl}${path}`, { method: 'POST', body: '{}' })).status).toBe(404);
    }
    expect((await get(`${metricsUrl}/metrics`, { method: 'POST', body: '{}' })).status).toBe(405);
    expect((await get(`${metricsUrl}/metrics`, { method: 'DELETE' })).status).toBe(405);
    // the volume is still there: nothing on the TCP listener reached the API
    expect((await call('/VolumeDriver.Get', { Name: volume })).json.Err).toBe('');
  });

  it('is scraped by a real Prometheus, which then knows the bytes of that send', async () => {
    prometheus = await startPrometheus({ targets: [daemon!.metricsAddress!] });
    const samples = await prometheus.waitFor(
      `buttervolume_last_send_bytes{volume="${volume}"}`,
      (s) => s.length === 1,
    );
    expect(samples[0]?.metric.host).toBe(b.address);
    expect(Number(samples[0]?.value[1])).toBe(sentBytes);
    const health = await prometheus.query(`buttervolume_volume_health{volume="${volume}"}`);
    expect(health[0]?.value[1]).toBe('0');
    expect((await prometheus.targets())[0]?.health).toBe('up');
  });

  it('keeps the last-send facts across a restart (persisted with the scheduler state)', async () => {
    // Without its job, nothing sends at the new daemon's first pass.
    expect(
      (
        await call('/VolumeDriver.Schedule', {
          Name: volume,
          Action: `replicate:${b.address}`,
          Timer: 0,
        })
      ).json.Err,
    ).toBe('');
    await daemon?.close();
    daemon = undefined;
    await start();
    const { json } = await call(`/Buttervolume.Status/${volume}`, undefined, 'GET');
    const [entry] = json.Volumes as { Sends: { LastSuccess: { Bytes: number } }[] }[];
    expect(entry?.Sends[0]?.LastSuccess.Bytes).toBe(sentBytes);
  });

  it('shows a group job under every volume of its set, not only its Name column', async () => {
    const members = [`hm1${suffix()}`, `hm2${suffix()}`];
    for (const name of members) {
      expect((await call('/VolumeDriver.Create', { Name: name })).json.Err).toBe('');
    }
    const action = `group-snapshot:${members.join(',')}`;
    const schedule = (timer: number) =>
      call('/VolumeDriver.Schedule', { Name: volume, Action: action, Timer: timer });
    expect((await schedule(600)).json.Err).toBe('');
    try {
      const { json } = await call('/Buttervolume.Status', undefined, 'GET');
      const entries = json.Volumes as { Name: string; Jobs: { Action: string; Kind: string }[] }[];
      for (const name of [volume, ...members]) {
        const entry = entries.find((e) => e.Name === name);
        expect(entry?.Jobs, name).toEqual([
          expect.objectContaining({ Action: action, Kind: 'snapshot' }),
        ]);
      }
      // A volume outside the set has none of it.
      const other = `hm3${suffix()}`;
      expect((await call('/VolumeDriver.Create', { Name: other })).json.Err).toBe('');
      const alone = await call(`/Buttervolume.Status/${other}`, undefined, 'GET');
      expect((alone.json.Volumes as { Jobs: unknown[] }[])[0]?.Jobs).toEqual([]);
    } finally {
      expect((await schedule(0)).json.Err).toBe('');
    }
  });

  it('refuses to start on a METRICS_ADDRESS it cannot bind, leaving no socket', async () => {
    const blocker = createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', () => resolve()));
    const port = (blocker.address() as { port: number }).port;
    try {
      const config = {
        ...fx.config,
        socket: join(fx.fs.dir, 'run', `bv-${suffix()}.sock`),
        metricsAddress: { host: '127.0.0.1', port },
      };
      const failed = startDaemon(config, { logger: silentLogger });
      await expect(failed).rejects.toThrow(DaemonStartError);
      await expect(failed).rejects.toThrow(
        `cannot listen on METRICS_ADDRESS 127.0.0.1:${port} (EADDRINUSE)`,
      );
      await expect(call('/Plugin.Activate').then(() => true)).resolves.toBe(true);
    } finally {
      await new Promise<void>((resolve) => blocker.close(() => resolve()));
    }
  });

  it('stops `buttervolume run` at start on an invalid METRICS_ADDRESS, saying which and why', async () => {
    const socket = join(fx.fs.dir, 'run', `bv-${suffix()}.sock`);
    await expect(
      spawnDaemon({
        BUTTERVOLUME_VOLUMES_PATH: fx.volumesPath,
        BUTTERVOLUME_SNAPSHOTS_PATH: fx.snapshotsPath,
        BUTTERVOLUME_RUNPATH: join(fx.fs.dir, 'run'),
        BUTTERVOLUME_SOCKET: socket,
        BUTTERVOLUME_SCHEDULE: join(fx.fs.dir, 'run', 'schedule.csv'),
        BUTTERVOLUME_CONFIG_FILE: join(fx.fs.dir, 'no-such.ini'),
        BUTTERVOLUME_METRICS_ADDRESS: 'public.example.com:9101',
      }),
    ).rejects.toThrow(
      'Invalid configuration METRICS_ADDRESS (from BUTTERVOLUME_METRICS_ADDRESS): "public.example.com:9101" is not a port or host:port',
    );
  });
});

describe('the example alerting rules in deploy/prometheus', () => {
  const dir = fileURLToPath(new URL('../../../../deploy/prometheus/', import.meta.url));

  it('pass `promtool check rules` and their own `promtool test rules` cases', async () => {
    requireRealEnvironment(['promtool']);
    const check = await execa('promtool', ['check', 'rules', 'buttervolume-alerts.yml'], {
      cwd: dir,
    });
    expect(check.stdout).toContain('SUCCESS: 5 rules found');
    const test = await execa('promtool', ['test', 'rules', 'buttervolume-alerts.test.yml'], {
      cwd: dir,
    });
    expect(test.stdout).toContain('SUCCESS');
  });
});
