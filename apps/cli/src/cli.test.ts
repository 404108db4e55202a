import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server, type ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { runCli, VERSION } from './cli.js';

const SNAP = 'pgdata@2026-11-24T19:13:40.123456';

interface Call {
  method: string;
  url: string;
  body: unknown;
}

let dir: string;
let socketPath: string;
let server: Server | undefined;
let calls: Call[];
/** The stub daemon's answer per path (COMPAT shapes); a function for dynamic answers. */
let answers: Record<string, unknown | ((res: ServerResponse) => void)>;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'bv-cli-'));
  socketPath = join(dir, 'bv.sock');
  calls = [];
  answers = {};
  server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      calls.push({
        method: req.method ?? '',
        url: req.url ?? '',
        body: text ? JSON.parse(text) : undefined,
      });
      const answer = answers[req.url ?? ''] ?? { Err: `unknown endpoint ${req.url}` };
      if (typeof answer === 'function') return (answer as (res: ServerResponse) => void)(res);
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify(answer));
    });
  });
  const listening = server;
  await new Promise<void>((resolve) => listening.listen(socketPath, resolve));
});

afterEach(async () => {
  const running = server;
  server = undefined;
  running?.closeAllConnections();
  await new Promise<void>((resolve) => (running ? running.close(() => resolve()) : resolve()));
  await rm(dir, { recursive: true, force: true });
});

async function cli(argv: string[], options: { tty?: boolean; socket?: string } = {}) {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let out = '';
  let err = '';
  stdout.on('data', (chunk: Buffer) => {
    out += chunk.toString();
  });
  stderr.on('data', (chunk: Buffer) => {
    err += chunk.toString();
  });
  const code = await runCli(argv, {
    stdin: new PassThrough(),
    stdout,
    stderr,
    env: {
      BUTTERVOLUME_SOCKET: options.socket ?? socketPath,
      // Never read the host's /etc/buttervolume/config.ini in a test.
      BUTTERVOLUME_CONFIG_FILE: join(dir, 'absent.ini'),
    },
    colorDepth: 1,
    tty: options.tty ?? false,
    now: () => new Date(2026, 10, 24, 21, 18, 41),
  });
  return { code, out, err };
}

describe('exit codes', () => {
  it('0 and the snapshot name on success', async () => {
    answers['/VolumeDriver.Snapshot'] = { Err: '', Snapshot: SNAP };
    expect(await cli(['snapshot', 'pgdata'])).toEqual({ code: 0, out: `${SNAP}\n`, err: '' });
    expect(calls).toEqual([
      { method: 'POST', url: '/VolumeDriver.Snapshot', body: { Name: 'pgdata' } },
    ]);
  });

  it('0, the bare name on stdout and the warning on stderr when the snapshot lacks nested subvolumes', async () => {
    const Warning = `${SNAP} does not contain the 1 nested subvolume(s) of pgdata (inner)`;
    answers['/VolumeDriver.Snapshot'] = { Err: '', Snapshot: SNAP, Warning };
    expect(await cli(['snapshot', 'pgdata'])).toEqual({
      code: 0,
      out: `${SNAP}\n`,
      err: `warning: ${Warning}\n`,
    });
  });

  it('1 and "Error: <Err>" on stderr when the daemon answers an error', async () => {
    answers['/VolumeDriver.Snapshot'] = { Err: 'pgdata: no such volume' };
    expect(await cli(['snapshot', 'pgdata'])).toEqual({
      code: 1,
      out: '',
      err: 'Error: pgdata: no such volume\n',
    });
  });

  it('1 and how to start the daemon when nothing listens', async () => {
    const result = await cli(['snapshots'], { socket: join(dir, 'bv-none.sock') });
    expect(result.code).toBe(1);
    expect(result.err).toContain(
      `cannot reach the buttervolume daemon on ${join(dir, 'bv-none.sock')}`,
    );
    expect(result.err).toContain('buttervolume run');
  });

  it.each([
    [['snapshot', '../x']],
    [['snapshot', '--', '-rf']],
    [['snapshot', '$(touch /tmp/p)']],
    [['snapshot', 'a'.repeat(300)]],
    [['snapshot', '']],
    [['snapshots', 'a/b']],
    [['restore', 'pgdata@yesterday']],
    [['restore', SNAP, '../x']],
    [['clone', 'pgdata', 'x"; rm -rf / #']],
    [['send', '--', '-oProxyCommand=x', SNAP]],
    [['send', 'user@host', SNAP]],
    [['send', 'h1', 'pgdata']],
    [['sync', 'pgdata', 'h1', '$(reboot)']],
    [['rm', 'pgdata']],
    [['rm', '../x@2026-11-24T19:13:40.123456']],
    [['purge', '1h:1d', '../x']],
    [['schedule', 'explode', '60', 'pgdata']],
    [['schedule', 'snapshot', 'soon', 'pgdata']],
    [['schedule', 'replicate:-rf', '60', 'pgdata']],
    [['schedule', 'snapshot', '60', '..']],
    [['schedule', 'purge:60m:plop:3000m', '60', 'pgdata']],
    [['schedule', 'purge:daily=0', '60', 'pgdata']],
    [['schedule', 'purge:4h,daily=7', '60', 'pgdata']],
    [['schedule', 'purge:', '60', 'pgdata']],
    [['schedule', 'synchronize:h1,-rf', '60', 'pgdata']],
    [['schedule', 'replicate:$(touch /tmp/p)', '60', 'pgdata']],
    [['schedule', 'snapshot:now', '60', 'pgdata']],
    [['schedule', 'snapshot', '61 * * * *', 'pgdata']],
    [['schedule', 'snapshot', '30 2 * *', 'pgdata']],
    [['schedule', 'snapshot', '1.5', 'pgdata']],
    [['schedule', 'snapshot', '--', '-5', 'pgdata']],
    [['schedule', 'snapshot', '', 'pgdata']],
    [['purge', '60m:plop:3000m', 'pgdata']],
    [['purge', 'monthly', 'pgdata']],
    [['purge', 'daily=7,min=5m', 'pgdata']],
    [['purge', '', 'pgdata']],
    [['purge', "1h:1d'; rm -rf /", 'pgdata']],
    [['rm', `${SNAP}@-rf`]],
    [['rm', `${SNAP}@a/b`]],
    [['rm', `${SNAP}@`]],
  ])('2 for %j, and the daemon never hears of it', async (argv) => {
    const result = await cli(argv);
    expect(result.code).toBe(2);
    expect(result.err).toMatch(/^Error: .+\nRun `buttervolume \w+ --help` for usage.\n$/);
    expect(calls).toEqual([]);
  });

  it.each([
    [[]],
    [['bogus']],
    [['snapshot']],
    [['snapshot', '--project', '../x']],
    [['snapshot', 'pgdata', '$(touch /tmp/p)']],
    [['sync', 'pgdata']],
    [['scheduled', 'explode']],
    [['purge', '--nope', '1h:1d', 'pgdata']],
    [['snapshot', '-rf']],
    [['send', '-oProxyCommand=x', SNAP]],
  ])('2 for the malformed command line %j', async (argv) => {
    const result = await cli(argv);
    expect(result.code).toBe(2);
    expect(result.err).not.toBe('');
    expect(calls).toEqual([]);
  });
});

describe('--json', () => {
  it("prints the daemon's answer", async () => {
    answers['/VolumeDriver.Snapshot'] = { Err: '', Snapshot: SNAP };
    const result = await cli(['snapshot', 'pgdata', '--json']);
    expect(JSON.parse(result.out)).toEqual({ Err: '', Snapshot: SNAP });
  });

  it('prints the error answer too, and still exits 1', async () => {
    answers['/VolumeDriver.Snapshot.Remove'] = { Err: 'No such snapshot' };
    const result = await cli(['rm', SNAP, '--json']);
    expect(result.code).toBe(1);
    expect(JSON.parse(result.out)).toEqual({ Err: 'No such snapshot' });
  });

  it('prints a JSON error for a usage error', async () => {
    const result = await cli(['snapshot', '../x', '--json']);
    expect(result.code).toBe(2);
    expect(JSON.parse(result.out).Err).toMatch(/^Invalid volume name/);
  });
});

describe('commands', () => {
  it('restore --set restores every snapshot of the set', async () => {
    answers['/Buttervolume.Snapshot.RestoreSet'] = {
      Err: '',
      Restored: [
        { Volume: 'pgdata', Snapshot: SNAP, VolumeBackup: 'pgdata@2026-11-25T08:00:00.000000' },
        { Volume: 'uploads', Snapshot: 'uploads@2026-11-24T19:13:40.123456', VolumeBackup: null },
      ],
    };
    const result = await cli(['restore', '--set', SNAP]);
    expect(result.code).toBe(0);
    expect(result.out).toBe(
      `Restored ${SNAP} into pgdata; its previous content is snapshot pgdata@2026-11-25T08:00:00.000000\nRestored uploads@2026-11-24T19:13:40.123456 into uploads, a new volume\n`,
    );
    expect(calls[0]).toMatchObject({
      url: '/Buttervolume.Snapshot.RestoreSet',
      body: { Name: SNAP },
    });
    expect((await cli(['restore', '--set', SNAP, 'other'])).code).toBe(2);
    expect((await cli(['restore', '--set', 'pgdata'])).code).toBe(2);
  });

  it('snapshot of several volumes or a project: one group request, then the set and its hooks', async () => {
    answers['/Buttervolume.Snapshot.Group'] = {
      Err: '',
      Snapshots: [SNAP, 'uploads@2026-11-24T19:13:40.123456'],
      Timestamp: '2026-11-24T19:13:40.123456',
      Paused: ['db'],
      PauseMs: 42,
      TotalMs: 300,
      Hooks: [
        {
          Container: 'db',
          Phase: 'pre',
          Argv: ['sh', '-c', 'sync'],
          ExitCode: 0,
          TimedOut: false,
          Stdout: '',
          Stderr: '',
          Truncated: false,
          Ms: 12,
          Ok: true,
        },
      ],
    };
    const result = await cli(['snapshot', 'pgdata', 'uploads', '--project', 'shop', '--no-hooks']);
    expect(result).toEqual({
      code: 0,
      out: `${SNAP}\nuploads@2026-11-24T19:13:40.123456\n# paused db for 42 ms\n# pre-snapshot hook in db: exit 0 (12 ms)\n`,
      err: '',
    });
    expect(calls).toEqual([
      {
        method: 'POST',
        url: '/Buttervolume.Snapshot.Group',
        body: { Volumes: ['pgdata', 'uploads'], Project: 'shop', Hooks: false },
      },
    ]);
  });

  it('snapshots: one name a line when piped, a table on a terminal', async () => {
    answers['/VolumeDriver.Snapshot.List/pgdata'] = { Err: '', Snapshots: [SNAP] };
    expect((await cli(['snapshots', 'pgdata'])).out).toBe(`${SNAP}\n`);
    const table = (await cli(['snapshots', 'pgdata'], { tty: true })).out.split('\n');
    expect(table[0]).toMatch(/^SNAPSHOT\s+VOLUME\s+AGE$/);
    expect(table[1]).toMatch(new RegExp(`^${SNAP}\\s+pgdata\\s+2h 5m$`));
    expect((await cli(['snapshots', 'pgdata', '--long'])).out).toContain('AGE');
  });

  it('scheduled: COMPAT lines when piped, with (paused)', async () => {
    answers['/VolumeDriver.Schedule.List'] = {
      Err: '',
      Schedule: [
        { Name: 'pgdata', Action: 'snapshot', Timer: '60', Active: 'True' },
        { Name: 'pgdata', Action: 'replicate:backup-1', Timer: '1440', Active: 'False' },
      ],
    };
    expect((await cli(['scheduled'])).out).toBe(
      'snapshot 60 pgdata\nreplicate:backup-1 1440 pgdata (paused)\n',
    );
    expect((await cli(['scheduled', 'list'])).out).toBe(
      'snapshot 60 pgdata\nreplicate:backup-1 1440 pgdata (paused)\n',
    );
    expect((await cli(['scheduled'], { tty: true })).out).toMatch(
      /^ACTION\s+TIMER\s+VOLUME\s+LAST RUN/,
    );
  });

  it('scheduled pause / resume', async () => {
    answers['/VolumeDriver.Schedule.Pause'] = { Err: '' };
    answers['/VolumeDriver.Schedule.Resume'] = { Err: '' };
    expect((await cli(['scheduled', 'pause'])).code).toBe(0);
    expect((await cli(['scheduled', 'resume'])).code).toBe(0);
    expect(calls.map((call) => call.url)).toEqual([
      '/VolumeDriver.Schedule.Pause',
      '/VolumeDriver.Schedule.Resume',
    ]);
  });

  it("purge and schedule: a bad pattern is refused here with the daemon's words (exit 2)", async () => {
    for (const argv of [
      ['purge', '60m:plop:3000m', 'pgdata'],
      ['schedule', 'purge:60m:plop:3000m', '60', 'pgdata'],
    ]) {
      const result = await cli(argv);
      expect(result.code).toBe(2);
      expect(result.err).toMatch(/Invalid purge pattern "60m:plop:3000m": item "plop"/);
    }
    expect(calls).toEqual([]);
  });

  it('rm takes a send marker as well as a snapshot', async () => {
    answers['/VolumeDriver.Snapshot.Remove'] = { Err: '' };
    const marker = `${SNAP}@backup-1`;
    expect(await cli(['rm', marker])).toEqual({ code: 0, out: `Deleted ${marker}\n`, err: '' });
    expect(await cli(['rm', SNAP])).toMatchObject({ code: 0 });
    expect(calls.map((call) => call.body)).toEqual([{ Name: marker }, { Name: SNAP }]);
  });

  it('restore into a volume that did not exist says so (the daemon names no backup)', async () => {
    answers['/VolumeDriver.Snapshot.Restore'] = { Err: '', Restored: SNAP };
    const result = await cli(['restore', SNAP, 'fresh']);
    expect(result).toEqual({
      code: 0,
      out: `Restored ${SNAP} into fresh, a new volume (fresh did not exist: no backup was needed)\n`,
      err: '',
    });
  });

  it('schedule: removing, pausing or resuming a row compares text, as the daemon does', async () => {
    answers['/VolumeDriver.Schedule'] = { Err: '' };
    // A row 3.x let in with a pattern we refuse can still be removed.
    expect(await cli(['schedule', 'purge:4x', 'delete', 'pgdata'])).toEqual({
      code: 0,
      out: 'Removed the scheduled purge:4x of pgdata\n',
      err: '',
    });
    expect((await cli(['schedule', 'snapshot', 'pause', 'pgdata'])).out).toBe(
      'Paused the scheduled snapshot of pgdata\n',
    );
    expect(calls.map((call) => call.body)).toEqual([
      { Name: 'pgdata', Action: 'purge:4x', Timer: 'delete' },
      { Name: 'pgdata', Action: 'snapshot', Timer: 'pause' },
    ]);
  });

  it('schedule: timer "00" removes the job, as the daemon reads it (one parser)', async () => {
    answers['/VolumeDriver.Schedule'] = { Err: '' };
    expect(await cli(['schedule', 'snapshot', '00', 'pgdata'])).toEqual({
      code: 0,
      out: 'Removed the scheduled snapshot of pgdata\n',
      err: '',
    });
    expect(calls.map((call) => call.body)).toEqual([
      { Name: 'pgdata', Action: 'snapshot', Timer: '00' },
    ]);
  });

  it('scheduled: a cron timer quoted, invalid rows with their reason, outcomes', async () => {
    answers['/VolumeDriver.Schedule.List'] = {
      Err: '',
      Schedule: [
        {
          Name: 'uploads',
          Action: 'snapshot',
          Timer: '30 2 * * *',
          Active: 'True',
          LastRun: new Date(2026, 10, 24, 2, 30).toISOString(),
          LastOutcome: 'ok',
          NextRun: new Date(2026, 10, 25, 2, 30).toISOString(),
        },
        {
          Name: 'pgdata',
          Action: 'snapshot',
          Timer: '60',
          Active: 'True',
          LastRun: new Date(2026, 10, 24, 21, 0).toISOString(),
          LastOutcome: 'error',
          LastError: 'pgdata: no such volume',
          NextRun: new Date(2026, 10, 24, 22, 0).toISOString(),
        },
        {
          Name: 'pgdata',
          Action: 'purge:4x',
          Timer: '60',
          Active: 'False',
          LastRun: null,
          LastOutcome: null,
          NextRun: null,
          Invalid: 'Invalid purge pattern "4x": unknown unit "x" (use m, h, d, w or y)',
          Line: 3,
        },
      ],
    };
    expect((await cli(['scheduled'])).out.split('\n')).toEqual([
      "snapshot '30 2 * * *' uploads",
      'snapshot 60 pgdata',
      'purge:4x 60 pgdata (invalid: Invalid purge pattern "4x": unknown unit "x" (use m, h, d, w or y))',
      '',
    ]);
    const table = (await cli(['scheduled'], { tty: true })).out.split('\n');
    expect(table.slice(0, 4)).toEqual([
      expect.stringMatching(/^ACTION\s+TIMER\s+VOLUME\s+LAST RUN\s+OUTCOME\s+NEXT RUN$/),
      expect.stringMatching(
        /^snapshot\s+'30 2 \* \* \*'\s+uploads\s+2026-11-24 02:30\s+ok\s+2026-11-25 02:30$/,
      ),
      expect.stringMatching(
        /^snapshot\s+60\s+pgdata\s+2026-11-24 21:00\s+error\s+2026-11-24 22:00$/,
      ),
      expect.stringMatching(/^purge:4x\s+60\s+pgdata\s+\(invalid\)\s+-\s+-\s+never$/),
    ]);
    expect(table).toContain('  snapshot 60 pgdata: pgdata: no such volume');
    expect(table).toContain(
      '  schedule.csv line 3: Invalid purge pattern "4x": unknown unit "x" (use m, h, d, w or y)',
    );
  });

  it('schedule sends the words as given, a cron timer as one argument', async () => {
    answers['/VolumeDriver.Schedule'] = { Err: '' };
    expect((await cli(['schedule', 'purge:4h:1d', '60', 'pgdata'])).out).toBe(
      'Scheduled purge:4h:1d of pgdata every 60 min\n',
    );
    expect((await cli(['schedule', 'replicate:backup-1', ' 30 2 * * * ', 'pgdata'])).out).toBe(
      'Scheduled replicate:backup-1 of pgdata at cron "30 2 * * *"\n',
    );
    await cli(['schedule', 'snapshot', '0', 'pgdata']);
    expect(calls.map((call) => call.body)).toEqual([
      { Name: 'pgdata', Action: 'purge:4h:1d', Timer: '60' },
      { Name: 'pgdata', Action: 'replicate:backup-1', Timer: '30 2 * * *' },
      { Name: 'pgdata', Action: 'snapshot', Timer: '0' },
    ]);
  });

  it('restore passes Target and Force', async () => {
    answers['/VolumeDriver.Snapshot.Restore'] = {
      Err: '',
      VolumeBackup: 'other@2026-11-24T21:18:41.000000',
      Restored: SNAP,
    };
    const result = await cli(['restore', '--force', SNAP, 'other']);
    expect(result.out).toBe(
      `Restored ${SNAP} into other; its previous content is snapshot other@2026-11-24T21:18:41.000000\n`,
    );
    expect(calls[0]?.body).toEqual({ Name: SNAP, Target: 'other', Force: true });
    await cli(['restore', 'pgdata']);
    expect(calls[1]?.body).toEqual({ Name: 'pgdata' });
  });

  it('purge --dryrun sends Dryrun and shows the decisions', async () => {
    answers['/VolumeDriver.Snapshots.Purge'] = {
      Err: '',
      Purged: [SNAP],
      Decisions: [{ Name: SNAP, Action: 'purge', Reason: 'older than 2h' }],
    };
    const result = await cli(['purge', '--dryrun', '2h:2h', 'pgdata']);
    expect(calls[0]?.body).toEqual({ Name: 'pgdata', Pattern: '2h:2h', Dryrun: true });
    expect(result.out).toContain('Would purge 1 snapshot(s) of pgdata');
    expect(result.out).toContain(`would purge  ${SNAP}  older than 2h`);
  });

  it('sync takes several hosts and --delete', async () => {
    answers['/VolumeDriver.Volume.Sync'] = { Err: '', Snapshots: [SNAP], Errors: [] };
    const result = await cli(['sync', '--delete', 'pgdata', 'h1', '10.0.0.3']);
    expect(result.code).toBe(0);
    expect(calls[0]?.body).toEqual({
      Volumes: ['pgdata'],
      Hosts: ['h1', '10.0.0.3'],
      Delete: true,
    });
  });

  it('replica shows the view, and --set/--add/--remove change the set on the owner', async () => {
    answers['/Buttervolume.Replica'] = {
      Err: '',
      State: 'owner',
      Owner: 'n1',
      Epoch: 3,
      Replicas: ['n1', 'n2'],
    };
    expect((await cli(['replica', 'pgdata'])).out).toBe(
      'pgdata: owned by this node, epoch 3, replicas n1,n2\n',
    );
    answers['/Buttervolume.Replica.Set'] = {
      Err: '',
      State: 'owner',
      Owner: 'n1',
      Epoch: 3,
      Replicas: ['n1', 'n4'],
      Added: ['n4'],
      Removed: ['n2'],
    };
    calls = [];
    const changed = await cli(['replica', '--add', 'n4', '--remove', 'n2', 'pgdata']);
    expect(changed).toEqual({
      code: 0,
      out: 'pgdata: replicas n1,n4; added n4 (the next increment goes there); removed n2 (no longer sent to; its copy is kept there)\n',
      err: '',
    });
    expect(calls[0]?.body).toEqual({ Name: 'pgdata', Add: ['n4'], Remove: ['n2'] });
    calls = [];
    const json = await cli(['replica', '--json', '--set', 'n1, 10.0.0.4', 'pgdata']);
    expect(calls[0]?.body).toEqual({ Name: 'pgdata', Set: ['n1', '10.0.0.4'] });
    expect(JSON.parse(json.out)).toMatchObject({ Added: ['n4'], Removed: ['n2'] });
    answers['/Buttervolume.Replica.Set'] = {
      Err: 'pgdata is owned by n2 (epoch 4), not by this node: change its replica set there',
      Code: 'NOT_OWNER',
      Owner: 'n2',
      Epoch: 4,
    };
    const refused = await cli(['replica', '--add', 'n4', 'pgdata']);
    expect(refused.code).toBe(1);
    expect(refused.err).toMatch(/owned by n2 .*change its replica set there/);
  });

  it('replica refuses --set with --add and hostile hosts before contacting the daemon', async () => {
    for (const argv of [
      ['replica', '--set', 'n1', '--add', 'n2', 'pgdata'],
      ['replica', '--add', '-oProxyCommand=x', 'pgdata'],
      ['replica', '--add', '$(touch /tmp/p)', 'pgdata'],
      ['replica', '--remove', 'root@n2', 'pgdata'],
      ['replica', '--set', 'n1,,n2', 'pgdata'],
      ['replica', '--add', 'n4', '../x'],
    ]) {
      const result = await cli(argv);
      expect(result.code, argv.join(' ')).toBe(2);
    }
    expect(calls).toEqual([]);
  });

  it('send on a terminal polls the transfers and prints a summary', async () => {
    answers['/Buttervolume.Transfers'] = {
      Err: '',
      Transfers: [
        { Snapshot: SNAP, Host: 'h1', Bytes: 2048, ElapsedMs: 500, RateBytesPerSec: 4096 },
      ],
    };
    answers['/VolumeDriver.Snapshot.Send'] = (res: ServerResponse) =>
      setTimeout(() => {
        res.writeHead(200);
        res.end(
          JSON.stringify({
            Err: '',
            Incremental: false,
            Parent: null,
            Bytes: 4096,
            DurationMs: 1200,
            AlreadyPresent: false,
          }),
        );
      }, 1200);
    const result = await cli(['send', 'h1', SNAP], { tty: true });
    expect(result.code).toBe(0);
    expect(result.err).toContain(`sending ${SNAP} to h1: 2.0 KiB, 4.0 KiB/s, 0.5 s`);
    expect(result.out).toBe(`Sent ${SNAP} to h1 (full): 4.0 KiB in 1.2 s, 3.3 KiB/s\n`);
    expect(calls.filter((call) => call.url === '/Buttervolume.Transfers').length).toBeGreaterThan(
      0,
    );
  });

  it('send when piped prints only the summary, without polling', async () => {
    answers['/VolumeDriver.Snapshot.Send'] = {
      Err: '',
      Incremental: true,
      Parent: 'pgdata@2026-11-24T18:00:00.000000',
      Bytes: 10,
      DurationMs: 0,
      AlreadyPresent: false,
    };
    const result = await cli(['send', '--full', 'h1', SNAP]);
    expect(result).toMatchObject({ code: 0, err: '' });
    expect(calls).toEqual([
      {
        method: 'POST',
        url: '/VolumeDriver.Snapshot.Send',
        body: { Name: SNAP, Host: 'h1', Incremental: false },
      },
    ]);
  });

  it('--version prints the version, --help the examples', async () => {
    expect(await cli(['--version'])).toMatchObject({ code: 0, out: `${VERSION}\n` });
    const help = await cli(['purge', '--help']);
    expect(help.code).toBe(0);
    expect(help.out).toContain('buttervolume purge --dryrun 4h:1d:2w:2y pgdata');
  });
});

describe('status and check', () => {
  // The test clock is 2026-11-24 21:18:41 local.
  const NOW = new Date(2026, 10, 24, 21, 18, 41).getTime();
  const iso = (agoMs: number) => new Date(NOW - agoMs).toISOString();
  const H = 3600_000;
  const entry = (name: string, snapshotAgoMs: number, sendAgoMs: number | null) => ({
    Name: name,
    Verdict: 'OK',
    Reason: 'fine',
    Problems: [],
    Snapshots: 3,
    NewestSnapshot: iso(snapshotAgoMs),
    Sends:
      sendAgoMs === null
        ? []
        : [
            {
              Host: 'backup1',
              LastSuccess: { At: iso(sendAgoMs), Bytes: 2048, Incremental: true, DurationMs: 1200 },
              LastFailure: null,
            },
          ],
    Jobs: [
      {
        Action: 'replicate:backup1',
        Kind: 'replicate',
        Hosts: ['backup1'],
        Timer: '60',
        PeriodSeconds: 3600,
        Active: true,
        LastRun: iso(10 * 60_000),
        LastOutcome: 'success',
        LastError: null,
        Failures: 0,
        NextRun: iso(-50 * 60_000),
      },
    ],
    SchedulePaused: false,
    Attention: null,
    CopyOnWrite: true,
    Compression: 'zstd',
  });

  it('status prints a line per volume in a pipe, a table on a terminal, details for one', async () => {
    answers['/Buttervolume.Status'] = {
      Err: '',
      At: iso(0),
      Volumes: [
        entry('pgdata', 10 * 60_000, 10 * 60_000),
        {
          ...entry('uploads', 5 * H, null),
          Verdict: 'CRIT',
          Reason: 'newest snapshot 5h old (crit 4h)',
        },
      ],
    };
    expect(await cli(['status'])).toEqual({
      code: 0,
      out: 'pgdata OK fine\nuploads CRIT newest snapshot 5h old (crit 4h)\n',
      err: '',
    });
    const table = await cli(['status'], { tty: true });
    expect(table.out).toBe(
      [
        'VOLUME   HEALTH  SNAPSHOTS  NEWEST  LAST SEND',
        'pgdata   OK      3          10m     backup1 10m',
        'uploads  CRIT    3          5h      -',
        '',
        'Needs a look:',
        '  uploads: newest snapshot 5h old (crit 4h)',
        '',
      ].join('\n'),
    );
    answers['/Buttervolume.Status/pgdata'] = {
      Err: '',
      At: iso(0),
      Volumes: [entry('pgdata', 10 * 60_000, 10 * 60_000)],
    };
    const one = await cli(['status', 'pgdata'], { tty: true });
    expect(one.out).toContain('pgdata: OK, fine\n');
    expect(one.out).toMatch(/send backup1 +last .* \(10m ago\), 2\.0 KiB incremental in 1\.2 s/);
    expect(one.out).toMatch(/job +replicate:backup1 every 60: ok .*; next /);
    expect(one.out).toMatch(/copy-on-write +yes\n +compression +zstd\n/);
    expect((await cli(['status', 'pgdata', '--json'])).out).toContain('"Compression": "zstd"');
    expect((await cli(['status', '--json'])).out).toContain('"Verdict": "CRIT"');
  });

  it('check: exit 0/1/2 with a one-line summary and perfdata, limits from the schedule or given', async () => {
    answers['/Buttervolume.Status'] = {
      Err: '',
      At: iso(0),
      Volumes: [entry('pgdata', 10 * 60_000, 10 * 60_000)],
    };
    expect(await cli(['check'])).toEqual({
      code: 0,
      out: "BUTTERVOLUME OK - 1 volume OK | volumes=1 critical=0 warning=0 'pgdata snapshot age'=600s;7200;14400;0 'pgdata send age backup1'=600s;7200;14400;0\n",
      err: '',
    });
    const warn = await cli(['check', '--snapshot-warn', '5m', '--snapshot-crit', '1h']);
    expect(warn.code).toBe(1);
    expect(warn.out).toMatch(
      /^BUTTERVOLUME WARNING - 1 volume, 0 critical, 1 warning; pgdata: newest snapshot 10m old \(warn 5m\) \| /,
    );
    answers['/Buttervolume.Status'] = {
      Err: '',
      At: iso(0),
      Volumes: [entry('pgdata', 10 * 60_000, 5 * H)],
    };
    const crit = await cli(['check']);
    expect(crit.code).toBe(2);
    expect(crit.out).toContain(
      'BUTTERVOLUME CRITICAL - 1 volume, 1 critical, 0 warning; pgdata: last send to backup1 5h ago (crit 4h) | ',
    );
  });

  it('check: UNKNOWN (3) on a bad threshold, an unknown volume, a bad name, no daemon, a bad option', async () => {
    answers['/Buttervolume.Status/nope'] = { Err: 'nope: no such volume' };
    const cases: [string[], string][] = [
      [['check', '--snapshot-warn', 'soon', '--snapshot-crit', '1h'], 'not a duration'],
      [['check', '--send-warn', '2h'], 'give --send-warn and --send-crit together'],
      [
        ['check', '--snapshot-warn', '2h', '--snapshot-crit', '1h'],
        'is later than --snapshot-crit',
      ],
      [['check', 'nope'], 'nope: no such volume'],
      [['check', '../x'], 'Invalid volume name'],
      [['check', '--bogus'], 'BUTTERVOLUME UNKNOWN - '],
    ];
    for (const [argv, message] of cases) {
      const result = await cli(argv);
      expect(result.code, argv.join(' ')).toBe(3);
      expect(result.out).toMatch(/^BUTTERVOLUME UNKNOWN - /);
      expect(result.out).toContain(message);
      expect(result.out.trimEnd().split('\n')).toHaveLength(1);
    }
    const down = await cli(['check'], { socket: join(dir, 'none.sock') });
    expect(down.code).toBe(3);
    expect(down.out).toContain('cannot reach the buttervolume daemon');
  });
});
