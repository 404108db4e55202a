import { existsSync } from 'node:fs';
import { open, readFile } from 'node:fs/promises';
import { basename, dirname, isAbsolute, join, relative, resolve } from 'node:path';
import { readMounts } from '@buttervolume/btrfs';
import { ifPresent } from '@buttervolume/files';
import { StorageError } from './errors.js';
import { inspectStorage, type PathState } from './inspect.js';
import { parseSize } from './size.js';
import { renderMountUnit, type UnitFile, wantsLink } from './units.js';

export const DEFAULT_VOLUMES_PATH = '/var/lib/buttervolume/volumes';
export const DEFAULT_SNAPSHOTS_PATH = '/var/lib/buttervolume/snapshots';
export const DEFAULT_IMAGE_PATH = '/var/lib/buttervolume.img';
export const DEFAULT_SIZE = '20G';
export const DEFAULT_LABEL = 'buttervolume';
export const DEFAULT_UNIT_DIR = '/etc/systemd/system';
/** First line of every unit we write: lets a later run tell our unit from the admin's own. */
const UNIT_MARKER = '# Written by `buttervolume init`';

export interface InitStorageOptions {
  /** Default /var/lib/buttervolume/volumes (VOLUMES_PATH). */
  volumesPath?: string;
  /** Default /var/lib/buttervolume/snapshots (SNAPSHOTS_PATH). */
  snapshotsPath?: string;
  /**
   * Where the image is mounted. Default: the common parent of volumesPath and snapshotsPath
   * (/var/lib/buttervolume), so both live on the one filesystem that snapshots need.
   */
  mountPoint?: string;
  /** Sparse image file backing the filesystem. Default /var/lib/buttervolume.img. */
  imagePath?: string;
  /** Image size, `truncate -s` style: 20G, 512M. Sparse: disk is used as data is written. */
  size?: string;
  /** Filesystem label. Default `buttervolume`. */
  label?: string;
  /** Write and enable a systemd mount unit; otherwise it is only returned, for printing. */
  installUnits?: boolean;
  /** Default /etc/systemd/system. */
  unitDir?: string;
  /** Run `systemctl daemon-reload` after writing units. Default: when systemd runs this host
   *  and unitDir is the default one. */
  reloadSystemd?: boolean;
  /** Only plan: change nothing, return the steps that would run. */
  dryRun?: boolean;
}

/** One change to the host. Steps are data, so a dry run can print exactly what would happen. */
export type Step =
  | { kind: 'mkdir'; path: string }
  | { kind: 'create-image'; path: string; bytes: number }
  | { kind: 'mkfs'; image: string; label: string }
  | { kind: 'mount'; image: string; mountPoint: string }
  | { kind: 'write-unit'; path: string; content: string }
  | { kind: 'enable-unit'; link: string; target: string }
  | { kind: 'run'; command: readonly string[] };

export interface StoragePlan {
  volumesPath: string;
  snapshotsPath: string;
  mountPoint: string;
  imagePath: string;
  /** volumes and snapshots already are on btrfs: no image is made. */
  alreadyBtrfs: boolean;
  /** Changes to make, in order; empty when everything is already in place. */
  steps: Step[];
  /** The mount unit for the image (also when not installed, so the CLI can print it). */
  units: UnitFile[];
}

/** Looks at the host and decides what initStorage would do. Changes nothing. */
export async function planStorage(options: InitStorageOptions = {}): Promise<StoragePlan> {
  const volumesPath = resolve(options.volumesPath ?? DEFAULT_VOLUMES_PATH);
  const snapshotsPath = resolve(options.snapshotsPath ?? DEFAULT_SNAPSHOTS_PATH);
  const imagePath = resolve(options.imagePath ?? DEFAULT_IMAGE_PATH);
  const mountPoint = resolve(options.mountPoint ?? commonParent(volumesPath, snapshotsPath));
  const unitDir = resolve(options.unitDir ?? DEFAULT_UNIT_DIR);
  for (const path of [volumesPath, snapshotsPath]) {
    if (!isInside(path, mountPoint)) {
      throw new StorageError(
        'PATHS_NOT_UNDER_MOUNT_POINT',
        `${path} is not inside the mount point ${mountPoint}: volumes and snapshots must be on the same filesystem, under the mount point`,
        { path },
      );
    }
  }
  const [volumes, snapshots, mount, image] = (await inspectStorage([
    volumesPath,
    snapshotsPath,
    mountPoint,
    imagePath,
  ])) as [PathState, PathState, PathState, PathState];
  const unit = renderMountUnit({ image: imagePath, mountPoint });
  const base = { volumesPath, snapshotsPath, mountPoint, imagePath, units: [unit] };
  const steps: Step[] = [];

  if (volumes.isBtrfs !== snapshots.isBtrfs) {
    const [onBtrfs, notBtrfs] = volumes.isBtrfs ? [volumes, snapshots] : [snapshots, volumes];
    throw new StorageError(
      'SPLIT_FILESYSTEMS',
      `${onBtrfs.path} is on btrfs but ${notBtrfs.path} is not: snapshots are only possible within one btrfs filesystem; put both folders on it`,
      { path: notBtrfs.path },
    );
  }

  if (volumes.isBtrfs) {
    for (const state of [volumes, snapshots]) {
      if (!state.exists) steps.push({ kind: 'mkdir', path: state.path });
      else if (!state.isDirectory) throw notADirectory(state.path);
    }
    // Units only make sense when the btrfs there is our image (not the admin's own partition).
    if (options.installUnits && (await mountedFrom(mountPoint)) === imagePath) {
      steps.push(...(await unitSteps(unit, unitDir, options)));
    }
    return { ...base, alreadyBtrfs: true, steps };
  }

  if (mount.exists && !mount.isDirectory) throw notADirectory(mountPoint);
  if (mount.isMountPoint) {
    throw new StorageError(
      'MOUNT_POINT_BUSY',
      `another filesystem (not btrfs) is mounted at ${mountPoint}: unmount it or choose another mount point`,
      { path: mountPoint },
    );
  }
  if (mount.exists && !mount.empty) {
    throw new StorageError(
      'NOT_EMPTY',
      `${mountPoint} is not empty: the btrfs image would be mounted over its content, hiding it. Move its content away (or onto the new filesystem afterwards), or choose another mount point`,
      { path: mountPoint },
    );
  }
  if (isInside(imagePath, mountPoint)) {
    throw new StorageError(
      'IMAGE_INSIDE_MOUNT_POINT',
      `the image ${imagePath} cannot live inside its own mount point ${mountPoint}: put it next to it (default ${DEFAULT_IMAGE_PATH})`,
      { path: imagePath },
    );
  }
  if (!mount.exists) steps.push({ kind: 'mkdir', path: mountPoint });

  // A btrfs image left from an earlier init (e.g. a reboot without units) is reused as is.
  const reusable = image.exists && !image.isDirectory && (await hasBtrfsSuperblock(imagePath));
  if (image.exists && !reusable) {
    throw new StorageError(
      'IMAGE_EXISTS',
      `${imagePath} already exists and is not a btrfs image: remove it or choose another image path`,
      { path: imagePath },
    );
  }
  if (!image.exists) {
    const bytes = parseSize(options.size ?? DEFAULT_SIZE);
    if (!existsSync(dirname(imagePath))) steps.push({ kind: 'mkdir', path: dirname(imagePath) });
    steps.push({ kind: 'create-image', path: imagePath, bytes });
    steps.push({ kind: 'mkfs', image: imagePath, label: options.label ?? DEFAULT_LABEL });
  }
  steps.push({ kind: 'mount', image: imagePath, mountPoint });
  steps.push({ kind: 'mkdir', path: volumesPath }, { kind: 'mkdir', path: snapshotsPath });
  if (options.installUnits) steps.push(...(await unitSteps(unit, unitDir, options)));
  return { ...base, alreadyBtrfs: false, steps };
}

function isInside(path: string, dir: string): boolean {
  const rel = relative(dir, path);
  return rel !== '' && !rel.startsWith('..') && !isAbsolute(rel);
}

function commonParent(volumesPath: string, snapshotsPath: string): string {
  const parent = dirname(volumesPath);
  if (parent !== dirname(snapshotsPath)) {
    throw new StorageError(
      'PATHS_NOT_UNDER_MOUNT_POINT',
      `${volumesPath} and ${snapshotsPath} have different parents: pass the mount point that holds both`,
      { path: snapshotsPath },
    );
  }
  return parent;
}

function notADirectory(path: string): StorageError {
  return new StorageError('NOT_A_DIRECTORY', `${path} exists and is not a directory: remove it`, {
    path,
  });
}

async function unitSteps(
  unit: UnitFile,
  unitDir: string,
  options: InitStorageOptions,
): Promise<Step[]> {
  const steps: Step[] = [];
  const path = join(unitDir, unit.name);
  const current = await ifPresent(readFile(path, 'utf8'));
  if (current !== undefined && current !== unit.content && !current.startsWith(UNIT_MARKER)) {
    throw new StorageError(
      'UNIT_EXISTS',
      `${path} exists and was not written by buttervolume: compare it with the unit printed by \`buttervolume init\` (without installing units) and merge by hand`,
      { path },
    );
  }
  if (current !== unit.content) steps.push({ kind: 'write-unit', path, content: unit.content });
  const link = wantsLink(unitDir, unit);
  if (!existsSync(link)) steps.push({ kind: 'enable-unit', link, target: join('..', unit.name) });
  const reload =
    options.reloadSystemd ?? (unitDir === DEFAULT_UNIT_DIR && existsSync('/run/systemd/system'));
  if (reload && steps.length > 0)
    steps.push({ kind: 'run', command: ['systemctl', 'daemon-reload'] });
  return steps;
}

/** The backing file of the loop device mounted at `mountPoint`, read from sysfs. */
async function mountedFrom(mountPoint: string): Promise<string | undefined> {
  const mounts = await readMounts();
  const source = mounts.filter((m) => m.mountPoint === mountPoint).at(-1)?.source;
  if (source === undefined || !/^\/dev\/loop\d+$/.test(source)) return undefined;
  const backing = await readFile(`/sys/block/${basename(source)}/loop/backing_file`, 'utf8').catch(
    () => undefined,
  );
  return backing?.trim();
}

/** btrfs keeps its primary superblock at 64 KiB, with the magic `_BHRfS_M` at offset 0x40. */
async function hasBtrfsSuperblock(path: string): Promise<boolean> {
  const handle = await ifPresent(open(path, 'r'));
  if (handle === undefined) return false;
  try {
    const buffer = Buffer.alloc(8);
    const { bytesRead } = await handle.read(buffer, 0, 8, 0x10040);
    return bytesRead === 8 && buffer.toString('latin1') === '_BHRfS_M';
  } finally {
    await handle.close();
  }
}

/** One line a human can read, for dry runs and logs. */
export function describeStep(step: Step): string {
  switch (step.kind) {
    case 'mkdir':
      return `create directory ${step.path}`;
    case 'create-image':
      return `create sparse image ${step.path} (${formatBytes(step.bytes)})`;
    case 'mkfs':
      return `format ${step.image} as btrfs (mkfs.btrfs -L ${step.label})`;
    case 'mount':
      return `loop-mount ${step.image} at ${step.mountPoint}`;
    case 'write-unit':
      return `write systemd unit ${step.path}`;
    case 'enable-unit':
      return `enable it: link ${step.link} -> ${step.target}`;
    case 'run':
      return `run ${step.command.join(' ')}`;
  }
}

function formatBytes(bytes: number): string {
  for (const [unit, size] of [
    ['T', 2 ** 40],
    ['G', 2 ** 30],
    ['M', 2 ** 20],
  ] as const) {
    if (bytes >= size && bytes % size === 0) return `${bytes / size}${unit}`;
  }
  return `${bytes} bytes`;
}
