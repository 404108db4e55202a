import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { requireRealEnvironment } from '@buttervolume/test-utils';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Stack, startStack } from '../src/index.js';

requireRealEnvironment(['dockerd', 'containerd', 'btrfs', 'busybox']);

// Group snapshots through the CLI, the daemon and a real private dockerd: hooks from container
// labels run inside the containers, the containers are paused while every volume is
// snapshotted with one timestamp, and unpaused on every path, a daemon crash included.
let stack: Stack;
const tag = randomBytes(3).toString('hex');
beforeAll(async () => {
  stack = await startStack();
});
afterAll(async () => {
  await stack?.cleanup();
});

async function volume(name: string): Promise<string> {
  await stack.dockerOk(['volume', 'create', '-d', stack.driver, name]);
  return name;
}

/** A long-running container mounting `mounts` (volume:path), with labels. */
async function container(
  mounts: readonly string[],
  labels: Record<string, string>,
  script = 'sleep 3600',
): Promise<string> {
  const args = ['run', '-d', '--network', 'none'];
  for (const m of mounts) args.push('-v', m);
  for (const [k, v] of Object.entries(labels)) args.push('--label', `${k}=${v}`);
  return stack.dockerOk([...args, stack.image, 'sh', '-c', script]);
}

const state = (id: string) => stack.dockerOk(['inspect', '-f', '{{.State.Status}}', id]);
const read = (snapshot: string, file: string) =>
  readFile(join(stack.snapshotsPath, snapshot, file), 'utf8').then((t) => t.trim());

async function group(args: readonly string[]): Promise<{
  Snapshots: string[];
  Timestamp: string;
  Paused: string[];
  PauseMs: number | null;
  Hooks: { Container: string; Phase: string; Ok: boolean; Stdout: string; TimedOut: boolean }[];
}> {
  return JSON.parse(await stack.cliOk(['snapshot', '--json', ...args]));
}

// Writes i to /a/c then to /b/c (each by rename, so a file is never half-written). Between
// two iterations it honours a hold flag: the pre-snapshot hook raises it and waits for the
// writer to stop at that safe point; the post-snapshot hook lowers it.
const WRITER = `i=0
while true; do
  if [ -e /a/.hold ]; then
    touch /a/.held
    while [ -e /a/.hold ]; do usleep 1000; done
    rm -f /a/.held
  fi
  i=$((i+1))
  echo $i > /a/c.tmp; mv /a/c.tmp /a/c
  echo $i > /b/c.tmp; mv /b/c.tmp /b/c
done`;
const QUIESCE = 'rm -f /a/.held; touch /a/.hold; until [ -e /a/.held ]; do usleep 1000; done';

describe('one instant for several volumes', () => {
  let va: string;
  let vb: string;
  let writer: string;
  beforeAll(async () => {
    va = await volume(`h13a-${tag}`);
    vb = await volume(`h13b-${tag}`);
    writer = await container(
      [`${va}:/a`, `${vb}:/b`],
      {
        'buttervolume.pre-snapshot': QUIESCE,
        'buttervolume.post-snapshot': 'rm -f /a/.hold',
        'buttervolume.hook-timeout': '20',
      },
      WRITER,
    );
    // Let the counter get going.
    for (let i = 0; i < 200 && !existsSync(join(stack.volumesPath, vb, 'c')); i++) {
      await new Promise((r) => setTimeout(r, 50));
    }
  });

  it('one-by-one snapshots show a state that never existed (b ahead of a)', async () => {
    // a is always written first, so a real state has a == b or a == b + 1. Snapshotting a,
    // then b, lets the writer run on in between: b ends up ahead. Bounded tries, since it
    // depends on scheduling; in practice the first try shows it.
    let seen: { a: number; b: number } | undefined;
    for (let attempt = 0; attempt < 30 && seen === undefined; attempt++) {
      const sa = await stack.cliOk(['snapshot', va]);
      const sb = await stack.cliOk(['snapshot', vb]);
      const a = Number(await read(sa, 'c'));
      const b = Number(await read(sb, 'c'));
      if (b > a) seen = { a, b };
    }
    expect(seen, 'no one-by-one snapshot pair ever showed b ahead of a').toBeDefined();
  });

  it('paused group snapshots always show a state the writer was in, with one timestamp', async () => {
    for (let i = 0; i < 8; i++) {
      const answer = await group(['--no-hooks', va, vb]);
      expect(answer.Paused).toHaveLength(1);
      expect(answer.Snapshots).toEqual([`${va}@${answer.Timestamp}`, `${vb}@${answer.Timestamp}`]);
      const a = Number(await read(answer.Snapshots[0] as string, 'c'));
      const b = Number(await read(answer.Snapshots[1] as string, 'c'));
      expect(a - b, `a=${a} b=${b}`).toBeGreaterThanOrEqual(0);
      expect(a - b, `a=${a} b=${b}`).toBeLessThanOrEqual(1);
    }
    expect(await state(writer)).toBe('running');
    // Frozen through the container's own cgroup freezer, not a round trip through Docker.
    const paused = (await stack.daemon.logs())
      .split('\n')
      .filter((line) => line.includes('"group paused"'))
      .map((line) => JSON.parse(line) as { containers: number; viaFreezer: number });
    expect(paused.at(-1)).toMatchObject({ containers: 1, viaFreezer: 1 });
  });

  it('with the quiesce hooks, group snapshots always show equal counters', async () => {
    for (let i = 0; i < 8; i++) {
      const answer = await group([va, vb]);
      expect(answer.Hooks.map((h) => `${h.Phase}:${h.Ok}`).sort()).toEqual([
        'post:true',
        'pre:true',
      ]);
      const a = await read(answer.Snapshots[0] as string, 'c');
      const b = await read(answer.Snapshots[1] as string, 'c');
      expect(a).toBe(b);
      expect(Number(a)).toBeGreaterThan(0);
    }
    // The post-hook released the writer: it keeps counting.
    const before = Number(await readFile(join(stack.volumesPath, vb, 'c'), 'utf8'));
    await new Promise((r) => setTimeout(r, 300));
    const after = Number(await readFile(join(stack.volumesPath, vb, 'c'), 'utf8'));
    expect(after).toBeGreaterThan(before);
    expect(await state(writer)).toBe('running');
  });

  it('a scheduled group-snapshot job takes sets; its schedule.csv row stays a 3.x-shaped row', async () => {
    stack.daemonEnv.BUTTERVOLUME_TIMER = '1';
    try {
      await stack.restartDaemon('SIGTERM');
      const before = new Set((await stack.cliOk(['snapshots', va])).split('\n'));
      await stack.cliOk(['schedule', `group-snapshot:${vb}`, '60', va]);
      const csv = await readFile(join(stack.runPath, 'schedule.csv'), 'utf8');
      expect(csv).toContain(`${va},group-snapshot:${vb},60,True`);
      let set: string | undefined;
      for (let i = 0; i < 100 && set === undefined; i++) {
        await new Promise((r) => setTimeout(r, 200));
        const fresh = (await stack.cliOk(['snapshots', va]))
          .split('\n')
          .filter((n) => !before.has(n));
        set = fresh[0];
      }
      expect(set, 'the scheduled group snapshot never ran').toBeDefined();
      const stamp = (set as string).slice(va.length + 1);
      expect((await stack.cliOk(['snapshots', vb])).split('\n')).toContain(`${vb}@${stamp}`);
      await stack.cliOk(['schedule', `group-snapshot:${vb}`, '0', va]);
    } finally {
      delete stack.daemonEnv.BUTTERVOLUME_TIMER;
      await stack.restartDaemon('SIGTERM');
    }
  });
});

describe('hooks from container labels, run inside the container', () => {
  it('a pre-hook writes a marker the snapshot contains; the post-hook runs after', async () => {
    const v = await volume(`h13m-${tag}`);
    const id = await container([`${v}:/data`], {
      'buttervolume.pre-snapshot': 'echo hooked > /data/marker; echo pre-out',
      'buttervolume.post-snapshot': '["rm", "/data/marker"]',
    });
    const answer = await group(['--consistent', v]);
    const snapshot = answer.Snapshots[0] as string;
    expect(await read(snapshot, 'marker')).toBe('hooked');
    expect(existsSync(join(stack.volumesPath, v, 'marker'))).toBe(false);
    expect(answer.Hooks.find((h) => h.Phase === 'pre')).toMatchObject({
      Ok: true,
      Stdout: 'pre-out\n',
    });
    expect(await state(id)).toBe('running');
  });

  it('a failing pre-hook aborts the snapshot with its output; the post-hook still runs', async () => {
    const v = await volume(`h13f-${tag}`);
    const id = await container([`${v}:/data`], {
      'buttervolume.pre-snapshot': 'echo flush failed >&2; exit 3',
      'buttervolume.post-snapshot': 'touch /data/post-ran',
    });
    const result = await stack.cli(['snapshot', '--consistent', v]);
    expect(result.exitCode).toBe(1);
    expect(result.stderr).toMatch(
      /pre-snapshot hook failed, no snapshot taken: .*exited 3: flush failed/,
    );
    expect(await stack.cliOk(['snapshots', v])).toBe('');
    expect(existsSync(join(stack.volumesPath, v, 'post-ran'))).toBe(true);
    expect(await state(id)).toBe('running');

    // The label may say a failure is only worth a warning.
    await stack.dockerOk(['rm', '-f', id]);
    await container([`${v}:/data`], {
      'buttervolume.pre-snapshot': 'exit 3',
      'buttervolume.pre-snapshot.on-failure': 'continue',
    });
    const answer = await group(['--consistent', v]);
    expect(answer.Snapshots).toHaveLength(1);
    expect(answer.Hooks[0]).toMatchObject({ Ok: false });
  });

  it('a hanging hook times out, is killed, and the container is not left paused', async () => {
    const v = await volume(`h13h-${tag}`);
    const id = await container([`${v}:/data`], {
      'buttervolume.pre-snapshot': 'sleep 1000',
      'buttervolume.hook-timeout': '1',
    });
    const result = await stack.cli(['snapshot', '--consistent', v]);
    expect(result.exitCode).toBe(1);
    expect(result.stderr).toMatch(/pre-snapshot hook timed out/);
    expect(await state(id)).toBe('running');
    expect(await stack.dockerOk(['exec', id, 'ps', '-o', 'args'])).not.toContain('sleep 1000');
    expect(await stack.cliOk(['snapshots', v])).toBe('');
  });

  it('hostile label values cannot reach the host', async () => {
    const v = await volume(`h13x-${tag}`);
    const hostFile = `/tmp/h13-pwned-${tag}`;
    const id = await container([`${v}:/data`], {
      // Runs, but inside the container: the host's /tmp is not the container's.
      'buttervolume.pre-snapshot': `touch ${hostFile}; $(touch ${hostFile}-2)`,
      'buttervolume.post-snapshot': `["touch", "${hostFile}-3", "$(touch ${hostFile}-4)"]`,
    });
    const answer = await group(['--consistent', v]);
    expect(answer.Snapshots).toHaveLength(1);
    for (const suffix of ['', '-2', '-3', '-4'])
      expect(existsSync(`${hostFile}${suffix}`)).toBe(false);
    expect(await stack.dockerOk(['exec', id, 'ls', '/tmp'])).toContain(`h13-pwned-${tag}-3`);

    // An unusable label is refused with its name; nothing is paused or snapshotted.
    const bad = await volume(`h13y-${tag}`);
    const badId = await container([`${bad}:/data`], {
      'buttervolume.pre-snapshot': '["sh", 1]',
      'buttervolume.hook-timeout': '$(reboot)',
    });
    const refused = await stack.cli(['snapshot', '--consistent', bad]);
    expect(refused.exitCode).toBe(1);
    expect(refused.stderr).toContain('label buttervolume.');
    expect(await stack.cliOk(['snapshots', bad])).toBe('');
    expect(await state(badId)).toBe('running');
  });
});

describe('compose projects and sets', () => {
  it('snapshots a project at one instant and restores the whole set', async () => {
    const project = `h13p${tag}`;
    const db = await volume(`h13db-${tag}`);
    const files = await volume(`h13fs-${tag}`);
    const label = { 'com.docker.compose.project': project };
    const c1 = await container([`${db}:/data`], label, 'echo one > /data/f; sleep 3600');
    const c2 = await container([`${files}:/data`], label, 'echo two > /data/f; sleep 3600');
    const answer = await group(['--project', project]);
    expect(answer.Snapshots.sort()).toEqual([
      `${db}@${answer.Timestamp}`,
      `${files}@${answer.Timestamp}`,
    ]);
    expect(answer.Paused).toHaveLength(2);

    const project_view = JSON.parse(
      await stack.cliOk(['snapshot', '--json', '--project', project, '--no-pause', '--no-hooks']),
    );
    expect(project_view.Paused).toEqual([]);

    await stack.dockerOk(['rm', '-f', c1, c2]);
    await stack.dockerOk(stack.runArgs(db, 'echo changed > /data/f'));
    await stack.dockerOk(stack.runArgs(files, 'echo changed > /data/f'));
    const restored = await stack.cliOk(['restore', '--set', answer.Snapshots[0] as string]);
    expect(restored.split('\n')).toHaveLength(2);
    expect(await readFile(join(stack.volumesPath, db, 'f'), 'utf8')).toBe('one\n');
    expect(await readFile(join(stack.volumesPath, files, 'f'), 'utf8')).toBe('two\n');
  });
});

describe('the daemon killed between pause and unpause', () => {
  it('unpauses the container at its next start', async () => {
    const v = await volume(`h13k-${tag}`);
    // Counts without a break: a frozen container's counter stands still, whatever Docker says
    // (a cgroup freezer used directly leaves Docker's state at running).
    const id = await container(
      [`${v}:/data`],
      {},
      'i=0; while true; do i=$((i+1)); echo $i > /data/c.tmp; mv /data/c.tmp /data/c; usleep 2000; done',
    );
    const counter = async () =>
      Number(await readFile(join(stack.volumesPath, v, 'c'), 'utf8').catch(() => '0'));
    const advancing = async () => {
      const before = await counter();
      await new Promise((r) => setTimeout(r, 500));
      return (await counter()) > before;
    };
    for (let i = 0; i < 100 && (await counter()) === 0; i++) {
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(await advancing()).toBe(true);
    stack.daemonEnv.BUTTERVOLUME_TEST_CRASH_AFTER = 'group-paused';
    try {
      await stack.restartDaemon('SIGTERM');
      const result = await stack.cli(['snapshot', '--consistent', v]);
      expect(result.exitCode).toBe(1);
      expect(await advancing(), 'left frozen by the killed daemon').toBe(false);
    } finally {
      delete stack.daemonEnv.BUTTERVOLUME_TEST_CRASH_AFTER;
    }
    await stack.restartDaemon('SIGKILL');
    expect(await advancing(), 'running again after the restart').toBe(true);
    expect(await state(id)).toBe('running');
    expect(existsSync(join(stack.runPath, 'buttervolume', 'paused.json'))).toBe(false);
    expect(await stack.daemon.logs()).toMatch(/thawed|unpaused/);
  });
});

describe('without Docker', () => {
  it('group snapshots answer a clear error; plain snapshots work as before', async () => {
    const v = await volume(`h13n-${tag}`);
    const previous = stack.daemonEnv.BUTTERVOLUME_DOCKER_SOCKET as string;
    stack.daemonEnv.BUTTERVOLUME_DOCKER_SOCKET = join(stack.runPath, 'no-docker.sock');
    try {
      await stack.restartDaemon('SIGTERM');
      const refused = await stack.cli(['snapshot', v, v.replace('h13n', 'h13m')]);
      expect(refused.exitCode).toBe(1);
      expect(refused.stderr).toMatch(
        /Docker does not answer on .*no-docker\.sock.*BUTTERVOLUME_DOCKER_SOCKET/,
      );
      expect(await stack.cliOk(['snapshot', v])).toMatch(new RegExp(`^${v}@`));
    } finally {
      stack.daemonEnv.BUTTERVOLUME_DOCKER_SOCKET = previous;
      await stack.restartDaemon('SIGTERM');
    }
  });
});
