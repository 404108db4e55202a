// Freezing a container through its cgroup's freezer directly, rather than through Docker's
// pause: the same kernel mechanism runc uses for `docker pause`, without the round trips
// dockerd → containerd → shim → runc that cost tens of milliseconds per container on a busy
// machine. Used only when the container's freezer is plainly ours to reach (same PID and
// cgroup namespace, a cgroup named after the container); otherwise Docker's pause is used.
import { readFile, writeFile } from 'node:fs/promises';
import { isAbsolute } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { type MountEntry, readMounts } from '@buttervolume/btrfs';
import { PluginError } from '../errors.js';

/** Where a container's freezer is: a cgroup v1 freezer folder or a cgroup v2 folder. */
export interface FreezerPath {
  kind: 'v1' | 'v2';
  /** The container's cgroup folder, e.g. /sys/fs/cgroup/freezer/docker/<id>. */
  dir: string;
}

const ID_RE = /^[0-9a-f]{64}$/;
const CGROUP_ROOT = '/sys/fs/cgroup/';

/**
 * The freezer of the cgroup `procCgroup` (/proc/<pid>/cgroup) names, through `mounts`. A v1
 * freezer hierarchy wins; a v2 folder is used only on a v2-only host (on a hybrid one the v2
 * folder is systemd's, shared with other processes). Undefined unless the folder's name holds
 * the full container id (cgroupfs `…/<id>`, systemd `docker-<id>.scope`): anything else may
 * hold more than the container.
 */
export function freezerOf(
  procCgroup: string,
  mounts: readonly MountEntry[],
  containerId: string,
): FreezerPath | undefined {
  if (!ID_RE.test(containerId)) return undefined;
  const lines = procCgroup
    .split('\n')
    .filter((l) => l !== '')
    .map((line) => {
      const first = line.indexOf(':');
      const second = line.indexOf(':', first + 1);
      return {
        controllers: line.slice(first + 1, second).split(','),
        path: line.slice(second + 1),
      };
    });
  const v1 = lines.find((l) => l.controllers.includes('freezer'));
  const v2Only =
    lines.length === 1 &&
    lines[0]?.controllers.join() === '' &&
    !mounts.some((m) => m.fsType === 'cgroup');
  const line = v1 ?? (v2Only ? lines[0] : undefined);
  if (!line || !isAbsolute(line.path) || line.path.split('/').includes('..')) return undefined;
  const leaf = line.path.split('/').at(-1) ?? '';
  if (!leaf.includes(containerId)) return undefined;
  const mount = mounts.findLast((m) =>
    v1
      ? m.fsType === 'cgroup' && m.superOptions.split(',').includes('freezer')
      : m.fsType === 'cgroup2',
  );
  // A mount showing only part of the hierarchy (a cgroup namespace) names paths otherwise.
  if (mount?.root !== '/' || !`${mount.mountPoint}/`.startsWith(CGROUP_ROOT)) return undefined;
  return { kind: v1 ? 'v1' : 'v2', dir: `${mount.mountPoint}${line.path}` };
}

/** The freezer of a running container's main process, or undefined (then Docker pauses it). */
export async function findFreezer(
  pid: number,
  containerId: string,
): Promise<FreezerPath | undefined> {
  if (!Number.isSafeInteger(pid) || pid <= 0) return undefined;
  try {
    const [cgroup, mounts] = await Promise.all([
      readFile(`/proc/${pid}/cgroup`, 'utf8'),
      readMounts(),
    ]);
    const found = freezerOf(cgroup, mounts, containerId);
    if (!found) return undefined;
    // Readable here: the folder exists and is the kind we think.
    await readFile(stateFile(found), 'utf8');
    return found;
  } catch {
    return undefined;
  }
}

/** Freezes every process of the cgroup; resolves once the kernel says all are frozen. */
export async function freeze(path: FreezerPath, timeoutMs = 2000): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  for (let attempt = 0; ; attempt++) {
    // v1: a write while FREEZING retries the tasks that were in the middle of something.
    if (attempt === 0 || path.kind === 'v1') await writeFile(controlFile(path), FREEZE[path.kind]);
    if (await isFrozen(path)) return;
    if (performance.now() >= deadline) {
      const thawed = await thaw(path).then(
        () => 'thawed again',
        (error: unknown) => `and could not thaw it (${(error as Error).message}): thaw it by hand`,
      );
      throw new PluginError(
        'GROUP_SNAPSHOT_FAILED',
        `unable to freeze ${path.dir} within ${timeoutMs} ms (a process stuck in I/O): ${thawed}`,
      );
    }
    await sleep(attempt < 20 ? 0 : 1);
  }
}

export async function thaw(path: FreezerPath): Promise<void> {
  await writeFile(controlFile(path), THAW[path.kind]);
}

async function isFrozen(path: FreezerPath): Promise<boolean> {
  const text = await readFile(stateFile(path), 'utf8');
  return path.kind === 'v1' ? text.trim() === 'FROZEN' : /^frozen 1$/m.test(text);
}

const FREEZE = { v1: 'FROZEN', v2: '1' } as const;
const THAW = { v1: 'THAWED', v2: '0' } as const;

function controlFile(path: FreezerPath): string {
  return `${path.dir}/${path.kind === 'v1' ? 'freezer.state' : 'cgroup.freeze'}`;
}

function stateFile(path: FreezerPath): string {
  return `${path.dir}/${path.kind === 'v1' ? 'freezer.state' : 'cgroup.events'}`;
}

/** A freezer path read back from the pause journal: checked before anything is written there. */
export function parseFreezerPath(raw: unknown, containerId: string): FreezerPath | undefined {
  const value = raw as { kind?: unknown; dir?: unknown } | null | undefined;
  if (value?.kind !== 'v1' && value?.kind !== 'v2') return undefined;
  if (typeof value.dir !== 'string' || !value.dir.startsWith(CGROUP_ROOT)) return undefined;
  if (value.dir.split('/').includes('..') || /[\n\0]/.test(value.dir)) return undefined;
  if (!(value.dir.split('/').at(-1) ?? '').includes(containerId)) return undefined;
  return { kind: value.kind, dir: value.dir };
}
