import { execa } from 'execa';

/**
 * How much of a process's output is kept: the end, where the reason for a failure is. A peer
 * can write any amount on ssh's stderr; holding (and matching) all of it would let it fill
 * memory and stall the event loop.
 */
export const MAX_CAPTURE = 64 * 1024;

/** The last `max` characters of a stream, in linear time however much arrives. */
export class Tail {
  #chunks: string[] = [];
  #length = 0;

  constructor(readonly max: number = MAX_CAPTURE) {}

  push(chunk: string): void {
    this.#chunks.push(chunk);
    this.#length += chunk.length;
    // Compacting only past twice the limit keeps the total work proportional to the input.
    if (this.#length > 2 * this.max) this.#compact();
  }

  text(): string {
    this.#compact();
    return this.#chunks[0] ?? '';
  }

  #compact(): void {
    const joined = this.#chunks.join('');
    const kept = joined.length > this.max ? joined.slice(-this.max) : joined;
    this.#chunks = kept === '' ? [] : [kept];
    this.#length = kept.length;
  }
}

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

/** execa with stdin closed (or fed `input`) and only the tail of stdout and stderr kept (see MAX_CAPTURE). */
export async function runBounded(
  file: string,
  args: readonly string[],
  options: BoundedRunOptions,
): Promise<BoundedRun> {
  const stdout = new Tail(options.maxStdout ?? MAX_CAPTURE);
  const stderr = new Tail();
  const child = execa(file, args, {
    reject: false,
    ...(options.input === undefined ? { stdin: 'ignore' as const } : { input: options.input }),
    env: options.env,
    buffer: false,
    forceKillAfterDelay: 2000,
    ...(options.timeoutMs ? { timeout: options.timeoutMs } : {}),
    ...(options.signal ? { cancelSignal: options.signal } : {}),
  });
  child.stdout?.setEncoding('utf8');
  child.stdout?.on('data', (chunk: string) => stdout.push(chunk));
  child.stderr?.setEncoding('utf8');
  child.stderr?.on('data', (chunk: string) => stderr.push(chunk));
  const result = await child;
  const spawnFailure = result.failed && result.exitCode === undefined && !result.isTerminated;
  return {
    exitCode: result.exitCode,
    stdout: stdout.text(),
    stderr: stderr.text() || (spawnFailure ? (result.shortMessage ?? '') : ''),
    timedOut: result.timedOut,
    canceled: result.isCanceled,
  };
}
