import type { LogLevel } from '@buttervolume/config';

export type LogFields = Record<string, unknown>;

/** Structured, one JSON object a line: easy to grep by eye and to feed to a log shipper. */
export interface Logger {
  readonly level: LogLevel;
  debug(message: string, fields?: LogFields): void;
  info(message: string, fields?: LogFields): void;
  warn(message: string, fields?: LogFields): void;
  error(message: string, fields?: LogFields): void;
  enabled(level: LogLevel): boolean;
}

const RANK: Record<LogLevel, number> = {
  DEBUG: 10,
  INFO: 20,
  WARNING: 30,
  ERROR: 40,
  CRITICAL: 50,
};

export interface LoggerOptions {
  level?: LogLevel;
  /** Where lines go (default: stderr, as systemd and `docker plugin` logs expect). */
  write?: (line: string) => void;
  now?: () => Date;
}

export function createLogger(options: LoggerOptions = {}): Logger {
  const level = options.level ?? 'INFO';
  const write = options.write ?? ((line: string) => process.stderr.write(`${line}\n`));
  const now = options.now ?? (() => new Date());
  const enabled = (at: LogLevel) => RANK[at] >= RANK[level];
  const emit = (at: LogLevel, message: string, fields: LogFields = {}) => {
    if (!enabled(at)) return;
    write(
      JSON.stringify(
        { time: now().toISOString(), level: at, msg: message, ...fields },
        errorsAsText,
      ),
    );
  };
  return {
    level,
    enabled,
    debug: (message, fields) => emit('DEBUG', message, fields),
    info: (message, fields) => emit('INFO', message, fields),
    warn: (message, fields) => emit('WARNING', message, fields),
    error: (message, fields) => emit('ERROR', message, fields),
  };
}

/** A logger that drops everything; for tests and benchmarks that measure, not read. */
export const silentLogger: Logger = createLogger({ level: 'CRITICAL', write: () => {} });

// A cause chain is followed this deep; a longer one (or a cycle) is cut with a note.
const MAX_CAUSE_DEPTH = 5;

function errorsAsText(_key: string, value: unknown): unknown {
  return value instanceof Error ? errorAsObject(value, 0) : value;
}

/** An error as a log object: what it is, where it was thrown, and what caused it. */
function errorAsObject(error: Error, depth: number): Record<string, unknown> {
  const { code, stderr, cause } = error as { code?: unknown; stderr?: unknown; cause?: unknown };
  const nested = (inner: unknown) =>
    inner instanceof Error
      ? depth < MAX_CAUSE_DEPTH
        ? errorAsObject(inner, depth + 1)
        : { message: `${inner.message} (cause chain cut at ${MAX_CAUSE_DEPTH})` }
      : inner;
  return {
    name: error.name,
    ...(typeof code === 'string' || typeof code === 'number' ? { code } : {}),
    message: error.message,
    // A failed command's kept output (bounded where it is captured): the full story.
    ...(typeof stderr === 'string' && stderr !== '' ? { stderr } : {}),
    ...(typeof error.stack === 'string' ? { stack: error.stack } : {}),
    ...(cause === undefined ? {} : { cause: nested(cause) }),
    ...(error instanceof AggregateError ? { errors: error.errors.map(nested) } : {}),
  };
}

/** Told of every timed operation (the daemon's metrics count them). */
export type OperationObserver = (operation: string, outcome: 'ok' | 'error', ms: number) => void;

/** A logger, and who else hears of operations (a ServiceContext is one). */
export interface OperationSink {
  logger: Logger;
  observe?: OperationObserver | undefined;
}

/**
 * Runs one operation and logs a line with its duration and outcome. Failures are logged at
 * WARNING: most are the caller's mistake (a missing volume), not the daemon's.
 */
export async function logged<T>(
  sink: Logger | OperationSink,
  operation: string,
  fields: LogFields,
  fn: () => Promise<T>,
): Promise<T> {
  const { logger, observe } = 'logger' in sink ? sink : { logger: sink, observe: undefined };
  const started = performance.now();
  try {
    const result = await fn();
    const ms = elapsed(started);
    logger.info(operation, { ...fields, outcome: 'ok', ms });
    observe?.(operation, 'ok', ms);
    return result;
  } catch (error) {
    const ms = elapsed(started);
    logger.warn(operation, { ...fields, outcome: 'error', ms, error });
    observe?.(operation, 'error', ms);
    throw error;
  }
}

export function elapsed(started: number): number {
  return Math.round((performance.now() - started) * 100) / 100;
}
