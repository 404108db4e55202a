import type { ChildProcess } from 'node:child_process';

/** How long after a process exited its output pipes may stay open (see below). */
const OUTPUT_GRACE_MS = 200;

/**
 * Stops waiting for a process's output pipes soon after the process itself exited. Node's
 * 'close' (and execa's result) waits for them, and a process may hand them to one that outlives
 * it: ssh over a shared connection passes its stdio to the ControlPersist master, which keeps
 * them while the remote command runs (one that never ends: forever), and the ssh that starts
 * the master leaves it holding stderr. What the process wrote is in the pipes when it exits and
 * is read at once; after the grace our ends are closed, which ends the wait. `keepStdout` for a
 * stdout still read at a held-back rate (a throttled stream): that one ends on its own.
 */
export function releaseOutputAfterExit(
  child: ChildProcess,
  options: { keepStdout?: boolean } = {},
): void {
  child.once('exit', () => {
    setTimeout(() => {
      if (!options.keepStdout) child.stdout?.destroy();
      child.stderr?.destroy();
    }, OUTPUT_GRACE_MS).unref();
  });
}
