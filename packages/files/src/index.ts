// @buttervolume/files: files the daemon rewrites (schedule.csv, its state, the mount table, the
// pause journal) are replaced whole or not at all, and the replacement survives a power cut.
export {
  type AtomicWriteOptions,
  ifPresent,
  removeStaleTemps,
  syncDirectory,
  writeFileAtomic,
  writeFileAtomicInMemory,
} from './atomic-file.js';
