// The messages between the daemon and its spawner process (JSON over Node's IPC channel).

export interface RunMessage {
  type: 'run';
  id: number;
  file: string;
  args: string[];
  /** The whole environment of the command (the caller's, resolved when it asked). */
  env: Record<string, string>;
  /** 0: no limit. */
  timeoutMs: number;
  /** Delay between SIGTERM and SIGKILL once the command is stopped. */
  forceKillAfterMs: number;
  /** Characters of stdout and stderr kept (their ends); null: all of stdout. */
  maxStdout: number | null;
  maxStderr: number;
  /** Written to the command's stdin, then closed; null: stdin is closed from the start. */
  input: string | null;
}

export interface KillMessage {
  type: 'kill';
  id: number;
}

export type Request = RunMessage | KillMessage;

export interface DoneMessage {
  type: 'done';
  id: number;
  pid: number | undefined;
  /** null when killed by a signal or never started. */
  exitCode: number | null;
  signal: string | null;
  stdout: string;
  stderr: string;
  timedOut: boolean;
  canceled: boolean;
  /** Why the command could not start (ENOENT, EACCES), when it could not. */
  spawnError: { code: string | undefined; message: string } | null;
}
