#!/usr/bin/env -S UV_THREADPOOL_SIZE=16 node --max-semi-space-size=1 --optimize-for-size --v8-pool-size=1
// The one place for the daemon's V8 flags and libuv's pool size (both read before any code
// runs; setting them at run time has no effect). A 1 MiB young generation and V8's
// size-over-speed mode keep `run` at 10,000 volumes ~25 MB lower in RSS; one V8 background
// thread instead of one per CPU keeps its malloc arenas few (RSS as with none), while the
// optimizing compiler and the marker stay off the main thread: with none
// (--single-threaded), their pauses put a purge's event loop delay at p99 29 ms, max 64.
// 16 libuv threads instead of 4: a Docker call's file operation no longer queues behind a
// purge's checks. docs/DEVELOPING.md has the figures (bench:rss, bench:docker-calls). Every
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
