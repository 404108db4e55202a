#!/usr/bin/env -S node --max-semi-space-size=1 --optimize-for-size --single-threaded
// The one place for the daemon's V8 flags (V8 reads them before any code runs; setting them
// at run time has no effect): a 1 MiB young generation and V8's size-over-speed mode keep
// `run` at 10,000 volumes ~25 MB lower in RSS, and no V8 background threads (GC and
// optimizing on the main thread, whose allocations no longer spread over per-thread malloc
// arenas) ~9 MB more, with Get as fast (docs/DEVELOPING.md, bench:rss). Every
// launcher execs this file: the managed plugin's symlink, the setup.sh and README wrappers,
// and through them the systemd unit; `node bin.js` would bypass it.
import { Cli } from 'clipanion';
import { runCli } from './cli.js';

const exitCode = await runCli(process.argv.slice(2), {
  ...Cli.defaultContext,
  tty: process.stdout.isTTY === true,
  now: () => new Date(),
});
// Not process.exit(): let stdout drain when it is a pipe. `run` returns only when stopped.
process.exitCode = exitCode;
