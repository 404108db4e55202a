// Shared fixtures for tests that need the real thing: root, btrfs, network namespaces, dockerd.
// Each owner keeps its fixture in its own module; this index re-exports what tests and benches
// import, nothing more.
export { MiB, median, quantile, writeCompressible, writeRandom } from './bench.js';
export { tryKill } from './cleanup.js';
export {
  type CpuReport,
  controlHash,
  pipelineProcesses,
  processCpuMs,
  startCpuSampler,
} from './cpu.js';
export {
  type Dockerd,
  type DockerResult,
  type RegisteredPlugin,
  registerVolumePlugin,
  startDockerd,
  uniquePluginName,
} from './dockerd.js';
export { requireRealEnvironment } from './environment.js';
export { createHostB, type HostB } from './host-b.js';
export { createLoopBtrfs, type LoopBtrfs, withLoopBtrfs } from './loop-btrfs.js';
export { freeLoopbackPort, type PrometheusServer, startPrometheus } from './prometheus.js';
export { createSwarm, type NodeProcess, type Swarm, type SwarmNode } from './swarm.js';
export { until, untilNoProcessMentions } from './wait.js';
