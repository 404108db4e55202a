// Snapshot hooks are declared by a container's labels and run INSIDE that container through
// Docker's exec: nothing here ever starts a process on the host, so a label can do no more
// than the container itself already can.
import { showValue } from '@buttervolume/text';

/** The labels buttervolume reads on a container that mounts a snapshotted volume. */
export const HOOK_LABELS = {
  pre: 'buttervolume.pre-snapshot',
  post: 'buttervolume.post-snapshot',
  /** `abort` (default): a failing pre-hook cancels the snapshot; `continue`: it is only logged. */
  onFailure: 'buttervolume.pre-snapshot.on-failure',
  /** Seconds each hook of this container may run; default HOOK_TIMEOUT. */
  timeout: 'buttervolume.hook-timeout',
} as const;

/**
 * A hook command: a JSON array is the argv (`["psql", "-c", "CHECKPOINT"]`); any other text is
 * given to the container's own `sh -c` (so the container needs a shell for that form).
 */
export interface HookCommand {
  argv: readonly string[];
  form: 'argv' | 'shell';
}

export interface ContainerHooks {
  pre: HookCommand | undefined;
  post: HookCommand | undefined;
  continueOnFailure: boolean;
  timeoutMs: number;
}

export class HookLabelError extends Error {
  override name = 'HookLabelError';
  readonly code = 'INVALID_HOOK_LABEL';
  constructor(
    readonly label: string,
    reason: string,
  ) {
    super(`label ${label}: ${reason}`);
  }
}

const MAX_COMMAND_CHARS = 4096;
const MAX_ARGS = 64;
const MAX_TIMEOUT_SECONDS = 3600;

/** Reads the hook labels; HookLabelError names the first label that is not usable. */
export function parseHookLabels(
  labels: Readonly<Record<string, string>>,
  defaultTimeoutMs: number,
): ContainerHooks {
  return {
    pre: parseCommand(HOOK_LABELS.pre, labels[HOOK_LABELS.pre]),
    post: parseCommand(HOOK_LABELS.post, labels[HOOK_LABELS.post]),
    continueOnFailure: parseOnFailure(labels[HOOK_LABELS.onFailure]),
    timeoutMs: parseTimeout(labels[HOOK_LABELS.timeout], defaultTimeoutMs),
  };
}

export function parseCommand(label: string, value: string | undefined): HookCommand | undefined {
  if (value === undefined) return undefined;
  if (value.trim() === '') throw new HookLabelError(label, 'is empty: remove it or give a command');
  if (value.length > MAX_COMMAND_CHARS) {
    throw new HookLabelError(label, `is longer than ${MAX_COMMAND_CHARS} characters`);
  }
  if (value.trimStart().startsWith('[')) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(value);
    } catch {
      throw new HookLabelError(label, 'starts with "[" but is not a JSON array of strings');
    }
    if (
      !Array.isArray(parsed) ||
      parsed.length === 0 ||
      parsed.length > MAX_ARGS ||
      !parsed.every((arg) => typeof arg === 'string' && !arg.includes('\0')) ||
      parsed[0] === ''
    ) {
      throw new HookLabelError(
        label,
        `must be a JSON array of 1 to ${MAX_ARGS} strings, the program first, e.g. ["psql", "-c", "CHECKPOINT"]`,
      );
    }
    return { argv: parsed as string[], form: 'argv' };
  }
  if (value.includes('\0')) throw new HookLabelError(label, 'holds a NUL character');
  return { argv: ['sh', '-c', value], form: 'shell' };
}

function parseOnFailure(value: string | undefined): boolean {
  if (value === undefined || value === 'abort') return false;
  if (value === 'continue') return true;
  throw new HookLabelError(
    HOOK_LABELS.onFailure,
    `must be "abort" or "continue", not ${showValue(value, 40)}`,
  );
}

function parseTimeout(value: string | undefined, fallbackMs: number): number {
  if (value === undefined) return fallbackMs;
  const seconds = /^[0-9]{1,4}$/.test(value) ? Number(value) : Number.NaN;
  if (!(seconds >= 1 && seconds <= MAX_TIMEOUT_SECONDS)) {
    throw new HookLabelError(
      HOOK_LABELS.timeout,
      `must be whole seconds from 1 to ${MAX_TIMEOUT_SECONDS}, not ${showValue(value, 40)}`,
    );
  }
  return seconds * 1000;
}
