import type { ContainerSummary, ExecOptions, ExecResult } from '@buttervolume/docker';
import { ifPresent } from '@buttervolume/files';
import {
  type ProjectName,
  SnapshotName as Snapshot,
  type SnapshotName,
  VolumeName,
} from '@buttervolume/names';
import { NoSuchSnapshotError, PluginError } from '../errors.js';
import { elapsed, logged } from '../log.js';
import type { ServiceContext } from './context.js';
import { type FreezerPath, findFreezer, freeze, thaw } from './freezer.js';
import { type ContainerHooks, type HookCommand, HookLabelError, parseHookLabels } from './hooks.js';
import type { PauseJournal } from './pause-journal.js';
import type { RestoreResult, RestoreService } from './restore.js';
import type { SnapshotService } from './snapshots.js';

/** What the group snapshot needs from Docker; `DockerClient` of @buttervolume/docker has it. */
export interface DockerPort {
  readonly socketPath: string;
  ping(): Promise<void>;
  containersUsingVolume(volume: string): Promise<ContainerSummary[]>;
  projectContainers(project: string): Promise<ContainerSummary[]>;
  inspectContainer(id: string): Promise<ContainerSummary>;
  pause(id: string): Promise<void>;
  unpause(id: string): Promise<void>;
  exec(id: string, argv: readonly string[], options: ExecOptions): Promise<ExecResult>;
}

export interface GroupRequest {
  /** Volumes named explicitly; with `project`, added to the project's. */
  volumes: readonly VolumeName[];
  project?: ProjectName | undefined;
  /** Freeze the containers that mount the volumes while the snapshots are taken (default). */
  pause?: boolean | undefined;
  /** Run the containers' pre/post-snapshot hooks (default). */
  hooks?: boolean | undefined;
}

/** One hook run, as the result and the log report it (output bounded). */
export interface HookRun {
  container: string;
  phase: 'pre' | 'post';
  argv: readonly string[];
  exitCode: number | undefined;
  timedOut: boolean;
  /** How many of a timed-out hook's processes were killed. */
  killed: number;
  stdout: string;
  stderr: string;
  truncated: boolean;
  ms: number;
  ok: boolean;
  /** Set when the hook could not even start (label unusable, container gone). */
  error?: string;
}

export interface GroupResult {
  snapshots: SnapshotName[];
  /** The timestamp every snapshot of the set carries. */
  timestamp: string;
  /** Containers frozen during the snapshots (names). */
  paused: string[];
  /** From the first pause to the last unpause; undefined when nothing was paused. */
  pauseMs: number | undefined;
  /** The whole operation, hooks included. */
  totalMs: number;
  hooks: HookRun[];
}

export class GroupSnapshotError extends PluginError {
  override name = 'GroupSnapshotError';
  constructor(
    message: string,
    readonly hooks: readonly HookRun[],
    options?: { cause?: unknown },
  ) {
    super('GROUP_SNAPSHOT_FAILED', message, options);
  }
}

/** Docker is needed (hooks, pause, a project) but does not answer. */
export class DockerUnavailableError extends PluginError {
  override name = 'DockerUnavailableError';
  constructor(message: string, options?: { cause?: unknown }) {
    super('DOCKER_UNAVAILABLE', message, options);
  }
}

/** Test hook: crash tests kill the daemon while the containers are paused. */
export type GroupStep = 'paused';

interface Member {
  container: ContainerSummary;
  hooks: ContainerHooks | HookLabelError;
}

/** A container to freeze, through its cgroup freezer when reachable, else Docker's pause. */
interface PauseTarget {
  member: Member;
  freezer: FreezerPath | undefined;
}

/**
 * Snapshots of several volumes at one instant: pre-hooks in the containers, pause the
 * containers that mount the volumes, snapshot every volume with one timestamp, unpause,
 * post-hooks. Unpaused on every path; a crash in between is repaired at the next start from
 * the pause journal.
 */
export class GroupSnapshotService {
  // Two groups may share a container: pause phases run one at a time (each lasts milliseconds).
  #pausePhase: Promise<unknown> = Promise.resolve();
  /** Each compose project's volumes as Docker last named them (health lists a job under each). */
  readonly #projectVolumes = new Map<ProjectName, VolumeName[]>();

  constructor(
    private readonly ctx: ServiceContext,
    private readonly snapshots: SnapshotService,
    private readonly restores: RestoreService,
    private readonly docker: DockerPort | undefined,
    private readonly journal: PauseJournal,
    private readonly options: {
      hookTimeoutMs: number;
      hookOutputLimit?: number;
      afterStep?: ((step: GroupStep) => Promise<void> | void) | undefined;
    },
  ) {}

  /** The containers (running or not) that mount a volume. */
  async containersOf(volume: VolumeName): Promise<ContainerSummary[]> {
    return this.#docker('list the containers of a volume').containersUsingVolume(volume);
  }

  /**
   * A compose project's containers (running or stopped) and the buttervolume volumes they
   * mount. Not Docker's volume listing: that asks every volume plugin on the host, and one
   * that does not answer holds it up for tens of seconds.
   */
  async project(
    project: ProjectName,
  ): Promise<{ containers: ContainerSummary[]; volumes: VolumeName[] }> {
    const containers = await this.#docker(`list compose project ${project}`).projectContainers(
      project,
    );
    const names = new Set(containers.flatMap((c) => c.volumes));
    const volumes: VolumeName[] = [];
    for (const name of [...names].sort()) {
      // Other drivers' volumes (and names we would refuse) are not ours to snapshot.
      if (VolumeName.is(name) && (await this.ctx.btrfs.isSubvolume(this.ctx.layout.volume(name)))) {
        volumes.push(name);
      }
    }
    this.#projectVolumes.set(project, volumes);
    return { containers, volumes };
  }

  /** A project's volumes as its last group snapshot (or project listing) found them. */
  knownProjectVolumes(project: ProjectName): readonly VolumeName[] {
    return this.#projectVolumes.get(project) ?? [];
  }

  async snapshot(request: GroupRequest): Promise<GroupResult> {
    const started = performance.now();
    const volumes = new Set(request.volumes);
    if (request.project !== undefined) {
      const { volumes: ofProject } = await this.project(request.project);
      if (ofProject.length === 0) {
        throw new PluginError(
          'INVALID_REQUEST',
          `compose project ${request.project} uses no buttervolume volume (no container labelled com.docker.compose.project=${request.project} mounts one)`,
        );
      }
      for (const v of ofProject) volumes.add(v);
    }
    const list = [...volumes].sort();
    if (list.length === 0)
      throw new PluginError('INVALID_REQUEST', 'no volume to snapshot: name at least one');
    const wantHooks = request.hooks ?? true;
    const wantPause = request.pause ?? true;
    return logged(
      this.ctx.logger,
      'snapshot.group',
      { volumes: list, project: request.project },
      async () => {
        const members = wantHooks || wantPause ? await this.#members(list) : [];
        const hooks: HookRun[] = [];
        const preRan: Member[] = [];
        try {
          if (wantHooks) await this.#preHooks(members, hooks, preRan);
          const frozen = wantPause ? members.filter((m) => m.container.state === 'running') : [];
          const { snapshots, pauseMs } = await this.#frozen(list, frozen);
          const timestamp = Snapshot.split(snapshots[0] as SnapshotName, {
            format: this.ctx.dtFormat,
          }).stamp;
          return {
            snapshots,
            timestamp,
            paused: frozen.map((m) => m.container.name),
            pauseMs,
            totalMs: 0,
            hooks,
          };
        } finally {
          // The post-hook always runs once the pre-hook ran (a container without a pre-hook: always).
          if (wantHooks) await this.#postHooks(members, preRan, hooks);
        }
      },
    ).then((result) => ({ ...result, totalMs: elapsed(started) }));
  }

  /**
   * Restores every snapshot that shares `member`'s timestamp (a set taken by snapshot()), or
   * only those of `volumes`. Each volume is snapshotted first, as a single restore does. All
   * targets are checked for use before the first one is touched.
   */
  async restoreSet(
    member: SnapshotName,
    options: { volumes?: readonly VolumeName[] | undefined; force?: boolean | undefined } = {},
  ): Promise<RestoreResult[]> {
    const format = { format: this.ctx.dtFormat };
    const { stamp } = Snapshot.split(member, format);
    const set = (await this.snapshots.list())
      .filter(
        (name) =>
          Snapshot.is(name, format) && Snapshot.split(name as SnapshotName, format).stamp === stamp,
      )
      .map((name) => name as SnapshotName);
    const byVolume = new Map(set.map((name) => [Snapshot.split(name, format).volume, name]));
    if (!byVolume.has(Snapshot.split(member, format).volume)) {
      throw new NoSuchSnapshotError(member);
    }
    const wanted = options.volumes ?? [...byVolume.keys()].sort();
    const missing = wanted.filter((v) => !byVolume.has(v));
    if (missing.length > 0) {
      throw new PluginError(
        'INVALID_REQUEST',
        `the set ${stamp} has no snapshot of ${missing.join(', ')} (it holds ${[...byVolume.keys()].sort().join(', ')})`,
      );
    }
    if (!options.force) {
      const busy = wanted.filter((v) => this.ctx.mounts.ids(v).length > 0);
      if (busy.length > 0) {
        throw new PluginError(
          'VOLUME_IN_USE',
          `${busy.join(', ')} ${busy.length > 1 ? 'are' : 'is'} mounted by a container: stop those containers first, or pass Force; nothing was restored`,
        );
      }
    }
    const done: RestoreResult[] = [];
    for (const volume of wanted) {
      try {
        done.push(
          await this.restores.restore({
            source: { kind: 'snapshot', name: byVolume.get(volume) as SnapshotName },
            target: volume,
            force: options.force,
          }),
        );
      } catch (error) {
        const soFar = done.map((r) => `${r.target} (backup ${r.volumeBackup ?? 'none'})`);
        throw new PluginError(
          'INVALID_REQUEST',
          `restore of the set ${stamp} stopped at ${volume}: ${(error as Error).message}; already restored: ${soFar.join(', ') || 'none'}`,
          { cause: error },
        );
      }
    }
    return done;
  }

  /** At start: unpause what a killed daemon left paused. Answers what it did. */
  async recover(): Promise<string[]> {
    const left = await this.journal.leftOver();
    if (left.length === 0) return [];
    if (this.docker === undefined) {
      await this.journal.add(left);
      return [
        `${left.length} container(s) left paused by a previous run: no Docker socket to unpause them`,
      ];
    }
    const outcomes: string[] = [];
    const still: typeof left = [];
    for (const entry of left) {
      try {
        const state = (await this.docker.inspectContainer(entry.id)).state;
        if (entry.freezer && state === 'running') {
          // Frozen through its cgroup: Docker still says running. Gone with its cgroup: fine.
          await ifPresent(thaw(entry.freezer));
          outcomes.push(`${entry.name || entry.id}: thawed (frozen since ${entry.since})`);
        } else if (state === 'paused' && !entry.freezer) {
          await this.docker.unpause(entry.id);
          outcomes.push(`${entry.name || entry.id}: unpaused (paused since ${entry.since})`);
        } else outcomes.push(`${entry.name || entry.id}: already ${state}`);
      } catch (error) {
        const code = (error as { code?: unknown }).code;
        if (code === 'DOCKER_NOT_FOUND') outcomes.push(`${entry.name || entry.id}: gone`);
        else {
          still.push(entry);
          outcomes.push(`${entry.name || entry.id}: still paused (${(error as Error).message})`);
        }
      }
    }
    // What could not be unpaused stays in the journal for the next start or group snapshot.
    await this.journal.remove(left.map((e) => e.id));
    if (still.length > 0) await this.journal.add(still);
    return outcomes;
  }

  #docker(what: string): DockerPort {
    if (this.docker === undefined) {
      throw new DockerUnavailableError(
        `cannot ${what}: no Docker socket is configured; set BUTTERVOLUME_DOCKER_SOCKET (the managed plugin: enable its docker.sock mount)`,
      );
    }
    return this.docker;
  }

  async #members(volumes: readonly VolumeName[]): Promise<Member[]> {
    const docker = this.#docker('find the containers to pause and their hooks');
    const byId = new Map<string, ContainerSummary>();
    for (const volume of volumes) {
      for (const c of await docker.containersUsingVolume(volume)) byId.set(c.id, c);
    }
    return [...byId.values()]
      .sort((a, b) => a.name.localeCompare(b.name))
      .map((container) => ({ container, hooks: hooksOf(container, this.options.hookTimeoutMs) }));
  }

  async #preHooks(members: readonly Member[], runs: HookRun[], preRan: Member[]): Promise<void> {
    const failures: string[] = [];
    await Promise.all(
      members.map(async (member) => {
        const { container, hooks } = member;
        // Hooks exec into the container: only a running one can take them.
        if (container.state !== 'running') return;
        if (hooks instanceof HookLabelError) {
          runs.push(failedRun(container, 'pre', hooks.message));
          failures.push(`${container.name}: ${hooks.message}`);
          return;
        }
        if (hooks.pre === undefined) return;
        preRan.push(member);
        const run = await this.#run(container, 'pre', hooks.pre, hooks.timeoutMs);
        runs.push(run);
        if (!run.ok && !hooks.continueOnFailure)
          failures.push(`${container.name}: ${summary(run)}`);
      }),
    );
    if (failures.length > 0) {
      throw new GroupSnapshotError(
        `pre-snapshot hook failed, no snapshot taken: ${failures.join('; ')} (fix the hook, or label the container buttervolume.pre-snapshot.on-failure=continue)`,
        runs,
      );
    }
  }

  async #postHooks(
    members: readonly Member[],
    preRan: readonly Member[],
    runs: HookRun[],
  ): Promise<void> {
    await Promise.all(
      members.map(async (member) => {
        const { container, hooks } = member;
        if (container.state !== 'running' || hooks instanceof HookLabelError) return;
        if (hooks.post === undefined) return;
        if (hooks.pre !== undefined && !preRan.includes(member)) return;
        runs.push(await this.#run(container, 'post', hooks.post, hooks.timeoutMs));
      }),
    );
  }

  async #run(
    container: ContainerSummary,
    phase: 'pre' | 'post',
    command: HookCommand,
    timeoutMs: number,
  ): Promise<HookRun> {
    const docker = this.#docker('run a hook');
    try {
      const result = await docker.exec(container.id, command.argv, {
        timeoutMs,
        outputLimit: this.options.hookOutputLimit ?? 4096,
      });
      const run: HookRun = {
        container: container.name,
        phase,
        argv: command.argv,
        exitCode: result.exitCode,
        timedOut: result.timedOut,
        killed: result.killed,
        stdout: result.stdout,
        stderr: result.stderr,
        truncated: result.truncated,
        ms: result.ms,
        ok: !result.timedOut && result.exitCode === 0,
      };
      const log = run.ok ? this.ctx.logger.info : this.ctx.logger.warn;
      log.call(this.ctx.logger, `hook ${phase}-snapshot`, { ...run });
      return run;
    } catch (error) {
      const run = failedRun(container, phase, (error as Error).message);
      this.ctx.logger.warn(`hook ${phase}-snapshot`, { ...run });
      return run;
    }
  }

  /**
   * Pause, snapshot every volume under its lock, unpause: on every path. Everything that can
   * happen before the pause does (freezer look-ups, the names, a filesystem sync, the journal),
   * so the containers stay frozen only for the snapshots themselves. A container's cgroup
   * freezer is used directly when this process can reach it; Docker's pause otherwise.
   */
  async #frozen(
    volumes: readonly VolumeName[],
    frozen: readonly Member[],
  ): Promise<{ snapshots: SnapshotName[]; pauseMs: number | undefined }> {
    let pauseMs: number | undefined;
    const snapshots = await this.ctx.locks.read(volumes, () =>
      this.#exclusive(async () => {
        if (frozen.length === 0) return this.snapshots.createSetLocked(volumes);
        const docker = this.#docker('pause containers');
        const targets = await Promise.all(
          frozen.map(async (m) => {
            const pid = (await docker.inspectContainer(m.container.id)).pid ?? 0;
            return { member: m, freezer: await findFreezer(pid, m.container.id) };
          }),
        );
        const set = await this.snapshots.reserveSetLocked(volumes);
        let taken = false;
        try {
          // On disk before the first pause: a daemon killed from here on unpauses them at start.
          const since = new Date().toISOString();
          await this.journal.add(
            targets.map(({ member, freezer }) => ({
              id: member.container.id,
              name: member.container.name,
              since,
              ...(freezer ? { freezer } : {}),
            })),
          );
          // Write out what the writers have in the page cache now, while they still run: the
          // snapshots must flush whatever is dirty, and that part of the work happens paused.
          // Last before the freeze, so little is written between the two.
          await this.ctx.btrfs.syncFilesystem(this.ctx.layout.volumesPath);
          const result = await this.#pausedFor(docker, targets, async () => {
            taken = true;
            return set.take();
          });
          pauseMs = result.pauseMs;
          return result.value;
        } finally {
          if (!taken) set.release();
        }
      }),
    );
    return { snapshots, pauseMs };
  }

  /** Freezes every target at once, runs `fn`, thaws every target at once: on every path. */
  async #pausedFor<T>(
    docker: DockerPort,
    targets: readonly PauseTarget[],
    fn: () => Promise<T>,
  ): Promise<{ value: T; pauseMs: number }> {
    const ids = targets.map((t) => t.member.container.id);
    const pausedAt = performance.now();
    const paused: PauseTarget[] = [];
    const phases: { freezeMs?: number; snapshotMs?: number } = {};
    let pauseMs = 0;
    const value = await (async () => {
      try {
        const results = await Promise.allSettled(
          targets.map(async (target) => {
            if (target.freezer) await freeze(target.freezer);
            else await pauseWithRetry(docker, target.member.container.id);
            paused.push(target);
          }),
        );
        const failed = results.find((r) => r.status === 'rejected');
        if (failed) {
          throw new GroupSnapshotError(
            `could not pause every container, no snapshot taken: ${(failed as PromiseRejectedResult).reason?.message}`,
            [],
            { cause: (failed as PromiseRejectedResult).reason },
          );
        }
        phases.freezeMs = elapsed(pausedAt);
        await this.options.afterStep?.('paused');
        const snapshotStart = performance.now();
        const taken = await fn();
        phases.snapshotMs = elapsed(snapshotStart);
        return taken;
      } finally {
        const unpaused = await Promise.allSettled(
          paused.map((t) => (t.freezer ? thaw(t.freezer) : docker.unpause(t.member.container.id))),
        );
        pauseMs = elapsed(pausedAt);
        const stuck = paused
          .filter((_, i) => unpaused[i]?.status === 'rejected')
          .map((t) => t.member.container.id);
        // A container still paused stays in the journal: the next start tries again.
        await this.journal.remove(ids.filter((id) => !stuck.includes(id)));
        if (stuck.length > 0) {
          this.ctx.logger.error('could not unpause containers; the next daemon start retries', {
            stuck,
          });
        }
        const viaFreezer = paused.filter((t) => t.freezer).length;
        this.ctx.logger.info('group paused', {
          containers: paused.length,
          viaFreezer,
          pauseMs,
          ...phases,
        });
      }
    })();
    return { value, pauseMs };
  }

  #exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.#pausePhase.then(fn, fn);
    this.#pausePhase = run.catch(() => {});
    return run;
  }
}

/**
 * The cgroup freezer gives up ("unable to freeze") when a process sits in uninterruptible
 * I/O at that moment, which heavy writers often do: a few more tries usually succeed.
 */
async function pauseWithRetry(docker: DockerPort, id: string): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      await docker.pause(id);
      return;
    } catch (error) {
      if (attempt >= PAUSE_ATTEMPTS || !/unable to freeze/i.test((error as Error).message)) {
        throw error;
      }
      await new Promise((resolve) => setTimeout(resolve, 5 * attempt));
    }
  }
}

const PAUSE_ATTEMPTS = 5;

function hooksOf(container: ContainerSummary, timeoutMs: number): ContainerHooks | HookLabelError {
  try {
    return parseHookLabels(container.labels, timeoutMs);
  } catch (error) {
    if (error instanceof HookLabelError) return error;
    throw error;
  }
}

function failedRun(container: ContainerSummary, phase: 'pre' | 'post', error: string): HookRun {
  return {
    container: container.name,
    phase,
    argv: [],
    exitCode: undefined,
    timedOut: false,
    killed: 0,
    stdout: '',
    stderr: '',
    truncated: false,
    ms: 0,
    ok: false,
    error,
  };
}

function summary(run: HookRun): string {
  if (run.error !== undefined) return run.error;
  const output = (run.stderr || run.stdout).trim().slice(-300);
  const status = run.timedOut ? 'timed out' : `exited ${run.exitCode}`;
  return `${run.phase}-snapshot hook ${status}${output ? `: ${output}` : ''}`;
}
