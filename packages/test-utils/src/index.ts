// Shared fixtures for tests that need the real thing: root, btrfs, network namespaces, dockerd.
// Each owner keeps its fixture in its own module; this index only re-exports.
export * from './bench.js';
export * from './cpu.js';
export * from './dockerd.js';
export * from './environment.js';
export * from './host-b.js';
export * from './loop-btrfs.js';
export * from './prometheus.js';
export * from './swarm.js';
export * from './wait.js';
