// Public API of @buttervolume/btrfs. The contract other packages code against:
//
//   const btrfs = new Btrfs({ btrfsPath?: '/usr/bin/btrfs' });
//   await btrfs.createSubvolume(path, { nocow?: boolean });
//   await btrfs.deleteSubvolume(path, { recursive? });        // also works on read-only ones; answers nested ones deleted
//   await btrfs.subvolumesBelow(path): string[]               // nested subvolumes at any depth, deepest first; one process
//   await btrfs.deleteSubvolumes(paths): { deleted, failed }  // one process per 1,000 paths; never throws per path
//   await btrfs.snapshot(src, dst, { readonly: true });
//   await btrfs.isSubvolume(path);                            // no process spawned
//   await btrfs.listSubvolumes(dir);                          // names of direct children that are subvolumes, sorted; no process per entry
//   await btrfs.show(path): SubvolumeInfo
//   await btrfs.setReadOnly(path, ro: boolean, { force? });  // force: make a received snapshot writable
//   await btrfs.isReadOnly(path): boolean
//   btrfs.send(snapshot, { parent?, compressedData? }): SendProcess // stream + done + abort
//   btrfs.receive(dir): ReceiveProcess                        // stream + done ({ received, path }) + abort
//   await btrfs.syncFilesystem(path);
//   await btrfs.unchangedSince(volume, snapshot): UnchangedCheck // sync, then generations; size-independent
//   await btrfs.enableQuota(path);                            // idempotent
//   await btrfs.setQuotaLimit(subvolumePath, bytes | 'none');
//   await btrfs.quota(subvolumePath): QuotaInfo | undefined   // undefined when quotas are off
//   await btrfs.isNocow(path): boolean                        // lsattr-equivalent, C flag
//   await btrfs.nocowFlags(paths): Map<path, boolean>         // C flags, one lsattr per 1,000 paths; missing paths left out
//   await btrfs.fileAttributes(paths): Map<path, FileAttributes> // the same lsattr: C and c (compression) flags
//   await btrfs.snapshotTimes(dir): Map<absolutePath, Date>   // otime of every snapshot under dir, one process
//   await btrfs.createdAt(path): Date                         // creation time to the second, no `subvolume show`
//   await isBtrfs(path): boolean                              // fs.statfs magic, no process
//   await isSubvolume(path): boolean                          // the method, without a Btrfs instance
//   await mountsUnder(path): ForeignMount[]                   // mounts of path or inside it, in every mount namespace
//   await readMounts(): MountEntry[]                          // /proc/self/mountinfo, parsed
//   sendProtocolArgs(local, remoteProgs): string[]            // ['--proto','2','--compressed-data'] when both ends can
//   await localSendFeatures(btrfsPath?): SendFeatures         // this machine's progs version and stream version
//
// Errors: BtrfsError (base, has `code`; `command`, `exitCode`, `stderr` when a process failed),
// with subclasses NotASubvolumeError, NestedSubvolumesError, NotBtrfsError, AlreadyExistsError,
// NoSuchPathError, NoSpaceError, PermissionError, QuotaDisabledError,
// AbortedError, BtrfsCommandError (command: string[], exitCode, stderr).

export { Btrfs } from './btrfs.js';
export {
  AbortedError,
  AlreadyExistsError,
  BtrfsCommandError,
  BtrfsError,
  type BtrfsErrorCode,
  type CommandFailure,
  NestedSubvolumesError,
  NoSpaceError,
  NoSuchPathError,
  NotASubvolumeError,
  NotBtrfsError,
  PermissionError,
  QuotaDisabledError,
} from './errors.js';
export { isBtrfs, isSubvolume } from './inspect.js';
export { type ForeignMount, type MountEntry, mountsUnder, readMounts } from './mounts.js';
export type { FileAttributes } from './parse.js';
export {
  COMPRESSED_SEND_ARGS,
  COMPRESSED_SEND_PROGS,
  canReceiveCompressed,
  canSendCompressed,
  localSendFeatures,
  localStreamVersion,
  parseProgsVersion,
  parseStreamVersion,
  type SendFeatures,
  sendProtocolArgs,
} from './send-features.js';
export type * from './types.js';
