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

/** `a | b | …`: each stage's stdout is the next one's stdin, the kernel moving the data. */
export interface PipelineMessage {
  type: 'pipeline';
  id: number;
  stages: { file: string; args: string[] }[];
  env: Record<string, string>;
  /** 0: no limit. */
  timeoutMs: number;
  forceKillAfterMs: number;
  /** Characters kept of the last stage's stdout and of every stderr (their ends). */
  maxStdout: number;
  maxStderr: number;
  /**
   * Average rate limit (bytes/s) between the first and the second stage: the stream then
   * passes through the spawner to be held back. null: the stages are connected directly.
   */
  bytesPerSec: number | null;
}

export interface KillMessage {
  type: 'kill';
  id: number;
}

/** lstat(2) of each path, made in the spawner (see lstatPaths in client.ts). */
export interface LstatMessage {
  type: 'lstat';
  id: number;
  paths: string[];
}

export type Request = RunMessage | PipelineMessage | KillMessage | LstatMessage;

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

/**
 * A command's (or a pipeline's) processes exist: their pids, in stage order (null: could not
 * start), and each one's start time (see proc.ts), so the daemon can stop them should this
 * process die under them.
 */
export interface StartedMessage {
  type: 'started';
  id: number;
  pids: (number | null)[];
  starts: (string | null)[];
}

/** One stage of a pipeline ended (sent as each ends, so the caller can react at once). */
export interface StageMessage {
  type: 'stage';
  id: number;
  index: number;
  pid: number | null;
  exitCode: number | null;
  signal: string | null;
  /** The last stage's stdout (its end); '' for the others. */
  stdout: string;
  stderr: string;
  spawnError: { code: string | undefined; message: string } | null;
}

/** Every stage of a pipeline ended (sent after the last StageMessage). */
export interface EndedMessage {
  type: 'ended';
  id: number;
  timedOut: boolean;
  canceled: boolean;
  /** Bytes passed from the first stage to the second when rate-limited, else null. */
  bytes: number | null;
}

/** One path's lstat: its inode number and mode, or why there is none. */
export type LstatEntry = { ino: number; mode: number } | { code: string | null; message: string };

/** The answer to a LstatMessage, an entry per path in the order asked. */
export interface LstatsMessage {
  type: 'lstats';
  id: number;
  entries: LstatEntry[];
}

export type Reply = DoneMessage | StartedMessage | StageMessage | EndedMessage | LstatsMessage;
