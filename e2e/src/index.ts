// Fixtures for the end-to-end tests: the whole stack (loop btrfs, daemon process, private
// dockerd with the plugin registered, busybox) and the figures they report.
export { answers, type DaemonProcess, spawnDaemon } from './daemon-process.js';
export { CLI_BIN, MANAGED_PLUGIN_BUILDER, requireBuiltCli } from './paths.js';
export {
  type CallFigures,
  formatSoak,
  type ProcessFigures,
  runSoak,
  type SoakOptions,
  type SoakReport,
  soakHostB,
} from './soak.js';
export { type Stack, type StackOptions, startStack } from './stack.js';
export {
  NODE_SOCKET,
  type SwarmDaemons,
  type SwarmDaemonsOptions,
  swarmDaemons,
} from './swarm-daemons.js';
export { median, timed } from './timing.js';
