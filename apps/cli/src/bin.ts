#!/usr/bin/env node
import { Cli } from 'clipanion';
import { runCli } from './cli.js';

const exitCode = await runCli(process.argv.slice(2), {
  ...Cli.defaultContext,
  tty: process.stdout.isTTY === true,
  now: () => new Date(),
});
// Not process.exit(): let stdout drain when it is a pipe. `run` returns only when stopped.
process.exitCode = exitCode;
