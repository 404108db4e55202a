import { interrupted, MAX_CAPTURE, runCommand } from '@buttervolume/spawner';

/** At most `lines` last lines and `chars` characters of `text`, for a one-screen message. */
export function lastLines(text: string, lines = 8, chars = 1000): string {
  const tail = text.length > chars ? text.slice(-chars) : text;
  const parts = tail.trim().split('\n');
  const kept = parts.slice(-lines).join('\n');
  return kept.length < text.trim().length ? `…${kept}` : kept;
}

export interface BoundedRun {
  /** undefined when the process was killed (timeout, abort) or could not start. */
  exitCode: number | undefined;
  stdout: string;
  stderr: string;
  timedOut: boolean;
  canceled: boolean;
}

export interface BoundedRunOptions {
  env: NodeJS.ProcessEnv;
  /** Kills the process (SIGTERM, SIGKILL 2 s later) after this long; 0: never. */
  timeoutMs?: number | undefined;
  signal?: AbortSignal | undefined;
  /** Largest stdout kept (its end); default MAX_CAPTURE. */
  maxStdout?: number;
  /** Written to stdin (closed otherwise). */
  input?: string | undefined;
}

/**
 * A command run to its end with stdin closed (or fed `input`) and only the tail of stdout and stderr kept (see
 * MAX_CAPTURE), through the spawner (@buttervolume/spawner) so that the daemon never forks.
 * A spawner that dies mid-command reads as a killed command, its message as stderr.
 */
export async function runBounded(
  file: string,
  args: readonly string[],
  options: BoundedRunOptions,
): Promise<BoundedRun> {
  const result = await runCommand(file, args, {
    env: options.env,
    timeoutMs: options.timeoutMs,
    signal: options.signal,
    maxStdout: options.maxStdout ?? MAX_CAPTURE,
    input: options.input,
  }).catch((error: unknown) => interrupted([file, ...args], error));
  return {
    exitCode: result.exitCode,
    stdout: result.stdout,
    stderr: result.stderr || (result.spawnError?.message ?? ''),
    timedOut: result.timedOut,
    canceled: result.canceled,
  };
}
