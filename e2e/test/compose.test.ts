import { randomBytes } from 'node:crypto';
import { readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { requireRealEnvironment } from '@buttervolume/test-utils';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Stack, startStack } from '../src/index.js';

requireRealEnvironment(['dockerd', 'containerd', 'btrfs', 'busybox', 'docker-compose', 'lsattr']);

// Debian's docker-compose (1.29) with a volume declared for our driver, fully offline: the
// image is the locally imported busybox and the service has no network.
let stack: Stack;
beforeAll(async () => {
  stack = await startStack();
});
afterAll(async () => {
  await stack?.cleanup();
});

function composeFile(driver: string, image: string): string {
  return `version: "3.7"
services:
  app:
    image: ${image}
    network_mode: none
    command: ["sh", "-c", "echo composed >> /data/f && cat /data/f"]
    volumes:
      - data:/data
volumes:
  data:
    driver: ${driver}
    driver_opts:
      copyonwrite: "false"
`;
}

async function compose(project: string, file: string, args: readonly string[]) {
  const result = await execa(
    'docker-compose',
    ['--project-name', project, '--file', file, ...args],
    {
      env: {
        DOCKER_HOST: stack.dockerd.host,
        DOCKER_CONFIG: join(stack.dockerd.dir, 'cli'),
        PATH: process.env.PATH ?? '/usr/bin:/bin',
      },
      extendEnv: false,
      reject: false,
    },
  );
  if (result.exitCode !== 0) {
    throw new Error(
      `docker-compose ${args.join(' ')} exited ${result.exitCode}: ${result.stderr}\n${await stack.diagnostics()}`,
    );
  }
  return String(result.stdout);
}

describe('docker-compose with the buttervolume driver', () => {
  it('creates the declared volume with its driver_opts, reuses it, and removes it on down -v', async () => {
    const project = `bve2e${randomBytes(3).toString('hex')}`;
    const file = join(stack.fs.dir, 'compose.yml');
    await writeFile(file, composeFile(stack.driver, stack.image));
    const volume = `${project}_data`;
    const path = join(stack.volumesPath, volume);

    expect(await compose(project, file, ['run', '--rm', 'app'])).toContain('composed');
    expect((await stat(path)).ino).toBe(256);
    const { stdout: attrs } = await execa('lsattr', ['-d', '--', path]);
    expect(attrs.split(/\s+/)[0]).toContain('C');

    // A second run finds the same volume (and its data) instead of making a new one.
    expect((await compose(project, file, ['run', '--rm', 'app'])).trim()).toBe(
      'composed\ncomposed',
    );
    expect(await readFile(join(path, 'f'), 'utf8')).toBe('composed\ncomposed\n');
    const inspect = await stack.docker(['volume', 'inspect', '--format', '{{.Driver}}', volume]);
    expect(inspect.stdout.trim()).toBe(stack.driver);

    await compose(project, file, ['down', '--volumes']);
    await expect(stat(path)).rejects.toMatchObject({ code: 'ENOENT' });
  });
});
