import { existsSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { loadConfig } from '@buttervolume/config';
import {
  createHostB,
  createLoopBtrfs,
  type HostB,
  requireRealEnvironment,
} from '@buttervolume/test-utils';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { answers, CLI_BIN, type Stack, startStack } from '../src/index.js';
import { codeBlocks, type ReadmeCommand, readmeCommands } from '../src/readme.js';
import {
  composeFileFor,
  containerName,
  describeCommand,
  dockerArgs,
  newestSnapshot,
  ON_BACKUP1,
  README_VOLUMES,
  SNAPSHOT_PLACEHOLDER,
  withSnapshot,
} from '../src/readme-runner.js';

requireRealEnvironment([
  'dockerd',
  'containerd',
  'btrfs',
  'busybox',
  'docker-compose',
  'ssh',
  'sshd',
  'rsync',
  'ip',
  'nsenter',
  'systemd-analyze',
  'findmnt',
]);

// Issue 6: every command a reader can copy from README.md's ```sh blocks is either run here,
// for real, against a real daemon on a loop btrfs, a private dockerd and host B (a second
// host in a network namespace, reached as `backup1`), or listed below with the test or script
// that exercises it. A README command that is neither fails the first test.

const REPO = fileURLToPath(new URL('../../', import.meta.url));
const README = readFileSync(join(REPO, 'README.md'), 'utf8');
const COMMANDS = readmeCommands(README);
const PATH = process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin';

interface Elsewhere {
  command: RegExp;
  /** The test or script that exercises it, and why it is not run here. */
  by: string;
  /** Files (from the repository root) that must say so: each must match its pattern. */
  evidence: Array<[file: string, pattern: RegExp]>;
}

const SWARM_TEST = 'e2e/test/swarm.test.ts';
const NO_SYSTEMD =
  'systemd does not run in CI; the units are checked instead: deploy/systemd/buttervolume.service by "the systemd unit passes systemd-analyze verify" (this file), the mount unit by packages/storage/src/units.test.ts';
const UNITS: Elsewhere['evidence'] = [
  ['deploy/systemd/buttervolume.service', /^ExecStart=\/usr\/local\/bin\/buttervolume run$/m],
  ['packages/storage/src/units.test.ts', /renderMountUnit/],
];
const MANAGED_PLUGIN =
  'e2e/test/managed-plugin.test.ts (builds and creates the plugin, sets, enables it and creates a volume with it, in a private dockerd)';
const MANAGED_PLUGIN_TEST = 'e2e/test/managed-plugin.test.ts';

const GROUPS_TEST = 'e2e/test/groups.test.ts';
const GROUPS =
  'e2e/test/groups.test.ts (group snapshots need containers with hooks and a compose project; it runs these against its own volumes and labelled containers)';

const ELSEWHERE: Elsewhere[] = [
  {
    command: /^buttervolume snapshot pgdata uploads$/,
    by: GROUPS,
    evidence: [[GROUPS_TEST, /group\(\['--no-hooks', va, vb\]\)/]],
  },
  {
    command: /^buttervolume snapshot --project shop$/,
    by: GROUPS,
    evidence: [[GROUPS_TEST, /group\(\['--project', project\]\)/]],
  },
  {
    command: /^buttervolume restore --set pgdata@2026-11-24T19:13:40\.123456$/,
    by: GROUPS,
    evidence: [[GROUPS_TEST, /'restore', '--set'/]],
  },
  {
    command: /^pnpm install --frozen-lockfile$/,
    by: '.ci/run (before `pnpm test`)',
    evidence: [['.ci/run', /^pnpm install --frozen-lockfile$/m]],
  },
  {
    command: /^pnpm test$/,
    by: '.ci/run: it is the test command that runs this test',
    evidence: [['.ci/run', /^pnpm test( |$)/m]],
  },
  {
    command: /^pnpm (build|test:unit|bench)$/,
    by: 'root package.json scripts (checked by "the pnpm scripts the README names exist"); `pnpm test` in .ci/run builds and runs every test',
    evidence: [['package.json', /"test": "turbo run build typecheck/]],
  },
  {
    command: /^buttervolume run$/,
    by: 'startStack() in this file (e2e/src/daemon-process.ts spawns `buttervolume run`) and the setup.sh test here, which stops it with SIGTERM',
    evidence: [
      ['e2e/src/daemon-process.ts', /\[bin, 'run'\]/],
      ['scripts/setup.sh', /exec "\$BIN_DIR\/buttervolume" run/],
    ],
  },
  {
    command:
      /^systemctl (daemon-reload|enable --now buttervolume|restart buttervolume|stop buttervolume|status buttervolume|status var-lib-buttervolume\.mount)$/,
    by: NO_SYSTEMD,
    evidence: UNITS,
  },
  { command: /^journalctl -u buttervolume( -f| -n 50)$/, by: NO_SYSTEMD, evidence: UNITS },
  {
    command: /^echo 'SSH_PORT=2222' >> \/etc\/default\/buttervolume$/,
    by: 'the unit reads /etc/default/buttervolume (checked by the systemd unit test here); SSH_PORT from the environment: packages/config/src/config.test.ts',
    evidence: [
      ['deploy/systemd/buttervolume.service', /^EnvironmentFile=-\/etc\/default\/buttervolume$/m],
      ['packages/config/src/config.test.ts', /SSH_PORT/],
    ],
  },
  {
    command: /^ssh-keygen -t ed25519 -N '' -f \/root\/\.ssh\/id_ed25519$/,
    by: 'createHostB (packages/test-utils/src/netns-host.ts) makes the same kind of key, used by the send and sync commands run here',
    evidence: [
      [
        'packages/test-utils/src/netns-host.ts',
        /'ssh-keygen', \[\s*'-q',\s*'-t',\s*'ed25519',\s*'-N',\s*''/,
      ],
    ],
  },
  {
    command: /^ssh-copy-id root@backup1$/,
    by: 'needs a password login; createHostB (packages/test-utils/src/netns-host.ts) installs the key in authorized_keys instead',
    evidence: [['packages/test-utils/src/netns-host.ts', /AuthorizedKeysFile/]],
  },
  {
    command:
      /^node deploy\/managed-plugin\/build\.mjs --out \/tmp\/bv-plugin --create anybox\/buttervolume:latest$/,
    by: MANAGED_PLUGIN,
    evidence: [[MANAGED_PLUGIN_TEST, /\[MANAGED_PLUGIN_BUILDER, '--out', out, '--create', plugin/]],
  },
  {
    command:
      /^mkdir -p \/var\/lib\/buttervolume\/volumes \/var\/lib\/buttervolume\/snapshots \/var\/lib\/buttervolume\/config \/var\/lib\/buttervolume\/ssh$/,
    by: MANAGED_PLUGIN,
    evidence: [[MANAGED_PLUGIN_TEST, /\['volumes', 'snapshots', 'config', 'ssh'\]/]],
  },
  {
    command: /^docker plugin enable anybox\/buttervolume:latest$/,
    by: MANAGED_PLUGIN,
    evidence: [[MANAGED_PLUGIN_TEST, /\['plugin', 'enable', plugin\]/]],
  },
  {
    command: /^docker volume create -d anybox\/buttervolume:latest pgdata$/,
    by: MANAGED_PLUGIN,
    evidence: [[MANAGED_PLUGIN_TEST, /\['volume', 'create', '-d', plugin/]],
  },
  {
    command: /^buttervolume snapshots --socket \/run\/docker\/plugins\/\$\(docker plugin inspect/,
    by: `${MANAGED_PLUGIN}; the CLI through the plugin's socket is not exercised there yet`,
    evidence: [[MANAGED_PLUGIN_TEST, /'plugin', 'inspect'/]],
  },
  {
    command: /^ssh-copy-id root@node2$/,
    by: `${SWARM_TEST}: needs a password login; createSwarm (packages/test-utils/src/swarm.ts) installs one key in every node's authorized_keys instead`,
    evidence: [['packages/test-utils/src/netns-host.ts', /AuthorizedKeysFile/]],
  },
  {
    command: /^ssh root@node2 buttervolume replica pgdata$/,
    by: `${SWARM_TEST}: runs the CLI a peer runs over ssh (PEER_COMMAND) on each node`,
    evidence: [[SWARM_TEST, /\['replica', '--json', '--', volume\]/]],
  },
  {
    command:
      /^docker volume create -d btrfs -o replicas=node1,node2,node3 -o failover=refuse pgdata$/,
    by: `${SWARM_TEST}: nodes named n1..n3 there; the same options through docker volume create (bad input) and the service's volume-opt`,
    evidence: [[SWARM_TEST, /volume-opt=replicas=n1,n2,n3/]],
  },
  {
    command: /^buttervolume replica (--add node4 --remove node3|--set node1,node2,node4) pgdata$/,
    by: `${SWARM_TEST}: "changes a replica set only explicitly, on the owner…" runs --add with --remove, --set, and the refusals on n1..n3`,
    evidence: [[SWARM_TEST, /\['replica', '--json', '--add', 'n3', '--remove', 'n2', volume\]/]],
  },
  {
    command: /^docker stack deploy -c stack\.yml app$/,
    by: `${SWARM_TEST}: "deploys the README's stack file…" deploys the yaml block under "A stack file" from this README (nodes n1..n3 there, a busybox stand-in tagged postgres:16)`,
    evidence: [
      [SWARM_TEST, /\['stack', 'deploy', '--resolve-image', 'never', '-c', stack, 'app'\]/],
    ],
  },
];

type Runner = (command: ReadmeCommand, argv: string[]) => Promise<void>;

function elsewhere(command: ReadmeCommand): Elsewhere | undefined {
  return ELSEWHERE.find((entry) => entry.command.test(command.text));
}

/** The runner for a README command, or undefined when this file cannot run it. */
function runnerFor(command: ReadmeCommand): Runner | undefined {
  const argv = command.argv;
  if (argv === undefined) return undefined;
  const [tool, first, second] = argv;
  if (tool === 'buttervolume' && first !== 'run') return runButtervolume;
  if (tool === 'docker' && ['run', 'stop', 'start'].includes(first ?? '')) return runDocker;
  if (tool === 'docker' && first === 'volume' && ['create', 'inspect', 'rm'].includes(second ?? ''))
    return runDocker;
  if (tool === 'docker-compose') return runCompose;
  if (tool === 'ssh' && argv[1] === 'root@backup1') return runSsh;
  if (tool === 'bash' && first === 'scripts/setup.sh' && argv.length === 2) return runSetupScript;
  if (tool === 'bash' && first === 'scripts/install-deps.sh' && second === '--test')
    return runInstallDeps;
  if (tool === 'findmnt' && first === '/var/lib/buttervolume' && argv.length === 2)
    return runFindmnt;
  if (tool === 'install' && argv.at(-1) === '/etc/systemd/system/buttervolume.service')
    return runInstallUnit;
  return undefined;
}

let stack: Stack;
let hostB: HostB;
let backup1Env: Record<string, string>;
let scratch: string;
const counts = { run: 0, elsewhere: 0 };

beforeAll(async () => {
  scratch = await mkdtemp(join(tmpdir(), 'bv-readme-'));
  stack = await startStack();
  hostB = await createHostB({ paths: [stack.fs.mountPoint], sizeMiB: 300 });
  await hostB.exec(['mkdir', '--', stack.volumesPath, stack.snapshotsPath]);
  // B's address and port are known only now, after the stack made the paths B mounts on: the
  // daemon is restarted with them. `backup1` (and `backup2`) reach B through HostName.
  Object.assign(stack.daemonEnv, {
    SSH_PORT: String(hostB.sshPort),
    BUTTERVOLUME_SSH_IDENTITY_FILE: hostB.identityFile,
    BUTTERVOLUME_SSH_KNOWN_HOSTS_FILE: hostB.knownHostsFile,
    BUTTERVOLUME_SSH_STRICT_HOST_KEY_CHECKING: 'yes',
    BUTTERVOLUME_SSH_OPTIONS: `HostName=${hostB.address}`,
    // The README schedules jobs; they must not run in the middle of the commands that follow.
    BUTTERVOLUME_TIMER: '3600',
  });
  await stack.restartDaemon('SIGTERM');

  // backup1's own daemon, inside B (B's btrfs at the same paths), its socket on a folder both
  // hosts see.
  const runB = join(stack.fs.dir, 'backup1-run');
  await mkdir(runB);
  backup1Env = {
    PATH,
    BUTTERVOLUME_VOLUMES_PATH: stack.volumesPath,
    BUTTERVOLUME_SNAPSHOTS_PATH: stack.snapshotsPath,
    BUTTERVOLUME_RUNPATH: runB,
    BUTTERVOLUME_SOCKET: join(runB, 'btrfs.sock'),
    BUTTERVOLUME_SCHEDULE: join(runB, 'schedule.csv'),
    BUTTERVOLUME_CONFIG_FILE: join(runB, 'no-config.ini'),
    BUTTERVOLUME_TIMER: '3600',
  };
  const envWords = Object.entries(backup1Env).map(([key, value]) => `${key}=${value}`);
  void hostB
    .exec(['env', '-i', ...envWords, process.execPath, CLI_BIN, 'run'], { reject: false })
    .catch(() => {});
  await waitFor(() => answers(backup1Env.BUTTERVOLUME_SOCKET ?? ''), 'the daemon on backup1');
  // sync pulls backup1's `uploads`.
  await post(backup1Env.BUTTERVOLUME_SOCKET ?? '', '/VolumeDriver.Create', { Name: 'uploads' });
  await hostB.exec(['touch', '--', join(stack.volumesPath, 'uploads', 'from-backup1')]);

  // Local stand-ins for the README's images (nothing is pulled): busybox, and `postgres:16`
  // as busybox sleeping until stopped (the README's database containers only have to run and hold a volume).
  await stack.docker(['tag', stack.image, 'busybox:latest'], { reject: true });
  const standIn = `bv-readme-standin-${Date.now()}`;
  await stack.docker(['create', '--network', 'none', '--name', standIn, stack.image, 'true'], {
    reject: true,
  });
  await stack.docker(
    [
      'commit',
      '--change',
      // PID 1 ignores SIGTERM unless it traps it: `docker stop` would wait 10 s for nothing.
      `CMD ["sh", "-c", "trap 'exit 0' TERM; sleep 86400 & wait"]`,
      standIn,
      'postgres:16',
    ],
    {
      reject: true,
    },
  );
  await stack.docker(['rm', standIn], { reject: true });
});

afterAll(async () => {
  console.log(
    `README commands: ${counts.run} run for real here, ${counts.elsewhere} exercised elsewhere (allow-list), of ${COMMANDS.length}`,
  );
  try {
    await stopBackup1Daemon();
  } finally {
    try {
      await hostB?.cleanup();
    } finally {
      try {
        await stack?.cleanup();
      } finally {
        await rm(scratch, { recursive: true, force: true });
      }
    }
  }
});

describe('the README', () => {
  it('has commands, and each is run here or names the test that exercises it', () => {
    expect(COMMANDS.length).toBeGreaterThan(40);
    const neither = COMMANDS.filter((c) => !elsewhere(c) && !runnerFor(c)).map(describeCommand);
    expect(neither, 'run these README commands here or add them to ELSEWHERE').toEqual([]);
    const stale = ELSEWHERE.filter((e) => !COMMANDS.some((c) => e.command.test(c.text)));
    expect(
      stale.map((e) => String(e.command)),
      'allow-list entries no README command needs',
    ).toEqual([]);
  });

  it('refuses a command nobody exercises', () => {
    const [unknown] = readmeCommands(
      '```sh\ncurl -fsSL https://example.com/install | sh\nbuttervolume run\n```\n',
    );
    expect(unknown && (elsewhere(unknown) ?? runnerFor(unknown))).toBeUndefined();
  });

  it('the pnpm scripts the README names exist', async () => {
    const { scripts } = JSON.parse(await readFile(join(REPO, 'package.json'), 'utf8')) as {
      scripts: Record<string, string>;
    };
    for (const command of COMMANDS) {
      const script = /^pnpm ([\w:]+)$/.exec(command.text)?.[1];
      if (script !== undefined) expect(scripts, describeCommand(command)).toHaveProperty(script);
    }
  });

  it('its config.ini example is a valid configuration', async () => {
    const ini = codeBlocks(README).filter((block) => block.lang === 'ini');
    expect(ini).toHaveLength(1);
    const file = join(scratch, 'config.ini');
    await writeFile(file, ini[0]?.code ?? '');
    const config = loadConfig({ env: {}, iniPath: file });
    expect(config.iniPath).toBe(file);
    expect(config.dtFormat).toBe('%Y-%m-%dT%H:%M:%S.%f');
    expect(config.sshIdentityFile).toBe('/root/.ssh/id_ed25519');
    expect(config.sshBandwidthLimit).toBe(50 * 2 ** 20);
  });

  it('the systemd unit passes systemd-analyze verify and reads /etc/default/buttervolume', async () => {
    const unit = await readFile(join(REPO, 'deploy/systemd/buttervolume.service'), 'utf8');
    expect(unit).toMatch(/^EnvironmentFile=-\/etc\/default\/buttervolume$/m);
    expect(unit).toMatch(/^ExecStart=\/usr\/local\/bin\/buttervolume run$/m);
    // The same unit, its ExecStart pointing at the built CLI (nothing installed in /usr/local).
    const dir = join(scratch, 'unit');
    await mkdir(dir);
    const copy = join(dir, 'buttervolume.service');
    await writeFile(copy, unit.replace('/usr/local/bin/buttervolume', CLI_BIN));
    const result = await execa('systemd-analyze', ['verify', '--', copy], {
      reject: false,
      all: true,
    });
    expect(result.all, 'systemd-analyze verify').toBe('');
    expect(result.exitCode).toBe(0);
  });
});

describe('each README command, in README order', () => {
  for (const command of COMMANDS) {
    const other = elsewhere(command);
    if (other) {
      counts.elsewhere++;
      it(`${describeCommand(command)} — exercised by ${other.by}`, async () => {
        for (const [file, pattern] of other.evidence) {
          const text = await readFile(join(REPO, file), 'utf8').catch(() => '');
          expect(text, `${file} no longer matches ${pattern}`).toMatch(pattern);
        }
      });
      continue;
    }
    const runner = runnerFor(command);
    if (!runner || command.argv === undefined) continue; // reported by the first test
    counts.run++;
    const argv = command.argv;
    it(`${describeCommand(command)} — run here`, async () => {
      await runner(command, argv);
    });
  }
});

// --- Running commands -------------------------------------------------------------------

interface Result {
  stdout: string;
  stderr: string;
  exitCode: number;
}

async function expectSuccess(
  command: ReadmeCommand,
  ran: string[],
  result: Result,
): Promise<Result> {
  if (result.exitCode !== 0) {
    throw new Error(
      `${describeCommand(command)}\nran: ${JSON.stringify(ran)}\nexit ${result.exitCode}\nstdout: ${result.stdout}\nstderr: ${result.stderr}\n${await stack.diagnostics()}`,
    );
  }
  return result;
}

async function exec(
  file: string,
  args: readonly string[],
  env: Record<string, string>,
  cwd?: string,
): Promise<Result> {
  const result = await execa(file, args, {
    env: { PATH, ...env },
    extendEnv: false,
    reject: false,
    stdin: 'ignore',
    ...(cwd === undefined ? {} : { cwd }),
  });
  return {
    stdout: String(result.stdout),
    stderr: String(result.stderr),
    exitCode: result.exitCode ?? -1,
  };
}

const docker = (args: readonly string[]) => stack.docker(args);

async function runButtervolume(command: ReadmeCommand, argv: string[]): Promise<void> {
  const onBackup1 = ON_BACKUP1.has(command.text);
  if (!onBackup1) await prepareLocal(argv);
  const snapshot = argv.some((arg) => arg.includes(SNAPSHOT_PLACEHOLDER))
    ? await snapshotOf('pgdata', onBackup1)
    : undefined;
  const args = snapshot === undefined ? argv.slice(1) : withSnapshot(argv, snapshot).slice(1);
  const env = onBackup1 ? backup1Env : stack.daemonEnv;
  const result = await exec(process.execPath, [CLI_BIN, ...args], env);
  if (args[0] === 'check') {
    // A monitoring check's exit code is its verdict (0 OK, 1 WARNING, 2 CRITICAL); 3 would
    // mean it could not judge.
    expect([0, 1, 2], result.stdout + result.stderr).toContain(result.exitCode);
    expect(result.stdout).toMatch(/^BUTTERVOLUME (OK|WARNING|CRITICAL) - .* \| volumes=\d+ /);
    return;
  }
  await expectSuccess(command, ['buttervolume', ...args], result);
  await checkOutcome(argv, args, result);
}

/** What the README says a few commands do, beyond exiting 0. */
async function checkOutcome(argv: string[], args: string[], result: Result): Promise<void> {
  const [sub, ...rest] = args;
  if (sub === 'snapshot') expect(result.stdout.trim()).toMatch(new RegExp(`^${rest[0]}@\\d{4}-`));
  if (sub === 'status' && rest.length === 0) {
    expect(result.stdout).toMatch(/^pgdata (OK|WARN|CRIT) /m);
  }
  if (sub === 'send') {
    const snapshot = rest.at(-1) ?? '';
    expect(
      (
        await hostB.exec(
          ['btrfs', 'subvolume', 'show', '--', join(stack.snapshotsPath, snapshot)],
          { reject: false },
        )
      ).exitCode,
    ).toBe(0);
    await expectLastSend(snapshot.split('@')[0] ?? '', rest.filter((a) => !a.startsWith('-'))[0]);
  }
  if (sub === 'sync') {
    await stat(join(stack.volumesPath, rest.find((a) => !a.startsWith('-')) ?? '', 'from-backup1'));
  }
  if (sub === 'scheduled' && (rest.length === 0 || rest[0] === '--long')) {
    expect(result.stdout.trim()).not.toBe('');
  }
  if (sub === 'clone') {
    const target = rest.at(-1) ?? '';
    expect(argv.length).toBeGreaterThan(2);
    if (!ON_BACKUP1.has(argv.join(' '))) await stat(join(stack.volumesPath, target));
    else
      expect(
        (await hostB.exec(['test', '-d', join(stack.volumesPath, target)], { reject: false }))
          .exitCode,
      ).toBe(0);
  }
}

/**
 * `docker volume inspect` through the real dockerd shows the send just made under
 * Status.LastSend (Get answers from facts at most a second old: asked again until then).
 */
async function expectLastSend(volume: string, host: string | undefined): Promise<void> {
  const sentAfter = Date.now() - 120_000;
  let status: { LastSend?: Record<string, string> } = {};
  for (let attempt = 0; attempt < 20; attempt++) {
    const inspect = await docker(['volume', 'inspect', '--format', '{{json .Status}}', volume]);
    status = JSON.parse(inspect.stdout) as typeof status;
    if (Date.parse(status.LastSend?.[host ?? ''] ?? '') > sentAfter) return;
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  expect(status.LastSend, `LastSend of ${volume} for ${host}`).toHaveProperty([host ?? '']);
  expect(Date.parse(status.LastSend?.[host ?? ''] ?? '')).toBeGreaterThan(sentAfter);
}

/** The newest snapshot of `volume` on that host; one is taken when there is none. */
async function snapshotOf(volume: string, onBackup1: boolean): Promise<string> {
  const entries = onBackup1
    ? (await hostB.exec(['ls', '-1', '--', stack.snapshotsPath])).stdout.split('\n')
    : await readdir(stack.snapshotsPath);
  const found = newestSnapshot(entries, volume);
  if (found !== undefined) return found;
  if (onBackup1)
    throw new Error(`backup1 holds no snapshot of ${volume}: the README sends one first`);
  const taken = await exec(process.execPath, [CLI_BIN, 'snapshot', volume], stack.daemonEnv);
  if (taken.exitCode !== 0) throw new Error(`snapshot ${volume}: ${taken.stderr}`);
  return taken.stdout.trim();
}

/**
 * The state a README command assumes, made true: its volumes exist, a restore or clone target
 * is not in use, a clone target does not exist yet, a named container can be created again.
 */
async function prepareLocal(argv: string[]): Promise<void> {
  const [tool, sub] = argv;
  const creates =
    tool === 'docker' &&
    (argv.includes('create') || argv.includes('rm') || argv.includes('--mount'));
  if (!creates) await ensureVolumes();
  if (tool === 'buttervolume' && sub === 'restore') {
    const target = argv[3] ?? (argv[2] ?? '').split('@')[0] ?? '';
    await stopContainersUsing(target);
  }
  if (tool === 'buttervolume' && sub === 'clone') await removeVolume(argv[3] ?? '');
  if (tool === 'docker' && sub === 'run') {
    const name = containerName(argv);
    if (name !== undefined) await docker(['rm', '--force', name]);
  }
}

async function ensureVolumes(): Promise<void> {
  for (const volume of README_VOLUMES) {
    if (existsSync(join(stack.volumesPath, volume))) continue;
    const result = await docker(['volume', 'create', '-d', stack.driver, volume]);
    if (result.exitCode !== 0) throw new Error(`cannot create ${volume}: ${result.stderr}`);
  }
}

async function stopContainersUsing(volume: string): Promise<void> {
  const ids = (await docker(['ps', '-q', '--filter', `volume=${volume}`])).stdout
    .split('\n')
    .filter(Boolean);
  if (ids.length > 0) await stack.docker(['stop', ...ids], { reject: true });
}

async function removeVolume(volume: string): Promise<void> {
  if (!existsSync(join(stack.volumesPath, volume))) return;
  const ids = (await docker(['ps', '-aq', '--filter', `volume=${volume}`])).stdout
    .split('\n')
    .filter(Boolean);
  if (ids.length > 0) await stack.docker(['rm', '--force', ...ids], { reject: true });
  await stack.docker(['volume', 'rm', volume], { reject: true });
}

async function runDocker(command: ReadmeCommand, argv: string[]): Promise<void> {
  await prepareLocal(argv);
  const args = dockerArgs(argv, stack.driver);
  const result = await expectSuccess(command, ['docker', ...args], await docker(args));
  if (args[0] === 'volume' && args[1] === 'inspect') {
    const status = JSON.parse(result.stdout) as Record<string, unknown>;
    expect(status).toMatchObject({ CopyOnWrite: false, QuotaBytes: 20 * 2 ** 30 });
    // The health in short, through the real dockerd.
    expect(status.Health).toMatch(/^(OK|WARN|CRIT)$/);
    expect(typeof status.HealthReason).toBe('string');
  }
  if (args[0] === 'volume' && args[1] === 'create') {
    await stat(join(stack.volumesPath, args.at(-1) ?? ''));
  }
}

let composeDir: string | undefined;

async function runCompose(command: ReadmeCommand, argv: string[]): Promise<void> {
  await prepareLocal(argv);
  if (composeDir === undefined) {
    // The swarm stack file is deployed by no compose here (see the swarm entries of ELSEWHERE).
    const yaml = codeBlocks(README).filter(
      (b) => b.lang === 'yaml' && b.code.includes('services:') && b.heading !== 'A stack file',
    );
    expect(yaml, 'one compose file in the README').toHaveLength(1);
    composeDir = join(scratch, 'compose');
    await mkdir(composeDir);
    await writeFile(
      join(composeDir, 'docker-compose.yml'),
      composeFileFor(yaml[0]?.code ?? '', stack.driver),
    );
  }
  const env = { DOCKER_HOST: stack.dockerd.host, DOCKER_CONFIG: join(stack.dockerd.dir, 'cli') };
  const result = await exec('docker-compose', argv.slice(1), env, composeDir);
  await expectSuccess(command, argv, result);
  if (argv[1] === 'ps') expect(result.stdout).toMatch(/_db_1\s.*\bUp\b/);
}

async function runSsh(command: ReadmeCommand, argv: string[]): Promise<void> {
  const args = [...hostB.sshOptions, '-o', `HostName=${hostB.address}`, ...argv.slice(1)];
  const result = await exec('ssh', args, {});
  await expectSuccess(command, ['ssh', ...args], result);
  expect(result.stdout).toMatch(/^btrfs-progs v/);
}

async function runFindmnt(command: ReadmeCommand, argv: string[]): Promise<void> {
  const args = [stack.fs.mountPoint, ...argv.slice(2)];
  const result = await expectSuccess(
    command,
    ['findmnt', ...args],
    await exec('findmnt', args, {}),
  );
  expect(result.stdout).toContain('btrfs');
}

async function runInstallUnit(command: ReadmeCommand, argv: string[]): Promise<void> {
  const unitDir = join(scratch, 'systemd-system');
  await mkdir(unitDir, { recursive: true });
  const args = argv.slice(1).map((arg) => arg.replace('/etc/systemd/system', unitDir));
  await expectSuccess(command, ['install', ...args], await exec('install', args, {}, REPO));
  const installed = join(unitDir, 'buttervolume.service');
  expect(await readFile(installed, 'utf8')).toBe(
    await readFile(join(REPO, 'deploy/systemd/buttervolume.service'), 'utf8'),
  );
  expect((await stat(installed)).mode & 0o777).toBe(0o644);
}

async function runInstallDeps(command: ReadmeCommand, argv: string[]): Promise<void> {
  // .ci/run ran it already: here it must find everything in place, twice, and do nothing.
  for (let run = 0; run < 2; run++) {
    const result = await execa('bash', argv.slice(1), { cwd: REPO, reject: false, all: true });
    if (result.exitCode !== 0)
      throw new Error(`${describeCommand(command)} exited ${result.exitCode}: ${result.all}`);
    expect(String(result.all), `${command.text}, run ${run + 1}`).toBe('');
  }
}

let setupRun: Promise<void> | undefined;

function runSetupScript(): Promise<void> {
  setupRun ??= setupInSandbox();
  return setupRun;
}

/**
 * `bash scripts/setup.sh` on this machine, touching nothing of it: the command and units go
 * to temp folders, the storage is on a fresh loop btrfs (so `init` only makes folders), the
 * build is skipped (this checkout is built, and `pnpm install` would disturb other tests) and
 * the daemon runs in the foreground. It must answer on its socket and stop cleanly on SIGTERM.
 */
async function setupInSandbox(): Promise<void> {
  const fs = await createLoopBtrfs({ sizeMiB: 200 });
  let kill: (() => Promise<unknown>) | undefined;
  try {
    const root = join(fs.mountPoint, 'buttervolume');
    const bin = join(fs.dir, 'bin');
    const etc = join(fs.dir, 'etc');
    const socket = join(fs.dir, 'run', 'plugins', 'btrfs.sock');
    const env = {
      PATH,
      SKIP_BUILD: '1',
      FOREGROUND: '1',
      BIN_DIR: bin,
      UNIT_DIR: join(fs.dir, 'units'),
      IMAGE_SIZE: '1G',
      BUTTERVOLUME_VOLUMES_PATH: join(root, 'volumes'),
      BUTTERVOLUME_SNAPSHOTS_PATH: join(root, 'snapshots'),
      BUTTERVOLUME_RUNPATH: join(fs.dir, 'run'),
      BUTTERVOLUME_SOCKET: socket,
      BUTTERVOLUME_SCHEDULE: join(etc, 'schedule.csv'),
      BUTTERVOLUME_CONFIG_FILE: join(etc, 'config.ini'),
    };
    const started = execa('bash', ['scripts/setup.sh'], {
      cwd: REPO,
      env,
      extendEnv: false,
      reject: false,
      stdin: 'ignore',
      all: true,
    });
    kill = async () => {
      started.kill('SIGKILL');
      return started;
    };
    let exited = false;
    void started.then(() => {
      exited = true;
    });
    const deadline = Date.now() + 60_000;
    while (!(await answers(socket))) {
      if (exited || Date.now() > deadline) {
        started.kill('SIGKILL');
        throw new Error(`setup.sh did not start the daemon: ${String((await started).all)}`);
      }
      await sleep(100);
    }
    // The command it installed talks to the daemon it started.
    const wrapper = join(bin, 'buttervolume');
    expect((await stat(wrapper)).mode & 0o111).not.toBe(0);
    const snapshots = await exec(wrapper, ['snapshots'], env);
    expect(snapshots.exitCode, snapshots.stderr).toBe(0);
    await stat(join(root, 'volumes'));
    await stat(join(root, 'snapshots'));
    expect(existsSync(join(fs.dir, 'units'))).toBe(false);

    started.kill('SIGTERM');
    const result = await started;
    expect(result.exitCode, String(result.all)).toBe(0);
    expect(existsSync(socket)).toBe(false);
  } finally {
    await kill?.();
    await fs.cleanup();
  }
}

// --- backup1's daemon -------------------------------------------------------------------

async function stopBackup1Daemon(): Promise<void> {
  if (!hostB) return;
  const { stdout } = await execa('ip', ['netns', 'pids', hostB.netns], { reject: false });
  for (const pid of String(stdout)
    .split('\n')
    .map(Number)
    .filter((n) => n > 0)) {
    const cmdline = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
    if (!cmdline.split('\0').includes(CLI_BIN)) continue;
    process.kill(pid, 'SIGTERM');
    for (let i = 0; i < 100 && existsSync(`/proc/${pid}`); i++) await sleep(50);
  }
}

async function waitFor(check: () => Promise<boolean>, what: string): Promise<void> {
  const deadline = Date.now() + 20_000;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`${what} did not come up`);
    await sleep(50);
  }
}

function post(socketPath: string, path: string, body: unknown): Promise<void> {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath, path, method: 'POST' }, (res) => {
      let text = '';
      res.on('data', (chunk: Buffer) => {
        text += chunk.toString();
      });
      res.on('end', () => {
        const answer = JSON.parse(text) as { Err?: string };
        if (answer.Err) reject(new Error(`${path}: ${answer.Err}`));
        else resolve();
      });
    });
    req.on('error', reject);
    req.end(JSON.stringify(body));
  });
}
