// Public API of @buttervolume/btrfs. The contract other packages code against:
//
//   const btrfs = new Btrfs({ btrfsPath?: '/usr/bin/btrfs' });
//   await btrfs.createSubvolume(path, { nocow?: boolean });
//   await btrfs.deleteSubvolume(path);                        // also works on read-only ones
//   await btrfs.snapshot(src, dst, { readonly: true });
//   await btrfs.isSubvolume(path);                            // no process spawned
//   await btrfs.listSubvolumes(dir);                          // names of direct children that are subvolumes, sorted; no process per entry
//   await btrfs.show(path): SubvolumeInfo
//   await btrfs.setReadOnly(path, ro: boolean);
//   await btrfs.isReadOnly(path): boolean
//   btrfs.send(snapshot, { parent? }): SendProcess            // stream + done + abort
//   btrfs.receive(dir): ReceiveProcess                        // stream + done + abort
//   await btrfs.syncFilesystem(path);
//   await btrfs.enableQuota(path);                            // idempotent
//   await btrfs.setQuotaLimit(subvolumePath, bytes | 'none');
//   await btrfs.quota(subvolumePath): QuotaInfo | undefined   // undefined when quotas are off
//   await btrfs.isNocow(path): boolean                        // lsattr-equivalent, C flag
//   await isBtrfs(path): boolean                              // fs.statfs magic, no process
//
// Errors: BtrfsError (base, has `code`), with subclasses NotASubvolumeError,
// AlreadyExistsError, NoSuchPathError, NoSpaceError, PermissionError, BtrfsCommandError
// (command: string[], exitCode, stderr).
export type * from './types.js';
