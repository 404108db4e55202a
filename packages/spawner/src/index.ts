// @buttervolume/spawner: short commands and pipelines run from a small long-lived child process, so that a
// large daemon never forks itself (see client.ts), and the bounded output tails they keep; bulk
// lstat() calls are made there too, off the daemon's event loop.

export {
  type CommandResult,
  interrupted,
  lstatPaths,
  type PathStat,
  type PipelineOptions,
  type PipelineResult,
  type PipelineStage,
  type RunningPipeline,
  type RunOptions,
  runCommand,
  SpawnerExitedError,
  type StageResult,
  spawnerPid,
  startPipeline,
  startSpawner,
  stopSpawner,
} from './client.js';
export { allEnded, fieldsOf, STARTED, signalIfSame } from './proc.js';
export { MAX_CAPTURE, Tail } from './tail.js';
