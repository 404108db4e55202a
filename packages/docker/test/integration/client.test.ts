import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { type Dockerd, requireRealEnvironment, startDockerd } from '@buttervolume/test-utils';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DockerClient, DockerError } from '../../src/index.js';

requireRealEnvironment(['dockerd', 'containerd']);

let dockerd: Dockerd;
let client: DockerClient;
let image: string;
const tag = randomBytes(3).toString('hex');
const volume = `h13dk-${tag}`;
let worker: string;

beforeAll(async () => {
  dockerd = await startDockerd();
  client = new DockerClient({ socketPath: dockerd.socketPath });
  image = await dockerd.importBusybox();
  await dockerd.docker(['volume', 'create', volume], { reject: true });
  const run = await dockerd.docker(
    [
      'run',
      '-d',
      '--name',
      `worker-${tag}`,
      '--label',
      'com.docker.compose.project=proj',
      '--label',
      'buttervolume.pre-snapshot=echo hi',
      '-v',
      `${volume}:/data`,
      // A bind-style mount whose destination is named like the volume must not count.
      '--tmpfs',
      `/${volume}`,
      image,
      'sleep',
      '600',
    ],
    { reject: true },
  );
  worker = run.stdout.trim();
  // A stopped container mounting the volume still counts; one mounting another does not.
  await dockerd.docker(['create', '--name', `idle-${tag}`, '-v', `${volume}:/d`, image], {
    reject: true,
  });
  await dockerd.docker(['create', '--name', `other-${tag}`, '-v', 'otherv:/d', image], {
    reject: true,
  });
});

afterAll(async () => {
  await client?.close();
  await dockerd?.stop();
});

describe('DockerClient against a private dockerd', () => {
  it('lists the containers that mount a volume, stopped ones included', async () => {
    const users = await client.containersUsingVolume(volume);
    expect(users.map((c) => c.name).sort()).toEqual([`idle-${tag}`, `worker-${tag}`]);
    const running = users.find((c) => c.name === `worker-${tag}`);
    expect(running?.id).toBe(worker);
    expect(running?.state).toBe('running');
    expect(running?.labels['buttervolume.pre-snapshot']).toBe('echo hi');
    expect(running?.volumes).toEqual([volume]);
    expect(await client.containersUsingVolume(`nobody-${tag}`)).toEqual([]);
  });

  it('lists a compose project by its label, and a volume filter cannot be injected', async () => {
    expect((await client.projectContainers('proj')).map((c) => c.id)).toEqual([worker]);
    expect(await client.projectContainers('proj","label":["x')).toEqual([]);
    expect(await client.projectContainers('other')).toEqual([]);
    expect(await client.containersUsingVolume('../x')).toEqual([]);
  });

  it('pauses and unpauses; pausing twice is a DOCKER_CONFLICT, unpausing twice an error', async () => {
    await client.pause(worker);
    try {
      expect((await client.inspectContainer(worker)).state).toBe('paused');
      await expect(client.pause(worker)).rejects.toMatchObject({ code: 'DOCKER_CONFLICT' });
    } finally {
      await client.unpause(worker);
    }
    expect((await client.inspectContainer(worker)).state).toBe('running');
    // dockerd 20.10 answers 500 here, newer ones 409: either way a DockerError saying so.
    await expect(client.unpause(worker)).rejects.toThrow(/not paused/);
  });

  it('runs argv inside the container and captures output and exit code', async () => {
    const ok = await client.exec(worker, ['sh', '-c', 'echo out; echo err >&2; exit 3'], {
      timeoutMs: 30_000,
    });
    expect(ok).toMatchObject({ exitCode: 3, stdout: 'out\n', stderr: 'err\n', timedOut: false });
    // A hostile argument is one argv entry, never a command on this host.
    const marker = `/tmp/h13-pwned-${tag}`;
    const hostile = await client.exec(worker, ['echo', `$(touch ${marker})`, '; touch', marker], {
      timeoutMs: 30_000,
    });
    expect(hostile.stdout).toBe(`$(touch ${marker}) ; touch ${marker}\n`);
    expect(existsSync(marker)).toBe(false);
  });

  it('keeps only the first bytes of a flood of output', async () => {
    const flood = await client.exec(worker, ['sh', '-c', 'yes flood | head -c 1000000'], {
      timeoutMs: 60_000,
      outputLimit: 100,
    });
    expect(flood.stdout).toBe('flood\n'.repeat(17).slice(0, 100));
    expect(flood.truncated).toBe(true);
    expect(flood.exitCode).toBe(0);
  });

  it('times out a hanging command, kills it, and the container keeps running', async () => {
    const hung = await client.exec(worker, ['sh', '-c', 'sleep 1000; echo never'], {
      timeoutMs: 500,
    });
    expect(hung).toMatchObject({ timedOut: true, exitCode: undefined });
    expect(hung.killed).toBeGreaterThan(0);
    const ps = await client.exec(worker, ['ps', '-o', 'args'], { timeoutMs: 30_000 });
    expect(ps.stdout).not.toContain('sleep 1000');
    expect((await client.inspectContainer(worker)).state).toBe('running');
  });

  it('answers DOCKER_NOT_FOUND for a missing container and DOCKER_CONFLICT for a stopped one', async () => {
    await expect(client.pause('no-such-container')).rejects.toMatchObject({
      code: 'DOCKER_NOT_FOUND',
    });
    // Docker's exec API with an argv (no shell): the stopped container cannot run it.
    const stopped = `idle-${tag}`;
    await expect(client.exec(stopped, ['true'], { timeoutMs: 5000 })).rejects.toMatchObject({
      code: 'DOCKER_CONFLICT',
    });
  });

  it('answers DOCKER_UNAVAILABLE when no Docker listens on the socket', async () => {
    const absent = new DockerClient({ socketPath: `/tmp/h13-no-docker-${tag}.sock` });
    try {
      const error = await absent.ping().catch((e: unknown) => e);
      expect(error).toBeInstanceOf(DockerError);
      expect(error).toMatchObject({ code: 'DOCKER_UNAVAILABLE' });
      expect((error as Error).message).toContain('BUTTERVOLUME_DOCKER_SOCKET');
    } finally {
      await absent.close();
    }
  });
});
