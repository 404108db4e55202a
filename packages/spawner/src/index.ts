// @buttervolume/spawner: short commands run from a small long-lived child process, so that a
// large daemon never forks itself (see client.ts), and the bounded output tails they keep.

export {
  type CommandResult,
  interrupted,
  type RunOptions,
  runCommand,
  SpawnerExitedError,
  spawnerPid,
  startSpawner,
  stopSpawner,
} from './client.js';
export { MAX_CAPTURE, Tail } from './tail.js';
