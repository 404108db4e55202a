// A worker that dies without its afterAll (crash, timeout, Ctrl-C) must still leave no mounts,
// loop devices, namespaces or daemons behind: each fixture registers a clean-up here, and one
// 'exit' listener runs them all.
import { execFileSync } from 'node:child_process';

const cleanups = new Set<() => void>();
let installed = false;

/**
 * Runs `cleanup` when the process exits. Only synchronous work is possible then; registering
 * the same function again is a no-op, so fixtures may call this on every create.
 */
export function atExit(cleanup: () => void): void {
  cleanups.add(cleanup);
  if (installed) return;
  installed = true;
  process.once('exit', () => {
    for (const run of cleanups) {
      try {
        run();
      } catch {
        // Best effort: one fixture's failure must not keep the others from cleaning up.
      }
    }
  });
}

/** Runs a command, ignoring its failure: for clean-ups on the way out. */
export function trySync(file: string, args: string[]): void {
  try {
    execFileSync(file, args, { stdio: 'ignore' });
  } catch {
    // Best effort: the process is going away anyway.
  }
}

/** Sends `signal` to `pid`, ignoring a process already gone. */
export function tryKill(pid: number, signal: NodeJS.Signals): boolean {
  try {
    process.kill(pid, signal);
    return true;
  } catch {
    // Already gone.
    return false;
  }
}

/**
 * Clean-up steps run one after the other, each even when an earlier one failed (a busy mount
 * must not keep the namespace or the folder around); `finish` throws every failure at once.
 */
export function cleanupSteps(): {
  step(fn: () => Promise<unknown>): Promise<void>;
  finish(what: string): void;
} {
  const errors: unknown[] = [];
  return {
    async step(fn) {
      try {
        await fn();
      } catch (error) {
        errors.push(error);
      }
    },
    finish(what) {
      if (errors.length > 0) throw new AggregateError(errors, `${what} cleanup failed`);
    },
  };
}
